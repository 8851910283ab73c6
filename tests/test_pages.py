"""crawler/parsers/pages.py: trafilatura runs only when the page's markup lacks something."""

from __future__ import annotations

import pytest

from crawler.parsers import pages
from crawler.sources import Source

BODY = "<p>Python packaging is a topic many people care about, again and again.</p>" * 20
TRAFILATURA = {
    "description": "From trafilatura.",
    "date": "2023-03-04",
    "author": "Traf Author",
    "sitename": "Traf Site",
    "language": "de",
    "text": "Main text.",
}


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """URLs trafilatura was run on (it returns TRAFILATURA)."""
    seen: list[str] = []

    def fake(text: str, url: str) -> dict[str, str]:
        seen.append(url)
        return dict(TRAFILATURA)

    monkeypatch.setattr(pages, "_trafilatura", fake)
    return seen


def page(head: str, body: str = BODY, url: str = "https://blog.example/post") -> object:
    html = f"<html><head><title>A post</title>{head}</head><body><article>{body}</article></body></html>"
    (cand,) = pages.parse_page(
        html.encode(), {"content-type": "text/html"}, Source("s", "page", url)
    )
    return cand


DESCRIPTION = '<meta name="description" content="From the meta tag.">'
DATE = '<meta property="article:published_time" content="2024-05-01T10:00:00Z">'


def test_not_run_when_the_markup_has_a_description_and_a_date(calls):
    c = page(DESCRIPTION + DATE + '<meta name="author" content="Ada">')
    assert calls == []
    assert c.description == "From the meta tag."
    assert c.published == "2024-05-01T10:00:00Z" and c.extra["date_confidence"] == "high"
    assert c.author == "Ada"
    assert "site_name" not in c.extra and "lang" not in c.extra and "text_length" not in c.extra


@pytest.mark.parametrize(
    "date",
    [
        '<script type="application/ld+json">{"datePublished": "2024-05-01T10:00:00Z"}</script>',
        '<meta name="dc.date" content="2024-05-01T10:00:00Z">',
    ],
)
def test_json_ld_and_other_meta_dates_count(calls, date):
    assert page(DESCRIPTION + date).published == "2024-05-01T10:00:00Z"
    assert calls == []


def test_a_time_element_counts_as_a_date(calls):
    c = page(DESCRIPTION, '<time datetime="2024-05-01T10:00:00Z">May 1</time>' + BODY)
    assert calls == []
    assert c.extra["date_confidence"] == "medium"


def test_run_without_a_description(calls):
    c = page(DATE)
    assert calls == ["https://blog.example/post"]
    assert c.description == "From trafilatura."
    assert c.published == "2024-05-01T10:00:00Z"  # the markup's date still wins
    assert (c.author, c.extra["site_name"], c.extra["lang"]) == ("Traf Author", "Traf Site", "de")


def test_run_without_a_date(calls):
    c = page(DESCRIPTION)
    assert calls == ["https://blog.example/post"]
    assert c.description == "From the meta tag."  # the markup's description still wins
    assert c.published == "2023-03-04T00:00:00Z" and c.extra["date_confidence"] == "low"


def test_url_date_when_trafilatura_finds_none(monkeypatch):
    monkeypatch.setattr(pages, "_trafilatura", lambda text, url: {})
    c = page(DESCRIPTION, url="https://blog.example/2021/07/09/post")
    assert c.published == "2021-07-09T00:00:00Z" and c.extra["date_confidence"] == "low"


def test_a_link_farm_is_never_extracted(calls):
    farm = '<a href="/x">x</a> ' * (pages.TRAFILATURA_MAX_LINKS + 1)
    c = page(DATE, farm)
    assert calls == []
    assert c.extra["extraction_skipped"] == "page too large"
    # Only noted when extraction was needed:
    assert "extraction_skipped" not in page(DESCRIPTION + DATE, farm).extra
