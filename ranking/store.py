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
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder of database {p}: {exc}") from None
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

_INT64_MAX = 2**63 - 1
_SIGHTING_INT_FIELDS = ("position", "stars", "stars_period", "forks", "points", "comments")
_SIGHTING_STR_FIELDS = (
    "kind", "url", "title", "description", "section", "repo_key", "language",
    "date_flag", "discussion_url", "run_id",
)  # fmt: skip
_FETCH_INT_FIELDS = ("http_status", "items", "bytes", "not_modified", "errors")


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
    paths: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the CLIs: what landed, or why the files wait."""
        if self.pending:
            return f"database busy, data will land at the next ingest ({self.message})"
        return (
            f"ingested {self.files} raw file(s): {self.sightings} sightings, "
            f"{self.new_candidates} new candidates, {self.bad_rows} bad rows skipped"
        )


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
    """An ISO-8601 UTC string as a naive UTC datetime (None when unreadable)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts


def _sighting_row(rec: dict, order: int) -> dict:
    """One raw candidate record -> one sightings row; ValueError names what is wrong."""
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
        "canonical_url": key,
        "source": source,
        "seen_date": seen_ts.date(),
        "seen_ts": seen_ts,
        "host": None,
        "published": _as_ts(rec.get("published")),
        "extra": _sanitize(json.dumps(extra, ensure_ascii=False, sort_keys=True, default=str)),
        "_history_only": bool(extra.get("history_only")),
        "_order": order,
    }
    for name in _SIGHTING_STR_FIELDS:
        row[name] = _sanitize(rec.get(name))
    for name in _SIGHTING_INT_FIELDS:
        row[name] = _as_int(rec.get(name))
    try:
        from crawler.urls import host_of

        row["host"] = host_of(key)
    except ValueError:
        row["host"] = None
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


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_raw_file(path: Path, report: IngestReport, start: int) -> tuple[list, list, int]:
    """Parse one JSONL file: (sighting rows, fetch rows, lines). Bad lines: skip+log."""
    sightings: list[dict] = []
    fetches: list[dict] = []
    lines = 0
    with path.open("rb") as fh:
        for lineno, raw_line in enumerate(fh, 1):
            if not raw_line.strip():
                continue
            lines += 1
            try:
                rec = json.loads(raw_line)
                if not isinstance(rec, dict):
                    raise ValueError("not a JSON object")
                kind = rec.get("type")
                if kind == "candidate":
                    sightings.append(_sighting_row(rec, start + lineno))
                elif kind == "fetch":
                    fetches.append(_fetch_row(rec))
            except (ValueError, TypeError, RecursionError) as exc:
                report.bad_rows += 1
                logger.warning("ingest: skip %s line %d: %s", path.name, lineno, exc)
    return sightings, fetches, lines


def _latest_per_key(rows: list[dict], key: tuple[str, ...], stamp: str) -> list[dict]:
    """One row per key: the latest `stamp` wins, then the later line (decided before insert)."""
    best: dict[tuple, dict] = {}
    for row in rows:
        k = tuple(row[name] for name in key)
        cur = best.get(k)
        if cur is None or (row[stamp] or datetime.min, row.get("_order", 0)) >= (
            cur[stamp] or datetime.min,
            cur.get("_order", 0),
        ):
            best[k] = row
    return [best[k] for k in sorted(best)]


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


def _stage(
    con: duckdb.DuckDBPyConnection,
    name: str,
    rows: list[dict],
    columns: tuple[str, ...],
    types: dict[str, str],
    tmp_dir: Path,
) -> None:
    """Load `rows` into TEMP table `name` through DuckDB's own JSON reader (no pandas)."""
    path = tmp_dir / f"{name}.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({c: row.get(c) for c in columns}, default=str) + "\n")
    spec = "{" + ", ".join(f"'{c}': '{types.get(c, 'VARCHAR')}'" for c in columns) + "}"
    # Identifiers and the column spec are ours, not input: safe to interpolate.
    con.execute(f"DROP TABLE IF EXISTS {name}")
    if not rows:
        cols = ", ".join(f"{c} {types.get(c, 'VARCHAR')}" for c in columns)
        con.execute(f"CREATE TEMP TABLE {name} ({cols})")
        return
    con.execute(
        f"CREATE TEMP TABLE {name} AS SELECT * FROM read_json(?, "
        f"format = 'newline_delimited', columns = {spec}, maximum_object_size = 16777216)",
        [str(path)],
    )


