"""The store: the only module with SQL. Connect, migrate, ingest, and the queries.

Every function takes the DuckDB connection explicitly; values are bound parameters.
Schema changes are numbered migrations recorded in `schema_migrations`; a file from a
newer schema or a newer DuckDB is refused with a one-line StoreError.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from ranking.errors import StoreBusyError, StoreError

logger = logging.getLogger(__name__)

DEFAULT_DB = Path("data/radar.duckdb")
DB_ENV = "RADAR_DB"

# Numbered migrations: (version, name, statements). Append only; never edit a released one.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "initial schema",
        [
            """CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
            """CREATE TABLE issues (
                issue_no INTEGER PRIMARY KEY,
                pub_date DATE NOT NULL,
                title VARCHAR,
                title_en VARCHAR,
                kind VARCHAR NOT NULL,          -- full | title_only
                file VARCHAR,
                en_file VARCHAR,
                content_hash VARCHAR,
                n_items INTEGER,
                imported_at TIMESTAMP
            )""",
            """CREATE TABLE issue_items (
                issue_no INTEGER NOT NULL,
                item_no INTEGER NOT NULL,       -- order of the item in the issue, 1-based
                section VARCHAR NOT NULL,       -- article | project | audio_video | hot_topic | book | other
                section_raw VARCHAR,
                position INTEGER NOT NULL,      -- number of the item within its section
                title_zh VARCHAR,
                title_en VARCHAR,
                summary_zh VARCHAR,
                summary_en VARCHAR,
                url VARCHAR,                    -- NULL for title-only items
                canonical_url VARCHAR,
                repo_key VARCHAR,
                host VARCHAR,
                PRIMARY KEY (issue_no, item_no)
            )""",
            """CREATE TABLE item_links (
                issue_no INTEGER NOT NULL,
                item_no INTEGER NOT NULL,
                link_no INTEGER NOT NULL,
                url VARCHAR NOT NULL,
                canonical_url VARCHAR,
                repo_key VARCHAR,
                host VARCHAR,
                text VARCHAR,
                PRIMARY KEY (issue_no, item_no, link_no)
            )""",
            """CREATE TABLE candidates (
                canonical_url VARCHAR PRIMARY KEY,
                candidate_id VARCHAR NOT NULL UNIQUE,  -- c-<10 hex of sha1(canonical_url)>
                url VARCHAR NOT NULL,
                title VARCHAR,
                description VARCHAR,
                section VARCHAR,
                host VARCHAR,
                repo_key VARCHAR,
                published TIMESTAMP,
                date_flag VARCHAR,
                language VARCHAR,
                first_seen TIMESTAMP NOT NULL,
                last_seen TIMESTAMP NOT NULL,
                seen_count INTEGER NOT NULL DEFAULT 1
            )""",
            """CREATE TABLE sightings (
                canonical_url VARCHAR NOT NULL,
                source VARCHAR NOT NULL,        -- source name (sources.toml) or archive section
                seen_date DATE NOT NULL,
                seen_ts TIMESTAMP,
                kind VARCHAR,                   -- source kind: feed, github_trending, ...
                url VARCHAR,
                title VARCHAR,
                description VARCHAR,
                section VARCHAR,
                repo_key VARCHAR,
                host VARCHAR,
                position INTEGER,
                stars BIGINT,
                stars_period BIGINT,
                forks BIGINT,
                points BIGINT,
                comments BIGINT,
                language VARCHAR,
                published TIMESTAMP,
                date_flag VARCHAR,
                discussion_url VARCHAR,
                extra VARCHAR,                  -- JSON text
                run_id VARCHAR,
                PRIMARY KEY (canonical_url, source, seen_date)
            )""",
            """CREATE TABLE fetch_log (
                run_id VARCHAR NOT NULL,
                source VARCHAR NOT NULL,
                url VARCHAR,
                started_at TIMESTAMP,
                finished_at TIMESTAMP,
                status VARCHAR NOT NULL,        -- ok | not_modified | failed | skipped
                http_status INTEGER,
                items INTEGER,
                bytes BIGINT,
                not_modified INTEGER,
                errors INTEGER,
                error VARCHAR,
                PRIMARY KEY (run_id, source)
            )""",
            """CREATE TABLE raw_files (
                path VARCHAR PRIMARY KEY,
                sha256 VARCHAR,
                rows INTEGER,
                ingested_at TIMESTAMP
            )""",
            """CREATE TABLE shortlist_rows (
                week VARCHAR NOT NULL,
                candidate_id VARCHAR NOT NULL,
                canonical_url VARCHAR NOT NULL,
                section VARCHAR NOT NULL,
                rank INTEGER NOT NULL,
                score DOUBLE,
                written_at TIMESTAMP,
                PRIMARY KEY (week, candidate_id)
            )""",
            """CREATE TABLE decisions (
                week VARCHAR NOT NULL,
                candidate_id VARCHAR NOT NULL,
                canonical_url VARCHAR NOT NULL,
                decision VARCHAR NOT NULL,      -- keep | reject | maybe
                section_override VARCHAR,
                note VARCHAR,
                file VARCHAR,
                row_number INTEGER,
                decided_at TIMESTAMP,
                PRIMARY KEY (week, candidate_id)
            )""",
        ],
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]

