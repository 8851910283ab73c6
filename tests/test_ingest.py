"""ingest_raw: raw JSONL -> candidates, sightings, fetch_log; idempotent, robust per row."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from ranking import store
from ranking.store import connect, ingest_pending, ingest_raw, migrate


@pytest.fixture
def con():
    c = duckdb.connect(":memory:")
    migrate(c)
    yield c
    c.close()


def cand(url, source="feed-a", fetched="2026-11-20T10:00:00Z", title="A title", **kw):
    rec = {
        "type": "candidate",
        "run_id": kw.pop("run_id", "r1"),
        "source": source,
        "kind": "feed",
        "fetched_at": fetched,
        "url": url,
        "canonical_url": url,
        "title": title,
        "description": kw.pop("description", ""),
        "section": "article",
        "extra": kw.pop("extra", {}),
    }
    rec.update(kw)
    return rec


def fetch(source, run_id="r1", status="ok", items=1):
    return {
        "type": "fetch",
        "run_id": run_id,
        "source": source,
        "url": f"https://{source}.example/feed",
        "started_at": "2026-11-20T10:00:00Z",
        "finished_at": "2026-11-20T10:00:01Z",
        "status": status,
        "http_status": 200,
        "items": items,
        "bytes": 100,
        "not_modified": 0,
        "errors": 0,
        "error": None,
    }


def write(path: Path, records, tail: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec) + "\n")
        fh.write(tail)
    return path


def counts(con):
    return {
        t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("candidates", "sightings", "fetch_log", "raw_files")
    }


def test_ingest_loads_and_is_idempotent(con, tmp_path):
    raw = tmp_path / "raw"
    write(
        raw / "20261120-100000-r1.jsonl",
        [
            {"type": "run", "run_id": "r1"},
            cand("https://a.example/1"),
            cand("https://a.example/2", stars=5),
            cand("https://a.example/1", source="feed-b"),
            fetch("feed-a", items=2),
            fetch("feed-b"),
        ],
    )
    report = ingest_raw(con, raw)
    assert (report.files, report.sightings, report.new_candidates, report.fetch_records) == (
        1,
        3,
        2,
        2,
    )
    first = counts(con)
    assert first == {"candidates": 2, "sightings": 3, "fetch_log": 2, "raw_files": 1}
    again = ingest_raw(con, raw)
    assert again.files == 0 and again.already == 1
    assert counts(con) == first
    seen = dict(con.execute("SELECT canonical_url, seen_count FROM candidates").fetchall())
    assert seen == {"https://a.example/1": 2, "https://a.example/2": 1}
    ids = dict(con.execute("SELECT canonical_url, candidate_id FROM candidates").fetchall())
    assert ids == {u: store.candidate_id(u) for u in ids}
    assert all(len(cid) == 2 + store.CANDIDATE_ID_HEX for cid in ids.values())


def test_same_night_rerun_in_a_new_file_keeps_row_counts(con, tmp_path):
    raw = tmp_path / "raw"
    write(raw / "a.jsonl", [cand("https://a.example/1", fetched="2026-11-20T01:00:00Z")])
    ingest_raw(con, raw)
    before = counts(con)
    write(
        raw / "b.jsonl",
        [cand("https://a.example/1", fetched="2026-11-20T03:00:00Z", title="Newer title")],
    )
    ingest_raw(con, raw)
    after = counts(con)
    assert after["sightings"] == before["sightings"] == 1
    assert after["candidates"] == 1
    row = con.execute("SELECT title, first_seen, last_seen, seen_count FROM candidates").fetchone()
    assert row[0] == "Newer title"
    assert str(row[1]) == "2026-11-20 01:00:00" and str(row[2]) == "2026-11-20 03:00:00"
    assert row[3] == 1
    # The next day is a new sighting (every sighting kept with its date).
    write(raw / "c.jsonl", [cand("https://a.example/1", fetched="2026-11-21T01:00:00Z")])
    ingest_raw(con, raw)
    assert counts(con)["sightings"] == 2
    assert con.execute("SELECT seen_count FROM candidates").fetchone()[0] == 2


def test_duplicate_key_in_one_batch_latest_fetch_wins(con, tmp_path):
    raw = tmp_path / "raw"
    write(
        raw / "x.jsonl",
        [
            cand("https://a.example/1", fetched="2026-11-20T05:00:00Z", stars=50, title="late"),
            cand("https://a.example/1", fetched="2026-11-20T01:00:00Z", stars=10, title="early"),
        ],
    )
    ingest_raw(con, raw)
    assert con.execute("SELECT stars, title FROM sightings").fetchall() == [(50, "late")]
    assert con.execute("SELECT title FROM candidates").fetchall() == [("late",)]


def test_an_older_sighting_never_overwrites_a_newer_one(con, tmp_path):
    raw = tmp_path / "raw"
    write(raw / "b.jsonl", [cand("https://a.example/1", fetched="2026-11-20T05:00:00Z", stars=50)])
    ingest_raw(con, raw)
    write(raw / "a.jsonl", [cand("https://a.example/1", fetched="2026-11-20T01:00:00Z", stars=10)])
    ingest_raw(con, raw)
    assert con.execute("SELECT stars FROM sightings").fetchall() == [(50,)]


def test_bad_rows_are_skipped_never_the_batch(con, tmp_path, caplog):
    raw = tmp_path / "raw"
    path = raw / "bad.jsonl"
    path.parent.mkdir(parents=True)
    good = json.dumps(cand("https://a.example/ok"))
    lines = [
        good,
        json.dumps(cand(None)),  # NULL key
        json.dumps(cand("")),  # empty key
        json.dumps(cand("https://a.example/nofetch", fetched=None)),
        "{not json",
        '["an", "array"]',
        # A lone surrogate, as json.dumps(ensure_ascii=True) writes it.
        json.dumps(cand("https://a.example/sur", title="bad \ud800 title")),
        json.dumps(cand("https://a.example/big", stars=10**30)),
    ]
    path.write_text("\n".join(lines) + '\n{"type": "candidate", "url": "https://cut', "utf-8")
    report = ingest_raw(con, raw)
    assert report.bad_rows == 6
    urls = {r[0] for r in con.execute("SELECT canonical_url FROM sightings").fetchall()}
    assert urls == {"https://a.example/ok", "https://a.example/sur", "https://a.example/big"}
    title = con.execute(
        "SELECT title FROM candidates WHERE canonical_url = 'https://a.example/sur'"
    ).fetchone()[0]
    assert "\ud800" not in title and title.startswith("bad ")
    assert "skip bad.jsonl line 2" in caplog.text


def test_history_only_sightings_create_no_candidate(con, tmp_path):
    raw = tmp_path / "raw"
    write(
        raw / "x.jsonl",
        [
            cand("https://a.example/new"),
            cand("https://a.example/old", extra={"history_only": True}),
        ],
    )
    report = ingest_raw(con, raw)
    assert report.history_only == 1
    assert counts(con)["sightings"] == 2
    assert con.execute("SELECT canonical_url FROM candidates").fetchall() == [
        ("https://a.example/new",)
    ]
    # Nor are they a week's candidates: the ranker's window leaves them out.
    day = dt.date(2026, 11, 20)
    window = store.sightings_frame(con, day - dt.timedelta(days=20), day)
    assert window["canonical_url"].tolist() == ["https://a.example/new"]


def test_a_stored_extra_that_is_not_json_does_not_stop_the_window(con):
    # Stores loaded before `import-sightings` checked `extra` may hold any text there.
    day = dt.date(2025, 2, 10)
    for url, extra in [
        ("https://a.example/x", '{"history_only": tru'),
        ("https://a.example/y", None),
    ]:
        con.execute(
            "INSERT INTO sightings (canonical_url, source, seen_date, kind, url, title, extra) "
            "VALUES (?, 'feed-a', ?, 'feed', ?, 'A title', ?)",
            [url, day, url, extra],
        )
    window = store.sightings_frame(con, day, day)
    assert window["canonical_url"].tolist() == ["https://a.example/x", "https://a.example/y"]


def test_a_file_that_grew_is_loaded_again_idempotently(con, tmp_path):
    raw = tmp_path / "raw"
    path = write(raw / "x.jsonl", [cand("https://a.example/1")])
    ingest_raw(con, raw)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(cand("https://a.example/2")) + "\n")
    report = ingest_raw(con, raw)
    assert report.files == 1
    assert counts(con)["sightings"] == 2 and counts(con)["raw_files"] == 1
    assert con.execute("SELECT seen_count FROM candidates ORDER BY 1").fetchall() == [(1,), (1,)]


def test_ingest_of_many_rows_is_one_fast_batch(con, tmp_path):
    raw = tmp_path / "raw"
    records = [cand(f"https://a.example/{i}", stars=i) for i in range(5000)]
    write(raw / "big.jsonl", records)
    start = time.perf_counter()
    report = ingest_raw(con, raw)
    assert report.sightings == 5000
    assert time.perf_counter() - start < 10


def test_ingest_pending_treats_a_busy_database_as_pending(tmp_path):
    db = tmp_path / "radar.duckdb"
    connect(db).close()
    raw = tmp_path / "raw"
    write(raw / "x.jsonl", [cand("https://a.example/1")])
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ok', flush=True);"
            " time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        report = ingest_pending(db, raw)
        assert report.pending and "busy" in report.message
        assert f"PID {holder.pid}" in report.message
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    report = ingest_pending(db, raw)
    assert not report.pending and report.sightings == 1


def test_missing_raw_dir_is_nothing_to_do(con, tmp_path):
    report = ingest_raw(con, tmp_path / "nope")
    assert report.files == 0 and not report.pending


def test_the_summary_names_the_unfinished_raw_files_it_did_not_read(con, tmp_path):
    # It said only `1 unfinished raw file(s) (.part) not read`: which file, the curator
    # had to look for.
    raw = tmp_path / "raw"
    write(raw / "20261120-100000-r1.jsonl", [cand("https://a.example/1")])
    parts = [raw / f"2026112{n}-030000-r{n}.jsonl.part" for n in range(1, 5)]
    write(parts[0], [cand("https://a.example/killed")])
    report = ingest_raw(con, raw)
    assert report.summary() == (
        "ingested 1 raw file: 1 sightings, 1 new candidates, 0 bad rows skipped; "
        f"1 unfinished raw file not read: {parts[0]} (a crawl still writing, or one "
        "killed mid-run: `crawl ingest` recovers it)"
    )
    for part in parts[1:]:
        write(part, [])
    report = ingest_raw(con, raw)
    assert report.summary() == (
        "ingested 0 raw files: 0 sightings, 0 new candidates, 0 bad rows skipped; "
        f"4 unfinished raw files not read: {parts[0]}, {parts[1]}, {parts[2]} … (crawls "
        "still writing, or killed mid-run: `crawl ingest` recovers them)"
    )


# --- DuckDB reads the raw files: the SQL path keeps the per-line Python rules ----------------


def lines_of(con, table, columns, order):
    return con.execute(f"SELECT {columns} FROM {table} ORDER BY {order}").fetchall()


def test_a_bad_line_in_the_middle_is_named_by_file_and_line(con, tmp_path, caplog):
    raw = tmp_path / "raw"
    path = raw / "mid.jsonl"
    path.parent.mkdir(parents=True)
    lines = [
        json.dumps(cand("https://a.example/1")),
        "",  # blank lines count for the line number, not as rows
        "   ",
        "{broken",
        json.dumps(cand("https://a.example/2")),
        json.dumps(cand("   ")),  # blank canonical_url
        json.dumps(cand("https://a.example/3")),
    ]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    report = ingest_raw(con, raw)
    assert report.bad_rows == 2 and report.sightings == 3
    assert "skip mid.jsonl line 4: Expecting property name" in caplog.text
    assert "skip mid.jsonl line 6: NULL or empty canonical_url" in caplog.text
    assert con.execute("SELECT rows FROM raw_files").fetchone()[0] == 5


@pytest.mark.parametrize(
    ("key", "source", "bad"),
    [
        ("", "feed-a", True),
        ("   ", "feed-a", True),
        ("\u3000\t\n", "feed-a", True),  # str.strip() whitespace beyond ASCII
        ("\u200b", "feed-a", False),  # not whitespace for str.strip()
        ("https://a.example/1", "", True),
        ("https://a.example/1", " ", False),  # only an empty source is refused
    ],
)
def test_blank_keys_follow_the_python_rules(con, tmp_path, key, source, bad):
    raw = tmp_path / "raw"
    write(raw / "k.jsonl", [cand(key, source=source)])
    report = ingest_raw(con, raw)
    assert report.bad_rows == int(bad)
    assert counts(con)["sightings"] == int(not bad)


def test_a_truncated_last_line_is_one_bad_row(con, tmp_path):
    raw = tmp_path / "raw"
    records = [cand(f"https://a.example/{i}") for i in range(3)]
    write(raw / "cut.jsonl", records, tail='{"type": "candidate", "canonical_url": "https://cut')
    report = ingest_raw(con, raw)
    assert (report.bad_rows, report.sightings) == (1, 3)
    assert con.execute("SELECT rows FROM raw_files").fetchone()[0] == 4


def test_huge_values_are_kept_or_dropped_like_before(con, tmp_path):
    raw = tmp_path / "raw"
    write(
        raw / "huge.jsonl",
        [
            cand("https://h.example/title", title="T" * 10_000_000),
            cand(
                "https://h.example/ints",
                stars=2**63 - 1,
                forks=-(2**63),  # outside _as_int's symmetric range: NULL
                points=10**30,
                comments="12",
                stars_period=3.0,  # a float: int(3.0), read by Python
                position=2**31,  # beyond INTEGER: NULL (before: the whole batch failed)
            ),
        ],
    )
    assert ingest_raw(con, raw).bad_rows == 0
    (length,) = con.execute(
        "SELECT length(title) FROM sightings WHERE canonical_url = 'https://h.example/title'"
    ).fetchone()
    assert length == 10_000_000
    row = con.execute(
        "SELECT stars, forks, points, comments, stars_period, position FROM sightings "
        "WHERE canonical_url = 'https://h.example/ints'"
    ).fetchone()
    assert row == (2**63 - 1, None, None, 12, 3, None)


def test_a_line_longer_than_read_json_takes_is_read_by_python(con, tmp_path):
    raw = tmp_path / "raw"
    title = "L" * (store._MAX_OBJECT_BYTES + 10)
    write(
        raw / "long.jsonl", [cand("https://l.example/1"), cand("https://l.example/2", title=title)]
    )
    report = ingest_raw(con, raw)
    assert (report.bad_rows, report.sightings) == (0, 2)
    (length,) = con.execute(
        "SELECT length(title) FROM candidates WHERE canonical_url = 'https://l.example/2'"
    ).fetchone()
    assert length == len(title)


def test_values_sql_cannot_judge_go_through_python(con, tmp_path):
    raw = tmp_path / "raw"
    write(
        raw / "py.jsonl",
        [
            cand("https://p.example/offset", fetched="2026-11-20T12:30:00+02:00"),
            cand("https://p.example/date", published="2026-11-19", stars=" 7 "),
            cand("https://p.example/bool", stars=True, extra={"history_only": 1}),
            cand("https://p.example/sur", description="half \udfff pair"),
        ],
    )
    report = ingest_raw(con, raw)
    assert (report.bad_rows, report.sightings, report.history_only) == (0, 4, 1)
    rows = dict(
        (r[0], r[1:])
        for r in con.execute(
            "SELECT canonical_url, seen_ts, published, stars, description FROM sightings"
        ).fetchall()
    )
    assert str(rows["https://p.example/offset"][0]) == "2026-11-20 10:30:00"
    assert str(rows["https://p.example/date"][1]) == "2026-11-19 00:00:00"
    assert rows["https://p.example/date"][2] == 7
    assert rows["https://p.example/bool"][2] is None
    assert rows["https://p.example/sur"][3] == "half ? pair"


def test_equal_fetch_times_keep_the_later_line_then_the_later_file(con, tmp_path):
    raw = tmp_path / "raw"
    write(
        raw / "a.jsonl",
        [
            cand("https://t.example/1", title="a-first"),
            cand("https://t.example/1", title="a-later"),
        ],
    )
    write(raw / "b.jsonl", [cand("https://t.example/2", title="b")])
    write(raw / "c.jsonl", [cand("https://t.example/2", title="c")])
    ingest_raw(con, raw)
    titles = dict(lines_of(con, "sightings", "canonical_url, title", "1"))
    assert titles == {"https://t.example/1": "a-later", "https://t.example/2": "c"}


def test_a_candidate_takes_the_newest_value_each_field_has(con, tmp_path):
    raw = tmp_path / "raw"
    url = "https://m.example/1"
    write(
        raw / "m.jsonl",
        [
            cand(url, source="s1", fetched="2026-11-20T01:00:00Z", title="old", description="d"),
            cand(url, source="s2", fetched="2026-11-20T02:00:00Z", title="new", description=""),
            cand(url, source="s3", fetched="2026-11-20T03:00:00Z", title="", description=None),
            cand("https://m.example/2", source="s1", fetched="2026-11-20T01:00:00Z", title=""),
            cand("https://m.example/2", source="s2", fetched="2026-11-20T02:00:00Z", title=None),
            cand("https://m.example/3", source="s1", fetched="2026-11-20T01:00:00Z", title=None),
            cand("https://m.example/3", source="s2", fetched="2026-11-20T02:00:00Z", title=""),
        ],
    )
    ingest_raw(con, raw)
    got = lines_of(
        con,
        "candidates",
        "canonical_url, title, description, first_seen, last_seen, seen_count",
        "1",
    )
    assert [(u, t, d, str(f), str(last), n) for u, t, d, f, last, n in got] == [
        (url, "new", "d", "2026-11-20 01:00:00", "2026-11-20 03:00:00", 3),
        # No value anywhere: the oldest line's '' or NULL.
        ("https://m.example/2", "", "", "2026-11-20 01:00:00", "2026-11-20 02:00:00", 2),
        ("https://m.example/3", None, "", "2026-11-20 01:00:00", "2026-11-20 02:00:00", 2),
    ]


HOST_URLS = [
    "https://www.Example.com/a?b=1#c",
    "http://EXAMPLE.com:443/x",
    "https://example.com:8080",
    "https://[2001:DB8::1]:8443/p",
    "https://xn--caf-dma.example/x",
    "https://café.example/é",
    "https://u@h.example/x",
    "https://a.example:99999/x",
    "https://a b.example/x",
    "https://a.example/x\\y",
    "ftp://files.example/x",
    "not a url",
    "//proto.example/x",
    "https://m.wikipedia.org/wiki/X",
    "https://en.m.wikipedia.org/wiki/X",
    "https://long.example/" + "x" * 2100,
]


def test_the_host_is_crawler_urls_host_of_the_canonical_url(con, tmp_path):
    from crawler.urls import host_of

    raw = tmp_path / "raw"
    write(raw / "h.jsonl", [cand(u) for u in HOST_URLS])
    ingest_raw(con, raw)
    got = dict(lines_of(con, "sightings", "canonical_url, host", "1"))
    for url in HOST_URLS:
        try:
            expected = host_of(url)
        except ValueError:
            expected = None
        assert got[url] == expected, url
    assert dict(lines_of(con, "candidates", "canonical_url, host", "1")) == got


def test_the_blank_pattern_is_python_whitespace(con):
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    found = con.execute(
        "SELECT list(c ORDER BY c) FROM (SELECT range AS c FROM range(1114112) "
        "WHERE range NOT BETWEEN 55296 AND 57343) "
        f"WHERE regexp_full_match(chr(c::INTEGER), '{store._BLANK_RE}')"
    ).fetchone()[0]
    assert [chr(c) for c in found] == spaces


def test_files_with_glob_characters_in_the_name_are_read(con, tmp_path):
    raw = tmp_path / "raw"
    write(raw / "a[1].jsonl", [cand("https://g.example/1")])
    write(raw / "b*.jsonl", ["not a dict", cand("https://g.example/2")])
    report = ingest_raw(con, raw)
    assert (report.files, report.sightings, report.bad_rows) == (2, 2, 1)


def test_extra_is_stored_as_compact_json(con, tmp_path):
    raw = tmp_path / "raw"
    write(
        raw / "e.jsonl",
        [cand("https://e.example/1", extra={"b": 1, "a": "é"}), cand("x", extra=[1])],
    )
    ingest_raw(con, raw)
    assert lines_of(con, "sightings", "extra", "canonical_url") == [
        ('{"b":1,"a":"é"}',),
        ("{}",),
    ]


def test_fetch_records_keep_the_latest_finished(con, tmp_path):
    raw = tmp_path / "raw"
    late = fetch("feed-a", items=5) | {"finished_at": "2026-11-20T11:00:00Z"}
    write(raw / "f.jsonl", [late, fetch("feed-a", items=1), fetch("", items=2)])
    report = ingest_raw(con, raw)
    assert (report.fetch_records, report.bad_rows) == (1, 1)
    assert con.execute("SELECT items FROM fetch_log").fetchall() == [(5,)]


# A reference of the rules, one line at a time in Python (the pre-SQL ingest): the store
# must hold exactly what it computes, for a batch with duplicates, ties and bad lines.


def reference(paths):
    sightings, bad, fetches = {}, 0, {}
    for file_no, path in enumerate(paths):
        for line_no, raw_line in enumerate(path.read_bytes().splitlines(), 1):
            if not raw_line.strip():
                continue
            try:
                row = store._python_row(raw_line)
            except ValueError:
                bad += 1
                continue
            if row is None:
                continue
            order = (file_no, line_no)
            if row["route"] == "fetch":
                key = (row["run_id"], row["source"])
                rank = (row["finished_at"] or dt.datetime.min, order)
                if key not in fetches or rank >= fetches[key][0]:
                    fetches[key] = (rank, row)
                continue
            key = (row["canonical_url"], row["source"], row["seen_ts"].date())
            rank = (row["seen_ts"], order)
            if key not in sightings or rank >= sightings[key][0]:
                sightings[key] = (rank, row)
    merged: dict[str, dict] = {}
    for _rank, row in sorted(sightings.values(), key=lambda item: item[0]):
        if row["history_only"]:
            continue
        cur = merged.get(row["canonical_url"])
        if cur is None:
            merged[row["canonical_url"]] = dict(row, first_seen=row["seen_ts"], n=0)
            cur = merged[row["canonical_url"]]
        else:
            for name in ("url", "title", "description", "section", "repo_key", "published",
                         "date_flag", "language"):  # fmt: skip
                if row[name] not in (None, ""):
                    cur[name] = row[name]
        cur["last_seen"] = row["seen_ts"]
    for _rank, row in sightings.values():
        if row["canonical_url"] in merged:
            merged[row["canonical_url"]]["n"] += 1
    return sightings, fetches, merged, bad


def test_sql_ingest_matches_the_python_rules(con, tmp_path):
    import random

    rng = random.Random(7)
    raw = tmp_path / "raw"
    stamps = ["2026-11-20T10:00:00Z", "2026-11-20T11:00:00.5Z", "2026-11-21T01:00:00Z"]
    for f in range(3):
        records = []
        for _ in range(700):
            rec = cand(
                f"https://r{rng.randrange(3)}.example/{rng.randrange(40)}",
                source=rng.choice(["s1", "s2", "s3"]),
                fetched=rng.choice([*stamps, "2026-11-20T12:00:00+02:00", None]),
                title=rng.choice(["A", "B", "", None]),
                description=rng.choice(["d", "", None]),
                section=rng.choice(["article", None]),
                published=rng.choice([None, "2026-11-01T00:00:00Z", "2026-11-02"]),
                stars=rng.choice([None, 1, "2", 3.5]),
                language=rng.choice([None, "", "python"]),
                extra=rng.choice([{}, {"history_only": True}, {"history_only": 0}]),
            )
            records.append(rec if rng.random() > 0.03 else "[1]")
        write(raw / f"{f}.jsonl", [*records, fetch("s1", items=f)])
    report = ingest_raw(con, raw)
    sightings, fetches, merged, bad = reference(sorted(raw.glob("*.jsonl")))
    assert (report.sightings, report.fetch_records, report.candidates, report.bad_rows) == (
        len(sightings),
        len(fetches),
        len(merged),
        bad,
    )
    stored = {
        (r[0], r[1], r[2]): r[3:]
        for r in con.execute(
            "SELECT canonical_url, source, seen_date, seen_ts, title, description, stars, "
            "published FROM sightings"
        ).fetchall()
    }
    assert stored == {
        k: (r["seen_ts"], r["title"], r["description"], r["stars"], r["published"])
        for k, (_, r) in sightings.items()
    }
    cands = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT canonical_url, title, description, section, published, language, "
            "first_seen, last_seen, seen_count FROM candidates"
        ).fetchall()
    }
    assert cands == {
        u: (m["title"], m["description"], m["section"], m["published"], m["language"],
            m["first_seen"], m["last_seen"], m["n"])
        for u, m in merged.items()
    }  # fmt: skip


def test_when_duckdb_and_python_count_lines_differently_python_reads_the_file(
    con, tmp_path, monkeypatch, caplog
):
    raw = tmp_path / "raw"
    write(
        raw / "x.jsonl", [cand("https://a.example/1"), "not an object", cand("https://a.example/2")]
    )
    real = store._python_pass

    def miscounting(path, wanted):
        count, rows, bad = real(path, wanted)
        return (count + 1 if wanted is not None else count), rows, bad

    monkeypatch.setattr(store, "_python_pass", miscounting)
    report = ingest_raw(con, raw)
    assert (report.sightings, report.bad_rows) == (2, 1)
    assert "read by Python" in caplog.text
    assert "skip x.jsonl line 2: not a JSON object" in caplog.text


def test_ingest_settings_follow_the_address_space_limit(tmp_path):
    code = (
        "import resource, sys\n"
        "from ranking import store\n"
        "con = store.connect(sys.argv[1])\n"
        "if sys.argv[2] == 'limited':\n"
        "    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, resource.RLIM_INFINITY))\n"
        "store._bound_resources(con)\n"
        "print(*con.execute(\"SELECT current_setting('threads'), "
        "current_setting('memory_limit'), current_setting('force_compression')\").fetchone())\n"
    )
    out = {}
    for mode in ("limited", "free"):
        proc = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / f"{mode}.duckdb"), mode],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
            check=True,
        )
        out[mode] = proc.stdout.split()
    # Under an address-space limit (the nightly crawl): one thread, a quarter for data.
    assert out["limited"][0] == "1" and out["limited"][1:3] == ["1.0", "GiB"]
    assert out["free"][1:3] == ["2.0", "GiB"]
    assert out["limited"][3] == out["free"][3] == store.INGEST_COMPRESSION


def test_compressed_raw_files_are_read_like_plain_ones(con, tmp_path, caplog):
    """OPERATIONS: ingested raw files may be compressed; a rebuild reads them too."""
    import gzip

    raw = tmp_path / "raw"
    plain = write(raw / "20261119-100000-r0.jsonl", [cand("https://a.example/0", run_id="r0")])
    records = [cand("https://a.example/1"), cand("https://a.example/2"), fetch("feed-a")]
    packed = raw / "20261120-100000-r1.jsonl.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)
    report = ingest_raw(con, raw)
    assert (report.files, report.sightings, report.fetch_records) == (2, 3, 1)
    assert counts(con) == {"candidates": 3, "sightings": 3, "fetch_log": 1, "raw_files": 2}
    assert ingest_raw(con, raw).already == 2
    # A damaged archive: the lines before the damage load, the rest is one named bad row.
    cut = raw / "20261121-100000-r2.jsonl.gz"
    whole = gzip.compress(
        b"".join(json.dumps(cand(f"https://b.example/{i}")).encode() + b"\n" for i in range(400))
    )
    cut.write_bytes(whole[: len(whole) // 2])
    plain.unlink()
    report = ingest_raw(con, raw)
    assert report.files == 1 and report.bad_rows == 1 and 0 < report.sightings < 400
    assert f"skip {cut.name} line {report.sightings + 1}: unreadable from here on" in caplog.text


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (duckdb.InterruptException, "INTERRUPT Error: Interrupted!"),
        (RuntimeError, "Query interrupted"),
    ],
    ids=["interrupt-exception", "runtime-error"],
)
def test_ctrl_c_inside_an_ingest_query_is_a_keyboard_interrupt(
    tmp_path, monkeypatch, kind, message
):
    """DuckDB reports Ctrl-C in a query as one of these; the CLIs print one line for it.

    A fresh exception each time: one kept by the parameters would keep its traceback, and
    the connection in it, alive until the interpreter exits."""

    def interrupted(con, raw_dir):
        raise kind(message)

    monkeypatch.setattr(store, "ingest_raw", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ingest_pending(tmp_path / "radar.duckdb", tmp_path)


def test_a_newsletter_link_that_failed_once_joins_the_item_it_led_to(con, tmp_path):
    from ranking.pool import merge_sightings

    raw = tmp_path / "raw"
    link = "https://pycoders.example/link/2/web"
    night = {"source": "pycoders", "kind": "newsletter", "title": "Beta article about typing"}
    write(  # night 1: the redirect failed, the item is stored under its link
        raw / "20261119-100000-r0.jsonl",
        [cand(link, fetched="2026-11-19T10:00:00Z", run_id="r0", **night)],
    )
    write(  # night 2: it resolved; the link is kept in extra.redirect_from
        raw / "20261120-100000-r1.jsonl",
        [
            cand(
                "https://example.org/beta",
                fetched="2026-11-20T10:00:00Z",
                extra={"redirect_from": link},
                **night,
            ),
            cand("https://example.org/other", title="Another story entirely"),
        ],
    )
    ingest_raw(con, raw)
    frame = store.sightings_frame(con, dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert sorted(frame["canonical_url"]) == [
        "https://example.org/beta",
        "https://example.org/beta",
        "https://example.org/other",
    ]
    assert set(frame.loc[frame["canonical_url"].str.endswith("beta"), "url"]) == {
        "https://example.org/beta"
    }
    pool = merge_sightings(frame)
    beta = pool[pool["canonical_url"] == "https://example.org/beta"]
    assert len(pool) == 2 and len(beta) == 1
    assert str(beta["first_seen"].iloc[0])[:10] == "2026-11-19"


def test_the_article_pages_own_title_beats_a_title_made_from_its_url(con, tmp_path):
    """A sitemap source titles its candidates from the URL's slug; the article page,
    fetched after it, gives the real title: that one is what `rank candidates` and the
    pool (so the shortlist) show, whatever the alphabet, also on a later night when only
    the sitemap saw the URL."""
    from ranking.pool import merge_sightings

    url = "https://blog.example/2026/11/aaa-slug/"
    slug = {"title_from": "url", "date_from": "url"}
    page = "Zen and the art of the real title"  # sorts after the slug's "Aaa slug"
    raw = tmp_path / "raw"
    write(
        raw / "night1.jsonl",
        [
            cand(url, source="blog", kind="sitemap", title="Aaa slug", extra=slug),
            cand(url, source="_article_pages", fetched="2026-11-20T10:00:05Z", title=page),
        ],
    )
    ingest_raw(con, raw)
    assert store.candidates_listing(con)["title"].tolist() == [page]
    day = dt.date(2026, 11, 20)
    window = store.sightings_frame(con, day, day)
    assert dict(zip(window["source"], window["title_from_url"], strict=True)) == {
        "_article_pages": False,
        "blog": True,
    }
    assert merge_sightings(window)["title"].tolist() == [page]
    # The next night the page is not fetched (the per-host cap): the sitemap's newer
    # sighting does not put the slug back in the pool.
    write(
        raw / "night2.jsonl",
        [
            cand(
                url,
                source="blog",
                fetched="2026-11-21T10:00:00Z",
                kind="sitemap",
                title="Aaa slug",
                extra=slug,
            )
        ],
    )
    ingest_raw(con, raw)
    window = store.sightings_frame(con, day, day + dt.timedelta(days=1))
    assert merge_sightings(window)["title"].tolist() == [page]
