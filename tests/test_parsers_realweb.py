"""Every parser on the real captured responses in ../shared/fixtures/real-web (MANIFEST.csv).

The corpus lives outside the repository (``<repo>/../shared``). Without it these tests
skip, except under CI=true, where they fail: CI must not pass by skipping them.
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections import Counter
from pathlib import Path

import pytest

from crawler.parsers import PARSERS, ParseError
from crawler.parsers.feeds import MAX_ENTRIES, parse_feed
from crawler.sources import Source
from crawler.text import SUMMARY_MAX, html_to_text

pytestmark = pytest.mark.shared

REAL_WEB = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real-web"
MANIFEST = REAL_WEB / "MANIFEST.csv"

# MANIFEST category -> the source kind whose parser reads it.
KIND_OF_CATEGORY = {
    "feeds": "feed",
    "podcasts": "feed",
    "github-trending": "github_trending",
    "hackernews": "hackernews",
    "lobsters": "lobsters",
    "reddit": "reddit",
    "pypi": "pypi",
    "github-api": "github_repo",
    "articles": "page",
    "sitemap-robots": "sitemap",
}
REALPY_DESCRIPTIONS = "feeds/realpython-atom-descriptions-2018-09-19.xml"
REALPY_FULL = "feeds/realpython-atom-full-2018-09-19.xml"

# Counts the MANIFEST notes state (or the feed cap, for the long podcast feeds).
EXPECTED_COUNT = {
    "github-trending/trending-all-daily-2023-04-18.html": 25,
    "github-trending/trending-all-weekly-2026-05-13.html": 18,
    "github-trending/trending-python-daily-2026-04-25.html": 20,
    "github-trending/trending-rust-weekly-2026-05-07.html": 16,
    "hackernews/algolia-search-tags-story-points20-2026-08-02.json": 30,
    "hackernews/firebase-item-8863-pretty-2022-03-21.json": 1,
    "hackernews/firebase-topstories-pretty-2022-03-21.json": 0,
    "hackernews/news-ycombinator-rss-2026-03-22.xml": 30,
    "lobsters/hottest-2023-11-02.json": 25,
    "lobsters/hottest-2024-02-28-three-python-stories.json": 25,
    "reddit/r-localllama-top-2026-04-25.json": 3,
    "feeds/youtube-channel-nasa-2026-08-18.xml": 15,
    "feeds/youtube-channel-brent-westbrook-2025-12.xml": 15,
    "podcasts/pythonbytes-episodes-rss-2023-06.xml": min(339, MAX_ENTRIES),
    "podcasts/talkpython-episodes-rss-2023-06.xml": min(417, MAX_ENTRIES),
    "podcasts/djangochat-simplecast-rss-2023-06.xml": 141,
    "github-api/brave-browser-releases-2026-08-18.atom": 10,
    "github-api/cpython-releases-2026-08-18.atom": 10,
    "github-api/uv-commits-main-2026-08-17.atom": 20,
    "github-api/repos-cli-cli-2026-05-07.json": 1,
    "github-api/repos-python-cpython-2024-03-26.json": 1,
    "pypi/pypi-json-asgiref-2025-11-28.json": 1,
    "pypi/pypi-json-asgiref-3.11.0-2025-11-28.json": 1,
    # robots.txt and sitemap indexes name sitemaps (notes["sitemaps"]), not items.
    "sitemap-robots/fastpages-robots.txt": 0,
    "sitemap-robots/pypy-org-robots.txt": 0,
    "sitemap-robots/pypy-org-sitemapindex.xml": 0,
}
EXPECTED_ERROR = {"hackernews/firebase-maxitem-pretty-2022-03-21.json": "bad_shape"}
# <pre> blocks the MANIFEST notes count in the article pages.
EXPECTED_CODE_BLOCKS = {
    "articles/medium-debugger-apple-m1-2022-02.html": 15,
    "articles/pybites-ast-intro-2021.html": 17,
    "articles/realpython-python310-new-features-2024-01.html": 74,
}


def _require_shared() -> None:
    if not MANIFEST.is_file():
        message = f"shared corpus not found at {REAL_WEB}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)


def _rows() -> list[dict[str, str]]:
    if not MANIFEST.is_file():
        return [{"path": "(missing)", "category": "(missing)"}]
    with MANIFEST.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


ROWS = _rows()


def _source(row: dict[str, str]) -> Source:
    kind = KIND_OF_CATEGORY[row["category"]]
    m = re.match(r"https?://\S+", row.get("what", ""))
    url = m.group(0) if m else "https://example.invalid/"
    return Source(name=f"real-{row['category']}", kind=kind, url=url)


def _headers(row: dict[str, str]) -> dict[str, str]:
    return {"Content-Type": row["content_type"]} if row.get("content_type") else {}


def parse_row(row: dict[str, str]):
    body = (REAL_WEB / row["path"]).read_bytes()
    return PARSERS[KIND_OF_CATEGORY[row["category"]]](body, _headers(row), _source(row))


@pytest.mark.parametrize("row", ROWS, ids=[r["path"] for r in ROWS])
def test_real_response(row):
    _require_shared()
    assert row["category"] in KIND_OF_CATEGORY, f"new MANIFEST category {row['category']!r}"
    path = row["path"]
    if path in EXPECTED_ERROR:
        with pytest.raises(ParseError) as info:
            parse_row(row)
        assert info.value.reason == EXPECTED_ERROR[path]
        return
    result = parse_row(row)
    if path in EXPECTED_COUNT:
        assert len(result) == EXPECTED_COUNT[path]
    elif "topstories" not in path:
        assert len(result) >= 1
    urls = set()
    for c in result:
        assert c.title.strip() and c.title == c.title.strip()
        assert c.url.startswith(("http://", "https://"))
        assert c.canonical_url and c.canonical_url.startswith("https://")
        assert c.section in ("article", "project", "audio_video", "hot_topic")
        assert c.source == _source(row).name
        assert len(c.title) <= 500 and len(c.description) <= 1000
        assert "\ufffd" not in c.title
        if c.published is not None:
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", c.published)
            assert c.date_flag is None and c.published_raw
        urls.add(c.canonical_url)
    if row["category"] != "articles":
        assert len(urls) == len(result)  # no duplicates within a response


def _row(path: str) -> dict[str, str]:
    _require_shared()
    for row in ROWS:
        if row["path"] == path:
            return row
    pytest.fail(f"{path} not in MANIFEST")


@pytest.mark.parametrize(
    "path",
    [
        "podcasts/pythonbytes-episodes-rss-2023-06.xml",
        "podcasts/talkpython-episodes-rss-2023-06.xml",
        "podcasts/djangochat-simplecast-rss-2023-06.xml",
        "feeds/youtube-channel-nasa-2026-08-18.xml",
        "feeds/youtube-channel-brent-westbrook-2025-12.xml",
    ],
)
def test_podcasts_and_videos_are_audio_video(path):
    result = parse_row(_row(path))
    assert {c.section for c in result} == {"audio_video"}
    assert all(c.published for c in result)


def test_pythonbytes_is_capped_to_the_newest():
    result = parse_row(_row("podcasts/pythonbytes-episodes-rss-2023-06.xml"))
    assert result.notes["entries_total"] == 339
    assert result.notes["capped"] == {"kept": MAX_ENTRIES, "usable": 339}
    assert result[0].title.startswith("#339 ")
    assert result.notes["parser"] == "fastfeedparser"


def test_djangochat_episodes_sharing_a_home_page_link_stay_apart():
    result = parse_row(_row("podcasts/djangochat-simplecast-rss-2023-06.xml"))
    assert all(c.url.endswith(".mp3") or ".mp3?" in c.url for c in result)
    assert all(c.extra["page_url"] == "https://djangochat.com" for c in result)


def test_substack_audio_items_only():
    result = parse_row(_row("feeds/substack-interconnects-ai-2026-08-02.xml"))
    sections = Counter(c.section for c in result)
    assert sections["audio_video"] == 2  # two .mp3 enclosures; the rest are images
    assert sections["article"] == len(result) - 2


def test_chinese_feed_text():
    result = parse_row(_row("feeds/zh-geekpark-rss-2020-12.xml"))
    assert result[0].title.startswith("充电桩")
    assert result[0].description


@pytest.mark.parametrize(
    ("path", "period"),
    [
        ("github-trending/trending-all-daily-2023-04-18.html", "daily"),
        ("github-trending/trending-all-weekly-2026-05-13.html", "weekly"),
        ("github-trending/trending-python-daily-2026-04-25.html", "daily"),
        ("github-trending/trending-rust-weekly-2026-05-07.html", "weekly"),
    ],
)
def test_github_trending_rows(path, period):
    result = parse_row(_row(path))
    assert [c.position for c in result] == list(range(1, len(result) + 1))
    for c in result:
        assert c.section == "project"
        assert c.repo_key and c.repo_key.count("/") == 2
        assert c.title.lower() == c.repo_key.removeprefix("github.com/")
        assert c.stars and c.stars > 0 and c.forks is not None
        assert c.stars_period is not None and c.extra["stars_period"] == period
    if "python" in path:
        assert Counter(c.language for c in result)["Python"] >= len(result) // 2


def test_github_trending_row_values():
    second = parse_row(_row("github-trending/trending-all-weekly-2026-05-13.html"))[1]
    assert second.title == "Hmbown/DeepSeek-TUI" and second.position == 2
    assert (second.stars, second.forks, second.stars_period) == (27075, 2264, 20835)
    assert second.language == "Rust"
    assert second.description == "Coding agent for DeepSeek models that runs in your terminal"


def test_hn_algolia_hits():
    result = parse_row(_row("hackernews/algolia-search-tags-story-points20-2026-08-02.json"))
    first = result[0]
    assert first.title == "AI Mania: From Tulips to Tokens"
    assert first.url == "https://seanhelvey.com/tools-and-their-tools/"
    assert first.discussion_url == "https://news.ycombinator.com/item?id=49148159"
    assert (first.points, first.comments) == (37, 32)
    assert first.published == "2026-08-02T20:48:28Z"
    assert all(c.points is not None and c.discussion_url for c in result)


def test_hn_firebase_item_and_id_list():
    (item,) = parse_row(_row("hackernews/firebase-item-8863-pretty-2022-03-21.json"))
    assert item.title == "My YC app: Dropbox - Throw away your USB drive"
    assert (item.points, item.comments, item.author) == (104, 71, "dhouston")
    assert item.published == "2007-04-04T19:16:40Z"
    ids = parse_row(_row("hackernews/firebase-topstories-pretty-2022-03-21.json"))
    assert len(ids.notes["item_ids"]) == 500


def test_hn_rss_has_discussion_links():
    result = parse_row(_row("hackernews/news-ycombinator-rss-2026-03-22.xml"))
    assert all(
        re.fullmatch(r"https://news\.ycombinator\.com/item\?id=\d+", c.discussion_url)
        for c in result
    )
    assert all(c.description != "Comments" for c in result)


def test_lobsters_tag_option():
    row = _row("lobsters/hottest-2024-02-28-three-python-stories.json")
    body = (REAL_WEB / row["path"]).read_bytes()
    src = Source(
        name="lobsters-python",
        kind="lobsters",
        url="https://lobste.rs/hottest.json",
        options={"tags": ["python"]},
    )
    result = PARSERS["lobsters"](body, None, src)
    assert len(result) == 3
    assert all("python" in c.extra["tags"] for c in result)
    assert result.notes["skipped"]["tag_filtered"] == 22
    one = parse_row(_row("lobsters/hottest-2023-11-02.json"))
    assert sum("python" in c.extra["tags"] for c in one) == 1
    assert all(c.discussion_url.startswith("https://lobste.rs/s/") for c in one)


def test_reddit_listing_and_atom():
    listing = parse_row(_row("reddit/r-localllama-top-2026-04-25.json"))
    assert all(
        c.points and c.discussion_url.startswith("https://www.reddit.com/r/LocalLLaMA/")
        for c in listing
    )
    atom = parse_row(_row("reddit/frontpage-rss-atom-2016-01.xml"))
    assert all(c.discussion_url and "reddit.com" in c.discussion_url for c in atom)
    assert any("reddit.com" not in c.url for c in atom)  # [link] targets extracted
    # the anchors' hrefs are HTML attributes: `&amp;` is `&`, and utm_* leave the canonical
    assert not any("&amp;" in c.url or "amp%3B" in c.canonical_url for c in atom)
    assert not any("utm_" in c.canonical_url for c in atom)


def test_a_title_escaped_twice_reads_as_the_other_feed_gives_it():
    """Real Python's descriptions feed escapes some titles twice (`&amp;amp;`); its full
    feed does not. One article, one title."""
    short = {c.canonical_url: c.title for c in parse_row(_row(REALPY_DESCRIPTIONS))}
    full = {c.canonical_url: c.title for c in parse_row(_row(REALPY_FULL))}
    both = short.keys() & full.keys()
    assert len(both) >= 15
    assert {u: short[u] for u in both} == {u: full[u] for u in both}
    assert "Python Pandas: Tricks & Features You May Not Know" in short.values()


def test_pypi_prefers_the_github_repository():
    for path in (
        "pypi/pypi-json-asgiref-2025-11-28.json",
        "pypi/pypi-json-asgiref-3.11.0-2025-11-28.json",
    ):
        (c,) = parse_row(_row(path))
        assert c.url == "https://github.com/django/asgiref"
        assert c.repo_key == "github.com/django/asgiref"
        assert c.extra["version"] == "3.11.0" and c.extra["pypi_url"].startswith(
            "https://pypi.org/"
        )
        assert c.published == "2025-11-19T15:32:19Z"


def test_github_api_repo_and_search():
    (cpython,) = parse_row(_row("github-api/repos-python-cpython-2024-03-26.json"))
    assert cpython.repo_key == "github.com/python/cpython"
    assert cpython.stars and cpython.forks and cpython.language == "Python"
    assert cpython.extra["archived"] is False and "pushed_at" in cpython.extra
    search = parse_row(_row("github-api/search-repositories-2026-05-07.json"))
    assert search.notes["total_count"] == 3821
    assert all(c.repo_key and c.stars for c in search)
    releases = parse_row(_row("github-api/cpython-releases-2026-08-18.atom"))
    assert all(c.repo_key == "github.com/python/cpython" for c in releases)


@pytest.mark.parametrize("path", list(EXPECTED_CODE_BLOCKS))
def test_article_code_blocks(path):
    (c,) = parse_row(_row(path))
    assert c.extra["code_blocks"] == EXPECTED_CODE_BLOCKS[path]
    assert len(c.description) > 100


def test_articles_metadata():
    (pybites,) = parse_row(_row("articles/pybites-ast-intro-2021.html"))
    assert pybites.title == "Abstract Syntax Trees in Python"
    assert pybites.published == "2021-02-20T09:30:00Z"
    assert pybites.extra["date_confidence"] == "high" and pybites.extra["lang"] == "en"
    # Its JSON-LD is wrapped in <![CDATA[ ]]>: the date is the marked-up one, not a guess.
    (realpython,) = parse_row(_row("articles/realpython-python310-new-features-2024-01.html"))
    assert realpython.published == "2021-10-04T14:00:00Z"
    assert realpython.extra["date_confidence"] == "high"
    (medium,) = parse_row(_row("articles/medium-debugger-apple-m1-2022-02.html"))
    assert medium.author == "Erik Engheim"


def test_gb2312_page_is_decoded():
    (c,) = parse_row(_row("articles/zh-gb2312-encoded-page.html"))
    assert "QQ业务乐园" in c.title
    assert c.extra["encoding"] == "gb18030"
    assert "decode_flags" not in c.extra


# --- the fields feedparser would give (docs/PERFORMANCE.md, F6) ---------------------------

FEED_ROWS = [
    r
    for r in ROWS
    if r.get("category") in ("feeds", "podcasts", "github-api", "hackernews", "reddit")
    and r["path"].endswith((".xml", ".atom", ".rss"))
]


def _feedparser_entries(row: dict[str, str]) -> list:
    import feedparser

    body = (REAL_WEB / row["path"]).read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return feedparser.parse(body).entries


def _feedparser_summary(entry) -> str:
    content = entry.get("content") or []
    return html_to_text(
        entry.get("summary") or (content[0]["value"] if content else ""), SUMMARY_MAX
    )


@pytest.mark.parametrize("row", FEED_ROWS, ids=[r["path"] for r in FEED_ROWS])
def test_summary_and_enclosure_are_feedparsers(row):
    """Same summary text and first enclosure as feedparser, entry by entry."""
    _require_shared()
    body = (REAL_WEB / row["path"]).read_bytes()
    result = parse_feed(
        body,
        _headers(row),
        Source(name="real-feed", kind="feed", url="https://example.org/feed.xml"),
    )
    by_position = {c.position: c for c in result}
    entries = _feedparser_entries(row)
    compared = 0
    for position, entry in enumerate(entries, start=1):
        c = by_position.get(position)
        if c is None:
            continue  # capped or a duplicate link, by design
        compared += 1
        assert c.description == _feedparser_summary(entry), position
        enclosures = [x for x in entry.get("enclosures") or [] if x.get("href")]
        expected = (
            {"url": enclosures[0]["href"], "type": enclosures[0].get("type") or ""}
            if enclosures
            else None
        )
        assert c.extra.get("enclosure") == expected, position
    assert compared == len(result)


def test_blogger_atom_enclosure_link():
    (first, *_rest) = parse_row(_row("feeds/blogger-atom-2014-10.xml"))
    assert first.extra["enclosure"] == {
        "url": "http://www.blogger.com/video-play.mp4?contentId=68e5fc66bed7b704&type=video%2Fmp4",
        "type": "video/mp4",
    }
    assert first.section == "audio_video"


@pytest.mark.parametrize(
    "path",
    [
        "feeds/youtube-channel-nasa-2026-08-18.xml",
        "feeds/youtube-channel-brent-westbrook-2025-12.xml",
    ],
)
def test_youtube_media_description_is_the_summary(path):
    result = parse_row(_row(path))
    entries = _feedparser_entries(_row(path))
    assert all(c.description for c in result)
    assert [c.description for c in result] == [_feedparser_summary(e) for e in entries]


def test_talkpython_summary_is_the_itunes_summary():
    # itunes:summary comes first; feedparser then files <description> (the show notes)
    # as content.
    (first, *_rest) = parse_row(_row("podcasts/talkpython-episodes-rss-2023-06.xml"))
    assert first.description.startswith("Think about the different APIs")
    assert first.description.endswith("keeping secrets out of Python code.")
    assert "Links from the show" not in first.description


def test_djangochat_summary_is_the_itunes_summary():
    # <description>, content:encoded, then itunes:summary: with content already seen,
    # feedparser lets the later summary element replace the first.
    (first, *_rest) = parse_row(_row("podcasts/djangochat-simplecast-rss-2023-06.xml"))
    assert first.description.startswith("Simon Willison is a co-creator of Django")


@pytest.mark.parametrize(
    "path",
    [
        "feeds/rust-blog-atom-2026-08-17.xml",
        "feeds/medium-publication-rss-2018-11.xml",
        "github-api/astral-ty-releases-2025-12-12.atom",
    ],
)
def test_content_only_entries_use_the_whole_content(path):
    # Not fastfeedparser's 512-character snippet of it.
    result = parse_row(_row(path))
    assert max(len(c.description) for c in result) > 600


def test_escaped_markup_in_content_is_kept_as_text():
    result = parse_row(_row("github-api/uv-commits-main-2026-08-17.atom"))
    assert any(
        c.description.endswith("Co-authored-by: Zanie Blue <contact@zanie.dev>") for c in result
    )


# --- sitemaps and robots.txt: expectations read from the bodies with plain regexes ----------

_LOC = re.compile(r"<loc>\s*([^<\s]+)\s*</loc>")
_LASTMOD = re.compile(r"<lastmod>\s*([^<\s]+)\s*</lastmod>")


def _text(path: str) -> str:
    return (REAL_WEB / path).read_text("utf-8")


@pytest.mark.parametrize(
    ("path", "sitemap"),
    [
        ("sitemap-robots/fastpages-robots.txt", "https://fastpages.fast.ai/sitemap.xml"),
        ("sitemap-robots/pypy-org-robots.txt", "https://www.pypy.org/sitemapindex.xml"),
    ],
)
def test_robots_txt_names_its_sitemap(path, sitemap):
    result = parse_row(_row(path))
    named = re.findall(r"(?im)^\s*sitemap:\s*(\S+)", _text(path))
    assert result.notes["sitemaps"] == named == [sitemap]


def test_pypy_sitemap_index_lists_sitemap_xml_first():
    path = "sitemap-robots/pypy-org-sitemapindex.xml"
    text = _text(path)
    locs = _LOC.findall(text)
    assert len(set(_LASTMOD.findall(text))) == 1  # one lastmod for all: document order
    result = parse_row(_row(path))
    first = "https://www.pypy.org/sitemap.xml"
    assert result.notes["sitemaps"] == [first] + [u for u in locs if u != first]
    assert "https://www.pypy.org/rss.xml" in result.notes["sitemaps"]  # read, then refused


def test_pypy_sitemap_gives_its_posts_dated_by_path_not_by_the_build_stamp():
    path = "sitemap-robots/pypy-org-sitemap.xml"
    text = _text(path)
    locs = _LOC.findall(text)
    (stamp, stamped), *_ = Counter(_LASTMOD.findall(text)).most_common(1)
    post = re.compile(r"https://www\.pypy\.org/posts/(\d{4})/(\d\d)/[^/]+\.html")
    posts = [(m[1], m[2], i, m[0]) for i, u in enumerate(locs) if (m := post.fullmatch(u))]
    # The newest MAX_ENTRIES posts by path month, document order among one month.
    newest = sorted(posts, key=lambda p: (-int(p[0] + p[1]), p[2]))[:MAX_ENTRIES]
    result = parse_row(_row(path))
    assert result.notes["urls_total"] == len(locs)
    assert result.notes["build_stamp"] == {"lastmod": stamp, "urls": stamped}
    assert stamped == len(locs)  # every URL: the deploy time
    assert sorted(c.url for c in result) == sorted(p[3] for p in newest)
    # Every other URL is left out (root, year indexes, listings, fixed pages) ...
    assert sum(result.notes["skipped"].values()) == len(locs) - len(posts)
    # ... and of the posts the newest are kept.
    assert result.notes["capped"] == {"kept": MAX_ENTRIES, "usable": len(posts)}
    by_url = {c.url: c for c in result}
    for year, month, _i, url in newest:
        c = by_url[url]
        assert (c.published, c.published_raw) == (f"{year}-{month}-01T00:00:00Z", f"{year}/{month}")
        assert c.extra == {"title_from": "url", "date_from": "url"}
    glibc = by_url["https://www.pypy.org/posts/2026/07/moving-linux-builds-to-glibc228.html"]
    assert glibc.title == "Moving linux builds to glibc228"


def test_fastpages_sitemap_gives_its_dated_posts():
    path = "sitemap-robots/fastpages-jekyll-sitemap.xml"
    text = _text(path)
    dated = re.findall(r"<loc>([^<]+)</loc>\s*<lastmod>([^<]+)</lastmod>", text)
    result = parse_row(_row(path))
    assert [c.url for c in result] == [url for url, _lastmod in dated]
    for c, (_url, lastmod) in zip(result, dated, strict=True):
        assert c.published[:10] == lastmod[:10]  # path and lastmod agree on the day
    urls = {c.url for c in result}
    for page in ("/", "/about/", "/search/", "/categories/"):
        assert f"https://fastpages.fast.ai{page}" in _LOC.findall(text)
        assert f"https://fastpages.fast.ai{page}" not in urls
    assert result.notes["skipped"] == {"listing": 3, "site_root": 1}
