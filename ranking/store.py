"""The store: the only module with SQL. Connect, migrate, ingest, and the queries.

Every function takes the DuckDB connection explicitly; values are bound parameters.
Schema changes are numbered migrations recorded in `schema_migrations`; a file from a
newer schema or a newer DuckDB is refused with a one-line StoreError.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from crawler.text import parse_iso_utc
from ranking.errors import SightingsFileError, StoreBusyError, StoreError, first_of

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
                candidate_id VARCHAR NOT NULL UNIQUE,  -- candidate_id(): c-<hex of sha1(canonical_url)>
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
    (
        2,
        "shortlist rows keep the title and link shown",
        [
            "ALTER TABLE shortlist_rows ADD COLUMN title VARCHAR",
            "ALTER TABLE shortlist_rows ADD COLUMN url VARCHAR",
        ],
    ),
    (
        3,
        "the cells each shortlist file showed",
        [
            """CREATE TABLE shortlist_cells (
                path VARCHAR NOT NULL,          -- the shortlist CSV, resolved
                candidate_id VARCHAR NOT NULL,
                cells VARCHAR NOT NULL,         -- JSON {column: value written}
                PRIMARY KEY (path, candidate_id)
            )""",
        ],
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]

# Candidate ids: `c-` + the first CANDIDATE_ID_HEX hex digits of sha1(canonical URL).
# Non-numeric (spreadsheets keep them as text) and stable across databases; 64 bits keep
# collisions negligible at millions of candidates.
CANDIDATE_ID_HEX = 16


def candidate_id(canonical: str) -> str:
    """The stable row id of a candidate (also computed in SQL by the store, same rule)."""
    return "c-" + hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:CANDIDATE_ID_HEX]


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


# The commands that create a database, for the messages about a missing one.
CREATED_BY = "`crawl`, `rank import-issues` or `rank import-sightings`"


def connect(
    path: str | os.PathLike[str] | None = None,
    *,
    read_only: bool = False,
) -> duckdb.DuckDBPyConnection:
    """Open (creating when needed) and migrate the store; errors become StoreError."""
    target = str(path) if path is not None else str(db_path())
    if target != ":memory:":
        p = Path(target)
        if read_only and not p.exists():
            raise StoreError(f"database {p} does not exist; run {CREATED_BY}")
        if not read_only:
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder of database {p}: {exc}") from None
    try:
        con = duckdb.connect(target, read_only=read_only)
    except (duckdb.IOException, duckdb.Error) as exc:
        raise _translate(exc, Path(target)) from None
    try:
        # Timestamps with a zone (a Parquet column, `+08:00` text) become days and times
        # in UTC whatever the machine's zone: the same file gives the same shortlist.
        # now() is UTC too (imported_at, decided_at …), as the crawler's times are.
        con.execute("SET TimeZone = 'UTC'")
        version = check_version(con, Path(target)) if read_only else migrate(con)
    except BaseException:
        con.close()
        raise
    if 0 < version < SCHEMA_VERSION:
        # A store of an older version, opened to read: upgrade it once (a moment
        # read-write), then read it; the readers' queries are those of this version.
        con.close()
        connect(target).close()
        return connect(target, read_only=True)
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
    exists = _one(
        con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    )
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
        row = _one(con, "SELECT value FROM meta WHERE key = 'duckdb_version'")
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
        with transaction(con):
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


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> tuple[Any, ...] | None:
    """The first row of a query (None without one), its result read to the end.

    Every single-row query of the store goes through here, never `fetchone()`: a result
    left unread stays open on the connection, and DuckDB then refuses `register` (so
    save_shortlist_rows, apply_decisions …) until it is finished."""
    rows = con.execute(sql, params).fetchall()
    return rows[0] if rows else None


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
        out[name] = _one(con, f'SELECT count(*) FROM "{name}"')[0]  # type: ignore[index]
    return out


# --- history: issues, items, related links (used by ranking.history) -------------------
# Column lists and Arrow types of the rows ranking.history hands over (one issue at a time).
_HISTORY_ISSUE_COLUMNS = (
    "issue_no",
    "pub_date",
    "title",
    "title_en",
    "kind",
    "file",
    "en_file",
    "content_hash",
    "n_items",
)
_HISTORY_ITEM_TYPES = {
    "issue_no": "int32",
    "item_no": "int32",
    "section": "string",
    "section_raw": "string",
    "position": "int32",
    "title_zh": "string",
    "title_en": "string",
    "summary_zh": "string",
    "summary_en": "string",
    "url": "string",
    "canonical_url": "string",
    "repo_key": "string",
    "host": "string",
}
_HISTORY_LINK_TYPES = {
    "issue_no": "int32",
    "item_no": "int32",
    "link_no": "int32",
    "url": "string",
    "canonical_url": "string",
    "repo_key": "string",
    "host": "string",
    "text": "string",
}
# Sections in the newsletter's order (for counts and frames).
_HISTORY_SECTION_ORDER = (
    "CASE i.section WHEN 'article' THEN 1 WHEN 'project' THEN 2 WHEN 'audio_video' THEN 3 "
    "WHEN 'hot_topic' THEN 4 WHEN 'book' THEN 5 WHEN 'other' THEN 6 ELSE 7 END"
)


def _history_table(rows: list[dict[str, object]], types: dict[str, str]):
    """Rows -> an Arrow table with fixed types (so an empty or all-NULL column still binds)."""
    import pyarrow as pa

    schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in types.items()])
    return pa.Table.from_pylist([{k: r.get(k) for k in types} for r in rows], schema=schema)


def history_issue_hashes(con: duckdb.DuckDBPyConnection) -> dict[int, str]:
    """issue_no -> content_hash of every stored issue (to skip unchanged files)."""
    rows = con.execute("SELECT issue_no, content_hash FROM issues").fetchall()
    return {int(r[0]): r[1] for r in rows}


def replace_history_issue(
    con: duckdb.DuckDBPyConnection,
    issue: dict[str, object],
    items: list[dict[str, object]],
    links: list[dict[str, object]],
) -> None:
    """Replace one issue (row, items, related links) in one transaction.

    Rows of the same issue number, or of an older parse of the same file, are deleted
    first, so an edited file never leaves stale items behind.
    """
    item_table = _history_table(items, _HISTORY_ITEM_TYPES)
    link_table = _history_table(links, _HISTORY_LINK_TYPES)
    issue_values = [issue.get(c) for c in _HISTORY_ISSUE_COLUMNS]
    item_cols = ", ".join(_HISTORY_ITEM_TYPES)
    link_cols = ", ".join(_HISTORY_LINK_TYPES)
    con.register("_history_items_in", item_table)
    con.register("_history_links_in", link_table)
    try:
        with transaction(con):
            old = [
                r[0]
                for r in con.execute(
                    "SELECT issue_no FROM issues WHERE issue_no = ? OR file = ?",
                    [issue["issue_no"], issue["file"]],
                ).fetchall()
            ]
            for issue_no in sorted(set(old)):
                con.execute("DELETE FROM item_links WHERE issue_no = ?", [issue_no])
                con.execute("DELETE FROM issue_items WHERE issue_no = ?", [issue_no])
                con.execute("DELETE FROM issues WHERE issue_no = ?", [issue_no])
            con.execute(
                f"INSERT INTO issues ({', '.join(_HISTORY_ISSUE_COLUMNS)}, imported_at) "
                f"VALUES ({', '.join('?' for _ in _HISTORY_ISSUE_COLUMNS)}, now()::TIMESTAMP)",
                issue_values,
            )
            # Column names are module constants, not input: safe to interpolate.
            con.execute(
                f"INSERT INTO issue_items ({item_cols}) SELECT {item_cols} FROM _history_items_in"
            )
            con.execute(
                f"INSERT INTO item_links ({link_cols}) SELECT {link_cols} FROM _history_links_in"
            )
    finally:
        con.unregister("_history_items_in")
        con.unregister("_history_links_in")


def history_frames(con: duckdb.DuckDBPyConnection, before: dt.date | None = None):
    """(items, links) DataFrames of the published issues, those before `before` when given.

    items: issue_no, pub_date, section, item_no, position, title_zh, title_en, summary_zh,
    summary_en, url, canonical_url, repo_key, host. links: issue_no, pub_date, item_no,
    section, link_no, url, canonical_url, repo_key, host, text. `before` is strict: an
    issue published on that date is not history yet (a backtest never sees the future).
    """
    where = "WHERE s.pub_date < ?" if before is not None else ""
    params = [before] if before is not None else []
    items = con.execute(
        f"""
        SELECT i.issue_no, s.pub_date, i.section, i.item_no, i.position, i.title_zh,
            i.title_en, i.summary_zh, i.summary_en, i.url, i.canonical_url, i.repo_key, i.host
        FROM issue_items i JOIN issues s USING (issue_no)
        {where}
        ORDER BY i.issue_no, i.item_no
        """,
        params,
    ).df()
    links = con.execute(
        f"""
        SELECT l.issue_no, s.pub_date, l.item_no, i.section, l.link_no, l.url,
            l.canonical_url, l.repo_key, l.host, l.text
        FROM item_links l JOIN issues s USING (issue_no)
            JOIN issue_items i ON i.issue_no = l.issue_no AND i.item_no = l.item_no
        {where}
        ORDER BY l.issue_no, l.item_no, l.link_no
        """,
        params,
    ).df()
    return items, links


def history_counts(con: duckdb.DuckDBPyConnection) -> list[tuple[int, dt.date, str, int]]:
    """(issue_no, pub_date, section, items) per issue and section with items, in order."""
    rows = con.execute(
        f"""
        SELECT i.issue_no, s.pub_date, i.section, count(*) AS items
        FROM issue_items i JOIN issues s USING (issue_no)
        GROUP BY i.issue_no, s.pub_date, i.section
        ORDER BY i.issue_no, {_HISTORY_SECTION_ORDER}
        """
    ).fetchall()
    return [(int(r[0]), r[1], r[2], int(r[3])) for r in rows]


def history_issues(con: duckdb.DuckDBPyConnection):
    """The stored issues (issue_no, pub_date, title, title_en, kind, n_items, file, en_file)."""
    return con.execute(
        "SELECT issue_no, pub_date, title, title_en, kind, n_items, file, en_file "
        "FROM issues ORDER BY issue_no"
    ).df()


# (end of history section)


# --- crawl ingest: raw JSONL files -> candidates, sightings, fetch_log ------------------
# DuckDB reads the raw files itself (`read_json ... WITH ORDINALITY`, one per file) and
# puts every non-blank line into TEMP table _ingest_lines, typed and validated in SQL;
# line_no, the ordinality, is the line's rank among the file's non-blank lines. It breaks
# ties of fetch time and names a line for Python. Each line gets a route: 'sighting',
# 'fetch', 'bad' (and the problem), 'python', or NULL (run headers and trailers: counted,
# not stored). A line SQL cannot judge exactly as the Python rules below do (broken
# JSON, a lone surrogate, a number written as text, a timestamp with a non-UTC offset,
# ...) is routed to 'python': those few lines are read again and go through
# _sighting_row/_fetch_row, which stay the reference. De-duplication and the candidate
# merge are decided on narrow columns, then the upserts are plain SQL. The memory is
# DuckDB's: `ingest_pending` bounds it (memory_limit), beyond which DuckDB spills to its
# temp directory.

_INT64_MAX = 2**63 - 1
_INT32_MAX = 2**31 - 1
_SIGHTING_INT_FIELDS = ("position", "stars", "stars_period", "forks", "points", "comments")
_SIGHTING_STR_FIELDS = (
    "kind", "url", "title", "description", "section", "repo_key", "language",
    "date_flag", "discussion_url", "run_id",
)  # fmt: skip
_FETCH_INT_FIELDS = ("http_status", "items", "bytes", "not_modified", "errors")
# Columns of TEMP table _ingest_lines: one row per non-blank raw line, typed.
_LINE_TYPES = {
    "file_no": "INTEGER", "line_no": "BIGINT", "route": "VARCHAR", "problem": "VARCHAR",
    "canonical_url": "VARCHAR", "source": "VARCHAR", "seen_ts": "TIMESTAMP",
    **dict.fromkeys(_SIGHTING_STR_FIELDS, "VARCHAR"),
    "published": "TIMESTAMP", "position": "INTEGER", "stars": "BIGINT",
    "stars_period": "BIGINT", "forks": "BIGINT", "points": "BIGINT", "comments": "BIGINT",
    "extra": "VARCHAR", "history_only": "BOOLEAN",
    "status": "VARCHAR", "error": "VARCHAR", "started_at": "TIMESTAMP",
    "finished_at": "TIMESTAMP", "http_status": "INTEGER", "items": "INTEGER",
    "bytes": "BIGINT", "not_modified": "INTEGER", "errors": "INTEGER",
}  # fmt: skip
# Computed in SQL for every row, also for the rows Python made.
_LINE_DERIVED = {
    "seen_date": "DATE", "seen_order": "HUGEINT", "host_key": "VARCHAR", "filled": "INTEGER",
}  # fmt: skip
# The fields a candidate takes from its newest sighting that has a value; `filled` keeps
# 2 bits per field (0 NULL, 1 '', 2 a value), so the merge reads no text.
_CANDIDATE_TEXT = ("url", "title", "description", "section", "repo_key", "date_flag", "language")
_CANDIDATE_FIELDS = (*_CANDIDATE_TEXT, "published")
_INT_COLUMNS = {n: _LINE_TYPES[n] for n in (*_SIGHTING_INT_FIELDS, *_FETCH_INT_FIELDS)}
# Raw record fields DuckDB reads as text (typed in SQL below); `extra` is read as JSON.
_RAW_TEXT_FIELDS = tuple(
    dict.fromkeys(
        ("type", "canonical_url", "source", "fetched_at", "published", "status", "error",
         "started_at", "finished_at", *_SIGHTING_STR_FIELDS, *_INT_COLUMNS)
    )
)  # fmt: skip
# Text SQL types exactly like _as_int / _as_ts: plain digits, and ISO-8601 timestamps
# in UTC (`Z`, `+00:00` or none) with valid fields. Anything else that is not NULL is
# left to Python (a float, "12 ", a `+02:00` offset, a date alone, ...).
_INT_RE = "-?[0-9]+"
_TS_RE = (
    "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])-[0-9]{2}-[0-9]{2}[T ]"
    "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:[.][0-9]{1,6})?(?:Z|[+-]00:00)?"
)
# What Python's str.strip() removes (the characters for which str.isspace() is true).
_BLANK_RE = (
    r"[\t-\r\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}"
    r"\x{205f}\x{3000}]*"
)
# A canonical URL of printable ASCII (no space, no backslash) has the host of its
# `scheme://netloc` prefix: crawler.urls.host_of runs once per distinct prefix.
_PLAIN_URL_RE = r"[A-Za-z][A-Za-z0-9+.-]*://[!-\[\]-~]*"
_URL_PREFIX_RE = r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*"
# read_json's limit on one line; a file with a longer line is read by Python instead.
_MAX_OBJECT_BYTES = 16 << 20
# Raw files per scan statement (a UNION ALL of one read_json per file).
_FILES_PER_READ = 64
# Memory DuckDB may use during `ingest_pending` before it spills to its temp directory.
INGEST_MEMORY_LIMIT = 2 << 30
# How `ingest_pending` compresses text. ZSTD writes the sightings and candidates in about
# half the CPU time of DuckDB's default (DICT_FSST) and makes a smaller file (the 1M
# benchmark sightings: 209 MB instead of 239 MB), for text scans about twice as slow.
# "" keeps DuckDB's default. Numbers and timestamps keep DuckDB's own choice either way.
INGEST_COMPRESSION = "zstd"


@dataclass
class IngestReport:
    """What one ingest did: files loaded or skipped, rows written, rows refused."""

    files: int = 0  # raw files loaded now
    already: int = 0  # raw files skipped (same path and sha256 in the ledger)
    sightings: int = 0  # sighting rows after de-duplication (inserted or updated)
    candidates: int = 0  # candidate rows touched (new or updated)
    new_candidates: int = 0
    history_only: int = 0  # flood-guarded sightings (no candidate row)
    fetch_records: int = 0
    bad_rows: int = 0  # lines refused: broken JSON, NULL/empty keys, bad values
    pending: bool = False  # the database was busy: nothing loaded, the files wait
    message: str | None = None
    # The `*.jsonl.part` files not read: a crawl still writing them, or one killed mid-run.
    unfinished: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the CLIs: what landed, or why the files wait."""
        if self.pending:
            return f"database busy, data will land at the next ingest ({self.message})"
        line = (
            f"ingested {self.files} raw file{'s' * (self.files != 1)}: {self.sightings} "
            f"sightings, {self.new_candidates} new candidates, {self.bad_rows} bad rows skipped"
        )
        if self.unfinished:
            n = len(self.unfinished)
            named = first_of(self.unfinished)
            why = (
                "a crawl still writing, or one killed mid-run: `crawl ingest` recovers it"
                if n == 1
                else "crawls still writing, or killed mid-run: `crawl ingest` recovers them"
            )
            line += f"; {n} unfinished raw file{'s' * (n > 1)} not read: {named} ({why})"
        return line


