"""Item pipelines: validate, canonicalize, clean, de-duplicate within a run, write raw JSONL.

The spider yields one `CandidateBatch` per response (one item per feed is much cheaper
in Scrapy than one per entry, PERFORMANCE.md); each pipeline works on the batch's
candidates. A bad candidate is a counted, logged skip naming the source and URL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from scrapy.crawler import Crawler

from crawler.items import Candidate
from crawler.runstate import RunContext, candidate_record, utc_now
from crawler.text import clean_text, clean_text_flagged
from crawler.urls import InvalidURL, ascii_url, canonical_url, project_key

logger = logging.getLogger(__name__)

TITLE_MAX = 1000
DESCRIPTION_MAX = 2000


@dataclass(repr=False)
class CandidateBatch:
    """The candidates of one response of one source (a Scrapy item)."""

    def __repr__(self) -> str:  # Scrapy logs items on errors: not thousands of candidates
        return f"CandidateBatch({self.source!r}, {len(self.candidates)} candidates, {self.url!r})"

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


def clean_candidate(cand: Candidate) -> str | None:
    """Validate and normalise one candidate in place; return a skip reason or None.

    Text a parser already cleaned passes unchanged (clean_text's cheap check); anything
    else, e.g. a field a parser copied verbatim, is cleaned here.
    """
    url = (cand.url or "").strip() if isinstance(cand.url, str) else ""
    try:
        canonical = canonical_url(url)
    except InvalidURL as exc:
        return f"invalid url ({exc})"
    url, host_flags = ascii_url(url)  # the CSV shows `xn--pypal-4ve.com`, not a lookalike
    if host_flags:
        cand.extra = dict(cand.extra or {}, host_flags=host_flags)
    cand.url = url
    cand.canonical_url = canonical
    # project_key() only ever answers for GitHub: skip it for every other host.
    cand.repo_key = project_key(canonical) if canonical.startswith("https://github.com/") else None
    title, flags = clean_text_flagged(cand.title if isinstance(cand.title, str) else "", TITLE_MAX)
    if flags:
        known = (cand.extra or {}).get("title_flags") or []
        cand.extra = dict(cand.extra or {}, title_flags=sorted(set(known) | flags))
    if not title:
        return "empty title"
    cand.title = title
    description = cand.description if isinstance(cand.description, str) else ""
    cand.description = clean_text(description, DESCRIPTION_MAX)
    for name in ("author", "published_raw", "language", "discussion_url", "section"):
        value = getattr(cand, name)
        if value is not None:
            setattr(cand, name, clean_text(str(value), 500) or None)
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
            ctx.writer.write(
                candidate_record(ctx.run_id, item.source, item.kind, item.fetched_at, cand)
            )
        ctx.outcomes[item.source].items += len(item.candidates)
        self.crawler.stats.inc_value("radar/items", len(item.candidates))
        if item.finishes_source:
            ctx.finish(item.source)
        return item
