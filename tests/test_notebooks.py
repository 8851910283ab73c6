"""The notebooks execute in a real Jupyter kernel, and the helpers they call are right.

The kernel is this interpreter (`sys.executable`): a kernelspec is written to a temp dir
and handed to nbclient through its own KernelSpecManager, so neither a user-level
`python3` kernelspec nor PATH can swap in another Python. The database is built here:
the sample archive (data/sample/archive) plus a few hundred synthetic sightings, written
as raw crawl JSONL files and loaded by the real ingest (`store.ingest_raw`).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from crawler.urls import canonical_url, project_key
from ranking import cli, explore, store
from ranking.history import import_archive
from tests.conftest import REPO, require_shared

NOTEBOOKS = REPO / "notebooks"
EXECUTE = REPO / "tests" / "fixtures" / "notebooks" / "execute.py"
SAMPLE_ARCHIVE = REPO / "data" / "sample" / "archive"
KERNEL_NAME = "weekly-radar-test"
FIRST_DAY = dt.date(2024, 12, 16)
LAST_DAY = dt.date(2025, 3, 2)  # a Sunday: the latest week is 2025-W09
# Synthetic sources: name -> (kind, section of their items).
SOURCES = {
    "hn:frontpage": ("hackernews", "article"),
    "planetpython": ("feed", "article"),
    "lobsters:python": ("lobsters", "article"),
    "trending:python": ("github_trending", "project"),
    "trending:all": ("github_trending", "project"),
    "youtube:pycon": ("feed", "audio_video"),
    "discuss:python": ("feed", "hot_topic"),
}
# The crawler's follow-up fetches (star snapshots, article pages): they see items a source
# found, and are not sources of their own (the notebooks leave them out).
INTERNAL_SOURCES = {
    "_github_api": ("github_repo", "project"),
    "_article_pages": ("page", "article"),
}
# Where an archive pick is first seen, per section (so yields differ between sources).
PICK_SOURCES = {
    "article": ("planetpython", "hn:frontpage"),
    "project": ("trending:python",),
    "audio_video": ("youtube:pycon",),
    "hot_topic": ("discuss:python", "hn:frontpage"),
}
WORDS = (
    "async", "parser", "cache", "queue", "graph", "schema", "plugin", "vector", "sandbox",
    "tracer", "profiler", "scheduler", "template", "bridge", "compiler", "notebook",
)  # fmt: skip
TOPICS = (
    "type hints", "packaging", "asyncio", "data pipelines", "web scraping", "testing",
    "profiling", "dataframes", "CLI tools", "LLM agents", "free-threading", "SQL",
)  # fmt: skip
AV_HOT = ("audio_video", "hot_topic")
HOSTS = (
    "notes.example.dev", "blog.example.org", "pyweekly.example.net", "til.example.com",
    "engineering.example.io", "jane.example.me",
)  # fmt: skip


# --- the synthetic store --------------------------------------------------------------------


def _record(source: str, day: dt.date, url: str, title: str, position: int, rng) -> dict:
    kind, section = {**SOURCES, **INTERNAL_SOURCES}[source]
    rec = {
        "type": "candidate",
        "run_id": f"run-{day:%Y%m%d}",
        "source": source,
        "kind": kind,
        "fetched_at": f"{day.isoformat()}T06:{position % 60:02d}:00Z",
        "url": url,
        "canonical_url": canonical_url(url),
        "repo_key": project_key(url),
        "title": title,
        "description": f"{title}. A synthetic item for the notebook tests.",
        "section": section,
        "position": position,
        "extra": {},
    }
    if kind == "github_trending":
        rec.update(
            language="python" if source == "trending:python" else rng.choice(["rust", "go"]),
            stars=rng.randint(200, 40_000),
            stars_period=rng.randint(5, 900),
        )
    if kind == "hackernews":
        rec.update(points=rng.randint(5, 600), comments=rng.randint(0, 300))
    return rec


def synthetic_records(con) -> dict[dt.date, list[dict]]:
    """Raw candidate records per day: archive picks seen before their issue, plus fillers."""
    rng = random.Random(20250302)
    days: dict[dt.date, list[dict]] = {}

    def see(source: str, day: dt.date, url: str, title: str) -> None:
        if FIRST_DAY <= day <= LAST_DAY:
            bucket = days.setdefault(day, [])
            bucket.append(_record(source, day, url, title, len(bucket) + 1, rng))

    items, _links = store.history_frames(con)
    for row in items.dropna(subset=["url"]).itertuples(index=False):
        sources = PICK_SOURCES.get(row.section)
        if not sources:
            continue
        pub = row.pub_date.date() if hasattr(row.pub_date, "date") else row.pub_date
        first = pub - dt.timedelta(days=rng.randint(2, 12))
        title = row.title_en if isinstance(row.title_en, str) else str(row.title_zh)
        for offset in range(rng.randint(1, 4)):
            see(sources[offset % len(sources)], first + dt.timedelta(days=offset), row.url, title)
    n_days = (LAST_DAY - FIRST_DAY).days
    for n in range(230):
        # 100 articles, 100 projects, then audio/video and hot topics in turn.
        section = "article" if n < 100 else "project" if n < 200 else AV_HOT[n % 2]
        word, topic = WORDS[n % len(WORDS)], TOPICS[n % len(TOPICS)]
        if section == "project":
            owner = f"{word}-lab{n % 7}"
            url = f"https://github.com/{owner}/py{word}{n}"
            title = f"py{word}{n}: a {word} for {topic}"
            sources = ("trending:python", "trending:all")
        elif section == "article":
            url = f"https://{HOSTS[n % len(HOSTS)]}/posts/{word}-{n}"
            title = f"Notes on {topic}: the {word} pattern, part {n}"
            sources = ("hn:frontpage", "planetpython", "lobsters:python")
        elif section == "audio_video":
            url = f"https://video.example.tv/watch/{word}-{n}"
            title = f"Talk: {topic} and the {word} ({n})"
            sources = ("youtube:pycon",)
        else:
            url = f"https://forum.example.org/t/{word}-{n}"
            title = f"Should {topic} use a {word}? ({n})"
            sources = ("discuss:python", "hn:frontpage")
        # Most fillers land in the last five weeks, so the latest pool is deeper than quotas.
        start = n_days - rng.randint(0, 35) if rng.random() < 0.7 else rng.randint(0, n_days)
        first = FIRST_DAY + dt.timedelta(days=start)
        for offset in range(rng.randint(1, 3)):
            see(rng.choice(sources), first + dt.timedelta(days=offset), url, title)
    # The follow-up fetches see every third item of the day again (its own rng: the
    # sightings above stay the same).
    followup = {"project": "_github_api", "article": "_article_pages"}
    extra_rng = random.Random(7)
    for day, bucket in days.items():
        for rec in bucket[::3]:
            if rec["section"] in followup:
                source = followup[rec["section"]]
                bucket.append(
                    _record(source, day, rec["url"], rec["title"], len(bucket) + 1, extra_rng)
                )
    return days


def write_raw_files(con, raw_dir: Path) -> int:
    """One raw JSONL file per crawl day (candidates + fetch records); returns the records."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    total = 0
    for day, records in sorted(synthetic_records(con).items()):
        with (raw_dir / f"{day:%Y%m%d}-060000-run.jsonl").open("w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec) + "\n")
            for source in sorted({r["source"] for r in records}):
                fetch = {
                    "type": "fetch", "run_id": f"run-{day:%Y%m%d}", "source": source,
                    "url": f"https://{source.split(':')[0]}.example/", "status": "ok",
                    "started_at": f"{day.isoformat()}T06:00:00Z",
                    "finished_at": f"{day.isoformat()}T06:00:05Z", "http_status": 200,
                    "items": sum(r["source"] == source for r in records), "bytes": 1000,
                    "not_modified": 0, "errors": 0, "error": None,
                }  # fmt: skip
                fh.write(json.dumps(fetch) + "\n")
        total += len(records)
    return total


def build_store(path: Path) -> dict[str, int]:
    """The notebooks' test database: sample archive + synthetic sightings (real ingest)."""
    con = store.connect(path)
    try:
        report = import_archive(con, SAMPLE_ARCHIVE)
        assert report.imported, report.summary()
        records = write_raw_files(con, path.parent / "raw")
        ingest = store.ingest_raw(con, path.parent / "raw")
        assert ingest.bad_rows == 0
        con.execute("CHECKPOINT")
        return {"records": records, "sightings": ingest.sightings}
    finally:
        con.close()


@pytest.fixture(scope="session")
def notebook_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("notebook-db") / "radar.duckdb"
    counts = build_store(path)
    assert 300 <= counts["records"] <= 1500, counts
    return path


# A first crawl's store, before `rank import-issues`: sightings only, loaded by the CLI.
SIGHTINGS_CSV = """\
feed,section,seen_date,title,url,description,rank,stars,stars_today,forks,language,points,comments
hackernews,hn:frontpage,2025-02-24,Notes on asyncio task groups,https://notes.example.dev/asyncio,A walk through task groups,3,,,,,120,40
hackernews,hn:frontpage,2025-02-25,Notes on asyncio task groups,https://notes.example.dev/asyncio,A walk through task groups,5,,,,,160,52
hackernews,hn:frontpage,2025-02-26,Typing a plugin registry,https://blog.example.org/typing-plugins,Protocols and generics,8,,,,,60,12
github_trending,trending:python,2025-02-24,astral-sh/uv,https://github.com/astral-sh/uv,An extremely fast Python package manager,1,40000,900,1200,python,,
github_trending,trending:python,2025-02-25,astral-sh/uv,https://github.com/astral-sh/uv,An extremely fast Python package manager,2,40900,850,1210,python,,
github_trending,trending:python,2025-02-26,pola-rs/polars,https://github.com/pola-rs/polars,Dataframes powered by Rust,4,30000,300,2000,python,,
"""


@pytest.fixture(scope="session")
def empty_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("empty-db") / "radar.duckdb"
    store.connect(path).close()
    return path


@pytest.fixture(scope="session")
def sightings_only_db(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sightings-only-db")
    sightings = folder / "sightings.csv"
    sightings.write_text(SIGHTINGS_CSV, encoding="utf-8")
    path = folder / "radar.duckdb"
    assert cli.main(["import-sightings", str(sightings), "--db", str(path)]) == 0
    return path


@pytest.fixture
def snap(notebook_db):
    con = explore.open_store(notebook_db)
    yield con
    con.close()


# --- the kernel -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kernel_dir(tmp_path_factory) -> Path:
    """A kernelspec running this very interpreter (the venv's), whatever PATH says."""
    root = tmp_path_factory.mktemp("kernels")
    spec_dir = root / KERNEL_NAME
    spec_dir.mkdir()
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "weekly-radar (tests)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return root


class NotebookRun:
    """One notebook executing in a child process (tests/fixtures/notebooks/execute.py).

    nbclient runs in a child process: its leaked zmq sockets would otherwise raise
    ResourceWarnings in this process at a random later test. The kernel's cwd is
    notebooks/, as in Jupyter.
    """

    def __init__(self, name: str, kernel_dir: Path, env: dict[str, str], out_dir: Path,
                 timeout: int = 300) -> None:  # fmt: skip
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("RADAR_")}
        full_env.pop("MPLBACKEND", None)  # the notebooks choose the inline backend themselves
        full_env.update(env)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.output = out_dir / name
        self.timeout = timeout
        self.log = (out_dir / f"{name}.log").open("w+", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, str(EXECUTE), str(NOTEBOOKS / name), str(self.output),
             str(kernel_dir), KERNEL_NAME, str(timeout)],
            env=full_env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def result(self, *, fails: bool = False):
        """Wait for the run; the executed notebook (up to the cell that failed, when it
        `fails`), or a test failure with the child's output."""
        import nbformat

        try:
            code = self.proc.wait(timeout=self.timeout + 120)
        finally:
            self.stop()
        self.log.seek(0)
        assert (code != 0) == fails, f"{self.name} exited {code}:\n{self.log.read()[-4000:]}"
        return nbformat.read(self.output, as_version=4)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# The runs of 01 and 02: label -> (notebook, the fixture of its store). They start
# together (see `notebook_runs`); 03 replays ../shared and has no store.
STORE_RUNS = {
    "01": ("01-explore.ipynb", "notebook_db"),
    "02": ("02-why-this-rank.ipynb", "notebook_db"),
    "01-empty": ("01-explore.ipynb", "empty_db"),
    "01-sightings-only": ("01-explore.ipynb", "sightings_only_db"),
    "02-sightings-only": ("02-why-this-rank.ipynb", "sightings_only_db"),
    "02-empty": ("02-why-this-rank.ipynb", "empty_db"),
}
# Which test waits for which runs.
NOTEBOOK_TESTS = {
    "test_01_explore_executes": ("01",),
    "test_02_why_this_rank_executes": ("02",),
    "test_01_explore_on_an_empty_store": ("01-empty",),
    "test_notebooks_on_a_store_without_issues": ("01-sightings-only", "02-sightings-only"),
    "test_03_backtest_executes": ("03",),
    "test_02_on_an_empty_store_stops_with_one_line": ("02-empty",),
}


def _shared_datasets_present() -> bool:
    try:
        explore.shared_datasets()
    except explore.NotebookError:
        return False
    return True


@pytest.fixture(scope="session")
def notebook_runs(request, tmp_path_factory, kernel_dir):
    """Start every selected notebook at once (they are independent): the wall time is the
    slowest one, not the sum. Each test then waits for its own run."""
    selected = {label for i in request.session.items
                for label in NOTEBOOK_TESTS.get(i.originalname, ())}  # fmt: skip
    out = tmp_path_factory.mktemp("notebook-runs")
    runs: dict[str, NotebookRun] = {}
    for label in sorted(selected & set(STORE_RUNS)):
        name, db_fixture = STORE_RUNS[label]
        db = {"RADAR_DB": str(request.getfixturevalue(db_fixture))}
        runs[label] = NotebookRun(name, kernel_dir, db, out / label)
    if "03" in selected and _shared_datasets_present():
        env = {
            # Two early issues (8 issues of history to fit on); the default takes ~1 min.
            "RADAR_BACKTEST_ISSUES": "9-10",
            "RADAR_BACKTEST_OUT": str(out / "backtest-csv"),
        }
        runs["03"] = NotebookRun("03-backtest.ipynb", kernel_dir, env, out / "03", timeout=600)
    yield runs
    for run in runs.values():
        run.stop()
        run.log.close()


def outputs_by_tag(nb) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for cell in nb.cells:
        for tag in cell.get("metadata", {}).get("tags", []):
            out.setdefault(tag, []).extend(cell.get("outputs", []))
    return out


def images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def html_of(outputs: list[dict]) -> str:
    return "\n".join(o.get("data", {}).get("text/html", "") for o in outputs)


def table_of(outputs: list[dict]):
    """The one table a cell shows, as a DataFrame (a named index is a column of that name)."""
    import pandas as pd

    (frame,) = pd.read_html(io.StringIO(html_of(outputs)), flavor="lxml")
    if isinstance(frame.columns, pd.MultiIndex):  # the index name is a second header row
        frame.columns = [low if top.startswith("Unnamed") else top for top, low in frame.columns]
    return frame


def text_of(outputs: list[dict]) -> str:
    """Printed text and plain-text results."""
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)


