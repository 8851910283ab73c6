"""pytest plugin: which catalogue case each fault test proves, and the goal figures.

Every fault test carries ``@pytest.mark.case("F9", ...)`` with the catalogue IDs of
RELIABILITY §2 it automates. Tests also record measured goal figures with
``figure("G5", "hang resolved in 4.1 s", ok=True)``. At the end of a run that executed
the whole fault suite, the plugin writes ``docs/RELIABILITY.md``: the table of cases with
their status (pass / FAIL / xfail / skipped / not automated, with the reason) and one
line per goal G1-G16 with its figures. A partial run (``-k``, ``-m``, a single file)
writes nothing, so the document always describes a complete run.
"""

from __future__ import annotations

import os
import platform
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAULTS_DIR = Path(__file__).resolve().parent
DOC = REPO / "docs" / "RELIABILITY.md"

AREAS = {
    "F": "Fetching",
    "P": "Feed parsing",
    "H": "HTML extraction",
    "S": "Storage",
    "R": "Ranking",
    "C": "CSV out",
    "I": "CSV in",
    "J": "CLI and nightly job",
}


def documented_exit_codes(doc: Path = REPO / "docs" / "OPERATIONS.md") -> dict[str, set[int]]:
    """Program -> the codes of its table in the "## Exit codes" section of OPERATIONS.md."""
    text = doc.read_text("utf-8")
    section = text.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    out: dict[str, set[int]] = {}
    prog = None
    for line in section.splitlines():
        head = re.fullmatch(r"`(\w+)`.*:", line.strip())
        if head:
            prog = head.group(1)
        row = re.match(r"\| (\d+) \|", line)
        if row and prog:
            out.setdefault(prog, set()).add(int(row.group(1)))
    return out


# Our one-line summary of each catalogue case (the catalogue itself has the details).
CASES: dict[str, str] = {
    "F1": "server accepts, never answers",
    "F2": "slowloris: one byte at a time",
    "F3": "decompression bombs (gzip, deflate, br, zstd)",
    "F4": "huge body, with or without Content-Length",
    "F5": "body shorter than Content-Length; broken chunking",
    "F6": "redirect loop",
    "F7": "redirect to file:, data:, ftp:",
    "F8": "redirect from an allowed host to a private one",
    "F9": "private addresses in every spelling",
    "F10": "file:// and ftp:// links in feeds and pages",
    "F11": "robots.txt 404",
    "F12": "robots.txt 5xx, timeout or DNS failure",
    "F13": "robots.txt that is HTML, empty or 5 MB of garbage",
    "F14": "robots.txt Crawl-delay",
    "F15": "429/503 with Retry-After",
    "F16": "DNS failure or refused port",
    "F17": "self-signed or expired TLS certificate",
    "F18": "wrong Content-Type",
    "F19": "empty body, soft 404, bot challenge or captcha page",
    "F20": "malformed and duplicate headers",
    "F21": "infinite calendar",
    "F22": "session ids in URLs",
    "F23": "URL longer than 2083 characters",
    "F24": "100,000 anchors on one page",
    "F25": "IDN and homoglyph hosts",
    "F26": "URL parser differentials (user-info, backslash)",
    "F27": "one source's callback raises",
    "P1": "billion laughs, one entity per line",
    "P2": "billion laughs on one line",
    "P3": "quadratic entity blowup",
    "P4": "XXE: file, http, parameter entity, external DTD",
    "P5": "character references to surrogates / beyond U+10FFFF",
    "P6": "entity value with a backslash",
    "P7": "HTML, empty body, JSON Feed, truncated XML",
    "P8": "encodings: undeclared cp1252, lying header, UTF-16, invalid bytes, GBK",
    "P9": "script in titles, javascript:/data: links, formula guid",
    "P10": "awkward and impossible dates",
    "P11": "10 MB title; 100,000 entries",
    "P12": "untrusted string handed to feedparser",
    "P13": "feedparser fetching a URL itself",
    "P14": "bidi, zero-width and control characters in titles",
    "P15": "duplicate or missing GUIDs, entries without a link",
    "H1": "javascript: links among followed links",
    "H2": "file://, ftp:// and private-address links",
    "H3": "header charset contradicts the body",
    "H4": "short page without a charset",
    "H5": "binary body on an article URL",
    "H6": "entity bombs and XXE in HTML",
    "H7": "deeply nested or very large HTML",
    "H8": "missing, empty, multiple titles; og:title only",
    "H9": "escaped script in <title>",
    "H10": "meta-refresh loop",
    "S1": "second read-write process while the nightly holds the DB",
    "S2": "notebook holds a read-only connection",
    "S3": "kill -9 mid-transaction",
    "S4": "same night re-run / resume after a kill",
    "S5": "same key twice in one batch",
    "S6": "NULL or empty key",
    "S7": "lone surrogate in a string",
    "S8": "database written by a newer version",
    "S9": "copying the DB file while a writer is open",
    "S10": "disk full during ingestion",
    "S11": "truncated or corrupted WAL",
    "R1": "invalid --week values",
    "R2": "a week with 0 candidates, a future week",
    "R3": "missing, future or absurd dates",
    "R4": "URL variants of one article",
    "R5": "candidate already featured",
    "R6": "one domain floods the pool",
    "R7": "NaN/inf features, empty or 10 MB title",
    "R8": "two runs on the same DB and week",
    "R9": "NFC/NFD and full-width title variants",
    "C1": "formula triggers at the start of a cell",
    "C2": "newlines, quotes, commas, semicolons",
    "C3": "title longer than Excel's cell limit",
    "C4": "non-ASCII text (BOM for Excel)",
    "C5": "IDs Excel cannot reinterpret",
    "C6": "javascript:/data: URLs, bidi controls",
    "C7": "crash half-way through writing",
    "I1": "UTF-8 BOM",
    "I2": "re-saved as cp1252 or MacRoman",
    "I3": "semicolon delimiter",
    "I4": "reordered, extra, renamed columns",
    "I5": "unknown id, conflicting duplicates, blank decision",
    "I6": "decision spelling variants",
    "I7": "leading-apostrophe cells",
    "I8": "formula cells saved as values",
    "I9": "empty, header-only, .xlsx, huge, other week",
    "I10": "same feedback applied twice",
    "J1": "second nightly while the first runs",
    "J2": "previous run kill -9ed (stale lock)",
    "J3": "SIGTERM/SIGINT during the crawl",
    "J4": "1 of N sources down",
    "J5": "all sources fail; 0 new items 2 nights in a row",
    "J6": "DB missing, locked or incompatible",
    "J7": "config missing/invalid; unwritable output",
    "J8": "no network at all",
    "J9": "exit code derived from sources, never Scrapy's",
}