_LOCK_PID = re.compile(r"\(PID (\d+)\)")
_LOCK_PROGRAM = re.compile(r"held in (\S+)")


def db_path(arg: str | os.PathLike[str] | None = None) -> Path:
    """The database path: the `--db` argument, else env RADAR_DB, else data/radar.duckdb."""
    if arg:
        return Path(arg)
    env = os.environ.get(DB_ENV)
    return Path(env) if env else DEFAULT_DB


def _duckdb_version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def _translate(exc: Exception, path: Path) -> StoreError:
    msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    if "lock" in msg.lower():
        pid = _LOCK_PID.search(str(exc))
        prog = _LOCK_PROGRAM.search(str(exc))
        who = f"PID {pid.group(1)}" if pid else "another process"
        if prog:
            who += f", program {Path(prog.group(1)).name}"
        return StoreBusyError(
            f"database {path} is busy ({who}); close notebooks or other `rank`/`crawl` "
            "runs using it, or try later"
        )
    if "version number" in msg.lower() or "newer version" in msg.lower():
        return StoreError(
            f"database {path} was written by a newer DuckDB than {duckdb.__version__}: {msg}"
        )
    return StoreError(f"cannot open database {path}: {msg}")


def connect(
    path: str | os.PathLike[str] | None = None,
    *,
    read_only: bool = False,
    migrate_schema: bool = True,
) -> duckdb.DuckDBPyConnection:
    """Open (creating when needed) and migrate the store; errors become StoreError."""
    target = str(path) if path is not None else str(db_path())
    if target != ":memory:":
        p = Path(target)
        if read_only and not p.exists():
            raise StoreError(f"database {p} does not exist; run `rank import-issues` or `crawl`")
        if not read_only:
            p.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(target, read_only=read_only)
    except (duckdb.IOException, duckdb.Error) as exc:
        raise _translate(exc, Path(target)) from None
    try:
        if read_only:
            check_version(con, Path(target))
        elif migrate_schema:
            migrate(con)
    except BaseException:
        con.close()
        raise
    return con


@contextmanager
def open_store(
    path: str | os.PathLike[str] | None = None, *, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Context manager around connect(): the connection is closed on exit."""
    con = connect(path, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def _applied_versions(con: duckdb.DuckDBPyConnection) -> list[int]:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchone()
    if not exists or not exists[0]:
        return []
    rows = con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    return [r[0] for r in rows]


def check_version(con: duckdb.DuckDBPyConnection, path: Path | None = None) -> int:
    """Refuse a file from a newer schema or a newer DuckDB; return its schema version."""
    applied = _applied_versions(con)
    current = max(applied, default=0)
    where = f"database {path}" if path else "database"
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"{where} has schema version {current}, newer than this program's "
            f"{SCHEMA_VERSION}; upgrade weekly-radar"
        )
    if applied:
        row = con.execute("SELECT value FROM meta WHERE key = 'duckdb_version'").fetchone()
        if row and _duckdb_version_tuple(row[0]) > _duckdb_version_tuple(duckdb.__version__):
            raise StoreError(
                f"{where} was written by DuckDB {row[0]}, newer than {duckdb.__version__}; "
                "upgrade weekly-radar"
            )
    return current


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply the pending numbered migrations in one transaction; return the schema version."""
    current = check_version(con)
    pending = [m for m in MIGRATIONS if m[0] > current]
    if pending:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
            )
            for version, name, statements in pending:
                for statement in statements:
                    con.execute(statement)
                con.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, now()::TIMESTAMP)",
                    [version, name],
                )
                logger.info("applied migration %d: %s", version, name)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    con.execute(
        "INSERT INTO meta VALUES ('duckdb_version', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [duckdb.__version__],
    )
    return SCHEMA_VERSION


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN … COMMIT, rolled back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row count of every table of the schema (for summaries and tests)."""
    names = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' ORDER BY table_name"
        ).fetchall()
    ]
    out: dict[str, int] = {}
    for name in names:
        # Table names come from the catalogue, not from input: safe to interpolate.
        out[name] = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]  # type: ignore[index]
    return out


# --- history: issues, items, related links (used by ranking.history) -------------------
# (end of history section)


# --- crawl ingest: raw JSONL files -> candidates, sightings, fetch_log ------------------
# (end of crawl ingest section)


# --- ranking queries: pools, history frames, sightings files, shortlists, decisions -----
# (end of ranking queries section)
