"""The candidate pool of a week: window, sightings merged per item, already-featured removed.

A pool is what the curator could have picked on a given day (`as_of`): every item seen in
the `window_days` before it (inclusive), one row per item, with what its sightings tell
(sources, first/last seen, best position, metrics over time, days on trending, star gain).

Identity: a repository is one item whatever its URL (`repo_key`, stored as
`crawler.urls.project_key`: a link to one of its threads is an item of its own), anything
else is its canonical URL; near-duplicate titles (the same story syndicated) are merged
with MinHash LSH, sources unioned. Items already featured in a past issue are removed (by canonical
URL, repository, or fuzzy title in zh or en, so that title-only issues count); they are
returned apart in `Pool.featured` with the reason (for `rank --show-featured`).

Why only primary items count as "featured": in the archive, links that only appeared
inside a summary were picked later as primary items more often (3 of ~300, 1%) than an
average pool item (~0.3%), so excluding them would hide real picks.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ranking.defaults import DEFAULT_WINDOW_DAYS
from ranking.store import candidate_id

logger = logging.getLogger(__name__)

# Titles whose word/bigram shingles overlap this much (Jaccard, MinHash LSH) are one story.
NEAR_DUP_JACCARD = 0.8
# A pool title this close to a past item's (rapidfuzz ratio, normalized titles) is that item.
TITLE_MATCH_RATIO = 92.0

# Hosts whose pages are a project (a package index, a forge) rather than an article.
PROJECT_HOSTS = frozenset(
    {
        "pypi.org",
        "gitlab.com",
        "codeberg.org",
        "bitbucket.org",
        "sourceforge.net",
        "gitee.com",
        "sr.ht",
        "git.sr.ht",
        "huggingface.co",
    }
)
AUDIO_VIDEO_HOSTS = frozenset(
    {
        "youtube.com",
        "youtu.be",
        "vimeo.com",
        "bilibili.com",
        "b23.tv",
        "talkpython.fm",
        "pythonbytes.fm",
        "podcast.pythontest.com",
        "pythonpodcast.com",
        "changelog.com",
        "soundcloud.com",
        "podcasts.apple.com",
        "open.spotify.com",
        "xiaoyuzhoufm.com",
        "pyvideo.org",
        "ximalaya.com",
    }
)
HOT_TOPIC_HOSTS = frozenset(
    {
        "v2ex.com",
        "news.ycombinator.com",
        "discuss.python.org",
        "lobste.rs",
        "stackoverflow.com",
        "zhihu.com",
    }
)
_AV_TITLE = re.compile(r"\b(podcast|episode|\[video\]|\(video\)|talk|webinar)\b|播客|视频", re.I)
# Hacker News job ads ("Acme (YC W21) Is Hiring ...", "Who is hiring?", a posting on YC's
# job boards): never newsletter material. Launch HN posts and YC's blog are not ads.
_JOB_AD = re.compile(r"\bis hiring\b|\bhires for\b", re.I)
_JOB_URL = re.compile(
    r"^https?://(?:www\.)?(?:ycombinator\.com/companies/[^/]+/jobs\b|workatastartup\.com/)", re.I
)
# A hot topic is a discussion thread (its host or path says so, or a source's section);
# a title alone names one only when it says so: a blog post asking a question is an article.
_HOT_TITLE = re.compile(r"^(ask|tell) hn\b|^讨论", re.I)
_REDDIT_THREAD = re.compile(r"^/r/[^/]+/comments/")
_GITHUB_DISCUSSION = re.compile(r"^/[^/]+/[^/]+/discussions/\d")
TRENDING_PREFIX = "trending:"
HN_PREFIX = "hn:"

_WORD = re.compile(r"[a-z0-9]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
# Combining marks of the Basic Multilingual Plane, one by one: a class of single BMP
# characters is matched by bitmap, much faster than testing unicodedata.combining per
# character (a class with astral characters is not: those are tested apart).
_COMBINING_BMP = re.compile(
    "[" + "".join(re.escape(chr(c)) for c in range(0x10000) if unicodedata.combining(chr(c))) + "]+"
)


def title_tokens(text: str) -> list[str]:
    """Lowercase latin words plus CJK character bigrams: shingles for zh and en alike."""
    text = text or ""
    if not text.isascii():
        # NFKC folds full-width forms; NFKD + dropping combining marks folds accents.
        text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
        if not text.isascii():
            text = _COMBINING_BMP.sub("", text)
            if not text.isascii() and max(text) > "\uffff":
                text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower()
    tokens = _WORD.findall(text)
    for run in _CJK.findall(text):
        if len(run) == 1:
            tokens.append(run)
        tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
    return tokens


def source_labels(sightings: pd.DataFrame) -> pd.Series:
    """Source labels with our crawled sources named like the archive's where they are alike.

    The archive names GitHub trending pages `trending:<language>`, Hacker News lists
    `hn:<list>` and the links of newsletter issues `python_weekly:…` / `pycoders:…`; a
    crawled source carries its configured name and its kind. A crawled trending page gets
    `trending:<repo language>` (`trending:all` when unknown), a crawled Hacker News source
    `hn:<name>` and a crawled newsletter its name with `_` for `-` (`python-weekly` ->
    `python_weekly`), so trending signals and source priors learned on the archive see
    them.
    """
    source = sightings["source"].astype(str)
    if "kind" not in sightings:
        return source
    kind = sightings["kind"].astype("string").fillna("")
    trending = (kind == "github_trending") & ~source.str.startswith(TRENDING_PREFIX)
    hacker_news = (kind == "hackernews") & ~source.str.startswith(HN_PREFIX)
    newsletter = kind == "newsletter"
    if not (trending.any() or hacker_news.any() or newsletter.any()):
        return source
    language = (
        sightings["language"] if "language" in sightings else pd.Series("", index=source.index)
    )
    language = language.astype("string").fillna("").str.strip().str.lower()
    language = language.where(language != "", "all")
    out = source.where(~trending, TRENDING_PREFIX + language)
    out = out.where(~newsletter, source.str.replace("-", "_", regex=False))
    return out.where(~hacker_news, HN_PREFIX + source)


@functools.lru_cache(maxsize=1 << 15)
def normalize_title(text: str) -> str:
    """A title reduced to its words (for fuzzy comparison across sources and languages).

    Remembered: every pool compares against nearly the same past titles."""
    return " ".join(title_tokens(text))


def classify_section(
    host: str, repo_key: str | None, title: str, canonical: str, hints: set[str]
) -> str:
    """project | article | audio_video | hot_topic for one merged item.

    `hints` are the sections its sightings carried (a crawler parser or the dataset's page
    section); the URL decides first because it is the most reliable.
    """
    host = host or ""
    path = re.sub(r"^https?://[^/]+", "", canonical or "")
    title = title or ""
    if host in AUDIO_VIDEO_HOSTS or host.endswith(".podbean.com") or "audio_video" in hints:
        return "audio_video"
    if repo_key or host in PROJECT_HOSTS or "project" in hints:
        return "project"
    if (
        host in HOT_TOPIC_HOSTS
        or (host == "reddit.com" and _REDDIT_THREAD.match(path))
        or (host == "github.com" and _GITHUB_DISCUSSION.match(path))
        or "hot_topic" in hints
        or _HOT_TITLE.search(title.strip())
    ):
        return "hot_topic"
    if _AV_TITLE.search(title):
        return "audio_video"
    return "article"


@dataclass
class Pool:
    """The pool of one day: `frame` (candidates), `featured` (removed, with the reason)."""

    as_of: dt.date
    window_days: int
    frame: pd.DataFrame
    featured: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


POOL_COLUMNS = [
    "id",
    "key",
    "canonical_url",
    "url",
    "repo_key",
    "host",
    "title",
    "description",
    "section",
    "sources",
    "n_sources",
    "member_urls",
    "first_seen",
    "last_seen",
    "days_seen",
    "days_trending",
    "days_trending_python",
    "best_position",
    "best_trending_position",
    "stars",
    "stars_gained",
    "stars_period_max",
    "points",
    "points_source",
    "comments",
    "points_vs_source",
    "comments_vs_source",
    "language",
    "topics",
    "on_pypi",
    "date_flags",
    "title_flags",
    "prior_days",
]


def _source_priority(source: str) -> int:
    # Which sighting's title to show: a human-written headline beats `owner/repo`.
    if source.startswith(("hn:", "python_weekly", "pycoders")):
        return 0
    if source.startswith("hellogithub"):
        return 1
    if source.startswith(TRENDING_PREFIX):
        return 3
    return 2


def _item_key(frame: pd.DataFrame) -> pd.Series:
    repo = frame["repo_key"].astype("string")
    return repo.fillna(frame["canonical_url"].astype("string")).astype(str)


def _near_duplicate_groups(titles: pd.Series, repo_keys: pd.Series, threshold: float) -> dict:
    """Map item key -> representative key for items whose titles are near-duplicates."""
    from datasketch import MinHash, MinHashLSH

    keys: list[str] = []
    token_sets: dict[str, frozenset[str]] = {}
    shingles: list[list[bytes]] = []
    repos = {
        k for k, v in zip(repo_keys.index, repo_keys.tolist(), strict=True) if isinstance(v, str)
    }
    for key, title in zip(titles.index.tolist(), titles.tolist(), strict=True):
        if key in repos:
            continue  # a repository is identified by its repo_key, never by its title
        tokens = sorted(set(title_tokens(title)))
        if len(tokens) < 4:
            continue
        keys.append(key)
        token_sets[key] = frozenset(tokens)
        shingles.append([t.encode("utf-8") for t in tokens])
    if len(keys) < 2:
        return {}
    hashes = MinHash.bulk(shingles, num_perm=64, seed=7)
    lsh = MinHashLSH(threshold=threshold, num_perm=64)
    parent = {k: k for k in keys}

    def find(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def similar(a: str, b: str) -> bool:
        """The LSH only proposes pairs: their titles' own Jaccard decides ("eBPF … Part 2"
        is not "… Part 1", three meetups of one series are three meetups)."""
        x, y = token_sets[a], token_sets[b]
        return len(x & y) >= threshold * len(x | y)

    for key, mh in zip(keys, hashes, strict=True):
        for other in sorted(lsh.query(mh)):
            if not similar(key, other):
                continue
            a, b = find(key), find(other)
            if a != b:
                # The smaller key wins: the result does not depend on the insertion order.
                parent[max(a, b)] = min(a, b)
        lsh.insert(key, mh)
    return {k: find(k) for k in keys if find(k) != k}


def _group_sets(keys: pd.Series, values: pd.Series) -> pd.Series:
    """key -> set of the non-null string values (plain Python: far faster than groupby.agg)."""
    out: dict[str, set[str]] = {}
    for k, v in zip(keys.tolist(), values.tolist(), strict=True):
        bucket = out.setdefault(k, set())
        if isinstance(v, str) and v:
            bucket.add(v)
    return pd.Series(out, dtype=object).sort_index()


def _item_flags(s: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per item key: its date flags and title flags, each space-separated, sorted ("" none).

    Date flags (`store.sightings_frame`'s `date_flag`) only when no sighting of the item
    has a good date: a date from one source is the item's date. Title flags: those of any
    of its sightings."""
    none = pd.Series(None, index=s.index, dtype="string")
    date_flag = s.get("date_flag", none).astype("string")
    dated = date_flag.mask(date_flag.isna() & s.get("published", none).notna(), "ok")
    date_flags = _group_sets(s["key"], dated).map(
        lambda v: "" if "ok" in v else " ".join(sorted(v))
    )
    title_flags = _group_sets(s["key"], s.get("title_flags", none).astype("string")).map(
        lambda v: " ".join(sorted({f for x in v for f in x.split()}))
    )
    return date_flags, title_flags