def _sanitize(value: object) -> str | None:
    """Text safe for DuckDB: lone surrogates replaced, NUL kept, non-strings stringified."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    return value.encode("utf-8", "replace").decode("utf-8")


def _as_int(value: object) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if -_INT64_MAX <= number <= _INT64_MAX else None


def _as_ts(value: object) -> datetime | None:
    """An ISO-8601 string as a naive UTC datetime (None when unreadable: `parse_iso_utc`)."""
    ts = parse_iso_utc(value)
    return ts.replace(tzinfo=None) if ts else None


def _sighting_row(rec: dict) -> dict:
    """One raw candidate record -> one _ingest_lines row; ValueError names what is wrong."""
    key = _sanitize(rec.get("canonical_url"))
    source = _sanitize(rec.get("source"))
    if not key or not key.strip():
        raise ValueError("NULL or empty canonical_url")
    if not source:
        raise ValueError("NULL or empty source")
    seen_ts = _as_ts(rec.get("fetched_at"))
    if seen_ts is None:
        raise ValueError("missing or unreadable fetched_at")
    extra = rec.get("extra") if isinstance(rec.get("extra"), dict) else {}
    row: dict = {
        "route": "sighting",
        "canonical_url": key,
        "source": source,
        "seen_ts": seen_ts,
        "published": _as_ts(rec.get("published")),
        # The compact form DuckDB gives the rows it reads itself.
        "extra": _sanitize(
            json.dumps(extra, ensure_ascii=False, separators=(",", ":"), default=str)
        ),
        "history_only": bool(extra.get("history_only")),
    }
    for name in _SIGHTING_STR_FIELDS:
        row[name] = _sanitize(rec.get(name))
    for name in _SIGHTING_INT_FIELDS:
        row[name] = _as_int(rec.get(name))
    if not row["url"]:
        row["url"] = key
    return row


def _fetch_row(rec: dict) -> dict:
    run_id = _sanitize(rec.get("run_id"))
    source = _sanitize(rec.get("source"))
    status = _sanitize(rec.get("status"))
    if not run_id or not source or not status:
        raise ValueError("fetch record without run_id, source or status")
    row: dict = {
        "route": "fetch",
        "run_id": run_id,
        "source": source,
        "url": _sanitize(rec.get("url")),
        "started_at": _as_ts(rec.get("started_at")),
        "finished_at": _as_ts(rec.get("finished_at")),
        "status": status,
        "error": _sanitize(rec.get("error")),
    }
    for name in _FETCH_INT_FIELDS:
        row[name] = _as_int(rec.get(name))
    return row


def _python_row(raw_line: bytes) -> dict | None:
    """One raw line the Python way: a row, None (another record type), or ValueError."""
    rec = json.loads(raw_line)
    if not isinstance(rec, dict):
        raise ValueError("not a JSON object")
    kind = rec.get("type")
    if kind == "candidate":
        return _sighting_row(rec)
    if kind == "fetch":
        return _fetch_row(rec)
    return None


def _file_digest(path: Path) -> tuple[str, int]:
    """(sha256 of the file, an upper bound of its longest line in bytes)."""
    digest = hashlib.sha256()
    longest = run = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            first = chunk.find(b"\n")
            if first < 0:
                run += len(chunk)
                continue
            # Lines inside one chunk are shorter than the chunk; only runs across chunk
            # boundaries can be longer.
            longest = max(longest, run + first, len(chunk))
            run = len(chunk) - chunk.rfind(b"\n") - 1
    return digest.hexdigest(), max(longest, run)


def _int_sql(col: str, sql_type: str) -> str:
    """A raw text field as _as_int reads it (NULL out of range) when `{col}_ok` (digits)."""
    return (
        f"CASE WHEN {col}_ok THEN TRY_CAST("
        f"nullif(TRY_CAST({col} AS BIGINT), -{_INT64_MAX + 1}) AS {sql_type}) END"
    )


def _host_key_sql(col: str, max_url: int) -> str:
    """What crawler.urls.host_of needs of a canonical URL: its prefix when it is plain."""
    return (
        f"CASE WHEN length({col}) <= {max_url} AND regexp_full_match({col}, '{_PLAIN_URL_RE}') "
        f"THEN regexp_extract({col}, '{_URL_PREFIX_RE}') ELSE {col} END"
    )


def _derived_sql(max_url: int) -> str:
    """The _LINE_DERIVED columns of a row of _ingest_lines' other columns.

    seen_order: a sighting's place in the batch as one positive HUGEINT, larger when
    later: fetched_at (µs since year 1), then the file, then the line. filled: see
    _CANDIDATE_TEXT.
    """
    order = (
        "(epoch_us(seen_ts) + 62135596800000000)::HUGEINT * 18446744073709551616 "
        "+ file_no::HUGEINT * 1099511627776 + line_no"
    )
    filled = " + ".join(
        f"(CASE WHEN {c} IS NULL THEN 0 WHEN {c} = '' THEN 1 ELSE 2 END) * {4**i}"
        if c != "published"
        else f"(CASE WHEN {c} IS NULL THEN 0 ELSE 2 END) * {4**i}"
        for i, c in enumerate(_CANDIDATE_FIELDS)
    )
    return (
        f"CAST(seen_ts AS DATE) AS seen_date, "
        f"CASE WHEN route = 'sighting' THEN {order} END AS seen_order, "
        f"{_host_key_sql('canonical_url', max_url)} AS host_key, {filled} AS filled"
    )


def _scan_sql(file_nos: list[int], max_url: int) -> str:
    """INSERT raw files ($p<file_no> each) into _ingest_lines, typed and routed.

    One read_json per file, WITH ORDINALITY: line_no is the rank of a line among the
    file's non-blank lines. Using the ordinality makes each read serial (so the numbers
    are the file's order); the files of a UNION ALL are read side by side.
    """
    spec = ", ".join(f"'{name}': 'VARCHAR'" for name in _RAW_TEXT_FIELDS)
    reads = " UNION ALL ".join(
        f"SELECT {n}::INTEGER AS file_no, ordinality AS line_no, * "
        f"FROM read_json($p{n}, format = 'newline_delimited', records = true, "
        f"columns = {{{spec}, 'extra': 'JSON'}}, ignore_errors = true, "
        f"compression = 'none', maximum_object_size = {_MAX_OBJECT_BYTES}) WITH ORDINALITY"
        for n in file_nos
    )
    ints = ", ".join(f"{_int_sql(n, t)} AS {n}" for n, t in _INT_COLUMNS.items())
    s_ints = " AND ".join(f"({n} IS NULL OR {n}_ok)" for n in _SIGHTING_INT_FIELDS)
    f_ints = " AND ".join(f"({n} IS NULL OR {n}_ok)" for n in _FETCH_INT_FIELDS)
    texts = ", ".join(
        n for n in dict.fromkeys(("source", "status", "error", *_SIGHTING_STR_FIELDS)) if n != "url"
    )
    stamps = {"fetched_at": "seen_ts", "published": "published", "started_at": "started_at",
              "finished_at": "finished_at"}  # fmt: skip
    is_ts = ", ".join(f"regexp_full_match({raw}, '{_TS_RE}') AS {raw}_ok" for raw in stamps)
    is_int = ", ".join(f"regexp_full_match({n}, '{_INT_RE}') AS {n}_ok" for n in _INT_COLUMNS)
    as_ts = ", ".join(
        f"CASE WHEN {raw}_ok THEN TRY_CAST({raw} AS TIMESTAMP) END AS {name}_ts"
        for raw, name in stamps.items()
    )
    fits = {raw: f"({raw} IS NULL OR {raw}_ok)" for raw in stamps}
    # Column names and patterns are ours, not input: safe to interpolate.
    return f"""
        INSERT INTO _ingest_lines BY NAME
        SELECT * EXCLUDE (verdict), {_derived_sql(max_url)}
        FROM (
            SELECT * EXCLUDE (verdict),
                CASE WHEN verdict IN ('sighting', 'fetch', 'python') THEN verdict
                     WHEN verdict IS NOT NULL THEN 'bad' END AS route,
                CASE WHEN verdict NOT IN ('sighting', 'fetch', 'python') THEN verdict END
                    AS problem,
                verdict
            FROM (
                SELECT file_no, line_no, canonical_url, {texts},
                    CASE WHEN type = 'candidate' THEN coalesce(nullif(url, ''), canonical_url)
                        ELSE url END AS url,
                    seen_ts_ts AS seen_ts, published_ts AS published,
                    started_at_ts AS started_at, finished_at_ts AS finished_at, {ints},
                    coalesce(history_raw = 'true', false) AS history_only,
                    CASE WHEN starts_with(extra, '{{') THEN extra ELSE '{{}}' END AS extra,
                    CASE
                    WHEN type IS NULL THEN 'python'
                    WHEN type = 'candidate' THEN CASE
                        WHEN canonical_url IS NULL
                            OR regexp_full_match(canonical_url, '{_BLANK_RE}')
                            THEN 'NULL or empty canonical_url'
                        WHEN coalesce(source, '') = '' THEN 'NULL or empty source'
                        WHEN fetched_at IS NULL OR (fetched_at_ok AND seen_ts_ts IS NULL)
                            THEN 'missing or unreadable fetched_at'
                        WHEN fetched_at_ok AND {fits["published"]} AND {s_ints}
                            AND (history_raw IS NULL OR history_raw IN ('true', 'false', 'null'))
                            THEN 'sighting'
                        ELSE 'python' END
                    WHEN type = 'fetch' THEN CASE
                        WHEN coalesce(run_id, '') = '' OR coalesce(source, '') = ''
                            OR coalesce(status, '') = ''
                            THEN 'fetch record without run_id, source or status'
                        WHEN {fits["started_at"]} AND {fits["finished_at"]} AND {f_ints}
                            THEN 'fetch'
                        ELSE 'python' END
                    END AS verdict
                FROM (
                    SELECT *, {as_ts} FROM (
                        SELECT * EXCLUDE (extra), {is_ts}, {is_int}, extra::VARCHAR AS extra,
                            CASE WHEN starts_with(extra::VARCHAR, '{{')
                                AND contains(extra::VARCHAR, '"history_only"')
                                THEN json_extract(extra, '$.history_only')::VARCHAR END
                                AS history_raw
                        FROM ({reads})
                    )
                )
            )
        )
    """


def _arrow_rows(rows: list[dict], types: dict[str, str]):
    """Rows -> an Arrow table with the given SQL column types (int32 out of range: NULL)."""
    import pyarrow as pa

    kinds = {
        "VARCHAR": pa.string(),
        "BIGINT": pa.int64(),
        "INTEGER": pa.int32(),
        "TIMESTAMP": pa.timestamp("us"),
        "BOOLEAN": pa.bool_(),
    }
    schema = pa.schema([(name, kinds[kind]) for name, kind in types.items()])
    columns = {}
    for name, kind in types.items():
        values = [r.get(name) for r in rows]
        if kind == "INTEGER":
            values = [
                v if v is None or -_INT32_MAX - 1 <= v <= _INT32_MAX else None for v in values
            ]
        columns[name] = values
    return pa.Table.from_pydict(columns, schema=schema)


def _python_pass(
    path: Path, wanted: dict[int, str | None] | None
) -> tuple[int, list[dict], list[tuple[int, str]]]:
    """Read `path` line by line: (non-blank lines, rows, [(line number, problem)]).

    Only the non-blank lines whose rank (line_no, 1-based) is in `wanted` are judged,
    every line when `wanted` is None: a problem SQL found is reported as is, a None goes
    through _python_row.
    """
    from crawler.runstate import RAW_READ_ERRORS, open_raw

    rows: list[dict] = []
    bad: list[tuple[int, str]] = []
    count = 0
    lineno = 0
    try:
        with open_raw(path) as fh:
            for lineno, raw_line in enumerate(fh, 1):
                if not raw_line.strip():
                    continue
                count += 1
                if wanted is not None and count not in wanted:
                    continue
                problem = wanted.get(count) if wanted is not None else None
                if problem is not None:
                    bad.append((lineno, problem))
                    continue
                try:
                    row = _python_row(raw_line)
                except (ValueError, TypeError, RecursionError) as exc:
                    bad.append((lineno, str(exc)))
                    continue
                if row is not None:
                    row["line_no"] = count
                    rows.append(row)
    except RAW_READ_ERRORS as exc:  # a damaged .gz: the lines read before count
        bad.append((lineno + 1, f"unreadable from here on: {exc}"))
    return count, rows, bad


def _scan_files(
    con: duckdb.DuckDBPyConnection, todo: list[tuple[Path, str, int]], report: IngestReport
) -> list[int]:
    """Fill TEMP table _ingest_lines from the raw files; return each file's line count."""
    from crawler.urls import MAX_URL_LENGTH

    cols = ", ".join(f"{n} {t}" for n, t in {**_LINE_TYPES, **_LINE_DERIVED}.items())
    con.execute(f"CREATE TEMP TABLE _ingest_lines ({cols})")
    # read_json takes a path with * ? [ as a glob, and a line longer than its buffer fails
    # the whole read: such files are read by Python.
    by_duckdb = [
        (file_no, str(path.resolve()))
        for file_no, (path, _sha, longest) in enumerate(todo)
        if longest + 2 <= _MAX_OBJECT_BYTES
        and path.suffix != ".gz"  # compressed (by the maintainer, after ingest): Python reads it
        and not any(c in str(path.resolve()) for c in "*?[")
    ]
    for start in range(0, len(by_duckdb), _FILES_PER_READ):
        group = by_duckdb[start : start + _FILES_PER_READ]
        con.execute(
            _scan_sql([n for n, _ in group], MAX_URL_LENGTH), {f"p{n}": p for n, p in group}
        )
    counts = dict(
        con.execute("SELECT file_no, count(*) FROM _ingest_lines GROUP BY file_no").fetchall()
    )
    wanted: dict[int, dict[int, str | None]] = {}
    for file_no, line_no, problem in con.execute(
        "SELECT file_no, line_no, problem FROM _ingest_lines WHERE route IN ('python', 'bad')"
    ).fetchall():
        wanted.setdefault(file_no, {})[line_no] = problem
    read = {n for n, _ in by_duckdb}
    lines: list[int] = []
    python_rows: list[dict] = []
    for file_no, (path, _sha, _longest) in enumerate(todo):
        count = counts.get(file_no, 0)
        rows: list[dict] = []
        bad: list[tuple[int, str]] = []
        if file_no not in read:
            count, rows, bad = _python_pass(path, None)
        elif file_no in wanted:
            seen, rows, bad = _python_pass(path, wanted[file_no])
            if seen != count:
                # DuckDB and Python disagree on the lines of this file: Python reads it all.
                logger.warning(
                    "ingest: %s: %d lines for DuckDB, %d for Python; read by Python",
                    path.name, count, seen,
                )  # fmt: skip
                con.execute("DELETE FROM _ingest_lines WHERE file_no = ?", [file_no])
                count, rows, bad = _python_pass(path, None)
        for lineno, problem in bad:
            logger.warning("ingest: skip %s line %d: %s", path.name, lineno, problem)
        report.bad_rows += len(bad)
        for row in rows:
            row["file_no"] = file_no
        python_rows.extend(rows)
        lines.append(count)
    if python_rows:
        con.register("_ingest_python", _arrow_rows(python_rows, _LINE_TYPES))
        try:
            con.execute(
                "INSERT INTO _ingest_lines BY NAME "
                f"SELECT *, {_derived_sql(MAX_URL_LENGTH)} FROM _ingest_python"
            )
        finally:
            con.unregister("_ingest_python")
    return lines


