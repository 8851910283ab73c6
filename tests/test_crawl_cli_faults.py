"""The real `crawl` command in subprocesses, over loopback: signals after the crawl, the
quiet-nights alert, a full disk, a raw file that cannot be renamed.

Same set-up as tests/test_crawl_e2e.py (its helpers, crawler.replay on 127.0.0.1, the
socket guard on); no ../shared data needed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from crawler.replay import ReplayServer
from tests.test_crawl_e2e import ONE_FEED, REPO, TWO_FEEDS, _env, _feed, crawl

pytestmark = pytest.mark.slow

BULK_LINES = 150_000  # a pending raw file whose ingest takes a second or more


@pytest.fixture
def web():
    server = ReplayServer(None)
    server.start()
    server.add_route("/feed.xml", body=_feed(5, "https://one.example"))
    yield server
    server.stop()


def one_feed(tmp_path: Path, server: ReplayServer) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(ONE_FEED.format(url=server.url("/feed.xml")), "utf-8")
    return path


def bulk_raw_file(raw: Path, lines: int = BULK_LINES) -> None:
    """A raw file of an older run still waiting for its ingest."""
    raw.mkdir(parents=True, exist_ok=True)
    with (raw / "20000101-000000-bulk0000.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(lines):
            url = f"https://bulk.example/{i}"
            rec = {
                "type": "candidate",
                "run_id": "bulk0000",
                "source": "bulk",
                "kind": "feed",
                "fetched_at": "2000-01-01T00:00:00Z",
                "url": url,
                "canonical_url": url,
                "title": f"Bulk item {i}",
            }
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")


def ingested(db: Path) -> tuple[int, int]:
    """(raw files in the ledger, sightings); (0, 0) for a database not created yet (a signal
    before the ingest opened it, on a loaded machine) or without a schema yet."""
    if not db.exists():
        return (0, 0)
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "raw_files" not in tables:
            return (0, 0)
        files = con.execute("SELECT count(*) FROM raw_files").fetchone()[0]
        return files, con.execute("SELECT count(*) FROM sightings").fetchone()[0]
    finally:
        con.close()


def interrupt_when(args: list[str], base: str, ready, sig: int) -> subprocess.CompletedProcess:
    """Start `crawl ARGS`, send `sig` 0.3 s after `ready()` holds, wait for the end."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", *args],
        cwd=REPO,
        env=_env(base),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the command ended before it could be interrupted"
        time.sleep(0.3)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def assert_one_interrupted_line(result: subprocess.CompletedProcess, name: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [x for x in result.stderr.splitlines() if x.startswith("crawl: interrupted")]
    assert lines == [
        f"crawl: interrupted ({name}); nothing was half-written: pending raw files are "
        "kept and land at the next ingest"
    ], result.stderr[-3000:]


# --- 1. a signal during the crawl: said at once, named in the summary, exit 1 -----------------

REPOS = 12


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_crawl_is_said_at_once_and_the_cut_is_named(web, tmp_path, sig):
    # Scrapy stopped gracefully without a word: the GitHub requests the feed's links would
    # have made were dropped, and the run said "2 ok", exit 0, and counted as a night.
    links = "".join(
        f'<entry><title>r{i}</title><link href="https://github.com/o/r{i}"/>'
        f"<id>t{i}</id><updated>2026-11-20T00:00:00Z</updated></entry>"
        for i in range(REPOS)
    )
    feed = f'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>{links}</feed>'
    web.add_route("/repos.atom", body=feed, delay=2.0)  # the signal comes while it waits
    for i in range(REPOS):
        web.add_route(f"/api/repos/o/r{i}", body=json.dumps({"full_name": f"o/r{i}"}))
    srcs = tmp_path / "sources.toml"
    srcs.write_text(
        ONE_FEED.format(url=web.url("/feed.xml"))
        + ONE_FEED.format(url=web.url("/repos.atom")).replace("local-feed", "repos"),
        "utf-8",
    )
    data = tmp_path / "data"
    args = ["--sources", str(srcs), "--data-dir", str(data), "--progress", "never"]

    def waiting() -> bool:
        return web.hits("/repos.atom") > 0

    result = interrupt_when(args, web.base_url, waiting, sig)
    name = signal.Signals(sig).name
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    err = result.stderr.splitlines()
    again = "press Ctrl-C again" if sig == signal.SIGINT else "send SIGTERM again"
    said = f"crawl: interrupted ({name}): finishing what is in flight; {again} to stop now"
    assert err.count(said) == 1, result.stderr[-3000:]
    # At once: before the answer in flight (2 s after the request) was parsed.
    assert err.index(said) < next(i for i, x in enumerate(err) if "source repos: ok" in x)
    cut = err.index(
        f"crawl: interrupted ({name}): this run is incomplete (not counted as a night); cut short:"
    )
    assert err[cut + 1] == f"  _github_api: {REPOS} requests not sent"
    assert not any(r.path.startswith("/api/") for r in web.requests)
    # Everything fetched is kept: the raw file is whole and ingested, but it is no night.
    assert "crawl: 2 sources: 2 ok, 0 not modified, 0 failed; 17 items" in result.stdout
    (raw,) = (data / "raw").glob("*.jsonl")
    assert '"type":"run_end"' in raw.read_text("utf-8")
    assert ingested(data / "radar.duckdb") == (1, 5 + REPOS)
    assert not (data / "nights.json").exists()


# --- 2. a signal once the spiders are done stops the ingest -----------------------------------


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_the_ingest_after_a_crawl_stops_it(web, tmp_path, sig, code):
    data = tmp_path / "data"
    bulk_raw_file(data / "raw")
    args = ["--sources", str(one_feed(tmp_path, web)), "--data-dir", str(data)]

    def crawled() -> bool:  # this run's raw file has its trailer: the spiders are done
        files = [p for p in (data / "raw").glob("*.jsonl") if "bulk" not in p.name]
        return bool(files) and '"type":"run_end"' in files[0].read_text("utf-8")

    result = interrupt_when([*args, "--progress", "never"], web.base_url, crawled, sig)
    assert result.returncode == code, result.stderr[-3000:]
    assert_one_interrupted_line(result, signal.Signals(sig).name)
    assert ingested(data / "radar.duckdb") == (0, 0)  # the transaction rolled back
    assert not (data / "nights.json").exists()  # an interrupted run is no night
    later = crawl(["ingest", "--data-dir", str(data)], web.base_url)
    assert later.returncode == 0, later.stderr[-3000:]
    assert ingested(data / "radar.duckdb") == (2, BULK_LINES + 5)  # both files landed


# --- 3. Ctrl-C in `crawl ingest` ---------------------------------------------------------------


def test_ctrl_c_during_crawl_ingest_is_one_line_and_exit_130(tmp_path):
    data = tmp_path / "data"
    bulk_raw_file(data / "raw")
    db = data / "radar.duckdb"
    result = interrupt_when(
        ["ingest", "--data-dir", str(data)], "http://127.0.0.1:9", db.exists, signal.SIGINT
    )
    assert result.returncode == 130, result.stderr[-3000:]
    assert_one_interrupted_line(result, "SIGINT")
    assert "ingested" not in result.stdout + result.stderr
    assert ingested(db) == (0, 0)


# --- 6. the quiet-nights alert counts nights, and only full runs -------------------------------


def test_quiet_nights_count_nights_not_runs(web, tmp_path):
    data = tmp_path / "data"
    srcs = one_feed(tmp_path, web)
    args = ["--sources", str(srcs), "--data-dir", str(data)]
    nights = data / "nights.json"

    for run in range(3):  # three runs on one night: the first brought the 5 items
        result = crawl(args, web.base_url)
        assert result.returncode == 0, (run, result.stderr[-3000:])
        assert "alert" not in result.stderr
    recorded = json.loads(nights.read_text("utf-8"))
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert [(r["night"], r["new_items"]) for r in recorded] == [(today, 5), (today, 0), (today, 0)]

    retry = crawl([*args, "--source", "local-feed"], web.base_url)  # a retry of one source
    assert retry.returncode == 0, retry.stderr[-3000:]
    none = tmp_path / "none.toml"  # every source disabled: nothing runs
    none.write_text(srcs.read_text("utf-8") + "enabled = false\n", "utf-8")
    empty = crawl(["--sources", str(none), "--data-dir", str(data)], web.base_url)
    assert empty.returncode == 0, empty.stderr[-3000:]
    assert "0 sources" in empty.stdout
    assert json.loads(nights.read_text("utf-8")) == recorded  # neither is a night

    # Yesterday was quiet too: tonight's quiet run makes two quiet nights in a row.
    day = datetime.now(UTC).date()
    earlier = [
        {"run": "r1", "at": "x", "night": str(day - timedelta(days=2)), "new_items": 5},
        {"run": "r2", "at": "x", "night": str(day - timedelta(days=1)), "new_items": 0},
        {"run": "r3", "at": "x", "night": str(day - timedelta(days=1)), "new_items": 0},
    ]
    nights.write_text(json.dumps(earlier), "utf-8")
    alert = crawl(args, web.base_url)
    assert alert.returncode == 4, alert.stderr[-3000:]
    assert [x for x in alert.stderr.splitlines() if "alert" in x] == [
        f"crawl: alert: no new items for 2 nights in a row; check the sources "
        f"(crawl status --data-dir {data} --sources {srcs})"
    ]


# --- 7. a full disk while writing the raw file -------------------------------------------------


def test_disk_full_while_writing_the_raw_file_is_exit_3_in_a_few_lines(web, tmp_path):
    web.add_route("/one.xml", body=_feed(200, "https://one.example"))
    web.add_route("/two.xml", body=_feed(200, "https://two.example"))
    srcs = tmp_path / "sources.toml"
    srcs.write_text(TWO_FEEDS.replace("{base}", web.base_url), "utf-8")
    data = tmp_path / "data"
    # A file size limit stands in for a full disk: the write fails with an OSError.
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))\n"
        "from crawler.cli import main\n"
        "sys.exit(main(sys.argv[1:]))"
    )
    result = crawl(["--sources", str(srcs), "--data-dir", str(data)], web.base_url, code=code)
    assert result.returncode == 3, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert len(result.stderr) < 20_000  # was ~200 KB: every batch logged in full
    raw = next((data / "raw").glob("*.jsonl"))
    errors = [x for x in result.stderr.splitlines() if x.startswith("crawl: error:")]
    assert len(errors) == 1 and errors[0].startswith(f"crawl: error: cannot write {raw}: ")
    assert not (data / "crawl-state.json").exists()  # no validators for unwritten items
    assert not (data / "radar.duckdb").exists()