def merge_sightings(sightings: pd.DataFrame) -> pd.DataFrame:
    """One row per item (repository or canonical URL, near-duplicates merged)."""
    if sightings is None or sightings.empty:
        return pd.DataFrame(columns=[c for c in POOL_COLUMNS if not c.startswith("prior_")])
    s = sightings.copy()
    s["source"] = source_labels(s)
    # Day resolution, kept as datetime64 so the group reductions below stay vectorised.
    s["seen_date"] = pd.to_datetime(s["seen_date"]).dt.normalize()
    s["key"] = _item_key(s)
    s["title"] = s["title"].astype("string").fillna("").astype(str)
    s["description"] = s["description"].astype("string").fillna("").astype(str)
    s["prio"] = s["source"].map(_source_priority)
    if "title_from_url" in s:
        # A title made from the URL's slug (a sitemap's) shows only when no sighting has
        # another: the article page's own title wins, whatever the day or the alphabet.
        s["prio"] += 10 * s["title_from_url"].fillna(False).astype(bool)
    # Representative title per key: best source priority, latest day, then text.
    s = s.sort_values(["key", "prio", "seen_date", "title"], ascending=[True, True, False, True])
    first_titles = s.drop_duplicates("key").set_index("key")["title"]
    repo_of = s.dropna(subset=["repo_key"]).drop_duplicates("key").set_index("key")["repo_key"]
    mapping = _near_duplicate_groups(first_titles, repo_of, NEAR_DUP_JACCARD)
    if mapping:
        s["key"] = s["key"].map(lambda k: mapping.get(k, k))
        s = s.sort_values(
            ["key", "prio", "seen_date", "title"], ascending=[True, True, False, True]
        )
    for column in ("position", "stars", "stars_period", "forks", "points", "comments"):
        s[column] = pd.to_numeric(s[column], errors="coerce").astype("float64")
    s["trending"] = s["source"].str.startswith(TRENDING_PREFIX)
    s["trending_python"] = s["source"] == "trending:python"
    # Points and comments on each source's own scale: the percentile among that source's
    # sightings in the window (50 on Lobsters is not 50 on Hacker News).
    for column in ("points", "comments"):
        s[f"{column}_vs_source"] = s[column].groupby(s["source"]).rank(pct=True)
    g = s.groupby("key", sort=True)
    head = g.head(1).set_index("key")
    out = pd.DataFrame(index=head.index)
    out["url"] = head["url"].astype(str)
    out["repo_key"] = _group_sets(s["key"], s["repo_key"]).map(lambda v: min(v) if v else None)
    canon = head["canonical_url"].astype(str)
    out["canonical_url"] = np.where(
        out["repo_key"].notna(), "https://" + out["repo_key"].fillna(""), canon
    )
    # A sightings file may leave a title empty: the repository's owner/name or the URL
    # stand in, so that no shortlist row is blank.
    untitled = out["canonical_url"].str.removeprefix("https://").str.removeprefix("github.com/")
    out["title"] = head["title"].where(head["title"].str.strip() != "", untitled)
    out["host"] = head["host"].astype("string").fillna("").astype(str)
    desc = s.assign(dlen=s["description"].str.len()).sort_values(
        ["key", "dlen", "description"], ascending=[True, False, True]
    )
    out["description"] = desc.drop_duplicates("key").set_index("key")["description"]
    # Our own follow-up fetches (`_github_api` metadata, `_article_pages`) describe an
    # item that a real source found: they are not sources of their own, unless alone.
    sources = _group_sets(s["key"], s["source"]).map(
        lambda v: {x for x in v if not x.startswith("_")} or v
    )
    out["sources"] = sources.map(lambda v: ";".join(sorted(v)))
    out["n_sources"] = sources.map(len)
    out["member_urls"] = _group_sets(s["key"], s["canonical_url"]).map(sorted)
    out["hints"] = _group_sets(s["key"], s["section"])
    out["first_seen"] = g["seen_date"].min().dt.date
    out["last_seen"] = g["seen_date"].max().dt.date
    out["days_seen"] = g["seen_date"].nunique()
    tr = s[s["trending"]]
    out["days_trending"] = tr.groupby("key")["seen_date"].nunique()
    out["days_trending_python"] = s[s["trending_python"]].groupby("key")["seen_date"].nunique()
    out["best_position"] = g["position"].min()
    out["best_trending_position"] = tr.groupby("key")["position"].min()
    # Stars: the last snapshot; the gain is last - first snapshot inside the window, or
    # the page's own "stars today" when only one snapshot exists.
    st = s.dropna(subset=["stars"]).sort_values(["key", "seen_date"])
    sg = st.groupby("key")["stars"]
    out["stars"] = sg.last()
    gained = (sg.last() - sg.first()).clip(lower=0)
    out["stars_period_max"] = g["stars_period"].max()
    out["stars_gained"] = np.fmax(gained.reindex(out.index), out["stars_period_max"])
    out["points"] = g["points"].max()
    top = s.dropna(subset=["points"]).sort_values(
        ["key", "points", "source"], ascending=[True, False, True]
    )
    out["points_source"] = top.drop_duplicates("key").set_index("key")["source"]
    # 0 when the item has no figure.
    out["points_vs_source"] = g["points_vs_source"].max().fillna(0.0)
    out["comments_vs_source"] = g["comments_vs_source"].max().fillna(0.0)
    out["comments"] = g["comments"].max()
    lang = s.dropna(subset=["language"]).assign(
        language=lambda d: d["language"].astype(str).str.lower()
    )
    counts = lang.groupby(["key", "language"]).size().rename("n").reset_index()
    counts = counts.sort_values(["key", "n", "language"], ascending=[True, False, True])
    out["language"] = counts.drop_duplicates("key").set_index("key")["language"]
    # Python-ness beyond the language: GitHub topics (our API follow-up), and published on
    # PyPI (a PyPI page, or a repository a PyPI project names as its code).
    topics = s["topics"] if "topics" in s else pd.Series(None, index=s.index, dtype=object)
    out["topics"] = _group_sets(s["key"], topics.astype("string").str.lower()).map(
        lambda v: " ".join(sorted({t for x in v for t in x.split()}))
    )
    on_pypi = s["on_pypi"] if "on_pypi" in s else s["host"].eq("pypi.org")
    out["on_pypi"] = on_pypi.fillna(False).astype(bool).groupby(s["key"]).any()
    out["date_flags"], out["title_flags"] = _item_flags(s)
    for column in ("days_trending", "days_trending_python"):
        out[column] = out[column].fillna(0).astype(int)
    out["section"] = [
        classify_section(h, r if isinstance(r, str) else None, t, c, hints)
        for h, r, t, c, hints in zip(
            out["host"],
            out["repo_key"],
            out["title"],
            out["canonical_url"],
            out["hints"],
            strict=True,
        )
    ]
    out["id"] = out["canonical_url"].map(candidate_id)
    out = out.drop(columns=["hints"]).reset_index()
    return out


