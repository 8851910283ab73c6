"""The shortlist: quotas, domain cap, determinism, clean cells, empty weeks, formats."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import warnings

import pandas as pd
import pytest

from ranking import store
from ranking.csvio import read_csv_rows
from ranking.errors import SightingsFileError
from ranking.features import SIGNALS
from ranking.shortlist import (
    CACHE_VERSION,
    SHORTLIST_COLUMNS,
    build_shortlist,
    build_week_shortlist,
    decision_rows,
    history_items,
    render_kept_draft,
    render_markdown,
    render_table,
    scored_pool,
    select_section,
    training_pools,
    week_as_of,
    write_shortlist,
)
from ranking.weeks import IsoWeek

FIRST_ISSUE = dt.date(2024, 1, 6)
N_ISSUES = 5


def _sighting_rows():
    rows = []
    start = FIRST_ISSUE - dt.timedelta(days=25)
    for d in range(70):
        day = start + dt.timedelta(days=d)
        # 30 python repos trending per day, a rolling set; stars grow.
        for r in range(30):
            repo = (d // 3 + r) % 90
            rows.append(
                {
                    "feed": "github_trending",
                    "section": "trending:python",
                    "seen_date": day.isoformat(),
                    "title": f"owner{repo % 7}/repo{repo}",
                    "url": f"https://github.com/owner{repo % 7}/repo{repo}",
                    "description": f"a python tool number {repo} for data"
                    if repo % 3
                    else f"llm agent framework {repo}",
                    "stars": 100 * repo + 10 * d,
                    "stars_today": 10,
                    "language": "Python",
                    "rank": r + 1,
                }
            )
        for a in range(6):
            n = d * 6 + a
            rows.append(
                {
                    "feed": "hackernews",
                    "section": "hn:frontpage",
                    "seen_date": day.isoformat(),
                    "title": f"Story {n}: thoughts on topic {n % 11} and python",
                    "url": f"https://blog{n % 5}.example.com/post/{n}",
                    "points": 10 + n % 300,
                    "comments": n % 50,
                    "rank": a + 1,
                }
            )
    rows.append(
        {
            "feed": "hackernews",
            "section": "hn:frontpage",
            "seen_date": FIRST_ISSUE.isoformat(),
            "title": "bad",
            "url": "ftp://x/y",
        }
    )
    return rows


def _make_store(tmp_path, fmt="csv", db=":memory:"):
    con = store.connect(db)
    rows = _sighting_rows()
    if fmt == "csv":
        path = tmp_path / "s.csv"
        pd.DataFrame(rows).to_csv(path, index=False)
    else:
        path = tmp_path / "s.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    counts = store.load_sightings_file(con, path)
    for i in range(N_ISSUES):
        no = i + 1
        pub = FIRST_ISSUE + dt.timedelta(days=7 * i)
        d = (pub - (FIRST_ISSUE - dt.timedelta(days=25))).days
        picks = [(d // 3 + 3 * k) % 90 for k in range(4)]
        items = [
            {
                "issue_no": no,
                "item_no": k + 1,
                "section": "project",
                "section_raw": "项目",
                "position": k + 1,
                "title_zh": f"repo{p} 项目",
                "title_en": f"repo{p} project",
                "summary_zh": "一个 Python 工具",
                "summary_en": "a python tool for data",
                "url": f"https://github.com/owner{p % 7}/repo{p}",
                "canonical_url": f"https://github.com/owner{p % 7}/repo{p}",
                "repo_key": f"github.com/owner{p % 7}/repo{p}",
                "host": "github.com",
            }
            for k, p in enumerate(picks)
        ]
        n = (d - 1) * 6
        items.append(
            {
                "issue_no": no,
                "item_no": 5,
                "section": "article",
                "section_raw": "文章",
                "position": 1,
                "title_zh": "文章",
                "title_en": f"Story {n}",
                "summary_zh": "",
                "summary_en": "python thoughts",
                "url": f"https://blog{n % 5}.example.com/post/{n}",
                "canonical_url": f"https://blog{n % 5}.example.com/post/{n}",
                "repo_key": None,
                "host": f"blog{n % 5}.example.com",
            }
        )
        store.replace_history_issue(con, _issue_row(no, pub, len(items)), items, [])
    return con, counts


def _issue_row(no: int, pub: dt.date, n_items: int) -> dict:
    return {
        "issue_no": no,
        "pub_date": pub,
        "title": f"#{no}",
        "title_en": f"#{no}",
        "kind": "full",
        "file": f"docs/{pub}-weekly.md",
        "en_file": None,
        "content_hash": str(no),
        "n_items": n_items,
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    con, counts = _make_store(tmp_path_factory.mktemp("w"))
    yield con, counts
    con.close()


AS_OF = FIRST_ISSUE + dt.timedelta(days=7 * N_ISSUES)


def test_loader_counts_invalid_urls_and_is_idempotent(world, tmp_path):
    con, counts = world
    assert counts["invalid_url"] == 1
    assert counts["inserted"] == counts["rows"] - 1
    again, _ = _make_store(tmp_path, fmt="jsonl")
    assert store.table_counts(again)["sightings"] == store.table_counts(con)["sightings"]
    one = store.sightings_frame(con, FIRST_ISSUE, FIRST_ISSUE)
    assert set(one["seen_date"].dt.date) == {FIRST_ISSUE}
    assert one["canonical_url"].str.startswith("https://").all()


def test_loader_leaves_out_the_feeds_asked_and_names_an_unknown_one(tmp_path):
    rows = _sighting_rows()
    path = tmp_path / "s.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    con = store.connect(":memory:")
    counts = store.load_sightings_file(con, path, without_feeds=["hackernews"])
    n_hn = sum(r["feed"] == "hackernews" for r in rows)
    assert counts["without_feed"] == n_hn
    assert counts["invalid_url"] == 0  # the bad URL was a Hacker News row, left out first
    sources = set(store.sightings_frame(con, FIRST_ISSUE - dt.timedelta(days=30), AS_OF)["source"])
    assert sources == {"trending:python"}
    counts = store.load_sightings_file(con, path, without_feeds=["hn"])
    assert (counts["without_feed"], counts["invalid_url"]) == (0, 1)  # nothing left out
    assert counts["absent_feeds"] == ["hn"]
    assert store.sightings_summary(counts, ["hn"]).endswith("no feed hn in this file to leave out")
    con.close()


def test_a_header_only_sightings_file_loads_nothing_and_says_so(tmp_path):
    path = tmp_path / "header.csv"
    pd.DataFrame(_sighting_rows()).head(0).to_csv(path, index=False)
    con = store.connect(":memory:")
    counts = store.load_sightings_file(con, path)
    assert counts["rows"] == counts["inserted"] == 0
    assert store.table_counts(con)["sightings"] == 0
    con.close()


def _loaded(path) -> pd.DataFrame:
    con = store.connect(":memory:")
    try:
        store.load_sightings_file(con, path)
        return con.execute(
            "SELECT canonical_url, source, seen_date, seen_ts, stars, stars_period, points, "
            "comments, position FROM sightings ORDER BY ALL"
        ).df()
    finally:
        con.close()


def test_every_sightings_format_loads_the_same_rows(tmp_path):
    """CSV, Parquet and JSONL, also JSONL as pandas 3 writes it by default (dates as epoch
    milliseconds), give the same sightings, stars and points included, even when the
    first 20,480 rows have none: DuckDB's JSON reader typed such columns from a sample of
    the first rows, as NULL, and every star and point was lost."""
    day = FIRST_ISSUE - dt.timedelta(days=3)
    filler = [
        {
            "feed": "lobsters",
            "section": "lobsters",
            "seen_date": day.isoformat(),
            "title": f"Filler story {i}",
            "url": f"https://f{i % 40}.example.com/{i}",
        }
        for i in range(21_000)
    ]
    frame = pd.DataFrame([*filler, *_sighting_rows()])
    frame["seen_ts"] = pd.to_datetime(frame["seen_date"]) + pd.Timedelta(hours=13, milliseconds=5)
    frame.to_csv(tmp_path / "s.csv", index=False)
    expected = _loaded(tmp_path / "s.csv")
    assert expected["stars"].notna().sum() > 2000 and expected["points"].notna().sum() > 400
    assert expected["seen_ts"].notna().all()
    dated = frame.assign(seen_date=pd.to_datetime(frame["seen_date"]))
    dated.to_parquet(tmp_path / "s.parquet")
    with warnings.catch_warnings():  # deprecated, yet what pandas writes by default
        warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
        dated.to_json(tmp_path / "epoch.jsonl", orient="records", lines=True)
    assert '"seen_date":17' in (tmp_path / "epoch.jsonl").read_text()[:300]  # milliseconds
    frame.assign(seen_ts=frame["seen_ts"].astype(str)).to_json(
        tmp_path / "text.jsonl", orient="records", lines=True
    )
    for name in ("s.parquet", "epoch.jsonl", "text.jsonl"):
        pd.testing.assert_frame_equal(_loaded(tmp_path / name), expected, obj=name)


def test_times_with_a_zone_are_read_in_utc_in_every_format(tmp_path):
    rows = [
        {
            "feed": "hackernews",
            "section": "hn:top20",
            "seen_date": "2025-02-10T03:00:00+08:00",
            "seen_ts": "2025-02-10T03:00:00+08:00",
            "title": "A post",
            "url": "https://example.org/a",
        },
        {
            "feed": "hackernews",
            "section": "hn:top20",
            "seen_date": "2025-02-10 23:30:00",  # no zone: the day as written
            "seen_ts": "2025-02-10 23:30:00",
            "title": "Another",
            "url": "https://example.org/b",
        },
    ]
    frame = pd.DataFrame(rows)
    frame.to_csv(tmp_path / "z.csv", index=False)
    frame.to_json(tmp_path / "z.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "z.parquet")
    expected = [
        (dt.date(2025, 2, 9), pd.Timestamp("2025-02-09 19:00:00")),
        (dt.date(2025, 2, 10), pd.Timestamp("2025-02-10 23:30:00")),
    ]
    for name in ("z.csv", "z.jsonl", "z.parquet"):
        got = _loaded(tmp_path / name).sort_values("canonical_url")
        assert list(zip(got["seen_date"].dt.date, got["seen_ts"], strict=True)) == expected, name


def test_a_jsonl_date_that_is_not_iso_is_unreadable_not_guessed(tmp_path):
    """DuckDB's JSON reader typed `09-10-2024` and `26-07-2024` as dates, guessing the
    order of day and month; they are unreadable dates, as in a CSV."""
    path = tmp_path / "s.jsonl"
    path.write_text(
        "".join(
            json.dumps({"feed": "hn", "section": "hn:top20", "seen_date": day, "url": url}) + "\n"
            for day, url in [
                ("09-10-2024", "https://example.org/a"),
                ("26-07-2024", "https://example.org/b"),
                ("2024-07-26", "https://example.org/c"),
            ]
        ),
        encoding="utf-8",
    )
    con = store.connect(":memory:")
    counts = store.load_sightings_file(con, path)
    assert (counts["inserted"], counts["bad_date"]) == (1, 2)
    con.close()


def test_only_numbers_are_read_as_epochs():
    text = pd.Series(["202502101200", "2025-02-10"])  # digits in a CSV are not an epoch
    numbers = pd.Series([1739145600123, 1739145600.5, None])  # milliseconds, seconds
    days = list(store._seen_dates(text))
    assert pd.isna(days[0]) and days[1] == dt.date(2025, 2, 10)  # nor an ISO date
    assert list(store._seen_dates(numbers))[:2] == [dt.date(2025, 2, 10)] * 2
    assert pd.isna(list(store._seen_dates(numbers))[2])


def test_a_sightings_file_with_no_loadable_row_is_an_error(tmp_path):
    path = tmp_path / "s.csv"
    pd.DataFrame(_sighting_rows()).assign(seen_date="someday").to_csv(path, index=False)
    con = store.connect(":memory:")
    with pytest.raises(SightingsFileError, match=r"s\.csv: no row could be loaded: 0 sight"):
        store.load_sightings_file(con, path)
    con.close()


def test_zoned_timestamps_give_utc_days_whatever_the_machine_zone(tmp_path):
    """A Parquet seen_date with a zone (20:00 UTC) is that UTC day on a machine in
    Shanghai too: DuckDB used the machine's zone, and the shortlists changed with it."""
    import subprocess
    import sys

    path = tmp_path / "s.parquet"
    frame = pd.DataFrame(_sighting_rows()[:40])
    frame["seen_date"] = pd.to_datetime(frame["seen_date"]).dt.tz_localize("UTC") + pd.Timedelta(
        hours=20
    )
    frame.to_parquet(path)
    code = (
        "import sys; from ranking import store; con = store.connect(':memory:'); "
        "store.load_sightings_file(con, sys.argv[1]); "
        "print(con.execute('SELECT min(seen_date), max(seen_date) FROM sightings').fetchone())"
    )
    days = {
        zone: subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "TZ": zone},
        ).stdout
        for zone in ("UTC", "Asia/Shanghai")
    }
    start = FIRST_ISSUE - dt.timedelta(days=25)
    assert days["UTC"] == days["Asia/Shanghai"]
    assert days["UTC"].startswith(f"(datetime.date({start.year}, {start.month}, {start.day}),")