GOALS: dict[str, str] = {
    "G1": "catalogue coverage (>= 90 cases automated)",
    "G2": "0 uncaught exceptions",
    "G3": "0 connections to anything but 127.0.0.1",
    "G4": "runs under RLIMIT_AS 1 GiB; peak RSS per bad input <= 256 MB",
    "G5": "each fetch fault within DOWNLOAD_TIMEOUT x (RETRY_TIMES+1) + 1 s; XML gate < 50 ms",
    "G6": "every decompression bomb stopped at the cap",
    "G7": "100% of >= 14 private spellings and redirects blocked, 0 hits",
    "G8": ">= 20 kill -9 during ingestion: 0 lost, 0 duplicates, 0 partial",
    "G9": "broken sources never cost a healthy source's items",
    "G10": "every documented exit code tested",
    "G11": "100% of formula triggers neutralized; lossless round trip",
    "G12": "every feedback-file variant applied or reported per row",
    "G13": "dates never silently rolled over",
    "G14": "no lone surrogates or control characters in the store or CSV",
    "G15": "shortlist byte-identical twice",
    "G16": "second nightly exits 75 in < 1 s; notebook-held DB is busy, data lands later",
}

# Cases that no test automates, and why (shown in the table).
NOT_AUTOMATED: dict[str, str] = {}

# Where a case's tests cover less than the catalogue asks, said next to its status.
LIMITS: dict[str, str] = {
    "F14": "Crawl-delay 3 s (the catalogue says 10 s) to keep the suite fast",
    "F15": "Retry-After 2 s (backed off, retried once) and 600 s (host dropped); 120 s "
    "itself is not waited for",
    "F17": "the decision (certificates not verified) is recorded in crawler/settings.py; "
    "no per-fetch log field says so",
    "F21": "the spider never follows page links; the calendar is reached through an "
    "aggregator and stopped by the per-host page cap",
    "F24": "the spider never follows page anchors, so there is no link cap to test; "
    "a page with 100,000 anchors is parsed within 256 MB and the time limit (memory probe)",
    "H1": "the spider never follows page anchors; tested: a page with javascript:, file: "
    "and ftp: links parses, and the spider middleware drops non-http Requests (H2)",
    "P11": "the feed parser still reads all 100,000 entries; only the document's first "
    "1,000 (5 x the cap) become candidates, of which the newest 200 are kept (see the G4 "
    "figure)",
    "S9": "tests ranking.store.snapshot (ATTACH read-only + copy), not a file copy",
    "S11": "recovery from the pre-run backup is checked in docs/OPERATIONS.md, not run",
    "R5": "end to end (`rank --week`: off the shortlist, listed with its reason by "
    "--show-featured) only a match by URL is exercised; matches by repository and by title "
    "are tested on ranking.pool.featured_matches (tests/test_pool.py)",
    "I2": "cp1252 and MacRoman files are decoded (chardet), so the fail-fast branch (bytes "
    "no codec decodes) is not exercised",
    "J7": "`rank --out` into a read-only folder is not tested (the suite runs as root, which "
    "ignores permissions); an unusable crawl data directory is; atomic overwrite is C7",
}


