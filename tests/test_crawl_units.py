"""Crawler pieces in-process: Retry-After, schemes, flood guard, state, lock, status, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler import cli
from crawler.items import Candidate
from crawler.middlewares import SchemeFilterSpiderMiddleware, allowed_scheme, parse_retry_after
from crawler.parsers.common import to_int
from crawler.pipelines import clean_candidate
from crawler.runner import AlreadyRunning, acquire_lock
from crawler.runstate import CrawlOptions, CrawlState, RawWriter, RunContext, atomic_write_json
from crawler.sources import Source

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"120", 120.0),
        ("0", 0.0),
        (b"", None),
        (None, None),
        (b"soon", None),
        (b"-5", None),
        ("³", None),
        ("١٢", None),
    ],
)
def test_parse_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    now = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(b"Sat, 21 Nov 2026 12:02:00 GMT", now=now.timestamp()) == 120.0
    assert parse_retry_after(b"Sat, 21 Nov 2026 11:00:00 GMT", now=now.timestamp()) == 0.0


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/a", True),
        ("HTTP://example.com/", True),
        ("javascript:alert(1)", False),
        ("file:///etc/passwd", False),
        ("data:text/html,<script>x</script>", False),
        ("ftp://h/x", False),
        ("/relative/path", False),
        ("http://[::1", False),
    ],
)
def test_scheme_allowlist(url, ok):
    assert allowed_scheme(url) is ok


class _Stats:
    def __init__(self):
        self.values = {}

    def inc_value(self, key, count=1):
        self.values[key] = self.values.get(key, 0) + count


class _Crawler:
    def __init__(self):
        self.stats = _Stats()


def test_scheme_filter_drops_requests_before_scheduling():
    from scrapy import Request

    mw = SchemeFilterSpiderMiddleware(_Crawler())
    file_req = Request("file:///etc/passwd")
    ok_req = Request("https://example.com/")
    out = list(mw.process_spider_output(None, [file_req, ok_req, {"item": 1}]))
    assert out == [ok_req, {"item": 1}]


def test_clean_candidate_validates_and_normalises():
    c = Candidate(
        url="https://Example.com/a/?utm_source=x", title="  Cafe\u0301 \x00 \u202eevil ", source="s"
    )
    assert clean_candidate(c) is None
    assert c.canonical_url == "https://example.com/a"
    assert c.title == "Café evil"
    assert "bidi" in c.extra["title_flags"]
    long = Candidate(url="https://example.com/x", title="x" * 5000, source="s")
    assert clean_candidate(long) is None and len(long.title) <= 1000
    assert clean_candidate(Candidate(url="javascript:alert(1)", title="t", source="s"))
    assert clean_candidate(Candidate(url="https://example.com/", title=" \u200b ", source="s"))
    repo = Candidate(url="https://github.com/Astral-sh/UV/tree/main", title="uv", source="s")
    assert clean_candidate(repo) is None and repo.repo_key == "github.com/astral-sh/uv"


def _ctx(tmp_path, max_new=3):
    src = Source("new-feed", "feed", "https://example.com/feed")
    return RunContext(tmp_path, [src], CrawlOptions(max_new_items=max_new)), src


def _cands(n):
    return [
        Candidate(
            url=f"https://example.com/{i}",
            title=f"t{i}",
            source="new-feed",
            published=f"2026-01-{i + 1:02d}T00:00:00Z",
        )
        for i in range(n)
    ]


def test_flood_guard_first_run_keeps_the_most_recent(tmp_path):
    ctx, src = _ctx(tmp_path)
    items = _cands(10)
    assert ctx.apply_flood_guard(src, items) == 7
    pool = [c.url for c in items if not c.extra.get("history_only")]
    assert pool == ["https://example.com/7", "https://example.com/8", "https://example.com/9"]
    # After a successful first run the history stays history on later runs.
    ctx.open()
    ctx.outcomes["new-feed"].status = "ok"
    ctx.finish("new-feed")
    ctx.close()
    ctx2, _ = _ctx(tmp_path)
    again = [*_cands(10), Candidate(url="https://example.com/new", title="n", source="new-feed")]
    assert ctx2.apply_flood_guard(src, again) == 7
    assert not again[-1].extra.get("history_only")


def test_flood_guard_after_a_sitemaps_first_run_keeps_its_old_posts_history(tmp_path):
    # A child sitemap read for the first time after the first night (it failed, or an
    # index's child moved up): before, all its old posts went to the pool as new.
    def cand(path, days_ago=None):
        when = datetime.now(UTC) - timedelta(days=days_ago) if days_ago is not None else None
        published = when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None
        return Candidate(f"https://blog.example{path}", path, "blog", published=published)

    src = Source("blog", "sitemap", "https://blog.example/robots.txt")
    ctx = RunContext(tmp_path, [src], CrawlOptions(max_new_items=3))
    first = [("/new", 2), ("/old-let-in", 300), ("/older", 400), ("/oldest", 500)]
    assert ctx.apply_flood_guard(src, [cand(*f) for f in first]) == 1  # /oldest: the 4th
    ctx.open()
    ctx.outcomes["blog"].status = "ok"
    ctx.finish("blog")
    ctx.close()
    night2 = [
        *(cand(*f) for f in first),
        cand("/ancient-child-post", 32),  # first seen, over a month before the first run
        cand("/recent-child-post", 30),  # first seen, newer: news
        cand("/undated-child-post"),
    ]
    ctx2 = RunContext(tmp_path, [src], CrawlOptions(max_new_items=3))
    assert ctx2.apply_flood_guard(src, night2) == 2
    history = [c.url.rsplit("/", 1)[1] for c in night2 if c.extra.get("history_only")]
    # The first night's items keep their lot: the old ones let in then are seen, not new.
    assert history == ["oldest", "ancient-child-post"]
    # Other kinds: a later run flags only the first run's history.
    feed = Source("blog", "feed", "https://blog.example/feed")
    again = [cand("/ancient-child-post", 32), cand("/oldest", 500)]
    assert RunContext(tmp_path, [feed], CrawlOptions()).apply_flood_guard(feed, again) == 1


def test_a_raw_file_is_listed_for_ingest_only_once_its_run_closed_it(tmp_path):
    from crawler.runstate import raw_files, recover_partial

    ctx, _ = _ctx(tmp_path)
    raw = tmp_path / "raw"
    ctx.open()
    assert raw_files(raw) == []  # a `rank` during the crawl does not see it
    assert [p.name for p in raw.iterdir()] == [ctx.raw_path.name + ".part"]
    ctx.close()
    assert raw_files(raw) == [ctx.raw_path] and len(list(raw.iterdir())) == 1
    # A run killed while writing leaves its .part; the next holder of the lock renames it.
    killed = raw / "20260101-000000-dead0000.jsonl.part"
    killed.write_text('{"type":"run"}\n', "utf-8")
    assert recover_partial(raw) == [raw / "20260101-000000-dead0000.jsonl"]
    assert raw_files(raw) == [raw / "20260101-000000-dead0000.jsonl", ctx.raw_path]


def test_flood_guard_per_source_option_wins(tmp_path):
    ctx, _ = _ctx(tmp_path, max_new=3)
    src = Source("new-feed", "feed", "https://example.com/feed", options={"max_new_items": 100})
    assert ctx.apply_flood_guard(src, _cands(10)) == 0


def test_crawl_state_roundtrip_and_corrupt_file(tmp_path):
    path = tmp_path / "crawl-state.json"
    state = CrawlState.load(path)
    state.set_validators("https://e.example/feed", '"v1"', "Sat, 01 Nov 2025 00:00:00 GMT")
    state.save()
    again = CrawlState.load(path)
    assert again.validators("https://e.example/feed")["etag"] == '"v1"'
    path.write_text("{ truncated", "utf-8")
    assert CrawlState.load(path).validators("https://e.example/feed") == {}
    atomic_write_json(path, {"validators": {}, "sources": {}})
    assert not list(tmp_path.glob(".crawl-state.json.*"))


def test_raw_writer_lines_are_complete_json(tmp_path):
    writer = RawWriter(tmp_path / "raw" / "x.jsonl")
    writer.write({"type": "candidate", "title": "lone \ud800 surrogate", "n": 1})
    writer.close()
    lines = (tmp_path / "raw" / "x.jsonl").read_text("utf-8").splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["n"] == 1


def test_lock_is_exclusive_and_names_the_pid(tmp_path):
    lock = acquire_lock(tmp_path)
    try:
        with pytest.raises(AlreadyRunning) as info:
            acquire_lock(tmp_path)
        assert info.value.pid == str(__import__("os").getpid())
    finally:
        lock.release()
    acquire_lock(tmp_path).release()  # free again


def test_source_health_flags_failures_and_silence():
    now = datetime(2026, 11, 21, tzinfo=UTC)

    def rec(source, days_ago, status="ok", items=5, error=None):
        ts = (now - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return {
            "type": "fetch",
            "source": source,
            "finished_at": ts,
            "status": status,
            "items": items,
            "error": error,
        }

    records = [
        *(rec("daily", d) for d in (20, 19, 18, 17)),
        *(rec("daily", d, status="not_modified", items=0) for d in range(16, 0, -1)),
        *(rec("healthy", d) for d in (3, 2, 1)),
        rec("broken", 2),
        rec("broken", 1, status="failed", items=0, error="HTTP 500"),
        rec("broken", 0, status="failed", items=0, error="timeout"),
    ]
    rows = {r["source"]: r for r in cli.source_health(records, ["healthy", "never"], now=now)}
    assert rows["daily"]["silent"] is True
    assert rows["daily"]["rate_304"] == 0.8
    assert rows["healthy"]["silent"] is False and rows["healthy"]["items_7d"] == 15
    assert rows["broken"]["consecutive_failures"] == 2
    assert rows["broken"]["last_error"] == "timeout"
    assert rows["never"]["fetches"] == 0


def test_source_health_shows_times_in_utc_and_skips_those_without_one():
    now = datetime(2026, 11, 21, tzinfo=UTC)
    records = [
        {"source": "paris", "finished_at": "2026-11-20T10:30:00+01:00", "status": "ok"},
        {"source": "year1", "finished_at": "0001-01-01T00:00:00+01:00", "status": "ok"},
    ]
    rows = {r["source"]: r for r in cli.source_health(records, [], now=now)}
    assert rows["paris"]["last_success"] == "2026-11-20 09:30"
    assert rows["year1"]["last_success"] is None  # no UTC time: unreadable, as in the store


@pytest.mark.parametrize("argv", [[], ["status"], ["ingest"]])
def test_every_command_has_help_with_examples(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([*argv, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "e.g." in out or "Example" in out
    assert "--data-dir" in out


def test_usage_errors_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--no-such-option"])
    assert info.value.code == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('[[source]]\nname = "x"\nkind = "rss"\nurl = "https://e.example/"\n', "utf-8")
    assert cli.main(["--sources", str(bad), "--data-dir", str(tmp_path)]) == 2
    assert "unknown kind" in capsys.readouterr().err
    assert cli.main(["--source", "no-such-source", "--data-dir", str(tmp_path)]) == 2
    assert cli.main(["--max-new-items", "-1", "--data-dir", str(tmp_path)]) == 2
    assert cli.main(["status", "--sources", str(bad), "--data-dir", str(tmp_path)]) == 2
    assert not (tmp_path / "raw").exists()


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "crawl"
    assert script.exists()
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and "exit codes" in result.stdout


def test_crawler_library_never_imports_ranking():
    code = (
        "import sys, crawler.spiders.radar, crawler.pipelines, crawler.middlewares, "
        "crawler.runner, crawler.parsers; "
        "print(any(m == 'ranking' or m.startswith('ranking.') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert out.stdout.strip() == "False"


def test_address_guard_middleware_literals_schemes_and_budget(monkeypatch):
    from scrapy import Request
    from scrapy.exceptions import IgnoreRequest
    from scrapy.settings import Settings

    from crawler.middlewares import AddressGuardMiddleware

    monkeypatch.delenv("RADAR_ALLOW_HOSTS", raising=False)
    crawler = _Crawler()
    crawler.settings = Settings({"RADAR_DOMAIN_BUDGET": 2})
    mw = AddressGuardMiddleware(crawler)
    for url in ("http://127.1/x", "http://[::1]/", "http://2130706433/", "http://169.254.169.254/"):
        with pytest.raises(IgnoreRequest, match="address guard"):
            mw.process_request(Request(url))
    with pytest.raises(IgnoreRequest, match="user-info"):
        mw.process_request(Request("http://good.test@evil.test/"))
    mw.process_request(Request("https://example.com/1"))
    mw.process_request(Request("https://example.com/2"))
    with pytest.raises(IgnoreRequest, match="budget exhausted"):
        mw.process_request(Request("https://example.com/3"))
    mw.process_request(Request("https://example.com/4", meta={"radar_no_budget": True}))
    assert crawler.stats.values["radar/guard/address_blocked"] == 4


def test_unwritable_raw_dir_is_a_one_line_error(tmp_path, capsys):
    src = tmp_path / "s.toml"
    src.write_text('[[source]]\nname = "x"\nkind = "feed"\nurl = "https://e.example/f"\n', "utf-8")
    (tmp_path / "raw").write_text("a file where the raw folder should be", "utf-8")
    code = cli.main(["--sources", str(src), "--data-dir", str(tmp_path), "--no-ingest"])
    assert code == 3  # the crawl's own files cannot be written: not a usage error
    err = capsys.readouterr().err
    assert err.startswith(f"crawl: error: cannot write {tmp_path / 'raw'}: ")
    assert "nothing was fetched" in err and "Traceback" not in err


def _issue_links(name: str, n: int) -> list[Candidate]:
    """`n` links of one newsletter issue: one publication date for all."""
    return [
        Candidate(
            url=f"https://example.com/{name}{i}",
            title=name,
            source="new-feed",
            published="2026-02-01T00:00:00Z",
        )
        for i in range(n)
    ]


def test_flood_guard_never_cuts_the_links_of_one_issue_in_two(tmp_path):
    from crawler.runstate import FLOOD_TIE_FACTOR

    ctx, src = _ctx(tmp_path, max_new=3)
    newest = _issue_links("n", 5)
    items = [*_cands(10), *newest]
    assert ctx.apply_flood_guard(src, items) == 10  # the whole newest issue, nothing older
    assert [c.url for c in items if not c.extra.get("history_only")] == [c.url for c in newest]
    # A tie is not a way around the guard: at most FLOOD_TIE_FACTOR times the limit.
    ctx, src = _ctx(tmp_path / "b", max_new=3)
    same = _issue_links("s", 100)
    assert ctx.apply_flood_guard(src, same) == 100 - FLOOD_TIE_FACTOR * 3


def test_crawl_state_remembers_redirects_newest_kept(tmp_path, monkeypatch):
    from crawler import runstate

    monkeypatch.setattr(runstate, "REDIRECTS_CAP", 3)
    state = CrawlState.load(tmp_path / "crawl-state.json")
    for n in range(5):
        state.remember_redirect(f"https://l.example/link/{n}", f"https://t.example/{n}")
    state.remember_redirect("https://l.example/link/2", "https://t.example/2")  # asked again
    state.save()
    again = CrawlState.load(tmp_path / "crawl-state.json")
    assert again.redirect("https://l.example/link/0") is None  # the oldest went first
    assert again.redirect("https://l.example/link/1") is None
    assert [again.redirect(f"https://l.example/link/{n}") for n in (3, 4, 2)] == [
        "https://t.example/3",
        "https://t.example/4",
        "https://t.example/2",
    ]
    (tmp_path / "bad.json").write_text('{"redirects": [1, 2]}', "utf-8")
    assert CrawlState.load(tmp_path / "bad.json").redirect("https://l.example/x") is None


def test_newsletter_links_past_the_request_cap_still_get_known_redirects(tmp_path, monkeypatch):
    from crawler.spiders import radar

    monkeypatch.setattr(radar, "MAX_REDIRECTS_PER_SOURCE", 1)
    src = Source("letter", "newsletter", "https://letter.example/feed")
    ctx = RunContext(tmp_path, [src], CrawlOptions())
    ctx.state.remember_redirect("https://letter.example/link/3", "https://blog.example/post")
    links = [
        Candidate(
            url=f"https://letter.example/link/{n}",
            title="t",
            source="letter",
            extra={"own_site": True},
        )
        for n in (1, 2, 3)
    ]
    pending = radar._PendingBatch(src, links, {})
    requests = radar.RadarSpider(ctx=ctx).redirect_requests(pending)
    assert [r.url for r in requests] == ["https://letter.example/link/1"]
    assert pending.waiting == 1
    assert links[2].url == "https://blog.example/post"  # past the cap, but already known
    assert links[1].url == "https://letter.example/link/2"  # asked on a later night


# --- crawl status: new items, staleness, compressed raw files, a closed pipe -----------------


def _raw_run(raw, when, run_id, items, *, gz=False):
    """One run's raw file written by the crawler's RawWriter: `items` = {source: [urls]}."""
    import gzip

    from crawler.runstate import raw_file_name

    path = raw / raw_file_name(when, run_id)
    writer = RawWriter(path)
    ts = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    writer.write({"type": "run", "run_id": run_id, "started_at": ts, "sources": list(items)})
    for source, urls in items.items():
        for url in urls:
            writer.write(
                {
                    "type": "candidate",
                    "run_id": run_id,
                    "source": source,
                    "fetched_at": ts,
                    "url": url,
                    "canonical_url": url,
                    "title": "t",
                }
            )
        writer.write(
            {
                "type": "fetch",
                "run_id": run_id,
                "source": source,
                "started_at": ts,
                "finished_at": ts,
                "status": "ok",
                "items": len(urls),
            }
        )
    writer.close()
    if gz:
        gz_path = path.with_name(path.name + ".gz")
        gz_path.write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
        return gz_path
    return path


def _status(tmp_path, capsys, names, *extra):
    srcs = tmp_path / "s.toml"
    srcs.write_text(
        "".join(
            f'[[source]]\nname = "{n}"\nkind = "feed"\nurl = "https://e.example/{n}"\n'
            for n in names
        ),
        "utf-8",
    )
    code = cli.main(["status", "--sources", str(srcs), "--data-dir", str(tmp_path), *extra])
    assert code == 0
    return capsys.readouterr().out


def test_status_counts_new_items_and_flags_a_feed_that_serves_the_same_items(tmp_path, capsys):
    now = datetime.now(UTC)
    same = [f"https://same.example/{i}" for i in range(21)]
    dead = [f"https://dead.example/{i}" for i in range(5)]
    for days in (40, 30, 20, 10, 3, 2, 1):
        items = {"dead-feed": dead}
        if days <= 3:  # a new source, fetched three times this week: 21 items, 3 times
            items["same-21"] = same
            items["lively"] = [f"https://lively.example/{days}-{i}" for i in range(4)]
        _raw_run(tmp_path / "raw", now - timedelta(days=days), f"run{days:05d}", items)
    names = ["same-21", "dead-feed", "lively"]
    rows = {r["source"]: r for r in json.loads(_status(tmp_path, capsys, names, "--json"))}
    assert (rows["same-21"]["items_7d"], rows["same-21"]["new_7d"]) == (63, 21)
    assert (rows["dead-feed"]["items_7d"], rows["dead-feed"]["new_7d"]) == (15, 0)
    assert rows["dead-feed"]["stale"] is True  # answers 200 every night, nothing new for 40 days
    assert rows["dead-feed"]["last_new"] == (now - timedelta(days=40)).strftime("%Y-%m-%d %H:%M")
    assert rows["same-21"]["stale"] is False  # nothing new for 2 days only
    assert (rows["lively"]["new_7d"], rows["lively"]["stale"]) == (12, False)
    table = {
        line.split("\t")[0]: line.split("\t")
        for line in _status(tmp_path, capsys, names).splitlines()
    }
    assert table["source"][3] == "new 7d"
    assert table["same-21"][3] == "21" and table["dead-feed"][3] == "0"
    assert table["dead-feed"][5] == "STALE" and table["lively"][5] == ""


def test_status_reads_compressed_raw_files(tmp_path, capsys):
    now = datetime.now(UTC)
    urls = [f"https://e.example/{i}" for i in range(3)]
    raw = tmp_path / "raw"
    first = _raw_run(raw, now - timedelta(days=3), "run00003", {"feed": urls}, gz=True)
    plain = _raw_run(
        raw, now - timedelta(days=2), "run00002", {"feed": [*urls, "https://e.example/new"]}
    )
    copy = plain.with_name(plain.name + ".gz")  # a compressed copy beside its original: read once
    copy.write_bytes(first.read_bytes())
    cut = _raw_run(raw, now - timedelta(days=1), "run00001", {"feed": urls}, gz=True)
    cut.write_bytes(cut.read_bytes()[:-30])  # a damaged archive: what can be read counts
    records = cli.read_fetch_records(raw)
    assert [(r["run_id"], r["items"], r["new_items"]) for r in records] == [
        ("run00003", 3, 3),
        ("run00002", 4, 1),
    ]
    rows = json.loads(_status(tmp_path, capsys, ["feed"], "--json"))
    assert (rows[0]["fetches"], rows[0]["items_7d"], rows[0]["new_7d"]) == (2, 7, 4)


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ['"', "\\", '","kind":', ',"canonical_url":"x","repo_key":', '"history_only":true', "é☃"]
)


@settings(max_examples=300, deadline=None)
@given(
    run_id=_TEXT,
    source=_TEXT,
    url=_TEXT,
    canonical=st.none() | _TEXT,
    title=_TEXT,
    extra=st.dictionaries(_TEXT, _TEXT | st.booleans(), max_size=3),
    history_only=st.booleans(),
)
def test_candidate_key_reads_what_a_full_decode_reads(
    run_id, source, url, canonical, title, extra, history_only
):
    """The fast reader of `crawl status` agrees with json.loads on any line the writer
    writes: quotes, backslashes, non-ASCII text and key names inside values included."""
    from crawler.runstate import candidate_key, candidate_record, encode_record

    if history_only:
        extra = {**extra, "history_only": True}
    cand = Candidate(url=url, title=title, source="parser", canonical_url=canonical, extra=extra)
    record = candidate_record(run_id, source, "feed", "2026-11-22T00:00:00.000000Z", cand)
    line = (encode_record(record) + "\n").encode("ascii")
    full = json.loads(line)
    key = full["canonical_url"] or full["url"]
    expected = (run_id, source, key, bool(full["extra"].get("history_only")))
    assert candidate_key(line) == expected
    assert candidate_key(line[:-5]) is None  # a line cut short is not read


def test_candidate_key_skips_other_records_and_reads_other_layouts():
    from crawler.runstate import candidate_key

    assert candidate_key(b'{"type":"fetch","run_id":"r","source":"s"}\n') is None
    assert candidate_key(b"not json\n") is None
    older = b'{"type":"candidate","source":"s","url":"https://e.example/a","run_id":"r"}\n'
    assert candidate_key(older) == ("r", "s", "https://e.example/a", False)


def test_scrapy_crawl_radar_gets_the_configured_options(tmp_path, monkeypatch):
    """`scrapy crawl radar` (no run context from `crawl`) reads the same settings and
    environment as `crawl`: before, GITHUB_TOKEN and RADAR_GITHUB_API were ignored there."""
    from crawler import settings
    from crawler.spiders.radar import RadarSpider

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
    monkeypatch.setenv("RADAR_GITHUB_API", "http://127.0.0.1:9/api")
    spider = RadarSpider()
    try:
        options = spider.ctx.options
        assert (options.github_token, options.github_api) == ("t0ken", "http://127.0.0.1:9/api")
        assert options.github_max_requests == settings.RADAR_GITHUB_MAX_REQUESTS_TOKEN
        assert spider.ctx.data_dir == Path("data")
    finally:
        spider._spider_closed(spider, "finished")


def test_scrapy_crawl_radar_takes_the_crawl_lock(tmp_path, monkeypatch, caplog):
    """`scrapy crawl radar` holds the same lock as `crawl`, and a second one started
    while a crawl runs fetches nothing and writes nothing: before, it bypassed the lock."""
    import asyncio

    from crawler.runner import AlreadyRunning, acquire_lock
    from crawler.spiders.radar import RadarSpider

    monkeypatch.chdir(tmp_path)
    spider = RadarSpider()
    with pytest.raises(AlreadyRunning):
        acquire_lock(Path("data"))  # the spider holds it ...
    spider._spider_closed(spider, "finished")
    acquire_lock(Path("data")).release()  # ... until it closes

    held = acquire_lock(Path("data"))  # a nightly `crawl` is running
    try:
        raw_before = sorted(p.name for p in Path("data").rglob("*"))
        second = RadarSpider()

        async def requests() -> list:
            return [r async for r in second.start()]

        assert asyncio.run(requests()) == []
        second._spider_closed(second, "finished")
        assert sorted(p.name for p in Path("data").rglob("*")) == raw_before
        assert "another crawl is already running" in caplog.text
        assert f"PID {os.getpid()}" in caplog.text
    finally:
        held.release()


def test_status_into_a_closed_pipe_ends_quietly(tmp_path):
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # `crawl status | head -5`: the reader is gone before the output
    try:
        result = subprocess.run(
            [sys.executable, "-m", "crawler.cli", "status", "--data-dir", str(tmp_path)],
            cwd=REPO,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (0, "")


# --- crawl ingest --------------------------------------------------------------------------


def test_ingest_into_a_missing_data_dir_is_a_usage_error(tmp_path, capsys):
    typo = tmp_path / "dta"
    db = tmp_path / "radar.duckdb"
    assert cli.main(["ingest", "--data-dir", str(typo)]) == 2
    assert cli.main(["ingest", "--data-dir", str(typo), "--db", str(db)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"crawl: error: data directory {typo} does not exist (see --data-dir)"] * 2
    assert not typo.exists() and not db.exists()


# --- the quiet-nights count -------------------------------------------------------------------


def test_record_night_counts_nights_not_runs(tmp_path):
    from crawler.runstate import NIGHTS_FILE, record_night

    # A file of the earlier format (no "night"): its runs count by the date of "at".
    old = [{"run": "a", "at": "2026-10-31T03:10:00.000000Z", "new_items": 0}]
    (tmp_path / NIGHTS_FILE).write_text(json.dumps(old), "utf-8")
    assert record_night(tmp_path, "b", 7, night="2026-11-01") == 0
    assert record_night(tmp_path, "c", 0, night="2026-11-02") == 1
    assert record_night(tmp_path, "d", 0, night="2026-11-02") == 1  # the same night again
    assert record_night(tmp_path, "e", 0, night="2026-11-02") == 1
    assert record_night(tmp_path, "f", 0, night="2026-11-03") == 2
    assert record_night(tmp_path, "g", 2, night="2026-11-03") == 0  # the night brought news
    assert record_night(tmp_path, "h", 0, night="2026-11-04") == 1
    assert record_night(tmp_path, "i", 0, night="2026-11-05", keep=3) == 2
    kept = json.loads((tmp_path / NIGHTS_FILE).read_text("utf-8"))
    assert {r["night"] for r in kept} == {"2026-11-03", "2026-11-04", "2026-11-05"}
    assert [r["run"] for r in kept] == ["f", "g", "h", "i"]


def test_a_failure_twisted_wraps_in_a_list_reads_as_its_reasons():
    from twisted.internet.error import ConnectionDone, ConnectionLost
    from twisted.python.failure import Failure
    from twisted.web._newclient import ResponseNeverReceived

    from crawler.spiders.radar import describe_failure

    wrapped = ResponseNeverReceived([Failure(ConnectionDone()), Failure(ConnectionLost())])
    assert describe_failure(Failure(wrapped)) == (
        "ResponseNeverReceived: ConnectionDone: Connection was closed cleanly.; "
        "ConnectionLost: Connection to the other side was lost in a non-clean fashion.",
        None,
    )
    assert describe_failure(Failure(ValueError("plain"))) == ("ValueError: plain", None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1,234", 1234),
        ("2.5k", 2500),
        (7, 7),
        ("³", None),  # str.isdigit() says yes, int() says no
        ("١٢", None),
        ("infk", None),
        ("nank", None),
        (True, None),
    ],
)
def test_to_int_takes_numbers_and_refuses_the_rest(value, expected):
    assert to_int(value) == expected


# --- a sitemap source: robots.txt -> index -> urlsets, one batch ---------------------------


def _sitemap_response(url, body, request=None, ctype="application/xml"):
    from scrapy.http import Request, TextResponse

    request = request or Request(url)
    return TextResponse(
        url, body=body, headers={"Content-Type": ctype}, request=request, encoding="utf-8"
    )


def _urlset(*paths):
    urls = "".join(f"<url><loc>https://blog.example{p}</loc></url>" for p in paths)
    return f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'.encode()


def _index(*urls):
    items = "".join(f"<sitemap><loc>{u}</loc></sitemap>" for u in urls)
    return f"<sitemapindex>{items}</sitemapindex>".encode()


def test_a_sitemap_source_follows_its_sitemaps_into_one_batch(tmp_path):
    from crawler.pipelines import CandidateBatch
    from crawler.spiders import radar

    src = Source("blog", "sitemap", "https://blog.example/robots.txt", options={"max_new_items": 2})
    ctx = RunContext(tmp_path, [src], CrawlOptions())
    spider = radar.RadarSpider(ctx=ctx)
    robots = b"User-agent: *\nSitemap: https://blog.example/index.xml\n"
    out = list(
        spider.parse_source(
            _sitemap_response(src.url, robots, spider.source_request(src), "text/plain")
        )
    )
    assert [r.url for r in out] == ["https://blog.example/index.xml"]
    assert "If-None-Match" not in spider.source_request(src).headers  # never a 304

    index = _index(
        "https://blog.example/index.xml",  # itself: never asked again
        "https://blog.example/post-sitemap.xml",
        "https://blog.example/gone.xml",
        "https://blog.example/feed.xml",
    )
    children = list(spider.sitemap_read(_sitemap_response(out[0].url, index, out[0])))
    assert [r.url for r in children] == [
        "https://blog.example/post-sitemap.xml",
        "https://blog.example/gone.xml",
        "https://blog.example/feed.xml",
    ]
    posts = _urlset(
        "/2026/01/02/first-post/", "/2026/01/03/second-post/", "/2025/12/old-post/", "/tags/"
    )
    assert list(spider.sitemap_read(_sitemap_response(children[0].url, posts, children[0]))) == []

    from twisted.python.failure import Failure

    failure = Failure(OSError("connection refused"))
    failure.request = children[1]
    assert list(spider.sitemap_failed(failure)) == []
    rss = b"<rss><channel><item><link>https://blog.example/x</link></item></channel></rss>"
    # The last child answers: the batch (both urlsets' posts) goes out once, then pages.
    released = list(spider.sitemap_read(_sitemap_response(children[2].url, rss, children[2])))
    batches = [x for x in released if isinstance(x, CandidateBatch)]
    assert len(batches) == 1 and batches[0].finishes_source
    got = {c.title: c.extra.get("history_only", False) for c in batches[0].candidates}
    # The flood guard saw the whole batch: the newest max_new_items go to the pool.
    assert got == {"First post": False, "Second post": False, "Old post": True}
    assert ctx.outcomes["blog"].status == "ok" and ctx.outcomes["blog"].errors == 2
    pages = [x.url for x in released if not isinstance(x, CandidateBatch)]
    assert pages == [  # newest first: the per-host page cap lets only a few through
        "https://blog.example/2026/01/03/second-post/",
        "https://blog.example/2026/01/02/first-post/",
    ]


def test_a_sitemap_source_reads_at_most_max_sitemaps_and_two_levels(tmp_path):
    from crawler.spiders import radar

    src = Source("blog", "sitemap", "https://blog.example/index.xml", options={"max_sitemaps": 2})
    ctx = RunContext(tmp_path, [src], CrawlOptions())
    spider = radar.RadarSpider(ctx=ctx)
    index = _index(*(f"https://blog.example/s{n}.xml" for n in range(1, 5)))
    first = list(spider.parse_source(_sitemap_response(src.url, index, spider.source_request(src))))
    assert [r.url for r in first] == ["https://blog.example/s1.xml", "https://blog.example/s2.xml"]
    # s1 is an index too (depth 2): its children would be depth 3, never asked; and the
    # budget is spent anyway.
    deeper = _index("https://blog.example/s9.xml")
    assert list(spider.sitemap_read(_sitemap_response(first[0].url, deeper, first[0]))) == []

    src3 = Source("deep", "sitemap", "https://deep.example/robots.txt")
    ctx3 = RunContext(tmp_path / "d", [src3], CrawlOptions())
    spider3 = radar.RadarSpider(ctx=ctx3)
    robots = b"Sitemap: https://deep.example/a.xml\n"
    (a,) = spider3.parse_source(
        _sitemap_response(src3.url, robots, spider3.source_request(src3), "text/plain")
    )
    (b,) = spider3.sitemap_read(_sitemap_response(a.url, _index("https://deep.example/b.xml"), a))
    assert b.meta["radar_pending"].place_of[b.meta["radar_child"]] == (0, 0)  # two levels down
    released = list(
        spider3.sitemap_read(_sitemap_response(b.url, _index("https://deep.example/c.xml"), b))
    )
    # c.xml is not asked; no sitemap of URLs was read, so the source failed, saying why.
    assert released == []
    outcome = ctx3.outcomes["deep"]
    assert (outcome.status, outcome.error) == (
        "failed",
        "no sitemap read: https://deep.example/c.xml: not read (too deep)",
    )


def test_a_sitemap_source_that_names_no_sitemap_fails_and_is_not_its_first_night(tmp_path):
    """A robots.txt without a Sitemap: line (or an empty index) was 'ok, 0 items' and
    counted as the source's first night, so a later night let every post in."""
    from crawler.spiders import radar

    src = Source("blog", "sitemap", "https://blog.example/robots.txt")
    ctx = RunContext(tmp_path, [src], CrawlOptions())
    ctx.open()
    spider = radar.RadarSpider(ctx=ctx)
    robots = b"User-agent: *\nDisallow: /private/\n"
    response = _sitemap_response(src.url, robots, spider.source_request(src), "text/plain")
    assert list(spider.parse_source(response)) == []
    outcome = ctx.outcomes["blog"]
    assert (outcome.status, outcome.error) == (
        "failed",
        "no sitemap read: https://blog.example/robots.txt: names no sitemap",
    )
    ctx.close()
    assert ctx.state.is_new_source("blog")


