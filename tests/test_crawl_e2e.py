"""End to end: the real `crawl` command against crawler.replay on 127.0.0.1.

The local web is built at test time from the real recorded bodies in
../shared/fixtures/real-web (copied into a temporary folder, never committed) plus
tests/fixtures/crawl/web/routes.toml. Every test runs `python -m crawler.cli` in a
subprocess (one Scrapy reactor per process, as in production) with the socket guard on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from crawler.replay import ReplayServer
from crawler.urls import canonical_url
from tests.conftest import require_shared

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "crawl"
REAL_DIRS = (
    "feeds",
    "podcasts",
    "github-api",
    "github-trending",
    "hackernews",
    "lobsters",
    "reddit",
    "pypi",
    "articles",
)
MAIN_SOURCES = [
    "pypy-blog",
    "pychina-weekly",
    "talk-python",
    "cpython-releases",
    "github-trending-python",
    "hn-python",
    "hn-local",
    "lobsters-python",
    "reddit-python",
    "pypi-asgiref",
    "gh-cli",
    "pybites-ast",
    "pypy-sitemap",
]


def _env(base: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "RADAR_DB")}
    env.update(
        RADAR_ALLOW_HOSTS="127.0.0.1",
        RADAR_DOWNLOAD_DELAY="0",
        RADAR_DOWNLOAD_TIMEOUT="3",
        RADAR_GITHUB_API=f"{base}/api",
        RADAR_SOCKET_GUARD="1",
        PYTHONWARNINGS="error::DeprecationWarning:crawler",
    )
    env.update(extra)
    return env


def crawl(args: list[str], base: str, *, timeout: float = 120, code: str | None = None, **env: str):
    """Run the real command; returns the CompletedProcess (text mode). `code`: a Python
    program run instead of `-m crawler.cli` (one that patches a fault in, then calls it)."""
    return subprocess.run(
        [sys.executable, *(["-c", code] if code else ["-m", "crawler.cli"]), *args],
        cwd=REPO,
        env=_env(base, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def sources_file(tmp_path: Path, base: str, template: str | None = None) -> Path:
    text = template if template is not None else (FIXTURES / "sources.toml").read_text("utf-8")
    path = tmp_path / "sources.toml"
    path.write_text(text.replace("{base}", base), "utf-8")
    return path


def newsletter_sources(tmp_path: Path, base: str, name: str, path: str) -> Path:
    """A source list of one newsletter on the local web."""
    template = f'[[source]]\nname = "{name}"\nkind = "newsletter"\nurl = "{{base}}{path}"\n'
    return sources_file(tmp_path, base, template)


def db_rows(db: Path, sql: str, params=()):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def write_pypy_sitemaps(recorded: Path, folder: Path) -> None:
    """pypy.org's recorded robots.txt, sitemap index and urlset, its URLs moved to the
    local web ({base}/pypy); the urlset keeps its posts of 2025 only (a small run)."""
    folder.mkdir()
    for name in ("robots.txt", "sitemapindex.xml", "sitemap.xml"):
        text = (recorded / f"pypy-org-{name}").read_text("utf-8")
        if name == "sitemap.xml":
            other_posts = (
                r"\s*<url>\s*<loc>https://www\.pypy\.org/posts/(?!2025/)[^<]*</loc>.*?</url>"
            )
            text = re.sub(other_posts, "", text, flags=re.DOTALL)
        (folder / name).write_text(text.replace("https://www.pypy.org", "{base}/pypy"), "utf-8")


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    real = require_shared("fixtures", "real-web")
    root = tmp_path_factory.mktemp("web")
    shutil.copytree(FIXTURES / "web", root, dirs_exist_ok=True)
    for name in REAL_DIRS:
        shutil.copytree(real / name, root / "real" / name)
    write_pypy_sitemaps(real / "sitemap-robots", root / "sitemap")
    server = ReplayServer(root)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def empty_web(tmp_path):
    server = ReplayServer(None)
    server.start()
    yield server
    server.stop()


# --- the main run: every source kind, then a second run with validators -------------------


@pytest.mark.shared
def test_every_kind_gives_the_expected_candidates_and_a_rerun_gets_304s(web, tmp_path):
    base = web.base_url
    srcs = sources_file(tmp_path, base)
    data = tmp_path / "data"
    db = data / "radar.duckdb"
    first = crawl(["--sources", str(srcs), "--data-dir", str(data)], base)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "13 sources: 13 ok, 0 not modified, 0 failed" in first.stdout
    assert "Traceback" not in first.stderr

    per_source = dict(
        db_rows(db, "SELECT source, items FROM fetch_log WHERE status = 'ok' ORDER BY source")
    )
    assert per_source == {
        "pypy-blog": 10,
        "pychina-weekly": 97,
        "talk-python": 200,
        "cpython-releases": 10,
        "github-trending-python": 20,
        "hn-python": 30,
        "hn-local": 2,
        "lobsters-python": 25,
        "reddit-python": 3,
        "pypi-asgiref": 1,
        "gh-cli": 1,
        "pybites-ast": 1,
        "pypy-sitemap": 9,
        "_github_api": 1,
        "_article_pages": 3,
    }
    counts = {
        t: db_rows(db, f"SELECT count(*) FROM {t}")[0][0]
        for t in ("candidates", "sightings", "fetch_log", "raw_files")
    }
    # 409 source items + 1 star snapshot + 3 article pages; the flood guard keeps 30 of
    # pychina (97) and talk-python (200) and 1 of pypy-sitemap (9) in the pool, the rest
    # is history only.
    assert counts == {"candidates": 164, "sightings": 413, "fetch_log": 15, "raw_files": 1}
    history = db_rows(
        db,
        "SELECT source, count(*) FROM sightings WHERE json_extract(extra, '$.history_only') "
        "= 'true' GROUP BY source ORDER BY source",
    )
    assert history == [("pychina-weekly", 67), ("pypy-sitemap", 8), ("talk-python", 170)]

    titles = {r[0]: r[1] for r in db_rows(db, "SELECT canonical_url, title FROM candidates")}
    assert (
        titles["https://pypy.org/posts/2026/07/moving-linux-builds-to-glibc228.html"]
        == "Moving linux builds to GLIBC==2.28"
    )
    assert (
        titles["https://talkpython.fm/episodes/show/418/how-to-keep-a-secret-in-python-apps"]
        == "#418: How To Keep A Secret in Python Apps"
    )
    assert (
        titles["https://seanhelvey.com/tools-and-their-tools"] == "AI Mania: From Tulips to Tokens"
    )
    assert "https://github.com/alishahryar1/free-claude-code" in titles
    assert titles["https://github.com/cli/cli"] == "cli/cli"
    # Our own dated star snapshot from the GitHub REST API (repo seen in a releases feed).
    snap = db_rows(
        db,
        "SELECT canonical_url, stars, seen_date FROM sightings WHERE source = '_github_api'",
    )
    assert snap[0][:2] == ("https://github.com/python/cpython", 59052) and snap[0][2]
    trending = db_rows(
        db,
        "SELECT stars, position, repo_key FROM sightings WHERE source = 'github-trending-python' "
        "ORDER BY position LIMIT 1",
    )
    assert trending[0][1] == 1 and trending[0][0] > 0
    assert trending[0][2] == "github.com/alishahryar1/free-claude-code"
    # Article pages of the aggregator's local links were fetched for metadata.
    pages = db_rows(db, "SELECT url FROM sightings WHERE source = '_article_pages' ORDER BY 1")
    assert [p[0].rsplit("/", 1)[1] for p in pages] == [
        "toy-load-store.html",  # the sitemap's newest post
        "pybites-ast-intro-2021.html",
        "pypy-blog-toy-load-store-2025-12.html",
    ]
    # The sitemap source: robots.txt -> index -> urlset (+ a feed the index lists,
    # refused), posts of 2025 dated by their path, the newest let in, its page fetched.
    assert "sitemap http://127.0.0.1" in first.stderr and "alex.xml skipped: not_a_sitemap" in (
        first.stderr
    )
    sitemap = db_rows(
        db,
        "SELECT url, title, published FROM sightings WHERE source = 'pypy-sitemap' "
        "AND coalesce(json_extract(extra, '$.history_only') = 'true', false) = false",
    )
    post = f"{base}/pypy/posts/2025/12/toy-load-store.html"
    assert sitemap == [(post, "Toy load store", datetime(2025, 12, 1))]
    # The page's own title is what `rank candidates` and the pool show, not the slug's.
    page_title = "Load and store forwarding in the Toy Optimizer"
    assert titles[canonical_url(post)] == page_title
    import datetime as dt

    from ranking.pool import build_pool
    from ranking.store import open_store, sightings_frame

    today = dt.date.today()
    with open_store(db, read_only=True) as con:
        window = sightings_frame(con, today - dt.timedelta(days=2), today)
    pool = build_pool(window, None, today).frame
    assert pool.loc[pool["canonical_url"] == canonical_url(post), "title"].tolist() == [page_title]
    # Raw file: header, candidates, one fetch record per source, trailer.
    raw_files = sorted((data / "raw").glob("*.jsonl"))
    assert len(raw_files) == 1
    kinds = [json.loads(line)["type"] for line in raw_files[0].read_text("utf-8").splitlines()]
    assert kinds[0] == "run" and kinds[-1] == "run_end"
    assert kinds.count("fetch") == 15 and kinds.count("candidate") == 413

    web.clear_log()
    second = crawl(["--sources", str(srcs), "--data-dir", str(data)], base)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "13 ok" not in second.stdout and "4 not modified, 0 failed" in second.stdout
    assert web.hits("/pypy/robots.txt") == 1  # never a 304: its sitemaps are read again
    sent = {r.path: r.headers for r in web.requests}
    assert sent["/feeds/pypy.xml"].get("If-None-Match") == '"pypy-v1"'
    assert sent["/feeds/pychina.xml"].get("If-Modified-Since") == "Sat, 31 Jan 2026 00:00:00 GMT"
    assert "WeeklyRadar" in sent["/feeds/pypy.xml"]["User-Agent"]
    not_modified = db_rows(
        db, "SELECT source FROM fetch_log WHERE status = 'not_modified' ORDER BY source"
    )
    assert [r[0] for r in not_modified] == [
        "cpython-releases",
        "pychina-weekly",
        "pypy-blog",
        "talk-python",
    ]
    again = {t: db_rows(db, f"SELECT count(*) FROM {t}")[0][0] for t in ("candidates", "sightings")}
    assert again == {"candidates": 164, "sightings": 413}  # same night: no duplicates

    status = crawl(["status", "--sources", str(srcs), "--data-dir", str(data), "--json"], base)
    assert status.returncode == 0
    rows = {r["source"]: r for r in json.loads(status.stdout)}
    assert rows["pypy-blog"]["rate_304"] == 0.5 and rows["pypy-blog"]["consecutive_failures"] == 0
    assert rows["broken-hang"]["fetches"] == 0


@pytest.mark.shared
def test_a_newsletter_source_stores_the_links_of_its_issues(web, tmp_path):
    """A real issue feed (the Chinese Awesome Python Weekly) crawled as a newsletter."""
    base = web.base_url
    srcs = newsletter_sources(tmp_path, base, "awesome-python-weekly-zh", "/feeds/awesomepw.atom")
    data = tmp_path / "data"
    db = data / "radar.duckdb"
    run = crawl(["--sources", str(srcs), "--data-dir", str(data)], base)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "1 sources: 1 ok" in run.stdout
    rows = db_rows(
        db,
        "SELECT url, section, kind, coalesce(json_extract(extra, '$.history_only') = 'true', false) "
        "FROM sightings WHERE source = 'awesome-python-weekly-zh' ORDER BY url",
    )
    assert len(rows) == 70 and {r[2] for r in rows} == {"newsletter"}
    # A new source adds its newest 30 links to the pool, and the rest of the issue the 30th
    # is in (15 + 14 + 14 links of the three newest issues); the older ones are history.
    assert sum(1 for r in rows if not r[3]) == 43
    by_url = {r[0]: r for r in rows}
    assert by_url["https://www.dimamik.com/posts/oban_py/"][1:] == ("article", "newsletter", False)
    assert by_url["https://www.libhunt.com/r/PageIndex"][1] == "project"
    assert not any("zoomquiet.io" in url for url in by_url)  # the translator's footer

    # The ranker sees them under the archive's naming of newsletters.
    import datetime as dt

    from ranking.pool import build_pool
    from ranking.store import open_store, sightings_frame

    today = dt.date.today()
    with open_store(db, read_only=True) as con:
        sightings = sightings_frame(con, today - dt.timedelta(days=2), today)
    pool = build_pool(sightings, None, today).frame
    assert set(pool["sources"]) == {"awesome_python_weekly_zh"}
    # Only the 43 links let into the pool are the week's candidates, not the history.
    assert len(pool) == 43 and {"article", "project"} <= set(pool["section"])


@pytest.mark.shared
def test_newsletter_links_through_its_own_site_are_resolved_once(web, tmp_path):
    """PyCoder's Weekly style: every link is a redirect on the newsletter's own site."""
    base = web.base_url
    srcs = newsletter_sources(tmp_path, base, "pycoders-weekly", "/letter/feed.xml")
    data = tmp_path / "data"
    db = data / "radar.duckdb"
    web.clear_log()
    run = crawl(["--sources", str(srcs), "--data-dir", str(data)], base)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "1 sources: 1 ok" in run.stdout

    def stored() -> dict[str, tuple]:
        rows = db_rows(
            db,
            "SELECT title, url, repo_key, section, json_extract_string(extra, '$.redirect_from') "
            "FROM sightings WHERE source = 'pycoders-weekly'",
        )
        return {r[0]: r[1:] for r in rows}

    got = stored()
    assert got["Python's Free-Threaded Build"] == (
        "https://realpython.com/python-free-threading/",  # read, never fetched
        None,
        "article",
        f"{base}/link/1/web",
    )
    assert got["ruff"] == (
        "https://github.com/astral-sh/ruff",
        "github.com/astral-sh/ruff",
        "project",
        f"{base}/link/2/web",
    )
    assert got["A Relative Redirect"][0] == f"{base}/articles/relative-target"
    assert got["A Link That Is Gone"][0] == f"{base}/link/3/web"  # kept as it was
    assert got["A Page On The Site Itself"][0] == f"{base}/link/4/web"
    assert got["A Direct Link"][0] == "https://example.org/direct-link"
    assert got["A Removed Item"][0] == f"{base}/link/6/web"  # not the home page it leads to
    hits = {n: web.hits(f"/link/{n}/web") for n in range(1, 7)}
    assert hits == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1}
    # One fetch record, written when the last link was read: the source is whole and ok.
    log = "SELECT status, items FROM fetch_log WHERE source = 'pycoders-weekly'"
    assert db_rows(db, log) == [("ok", 7)]
    assert web.hits("/articles/relative-target") == 0  # a redirect is read, not followed

    # The next night: the feed is read again, the links resolved from the crawl state; only
    # the link that failed is asked again.
    run = crawl(["--sources", str(srcs), "--data-dir", str(data)], base)
    assert run.returncode == 0, run.stderr[-3000:]
    hits = {n: web.hits(f"/link/{n}/web") for n in range(1, 7)}
    assert hits == {1: 1, 2: 1, 3: 2, 4: 1, 5: 1, 6: 1}
    assert stored() == got


# --- faults -----------------------------------------------------------------------------------


@pytest.mark.shared
def test_broken_sources_do_not_stop_the_others_and_show_in_status(web, tmp_path):
    base = web.base_url
    srcs = sources_file(tmp_path, base)
    data = tmp_path / "data"
    names = ["pypy-blog", "broken-hang", "broken-500", "broken-bomb", "broken-html", "broken-dns"]
    args = ["--sources", str(srcs), "--data-dir", str(data), "--progress", "never"]
    for name in names:
        args += ["--source", name]
    started = time.monotonic()
    result = crawl(args, base, RADAR_DOWNLOAD_TIMEOUT="2")
    assert time.monotonic() - started < 60
    assert result.returncode == 1, result.stderr[-3000:]
    assert "1 ok, 0 not modified, 5 failed" in result.stdout
    for name in names[1:]:
        assert f"  {name}: " in result.stderr
    assert "took longer than 2.0 seconds" in result.stderr  # hang
    assert "HTTP 500" in result.stderr
    assert "exceeded DOWNLOAD_MAXSIZE" in result.stderr  # gzip bomb
    assert "not_a_feed" in result.stderr  # HTML instead of XML
    assert "broken-dns: IgnoreRequest: robots.txt unreachable" in result.stderr  # *.invalid.
    assert "Traceback" not in result.stderr
    db = data / "radar.duckdb"
    assert db_rows(db, "SELECT count(*) FROM sightings WHERE source = 'pypy-blog'")[0][0] == 10

    status = crawl(["status", "--sources", str(srcs), "--data-dir", str(data)], base)
    assert status.returncode == 0
    lines = {line.split("\t")[0]: line.split("\t") for line in status.stdout.splitlines()}
    assert lines["broken-500"][2] == "1" and lines["broken-500"][5] == "FAILING"
    assert lines["broken-500"][6] == "HTTP 500"
    assert lines["pypy-blog"][2] == "0" and lines["pypy-blog"][3] == "10"


@pytest.mark.shared
def test_kill_9_loses_nothing_written_and_the_next_run_completes(web, tmp_path):
    base = web.base_url
    srcs = sources_file(tmp_path, base)
    data = tmp_path / "data"
    args = ["--sources", str(srcs), "--data-dir", str(data), "--source", "pypy-blog"]
    args += ["--source", "slow-feed", "--progress", "never"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", *args],
        cwd=REPO,
        env=_env(base, RADAR_DOWNLOAD_TIMEOUT="90"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        written = 0
        while time.monotonic() < deadline:
            files = list((data / "raw").glob("*.jsonl.part")) if (data / "raw").exists() else []
            if files:
                text = files[0].read_text("utf-8")
                written = text.count('"type":"fetch"')
                if written >= 1:  # pypy-blog done, slow-feed still waiting
                    break
            time.sleep(0.1)
        assert written == 1
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    # Killed while writing it, the file still has the name no ingest reads.
    killed_file = next((data / "raw").glob("*.jsonl.part"))
    assert [p.name for p in (data / "raw").iterdir()] == [killed_file.name]
    lines = killed_file.read_text("utf-8").splitlines()
    assert all(json.loads(line) for line in lines)  # every written line is complete
    assert sum('"type":"candidate"' in line for line in lines) == 10
    assert not any('"type":"run_end"' in line for line in lines)

    again = crawl(args, base)  # the lock died with the process; slow-feed answers now
    assert again.returncode == 0, again.stderr[-3000:]
    recovered = killed_file.with_name(killed_file.name.removesuffix(".part"))
    assert f"crawl: recovered {recovered}, the raw file of a crawl that was killed" in again.stderr
    assert recovered.read_text("utf-8").splitlines() == lines and not killed_file.exists()
    assert not list((data / "raw").glob("*.part"))
    db = data / "radar.duckdb"
    assert db_rows(db, "SELECT count(*) FROM raw_files")[0][0] == 2
    by_source = dict(db_rows(db, "SELECT source, count(*) FROM sightings GROUP BY source"))
    assert by_source == {"pypy-blog": 10, "slow-feed": 20}


OVERLAP_SOURCES = """
[[source]]
name = "pypy-blog"
kind = "feed"
url = "{base}/feeds/pypy.xml"
section = "article"

