"""`crawl`: the nightly job. Lock, crawl every source, write raw files, ingest; `crawl status`.

Exit codes (documented in docs/OPERATIONS.md, each one tested):

====  =====================================================================================
0     every selected source ok (or not modified)
1     some sources failed (the summary names them); their data is simply absent. Also a
      crawl cut short by Ctrl-C or SIGTERM (see below)
      `crawl ingest`: some raw lines were skipped (each named), as `rank ingest` exits 1
2     usage or configuration error (bad option, unknown source, invalid sources file)
3     store unavailable: the database cannot be used at all (newer DuckDB or schema,
      corrupt or unreadable file). The crawl's raw files are kept and land later. Also
      when the crawl cannot write its own raw file (disk full, I/O error; path named),
      or cannot give it its final name (the .part file is named; the next crawl or
      `crawl ingest` renames and ingests it).
4     alert: no new candidate for 2 nights in a row (every source silent, failing or
      unchanged; nights = UTC dates of full runs, see `_ingest_after_crawl`)
75    another crawl is running (the lock holder's PID is named); `crawl ingest`: the
      database is busy, nothing ingested (the holder's PID is named)
====  =====================================================================================

Interrupted during the crawl (Ctrl-C or SIGTERM): one line at once, Scrapy finishes the
requests in flight and drops the queued ones (a second signal stops at once); the summary
names what was cut short (sources not finished, requests not sent: GitHub metadata,
article pages, a source's follow-ups), what was fetched is ingested, the run is not
counted as a night, and the exit code is 1, as for failed sources. Interrupted after the
crawl itself (e.g. during the ingest): one line and, as `rank` on Ctrl-C, exit 128 + the
signal (130, 143); the ingest is one transaction, so the raw files simply land next time.

A *busy* database (a notebook or `rank` holds it) is not an error for the crawl: it succeeds
(exit per sources) and says the data lands at the next ingest (`crawl` or any `rank`).
`crawl ingest`, whose only job is the ingest, exits 75 then (`crawl ingest && rank …`
must not take "nothing ingested" for a success).
Scrapy's own exit status is never used. Only this module imports ranking (lazily).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import os
import signal
import statistics
import sys
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_STORE = 3
EXIT_QUIET = 4  # no new candidate for QUIET_NIGHTS_ALERT nights in a row (RELIABILITY J5)
EXIT_RUNNING = 75  # EX_TEMPFAIL: another crawl runs; for `crawl ingest`, the DB is busy
# Interrupted: 128 + the signal number (130 SIGINT, 143 SIGTERM), outside the table of
# EXIT_ codes, like `rank`'s 130.
INTERRUPTED = 128
# A source whose fetches succeed but bring nothing new for this long is STALE: four times
# a week, the newsletter's rhythm (SILENT uses the same factor on the source's own rhythm).
STALE_DAYS = 28

PROG = "crawl"
logger = logging.getLogger("crawler.cli")


def _error(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []  # the signals that interrupted the command (see _stop_on_signals)


def _raise_interrupt(signum: int, _frame: Any) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def _stop_on_signals() -> None:
    """From now on SIGINT and SIGTERM stop the command (KeyboardInterrupt; main() reports).

    After a crawl Scrapy's handlers are still installed, and with its reactor gone they
    would ignore both signals. Inside a DuckDB query the KeyboardInterrupt is replaced by
    DuckDB's own error, so the signal is remembered in `_received`.
    """
    if threading.current_thread() is threading.main_thread():
        for sig in _SIGNALS:
            signal.signal(sig, _raise_interrupt)


def _db_path(args: argparse.Namespace, data_dir: Path) -> Path:
    if args.db:
        return Path(args.db)
    env = os.environ.get("RADAR_DB")
    return Path(env) if env else data_dir / "radar.duckdb"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Crawl every enabled source politely into raw JSONL files under DATA_DIR/raw, "
            "then ingest them into the DuckDB store. Subcommands: `crawl status` shows the "
            "health of every source; `crawl ingest` loads pending raw files only."
        ),
        epilog=(
            "exit codes: 0 all sources ok; 1 some failed (named), or the crawl was "
            "interrupted (Ctrl-C, SIGTERM: what was cut short is named); 2 usage/config error; "
            "3 store unavailable (newer/corrupt DB; a busy DB is not an error: the data "
            "lands at the next ingest; also: cannot write the raw file, e.g. disk full, "
            "or rename it from .part); "
            "4 no new items for 2 nights in a row (alert); 75 another crawl is running. "
            "Interrupted after the crawl, during the ingest: 130, 143. "
            "Example: crawl --source real-python --source hn-python"
        ),
    )
    _common(parser)
    parser.add_argument(
        "--source",
        action="append",
        metavar="NAME",
        default=[],
        help="crawl only this source (repeatable), e.g. --source real-python --source uv-releases",
    )
    parser.add_argument(
        "--max-new-items",
        type=int,
        metavar="N",
        help="flood guard: a new source's first run adds at most N recent items "
        "(default 30, per-source option max_new_items wins), e.g. --max-new-items 20",
    )
    parser.add_argument(
        "--no-ingest",
        action="store_true",
        help="only crawl and write raw files; ingest later (e.g. with `crawl ingest`)",
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="live progress display: auto = only on a terminal (default), e.g. --progress never",
    )
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sources",
        metavar="FILE",
        help="sources file replacing the packaged default list, e.g. --sources my-sources.toml",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default="data",
        help="runtime data folder (raw/, crawl.lock, crawl-state.json), e.g. --data-dir /srv/radar",
    )
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="DuckDB file (default: env RADAR_DB, else DATA_DIR/radar.duckdb), "
        "e.g. --db data/radar.duckdb",
    )


def build_status_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} status",
        description="Per source: last success, consecutive failures, new items in the "
        "last 7 days (not seen by that source before), 304 rate, last error. Flagged: "
        "SILENT, nothing new for more than 4x its usual interval; STALE, fetches succeed "
        f"but nothing new for more than {STALE_DAYS} days. Reads the raw files (the "
        "complete log, .jsonl and .jsonl.gz).",
        epilog="Example: crawl status --data-dir data",
    )
    _common(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print JSON instead of a table, e.g. crawl status --json",
    )
    return parser


def build_ingest_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} ingest",
        description="Load raw files not yet ingested into the store (idempotent). When no "
        "crawl runs, first rename the raw files of crawls that were killed (*.jsonl.part) "
        "so that they land too.",
        epilog=(
            "exit codes: 0 ingested (or nothing pending); 1 some raw lines could not be "
            "read and were skipped (each named), the rest ingested, as with `rank ingest`; "
            "2 usage error (e.g. no such "
            "--data-dir); 3 store unavailable (newer/corrupt DB); 75 database busy (a "
            "notebook, `rank` or `crawl` holds it, PID named): nothing ingested, the raw "
            "files wait, try later. Interrupted (Ctrl-C, SIGTERM): 130, 143. "
            "Example: crawl ingest --db data/radar.duckdb"
        ),
    )
    _common(parser)
    return parser


# --- crawl -----------------------------------------------------------------------------------


def _select(args: argparse.Namespace) -> list[Any]:
    from crawler.sources import enabled_sources, load_sources, select_sources

    sources = load_sources(Path(args.sources) if args.sources else None)
    if args.source:
        return select_sources(sources, args.source)
    return enabled_sources(sources)


def _options(args: argparse.Namespace) -> Any:
    from crawler.runstate import CrawlOptions

    return CrawlOptions.configured(args.max_new_items)


def _describe(outcome: Any) -> str:
    if outcome.status == "ok":
        # An ok sitemap source may not have read some of its sitemaps.
        return f"ok, {outcome.items} items" + (f" ({outcome.error})" if outcome.error else "")
    if outcome.status == "not_modified":
        return "not modified (304)"
    return f"FAILED: {outcome.error or 'unknown error'}"


def cmd_crawl(args: argparse.Namespace) -> int:
    from crawler.errors import ConfigError
    from crawler.runner import AlreadyRunning, acquire_lock
    from crawler.runstate import RunContext, partial_name

    if args.max_new_items is not None and args.max_new_items < 0:
        return _error("--max-new-items must be 0 or more", EXIT_USAGE)
    data_dir = Path(args.data_dir)
    try:
        from crawler import settings  # noqa: F401 - checks the RADAR_* environment once

        sources = _select(args)
    except ConfigError as exc:
        return _error(str(exc), EXIT_USAGE)
    try:
        lock = acquire_lock(data_dir)
    except AlreadyRunning as exc:
        return _error(str(exc), EXIT_RUNNING)
    except OSError as exc:
        return _error(f"cannot use data directory {data_dir}: {exc.strerror or exc}", EXIT_USAGE)
    try:
        _recover_raw_files(data_dir)
        ctx = RunContext(data_dir, sources, _options(args))
        show_progress = args.progress == "always" or (
            args.progress == "auto" and sys.stderr.isatty()
        )
        try:
            result = _run_with_display(ctx, show_progress)
        except OSError as exc:  # the raw folder or file cannot be created: nothing fetched
            return _write_error(Path(exc.filename or ctx.raw_path), exc, "nothing was fetched")
        finally:
            _stop_on_signals()  # the crawl is done: Ctrl-C / SIGTERM stop what follows
        if ctx.write_error is not None:  # disk full or I/O error while crawling
            return _write_error(
                ctx.raw_path,
                ctx.write_error,
                "the raw file holds what was written before; the crawl state is not saved, "
                "so the next run fetches everything again",
            )
        if ctx.finish_error is not None:  # whole, but still named as being written
            return _error(
                f"cannot rename {partial_name(ctx.raw_path)} to {ctx.raw_path.name}: "
                f"{ctx.finish_error.strerror or ctx.finish_error}; it keeps its .part name "
                "until the next crawl or `crawl ingest` renames and ingests it",
                EXIT_STORE,
            )
        code = _summary(ctx, result)
        if not args.no_ingest:
            # A night is recorded only for a full run: every enabled source, to its end.
            full_run = bool(ctx.sources) and not args.source and not ctx.unfinished
            full_run = full_run and result.interrupted is None
            night = (ctx.run_id, ctx.started.strftime("%Y-%m-%d")) if full_run else None
            code = _ingest_after_crawl(args, data_dir, code, night=night)
        return code
    finally:
        lock.release()


def _recover_raw_files(data_dir: Path) -> None:
    """Give the raw files of crawls killed while writing them (``kill -9``, still named
    ``*.jsonl.part``) their final name, so that they are ingested. Only with the crawl lock
    held: then no crawl is writing them."""
    from crawler.runstate import RAW_DIR, recover_partial

    for path in recover_partial(data_dir / RAW_DIR):
        print(f"{PROG}: recovered {path}, the raw file of a crawl that was killed", file=sys.stderr)


def _write_error(path: Path, exc: OSError, consequence: str) -> int:
    """The crawl cannot write its own files (disk full, I/O error): like a store that is
    unavailable, the data cannot be kept (EXIT_STORE), whatever the sources did."""
    return _error(f"cannot write {path}: {exc.strerror or exc}; {consequence}", EXIT_STORE)


class _PlainLogHandler(logging.StreamHandler):
    """The log lines of a crawl without the progress display (cron, systemd, a pipe): the
    project's own INFO lines and every warning and error (Scrapy's name the failed URL),
    not Scrapy's INFO dumps (versions, overridden settings, enabled extensions and
    middlewares, the stats: over 100 lines a run). Scrapy's format."""

    def __init__(self) -> None:
        from scrapy.settings.default_settings import LOG_DATEFORMAT, LOG_FORMAT

        super().__init__()  # stderr
        self.setFormatter(logging.Formatter(LOG_FORMAT, LOG_DATEFORMAT))

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return record.levelno >= logging.INFO and record.name.split(".")[0] in (
            "crawler",
            "ranking",
        )