def _released_urls(order: list[int], tmp_path: Path) -> list[str]:
    """The batch of an index of two urlsets whose children answer in `order`."""
    from crawler.pipelines import CandidateBatch
    from crawler.spiders import radar

    src = Source("blog", "sitemap", "https://blog.example/index.xml", options={"max_new_items": 3})
    ctx = RunContext(tmp_path, [src], CrawlOptions())
    spider = radar.RadarSpider(ctx=ctx)
    index = _index("https://blog.example/a.xml", "https://blog.example/b.xml")
    asked = list(spider.parse_source(_sitemap_response(src.url, index, spider.source_request(src))))
    bodies = [
        _urlset(*(f"/a-post-{n}" for n in range(4))),
        _urlset(*(f"/b-post-{n}" for n in range(4))),
    ]
    out = []
    for n in order:
        out += spider.sitemap_read(_sitemap_response(asked[n].url, bodies[n], asked[n]))
    (batch,) = [x for x in out if isinstance(x, CandidateBatch)]
    return [(c.url, bool(c.extra.get("history_only"))) for c in batch.candidates]


def test_a_sitemap_batch_does_not_depend_on_which_child_answered_first(tmp_path):
    """The first night's posts let in were those of whichever child answered first."""
    first = _released_urls([0, 1], tmp_path / "ab")
    assert first == _released_urls([1, 0], tmp_path / "ba")
    assert [url for url, old in first if not old] == [
        f"https://blog.example/a-post-{n}" for n in range(3)
    ]