_SIGHTING_COLUMNS = (
    "canonical_url", "source", "seen_date", "seen_ts", "kind", "url", "title", "description",
    "section", "repo_key", "host", "position", "stars", "stars_period", "forks", "points",
    "comments", "language", "published", "date_flag", "discussion_url", "extra", "run_id",
)  # fmt: skip
_FETCH_COLUMNS = (
    "run_id", "source", "url", "started_at", "finished_at", "status", "http_status", "items",
    "bytes", "not_modified", "errors", "error",
)  # fmt: skip
_CANDIDATE_COLUMNS = (
    "canonical_url", "candidate_id", "url", "title", "description", "section", "host",
    "repo_key", "published", "date_flag", "language", "first_seen", "last_seen",
)  # fmt: skip
_INGEST_TABLES = (
    "_ingest_lines", "_ingest_hosts", "_ingest_kept", "_ingest_fetches", "_ingest_merge",
)  # fmt: skip
# The batch's sightings that win their key, with their host (a join on _ingest_kept).
_KEPT_ROWS_SQL = """
    SELECT l.canonical_url, l.source, l.seen_date, l.seen_ts, l.kind, l.url, l.title,
        l.description, l.section, l.repo_key, h.host, l.position, l.stars, l.stars_period,
        l.forks, l.points, l.comments, l.language, l.published, l.date_flag,
        l.discussion_url, l.extra, l.run_id
    FROM _ingest_lines l JOIN _ingest_kept k USING (seen_order)
        LEFT JOIN _ingest_hosts h ON h.host_key = l.host_key
"""
# How a batch candidate x (with seen_count n) updates a stored one.
_CANDIDATE_UPDATE = """
    url = CASE WHEN x.last_seen >= candidates.last_seen THEN x.url ELSE candidates.url END,
    title = CASE WHEN x.last_seen >= candidates.last_seen AND coalesce(x.title, '') <> ''
        THEN x.title ELSE coalesce(nullif(candidates.title, ''), x.title) END,
    description = CASE WHEN x.last_seen >= candidates.last_seen
        AND coalesce(x.description, '') <> '' THEN x.description
        ELSE coalesce(nullif(candidates.description, ''), x.description) END,
    section = coalesce(candidates.section, x.section),
    host = coalesce(x.host, candidates.host),
    repo_key = coalesce(x.repo_key, candidates.repo_key),
    published = coalesce(candidates.published, x.published),
    date_flag = CASE WHEN candidates.published IS NULL THEN x.date_flag
        ELSE candidates.date_flag END,
    language = coalesce(x.language, candidates.language),
    first_seen = least(candidates.first_seen, x.first_seen),
    last_seen = greatest(candidates.last_seen, x.last_seen),
    seen_count = x.n
"""


def _register_hosts(con: duckdb.DuckDBPyConnection) -> None:
    """TEMP table _ingest_hosts: crawler.urls.host_of of each distinct host key (None: invalid)."""
    from crawler.urls import host_of

    keys = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT host_key FROM _ingest_lines WHERE route = 'sighting'"
        ).fetchall()
    ]
    hosts: list[str | None] = []
    for key in keys:
        try:
            hosts.append(host_of(key))
        except ValueError:
            hosts.append(None)
    con.execute(
        "CREATE TEMP TABLE _ingest_hosts AS "
        "SELECT unnest(?::VARCHAR[]) AS host_key, unnest(?::VARCHAR[]) AS host",
        [keys, hosts],
    )


def _prepare_batch(con: duckdb.DuckDBPyConnection) -> None:
    """Narrow TEMP tables that decide what the batch writes (before the transaction).

    _ingest_kept: the winning line of each sighting key: the latest `fetched_at`, then
    the later file, then the later line; `is_new` when no stored sighting has the key
    (the date range lets DuckDB skip the row groups of other days). _ingest_fetches:
    the same for fetch records, on (run_id, source) and `finished_at`. _ingest_merge: per
    canonical URL of the winners that are not history-only, what its candidate takes:
    first and last seen, and per field which line gives its value (`w_*`, see below).
    `simple`: every value comes from the newest line or is NULL or '' (most URLs);
    `is_new`: no stored candidate.
    """
    lo, hi = con.execute(
        "SELECT min(seen_date), max(seen_date) FROM _ingest_lines WHERE route = 'sighting'"
    ).fetchall()[0]
    con.execute(
        """
        CREATE TEMP TABLE _ingest_kept AS
        SELECT k.seen_order, k.history_only, s.canonical_url IS NULL AS is_new
        FROM (
            SELECT max(seen_order) AS seen_order, canonical_url, source, seen_date,
                arg_max(history_only, seen_order) AS history_only
            FROM _ingest_lines WHERE route = 'sighting'
            GROUP BY canonical_url, source, seen_date
        ) AS k
        LEFT JOIN (
            SELECT canonical_url, source, seen_date FROM sightings
            WHERE seen_date BETWEEN ? AND ?
        ) AS s USING (canonical_url, source, seen_date)
        """,
        [lo, hi],
    )
    f_cols = ", ".join(_FETCH_COLUMNS)
    con.execute(
        f"""
        CREATE TEMP TABLE _ingest_fetches AS
        SELECT {f_cols} FROM _ingest_lines WHERE route = 'fetch'
        QUALIFY row_number() OVER (
            PARTITION BY run_id, source
            ORDER BY finished_at DESC NULLS LAST, file_no DESC, line_no DESC) = 1
        """
    )
    # Per field one max: a line with a value ranks 2*order, one without -2*order (+1 for
    # ''), so the max is twice the newest line with a value, else minus twice the oldest
    # line, odd when that line has ''.
    ranks = ", ".join(
        f"max(CASE (l.filled >> {2 * i}) & 3 WHEN 2 THEN 2 * l.seen_order "
        f"WHEN 1 THEN 1 - 2 * l.seen_order ELSE -2 * l.seen_order END) AS w_{c}"
        for i, c in enumerate(_CANDIDATE_FIELDS)
    )
    simple = " AND ".join(f"(m.w_{c} < 0 OR m.w_{c} = 2 * m.newest)" for c in _CANDIDATE_FIELDS)
    con.execute(
        f"""
        CREATE TEMP TABLE _ingest_merge AS
        SELECT m.*, {simple} AS simple, c.canonical_url IS NULL AS is_new
        FROM (
            SELECT l.canonical_url, min(l.seen_ts) AS first_seen, max(l.seen_ts) AS last_seen,
                max(l.seen_order) AS newest, {ranks}
            FROM _ingest_lines l JOIN _ingest_kept k USING (seen_order)
            WHERE NOT k.history_only
            GROUP BY l.canonical_url
        ) AS m
        LEFT JOIN candidates c ON c.canonical_url = m.canonical_url
        """
    )


