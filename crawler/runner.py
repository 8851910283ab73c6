"""Run one crawl in-process: the lock, Scrapy's CrawlerProcess, per-source outcomes.

`crawl` (crawler.cli) is a thin shell around `acquire_lock` and `run_crawl`. Scrapy's
own exit status is never used: the outcome of a run is the list of per-source results
that the spider and pipelines record in the RunContext, plus whether a signal cut it short.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from crawler.errors import CrawlError
from crawler.runstate import RunContext, SourceOutcome

logger = logging.getLogger(__name__)

LOCK_FILE = "crawl.lock"


class AlreadyRunning(CrawlError):
    """Another crawl holds the lock (exit 75)."""

    def __init__(self, pid: str | None, path: Path):
        self.pid = pid
        self.path = path
        who = f"PID {pid}" if pid else "another process"
        super().__init__(f"another crawl is already running ({who}, lock {path})")


@dataclass
class CrawlLock:
    """An flock held on ``data/crawl.lock`` (or a backtest's ``--out/.backtest.lock``) for
    the life of the process (or until release)."""

    path: Path
    handle: IO[str]

    def release(self) -> None:
        try:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
        finally:
            self.handle.close()


def acquire_lock(data_dir: Path, name: str = LOCK_FILE) -> CrawlLock:
    """Take the crawl lock (or the lock file `name` of `data_dir`) without waiting;
    AlreadyRunning names the holder's PID.

    flock dies with its process, so a lock file left by ``kill -9`` (stale PID inside)
    is simply taken over; the file stays after a run.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / name
    handle = path.open("a+", encoding="ascii")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            handle.close()
            raise
        handle.seek(0)
        pid = handle.read().strip() or None
        handle.close()
        raise AlreadyRunning(pid, path) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return CrawlLock(path, handle)


def scrapy_settings(overrides: dict[str, Any] | None = None) -> Any:
    """The project's Scrapy settings (crawler.settings) plus `overrides`."""
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    if overrides:
        settings.setdict(overrides, priority="cmdline")
    return settings


@dataclass
class CrawlResult:
    outcomes: list[SourceOutcome]  # one per configured source
    interrupted: int | None = None  # the signal (SIGINT, SIGTERM) that stopped it early
    not_sent: dict[str, int] = field(default_factory=dict)  # per source: requests dropped


def run_crawl(
    ctx: RunContext,
    *,
    overrides: dict[str, Any] | None = None,
    install_root_handler: bool = True,
    on_source_done: Callable[[SourceOutcome], None] | None = None,
    on_interrupt: Callable[[int], None] | None = None,
) -> CrawlResult:
    """Crawl `ctx.sources` in this process (one CrawlerProcess per process).

    Writes the raw file as it goes and returns the outcome of every configured source. On
    a first SIGINT/SIGTERM, `on_interrupt(signum)` is called at once; the crawl finishes
    what is in flight and drops what is queued (counted per source in `not_sent`).
    """
    from crawler.shutdown import CountingScheduler, InterruptibleProcess, not_sent
    from crawler.spiders.radar import RadarSpider

    if on_source_done is not None:
        ctx.listeners.append(on_source_done)
    settings = scrapy_settings(
        {
            **(overrides or {}),
            "LOG_INSTALL_ROOT_HANDLER": install_root_handler,
            "SCHEDULER": CountingScheduler,
        }
    )
    result = CrawlResult([])
    ctx.open()
    try:
        if ctx.sources:
            process = InterruptibleProcess(settings, on_interrupt)
            crawler = process.create_crawler(RadarSpider)
            process.crawl(crawler, ctx=ctx)
            process.start()
            result.interrupted = process.interrupted
            result.not_sent = not_sent(crawler.stats.get_stats())
    finally:
        ctx.close()
    result.outcomes = [ctx.outcomes[s.name] for s in ctx.sources]
    return result
