"""The one generic spider: fetch each source, hand the bytes to its parser, yield a batch.

Per kind extras: every repository candidate gets its GitHub REST metadata (a dated star
snapshot of our own, pseudo-source ``_github_api``), and article links found through
aggregators (HN, Lobsters, Reddit) or sitemaps get their page fetched for metadata
(pseudo-source ``_article_pages``); both bounded per run. A sitemap source follows the
sitemaps its robots.txt or index names, into one batch. A parser error marks only its
source failed.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import scrapy
from scrapy.http import Response
from scrapy.utils.httpobj import urlparse_cached
from twisted.python.failure import Failure

from crawler.guard import blocked_reason
from crawler.items import Candidate
from crawler.parsers.common import checked_link, fill_identity, is_site_root
from crawler.pipelines import CandidateBatch
from crawler.runner import AlreadyRunning, CrawlLock, acquire_lock
from crawler.runstate import (
    GITHUB_API_SOURCE,
    PAGES_SOURCE,
    CrawlOptions,
    RunContext,
    utc_now,
)
from crawler.sources import Source
from crawler.urls import InvalidURL, host_of

logger = logging.getLogger(__name__)

AGGREGATOR_KINDS = frozenset({"hackernews", "lobsters", "reddit"})
# Kinds whose candidates get their article page fetched (option fetch_pages, default true).
PAGE_KINDS = AGGREGATOR_KINDS | {"sitemap"}
AGGREGATOR_HOSTS = frozenset(
    {"news.ycombinator.com", "lobste.rs", "reddit.com", "redd.it", "github.com", "twitter.com"}
)


def response_headers(response: Response) -> dict[str, str]:
    """Response headers as a plain dict: lowercase names, last value wins."""
    out: dict[str, str] = {}
    for key, values in response.headers.items():
        if values:
            out[key.decode("latin-1").lower()] = values[-1].decode("latin-1", "replace")
    return out


def describe_failure(failure: Failure) -> tuple[str, int | None]:
    """A one-line reason and the HTTP status (if any) for an errback failure."""
    from scrapy.spidermiddlewares.httperror import HttpError

    exc = failure.value
    if isinstance(exc, HttpError):
        resp = exc.response
        text = f"HTTP {resp.status}"
        retry_after = resp.headers.get(b"Retry-After")
        if retry_after:
            text += f" (Retry-After {retry_after.decode('latin-1', 'replace')})"
        return text, resp.status
    request = getattr(failure, "request", None)
    if request is not None:
        blocked = blocked_reason(urlparse_cached(request).hostname)
        if blocked:
            return blocked, None
    name = exc.__class__.__name__
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    # Twisted's connection errors arrive as a list of Failure reprs: keep their classes
    # and messages (`ConnectionDone: Connection was closed cleanly.`).
    wrapped = _WRAPPED_FAILURE.findall(msg)
    if wrapped:
        msg = "; ".join(f"{cls}: {text.strip()}" if text.strip() else cls for cls, text in wrapped)
    return (f"{name}: {msg}" if msg else name)[:500], None


_WRAPPED_FAILURE = re.compile(r"<twisted\.python\.failure\.Failure (?:\w+\.)*(\w+): ([^>]*)>")


# A newsletter's links on its own site that are looked up per source and run; the status
# codes read as a redirect.
MAX_REDIRECTS_PER_SOURCE = 200
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# A sitemap source: child sitemaps read per run (option max_sitemaps), and how deep below
# the source URL (robots.txt -> sitemap index -> urlset).
MAX_SITEMAPS = 5
MAX_SITEMAP_DEPTH = 2
SITEMAPS_NOTED = 5  # child sitemap URLs kept in the fetch record's notes


@dataclass
class _PendingBatch:
    """A source's candidates waiting for their redirects (newsletter) or child sitemaps
    (sitemap) to be read: released when `waiting` is back to 0."""

    source: Source
    candidates: list[Candidate]
    headers: dict[str, str]
    waiting: int = 0
    followed: set[str] = field(default_factory=set)  # sitemap URLs asked (canonical)
    urlsets: int = 0  # sitemaps read that list pages (the source's own URL included)
    # A child sitemap's place: its parent's plus its own index in the list that named it,
    # the earliest if several did; the batch and the first error follow the places, not
    # the order the children answered in. Keyed by the child's canonical URL.
    place_of: dict[str, tuple[int, ...]] = field(default_factory=dict)
    not_read: list[tuple[str, str]] = field(default_factory=list)  # (child, "url: why")
    parts: dict[str, list[Candidate]] = field(default_factory=dict)  # child -> candidates
    nothing_why: str | None = None  # why no sitemap was asked at some step (no list, cap)


def _count_skipped(outcome: Any, notes: dict[str, Any]) -> dict[str, Any] | None:
    """Add a parse result's skip counts (``notes["skipped"]``) to `outcome`; return them
    (None when the notes have none)."""
    skipped = notes.get("skipped")
    if not isinstance(skipped, dict):
        return None
    outcome.skipped += sum(v for v in skipped.values() if isinstance(v, int))
    return skipped


def _resolve(cand: Candidate, target: str) -> None:
    """Point a candidate at where its link leads (the link itself kept in extra).

    A link that leads to a home page is kept as it is: the item is gone, not the site."""
    if target == cand.url:
        return
    checked = checked_link(target)
    if checked is None or is_site_root(checked[0]):
        return
    cand.extra = dict(cand.extra or {}, redirect_from=cand.url)
    cand.url = checked[0]
    fill_identity(cand, checked[1])


class RadarSpider(scrapy.Spider):
    """Fetch every selected source once; parsers do the reading."""

    name = "radar"

    def __init__(self, ctx: RunContext | None = None, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._lock: CrawlLock | None = None
        self._refused: str | None = None
        if ctx is None:
            # `scrapy crawl radar` from the checkout: default sources into ./data, under
            # the same lock as `crawl` (a second crawl of either kind fetches nothing).
            from pathlib import Path

            from crawler.sources import enabled_sources, load_sources

            data_dir = Path("data")
            ctx = RunContext(
                data_dir, enabled_sources(load_sources(None)), CrawlOptions.configured()
            )
            try:
                self._lock = acquire_lock(data_dir)
            except AlreadyRunning as exc:
                self._refused = str(exc)
            else:
                ctx.open()
        self.ctx = ctx
        self.github_seen: set[str] = set()
        self.github_stopped: str | None = None
        self.pages_seen: set[str] = set()
        self.pages_per_host: Counter[str] = Counter()
        self.waiting: dict[str, _PendingBatch] = {}  # batches waiting for their follow-ups

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> RadarSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._spider_error, signal=scrapy.signals.spider_error)
        crawler.signals.connect(spider._spider_closed, signal=scrapy.signals.spider_closed)
        return spider

    # --- sources ---------------------------------------------------------------------------
    async def start(self) -> AsyncIterator[Any]:
        if self._refused:
            logger.error("%s; nothing crawled", self._refused)
            return
        for source in self.ctx.sources:
            yield self.source_request(source)

    def source_request(self, source: Source) -> scrapy.Request:
        headers: dict[str, str] = {}
        # A sitemap source's robots.txt or index rarely changes, its children do: no 304.
        validators = self.ctx.state.validators(source.url) if source.kind != "sitemap" else {}
        if validators.get("etag"):
            headers["If-None-Match"] = validators["etag"]
        if validators.get("last_modified"):
            headers["If-Modified-Since"] = validators["last_modified"]
        if source.kind in ("hackernews", "lobsters", "reddit", "pypi", "github_repo"):
            headers["Accept"] = "application/json, */*;q=0.5"
        return scrapy.Request(
            source.url,
            callback=self.parse_source,
            errback=self.source_failed,
            headers=headers,
            dont_filter=True,
            meta={
                "radar_source": source.name,
                "handle_httpstatus_list": [304],
                "source": source,
            },
        )

    def parse_source(self, response: Response) -> Iterator[Any]:
        source: Source = response.meta["source"]
        ctx = self.ctx
        outcome = ctx.start(source.name)
        outcome.http_status = response.status
        outcome.bytes += len(response.body)
        if response.status == 304:
            outcome.not_modified += 1
            outcome.status = "not_modified"
            ctx.finish(source.name)
            return
        from crawler.parsers import PARSERS, ParseError

        headers = response_headers(response)
        try:
            result = PARSERS[source.kind](response.body, headers, source)
            candidates = list(result)
        except ParseError as exc:
            ctx.fail(source.name, f"parse error: {exc}", response.status)
            return
        except Exception as exc:  # an isolated parser crash: this source only
            logger.exception("parser %s crashed on %s", source.kind, response.url)
            ctx.fail(source.name, f"parser crashed: {exc.__class__.__name__}: {exc}"[:500])
            return
        notes = getattr(result, "notes", None)
        if isinstance(notes, dict) and notes:
            outcome.notes = dict(notes)
            if isinstance(notes.get("sitemaps"), list):
                # The spider follows the whole list; the fetch record (written every
                # night) keeps its length and first few (an index may name 50,000).
                outcome.notes["sitemaps"] = notes["sitemaps"][:SITEMAPS_NOTED]
                outcome.notes["sitemaps_listed"] = len(notes["sitemaps"])
            skipped = _count_skipped(outcome, notes)
            if skipped is not None:
                logger.info("source %s: parser skipped %s", source.name, skipped)
        if source.kind != "sitemap":  # a sitemap source's batch is guarded once whole
            self.flood_guard(source, candidates)
        pending = _PendingBatch(source, candidates, headers)
        if source.kind == "sitemap" and result.notes.get("sitemap_kind") == "urlset":
            pending.urlsets += 1
        requests = self.redirect_requests(pending) or self.sitemap_requests(
            pending, result, response.url, ()
        )
        if requests:
            # The batch waits for its last link to be resolved (or to fail).
            self.waiting[source.name] = pending
            yield from requests
            return
        yield from self.release(pending)

    def flood_guard(self, source: Source, candidates: list[Candidate]) -> None:
        flagged = self.ctx.apply_flood_guard(source, candidates)
        if flagged:
            logger.info("source %s: %d older items kept as history only", source.name, flagged)

    def release(self, pending: _PendingBatch) -> Iterator[Any]:
        """The source's batch, then its follow-up requests (GitHub metadata, pages).

        A sitemap source that read no sitemap of URLs (its children failed, were refused
        by robots.txt or were no sitemap; its robots.txt or index named none; the depth or
        `max_sitemaps` stopped it first) has failed; one that read some keeps the first
        child it did not read as its outcome's error (``crawl status`` shows it). Its
        candidates are its children's in their places' order, whatever answered first."""
        source, ctx = pending.source, self.ctx
        self.waiting.pop(source.name, None)
        if source.kind == "sitemap":
            outcome = ctx.outcomes[source.name]
            not_read = sorted(pending.not_read, key=lambda e: pending.place_of[e[0]])
            first = not_read[0][1] if not_read else None
            if not pending.urlsets:
                more = len(pending.not_read) - 1
                outcome.error = f"no sitemap read: {first or pending.nothing_why}" + (
                    f" (and {more} more)" if more > 0 else ""
                )
                outcome.status = "failed"
                logger.warning("source %s failed: %s", source.name, outcome.error)
                ctx.finish(source.name)
                return
            if first:
                asked = len(pending.followed) - 1  # the source's own URL is not a child
                outcome.error = f"{len(pending.not_read)} of {asked} sitemaps not read: {first}"
            pending.candidates += [
                c
                for child in sorted(pending.parts, key=pending.place_of.__getitem__)
                for c in pending.parts[child]
            ]
            self.flood_guard(source, pending.candidates)
        candidates = pending.candidates
        ctx.remember_validators(
            source.url, pending.headers.get("etag"), pending.headers.get("last-modified")
        )
        ctx.outcomes[source.name].status = "ok"
        yield CandidateBatch(
            source=source.name,
            kind=source.kind,
            url=source.url,
            candidates=candidates,
            fetched_at=utc_now(),
            finishes_source=True,
        )
        if source.kind == "sitemap":
            # Pages of the newest first: the per-host page cap lets only a few through.
            candidates = sorted(candidates, key=lambda c: c.published or "", reverse=True)
        for cand in candidates:
            if (cand.extra or {}).get("history_only"):
                continue
            if source.kind == "github_repo" and cand.repo_key:
                self.github_seen.add(cand.repo_key)
                continue
            request = self.github_request(cand)
            if request is not None:
                yield request
            if source.kind in PAGE_KINDS and source.options.get("fetch_pages", True):
                request = self.page_request(cand, source)
                if request is not None:
                    yield request

    def source_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        name = request.meta.get("radar_source")
        if name is None:
            return
        self.ctx.start(name)
        reason, status = describe_failure(failure)
        self.ctx.fail(name, reason, status)

    # --- newsletter links behind the newsletter's own redirects ---------------------------
    def redirect_requests(self, pending: _PendingBatch) -> list[scrapy.Request]:
        """One request per link of a newsletter that points at its own site.

        PyCoder's Weekly links every item as ``pycoders.com/link/N/web``, a redirect: the
        item is where it leads. A redirect is read, never followed (``dont_redirect``);
        its target is remembered in the crawl state, so a link is asked once. A link that
        does not redirect stays as it is; one that fails is kept unresolved.
        """
        source = pending.source
        if source.kind != "newsletter" or not source.options.get("resolve_links", True):
            return []
        state = self.ctx.state
        requests: list[scrapy.Request] = []
        for cand in pending.candidates:
            extra = cand.extra or {}
            if not extra.get("own_site") or extra.get("history_only"):
                continue
            known = state.redirect(cand.url)
            if known is not None:
                _resolve(cand, known)
                continue
            if len(requests) >= MAX_REDIRECTS_PER_SOURCE:
                continue  # asked on a later night; links already known are still resolved
            try:
                requests.append(
                    scrapy.Request(
                        cand.url,
                        callback=self.link_resolved,
                        errback=self.link_unresolved,
                        dont_filter=True,
                        priority=1,
                        meta={
                            "radar_source": source.name,
                            "radar_pending": pending,
                            "radar_candidate": cand,
                            "dont_redirect": True,
                            "handle_httpstatus_list": list(REDIRECT_STATUSES),
                            "download_maxsize": 1 << 20,
                        },
                    )
                )
            except ValueError:
                continue
        pending.waiting = len(requests)
        return requests

    def link_resolved(self, response: Response) -> Iterator[Any]:
        self.ctx.start(response.meta["radar_source"]).bytes += len(response.body)
        cand: Candidate = response.meta["radar_candidate"]
        target = cand.url
        if response.status in REDIRECT_STATUSES:
            location = response.headers.get(b"Location")
            checked = checked_link(location.decode("latin-1"), response.url) if location else None
            if checked is not None:
                target = checked[0]
        self.ctx.state.remember_redirect(cand.url, target)
        _resolve(cand, target)
        yield from self._link_done(response.meta["radar_pending"])

    def link_unresolved(self, failure: Failure) -> Iterator[Any]:
        request = failure.request  # type: ignore[attr-defined]
        self.ctx.start(request.meta["radar_source"])  # counted as one of its requests
        reason, _status = describe_failure(failure)
        logger.info(
            "%s: link %s not resolved: %s", request.meta["radar_source"], request.url, reason
        )
        yield from self._link_done(request.meta["radar_pending"])

    def _link_done(self, pending: _PendingBatch) -> Iterator[Any]:
        pending.waiting -= 1
        if pending.waiting == 0:
            yield from self.release(pending)

    # --- the sitemaps a sitemap source names ----------------------------------------------
    def sitemap_requests(
        self, pending: _PendingBatch, result: Any, url: str, place: tuple[int, ...]
    ) -> list[scrapy.Request]:
        """Requests for the child sitemaps the robots.txt or sitemap index at `url` (at
        `place`, () for the source's own URL) names.

        At most `max_sitemaps` per source and run in all, at most MAX_SITEMAP_DEPTH below
        the source URL, never one URL twice (an index that lists itself does not loop).
        """
        source = pending.source
        notes = getattr(result, "notes", None) or {}
        if source.kind != "sitemap" or notes.get("sitemap_kind") == "urlset":
            return []
        urls = notes.get("sitemaps") or []
        if not urls:
            pending.nothing_why = pending.nothing_why or f"{url}: names no sitemap"
            return []
        depth = len(place) + 1
        if not pending.followed:
            checked = checked_link(source.url)
            pending.followed.add(checked[1] if checked else source.url)
        budget = int(source.options.get("max_sitemaps", MAX_SITEMAPS))
        requests: list[scrapy.Request] = []
        for index, child_url in enumerate(urls):
            checked = checked_link(child_url)
            if checked is None:
                continue
            child, child_place = checked[1], (*place, index)
            if child in pending.followed:  # asked already: keep its earliest place
                if child in pending.place_of:
                    pending.place_of[child] = min(pending.place_of[child], child_place)
                continue
            if depth > MAX_SITEMAP_DEPTH or len(pending.followed) > budget:
                why = "too deep" if depth > MAX_SITEMAP_DEPTH else f"max_sitemaps {budget} read"
                logger.info("source %s: sitemap %s not read (%s)", source.name, child_url, why)
                pending.nothing_why = pending.nothing_why or f"{child_url}: not read ({why})"
                break
            pending.followed.add(child)
            pending.place_of[child] = child_place
            try:
                requests.append(
                    scrapy.Request(
                        checked[0],
                        callback=self.sitemap_read,
                        errback=self.sitemap_failed,
                        dont_filter=True,
                        meta={
                            "radar_source": source.name,
                            "radar_pending": pending,
                            "radar_child": child,
                        },
                    )
                )
            except ValueError:
                continue
        if not requests:
            pending.nothing_why = pending.nothing_why or f"{url}: names no new sitemap"
        pending.waiting += len(requests)
        return requests

    def sitemap_read(self, response: Response) -> Iterator[Any]:
        pending: _PendingBatch = response.meta["radar_pending"]
        child: str = response.meta["radar_child"]
        source = pending.source
        outcome = self.ctx.start(source.name)
        outcome.bytes += len(response.body)
        from crawler.parsers import PARSERS, ParseError

        try:
            at = replace(source, url=response.url)
            result = PARSERS["sitemap"](response.body, response_headers(response), at)
        except ParseError as exc:
            logger.info("source %s: sitemap %s skipped: %s", source.name, response.url, exc)
            outcome.errors += 1
            pending.not_read.append((child, f"{response.url}: {exc}"))
        else:
            pending.parts[child] = list(result)
            if result.notes.get("sitemap_kind") == "urlset":
                pending.urlsets += 1
            _count_skipped(outcome, result.notes)
            place = pending.place_of[child]
            yield from self.sitemap_requests(pending, result, response.url, place)
        yield from self._link_done(pending)

    def sitemap_failed(self, failure: Failure) -> Iterator[Any]:
        request = failure.request  # type: ignore[attr-defined]
        name = request.meta["radar_source"]
        outcome = self.ctx.start(name)  # counted as one of its requests
        outcome.errors += 1
        reason, _status = describe_failure(failure)
        logger.info("source %s: sitemap %s failed: %s", name, request.url, reason)
        pending: _PendingBatch = request.meta["radar_pending"]
        pending.not_read.append((request.meta["radar_child"], f"{request.url}: {reason}"))
        yield from self._link_done(pending)

    # --- GitHub metadata --------------------------------------------------------------------
    def _github_limit(self) -> int:
        return self.ctx.options.github_max_requests

    def github_request(self, cand: Candidate) -> scrapy.Request | None:
        key = cand.repo_key
        if not key or key in self.github_seen or self.github_stopped:
            return None
        if len(self.github_seen) >= self._github_limit():
            self.github_stopped = f"request cap reached ({self._github_limit()} per run)"
            logger.info("GitHub metadata: %s", self.github_stopped)
            return None
        self.github_seen.add(key)
        owner_repo = key.split("/", 1)[1]
        api = self.ctx.options.github_api.rstrip("/")
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        if self.ctx.options.github_token:
            headers["Authorization"] = f"Bearer {self.ctx.options.github_token}"
        return scrapy.Request(
            f"{api}/repos/{owner_repo}",
            callback=self.parse_github,
            errback=self.extra_failed,
            headers=headers,
            priority=-1,
            meta={
                "radar_source": GITHUB_API_SOURCE,
                "radar_repo": key,
                "radar_no_budget": True,  # capped by github_max_requests instead
                # The REST API is governed by its rate limits, not robots.txt (which
                # disallows everything on api.github.com).
                "dont_obey_robotstxt": True,
                "handle_httpstatus_list": [403, 429],
            },
        )

    def parse_github(self, response: Response) -> Iterator[Any]:
        ctx = self.ctx
        outcome = ctx.start(GITHUB_API_SOURCE)
        outcome.bytes += len(response.body)
        headers = response_headers(response)
        if response.status in (403, 429):
            remaining = headers.get("x-ratelimit-remaining")
            self.github_stopped = (
                f"rate limited (HTTP {response.status}, remaining {remaining or '?'}); "
                "no more GitHub requests this run"
            )
            outcome.errors += 1
            outcome.error = self.github_stopped
            logger.warning("GitHub API %s", self.github_stopped)
            return
        if headers.get("x-ratelimit-remaining") == "0":
            self.github_stopped = "rate limit exhausted (x-ratelimit-remaining 0)"
        from crawler.parsers import PARSERS, ParseError

        pseudo = Source(GITHUB_API_SOURCE, "github_repo", response.url, "project")
        try:
            candidates = list(PARSERS["github_repo"](response.body, headers, pseudo))
        except ParseError as exc:
            outcome.errors += 1
            outcome.error = f"parse error on {response.url}: {exc}"
            return
        except Exception as exc:
            logger.exception("github_repo parser crashed on %s", response.url)
            outcome.errors += 1
            outcome.error = f"parser crashed on {response.url}: {exc.__class__.__name__}"
            return
        for cand in candidates:
            cand.extra = dict(cand.extra or {}, snapshot="stars", repo=response.meta["radar_repo"])
        yield CandidateBatch(GITHUB_API_SOURCE, "github_repo", response.url, candidates)

    # --- article pages of aggregator links ------------------------------------------------
    def page_request(self, cand: Candidate, source: Source) -> scrapy.Request | None:
        opts = self.ctx.options
        if cand.repo_key or len(self.pages_seen) >= opts.max_pages:
            return None
        try:
            host = host_of(cand.url)
        except InvalidURL:
            return None
        if host in AGGREGATOR_HOSTS or host.endswith(".reddit.com"):
            return None
        if cand.url in self.pages_seen or self.pages_per_host[host] >= opts.max_pages_per_host:
            return None
        self.pages_seen.add(cand.url)
        self.pages_per_host[host] += 1
        try:
            return scrapy.Request(
                cand.url,
                callback=self.parse_page,
                errback=self.extra_failed,
                priority=-2,
                meta={
                    "radar_source": PAGES_SOURCE,
                    "radar_via": source.name,
                    "download_maxsize": opts.page_maxsize,
                },
            )
        except ValueError:
            return None

    def parse_page(self, response: Response) -> Iterator[Any]:
        ctx = self.ctx
        outcome = ctx.start(PAGES_SOURCE)
        outcome.bytes += len(response.body)
        if not isinstance(response, scrapy.http.TextResponse):
            outcome.skipped += 1
            return
        from crawler.parsers import PARSERS, ParseError

        pseudo = Source(PAGES_SOURCE, "page", response.url, "article")
        try:
            candidates = list(PARSERS["page"](response.body, response_headers(response), pseudo))
        except ParseError as exc:
            outcome.skipped += 1
            logger.info("page %s skipped: %s", response.url, exc)
            return
        except Exception as exc:
            logger.exception("page parser crashed on %s", response.url)
            outcome.errors += 1
            outcome.error = f"parser crashed on {response.url}: {exc.__class__.__name__}"
            return
        for cand in candidates:
            cand.extra = dict(cand.extra or {}, via=response.meta.get("radar_via"))
        yield CandidateBatch(PAGES_SOURCE, "page", response.url, candidates)

    def extra_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        name = request.meta.get("radar_source", PAGES_SOURCE)
        outcome = self.ctx.start(name)
        reason, _status = describe_failure(failure)
        outcome.errors += 1
        outcome.error = f"{request.url}: {reason}"[:500]
        logger.info("%s: %s failed: %s", name, request.url, reason)

    # --- signals -------------------------------------------------------------------------
    def _spider_error(self, failure: Failure, response: Response, spider: Any) -> None:
        name = response.meta.get("radar_source") if response is not None else None
        if name is None:
            return
        reason, _ = describe_failure(failure)
        self.ctx.fail(name, f"callback error: {reason}")

    def _spider_closed(self, spider: Any, reason: str) -> None:
        # A batch still waiting (a stop came while its sitemaps or links were read) is
        # not written: its source failed this night, saying so; the next night reads it.
        for name, pending in sorted(self.waiting.items()):
            outcome = self.ctx.outcomes[name]
            what = "sitemaps" if pending.source.kind == "sitemap" else "links"
            outcome.status = "failed"
            outcome.error = (
                f"the crawl stopped while its {what} were read ({pending.waiting} not "
                "answered); nothing of it written"
            )
        if self._lock is not None:
            try:
                self.ctx.close()
            finally:
                self._lock.release()
                self._lock = None
