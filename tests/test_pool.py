"""The pool: sightings merged per item, featured items removed, near-duplicates merged."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from crawler.urls import project_key
from ranking.features import SIGNALS
from ranking.pool import (
    _fuzzy_title_hits,
    build_pool,
    candidate_id,
    classify_section,
    featured_matches,
    leading_name,
    merge_sightings,
    pick_items,
    pick_sections,
    title_tokens,
)

AS_OF = dt.date(2024, 3, 9)


def sighting(url, source="trending:python", day=AS_OF, **kw):
    from crawler.urls import canonical_url, host_of, project_key

    canon = canonical_url(url)
    row = {
        "canonical_url": canon,
        "source": source,
        "seen_date": day,
        "kind": source.split(":")[0],
        "url": url,
        "title": kw.pop("title", url.rsplit("/", 2)[-2] + "/" + url.rsplit("/", 1)[-1]),
        "description": kw.pop("description", ""),
        "section": kw.pop("section", None),
        "repo_key": project_key(url),
        "host": host_of(canon),
        "position": kw.pop("position", None),
        "stars": kw.pop("stars", None),
        "stars_period": kw.pop("stars_period", None),
        "forks": None,
        "points": kw.pop("points", None),
        "comments": kw.pop("comments", None),
        "language": kw.pop("language", None),
        "published": None,
    }
    assert not kw
    return row


def frame(rows):
    return pd.DataFrame(rows)


def history(rows):
    base = {
        "issue_no": 1,
        "pub_date": dt.date(2024, 1, 6),
        "section": "project",
        "item_no": 1,
        "position": 1,
        "title_zh": None,
        "title_en": None,
        "summary_zh": None,
        "summary_en": None,
        "url": None,
        "canonical_url": None,
        "repo_key": None,
        "host": None,
    }
    return pd.DataFrame([{**base, **r} for r in rows])


def test_repo_sightings_merge_into_one_item_with_all_sources():
    rows = [
        sighting(
            "https://github.com/Foo/Bar",
            day=AS_OF - dt.timedelta(days=3),
            position=5,
            stars=1000,
            language="Python",
        ),
        sighting(
            "https://github.com/foo/bar/", day=AS_OF - dt.timedelta(days=1), position=2, stars=1500
        ),
        sighting(
            "https://github.com/foo/bar/blob/main/README.md",
            source="hn:frontpage",
            title="Show HN: Bar, a thing",
            points=120,
        ),
    ]
    merged = merge_sightings(frame(rows))
    assert len(merged) == 1
    row = merged.iloc[0]
    assert row["repo_key"] == "github.com/foo/bar"
    assert row["canonical_url"] == "https://github.com/foo/bar"
    assert row["id"] == candidate_id("https://github.com/foo/bar")
    assert row["sources"] == "hn:frontpage;trending:python"
    assert row["days_trending"] == 2 and row["days_seen"] == 3
    assert row["best_trending_position"] == 2
    assert row["stars"] == 1500 and row["stars_gained"] == 500
    assert row["points"] == 120
    assert row["title"] == "Show HN: Bar, a thing"  # a human headline beats owner/repo
    assert row["section"] == "project"
    assert row["first_seen"] == AS_OF - dt.timedelta(days=3)


def test_a_thread_of_a_repository_is_an_item_of_its_own():
    # CPython's JIT pull request on Hacker News is news about that change: it neither
    # merges with the repository's trending entry nor counts as featured when the
    # repository (or another of its threads) was.
    rows = [
        sighting("https://github.com/python/cpython", language="Python"),
        sighting(
            "https://github.com/python/cpython/pull/113465",
            source="hn:frontpage",
            title="CPython: a copy-and-patch JIT compiler",
        ),
        sighting(
            "https://github.com/astral-sh/rye/discussions/6",
            source="hn:frontpage",
            title="Should Rye exist?",
        ),
    ]
    hist = history(
        [
            {
                "issue_no": 7,
                "url": "https://github.com/python/cpython/issues/101632",
                "canonical_url": "https://github.com/python/cpython/issues/101632",
                "repo_key": project_key("https://github.com/python/cpython/issues/101632"),
                "section": "article",
            }
        ]
    )
    pool = build_pool(frame(rows), hist, AS_OF)
    sections = dict(zip(pool.frame["canonical_url"], pool.frame["section"], strict=True))
    assert sections == {
        "https://github.com/python/cpython": "project",
        "https://github.com/python/cpython/pull/113465": "article",
        "https://github.com/astral-sh/rye/discussions/6": "hot_topic",
    }
    assert pool.featured.empty


def test_window_excludes_later_and_older_sightings():
    rows = [
        sighting("https://github.com/a/in-window", day=AS_OF - dt.timedelta(days=20)),
        sighting("https://github.com/a/too-old", day=AS_OF - dt.timedelta(days=21)),
        sighting("https://github.com/a/future", day=AS_OF + dt.timedelta(days=1)),
    ]
    pool = build_pool(frame(rows), None, AS_OF, window_days=21)
    assert pool.frame["repo_key"].tolist() == ["github.com/a/in-window"]


def test_featured_excluded_by_url_repo_and_fuzzy_title_with_reason():
    rows = [
        sighting("https://example.com/posts/x", source="hn:frontpage", title="Some post"),
        sighting(
            "https://github.com/owner/tool/issues",
            source="hn:frontpage",
            title="Tool issue tracker",
        ),
        sighting(
            "https://blog.example.org/a",
            source="hn:frontpage",
            title="Understanding the Python GIL in depth",
        ),
        sighting("https://github.com/fresh/thing"),
    ]
    hist = history(
        [
            {
                "issue_no": 3,
                "url": "https://example.com/posts/x/",
                "canonical_url": "https://example.com/posts/x",
                "section": "article",
            },
            {
                "issue_no": 4,
                "item_no": 1,
                "repo_key": "github.com/owner/tool",
                "canonical_url": "https://github.com/owner/tool",
            },
            # A title-only issue: no URL at all, only the title.
            {"issue_no": 5, "item_no": 1, "title_en": "Understanding the Python GIL in-depth"},
        ]
    )
    pool = build_pool(frame(rows), hist, AS_OF)
    assert pool.frame["key"].tolist() == ["github.com/fresh/thing"]
    reasons = dict(zip(pool.featured["title"], pool.featured["featured_reason"], strict=True))
    assert reasons["Some post"] == "url featured in #3"
    assert reasons["Tool issue tracker"] == "repository featured in #4"
    assert reasons["Understanding the Python GIL in depth"].startswith("title ~")
    assert pool.counts["featured"] == 3


def test_near_duplicate_titles_are_merged_and_sources_unioned():
    title = "Python 3.13 gets a JIT compiler and free threading"
    rows = [
        sighting("https://site-a.com/p/1", source="hn:frontpage", title=title, points=300),
        sighting(
            "https://site-b.com/story",
            source="python_weekly:article",
            title=title + "!",
            section="article",
        ),
        sighting(
            "https://site-c.com/unrelated",
            source="hn:frontpage",
            title="A completely different story about Rust",
        ),
    ]
    merged = merge_sightings(frame(rows))
    assert len(merged) == 2
    row = merged[merged["points"] == 300].iloc[0]
    assert row["sources"] == "hn:frontpage;python_weekly:article"
    assert len(row["member_urls"]) == 2


def test_two_repositories_with_the_same_title_stay_apart():
    rows = [
        sighting("https://github.com/a/x", title="an awesome list of python tools here"),
        sighting("https://github.com/b/x", title="an awesome list of python tools here"),
    ]
    assert len(merge_sightings(frame(rows))) == 2


@pytest.mark.parametrize(
    ("host", "repo", "title", "url", "hints", "expected"),
    [
        ("github.com", "github.com/a/b", "a/b", "https://github.com/a/b", set(), "project"),
        ("pypi.org", None, "pkg", "https://pypi.org/project/pkg", set(), "project"),
        ("youtube.com", None, "talk", "https://youtube.com/watch?v=x", set(), "audio_video"),
        (
            "example.com",
            None,
            "Ask HN: what do you use?",
            "https://example.com/x",
            set(),
            "hot_topic",
        ),
        (
            "reddit.com",
            None,
            "thread",
            "https://reddit.com/r/python/comments/x",
            set(),
            "hot_topic",
        ),
        ("example.com", None, "A blog post", "https://example.com/p", set(), "article"),
        # A blog post asking a question is an article: a hot topic is a discussion thread.
        ("ponder.io", None, "Why so many dataframes?", "https://ponder.io/why", set(), "article"),
        ("example.com", None, "什么是 lambda 表达式？", "https://example.com/l", set(), "article"),
        ("example.com", None, "Tool", "https://example.com/t", {"project"}, "project"),
    ],
)
def test_classify_section(host, repo, title, url, hints, expected):
    assert classify_section(host, repo, title, url, hints) == expected


def test_pick_sections_match_by_url_and_repo():
    rows = [
        sighting("https://github.com/a/b"),
        sighting("https://ex.com/p", source="hn:top20", title="post"),
    ]
    merged = merge_sightings(frame(rows))
    items = history(
        [
            {
                "repo_key": "github.com/a/b",
                "canonical_url": "https://github.com/a/b/tree/dev/x",
                "section": "project",
            },
            {"canonical_url": "https://ex.com/p", "section": "article"},
        ]
    )
    got = dict(zip(merged["key"], pick_sections(merged, items), strict=True))
    assert got == {"github.com/a/b": "project", "https://ex.com/p": "article"}


def test_pick_sections_match_title_only_items_by_title():
    rows = [
        sighting("https://ex.com/a", source="hn:top20", title="Counting sheep with contracts"),
        sighting("https://ex.com/b", source="hn:top20", title="Counting sheep with contacts!"),
        sighting("https://ex.com/c", source="hn:top20", title="Something else entirely here"),
    ]
    merged = merge_sightings(frame(rows))
    title_only = {"title_zh": "用合约数羊", "title_en": "Counting Sheep With Contracts"}
    got = dict(zip(merged["key"], pick_sections(merged, history([title_only])), strict=True))
    # fuzzy-equal titles match (like "already featured")
    assert got == {
        "https://ex.com/a": "project",
        "https://ex.com/b": "project",
        "https://ex.com/c": None,
    }


def test_a_linked_pick_is_also_found_under_another_url_by_its_title():
    # The archive's PyCoder's sightings are redirect links (pycoders.com/link/N/web) titled
    # as the curator titled the article he linked directly.
    rows = [
        sighting(
            "https://pycoders.com/link/11373/web",
            source="pycoders_weekly",
            title="用 Python 和 Matplotlib 创建漂亮的极坐标直方图",
        ),
        sighting("https://ex.com/other", source="hn:top20", title="Something else entirely here"),
        sighting("https://ex.com/c", source="hn:top20", title="Counting sheep"),
    ]
    merged = merge_sightings(frame(rows))
    items = history(
        [
            {
                "canonical_url": "https://dev.to/oscarleo/polar-histogram",
                "title_zh": "用 Python 和 matplotlib 创建漂亮的极坐标直方图",
                "section": "article",
            },
            {"item_no": 2, "canonical_url": "https://ex.com/c", "title_en": "Counting sheep"},
        ]
    )
    got = dict(zip(merged["key"], pick_items(merged, items), strict=True))
    assert got == {
        "https://pycoders.com/link/11373/web": 0,
        "https://ex.com/other": None,
        "https://ex.com/c": 1,
    }


@pytest.mark.parametrize(
    "title, name",
    [
        ("docling：将文档转换为 Markdown", "docling"),
        ("owner/Some-Tool: a tool for data", "owner/some-tool"),
        ("models：先进开源的视频生成模型", None),  # a name many owners use
        ("genmoai/models：先进开源的视频生成模型", "genmoai/models"),
        ("pdm - a package manager", "pdm"),
        ("uv：极快的包管理器", "uv"),
        ("uv", "uv"),
        ("Python 并发：线程与进程", None),
        ("一个只有标题的项目", None),
        ("x：太短", None),
        (None, None),
    ],
)
def test_leading_name_of_a_title(title, name):
    assert leading_name(title) == name


def test_title_only_project_items_name_their_repository():
    rows = [
        sighting("https://github.com/ds/docling"),
        sighting("https://github.com/someone/python"),
        sighting("https://github.com/other/docling-tools"),
    ]
    merged = merge_sightings(frame(rows))
    items = history(
        [
            {"item_no": 1, "title_zh": "docling：将文档转换为 Markdown"},
            # an article that starts with a word names no repository
            {"item_no": 2, "section": "article", "title_zh": "Python：一篇文章"},
        ]
    )
    got = dict(zip(merged["key"], pick_sections(merged, items), strict=True))
    assert got == {
        "github.com/ds/docling": "project",
        "github.com/other/docling-tools": None,
        "github.com/someone/python": None,
    }
    fm = featured_matches(merged, items).set_index(merged["key"])
    assert fm.loc["github.com/ds/docling", "featured_reason"] == (
        "repository named by an item of #1"
    )
    assert fm.loc["github.com/someone/python", "featured_reason"] == ""
    # a linked item matches by its link only, never by the name its title starts with
    linked = history([{"title_zh": "docling：x", "repo_key": "github.com/a/b"}])
    assert pick_sections(merged, linked) == [None, None, None]


def test_a_generic_name_needs_its_owner_to_name_a_repository():
    """A title "models：…" (genmoai/models in #77) is not the tensorflow/models of the pool;
    with its owner the title names exactly one repository, whatever its bare name."""
    rows = [
        sighting("https://github.com/tensorflow/models"),
        sighting("https://github.com/genmoai/models"),
        sighting("https://github.com/other/mochi"),
        sighting("https://github.com/genmoai/mochi"),
    ]
    merged = merge_sightings(frame(rows))
    bare = history([{"item_no": 1, "title_zh": "models：先进开源的视频生成模型"}])
    assert pick_items(merged, bare) == [None] * 4
    assert (featured_matches(merged, bare)["featured_reason"] == "").all()
    owned = history(
        [
            {"item_no": 1, "title_zh": "genmoai/models：视频生成模型"},
            {"item_no": 2, "title_zh": "genmoai/mochi：视频生成模型"},
        ]
    )
    got = dict(zip(merged["key"], pick_items(merged, owned), strict=True))
    assert got == {
        "github.com/genmoai/mochi": 1,
        "github.com/genmoai/models": 0,
        "github.com/other/mochi": None,
        "github.com/tensorflow/models": None,
    }


def test_title_tokens_mix_latin_words_and_cjk_bigrams():
    assert title_tokens("Python 异步编程") == ["python", "异步", "步编", "编程"]


def _reference_title_tokens(text: str) -> list[str]:
    """title_tokens as it was written first: combining marks dropped one character at a time."""
    import re
    import unicodedata

    if not text.isascii():
        text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower()
    tokens = re.findall(r"[a-z0-9]+", text)
    for run in re.findall(r"[\u3400-\u9fff\uf900-\ufaff]+", text):
        if len(run) == 1:
            tokens.append(run)
        tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
    return tokens


def test_title_tokens_fold_accents_without_testing_each_character(monkeypatch) -> None:
    """Combining marks go by one regex (the per-character test made `rank --week` on a
    CJK-heavy pool seconds slower); astral marks are still dropped, output unchanged."""
    import sys
    import unicodedata

    import ranking.pool

    texts = [
        "Café naïve résumé Ｐｙｔｈｏｎ 异步编程 深入理解",
        "ǅemal — Ångström 𝐁old 😀 x\U0001d165y a\u0301\u0302",
        "\u0301\u0302",
        "\U0001d165",
    ]
    texts += ["a" + chr(c) + "b é" for c in range(0x80, sys.maxunicode + 1, 37)]
    assert [title_tokens(t) for t in texts] == [_reference_title_tokens(t) for t in texts]

    class NoPerCharacter:
        normalize = staticmethod(unicodedata.normalize)

        @staticmethod
        def combining(ch: str) -> int:
            raise AssertionError(f"combining({ch!r}) tested one by one")

    monkeypatch.setattr(ranking.pool, "unicodedata", NoPerCharacter)
    assert title_tokens("Café 异步编程") == ["cafe", "异步", "步编", "编程"]


def test_small_fuzzy_comparisons_start_no_threads(monkeypatch) -> None:
    """A thread pool per call cost ~0.3 ms: a training pool's labels (one call per title
    length, 84 pools per `rank --week`) took over a second that way."""
    from rapidfuzz import process

    calls = []
    cdist = process.cdist

    def spy(*args, **kwargs):
        calls.append(kwargs["workers"])
        return cdist(*args, **kwargs)

    monkeypatch.setattr(process, "cdist", spy)
    titles = ["an article about python typing", "a rust tool for python packaging"]
    queries = [(0, "an article about python typing!"), (1, "something else entirely")]
    assert _fuzzy_title_hits(queries, titles, 92.0) == [(0, 0, 98)]
    assert calls and set(calls) == {1}


def test_empty_sightings_give_an_empty_pool():
    pool = build_pool(pd.DataFrame(), None, AS_OF)
    assert pool.frame.empty and pool.counts["pool"] == 0


def test_fuzzy_title_hits_equal_a_full_comparison() -> None:
    """The length band only skips pairs that cannot reach the threshold: same hits, same
    (lowest-index) tie-breaks as comparing every query with every title."""
    import random

    import numpy as np
    from rapidfuzz import fuzz, process

    rng = random.Random(3)
    words = [
        "alpha",
        "beta",
        "gamma",
        "python",
        "rust",
        "async",
        "web",
        "data",
        "tool",
        "cli",
        "guide",
        "test",
    ]

    def title() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(2, 10)))

    titles = [title() for _ in range(800)]
    queries = [(i, title()) for i in range(3000)]
    queries += [(5000 + k, titles[k * 3][:-1] + "x") for k in range(200)]  # near copies
    queries = [(i, q) for i, q in queries if len(q) >= 12]
    scores = process.cdist(
        [q for _, q in queries], titles, scorer=fuzz.ratio, score_cutoff=92, dtype=np.uint8
    )
    best = scores.argmax(axis=1)
    full = [
        (queries[r][0], int(best[r]), int(scores[r, best[r]]))
        for r in range(len(queries))
        if scores[r, best[r]] >= 92
    ]
    hits = _fuzzy_title_hits(queries, titles, 92.0)
    assert len(full) > 150
    assert sorted(hits) == sorted(full)


def test_our_follow_up_fetches_are_not_sources_of_their_own():
    rows = [
        sighting("https://github.com/a/tool", source="trending:python", title="a/tool"),
        sighting("https://github.com/a/tool", source="_github_api", title="a/tool", stars=900),
        sighting("https://github.com/b/lone", source="_github_api", title="b/lone"),
    ]
    merged = merge_sightings(frame(rows)).set_index("repo_key")
    assert merged.loc["github.com/a/tool", "sources"] == "trending:python"
    assert merged.loc["github.com/a/tool", "n_sources"] == 1
    assert merged.loc["github.com/a/tool", "stars"] == 900  # its metrics still count
    assert merged.loc["github.com/b/lone", "sources"] == "_github_api"  # alone: kept


def test_job_ads_are_dropped_and_launches_kept() -> None:
    ads = [
        ("https://example.com/careers", "Acme (YC W21) Is Hiring Backend Engineers"),
        ("https://news.ycombinator.com/item?id=1", "Ask HN: Who is hiring? (November 2024)"),
        ("https://www.workatastartup.com/jobs/68254", "AI Search Engineer at Activeloop (YC S18)"),
        ("https://www.ycombinator.com/companies/lago/jobs/Px-devrel", "Lago – Hires for DevRel"),
        ("https://www.ycombinator.com/companies/emerge/jobs/S8b", "Emerge is building, join us"),
    ]
    kept = [
        ("https://example.org/launch", "Launch HN: Integuru (YC W24): Reverse-Engineer APIs"),
        ("https://www.ycombinator.com/blog/early-interviews", "YC offers early interviews"),
    ]
    rows = [sighting(u, source="hn:top20", title=t) for u, t in ads + kept]
    pool = build_pool(frame(rows), None, AS_OF)
    assert sorted(pool.frame["title"]) == sorted(t for _u, t in kept)
    assert pool.counts["job_ads"] == len(ads)


def test_points_keep_the_source_that_gave_them_and_the_reason_names_its_site() -> None:
    from ranking.shortlist import reason_of

    url = "https://example.org/posts/src-layout"
    rows = [
        sighting(url, source="hn-python", title="src layout or flat layout?", points=120),
        sighting(url, source="reddit-python", title="src layout or flat layout?", points=318),
        sighting("https://example.org/other", source="lobsters-python", points=40),
    ]
    merged = merge_sightings(frame(rows)).set_index("canonical_url")
    row = merged.loc["https://example.org/posts/src-layout"]
    assert (row["points"], row["points_source"]) == (318, "reddit-python")
    assert merged.loc["https://example.org/other", "points_source"] == "lobsters-python"
    scored = row.copy()
    scored["as_of"] = AS_OF
    for signal in SIGNALS:
        scored[signal] = 1.0 if signal == "momentum" else 0.0
    assert reason_of(scored).startswith("318 points on Reddit")
    scored["points_source"] = "hn-python"
    assert reason_of(scored).startswith("318 points on Hacker News")
    scored["days_trending"] = 1
    assert reason_of(scored).startswith("1 day on trending, 318 points")


def test_crawled_trending_and_hacker_news_sources_are_labelled_like_the_archive() -> None:
    from ranking.features import build_features

    repo = "https://github.com/astral-sh/ty"
    post = "https://example.org/free-threading"
    pep = "https://example.org/pep-750"
    crawled = [
        (
            sighting(repo, source="github-trending-python-daily", position=2, language="Python"),
            "github_trending",
        ),
        (sighting(post, source="hn-python", points=90), "hackernews"),
        (sighting(pep, source="hn:top20", points=40), "hackernews"),
    ]
    rows = [{**row, "kind": kind} for row, kind in crawled]
    pool = build_pool(frame(rows), None, AS_OF).frame
    f = build_features(pool, None, AS_OF, 21).set_index(pool["canonical_url"])
    by_url = pool.set_index("canonical_url")
    assert by_url.loc[repo, "sources"] == "trending:python"
    assert (by_url.loc[repo, "days_trending"], by_url.loc[repo, "best_trending_position"]) == (1, 2)
    assert by_url.loc[post, "sources"] == "hn:hn-python"
    assert by_url.loc[pep, "sources"] == "hn:top20"  # the archive's own label is kept
    assert f.loc[repo, "src_trending_python"] == 1.0
    assert (f.loc[post, "src_hn"], f.loc[pep, "src_hn"], f.loc[repo, "src_hn"]) == (1.0, 1.0, 0.0)


def test_crawled_newsletter_links_are_labelled_like_the_archive_newsletters() -> None:
    from ranking.features import build_features

    article = "https://example.org/typed-dicts"
    redirect = "https://pycoders.com/link/9001/web"
    plain = "https://example.org/release-notes"
    crawled = [
        (sighting(article, source="python-weekly"), "newsletter"),
        (sighting(redirect, source="pycoders-weekly"), "newsletter"),
        (sighting(plain, source="python-weekly"), "feed"),  # a feed named alike stays itself
    ]
    rows = [{**row, "kind": kind} for row, kind in crawled]
    pool = build_pool(frame(rows), None, AS_OF).frame
    f = build_features(pool, None, AS_OF, 21).set_index(pool["canonical_url"])
    by_url = pool.set_index("canonical_url")
    assert by_url.loc[article, "sources"] == "python_weekly"
    assert by_url.loc[redirect, "sources"] == "pycoders_weekly"
    assert by_url.loc[plain, "sources"] == "python-weekly"
    assert (f.loc[article, "src_python_weekly"], f.loc[plain, "src_python_weekly"]) == (1.0, 0.0)
    assert f.loc[redirect, "src_pycoders"] == 1.0


def test_titles_the_lsh_proposes_merge_only_at_the_jaccard_threshold():
    """The MinHash LSH proposes candidate pairs; the titles' own Jaccard decides. Two parts
    of a series (4 of 6 words shared: 0.67) stay two items."""
    rows = [
        sighting(f"https://blog.example.com/ebpf-{n}", title=f"eBPF for Cybersecurity – Part {n}")
        for n in (1, 2)
    ]
    assert len(merge_sightings(frame(rows))) == 2


def test_an_item_is_flagged_for_its_date_only_when_no_source_dated_it():
    rows = [
        # Dated by one source, undated by another: the item has a date.
        {**sighting("https://a.example/p", "hn:top"), "published": "2024-03-08T00:00:00"},
        {**sighting("https://a.example/p", "blog"), "date_flag": "missing"},
        # Two sources, two bad dates, one bidi title, one zero-width title.
        {**sighting("https://b.example/p", "hn:top"), "date_flag": "out_of_range"},
        {**sighting("https://b.example/p", "blog"), "date_flag": "missing", "title_flags": "bidi"},
        {**sighting("https://c.example/p", "blog"), "title_flags": "truncated zero_width"},
    ]
    merged = merge_sightings(frame(rows)).set_index("canonical_url")
    assert merged.loc["https://a.example/p", ["date_flags", "title_flags"]].tolist() == ["", ""]
    assert merged.loc["https://b.example/p", ["date_flags", "title_flags"]].tolist() == [
        "missing out_of_range",
        "bidi",
    ]
    assert merged.loc["https://c.example/p", ["date_flags", "title_flags"]].tolist() == [
        "",
        "truncated zero_width",
    ]
    # Sightings without these columns (the dataset's): nothing to flag.
    plain = merge_sightings(frame([sighting("https://d.example/p", "blog")]))
    assert plain[["date_flags", "title_flags"]].values.tolist() == [["", ""]]