def test_quotas_domain_cap_and_contributions_sum(world):
    con, _ = world
    quotas = {"article": 5, "project": 8, "audio_video": 2, "hot_topic": 2}
    result = build_shortlist(con, AS_OF, quotas=quotas, domain_cap=2)
    f = result.frame
    assert list(f.columns[: len(SHORTLIST_COLUMNS)]) == SHORTLIST_COLUMNS
    counts = f["section"].value_counts().to_dict()
    assert counts["project"] == 8 and counts["article"] == 5
    for section, part in f.groupby("section"):
        assert part["rank"].tolist() == list(range(1, len(part) + 1)), section
    # At most 2 per blog host among articles, 2 per GitHub owner among projects.
    arts = f[f["section"] == "article"]
    assert arts["url"].str.extract(r"//([^/]+)/")[0].value_counts().max() <= 2
    projs = f[f["section"] == "project"]
    assert projs["url"].str.extract(r"github.com/([^/]+)/")[0].value_counts().max() <= 2
    total = f[[*SIGNALS, "base"]].sum(axis=1)
    assert (abs(total - f["score"]) < 1e-3).all()
    assert f["reason"].str.len().gt(0).all()
    assert (f["decision"] == "").all()
    # Already-featured repositories are not in the shortlist.
    featured = set(result.featured["repo_key"].dropna())
    assert not featured & set(projs["url"].str.replace("https://", ""))
    assert result.training["positives"] > 0