[[source]]
name = "pypy-slow"
kind = "feed"
url = "{base}/slow/pypy.xml"
section = "project"
"""


def quiet_yesterday(data: Path) -> None:
    """nights.json as after a night that found nothing new: one more such night alerts."""
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    data.mkdir(parents=True)
    night = [{"run": "r0", "night": yesterday, "new_items": 0}]
    (data / "nights.json").write_text(json.dumps(night), "utf-8")


def stored(db: Path) -> dict[str, list]:
    """What a store holds, without the times of the run."""
    return {
        "candidates": db_rows(
            db,
            "SELECT canonical_url, url, title, description, section, host, repo_key, published, "
            "date_flag, language, seen_count FROM candidates ORDER BY 1",
        ),
        "sightings": db_rows(
            db,
            "SELECT canonical_url, source, title, section, published FROM sightings ORDER BY 1, 2",
        ),
        "fetch_log": db_rows(db, "SELECT source, status, items FROM fetch_log ORDER BY 1"),
    }


@pytest.mark.shared
def test_rank_and_crawl_ingest_during_a_crawl_leave_its_raw_file_to_it(web, tmp_path):
    """`rank` and `crawl ingest` run while the nightly crawl writes its raw file: neither
    ingests it half-written (nor waits), so the crawl's own ingest counts the night's new
    items (no false quiet-night alert after a quiet night) and the store is the one a crawl
    alone gives."""
    base = web.base_url
    slow = {"RADAR_DOWNLOAD_TIMEOUT": "60"}  # /slow/pypy.xml answers after 10 s
    args = ["--sources", str(sources_file(tmp_path, base, OVERLAP_SOURCES)), "--progress", "never"]
    alone, data = tmp_path / "alone", tmp_path / "data"
    for folder in (alone, data):
        quiet_yesterday(folder)
    reference = crawl([*args, "--data-dir", str(alone)], base, **slow)
    assert reference.returncode == 0, reference.stderr[-3000:]

    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", *args, "--data-dir", str(data)],
        cwd=REPO,
        env=_env(base, **slow),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # pypy-blog done, pypy-slow still waiting
            files = list((data / "raw").glob("*.jsonl*")) if (data / "raw").exists() else []
            if files and '"type":"fetch"' in files[0].read_text("utf-8"):
                break
            time.sleep(0.1)
        rank = subprocess.run(
            [sys.executable, "-m", "ranking.cli", "candidates", "--db", str(data / "radar.duckdb")],
            cwd=REPO,
            env=_env(base),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        ingest = crawl(["ingest", "--data-dir", str(data)], base, timeout=60)
        during = proc.poll() is None
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rank.returncode == 0, rank.stderr[-3000:]
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    assert during, "the crawl ended before rank and crawl ingest did: nothing overlapped"
    assert proc.returncode == 0, err[-3000:]
    assert "alert" not in err
    nights = [json.loads((d / "nights.json").read_text("utf-8"))[-1] for d in (alone, data)]
    assert nights[0]["new_items"] == nights[1]["new_items"] == 10
    assert stored(data / "radar.duckdb") == stored(alone / "radar.duckdb")


@pytest.mark.shared
def test_second_crawl_exits_75_at_once_naming_the_pid(web, tmp_path):
    from crawler.runner import acquire_lock

    data = tmp_path / "data"
    lock = acquire_lock(data)
    timings = []
    try:
        for _ in range(3):  # best of 3: a loaded CI box must not make this flaky
            started = time.monotonic()
            result = crawl(["--data-dir", str(data), "--source", "real-python"], web.base_url)
            timings.append(time.monotonic() - started)
            assert result.returncode == 75
            assert f"PID {os.getpid()}" in result.stderr
    finally:
        lock.release()
    assert min(timings) < 1.0, timings
    assert not (data / "raw").exists()


@pytest.mark.shared
def test_a_busy_database_defers_the_data_to_the_next_ingest(web, tmp_path):
    base = web.base_url
    srcs = sources_file(tmp_path, base)
    data = tmp_path / "data"
    db = data / "radar.duckdb"
    from ranking.store import connect

    connect(db).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print('ok', flush=True); time.sleep(120)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        result = crawl(
            ["--sources", str(srcs), "--data-dir", str(data), "--source", "pypy-blog"], base
        )
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert result.returncode == 0, result.stderr[-3000:]
    assert "database busy, data will land at the next ingest" in result.stderr
    assert f"PID {holder.pid}" in result.stderr
    assert db_rows(db, "SELECT count(*) FROM sightings")[0][0] == 0
    ingest = crawl(["ingest", "--data-dir", str(data)], base)
    assert ingest.returncode == 0, ingest.stderr
    assert db_rows(db, "SELECT count(*) FROM sightings")[0][0] == 10


@pytest.mark.shared
def test_an_unusable_database_exits_3_and_keeps_the_raw_file(web, tmp_path):
    base = web.base_url
    srcs = sources_file(tmp_path, base)
    data = tmp_path / "data"
    data.mkdir()
    (data / "radar.duckdb").write_bytes(b"this is not a duckdb file" * 1000)
    result = crawl(["--sources", str(srcs), "--data-dir", str(data), "--source", "pypy-blog"], base)
    assert result.returncode == 3, result.stderr[-3000:]
    assert "store unavailable" in result.stderr and "Traceback" not in result.stderr
    raw = list((data / "raw").glob("*.jsonl"))
    assert len(raw) == 1 and raw[0].read_text("utf-8").count('"type":"candidate"') == 10


@pytest.mark.shared
def test_usage_and_config_errors_exit_2(web, tmp_path):
    base = web.base_url
    srcs = sources_file(tmp_path, base)
    data = tmp_path / "data"
    unknown = crawl(["--sources", str(srcs), "--data-dir", str(data), "--source", "nope"], base)
    assert unknown.returncode == 2 and "unknown source 'nope'" in unknown.stderr
    missing = crawl(["--sources", str(tmp_path / "missing.toml"), "--data-dir", str(data)], base)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    bad_option = crawl(["--frobnicate"], base)
    assert bad_option.returncode == 2
    assert not (data / "raw").exists()


# --- the address guard is really installed (process-level resolver) ---------------------------

ONE_FEED = """
[[source]]
name = "local-feed"
kind = "feed"
url = "{url}"
"""


@pytest.mark.shared
def test_guard_blocks_loopback_without_the_env_allow_list(web, tmp_path):
    srcs = tmp_path / "s.toml"
    srcs.write_text(
        "".join(
            ONE_FEED.format(
                url=web.base_url.replace("127.0.0.1", host) + "/feeds/pypy.xml"
            ).replace("local-feed", f"via-{name}")
            for name, host in (("ip", "127.0.0.1"), ("name", "localhost"), ("short", "127.1"))
        ),
        "utf-8",
    )
    web.clear_log()
    result = crawl(
        ["--sources", str(srcs), "--data-dir", str(tmp_path / "blocked"), "--no-ingest"],
        web.base_url,
        RADAR_ALLOW_HOSTS="",
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "0 ok, 0 not modified, 3 failed" in result.stdout
    assert "localhost -> 127.0.0.1 is not a public address" in result.stderr  # the resolver
    assert web.hits() == 0, [r.path for r in web.requests]
    # The same crawl with the allow list fetches the feed.
    srcs.write_text(ONE_FEED.format(url=web.base_url + "/feeds/pypy.xml"), "utf-8")
    allowed = crawl(
        ["--sources", str(srcs), "--data-dir", str(tmp_path / "ok"), "--no-ingest"],
        web.base_url,
    )
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    assert web.hits("/feeds/pypy.xml") == 1


def test_redirect_from_an_allowed_host_to_localhost_is_blocked(empty_web, tmp_path):
    server = empty_web
    port = server.port
    server.add_route(
        "/public-page", fault="redirect", location=f"http://localhost:{port}/internal-admin"
    )
    server.add_route("/internal-admin", body="secret admin page")
    srcs = tmp_path / "s.toml"
    srcs.write_text(ONE_FEED.format(url=server.url("/public-page")), "utf-8")
    result = crawl(
        ["--sources", str(srcs), "--data-dir", str(tmp_path / "d"), "--no-ingest"],
        server.base_url,
        RADAR_ALLOW_HOSTS="127.0.0.1",
    )
    assert result.returncode == 1
    assert server.hits("/public-page") == 1
    assert server.hits("/internal-admin") == 0
    assert "localhost -> 127.0.0.1 is not a public address" in result.stderr


# --- politeness -----------------------------------------------------------------------------


def test_robots_5xx_disallows_the_host_for_this_run(empty_web, tmp_path):
    server = empty_web
    server.add_route("/robots.txt", fault="status", status=503)
    server.add_route("/feed.xml", body="<rss><channel><title>x</title></channel></rss>")
    srcs = tmp_path / "s.toml"
    srcs.write_text(ONE_FEED.format(url=server.url("/feed.xml")), "utf-8")
    result = crawl(
        # --progress always: the rich display, even without a terminal.
        ["--sources", str(srcs), "--data-dir", str(tmp_path / "d"), "--progress", "always"],
        server.base_url,
    )
    assert result.returncode == 1
    assert "local-feed: IgnoreRequest: robots.txt answered HTTP 503: host" in result.stderr
    assert server.hits("/robots.txt") >= 1 and server.hits("/feed.xml") == 0


def _feed(n: int, base: str) -> str:
    items = "".join(
        f"<item><title>Post {i}</title><link>{base}/post/{i}</link>"
        f"<pubDate>Fri, 20 Nov 2026 0{i % 10}:00:00 GMT</pubDate></item>"
        for i in range(n)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
    )


TWO_FEEDS = """
[[source]]
name = "feed-one"
kind = "feed"
url = "{base}/one.xml"