def _shared_child_batch(first: str, tmp_path: Path) -> list[str]:
    """An index [a, x, b] whose a and b both list c.xml; `first` of a/b answers first."""
    from crawler.pipelines import CandidateBatch
    from crawler.spiders import radar

    src = Source("blog", "sitemap", "https://blog.example/index.xml", options={"max_new_items": 3})
    ctx = RunContext(tmp_path, [src], CrawlOptions())
    spider = radar.RadarSpider(ctx=ctx)
    names = ["a", "x", "b"]
    index = _index(*(f"https://blog.example/{n}.xml" for n in names))
    asked = dict(
        zip(
            names,
            spider.parse_source(_sitemap_response(src.url, index, spider.source_request(src))),
            strict=True,
        )
    )
    child_index = _index("https://blog.example/c.xml")
    out = []
    for name in [first, "b" if first == "a" else "a"]:
        out += spider.sitemap_read(_sitemap_response(asked[name].url, child_index, asked[name]))
    (c,) = [r for r in out if getattr(r, "url", "").endswith("/c.xml")]
    out += spider.sitemap_read(
        _sitemap_response(c.url, _urlset(*(f"/c-post-{n}" for n in range(4))), c)
    )
    out += spider.sitemap_read(
        _sitemap_response(asked["x"].url, _urlset(*(f"/x-post-{n}" for n in range(4))), asked["x"])
    )
    (batch,) = [r for r in out if isinstance(r, CandidateBatch)]
    return [c.url for c in batch.candidates if not c.extra.get("history_only")]


