"""One crawl run's bookkeeping: per-source outcomes, the raw JSONL file, remembered state.

The raw file of a run, ``data/raw/YYYYMMDD-HHMMSS-<runid>.jsonl``, is append-only and
never edited afterwards. While the run writes it, it is named ``….jsonl.part``, which
`raw_files` does not list: no ingest (a `rank` during the crawl) reads it half-written.
The run gives it its final name when it closes it (at its end, on a signal or an error),
before its own ingest; the file of a run killed outright (``kill -9``) keeps the
``.part`` name until the next holder of the crawl lock renames it (`recover_partial`), as
does the file of a run whose own rename failed (`RunContext.finish_error`).
Every line is one JSON object whose ``type`` comes first:

- ``run``: the header (run_id, started_at, pid, sources);
- ``candidate``: one sighting (run_id, source, kind, fetched_at + Candidate fields;
  ``extra.history_only`` marks flood-guarded items that are history, not news);
- ``fetch``: one per source and run (status ok | not_modified | failed, http_status,
  items, bytes, not_modified, errors, skipped, requests, error, the parser's notes),
  written when the source is done;
- ``run_end``: the trailer; a file without it was cut short (e.g. ``kill -9``) and is
  still ingested as far as its complete lines go.

Sources named ``_github_api`` (our dated star snapshots from the GitHub REST API) and
``_article_pages`` (metadata of article pages linked from HN/Lobsters/Reddit) are the
run's extras: they get candidate and fetch records like sources, but never decide the
exit code. Page sightings carry ``extra.via`` (the aggregator source).

Lines are flushed as they are written, so a killed run loses at most the line in
progress. ``crawl-state.json`` (written atomically) remembers ETag/Last-Modified per
source URL and which sources have had their first run (flood guard).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import os
import secrets
import tempfile
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from crawler.items import Candidate
from crawler.sources import Source
from crawler.text import parse_iso_utc
from crawler.urls import InvalidURL, canonical_url

logger = logging.getLogger(__name__)

STATE_FILE = "crawl-state.json"
RAW_DIR = "raw"
PARTIAL = ".part"  # suffix of a raw file while its run writes it
HISTORY_CAP = 5000  # remembered history URLs per source (hashes)
REDIRECTS_CAP = 20000  # remembered newsletter redirects (link -> target), newest kept
# A new source's first run lets in items tied on date with its last one, up to this many
# times max_new_items (a newsletter issue: its links share the date).
FLOOD_TIE_FACTOR = 5
# After a sitemap source's first run, an item first seen that is dated more than this
# many days before that run is an old post (a child sitemap read for the first time),
# history: a month, as a date from a URL's path may give only the month.
SITEMAP_HISTORY_DAYS = 31
# Pseudo-sources for the per-run extras; their outcomes never decide the exit code.
GITHUB_API_SOURCE = "_github_api"
PAGES_SOURCE = "_article_pages"
PSEUDO_SOURCES = (GITHUB_API_SOURCE, PAGES_SOURCE)


def utc_now() -> str:
    """Now as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (the timestamp format of raw files)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_run_id() -> str:
    """A short random run id (8 hex)."""
    return secrets.token_hex(4)


def raw_file_name(started: datetime, run_id: str) -> str:
    """``YYYYMMDD-HHMMSS-<runid>.jsonl`` (UTC)."""
    return f"{started.strftime('%Y%m%d-%H%M%S')}-{run_id}.jsonl"


def partial_name(path: Path) -> Path:
    """The name of raw file `path` while its run writes it."""
    return path.with_name(path.name + PARTIAL)


def partial_files(raw_dir: Path) -> list[Path]:
    """The ``*.jsonl.part`` files of `raw_dir`: runs still writing them, or killed doing so."""
    return sorted(raw_dir.glob("*.jsonl" + PARTIAL)) if raw_dir.is_dir() else []


def recover_partial(raw_dir: Path) -> list[Path]:
    """Give the raw files of runs killed while writing them (``*.jsonl.part``) their final
    name; return the new paths. Only for the holder of the crawl lock: no run writes them.
    A file that cannot be renamed is logged and left for the next time."""
    recovered = []
    for part in partial_files(raw_dir):
        final = part.with_name(part.name.removesuffix(PARTIAL))
        try:
            part.rename(final)
        except OSError as exc:
            logger.warning("cannot rename %s to %s: %s", part, final.name, exc.strerror or exc)
        else:
            recovered.append(final)
    return recovered


