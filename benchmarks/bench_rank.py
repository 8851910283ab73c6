"""Ranking scale: a week's shortlist with 10k, 100k and 1M candidates against the archive.

Store (built once per size, cached under the temp folder): the dev archive
(../shared/datasets/python-weekly, ~2k primary items plus their links as history) and the
real sightings file (the training pools of the 85 past issues), plus N synthetic
candidates (one sighting each: repositories, HN stories, blog posts with titles and
descriptions from a fixed vocabulary) seen in the 21 days before 2025-02-09 (ISO week
2025-W06), after the last issue, so that only the ranked week's pool grows with N.

--quick uses the archive only (no real sightings: no training pools, so the week is
ranked by the prior weights alone) so that the smoke test stays short.

Each size runs in a fresh child process (RSS watched: killed above 8 GiB) that calls the
library entry point of `rank --week` (ranking.shortlist.build_shortlist, with the disk
cache of past pools that the command keeps beside the database):

- ``cold``: the first run on a new database builds and caches the pool of every past
  issue (independent of N; measured once, at the first size);
- timed runs: what every later `rank --week` costs. Past pools come from the cache; the
  week's own pool is always rebuilt (its file is deleted first: at night the week has new
  sightings), with its features, the history's text index and the scorer's fit.

Reported: wall, CPU, peak RSS per size and the scaling exponent (least-squares slope of
log time over log N). Targets: 10k ≤ 10 s, 1M ≤ 10 min within 8 GiB, exponent ≤ 1.1.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common as c
from _corpus import WORDS

CACHE = Path(tempfile.gettempdir()) / "weekly-radar-bench"
HISTORY = c.shared_path("datasets", "python-weekly")
SIGHTINGS = c.shared_path("datasets", "sightings", "sightings-2023-2025-01.parquet")
AS_OF = dt.date(2025, 2, 9)  # Sunday of 2025-W06
RSS_LIMIT_MB = 8 * 1024
# Imported before the timed section (see _common.warm_imports).
RANK_MODULES = (
    "pandas",
    "pyarrow",
    "numpy",
    "scipy.sparse",
    "sklearn.feature_extraction.text",
    "sklearn.linear_model",
    "datasketch",
    "rapidfuzz",
    "ranking.pool",
    "ranking.features",
    "ranking.scorers",
    "ranking.shortlist",
    "crawler.urls",
)


def synthetic_parquet(n: int, path: Path) -> None:
    """N candidate sightings (one each) in the window of AS_OF, written with DuckDB."""
    import duckdb

    words = "[" + ", ".join(f"'{w}'" for w in WORDS) + "]"
    k = len(WORDS)

    def word(salt: int) -> str:
        return f"list_extract({words}, (hash(i * 7919 + {salt}) % {k})::INTEGER + 1)"

    title = " || ' ' || ".join(word(s) for s in range(7))
    desc = " || ' ' || ".join(word(100 + s) for s in range(24))
    start = AS_OF - dt.timedelta(days=20)
    con = duckdb.connect()
    con.execute(
        f"""
        COPY (
          SELECT
            CASE i % 4 WHEN 0 THEN 'github_trending' WHEN 1 THEN 'hackernews' ELSE 'rss' END
              AS feed,
            CASE i % 4 WHEN 0 THEN 'trending:python' WHEN 1 THEN 'hn:front'
              ELSE 'blog:feed' || (i % 300)::VARCHAR END AS section,
            (DATE '{start}' + (i % 21)::INTEGER) AS seen_date,
            (TIMESTAMP '{start} 06:00:00' + to_days((i % 21)::INTEGER)) AS seen_ts,
            {title} || ' ' || i::VARCHAR AS title,
            CASE WHEN i % 4 = 0
              THEN 'https://github.com/owner' || (i % 50000)::VARCHAR || '/repo' || i::VARCHAR
              ELSE 'https://blog' || (i % 20000)::VARCHAR || '.example.com/posts/'
                   || i::VARCHAR || '.html' END AS url,
            {desc} AS description,
            CASE WHEN i % 4 = 0 THEN (hash(i) % 20000)::BIGINT END AS stars,
            CASE WHEN i % 4 = 0 THEN (hash(i + 1) % 500)::BIGINT END AS stars_today,
            CASE WHEN i % 4 = 0 THEN (hash(i + 2) % 2000)::BIGINT END AS forks,
            CASE WHEN i % 4 = 0 THEN 'Python' END AS language,
            CASE WHEN i % 4 = 1 THEN (hash(i + 3) % 900)::BIGINT END AS points,
            CASE WHEN i % 4 = 1 THEN (hash(i + 4) % 400)::BIGINT END AS comments,
            (i % 30 + 1)::BIGINT AS "rank",
            NULL::VARCHAR AS extra
          FROM range({n}) t(i)
        ) TO '{path}' (FORMAT parquet)
        """
    )
    con.close()


def _base_store(real_sightings: bool) -> Path:
    """Archive + (optionally) the real sightings: built once, copied for every size."""
    from ranking import store
    from ranking.history import import_archive

    name = "rank-base" if real_sightings else "rank-base-archive-only"
    db = CACHE / f"{name}.duckdb"
    done = CACHE / f"{name}.complete"
    if done.exists() and db.exists():
        return db
    db.unlink(missing_ok=True)
    con = store.connect(db)
    try:
        import_archive(con, HISTORY)
        if real_sightings:
            store.load_sightings_file(con, SIGHTINGS)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    done.write_text("ok")
    return db


def store_for(n: int, real_sightings: bool = True) -> Path:
    """The cached store of size N: the base store + N synthetic candidates."""
    from ranking import store

    CACHE.mkdir(parents=True, exist_ok=True)
    tag = f"rank-{n}" if real_sightings else f"rank-{n}-archive-only"
    db = CACHE / f"{tag}.duckdb"
    done = CACHE / f"{tag}.complete"
    if done.exists() and db.exists():
        return db
    shutil.copyfile(_base_store(real_sightings), db)
    con = store.connect(db)
    try:
        raw = CACHE / f"rank-{n}.parquet"
        synthetic_parquet(n, raw)
        store.load_sightings_file(con, raw)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    done.write_text("ok")
    return db


def child(db: str, cache_dir: str, workdir: str | None = None) -> None:
    """One `rank --week` as the command runs it: build_shortlist with its disk pool cache."""
    from ranking import store
    from ranking.shortlist import build_shortlist

    c.warm_imports(*RANK_MODULES)
    c.watch_stack()
    cache = Path(cache_dir)
    # The week being ranked always has new sightings at night, so its own pool is never
    # reused: only past issues' pools (which never change) may come from the cache.
    for stale in cache.glob(f"pool-{AS_OF}-*"):
        stale.unlink()
    warm = any(cache.glob("pool-*"))
    # The parent owns `workdir` and removes it even when this child is killed (RSS limit).
    with tempfile.TemporaryDirectory(prefix="bench-rank-", dir=workdir) as tmp:
        copy = Path(tmp) / "radar.duckdb"
        shutil.copyfile(db, copy)
        con = store.connect(copy)
        with c.Clock() as run:
            result = build_shortlist(con, AS_OF, cache_dir=cache)
        con.close()
        c.child_result(
            cpu_s=run.cpu,
            wall_s=run.wall,
            warm=warm,
            pool=result.pool_counts,
            training=result.training,
            shortlist=len(result.frame),
        )


def main() -> int:
    p = c.parser(__doc__.splitlines()[0], repeats=1)
    p.add_argument("--child", help=c.argparse_hidden())
    p.add_argument("--cache-dir", help=c.argparse_hidden())
    p.add_argument("--workdir", help=c.argparse_hidden())
    p.add_argument(
        "--sizes",
        default=None,
        help="comma-separated candidate counts (default 10000,100000,1000000; "
        "2000,5000 with --quick), e.g. --sizes 10000,100000",
    )
    args = p.parse_args()
    if args.child:
        child(args.child, args.cache_dir, args.workdir)
        return 0
    repeats = c.repeats_of(args)
    default = "2000,5000" if args.quick else "10000,100000,1000000"
    sizes = [int(s) for s in (args.sizes or default).split(",")]
    report = c.Report("rank", "4. Ranking scale", c.command_line("bench_rank.py", args), args.quick)
    if not (HISTORY.is_dir() and SIGHTINGS.is_file()):
        report.targets.append(c.Target("ranking", "see issue", "../shared data missing", None))
        report.emit(args.json)
        return 0
    script = str(Path(__file__).resolve())
    rows = []
    measured: dict[int, dict] = {}
    failures: dict[int, str] = {}
    cold: dict = {}
    pools = tempfile.TemporaryDirectory(prefix="bench-rank-pools-")

    def run(db: Path) -> dict:
        with tempfile.TemporaryDirectory(prefix="bench-rank-work-") as work:
            argv = [script, "--child", str(db), "--cache-dir", pools.name, "--workdir", work]
            return c.run_child(argv, timeout=3600, rss_limit_mb=RSS_LIMIT_MB)

    for n in sizes:
        try:
            with c.Clock() as prep:
                db = store_for(n, real_sightings=not args.quick)
        except Exception as exc:  # a store that cannot be built is a finding, not a crash
            failures[n] = f"store prep failed: {type(exc).__name__}: {str(exc).splitlines()[0]}"
            rows.append((f"{n:,}", "–", "–", "–", "–", "–", failures[n][:200]))
            continue
        runs = []
        try:
            if not cold:  # the first run ever: every past issue's pool is built and cached
                cold = run(db) | {"n": n}
            for _ in range(repeats):
                runs.append(run(db))
        except c.ChildFailed as exc:
            failures[n] = str(exc).splitlines()[-1][:300]
        if not runs:
            rows.append((f"{n:,}", "–", "–", "–", "–", "–", f"FAILED: {failures[n]}"))
            continue
        m = {k: c.med(runs, k) for k in ("wall_s", "cpu_s", "maxrss_mb")}
        m["pool"] = runs[0]["pool"]
        measured[n] = m
        rows.append(
            (f"{n:,}", runs[0]["pool"].get("pool"), m["wall_s"], m["cpu_s"], m["maxrss_mb"],
             f"{cold['wall_s']:,.1f}" if cold.get("n") == n else "",
             f"store prep {prep.wall:,.0f} s")
        )  # fmt: skip
    pools.cleanup()
    report.table(
        f"`rank --week` (build_shortlist with its pool cache) as of {AS_OF} (2025-W06), window "
        f"21 days; median of {repeats} fresh child process(es). Nightly runs find the past "
        "issues' pools in the cache that the first run wrote (they never change) and rebuild "
        "the week's own pool, its features and the fit: that is the timed run. The first run "
        "on a new database also builds and caches every past issue's pool (cold column).",
        ("candidates", "pool rows", "wall s", "CPU s", "peak RSS MiB", "cold first run wall s",
         "note"),
        rows,
    )  # fmt: skip
    ok = sorted(measured)
    slope = float("nan")
    if len(ok) >= 2:
        slope = c.loglog_slope(ok, [measured[n]["cpu_s"] for n in ok])
        report.notes.append(
            f"scaling exponent over {', '.join(f'{n:,}' for n in ok)}: {slope:.2f} (CPU)"
        )
    if cold:
        report.notes.append(
            f"cold first run ({cold['n']:,} candidates, "
            f"{cold['training'].get('pools', '?')} past pools built and cached): "
            f"{cold['wall_s']:,.1f} s wall, {cold['cpu_s']:,.1f} s CPU, "
            f"peak RSS {cold['maxrss_mb']:,.0f} MiB"
        )
    for n, why in failures.items():
        report.notes.append(f"{n:,} candidates: {why}")
    small = min(sizes)
    if small in measured:
        t = measured[small]["wall_s"]
        report.targets.append(
            c.Target(
                f"rank --week, {small:,} candidates",
                "≤ 10 s" if small == 10_000 else "(10k: ≤ 10 s)",
                f"{t:,.1f} s wall ({measured[small]['cpu_s']:,.1f} s CPU)",
                t <= 10 if small == 10_000 else None,
            )
        )
    big = max(sizes)
    if big >= 1_000_000:
        if big in measured:
            m = measured[big]
            met = m["wall_s"] <= 600 and m["maxrss_mb"] <= RSS_LIMIT_MB
            value = f"{m['wall_s']:,.0f} s, {m['maxrss_mb']:,.0f} MiB"
        else:
            met, value = False, f"failed: {failures.get(big, 'not run')}"
        report.targets.append(
            c.Target("rank --week, 1M candidates", "≤ 10 min within 8 GiB", value, met)
        )
    report.targets.append(
        c.Target(
            "scaling exponent (log-log CPU)",
            "≤ 1.1",
            f"{slope:.2f}",
            (slope <= 1.1) if len(ok) >= 2 and not args.quick else None,
        )
    )
    report.data["measured"] = measured
    report.data["cold"] = cold
    report.data["failures"] = failures
    report.emit(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