def assert_clean_run(nb) -> None:
    """No error outputs, no warnings or tracebacks on stderr."""
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            assert o.get("output_type") != "error", o
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                assert "Warning" not in o["text"] and "Traceback" not in o["text"], o["text"]


# --- the notebooks as committed ---------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_are_committed_clean(path: Path):
    """No outputs or execution counts in git: small, reviewable diffs."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.id
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


def test_notebooks_exist():
    names = {p.name for p in NOTEBOOKS.glob("*.ipynb")}
    assert {"01-explore.ipynb", "02-why-this-rank.ipynb", "03-backtest.ipynb"} <= names


# --- helpers on the test database ---------------------------------------------------------------


def test_snapshot_does_not_hold_the_file(notebook_db):
    """After open_store the nightly job can write: the snapshot lives in memory."""
    con = explore.open_store(notebook_db)
    try:
        writer = subprocess.run(
            [sys.executable, "-c",
             "import sys, duckdb; c = duckdb.connect(sys.argv[1]); "
             "c.execute(\"INSERT INTO meta VALUES ('nb-test', 'x') ON CONFLICT DO NOTHING\"); "
             "c.close()", str(notebook_db)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert writer.returncode == 0, writer.stderr
        assert con.execute("SELECT count(*) FROM meta WHERE key = 'nb-test'").fetchone()[0] == 0
    finally:
        con.close()


def test_snapshot_of_a_busy_store_fails_fast(notebook_db, tmp_path):
    """While a writer holds the file, open_store gives up quickly with StoreBusyError."""
    from ranking.errors import StoreBusyError

    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time, duckdb; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
         "time.sleep(30)", str(notebook_db)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ready"
        started = time.monotonic()
        with pytest.raises(StoreBusyError, match="busy"):
            store.snapshot(notebook_db, attempts=2, wait=0.1)
        assert time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def test_open_store_missing_file(tmp_path):
    with pytest.raises(store.StoreError, match="does not exist"):
        explore.open_store(tmp_path / "nope.duckdb")


def test_a_missing_store_is_a_one_line_hint(monkeypatch):
    # Notebook 01 without RADAR_DB showed a traceback through the store ending in
    # "database …/data/radar.duckdb does not exist": nothing said how to open the demo.
    monkeypatch.setenv("RADAR_DB", "data/no-such-folder/radar.duckdb")
    with pytest.raises(store.StoreError) as exc:
        explore.open_store()
    shown = exc.value._render_traceback_()  # what IPython prints instead of a traceback
    assert len(shown) == 1 and "\n" not in shown[0]
    assert str(REPO / "data" / "no-such-folder" / "radar.duckdb") in shown[0]
    assert "RADAR_DB=data/demo/radar.duckdb" in shown[0] and "make demo" in shown[0]
    assert "RADAR_DB names no file" in shown[0]  # not "set RADAR_DB": it is set
    monkeypatch.delenv("RADAR_DB")
    cases = [("no-such.duckdb", "the path given names no file")]
    if not (REPO / "data" / "radar.duckdb").exists():  # a checkout without a store of its own
        cases.append((None, "set RADAR_DB before starting Jupyter"))
    for path, given in cases:
        with pytest.raises(store.StoreError, match=given):
            explore.open_store(path) if path else explore.open_store()


def test_database_path_env(monkeypatch, tmp_path):
    monkeypatch.delenv("RADAR_DB", raising=False)
    assert explore.database_path() == REPO / "data" / "radar.duckdb"
    monkeypatch.setenv("RADAR_DB", "data/demo/radar.duckdb")
    assert explore.database_path() == REPO / "data" / "demo" / "radar.duckdb"
    monkeypatch.setenv("RADAR_DB", str(tmp_path / "x.duckdb"))
    assert explore.database_path() == tmp_path / "x.duckdb"


def test_week_shortlist_caches_pools_beside_the_opened_store(notebook_db, tmp_path, monkeypatch):
    """The pool cache of a snapshot is the one `rank` keeps beside that file, not RADAR_DB's."""
    import shutil

    monkeypatch.setenv("RADAR_DB", str(tmp_path / "default" / "radar.duckdb"))
    other = tmp_path / "other" / "radar.duckdb"
    other.parent.mkdir()
    shutil.copy(notebook_db, other)
    con = explore.open_store(other)
    try:
        explore.week_shortlist(con, explore.pick_week(con, "2025-W03"))
    finally:
        con.close()
    assert list((tmp_path / "other" / "cache" / "pools").glob("pool-*"))
    assert not (tmp_path / "default").exists()


