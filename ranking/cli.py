"""`rank`: the curator's and maintainer's command. Parse arguments, call the library, print.

rank --week 2025-W07                 the shortlist of a week -> data/shortlists/2025-W07.csv
rank import-issues PATH              import the newsletter archive (docs/*.md, docs/en/*.md)
rank history [--format table|csv]    primary items per issue and section
rank candidates [--week W]           the ingested candidates
rank feedback FILE.csv               store the curator's decisions from an edited shortlist
rank draft --week W                  the kept items in the newsletter's markdown layout
rank report                          the curator's precision per week and section
rank backtest --history DIR --sightings FILE --issues A-B --out DIR
rank ingest                          load pending raw crawl files into the store
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import logging
import os
import shlex
import sys
from collections.abc import Callable, Sequence

from ranking.defaults import DEFAULT_WINDOW_DAYS
from ranking.errors import RankingError

logger = logging.getLogger(__name__)

PROG = "rank"
SUBCOMMANDS = (
    "import-issues",
    "import-sightings",
    "history",
    "candidates",
    "feedback",
    "draft",
    "report",
    "backtest",
    "ingest",
    "shortlist",
)


class _Parser(argparse.ArgumentParser):
    """argparse with our one-line error format and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


class _LogFormatter(logging.Formatter):
    """Warnings as the command's other one-line messages (`rank: s.csv: row 2 skipped:
    invalid URL 'http://'`); the details of -v with their level and logger."""

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            return f"{PROG}: {record.getMessage()}"
        return super().format(record)