def _candidate_rows_sql(is_new: bool) -> str:
    """The batch's candidates (stored ones when `is_new` is False), with seen_count `n`.

    Simple URLs read their newest line; the others apply the rule to the text itself: a
    line with a value ranks by +order, one without by -order, so arg_max_null takes the
    newest value, else the oldest line's.
    """
    which = "m.is_new" if is_new else "NOT m.is_new"
    from_newest = ", ".join(
        f"CASE WHEN m.w_{c} > 0 THEN r.{c} WHEN m.w_{c} % 2 <> 0 THEN '' END AS {c}"
        for c in _CANDIDATE_TEXT
    )
    general = ", ".join(
        f"arg_max_null(l.{c}, CASE WHEN l.{c} <> '' THEN l.seen_order "
        f"ELSE -l.seen_order END) AS {c}"
        for c in _CANDIDATE_TEXT
    )
    return f"""
        SELECT x.*, 'c-' || substr(sha1(x.canonical_url), 1, {CANDIDATE_ID_HEX}) AS candidate_id,
            h.host, n.n
        FROM (
            SELECT m.canonical_url, r.host_key, m.first_seen, m.last_seen, {from_newest},
                CASE WHEN m.w_published > 0 THEN r.published END AS published
            FROM _ingest_merge m JOIN _ingest_lines r ON r.seen_order = m.newest
            WHERE m.simple AND {which}
            UNION ALL BY NAME
            SELECT l.canonical_url, any_value(l.host_key) AS host_key,
                min(l.seen_ts) AS first_seen, max(l.seen_ts) AS last_seen, {general},
                arg_max_null(l.published, CASE WHEN l.published IS NOT NULL
                    THEN l.seen_order ELSE -l.seen_order END) AS published
            FROM _ingest_lines l JOIN _ingest_kept k USING (seen_order)
            WHERE NOT k.history_only AND l.canonical_url IN (
                SELECT canonical_url FROM _ingest_merge m WHERE NOT m.simple AND {which})
            GROUP BY l.canonical_url
        ) AS x
        LEFT JOIN _ingest_hosts h ON h.host_key = x.host_key
        JOIN (
            SELECT canonical_url, count(*) AS n FROM sightings WHERE canonical_url IN (
                SELECT canonical_url FROM _ingest_merge m WHERE {which})
            GROUP BY canonical_url
        ) AS n ON n.canonical_url = x.canonical_url
    """


def _write_batch(con: duckdb.DuckDBPyConnection) -> None:
    """The batch into sightings, fetch_log and candidates (in the caller's transaction).

    A stored sighting is replaced by the batch's winner unless it was fetched later; a
    stored candidate is updated with _CANDIDATE_UPDATE; seen_count is the number of
    sightings of the URL in the store.
    """
    s_cols = ", ".join(_SIGHTING_COLUMNS)
    s_set = ", ".join(f"{c} = x.{c}" for c in _SIGHTING_COLUMNS[3:])
    con.execute(
        f"UPDATE sightings SET {s_set} FROM ({_KEPT_ROWS_SQL} WHERE NOT k.is_new) AS x "
        "WHERE sightings.canonical_url = x.canonical_url AND sightings.source = x.source "
        "AND sightings.seen_date = x.seen_date AND x.seen_ts >= sightings.seen_ts"
    )
    con.execute(f"INSERT INTO sightings ({s_cols}) {_KEPT_ROWS_SQL} WHERE k.is_new")
    f_cols = ", ".join(_FETCH_COLUMNS)
    f_update = ", ".join(f"{c} = excluded.{c}" for c in _FETCH_COLUMNS[2:])
    con.execute(
        f"INSERT INTO fetch_log ({f_cols}) SELECT {f_cols} FROM _ingest_fetches "
        f"ON CONFLICT (run_id, source) DO UPDATE SET {f_update}"
    )
    c_cols = ", ".join(_CANDIDATE_COLUMNS)
    con.execute(
        f"UPDATE candidates SET {_CANDIDATE_UPDATE} FROM ({_candidate_rows_sql(False)}) AS x "
        "WHERE candidates.canonical_url = x.canonical_url"
    )
    # In key order: DuckDB then merges the new index entries at commit several times faster.
    con.execute(
        f"INSERT INTO candidates ({c_cols}, seen_count) SELECT {c_cols}, n "
        f"FROM ({_candidate_rows_sql(True)}) ORDER BY canonical_url"
    )


def ingest_raw(con: duckdb.DuckDBPyConnection, raw_dir: str | os.PathLike[str]) -> IngestReport:
    """Load raw crawl files not yet ingested, in one short transaction; idempotent.

    The ledger (`raw_files`: path + sha256) skips files already loaded (a crawl names the
    file it is still writing ``*.jsonl.part``, which is not read); a file that changed
    since is loaded again, which is harmless: sightings are keyed (canonical_url, source,
    seen_date) and the latest `fetched_at` wins, candidates are upserted on canonical_url
    (first_seen min, last_seen max, newest non-empty title/description, seen_count =
    number of sightings), fetch_log is keyed (run_id, source). History-only sightings (flood
    guard) are stored as sightings but create no candidate. A bad line is skipped and
    counted, never the batch. DuckDB reads the files (see the notes of this section); the
    memory it uses is the connection's (`ingest_pending` bounds it).
    """
    report = IngestReport()
    root = Path(raw_dir)
    if not root.is_dir():
        return report
    from crawler.runstate import partial_files, raw_files

    report.unfinished = [str(path) for path in partial_files(root)]
    files = raw_files(root)
    if not files:
        return report
    ledger = dict(con.execute("SELECT path, sha256 FROM raw_files").fetchall())
    todo: list[tuple[Path, str, int]] = []
    for path in files:
        sha, longest = _file_digest(path)
        if ledger.get(str(path.resolve())) == sha:
            report.already += 1
        else:
            todo.append((path, sha, longest))
    if not todo:
        return report
    try:
        for name in _INGEST_TABLES:
            con.execute(f"DROP TABLE IF EXISTS {name}")
        lines = _scan_files(con, todo, report)
        _register_hosts(con)
        _prepare_batch(con)
        counts = con.execute(
            "SELECT (SELECT count(*) FROM _ingest_kept), "
            "(SELECT count(*) FILTER (WHERE history_only) FROM _ingest_kept), "
            "(SELECT count(*) FROM _ingest_fetches), (SELECT count(*) FROM _ingest_merge), "
            "(SELECT count(*) FILTER (WHERE is_new) FROM _ingest_merge)"
        ).fetchall()[0]
        with transaction(con):
            _write_batch(con)
            con.execute(
                "INSERT INTO raw_files (path, sha256, rows, ingested_at) "
                "SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::INTEGER[]), "
                "now()::TIMESTAMP "
                "ON CONFLICT (path) DO UPDATE SET sha256 = excluded.sha256, "
                "rows = excluded.rows, ingested_at = excluded.ingested_at",
                [[str(p.resolve()) for p, _, _ in todo], [s for _, s, _ in todo], lines],
            )
    finally:
        for name in _INGEST_TABLES:
            con.execute(f"DROP TABLE IF EXISTS {name}")
    report.files = len(todo)
    (report.sightings, report.history_only, report.fetch_records, report.candidates,
     report.new_candidates) = (int(n) for n in counts)  # fmt: skip
    logger.info(
        "ingested %d raw %s: %d sightings, %d candidates (%d new), %d fetch records, "
        "%d bad rows",
        report.files, "file" if report.files == 1 else "files", report.sightings,
        report.candidates, report.new_candidates, report.fetch_records, report.bad_rows,
    )  # fmt: skip
    return report