@dataclass
class _ItemIndex:
    """Issue items by what a pool row can match them on; each maps to the item's value
    (its issue number, or its section), the first item winning."""

    urls: dict = field(default_factory=dict)
    repos: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)  # repository names of title-only projects
    titles: list[str] = field(default_factory=list)  # normalized, long enough to compare
    title_values: list = field(default_factory=list)


def _item_index(items: pd.DataFrame | None, value: Callable[[int, object], object]) -> _ItemIndex:
    """Index `items` (in their order); `value(position, row)` is what a match returns."""
    index = _ItemIndex()
    if items is None or items.empty:
        return index
    for position, row in enumerate(items.itertuples(index=False)):
        v = value(position, row)
        cu = getattr(row, "canonical_url", None)
        if isinstance(cu, str) and cu:
            index.urls.setdefault(cu, v)
        rk = getattr(row, "repo_key", None)
        if isinstance(rk, str) and rk:
            index.repos.setdefault(rk, v)
        if not has_link(cu, rk):
            for name in _item_names(row):
                index.names.setdefault(name, v)
        for norm in _item_titles(row):
            index.titles.append(norm)
            index.title_values.append(v)
    return index


def _featured_index(history_items: pd.DataFrame | None) -> _ItemIndex:
    """Past items by issue number, the earliest issue winning."""
    items = None
    if history_items is not None and not history_items.empty:
        items = history_items.sort_values(["issue_no", "item_no"])
    return _item_index(items, lambda _position, row: int(row.issue_no))