def test_csv_is_byte_identical_and_clean(world, tmp_path):
    con, _ = world
    a = build_shortlist(con, AS_OF)
    b = build_shortlist(con, AS_OF)
    write_shortlist(a, tmp_path / "a.csv", "csv")
    write_shortlist(b, tmp_path / "b.csv", "csv")
    data = (tmp_path / "a.csv").read_bytes()
    assert data == (tmp_path / "b.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig").lower()
    assert "nan" not in text.replace("financ", "") and "inf," not in text
    header, rows, _ = read_csv_rows(tmp_path / "a.csv")
    assert header == SHORTLIST_COLUMNS
    for row in rows:
        for col in ("score", *SIGNALS, "base"):
            assert math.isfinite(float(row[col]))


def test_cache_gives_the_same_shortlist(world):
    con, _ = world
    cache: dict = {}
    first = build_shortlist(con, AS_OF, cache=cache)
    again = build_shortlist(con, AS_OF, cache=cache)
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert cache


def test_empty_week_gives_header_only_csv_and_a_message(world, tmp_path):
    con, _ = world
    result = build_shortlist(con, dt.date(2030, 1, 6))
    assert result.frame.empty and result.messages
    write_shortlist(result, tmp_path / "e.csv", "csv")
    lines = (tmp_path / "e.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines == [",".join(SHORTLIST_COLUMNS)]


def test_a_week_with_no_past_week_to_learn_from_is_ranked_by_the_prior(world):
    con, _ = world
    # The day before the first issue: candidates, but no past issue with a pool.
    result = build_shortlist(con, FIRST_ISSUE - dt.timedelta(days=1), cache_dir=None)
    assert result.training["pools"] == 0
    assert result.messages == ["no past week to learn from: ranked by the prior weights"]
    projects = result.frame[result.frame["section"] == "project"]
    assert projects["score"].nunique() > 1
    assert projects["score"].iloc[0] == projects["score"].max()
    assert (projects["freshness"] != 0).any() and (projects["momentum"] != 0).any()


def test_markdown_and_table(world, tmp_path):
    con, _ = world
    result = build_shortlist(con, AS_OF)
    md = render_markdown(result)
    assert "## 🐿️项目&资源" in md and "1、[" in md
    # The ranker's spec (project issue #4) spells the stars "(3.5K stars)", after the link.
    assert re.search(r"^1、\[[^\n]*\]\(https?://[^\s)]+\) \(\d+(\.\d)?K? stars\)$", md, re.M)
    # The draft holds the top 12 of each section; `rank` says how many items it wrote.
    sizes = result.frame["section"].value_counts()
    assert sizes.max() > 12
    assert write_shortlist(result, tmp_path / "d.md", "md") == md.count("、[")
    assert md.count("、[") == sizes.clip(upper=12).sum() < len(result.frame)
    assert (tmp_path / "d.md").read_text(encoding="utf-8") == md
    assert write_shortlist(result, tmp_path / "d.txt", "table") == sizes.clip(upper=10).sum()
    table = render_table(result, top=3)
    assert "project" in table and "rank" in table


HOSTILE_TITLES = [
    "Python [/b] closing tag",
    "Python: dict[str, list[int]] typing tips",
    "Pattern Matching, __match__, and View Patterns in Python",
    "Use `foo[bar]` and *x* with <b>bold</b> | pipes \\ backslash",
    "x" * 80,
]


def _hostile_result():
    from types import SimpleNamespace

    n = len(HOSTILE_TITLES)
    frame = pd.DataFrame(
        {
            "section": ["article"] * n,
            "rank": range(1, n + 1),
            "score": [0.5] * n,
            "title": HOSTILE_TITLES,
            "reason": ["[red]3 sources[/red]; first seen today"] * n,
            "sources": ["hn:[x];lobsters"] * n,
            "url": [f"https://e.example/{i}" for i in range(n - 2)]
            + ["https://en.wikipedia.org/wiki/A)_(B", "https://e.example/a b"],
            "stars": [None] * n,
        }
    )
    return SimpleNamespace(week="2025-W07", frame=frame)


def test_the_table_shows_titles_as_text_not_markup():
    """A title `[/b] …` crashed the table (rich MarkupError, a traceback) and `[int]`,
    `[red]` vanished from titles and reasons; a cut title had no mark. At the width given
    (the terminal's), no line is wider."""
    text = render_table(_hostile_result(), width=60)
    flat = " ".join(text.split())
    assert "[/b]" in flat and "[red]3" in text
    assert max(map(len, text.splitlines())) <= 60
    wide = render_table(_hostile_result(), width=200)
    assert "dict[str, list[int]] typing tips" in wide and "x" * 59 + "…" in wide


def test_the_draft_renders_titles_and_links_literally_in_commonmark():
    """Titles went into the draft unescaped: `__match__` rendered bold, brackets were
    swapped for full-width ones, `<b>` passed as HTML, a link with a space stayed text."""
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

    md = MarkdownIt("commonmark")
    draft = render_markdown(_hostile_result())
    links: list[tuple[str, str]] = []
    for block in md.parse(draft):
        children: list[Token] = block.children or []
        for i, tok in enumerate(children):
            if tok.type == "link_open":
                end = next(j for j in range(i, len(children)) if children[j].type == "link_close")
                text = "".join(c.content for c in children[i + 1 : end] if c.type == "text")
                assert all(c.type == "text" for c in children[i + 1 : end]), children[i:end]
                links.append((text, str(tok.attrs["href"])))
    assert [t for t, _ in links] == HOSTILE_TITLES
    assert [href for _, href in links[-2:]] == [
        "https://en.wikipedia.org/wiki/A)_(B",
        "https://e.example/a%20b",
    ]
    assert "\\_\\_match\\_\\_" in draft  # as the archive writes it


@pytest.mark.parametrize(
    "note", ["ask first --> not public", "a <!-- b", "x--!> y", "---> z", "ends with -", "--"]
)
def test_a_note_cannot_close_the_drafts_html_comment(note):
    kept = pd.DataFrame(
        {
            "decision": ["keep"],
            "section_override": [None],
            "shown_section": ["article"],
            "section": ["article"],
            "title": ["T"],
            "url": ["https://example.com/t"],
            "stars": [None],
            "note": [note],
        }
    )
    draft = render_kept_draft("2025-W07", kept)
    comment = next(line for line in draft.splitlines() if line.startswith("<!-- note: "))
    assert comment.endswith(" -->")
    assert "--" not in comment.removeprefix("<!--").removesuffix("-->")


def test_select_section_mmr_prefers_diverse_items():
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "score": [3.0, 2.9, 2.5],
            "title": ["fast json parser", "fast json parser", "gui toolkit"],
            "description": ["", "", ""],
            "host": ["x.com", "y.com", "z.com"],
            "repo_key": [None, None, None],
        }
    )
    assert select_section(frame, 3, mmr_lambda=0.0) == [0, 1, 2]
    assert select_section(frame, 3, mmr_lambda=1.0) == [0, 2, 1]
    assert select_section(frame.assign(host="x.com"), 3, domain_cap=1, mmr_lambda=0.0) == [0]


