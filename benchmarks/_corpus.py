"""Deterministic inputs for the benchmarks: feeds, article pages, raw crawl files, sightings.

Everything is generated from a seeded ``random.Random``: the same arguments give the same
bytes on every machine, so figures from different runs compare.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

WORDS = [
    "python",
    "async",
    "typing",
    "packaging",
    "pytest",
    "django",
    "flask",
    "fastapi",
    "numpy",
    "pandas",
    "polars",
    "rust",
    "performance",
    "memory",
    "profiler",
    "interpreter",
    "bytecode",
    "release",
    "security",
    "tutorial",
    "guide",
    "library",
    "framework",
    "tool",
    "cli",
    "parser",
    "compiler",
    "llm",
    "agent",
    "model",
    "data",
    "pipeline",
    "cache",
    "database",
    "duckdb",
    "sqlite",
    "postgres",
    "web",
    "scraping",
    "crawler",
    "feed",
    "ranking",
    "newsletter",
    "weekly",
    "notebook",
    "jupyter",
    "gil",
    "free-threading",
    "subinterpreters",
    "wheel",
    "uv",
    "pip",
    "poetry",
    "ruff",
    "mypy",
    "pyright",
    "lint",
    "format",
    "test",
    "fixture",
    "mock",
    "benchmark",
    "speed",
    "faster",
    "slower",
    "new",
    "old",
    "introduction",
    "deep",
    "dive",
    "how",
    "why",
    "what",
    "building",
    "scaling",
    "debugging",
    "深入",
    "理解",
    "异步",
    "编程",
    "性能",
    "优化",
    "发布",
    "教程",
    "项目",
    "工具",
]
CODE = (
    "<pre><code>import asyncio\n\nasync def main():\n    await asyncio.sleep(0)\n"
    "    return [x * 2 for x in range(10)]\n</code></pre>"
)
BASE_DATE = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def title(rng: random.Random) -> str:
    return words(rng, rng.randint(4, 10)).capitalize()


def html_body(rng: random.Random, size: int) -> str:
    """Article-like HTML of about `size` characters: paragraphs, links, code, lists."""
    parts: list[str] = []
    total = 0
    while total < size:
        kind = rng.random()
        if kind < 0.15:
            chunk = CODE
        elif kind < 0.25:
            items = "".join(f"<li>{escape(words(rng, 6))}</li>" for _ in range(4))
            chunk = f"<ul>{items}</ul>"
        else:
            link = f'<a href="https://example.org/{rng.randint(1, 10**6)}">{words(rng, 3)}</a>'
            chunk = f"<p>{escape(words(rng, 40))} {link} {escape(words(rng, 20))}</p>"
        parts.append(chunk)
        total += len(chunk)
    return "\n".join(parts)


# --- feeds -------------------------------------------------------------------------------

FEED_STYLES = ("rss", "rss-content", "atom", "podcast")


def make_feed(
    seed: int,
    *,
    style: str | None = None,
    entries: int | None = None,
    target_kb: int | None = None,
    link_base: str = "https://blog{n}.example.com",
) -> bytes:
    """One realistic feed document (RSS 2.0, RSS + content:encoded, Atom or podcast RSS).

    `entries` defaults to 20–50 and `target_kb` to 20–200 (the body HTML per entry is
    sized to reach it). `link_base` may contain ``{n}`` (the seed) and ``{base}``.
    """
    rng = random.Random(seed)
    style = style or FEED_STYLES[seed % len(FEED_STYLES)]
    n = entries if entries is not None else rng.randint(20, 50)
    kb = target_kb if target_kb is not None else rng.randint(20, 200)
    per_entry = max(200, kb * 1024 // max(n, 1) - 400)
    site = link_base.format(n=seed, base="{base}")
    feed_title = escape(title(rng))
    items: list[str] = []
    for i in range(n):
        when = BASE_DATE - timedelta(hours=7 * i + rng.randint(0, 6), minutes=rng.randint(0, 59))
        t = escape(title(rng))
        link = f"{site}/posts/{seed}-{i}-{rng.randint(1000, 9999)}.html"
        body = html_body(rng, per_entry)
        cats = [rng.choice(WORDS) for _ in range(rng.randint(1, 3))]
        if style == "atom":
            cat_xml = "".join(f'<category term="{escape(c)}"/>' for c in cats)
            items.append(
                f'<entry><title type="html">{t}</title>'
                f'<link rel="alternate" type="text/html" href="{link}"/>'
                f"<id>{link}</id><published>{when.isoformat()}</published>"
                f"<updated>{when.isoformat()}</updated>"
                f"<author><name>{escape(words(rng, 2))}</name></author>{cat_xml}"
                f'<summary type="html">{escape(words(rng, 30))}</summary>'
                f'<content type="html">{escape(body)}</content></entry>'
            )
            continue
        cat_xml = "".join(f"<category>{escape(c)}</category>" for c in cats)
        date = format_datetime(when)
        if style == "podcast":
            mp3 = f"https://cdn.example.net/{seed}/episode-{i}.mp3"
            items.append(
                f"<item><title>{t}</title><link>{link}</link>"
                f'<guid isPermaLink="false">ep-{seed}-{i}</guid><pubDate>{date}</pubDate>'
                f"<description><![CDATA[{body}]]></description>"
                f'<enclosure url="{mp3}" length="{rng.randint(10**6, 10**8)}" type="audio/mpeg"/>'
                f"<itunes:duration>{rng.randint(600, 5400)}</itunes:duration>"
                f"<itunes:explicit>no</itunes:explicit></item>"
            )
        elif style == "rss-content":
            items.append(
                f"<item><title>{t}</title><link>{link}</link><guid>{link}</guid>"
                f"<pubDate>{date}</pubDate><dc:creator>{escape(words(rng, 2))}</dc:creator>"
                f"{cat_xml}<description>{escape(words(rng, 40))}</description>"
                f"<content:encoded><![CDATA[{body}]]></content:encoded>"
                f"<comments>{link}#comments</comments></item>"
            )
        else:
            items.append(
                f"<item><title>{t}</title><link>{link}</link><guid>{link}</guid>"
                f"<pubDate>{date}</pubDate>{cat_xml}"
                f"<description>{escape(body)}</description></item>"
            )
    if style == "atom":
        doc = (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom">'
            f'<title>{feed_title}</title><link href="{site}/"/>'
            f"<id>{site}/</id><updated>{BASE_DATE.isoformat()}</updated>"
            + "\n".join(items)
            + "</feed>\n"
        )
    else:
        doc = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel>'
            f"<title>{feed_title}</title><link>{site}/</link>"
            f"<description>{escape(words(rng, 12))}</description>"
            f"<lastBuildDate>{format_datetime(BASE_DATE)}</lastBuildDate>"
            + "\n".join(items)
            + "</channel></rss>\n"
        )
    return doc.encode("utf-8")


def feed_corpus(n_docs: int, seed: int = 1) -> list[bytes]:
    """`n_docs` feeds of 20–200 KB with 20–50 entries, all four styles."""
    return [make_feed(seed * 1000 + i) for i in range(n_docs)]


def malformed_feeds() -> dict[str, tuple[bytes, dict[str, str]]]:
    """Broken feeds a crawler meets, with the headers they came with (robustness check)."""
    good = make_feed(7, style="rss", entries=20, target_kb=20)
    atom = make_feed(8, style="atom", entries=20, target_kb=20)
    xml = {"content-type": "application/rss+xml"}
    cases: dict[str, tuple[bytes, dict[str, str]]] = {
        "truncated mid-entry": (good[: len(good) * 2 // 3], xml),
        "unescaped ampersand": (good.replace(b"<title>", b"<title>Q&A ", 5), xml),
        "undefined entity &nbsp;": (good.replace(b"<title>", b"<title>&nbsp;", 5), xml),
        "mismatched tags": (good.replace(b"</title>", b"</titl>", 3), xml),
        "cp1252 declared as utf-8": (
            good.replace(b"<title>", "<title>caf\u00e9 \u2019 ".encode("cp1252"), 5),
            {"content-type": "application/rss+xml; charset=utf-8"},
        ),
        "gbk undeclared": (
            good.replace(b'encoding="UTF-8"', b"").replace(
                b"<title>", "<title>异步编程 ".encode("gbk"), 20
            ),
            {"content-type": "application/xml"},
        ),
        "utf-16 with BOM": (
            "\ufeff".encode("utf-16-le")
            + good.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-le"),
            xml,
        ),
        "garbage before root": (b"\n\n  <!-- cached -->\x0c" + good, xml),
        "atom without xmlns": (atom.replace(b' xmlns="http://www.w3.org/2005/Atom"', b""), xml),
        "rss 0.91 no channel close": (good.replace(b"</channel></rss>", b""), xml),
        "control characters": (good.replace(b"<title>", b"<title>\x01\x08", 5), xml),
    }
    return cases


# --- article pages -----------------------------------------------------------------------


def make_page(i: int, base: str, n_pages: int, links: int = 21) -> bytes:
    """A small article page: title, canonical, meta description and date, ~21 links."""
    rng = random.Random(i)
    t = escape(title(rng))
    when = (BASE_DATE - timedelta(hours=i)).isoformat()
    hrefs = [f"{base}/a/{rng.randrange(n_pages)}.html" for _ in range(links - 3)]
    hrefs += ["/about", "https://github.com/python/cpython", "#top"]
    link_html = "".join(f'<li><a href="{h}">{escape(words(rng, 3))}</a></li>' for h in hrefs)
    paras = "".join(f"<p>{escape(words(rng, 40))}</p>" for _ in range(6))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{t}</title>"
        f'<link rel="canonical" href="{base}/a/{i}.html">'
        f'<meta name="description" content="{escape(words(rng, 25))}">'
        f'<meta property="og:title" content="{t}">'
        f'<meta property="article:published_time" content="{when}">'
        f'<meta name="author" content="{escape(words(rng, 2))}">'
        f"</head><body><header><nav><ul>{link_html}</ul></nav></header>"
        f'<article><h1>{t}</h1><time datetime="{when}">{when[:10]}</time>{paras}{CODE}'
        "</article></body></html>"
    ).encode()


# --- raw crawl files (crawler/runstate.py format) --------------------------------------


def raw_records(
    n: int, *, seed: int = 3, run_id: str = "bench001", files: int = 1, distinct: float = 0.6
) -> Iterator[tuple[int, dict]]:
    """(file index, record) for `n` candidate sightings in the crawler's raw JSONL shape.

    About `distinct` of the sightings are distinct URLs; the rest repeat a URL from another
    source or day (as a real week of crawls does).
    """
    rng = random.Random(seed)
    sources = [f"feed-{k}" for k in range(400)] + ["hn-python", "lobsters", "reddit-python"]
    n_urls = max(1, int(n * distinct))
    per_file = -(-n // files)
    for i in range(n):
        u = i if i < n_urls else rng.randrange(n_urls)
        host = f"blog{u % 5000}.example.com"
        url = f"https://{host}/posts/{u}-{u * 7919 % 100_003}.html"
        day = BASE_DATE - timedelta(days=rng.randrange(21), seconds=rng.randrange(86_400))
        src = sources[(u + i) % len(sources)] if i >= n_urls else sources[u % len(sources)]
        rec = {
            "type": "candidate",
            "run_id": f"{run_id}-{i // per_file}",
            "source": src,
            "kind": "feed",
            "fetched_at": day.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "url": url,
            "title": title(random.Random(u)),
            "section": "article",
            "description": words(random.Random(u + 1), 60)[:600],
            "published": (day - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "published_raw": format_datetime(day - timedelta(hours=3)),
            "date_flag": None,
            "author": words(rng, 2),
            "language": None,
            "stars": None,
            "forks": None,
            "stars_period": None,
            "points": rng.randrange(500) if src == "hn-python" else None,
            "comments": rng.randrange(200) if src == "hn-python" else None,
            "position": i % 30 + 1,
            "discussion_url": None,
            "canonical_url": url,
            "repo_key": None,
            "extra": {"feed_title": "Example blog", "guid": url, "tags": ["python"]},
        }
        yield i // per_file, rec


def write_raw_files(directory: Path, n: int, files: int = 4, seed: int = 3) -> list[Path]:
    """Write `n` sightings as `files` raw crawl files (header, candidates, fetch, trailer)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"20250106-0{k}0000-bench{k:03d}.jsonl" for k in range(files)]
    handles = [p.open("w", encoding="utf-8", newline="\n") for p in paths]
    dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode
    try:
        for k, fh in enumerate(handles):
            fh.write(
                dumps(
                    {
                        "type": "run",
                        "run_id": f"bench001-{k}",
                        "started_at": "2025-01-06T00:00:00.000000Z",
                        "pid": 1,
                        "sources": ["feed-0"],
                    }
                )
                + "\n"
            )
        for k, rec in raw_records(n, seed=seed, files=files):
            handles[k].write(dumps(rec) + "\n")
        for k, fh in enumerate(handles):
            fh.write(
                dumps(
                    {
                        "type": "fetch",
                        "run_id": f"bench001-{k}",
                        "source": "feed-0",
                        "kind": "feed",
                        "url": "https://blog0.example.com/feed.xml",
                        "started_at": "2025-01-06T00:00:00.000000Z",
                        "finished_at": "2025-01-06T00:00:01.000000Z",
                        "status": "ok",
                        "http_status": 200,
                        "items": 20,
                        "bytes": 12345,
                        "not_modified": 0,
                        "errors": 0,
                        "skipped": 0,
                        "requests": 1,
                        "error": None,
                    }
                )
                + "\n"
            )
            fh.write(dumps({"type": "run_end", "run_id": f"bench001-{k}", "failed": []}) + "\n")
    finally:
        for fh in handles:
            fh.close()
    return paths