# --- 8. the raw file cannot be given its final name --------------------------------------------

# The crawl, with every rename of a `.jsonl.part` file failing as in a read-only folder.
RENAME_FAILS = (
    "import errno, pathlib, sys\n"
    "rename = pathlib.Path.rename\n"
    "def failing(self, target):\n"
    "    if self.name.endswith('.jsonl.part'):\n"
    "        raise OSError(errno.EROFS, 'Read-only file system', str(self))\n"
    "    return rename(self, target)\n"
    "pathlib.Path.rename = failing\n"
    "from crawler.cli import main\n"
    "sys.exit(main(sys.argv[1:]))"
)


def test_a_raw_file_that_cannot_be_renamed_is_exit_3_and_the_next_ingest_recovers_it(web, tmp_path):
    data = tmp_path / "data"
    args = ["--sources", str(one_feed(tmp_path, web)), "--data-dir", str(data)]
    result = crawl(args, web.base_url, code=RENAME_FAILS)
    assert result.returncode == 3, result.stderr[-3000:]  # was 0, as if the items were saved
    assert "Traceback" not in result.stderr
    raw = data / "raw"
    (part,) = raw.glob("*.jsonl.part")
    assert not list(raw.glob("*.jsonl"))
    errors = [x for x in result.stderr.splitlines() if x.startswith("crawl: error:")]
    assert errors == [
        f"crawl: error: cannot rename {part} to {part.stem}: Read-only file system; it keeps "
        "its .part name until the next crawl or `crawl ingest` renames and ingests it"
    ]
    assert "1 ok" not in result.stdout  # no summary of a run that looks done

    later = crawl(["ingest", "--data-dir", str(data)], web.base_url)
    assert later.returncode == 0, later.stderr[-3000:]
    assert f"crawl: recovered {raw / part.stem}" in later.stderr
    assert not list(raw.glob("*.part"))
    assert ingested(data / "radar.duckdb") == (1, 5)