def test_disk_cache_beside_a_file_database_gives_the_same_shortlist(tmp_path):
    file_con, _ = _make_store(tmp_path, db=tmp_path / "radar.duckdb")
    first = build_shortlist(file_con, AS_OF)
    cached = sorted((tmp_path / "cache" / "pools").glob("pool-*.pkl.gz"))
    assert len(cached) == N_ISSUES + 1
    again = build_shortlist(file_con, AS_OF)
    pd.testing.assert_frame_equal(first.frame, again.frame)
    mem, _ = _make_store(tmp_path)
    pd.testing.assert_frame_equal(first.frame, build_shortlist(mem, AS_OF).frame)
    # Files of another version (named as before versions were in the name) are replaced,
    # not kept beside the new ones: the pools, and the labelled training pools.
    every = sorted((tmp_path / "cache" / "pools").glob("*.pkl.gz"))
    assert len(every) == len(cached) + N_ISSUES
    for path in every:
        date_window, digest = path.name.removesuffix(".pkl.gz").split(f"-v{CACHE_VERSION}-")
        path.rename(path.with_name(f"{date_window}-{digest[::-1]}.pkl.gz"))
    build_shortlist(file_con, AS_OF)
    assert sorted((tmp_path / "cache" / "pools").glob("*.pkl.gz")) == every
    file_con.close()