[[source]]
name = "feed-two"
kind = "feed"
url = "{base}/two.xml"
"""


def test_crawl_delay_spaces_requests_to_the_host(empty_web, tmp_path):
    server = empty_web
    server.add_route("/robots.txt", body="User-agent: *\nCrawl-delay: 2\n")
    server.add_route("/one.xml", body=_feed(2, "https://one.example"))
    server.add_route("/two.xml", body=_feed(2, "https://two.example"))
    srcs = sources_file(tmp_path, server.base_url, TWO_FEEDS)
    result = crawl(
        ["--sources", str(srcs), "--data-dir", str(tmp_path / "d"), "--no-ingest"],
        server.base_url,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    times = sorted(r.time for r in server.requests if r.path in ("/one.xml", "/two.xml"))
    assert len(times) == 2 and times[1] - times[0] >= 1.9


def test_plain_output_has_the_crawls_lines_not_scrapys_startup_dumps(empty_web, tmp_path):
    # Without a terminal (cron, systemd, `make demo > log`) Scrapy's INFO dumps (versions,
    # settings, extensions, middlewares, stats) buried the crawl's lines: 118 of them here.
    server = empty_web
    server.add_route("/one.xml", body=_feed(2, "https://one.example"))
    server.add_route("/two.xml", fault="status", status=500)
    srcs = sources_file(tmp_path, server.base_url, TWO_FEEDS)
    result = crawl(["--sources", str(srcs), "--data-dir", str(tmp_path / "d")], server.base_url)
    assert result.returncode == 1, result.stderr[-2000:]
    for dump in ("scrapy.middleware", "Enabled extensions", "Overridden settings", "Scrapy stats"):
        assert dump not in result.stderr
    assert "[crawler.cli] INFO: source feed-one: ok, 2 items" in result.stderr
    (failed,) = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert server.url("/two.xml") in failed  # Scrapy's errors name the URL
    assert len(result.stderr.splitlines()) < 20


def test_retry_after_backs_off_then_succeeds(empty_web, tmp_path):
    server = empty_web
    server.add_route(
        "/one.xml",
        body=_feed(3, "https://one.example"),
        sequence=[{"fault": "status", "status": 429, "retry_after": 2}, {}],
    )
    server.add_route("/two.xml", fault="status", status=503, retry_after=86400)
    srcs = sources_file(tmp_path, server.base_url, TWO_FEEDS)
    result = crawl(
        ["--sources", str(srcs), "--data-dir", str(tmp_path / "d"), "--no-ingest"],
        server.base_url,
    )
    assert result.returncode == 1
    hits = [r.time for r in server.requests if r.path == "/one.xml"]
    assert len(hits) == 2 and hits[1] - hits[0] >= 1.9
    assert "feed-one" not in result.stderr.split("failed sources:")[-1]
    assert "feed-two: HTTP 503 (Retry-After 86400)" in result.stderr
    assert server.hits("/two.xml") == 1  # dropped for the night, not retried


def test_github_rate_limit_stops_metadata_requests(empty_web, tmp_path):
    server = empty_web
    links = "".join(
        f'<entry><title>r{i}</title><link href="https://github.com/o/r{i}"/>'
        f"<id>t{i}</id><updated>2026-11-20T00:00:00Z</updated></entry>"
        for i in range(8)
    )
    server.add_route(
        "/repos.atom",
        body=f'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>{links}</feed>',
    )
    for i in range(8):
        server.add_route(
            f"/api/repos/o/r{i}",
            fault="status",
            status=403,
            headers={"X-RateLimit-Remaining": "0"},
        )
    srcs = tmp_path / "s.toml"
    srcs.write_text(ONE_FEED.format(url=server.url("/repos.atom")), "utf-8")
    result = crawl(
        ["--sources", str(srcs), "--data-dir", str(tmp_path / "d"), "--no-ingest"],
        server.base_url,
        RADAR_GITHUB_MAX_REQUESTS="5",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    api_hits = sum(1 for r in server.requests if r.path.startswith("/api/"))
    assert 1 <= api_hits <= 5  # the cap, and no new requests after the 403
    assert "rate limited" in result.stdout


# --- soft 404s and bot challenges (RELIABILITY F19) -----------------------------------------

PAGE_FIXTURES = REPO / "tests" / "fixtures" / "parsers" / "pages"
HN_AND_A_PAGE = """
[[source]]
name = "hn-local"
kind = "hackernews"
url = "{base}/hn.json"