def _bound_resources(con: duckdb.DuckDBPyConnection) -> None:
    """Settings of the ingest's own connection: bounded memory, threads, compression.

    Memory: INGEST_MEMORY_LIMIT, beyond which DuckDB spills to its temp directory (next to
    the database), so peak RSS does not grow with the batch. Threads: all cores, except
    under an address-space limit (the nightly runs under RLIMIT_AS, RELIABILITY G4): each
    DuckDB thread reserves read buffers and allocator arenas inside that limit, on top of
    the crawl's Scrapy and parsers; there, one thread and a quarter of the limit for data.
    Compression: INGEST_COMPRESSION for the text the ingest writes.
    """
    limit = INGEST_MEMORY_LIMIT
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        capped = soft != resource.RLIM_INFINITY
    except (ImportError, OSError, ValueError):
        soft, capped = 0, False
    if capped:
        con.execute("SET threads = 1")
        limit = min(limit, soft // 4)
    con.execute(f"SET memory_limit = '{max(limit >> 20, 64)}MiB'")
    # Rows carry their file and line number, so the order of intermediate results is free.
    con.execute("SET preserve_insertion_order = false")
    if INGEST_COMPRESSION:
        con.execute(f"SET force_compression = '{INGEST_COMPRESSION}'")


def ingest_pending(
    db: str | os.PathLike[str] | None, raw_dir: str | os.PathLike[str]
) -> IngestReport:
    """Open the store, ingest pending raw files, close. A busy database is "pending".

    Returns a report with ``pending=True`` (and the busy message) when another process
    holds the database: the raw files stay and land at the next ingest. Any other
    StoreError (newer version, corrupt file) is raised. Ctrl-C, while the store opens and
    migrates or during the ingest, is a KeyboardInterrupt (see _ctrl_c_as_interrupt).
    """
    with _ctrl_c_as_interrupt():
        try:
            con = connect(db)
        except StoreBusyError as exc:
            return IngestReport(pending=True, message=str(exc))
        try:
            _bound_resources(con)
            return ingest_raw(con, raw_dir)
        except duckdb.InterruptException:
            raise  # Ctrl-C, not a failed ingest
        except (OSError, duckdb.Error) as exc:
            # The transaction rolled back: the raw files stay pending, nothing half-written.
            first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            raise StoreError(f"ingest into {db} failed, nothing written: {first}") from None
        finally:
            con.close()


@contextmanager
def _ctrl_c_as_interrupt() -> Iterator[None]:
    """Ctrl-C inside a query: DuckDB stops it (as InterruptException, or a plain
    RuntimeError "Query interrupted") and rolls the transaction back; the CLIs report a
    KeyboardInterrupt in one line."""
    try:
        yield
    except (duckdb.InterruptException, RuntimeError) as exc:
        if isinstance(exc, duckdb.InterruptException) or "interrupted" in str(exc).lower():
            raise KeyboardInterrupt from None
        raise


# (end of crawl ingest section)


# --- ranking queries: pools, history frames, sightings files, shortlists, decisions -----
# Sighting files (Parquet/CSV/JSONL with the columns of ../shared/datasets/sightings):
# their `feed` is our `kind`, their page `section` (`trending:python`) is our `source`.

_SIGHTING_READERS = {
    ".parquet": "read_parquet(?)",
    # The header decides the columns and the delimiter (_csv_header): DuckDB's sniffer took
    # a file with one short or long row for a one-column file. Such a row is a reject,
    # skipped and named (_csv_rejects).
    ".csv": "read_csv(?, auto_detect = false, header = true, delim = ?, quote = '\"', "
    "escape = '\"', columns = ?, skip = ?, ignore_errors = true, store_rejects = true, "
    "rejects_table = '_sightings_rejects', rejects_scan = '_sightings_scans')",
    # sample_size = -1: column types from every row, not the first 20,480 (a file sorted by
    # date has no stars in its first rows; sampled, the column was typed NULL and lost them).
    # dateformat 'iso': DuckDB typed `09-10-2024` as a date, guessing day and month.
    # ignore_errors: a line that is not JSON (a torn record) is a row of NULLs, named.
    **dict.fromkeys(
        (".jsonl", ".json", ".ndjson"),
        "read_json(?, format = 'newline_delimited', records = true, sample_size = -1, "
        "dateformat = 'iso', timestampformat = 'iso', ignore_errors = true)",
    ),
}
SIGHTING_FILE_COLUMNS = (
    "feed",
    "section",
    "seen_date",
    "seen_ts",
    "title",
    "url",
    "description",
    "stars",
    "stars_today",
    "forks",
    "language",
    "points",
    "comments",
    "rank",
    "extra",
)
_SIGHTING_INT_COLUMNS = ("stars", "stars_today", "forks", "points", "comments", "rank")
# Optional columns whose absence changes what the ranker sees: said once per file.
_WITHOUT_COLUMN = {
    "section": "each row's source is its feed, so a feed's pages (trending daily and "
    "weekly, Hacker News front page and search…) count as one source",
    "title": "candidates are titled by their link (host and path) unless another row "
    "of theirs has a title",
}


def _section_hint(source: str) -> str | None:
    """The candidate section a dataset page section implies (the pool decides finally)."""
    if not source:
        return None
    tail = source.split(":", 1)[-1]
    if source.startswith(("trending:", "hellogithub:")) or tail in ("project", "release"):
        return "project"
    if tail in ("discussion",):
        return "hot_topic"
    return "article"


# What load_sightings_file left out or changed, in the order the summary names it:
# (count key, one, many, the rest of the phrase).
_SUMMARY_PARTS = (
    ("duplicates", "duplicate", "duplicates", " skipped (already in the store or repeated)"),
    ("without_feed", "row", "rows", " of {feeds} left out"),
    ("unreadable", "unreadable row", "unreadable rows", " skipped"),
    ("invalid_url", "row with an invalid URL", "rows with invalid URLs", " skipped"),
    (
        "bad_date",
        "row with an unreadable or impossible date",
        "rows with unreadable or impossible dates",
        " skipped",
    ),
    (
        "future_date",
        "row dated after tomorrow by this machine's clock",
        "rows dated after tomorrow by this machine's clock",
        " skipped",
    ),
    ("no_source", "row", "rows", " without feed or section skipped"),
    (
        "bad_number",
        "number",
        "numbers",
        " that are not counts (negative, fractional, text) left empty",
    ),
    ("bad_extra", "row", "rows", " with an extra that is not a JSON object (loaded without it)"),
)


def sightings_summary(counts: dict[str, Any], without_feeds: Sequence[str] | None = ()) -> str:
    """What load_sightings_file did, in words: `1,204 sightings loaded, 80 duplicates skipped
    (already in the store or repeated)`, then rows left out or skipped, and why."""

    def count(n: int, one: str, many: str) -> str:
        return f"{n:,} {one if n == 1 else many}"

    parts = [count(counts["inserted"], "sighting loaded", "sightings loaded")]
    feeds = ", ".join(sorted(set(without_feeds or ()) - set(counts.get("absent_feeds", ()))))
    for key, one, many, tail in _SUMMARY_PARTS:
        if counts.get(key):
            parts.append(count(counts[key], one, many) + tail.format(feeds=feeds))
    if counts.get("absent_feeds"):
        parts.append(f"no feed {', '.join(counts['absent_feeds'])} in this file to leave out")
    return ", ".join(parts)


def load_sightings_file(
    con: duckdb.DuckDBPyConnection,
    path: str | os.PathLike[str],
    without_feeds: Iterable[str] = (),
    by_the_clock: bool = True,
) -> dict[str, Any]:
    """Load a sightings file into `sightings` and upsert `candidates`; return counts.

    `by_the_clock`: a row dated after tomorrow by this machine's clock is skipped (no
    source can have shown it yet). A replay (`rank backtest`) judges dates by the data
    alone: a wrong clock must not empty its later weeks.

    URLs are canonicalized again with `crawler.urls` (the file's own canonical form is not
    trusted). A row with an invalid URL, no feed or section, or an unreadable date (not
    ISO, see _seen_dates), and a row that cannot be read at all (a CSV row with more or
    fewer cells than the header, a JSONL line that is not JSON) is skipped, counted, and
    named (its row, see _read_sightings, and why) for the first few per reason as a
    warning. Rows repeating (canonical_url, source, seen_date) keep the best position.
    Loading the same file twice changes nothing.
    Rows of the feeds in `without_feeds` (the file's `feed` column) are left out and
    counted; a feed the file does not have is listed in counts["absent_feeds"] (a later
    file may simply not carry it; `-v` logs the feeds it has). A file none of whose rows
    can be loaded (every date unreadable, say) is a SightingsFileError.
    """
    from crawler.urls import InvalidURL, canonical_url, host_of, project_key

    source_path = Path(path)
    reader = _SIGHTING_READERS.get(source_path.suffix.lower())
    if reader is None:
        raise SightingsFileError(
            f"{source_path}: unsupported sightings file type {source_path.suffix!r}; "
            "use .parquet, .csv or .jsonl"
        )
    if source_path.is_dir():
        raise SightingsFileError(f"{source_path}: a folder, not a sightings file")
    if not source_path.is_file():
        raise SightingsFileError(f"{source_path}: no such sightings file")
    if source_path.stat().st_size == 0:
        raise SightingsFileError(f"{source_path}: the file is empty")
    try:
        frame, unreadable = _read_sightings(con, source_path, reader)
    except duckdb.Error as exc:
        raise SightingsFileError(
            f"{source_path}: cannot read sightings: {_duckdb_reason(exc)}"
        ) from None
    total = len(frame) + unreadable
    excluded = 0
    left_out = set(without_feeds)
    absent: list[str] = []
    if left_out:
        feeds = frame["feed"].astype("string")
        have = sorted(feeds.dropna().unique())
        absent = sorted(left_out - set(have))
        if absent:
            logger.info("%s: its feeds: %s", source_path, ", ".join(have))
        drop = feeds.isin(sorted(left_out)).fillna(False).to_numpy(dtype=bool)
        excluded = int(drop.sum())
        frame = frame[~drop].reset_index(drop=True)
    urls = frame["url"].astype("string").fillna("")
    canon: dict[str, tuple[str | None, str | None, str | None]] = {}
    for url in urls.unique():
        try:
            c = canonical_url(url)
            canon[url] = (c, project_key(url), host_of(c))
        except InvalidURL:
            canon[url] = (None, None, None)
    mapped = urls.map(canon)
    frame["canonical_url"] = [m[0] for m in mapped]
    frame["repo_key"] = [m[1] for m in mapped]
    frame["host"] = [m[2] for m in mapped]
    invalid = _skip_rows(
        source_path, frame, frame["canonical_url"].isna(), "invalid URL", frame["url"]
    )
    frame = frame[frame["canonical_url"].notna()].copy()
    frame["source"] = frame["section"].astype("string").fillna(frame["feed"].astype("string"))
    no_source = _skip_rows(source_path, frame, frame["source"].isna(), "no feed or section")
    frame = frame[frame["source"].notna()].copy()
    raw_dates = frame["seen_date"]
    frame["seen_date"] = _seen_dates(raw_dates)
    frame["seen_ts"] = _epochs_as_text(frame["seen_ts"])
    bad = frame["seen_date"].isna()
    bad_dates = _skip_rows(source_path, frame, bad, "unreadable or impossible date", raw_dates)
    frame = frame[frame["seen_date"].notna()].copy()
    future_dates = 0
    if by_the_clock:
        import pandas as pd

        today = dt.date.today()
        tomorrow = pd.Timestamp(today + dt.timedelta(days=1))
        future = pd.to_datetime(frame["seen_date"]) > tomorrow
        why = f"date after tomorrow by this machine's clock (today {today})"
        future_dates = _skip_rows(source_path, frame, future, why, raw_dates[frame.index])
        frame = frame[~future.to_numpy(dtype=bool)].copy()
    bad_numbers = 0
    for column in _SIGHTING_INT_COLUMNS:
        frame[column], bad = _whole_numbers(frame[column], minimum=1 if column == "rank" else 0)
        bad_numbers += bad
    if bad_numbers:
        logger.info("%s: %d numbers that are not counts left empty", source_path, bad_numbers)
    frame["section_hint"] = frame["source"].map(_section_hint)
    frame["extra"], bad_extra = _json_objects(frame["extra"])
    if bad_extra:
        logger.info("%s: %d rows with an unreadable extra, kept without it", source_path, bad_extra)
    # A header-only file (or every row left out) inserts nothing: an empty frame has no
    # column types for DuckDB to bind.
    inserted = _insert_sightings(con, frame, f"file:{source_path.name}") if len(frame) else 0
    counts: dict[str, Any] = {
        "rows": total,
        "absent_feeds": absent,
        "without_feed": excluded,
        "unreadable": unreadable,
        "invalid_url": invalid,
        "bad_date": bad_dates,
        "future_date": future_dates,
        "inserted": inserted,
        "duplicates": len(frame) - inserted,
        "bad_extra": bad_extra,
        "bad_number": bad_numbers,
        "no_source": no_source,
    }
    logger.info("%s: %s", source_path, counts)
    if total > excluded and not len(frame):
        raise SightingsFileError(
            f"{source_path}: no row could be loaded: {sightings_summary(counts, without_feeds)}"
        )
    return counts


def _read_sightings(con: duckdb.DuckDBPyConnection, path: Path, reader: str) -> tuple[Any, int]:
    """The file's rows in SIGHTING_FILE_COLUMNS (NULL for a column it does not have), with
    their row (`file_row`: a CSV's row as a spreadsheet shows it, header = 1, as
    `rank feedback` names them; a JSONL's line; a Parquet's 1 = the first), and
    how many rows could not be read at all: a CSV row with more or fewer cells than the
    header, a JSONL line that is not JSON or not a JSON object. Those are skipped and
    named."""
    if path.suffix.lower() == ".csv":
        frame, skipped = _read_csv_sightings(con, path, reader)
    elif path.suffix.lower() == ".parquet":
        params: list[object] = [str(path)]
        frame = con.execute(_sightings_sql(con, path, reader, params), params).df()
        frame["file_row"] = range(1, len(frame) + 1)
        skipped = []
    else:
        with _json_records(con, path, reader) as (records, present, not_objects):
            frame, skipped = _read_json_sightings(con, path, records, reader, present)
        skipped = sorted(skipped + not_objects)
    _name_skips(path, [row for row, _ in skipped], [why for _, why in skipped], "unreadable")
    return frame, len(skipped)


def _sightings_sql(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    reader: str,
    params: list[object],
    present: set[str] | None = None,
) -> str:
    """The query of SIGHTING_FILE_COLUMNS of the file `path` (NULL for a column it does
    not have); a file without feed, url, or a day (seen_date, else seen_ts: the day of
    that time) is a SightingsFileError naming `path` (without section, a row's source is
    its feed). `params` are the reader's (a JSONL file may be read from a copy);
    `present`, the file's columns, if known."""
    if present is None:
        described = con.execute(f"DESCRIBE SELECT * FROM {reader}", params).fetchall()
        present = {row[0] for row in described}
    if "seen_date" not in present and "seen_ts" in present:
        present, day = present | {"seen_date"}, '"seen_ts" AS "seen_date"'
    else:
        day = '"seen_date"'
    missing = [c for c in ("feed", "seen_date", "url") if c not in present]
    if missing:
        raise SightingsFileError(f"{path}: missing sightings columns {missing}")
    for column, instead in _WITHOUT_COLUMN.items():
        if column not in present:
            logger.warning("%s: no column %r: %s", path, column, instead)
    absent = [c for c in SIGHTING_FILE_COLUMNS if c not in present and c not in _WITHOUT_COLUMN]
    if absent:
        logger.info("%s: no columns %s (left empty)", path, ", ".join(absent))
    select = ", ".join(
        (day if c == "seen_date" else f'"{c}"') if c in present else f'NULL AS "{c}"'
        for c in SIGHTING_FILE_COLUMNS
    )
    return f"SELECT {select} FROM {reader}"


def _read_csv_sightings(
    con: duckdb.DuckDBPyConnection, path: Path, reader: str
) -> tuple[Any, list[tuple[int, str]]]:
    """A CSV's rows (see _read_sightings) and its rows skipped as (row, why)."""
    names, delim, header_line = _csv_header(path)
    params = [str(path), delim, dict.fromkeys(names, "VARCHAR"), header_line - 1]
    sql = _sightings_sql(con, path, reader, params, set(names))
    frame, rejects = _csv_rejects(con, path, sql, params, delim=delim, cells=len(names))
    rejected = {row for row, _why in rejects}
    kept = [
        row
        for row, blank in _csv_records(path, delim, header_line)
        if not (blank or row in rejected)
    ]
    # Python's csv and DuckDB's reader agree on the records of any file read this far;
    # should they not, rows are numbered in order.
    first = header_line + 1
    frame["file_row"] = kept if len(kept) == len(frame) else list(range(first, first + len(frame)))
    return frame, rejects


def _read_json_sightings(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    records: Path,
    reader: str,
    present: set[str] | None,
) -> tuple[Any, list[tuple[int, str]]]:
    """The rows of the JSONL file `path`, read from `records` (itself, or a copy with the
    same lines: `_json_records`; see _read_sightings), and its lines that are not JSON
    objects, as (line, why). `present`: its columns, if known."""
    params: list[object] = [str(records)]
    frame = con.execute(_sightings_sql(con, path, reader, params, present), params).df()
    frame["file_row"] = _record_lines(records, len(frame))
    torn = frame[list(SIGHTING_FILE_COLUMNS)].isna().all(axis=1)
    skipped = _invalid_json_lines(records, set(frame["file_row"][torn]))
    frame = frame[~frame["file_row"].isin([row for row, _why in skipped])]
    return frame.reset_index(drop=True), skipped


@contextmanager
def _json_records(
    con: duckdb.DuckDBPyConnection, path: Path, reader: str
) -> Iterator[tuple[Path, set[str] | None, list[tuple[int, str]]]]:
    """The JSONL file to read, its columns if known, and its lines that are JSON but not
    an object, as (line, why). DuckDB's reader refuses a whole file for one such line
    (`[1, 2]`, `42`): then the file is read from a copy with those lines blank, in a
    folder removed after."""
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {reader}", [str(path)]).fetchall()
    except duckdb.BinderException as exc:
        if "non-record" not in str(exc):
            raise
    else:
        yield path, {row[0] for row in described}, []
        return
    import tempfile

    not_objects: list[tuple[int, str]] = []
    objects = 0
    with tempfile.TemporaryDirectory(prefix="radar-sightings-") as folder:
        copy = Path(folder) / path.name
        with path.open("rb") as src, copy.open("wb") as out:
            for n, line in enumerate(src, 1):
                try:
                    value = json.loads(line) if line.strip() else {}
                except ValueError:  # not JSON: DuckDB reads it as NULLs, named later
                    value = {}
                if isinstance(value, dict):
                    objects += bool(value)
                    out.write(line if line.endswith(b"\n") else line + b"\n")
                else:
                    out.write(b"\n")
                    not_objects.append((n, _not_an_object(value)))
        if not objects:  # DuckDB would refuse the copy too
            raise SightingsFileError(f"{path}: no line is a JSON object with fields")
        yield copy, None, not_objects


def _csv_header(path: Path) -> tuple[list[str], str, int]:
    """A CSV's column names, delimiter and line, from its first line that is not blank:
    `;` (a spreadsheet saved in a European locale), a tab or `|` where the header has more
    of it outside quotes than commas (`csvio.sniff_delimiter`)."""
    import csv

    from ranking.csvio import sniff_delimiter

    with path.open("rb") as f:
        for line_no, raw in enumerate(f, 1):
            first = raw.decode("utf-8-sig" if line_no == 1 else "utf-8", errors="replace")
            if first.strip():
                break
        else:
            first, line_no = "", 1
    # A file saved with CR line ends ("CSV (Macintosh)") is one line to a binary read.
    first = next((line for line in first.splitlines() if line.strip()), "")
    delim = sniff_delimiter(first, (",", ";", "\t", "|"))
    names: list[str] = []
    for i, name in enumerate(next(csv.reader([first], delimiter=delim), [])):
        name = name.strip() or f"column{i}"
        names.append(f"{name}_{i}" if name in names else name)
    return names, delim, line_no


def _csv_records(path: Path, delim: str, header_line: int) -> list[tuple[int, bool]]:
    """(row, blank) of each record after the header: its row as a spreadsheet shows it,
    the record's number in the file (a blank line counts, a quoted cell over several lines
    is one record; the header's is `header_line`, as the lines above it are blank)."""
    import csv

    from ranking.csvio import wide_fields

    with path.open(encoding="utf-8-sig", errors="replace", newline="") as f, wide_fields():
        records = enumerate(csv.reader(f, delimiter=delim), 1)
        return [(row, not cells) for row, cells in records if row > header_line]


def _csv_rejects(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    sql: str,
    params: list[object],
    *,
    delim: str,
    cells: int,
) -> tuple[Any, list[tuple[int, str]]]:
    """Read a CSV (`sql`): its rows, and those DuckDB rejected as (row, why); DuckDB's
    `line` is the record's number, the row a spreadsheet shows (not the physical line: a
    quoted cell over several lines is one record), as _csv_records numbers them. A row
    that is not UTF-8 makes the file a SightingsFileError, as a file in another encoding
    would be rows of garbled text; so does a quote never closed, which would swallow
    every row after it."""
    import csv

    from ranking.csvio import wide_fields

    drop = "DROP TABLE IF EXISTS _sightings_rejects; DROP TABLE IF EXISTS _sightings_scans"
    con.execute(drop)
    try:
        frame = con.execute(sql, params).df()
        rejects = con.execute(
            "SELECT line, arg_min(error_type, column_idx), arg_min(csv_line, column_idx), "
            "arg_min(error_message, column_idx) FROM _sightings_rejects GROUP BY line "
            "ORDER BY line"
        ).fetchall()
    finally:
        con.execute(drop)
    skipped = []
    for line, kind, text, message in rejects:
        if kind == "INVALID ENCODING":
            raise SightingsFileError(f"{path}: cannot read sightings: row {line}: {message}")
        if kind == "UNQUOTED VALUE":
            raise SightingsFileError(
                f"{path}: cannot read sightings: row {line}: a quote is never closed"
            )
        if kind in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
            with wide_fields():
                found = len(next(csv.reader([text.strip("\r\n")], delimiter=delim), []))
            why = f"{found} cells, the header has {cells}"
        else:  # a line too long
            why = message[:1].lower() + message[1:].rstrip(".")
        skipped.append((line, why))
    return frame, skipped


def _record_lines(path: Path, rows: int) -> list[int]:
    """The line of each row of a JSONL file (DuckDB's reader skips blank lines); 1..rows
    if the counts differ."""
    with path.open("rb") as f:
        lines = [n for n, line in enumerate(f, 1) if line.strip()]
    return lines if len(lines) == rows else list(range(1, rows + 1))


def _not_an_object(value: object) -> str:
    return f"a JSON {'array' if isinstance(value, list) else 'value'}, not an object"


def _invalid_json_lines(path: Path, candidates: set[int]) -> list[tuple[int, str]]:
    """Of the `candidates` lines of a JSONL file (rows DuckDB read as all NULL), those that
    are not JSON objects (not JSON, or `null`), as (line, why); a valid record without
    sightings fields is not one."""
    out: list[tuple[int, str]] = []
    if not candidates:
        return out
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            if n in candidates:
                try:
                    value = json.loads(line.strip())
                    if not isinstance(value, dict):
                        out.append((n, _not_an_object(value)))
                except json.JSONDecodeError as exc:
                    why = exc.msg.removesuffix(" at")
                    out.append(
                        (n, f"invalid JSON: {why[:1].lower()}{why[1:]} at column {exc.colno}")
                    )
                except ValueError:  # UnicodeDecodeError
                    out.append((n, "not UTF-8 text"))
    return out


# Skipped rows of a sightings file named one per line, per reason; the rest counted.
_NAMED_SKIPS = 3


def _skip_rows(path: Path, frame, mask, reason: str, values=None) -> int:
    """Name the first rows of `frame` that `mask` skips (`<file>: row 12 skipped: invalid
    URL 'http://'`, `values` is the cell shown) and return how many it skips. The summary
    line counts them, these name them."""
    import pandas as pd

    mask = mask.to_numpy(dtype=bool)
    rows = list(frame["file_row"][mask])
    shown = values[mask] if values is not None else pd.Series(None, index=range(len(rows)))
    cells = [
        "" if values is None else " (empty)" if pd.isna(v) else f" {str(v)!r}"
        for v in shown.head(_NAMED_SKIPS)
    ]
    _name_skips(path, rows, [f"{reason}{cell[:120]}" for cell in cells], reason)
    return len(rows)


def _name_skips(path: Path, rows: Sequence[int], whys: Sequence[str], reason: str) -> None:
    """Log the first skipped rows with why (`<file>: row 12 skipped: <why>`, rows as
    _read_sightings numbers them), and how many more were skipped for `reason`."""
    for row, why in zip(rows[:_NAMED_SKIPS], whys[:_NAMED_SKIPS], strict=False):
        logger.warning("%s: row %d skipped: %s", path, row, why)
    if (more := len(rows) - _NAMED_SKIPS) > 0:
        rows_skipped = "row" if more == 1 else "rows"
        logger.warning("%s: %d more %s skipped: %s", path, more, rows_skipped, reason)


# Counts above this are not counts (and would not fit DuckDB's BIGINT exactly).
_MAX_COUNT = 2**53


def _whole_numbers(values, minimum: int):
    """A file's count cells (stars, points, rank …) as Int64: whole numbers >= `minimum`
    (text may group thousands as a page shows them: `9,479`), else empty; returns them and
    how many non-empty cells were not such numbers."""
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(values):
        text = values.astype("string").str.strip()
        grouped = text.str.fullmatch(r"\d{1,3}(?:[,_ ]\d{3})+").fillna(False).astype(bool)
        values = text.where(~grouped, text.str.replace(r"[,_ ]", "", regex=True))
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    ok = (numbers >= minimum) & (numbers < _MAX_COUNT) & (numbers % 1 == 0)  # NaN: False
    present = values.notna() & (values.astype("string").str.strip() != "")
    kept = numbers.where(ok).astype("Int64")
    return kept, int((present & ~ok).sum())


def _duckdb_reason(exc: duckdb.Error) -> str:
    """DuckDB's error in one line: its first line and, for a file it could not parse, the
    line that says why (`This file is not utf-8 encoded.`), not the reader's settings."""
    lines = [line.strip() for line in str(exc).splitlines()]
    why = next(
        (
            line
            for line in lines[1:]
            if line
            and " = " not in line  # the reader's settings: `delimiter = , (Auto-Detected)`
            and not line.startswith(("Original Line", "Possible Solution", "LINE "))
            and line.strip("^ ")  # the caret under the query
        ),
        "",
    )
    return f"{lines[0]}: {why}"[:300] if why else lines[0]


# The only dates a file's text may give: an ISO day, with an optional ISO time and zone
# (`2025-02-10`, `2025-02-10 23:30:00`, `2025-02-10T03:00:00+08:00`, `…T15:30Z`).
_ISO_DATE = (
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*(?:Z|[+-]\d{2}:?\d{2}))?)?"
)


