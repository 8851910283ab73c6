"""HTML extraction (RELIABILITY 2.3): page fixtures with Description/Expect, link guards.

Fetch-level HTML cases (a PNG on an article URL, meta refresh, private links found
through an aggregator) run in the crawl night: see test_fetch.py (H2, H5, H10).
"""

from __future__ import annotations

import pytest

from faults.conftest import REPO, fixture_cases
from faults.test_feeds import check_expect

PAGE_CASES = fixture_cases("pages", ("H",))


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id, marks=pytest.mark.case(c.case)) for c in PAGE_CASES]
)
def test_page_fixture(case):
    check_expect(case, kind="page")


@pytest.mark.case("F19")
@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("cloudflare_challenge.html", "not_an_article"),
        ("soft_404.html", "not_an_article"),
        ("captcha_gate.html", "not_an_article"),
        ("article_with_captcha_form.html", None),
    ],
)
def test_f19_soft_404_and_challenge_pages_are_not_articles(name, reason):
    """A 200 whose page is a soft 404, a bot challenge or a captcha gives no candidate; an
    article that mentions "page not found" and has a reCAPTCHA comment form is one. The
    crawl of such pages (a page source, an aggregator's link): tests/test_crawl_e2e.py."""
    from crawler.parsers import PARSERS, ParseError
    from crawler.sources import Source

    body = (REPO / "tests" / "fixtures" / "parsers" / "pages" / name).read_bytes()
    source = Source("p", "page", "https://p.example/post", None)
    if reason is None:
        assert len(PARSERS["page"](body, {}, source)) == 1
        return
    with pytest.raises(ParseError) as info:
        PARSERS["page"](body, {}, source)
    assert info.value.reason == reason


@pytest.mark.case("H2", "F10")
def test_h2_scheme_filter_spider_middleware_drops_non_http_requests():
    from scrapy import Request
    from scrapy.utils.test import get_crawler

    from crawler.middlewares import SchemeFilterSpiderMiddleware

    crawler = get_crawler()
    crawler.stats.open_spider()
    mw = SchemeFilterSpiderMiddleware.from_crawler(crawler)
    reqs = [Request("https://ok.example/"), Request("file:///etc/passwd"), Request("ftp://h/x")]
    kept = list(mw.process_spider_output(None, reqs))
    assert [r.url for r in kept] == ["https://ok.example/"]
    assert crawler.stats.get_value("radar/guard/scheme_blocked") == 2


@pytest.mark.case("H2", "F9")
def test_h2_address_guard_middleware_blocks_private_links_and_counts():
    from scrapy import Request
    from scrapy.exceptions import IgnoreRequest
    from scrapy.utils.test import get_crawler

    from crawler.middlewares import AddressGuardMiddleware

    crawler = get_crawler()
    crawler.stats.open_spider()
    mw = AddressGuardMiddleware.from_crawler(crawler)
    for url in ("http://10.1.2.3/x", "http://[fd00::1]/", "http://0x7f000001/", "ftp://h/x"):
        with pytest.raises(IgnoreRequest):
            mw.process_request(Request(url))
    assert crawler.stats.get_value("radar/guard/address_blocked") == 3
    assert crawler.stats.get_value("radar/guard/scheme_blocked") == 1


@pytest.mark.case("F24", "G4")
def test_f24_page_with_100k_anchors_parses_within_256_mb_and_seconds(memprobe):
    row = memprobe["F24-100k-anchors"]
    assert row["outcome"] == "ok:1", row
    assert row["peak_rss_mb"] <= 256, row


@pytest.mark.case("H6")
def test_h6_entities_are_not_expanded_in_pages(memprobe):
    row = memprobe["H6-html-entity-bomb"]
    assert row["outcome"] == "ok:1"
    assert row["longest_title"] <= 1000
    assert row["peak_rss_mb"] <= 256


@pytest.mark.case("H7")
def test_h7_deep_nesting_and_big_pages_stay_bounded(memprobe):
    from crawler import settings

    assert settings.RADAR_PAGE_MAXSIZE <= 5 * 1024 * 1024  # pages are capped lower than feeds
    for name in ("H7-deep-nesting", "H7-3MiB-page"):
        row = memprobe[name]
        assert row["outcome"] in ("ok:1", "error:no_title"), row
        assert row["peak_rss_mb"] <= 256, row


@pytest.mark.case("H4")
def test_h4_low_confidence_is_flagged_for_short_undeclared_pages():
    from crawler.parsers.pages import decode_html

    _text, enc, flags = decode_html("<html><title>中文</title></html>".encode("gb18030"), {})
    assert "guessed_charset" in flags
    assert enc  # some codec was chosen; the flag tells the curator to check


@pytest.mark.case("H5")
@pytest.mark.parametrize(
    "body",
    [b"\x89PNG\r\n\x1a\n" + bytes(100), b"%PDF-1.7 ...", b"GIF89a....", b"\x00\x01\x02" * 50],
)
def test_h5_binary_bodies_are_not_text(body):
    from crawler.parsers import PARSERS, ParseError
    from crawler.sources import Source

    with pytest.raises(ParseError) as info:
        PARSERS["page"](body, {}, Source("p", "page", "https://p.example/", None))
    assert info.value.reason == "not_text"