[[source]]
name = "blog-page"
kind = "page"
url = "{base}/blog/moved"
"""
ARTICLE = (
    "<html><head><title>Typing tips for Python 3.14</title>"
    '<meta name="description" content="Seven small typing habits that pay off."></head>'
    "<body><article><p>Annotate the public functions first.</p></article></body></html>"
)


def test_a_challenge_or_soft_404_page_stores_nothing_and_keeps_the_title(empty_web, tmp_path):
    server = empty_web
    html = "text/html; charset=utf-8"
    post = server.url("/post/typing")
    hit = {
        "objectID": "1",
        "title": "Typing tips for Python 3.14",
        "url": post,
        "points": 50,
        "num_comments": 3,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "author": "tester",
    }
    server.add_route("/hn.json", body=json.dumps({"hits": [hit]}), content_type="application/json")
    server.add_route("/post/typing", body=ARTICLE, content_type=html)
    soft_404 = (PAGE_FIXTURES / "soft_404.html").read_text("utf-8")
    server.add_route("/blog/moved", body=soft_404, content_type=html)
    srcs = sources_file(tmp_path, server.base_url, HN_AND_A_PAGE)
    data = tmp_path / "data"
    args = ["--sources", str(srcs), "--data-dir", str(data), "--progress", "never"]
    db = data / "radar.duckdb"
    stored = "SELECT title, description FROM candidates WHERE url = ?"

    first = crawl(args, server.base_url)
    assert first.returncode == 1, first.stderr[-3000:]  # the page source failed
    assert "1 ok, 0 not modified, 1 failed" in first.stdout
    assert "source blog-page failed: parse error: not_an_article: soft 404 page" in first.stderr
    assert db_rows(db, stored, [server.url("/blog/moved")]) == []
    good = ("Typing tips for Python 3.14", "Seven small typing habits that pay off.")
    assert db_rows(db, stored, [post]) == [good]

    # The next night the article answers with Cloudflare's challenge.
    challenge = (PAGE_FIXTURES / "cloudflare_challenge.html").read_text("utf-8")
    server.add_route("/post/typing", body=challenge, content_type=html)
    second = crawl(args, server.base_url)
    assert second.returncode == 1, second.stderr[-3000:]
    assert server.hits("/post/typing") == 2
    (skipped,) = [line for line in second.stderr.splitlines() if post in line]
    assert f"page {post} skipped: not_an_article: bot challenge page" in skipped
    assert db_rows(db, stored, [post]) == [good]
    assert "Traceback" not in first.stderr + second.stderr


# --- sitemap sources over several nights -----------------------------------------------------


def _dated_urlset(base: str, posts: dict[str, int]) -> str:
    """A urlset of posts whose paths carry their date: slug -> days before today."""
    today = datetime.now(UTC)
    urls = "".join(
        f"<url><loc>{base}{(today - timedelta(days=age)).strftime('/%Y/%m/%d/')}{slug}/</loc></url>"
        for slug, age in posts.items()
    )
    return f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'


def _sitemap_index(*children: tuple[str, str]) -> str:
    items = "".join(f"<sitemap><loc>{u}</loc><lastmod>{m}</lastmod></sitemap>" for u, m in children)
    return (
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</sitemapindex>'
    )


def _night_candidates(data: Path) -> dict[str, dict[str, bool]]:
    """The last run's candidates: source -> slug -> history_only."""
    out: dict[str, dict[str, bool]] = {}
    # By time written: two runs in one second sort by their random run ids by name.
    last = max((data / "raw").glob("*.jsonl"), key=lambda path: path.stat().st_mtime_ns)
    for line in last.read_text("utf-8").splitlines():
        rec = json.loads(line)
        if rec["type"] == "candidate":
            slug = rec["url"].rstrip("/").rsplit("/", 1)[1]
            out.setdefault(rec["source"], {})[slug] = bool(rec["extra"].get("history_only"))
    return out


