"""Ingest: raw crawl JSONL into the store versus DuckDB's own bulk read_json of the same files.

Input: N candidate sightings (1M by default; 10k with --quick) in the crawler's raw JSONL
format (crawler/runstate.py: run header, candidate lines, fetch record, trailer), split
over 4 files, generated deterministically and cached under the temp folder.

Configurations, each in a fresh child process with a new DuckDB file, interleaved:

- ``ours ingest_raw``: ranking.store.ingest_raw(con, raw_dir) on a migrated store
  (parse, validate, de-duplicate, upsert sightings + candidates + fetch log + ledger);
- ``duckdb read_json``: ``CREATE TABLE t AS SELECT * FROM read_json('raw/*.jsonl')`` into
  a bare table (the baseline: DuckDB's own bulk loader, no validation, no upsert).

Reported: wall and CPU seconds, sightings per CPU second, peak RSS of each child, and the
ratio baseline ÷ ours (target ≥ 0.5×, i.e. our overhead at most 2×). The growth of peak
RSS between the sizes shows whether memory is bounded.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common as c
import _corpus

CACHE = Path(tempfile.gettempdir()) / "weekly-radar-bench"


def raw_dir(n: int) -> Path:
    d = CACHE / f"raw-{n}"
    done = d / ".complete"
    if not done.exists():
        for old in d.glob("*.jsonl"):
            old.unlink()
        _corpus.write_raw_files(d, n, files=4)
        done.write_text("ok")
    return d


def child(mode: str, raw: str) -> None:
    import duckdb

    c.warm_imports("ranking.store", "crawler.urls", "pyarrow", "pandas")
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        db = Path(tmp) / "radar.duckdb"
        if mode == "ours":
            from ranking import store

            con = store.connect(db)
            with c.Clock() as clock:
                rep = store.ingest_raw(con, raw)
                con.execute("CHECKPOINT")
            rows = rep.sightings
            extra = {"candidates": rep.candidates, "bad_rows": rep.bad_rows}
        else:
            con = duckdb.connect(str(db))
            with c.Clock() as clock:
                con.execute(
                    "CREATE TABLE t AS SELECT * FROM read_json(?, format = 'newline_delimited', "
                    "union_by_name = true)",
                    [str(Path(raw) / "*.jsonl")],
                )
                con.execute("CHECKPOINT")
            rows = con.execute("SELECT count(*) FROM t WHERE type = 'candidate'").fetchone()[0]
            extra = {}
        con.close()
        c.child_result(cpu_s=clock.cpu, wall_s=clock.wall, rows=rows, **extra)


def main() -> int:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--child", choices=("ours", "duckdb"), help=c.argparse_hidden())
    p.add_argument("--raw", help=c.argparse_hidden())
    p.add_argument(
        "--sizes",
        default=None,
        help="comma-separated sighting counts (default 100000,1000000; 10000 with --quick)",
    )
    args = p.parse_args()
    if args.child:
        child(args.child, args.raw)
        return 0
    repeats = c.repeats_of(args)
    sizes = [
        int(s) for s in (args.sizes or ("10000" if args.quick else "100000,1000000")).split(",")
    ]
    report = c.Report("ingest", "3. Ingest", c.command_line("bench_ingest.py", args), args.quick)
    script = str(Path(__file__).resolve())
    rows = []
    ratio_at = {}
    rss_at = {}
    for n in sizes:
        d = raw_dir(n)
        mb = sum(f.stat().st_size for f in d.glob("*.jsonl")) / 2**20
        runs = c.interleave(
            {
                "ours ingest_raw": lambda d=d: c.run_child(
                    [script, "--child", "ours", "--raw", str(d)]
                ),
                "duckdb read_json (bare table)": lambda d=d: c.run_child(
                    [script, "--child", "duckdb", "--raw", str(d)]
                ),
            },
            repeats,
        )
        base = runs["duckdb read_json (bare table)"]
        for name, rs in runs.items():
            cpu, wall = c.med(rs, "cpu_s"), c.med(rs, "wall_s")
            rows.append(
                (
                    f"{n:,} ({mb:,.0f} MiB)",
                    name,
                    rs[0]["rows"],
                    wall,
                    cpu,
                    n / cpu,
                    cpu * 1e6 / n,
                    c.med(rs, "maxrss_mb"),
                    c.med(base, "cpu_s") / cpu,
                    c.med(base, "wall_s") / wall,
                )
            )
        ours = runs["ours ingest_raw"]
        ratio_at[n] = (
            c.med(base, "cpu_s") / c.med(ours, "cpu_s"),
            c.med(base, "wall_s") / c.med(ours, "wall_s"),
        )
        rss_at[n] = (c.med(ours, "maxrss_mb"), c.med(base, "maxrss_mb"))
        report.data[f"runs_{n}"] = runs
    report.table(
        f"Medians of {repeats} interleaved fresh child processes (new DuckDB file each); "
        "CPU includes DuckDB's worker threads.",
        ("sightings", "loader", "rows", "wall s", "CPU s", "rows per CPU s", "CPU µs/row",
         "peak RSS MiB", "× baseline (CPU)", "× baseline (wall)"),
        rows,
    )  # fmt: skip
    top = max(sizes)
    cpu_r, wall_r = ratio_at[top]
    report.targets.append(
        c.Target(
            f"ingest {top:,} sightings vs DuckDB read_json",
            "≥ 0.5× the baseline's throughput",
            f"{cpu_r:.2f}× (CPU), {wall_r:.2f}× (wall)",
            (cpu_r >= 0.5 and wall_r >= 0.5) if not args.quick else None,
        )
    )
    if len(sizes) > 1:
        lo, hi = min(sizes), max(sizes)
        growth = rss_at[hi][0] / rss_at[lo][0]
        report.targets.append(
            c.Target(
                "ingest memory bounded",
                "peak RSS independent of batch size (streamed)",
                f"{rss_at[lo][0]:,.0f} MiB at {lo:,} → {rss_at[hi][0]:,.0f} MiB at {hi:,} "
                f"({growth:.1f}×; baseline {rss_at[hi][1]:,.0f} MiB)",
                growth < 2.0,
            )
        )
    else:
        report.targets.append(
            c.Target(
                "ingest memory bounded", "peak RSS reported", f"{rss_at[top][0]:,.0f} MiB", None
            )
        )
    report.emit(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