# A title-only project item starts with the project's name: "docling：将文档转换为
# Markdown", "owner/name: a tool …". Names shorter than this are too generic to match.
MIN_NAME_CHARS = 2
_LEADING_NAME = re.compile(
    r"\s*([A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*)?)\s*(?:[:：，,]|\s[-–—]\s|$)", re.ASCII
)
# Repository names that many owners use: without its owner such a name identifies no
# repository ("models：视频生成模型" is genmoai/models, not the tensorflow/models of the
# pool). 4 of the archive's 920 linked project picks have one (agents, blog, core, models).
GENERIC_NAMES = frozenset(
    [
        "agent",
        "agents",
        "api",
        "app",
        "apps",
        "awesome",
        "blog",
        "book",
        "bot",
        "chat",
        "cli",
        "client",
        "code",
        "core",
        "course",
        "data",
        "datasets",
        "demo",
        "docs",
        "examples",
        "gateway",
        "go",
        "lib",
        "model",
        "models",
        "notebooks",
        "papers",
        "python",
        "scripts",
        "sdk",
        "server",
        "service",
        "src",
        "template",
        "templates",
        "tools",
        "tutorials",
        "ui",
        "utils",
        "web",
        "website",
        "weekly",
    ]
)


def leading_name(title: object) -> str | None:
    """The repository a title starts with, in lower case: `owner/name` when the title
    gives the owner, else the bare name (None if it is too short or too generic)."""
    m = _LEADING_NAME.match(title) if isinstance(title, str) else None
    if m is None:
        return None
    name = m.group(1).lower()
    if "/" in name:
        return name
    return name if len(name) >= MIN_NAME_CHARS and name not in GENERIC_NAMES else None


