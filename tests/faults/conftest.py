"""Fixtures of the fault suite: the fault server subprocess, crawl runs, fixture files.

The fault server (tests/faults/server.py) runs in a subprocess on 127.0.0.1, port 0,
and prints its addresses, as Scrapy's mock server does. Crawls run the real `crawl`
command in subprocesses through tests/faults/crawl_wrapper.py, with the socket guard
on and `RADAR_ALLOW_HOSTS=127.0.0.1`. Several crawls that every test module shares
(the "night" with one source per fault, and the politeness runs) start together at
the first request and run in parallel.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from faults import report
from faults.report import FaultReport, count, figure

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FIXTURES = HERE / "fixtures"
PY = sys.executable

# Test timing knobs for the crawler (DOWNLOAD_TIMEOUT x (RETRY_TIMES+1) bounds a fault).
DOWNLOAD_TIMEOUT = 2.0
RETRY_TIMES = 1  # crawler.settings default, asserted in test_fetch
FAULT_BUDGET = DOWNLOAD_TIMEOUT * (RETRY_TIMES + 1) + 1
ONE_GIB = 1 << 30


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "case(*ids): catalogue IDs (RELIABILITY §2) that this fault test automates"
    )
    if not config.pluginmanager.has_plugin("fault-report"):
        config.pluginmanager.register(FaultReport(config), "fault-report")


# --- in-process connection counter (G3) -------------------------------------------------


@pytest.fixture(autouse=True, scope="session")
def _count_connections(_loopback_only_sockets):
    """Count every in-process TCP/UDP connect by destination, on top of the socket guard.

    Attempts the guard refuses (its own tests aim at `*.invalid.`) are counted apart:
    they never reach the network.
    """
    original = socket.socket.connect
    original_ex = socket.socket.connect_ex
    seen: dict[str, int] = {}
    refused: dict[str, int] = {}

    def note(sock: socket.socket, address: Any, call) -> Any:
        host = str(address[0]) if isinstance(address, tuple) else str(address)
        inet = sock.family in (socket.AF_INET, socket.AF_INET6)
        try:
            result = call(sock, address)
        except ConnectionRefusedError as exc:
            if inet:
                bucket = refused if "socket guard" in str(exc) else seen
                bucket[host] = bucket.get(host, 0) + 1
            raise
        if inet:
            seen[host] = seen.get(host, 0) + 1
        return result

    def connect(self, address):
        return note(self, address, original)

    def connect_ex(self, address):
        return note(self, address, original_ex)

    connect._radar_guard = True  # keep the guard's "installed" marker visible
    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    yield seen
    socket.socket.connect = original
    socket.socket.connect_ex = original_ex
    others = {h: n for h, n in seen.items() if h not in ("127.0.0.1",)}
    total = sum(seen.values())
    report.STATE.counters["inproc_connects"] = total
    report.STATE.counters["inproc_other"] = sum(others.values())
    figure(
        "G3",
        f"in-process: {total} connects, {sum(others.values())} to other addresses"
        + (f" ({others})" if others else "")
        + f"; {sum(refused.values())} deliberate attempts at *.invalid. refused by the guard",
        ok=not others,
    )
    sub_total = report.STATE.counters["subprocess_runs"]
    refused = report.STATE.counters["socket_guard_refusals"]
    figure(
        "G3",
        f"{sub_total} crawl subprocesses with the socket guard on: {refused} outside "
        "connection or DNS attempts reached the guard",
        ok=refused == 0,
    )
    for prog, documented in EXIT_CODES_DOCUMENTED.items():
        seen = {
            int(k.rsplit(":", 1)[1])
            for k, n in report.STATE.counters.items()
            if k.startswith(f"exit:{prog}:") and n
        }
        missing = documented - seen
        figure(
            "G10",
            f"`{prog}`: documented {sorted(documented)}, exercised {sorted(seen & documented)}"
            + (f", missing {sorted(missing)}" if missing else "")
            + (f", undocumented seen {sorted(seen - documented)}" if seen - documented else ""),
            ok=not missing and not (seen - documented - {-9}),
        )
    tracebacks = report.STATE.counters["tracebacks"]
    crashes = report.STATE.counters["parser_internal_errors"]
    figure(
        "G2",
        f"{tracebacks} tracebacks in the stderr of {sub_total} crawl/rank subprocesses; "
        f"{crashes} parser internal errors on hostile input",
        ok=tracebacks == 0 and crashes == 0,
    )


# --- the fault server -------------------------------------------------------------------


@dataclass
class FaultServer:
    base: str
    robots: dict[str, str]
    tls: str | None
    proc: subprocess.Popen

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    def url(self, path: str) -> str:
        return self.base + path

    def log(self) -> list[dict]:
        with urllib.request.urlopen(self.base + "/_log", timeout=10) as resp:
            return json.loads(resp.read())

    def hits(self, path: str, *, port: int | None = None, query: str | None = None) -> int:
        return sum(
            1
            for r in self.log()
            if r["path"] == path
            and (port is None or r["port"] == port)
            and (query is None or r["query"] == query)
        )


@pytest.fixture(scope="session")
def fault_server() -> FaultServer:
    proc = subprocess.Popen(
        [PY, str(HERE / "server.py"), str(FIXTURES)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail("fault server did not start")
    info = json.loads(line)
    assert info["base"].startswith("http://127.0.0.1:")
    server = FaultServer(info["base"], info["robots"], info.get("tls"), proc)
    yield server
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    proc.stdout.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GITHUB_TOKEN", "RADAR_DB") and "proxy" not in k.lower()
    }
    env.update(
        RADAR_ALLOW_HOSTS="127.0.0.1",
        RADAR_DOWNLOAD_DELAY="0",
        RADAR_DOWNLOAD_TIMEOUT=str(DOWNLOAD_TIMEOUT),
        RADAR_SOCKET_GUARD="1",
        PYTHONPATH=os.pathsep.join([str(REPO), str(HERE.parent)]),
    )
    env.update(extra)
    return env


# --- crawl runs -------------------------------------------------------------------------


@dataclass
class CrawlRun:
    """A finished `crawl` subprocess: exit code, output, raw records, timings."""

    returncode: int
    stdout: str
    stderr: str
    data_dir: Path
    elapsed: float
    records: list[dict] = field(default_factory=list)

    @property
    def db(self) -> Path:
        return self.data_dir / "radar.duckdb"

    def fetch(self, source: str) -> dict:
        recs = [r for r in self.records if r.get("type") == "fetch" and r["source"] == source]
        assert recs, f"no fetch record for {source}; stderr tail: {self.stderr[-2000:]}"
        return recs[-1]

    def candidates(self, source: str) -> list[dict]:
        return [r for r in self.records if r.get("type") == "candidate" and r["source"] == source]

    @property
    def maxrss_mb(self) -> float:
        m = re.search(r"FAULTS_MAXRSS_KB=(\d+)", self.stderr)
        return int(m.group(1)) / 1024 if m else float("nan")

    def log_lines(self, needle: str) -> list[str]:
        return [line for line in self.stderr.splitlines() if needle in line]


class PendingCrawl:
    """A crawl started in the background; `.result()` waits for it (once)."""

    def __init__(self, args: list[str], data_dir: Path, env: dict[str, str], timeout: float):
        self.data_dir = data_dir
        self.timeout = timeout
        self.start = time.monotonic()
        self.proc = subprocess.Popen(
            [PY, str(HERE / "crawl_wrapper.py"), *args, "--data-dir", str(data_dir)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._result: CrawlRun | None = None
        self._io: tuple[str, str] | None = None
        self._end = 0.0
        # A thread collects the output, so the run's duration is right however late
        # a test asks for the result (and pipes never fill up).
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        try:
            self._io = self.proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            self._io = (out, err + f"\nFAULTS: killed after {self.timeout} s")
        self._end = time.monotonic()

    def result(self) -> CrawlRun:
        if self._result is None:
            self._thread.join()
            assert self._io is not None
            out, err = self._io
            if "FAULTS: killed after" in err:
                pytest.fail(f"crawl did not finish in {self.timeout} s: {err[-2000:]}")
            self._result = finish_run(
                self.proc.returncode, out, err, self.data_dir, self._end - self.start
            )
        return self._result


def finish_run(code: int, out: str, err: str, data_dir: Path, elapsed: float) -> CrawlRun:
    records: list[dict] = []
    for path in sorted((data_dir / "raw").glob("*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                records.append(json.loads(line))
    run = CrawlRun(code, out, err, data_dir, elapsed, records)
    note_subprocess(err)
    report.STATE.counters[f"exit:crawl:{code}"] += 1
    count("parser_internal_errors", sum("internal_error" in str(r.get("error")) for r in records))
    return run


def note_subprocess(stderr: str) -> None:
    """Count what G2/G3 watch for in a subprocess's stderr."""
    count("subprocess_runs")
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        if "Traceback (most recent call last)" not in line:
            continue
        before = next((x for x in reversed(lines[:i]) if x.strip()), "")
        # A crash the product caught, isolated and logged with its traceback (F27):
        # counted apart from uncaught exceptions.
        if "crashed on" in before or "failed on source" in before:
            count("logged_isolated_crashes")
        else:
            count("tracebacks")
    count("socket_guard_refusals", stderr.count("socket guard: connection to"))
    count("memory_errors", stderr.count("MemoryError"))