def _seen_dates(values):
    """A file's `seen_date` cells as dates (None where unreadable), each read on its own.

    Only ISO dates are read (and the date and timestamp types of Parquet and JSON, which
    become ISO text here): `10.09.2024` or `09/10/2024` may be either day, and a guess per
    row stored some days with day and month swapped, so any other text is unreadable. A
    time with a zone is the day in UTC, as the crawler's own dates are, whatever the file
    type (`2025-02-10T03:00:00+08:00` is 2025-02-09); without a zone, the day as written
    (`2025-02-10 23:30:00` is 2025-02-10). A day no source can have shown (before
    `crawler.text.DATE_FLOOR`: 0001-01-01) is None too, as the crawler's dates are
    (RELIABILITY P10). Days after tomorrow by the clock (9999-12-31) are left to the
    caller (load_sightings_file)."""
    import pandas as pd

    from crawler.text import DATE_FLOOR

    text = _epochs_as_text(values).astype("string").str.strip()
    iso = text.where(text.str.fullmatch(_ISO_DATE).fillna(False).astype(bool))
    # utc=True: a zoned time becomes UTC, a time without a zone is taken as written.
    stamps = pd.to_datetime(iso, format="ISO8601", utc=True, errors="coerce")
    days = stamps.dt.tz_localize(None).dt.normalize()
    days = days.where(days >= pd.Timestamp(DATE_FLOOR.date()))
    return days.dt.date


def _epochs_as_text(values):
    """A column of numbers (a JSON file's dates as pandas' `to_json` writes them: epoch
    milliseconds) as ISO text in UTC: below 1e11 seconds (up to the year 5138), else
    milliseconds. Text is left as it is: `202502101200` in a CSV is not an epoch."""
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values
    number = values.astype("float64")
    seconds = number.where(number.abs() < 1e11, number / 1000)
    stamps = pd.to_datetime(seconds, unit="s", utc=True, errors="coerce")
    return stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").astype(object).where(stamps.notna(), None)


def _json_objects(values) -> tuple[list[str | None], int]:
    """A file's `extra` cells as compact JSON objects (None where empty); cells that are
    not a JSON object become None and are counted: the ranker reads `extra` with DuckDB's
    JSON functions, which fail on malformed text."""
    import pandas as pd

    seen: dict[str, str | None] = {}
    out: list[str | None] = []
    bad = 0
    for value in values:
        if isinstance(value, dict):  # a Parquet struct or a JSONL object
            text = json.dumps(value, ensure_ascii=False, default=str)
        elif value is None or (not isinstance(value, str | list) and pd.isna(value)):
            text = ""
        else:
            text = str(value).strip()
        if not text:
            out.append(None)
            continue
        if text not in seen:
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            seen[text] = (
                json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))
                if isinstance(parsed, dict)
                else None
            )
        if seen[text] is None:
            bad += 1
        out.append(seen[text])
    return out, bad


