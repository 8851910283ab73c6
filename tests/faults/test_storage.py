"""Storage (RELIABILITY 2.4): locks, kill -9, idempotence, bad rows, versions, disk full, WAL.

Every case uses separate processes where the catalogue does (DuckDB locks are per
process): a holder subprocess, the real `rank`/`crawl` CLIs, and tests/faults/
ingest_child.py killed with SIGKILL at seeded random moments (G8).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from faults.conftest import PY, REPO, _env, hold_db, one_line_error, release, run_cli
from faults.ingest_child import BATCH_ROWS, batch_records
from faults.report import figure

HERE = Path(__file__).resolve().parent


def write_raw(raw: Path, name: str, records: list[dict]) -> Path:
    raw.mkdir(parents=True, exist_ok=True)
    path = raw / name
    with path.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=True) + "\n")
    return path


def cand(url: str, **kw) -> dict:
    rec = {
        "type": "candidate",
        "run_id": "r1",
        "source": "src-a",
        "kind": "feed",
        "fetched_at": "2026-11-20T10:00:00Z",
        "url": url,
        "canonical_url": url,
        "title": "A title",
        "section": "article",
    }
    rec.update(kw)
    return rec


def counts(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("candidates", "sightings", "fetch_log", "raw_files")
        }
    finally:
        con.close()


def ingest(db: Path, raw: Path):
    from ranking.store import ingest_pending

    return ingest_pending(db, raw)


# --- G8: kill -9 at random points of ingestion --------------------------------------------

ROUNDS = 20
SEED = 20261121


def kill_rounds(db: Path, raw: Path, rounds: int, seed: int) -> dict[str, int]:
    """`rounds` times: start the ingest child, SIGKILL it at a random moment, check the store."""
    rng = random.Random(seed)
    next_batch, acked = 0, set()
    tally = {"rounds": 0, "mid_ingest": 0, "lost": 0, "duplicates": 0, "partial": 0}
    for _round in range(rounds):
        proc = subprocess.Popen(
            [PY, str(HERE / "ingest_child.py"), str(db), str(raw), str(next_batch)],
            cwd=REPO,
            env=_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(rng.uniform(0.02, 0.5))
        os.kill(proc.pid, signal.SIGKILL)
        out = proc.stdout.read()
        proc.stdout.close()
        proc.wait()
        tally["rounds"] += 1
        acked |= {int(line.split()[1]) for line in out.splitlines() if line.startswith("ACK")}
        written = sorted(int(p.stem.split("-")[1]) for p in raw.glob("batch-*.jsonl"))
        if written and written[-1] not in acked:
            tally["mid_ingest"] += 1
        if not db.exists():
            continue
        # Reopen at once (read-only, as a notebook would): the committed state.
        con = duckdb.connect(str(db), read_only=True)
        try:
            migrated = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'sightings'"
            ).fetchone()[0]
            if not migrated:
                # Killed while the first migration ran: it rolled back, nothing was acked.
                assert not acked
                continue
            per_batch = dict(
                con.execute("SELECT run_id, count(*) FROM sightings GROUP BY run_id").fetchall()
            )
            dup = con.execute(
                "SELECT count(*) - count(DISTINCT canonical_url) FROM candidates"
            ).fetchone()[0]
            ledger = dict(con.execute("SELECT path, rows FROM raw_files").fetchall())
        finally:
            con.close()
        tally["lost"] += sum(1 for n in acked if per_batch.get(f"kill-{n:05d}", 0) != BATCH_ROWS)
        tally["partial"] += sum(1 for v in per_batch.values() if v not in (0, BATCH_ROWS))
        tally["duplicates"] += dup
        # Every file in the ledger is fully in the store (the ledger commits with the rows).
        for path in ledger:
            n = int(Path(path).stem.split("-")[1])
            assert per_batch.get(f"kill-{n:05d}") == BATCH_ROWS, path
        next_batch = (written[-1] + 1) if written else next_batch
    return tally


@pytest.mark.case("S3", "S4", "G8")
def test_g8_kill_9_during_ingestion_loses_nothing_committed(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    lanes = [(tmp_path / f"lane{i}", SEED + i) for i in range(2)]  # two stores side by side
    with ThreadPoolExecutor(2) as pool:
        tallies = list(
            pool.map(
                lambda lane: kill_rounds(
                    lane[0] / "radar.duckdb", lane[0] / "raw", ROUNDS // 2, lane[1]
                ),
                lanes,
            )
        )
    total = {k: sum(t[k] for t in tallies) for k in tallies[0]}
    files_total = 0
    for root, _seed in lanes:
        db, raw = root / "radar.duckdb", root / "raw"
        # The same night re-run: everything written lands, once.
        report = ingest(db, raw)
        assert not report.pending
        after = counts(db)
        files = len(list(raw.glob("batch-*.jsonl")))
        files_total += files
        assert after["sightings"] == files * BATCH_ROWS
        assert after["candidates"] == files * BATCH_ROWS
        again = ingest(db, raw)
        assert again.files == 0 and counts(db) == after
    lost, duplicates, partial = total["lost"], total["duplicates"], total["partial"]
    figure(
        "G8",
        f"{total['rounds']} kill -9 at seeded random points ({total['mid_ingest']} with a "
        f"batch written but not yet acknowledged): {lost} committed batches lost, "
        f"{duplicates} duplicates, {partial} partial batches; re-run of the night: "
        f"{files_total} files land once, a second re-run changes no count",
        ok=lost == duplicates == partial == 0 and total["rounds"] >= 20,
    )
    assert lost == duplicates == partial == 0


# --- S1, S2, G16: busy database ------------------------------------------------------------


@pytest.fixture
def store_db(tmp_path) -> Path:
    db, raw = tmp_path / "radar.duckdb", tmp_path / "raw"
    write_raw(raw, "first.jsonl", [cand(f"https://s.example/{i}") for i in range(5)])
    assert ingest(db, raw).files == 1
    return db


@pytest.mark.case("S1", "J6")
def test_s1_second_writer_gets_a_one_line_busy_error_naming_the_pid(store_db):
    holder = hold_db(store_db, read_only=False)
    try:
        before = time.monotonic()
        proc = run_cli("rank", ["history", "--db", str(store_db)])
        took = time.monotonic() - before
    finally:
        release(holder)
    assert proc.returncode == 3
    line = one_line_error(proc, "rank")
    assert "busy" in line and f"PID {holder.pid}" in line
    assert took < 10
    assert counts(store_db)["candidates"] == 5  # nothing written


@pytest.mark.case("S1", "J6")
def test_rank_ingest_into_a_busy_database_is_the_busy_code_and_the_files_wait(store_db):
    raw = store_db.parent / "raw"
    write_raw(raw, "second.jsonl", [cand("https://s.example/new")])
    holder = hold_db(store_db, read_only=False)
    try:
        proc = run_cli("rank", ["ingest", "--db", str(store_db), "--raw-dir", str(raw)])
    finally:
        release(holder)
    assert proc.returncode == 3
    line = one_line_error(proc, "rank")
    assert f"PID {holder.pid}" in line and "nothing ingested" in line
    assert "will land at the next ingest" not in line  # said by the ingest command itself
    later = run_cli("rank", ["ingest", "--db", str(store_db), "--raw-dir", str(raw)])
    assert later.returncode == 0, later.stderr
    assert counts(store_db)["candidates"] == 6


@pytest.mark.case("J2")
def test_rank_names_an_unfinished_raw_file_it_leaves_to_the_crawl(store_db):
    """A `.part` raw file is a crawl still writing, or one killed mid-run: `rank` does not
    read it (only the crawl lock's holder may finish it) but says so, and what to run."""
    raw = store_db.parent / "raw"
    write_raw(raw, "20261122-030000-abcd.jsonl.part", [cand("https://s.example/killed")])
    for args in (["ingest"], ["candidates"]):
        proc = run_cli("rank", [*args, "--db", str(store_db), "--raw-dir", str(raw)])
        assert proc.returncode == 0, proc.stderr
        said = proc.stdout + proc.stderr
        assert (
            f"; 1 unfinished raw file not read: {raw / '20261122-030000-abcd.jsonl.part'} "
            "(a crawl still writing, or one killed mid-run: `crawl ingest` recovers it)\n"
        ) in said, said
    assert counts(store_db)["candidates"] == 5
    proc = run_cli("crawl", ["ingest", "--data-dir", str(store_db.parent)])
    assert proc.returncode == 0, proc.stderr
    assert counts(store_db)["candidates"] == 6
    proc = run_cli("rank", ["ingest", "--db", str(store_db), "--raw-dir", str(raw)])
    assert "unfinished" not in proc.stdout + proc.stderr


@pytest.mark.case("S1", "J6")
def test_crawl_ingest_into_a_busy_database_exits_75_and_the_files_wait(store_db):
    """Unlike the nightly crawl (busy is not an error there), `crawl ingest` only ingests:
    `crawl ingest && rank …` must not take "nothing ingested" for a success."""
    data = store_db.parent  # radar.duckdb and raw/, as under a --data-dir
    write_raw(data / "raw", "second.jsonl", [cand("https://s.example/new")])
    holder = hold_db(store_db, read_only=False)
    try:
        proc = run_cli("crawl", ["ingest", "--data-dir", str(data)])
    finally:
        release(holder)
    assert proc.returncode == 75
    line = one_line_error(proc, "crawl")
    assert "busy" in line and f"PID {holder.pid}" in line and "nothing ingested" in line
    assert counts(store_db)["candidates"] == 5
    later = run_cli("crawl", ["ingest", "--data-dir", str(data)])
    assert later.returncode == 0, later.stderr
    assert counts(store_db)["candidates"] == 6


@pytest.mark.case("S1", "J6")
def test_a_rank_command_that_ingests_first_says_busy_in_one_line(store_db):
    """`rank --week` and `rank candidates` ingest first: a database busy for that ingest
    is busy for the command too, and its error is the only line (the raw folder holds
    nothing pending). A reader (a notebook) still lets `rank candidates` read."""
    db = ["--db", str(store_db)]
    holder = hold_db(store_db, read_only=False)
    try:
        runs = [
            run_cli("rank", ["--week", "2026-W47", "--format", "md", *db]),
            run_cli("rank", ["candidates", *db]),
        ]
    finally:
        release(holder)
    for proc in runs:
        assert proc.returncode == 3, proc.stderr
        line = one_line_error(proc, "rank")
        assert proc.stderr.splitlines() == [line] and f"PID {holder.pid}" in line
    reader = hold_db(store_db, read_only=True)
    try:
        listing = run_cli("rank", ["candidates", "--format", "csv", *db])
    finally:
        release(reader)
    assert listing.returncode == 0, listing.stderr
    assert listing.stderr.startswith("rank: database busy, data will land at the next ingest")
    assert len(listing.stdout.splitlines()) == 6  # header + the 5 stored candidates


def test_rank_ingest_names_each_bad_line_and_exits_1(tmp_path):
    db, raw = tmp_path / "radar.duckdb", tmp_path / "raw"
    path = write_raw(raw, "night.jsonl", [cand("https://s.example/1"), cand("https://s.example/2")])
    path.write_text(path.read_text("utf-8") + "{torn", "utf-8")
    proc = run_cli("rank", ["ingest", "--db", str(db), "--raw-dir", str(raw)])
    assert proc.returncode == 1
    assert "skip night.jsonl line 3: " in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout.strip().endswith("2 sightings, 2 new candidates, 1 bad rows skipped")


def test_crawl_ingest_and_rank_ingest_give_the_same_code_for_a_bad_line(tmp_path):
    """The same raw folder with one torn line: `crawl ingest` exited 0, `rank ingest` 1."""
    raw = tmp_path / "raw"
    path = write_raw(raw, "night.jsonl", [cand("https://s.example/1"), cand("https://s.example/2")])
    path.write_text(path.read_text("utf-8") + "{torn", "utf-8")
    rank = run_cli("rank", ["ingest", "--db", str(tmp_path / "r.duckdb"), "--raw-dir", str(raw)])
    crawl = run_cli(
        "crawl", ["ingest", "--data-dir", str(tmp_path), "--db", str(tmp_path / "c.duckdb")]
    )
    assert (crawl.returncode, rank.returncode) == (1, 1), crawl.stderr
    for proc in (crawl, rank):
        assert "skip night.jsonl line 3: " in proc.stderr and "Traceback" not in proc.stderr
        assert proc.stdout.strip().endswith("2 sightings, 2 new candidates, 1 bad rows skipped")


@pytest.mark.case("S2", "G16")
def test_s2_notebook_read_only_connection_blocks_rank_with_the_busy_code(store_db):
    holder = hold_db(store_db, read_only=True)
    try:
        proc = run_cli("rank", ["history", "--db", str(store_db)])
    finally:
        release(holder)
    assert proc.returncode == 3
    line = one_line_error(proc, "rank")
    assert f"PID {holder.pid}" in line and "close notebooks" in line


@pytest.mark.case("S2", "G16", "J6")
def test_g16_nightly_against_a_notebook_held_db_keeps_data_that_lands_later(fault_server, tmp_path):
    from faults.conftest import run_crawl
    from ranking.store import connect

    srcs = [("nb-src", "feed", f"{fault_server.base}/fixture/feeds/healthy-rss.xml")]
    db = tmp_path / "a" / "data" / "radar.duckdb"
    connect(db).close()  # the store exists, as after any earlier night
    holder = hold_db(db, read_only=True)
    try:
        busy = run_crawl(tmp_path / "a", [("nb-src2", "feed", srcs[0][2])])
    finally:
        release(holder)
    assert busy.returncode == 0  # the crawl itself succeeded
    assert "database busy, data will land at the next ingest" in busy.stderr
    assert f"PID {holder.pid}" in busy.stderr
    assert "Traceback" not in busy.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        assert (
            con.execute("SELECT count(*) FROM sightings WHERE source='nb-src2'").fetchone()[0] == 0
        )
    later = run_cli("crawl", ["ingest", "--data-dir", str(tmp_path / "a" / "data")])
    assert later.returncode == 0, later.stderr[-2000:]
    with duckdb.connect(str(db), read_only=True) as con:
        landed = con.execute("SELECT count(*) FROM sightings WHERE source='nb-src2'").fetchone()[0]
    assert landed == 3
    figure(
        "G16",
        f"notebook-held DB: crawl exit 0 + busy message naming the PID; {landed} of 3 items landed at the next ingest",
        landed == 3,
    )


@pytest.mark.case("S5")
def test_s5_same_key_twice_in_one_batch_latest_fetch_wins(tmp_path):
    db, raw = tmp_path / "radar.duckdb", tmp_path / "raw"
    write_raw(
        raw,
        "dup.jsonl",
        [
            cand("https://dup.example/x", title="Newer", fetched_at="2026-11-20T12:00:00Z"),
            cand("https://dup.example/x", title="Older", fetched_at="2026-11-20T08:00:00Z"),
        ],
    )
    ingest(db, raw)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT title FROM sightings").fetchall()
        title = con.execute("SELECT title FROM candidates").fetchone()[0]
    assert rows == [("Newer",)] and title == "Newer"


@pytest.mark.case("S6")
def test_s6_null_or_empty_keys_are_skipped_and_counted(tmp_path, caplog):
    db, raw = tmp_path / "radar.duckdb", tmp_path / "raw"
    write_raw(
        raw,
        "bad.jsonl",
        [
            cand("https://good.example/1"),
            cand("", canonical_url=None),
            cand("   ", canonical_url="   "),
            cand("https://good.example/2", source=None),
            cand("https://good.example/3"),
        ],
    )
    with (raw / "bad.jsonl").open("a") as fh:
        fh.write("{not json\n")
    report = ingest(db, raw)
    assert report.bad_rows == 4
    assert counts(db)["candidates"] == 2
    assert any("skip" in r.message for r in caplog.records)


@pytest.mark.case("S7", "G14")
def test_s7_lone_surrogates_and_controls_never_reach_the_store(tmp_path):
    db, raw = tmp_path / "radar.duckdb", tmp_path / "raw"
    write_raw(
        raw,
        "sur.jsonl",
        [
            cand("https://sur.example/1", title="lone \ud800 surrogate"),
            cand("https://sur.example/2", title="ok", description="half \udfff pair"),
        ],
    )
    assert ingest(db, raw).bad_rows == 0
    bad = scan_db_text(db)
    figure("G14", f"store after lone-surrogate rows: {bad} bad characters in text columns", not bad)
    assert bad == 0


def scan_db_text(db: Path) -> int:
    """Lone surrogates, C0 controls (not \\t \\n) and bidi controls in candidates/sightings."""
    import re

    pattern = re.compile("[\ud800-\udfff\x00-\x08\x0b-\x1f\u202a-\u202e\u2066-\u2069]")
    bad = 0
    with duckdb.connect(str(db), read_only=True) as con:
        for table in ("candidates", "sightings"):
            for title, desc in con.execute(f"SELECT title, description FROM {table}").fetchall():
                for text in (title, desc):
                    if text and pattern.search(text):
                        bad += 1
    return bad


@pytest.mark.case("S8", "J6")
def test_s8_a_database_from_a_newer_duckdb_is_refused_in_one_line(store_db, tmp_path):
    with duckdb.connect(str(store_db)) as con:
        con.execute("UPDATE meta SET value = '99.0.0' WHERE key = 'duckdb_version'")
    proc = run_cli("rank", ["history", "--db", str(store_db)])
    assert proc.returncode == 3
    assert "newer" in one_line_error(proc, "rank")
    crawl = run_cli("crawl", ["ingest", "--data-dir", str(tmp_path), "--db", str(store_db)])
    assert crawl.returncode == 3
    assert "store unavailable" in one_line_error(crawl, "crawl")


@pytest.mark.case("S8")
def test_s8_a_newer_schema_is_refused(store_db):
    with duckdb.connect(str(store_db)) as con:
        con.execute("INSERT INTO schema_migrations VALUES (999, 'future', now()::TIMESTAMP)")
    proc = run_cli("rank", ["history", "--db", str(store_db)])
    assert proc.returncode == 3
    assert "schema version 999" in one_line_error(proc, "rank")


@pytest.mark.case("S9", "G16")
def test_s9_snapshot_is_the_committed_state_never_a_half_copy(tmp_path):
    from ranking.errors import StoreBusyError
    from ranking.store import snapshot

    db = tmp_path / "snap.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE t (i INTEGER)")
        con.execute("INSERT INTO t SELECT * FROM range(1000)")
        con.execute("CHECKPOINT")
    writer = hold_db(db, read_only=False, rows=500)  # 500 more, committed, in the WAL
    try:
        with pytest.raises(StoreBusyError):
            snapshot(db, attempts=2, wait=0.05)  # never a copy of a file being written
    finally:
        release(writer)
    snap = snapshot(db)
    try:
        n = snap.execute("SELECT count(*) FROM t").fetchone()[0]
    finally:
        snap.close()
    figure(
        "G16", f"notebook snapshot after the writer closed: {n} of 1,500 committed rows", n == 1500
    )
    assert n == 1500