def test_week_shortlist_passes_its_cache_dir_through(notebook_db, tmp_path):
    """cache_dir=None meant the default folder beside the store: there was no way to keep
    no pools on disk. None is now no disk cache; a path is that folder."""
    import shutil

    store_file = tmp_path / "store" / "radar.duckdb"
    store_file.parent.mkdir()
    shutil.copy(notebook_db, store_file)
    con = explore.open_store(store_file)
    try:
        week = explore.pick_week(con, "2025-W03")
        explore.week_shortlist(con, week, cache_dir=None)
        assert not (tmp_path / "store" / "cache").exists()
        explore.week_shortlist(con, week, cache_dir=tmp_path / "mine")
    finally:
        con.close()
    assert list((tmp_path / "mine").glob("pool-*"))
    assert not (tmp_path / "store" / "cache").exists()


def test_candidates_per_day(snap):
    internal = "SELECT count(*) FROM sightings WHERE starts_with(source, '_')"
    assert snap.execute(internal).fetchone()[0] > 0  # in the store, not in the tables
    per_day = explore.candidates_per_day(snap)
    assert set(per_day["source"]) == set(SOURCES)
    assert per_day["seen_date"].min().date() >= FIRST_DAY
    assert per_day["seen_date"].max().date() == LAST_DAY
    activity = explore.source_activity(per_day)
    assert set(activity.index) == set(SOURCES)
    assert (activity["per_day"] > 0).all()


