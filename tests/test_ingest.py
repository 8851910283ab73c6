"""ingest_raw: raw JSONL -> candidates, sightings, fetch_log; idempotent, robust per row."""

from __future__ import annotations

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
