"""Ingest: raw crawl JSONL into the store versus DuckDB's own bulk read_json of the same files.

Input: N candidate sightings (1M by default; 10k with --quick) in the crawler's raw JSONL
format (crawler/runstate.py: run header, candidate lines, fetch record, trailer), split
over 4 files, generated deterministically and cached under the temp folder.

Configurations, each in a fresh child process with a new DuckDB file, interleaved:

- ``ours ingest_pending``: ranking.store.ingest_pending(db, raw_dir), what `crawl` and
  `rank ingest` run: open and migrate the store, DuckDB reads the raw files, validates,
  de-duplicates and upserts sightings + candidates + fetch log + ledger in one
  transaction, with the ingest's memory limit and text compression; close (checkpoint);
- ``duckdb read_json (bare table)``: open a new file, ``CREATE TABLE t AS SELECT * FROM
  read_json('raw/*.jsonl')`` (the baseline: DuckDB's own bulk loader with its defaults,
  no validation, no upsert, no index), checkpoint, close;
- ``Arrow INSERT ... SELECT (D1 anchor)``: the anchor of ../shared/PERFORMANCE.md (D1):
  the same candidates as Python objects (parsed before the clock starts), converted
  to Arrow and inserted into a new table, checkpoint, close. Target ≥ 0.7× its rows/s.

With --what-if, three more rows: ours with a small memory limit (peak RSS must not
follow the batch), ours with DuckDB's default text compression, and the baseline with
the ZSTD text compression ours uses (what that choice is worth to a bare load too).

Reported: wall and CPU seconds, sightings per CPU second, peak RSS of each child, and the
ratio baseline ÷ ours (target ≥ 0.5×, i.e. our overhead at most 2×).
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
OURS = "ours ingest_pending"
BASE = "duckdb read_json (bare table)"
ARROW = "Arrow INSERT ... SELECT (D1 anchor)"
SMALL_MEMORY_MIB = 512
# Peak RSS allowed above DuckDB's memory_limit: the interpreter, pyarrow and DuckDB's
# own bookkeeping outside its buffer manager.
RSS_ALLOWANCE_MIB = 512


def raw_dir(n: int) -> Path:
    d = CACHE / f"raw-{n}"
    done = d / ".complete"
    if not done.exists():
        for old in d.glob("*.jsonl"):
            old.unlink()
        _corpus.write_raw_files(d, n, files=4)
        done.write_text("ok")
    return d


def child(mode: str, raw: str, memory_mib: int | None, compression: str | None) -> None:
    import duckdb

    from ranking import store

    c.warm_imports("ranking.store", "crawler.urls", "pyarrow", "pandas")
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        db = Path(tmp) / "radar.duckdb"
        if mode == "ours":
            # What-if rows change the product's ingest settings in this child only.
            if memory_mib is not None:
                store.INGEST_MEMORY_LIMIT = memory_mib << 20
            if compression is not None:
                store.INGEST_COMPRESSION = compression
            with c.Clock() as clock:
                rep = store.ingest_pending(db, raw)
            rows = rep.sightings
            extra = {
                "candidates": rep.candidates,
                "bad_rows": rep.bad_rows,
                "memory_limit_mib": store.INGEST_MEMORY_LIMIT >> 20,
            }
        elif mode == "arrow":
            # The D1 anchor: the candidates as Python objects (read before the clock), then
            # Arrow conversion, INSERT ... SELECT into a new table and CHECKPOINT, timed.
            import json

            import pyarrow as pa

            records = []
            for path in sorted(Path(raw).glob("*.jsonl")):
                with path.open(encoding="utf-8") as lines:
                    records += [r for r in map(json.loads, lines) if r.get("type") == "candidate"]
            with c.Clock() as clock:
                con = duckdb.connect(str(db))
                table = pa.Table.from_pylist(records)
                con.register("batch", table)
                con.execute("CREATE TABLE t AS SELECT * FROM batch LIMIT 0")
                con.execute("INSERT INTO t SELECT * FROM batch")
                con.execute("CHECKPOINT")
                con.close()
            rows = len(records)
            extra = {}
        else:
            with c.Clock() as clock:
                con = duckdb.connect(str(db))
                if compression:
                    con.execute(f"SET force_compression = '{compression}'")
                con.execute(
                    "CREATE TABLE t AS SELECT * FROM read_json(?, format = 'newline_delimited', "
                    "union_by_name = true)",
                    [str(Path(raw) / "*.jsonl")],
                )
                con.execute("CHECKPOINT")
                con.close()
            with duckdb.connect(str(db), read_only=True) as con:
                rows = con.execute("SELECT count(*) FROM t WHERE type = 'candidate'").fetchone()[0]
            extra = {}
        c.child_result(cpu_s=clock.cpu, wall_s=clock.wall, rows=rows, **extra)


def configs(script: str, d: Path, what_if: bool) -> dict:
    def run(mode: str, *options: str):
        return lambda: c.run_child([script, "--child", mode, "--raw", str(d), *options])

    out = {OURS: run("ours"), BASE: run("duckdb"), ARROW: run("arrow")}
    if what_if:
        out[f"what-if: ours, memory_limit {SMALL_MEMORY_MIB} MiB"] = run(
            "ours", "--memory-mib", str(SMALL_MEMORY_MIB)
        )
        out["what-if: ours, DuckDB's default text compression"] = run("ours", "--compression", "")
        out["what-if: duckdb read_json + ZSTD text compression"] = run(
            "duckdb", "--compression", "zstd"
        )
    return out


def main() -> int:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--child", choices=("ours", "duckdb", "arrow"), help=c.argparse_hidden())
    p.add_argument("--raw", help=c.argparse_hidden())
    p.add_argument("--memory-mib", type=int, default=None, help=c.argparse_hidden())
    p.add_argument("--compression", default=None, help=c.argparse_hidden())
    p.add_argument(
        "--sizes",
        default=None,
        help="comma-separated sighting counts (default 100000,1000000; 10000 with --quick)",
    )
    p.add_argument(
        "--what-if",
        action="store_true",
        help=f"also run ours with memory_limit {SMALL_MEMORY_MIB} MiB, ours with DuckDB's "
        "default text compression, and the baseline with ZSTD",
    )
    args = p.parse_args()
    if args.child:
        child(args.child, args.raw, args.memory_mib, args.compression)
        return 0
    repeats = c.repeats_of(args)
    sizes = [
        int(s) for s in (args.sizes or ("10000" if args.quick else "100000,1000000")).split(",")
    ]
    report = c.Report("ingest", "3. Ingest", c.command_line("bench_ingest.py", args), args.quick)
    script = str(Path(__file__).resolve())
    rows = []
    ratio_at = {}
    arrow_at = {}
    rss_at: dict[int, dict[str, float]] = {}
    limit_mib = None
    for n in sizes:
        d = raw_dir(n)
        mb = sum(f.stat().st_size for f in d.glob("*.jsonl")) / 2**20
        runs = c.interleave(configs(script, d, args.what_if), repeats)
        base = runs[BASE]
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
        ours = runs[OURS]
        limit_mib = ours[0]["memory_limit_mib"]
        ratio_at[n] = (
            c.med(base, "cpu_s") / c.med(ours, "cpu_s"),
            c.med(base, "wall_s") / c.med(ours, "wall_s"),
        )
        arrow_at[n] = c.med(runs[ARROW], "cpu_s") / c.med(ours, "cpu_s")
        rss_at[n] = {name: c.med(rs, "maxrss_mb") for name, rs in runs.items()}
        report.data[f"runs_{n}"] = runs
    report.table(
        f"Medians of {repeats} interleaved fresh child processes (new DuckDB file each; the "
        "clock covers opening and closing it). CPU includes DuckDB's worker threads. "
        f"Ours runs with DuckDB's memory_limit at {limit_mib:,} MiB (spilling beyond) and "
        "ZSTD text compression (ranking.store.INGEST_MEMORY_LIMIT, INGEST_COMPRESSION).",
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
    arrow_r = arrow_at[top]
    report.targets.append(
        c.Target(
            f"ingest {top:,} sightings vs Arrow INSERT ... SELECT (D1 anchor)",
            "≥ 0.7× the baseline's rows/s",
            f"{arrow_r:.2f}× (CPU)",
            arrow_r >= 0.7 if not args.quick else None,
        )
    )
    allowed = (limit_mib or 0) + RSS_ALLOWANCE_MIB
    peaks = ", ".join(f"{rss_at[n][OURS]:,.0f} MiB at {n:,}" for n in sizes)
    value = f"{peaks} (memory_limit {limit_mib:,} MiB; baseline {rss_at[top][BASE]:,.0f} MiB)"
    small = f"what-if: ours, memory_limit {SMALL_MEMORY_MIB} MiB"
    if args.what_if:
        value += f"; with {SMALL_MEMORY_MIB} MiB: " + ", ".join(
            f"{rss_at[n][small]:,.0f} MiB at {n:,}" for n in sizes
        )
    report.targets.append(
        c.Target(
            "ingest memory bounded",
            f"peak RSS ≤ DuckDB's memory_limit + {RSS_ALLOWANCE_MIB} MiB at every batch size",
            value,
            (
                all(rss_at[n][OURS] <= allowed for n in sizes)
                and (
                    not args.what_if
                    or all(rss_at[n][small] <= SMALL_MEMORY_MIB + RSS_ALLOWANCE_MIB for n in sizes)
                )
            )
            if not args.quick
            else None,
        )
    )
    report.notes.append(
        "Both loaders read the same files; ours also writes the candidates table and the "
        "primary-key and unique indexes of sightings and candidates, which the bare table "
        "does not have."
    )
    report.emit(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