def _item_names(row) -> set[str]:
    """The names a project item's zh and en titles start with (none for other sections:
    an article titled "Python：…" names no repository)."""
    if getattr(row, "section", None) != "project":
        return set()
    names = (leading_name(getattr(row, col, None)) for col in ("title_zh", "title_en"))
    return {n for n in names if n}


def _named(names: dict, repo_key: object) -> object | None:
    """What a title-only item naming the repository `repo_key` maps to in `names`: by
    `owner/name`, else by its bare name."""
    if not isinstance(repo_key, str) or not repo_key:
        return None
    full = repo_key.lower().removeprefix("github.com/")
    for name in (full, full.rsplit("/", 1)[-1]):
        if name in names:
            return names[name]
    return None


# Normalized titles shorter than this are too generic to match anything by title.
MIN_TITLE_CHARS = 12


def _item_titles(row) -> list[str]:
    """An issue item's normalized zh and en titles that are long enough to compare."""
    out = []
    for col in ("title_zh", "title_en"):
        t = getattr(row, col, None)
        norm = normalize_title(t) if isinstance(t, str) else ""
        if len(norm) >= MIN_TITLE_CHARS:
            out.append(norm)
    return out


def has_link(canonical_url: object, repo_key: object) -> bool:
    """Whether an issue item has a link to match by (a URL or a repository)."""
    return any(isinstance(v, str) and v for v in (canonical_url, repo_key))