def test_a_sitemap_two_indexes_list_takes_its_earliest_place(tmp_path):
    """c.xml listed by a and b took the place of whichever answered first, so the first
    night let in c's posts or x's by timing."""
    let_in = _shared_child_batch("a", tmp_path / "a")
    assert let_in == _shared_child_batch("b", tmp_path / "b")
    assert let_in == [f"https://blog.example/c-post-{n}" for n in range(3)]


def test_indexes_that_list_only_each_other_fail_naming_why(tmp_path):
    """b lists c and c lists b: the source failed with 'no sitemap read: None'."""
    from crawler.spiders import radar

    src = Source("blog", "sitemap", "https://blog.example/index.xml")
    ctx = RunContext(tmp_path, [src], CrawlOptions())
    spider = radar.RadarSpider(ctx=ctx)
    index = _index("https://blog.example/b.xml", "https://blog.example/c.xml")
    b, c = spider.parse_source(_sitemap_response(src.url, index, spider.source_request(src)))
    list(spider.sitemap_read(_sitemap_response(b.url, _index(c.url), b)))
    list(spider.sitemap_read(_sitemap_response(c.url, _index(b.url), c)))
    outcome = ctx.outcomes["blog"]
    assert (outcome.status, outcome.error) == (
        "failed",
        "no sitemap read: https://blog.example/b.xml: names no new sitemap",
    )