def raw_files(raw_dir: Path) -> list[Path]:
    """The raw files of `raw_dir` in run order: ``*.jsonl`` and ``*.jsonl.gz`` (compressed
    by the maintainer once ingested); a compressed copy beside its original is read once,
    from the original. Not the ``*.jsonl.part`` file of a run still writing it."""
    files = list(raw_dir.glob("*.jsonl"))
    plain = {p.name for p in files}
    files += [p for p in raw_dir.glob("*.jsonl.gz") if p.name.removesuffix(".gz") not in plain]
    return sorted((p for p in files if p.is_file()), key=lambda p: p.name.removesuffix(".gz"))


# What reading a raw file can raise: unreadable, or a damaged .gz (read as far as it goes).
RAW_READ_ERRORS = (OSError, EOFError, zlib.error)


def open_raw(path: Path) -> IO[bytes]:
    """A raw file opened for reading bytes, gunzipped when it ends in ``.gz``."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def encode_record(record: dict[str, Any]) -> str:
    """One raw line (without its newline): compact JSON, ASCII only (lone surrogates stay
    escapes instead of failing the write)."""
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"), default=str)


def candidate_record(
    run_id: str, source: str, kind: str, fetched_at: str, cand: Candidate
) -> dict[str, Any]:
    """The raw record of one sighting: type, run_id, source, kind, fetched_at, then the
    Candidate's fields in their order (``source`` is the configured source's name)."""
    record: dict[str, Any] = {
        "type": "candidate",
        "run_id": run_id,
        "source": source,
        "kind": kind,
        "fetched_at": fetched_at,
    }
    record.update(cand.to_dict())
    record["source"] = source
    return record


# A candidate line as the writer lays it out: type, run_id, source, kind, … canonical_url,
# repo_key, extra. A key is found by its quoted name: inside a JSON string every quote is
# escaped, so `"name":` only occurs as a key.
_HEAD = b'{"type":"candidate","run_id":"'
_SOURCE = b'","source":"'
_KIND = b'","kind":'
_CANONICAL = b',"canonical_url":"'
_REPO_KEY = b'","repo_key":'


def _json_str(raw: bytes) -> str:
    return raw.decode("ascii") if b"\\" not in raw else json.loads(b'"' + raw + b'"')


def candidate_key(line: bytes) -> tuple[Any, str, str, bool] | None:
    """``(run_id, source, canonical URL or URL, history_only)`` of a raw candidate line,
    None for another record or a broken line.

    What ``crawl status`` needs of every line, found without decoding the rest (the
    description and extra are most of a line: a full decode takes about 4x as long). A line in
    another layout (an older writer, a null canonical URL) is decoded in full. It reads
    `history_only` as RunContext writes it (``true``, in extra itself); a value written
    otherwise (`1`, in a nested object) is not read the way a full decode would.
    """
    if not line.startswith(b'{"type":"candidate"'):
        return None
    i = len(_HEAD)
    j = line.find(_SOURCE, i)
    k = line.find(_KIND, j)
    u = line.find(_CANONICAL, k)
    v = line.find(_REPO_KEY, u)
    if line.startswith(_HEAD) and min(j, k, u, v) > 0 and line.endswith(b"}\n"):
        try:
            run_id, source = _json_str(line[i:j]), _json_str(line[j + len(_SOURCE) : k])
            canonical = _json_str(line[u + len(_CANONICAL) : v])
        except ValueError:  # not ASCII: not our writer's line; decode it in full
            pass
        else:
            if canonical:
                # extra, the last field, comes after repo_key
                return run_id, source, canonical, line.find(b'"history_only":true', v) > 0
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    if not isinstance(rec, dict):
        return None
    source, url = rec.get("source"), rec.get("canonical_url") or rec.get("url")
    if not isinstance(source, str) or not isinstance(url, str):
        return None
    extra = rec.get("extra")
    return (
        rec.get("run_id"),
        source,
        url,
        bool(isinstance(extra, dict) and extra.get("history_only")),
    )


def url_hash(url: str) -> str:
    """A short stable hash of a canonical URL (remembered history items)."""
    return hashlib.sha1(url.encode("utf-8", "replace")).hexdigest()[:16]


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON to a temp file beside `path`, fsync, then os.replace it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


NIGHTS_FILE = "nights.json"
# RELIABILITY J5: this many nights in a row without a new candidate raise an alert.
QUIET_NIGHTS_ALERT = 2


def _night_of(entry: dict[str, Any]) -> str:
    """The night (UTC date of the run's start) of a nights.json entry; old entries: `at`."""
    night = entry.get("night")
    return night if isinstance(night, str) and night else str(entry.get("at") or "")[:10]


def record_night(
    data_dir: Path, run_id: str, new_items: int, night: str | None = None, keep: int = 30
) -> int:
    """Add a run's count of new candidates to `data_dir/nights.json` and return how many
    nights in a row, this run's night included, found none.

    `night` is the UTC date (``YYYY-MM-DD``) the run started (default: today). Several runs
    in one night count once: the night is quiet only if none of its runs found anything
    new. The runs of the last `keep` nights are kept.
    """
    path = Path(data_dir) / NIGHTS_FILE
    try:
        runs = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):  # first run, or a damaged file: start again
        runs = []
    if not isinstance(runs, list):
        runs = []
    runs = [r for r in runs if isinstance(r, dict)]
    night = night or datetime.now(UTC).strftime("%Y-%m-%d")
    runs.append({"run": run_id, "at": utc_now(), "night": night, "new_items": int(new_items)})
    found: dict[str, int] = {}
    for run in runs:
        value = run.get("new_items")
        # An entry without a usable count is not evidence of a quiet night.
        count = value if isinstance(value, int) and not isinstance(value, bool) else 1
        found[_night_of(run)] = found.get(_night_of(run), 0) + max(count, 0)
    kept = set(sorted(found)[-keep:])
    atomic_write_json(path, [r for r in runs if _night_of(r) in kept])
    quiet = 0
    for day in sorted((d for d in found if d <= night), reverse=True):
        if found[day] != 0:
            break
        quiet += 1
    return quiet


