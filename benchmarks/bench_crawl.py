"""Crawl efficiency: our crawl versus plain Scrapy and a bare aiohttp client, same replay.

The replay site (generated, deterministic): 5,000 small article pages (title, canonical,
meta description and date, ~21 links) and 500 feeds of 20 entries, one host, served from
memory by benchmarks/_static_server.py in its own process (keep-alive, µs per response).

Configurations, each a fresh child process, interleaved, same URL list, same concurrency
(16 requests, 16 per host):

- ``ours``: the real `crawl` command (``crawler.cli.main``, in the child process so that
  its imports stay outside the timed section) with ``--no-ingest`` over a sources file with
  one ``page`` source per article and one ``feed`` source per feed: our settings,
  middlewares, spider, parsers, pipelines and raw JSONL writer. The politeness limits are
  lifted for the benchmark only by the loopback/test environment variables of
  crawler/settings.py (docs/OPERATIONS.md): RADAR_CONCURRENCY_PER_HOST,
  RADAR_DOMAIN_BUDGET, RADAR_AUTOTHROTTLE=0, RADAR_DOWNLOAD_DELAY=0. The same child then
  runs `crawl ingest` on that run's raw file into a new DuckDB store and reports its CPU
  time apart (benchmark 3 is the one about ingest);
- ``scrapy tuned``: a plain Scrapy spider (title, links, canonical per page; fastfeedparser
  per feed; one item per response) with CONCURRENT_ITEMS=1, cookies and telnet off,
  LOG_LEVEL=INFO: the baseline of the target (≥ 0.8× its pages per CPU second);
- ``scrapy defaults``: the same spider with Scrapy's default settings (concurrency aside);
- ``aiohttp+lxml``: asyncio + aiohttp + lxml (fastfeedparser for feeds): the ceiling.

CPU time is measured inside each child around the crawl only (imports excluded). The
socket guard (RADAR_SOCKET_GUARD=1) keeps our crawl on loopback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common as c
import _corpus

CONCURRENCY = 16
# Our crawl's politeness limits, lifted through the environment (loopback/test only).
OURS_ENV = {
    "RADAR_ALLOW_HOSTS": "127.0.0.1",
    "RADAR_SOCKET_GUARD": "1",
    "RADAR_DOWNLOAD_DELAY": "0",
    "RADAR_CONCURRENCY_PER_HOST": str(CONCURRENCY),
    "RADAR_DOMAIN_BUDGET": str(10**9),
    "RADAR_AUTOTHROTTLE": "0",
}
# Imported before the timed section in every child (see _common.warm_imports), plus every
# component module Scrapy's default settings name (loaded when a crawler starts).
WARM = (
    "protego",
    "scrapy.robotstxt",
    "scrapy.pipelines",
    "scrapy.core.scraper",
    "scrapy.core.engine",
    "scrapy.core.scheduler",
    "scrapy.dupefilters",
    "scrapy.squeues",
    "scrapy.statscollectors",
    "scrapy.logformatter",
    "scrapy.spiderloader",
    "scrapy.core.downloader.contextfactory",
    "scrapy.core.downloader.tls",
    "scrapy.resolver",
    "scrapy.utils.asyncio",
    "aiohttp",
    "scrapy.crawler",
    "scrapy.http",
    "scrapy.selector",
    "parsel",
    "lxml.html",
    "fastfeedparser",
    "twisted.internet.asyncioreactor",
    "scrapy.core.downloader.handlers.http11",
    "scrapy.core.downloader.handlers.http2",
    "scrapy.extensions.telnet",
    "scrapy.extensions.memusage",
    "scrapy.downloadermiddlewares.httpcompression",
)
OURS = "ours (`crawl` command, limits lifted by env)"
TUNED = {
    "CONCURRENT_ITEMS": 1,
    "COOKIES_ENABLED": False,
    "TELNETCONSOLE_ENABLED": False,
    "LOG_LEVEL": "INFO",
}


def build_site(root: Path, pages: int, feeds: int) -> None:
    (root / "a").mkdir(parents=True, exist_ok=True)
    (root / "f").mkdir(parents=True, exist_ok=True)
    for i in range(pages):
        (root / "a" / f"{i}.html").write_bytes(_corpus.make_page(i, "", pages))
    for j in range(feeds):
        body = _corpus.make_feed(50_000 + j, entries=20, target_kb=16)
        (root / "f" / f"{j}.xml").write_bytes(body)
    (root / "robots.txt").write_text("User-agent: *\nAllow: /\n")


def url_list(base: str, pages: int, feeds: int) -> list[str]:
    urls = [f"{base}/a/{i}.html" for i in range(pages)]
    urls += [f"{base}/f/{j}.xml" for j in range(feeds)]
    # interleave feeds among pages, as a real source list mixes them
    step = max(1, len(urls) // max(feeds, 1))
    pages_only, feeds_only = urls[:pages], urls[pages:]
    out: list[str] = []
    for k, u in enumerate(pages_only):
        out.append(u)
        if k % step == 0 and feeds_only:
            out.append(feeds_only.pop())
    return out + feeds_only


def sources_toml(urls: list[str]) -> str:
    lines = []
    for k, u in enumerate(urls):
        kind = "feed" if u.endswith(".xml") else "page"
        lines.append(f'[[source]]\nname = "s{k}"\nkind = "{kind}"\nurl = "{u}"\n')
    return "\n".join(lines)


# --- children ------------------------------------------------------------------------------


def child_ours(sources_file: str, workdir: str) -> None:
    from crawler import cli, settings
    from crawler.runstate import PSEUDO_SOURCES

    if settings.CONCURRENT_REQUESTS != CONCURRENCY or (
        settings.CONCURRENT_REQUESTS_PER_DOMAIN != CONCURRENCY
    ):
        raise SystemExit(f"our crawl does not run at concurrency {CONCURRENCY} per host")
    c.warm_imports(
        *WARM,
        *_scrapy_components(),
        "crawler.runner",
        "crawler.spiders.radar",
        "crawler.parsers",
        "crawler.pipelines",
        "crawler.middlewares",
        "trafilatura",
        "feedparser",
        "chardet",
    )
    data = Path(workdir) / f"data-{os.getpid()}"
    argv = ["--sources", sources_file, "--data-dir", str(data), "--progress", "never"]
    with c.Clock() as clock:
        code = cli.main([*argv, "--no-ingest"])
    crawl_rss = c.peak_rss_mb()
    records = [r for r in cli.read_fetch_records(data / "raw") if r["source"] not in PSEUDO_SOURCES]
    failed = [f"{r['source']}: {r.get('error')}" for r in records if r["status"] != "ok"][:3]
    raw_bytes = sum(f.stat().st_size for f in (data / "raw").glob("*.jsonl"))
    # Then what `crawl` does next: the ingest of that raw file (timed apart).
    c.warm_imports("ranking.store", "duckdb", "pyarrow", "pandas")
    with c.Clock() as ingest:
        ingest_code = cli.main(
            ["ingest", "--data-dir", str(data), "--db", str(data / "radar.duckdb")]
        )
    c.child_result(
        cpu_s=clock.cpu, wall_s=clock.wall, exit_code=code, pages=sum(r["status"] == "ok" for r in records),
        items=sum(int(r.get("items") or 0) for r in records), failed=failed, raw_bytes=raw_bytes,
        maxrss_mb=crawl_rss, ingest_cpu_s=ingest.cpu, ingest_wall_s=ingest.wall,
        ingest_exit_code=ingest_code,
    )  # fmt: skip


def _scrapy_components() -> list[str]:
    from scrapy.settings import default_settings as d

    names: set[str] = set()
    for attr in ("DOWNLOADER_MIDDLEWARES_BASE", "SPIDER_MIDDLEWARES_BASE", "EXTENSIONS_BASE"):
        names.update(getattr(d, attr, {}))
    names.update(v for v in getattr(d, "DOWNLOAD_HANDLERS_BASE", {}).values() if v)
    return sorted({n.rsplit(".", 1)[0] for n in names if isinstance(n, str)})


def child_scrapy(urls_file: str, tuned: bool) -> None:
    import fastfeedparser
    import scrapy
    from scrapy.crawler import CrawlerProcess

    c.warm_imports(*WARM, *_scrapy_components())
    urls = json.loads(Path(urls_file).read_text())
    counts = {"pages": 0, "items": 0}

    class PlainSpider(scrapy.Spider):
        name = "plain"

        async def start(self) -> Any:
            for u in urls:
                yield scrapy.Request(u, callback=self.parse)

        def parse(self, response: Any) -> Any:
            counts["pages"] += 1
            if response.url.endswith(".xml"):
                d = fastfeedparser.parse(response.body)
                counts["items"] += len(d.entries)
                yield {"url": response.url, "entries": [e.get("link") for e in d.entries]}
                return
            counts["items"] += 1
            yield {
                "url": response.url,
                "title": response.css("title::text").get(),
                "canonical": response.css('link[rel="canonical"]::attr(href)').get(),
                "links": response.css("a::attr(href)").getall(),
            }

    settings = {
        "CONCURRENT_REQUESTS": CONCURRENCY,
        "CONCURRENT_REQUESTS_PER_DOMAIN": CONCURRENCY,
        **(TUNED if tuned else {}),
    }
    process = CrawlerProcess(settings)
    process.crawl(PlainSpider)
    with c.Clock() as clock:
        process.start()
    c.child_result(cpu_s=clock.cpu, wall_s=clock.wall, **counts)


def child_aiohttp(urls_file: str) -> None:
    import asyncio

    import aiohttp
    import fastfeedparser
    import lxml.html

    c.warm_imports("aiohttp.client", "aiohttp.connector", "lxml.etree")

    urls = json.loads(Path(urls_file).read_text())
    counts = {"pages": 0, "items": 0}

    async def worker(session: aiohttp.ClientSession, queue: asyncio.Queue) -> None:
        while True:
            try:
                u = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            async with session.get(u) as resp:
                body = await resp.read()
            counts["pages"] += 1
            if u.endswith(".xml"):
                counts["items"] += len(fastfeedparser.parse(body).entries)
                continue
            doc = lxml.html.fromstring(body)
            _title = doc.findtext(".//title")
            _canon = doc.xpath('//link[@rel="canonical"]/@href')
            _links = doc.xpath("//a/@href")
            counts["items"] += 1

    async def run() -> None:
        queue: asyncio.Queue = asyncio.Queue()
        for u in urls:
            queue.put_nowait(u)
        conn = aiohttp.TCPConnector(limit=CONCURRENCY, limit_per_host=CONCURRENCY)
        async with aiohttp.ClientSession(connector=conn) as session:
            await asyncio.gather(*(worker(session, queue) for _ in range(CONCURRENCY)))

    with c.Clock() as clock:
        asyncio.run(run())
    c.child_result(cpu_s=clock.cpu, wall_s=clock.wall, **counts)


# --- parent --------------------------------------------------------------------------------


class Server:
    def __init__(self, root: Path):
        self.proc = subprocess.Popen(
            [c.PY, str(c.BENCH_DIR / "_static_server.py"), str(root)],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("READY "):
            raise c.ChildFailed(f"static server did not start: {line!r}")
        self.base = f"http://127.0.0.1:{int(line.split()[1])}"

    def stop(self) -> tuple[int, float]:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        for line in out.splitlines():
            if line.startswith("SERVED "):
                _, n, cpu = line.split()
                return int(n), float(cpu)
        return 0, 0.0


def main() -> int:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument(
        "--child", choices=("ours", "tuned", "defaults", "aiohttp"), help=c.argparse_hidden()
    )
    p.add_argument("--urls", help=c.argparse_hidden())
    p.add_argument("--workdir", help=c.argparse_hidden())
    p.add_argument("--pages", type=int, help="article pages (default 5000; 200 with --quick)")
    p.add_argument("--feeds", type=int, help="feeds of 20 entries (default 500; 20 with --quick)")
    args = p.parse_args()
    if args.child == "ours":
        child_ours(args.urls, args.workdir)
        return 0
    if args.child in ("tuned", "defaults"):
        child_scrapy(args.urls, args.child == "tuned")
        return 0
    if args.child == "aiohttp":
        child_aiohttp(args.urls)
        return 0
    repeats = c.repeats_of(args)
    pages = args.pages or (200 if args.quick else 5000)
    feeds = args.feeds if args.feeds is not None else (20 if args.quick else 500)
    report = c.Report(
        "crawl", "1. Crawl efficiency", c.command_line("bench_crawl.py", args), args.quick
    )
    script = str(Path(__file__).resolve())
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp:
        site = Path(tmp) / "site"
        build_site(site, pages, feeds)
        server = Server(site)
        try:
            urls = url_list(server.base, pages, feeds)
            urls_json = Path(tmp) / "urls.json"
            urls_json.write_text(json.dumps(urls))
            toml = Path(tmp) / "sources.toml"
            toml.write_text(sources_toml(urls))
            timeout = 1800
            configs = {
                OURS: lambda: c.run_child(
                    [script, "--child", "ours", "--urls", str(toml), "--workdir", tmp],
                    env=OURS_ENV, timeout=timeout,
                ),
                "plain Scrapy, tuned": lambda: c.run_child(
                    [script, "--child", "tuned", "--urls", str(urls_json)], timeout=timeout
                ),
                "plain Scrapy, defaults": lambda: c.run_child(
                    [script, "--child", "defaults", "--urls", str(urls_json)], timeout=timeout
                ),
                "aiohttp + lxml (ceiling)": lambda: c.run_child(
                    [script, "--child", "aiohttp", "--urls", str(urls_json)], timeout=timeout
                ),
            }  # fmt: skip
            started = time.perf_counter()
            runs = c.interleave(configs, repeats)
            elapsed = time.perf_counter() - started
        finally:
            served, server_cpu = server.stop()
    n = len(urls)
    tuned = runs["plain Scrapy, tuned"]
    base_pps = n / c.med(tuned, "cpu_s")
    ceiling_pps = n / c.med(runs["aiohttp + lxml (ceiling)"], "cpu_s")
    rows = []
    for name, rs in runs.items():
        cpu, wall = c.med(rs, "cpu_s"), c.med(rs, "wall_s")
        fetched = int(c.med(rs, "pages"))
        rows.append(
            (
                name,
                fetched,
                n / wall,
                cpu * 1000 / n,
                n / cpu,
                (n / cpu) / base_pps,
                (n / cpu) / ceiling_pps,
                c.med(rs, "maxrss_mb"),
            )
        )
    report.table(
        f"{pages:,} pages + {feeds:,} feeds (20 entries) on one loopback host, concurrency "
        f"{CONCURRENCY}; medians of {repeats} interleaved runs, fresh process each.",
        ("crawler", "responses", "pages/s (wall)", "CPU ms/page", "pages per CPU s",
         "× Scrapy tuned", "× aiohttp+lxml", "peak RSS MiB"),
        rows,
    )  # fmt: skip
    report.notes.append(
        f"static server: {served:,} responses, {server_cpu * 1e6 / max(served, 1):.0f} µs CPU "
        f"per response over the whole run ({elapsed:,.0f} s): not the bottleneck"
    )
    ours = runs[OURS]
    report.notes.append(
        f"ours, then `crawl ingest` of the same raw file into a new store (not part of the "
        f"target; benchmark 3 is about ingest): {c.med(ours, 'ingest_cpu_s') * 1000 / n:.2f} "
        f"CPU ms per page, {c.med(ours, 'ingest_wall_s'):.1f} s wall for "
        f"{int(c.med(ours, 'items')):,} candidates"
    )
    for run in ours:
        if run.get("failed") or run.get("exit_code") or run.get("ingest_exit_code"):
            report.notes.append(
                f"ours: crawl exit {run.get('exit_code')}, ingest exit "
                f"{run.get('ingest_exit_code')}; sources not ok, e.g. {run.get('failed')}"
            )
            break
    ratio = (n / c.med(ours, "cpu_s")) / base_pps
    report.targets.append(
        c.Target(
            "crawl pages per CPU second vs plain Scrapy (tuned)",
            "≥ 0.8×",
            f"{ratio:.2f}×",
            ratio >= 0.8 if not args.quick else None,
        )
    )
    dflt = (n / c.med(ours, "cpu_s")) / (n / c.med(runs["plain Scrapy, defaults"], "cpu_s"))
    report.targets.append(
        c.Target(
            "crawl vs plain Scrapy with default settings (anchor C1)",
            "≥ 1.4×",
            f"{dflt:.2f}×",
            dflt >= 1.4 if not args.quick else None,
        )
    )
    report.data["runs"] = runs
    report.emit(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