@pytest.mark.case("S10")
def test_s10_disk_full_during_ingest_leaves_the_previous_state_intact(tmp_path):
    db, raw = tmp_path / "radar.duckdb", tmp_path / "raw"
    for n in range(300):
        write_raw(raw, f"batch-{n:05d}.jsonl", batch_records(n))
    write_raw(raw, "batch-00000.jsonl", batch_records(0))
    (raw / "later").mkdir()
    for p in sorted(raw.glob("batch-*.jsonl"))[1:]:
        p.rename(raw / "later" / p.name)
    ingest(db, raw)
    before = counts(db)
    for p in (raw / "later").iterdir():
        p.rename(raw / p.name)
    proc = disk_full_ingest(db, raw)
    assert proc.returncode != 0
    assert counts(db) == before  # the transaction aborted; nothing half-written
    ok = ingest(db, raw)  # space is back: the files land
    assert counts(db)["sightings"] == 300 * BATCH_ROWS and ok.files == 299


def disk_full_ingest(db: Path, raw: Path) -> subprocess.CompletedProcess:
    pre = (
        "import resource, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))"
    )
    return run_cli("rank", ["ingest", "--db", str(db), "--raw-dir", str(raw)], pre=pre)


@pytest.mark.case("S10", "G2")
def test_s10_disk_full_is_a_one_line_error(tmp_path):
    db, raw = tmp_path / "radar.duckdb", tmp_path / "raw"
    for n in range(300):
        write_raw(raw, f"batch-{n:05d}.jsonl", batch_records(n))
    proc = disk_full_ingest(db, raw)
    assert proc.returncode == 3
    one_line_error(proc, "rank")