class CrawlState:
    """What the crawl remembers between runs (``data/crawl-state.json``)."""

    def __init__(self, path: Path, data: dict[str, Any] | None = None):
        self.path = path
        self.data: dict[str, Any] = data or {"validators": {}, "sources": {}}
        self.data.setdefault("validators", {})
        self.data.setdefault("sources", {})
        if not isinstance(self.data.setdefault("redirects", {}), dict):
            self.data["redirects"] = {}

    @classmethod
    def load(cls, path: Path) -> CrawlState:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except FileNotFoundError:
            data = None
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable crawl state %s: %s", path, exc)
            data = None
        return cls(path, data)

    def save(self) -> None:
        atomic_write_json(self.path, self.data)

    # conditional GET ------------------------------------------------------------------
    def validators(self, url: str) -> dict[str, str]:
        value = self.data["validators"].get(url)
        return dict(value) if isinstance(value, dict) else {}

    def set_validators(self, url: str, etag: str | None, last_modified: str | None) -> None:
        entry = {k: v for k, v in (("etag", etag), ("last_modified", last_modified)) if v}
        if entry:
            self.data["validators"][url] = entry
        else:
            self.data["validators"].pop(url, None)

    # newsletter links behind redirects --------------------------------------------------
    def redirect(self, url: str) -> str | None:
        """Where `url` led when it was last asked (itself: no redirect), or None."""
        value = self.data["redirects"].get(url)
        return value if isinstance(value, str) else None

    def remember_redirect(self, url: str, target: str) -> None:
        redirects = self.data["redirects"]
        redirects.pop(url, None)
        redirects[url] = target
        while len(redirects) > REDIRECTS_CAP:  # the oldest first (insertion order)
            del redirects[next(iter(redirects))]

    # flood guard ----------------------------------------------------------------------
    def is_new_source(self, name: str) -> bool:
        entry = self.data["sources"].get(name)
        return not (isinstance(entry, dict) and entry.get("first_run"))

    def history(self, name: str) -> set[str]:
        entry = self.data["sources"].get(name) or {}
        return set(entry.get("history") or [])

    def first_run(self, name: str) -> str | None:
        entry = self.data["sources"].get(name)
        value = entry.get("first_run") if isinstance(entry, dict) else None
        return value if isinstance(value, str) else None

    def let_in_old(self, name: str) -> set[str]:
        """Items of a sitemap source's first run let in though older than its history
        cutoff (hashes): seen since, never history."""
        entry = self.data["sources"].get(name) or {}
        return set(entry.get("let_in_old") or [])

    def mark_first_run(
        self, name: str, history: Iterable[str], when: str, let_in_old: Iterable[str] = ()
    ) -> None:
        entry = self.data["sources"].setdefault(name, {})
        entry["first_run"] = when
        entry["history"] = sorted(set(history))[:HISTORY_CAP]
        if let_in_old:
            entry["let_in_old"] = sorted(set(let_in_old))[:HISTORY_CAP]


