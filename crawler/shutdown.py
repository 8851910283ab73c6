"""A crawl stopped by Ctrl-C or SIGTERM: who noticed the signal, what it cut short.

On the first signal Scrapy stops gracefully: it finishes the requests in flight and drops
the ones still queued (a source's follow-up pages, GitHub metadata, article pages). Its
own message is an INFO line the `crawl` command does not show, so `InterruptibleProcess`
tells the caller at once, and `CountingScheduler` counts per source what was dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scrapy.core.scheduler import Scheduler
from scrapy.crawler import CrawlerProcess

NOT_SENT_STAT = "radar/not_sent/"  # + source name: requests still queued when the crawl stopped


class InterruptibleProcess(CrawlerProcess):
    """A CrawlerProcess that remembers the first SIGINT/SIGTERM (`interrupted`) and calls
    `on_interrupt(signum)` from the reactor right away (not inside the signal handler,
    where writing to a stream can fail). A second signal still stops at once (Scrapy)."""

    def __init__(self, settings: Any, on_interrupt: Callable[[int], None] | None = None):
        super().__init__(settings)
        self.interrupted: int | None = None
        self._on_interrupt = on_interrupt

    def _signal_shutdown(self, signum: int, frame: Any) -> None:
        from twisted.internet import reactor

        self.interrupted = signum
        if self._on_interrupt is not None:
            reactor.callFromThread(self._on_interrupt, signum)
        super()._signal_shutdown(signum, frame)


class CountingScheduler(Scheduler):
    """Scrapy's scheduler; at close, the requests still queued (a graceful stop drops them)
    are counted in the stats per source, as NOT_SENT_STAT + the request's radar_source."""

    def close(self, reason: str) -> Any:
        assert self.stats is not None
        for _ in range(len(self)):
            request = self.next_request()
            if request is None:
                break
            self.stats.inc_value(NOT_SENT_STAT + str(request.meta.get("radar_source", "?")))
        return super().close(reason)


def not_sent(stats: dict[str, Any]) -> dict[str, int]:
    """Per source, the requests a stopped crawl never sent (from the crawler's stats)."""
    return {
        key.removeprefix(NOT_SENT_STAT): int(value)
        for key, value in stats.items()
        if key.startswith(NOT_SENT_STAT)
    }
