"""Newsletter feeds: every link of an issue is a candidate (crawler/parsers/newsletter.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.parsers import PARSERS, ParseError
from crawler.parsers.newsletter import section_of_heading
from crawler.sources import Source

FIXTURE = Path(__file__).parent / "fixtures" / "parsers" / "feeds" / "newsletter_issues.xml"
REAL_WEB = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real-web"
AWESOME_PW = REAL_WEB / "feeds" / "zh-pychina-weekly-awesomepw-atom.xml"
PYCHINA_ALL = REAL_WEB / "feeds" / "zh-pychina-weekly-all-rss.xml"


def newsletter(url: str = "https://letter.example/feed") -> Source:
    return Source("example-weekly", "newsletter", url, "article")


def one_issue(html: str) -> bytes:
    """A newsletter feed of one issue whose content is `html`."""
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        "<link>https://letter.example/</link><item><title>Issue 1</title>"
        f"<link>https://letter.example/issues/1</link><description><![CDATA[{html}]]>"
        "</description></item></channel></rss>"
    ).encode()


def parse(body: bytes, source: Source | None = None):
    return PARSERS["newsletter"](body, {}, source or newsletter())


def test_every_picked_link_of_an_issue_is_a_candidate_with_its_section() -> None:
    result = parse(FIXTURE.read_bytes())
    got = [(c.section, c.title) for c in result]
    assert got == [
        ("article", "Speeding Up a Parser With Rust"),
        ("article", "TypedDict in Practice"),
        ("article", "How GitHub Sponsors Pays Maintainers"),
        ("hot_topic", "Should PEP 999 Be Accepted?"),
        ("project", "fastparse"),
        ("project", "datakit: Dataframes for the Terminal"),
        ("audio_video", "Episode 42: Packaging in 2025"),  # a bold paragraph is a heading
        ("article", "Why Generators Still Matter"),  # "Articles, … and Talks" lists articles
        ("article", "Talk: Async Without Tears"),
        ("project", "quickplot"),
    ]
    assert [c.position for c in result] == list(range(1, 11))
    assert result.notes["issues_with_links"] == 2
    assert result.notes["skipped"] == {"issue_without_links": 1, "duplicate": 1}


def test_links_carry_the_issue_date_text_and_identity() -> None:
    by_title = {c.title: c for c in parse(FIXTURE.read_bytes())}
    rust = by_title["Speeding Up a Parser With Rust"]
    assert rust.url == "https://letter.example/link/9001/web"  # a tracking redirect is kept
    assert rust.published == "2025-02-11T19:30:00Z"
    assert rust.description.startswith("How the author moved the hot loop")
    assert rust.extra == {
        "issue_url": "https://letter.example/issues/201",
        "issue": "Issue #201",
        "heading": "Articles & Tutorials",
        "own_site": True,  # on the newsletter's site: the crawl asks where it leads
    }
    typed = by_title["TypedDict in Practice"]
    assert "own_site" not in typed.extra
    assert typed.canonical_url == "https://blog.example.org/posts/typed-dicts"  # utm_ dropped
    assert typed.description == "Five patterns for typing JSON payloads without classes."
    assert by_title["fastparse"].repo_key == "github.com/example/fastparse"
    assert by_title["quickplot"].published == "2025-02-04T19:30:00Z"


def test_ads_jobs_events_share_links_and_boilerplate_are_left_out() -> None:
    urls = " ".join(c.url for c in parse(FIXTURE.read_bytes()))
    for left_out in (
        "ads.example.net",  # under "Sponsor"
        "/link/9003/",  # a link whose text is "Sponsored"
        "/link/9004/",  # an item whose source line is "SPONSOR"
        "/link/9005/",  # "[Sponsored]"
        "events.example.org",  # under "Events"
        "jobs.example.com",  # under "Python Jobs"
        "twitter.com/intent",
        "unsubscribe",
        "/issues/",  # the issue itself and "Issue #200"
        "/about/editor",  # in every issue: a footer
        "letter.example/archive",  # "archive" is not an item
    ):
        assert left_out not in urls, left_out


@pytest.mark.parametrize(
    ("heading", "section"),
    [
        ("Articles & Tutorials", "article"),
        ("Interesting Projects, Tools and Libraries", "project"),
        ("Projects & Code", "project"),
        ("Podcasts", "audio_video"),
        ("Discussions", "hot_topic"),
        ("Python Jobs", "skip"),
        ("Upcoming Events and Webinars", "skip"),
        ("快讯 Popular News and Articles", "article"),
        ("好物/妙品/ Interesting Projects, Tools and Libraries, Projects & Code", "project"),
        ("Releases", None),
        ("", None),
    ],
)
def test_a_heading_names_its_section(heading: str, section: str | None) -> None:
    assert section_of_heading(heading) == section


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Issue #200", False),
        ("Awesome Python Weekly - Issue 505", False),
        ("第 12 期", False),
        ("Read more »", False),
        ("View this email in your browser", False),
        ("How issue 1234 of CPython was fixed", True),
        ("Issue trackers compared", True),
    ],
)
def test_links_that_name_an_action_or_an_issue_are_not_items(text: str, kept: bool) -> None:
    links = "".join(
        f'<p><a href="https://example.org/{n}">{t}</a></p>'
        for n, t in enumerate([text, "First item here", "Second item here", "Third item here"])
    )
    body = one_issue(links)
    assert (text in [c.title for c in parse(body)]) is kept


@pytest.mark.parametrize(
    "heading",
    [
        "<h3>Projects &amp; Code</h3>",
        "<p><strong>Projects &amp; Code</strong></p>",
        '<p><span style="font-size: 18px; color: #333">Projects &amp; Code</span></p>',
    ],
)
def test_a_section_heading_may_be_a_heading_or_a_styled_paragraph(heading: str) -> None:
    items = "".join(
        f'<p><a href="https://example.org/{n}">Item {n}</a><br>What item {n} does.</p>'
        for n in range(3)
    )
    ad = "<p><span>Sponsored</span> by nobody; a longer paragraph than any heading is.</p>"
    body = one_issue(f"{heading}{items}{ad}")
    result = parse(body)
    assert [(c.section, c.description) for c in result] == [
        ("project", f"What item {n} does.") for n in range(3)
    ]


def test_a_description_in_the_paragraph_after_its_link_is_found() -> None:
    items = "".join(
        f'<p><a href="https://example.org/{n}"><b>Item {n}</b></a></p><p>What item {n} does.</p>'
        for n in range(3)
    )
    body = one_issue(items)
    assert [c.description for c in parse(body)] == [f"What item {n} does." for n in range(3)]


def test_a_link_text_with_bidi_controls_is_cleaned_and_flagged_as_in_a_feed() -> None:
    items = "".join(
        f'<p><a href="https://example.org/{n}">{t}</a></p>'
        for n, t in enumerate(["Safe \u202eevil\u202c title", "Second item", "Third item"])
    )
    body = one_issue(items)
    first = parse(body)[0]
    assert "\u202e" not in first.title and first.extra["title_flags"] == ["bidi"]


def test_a_feed_of_summaries_is_not_a_newsletter() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<link>https://letter.example/</link><item><title>Issue 1</title>"
        b"<link>https://letter.example/issues/1</link><description>A short summary, "
        b'<a href="https://example.org/one">one link</a>.</description></item>'
        b"</channel></rss>"
    )
    with pytest.raises(ParseError) as err:
        parse(body)
    assert err.value.reason == "no_links"
    assert 'use kind = "feed"' in str(err.value)


def test_a_newsletter_feed_without_issues_is_empty_not_an_error() -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
    result = parse(body)
    assert list(result) == [] and result.notes["entries_total"] == 0


@pytest.mark.shared
def test_the_real_awesome_python_weekly_translation_gives_its_links() -> None:
    if not AWESOME_PW.exists():
        pytest.skip("../shared/fixtures is not beside the checkout")
    source = newsletter("https://weekly.pychina.org/feeds/awesomepw.atom.xml")
    result = parse(AWESOME_PW.read_bytes(), source)
    assert result.notes["issues_with_links"] == 5
    assert 60 <= len(result) <= 80
    sections = {c.section for c in result}
    assert sections == {"article", "project"}
    projects = [c for c in result if c.section == "project"]
    assert all("libhunt.com/r/" in c.url for c in projects) and len(projects) >= 20
    # The translator's footer and notes are in every issue: none of them is a candidate.
    urls = " ".join(c.url for c in result)
    for boilerplate in (
        "zoomquiet.io",
        "youtube.com/@Chaos42DAMA",
        "mp.weixin.qq.com",
        "libhunt.com/l/python",
        "python.libhunt.com/newsletter",
    ):
        assert boilerplate not in urls, boilerplate
    first = result[0]
    assert first.url == "https://www.dimamik.com/posts/oban_py/"
    assert first.title.startswith("Oban")
    assert first.published == "2026-01-31T12:42:00Z"
    # Issues are newest first: dates never rise along the positions.
    dates = [c.published for c in result]
    assert dates == sorted(dates, reverse=True)


@pytest.mark.shared
def test_the_real_pychina_summary_feed_is_refused_as_a_newsletter() -> None:
    if not PYCHINA_ALL.exists():
        pytest.skip("../shared/fixtures is not beside the checkout")
    with pytest.raises(ParseError) as err:
        parse(PYCHINA_ALL.read_bytes(), newsletter("https://weekly.pychina.org/feeds/all.rss.xml"))
    assert err.value.reason == "no_links"


def test_a_flood_of_issues_and_links_is_capped_to_the_newest() -> None:
    from crawler.parsers.feeds import MAX_ENTRIES
    from crawler.parsers.newsletter import MAX_ISSUES, MAX_LINKS_PER_ISSUE

    def issue(n: int) -> str:
        links = "".join(
            f'<li><a href="https://site{n}.example/post/{k}">Post {k} of issue {n} in detail</a></li>'
            for k in range(MAX_LINKS_PER_ISSUE + 50)
        )
        day = 28 - n % 28
        return (
            f"<item><title>Issue {n}</title><link>https://letter.example/issues/{n}</link>"
            f"<pubDate>Tue, {day:02d} Jan 2025 10:00:00 +0000</pubDate>"
            f"<description><![CDATA[<h2>Articles</h2><ul>{links}</ul>]]></description></item>"
        )

    items = "".join(issue(n) for n in range(MAX_ISSUES + 10))
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<link>https://letter.example/</link>{items}</channel></rss>"
    ).encode()
    result = parse(body)
    assert len(result) == MAX_ENTRIES
    assert result.notes["issues_with_links"] == MAX_ISSUES
    assert result.notes["skipped"]["links_capped"] == 50 * MAX_ISSUES
    assert result.notes["capped"] == {
        "kept": MAX_ENTRIES,
        "usable": MAX_ISSUES * MAX_LINKS_PER_ISSUE,
    }
    # The newest issue (28 January) is kept whole.
    assert {c.extra["issue"] for c in result if c.published.startswith("2025-01-28")} == {
        "Issue 0",
        "Issue 28",
    }