def test_a_sitemap_source_cut_by_a_stop_says_so(tmp_path):
    """A stop (Ctrl-C) while its sitemaps were read left 'no response' as its error."""
    from crawler.spiders import radar

    src = Source("blog", "sitemap", "https://blog.example/index.xml")
    ctx = RunContext(tmp_path, [src], CrawlOptions())
    spider = radar.RadarSpider(ctx=ctx)
    index = _index("https://blog.example/a.xml", "https://blog.example/b.xml")
    asked = list(spider.parse_source(_sitemap_response(src.url, index, spider.source_request(src))))
    list(spider.sitemap_read(_sitemap_response(asked[0].url, _urlset("/a-post"), asked[0])))
    spider._spider_closed(spider, "shutdown")
    outcome = ctx.outcomes["blog"]
    assert (outcome.status, outcome.error) == (
        "failed",
        "the crawl stopped while its sitemaps were read (1 not answered); nothing of it written",
    )


def test_a_sitemap_index_fetch_record_notes_how_many_children_not_the_list(tmp_path):
    # Before, the fetch record copied the whole child list every night (2.5 MB for an
    # index of 50,000 sitemaps); the spider still follows the list.
    from crawler.spiders import radar

    src = Source("big", "sitemap", "https://big.example/index.xml", options={"max_sitemaps": 8})
    ctx = RunContext(tmp_path, [src], CrawlOptions())
    spider = radar.RadarSpider(ctx=ctx)
    children = [f"https://big.example/post-sitemap{n}.xml" for n in range(1, 1001)]
    out = list(
        spider.parse_source(
            _sitemap_response(src.url, _index(*children), spider.source_request(src))
        )
    )
    assert [r.url for r in out] == children[:8]
    notes = ctx.outcomes["big"].record(ctx.run_id)["notes"]
    assert notes["sitemaps"] == children[:5]
    assert notes["sitemaps_listed"] == 1000 and notes["sitemaps_total"] == 1000
