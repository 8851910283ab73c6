"""The bodies of the `rank` subcommands: thin glue between arguments, library and output."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import logging
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from ranking import store
from ranking.defaults import DEFAULT_QUOTAS
from ranking.errors import UsageError, first_of
from ranking.weeks import IsoWeek

if TYPE_CHECKING:
    from rich.console import Console

    from ranking.feedback import Decision
    from ranking.shortlist import ShortlistResult

logger = logging.getLogger(__name__)


def _err(message: str) -> None:
    print(f"rank: {message}", file=sys.stderr)


def _db(args: argparse.Namespace) -> Path:
    """The database file of a command; a folder there is a usage error (DuckDB's "cannot
    open" was reported as an unavailable store, with recovery steps that do not apply)."""
    db = store.db_path(getattr(args, "db", None))
    if db.is_dir():
        raise UsageError(
            f"{db}: a folder, not a database file (--db or RADAR_DB names the file, "
            f"e.g. --db {db / 'radar.duckdb'})"
        )
    return db


def _existing_db(args: argparse.Namespace) -> Path:
    """The database of a command that reads it. A missing file is a mistyped --db or a
    machine before its first crawl: an error, not an empty database made on the spot."""
    db = _db(args)
    if not db.exists():
        # A relative path is taken from the current folder, which may not be the checkout.
        where = "" if db.is_absolute() else f" (in {Path.cwd()})"
        raise UsageError(
            f"no database at {db}{where}: {store.CREATED_BY} creates it "
            "(--db or RADAR_DB chooses another)"
        )
    return db


def _raw_dir(args: argparse.Namespace, db: Path) -> Path:
    from crawler.runstate import RAW_DIR

    return Path(args.raw_dir) if getattr(args, "raw_dir", None) else db.parent / RAW_DIR


def _ingest_first(args: argparse.Namespace, *, read_only: bool = False) -> Path:
    """Every rank command that reads candidates first lands pending raw crawl files (which
    may create the database); then the database must exist.

    A database too busy for the ingest is mostly too busy for the command as well: then
    its busy error is the one line. Only a command that reads (`read_only`) may run while
    a reader (a notebook) holds the database; it says first that the files wait."""
    db = _db(args)
    raw = _raw_dir(args, db)
    if raw.is_dir():
        report = store.ingest_pending(db, raw)
        if report.pending:
            store.connect(db, read_only=read_only).close()  # busy for it too: StoreBusyError
        if report.files or report.pending or report.bad_rows or report.unfinished:
            _err(report.summary())
    return _existing_db(args)


# --- import-issues, history ------------------------------------------------------------


def _check_archive(path: Path, example: str) -> None:
    """An archive folder holds issue files: checked before the store or the sightings are
    touched, so a wrong folder creates no database and costs no loading."""
    from ranking.history import docs_dir

    if not path.is_dir():
        raise UsageError(f"{path}: not a folder (expected an archive with docs/*.md)")
    docs = docs_dir(path)
    if not any(docs.glob("*.md")):
        raise UsageError(
            f"no issue files (*.md) in {docs}: give the archive folder holding docs/, "
            f"e.g. {example} ~/python-weekly"
        )


def import_issues(args: argparse.Namespace) -> int:
    from ranking.history import import_archive

    path = Path(args.path).expanduser()
    _check_archive(path, "rank import-issues")
    with store.open_store(_db(args)) as con:
        report = import_archive(con, path)
    for skipped in report.skipped:
        _err(f"skipped {skipped}")
    for problem in report.problems:
        _err(f"{problem.severity}: {problem}")
    print(report.summary())
    return 0 if report.ok else 1


def import_sightings(args: argparse.Namespace) -> int:
    path = Path(args.path).expanduser()
    if path.is_dir():
        raise UsageError(f"{path}: a folder, not a sightings file")
    if not path.is_file():
        raise UsageError(f"{path}: no such sightings file")
    with store.open_store(_db(args)) as con:
        counts = store.load_sightings_file(con, path, tuple(args.without_feed or ()))
    print(f"{path}: {store.sightings_summary(counts, args.without_feed)}")
    return 0


def history(args: argparse.Namespace) -> int:
    with store.open_store(_existing_db(args)) as con:
        rows = store.history_counts(con)
        items, _links = store.history_frames(con)
    if args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["issue_no", "pub_date", "section", "items"])
        for issue_no, pub_date, section, n in rows:
            writer.writerow([issue_no, pub_date.isoformat(), section, n])
        return 0
    from rich.table import Table

    sections = sorted({r[2] for r in rows})
    per_issue: dict[tuple[int, str], dict[str, int]] = {}
    for issue_no, pub_date, section, n in rows:
        per_issue.setdefault((issue_no, pub_date.isoformat()), {})[section] = n
    table = Table(title="Primary items per issue and section")
    table.add_column("issue", justify="right")
    table.add_column("date")
    for s in sections:
        table.add_column(s, justify="right")
    table.add_column("total", justify="right")
    totals: Counter[str] = Counter()
    for (issue_no, date), counts in sorted(per_issue.items()):
        totals.update(counts)
        table.add_row(
            str(issue_no),
            date,
            *[str(counts.get(s, 0)) for s in sections],
            str(sum(counts.values())),
        )
    table.add_row("total", "", *[str(totals[s]) for s in sections], str(sum(totals.values())))
    console = _console()
    console.print(table)
    if per_issue:
        dates = sorted(d for _, d in per_issue)
        console.print(f"{len(per_issue)} issues, {dates[0]} → {dates[-1]}")
    if len(items):
        top = items["host"].dropna().value_counts().head(10)
        console.print("top domains: " + ", ".join(f"{h} ({n})" for h, n in top.items()))
    return 0