def test_a_cached_training_pool_is_relabelled_when_its_issue_changes(tmp_path):
    """Past issues' labelled pools are cached too (a nightly `rank` no longer loads every
    past pool whole and labels it again): a later run gives the same shortlist, and an
    issue whose items change (a corrected archive file) is labelled again."""
    file_con, _ = _make_store(tmp_path, db=tmp_path / "radar.duckdb")
    first = build_shortlist(file_con, AS_OF)
    folder = tmp_path / "cache" / "pools"
    trained = sorted(folder.glob("train-*.pkl.gz"))
    assert len(trained) == N_ISSUES
    pd.testing.assert_frame_equal(first.frame, build_shortlist(file_con, AS_OF).frame)
    mem, _ = _make_store(tmp_path)
    pub3 = FIRST_ISSUE + dt.timedelta(days=14)
    change = (
        "UPDATE issue_items SET url = ?, canonical_url = ? "
        "WHERE issue_no = 3 AND section = 'article'"
    )
    (other,) = file_con.execute(
        "SELECT min(canonical_url) FROM sightings WHERE seen_date <= ? AND canonical_url "
        "NOT IN (SELECT canonical_url FROM issue_items WHERE canonical_url IS NOT NULL) "
        "AND canonical_url NOT LIKE '%github.com%'",
        [pub3],
    ).fetchone()
    for con in (file_con, mem):
        con.execute(change, [other, other])
    again = build_shortlist(file_con, AS_OF)
    assert again.training == build_shortlist(mem, AS_OF).training != first.training
    pd.testing.assert_frame_equal(again.frame, build_shortlist(mem, AS_OF).frame)
    assert len(list(folder.glob("train-*.pkl.gz"))) == N_ISSUES  # the old one replaced
    assert sorted(folder.glob("train-*.pkl.gz")) != trained
    file_con.close()