def _pool_title_hits(
    frame: pd.DataFrame, rows: list[int], titles: list[str], threshold: float
) -> list[tuple[int, int, int]]:
    """`_fuzzy_title_hits` of the pool `rows` (their titles, normalized) against `titles`."""
    pool_titles = frame["title"].astype(str).tolist()
    queries = [(i, normalize_title(pool_titles[i])) for i in rows]
    queries = [(i, n) for i, n in queries if len(n) >= MIN_TITLE_CHARS]
    return _fuzzy_title_hits(queries, titles, threshold)


FUZZY_CHUNK = 20_000
# rapidfuzz starts a thread pool per call (~0.3 ms): worth it only for big comparisons; a
# training pool's labels compare a few hundred rows with one issue's items, one call per
# title length, 84 pools per `rank --week`.
FUZZY_THREADED_CELLS = 100_000


def _fuzzy_title_hits(
    queries: list[tuple[int, str]], titles: list[str], threshold: float
) -> list[tuple[int, int, int]]:
    """(query id, index into `titles`, score) for each query whose best fuzz.ratio against
    `titles` is at least `threshold`; ties go to the lowest title index.

    fuzz.ratio is 100 * (1 - distance / (len_a + len_b)) and the distance is at least
    |len_a - len_b|, so only titles of nearby length can reach the threshold: each group
    of equally long queries is compared with that length band only, in chunks (a dense
    matrix of a 1M-row pool against the whole history would be GBs).
    """
    from rapidfuzz import fuzz, process

    if not queries or not titles:
        return []
    slack = 1.0 - (threshold - 1.0) / 100.0  # one point wider: scores are rounded to ints
    by_len = sorted(range(len(titles)), key=lambda j: (len(titles[j]), j))
    lengths = [len(titles[j]) for j in by_len]
    sorted_titles = [titles[j] for j in by_len]
    order = np.array(by_len)
    groups: dict[int, list[tuple[int, str]]] = {}
    for qid, text in queries:
        groups.setdefault(len(text), []).append((qid, text))
    hits = []
    for length in sorted(groups):
        # |la - lb| <= slack * (la + lb)  <=>  la * (1-s)/(1+s) <= lb <= la * (1+s)/(1-s)
        lo = bisect.bisect_left(lengths, length * (1 - slack) / (1 + slack) - 1e-9)
        hi = bisect.bisect_right(lengths, length * (1 + slack) / (1 - slack) + 1e-9)
        if lo >= hi:
            continue
        group = groups[length]
        for start in range(0, len(group), FUZZY_CHUNK):
            chunk = group[start : start + FUZZY_CHUNK]
            scores = process.cdist(
                [t for _, t in chunk],
                sorted_titles[lo:hi],
                scorer=fuzz.ratio,
                score_cutoff=threshold,
                dtype=np.uint8,
                workers=-1 if len(chunk) * (hi - lo) >= FUZZY_THREADED_CELLS else 1,
            )
            best = scores.max(axis=1)
            for row in np.flatnonzero(best >= threshold):
                cols = np.flatnonzero(scores[row] == best[row])
                hits.append((chunk[row][0], int(order[lo + cols].min()), int(best[row])))
    return hits