def _candidate_rows(sightings: list[dict]) -> list[dict]:
    """Merge this batch's sightings per canonical URL (newest non-empty text wins)."""
    merged: dict[str, dict] = {}
    for row in sorted(sightings, key=lambda r: (r["seen_ts"], r["_order"])):
        key = row["canonical_url"]
        cur = merged.get(key)
        if cur is None:
            cur = merged[key] = {
                "canonical_url": key,
                "candidate_id": candidate_id(key),
                "first_seen": row["seen_ts"],
            }
            for name in ("url", "title", "description", "section", "host", "repo_key",
                         "published", "date_flag", "language"):  # fmt: skip
                cur[name] = row[name]
        else:
            for name in ("url", "title", "description", "section", "repo_key", "published",
                         "date_flag", "language", "host"):  # fmt: skip
                if row[name] not in (None, ""):
                    cur[name] = row[name]
        cur["last_seen"] = row["seen_ts"]
    return [merged[k] for k in sorted(merged)]


def ingest_raw(con: duckdb.DuckDBPyConnection, raw_dir: str | os.PathLike[str]) -> IngestReport:
    """Load raw crawl files not yet ingested, in one short transaction; idempotent.

    The ledger (`raw_files`: path + sha256) skips files already loaded; a file that grew
    since (a crawl still writing, or cut short and resumed) is loaded again, which is
    harmless: sightings are keyed (canonical_url, source, seen_date) and the latest
    `fetched_at` wins, candidates are upserted on canonical_url (first_seen min,
    last_seen max, newest non-empty title/description, seen_count = number of
    sightings), fetch_log is keyed (run_id, source). History-only sightings (flood
    guard) are stored as sightings but create no candidate. A bad line is skipped and
    counted, never the batch.
    """
    report = IngestReport()
    root = Path(raw_dir)
    if not root.is_dir():
        return report
    files = sorted(p for p in root.glob("*.jsonl") if p.is_file())
    if not files:
        return report
    ledger = dict(con.execute("SELECT path, sha256 FROM raw_files").fetchall())
    todo: list[tuple[Path, str]] = []
    for path in files:
        sha = _file_sha256(path)
        if ledger.get(str(path.resolve())) == sha:
            report.already += 1
        else:
            todo.append((path, sha))
    if not todo:
        return report
    sightings: list[dict] = []
    fetches: list[dict] = []
    ledger_rows: list[dict] = []
    for index, (path, sha) in enumerate(todo):
        s_rows, f_rows, lines = _read_raw_file(path, report, index * 10_000_000)
        sightings.extend(s_rows)
        fetches.extend(f_rows)
        ledger_rows.append({"path": str(path.resolve()), "sha256": sha, "rows": lines})
        report.paths.append(str(path))
    sightings = _latest_per_key(sightings, ("canonical_url", "source", "seen_date"), "seen_ts")
    fetches = _latest_per_key(fetches, ("run_id", "source"), "finished_at")
    pool = [r for r in sightings if not r["_history_only"]]
    report.history_only = len(sightings) - len(pool)
    cand_rows = _candidate_rows(pool)
    ts, i64, i32 = "TIMESTAMP", "BIGINT", "INTEGER"
    s_types = {"seen_date": "DATE", "seen_ts": ts, "published": ts, "position": i32,
               "stars": i64, "stars_period": i64, "forks": i64, "points": i64,
               "comments": i64}  # fmt: skip
    f_types = {"started_at": ts, "finished_at": ts, "http_status": i32, "items": i32,
               "bytes": i64, "not_modified": i32, "errors": i32}  # fmt: skip
    c_types = {"published": ts, "first_seen": ts, "last_seen": ts}
    staged = (
        ("_ingest_sightings", sightings, _SIGHTING_COLUMNS, s_types),
        ("_ingest_fetches", fetches, _FETCH_COLUMNS, f_types),
        ("_ingest_candidates", cand_rows, _CANDIDATE_COLUMNS, c_types),
        ("_ingest_ledger", ledger_rows, ("path", "sha256", "rows"), {"rows": i32}),
    )
    s_cols = ", ".join(_SIGHTING_COLUMNS)
    s_update = ", ".join(f"{c} = excluded.{c}" for c in _SIGHTING_COLUMNS[3:])
    f_cols = ", ".join(_FETCH_COLUMNS)
    f_update = ", ".join(f"{c} = excluded.{c}" for c in _FETCH_COLUMNS[2:])
    c_cols = ", ".join(_CANDIDATE_COLUMNS)
    keys = [r["canonical_url"] for r in cand_rows]
    try:
        with tempfile.TemporaryDirectory(prefix="radar-ingest-") as tmp:
            for name, rows, columns, types in staged:
                _stage(con, name, rows, columns, types, Path(tmp))
        with transaction(con):
            before = con.execute(
                "SELECT count(*) FROM candidates WHERE canonical_url IN "
                "(SELECT canonical_url FROM _ingest_candidates)"
            ).fetchone()
            con.execute(
                f"INSERT INTO sightings ({s_cols}) SELECT {s_cols} FROM _ingest_sightings "
                "ON CONFLICT (canonical_url, source, seen_date) DO UPDATE SET "
                f"{s_update} WHERE excluded.seen_ts >= sightings.seen_ts"
            )
            con.execute(
                f"INSERT INTO fetch_log ({f_cols}) SELECT {f_cols} FROM _ingest_fetches "
                f"ON CONFLICT (run_id, source) DO UPDATE SET {f_update}"
            )
            con.execute(
                f"INSERT INTO candidates ({c_cols}, seen_count) "
                f"SELECT {c_cols}, 1 FROM _ingest_candidates "
                "ON CONFLICT (canonical_url) DO UPDATE SET "
                "url = CASE WHEN excluded.last_seen >= candidates.last_seen "
                "THEN excluded.url ELSE candidates.url END, "
                "title = CASE WHEN excluded.last_seen >= candidates.last_seen "
                "AND coalesce(excluded.title, '') <> '' THEN excluded.title "
                "ELSE coalesce(nullif(candidates.title, ''), excluded.title) END, "
                "description = CASE WHEN excluded.last_seen >= candidates.last_seen "
                "AND coalesce(excluded.description, '') <> '' THEN excluded.description "
                "ELSE coalesce(nullif(candidates.description, ''), excluded.description) END, "
                "section = coalesce(candidates.section, excluded.section), "
                "host = coalesce(excluded.host, candidates.host), "
                "repo_key = coalesce(excluded.repo_key, candidates.repo_key), "
                "published = coalesce(candidates.published, excluded.published), "
                "date_flag = CASE WHEN candidates.published IS NULL "
                "THEN excluded.date_flag ELSE candidates.date_flag END, "
                "language = coalesce(excluded.language, candidates.language), "
                "first_seen = least(candidates.first_seen, excluded.first_seen), "
                "last_seen = greatest(candidates.last_seen, excluded.last_seen)"
            )
            con.execute(
                "UPDATE candidates SET seen_count = s.n FROM ("
                "SELECT canonical_url, count(*) AS n FROM sightings WHERE canonical_url IN "
                "(SELECT canonical_url FROM _ingest_candidates) GROUP BY canonical_url) AS s "
                "WHERE candidates.canonical_url = s.canonical_url"
            )
            con.execute(
                "INSERT INTO raw_files (path, sha256, rows, ingested_at) "
                "SELECT path, sha256, rows, now()::TIMESTAMP FROM _ingest_ledger "
                "ON CONFLICT (path) DO UPDATE SET sha256 = excluded.sha256, "
                "rows = excluded.rows, ingested_at = excluded.ingested_at"
            )
    finally:
        for name, *_ in staged:
            con.execute(f"DROP TABLE IF EXISTS {name}")
    report.files = len(todo)
    report.sightings = len(sightings)
    report.fetch_records = len(fetches)
    report.candidates = len(keys)
    report.new_candidates = len(keys) - int(before[0] if before else 0)
    logger.info(
        "ingested %d raw file(s): %d sightings, %d candidates (%d new), %d fetch records, "
        "%d bad rows",
        report.files, report.sightings, report.candidates, report.new_candidates,
        report.fetch_records, report.bad_rows,
    )  # fmt: skip
    return report