TWO_SITEMAPS = """
[[source]]
name = "index-moves"
kind = "sitemap"
url = "{base}/c/sitemap_index.xml"
options = { fetch_pages = false, max_sitemaps = 1 }

[[source]]
name = "child-fails"
kind = "sitemap"
url = "{base}/b/sitemap_index.xml"
options = { fetch_pages = false }
"""


def test_a_sitemap_read_after_the_first_night_keeps_its_old_posts_history(empty_web, tmp_path):
    # Before, only the first night's sitemaps were flood-guarded: a child sitemap read
    # for the first time later (an old one whose <lastmod> moved up in its index, or one
    # that failed on the first night) poured its old posts into the pool as new.
    server, base = empty_web, empty_web.base_url
    old, new = "2017-12-31", datetime.now(UTC).strftime("%Y-%m-%d")
    night1 = _sitemap_index(
        (f"{base}/c/post-sitemap1.xml", old), (f"{base}/c/post-sitemap2.xml", new)
    )
    night2 = _sitemap_index(
        (f"{base}/c/post-sitemap1.xml", new), (f"{base}/c/post-sitemap2.xml", old)
    )
    server.add_route("/c/sitemap_index.xml", body=night1, sequence=[{}, {"body": night2}])
    archive = {"c-ancient-1": 700, "c-ancient-2": 800, "c-fresh-in-old-child": 10}
    server.add_route("/c/post-sitemap1.xml", body=_dated_urlset(f"{base}/c", archive))
    server.add_route("/c/post-sitemap2.xml", body=_dated_urlset(f"{base}/c", {"c-recent": 2}))
    children = [(f"{base}/b/post-sitemap.xml", new), (f"{base}/b/archive-sitemap.xml", old)]
    server.add_route("/b/sitemap_index.xml", body=_sitemap_index(*children))
    posts = {"b-recent": 3, "b-old-let-in": 200}  # the first night lets in both
    server.add_route("/b/post-sitemap.xml", body=_dated_urlset(f"{base}/b", posts))
    server.add_route(
        "/b/archive-sitemap.xml",
        body=_dated_urlset(f"{base}/b", {"b-archived-1": 400, "b-archived-2": 500}),
        sequence=[{"fault": "status", "status": 404}, {}],
    )
    srcs = sources_file(tmp_path, base, TWO_SITEMAPS)
    data = tmp_path / "data"
    args = ["--sources", str(srcs), "--data-dir", str(data), "--no-ingest"]

    first = crawl(args, base)
    assert first.returncode == 0, first.stderr[-3000:]
    assert _night_candidates(data) == {
        "index-moves": {"c-recent": False},
        "child-fails": {"b-recent": False, "b-old-let-in": False},
    }
    second = crawl(args, base)
    assert second.returncode == 0, second.stderr[-3000:]
    assert server.hits("/c/post-sitemap1.xml") == 1 and server.hits("/b/archive-sitemap.xml") == 2
    # Only posts newer than a month before the source's first night reach the pool; the
    # first night's items keep their lot.
    assert _night_candidates(data) == {
        "index-moves": {"c-ancient-1": True, "c-ancient-2": True, "c-fresh-in-old-child": False},
        "child-fails": {
            "b-recent": False,
            "b-old-let-in": False,
            "b-archived-1": True,
            "b-archived-2": True,
        },
    }