def ingest(args: argparse.Namespace) -> int:
    db = _db(args)
    raw = _raw_dir(args, db)
    if not raw.is_dir():
        raise UsageError(f"{raw}: no raw crawl folder")
    report = store.ingest_pending(db, raw)
    if report.pending:
        from ranking.errors import StoreBusyError

        raise StoreBusyError(f"{report.message}; nothing ingested, the raw files wait")
    print(report.summary())  # the bad lines are named above it, one warning each
    return 1 if report.bad_rows else 0


def candidates(args: argparse.Namespace) -> int:
    _check_window(args)
    db = _ingest_first(args, read_only=True)
    start = end = None
    if args.week:
        week = _week(args.week)
        end = week.end
        start = end - dt.timedelta(days=args.window_days - 1)
    with store.open_store(db, read_only=True) as con:
        frame = store.candidates_listing(con, start, end)
    if args.format == "csv":
        from ranking.csvio import format_cell

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(list(frame.columns))
        for row in frame.itertuples(index=False):
            writer.writerow([format_cell(v) for v in row])
        return 0
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{len(frame)} candidates" + (f" seen {start} → {end}" if start else ""))
    for col in ("section", "title", "sources", "first_seen", "last_seen"):
        dated = col.endswith("_seen")
        table.add_column(col, overflow="fold", no_wrap=dated, min_width=10 if dated else None)
    for row in frame.head(200).itertuples(index=False):
        table.add_row(  # plain text: a title `[/b] …` or `dict[str, int]` is no markup
            str(row.section or ""),
            Text(str(row.title or row.url)[:90]),
            Text(str(row.sources)),
            str(row.first_seen)[:10],
            str(row.last_seen)[:10],
        )
    _console().print(table)
    if len(frame) > 200:
        print(f"… {len(frame) - 200} more (use --format csv)")
    return 0


MAX_WINDOW_DAYS = 3660  # ten years