def _log_plainly() -> None:
    """Log through a _PlainLogHandler on the root logger (replacing one of an earlier crawl
    in this process), in place of the handler Scrapy would install."""
    for handler in logging.root.handlers[:]:
        if isinstance(handler, _PlainLogHandler):
            logging.root.removeHandler(handler)
    logging.root.addHandler(_PlainLogHandler())
    logging.root.setLevel(logging.INFO)


def _interrupted_line(signum: int) -> str:
    """What `crawl` says at once on the first Ctrl-C or SIGTERM of a crawl."""
    name = signal.Signals(signum).name
    again = "press Ctrl-C again" if signum == signal.SIGINT else f"send {name} again"
    return f"{PROG}: interrupted ({name}): finishing what is in flight; {again} to stop now"


def _run_with_display(ctx: Any, show_progress: bool) -> Any:
    from crawler.runner import run_crawl

    if not show_progress:

        def plain(outcome: Any) -> None:
            if not outcome.source.startswith("_"):
                logger.info("source %s: %s", outcome.source, _describe(outcome))

        def say(signum: int) -> None:
            print(_interrupted_line(signum), file=sys.stderr, flush=True)

        _log_plainly()
        return run_crawl(ctx, on_source_done=plain, install_root_handler=False, on_interrupt=say)

    from rich.console import Console
    from rich.logging import RichHandler
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    logging.basicConfig(
        level=logging.WARNING,
        handlers=[RichHandler(console=console, show_path=False, level=logging.WARNING)],
        format="%(message)s",
        force=True,
    )
    with Progress(
        TextColumn("[bold]crawl"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("sources", total=len(ctx.sources), last="")

        def advance(outcome: Any) -> None:
            if outcome.source.startswith("_"):
                return
            progress.update(task, advance=1, last=f"{outcome.source}: {_describe(outcome)}")

        def say(signum: int) -> None:  # above the live progress bar
            console.print(_interrupted_line(signum), markup=False, highlight=False, soft_wrap=True)

        return run_crawl(
            ctx,
            on_source_done=advance,
            install_root_handler=False,
            overrides={"LOG_LEVEL": "WARNING"},
            on_interrupt=say,
        )


def _summary(ctx: Any, result: Any) -> int:
    """The run's summary (stdout; failed sources and an interruption on stderr) and its
    exit code: EXIT_PARTIAL if a source failed or a signal cut the crawl short."""
    from crawler.runstate import PSEUDO_SOURCES

    outcomes = result.outcomes
    ok = [o for o in outcomes if o.status == "ok"]
    not_modified = [o for o in outcomes if o.status == "not_modified"]
    failed = [o for o in outcomes if o.status not in ("ok", "not_modified")]
    items = sum(o.items for o in outcomes)
    extras = [ctx.outcomes[name] for name in PSEUDO_SOURCES]
    print(
        f"crawl: {len(outcomes)} sources: {len(ok)} ok, {len(not_modified)} not modified, "
        f"{len(failed)} failed; {items} items; raw file {ctx.raw_path}"
    )
    for extra in extras:
        if extra.requests:
            note = f", last error: {extra.error}" if extra.error else ""
            print(f"crawl: {extra.source}: {extra.requests} requests, {extra.items} items{note}")
    code = EXIT_OK
    if failed:
        print("crawl: failed sources:", file=sys.stderr)
        for o in failed:
            print(f"  {o.source}: {o.error or 'unknown error'}", file=sys.stderr)
        code = EXIT_PARTIAL
    if result.interrupted is not None:
        _interrupted_summary(ctx, result)
        code = EXIT_PARTIAL
    return code


def _interrupted_summary(ctx: Any, result: Any) -> None:
    """Name what the signal cut short: the sources that did not finish, and per source
    (the GitHub metadata and article pages included) the queued requests never sent."""
    name = signal.Signals(result.interrupted).name
    cut = [f"  sources not finished: {', '.join(ctx.unfinished)}"] if ctx.unfinished else []
    cut += [f"  {source}: {n} requests not sent" for source, n in result.not_sent.items()]
    if not cut:
        cut = ["  nothing: every request had been answered"]
    print(
        f"{PROG}: interrupted ({name}): this run is incomplete (not counted as a night); "
        "cut short:",
        file=sys.stderr,
    )
    for line in cut:
        print(line, file=sys.stderr)


def _ingest_after_crawl(
    args: argparse.Namespace,
    data_dir: Path,
    code: int,
    night: tuple[str, str] | None = None,
    ingest_only: bool = False,
) -> int:
    """Ingest the pending raw files. A busy database is not an error (the files land at the
    next ingest) unless `ingest_only` (`crawl ingest`): then one line and EXIT_RUNNING; and
    lines skipped as unreadable (each named above the summary) make `crawl ingest` exit
    EXIT_PARTIAL, as `rank ingest` exits 1. After a crawl the code stays per sources.

    After a full crawl (`night` = its run id and UTC start date), also count the nights in a
    row without a new candidate: from QUIET_NIGHTS_ALERT on, an alert and exit EXIT_QUIET
    (RELIABILITY J5: an empty night must not look like a success). Runs restricted with
    --source, with no source, or cut short are not counted (cmd_crawl passes no `night`);
    several runs in one night count as one night."""
    from crawler.runstate import QUIET_NIGHTS_ALERT, RAW_DIR, record_night
    from ranking.errors import StoreError
    from ranking.store import ingest_pending

    db = _db_path(args, data_dir)
    try:
        report = ingest_pending(db, data_dir / RAW_DIR)  # Ctrl-C: a KeyboardInterrupt
    except StoreError as exc:
        print(
            f"{PROG}: error: store unavailable: {exc}; the raw files are kept and will be "
            "ingested once the database is usable",
            file=sys.stderr,
        )
        return EXIT_STORE
    if report.pending and ingest_only:
        return _error(f"{report.message}; nothing ingested, the raw files wait", EXIT_RUNNING)
    print(f"{PROG}: {report.summary()}", file=sys.stderr if report.pending else sys.stdout)
    if ingest_only and report.bad_rows:
        return EXIT_PARTIAL
    if night is not None and not report.pending:
        run_id, day = night
        try:
            quiet = record_night(data_dir, run_id, report.new_candidates, night=day)
        except OSError as exc:
            print(f"{PROG}: warning: cannot record this run in {data_dir}: {exc}", file=sys.stderr)
            quiet = 0
        if quiet >= QUIET_NIGHTS_ALERT:
            # The same sources file as the crawl: without it, status lists the packaged one.
            sources = f" --sources {args.sources}" if getattr(args, "sources", None) else ""
            print(
                f"{PROG}: alert: no new items for {quiet} nights in a row; check the sources "
                f"(crawl status --data-dir {data_dir}{sources})",
                file=sys.stderr,
            )
            code = EXIT_QUIET
    return code


def cmd_ingest(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():  # a mistyped --data-dir must not create an empty database
        return _error(f"data directory {data_dir} does not exist (see --data-dir)", EXIT_USAGE)
    _stop_on_signals()
    from crawler.runner import AlreadyRunning, acquire_lock

    try:  # without waiting: a running crawl keeps writing its file and ingests it itself
        lock = acquire_lock(data_dir)
    except (AlreadyRunning, OSError):
        pass
    else:
        try:
            _recover_raw_files(data_dir)
        finally:
            lock.release()
    return _ingest_after_crawl(args, data_dir, EXIT_OK, ingest_only=True)


# --- status ----------------------------------------------------------------------------------


def read_fetch_records(raw_dir: Path) -> list[dict[str, Any]]:
    """Every fetch record of every raw file, oldest first (broken lines skipped).

    Each record gets ``new_items``: how many of that run's items of the source had never
    been seen by the source before (by canonical URL, in earlier runs or files; the flood
    guard's history items are not new). A feed that serves the same items every night
    has fetches with items but no new ones.
    """
    from crawler.runstate import RAW_READ_ERRORS, candidate_key, open_raw, raw_files

    records: list[dict[str, Any]] = []
    if not raw_dir.is_dir():
        return records
    seen: set[tuple[str, str]] = set()
    new: dict[tuple[Any, Any], int] = defaultdict(int)
    for path in raw_files(raw_dir):
        try:
            with open_raw(path) as fh:
                for line in fh:
                    if line.startswith(b'{"type":"fetch"'):
                        with contextlib.suppress(ValueError):
                            rec = json.loads(line)
                            if isinstance(rec, dict):
                                records.append(rec)
                        continue
                    key = candidate_key(line)
                    if key is None or (key[1], key[2]) in seen:
                        continue
                    seen.add((key[1], key[2]))
                    if not key[3]:  # history_only: the flood guard's backlog, not news
                        new[(key[0], key[1])] += 1
        except RAW_READ_ERRORS:  # unreadable, or a damaged .gz: as far as it was read
            continue
    for rec in records:
        rec["new_items"] = new.get((rec.get("run_id"), rec.get("source")), 0)
    records.sort(key=lambda r: r.get("finished_at") or r.get("started_at") or "")
    return records


def source_health(
    records: list[dict[str, Any]], names: list[str], now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per source: last success, consecutive failures, items and new items (7 days), 304
    rate, silence (no new item for 4x the usual interval) and staleness (fetches succeed,
    nothing new for STALE_DAYS). A record without ``new_items`` counts its items as new."""
    from crawler.text import parse_iso_utc

    now = now or datetime.now(UTC)
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        by_source[str(rec.get("source"))].append(rec)
    ordered = list(dict.fromkeys([*names, *sorted(k for k in by_source if not k.startswith("_"))]))
    rows = []
    for name in ordered:
        recs = by_source.get(name, [])
        last_success = None
        first_success = None
        consecutive = 0
        items_7d = 0
        new_7d = 0
        fetches = len(recs)
        not_modified = sum(1 for r in recs if r.get("status") == "not_modified")
        last_error = None
        changes: list[datetime] = []
        for rec in recs:
            ts = parse_iso_utc(rec.get("finished_at")) or parse_iso_utc(rec.get("started_at"))
            status = rec.get("status")
            items = int(rec.get("items") or 0)
            new = int(rec.get("new_items", items) or 0)
            if status in ("ok", "not_modified"):
                last_success = ts or last_success
                first_success = first_success or ts
                consecutive = 0
            else:
                consecutive += 1
            # An ok fetch may name an error too (a sitemap source's child not read).
            last_error = rec.get("error") or last_error
            if ts and ts >= now - timedelta(days=7):
                items_7d += items
                new_7d += new
            if status == "ok" and new > 0 and ts:
                changes.append(ts)
        silent = False
        usual = None
        if len(changes) >= 3:
            gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(changes)]
            usual = statistics.median(gaps)
            silent = usual > 0 and (now - changes[-1]).total_seconds() > 4 * usual
        # Stale: still answering, and nothing new since the last change (or the first fetch).
        since = changes[-1] if changes else first_success
        stale = bool(
            consecutive == 0
            and since
            and last_success
            and last_success > since
            and now - since > timedelta(days=STALE_DAYS)
        )
        rows.append(
            {
                "source": name,
                "fetches": fetches,
                "last_success": last_success.strftime("%Y-%m-%d %H:%M") if last_success else None,
                "consecutive_failures": consecutive,
                "items_7d": items_7d,
                "new_7d": new_7d,
                "last_new": changes[-1].strftime("%Y-%m-%d %H:%M") if changes else None,
                "rate_304": round(not_modified / fetches, 2) if fetches else None,
                "silent": silent,
                "stale": stale,
                "usual_interval_h": round(usual / 3600, 1) if usual else None,
                "last_error": last_error,
            }
        )
    return rows


def cmd_status(args: argparse.Namespace) -> int:
    from crawler.errors import ConfigError
    from crawler.runstate import RAW_DIR
    from crawler.sources import load_sources

    data_dir = Path(args.data_dir)
    try:
        names = [s.name for s in load_sources(Path(args.sources) if args.sources else None)]
    except ConfigError as exc:
        return _error(str(exc), EXIT_USAGE)
    rows = source_health(read_fetch_records(data_dir / RAW_DIR), names)
    try:
        _print_status(rows, args.json)
        sys.stdout.flush()
    except BrokenPipeError:  # `crawl status | head`: the reader has what it wanted
        with contextlib.suppress(OSError):  # no second error when Python flushes at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


def _print_status(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    header = ("source", "last success", "fails", "new 7d", "304 rate", "flag", "last error")
    lines = [header]
    for r in rows:
        flag = "SILENT" if r["silent"] else ("STALE" if r["stale"] else "")
        flag = flag or ("FAILING" if r["consecutive_failures"] else "")
        if not r["fetches"]:
            flag = "never run"
        lines.append(
            (
                r["source"],
                r["last_success"] or "-",
                str(r["consecutive_failures"]),
                str(r["new_7d"]),
                "-" if r["rate_304"] is None else f"{r['rate_304']:.0%}",
                flag,
                (r["last_error"] or "")[:80],
            )
        )
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*header)
        for line in lines[1:]:
            table.add_row(*line)
        Console().print(table)
    else:
        for line in lines:
            print("\t".join(line))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if os.environ.get("RADAR_SOCKET_GUARD") == "1":
        from crawler.guard import install_socket_guard

        install_socket_guard()
    saved = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    _received.clear()
    try:
        if argv and argv[0] == "status":
            return cmd_status(build_status_parser().parse_args(argv[1:]))
        if argv and argv[0] == "ingest":
            return cmd_ingest(build_ingest_parser().parse_args(argv[1:]))
        return cmd_crawl(build_parser().parse_args(argv))
    except KeyboardInterrupt:
        signum = _received[-1] if _received else signal.SIGINT
        print(
            f"{PROG}: interrupted ({signal.Signals(signum).name}); nothing was half-written: "
            "pending raw files are kept and land at the next ingest",
            file=sys.stderr,
        )
        return INTERRUPTED + signum
    finally:
        if threading.current_thread() is threading.main_thread():
            for sig, handler in saved.items():
                if handler is not None:
                    signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