SITEMAPS_NOT_READ = """
[[source]]
name = "refused-blog"
kind = "sitemap"
url = "{base}/robots.txt"
options = { fetch_pages = false }

[[source]]
name = "partly-read"
kind = "sitemap"
url = "{base}/p/sitemap_index.xml"
options = { fetch_pages = false }
"""


def test_a_sitemap_source_that_read_no_sitemap_fails_and_one_that_missed_some_says_so(
    empty_web, tmp_path
):
    # Before, a sitemap source whose children all failed (or were refused by robots.txt,
    # or were no sitemaps) was "ok, 0 items", and crawl status showed no error at all.
    server, base = empty_web, empty_web.base_url
    blocked = f"{base}/blocked/post-sitemap.xml"
    robots = f"User-agent: *\nDisallow: /blocked/\nSitemap: {blocked}\n"
    server.add_route("/robots.txt", body=robots, content_type="text/plain")
    server.add_route("/blocked/post-sitemap.xml", body=_dated_urlset(base, {"hidden": 1}))
    children = [f"{base}/p/{name}.xml" for name in ("post-sitemap", "gone-sitemap", "feed")]
    server.add_route("/p/sitemap_index.xml", body=_sitemap_index(*((u, "") for u in children)))
    server.add_route("/p/post-sitemap.xml", body=_dated_urlset(f"{base}/p", {"a-post": 1}))
    server.add_route("/p/gone-sitemap.xml", fault="status", status=404)
    server.add_route("/p/feed.xml", body=_feed(1, base), content_type="application/rss+xml")
    srcs = sources_file(tmp_path, base, SITEMAPS_NOT_READ)
    data = tmp_path / "data"
    result = crawl(["--sources", str(srcs), "--data-dir", str(data), "--no-ingest"], base)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "2 sources: 1 ok, 0 not modified, 1 failed" in result.stdout
    refused = f"no sitemap read: {blocked}: IgnoreRequest: Forbidden by robots.txt"
    assert f"source refused-blog: FAILED: {refused}" in result.stderr
    missed = f"2 of 3 sitemaps not read: {base}/p/gone-sitemap.xml: HTTP 404"
    assert f"source partly-read: ok, 1 items ({missed})" in result.stderr
    assert server.hits("/blocked/post-sitemap.xml") == 0

    status = crawl(["status", "--sources", str(srcs), "--data-dir", str(data), "--json"], base)
    rows = {r["source"]: r for r in json.loads(status.stdout)}
    assert rows["refused-blog"]["consecutive_failures"] == 1
    assert rows["refused-blog"]["last_error"] == refused
    assert rows["partly-read"]["consecutive_failures"] == 0
    assert rows["partly-read"]["last_error"] == missed
    # The plain table shows it too.
    plain = crawl(["status", "--sources", str(srcs), "--data-dir", str(data)], base).stdout
    lines = {line.split("\t")[0]: line.split("\t") for line in plain.splitlines()}
    assert lines["partly-read"][6] == missed[:80] and lines["refused-blog"][5] == "FAILING"
