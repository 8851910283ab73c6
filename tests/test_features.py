"""Signals computed from a pool: python-ness from text."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from ranking import store
from ranking.features import SIGNALS, build_features
from ranking.pool import build_pool
from ranking.shortlist import pool_as_of, reason_of
from tests.test_ingest import cand, write
from tests.test_pool import AS_OF, sighting


def _features(titles: list[str]) -> pd.DataFrame:
    rows = [
        sighting(f"https://blog{i}.example.org/post", source="hn:top20", title=t)
        for i, t in enumerate(titles)
    ]
    pool = build_pool(pd.DataFrame(rows), None, AS_OF).frame
    f = build_features(pool, None, AS_OF, 21)
    return f.set_index(pool["title"])


@pytest.mark.parametrize(
    "title",
    [
        "Writing a Python parser by hand",
        "Making Jupyter notebooks start in a second",
        "What the new SciPy release changes",
        "Typing a large codebase with mypy",
        "Running an interpreter in the browser with Pyodide",
        "PEP 703 and what it means for extensions",
        "Why Python is named after Monty Python",
    ],
)
def test_python_ecosystem_names_count_as_mentioning_python(title: str) -> None:
    assert _features([title]).loc[title, "mentions_python"] == 1.0


@pytest.mark.parametrize(
    "title",
    [
        "A new UV index sensor for weather stations",
        "Poetry and the art of the sonnet",
        "Ruff: a study of collars in portraits",
        "A pip of an orange",
        "Handling cookies across browsers",
        "The Surprising Social Lives of Pythons",
        "Ball python care for beginners",
        "Monty Python and the Holy Grail in cinemas",
        "One of Florida's most lethal python hunters",
        "Python 的社交生活：研究发现球蟒会互相跟随",
    ],
)
def test_words_with_other_meanings_do_not(title: str) -> None:
    assert _features([title]).loc[title, "mentions_python"] == 0.0


def test_stars_gained_are_judged_against_the_pool_and_no_figure_is_neutral() -> None:
    rows = [
        sighting(f"https://github.com/o/r{n}", stars=5000, stars_period=n) for n in (10, 100, 1000)
    ]
    rows.append(sighting("https://github.com/o/quiet"))
    pool = build_pool(pd.DataFrame(rows), None, AS_OF).frame
    f = build_features(pool, None, AS_OF, 21).set_index(pool["repo_key"])
    v = f["stars_gained_vs_pool"]
    assert v["github.com/o/r100"] == 0.0
    assert v["github.com/o/r1000"] > 0 > v["github.com/o/r10"]
    assert v["github.com/o/quiet"] == 0.0


def test_points_are_judged_on_each_sources_own_scale() -> None:
    rows = [
        sighting(f"https://hn.example/{p}", source="hn:top", title=f"HN story {p}", points=p)
        for p in (100, 200, 400)
    ]
    rows += [
        sighting(f"https://lob.example/{p}", source="lobsters:hottest", title=f"Lob {p}", points=p)
        for p in (5, 10, 20)
    ]
    rows.append(sighting("https://blog.example/quiet", source="feed:blog", title="No points"))
    pool = build_pool(pd.DataFrame(rows), None, AS_OF).frame
    f = build_features(pool, None, AS_OF, 21).set_index(pool["title"])
    v = f["points_vs_source"]
    # 20 points is the top of Lobsters, like 400 on Hacker News; 200 is HN's middle.
    assert v["Lob 20"] == v["HN story 400"] == 1.0
    assert v["Lob 20"] > v["HN story 200"] > v["HN story 100"] > 0
    assert v["Lob 10"] == v["HN story 200"]
    assert v["No points"] == 0.0
    assert f["log_points"]["HN story 200"] > f["log_points"]["Lob 20"]


def test_a_domain_lends_its_name_not_its_top_level_label() -> None:
    from tests.test_pool import history

    past = history([{"title_en": "CSnakes: embed Python in .NET projects", "title_zh": "CSnakes"}])
    past = pd.concat([past, history([{"issue_no": 2, "title_en": "A fast linter"}])])
    rows = [
        sighting("https://www.fabiensanglard.net/quake/", source="hn:top20", title="Portals"),
        sighting("https://csnakes.example.org/", source="hn:top20", title="CSnakes 2.0"),
    ]
    pool = build_pool(pd.DataFrame(rows), past, AS_OF).frame
    f = build_features(pool, past, AS_OF, 21).set_index(pool["title"])
    assert f.loc["Portals", "sim_max"] == 0.0  # `net` of the host matched `.NET` before
    assert f.loc["CSnakes 2.0", "sim_max"] > 0.2


def test_github_topics_and_a_pypi_release_count_as_python(tmp_path) -> None:
    # Nightly records as the crawler writes them: a trending:all repository (no language)
    # whose GitHub API follow-up names the topic "python"; a repository a PyPI project
    # names as its code; a repository with neither.
    def repo(name, source, **extra):
        return cand(
            f"https://github.com/acme/{name}",
            source=source,
            title=f"acme/{name}",
            fetched="2025-02-10T06:00:00Z",
            repo_key=f"github.com/acme/{name}",
            section="project",
            kind="github",
            extra=extra,
        )

    write(
        tmp_path / "raw" / "n.jsonl",
        [
            repo("topical", "trending-all"),
            repo("topical", "_github_api", topics=["Python", "cli"]),
            repo("packaged", "trending-all"),
            repo("packaged", "pypi-new", pypi_url="https://pypi.org/project/packaged/"),
            repo("plain", "trending-all"),
            repo("plain", "_github_api", topics=["go", "cli"]),
        ],
    )
    con = duckdb.connect(str(tmp_path / "radar.duckdb"))
    store.migrate(con)
    store.ingest_raw(con, tmp_path / "raw")
    pool = pool_as_of(con, pd.DataFrame(), dt.date(2025, 2, 12), 21)
    frame = pool.frame.set_index("repo_key")
    assert frame.loc["github.com/acme/topical", "topics"] == "cli python"
    assert frame.loc["github.com/acme/plain", "topics"] == "cli go"
    assert frame["on_pypi"].to_dict() == {
        "github.com/acme/packaged": True,
        "github.com/acme/plain": False,
        "github.com/acme/topical": False,
    }
    f = build_features(pool.frame, None, pool.as_of, 21).set_index(pool.frame["repo_key"])
    assert f["mentions_python"].to_dict() == {
        "github.com/acme/packaged": 0.0,
        "github.com/acme/plain": 0.0,
        "github.com/acme/topical": 1.0,
    }
    assert f["is_pypi"].to_dict() == {
        "github.com/acme/packaged": 1.0,
        "github.com/acme/plain": 0.0,
        "github.com/acme/topical": 0.0,
    }
    # The reason names it when the python signal is among the row's largest.
    row = pd.concat([pool.frame, f.reset_index(drop=True)], axis=1).iloc[0].copy()
    row["as_of"] = pool.as_of
    for signal in SIGNALS:
        row[signal] = 1.0 if signal == "python" else 0.0
    assert (row["repo_key"], reason_of(row)) == ("github.com/acme/packaged", "on PyPI")
