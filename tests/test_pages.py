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


@pytest.mark.parametrize(
    ("start", "end"), [("<![CDATA[", "]]>"), ("<!--", "-->"), ("\n  <![CDATA[\n", "\n  ]]>\n")]
)
def test_a_json_ld_block_wrapped_in_cdata_or_a_comment_counts(calls, start, end):
    # As Real Python marks it up: the HTML parser keeps the wrapper in the script's text.
    ld = f'{start}{{"@type": "Article", "datePublished": "2021-10-04T14:00:00+00:00"}}{end}'
    c = page(DESCRIPTION + f'<script type="application/ld+json">{ld}</script>')
    assert calls == []
    assert c.published == "2021-10-04T14:00:00Z" and c.extra["date_confidence"] == "high"


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


# --- soft 404s and bot challenges (RELIABILITY F19) --------------------------------------


def parse_html(html: str) -> pages.ParseResult:
    return pages.parse_page(
        html.encode(), {"content-type": "text/html"}, Source("s", "page", "https://b.example/p")
    )


def not_an_article(html: str) -> str:
    """The detail of the not_an_article ParseError the page raises."""
    with pytest.raises(pages.ParseError) as info:
        parse_html(html)
    assert info.value.reason == "not_an_article"
    return info.value.detail


@pytest.mark.parametrize(
    ("phrase", "kind"),
    [
        ("Just a moment...", "bot challenge"),
        ("Attention Required! | Cloudflare", "bot challenge"),
        ("Access denied", "bot challenge"),
        ("Access denied | b.example used Cloudflare to restrict access", "bot challenge"),
        ("DDoS-Guard", "bot challenge"),
        ("Are you a robot?", "bot challenge"),
        ("Are you human?", "bot challenge"),
        ("Verifying you are human", "bot challenge"),
        ("Page not found", "soft 404"),
        ("404 Not Found", "soft 404"),
        ("Error 404", "soft 404"),
        ("404: This page could not be found.", "soft 404"),
        ("Oops! That page can\u2019t be found.", "soft 404"),
        ("Sorry, the page you were looking for does not exist", "soft 404"),
    ],
)
@pytest.mark.parametrize(
    "where",
    [
        "<title>{}</title>",
        '<meta property="og:title" content="{}">',
        "<title>Site name</title></head><body><h1>{}</h1>",
    ],
)
def test_a_title_or_heading_that_is_only_a_challenge_or_404_phrase_is_not_an_article(
    calls, phrase, kind, where
):
    detail = not_an_article(f"<html><head>{where.format(phrase)}</head><body>{BODY}</body></html>")
    assert detail.startswith(kind) and phrase in detail
    assert calls == []  # decided before any costly extraction


@pytest.mark.parametrize(
    "title",
    [
        "Page Not Found errors in Flask, explained",
        "Just a moment: Python's datetime pitfalls",
        "Captcha solving with Python and OpenCV",
        "Access denied: PermissionError on Windows",
        "Handling 404 Not Found in FastAPI",
        "Are you a robot? Testing bots with Playwright",
    ],
)
def test_an_article_whose_title_mentions_such_a_phrase_is_an_article(calls, title):
    (c,) = parse_html(f"<html><head><title>{title}</title></head><body>{BODY}</body></html>")
    assert c.title == title


def test_only_the_first_heading_counts():
    html = (
        "<html><head><title>HTTP status codes</title></head><body><h1>HTTP status codes</h1>"
        f"{BODY}<h1>404 Not Found</h1><p>Page not found.</p>{BODY}</body></html>"
    )
    (c,) = parse_html(html)
    assert c.title == "HTTP status codes"


CHALLENGE_SCRIPT = '<script src="/cdn-cgi/challenge-platform/h/g/orchestrate/v1"></script>'
RECAPTCHA_FORM = '<form><div class="g-recaptcha" data-sitekey="k"></div><button>Go</button></form>'


@pytest.mark.parametrize("markup", [CHALLENGE_SCRIPT, RECAPTCHA_FORM, '<div class="h-captcha">'])
def test_challenge_markup_on_a_page_with_next_to_no_text_is_not_an_article(markup):
    html = (
        "<html><head><title>b.example</title></head><body><h1>b.example</h1>"
        f"<p>Checking if the site connection is secure.</p>{markup}</body></html>"
    )
    assert "words of text" in not_an_article(html)


@pytest.mark.parametrize("markup", [CHALLENGE_SCRIPT, RECAPTCHA_FORM])
def test_challenge_markup_on_an_article_is_ignored(calls, markup):
    # A reCAPTCHA comment form under an article; a script in a page that has its own
    # og:title (a JavaScript app whose text is not in the HTML).
    (long,) = parse_html(f"<html><head><title>A post</title></head><body>{BODY}{markup}</body>")
    assert long.title == "A post"
    og = '<meta property="og:title" content="An app post">'
    (short,) = parse_html(f"<html><head>{og}</head><body><p>Loading</p>{markup}</body></html>")
    assert short.title == "An app post"