class _StderrHandler(logging.StreamHandler):
    """Log lines to `sys.stderr` as it is when each line is written, not as it was at
    startup: while a spinner runs (commands._Progress, a Rich status), that is Rich's
    proxy, which prints the line above the spinner instead of onto its line."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="PATH",
        help="DuckDB file (default: env RADAR_DB, else data/radar.duckdb), e.g. --db data/radar.duckdb",
    )


def _add_raw(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--raw-dir",
        metavar="DIR",
        default=None,
        help="raw crawl files to ingest first (default: raw/ in the database's folder, "
        "data/raw for data/radar.duckdb; crawl writes them to its --data-dir's raw/), "
        "e.g. --raw-dir data/raw",
    )


def _add_shortlist_options(p: argparse.ArgumentParser, week_required: bool = True) -> None:
    p.add_argument(
        "--week",
        required=week_required,
        metavar="YYYY-Www",
        help="ISO week to rank, e.g. --week 2025-W07",
    )
    p.add_argument(
        "--out",
        metavar="PATH",
        help="output file (default: shortlists/<week>.csv beside the database, i.e. "
        "data/shortlists/ by default; .md with --format md), "
        "e.g. --out /tmp/w07.csv",
    )
    p.add_argument(
        "--format",
        choices=("csv", "md", "table"),
        default="csv",
        help="csv (default) for the spreadsheet, md for a draft of the top 12 per section, "
        "table for the terminal (top 10 per section), e.g. --format table",
    )
    p.add_argument(
        "--window-days",
        type=int,
        default=DEFAULT_WINDOW_DAYS,
        metavar="N",
        help="candidates seen in the N days before the week's end (default 21), e.g. --window-days 14",
    )
    p.add_argument(
        "--quota",
        action="append",
        default=[],
        metavar="SECTION=N",
        help="rows per section (defaults article=36 project=36 audio_video=6 hot_topic=6), "
        "e.g. --quota project=48",
    )
    p.add_argument(
        "--show-featured",
        action="store_true",
        help="also list candidates excluded as already featured, with the reason",
    )
    _add_db(p)
    _add_raw(p)


def build_parser() -> tuple[_Parser, _Parser]:
    """The main parser (`rank --week …`) and the subcommand parser."""
    main = _Parser(
        prog=PROG,
        description="Rank a week's candidates for Python Trending Weekly. "
        f"Subcommands: {', '.join(SUBCOMMANDS)} (see `rank SUBCOMMAND --help`).",
        epilog="exit codes: 0 ok; 1 some files or rows failed (each named, the rest done); "
        "2 usage error (bad option, week, path, missing database); 3 store unavailable "
        "(busy, newer or corrupt database), or a backtest's --out in use by another. "
        "example: rank --week 2025-W07",
    )
    _add_shortlist_options(main)
    main.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")

    sub_parser = _Parser(prog=PROG, description="rank subcommands")
    sub_parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    subs = sub_parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = subs.add_parser(
        "shortlist",
        help="same as `rank --week W`",
        description="Write the shortlist of a week.",
        epilog="example: rank shortlist --week 2025-W07 --format table",
    )
    _add_shortlist_options(p)

    p = subs.add_parser(
        "import-issues",
        help="import the newsletter archive",
        description="Import the newsletter archive: docs/*.md (zh) and docs/en/*.md (en).",
        epilog="example: rank import-issues ~/python-weekly",
    )
    p.add_argument(
        "path", metavar="PATH", help="archive folder containing docs/, e.g. ~/python-weekly"
    )
    _add_db(p)

    p = subs.add_parser(
        "import-sightings",
        help="load a sightings archive (what the sources showed on past days)",
        description="Load a sightings file (Parquet, CSV or JSONL with the columns of the "
        "dataset's sightings: feed, section, seen_date, url, title, ...; feed, url and "
        "seen_date or seen_ts are needed) into the store, so "
        "that `rank --week` can rank and learn from past weeks. Loading a file twice changes "
        "nothing. A row it cannot use is skipped and named: a CSV's row as a spreadsheet "
        "shows it (the header is row 1), a JSONL's line.",
        epilog="example: rank import-sightings sightings-2023-2025-01.parquet",
    )
    p.add_argument("path", metavar="FILE", help="the sightings file, e.g. sightings.parquet")
    p.add_argument(
        "--without-feed",
        action="append",
        metavar="FEED",
        help="leave a feed of the file out (repeatable), e.g. --without-feed python_weekly",
    )
    _add_db(p)

    p = subs.add_parser(
        "history",
        help="items per issue and section",
        description="Primary items per issue and section.",
        epilog="example: rank history --format csv > history.csv",
    )
    p.add_argument(
        "--format",
        choices=("table", "csv"),
        default="table",
        help="table (default, with totals, date range, top domains) or csv "
        "(issue_no,pub_date,section,items), e.g. --format csv",
    )
    _add_db(p)

    p = subs.add_parser(
        "candidates",
        help="list ingested candidates",
        description="The ingested candidates (one row per canonical URL).",
        epilog="example: rank candidates --week 2025-W07 --format csv",
    )
    p.add_argument(
        "--week",
        metavar="YYYY-Www",
        help="only candidates seen in the week's window, e.g. --week 2025-W07",
    )
    p.add_argument(
        "--window-days",
        type=int,
        default=DEFAULT_WINDOW_DAYS,
        metavar="N",
        help="window length with --week (default 21), e.g. --window-days 7",
    )
    p.add_argument(
        "--format",
        choices=("table", "csv"),
        default="table",
        help="table (default) or csv (url,title,section,sources,first_seen,last_seen,…), e.g. --format csv",
    )
    _add_db(p)
    _add_raw(p)

    p = subs.add_parser(
        "feedback",
        help="store the curator's decisions",
        description=(
            "Read an edited shortlist CSV and store the decisions of its decision column: "
            "keep (also k, yes, y, x, ✓, +, 1, ok, …), reject (also n, no, ✗, -, 0, skip, …), "
            "maybe (also m, ?, later, hold) or clear (removes a stored decision); a blank "
            "cell leaves a stored decision as it is. Every word: docs/OPERATIONS.md, "
            "'The decision column'."
        ),
        epilog="example: rank feedback data/shortlists/2025-W07.csv",
    )
    p.add_argument(
        "file", metavar="FILE.csv", help="the edited shortlist, e.g. data/shortlists/2025-W07.csv"
    )
    _add_db(p)

    p = subs.add_parser(
        "draft",
        help="markdown draft of the kept items",
        description="The kept items of a week in the newsletter's markdown layout.",
        epilog="example: rank draft --week 2025-W07 > draft.md",
    )
    p.add_argument(
        "--week", required=True, metavar="YYYY-Www", help="ISO week, e.g. --week 2025-W07"
    )
    p.add_argument(
        "--out", metavar="PATH", help="write to a file instead of stdout, e.g. --out draft.md"
    )
    _add_db(p)

    p = subs.add_parser(
        "report",
        help="the curator's precision per week and section",
        description="Kept ÷ shown in the top 24, per week and section.",
        epilog="example: rank report",
    )
    _add_db(p)

    p = subs.add_parser(
        "backtest",
        help="replay past issues and measure recall",
        description="Replay past issues as of their dates; recall@k of the real picks, "
        "each counted in its own section of the issue's shortlist (50 rows deep in every "
        "section, so every figure can be recounted from the files).",
        epilog="example: rank backtest --history ../shared/datasets/python-weekly "
        "--sightings ../shared/datasets/sightings/sightings-2023-2025-01.parquet "
        "--issues 61-85 --out /tmp/bt",
    )
    p.add_argument(
        "--history",
        required=True,
        metavar="DIR",
        help="archive folder with docs/, e.g. --history ~/python-weekly",
    )
    p.add_argument(
        "--sightings",
        required=True,
        metavar="FILE",
        help="sightings file (Parquet, CSV or JSONL), e.g. --sightings sightings.parquet",
    )
    p.add_argument(
        "--issues", required=True, metavar="A-B", help="issue range to replay, e.g. --issues 61-85"
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="folder for each issue's shortlist issue-NNN.csv and picks.csv (every pick, "
        "reachable or not, and its rank per method); one backtest at a time writes into "
        "it (exit 3 naming the PID of a running one), e.g. --out /tmp/bt",
    )
    p.add_argument(
        "--window-days",
        type=int,
        default=DEFAULT_WINDOW_DAYS,
        metavar="N",
        help="pool window in days (default 21), e.g. --window-days 14",
    )
    p.add_argument(
        "--without-feed",
        action="append",
        metavar="FEED",
        help="leave a feed of the sightings file out (repeatable), "
        "e.g. --without-feed python_weekly",
    )

    p = subs.add_parser(
        "ingest",
        help="load pending raw crawl files",
        description="Load raw crawl files not yet ingested into the store.",
        epilog="example: rank ingest --raw-dir data/raw",
    )
    _add_db(p)
    _add_raw(p)
    for p in subs.choices.values():
        # SUPPRESS: `rank -v feedback F` keeps the -v given before the subcommand.
        p.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            default=argparse.SUPPRESS,
            help="log details to stderr",
        )
    return main, sub_parser


class _Probe(argparse.ArgumentParser):
    """The `rank --week …` options, none required, to find the words left over."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise argparse.ArgumentError(None, message)  # the real parser reports it


