"""Item pipelines: validate, canonicalize, clean, de-duplicate within a run, write raw JSONL.

The spider yields one `CandidateBatch` per response (one item per feed is much cheaper
in Scrapy than one per entry, PERFORMANCE.md); each pipeline works on the batch's
candidates. A bad candidate is a counted, logged skip naming the source and URL.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from scrapy.crawler import Crawler

from crawler.items import Candidate
from crawler.runstate import RunContext, utc_now
from crawler.text import clean_text, clean_text_flagged
from crawler.urls import InvalidURL, canonical_url, repo_key

logger = logging.getLogger(__name__)

TITLE_MAX = 1000
DESCRIPTION_MAX = 2000


@dataclass
class CandidateBatch:
    """The candidates of one response of one source (a Scrapy item)."""

    source: str
    kind: str
    url: str
    candidates: list[Candidate] = field(default_factory=list)
    fetched_at: str = field(default_factory=utc_now)
    # True when this batch completes the source: its fetch record follows the candidates.
    finishes_source: bool = False


def _context(crawler: Crawler) -> RunContext | None:
    spider = crawler.spider
    return getattr(spider, "ctx", None)


# Everything clean_text_flagged would change or flag in a one-line string, apart from
# NFC, length and edge spaces (checked separately): whitespace other than one space,
# controls, zero-width and bidi characters, U+FFFD, lone surrogates. Test: a string that
# passes `_is_clean` is returned unchanged by clean_text (tests/test_pipelines.py).
_NOT_CLEAN = re.compile(
    r"[^\S ]|  |[\x00-\x1f\x7f-\x9f\u200b\u202a-\u202e\u2066-\u2069\ufeff\ufffd\ud800-\udfff]"
)


def _is_clean(s: str, max_len: int) -> bool:
    """True when `s` is already what clean_text(s, max_len) returns, without a flag.

    Parsers clean what they read with the same functions (and tighter limits), so most
    fields pass this cheap check and skip the second, costlier pass (PERFORMANCE.md F12).
    """
    return (
        len(s) <= max_len
        and not s.startswith(" ")
        and not s.endswith(" ")
        and not _NOT_CLEAN.search(s)
        and unicodedata.is_normalized("NFC", s)
    )


def _clean_field(value: str, max_len: int) -> str:
    return value if _is_clean(value, max_len) else clean_text(value, max_len)


def clean_candidate(cand: Candidate) -> str | None:
    """Validate and normalise one candidate in place; return a skip reason or None.

    Text a parser already cleaned passes unchanged (and cheaply); anything else, e.g. a
    field a parser copied verbatim, is cleaned here.
    """
    url = (cand.url or "").strip() if isinstance(cand.url, str) else ""
    try:
        canonical = canonical_url(url)
    except InvalidURL as exc:
        return f"invalid url ({exc})"
    cand.url = url
    cand.canonical_url = canonical
    # repo_key() only ever answers for GitHub: skip it for every other host.
    cand.repo_key = repo_key(canonical) if canonical.startswith("https://github.com/") else None
    title = cand.title if isinstance(cand.title, str) else ""
    if not _is_clean(title, TITLE_MAX):
        title, flags = clean_text_flagged(title, TITLE_MAX)
        if flags:
            known = (cand.extra or {}).get("title_flags") or []
            cand.extra = dict(cand.extra or {}, title_flags=sorted(set(known) | flags))
    if not title:
        return "empty title"
    cand.title = title
    description = cand.description if isinstance(cand.description, str) else ""
    cand.description = _clean_field(description, DESCRIPTION_MAX)
    for name in ("author", "published_raw", "language", "discussion_url", "section"):
        value = getattr(cand, name)
        if value is not None:
            setattr(cand, name, _clean_field(str(value), 500) or None)
    if cand.discussion_url and not cand.discussion_url.startswith(("http://", "https://")):
        cand.discussion_url = None
    return None


class CleanPipeline:
    """Validate (http/https URL, non-empty title), canonicalize and clean the text."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CleanPipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, CandidateBatch):
            return item
        ctx = _context(self.crawler)
        kept: list[Candidate] = []
        for cand in item.candidates:
            try:
                reason = clean_candidate(cand)
            except Exception as exc:  # a malformed candidate must not sink the batch
                reason = f"unusable candidate ({exc.__class__.__name__})"
            if reason:
                logger.info("skip source=%s url=%.200r reason=%s", item.source, cand.url, reason)
                self.crawler.stats.inc_value(f"radar/skipped/{item.source}")
                if ctx is not None:
                    ctx.outcomes[item.source].skipped += 1
                continue
            kept.append(cand)
        item.candidates = kept
        return item


class DedupPipeline:
    """Drop repeats of (source, canonical_url) within one run: the first one wins."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.seen: set[tuple[str, str]] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DedupPipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, CandidateBatch):
            return item
        kept = []
        for cand in item.candidates:
            key = (item.source, cand.canonical_url or cand.url)
            if key in self.seen:
                self.crawler.stats.inc_value("radar/duplicates")
                continue
            self.seen.add(key)
            kept.append(cand)
        item.candidates = kept
        return item


class RawWriterPipeline:
    """Append the batch to the run's raw JSONL file; then the source's fetch record."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RawWriterPipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, CandidateBatch):
            return item
        ctx = _context(self.crawler)
        if ctx is None or ctx.writer is None:
            return item
        for cand in item.candidates:
            record = {
                "type": "candidate",
                "run_id": ctx.run_id,
                "source": item.source,
                "kind": item.kind,
                "fetched_at": item.fetched_at,
            }
            record.update(cand.to_dict())
            record["source"] = item.source
            ctx.writer.write(record)
        ctx.outcomes[item.source].items += len(item.candidates)
        self.crawler.stats.inc_value("radar/items", len(item.candidates))
        if item.finishes_source:
            ctx.finish(item.source)
        return item