@dataclass
class Figure:
    text: str
    ok: bool


@dataclass
class _State:
    outcomes: dict[str, list[tuple[str, str, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # case -> [(nodeid, outcome, reason)]
    figures: dict[str, list[Figure]] = field(default_factory=lambda: defaultdict(list))
    collected: set[str] = field(default_factory=set)
    ran: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)
    counters: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    first_start: float | None = None  # epoch of the first fault test's setup
    last_stop: float | None = None  # epoch of the last fault test's teardown


STATE = _State()


def figure(goal: str, text: str, ok: bool = True) -> None:
    """Record a measured figure for a goal (G1-G16)."""
    if goal not in GOALS:
        raise KeyError(f"unknown goal {goal}")
    STATE.figures[goal].append(Figure(text, ok))


def count(name: str, n: int = 1) -> None:
    """Add to a suite-wide counter (e.g. tracebacks seen in subprocess output)."""
    STATE.counters[name] += n


def _is_fault_item(item: pytest.Item) -> bool:
    return Path(str(item.path)).resolve().is_relative_to(FAULTS_DIR)


class FaultReport:
    """The plugin object; registered by tests/faults/conftest.py."""

    def __init__(self, config: pytest.Config):
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if _is_fault_item(item):
                STATE.collected.add(item.nodeid)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        if not _is_fault_item(item):
            return
        start, stop = getattr(report, "start", None), getattr(report, "stop", None)
        if start is not None and (STATE.first_start is None or start < STATE.first_start):
            STATE.first_start = start
        if stop is not None and (STATE.last_stop is None or stop > STATE.last_stop):
            STATE.last_stop = stop
        cases = [c for m in item.iter_markers("case") for c in m.args]
        status = None
        reason = ""
        if report.when == "setup" and report.skipped:
            status, reason = "skipped", _skip_reason(report)
        elif report.when == "setup" and report.failed:
            status, reason = "failed", "setup error"
        elif report.when == "call":
            if hasattr(report, "wasxfail"):
                status = "xpassed" if report.passed else "xfailed"
                reason = report.wasxfail
            elif report.skipped:
                status, reason = "skipped", _skip_reason(report)
            else:
                status = report.outcome
        elif report.when == "teardown" and report.failed:
            status, reason = "failed", "teardown error"
        if status is None:
            return
        STATE.ran.add(item.nodeid)
        for case in cases:
            STATE.outcomes[case].append((item.nodeid, status, reason))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        opt = self.config.option
        if os.environ.get("FAULTS_REPORT", "1") == "0" or getattr(opt, "collectonly", False):
            return
        complete = (
            STATE.collected
            and STATE.collected <= STATE.ran
            and not getattr(opt, "keyword", "")
            and not getattr(opt, "markexpr", "")
            and len(STATE.collected) >= _expected_fault_tests()
        )
        if not complete:
            return
        DOC.parent.mkdir(parents=True, exist_ok=True)
        if STATE.first_start is not None and STATE.last_stop is not None:
            elapsed = STATE.last_stop - STATE.first_start
        else:
            elapsed = time.monotonic() - STATE.started
        DOC.write_text(render(elapsed), encoding="utf-8")
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line(f"fault suite: wrote {DOC.relative_to(REPO)}")
            unmet = unmet_goals()
            if unmet:  # a goal figure is a measurement, not a test: say it where it is seen
                tr.write_line(
                    f"fault suite: goals NOT met: {', '.join(unmet)}", red=True, bold=True
                )


def _expected_fault_tests() -> int:
    """A floor that tells a full fault run from one file (`pytest tests/faults/x.py`)."""
    return 150


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def case_status(case: str) -> tuple[str, str]:
    """(status, detail) of one catalogue case from the outcomes of its tests."""
    runs = STATE.outcomes.get(case, [])
    if not runs:
        return "not automated", NOT_AUTOMATED.get(case, "no test yet")
    kinds = [o for _, o, _ in runs]
    n = len(runs)
    if "failed" in kinds or "xpassed" in kinds:
        bad = [nid.split("::")[-1] for nid, o, _ in runs if o in ("failed", "xpassed")]
        return "FAIL", f"{len(bad)} of {n} tests failed: {', '.join(bad)[:400]}"
    if "passed" in kinds and not {"xfailed", "skipped"} & set(kinds):
        return "pass", f"{n} test{'s' if n > 1 else ''}"
    if "passed" in kinds:
        notes = sorted({f"{o}: {r}" for _, o, r in runs if o != "passed"})
        return "pass (partly)", f"{kinds.count('passed')} of {n} pass; " + "; ".join(notes)[:900]
    if "xfailed" in kinds:
        notes = sorted({r for _, o, r in runs if o == "xfailed"})
        return "xfail", "; ".join(notes)[:900]
    notes = sorted({r for _, _, r in runs})
    return "skipped", "; ".join(notes)[:300]


def _automated_and_passing() -> tuple[set[str], set[str]]:
    automated = {
        c for c in CASES if case_status(c)[0] in ("pass", "pass (partly)", "FAIL", "xfail")
    }
    passing = {c for c in CASES if case_status(c)[0] in ("pass", "pass (partly)")}
    return automated, passing


def goal_figures() -> dict[str, list[Figure]]:
    """The measured figures of each goal: those the tests recorded, plus G1 (catalogue
    coverage) and G2's strict xfails pinning known uncaught exceptions."""
    automated, passing = _automated_and_passing()
    figures = {goal: list(figs) for goal, figs in STATE.figures.items()}
    g1 = f"{len(automated)} cases automated ({len(passing)} passing)"
    figures.setdefault("G1", []).insert(0, Figure(g1, len(automated) >= 90))
    pinned = sorted(
        {
            nid.split("::")[-1]
            for runs in STATE.outcomes.values()
            for nid, outcome, reason in runs
            if outcome == "xfailed" and ("uncaught" in reason or "crashes" in reason)
        }
    )
    if pinned:
        figures.setdefault("G2", []).append(
            Figure(
                f"{len(pinned)} known uncaught exceptions pinned by strict xfail tests "
                f"({', '.join(pinned)})",
                False,
            )
        )
    return figures


def unmet_goals() -> list[str]:
    """Goals with a figure that is not ok (a goal not measured is not counted here)."""
    figures = goal_figures()
    return [g for g in GOALS if figures.get(g) and not all(f.ok for f in figures[g])]


def render(elapsed: float) -> str:
    automated, passing = _automated_and_passing()
    per_area = defaultdict(lambda: [0, 0])
    for case in CASES:
        area = case.rstrip("0123456789")
        per_area[area][1] += 1
        if case in automated:
            per_area[area][0] += 1
    lines = [
        "# Reliability: the fault suite's report",
        "",
        "<!-- Generated by tests/faults/report.py at the end of a full `pytest` run."
        " Do not edit by hand: run `make test` (or `pytest tests/faults`). -->",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on Python "
        f"{platform.python_version()}; fault suite: {len(STATE.ran)} tests in {elapsed:.0f} s "
        f"wall time (from the first fault test's setup to the last one's teardown, on "
        f"{os.cpu_count()} CPUs).",
        "",
        f"Catalogue cases automated: **{len(automated)} of {len(CASES)}** "
        f"({len(passing)} passing). By area: "
        + ", ".join(f"{AREAS[a]} {per_area[a][0]}/{per_area[a][1]}" for a in AREAS)
        + ".",
        "",
        "## Goals",
        "",
        "| Goal | Target | Measured | Met |",
        "|---|---|---|---|",
    ]
    figures = goal_figures()
    for goal, target in GOALS.items():
        figs = figures.get(goal, [])
        if not figs:
            lines.append(f"| {goal} | {target} | not measured | - |")
            continue
        met = "yes" if all(f.ok for f in figs) else "**NO**"
        text = "; ".join(_cell(f.text) for f in figs)
        lines.append(f"| {goal} | {target} | {text} | {met} |")
    lines += [
        "",
        "## Cases",
        "",
        "Status: `pass` (every test of the case passed), `FAIL`, `xfail` (a known product",
        "gap, strict: the test turns red when it is fixed), `skipped` (with the reason) or",
        "`not automated` (with the reason).",
        "",
    ]
    for area, title in AREAS.items():
        lines += [f"### {title}", "", "| ID | Case | Status | Detail |", "|---|---|---|---|"]
        for case, summary in CASES.items():
            if case.rstrip("0123456789") != area:
                continue
            status, detail = case_status(case)
            if case in LIMITS and status != "not automated":
                detail = f"{detail}. Limits: {LIMITS[case]}"
            lines.append(f"| {case} | {summary} | {status} | {_cell(detail)} |")
        lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