def _console() -> Console:
    """A terminal's own width; in a pipe or file 200 columns, not rich's 80 (which cut
    dates and titles to `2025-0…`)."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)


def _check_out(out: Path, example: str) -> None:
    """A usage error, before any work, for an --out file that cannot be written."""
    if out.is_dir():
        raise UsageError(f"--out {out}: a folder; give a file, e.g. --out {out / example}")
    _check_out_parents(out)


def _check_out_parents(out: Path) -> None:
    """A usage error for an --out path under a file (`notes.md/x.csv`): its folders cannot
    be made, and the OSError would only say 'File exists' or 'Not a directory'."""
    nearest = next((parent for parent in out.parents if parent.exists()), None)
    if nearest is not None and not nearest.is_dir():
        raise UsageError(f"--out {out}: {nearest} is a file, not a folder")


def _check_window(args: argparse.Namespace) -> None:
    if not 1 <= args.window_days <= MAX_WINDOW_DAYS:
        raise UsageError(
            f"invalid --window-days {args.window_days}: must be 1-{MAX_WINDOW_DAYS}, "
            "e.g. --window-days 21"
        )


def _week(text: str | None) -> IsoWeek:
    return IsoWeek.parse(text or "")


# --- feedback, report, draft -----------------------------------------------------------


def _feedback_week(path: Path, file_week: str | None) -> str:
    """The week of a feedback file: its `week` column, else a YYYY-Www in its name."""
    if file_week:
        return str(IsoWeek.parse(file_week))
    match = re.search(r"(\d{4}-W\d{2})", path.name, re.IGNORECASE)
    if not match:
        raise UsageError(f"{path}: no week column and no week in the file name (e.g. 2025-W07.csv)")
    return str(IsoWeek.parse(match.group(1)))


def feedback(args: argparse.Namespace) -> int:
    from ranking.feedback import parse_feedback, validate_ids

    path = Path(args.file)
    if path.is_dir():
        raise UsageError(f"{path}: a folder, not a shortlist file")
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    result = parse_feedback(path)
    week = _feedback_week(path, result.week)
    with store.open_store(_existing_db(args)) as con:
        known = store.shortlist_ids(con, week)
        if not known:
            from ranking.errors import FeedbackError

            raise FeedbackError(
                f"{path}: no shortlist of {week} in this database; "
                f"run `rank --week {week}` first (or check --db)"
            )
        result = validate_ids(result, known)
        stored = store.week_decisions(con, week)
        rows = [
            {
                "candidate_id": d.id,
                "canonical_url": known[d.id],
                "decision": d.decision,
                "section_override": d.section_override,
                "note": d.note,
                "row_number": d.row_number,
            }
            for d in result.decisions
        ]
        applied = store.apply_decisions(con, week, str(path), rows)
    for error in result.errors:
        _err(f"{path}: {error}")
    standing = sorted(n for i, n in result.undecided.items() if i in stored)
    if standing:
        listed = first_of([str(n) for n in standing], 10)
        what = "a row has" if len(standing) == 1 else f"{len(standing)} rows have"
        _err(
            f"{path}: the decision stored before stands where {what} none "
            f"(row {listed}); write clear in the decision cell to remove it"
        )
    stored_now = applied - result.counts["clear"]
    print(f"{week}: {stored_now} decisions stored ({result.summary()})")
    return 1 if result.errors else 0


def report(args: argparse.Namespace) -> int:
    with store.open_store(_existing_db(args), read_only=True) as con:
        frame = store.precision_report(con)
    if frame.empty:
        print("no shortlists with decisions yet: run `rank --week W`, then `rank feedback FILE`")
        return 0
    from rich.table import Table

    table = Table(title=f"Curator precision: kept ÷ shown in the top {store.PRECISION_TOP}")
    for col in ("week", "section", "shown", "decided", "kept", "precision"):
        table.add_column(col, justify="left" if col in ("week", "section") else "right")
    for row in frame.itertuples(index=False):
        table.add_row(
            row.week,
            row.section,
            str(row.shown),
            str(row.decided),
            str(row.kept),
            f"{row.precision:.2f}",
        )
    _console().print(table)
    return 0


def draft(args: argparse.Namespace) -> int:
    week = str(_week(args.week))
    with store.open_store(_existing_db(args), read_only=True) as con:
        frame = store.decisions_detail(con, week)
        stars = store.latest_stars(con, list(frame["canonical_url"])) if len(frame) else {}
    frame = frame.assign(stars=[stars.get(u) for u in frame["canonical_url"]])
    from ranking.shortlist import render_kept_draft

    text = render_kept_draft(week, frame)
    if args.out:
        from ranking.csvio import atomic_write_text

        _check_out(Path(args.out), f"draft-{week}.md")
        atomic_write_text(Path(args.out), text)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


# --- shortlist, backtest ---------------------------------------------------------------


def _quotas(specs: list[str]) -> dict[str, int] | None:
    if not specs:
        return None
    quotas = dict(DEFAULT_QUOTAS)
    for spec in specs:
        name, _, value = spec.partition("=")
        name, value = name.strip(), value.strip()
        if name not in quotas or not re.fullmatch(r"[0-9]+", value):  # isdigit() takes '³'
            raise UsageError(
                f"invalid --quota {spec!r}: expected SECTION=N with SECTION one of "
                f"{', '.join(quotas)}, e.g. --quota project=48"
            )
        quotas[name] = int(value)
    return quotas


class _Progress:
    """A spinner with the current step on a terminal; silent otherwise (logs only)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._status = None
        if sys.stderr.isatty():
            from rich.console import Console

            self._status = Console(stderr=True).status(label)

    def __enter__(self) -> _Progress:
        if self._status is not None:
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)

    def __call__(self, step: str) -> None:
        logger.info("%s: %s", self.label, step)
        if self._status is not None:
            self._status.update(f"{self.label}: {step}")


