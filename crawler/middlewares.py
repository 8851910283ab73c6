"""Guards around every fetch: schemes and addresses, robots.txt, Retry-After, per-host delays.

- AddressGuardMiddleware: http/https only, IP-literal hosts checked by the address
  guard (names are checked by the process-level resolver), a per-host request budget.
- StrictRobotsTxtMiddleware: Scrapy's robots.txt handling, plus RFC 9309's rule that a
  robots.txt answering 5xx or not reachable at all means "disallow this host for this
  run", and Crawl-delay honoured as a per-host delay floor.
- RetryAfterMiddleware: 429/503 with Retry-After back the host off (then one retry), or
  drop the host for the night when the wait is longer than RADAR_RETRY_AFTER_MAX.
- SchemeFilterSpiderMiddleware: drops javascript:, file:, data:, ... requests before
  they are scheduled.
- PoliteThrottle: AutoThrottle that never goes below a host's Crawl-delay/Retry-After floor.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.extensions.throttle import AutoThrottle
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

from crawler.guard import AddressBlocked, blocked_reason, check_host

logger = logging.getLogger(__name__)

ALLOWED_SCHEMES = frozenset({"http", "https"})


def allowed_scheme(url: str) -> bool:
    """True for http(s) URLs (javascript:, file:, data:, ftp: and relative junk are not)."""
    try:
        return urlsplit(url.strip()).scheme.lower() in ALLOWED_SCHEMES
    except ValueError:
        return False


def set_host_delay(crawler: Crawler, request: Request, delay: float) -> None:
    """Raise the delay floor of the request's download slot (existing and future slots)."""
    downloader = crawler.engine.downloader if crawler.engine else None
    if downloader is None:
        return
    key = downloader.get_slot_key(request)
    slot_settings = downloader.per_slot_settings.setdefault(key, {})
    slot_settings["delay"] = max(float(slot_settings.get("delay", 0.0)), delay)
    slot_settings["jitter"] = 0.0
    slot = downloader.slots.get(key)
    if slot is not None:
        slot.delay = max(slot.delay, delay)
        slot.jitter = 0.0


def host_delay_floor(crawler: Crawler, key: str | None) -> float:
    """The Crawl-delay/Retry-After floor recorded for a slot key (0 when none)."""
    if key is None or crawler.engine is None:
        return 0.0
    return float(crawler.engine.downloader.per_slot_settings.get(key, {}).get("delay", 0.0))