@pytest.mark.case("S11")
def test_s11_truncated_wal_replays_whole_transactions_only(tmp_path):
    db = tmp_path / "w.duckdb"
    code = (
        "import duckdb, sys\n"
        f"con = duckdb.connect({str(db)!r})\n"
        "con.execute(\"SET checkpoint_threshold='1GB'\")\n"
        "con.execute('CREATE TABLE t (i INTEGER PRIMARY KEY, s VARCHAR)')\n"
        "for b in range(10):\n"
        "    con.execute('BEGIN')\n"
        "    con.execute(\"INSERT INTO t SELECT range + ?, repeat('x', 100) FROM range(1000)\", [b * 1000])\n"
        "    con.execute('COMMIT')\n"
        "print('DONE', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [PY, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "DONE"
    proc.kill()
    proc.wait()
    proc.stdin.close()
    proc.stdout.close()
    wal = Path(str(db) + ".wal")
    data = wal.read_bytes()
    for cut in (len(data) - 10, len(data) // 2, len(data) // 3):
        copy = tmp_path / f"cut{cut}.duckdb"
        copy.write_bytes(db.read_bytes())
        Path(str(copy) + ".wal").write_bytes(data[:cut])
        with duckdb.connect(str(copy)) as con:
            n = con.execute("SELECT count(*) FROM t").fetchone()[0]
        assert n % 1000 == 0 and n < 10_000  # whole transactions, the cut one dropped


@pytest.mark.case("S11", "J6")
def test_s11_corrupt_wal_is_a_one_line_store_error_with_a_documented_recovery(store_db):
    wal = Path(str(store_db) + ".wal")
    holder = hold_db(store_db, read_only=False)  # nothing
    release(holder)
    with duckdb.connect(str(store_db)) as con:
        con.execute("SET checkpoint_threshold='1GB'")
        con.execute(
            "CREATE TABLE filler AS SELECT range AS i, repeat('y', 200) AS s FROM range(5000)"
        )
        # leave the WAL behind: copy the files while the connection is open
        db_bytes, wal_bytes = store_db.read_bytes(), wal.read_bytes()
    store_db.write_bytes(db_bytes)
    broken = bytearray(wal_bytes)
    mid = len(broken) // 2
    broken[mid : mid + 64] = b"\xff" * 64
    wal.write_bytes(bytes(broken))
    proc = run_cli("rank", ["history", "--db", str(store_db)])
    assert proc.returncode == 3
    assert "cannot open database" in one_line_error(proc, "rank")
    ops = (REPO / "docs" / "OPERATIONS.md").read_text("utf-8")
    assert "pre-run" in ops and ".wal" in ops