def sources_toml(sources: list[tuple[str, str, str]]) -> str:
    """[(name, kind, url)] -> a sources file."""
    return "".join(
        f'[[source]]\nname = "{n}"\nkind = "{k}"\nurl = "{u}"\n\n' for n, k, u in sources
    )


def start_crawl(
    tmp: Path,
    sources: list[tuple[str, str, str]] | None,
    *,
    args: tuple[str, ...] = (),
    settings: dict[str, Any] | None = None,
    rlimit_as: int | None = None,
    timeout: float = 90,
    tag: str | None = None,
    **env: str,
) -> PendingCrawl:
    """Start `crawl` in the background; `tag` goes into the User-Agent (server log filter)."""
    tmp.mkdir(parents=True, exist_ok=True)
    if tag:
        env["RADAR_USER_AGENT"] = f"WeeklyRadar/0.1 (fault suite; run={tag})"
    argv = list(args)
    if sources is not None:
        path = tmp / "sources.toml"
        path.write_text(sources_toml(sources), "utf-8")
        argv = ["--sources", str(path), *argv]
    extra = dict(env)
    if settings:
        extra["FAULTS_SETTINGS"] = json.dumps(settings)
    if rlimit_as:
        extra["FAULTS_RLIMIT_AS"] = str(rlimit_as)
    return PendingCrawl(argv, tmp / "data", _env(**extra), timeout)


