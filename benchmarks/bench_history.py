"""History import: the whole dev archive (../shared/datasets/python-weekly) into a new store.

Each repeat runs in a fresh child process against a new DuckDB file:

- ``import_archive`` (first import): ranking.history.import_archive on an empty store;
- ``re-import (unchanged)``: the same call again (content hashes match, nothing written);
- ``read_archive only``: the markdown parse without the store (where the time goes).

Target: the first import ≤ 5 s (wall). CPU is reported next to wall time because the
machine is shared.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common as c

ARCHIVE = c.shared_path("datasets", "python-weekly")


def child(mode: str, archive: str) -> None:
    from ranking import store
    from ranking.history import import_archive, read_archive

    c.warm_imports("pyarrow", "pandas", "crawler.urls")

    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        con = store.connect(Path(tmp) / "radar.duckdb")
        if mode == "read":
            with c.Clock() as clock:
                issues, _skipped, _problems = read_archive(archive)
            c.child_result(cpu_s=clock.cpu, wall_s=clock.wall, issues=len(issues))
            return
        with c.Clock() as first:
            report = import_archive(con, archive)
        with c.Clock() as again:
            import_archive(con, archive)
        con.close()
        c.child_result(
            cpu_s=first.cpu,
            wall_s=first.wall,
            again_cpu_s=again.cpu,
            again_wall_s=again.wall,
            issues=len(report.imported),
            items=report.items,
            links=report.links,
        )


def main() -> int:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--child", choices=("import", "read"), help=c.argparse_hidden())
    p.add_argument("--archive", default=str(ARCHIVE), help="archive folder (default ../shared)")
    args = p.parse_args()
    if args.child:
        child(args.child, args.archive)
        return 0
    repeats = c.repeats_of(args)
    report = c.Report(
        "history", "6. History import", c.command_line("bench_history.py", args), args.quick
    )
    if not Path(args.archive).is_dir():
        report.notes.append(f"{args.archive} not found: skipped")
        report.targets.append(c.Target("history import", "≤ 5 s", "no archive", None))
        report.emit(args.json)
        return 0
    script = str(Path(__file__).resolve())
    runs = c.interleave(
        {
            "import": lambda: c.run_child([script, "--child", "import", "--archive", args.archive]),
            "read": lambda: c.run_child([script, "--child", "read", "--archive", args.archive]),
        },
        repeats,
    )
    imp, rd = runs["import"], runs["read"]
    issues = imp[0]["issues"]
    items = imp[0]["items"]
    rows = [
        ("import_archive (first import)", issues, items, c.med(imp, "wall_s"),
         c.med(imp, "cpu_s"), c.med(imp, "cpu_s") * 1000 / max(issues, 1), c.med(imp, "maxrss_mb")),
        ("re-import (unchanged)", issues, items, c.med(imp, "again_wall_s"),
         c.med(imp, "again_cpu_s"), c.med(imp, "again_cpu_s") * 1000 / max(issues, 1), None),
        ("read_archive only (parse)", rd[0]["issues"], None, c.med(rd, "wall_s"),
         c.med(rd, "cpu_s"), c.med(rd, "cpu_s") * 1000 / max(rd[0]["issues"], 1),
         c.med(rd, "maxrss_mb")),
    ]  # fmt: skip
    report.table(
        f"{ARCHIVE.name}: medians of {repeats} fresh child processes, new DuckDB file each.",
        ("step", "issues", "items", "wall s", "CPU s", "CPU ms/issue", "peak RSS MiB"),
        rows,
    )
    report.targets.append(
        c.time_target(
            "history import, whole dev archive",
            5.0,
            c.med(imp, "wall_s"),
            c.med(imp, "cpu_s"),
            c.med(imp, "loadavg_1min"),
            args.quick,
        )
    )
    report.data["runs"] = runs
    report.emit(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