def featured_matches(frame: pd.DataFrame, history_items: pd.DataFrame) -> pd.DataFrame:
    """For each pool row, the past issue that featured it and why (`url`, `repo`, `title`).

    Returns a frame indexed like `frame` with columns featured_issue (float, NaN when not
    featured) and featured_reason ("" when not featured).
    """
    issue = np.full(len(frame), np.nan)
    reason = np.array([""] * len(frame), dtype=object)
    index = _featured_index(history_items)
    urls, repos, names = index.urls, index.repos, index.names
    if len(frame) == 0:
        return pd.DataFrame({"featured_issue": issue, "featured_reason": reason}, index=frame.index)
    for i, (members, rk) in enumerate(zip(frame["member_urls"], frame["repo_key"], strict=True)):
        hits = sorted(urls[u] for u in members if u in urls)
        named = _named(names, rk)
        if hits:
            issue[i], reason[i] = hits[0], f"url featured in #{hits[0]}"
        elif isinstance(rk, str) and rk in repos:
            issue[i], reason[i] = repos[rk], f"repository featured in #{repos[rk]}"
        elif named is not None:
            issue[i], reason[i] = named, f"repository named by an item of #{named}"
    if index.titles:
        todo = [i for i in range(len(frame)) if not reason[i]]
        for i, j, score in _pool_title_hits(frame, todo, index.titles, TITLE_MATCH_RATIO):
            issue[i] = index.title_values[j]
            reason[i] = f"title ~{score}% of an item in #{index.title_values[j]}"
    return pd.DataFrame({"featured_issue": issue, "featured_reason": reason}, index=frame.index)


