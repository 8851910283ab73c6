"""Backtest: replay dev issues #61–#85 on ../shared (archive + sightings) as of their dates.

Runs ranking.backtest.run_backtest (what `rank backtest` calls) in a fresh child process:
import the archive into a new store, load the sightings file, then for every issue build
the pool, features, fit and shortlist as of its date. Reported: wall and CPU time, time
per replayed issue, peak RSS. Target: ≤ 5 min wall on 2 cores (CPU shown next to it,
because another tenant may hold a core). --quick replays one early issue only.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common as c

HISTORY = c.shared_path("datasets", "python-weekly")
SIGHTINGS = c.shared_path("datasets", "sightings", "sightings-2023-2025-01.parquet")


def child(first: int, last: int) -> None:
    from bench_rank import RANK_MODULES

    from ranking.backtest import run_backtest

    c.warm_imports(*RANK_MODULES, "ranking.backtest", "ranking.history")

    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        with c.Clock() as clock:
            report = run_backtest(HISTORY, SIGHTINGS, (first, last), Path(tmp) / "out")
        c.child_result(cpu_s=clock.cpu, wall_s=clock.wall, issues=len(report.issues))


def main() -> int:
    p = c.parser(__doc__.splitlines()[0], repeats=1)
    p.add_argument("--child", action="store_true", help=c.argparse_hidden())
    p.add_argument("--issues", default=None, help="issue range (default 61-85; 2-2 with --quick)")
    args = p.parse_args()
    first, last = (int(x) for x in (args.issues or ("2-2" if args.quick else "61-85")).split("-"))
    if args.child:
        child(first, last)
        return 0
    report = c.Report(
        "backtest", "5. Backtest", c.command_line("bench_backtest.py", args), args.quick
    )
    if not (HISTORY.is_dir() and SIGHTINGS.is_file()):
        report.targets.append(c.Target("backtest", "≤ 5 min", "../shared data missing", None))
        report.emit(args.json)
        return 0
    try:
        from ranking import backtest  # noqa: F401
    except ImportError as exc:
        report.targets.append(c.Target("backtest", "≤ 5 min", f"not runnable: {exc}", None))
        report.emit(args.json)
        return 0
    script = str(Path(__file__).resolve())
    runs = c.interleave(
        {
            "run_backtest": lambda: c.run_child(
                [script, "--child", "--issues", f"{first}-{last}"], timeout=3600
            )
        },
        c.repeats_of(args),
    )["run_backtest"]
    wall, cpu = c.med(runs, "wall_s"), c.med(runs, "cpu_s")
    n = runs[0]["issues"]
    report.table(
        f"Issues #{first}–#{last}; median of {len(runs)} fresh child process(es).",
        ("replay", "issues", "wall s", "CPU s", "wall s/issue", "CPU s/issue", "peak RSS MiB"),
        [(f"#{first}–#{last}", n, wall, cpu, wall / max(n, 1), cpu / max(n, 1),
          c.med(runs, "maxrss_mb"))],
    )  # fmt: skip
    report.targets.append(
        c.time_target(
            f"backtest #{first}–#{last} (≤ 5 min on 2 cores)",
            300.0,
            wall,
            cpu,
            c.med(runs, "loadavg_1min"),
            args.quick,
        )
    )
    report.data["runs"] = runs
    report.emit(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