class AddressGuardMiddleware:
    """Downloader middleware: scheme allowlist, IP-literal guard, per-host budget."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.budget = crawler.settings.getint("RADAR_DOMAIN_BUDGET", 200)
        self.counts: Counter[str] = Counter()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        parts = urlparse_cached(request)
        if parts.scheme.lower() not in ALLOWED_SCHEMES:
            self.crawler.stats.inc_value("radar/guard/scheme_blocked")
            raise IgnoreRequest(f"scheme {parts.scheme!r} not allowed (http/https only)")
        if parts.username is not None or "@" in parts.netloc:
            raise IgnoreRequest("user-info in URL not allowed")
        host = parts.hostname or ""
        try:
            check_host(host)
        except AddressBlocked as exc:
            self.crawler.stats.inc_value("radar/guard/address_blocked")
            logger.warning("blocked %s: %s", request.url, exc)
            raise IgnoreRequest(str(exc)) from None
        if request.meta.get("radar_no_budget"):
            return  # an API with its own per-run cap (GitHub REST)
        self.counts[host] += 1
        if self.counts[host] > self.budget:
            self.crawler.stats.inc_value("radar/guard/budget_exhausted")
            raise IgnoreRequest(f"budget exhausted for host {host} ({self.budget} requests)")


class _DisallowAll:
    """A robots parser that refuses every URL (robots.txt 5xx or unreachable)."""

    def __init__(self, reason: str):
        self.reason = reason

    def allowed(self, url: str, user_agent: Any) -> bool:
        return False


class StrictRobotsTxtMiddleware(RobotsTxtMiddleware):
    """robots.txt per RFC 9309: 5xx/unreachable = disallow for this run; Crawl-delay kept."""

    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        self.max_crawl_delay = crawler.settings.getfloat("RADAR_CRAWL_DELAY_MAX", 120.0)

    def process_request_2(self, rp: Any, request: Request) -> None:
        if isinstance(rp, _DisallowAll):
            self._stats.inc_value("robotstxt/forbidden")
            raise IgnoreRequest(rp.reason)
        super().process_request_2(rp, request)
        if rp is not None:
            self._apply_crawl_delay(rp, request)

    def _apply_crawl_delay(self, rp: Any, request: Request) -> None:
        useragent = self._robotstxt_useragent or self._default_useragent
        try:
            delay = rp.crawl_delay(useragent)
        except (AttributeError, TypeError, ValueError):
            return
        if delay:
            delay = min(float(delay), self.max_crawl_delay)
            set_host_delay(self.crawler, request, delay)

    async def robot_parser(self, request: Request) -> Any:
        url = urlparse_cached(request)
        netloc = url.netloc
        if netloc not in self._parsers:
            self._parsers[netloc] = Deferred()
            robotsreq = Request(
                f"{url.scheme}://{netloc}/robots.txt",
                priority=self.DOWNLOAD_PRIORITY,
                meta={"dont_obey_robotstxt": True},
                callback=NO_CALLBACK,
            )
            try:
                resp = await self.crawler.engine.download_async(robotsreq)
            except Exception as exc:  # unreachable: DNS, refused, timeout, guard
                why = blocked_reason(url.hostname) or _short(exc)
                self._set_parser(
                    netloc, _DisallowAll(f"robots.txt unreachable ({why}): host disallowed")
                )
                logger.warning("robots.txt of %s unreachable (%s): disallowed", netloc, why)
            else:
                if resp.status >= 500:
                    self._set_parser(
                        netloc,
                        _DisallowAll(f"robots.txt answered HTTP {resp.status}: host disallowed"),
                    )
                    logger.warning(
                        "robots.txt of %s answered %d: host disallowed for this run",
                        netloc,
                        resp.status,
                    )
                elif resp.status >= 400:
                    self._set_parser(netloc, None)  # 4xx: no rules, allow all (RFC 9309)
                else:
                    await self._parse_robots(resp, netloc, request)
            self._stats.inc_value("robotstxt/request_count")
        parser = self._parsers[netloc]
        if isinstance(parser, Deferred):
            from scrapy.utils.defer import maybe_deferred_to_future

            return await maybe_deferred_to_future(parser)
        return parser

    def _set_parser(self, netloc: str, parser: Any) -> None:
        dfd = self._parsers[netloc]
        self._parsers[netloc] = parser
        if isinstance(dfd, Deferred):
            dfd.callback(parser)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def parse_retry_after(value: bytes | str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    value = value.strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():  # not "³": float() refuses it
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class RetryAfterMiddleware:
    """429/503 + Retry-After: back the host off and retry once, or drop it for the night."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.max_wait = crawler.settings.getfloat("RADAR_RETRY_AFTER_MAX", 300.0)
        self.dropped: dict[str, str] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RetryAfterMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        host = urlparse_cached(request).hostname or ""
        if host in self.dropped:
            raise IgnoreRequest(self.dropped[host])

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        if response.status not in (429, 503):
            return response
        wait = parse_retry_after(response.headers.get(b"Retry-After"))
        if wait is None:
            return response
        host = urlparse_cached(request).hostname or ""
        if wait > self.max_wait or request.meta.get("radar_retry_after_done"):
            reason = (
                f"HTTP {response.status} Retry-After {wait:.0f}s: host {host} dropped for this run"
            )
            self.dropped[host] = reason
            logger.warning("%s", reason)
            self.crawler.stats.inc_value("radar/retry_after/dropped")
            return response
        logger.info("HTTP %d from %s: backing off %.0fs (Retry-After)", response.status, host, wait)
        self.crawler.stats.inc_value("radar/retry_after/backoff")
        set_host_delay(self.crawler, request, wait)
        retry = request.replace(dont_filter=True)
        retry.meta["radar_retry_after_done"] = True
        return retry


class SchemeFilterSpiderMiddleware:
    """Spider middleware: requests with a non-http(s) URL never reach the scheduler."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SchemeFilterSpiderMiddleware:
        return cls(crawler)

    def _keep(self, obj: Any) -> bool:
        if isinstance(obj, Request) and not allowed_scheme(obj.url):
            logger.info("dropped request with disallowed scheme: %.200s", obj.url)
            self.crawler.stats.inc_value("radar/guard/scheme_blocked")
            return False
        return True

    def process_spider_output(
        self, response: Response | None, result: Iterable[Any], spider: Spider | None = None
    ) -> Iterable[Any]:
        return (obj for obj in result if self._keep(obj))

    async def process_spider_output_async(
        self, response: Response | None, result: AsyncIterator[Any], spider: Spider | None = None
    ) -> AsyncIterator[Any]:
        async for obj in result:
            if self._keep(obj):
                yield obj


class PoliteThrottle(AutoThrottle):
    """AutoThrottle that keeps each host's delay at or above its Crawl-delay floor."""

    def _response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        super()._response_downloaded(response, request, spider)
        key, slot = self._get_slot(request, spider)
        if slot is not None:
            slot.delay = max(slot.delay, host_delay_floor(self.crawler, key))