@dataclass
class SourceOutcome:
    """How one source (or pseudo-source) did in this run: becomes its fetch record."""

    source: str
    kind: str
    url: str
    started_at: str | None = None
    finished_at: str | None = None
    status: str | None = None  # ok | not_modified | failed
    http_status: int | None = None
    items: int = 0
    bytes: int = 0
    not_modified: int = 0
    errors: int = 0
    skipped: int = 0
    requests: int = 0
    error: str | None = None
    done: bool = False
    notes: dict[str, Any] = field(default_factory=dict)

    def record(self, run_id: str) -> dict[str, Any]:
        return {
            "type": "fetch",
            "run_id": run_id,
            "source": self.source,
            "kind": self.kind,
            "url": self.url,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status or "failed",
            "http_status": self.http_status,
            "items": self.items,
            "bytes": self.bytes,
            "not_modified": self.not_modified,
            "errors": self.errors,
            "skipped": self.skipped,
            "requests": self.requests,
            "error": self.error,
            "notes": self.notes or None,
        }


class RawWriter:
    """Append-only JSONL writer; each record is one line, flushed as it is written.

    A failed write (disk full, I/O error) is remembered in ``error`` and ends the file:
    later records are dropped instead of raising in every pipeline call (Scrapy would log
    each batch in full); the run checks ``error`` at its end.
    """

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] | None = path.open("a", encoding="utf-8", newline="\n")
        self._lock = threading.Lock()
        self.lines = 0
        self.error: OSError | None = None

    def write(self, record: dict[str, Any]) -> None:
        line = encode_record(record)
        with self._lock:
            if self._fh is None:
                if self.error is not None:
                    return
                raise ValueError(f"raw file {self.path} is closed")
            try:
                self._fh.write(line + "\n")
                self._fh.flush()
            except OSError as exc:
                self._failed(exc)
                return
            self.lines += 1

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                try:
                    self._fh.flush()
                    os.fsync(self._fh.fileno())
                except OSError as exc:
                    self._failed(exc)
                    return
                self._fh.close()
                self._fh = None

    def _failed(self, exc: OSError) -> None:
        self.error = exc
        logger.error("cannot write raw file %s: %s", self.path, exc.strerror or exc)
        fh, self._fh = self._fh, None
        if fh is not None:
            with contextlib.suppress(OSError):  # its buffer cannot be flushed either
                fh.close()


@dataclass
class CrawlOptions:
    """Knobs of one run (from CLI options, env and settings)."""

    max_new_items: int = 30
    github_api: str = "https://api.github.com"
    github_token: str | None = None
    github_max_requests: int = 50
    max_pages: int = 30
    max_pages_per_host: int = 3
    page_maxsize: int = 3 * 1024 * 1024

    @classmethod
    def configured(cls, max_new_items: int | None = None) -> CrawlOptions:
        """The options of crawler.settings and the environment (GITHUB_TOKEN raises the
        GitHub API cap); `max_new_items` (``--max-new-items``) overrides the setting."""
        from crawler import settings

        token = os.environ.get("GITHUB_TOKEN") or None
        return cls(
            max_new_items=settings.RADAR_MAX_NEW_ITEMS if max_new_items is None else max_new_items,
            github_api=os.environ.get("RADAR_GITHUB_API") or settings.RADAR_GITHUB_API,
            github_token=token,
            github_max_requests=settings.RADAR_GITHUB_MAX_REQUESTS_TOKEN
            if token
            else settings.RADAR_GITHUB_MAX_REQUESTS,
            max_pages=settings.RADAR_MAX_PAGES,
            max_pages_per_host=settings.RADAR_MAX_PAGES_PER_HOST,
            page_maxsize=settings.RADAR_PAGE_MAXSIZE,
        )