def ingest_pending(
    db: str | os.PathLike[str] | None, raw_dir: str | os.PathLike[str]
) -> IngestReport:
    """Open the store, ingest pending raw files, close. A busy database is "pending".

    Returns a report with ``pending=True`` (and the busy message) when another process
    holds the database: the raw files stay and land at the next ingest. Any other
    StoreError (newer version, corrupt file) is raised.
    """
    try:
        con = connect(db)
    except StoreBusyError as exc:
        return IngestReport(pending=True, message=str(exc))
    try:
        # A night's raw file is small; one DuckDB thread keeps the address space of the
        # crawl process (Scrapy + parsers already loaded) bounded (RELIABILITY G4).
        con.execute("SET threads = 1")
        return ingest_raw(con, raw_dir)
    except (OSError, duckdb.Error) as exc:
        # The transaction rolled back: the raw files stay pending, nothing is half-written.
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise StoreError(f"ingest into {db} failed, nothing written: {first}") from None
    finally:
        con.close()


# (end of crawl ingest section)


# --- ranking queries: pools, history frames, sightings files, shortlists, decisions -----
# Sighting files (Parquet/CSV/JSONL with the columns of ../shared/datasets/sightings):
# their `feed` is our `kind`, their page `section` (`trending:python`) is our `source`.

