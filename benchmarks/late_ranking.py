"""Ranking as of a later day than the data: what counting ages from the wrong day costs.

    .venv/bin/python benchmarks/late_ranking.py [--days 2] [--issues 41-85]

`rank --week` once ranked a week still running as of its Sunday: on a Thursday, every
candidate's age was 3 days older than in the training pools (each as of its issue's day,
with the sightings up to that day). It now ranks as of the week's last day with
sightings (`ranking.shortlist.week_as_of`). This replays `rank backtest` twice on the dev
archive: as is, and with every issue ranked as of `--days` after its date while its
sightings still end on that date (nothing later is read; only the day ages are counted
from moves). It prints recall@12 and @24 of both runs per section.

Reads ../shared/datasets at run time; about 2 x 2.5 minutes for #41-#85 on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common as c

import ranking.backtest as backtest
from ranking import store

DATA = c.shared_path("datasets")
SECTIONS = ("project", "article")


@contextlib.contextmanager
def ranked_late(days: int) -> Iterator[None]:
    """Within the block, the backtest ranks each issue as of `days` after its date, with
    the sightings cut at the date and the history still the issues before it."""
    build, frame = backtest.build_shortlist, store.sightings_frame
    cut: list[dt.date] = []

    def sightings_frame(con, start: dt.date, end: dt.date):
        return frame(con, start, min([end, *cut]))

    def build_late(con, as_of: dt.date, *args, **kwargs):
        cut.append(as_of)
        try:
            later = as_of + dt.timedelta(days=days)
            return build(con, later, *args, history_before=as_of, **kwargs)
        finally:
            cut.pop()

    backtest.build_shortlist, store.sightings_frame = build_late, sightings_frame
    try:
        yield
    finally:
        backtest.build_shortlist, store.sightings_frame = build, frame


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--days", type=int, default=2, help="rank this many days late (default 2)")
    ap.add_argument("--issues", default="41-85", help="issue range (default 41-85)")
    args = ap.parse_args(argv)
    issues = backtest.parse_issue_range(args.issues)
    archive = DATA / "python-weekly"
    sightings = DATA / "sightings" / "sightings-2023-2025-01.parquet"
    runs = {}
    with tempfile.TemporaryDirectory(prefix="late-ranking-") as tmp:
        runs["on the day"] = backtest.run_backtest(archive, sightings, issues, Path(tmp) / "a")
        with ranked_late(args.days):
            late = backtest.run_backtest(archive, sightings, issues, Path(tmp) / "b")
        runs[f"{args.days} d late"] = late
    print(f"issues #{issues[0]}-#{issues[1]}: the model's recall over reachable picks")
    print(f"{'section':<9} {'ranked':<12} {'reach':>6} {'@12':>6} {'@24':>6}")
    for section in SECTIONS:
        for name, report in runs.items():
            row = report.recall().query("section == @section and method == 'model'").iloc[0]
            print(
                f"{section:<9} {name:<12} {row['reachable']:>6} "
                f"{row['recall@12']:>6.3f} {row['recall@24']:>6.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