def build_pool(
    sightings: pd.DataFrame,
    history_items: pd.DataFrame | None,
    as_of: dt.date,
    window_days: int = DEFAULT_WINDOW_DAYS,
    prior_stats: pd.DataFrame | None = None,
) -> Pool:
    """The pool of `as_of`: sightings in (as_of - window_days, as_of], merged, not featured.

    `sightings` may hold more days than the window (they are filtered here);
    `history_items` must be the items of issues published before `as_of`;
    `prior_stats` (key, prior_days) describes sightings before the window.
    """
    start = as_of - dt.timedelta(days=window_days - 1)
    s = sightings
    if s is not None and not s.empty:
        days = pd.to_datetime(s["seen_date"]).dt.date
        s = s[(days >= start) & (days <= as_of)]
    merged = merge_sightings(s)
    job_ads = (
        merged["title"].astype(str).str.contains(_JOB_AD)
        | merged["url"].astype(str).str.contains(_JOB_URL)
        if len(merged)
        else None
    )
    n_job_ads = int(job_ads.sum()) if job_ads is not None else 0
    if n_job_ads:
        merged = merged[~job_ads].reset_index(drop=True)
    if prior_stats is not None and not prior_stats.empty and not merged.empty:
        ps = prior_stats.set_index("key")
        merged["prior_days"] = merged["key"].map(ps["prior_days"]).fillna(0).astype(int)
    else:
        merged["prior_days"] = 0
    merged = merged[POOL_COLUMNS]
    fm = featured_matches(merged, history_items)
    featured_mask = fm["featured_reason"] != ""
    featured = pd.concat([merged[featured_mask], fm[featured_mask]], axis=1)
    frame = merged[~featured_mask].sort_values(["section", "key"]).reset_index(drop=True)
    counts = {
        "sightings": 0 if s is None else len(s),
        "items": len(merged),
        "featured": int(featured_mask.sum()),
        "job_ads": n_job_ads,
        "pool": len(frame),
    }
    return Pool(as_of, window_days, frame, featured.reset_index(drop=True), counts)


def pick_items(frame: pd.DataFrame, items: pd.DataFrame) -> list[int | None]:
    """For each pool row, the position in `items` of the issue item it is, else None.

    An item matches by repository or URL; a title-only item (no link, as in the archive's
    later issues) also by the repository name its title starts with; any item by a
    fuzzy-equal zh or en title, like "already featured": the same story under another
    URL (a newsletter's redirect link, the project's own site) is that item. Several rows
    can be one item (the story and a syndicated copy).
    """
    index = _item_index(items, lambda position, _row: position)
    out: list[int | None] = []
    for members, rk in zip(frame["member_urls"], frame["repo_key"], strict=True):
        hit = index.repos.get(rk) if isinstance(rk, str) else None
        if hit is None:
            hit = next((index.urls[u] for u in members if u in index.urls), None)
        if hit is None:
            hit = _named(index.names, rk)
        out.append(hit)
    if index.titles:
        todo = [i for i in range(len(out)) if out[i] is None]
        for i, j, _score in _pool_title_hits(frame, todo, index.titles, TITLE_MATCH_RATIO):
            out[i] = index.title_values[j]
    return out


def pick_sections(frame: pd.DataFrame, items: pd.DataFrame) -> list[str | None]:
    """For each pool row, the section of the issue item it is (`pick_items`), else None."""
    sections = items["section"].astype(str).tolist()
    return [None if i is None else sections[i] for i in pick_items(frame, items)]