def _insert_sightings(con: duckdb.DuckDBPyConnection, frame, run_id: str) -> int:
    """Insert a loader frame into `sightings`, upsert its candidates; rows inserted."""
    con.register("_sightings_in", frame)
    try:
        with transaction(con):
            before = _one(con, "SELECT count(*) FROM sightings")[0]  # type: ignore[index]
            # One row per key: the best position, then the most stars, then the URL text.
            con.execute(
                """
                INSERT INTO sightings (canonical_url, source, seen_date, seen_ts, kind, url, title,
                    description, section, repo_key, host, position, stars, stars_period, forks,
                    points, comments, language, extra, run_id)
                SELECT canonical_url, source, seen_date,
                    TRY_CAST(TRY_CAST(seen_ts AS TIMESTAMPTZ) AS TIMESTAMP), feed, url,
                    title, description, section_hint, repo_key, host, "rank", stars, stars_today,
                    forks, points, comments, lower(language), extra, ?
                FROM _sightings_in
                QUALIFY row_number() OVER (
                    PARTITION BY canonical_url, source, seen_date
                    ORDER BY "rank" ASC NULLS LAST, stars DESC NULLS LAST, url, title) = 1
                ON CONFLICT DO NOTHING
                """,
                [run_id],
            )
            after = _one(con, "SELECT count(*) FROM sightings")[0]  # type: ignore[index]
            _upsert_candidates_from_sightings(
                con, "SELECT DISTINCT canonical_url FROM _sightings_in"
            )
    finally:
        con.unregister("_sightings_in")
    return int(after - before)


def _upsert_candidates_from_sightings(con: duckdb.DuckDBPyConnection, keys_sql: str) -> None:
    """Recompute `candidates` rows of the canonical URLs `keys_sql` selects, from sightings."""
    con.execute(
        f"""
        INSERT INTO candidates (canonical_url, candidate_id, url, title, description, section,
            host, repo_key, language, first_seen, last_seen, seen_count)
        SELECT s.canonical_url,
            'c-' || substr(sha1(s.canonical_url), 1, {CANDIDATE_ID_HEX}),
            arg_min(s.url, s.seen_date), arg_max(s.title, s.seen_date),
            arg_max(s.description, s.seen_date), arg_max(s.section, s.seen_date),
            any_value(s.host), any_value(s.repo_key), arg_max(s.language, s.seen_date),
            min(s.seen_date)::TIMESTAMP, max(s.seen_date)::TIMESTAMP, count(*)
        FROM sightings s WHERE s.canonical_url IN ({keys_sql})
        GROUP BY s.canonical_url
        ON CONFLICT (canonical_url) DO UPDATE SET
            title = excluded.title, description = excluded.description,
            language = coalesce(excluded.language, candidates.language),
            first_seen = least(candidates.first_seen, excluded.first_seen),
            last_seen = greatest(candidates.last_seen, excluded.last_seen),
            seen_count = excluded.seen_count
        """
    )


_SIGHTING_FRAME_SQL = """
    WITH window_rows AS (
        -- R3: a date the crawler did not flag but that is after the day after the
        -- sighting, or before crawler.text.DATE_FLOOR, is flagged here.
        SELECT * REPLACE (
            CASE WHEN date_flag IS NOT NULL THEN date_flag
                WHEN published > coalesce(seen_ts, seen_date::TIMESTAMP) + INTERVAL 1 DAY
                    THEN 'future'
                WHEN published < ?::TIMESTAMP THEN 'out_of_range' END AS date_flag)
        FROM sightings
        WHERE seen_date >= ? AND seen_date <= ?
            AND NOT CASE WHEN contains(extra, '"history_only"') AND json_valid(extra)
                THEN coalesce(json_extract_string(extra, '$.history_only') = 'true', false)
                ELSE false END
    ),
    -- A newsletter's redirect link (`pycoders.com/link/N/web`) that failed one night is
    -- stored under the link; once it resolves, its sightings carry the link in
    -- extra.redirect_from. The link's rows join the item it leads to (the latest target).
    resolved AS (
        SELECT json_extract_string(extra, '$.redirect_from') AS link,
            arg_max(struct_pack(canonical_url, url, repo_key, host), seen_date) AS target
        FROM window_rows
        WHERE contains(extra, '"redirect_from"') AND json_valid(extra)
        GROUP BY 1
    )
    SELECT coalesce(r.target.canonical_url, s.canonical_url) AS canonical_url, source,
        seen_date, kind, coalesce(r.target.url, s.url) AS url, title, description, section,
        CASE WHEN r.link IS NULL THEN s.repo_key ELSE r.target.repo_key END AS repo_key,
        coalesce(r.target.host, s.host) AS host, position, stars, stars_period, forks,
        points, comments, language,
        -- a flagged date is no date: nothing can give it a recency boost (R3)
        CASE WHEN date_flag IS NULL THEN published END AS published, date_flag,
        -- what cleaning the title removed (crawler.text: bidi, zero_width, ...), P14
        CASE WHEN contains(extra, '"title_flags"') AND json_valid(extra)
            THEN array_to_string(json_extract_string(extra, '$.title_flags[*]'), ' ')
            END AS title_flags,
        -- a title the crawler made from the URL's slug (a sitemap's): a last resort
        CASE WHEN contains(extra, '"title_from"') AND json_valid(extra)
            THEN coalesce(json_extract_string(extra, '$.title_from') = 'url', false)
            ELSE false END AS title_from_url,
        -- the repository's GitHub topics (the REST API), space-separated
        CASE WHEN contains(extra, '"topics"') AND json_valid(extra)
            THEN array_to_string(json_extract_string(extra, '$.topics[*]'), ' ') END AS topics,
        -- published on PyPI: a PyPI page, or a repository a PyPI project names as its code
        coalesce(s.host = 'pypi.org' OR contains(extra, '"pypi_url"'), false) AS on_pypi
    FROM window_rows s
    LEFT JOIN resolved r ON r.link = s.url AND r.target.canonical_url <> s.canonical_url
    ORDER BY canonical_url, source, seen_date, s.canonical_url
"""


def sightings_frame(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date):
    """The sightings with start <= seen_date <= end (a pandas DataFrame, stable order).

    Flood-guarded sightings (`history_only`: the older items of a new source's first run)
    are left out: they are remembered as history, never a week's candidates. `date_flag`
    is the crawler's (`missing`, `unparsed`, `out_of_range`), or `future` / `out_of_range`
    for a stored date it did not judge (more than a day after the sighting, before
    `DATE_FLOOR`); `published` is None when flagged. `title_flags`: the crawler's
    `extra.title_flags`, space-separated; `title_from_url`: the title was made from the
    URL (`extra.title_from`, a sitemap's candidates)."""
    from crawler.text import DATE_FLOOR

    floor = DATE_FLOOR.replace(tzinfo=None)
    return con.execute(_SIGHTING_FRAME_SQL, [floor, start, end]).df()


def sightings_prior_stats(con: duckdb.DuckDBPyConnection, before: dt.date):
    """Per canonical URL and per repo: the distinct days seen before `before`.

    Used for freshness ("new on trending" vs "trending for months"); only dates strictly
    before `before` are read, so a backtest never sees the future.
    """
    return con.execute(
        """
        SELECT coalesce(repo_key, canonical_url) AS key, count(DISTINCT seen_date) AS prior_days
        FROM sightings WHERE seen_date < ?
        GROUP BY 1 ORDER BY 1
        """,
        [before],
    ).df()


def decisions_frame(con: duckdb.DuckDBPyConnection):
    """The curator's decisions (week, candidate_id, canonical_url, decision, section_override)."""
    return con.execute(
        "SELECT week, candidate_id, canonical_url, decision, section_override FROM decisions "
        "ORDER BY week, candidate_id"
    ).df()


def save_shortlist_rows(con: duckdb.DuckDBPyConnection, week: str, frame) -> int:
    """Record the rows of a shortlist written for `week` (id, url, section, rank, score,
    the title and link shown). Rows of the week's earlier files stay, with the rank they
    had: the curator may feed back any file he was given (a quick run with `--out`
    elsewhere, a `previous-N` copy), and a row shown once was shown."""
    rows = frame[["id", "url_canonical", "section", "rank", "score", "title", "url"]].copy()
    rows.columns = ["candidate_id", "canonical_url", "section", "rank", "score", "title", "url"]
    con.register("_shortlist_in", rows)
    try:
        with transaction(con):
            con.execute(
                """INSERT INTO shortlist_rows
                       (week, candidate_id, canonical_url, section, rank, score, written_at,
                        title, url)
                   SELECT ?, candidate_id, canonical_url, section, rank, score,
                          now()::TIMESTAMP, title, url
                   FROM _shortlist_in
                   ON CONFLICT (week, candidate_id) DO UPDATE SET
                       canonical_url = excluded.canonical_url, section = excluded.section,
                       rank = excluded.rank, score = excluded.score,
                       written_at = excluded.written_at, title = excluded.title,
                       url = excluded.url""",
                [week],
            )
    finally:
        con.unregister("_shortlist_in")
    return len(rows)


def last_issue_in(
    con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date
) -> tuple[int, dt.date] | None:
    """(issue_no, pub_date) of the last issue published from `start` to `end`, else None."""
    return _one(
        con,
        "SELECT issue_no, pub_date FROM issues WHERE pub_date BETWEEN ? AND ? "
        "ORDER BY pub_date DESC, issue_no DESC LIMIT 1",
        [start, end],
    )


def last_sighting_day(con: duckdb.DuckDBPyConnection, end: dt.date | None = None) -> dt.date | None:
    """The latest day with a sighting, on or before `end` if given (None without one)."""
    where, params = ("WHERE seen_date <= ?", [end]) if end is not None else ("", [])
    row = _one(con, f"SELECT max(seen_date) FROM sightings {where}", params)
    return row[0] if row else None


def sightings_day_digests(con: duckdb.DuckDBPyConnection) -> list[tuple[dt.date, int, int]]:
    """(seen_date, sightings that day, xor of their row hashes), by date: one scan from
    which the digest of every sighting up to any date is a cheap fold (cache keys). A row's
    hash covers every column: a pool reads most of them (`extra` holds the history-only
    flag, redirects, topics), and one changed cell must change the key."""
    return con.execute(
        """
        SELECT seen_date, count(*), bit_xor(hash(sightings))
        FROM sightings GROUP BY seen_date ORDER BY seen_date
        """
    ).fetchall()


