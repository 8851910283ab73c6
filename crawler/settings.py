"""Scrapy settings for the nightly crawl: polite and safe by default.

Loaded by `scrapy.cfg` (``scrapy crawl radar`` from the checkout) and by
``crawler.runner`` (the `crawl` command), which passes them to one in-process
CrawlerProcess. The address guard's resolver is a *process-level* setting
(``TWISTED_DNS_RESOLVER``): set through a spider's ``custom_settings`` it is never
called, so it lives here and nowhere else.

Environment (read at import): RADAR_USER_AGENT (the User-Agent), RADAR_GITHUB_API (the
GitHub REST base URL; tests point it at the replay server), RADAR_GITHUB_MAX_REQUESTS and
RADAR_MAX_PAGES (per-run caps). For tests, benchmarks and the demo on loopback only:
RADAR_DOWNLOAD_DELAY, RADAR_DOWNLOAD_TIMEOUT, RADAR_CONCURRENCY_PER_HOST,
RADAR_DOMAIN_BUDGET and RADAR_AUTOTHROTTLE=0; RADAR_ALLOW_HOSTS is read by crawler.guard.
A bad value raises ConfigError at import; `crawl` reports it as one line and exits 2
before anything is fetched.
"""

from __future__ import annotations

import math
import os

from crawler.errors import ConfigError


def _bad_env(name: str, raw: str, expected: str) -> ConfigError:
    return ConfigError(f"environment variable {name}={raw!r}: expected {expected}")


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    """A number from env `name` (unset or empty: `default`); a bad one raises ConfigError."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= minimum):
        raise _bad_env(name, raw, f"a number >= {minimum:g}")
    return value


def env_int(name: str, default: int, minimum: int = 0) -> int:
    """A whole number from env `name` (unset or empty: `default`); a bad one raises ConfigError."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdecimal() or int(raw) < minimum:
        raise _bad_env(name, raw, f"a whole number >= {minimum}")
    return int(raw)