_SIGHTING_READERS = {
    ".parquet": "read_parquet(?)",
    ".csv": "read_csv(?, header = true, all_varchar = true)",
    ".jsonl": "read_json(?, format = 'newline_delimited', records = true)",
    ".json": "read_json(?, format = 'newline_delimited', records = true)",
    ".ndjson": "read_json(?, format = 'newline_delimited', records = true)",
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


def load_sightings_file(
    con: duckdb.DuckDBPyConnection, path: str | os.PathLike[str]
) -> dict[str, int]:
    """Load a sightings file into `sightings` and upsert `candidates`; return counts.

    URLs are canonicalized again with `crawler.urls` (the file's own canonical form is not
    trusted); invalid URLs are skipped and counted. Rows repeating (canonical_url, source,
    seen_date) keep the best position. Loading the same file twice changes nothing.
    """
    import pandas as pd

    from crawler.urls import InvalidURL, canonical_url, host_of, repo_key

    source_path = Path(path)
    reader = _SIGHTING_READERS.get(source_path.suffix.lower())
    if reader is None:
        raise StoreError(
            f"{source_path}: unsupported sightings file type {source_path.suffix!r}; "
            "use .parquet, .csv or .jsonl"
        )
    if not source_path.is_file():
        raise StoreError(f"{source_path}: no such sightings file")
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {reader}", [str(source_path)]).fetchall()
        present = {row[0] for row in described}
        missing = [c for c in ("feed", "section", "seen_date", "url") if c not in present]
        if missing:
            raise StoreError(f"{source_path}: missing sightings columns {missing}")
        select = ", ".join(
            f'"{c}"' if c in present else f'NULL AS "{c}"' for c in SIGHTING_FILE_COLUMNS
        )
        frame = con.execute(f"SELECT {select} FROM {reader}", [str(source_path)]).df()
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise StoreError(f"{source_path}: cannot read sightings: {first}") from None
    total = len(frame)
    urls = frame["url"].astype("string").fillna("")
    canon: dict[str, tuple[str | None, str | None, str | None]] = {}
    for url in urls.unique():
        try:
            c = canonical_url(url)
            canon[url] = (c, repo_key(url), host_of(c))
        except InvalidURL:
            canon[url] = (None, None, None)
    mapped = urls.map(canon)
    frame["canonical_url"] = [m[0] for m in mapped]
    frame["repo_key"] = [m[1] for m in mapped]
    frame["host"] = [m[2] for m in mapped]
    invalid = int(frame["canonical_url"].isna().sum())
    if invalid:
        bad = frame.loc[frame["canonical_url"].isna(), "url"].astype(str).head(3).tolist()
        logger.warning("%s: skipped %d rows with invalid URLs, e.g. %s", source_path, invalid, bad)
    frame = frame[frame["canonical_url"].notna()].copy()
    frame["source"] = frame["section"].astype("string").fillna(frame["feed"].astype("string"))
    frame = frame[frame["source"].notna() & frame["seen_date"].notna()].copy()
    frame["seen_date"] = pd.to_datetime(frame["seen_date"].astype(str), errors="coerce").dt.date
    bad_dates = int(frame["seen_date"].isna().sum())
    frame = frame[frame["seen_date"].notna()].copy()
    for column in _SIGHTING_INT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    frame["section_hint"] = frame["source"].map(_section_hint)
    con.register("_sightings_in", frame)
    try:
        with transaction(con):
            before = con.execute("SELECT count(*) FROM sightings").fetchone()[0]  # type: ignore[index]
            # One row per key: the best position, then the most stars, then the URL text.
            con.execute(
                """
                INSERT INTO sightings (canonical_url, source, seen_date, seen_ts, kind, url, title,
                    description, section, repo_key, host, position, stars, stars_period, forks,
                    points, comments, language, extra, run_id)
                SELECT canonical_url, source, seen_date, TRY_CAST(seen_ts AS TIMESTAMP), feed, url,
                    title, description, section_hint, repo_key, host, "rank", stars, stars_today,
                    forks, points, comments, lower(language), extra, ?
                FROM _sightings_in
                QUALIFY row_number() OVER (
                    PARTITION BY canonical_url, source, seen_date
                    ORDER BY "rank" ASC NULLS LAST, stars DESC NULLS LAST, url, title) = 1
                ON CONFLICT DO NOTHING
                """,
                [f"file:{source_path.name}"],
            )
            after = con.execute("SELECT count(*) FROM sightings").fetchone()[0]  # type: ignore[index]
            _upsert_candidates_from_sightings(
                con, "SELECT DISTINCT canonical_url FROM _sightings_in"
            )
    finally:
        con.unregister("_sightings_in")
    counts = {
        "rows": total,
        "invalid_url": invalid,
        "bad_date": bad_dates,
        "inserted": int(after - before),
        "duplicates": int(len(frame) - (after - before)),
    }
    logger.info("%s: %s", source_path, counts)
    return counts


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
    SELECT canonical_url, source, seen_date, kind, url, title, description, section, repo_key,
        host, position, stars, stars_period, forks, points, comments, language, published
    FROM sightings
    WHERE seen_date >= ? AND seen_date <= ?
    ORDER BY canonical_url, source, seen_date
"""


def sightings_frame(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date):
    """All sightings with start <= seen_date <= end (a pandas DataFrame, stable order)."""
    return con.execute(_SIGHTING_FRAME_SQL, [start, end]).df()


def sightings_prior_stats(con: duckdb.DuckDBPyConnection, before: dt.date):
    """Per canonical URL and per repo: first seen date and distinct days seen before `before`.

    Used for freshness ("new on trending" vs "trending for months"); only dates strictly
    before `before` are read, so a backtest never sees the future.
    """
    return con.execute(
        """
        SELECT coalesce(repo_key, canonical_url) AS key, min(seen_date) AS prior_first_seen,
            count(DISTINCT seen_date) AS prior_days
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
    """Replace the stored shortlist of `week` with `frame` (id, url, section, rank, score)."""
    rows = frame[["id", "url_canonical", "section", "rank", "score"]].copy()
    rows.columns = ["candidate_id", "canonical_url", "section", "rank", "score"]
    con.register("_shortlist_in", rows)
    try:
        with transaction(con):
            con.execute("DELETE FROM shortlist_rows WHERE week = ?", [week])
            con.execute(
                "INSERT INTO shortlist_rows SELECT ?, candidate_id, canonical_url, section, "
                "rank, score, now()::TIMESTAMP FROM _shortlist_in",
                [week],
            )
    finally:
        con.unregister("_shortlist_in")
    return len(rows)


def issues_frame(con: duckdb.DuckDBPyConnection):
    """Published issues (issue_no, pub_date, kind), in issue order."""
    return con.execute("SELECT issue_no, pub_date, kind FROM issues ORDER BY issue_no").df()


def sightings_fingerprint(con: duckdb.DuckDBPyConnection, end: dt.date) -> str:
    """A cheap digest of every sighting dated on or before `end` (cache keys)."""
    row = con.execute(
        """
        SELECT count(*), max(seen_date),
            bit_xor(hash(canonical_url, source, seen_date, coalesce(position, -1),
                coalesce(stars, -1), coalesce(stars_period, -1), coalesce(points, -1),
                coalesce(comments, -1), coalesce(title, ''), coalesce(description, ''),
                coalesce(language, '')))
        FROM sightings WHERE seen_date <= ?
        """,
        [end],
    ).fetchall()[0]
    return f"{row[0]}:{row[1]}:{row[2]}"


def database_file(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The file behind `con`, or None for an in-memory database."""
    rows = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
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


def apply_decisions(
    con: duckdb.DuckDBPyConnection, week: str, file: str, decisions: list[dict[str, object]]
) -> int:
    """Upsert the decisions of one feedback file in one transaction; idempotent."""
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
                """INSERT INTO decisions
                   SELECT ?, candidate_id, canonical_url, decision, section_override, note, ?,
                          row_number, now()::TIMESTAMP
                   FROM _decisions_in
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


def decisions_detail(con: duckdb.DuckDBPyConnection, week: str | None = None):
    """Stored decisions (optionally of one week) joined with their candidates and rows shown."""
    where = "WHERE d.week = ?" if week else ""
    return con.execute(
        f"""SELECT d.week, d.candidate_id, d.canonical_url, d.decision, d.section_override,
                   d.note, d.decided_at, c.title, c.url, c.section, c.description, c.repo_key,
                   s.section AS shown_section, s.rank AS shown_rank
            FROM decisions d
            LEFT JOIN candidates c USING (canonical_url)
            LEFT JOIN shortlist_rows s ON s.week = d.week AND s.candidate_id = d.candidate_id
            {where}
            ORDER BY d.week, coalesce(d.section_override, s.section, c.section),
                     s.rank NULLS LAST, d.candidate_id""",
        [week] if week else [],
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


def precision_report(con: duckdb.DuckDBPyConnection, top: int = 24):
    """Per week and section: shown (rank <= top), decided, kept, precision = kept / shown."""
    return con.execute(
        """SELECT s.week, s.section,
                  count(*) AS shown,
                  count(d.decision) AS decided,
                  count(*) FILTER (WHERE d.decision = 'keep') AS kept,
                  count(*) FILTER (WHERE d.decision = 'keep') / count(*) AS precision
           FROM shortlist_rows s
           LEFT JOIN decisions d ON d.week = s.week AND d.candidate_id = s.candidate_id
           WHERE s.rank <= ?
           GROUP BY s.week, s.section
           ORDER BY s.week, s.section""",
        [top],
    ).df()


# --- notebook queries: snapshots, source activity, source yield --------------------------
# Notebooks never hold the database: `snapshot` copies it into memory while the file is
# attached read-only for the duration of the copy only, so the nightly job's ingest (which
# needs the write lock) is kept waiting for seconds at most, never for a whole session.

_SNAPSHOT_ALIAS = "radar_snapshot_src"
# A domain for "never featured before": a repository's owner on its forge
# (github.com/astral-sh), since every project would otherwise share github.com.
_DOMAIN_SQL = (
    "CASE WHEN {t}.repo_key IS NOT NULL "
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
        raise StoreError(f"database {target} does not exist; run `rank import-issues` or `crawl`")
    con = duckdb.connect(":memory:")
    try:
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
        check_version(con, target)
    except BaseException:
        con.close()
        raise
    return con


def sightings_per_source_day(
    con: duckdb.DuckDBPyConnection, start: dt.date | None = None, end: dt.date | None = None
):
    """Per day and source: distinct items seen (a repository counts once) and sightings."""
    return con.execute(
        """
        SELECT seen_date, source, any_value(kind) AS kind,
            count(DISTINCT coalesce(repo_key, canonical_url)) AS candidates,
            count(*) AS sightings
        FROM sightings
        WHERE (?::DATE IS NULL OR seen_date >= ?::DATE)
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
            WHERE (?::DATE IS NULL OR seen_date >= ?::DATE)
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


def latest_sighting_date(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The most recent day with sightings (None for an empty store)."""
    row = con.execute("SELECT max(seen_date) FROM sightings").fetchone()
    return row[0] if row else None


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