class RunContext:
    """Everything one run shares between the spider, the pipelines and the runner."""

    def __init__(
        self,
        data_dir: Path,
        sources: list[Source],
        options: CrawlOptions | None = None,
        run_id: str | None = None,
    ):
        self.data_dir = Path(data_dir)
        self.sources = sources
        self.options = options or CrawlOptions()
        self.run_id = run_id or new_run_id()
        self.started = datetime.now(UTC)
        self.started_at = utc_now()
        self.raw_dir = self.data_dir / RAW_DIR
        self.raw_path = self.raw_dir / raw_file_name(self.started, self.run_id)
        self.state = CrawlState.load(self.data_dir / STATE_FILE)
        self.writer: RawWriter | None = None
        self.outcomes: dict[str, SourceOutcome] = {
            s.name: SourceOutcome(s.name, s.kind, s.url) for s in sources
        }
        self.outcomes[GITHUB_API_SOURCE] = SourceOutcome(GITHUB_API_SOURCE, "github_repo", "")
        self.outcomes[PAGES_SOURCE] = SourceOutcome(PAGES_SOURCE, "page", "")
        self._pending_validators: dict[str, tuple[str | None, str | None]] = {}
        self._first_run_history: dict[str, set[str]] = {}
        self._first_run_let_in_old: dict[str, set[str]] = {}
        self.listeners: list[Any] = []  # callables(outcome) told when a source is done
        self.unfinished: list[str] = []  # sources still running at close: the run was cut short
        self.finish_error: OSError | None = None  # why the raw file kept its .part name
        self.closed = False

    # lifecycle --------------------------------------------------------------------------
    def open(self) -> None:
        self.writer = RawWriter(partial_name(self.raw_path))
        self.writer.write(
            {
                "type": "run",
                "run_id": self.run_id,
                "started_at": self.started_at,
                "pid": os.getpid(),
                "sources": [s.name for s in self.sources],
            }
        )
        if self.writer.error is not None:  # nothing fetched yet: stop here
            self._finish_file()
            raise self.writer.error

    @property
    def write_error(self) -> OSError | None:
        """Why the raw file could not be written in full (disk full, I/O error), or None."""
        return self.writer.error if self.writer is not None else None

    def close(self) -> None:
        """Finish every source not yet finished, write the trailer, save the state."""
        if self.closed:
            return
        for outcome in self.outcomes.values():
            if not outcome.done:
                if outcome.source in PSEUDO_SOURCES:
                    if outcome.requests == 0:
                        continue
                    outcome.status = outcome.status or "ok"
                else:
                    self.unfinished.append(outcome.source)
                    outcome.status = outcome.status if outcome.status else "failed"
                    if outcome.status == "failed" and not outcome.error:
                        outcome.error = "no response (crawl stopped before the source finished)"
                self.finish(outcome.source)
        if self.writer is not None:
            self.writer.write(
                {
                    "type": "run_end",
                    "run_id": self.run_id,
                    "finished_at": utc_now(),
                    "failed": self.failed_sources(),
                }
            )
            self.writer.close()
            self._finish_file()
        if self.write_error is not None:
            # The validators and first-run marks would vouch for items that were not
            # written: without them the next run fetches everything again.
            logger.warning("crawl state not saved: the raw file is incomplete")
        else:
            for name, history in self._first_run_history.items():
                if self.outcomes[name].status == "ok":
                    let_in_old = self._first_run_let_in_old.get(name, ())
                    self.state.mark_first_run(name, history, self.started_at, let_in_old)
            for url, (etag, last_modified) in self._pending_validators.items():
                self.state.set_validators(url, etag, last_modified)
            try:
                self.state.save()
            except OSError as exc:
                logger.warning("could not save crawl state %s: %s", self.state.path, exc)
        self.closed = True

    def _finish_file(self) -> None:
        """Give the closed raw file its final name: from now on ingest reads it. If that
        fails (`finish_error`), it keeps its ``.part`` name: no ingest reads it until the
        next crawl or `crawl ingest` renames it (`recover_partial`)."""
        assert self.writer is not None
        try:
            self.writer.path.rename(self.raw_path)
        except OSError as exc:
            self.finish_error = exc
            logger.error("cannot rename raw file %s: %s", self.writer.path, exc.strerror or exc)

    # sources ------------------------------------------------------------------------------
    def start(self, name: str) -> SourceOutcome:
        outcome = self.outcomes[name]
        if outcome.started_at is None:
            outcome.started_at = utc_now()
        outcome.requests += 1
        return outcome

    def fail(self, name: str, error: str, http_status: int | None = None) -> None:
        """Mark a source failed and write its fetch record (pseudo-sources: count only)."""
        outcome = self.outcomes[name]
        outcome.errors += 1
        outcome.error = error[:500]
        if http_status is not None:
            outcome.http_status = http_status
        logger.warning("source %s failed: %s", name, error)
        if name not in PSEUDO_SOURCES:
            outcome.status = "failed"
            self.finish(name)

    def finish(self, name: str) -> None:
        outcome = self.outcomes[name]
        if outcome.done:
            return
        outcome.done = True
        outcome.finished_at = utc_now()
        if self.writer is not None:
            self.writer.write(outcome.record(self.run_id))
        for listener in self.listeners:
            listener(outcome)

    def remember_validators(self, url: str, etag: str | None, last_modified: str | None) -> None:
        """Keep the validators of a successfully parsed response (saved at close)."""
        self._pending_validators[url] = (etag, last_modified)

    def failed_sources(self) -> list[str]:
        return [
            o.source
            for o in self.outcomes.values()
            if o.source not in PSEUDO_SOURCES and o.status not in ("ok", "not_modified")
        ]

    # flood guard --------------------------------------------------------------------------
    def apply_flood_guard(self, source: Source, candidates: list[Candidate]) -> int:
        """Flag items beyond the N most recent of a new source as history; return the count.

        On a source's first run, only the `max_new_items` most recent items (by published
        date, then page order) go to the pool; the rest get ``extra["history_only"]``
        and are remembered, so later runs keep treating them as history. Items published
        at the same instant as the last one let in are let in too (the links of one
        newsletter issue share its date: an issue is not cut in two), up to
        FLOOD_TIE_FACTOR times the limit.

        A sitemap source may read a child sitemap for the first time on any night (one
        that failed, or an index's child that moved up): after its first run, an item not
        seen before and dated more than SITEMAP_HISTORY_DAYS before that run is history
        too (undated ones are not). Its first run's items are seen: the old ones let in
        are remembered (``let_in_old``).
        """
        limit = int(source.options.get("max_new_items", self.options.max_new_items))
        flagged = 0
        if self.state.is_new_source(source.name):
            # Remembered at close even when nothing is flagged: the first run happened.
            history: set[str] = self._first_run_history.setdefault(source.name, set())
            if len(candidates) > limit:
                order = sorted(
                    range(len(candidates)),
                    key=lambda i: (
                        candidates[i].published is None,
                        _neg_date(candidates[i].published),
                        i,
                    ),
                )
                cut = limit
                if limit > 0:
                    last = candidates[order[limit - 1]].published
                    bound = min(len(order), FLOOD_TIE_FACTOR * limit)
                    while (
                        last is not None
                        and cut < bound
                        and candidates[order[cut]].published == last
                    ):
                        cut += 1
                for i in order[cut:]:
                    cand = candidates[i]
                    cand.extra = dict(cand.extra or {}, history_only=True)
                    flagged += 1
                    h = _history_hash(cand)
                    if h:
                        history.add(h)
            if source.kind == "sitemap":
                let_in = [c for c in candidates if not (c.extra or {}).get("history_only")]
                self._first_run_let_in_old.setdefault(source.name, set()).update(
                    _old_hashes(let_in, _history_before(self.started_at))
                )
        else:
            history = self.state.history(source.name)
            old: set[str] = set()
            if source.kind == "sitemap":
                before = _history_before(self.state.first_run(source.name))
                old = _old_hashes(candidates, before) - self.state.let_in_old(source.name)
            if history or old:
                for cand in candidates:
                    h = _history_hash(cand)
                    if h in history or h in old:
                        cand.extra = dict(cand.extra or {}, history_only=True)
                        flagged += 1
        return flagged


def _history_before(first_run: str | None) -> datetime | None:
    """SITEMAP_HISTORY_DAYS before a source's first run (None when it is unreadable)."""
    when = parse_iso_utc(first_run)
    return when - timedelta(days=SITEMAP_HISTORY_DAYS) if when else None


def _old_hashes(candidates: list[Candidate], before: datetime | None) -> set[str]:
    """The history hashes of the candidates published before `before` (none if None)."""
    if before is None:
        return set()
    old = set()
    for cand in candidates:
        published = parse_iso_utc(cand.published)
        h = _history_hash(cand) if published and published < before else None
        if h:
            old.add(h)
    return old


def _history_hash(cand: Candidate) -> str | None:
    """The remembered form of a candidate's URL (None when it is not a valid URL)."""
    try:
        return url_hash(canonical_url(cand.url))
    except InvalidURL:
        return None


def _neg_date(value: str | None) -> str:
    # Sort newest first with a plain ascending sort: invert the ISO string's digits.
    if not value:
        return ""
    return "".join(chr(0x7F - ord(c)) if c.isdigit() else c for c in value)