def test_two_issues_of_one_day_keep_their_own_training_pool_files(tmp_path):
    """Named by day and window only, each replaced the other's file on every run."""
    from ranking.shortlist import PoolCache, TrainingPool, history_items

    con, _ = _make_store(tmp_path)
    folder = tmp_path / "pools"
    folder.mkdir()
    cache = PoolCache(folder, con, history_items(con, None))
    for n in (1, 500):
        cache[("train", n, FIRST_ISSUE, 21)] = TrainingPool(n, FIRST_ISSUE, pd.DataFrame())
    assert len(list(folder.glob("train-*.pkl.gz"))) == 2
    con.close()


def test_the_disk_cache_key_covers_every_column_of_a_sighting(tmp_path):
    """A pool read from the disk cache is the pool the data gives now: after a change to
    a cell the key did not cover (the URL shown, `extra`), the shortlist is rebuilt."""
    file_con, _ = _make_store(tmp_path, db=tmp_path / "radar.duckdb")
    first = build_shortlist(file_con, AS_OF)
    story = first.frame[first.frame["section"] == "article"].iloc[0]
    shown = "https://blog.example.com/moved"
    file_con.execute(
        "UPDATE sightings SET url = ?, extra = '{\"note\": 1}' WHERE canonical_url = ?",
        [shown, story["url_canonical"]],
    )
    again = build_shortlist(file_con, AS_OF)
    file_con.close()
    assert again.frame.set_index("id").loc[story["id"], "url"] == shown