def database_file(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The file behind `con` (for a `snapshot`, the file it copied), or None for an
    in-memory database."""
    rows = con.execute(
        "SELECT coalesce(path, getvariable(?)) FROM duckdb_databases() "
        "WHERE database_name = current_database()",
        [_SNAPSHOT_OF],
    ).fetchall()
    return Path(rows[0][0]) if rows and rows[0][0] else None


# (end of ranking queries section)


# --- curator decisions: shown shortlists, feedback, precision report -------------------


def shortlist_ids(con: duckdb.DuckDBPyConnection, week: str) -> dict[str, str]:
    """{candidate_id: canonical_url} of the rows written in the shortlist of `week`."""
    rows = con.execute(
        "SELECT candidate_id, canonical_url FROM shortlist_rows WHERE week = ?", [week]
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def shown_rows(con: duckdb.DuckDBPyConnection, week: str) -> dict[str, dict[str, str]]:
    """{candidate_id: {section, title, url}} as the shortlists of `week` last wrote them
    (without title and url in rows written before they were recorded)."""
    rows = con.execute(
        "SELECT candidate_id, section, title, url FROM shortlist_rows WHERE week = ?", [week]
    ).fetchall()
    columns = ("section", "title", "url")
    return {
        r[0]: {c: v for c, v in zip(columns, r[1:], strict=True) if v is not None} for r in rows
    }


def save_file_cells(
    con: duckdb.DuckDBPyConnection, path: str | os.PathLike[str], cells: dict[str, dict]
) -> None:
    """Record {candidate_id: {column: value}} as what the shortlist file at `path` shows
    (what it showed before is forgotten)."""
    import pandas as pd

    key = str(Path(path).resolve())
    rows = pd.DataFrame(
        {
            "candidate_id": list(cells),
            "cells": [json.dumps(c, default=str, ensure_ascii=False) for c in cells.values()],
        },
        columns=["candidate_id", "cells"],
    )
    con.register("_cells_in", rows)
    try:
        with transaction(con):
            con.execute("DELETE FROM shortlist_cells WHERE path = ?", [key])
            con.execute(
                "INSERT INTO shortlist_cells SELECT ?, candidate_id, cells FROM _cells_in", [key]
            )
    finally:
        con.unregister("_cells_in")


def file_cells(con: duckdb.DuckDBPyConnection, path: str | os.PathLike[str]) -> dict[str, dict]:
    """{candidate_id: {column: value}} as `rank` last wrote the shortlist file at `path`
    (empty for a file written before they were recorded, or by no `rank`)."""
    rows = con.execute(
        "SELECT candidate_id, cells FROM shortlist_cells WHERE path = ?",
        [str(Path(path).resolve())],
    ).fetchall()
    return {r[0]: json.loads(r[1]) for r in rows}


def apply_decisions(
    con: duckdb.DuckDBPyConnection, week: str, file: str, decisions: list[dict[str, object]]
) -> int:
    """Upsert the decisions of one feedback file in one transaction; idempotent.

    A decision `clear` removes the stored decision of its candidate instead."""
    if not decisions:
        return 0
    import pandas as pd

    frame = pd.DataFrame(
        decisions,
        columns=[
            "candidate_id",
            "canonical_url",
            "decision",
            "section_override",
            "note",
            "row_number",
        ],
    )
    with transaction(con):
        con.register("_decisions_in", frame)
        try:
            con.execute(
                """DELETE FROM decisions WHERE week = ? AND candidate_id IN
                   (SELECT candidate_id FROM _decisions_in WHERE decision = 'clear')""",
                [week],
            )
            con.execute(
                """INSERT INTO decisions
                   SELECT ?, candidate_id, canonical_url, decision, section_override, note, ?,
                          row_number, now()::TIMESTAMP
                   FROM _decisions_in WHERE decision <> 'clear'
                   ON CONFLICT (week, candidate_id) DO UPDATE SET
                       decision = excluded.decision,
                       section_override = excluded.section_override,
                       note = excluded.note, file = excluded.file,
                       row_number = excluded.row_number,
                       decided_at = CASE
                           WHEN decisions.decision IS DISTINCT FROM excluded.decision
                             OR decisions.section_override IS DISTINCT FROM excluded.section_override
                             OR decisions.note IS DISTINCT FROM excluded.note
                           THEN excluded.decided_at ELSE decisions.decided_at END""",
                [week, file],
            )
        finally:
            con.unregister("_decisions_in")
    return len(frame)


def week_decisions(
    con: duckdb.DuckDBPyConnection, week: str
) -> dict[str, tuple[str, str | None, str | None]]:
    """{candidate_id: (decision, note, section_override)} stored for `week`."""
    rows = con.execute(
        "SELECT candidate_id, decision, note, section_override FROM decisions WHERE week = ?",
        [week],
    ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def decision_times(con: duckdb.DuckDBPyConnection, week: str) -> dict[str, datetime]:
    """{candidate_id: when its stored decision was last changed (UTC)} for `week`."""
    rows = con.execute(
        "SELECT candidate_id, decided_at FROM decisions WHERE week = ? AND decided_at IS NOT NULL",
        [week],
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def decisions_detail(con: duckdb.DuckDBPyConnection, week: str):
    """The stored decisions of `week` joined with their candidates and the rows shown.

    The title and link are those the shortlist showed. For rows written before they were
    recorded, the candidate's; a repository's row stands for `https://github.com/o/r`,
    and when no source linked that page itself (only a release or a commit of it), the
    latest candidate of the repository gives its title, description and section, and the
    repository its link."""
    return con.execute(
        """WITH repos AS (
               SELECT 'https://' || repo_key AS canonical_url,
                      first(title ORDER BY last_seen DESC, canonical_url) AS title,
                      first(description ORDER BY last_seen DESC, canonical_url) AS description,
                      first(section ORDER BY last_seen DESC, canonical_url) AS section,
                      any_value(repo_key) AS repo_key
                 FROM candidates
                WHERE 'https://' || repo_key IN (SELECT canonical_url FROM decisions WHERE week = ?)
                GROUP BY repo_key)
           SELECT d.week, d.candidate_id, d.canonical_url, d.decision, d.section_override,
                   d.note, d.decided_at, coalesce(s.title, c.title, r.title) AS title,
                   coalesce(s.url, c.url,
                            CASE WHEN r.repo_key IS NOT NULL THEN d.canonical_url END) AS url,
                   coalesce(c.section, r.section) AS section,
                   coalesce(c.description, r.description) AS description,
                   coalesce(c.repo_key, r.repo_key) AS repo_key,
                   s.section AS shown_section, s.rank AS shown_rank
            FROM decisions d
            LEFT JOIN candidates c USING (canonical_url)
            LEFT JOIN repos r ON c.canonical_url IS NULL AND r.canonical_url = d.canonical_url
            LEFT JOIN shortlist_rows s ON s.week = d.week AND s.candidate_id = d.candidate_id
            WHERE d.week = ?
            ORDER BY d.week, coalesce(d.section_override, s.section, c.section, r.section),
                     s.rank NULLS LAST, d.candidate_id""",
        [week, week],
    ).df()


def latest_stars(con: duckdb.DuckDBPyConnection, urls: list[str]) -> dict[str, int]:
    """{canonical_url: the latest star count seen} for the given candidates."""
    if not urls:
        return {}
    rows = con.execute(
        """SELECT canonical_url, arg_max(stars, seen_date) FROM sightings
           WHERE canonical_url IN (SELECT unnest(?)) AND stars IS NOT NULL
           GROUP BY canonical_url""",
        [urls],
    ).fetchall()
    return {r[0]: int(r[1]) for r in rows}


PRECISION_TOP = 24  # `rank report`: the rows of each section the curator surely read


def precision_report(con: duckdb.DuckDBPyConnection, top: int = PRECISION_TOP):
    """Per week and section: shown (rank <= top in the week's latest shortlist), decided,
    kept, precision = kept / shown. The rows of a week's earlier files stay stored (they
    can be fed back) but are not counted again: each run is written at one time."""
    return con.execute(
        """SELECT s.week, s.section,
                  count(*) AS shown,
                  count(d.decision) AS decided,
                  count(*) FILTER (WHERE d.decision = 'keep') AS kept,
                  count(*) FILTER (WHERE d.decision = 'keep') / count(*) AS precision
           FROM shortlist_rows s
           LEFT JOIN decisions d ON d.week = s.week AND d.candidate_id = s.candidate_id
           WHERE s.rank <= ?
             AND s.written_at = (SELECT max(written_at) FROM shortlist_rows l
                                 WHERE l.week = s.week)
           GROUP BY s.week, s.section
           ORDER BY s.week, s.section""",
        [top],
    ).df()


# --- notebook queries: snapshots, source activity, source yield --------------------------
# Notebooks never hold the database: `snapshot` copies it into memory while the file is
# attached read-only for the duration of the copy only, so the nightly job's ingest (which
# needs the write lock) is kept waiting for seconds at most, never for a whole session.

_SNAPSHOT_ALIAS = "radar_snapshot_src"
_SNAPSHOT_OF = "radar_snapshot_of"  # a snapshot's variable: the file it copied
# A domain for "never featured before": a repository's owner on its forge
# (github.com/astral-sh), since every project would otherwise share github.com. The
# same rule as crawler.urls.repo_owner, which the Python code uses.
_DOMAIN_SQL = (
    "CASE WHEN {t}.repo_key LIKE '%/%/%' "
    "THEN split_part({t}.repo_key, '/', 1) || '/' || split_part({t}.repo_key, '/', 2) "
    "ELSE {t}.host END"
)


def snapshot(
    path: str | os.PathLike[str] | None = None, *, attempts: int = 5, wait: float = 0.3
) -> duckdb.DuckDBPyConnection:
    """An in-memory copy of the store; the file is attached read-only only while copying.

    A writer holding the file (the nightly ingest) is retried `attempts` times, `wait`
    seconds apart, then reported as StoreBusyError; a missing file or a newer schema is a
    StoreError. The copy is independent of the file: nothing the caller does blocks writers.
    """
    target = Path(path) if path is not None else db_path()
    if not target.is_file():
        raise StoreError(f"database {target} does not exist; run {CREATED_BY}")
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")  # as connect() does
        for attempt in range(1, attempts + 1):
            try:
                con.execute(f"ATTACH ? AS {_SNAPSHOT_ALIAS} (READ_ONLY)", [str(target)])
                break
            except duckdb.Error as exc:
                error = _translate(exc, target)
                if not isinstance(error, StoreBusyError) or attempt == attempts:
                    raise error from None
                time.sleep(wait)
        try:
            con.execute(f"COPY FROM DATABASE {_SNAPSHOT_ALIAS} TO memory")
        finally:
            con.execute(f"DETACH {_SNAPSHOT_ALIAS}")
        migrate(con)  # a newer file is refused; an older copy is brought to this version
        con.execute(f"SET VARIABLE {_SNAPSHOT_OF} = ?", [str(target.resolve())])
    except BaseException:
        con.close()
        raise
    return con


def sightings_per_source_day(
    con: duckdb.DuckDBPyConnection, start: dt.date | None = None, end: dt.date | None = None
):
    """Per day and source: distinct items seen (a repository counts once) and sightings.

    The crawler's follow-up fetches (`_github_api`, `_article_pages`: names starting with
    `_`) are not sources and are left out, here and in `source_yield`.
    """
    return con.execute(
        """
        SELECT seen_date, source, any_value(kind) AS kind,
            count(DISTINCT coalesce(repo_key, canonical_url)) AS candidates,
            count(*) AS sightings
        FROM sightings
        WHERE NOT starts_with(source, '_')
          AND (?::DATE IS NULL OR seen_date >= ?::DATE)
          AND (?::DATE IS NULL OR seen_date <= ?::DATE)
        GROUP BY seen_date, source
        ORDER BY seen_date, source
        """,
        [start, start, end, end],
    ).df()


def source_yield(
    con: duckdb.DuckDBPyConnection,
    *,
    horizon_days: int | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
):
    """Per source: items seen, items picked later, yield = picked / seen, new-domain share.

    An item (a repository, else a canonical URL) seen by a source is *picked* when its
    canonical URL or repository is a primary item of an issue published on or after the
    day that source first showed it (and within `horizon_days` of it when given).
    `new_domain_share`: the share of the source's items whose domain (host, or a
    repository's owner) had not been featured in any issue before that first day.
    """
    horizon = 1_000_000 if horizon_days is None else int(horizon_days)
    domain_s = _DOMAIN_SQL.format(t="s")
    domain_i = _DOMAIN_SQL.format(t="i")
    return con.execute(
        f"""
        WITH s AS (
            SELECT source, canonical_url, any_value(repo_key) AS repo_key,
                any_value(host) AS host, min(seen_date) AS first_seen,
                count(DISTINCT seen_date) AS days
            FROM sightings
            WHERE NOT starts_with(source, '_')
              AND (?::DATE IS NULL OR seen_date >= ?::DATE)
              AND (?::DATE IS NULL OR seen_date <= ?::DATE)
            GROUP BY source, canonical_url
        ),
        p AS (
            SELECT i.issue_no, x.pub_date, i.canonical_url, i.repo_key,
                {domain_i} AS domain
            FROM issue_items i JOIN issues x USING (issue_no)
        ),
        hits AS (
            SELECT s.source, s.canonical_url, p.issue_no
            FROM s JOIN p ON p.canonical_url = s.canonical_url
            WHERE p.pub_date >= s.first_seen AND p.pub_date <= s.first_seen + ?::INTEGER
            UNION ALL
            SELECT s.source, s.canonical_url, p.issue_no
            FROM s JOIN p ON p.repo_key = s.repo_key
            WHERE p.pub_date >= s.first_seen AND p.pub_date <= s.first_seen + ?::INTEGER
        ),
        featured AS (
            SELECT domain, min(pub_date) AS first_featured FROM p
            WHERE domain IS NOT NULL GROUP BY domain
        ),
        items AS (
            SELECT s.source, coalesce(s.repo_key, s.canonical_url) AS key,
                min(s.first_seen) AS first_seen, min(h.issue_no) AS picked_in,
                bool_or(f.first_featured IS NULL OR f.first_featured >= s.first_seen)
                    AS new_domain
            FROM s
            LEFT JOIN hits h ON h.source = s.source AND h.canonical_url = s.canonical_url
            LEFT JOIN featured f ON f.domain = {domain_s}
            GROUP BY 1, 2
        ),
        days AS (
            SELECT source, any_value(kind) AS kind, count(DISTINCT seen_date) AS days,
                min(seen_date) AS first_day, max(seen_date) AS last_day
            FROM sightings
            WHERE (?::DATE IS NULL OR seen_date >= ?::DATE)
              AND (?::DATE IS NULL OR seen_date <= ?::DATE)
            GROUP BY source
        )
        SELECT items.source, any_value(days.kind) AS kind, any_value(days.days) AS days,
            count(*) AS seen, count(picked_in) AS picked,
            count(picked_in) / count(*) AS yield,
            avg(new_domain::INTEGER) AS new_domain_share,
            any_value(days.first_day) AS first_day, any_value(days.last_day) AS last_day
        FROM items JOIN days USING (source)
        GROUP BY items.source
        ORDER BY yield DESC, picked DESC, items.source
        """,
        [start, start, end, end, horizon, horizon, start, start, end, end],
    ).df()


# (end of notebook queries section)


def candidates_listing(
    con: duckdb.DuckDBPyConnection, start: dt.date | None = None, end: dt.date | None = None
):
    """Candidates (optionally those seen between start and end, inclusive), newest first.

    Columns: id, url, title, section, sources, first_seen, last_seen, seen_count, stars,
    points.
    """
    where = ""
    params: list[object] = []
    if start is not None and end is not None:
        where = "WHERE s.seen_date BETWEEN ? AND ?"
        params = [start, end]
    return con.execute(
        f"""SELECT c.candidate_id AS id, c.url, c.title, c.section,
                   string_agg(DISTINCT s.source, ' ' ORDER BY s.source) AS sources,
                   c.first_seen, c.last_seen, c.seen_count,
                   max(s.stars) AS stars, max(s.points) AS points
            FROM candidates c JOIN sightings s USING (canonical_url)
            {where}
            GROUP BY ALL
            ORDER BY c.last_seen DESC, c.candidate_id""",
        params,
    ).df()