def env_switch(name: str, default: bool) -> bool:
    """``1`` or ``0`` from env `name` (unset or empty: `default`); anything else raises ConfigError."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if raw not in ("0", "1"):
        raise _bad_env(name, raw, "0 or 1")
    return raw == "1"


BOT_NAME = "weekly-radar"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

CONTACT_URL = "https://github.com/python-trending-weekly/weekly-radar"
DEFAULT_USER_AGENT = (
    f"WeeklyRadar/0.1 (+{CONTACT_URL}; link discovery for the Python Trending Weekly newsletter)"
)
USER_AGENT = os.environ.get("RADAR_USER_AGENT") or DEFAULT_USER_AGENT

# --- politeness --------------------------------------------------------------------------
# The RADAR_* overrides below exist for tests, benchmarks and the demo on loopback only
# (docs/OPERATIONS.md): the nightly job never sets them.
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS_PER_DOMAIN = env_int("RADAR_CONCURRENCY_PER_HOST", 2, minimum=1)
CONCURRENT_REQUESTS = max(16, CONCURRENT_REQUESTS_PER_DOMAIN)
# Floor between requests to one host; Crawl-delay and Retry-After raise it per host.
DOWNLOAD_DELAY = env_float("RADAR_DOWNLOAD_DELAY", 1.0)
# RADAR_AUTOTHROTTLE=0 turns off PoliteThrottle (an AutoThrottle); Crawl-delay and Retry-After
# still set each host's delay floor.
AUTOTHROTTLE_ENABLED = env_switch("RADAR_AUTOTHROTTLE", True)
AUTOTHROTTLE_START_DELAY = DOWNLOAD_DELAY
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
# Retry-After above this many seconds drops the host for the rest of the run.
RADAR_RETRY_AFTER_MAX = 300.0
# Crawl-delay values above this are capped (a robots.txt saying 86400 would stall the night).
RADAR_CRAWL_DELAY_MAX = 120.0

# --- safety --------------------------------------------------------------------------------
# Only http/https: no file://, data:, ftp:// or s3:// handler exists at all.
DOWNLOAD_HANDLERS = {"file": None, "data": None, "ftp": None, "s3": None}
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024  # decompressed cap (gzip bombs stop here)
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
RADAR_PAGE_MAXSIZE = 3 * 1024 * 1024  # article pages: set per request via meta
DOWNLOAD_TIMEOUT = env_float("RADAR_DOWNLOAD_TIMEOUT", 30.0, minimum=0.1)
RETRY_ENABLED = True
RETRY_TIMES = 1
# 429/503 are handled by RetryAfterMiddleware (Retry-After), not blindly retried.
RETRY_HTTP_CODES = [500, 502, 504, 522, 524, 408]
REDIRECT_MAX_TIMES = 10
METAREFRESH_ENABLED = False
URLLENGTH_LIMIT = 2083
# source -> (a sitemap source: its child sitemaps, radar.MAX_SITEMAP_DEPTH = 2 levels) ->
# repository metadata / article page; never deeper
DEPTH_LIMIT = 3
# Requests per host and run ("budget exhausted" after that).
RADAR_DOMAIN_BUDGET = env_int("RADAR_DOMAIN_BUDGET", 200, minimum=1)
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False  # no control endpoint of any kind on the nightly job
# TLS (RELIABILITY F17): certificates are not verified (Scrapy's default). We only read
# public pages and never send credentials except the optional GITHUB_TOKEN to
# api.github.com; many small blogs have broken chains. This comment is the decision record.
TWISTED_DNS_RESOLVER = "crawler.guard.GuardedResolver"
DNSCACHE_ENABLED = True
DNS_TIMEOUT = 20

# --- throughput (PERFORMANCE.md) --------------------------------------------------------
CONCURRENT_ITEMS = 1
# Scrapy re-reads a callback's source on every response to warn about generator return
# values (its cache misses for bound methods): ~1 ms CPU per page for a warning we never need.
WARN_ON_GENERATOR_RETURN_VALUE = False
LOG_LEVEL = "INFO"
REACTOR_THREADPOOL_MAXSIZE = 10

DOWNLOADER_MIDDLEWARES = {
    # Scheme allowlist, IP-literal address guard and per-host budget: before everything.
    "crawler.middlewares.AddressGuardMiddleware": 40,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.middlewares.StrictRobotsTxtMiddleware": 100,
    # process_response runs high-to-low: this sees 429/503 before RetryMiddleware (550).
    "crawler.middlewares.RetryAfterMiddleware": 560,
}
SPIDER_MIDDLEWARES = {
    "crawler.middlewares.SchemeFilterSpiderMiddleware": 10,
}
EXTENSIONS = {
    "scrapy.extensions.throttle.AutoThrottle": None,
    "crawler.middlewares.PoliteThrottle": 0,
}
ITEM_PIPELINES = {
    "crawler.pipelines.CleanPipeline": 100,
    "crawler.pipelines.DedupPipeline": 200,
    "crawler.pipelines.RawWriterPipeline": 900,
}

# --- the crawl's own knobs (env overrides, read by the spider) ---------------------------
RADAR_GITHUB_API = os.environ.get("RADAR_GITHUB_API") or "https://api.github.com"
# The unauthenticated limit is 60/h; 1000 with GITHUB_TOKEN. The variable sets the cap
# either way.
RADAR_GITHUB_MAX_REQUESTS = env_int("RADAR_GITHUB_MAX_REQUESTS", 50)
RADAR_GITHUB_MAX_REQUESTS_TOKEN = env_int("RADAR_GITHUB_MAX_REQUESTS", 1000)
# Article pages fetched per run (metadata of aggregator links).
RADAR_MAX_PAGES = env_int("RADAR_MAX_PAGES", 30)
RADAR_MAX_PAGES_PER_HOST = 3
RADAR_MAX_NEW_ITEMS = 30  # flood guard: a new source's first run adds at most this many