def test_a_pool_cache_that_cannot_be_written_leaves_no_temp_files(tmp_path, monkeypatch):
    import errno
    import pickle

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    file_con, _ = _make_store(tmp_path, db=tmp_path / "radar.duckdb")
    monkeypatch.setattr(pickle, "dump", disk_full)
    result = build_shortlist(file_con, AS_OF)  # ranks without the disk cache
    file_con.close()
    assert len(result.frame)
    assert list((tmp_path / "cache" / "pools").iterdir()) == []


def _decisions(shown: pd.DataFrame, decide) -> list[dict]:
    """The decisions `store.apply_decisions` takes, one per row of `shown`: row i is
    `decide(i)` (keep or reject)."""
    return [
        {
            "candidate_id": r.id,
            "canonical_url": r.url_canonical,
            "decision": decide(i),
            "section_override": None,
            "note": None,
            "row_number": i + 2,
        }
        for i, r in enumerate(shown.itertuples(index=False))
    ]


def test_curator_decisions_become_training_rows(tmp_path):
    con, _ = _make_store(tmp_path)
    week = "2024-W05"  # ends 2024-02-04, before AS_OF
    # Ranked on the Sunday after #5 (Saturday): a row first seen that Sunday still counts.
    shown = build_shortlist(con, dt.date(2024, 2, 4), cache_dir=None)
    rows = shown.frame.head(4)
    decisions = _decisions(rows, lambda i: "keep" if i % 2 == 0 else "reject")
    before = build_shortlist(con, AS_OF, use_decisions=True)
    store.apply_decisions(con, week, "feedback.csv", decisions)
    after = build_shortlist(con, AS_OF, use_decisions=True)
    assert after.training["rows"] == before.training["rows"] + 4
    assert after.training["positives"] == before.training["positives"] + 2
    ignored = build_shortlist(con, AS_OF, use_decisions=False)
    assert ignored.training == before.training


def test_a_week_is_ranked_without_its_own_issue_and_its_kept_picks_stay_training_rows(tmp_path):
    con, _ = _make_store(tmp_path)
    week = IsoWeek.of(FIRST_ISSUE + dt.timedelta(days=7 * (N_ISSUES - 1)))  # issue #5's week
    shown = build_shortlist(con, week.end, history_before=week.start, cache_dir=None)
    own = history_items(con, None).query(f"issue_no == {N_ISSUES}")
    urls = set(own["canonical_url"])
    picked = shown.frame[shown.frame["url_canonical"].isin(urls)]
    assert len(picked) >= 3  # the week's own picks are on its shortlist, not "featured"
    assert not shown.featured["featured_reason"].str.contains(rf"#{N_ISSUES}\b").any()
    # The curator keeps them, then publishes issue #5 with them: they stay keep rows.
    decisions = _decisions(picked, lambda i: "keep")
    before = build_shortlist(con, AS_OF, use_decisions=True, cache_dir=None)
    store.apply_decisions(con, str(week), "feedback.csv", decisions)
    after = build_shortlist(con, AS_OF, use_decisions=True, cache_dir=None)
    assert after.training["rows"] == before.training["rows"] + len(picked)
    assert after.training["positives"] == before.training["positives"] + len(picked)
    con.close()