def test_source_yield_counts_later_picks(snap):
    yields = explore.source_yield(snap)
    assert set(yields.index) == set(SOURCES)  # not the follow-up fetches
    # Projects of the archive were seen on trending:python before their issue.
    assert yields.loc["trending:python", "picked"] >= 10
    assert yields.loc["trending:all", "picked"] == 0
    assert (yields["picked"] <= yields["seen"]).all()
    assert ((yields["yield"] >= 0) & (yields["yield"] <= 1)).all()
    # A pick seen only after its issue is not a pick of that source (no look-back).
    late = store.source_yield(snap, horizon_days=0)
    assert late["picked"].sum() == 0


def test_source_yield_matches_repository_under_another_url(tmp_path):
    """A repository seen at a deep URL is picked when the issue links its home page."""
    con = store.connect(":memory:")
    store.replace_history_issue(
        con,
        {"issue_no": 1, "pub_date": dt.date(2025, 1, 10), "title": "t", "kind": "full",
         "file": "docs/2025-01-10-weekly.md", "n_items": 1},
        [{"issue_no": 1, "item_no": 1, "section": "project", "position": 1,
          "url": "https://github.com/a/b", "canonical_url": "https://github.com/a/b",
          "repo_key": "github.com/a/b", "host": "github.com"}],
        [],
    )  # fmt: skip
    raw = tmp_path / "raw"
    raw.mkdir()
    rng = random.Random(1)
    recs = [
        _record(
            "trending:python", dt.date(2025, 1, 5), "https://github.com/a/b/tree/main", "b", 1, rng
        ),
        _record("trending:python", dt.date(2025, 1, 5), "https://github.com/c/d", "d", 2, rng),
        _record("hn:frontpage", dt.date(2025, 1, 12), "https://github.com/a/b", "b", 1, rng),
    ]
    (raw / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    store.ingest_raw(con, raw)
    y = store.source_yield(con).set_index("source")
    assert (y.loc["trending:python", "seen"], y.loc["trending:python", "picked"]) == (2, 1)
    assert y.loc["hn:frontpage", "picked"] == 0  # seen after the issue
    # github.com/a was featured on 2025-01-10: new before, not after.
    assert y.loc["trending:python", "new_domain_share"] == 1.0
    assert y.loc["hn:frontpage", "new_domain_share"] == 0.0
    con.close()


def test_new_domain_rate(snap):
    rates = explore.new_domain_rate(snap)
    first = rates[(rates["issue_no"] == 1) & (rates["section"] == "all")].iloc[0]
    assert first["rate"] == 1.0  # nothing was featured before issue 1
    alls = rates[rates["section"] == "all"]
    assert set(alls["issue_no"]) == {1, 2, 3, 4, 5, 6}  # 7 and 8 are title-only
    assert (alls["new_domains"] <= alls["items"]).all()
    assert alls["rate"].iloc[1:].min() < 1.0  # realpython.com, peps.python.org come back


def test_topics_and_terms_without_issues():
    """No archive imported: empty tables with their columns (the notebook carries on)."""
    con = store.connect(":memory:")
    try:
        assert list(explore.topic_shares(con).columns) == ["items", *explore.TOPICS]
        assert explore.topic_shares(con).empty
        assert explore.season_terms(con).empty
        assert list(explore.season_terms(con).columns) == ["items", "issues", "top_terms"]
        assert explore.missing_data(con)[1].startswith("no issues imported")
    finally:
        con.close()


def test_topics_and_terms(snap):
    shares = explore.topic_shares(snap, size=4)
    assert list(shares.index) == ["S1 #1–4", "S2 #5–8"]
    assert shares.loc["S1 #1–4", "packaging & tools"] > 0
    assert shares.loc["S2 #5–8", "performance & concurrency"] > 0  # the async issue
    terms = explore.season_terms(snap, size=4)
    assert terms.loc["S2 #5–8", "issues"] == "#5–#8"
    assert "asyncio" in terms.loc["S2 #5–8", "top_terms"]


def test_pick_week(snap, monkeypatch):
    monkeypatch.delenv("RADAR_WEEK", raising=False)
    assert str(explore.pick_week(snap)) == "2025-W09"
    monkeypatch.setenv("RADAR_WEEK", "2025-W07")
    assert str(explore.pick_week(snap)) == "2025-W07"


def one_line(exc: pytest.ExceptionInfo) -> str:
    """What IPython prints for the exception: one line, not a traceback."""
    shown = exc.value._render_traceback_()
    assert len(shown) == 1 and "\n" not in shown[0]
    return shown[0]


def test_notebook_settings_and_data_errors_are_one_line_hints(monkeypatch, tmp_path):
    # pick_week, backtest_issues and shared_datasets raised a UsageError or a
    # FileNotFoundError: the notebook showed a traceback through the helpers.
    con = store.connect(":memory:")
    try:
        monkeypatch.delenv("RADAR_WEEK", raising=False)
        with pytest.raises(explore.NotebookError) as exc:
            explore.pick_week(con)
        assert one_line(exc) == (
            "NotebookError: no sightings in the store: run `crawl` first, or set RADAR_WEEK"
        )
        monkeypatch.setenv("RADAR_WEEK", "2025-07")
        with pytest.raises(explore.NotebookError) as exc:
            explore.pick_week(con)
        assert one_line(exc).startswith("NotebookError: RADAR_WEEK: invalid week '2025-07'")
        with pytest.raises(explore.NotebookError) as exc:
            explore.pick_week(con, "2025-W99")
        assert one_line(exc).startswith("NotebookError: invalid week '2025-W99'")
    finally:
        con.close()
    monkeypatch.setenv("RADAR_BACKTEST_ISSUES", "9..10")
    with pytest.raises(explore.NotebookError) as exc:
        explore.backtest_issues()
    assert "RADAR_BACKTEST_ISSUES: invalid issue range '9..10'" in one_line(exc)
    monkeypatch.setattr(explore, "SHARED_HISTORY", tmp_path / "no-archive")
    with pytest.raises(explore.NotebookError) as exc:
        explore.shared_datasets()
    assert one_line(exc).startswith(f"NotebookError: missing {tmp_path / 'no-archive'}")


def test_cjk_font_choice():
    """The first of CJK_FONTS installed; a family name may go on (Noto's JP face)."""
    fonts = ["DejaVu Sans", "WenQuanYi Zen Hei", "Noto Sans CJK JP"]
    assert explore.cjk_font(fonts) == "Noto Sans CJK JP"
    assert explore.cjk_font([*fonts, "Noto Sans CJK SC"]) == "Noto Sans CJK SC"
    assert explore.cjk_font(["DejaVu Sans", "Droid Sans Fallback"]) == "Droid Sans Fallback"
    assert explore.cjk_font(["DejaVu Sans", "STIXGeneral"]) is None


def test_setup_plots_takes_a_cjk_font_or_says_in_one_line(monkeypatch, capsys):
    # Chinese source names (hellogithub:… 项目) showed as boxes, and only a code comment
    # said why: a CJK font is now a fallback for the default one, or one line says so.
    from types import SimpleNamespace

    import matplotlib as mpl
    from matplotlib import font_manager

    def installed(*names: str) -> None:
        fonts = [SimpleNamespace(name=n) for n in names]
        monkeypatch.setattr(font_manager.fontManager, "ttflist", fonts)

    with mpl.rc_context():
        installed("DejaVu Sans", "WenQuanYi Micro Hei")
        explore.setup_plots()
        assert mpl.rcParams["font.family"] == ["sans-serif", "WenQuanYi Micro Hei"]
        assert capsys.readouterr().out == ""
        installed("DejaVu Sans")
        explore.setup_plots()
        out = capsys.readouterr().out
        assert out.count("\n") == 1 and out.startswith("No CJK font installed")
        assert "Chinese labels will show as boxes" in out and "fonts-noto-cjk" in out


def test_just_missed_and_contributions_on_a_ranked_frame():
    """Rows ranked just below the quota, with the gap to the last row that made it."""
    from types import SimpleNamespace

    import pandas as pd

    from ranking.features import SIGNALS

    ranked = pd.DataFrame(
        {"section": ["project"] * 5, "rank": [1, 2, 3, 4, 5],
         "score": [3.0, 2.0, 1.5, 1.0, 0.2], "title": list("abcde"),
         "sources": ["trending:python"] * 5, "days_trending": [0] * 5,
         "first_seen": [pd.NaT] * 5, "as_of": [dt.date(2025, 3, 2)] * 5}
    )  # fmt: skip
    for signal in SIGNALS:
        ranked[signal] = 0.0
    missed = explore.just_missed(SimpleNamespace(ranked=ranked), quotas={"project": 2}, n=2)
    assert list(missed["rank"]) == [3, 4]
    assert list(missed["gap"]) == [0.5, 1.0]
    assert (missed["quota"] == 2).all()
    frame = ranked.assign(base=-1.0, score=ranked["score"])
    contrib = explore.contributions(SimpleNamespace(frame=frame), top=3)
    assert list(contrib["rank"]) == [1, 2, 3]
    assert list(contrib.columns) == ["section", "rank", "title", *SIGNALS, "base", "score"]


def test_recall_curves_from_hits():
    import pandas as pd

    from ranking.backtest import BacktestReport

    hits = pd.DataFrame(
        [(1, "project", "model", 1.0), (1, "project", "model", 30.0),
         (1, "project", "random", float("nan")), (1, "project", "random", 5.0)],
        columns=["issue_no", "section", "method", "rank"],
    )  # fmt: skip
    report = BacktestReport([1], hits, pd.DataFrame(), Path("."), 0.0)
    curves = explore.recall_curves(report, max_k=50).set_index(["method", "k"])
    assert curves.loc[("model", 1), "recall"] == 0.5
    assert curves.loc[("model", 30), "recall"] == 1.0
    assert curves.loc[("random", 4), "recall"] == 0.0
    assert curves.loc[("random", 50), "recall"] == 0.5


def test_missed_picks_are_the_reachable_ones_ranked_below_k():
    import pandas as pd

    from ranking.backtest import PICKS_COLUMNS, BacktestReport

    rows = [
        (2, "2025-01-11", "project", 1, "found", "https://github.com/a/found", "yes", "project", 3, "", "", ""),
        (2, "2025-01-11", "project", 2, "low", "https://github.com/a/low", "yes", "project", 30, "", 7, ""),
        (1, "2025-01-04", "project", 3, "deep", "https://github.com/a/deep", "yes", "project", "", "", "", ""),
        (1, "2025-01-04", "article", 1, "gone", "https://example.org/gone", "no", "", "", "", "", ""),
        (1, "2025-01-04", "article", 2, "edge", "https://example.org/edge", "yes", "article", 24, "", "", ""),
        (1, "2025-01-04", "article", 3, "moved", "https://example.org/m", "yes", "project", "", "", "", ""),
    ]  # fmt: skip
    picks = pd.DataFrame(rows, columns=list(PICKS_COLUMNS))
    report = BacktestReport([1, 2], pd.DataFrame(), pd.DataFrame(), Path("."), 0.0, picks=picks)
    missed = explore.missed_picks(report, k=24)
    assert list(missed["title"]) == ["moved", "deep", "low"]  # by section, then issue
    assert list(missed["popularity_rank"]) == ["", "", 7]
    assert list(missed["pool_section"]) == ["project", "project", "project"]  # where it was
    assert list(explore.missed_picks(report, k=2)["title"]) == [
        "edge", "moved", "deep", "found", "low"
    ]  # fmt: skip


# --- the notebooks, executed ------------------------------------------------------------------


@pytest.mark.slow
def test_01_explore_executes(notebook_runs):
    nb = notebook_runs["01"].result()
    assert_clean_run(nb)
    assert images(nb) >= 4
    tagged = outputs_by_tag(nb)
    assert "no issues" not in text_of(tagged["counts"])
    sources = table_of(tagged["sources"])
    assert set(sources["source"]) == set(SOURCES)  # not the follow-up fetches
    assert (sources["days"] > 0).all()
    yields = table_of(tagged["yield"]).set_index("source")
    assert set(yields.index) == set(SOURCES)
    assert yields.loc["trending:python", "picked"] >= 10
    assert "new_domain_share" in yields.columns
    rates = table_of(tagged["new-domains"])
    assert list(rates["issue_no"]) == [1, 2, 3, 4, 5, 6]  # 7 and 8 are title-only
    assert rates["rate"].iat[0] == 1.0 and rates["rate"].between(0, 1).all()
    terms = table_of(tagged["terms"])
    assert len(terms) == 1 and terms["top_terms"].str.count(",").iat[0] >= 2
    topics = table_of(tagged["topics"])
    assert list(topics["season"]) == list(terms["season"]) and (topics["items"] > 0).all()
    assert topics[list(explore.TOPICS)].to_numpy().sum() > 0


@pytest.mark.slow
def test_02_why_this_rank_executes(notebook_runs):
    nb = notebook_runs["02"].result()
    assert_clean_run(nb)
    assert images(nb) >= 1
    tagged = outputs_by_tag(nb)
    assert "2025-W09" in text_of(tagged["week"])
    shortlist = table_of(tagged["shortlist"])
    assert {"article", "project"} <= set(shortlist["section"])
    for _section, ranks in shortlist.groupby("section")["rank"]:
        assert list(ranks) == list(range(1, len(ranks) + 1))
    assert shortlist["reason"].str.len().gt(0).all()
    contrib = table_of(tagged["contributions"])
    assert len(contrib) and "momentum" in contrib.columns
    parts = contrib[[*explore.signal_columns(), "base"]].sum(axis=1)
    assert (parts - contrib["score"]).abs().max() < 1e-3  # the contributions add up
    both = contrib.merge(shortlist, on=["section", "rank"], suffixes=("", "_shortlist"))
    assert len(both) == len(contrib) and (both["score"] == both["score_shortlist"]).all()
    nearest = table_of(tagged["nearest"])
    assert len(nearest) and nearest["similarity"].between(0, 1, inclusive="right").all()
    assert nearest["past_issue"].between(1, 8).all()
    missed = table_of(tagged["just-missed"])
    assert "project" in set(missed["section"]) and (missed["rank"] > missed["quota"]).all()


@pytest.mark.slow
def test_01_explore_on_an_empty_store(notebook_runs):
    """A new store: every table and plot is empty, and the first cell says what to run."""
    nb = notebook_runs["01-empty"].result()
    assert_clean_run(nb)
    tagged = outputs_by_tag(nb)
    counts = text_of(tagged["counts"])
    assert "no sightings: run `crawl`" in counts
    assert "no issues imported: run `rank import-issues" in counts
    assert "top_terms" in html_of(tagged["terms"])


@pytest.mark.slow
def test_notebooks_on_a_store_without_issues(notebook_runs):
    """A first crawl before `rank import-issues`: sources and a shortlist, no archive."""
    nb = notebook_runs["01-sightings-only"].result()
    assert_clean_run(nb)
    tagged = outputs_by_tag(nb)
    counts = text_of(tagged["counts"])
    assert "no issues imported: run `rank import-issues" in counts
    assert "no sightings" not in counts
    assert "trending:python" in html_of(tagged["sources"])
    assert "top_terms" in html_of(tagged["terms"]) and "AI &amp; LLM" in html_of(tagged["topics"])
    nb = notebook_runs["02-sightings-only"].result()
    assert_clean_run(nb)
    tagged = outputs_by_tag(nb)
    assert "2025-W09" in text_of(tagged["week"])
    assert "astral-sh/uv" in html_of(tagged["shortlist"])


@pytest.mark.slow
def test_02_on_an_empty_store_stops_with_one_line(notebook_runs):
    """No sightings: the week cell shows one line saying what to run, not a traceback."""
    nb = notebook_runs["02-empty"].result(fails=True)
    errors = [o for o in outputs_by_tag(nb)["week"] if o["output_type"] == "error"]
    assert [e["traceback"] for e in errors] == [
        ["NotebookError: no sightings in the store: run `crawl` first, or set RADAR_WEEK"]
    ]


@pytest.mark.slow
@pytest.mark.shared
def test_03_backtest_executes(notebook_runs):
    require_shared("datasets", "python-weekly", "docs")
    require_shared("datasets", "sightings", "sightings-2023-2025-01.parquet")
    run = notebook_runs["03"]
    nb = run.result()
    assert_clean_run(nb)
    assert images(nb) >= 1
    tagged = outputs_by_tag(nb)
    recall = html_of(tagged["recall"])
    for name in ("model", "random", "popularity", "tfidf", "recall@24"):
        assert name in recall
    assert "ceiling" in html_of(tagged["coverage"])
    assert "popularity_rank" in html_of(tagged["missed"])
    assert list((run.output.parent.parent / "backtest-csv").glob("issue-*.csv"))


def test_02_explains_the_diversity_step():
    """Ranks out of score order and negative gaps come from MMR and the domain cap: the
    notebook says so, with the ranker's own values."""
    import nbformat

    from ranking.shortlist import DEFAULT_DOMAIN_CAP, DEFAULT_MMR_LAMBDA

    nb = nbformat.read(NOTEBOOKS / "02-why-this-rank.ipynb", as_version=4)
    prose = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    prose = " ".join(prose.split())
    assert f"score − {DEFAULT_MMR_LAMBDA} × its highest TF-IDF similarity" in prose
    assert f"at most {DEFAULT_DOMAIN_CAP} items per domain" in prose
    assert "a gap can be negative" in prose
    assert "MMR" in explore.just_missed.__doc__


def test_notebook_code_is_short():
    """Notebook cells call helpers: no cell is a program of its own."""
    import nbformat

    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert len(cell.source.splitlines()) <= 6, (path.name, cell.source)
                assert "def " not in cell.source and "SELECT" not in cell.source.upper(), (
                    path.name,
                    textwrap.shorten(cell.source, 80),
                )