def run_crawl(tmp: Path, sources: list[tuple[str, str, str]] | None, **kw: Any) -> CrawlRun:
    return start_crawl(tmp, sources, **kw).result()


@pytest.fixture(scope="session")
def crawl_env():
    """The environment every crawl/rank subprocess of the suite gets."""
    return _env


# --- the shared crawls: one night with a source per fault, and politeness runs ----------

PARALLEL = {"CONCURRENT_REQUESTS_PER_DOMAIN": 16}


def night_sources(srv: FaultServer) -> list[tuple[str, str, str]]:
    b = srv.base
    r = srv.robots
    p = srv.port
    fx = f"{b}/fixture/feeds"
    s: list[tuple[str, str, str]] = [
        # healthy sources (G9)
        ("ok-rss", "feed", f"{fx}/healthy-rss.xml"),
        ("ok-atom", "feed", f"{fx}/healthy-atom.xml"),
        ("ok-json", "feed", f"{b}/fixture/feeds/P7-json-feed.json"),
        ("ok-robots404", "feed", f"{r['r404']}/fixture/feeds/healthy-rss2.xml"),
        ("ok-robotshtml", "feed", f"{r['rhtml']}/fixture/feeds/healthy-rss2.xml"),
        ("ok-robotsempty", "feed", f"{r['rempty']}/fixture/feeds/healthy-rss2.xml"),
        ("ok-robotsgarbage", "feed", f"{r['rgarbage']}/fixture/feeds/healthy-rss2.xml"),
        ("ok-octet", "feed", f"{fx}/F18-html-ct-feed.xml?ct=application/octet-stream"),
        ("ok-texthtml", "feed", f"{fx}/F18-html-ct-feed.xml?ct=text/html"),
        ("ok-textplain", "feed", f"{fx}/F18-html-ct-feed.xml?ct=text/plain"),
        ("ok-png-ct", "feed", f"{fx}/F18-html-ct-feed.xml?ct=image/png"),
        ("ok-badheaders", "feed", f"{b}/badheaders"),
        ("ok-sid", "feed", f"{fx}/F22-session-ids.xml"),
        ("ok-longurl", "feed", f"{fx}/F23-long-url.xml"),
        ("ok-idn", "feed", f"{fx}/F25-idn-homoglyph.xml"),
        ("ok-userinfo", "feed", f"{fx}/F26-userinfo.xml"),
        ("ok-schemes", "feed", f"{fx}/F10-schemes.xml"),
        ("ok-dtd", "feed", f"{fx}/P4-external-dtd.xml"),
        ("ok-hn", "hackernews", f"{b}/fixture/web/hn-faults.json"),
        # fetch faults
        ("f1-hang", "feed", f"{b}/hang"),
        ("f2-drip", "feed", f"{b}/drip"),
        ("f3-gzip", "feed", f"{b}/bomb/gzip"),
        ("f3-deflate", "feed", f"{b}/bomb/deflate"),
        ("f3-br", "feed", f"{b}/bomb/br"),
        ("f3-zstd", "feed", f"{b}/bomb/zstd"),
        ("f3-gzip12", "feed", f"{b}/bomb/gzip?mib=12"),
        ("f4-big", "feed", f"{b}/big?mib=30"),
        ("f4-chunked", "feed", f"{b}/chunked?mib=30"),
        ("f5-truncate", "feed", f"{b}/truncate"),
        ("f5-badchunk", "feed", f"{b}/badchunk"),
        ("f5-reset", "feed", f"{b}/reset"),
        ("f6-loop", "feed", f"{b}/loop/a"),
        ("f7-file", "feed", f"{b}/redirect?to=file:///etc/passwd"),
        ("f7-data", "feed", f"{b}/redirect?to=data:text/html,hello"),
        ("f7-ftp", "feed", f"{b}/redirect?to=ftp://127.0.0.1:{p}/x"),
        ("f12-r500", "feed", f"{r['r500']}/fixture/feeds/healthy-rss2.xml"),
        ("f12-r503", "feed", f"{r['r503']}/fixture/feeds/healthy-rss2.xml"),
        ("f12-rhang", "feed", f"{r['rhang']}/fixture/feeds/healthy-rss2.xml"),
        ("f12-dns", "feed", "http://robots-dns-failure.invalid./feed.xml"),
        ("f16-refused", "feed", f"http://127.0.0.1:{closed_port()}/feed.xml"),
        ("f19-empty", "feed", f"{b}/status/200?empty=1"),
        ("f19-soft404", "feed", f"{fx}/F19-soft404.xml?ct=text/html"),
        ("f19-500", "feed", f"{b}/status/500"),
        ("f27-crash", "feed", f"{fx}/F27-crash.xml"),
        ("p1-entities", "feed", f"{fx}/P1-billion-laughs-lines.xml"),
        ("p4-xxe-http", "feed", f"{fx}/P4-xxe-http.xml"),
        ("p4-param", "feed", f"{fx}/P4-param-entity.xml"),
        ("p7-html", "feed", f"{fx}/P7-html-page.xml?ct=text/html"),
    ]
    for i, (host, _why) in enumerate(SSRF_SPELLINGS):
        s.append((f"f9-direct-{i:02d}", "feed", f"http://{host}:{p}/internal-admin"))
    for i, (host, _why) in enumerate(SSRF_SPELLINGS[:8]):
        s.append(
            (f"f8-redirect-{i:02d}", "feed", f"{b}/redirect?to=http://{host}:{p}/internal-admin")
        )
    return s


