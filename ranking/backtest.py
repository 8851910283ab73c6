"""Backtest: replay past issues as of their dates and measure recall of the real picks.

For every issue in the range, `build_shortlist` runs exactly as `rank` would have on the
issue's publication date, on a scratch store built from the archive folder and a
sightings file: history = issues published before it, candidates = sightings on or
before it (nothing later, not even metrics), candidate text only from the sightings.
The training of issue N uses every issue before N whatever the range asked for, so an
issue's shortlist never depends on the range.

Recall@k per section is measured over REACHABLE picks (primary items of the issue that
are in the pool, matched by canonical URL or repository); a pick counts as found at k
when a candidate of it is ranked <= k in the pick's own section (a pick the ranker put in
another section is a miss: a reader of that section would not see it). Each issue's
shortlist runs at least 50 rows deep in every section, so every figure can be recounted
from the files. The coverage ceiling (reachable / all picks) is reported apart.
Baselines are scored on the same pools in the same run: random (seeded), popularity
(trending days + points), TF-IDF similarity to past picks.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from crawler.items import SECTIONS
from crawler.runner import AlreadyRunning, CrawlLock, acquire_lock
from ranking import store
from ranking.csvio import write_csv
from ranking.defaults import DEFAULT_QUOTAS
from ranking.errors import OutputBusyError, RankingError, UsageError
from ranking.pool import DEFAULT_WINDOW_DAYS, pick_items
from ranking.scorers import PopularityScorer, RandomScorer, SimilarityScorer
from ranking.shortlist import (
    ShortlistResult,
    build_shortlist,
    history_items,
    select_section,
    write_shortlist,
)
from ranking.weeks import IsoWeek

logger = logging.getLogger(__name__)

KS = (12, 24, 50)
PICKS_FILE = "picks.csv"
OUT_LOCK_FILE = ".backtest.lock"  # held by the run writing into the folder (_lock_out)
# One row per primary item of each replayed issue: whether it was in the pool and where
# the model and each baseline ranked it in its own section (empty: below the top 50, in
# another section only, or not reachable; `pool_section` says where its pool rows were).
# Recall@k of the report = share of reachable rows with rank <= k.
PICKS_COLUMNS = (
    "issue_no",
    "pub_date",
    "section",
    "item_no",
    "title",
    "url",
    "reachable",
    "pool_section",
    "rank",
    "random_rank",
    "popularity_rank",
    "tfidf_rank",
)
REPORT_SECTIONS = ("project", "article", "audio_video", "hot_topic")
METHODS = ("model", "random", "popularity", "tfidf")


@dataclass
class BacktestReport:
    """Per-pick hits for the model and the baselines, and per-issue coverage."""

    issues: list[int]
    hits: pd.DataFrame  # issue_no, section (of the pick), method, rank (NaN: not ranked)
    coverage: pd.DataFrame  # issue_no, section, picks, reachable
    out_dir: Path
    seconds: float
    messages: list[str] = field(default_factory=list)
    # What failed, one line each: archive files not imported, issues of the range lost
    # with them. `rank backtest` exits 1 when there is any.
    errors: list[str] = field(default_factory=list)
    # PICKS_COLUMNS: every pick of the replayed issues, as written to picks.csv
    picks: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PICKS_COLUMNS))

    def recall(self) -> pd.DataFrame:
        """Rows (section, method): reachable picks and recall@12/24/50."""
        rows = []
        for section in REPORT_SECTIONS:
            for method in METHODS:
                h = self.hits[(self.hits["section"] == section) & (self.hits["method"] == method)]
                rank = h["rank"].to_numpy(dtype=float)
                row = {"section": section, "method": method, "reachable": len(h)}
                for k in KS:
                    row[f"recall@{k}"] = float(np.mean(rank <= k)) if len(h) else float("nan")
                rows.append(row)
        return pd.DataFrame(rows)

    def coverage_table(self) -> pd.DataFrame:
        c = self.coverage.groupby("section")[["picks", "reachable"]].sum()
        c["ceiling"] = c["reachable"] / c["picks"].where(c["picks"] > 0)
        return c.reindex([s for s in REPORT_SECTIONS if s in c.index])


def parse_issue_range(text: str) -> tuple[int, int]:
    """`61-85` or `61` -> (61, 85); a usage error otherwise."""
    raw = (text or "").strip()
    parts = raw.split("-")
    try:
        if len(parts) == 1:
            a = b = int(parts[0])
        elif len(parts) == 2:
            a, b = int(parts[0]), int(parts[1])
        else:
            raise ValueError
    except ValueError:
        raise UsageError(f"invalid issue range {text!r}: expected A-B, e.g. 61-85") from None
    if a < 1 or b < a:
        raise UsageError(f"invalid issue range {text!r}: need 1 <= A <= B, e.g. 61-85")
    return a, b


def _ranks(result: ShortlistResult, seed: int, depth: int) -> dict:
    """Candidate key -> rank within its section, for the model and every baseline."""
    out: dict[str, dict[str, int]] = {m: {} for m in METHODS}
    base = result.scored
    if not len(base):  # no sightings in the issue's window (a file that starts later)
        return out
    ranked = result.ranked
    for key, rank in zip(ranked["key"], ranked["rank"], strict=True):
        out["model"][key] = int(rank)
    scores = {
        "random": RandomScorer(seed=seed).decision_function(base),
        "popularity": PopularityScorer().decision_function(base),
        "tfidf": SimilarityScorer().decision_function(base),
    }
    for method, score in scores.items():
        frame = base.assign(score=score)
        for section in SECTIONS:
            part = frame[frame["section"] == section].reset_index(drop=True)
            order = select_section(part, depth, domain_cap=10**6, mmr_lambda=0.0)
            for r, i in enumerate(order, start=1):
                out[method][part["key"].iat[i]] = r
    return out


def run_backtest(
    history_dir: str | os.PathLike[str],
    sightings_file: str | os.PathLike[str],
    issues: tuple[int, int] | str,
    out_dir: str | os.PathLike[str],
    window_days: int = DEFAULT_WINDOW_DAYS,
    progress: Callable[[str], None] | None = None,
    *,
    quotas: dict[str, int] | None = None,
    db_path: str | os.PathLike[str] | None = None,
    train_issues: int | None = None,
    without_feeds: tuple[str, ...] = (),
) -> BacktestReport:
    """Replay issues A..B; write out_dir/issue-NNN.csv; return recall figures.

    `train_issues` (default: all) limits each fit to the most recent past issues, as
    `build_shortlist` does; `db_path` keeps the scratch store (default: a temp dir);
    `without_feeds` leaves those feeds of the sightings file out (what the ranker does
    without a source: e.g. the newsletters that later weeks no longer have).
    """
    from ranking.history import import_archive

    started = time.perf_counter()
    first, last = parse_issue_range(issues) if isinstance(issues, str) else issues
    out = Path(out_dir)
    lock = _lock_out(out)
    tmpdir = None
    con = None
    try:
        if db_path is None:
            tmpdir = tempfile.TemporaryDirectory(prefix="radar-backtest-")
            db_path = Path(tmpdir.name) / "backtest.duckdb"
        con = store.connect(db_path)
        if progress:
            progress(f"importing the archive {history_dir}")
        report = import_archive(con, history_dir)
        errors = [f"archive: {p.file}: {p.message} (not imported)" for p in report.errors]
        messages = [f"archive: {p.file}: {p.message}" for p in report.warnings]
        items = history_items(con, None)
        todo = (
            items.loc[items["issue_no"].between(first, last), ["issue_no", "pub_date"]]
            .drop_duplicates()
            .sort_values("issue_no")
        )
        if not len(todo):
            none = (
                f"no issues with items in {first}-{last}"
                if len(items)
                else f"{history_dir}: no issues with items in the archive"
            )
            if not errors:
                raise UsageError(none)
            more = len(errors) - 1  # the issues may be in the files that failed: exit 1
            also = f"; {more} more archive file{'s' * (more > 1)} failed" if more else ""
            raise RankingError(f"{none}; {errors[0]}{also}")
        if progress:  # only once there is something to replay: the loading takes a while
            progress(f"loading sightings {sightings_file}")
        # Dates are judged by the data, not this machine's clock (a replay of weeks
        # newer than a wrong clock must not lose them).
        counts = store.load_sightings_file(con, sightings_file, without_feeds, by_the_clock=False)
        messages.append(f"sightings: {store.sightings_summary(counts, without_feeds)}")
        if not counts["inserted"] + counts["duplicates"]:  # a kept store may hold them already
            messages.append(f"sightings: {sightings_file}: no rows to load")
        notes, lost = _not_replayed(con, set(todo["issue_no"]), first, last)
        messages += notes
        if lost and errors:  # a failed archive file may hold them
            errors.append(f"{lost} as read")
        elif lost:
            messages.append(lost)
        cache: dict = {}
        depth = max(KS)
        # Every rank the report counts is in the written shortlist.
        quotas = {s: max(int(q), depth) for s, q in (quotas or DEFAULT_QUOTAS).items()}
        hits = []
        coverage = []
        pick_rows: list[dict[str, object]] = []
        for issue_no, pub_date in todo.itertuples(index=False):
            if progress:
                progress(f"issue #{issue_no} ({pub_date})")
            result = build_shortlist(
                con,
                pub_date,
                window_days,
                quotas,
                depth=depth,
                cache=cache,
                week=str(IsoWeek.of(pub_date)),
                use_decisions=False,
                train_issues=train_issues,
                cache_dir=None,
            )
            write_shortlist(result, out / f"issue-{int(issue_no):03d}.csv", "csv")
            picks = items[items["issue_no"] == issue_no]
            if not len(result.scored):
                messages.append(
                    f"issue #{issue_no} ({pub_date}): an empty pool (no sighting of the "
                    f"{window_days} days up to it that was not featured before); "
                    "its shortlist is header-only"
                )
            issue_hits, issue_coverage, rows = _score_issue(result, picks, int(issue_no), depth)
            hits += issue_hits
            coverage += issue_coverage
            pick_rows += rows
        write_csv(out / PICKS_FILE, PICKS_COLUMNS, pick_rows)
        messages += _earlier_shortlists(out, set(todo["issue_no"]))
    finally:
        if con is not None:
            con.close()
        if tmpdir is not None:
            tmpdir.cleanup()
        lock.release()
    picks_frame = pd.DataFrame(pick_rows, columns=list(PICKS_COLUMNS))
    return BacktestReport(
        issues=[int(i) for i in todo["issue_no"]],
        hits=pd.DataFrame(hits, columns=["issue_no", "section", "method", "rank"]),
        coverage=pd.DataFrame(coverage, columns=["issue_no", "section", "picks", "reachable"]),
        picks=picks_frame,
        out_dir=out,
        seconds=time.perf_counter() - started,
        messages=messages,
        errors=errors,
    )


def _score_issue(
    result: ShortlistResult, picks: pd.DataFrame, issue_no: int, depth: int
) -> tuple[list[tuple], list[tuple], list[dict[str, object]]]:
    """One replayed issue against its `picks`: the hits (issue_no, section, method, rank)
    and coverage (issue_no, section, picks, reachable) rows of the report, and its rows
    of picks.csv."""
    pool = result.scored
    ranks = _ranks(result, issue_no, depth)
    # A pick is reachable when some pool row is it (several rows can be one
    # pick: the story and a copy under another URL); its rank is the best one.
    keys_of: dict[int, list[str]] = {}
    section_of: dict[str, str] = {}
    if len(pool):  # an empty pool (no sightings in the window) has no columns
        section_of = dict(zip(pool["key"], pool["section"], strict=True))
        for key, item in zip(pool["key"], pick_items(pool, picks), strict=True):
            if item is not None:
                keys_of.setdefault(item, []).append(key)
    sections = picks["section"].astype(str).tolist()
    best: dict[tuple[int, str], float] = {}  # (item, method) -> rank, NaN: below
    for item, keys in keys_of.items():
        # Only in the pick's own section: a reader of that section sees nothing else.
        mine = [k for k in keys if section_of[k] == sections[item]]
        for method in METHODS:
            rank = min((ranks[method].get(k, np.inf) for k in mine), default=np.inf)
            best[item, method] = rank if np.isfinite(rank) else np.nan
    hits = []
    coverage = []
    for section in REPORT_SECTIONS:
        reached = [item for item in keys_of if sections[item] == section]
        coverage.append((issue_no, section, sections.count(section), len(reached)))
        for item in reached:
            for method in METHODS:
                hits.append((issue_no, section, method, best[item, method]))
    return hits, coverage, _pick_rows(picks, keys_of, best, section_of)


def _lock_out(out: Path) -> CrawlLock:
    """Hold `out` for this run: a second backtest into the same folder (whose shortlists
    would overwrite this one's) stops at once, naming the holder's PID. The lock file
    stays, as `crawl.lock` does; it is no shortlist (`_earlier_shortlists`)."""
    try:
        return acquire_lock(out, OUT_LOCK_FILE)
    except AlreadyRunning as busy:
        who = f"PID {busy.pid}" if busy.pid else "another process"
        raise OutputBusyError(
            f"--out {out} is in use by another backtest ({who}); nothing done: "
            "wait for it or give another --out"
        ) from None


def _not_replayed(
    con: duckdb.DuckDBPyConnection, replayed: set[int], first: int, last: int
) -> tuple[list[str], str | None]:
    """The issues of first..last that are not replayed: notes on those without items
    (essays), and one line naming the numbers not stored (`#8, #10-#12`), None when there
    is none: also those after the archive's last issue (a range asked past its end)."""
    stored = store.history_issue_hashes(con)
    absent = [n for n in range(first, last + 1) if n not in replayed]
    notes = [
        f"issue #{n} has no items (an essay): nothing to replay" for n in absent if n in stored
    ]
    lost = [n for n in absent if n not in stored]
    if not lost:
        return notes, None
    runs: list[list[int]] = []
    for n in lost:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    named = ", ".join(f"#{r[0]}" if len(r) == 1 else f"#{r[0]}-#{r[-1]}" for r in runs)
    issues = "issue" if len(lost) == 1 else "issues"
    return notes, f"{issues} {named} of {first}-{last} not replayed: not in the archive"


def _earlier_shortlists(out: Path, replayed: set[int]) -> list[str]:
    """A note naming the `issue-NNN.csv` of `out` this run did not write (a reused folder:
    they are left, not deleted, but picks.csv no longer covers them)."""
    numbered = (re.fullmatch(r"issue-(\d+)\.csv", p.name) for p in out.iterdir())
    found = sorted((int(m.group(1)), m.group(0)) for m in numbered if m)
    left = [(n, name) for n, name in found if n not in replayed]
    if not left:
        return []
    names = [name for _, name in left]
    run = len(left) > 2 and left[-1][0] - left[0][0] == len(left) - 1  # 80, 81, …, 85
    listed = f"{names[0]} … {names[-1]}" if run else ", ".join(names)
    shortlists = "shortlist" if len(names) == 1 else "shortlists"
    return [
        f"{out} holds {len(names)} {shortlists} from an earlier run ({listed}); "
        f"{PICKS_FILE} covers this run only"
    ]


def _pick_rows(
    picks: pd.DataFrame,
    keys_of: dict[int, list[str]],
    best: dict[tuple[int, str], float],
    section_of: dict[str, str],
) -> list[dict[str, object]]:
    """The rows of picks.csv for one issue's items (`picks`, in item order);
    `pool_section`: the sections the ranker gave the pick's pool rows."""
    rows = []
    for item, pick in enumerate(picks.itertuples(index=False)):
        title = next((t for t in (pick.title_zh, pick.title_en) if isinstance(t, str)), "")
        row: dict[str, object] = {
            "issue_no": int(pick.issue_no),
            "pub_date": pick.pub_date.isoformat(),
            "section": pick.section,
            "item_no": int(pick.item_no),
            "title": title,
            "url": pick.url if isinstance(pick.url, str) else "",
            "reachable": "yes" if item in keys_of else "no",
            "pool_section": " ".join(sorted({section_of[k] for k in keys_of.get(item, [])})),
        }
        for method in METHODS:
            rank = best.get((item, method), np.nan)
            column = "rank" if method == "model" else f"{method}_rank"
            row[column] = "" if np.isnan(rank) else int(rank)
        rows.append(row)
    return rows


def render_report(report: BacktestReport) -> str:
    """Plain-text tables: recall per section and method, ratio to the best baseline."""
    rec = report.recall()
    cov = report.coverage_table()
    lines = [
        f"backtest of issues {report.issues[0]}-{report.issues[-1]} "
        f"({len(report.issues)} issues, {report.seconds:.0f} s); shortlists in {report.out_dir}"
        f", every pick and its ranks in {report.out_dir / PICKS_FILE}",
        "",
        "recall over reachable picks (pick ranked <= k in its own section of the shortlist)",
        f"{'section':<12} {'method':<11} {'reach':>5} {'@12':>6} {'@24':>6} {'@50':>6}",
    ]
    for section in REPORT_SECTIONS:
        part = rec[rec["section"] == section]
        if not part["reachable"].sum():
            continue
        for row in part.itertuples(index=False):
            vals = [row[3], row[4], row[5]]
            lines.append(
                f"{row.section:<12} {row.method:<11} {row.reachable:>5} "
                + " ".join(f"{v:>6.3f}" for v in vals)
            )
        model = part[part["method"] == "model"]["recall@24"].iat[0]
        best = part[part["method"] != "model"]["recall@24"].max()
        if best and best > 0:
            lines.append(f"{'':<12} model / best baseline @24 = {model / best:.1f}x")
        else:
            lines.append(f"{'':<12} model / best baseline @24 = n/a (no baseline found any)")
    lines += ["", "coverage ceiling (reachable picks / all picks)"]
    for section, row in cov.iterrows():
        ceiling = row["ceiling"] if pd.notna(row["ceiling"]) else 0.0
        lines.append(
            f"{section:<12} {int(row['reachable']):>5} / {int(row['picks']):>5} = {ceiling:.3f}"
        )
    lines += [f"error: {error}" for error in report.errors]
    lines += [f"note: {message}" for message in report.messages]
    return "\n".join(lines) + "\n"
