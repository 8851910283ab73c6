"""Ranking scale: a week's shortlist with 10k, 100k and 1M candidates against the archive.

Store (built once per size, cached under the temp folder): the dev archive
(../shared/datasets/python-weekly, ~2k primary items plus their links as history) and the
real sightings file (the training pools of the 85 past issues), plus N synthetic
candidates (one sighting each: repositories, HN stories, blog posts with titles and
descriptions from a fixed vocabulary) seen in the 21 days before 2025-02-09 (ISO week
2025-W06), after the last issue, so that only the ranked week's pool grows with N.

--quick uses the archive only (no real sightings: no training pools, the momentum-only
path) so that the smoke test stays short.

Each size runs in a fresh child process (RSS watched: killed above 8 GiB) that calls the
library entry point of `rank --week` (ranking.shortlist.build_shortlist; commands.shortlist
does not exist yet) twice in a row:

- ``training pools``: the labelled pools of every past issue (independent of N);
- ``weekly``: build_shortlist with the training pools cached: history, fit, the week's
  pool (merge, near-duplicates, already featured), features, scores, quotas;
- ``total`` = both: what `rank --week` costs cold.

Reported: wall, CPU, peak RSS per size and the scaling exponent (least-squares slope of
log time over log N). Targets: 10k ≤ 10 s, 1M ≤ 10 min within 8 GiB, exponent ≤ 1.1.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common as c

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
VOCAB = [
    "python",
    "async",
    "typing",
    "packaging",
    "pytest",
    "django",
    "flask",
    "fastapi",
    "numpy",
    "pandas",
    "polars",
    "rust",
    "performance",
    "memory",
    "profiler",
    "interpreter",
    "bytecode",
    "release",
    "security",
    "tutorial",
    "guide",
    "library",
    "framework",
    "tool",
    "cli",
    "parser",
    "compiler",
    "llm",
    "agent",
    "model",
    "data",
    "pipeline",
    "cache",
    "database",
    "duckdb",
    "sqlite",
    "postgres",
    "web",
    "scraping",
    "crawler",
    "feed",
    "ranking",
    "newsletter",
    "weekly",
    "notebook",
    "jupyter",
    "gil",
    "threading",
    "subinterpreters",
    "wheel",
    "uv",
    "pip",
    "poetry",
    "ruff",
    "mypy",
    "pyright",
    "lint",
    "format",
    "test",
    "fixture",
    "mock",
    "benchmark",
    "speed",
    "faster",
    "introduction",
    "deep",
    "dive",
    "building",
    "scaling",
    "debugging",
    "kubernetes",
    "docker",
    "cloud",
    "serverless",
    "api",
    "graphql",
    "grpc",
    "http",
    "websocket",
    "queue",
    "celery",
    "redis",
    "kafka",
    "spark",
    "arrow",
    "parquet",
    "vector",
    "embedding",
    "search",
    "retrieval",
    "transformer",
    "diffusion",
    "vision",
    "audio",
    "speech",
    "robotics",
    "game",
    "engine",
    "gui",
    "qt",
    "tk",
]


def synthetic_parquet(n: int, path: Path) -> None:
    """N candidate sightings (one each) in the window of AS_OF, written with DuckDB."""
    import duckdb

    words = "[" + ", ".join(f"'{w}'" for w in VOCAB) + "]"
    k = len(VOCAB)

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


def store_for(n: int, real_sightings: bool = True) -> tuple[Path, int]:
    """The cached store of size N: the base store + N synthetic candidates.

    Returns the store and the number of synthetic rows dropped because their candidate_id
    (``c-`` + 10 hex digits of sha1, 40 bits) collides with another candidate's: at 1M
    candidates a collision is likely, and the store refuses it (docs: open findings).
    """
    from ranking import store

    CACHE.mkdir(parents=True, exist_ok=True)
    tag = f"rank-{n}" if real_sightings else f"rank-{n}-archive-only"
    db = CACHE / f"{tag}.duckdb"
    done = CACHE / f"{tag}.complete"
    if done.exists() and db.exists():
        text = done.read_text().strip()
        return db, int(text) if text.isdigit() else 0
    shutil.copyfile(_base_store(real_sightings), db)
    con = store.connect(db)
    try:
        raw = CACHE / f"rank-{n}.parquet"
        synthetic_parquet(n, raw)
        parquet = CACHE / f"rank-{n}-unique.parquet"
        # The synthetic URLs are already canonical, so sha1(url) is the candidate_id's hash.
        con.execute(
            f"""
            COPY (
              SELECT * EXCLUDE (cid) FROM (
                SELECT *, 'c-' || substr(sha1(url), 1, 10) AS cid FROM read_parquet('{raw}')
              ) s
              WHERE cid NOT IN (SELECT candidate_id FROM candidates)
              QUALIFY count(*) OVER (PARTITION BY cid) = 1
            ) TO '{parquet}' (FORMAT parquet)
            """
        )
        kept = con.execute(f"SELECT count(*) FROM read_parquet('{parquet}')").fetchone()[0]
        store.load_sightings_file(con, parquet)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    dropped = n - int(kept)
    done.write_text(str(dropped))
    return db, dropped


def child(db: str, pools_file: str | None, workdir: str | None = None) -> None:
    import pickle

    from ranking import store
    from ranking.shortlist import _history, build_shortlist, training_pools

    c.warm_imports(*RANK_MODULES)
    c.watch_stack()

    # The parent owns `workdir` and removes it even when this child is killed (RSS limit).
    with tempfile.TemporaryDirectory(prefix="bench-rank-", dir=workdir) as tmp:
        copy = Path(tmp) / "radar.duckdb"
        shutil.copyfile(db, copy)
        con = store.connect(copy)
        cache: dict = {}
        reuse = False
        if pools_file is not None and Path(pools_file).exists():
            # The training pools do not depend on N: measured once (first size), reused.
            try:
                cache = pickle.loads(Path(pools_file).read_bytes())
                reuse = True
            except Exception:  # being written by another run: compute them here
                cache = {}
        with c.Clock() as train:
            history = _history(con, AS_OF)
            pools = training_pools(con, history, AS_OF, 21, cache)
        if pools_file is not None and not reuse:
            part = Path(f"{pools_file}.{os.getpid()}.part")
            part.write_bytes(pickle.dumps(cache))
            os.replace(part, pools_file)
        rss_train = c.peak_rss_mb()
        with c.Clock() as weekly:
            result = build_shortlist(con, AS_OF, cache=cache)
        con.close()
        c.child_result(
            cpu_s=train.cpu + weekly.cpu,
            wall_s=train.wall + weekly.wall,
            train_cpu_s=train.cpu,
            train_wall_s=train.wall,
            train_reused=reuse,
            weekly_cpu_s=weekly.cpu,
            weekly_wall_s=weekly.wall,
            pools=len(pools),
            pool=result.pool_counts,
            shortlist=len(result.frame),
            rss_after_training_mb=rss_train,
        )


def main() -> int:
    p = c.parser(__doc__.splitlines()[0], repeats=1)
    p.add_argument("--child", help=c.argparse_hidden())
    p.add_argument("--pools", help=c.argparse_hidden())
    p.add_argument("--workdir", help=c.argparse_hidden())
    p.add_argument(
        "--pools-file",
        help="keep the pickled training pools here and reuse them if present (they do not "
        "depend on N), e.g. --pools-file /tmp/pools.pickle",
    )
    p.add_argument(
        "--sizes",
        default=None,
        help="comma-separated candidate counts (default 10000,100000,1000000; "
        "2000,5000 with --quick), e.g. --sizes 10000,100000",
    )
    args = p.parse_args()
    if args.child:
        child(args.child, args.pools, args.workdir)
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
    pools_tmp = tempfile.TemporaryDirectory(prefix="bench-rank-pools-")
    pools_file = args.pools_file or str(Path(pools_tmp.name) / "pools.pickle")
    train_first: dict[str, float] = {}
    for n in sizes:
        try:
            with c.Clock() as prep:
                db, dropped = store_for(n, real_sightings=not args.quick)
        except Exception as exc:  # a store that cannot be built is a finding, not a crash
            failures[n] = f"store prep failed: {type(exc).__name__}: {str(exc).splitlines()[0]}"
            rows.append((f"{n:,}", "–", "–", "–", "–", "–", "–", failures[n][:200]))
            continue
        if dropped:
            report.notes.append(
                f"{n:,}: {dropped} synthetic candidates dropped before loading: their "
                "candidate_id (40-bit hash) collided with another candidate's"
            )
        runs = []
        for _ in range(repeats):
            try:
                with tempfile.TemporaryDirectory(prefix="bench-rank-work-") as work:
                    runs.append(
                        c.run_child(
                            [script, "--child", str(db), "--pools", pools_file, "--workdir", work],
                            timeout=3600,
                            rss_limit_mb=RSS_LIMIT_MB,
                        )
                    )
                if not runs[-1].get("train_reused"):
                    train_first = {k: runs[-1][k] for k in ("train_cpu_s", "train_wall_s")}
            except c.ChildFailed as exc:
                failures[n] = str(exc).splitlines()[-1][:300]
                break
        if not runs:
            rows.append((f"{n:,}", "–", "–", "–", "–", "–", "–", f"FAILED: {failures[n]}"))
            continue
        m = {k: c.med(runs, k) for k in ("weekly_wall_s", "weekly_cpu_s", "maxrss_mb")}
        # Training pools: measured by the first child, reused (unpickled) by the others.
        m["train_cpu_s"] = train_first.get("train_cpu_s", float("nan"))
        m["train_wall_s"] = train_first.get("train_wall_s", float("nan"))
        m["cpu_s"] = m["train_cpu_s"] + m["weekly_cpu_s"]
        m["wall_s"] = m["train_wall_s"] + m["weekly_wall_s"]
        m["pool"] = runs[0]["pool"]
        measured[n] = m
        rows.append(
            (f"{n:,}", runs[0]["pool"].get("pool"), m["train_cpu_s"], m["weekly_wall_s"],
             m["weekly_cpu_s"], m["wall_s"], m["maxrss_mb"], f"store prep {prep.wall:,.0f} s")
        )  # fmt: skip
    pools_tmp.cleanup()
    report.table(
        f"build_shortlist as of {AS_OF} (2025-W06), window 21 days; median of {repeats} "
        "fresh child process(es). The training pools of the past issues do not depend on N: "
        "measured by the first child, reused by the others; total = training + weekly.",
        ("candidates", "pool rows", "training pools CPU s", "weekly wall s", "weekly CPU s",
         "total wall s", "peak RSS MiB", "note"),
        rows,
    )  # fmt: skip
    ok = sorted(measured)
    slope_weekly = slope_total = float("nan")
    if len(ok) >= 2:
        slope_weekly = c.loglog_slope(ok, [measured[n]["weekly_cpu_s"] for n in ok])
        slope_total = c.loglog_slope(ok, [measured[n]["cpu_s"] for n in ok])
        report.notes.append(
            f"scaling exponent over {', '.join(f'{n:,}' for n in ok)}: weekly part "
            f"{slope_weekly:.2f} (CPU), total {slope_total:.2f} (CPU)"
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
            "scaling exponent (log-log, weekly part)",
            "≤ 1.1",
            f"{slope_weekly:.2f}",
            (slope_weekly <= 1.1) if len(ok) >= 2 and not args.quick else None,
        )
    )
    report.data["measured"] = measured
    report.data["failures"] = failures
    report.emit(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