def shortlist(args: argparse.Namespace) -> int:
    # Arguments first: a bad week fails before pandas and scikit-learn load.
    week = _week(args.week)
    _check_window(args)
    quotas = _quotas(args.quota)
    from ranking.shortlist import (
        build_week_shortlist,
        render_table,
        write_shortlist,
        written_cells,
    )

    db = _ingest_first(args)
    suffix = {"csv": ".csv", "md": ".md", "table": ".txt"}[args.format]
    out = Path(args.out) if args.out else db.parent / "shortlists" / f"{week}{suffix}"
    _check_out(out, f"{week}{suffix}")
    with store.open_store(db) as con:
        with _Progress(f"ranking {week}") as progress:
            result, why = build_week_shortlist(
                con, week, args.window_days, quotas, progress=progress
            )
        if args.format == "csv":
            # What this run replaces: the cells `rank` wrote into the file (for a file of
            # a version that did not record them, the week's sections, titles and links).
            shown = store.file_cells(con, out) or store.shown_rows(con, str(week))
            stored = store.week_decisions(con, str(week))
            decided_at = store.decision_times(con, str(week))
        for message in result.messages:
            _err(message)
        if result.frame.empty:
            _err(f"0 candidates for week {week}")
        # Ranked before the week's end (`week_as_of`): say which day and why.
        early = f"ranked as of {result.as_of}, {why}" if result.as_of < week.end else None
        if args.format == "table" and not args.out:
            width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
            sys.stdout.write(render_table(result, width=width or 160))
            if early:
                _err(early)
        else:
            if args.format == "csv":
                result = _with_earlier_decisions(result, out, stored, decided_at, shown)
            rows = write_shortlist(result, out, args.format)
            if args.format == "csv":  # what the file shows, once it does
                store.save_shortlist_rows(con, str(week), result.frame)
                store.save_file_cells(con, out, written_cells(result.frame))
            print(f"wrote {out} ({rows} rows" + (f"; {early})" if early else ")"))
    if args.show_featured:
        featured = result.featured
        print(f"{len(featured)} candidates excluded as already featured:")
        for row in featured.itertuples(index=False):
            print(f"  {getattr(row, 'featured_reason', '')}: {row.title} <{row.url}>")
    return 0