def test_title_only_issues_teach_only_their_projects_found_by_name(tmp_path):
    con, _ = _make_store(tmp_path)
    before = build_shortlist(con, AS_OF, cache_dir=None)
    no = N_ISSUES + 1
    pub = FIRST_ISSUE + dt.timedelta(days=7 * (N_ISSUES - 1) + 1)
    assert pub < AS_OF
    d = (pub - (FIRST_ISSUE - dt.timedelta(days=25))).days
    named = (d // 3 + 10) % 90  # trending on that day, never picked before
    titles = [("project", f"repo{named}：一个只有标题的项目"), ("article", "一篇只有标题的文章")]
    items = [
        {
            "issue_no": no,
            "item_no": k + 1,
            "section": section,
            "section_raw": section,
            "position": k + 1,
            "title_zh": title,
            "title_en": None,
            "summary_zh": None,
            "summary_en": None,
            "url": None,
            "canonical_url": None,
            "repo_key": None,
            "host": None,
        }
        for k, (section, title) in enumerate(titles)
    ]
    issue = {
        "issue_no": no,
        "pub_date": pub,
        "title": f"#{no}",
        "title_en": None,
        "kind": "title_only",
        "file": f"docs/{pub}-weekly.md",
        "en_file": None,
        "content_hash": "t",
        "n_items": len(items),
    }
    store.replace_history_issue(con, issue, items, [])
    history = history_items(con, AS_OF)
    pools = {tp.issue_no: tp for tp in training_pools(con, history, AS_OF, 21)}
    frame = pools[no].frame
    assert set(frame["section"]) == {"project"}
    assert frame.loc[frame["pick"].notna(), "key"].tolist() == [
        f"github.com/owner{named % 7}/repo{named}"
    ]
    after = build_shortlist(con, AS_OF, cache_dir=None)
    assert after.training["pools"] == before.training["pools"] + 1
    assert after.training["positives"] == before.training["positives"] + 1
    # The named repository counts as already featured from then on.
    assert f"repo{named}" not in set(after.frame["title"].str.rsplit("/", n=1).str[-1])
    con.close()


def test_a_decided_week_trains_on_its_pool_as_of_the_day_its_issue_came_out(tmp_path):
    con, _ = _make_store(tmp_path)
    week = IsoWeek.of(FIRST_ISSUE + dt.timedelta(days=7 * (N_ISSUES - 1)))  # issue #5's week
    day, why = week_as_of(con, week)
    assert day == week.end - dt.timedelta(days=1) and why == f"the day #{N_ISSUES} came out"
    shown, _why = build_week_shortlist(con, week, cache_dir=None)
    assert shown.as_of == day
    kept = shown.frame[shown.frame["section"] == "project"].head(4)
    decisions = _decisions(kept, lambda i: "keep" if i % 2 else "reject")
    store.apply_decisions(con, str(week), "feedback.csv", decisions)
    history = history_items(con, None)
    rows = decision_rows(con, history, store.decisions_frame(con), AS_OF, 21)
    assert len(rows) == 1 and len(rows[0]) == len(kept)
    got = rows[0].set_index("id")
    for when, same in ((day, True), (week.end, False)):
        _pool, data = scored_pool(con, history, when, 21, None, week.start)
        want = data.set_index("id").loc[got.index]
        assert bool((got["first_age"] == want["first_age"]).all()) is same, when
    con.close()


def _one_project_issue(con, no: int, pub: dt.date, repo: int) -> None:
    url = f"https://github.com/owner{repo % 7}/repo{repo}"
    item = {
        "issue_no": no,
        "item_no": 1,
        "section": "project",
        "section_raw": "项目",
        "position": 1,
        "title_zh": f"repo{repo} 项目",
        "title_en": f"repo{repo} project",
        "summary_zh": "",
        "summary_en": "",
        "url": url,
        "canonical_url": url,
        "repo_key": url.removeprefix("https://"),
        "host": "github.com",
    }
    store.replace_history_issue(con, _issue_row(no, pub, 1), [item], [])


def test_a_week_with_two_issues_ranks_the_second_with_the_first_as_history(tmp_path):
    """#6 on the Wednesday, #7 on the Saturday: `rank --week` ranks as of #7's day with #6
    already featured, the pool `rank backtest` replays for #7."""
    con, _ = _make_store(tmp_path)
    week = IsoWeek.of(AS_OF)
    _one_project_issue(con, N_ISSUES + 1, AS_OF - dt.timedelta(days=3), repo=30)
    _one_project_issue(con, N_ISSUES + 2, AS_OF, repo=33)
    shown, why = build_week_shortlist(con, week, cache_dir=None)
    assert shown.as_of == AS_OF and why == f"the day #{N_ISSUES + 2} came out"
    replayed = build_shortlist(con, AS_OF, cache_dir=None)
    pd.testing.assert_frame_equal(shown.frame, replayed.frame)
    titles = set(shown.frame["title"])
    assert "owner5/repo33" in titles  # the week's own issue: on its shortlist
    assert "owner2/repo30" not in titles  # featured by #6, earlier that week
    con.close()