def _command_error(args: list[str]) -> str | None:
    """Why `args`, not starting with a command, hold a misspelt or misplaced one (else None).

    `rank feeback x.csv` and `rank --db w.db report` would otherwise be told that --week
    is missing.
    """
    first = next((a for a in args if a not in ("-v", "--verbose")), None)
    if first is None:
        return None
    in_front = not first.startswith("-")  # where a command goes
    word = first if in_front else _stray_word(args)
    if word is None:
        return None
    if word in SUBCOMMANDS:
        rest = list(args)
        rest.remove(word)
        return f"put the command first: {shlex.join([PROG, word, *rest])}"
    close = difflib.get_close_matches(word, SUBCOMMANDS, n=1, cutoff=0.75)
    if close:
        return f"unknown command {word!r} (did you mean {close[0]!r}?)"
    if in_front:
        return (
            f"unknown command {word!r}; the commands are {', '.join(SUBCOMMANDS)} "
            "(or rank --week YYYY-Www)"
        )
    return None  # a stray word after the options: argparse's 'unrecognized arguments'


def _stray_word(args: list[str]) -> str | None:
    """The first word of `args` that is no option nor an option's value."""
    probe = _Probe(prog=PROG, add_help=False)
    _add_shortlist_options(probe, week_required=False)
    probe.add_argument("-v", "--verbose", action="store_true")
    try:
        _, extras = probe.parse_known_args(args)
    except argparse.ArgumentError:  # a bad option: the real parser names it
        return None
    return next((a for a in extras if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `rank` console script; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    main_parser, sub_parser = build_parser()
    first = next((a for a in args_list if a not in ("-v", "--verbose")), None)
    if first in SUBCOMMANDS:
        args = sub_parser.parse_args(args_list)
        command = args.command
    else:
        if message := _command_error(args_list):
            main_parser.error(message)
        args = main_parser.parse_args(args_list)
        command = "shortlist"
    log_handler = _StderrHandler()
    log_handler.setFormatter(_LogFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, handlers=[log_handler]
    )
    from ranking import commands  # the command bodies; imported late to keep --help fast

    handler: Callable[[argparse.Namespace], int] = getattr(commands, command.replace("-", "_"))
    try:
        return handler(args)
    except RankingError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `rank candidates --format csv | head`: the reader is done
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a folder not writable, a full disk
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{PROG}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