# Private, loopback, link-local, CGNAT, reserved and mapped spellings (F9, G7).
SSRF_SPELLINGS: list[tuple[str, str]] = [
    ("localhost", "loopback name"),
    ("127.1", "short dotted loopback"),
    ("2130706433", "decimal loopback"),
    ("0x7f000001", "hex loopback"),
    ("0177.0.0.1", "octal loopback"),
    ("0", "zero = 0.0.0.0"),
    ("[::1]", "IPv6 loopback"),
    ("[::ffff:127.0.0.1]", "IPv4-mapped loopback"),
    ("169.254.169.254", "cloud metadata (link-local)"),
    ("100.64.0.1", "CGNAT"),
    ("10.0.0.1", "RFC 1918 10/8"),
    ("[fd00::1]", "IPv6 unique local"),
    ("127.0.0.2", "another loopback"),
    ("0x7f.1", "hex short loopback"),
    ("192.168.1.1", "RFC 1918 192.168/16"),
    ("172.16.0.1", "RFC 1918 172.16/12"),
    ("0.0.0.0", "unspecified"),
    ("[::]", "IPv6 unspecified"),
    ("[fe80::1]", "IPv6 link-local"),
    ("[::ffff:169.254.169.254]", "IPv4-mapped metadata"),
    ("017700000001", "octal single number"),
    ("LOCALHOST.", "upper-case loopback name with a trailing dot"),
    ("224.0.0.1", "multicast"),
    ("198.18.0.1", "benchmarking range"),
]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MemProbe:
    """tests/faults/memprobe.py in the background: hostile inputs under RLIMIT_AS 1 GiB."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [PY, str(HERE / "memprobe.py")],
            cwd=REPO,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._out: tuple[str, str] | None = None
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        self._out = self.proc.communicate(timeout=180)

    def results(self) -> dict[str, dict]:
        self._thread.join()
        assert self._out is not None
        out, err = self._out
        note_subprocess(err)
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        assert rows, err[-2000:]
        return {r["name"]: r for r in rows}


@dataclass
class Shared:
    night: PendingCrawl
    polite: PendingCrawl
    drop: PendingCrawl
    timing: PendingCrawl
    server: FaultServer
    probe: MemProbe
    more: dict[str, PendingCrawl] = field(default_factory=dict)


@pytest.fixture(scope="session", autouse=True)
def shared_crawls(fault_server, tmp_path_factory) -> Shared:
    """Started with the first fault test, so they run while the in-process tests do."""
    srv = fault_server
    probe = MemProbe()
    night = start_crawl(
        tmp_path_factory.mktemp("night"),
        night_sources(srv),
        settings=PARALLEL,
        rlimit_as=ONE_GIB,
        tag="night",
        FAULTS_CRASH_MARKER="RAISE-IN-PARSER",
    )
    d = srv.robots["rdelay"]
    polite = start_crawl(
        tmp_path_factory.mktemp("polite"),
        [
            ("cd-a", "feed", f"{d}/fixture/feeds/healthy-rss.xml"),
            ("cd-b", "feed", f"{d}/fixture/feeds/healthy-atom.xml"),
            ("ra-short", "feed", f"{d}/status/503?retry_after=2"),
        ],
        settings=PARALLEL,
    )
    drop = start_crawl(
        tmp_path_factory.mktemp("drop"),
        [("ra-long", "feed", f"{srv.base}/status/429?retry_after=600")],
    )
    timing = start_crawl(
        tmp_path_factory.mktemp("timing"),
        [(name, "feed", f"{srv.base}{path}") for name, path in TIMED_FAULTS],
        settings=PARALLEL,
    )
    shared = Shared(night, polite, drop, timing, srv, probe)
    ok_feed = ("ok", "feed", f"{srv.base}/fixture/feeds/healthy-rss.xml")
    if srv.tls:
        shared.more["tls"] = start_crawl(
            tmp_path_factory.mktemp("tls"),
            [("tls", "feed", f"{srv.tls}/fixture/feeds/healthy-rss.xml")],
        )
    shared.more["j9"] = start_crawl(
        tmp_path_factory.mktemp("j9"),
        [ok_feed, ("hn", "hackernews", f"{srv.base}/fixture/web/hn-faults.json")],
    )
    stale = tmp_path_factory.mktemp("stale")
    (stale / "data").mkdir()
    (stale / "data" / "crawl.lock").write_text("999999\n")  # left by a kill -9ed run
    shared.more["stale"] = start_crawl(stale, [ok_feed])
    return shared


# The fetch faults whose time G5 bounds, crawled on their own (no other load on the host).
TIMED_FAULTS = [
    ("t-hang", "/hang?timed=1"),
    ("t-drip", "/drip?timed=1"),
    ("t-truncate", "/truncate?timed=1"),
    ("t-badchunk", "/badchunk?timed=1"),
    ("t-reset", "/reset?timed=1"),
    ("t-loop", "/loop/a?timed=1"),
    ("t-bomb", "/bomb/br?timed=1"),
    ("t-chunked", "/chunked?mib=30&timed=1"),
]


@pytest.fixture(scope="session")
def memprobe(shared_crawls) -> dict[str, dict]:
    return shared_crawls.probe.results()


@pytest.fixture(scope="session")
def night(shared_crawls) -> CrawlRun:
    return shared_crawls.night.result()


@pytest.fixture(scope="session")
def fault_log(night, fault_server) -> list[dict]:
    """The fault server's request log of the night's requests, once the night is over."""
    return [r for r in fault_server.log() if "run=night" in r["headers"].get("User-Agent", "")]


# --- fixture files with Description / Expect ---------------------------------------------


@dataclass
class FixtureCase:
    path: Path
    case: str
    description: str
    expect: str
    headers: dict[str, str]
    body: bytes

    @property
    def id(self) -> str:
        return self.path.stem


_FIELD = re.compile(r"^(Case|Description|Expect|Headers):\s*(.*)$", re.M)


def load_fixture(path: Path) -> FixtureCase:
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        text = data.decode("latin-1")
    if path.suffix == ".json":
        meta = json.loads(data)["_fault"]
        fields = {k: meta[k] for k in ("Case", "Description", "Expect")}
    else:
        fields = {k: v.strip() for k, v in _FIELD.findall(text)}
    headers = {}
    if fields.get("Headers"):
        name, _, value = fields["Headers"].partition(":")
        headers[name.strip().lower()] = value.strip()
    return FixtureCase(path, fields["Case"], fields["Description"], fields["Expect"], headers, data)


def fixture_cases(folder: str, prefix: tuple[str, ...]) -> list[FixtureCase]:
    return [
        load_fixture(p)
        for p in sorted((FIXTURES / folder).iterdir())
        if p.name.startswith(prefix) and p.suffix in (".xml", ".json", ".html")
    ]


# --- the CLIs as the user runs them ------------------------------------------------------


EXIT_CODES_DOCUMENTED = report.documented_exit_codes()


def run_cli(
    prog: str, args: list[str], *, timeout: float = 120, pre: str = "", **env: str
) -> subprocess.CompletedProcess:
    """Run `crawl` or `rank` in a subprocess; record its exit code for G10.

    `pre` is Python run before the command (e.g. a resource limit), in the same process.
    """
    module = {"crawl": "crawler.cli", "rank": "ranking.cli"}[prog]
    code = f"{pre}\nimport sys\nfrom {module} import main\nsys.exit(main(sys.argv[1:]))"
    proc = subprocess.run(
        [PY, "-c", code, *args],
        cwd=REPO,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    note_subprocess(proc.stderr)
    report.STATE.counters[f"exit:{prog}:{proc.returncode}"] += 1
    return proc


def one_line_error(proc: subprocess.CompletedProcess, prog: str) -> str:
    """Assert a fail-fast: no traceback, and a `prog: error: ...` line; return that line."""
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith(f"{prog}: error:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


def hold_db(db: Path, *, read_only: bool, rows: int = 0) -> subprocess.Popen:
    """Another process (a notebook, a second writer) holding the DuckDB file open."""
    code = (
        "import duckdb, sys\n"
        f"con = duckdb.connect({str(db)!r}, read_only={read_only})\n"
        f"for i in range({rows}): con.execute('INSERT INTO t VALUES (?)', [i])\n"
        "print('HOLDING', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [PY, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env()
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "HOLDING"
    return proc


def release(proc: subprocess.Popen) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    proc.wait(timeout=30)
    proc.stdout.close()