def _with_earlier_decisions(
    result: ShortlistResult,
    out: Path,
    stored: dict[str, tuple[str, str | None, str | None]],
    decided_at: dict[str, dt.datetime],
    shown: dict[str, dict[str, object]],
) -> ShortlistResult:
    """The shortlist with the decisions the curator already made for its rows: those of
    the file it replaces (saved in a spreadsheet, maybe not yet fed back) and those stored
    by `rank feedback`; where both have one and they differ, the later one (the file's
    modification time against the stored `decided_at`), said in one line. Edits the new
    file cannot hold (a row no longer on the shortlist, a note without a decision, a
    column of her own, text in a column `rank` writes changed from what it wrote there
    (`shown`: a flag, a reason, a section, title or link), a file that is no shortlist)
    stay in a copy of the old file, named in a message with what it holds."""
    from dataclasses import replace

    from ranking.feedback import previous_edits
    from ranking.shortlist import SHORTLIST_COLUMNS, with_decisions

    ids = list(result.frame["id"]) if len(result.frame) else []
    earlier = dict(stored)
    if out.is_file():
        edits = previous_edits(out, ids, shown, SHORTLIST_COLUMNS)
        saved = dt.datetime.fromtimestamp(out.stat().st_mtime, dt.UTC).replace(tzinfo=None)
        stored_won, file_won = [], []
        for i, d in edits.decisions.items():
            mine = (d.decision, d.note, d.section_override)
            if i in stored and stored[i] != mine:
                later = decided_at.get(i)
                if later is not None and later > saved:
                    stored_won.append(d)
                    continue
                file_won.append(d)
            earlier[i] = mine
        if stored_won or file_won:
            _err(f"{out}: {_disagreements(stored, stored_won, file_won)}")
        said = []
        if carried := len(edits.decisions) - len(stored_won):
            decisions = "decision" if carried == 1 else "decisions"
            said.append(f"its {carried} {decisions} carried over to the new shortlist")
        if lost := edits.lost():
            backup = _free_name(out)
            shutil.copy2(out, backup)
            said += [*lost, f"the file as it was is kept as {backup}"]
        if said:
            _err(f"{out}: {'; '.join(said)}")
    if not earlier:
        return result
    return replace(result, frame=with_decisions(result.frame, earlier))


def _disagreements(
    stored: dict[str, tuple[str, str | None, str | None]],
    stored_won: list[Decision],
    file_won: list[Decision],
) -> str:
    """One line: how many of a file's decisions differ from the stored ones, which stand."""

    def rows(decisions: list[Decision]) -> str:
        named = []
        for d in decisions:
            old = stored[d.id][0]
            what = (
                f"{old} stored, {d.decision} in the file"
                if old != d.decision
                else "its note or section"
            )
            named.append(f"row {d.row_number}: {what}")
        return first_of(named, 2, "; ")

    n = len(stored_won) + len(file_won)
    sides = []
    if stored_won:
        sides.append(f"the stored in {len(stored_won)} ({rows(stored_won)})")
    if file_won:
        sides.append(f"the file's in {len(file_won)} ({rows(file_won)})")
    differ = "decision differs" if n == 1 else "decisions differ"
    stands = ", ".join(sides)
    return f"{n} {differ} from those stored by `rank feedback`; the later stands: {stands}"


def _free_name(path: Path) -> Path:
    """`W.previous-N.csv` beside `path`, with the first N not taken."""
    n = 1
    while (candidate := path.with_name(f"{path.stem}.previous-{n}{path.suffix}")).exists():
        n += 1
    return candidate


def backtest(args: argparse.Namespace) -> int:
    from ranking.backtest import parse_issue_range, render_report, run_backtest

    issues = parse_issue_range(args.issues)
    _check_window(args)
    for path, what in ((args.history, "--history"), (args.sightings, "--sightings")):
        if not Path(path).exists():
            raise UsageError(f"{what} {path}: no such file or folder")
    _check_archive(Path(args.history), "--history")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {args.out}: a file, not a folder")
    _check_out_parents(Path(args.out))
    with _Progress("backtest") as progress:
        report = run_backtest(
            args.history,
            args.sightings,
            issues,
            args.out,
            args.window_days,
            progress,
            without_feeds=tuple(args.without_feed or ()),
        )
    print(render_report(report))  # its notes carry the archive's and sightings' problems
    return 1 if report.errors else 0  # a failed archive file: its issue was not replayed
