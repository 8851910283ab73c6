"""Parsers on hostile and odd inputs: one fixture file per case (tests/fixtures/parsers)."""

from __future__ import annotations

import gzip
import json
import random
import time
import warnings
from pathlib import Path

import pytest

from crawler.parsers import PARSERS, ParseError
from crawler.parsers.common import guarded, header_charset, looks_like_markup, valid_xml_char
from crawler.parsers.feeds import (
    MAX_ENTRIES,
    _feedparser_summaries,
    _needs_summary_pass,
    _neutralize_charrefs,
    parse_feed,
)
from crawler.parsers.pages import decode_html
from crawler.sources import Source
from crawler.text import TITLE_MAX, html_to_text

FIXTURES = Path(__file__).parent / "fixtures" / "parsers"


def _cases() -> list[tuple[str, str, str]]:
    rows = []
    for line in (FIXTURES / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and "/" in cells[0]:
            rows.append((cells[0], cells[1], cells[2]))
    return rows


CASES = _cases()


def load(name: str) -> bytes:
    data = (FIXTURES / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


def source(kind: str = "feed", **kw) -> Source:
    return Source(
        name=f"edge-{kind}", kind=kind, url=kw.pop("url", "https://edge.example/feed"), **kw
    )


def parse(name: str, kind: str = "feed", headers: dict[str, str] | None = None, **kw):
    return PARSERS[kind](load(name), headers, source(kind, **kw))


def test_every_fixture_file_is_described():
    listed = {name for name, _kind, _expect in CASES}
    on_disk = {
        str(p.relative_to(FIXTURES))
        for p in FIXTURES.rglob("*")
        if p.is_file() and p.name != "README.md"
    }
    assert listed == on_disk
    # Files that can hold a comment say what they test inside, too.
    for name in on_disk:
        data = load(name)
        if name.endswith((".xml", ".html", ".xml.gz")) and data and b"\x00" not in data[:200]:
            assert b"Description:" in data and b"Expect:" in data, name


@pytest.mark.parametrize(("name", "kind", "expect"), CASES, ids=[c[0] for c in CASES])
def test_fixture_expectation(name, kind, expect):
    what, _, value = expect.partition(" ")
    if what == "error":
        with pytest.raises(ParseError) as info:
            parse(name, kind)
        assert info.value.reason == value
    else:
        result = parse(name, kind)
        assert len(result) == int(value)
        for c in result:
            assert c.title and c.url.startswith(("http://", "https://"))
            assert "\x00" not in c.title and "\u202e" not in c.title


@pytest.mark.parametrize(
    "name", ["feeds/quadratic_blowup.xml.gz", "feeds/billion_laughs_one_line.xml"]
)
def test_entity_gate_is_fast(name):
    body = load(name)
    start = time.perf_counter()
    with pytest.raises(ParseError):
        parse_feed(body, None, source())
    assert time.perf_counter() - start < 0.05


def test_external_dtd_is_not_fetched():
    # Port 9 (discard) on 127.0.0.1: a fetch attempt would fail loudly or hang; the
    # parse must simply succeed without touching it.
    (c,) = parse("feeds/external_dtd.xml")
    assert c.title == "Plain"


def test_surrogate_charrefs_become_replacement_chars():
    (c,) = parse("feeds/charref_surrogate.xml")
    assert c.title.startswith("a ") and c.title.endswith(" e")
    assert "replacement_char" in c.extra["title_flags"]
    c.title.encode("utf-8")  # no lone surrogate survives


# The XML 1.0 Char rule, for feeds and pages alike: U+FFFE/U+FFFF, surrogates, C0
# controls other than tab/LF/CR and anything past U+10FFFF are not characters.
CHARREF_RULE = [
    (0x0, False),
    (0x8, False),
    (0x9, True),
    (0xA, True),
    (0xD, True),
    (0x1F, False),
    (0x20, True),
    (0xD7FF, True),
    (0xD800, False),
    (0xDFFF, False),
    (0xE000, True),
    (0xFFFD, True),
    (0xFFFE, False),
    (0xFFFF, False),
    (0x10000, True),
    (0x10FFFF, True),
    (0x110000, False),
]


@pytest.mark.parametrize(
    ("cp", "valid"), CHARREF_RULE, ids=[f"U+{cp:04X}" for cp, _ in CHARREF_RULE]
)
def test_feeds_and_pages_agree_on_valid_character_references(cp, valid):
    assert valid_xml_char(cp) is valid
    for ref in (f"&#x{cp:X};", f"&#{cp};"):
        feed_kept = (
            _neutralize_charrefs(f"<t>a {ref} b</t>".encode()) == f"<t>a {ref} b</t>".encode()
        )
        page_text, _enc, _flags = decode_html(f"<title>a {ref} b</title>".encode(), {})
        assert feed_kept is valid, ref
        assert (ref in page_text) is valid, ref


@pytest.mark.parametrize("kind", ["feed", "page"])
def test_noncharacter_reference_in_a_title_becomes_a_flagged_replacement_char(kind):
    title = "<title>a &#xFFFF; b</title>"
    body = (
        f'<rss version="2.0"><channel><item>{title}<link>https://x.example/1</link></item>'
        "</channel></rss>"
        if kind == "feed"
        else f"<html><head>{title}</head><body><p>x</p></body></html>"
    )
    (c,) = PARSERS[kind](body.encode(), {}, source(kind, url="https://edge.example/a"))
    assert c.title == "a \ufffd b"
    assert "replacement_char" in c.extra["title_flags"]


def test_header_charset_and_markup_sniff():
    assert header_charset({b"Content-Type": b"text/html; charset='ISO-8859-1'"}) == "ISO-8859-1"
    assert header_charset({"content-type": "text/html"}) is None
    assert header_charset(None) is None
    assert looks_like_markup(b"\xef\xbb\xbf \r\n<rss>")
    assert looks_like_markup(memoryview(b"\t<feed/>"))
    assert not looks_like_markup(b'{"hits": []}')
    assert not looks_like_markup(b" " * 64 + b"<rss>")  # only the first 64 bytes count


def test_truncated_feed_keeps_complete_entries():
    result = parse("feeds/truncated.xml")
    assert [c.title for c in result] == ["One", "Two"]
    assert result.notes["truncated"] is True


def test_undeclared_cp1252_is_decoded():
    (c,) = parse("feeds/cp1252_undeclared.xml")
    assert c.title == "Café crème – naïve “quotes”"
    assert c.description == "Entrée … déjà vu"


def test_cp1252_behind_a_lying_utf8_header():
    headers = {"Content-Type": "application/rss+xml; charset=utf-8"}
    (c,) = parse("feeds/cp1252_undeclared.xml", headers=headers)
    assert c.title == "Café crème – naïve “quotes”"


def test_undeclared_gbk_is_decoded():
    result = parse("feeds/gbk_undeclared.xml")
    assert result[0].title.startswith("今天我们来聊聊 Python 的异步编程")
    assert "\ufffd" not in result[0].title
    assert result.notes["parser"] == "feedparser"


def test_utf16_feed():
    (c,) = parse("feeds/utf16_bom.xml")
    assert c.title == "Sixteen é"


def test_titles_are_text_and_bad_schemes_dropped():
    result = parse("feeds/javascript_links.xml")
    assert [c.title for c in result] == ["<script>alert(1)</script>Hello <b>bold</b>"]
    assert result.notes["skipped"]["bad_link"] == 5


EXPECTED_DATES = {
    0: (None, "missing"),
    1: ("2003-06-10T04:00:00Z", None),  # RFC 822 without a zone: UTC
    2: ("2003-06-10T04:00:00Z", None),  # unknown zone name: UTC
    3: (None, "unparsed"),  # month 13: no rollover
    4: (None, "unparsed"),  # Feb 30: no rollover
    5: ("2023-11-14T22:13:20Z", None),  # epoch seconds
    6: (None, "out_of_range"),
    7: (None, "out_of_range"),
    8: (None, "out_of_range"),
    9: (None, "out_of_range"),
    10: (None, "unparsed"),  # Jun 31
    11: (None, "unparsed"),
    12: (None, "unparsed"),  # "yesterday": never guessed
    13: (None, "unparsed"),  # 2023 is not a leap year: not moved to Feb 28
    14: ("2024-05-01T08:00:00Z", None),
}


def test_absurd_dates_are_flagged_never_rolled_over():
    result = parse("feeds/absurd_dates.xml")
    got = {int(c.title.split(":")[0].split()[1]): (c.published, c.date_flag) for c in result}
    assert got == EXPECTED_DATES
    raw = {int(c.title.split(":")[0].split()[1]): c.published_raw for c in result}
    assert raw[3] == "2024-13-01T00:00:00Z" and raw[5] == "1700000000"


def test_huge_title_is_truncated():
    (c,) = parse("feeds/huge_title.xml.gz")
    assert len(c.title) == TITLE_MAX and c.title.endswith("…")
    assert "truncated" in c.extra["title_flags"]


def test_entries_are_capped_to_the_newest(caplog):
    with caplog.at_level("INFO", logger="crawler.parsers.feeds"):
        result = parse("feeds/too_many_entries.xml.gz")
    assert len(result) == MAX_ENTRIES
    assert result.notes["capped"] == {"kept": MAX_ENTRIES, "usable": 1000}
    # One line naming the source and its URL (house rule), not a bare "feed capped".
    (line,) = [r.getMessage() for r in caplog.records if "capped" in r.getMessage()]
    assert line == (
        f"source edge-feed: feed https://edge.example/feed capped: kept the newest "
        f"{MAX_ENTRIES} of 1000 entries"
    )
    assert all(c.published.startswith("2025") for c in result)  # the newer half
    positions = [c.position for c in result]
    assert positions == sorted(positions)


def test_bidi_and_controls_are_stripped_and_flagged():
    bidi, nul = parse("feeds/bidi_nul_title.xml")
    assert bidi.title == "Safe evil namex"
    assert "bidi" in bidi.extra["title_flags"]
    # The XML layer already drops NUL and \x08 (not XML characters); U+200B is ours.
    assert nul.title == "Nul and backspace!"
    assert "zero_width" in nul.extra["title_flags"]


def test_duplicates_by_canonical_link():
    result = parse("feeds/duplicate_guids.xml")
    assert [c.title for c in result] == ["A", "B"]
    assert result.notes["skipped"] == {"duplicate": 1}


def test_entries_without_link_are_skipped():
    result = parse("feeds/no_link_entries.xml")
    assert [c.title for c in result] == ["Good"]
    assert sum(result.notes["skipped"].values()) == 3


def test_relative_links_resolved_against_the_feed():
    (c,) = parse("feeds/relative_links.xml")
    assert c.url == "https://edge.example/posts/rel.html"


def test_json_feed_and_enclosure_section():
    first, episode = parse("feeds/json_feed.json")
    assert first.description == "Hi there" and first.published == "2024-05-01T10:00:00Z"
    assert first.section == "article"
    assert episode.section == "audio_video" and episode.published == "2024-05-02T08:00:00Z"


def test_youtube_entries_are_audio_video_and_section_hint_used_otherwise():
    assert {c.section for c in parse("feeds/youtube_like.xml")} == {"audio_video"}
    assert {c.section for c in parse("feeds/relative_links.xml", section="hot_topic")} == {
        "hot_topic"
    }


@pytest.mark.parametrize(
    "body",
    [
        b"   \n",
        b"\xef\xbb\xbf",
        b"<rss",
        b"<?xml version='1.0'?>",
        b"\x89PNG\r\n\x1a\n\x00\x00",
        b"<rss version='2.0'><channel><title>t</title><item><title>\xff\xfe\x00</title></item>",
        b"[1, 2",
        b'{"version": "https://jsonfeed.org/version/1", "items": "nope"}',
        "<rss version='2.0'><channel><item><title>x</title><link>https://a.example/\ud800</link>"
        "</item></channel></rss>".encode("utf-8", "surrogatepass"),
    ],
)
def test_garbage_gives_parse_error_or_result(body):
    try:
        result = parse_feed(body, {"content-type": "text/xml"}, source())
    except ParseError as exc:
        assert exc.reason
    else:
        assert isinstance(result, list)


# --- summaries: feedparser's choice among summary elements (docs/PERFORMANCE.md, F6) --

_RSS_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"'
    ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
    ' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"'
    ' xmlns:media="http://search.yahoo.com/mrss/">'
    "<channel><title>c</title><link>https://edge.example/</link><description>d</description>"
)
_ATOM_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"'
    ' xmlns:media="http://search.yahoo.com/mrss/"><title>f</title><id>f</id>'
    "<updated>2024-01-01T00:00:00Z</updated>"
)
DESC = "<description>desc &lt;b&gt;one&lt;/b&gt;</description>"
ITUNES = "<itunes:summary>itunes two</itunes:summary>"
ENCODED = "<content:encoded><![CDATA[<p>encoded three</p>]]></content:encoded>"
DC = "<dc:description>dc four</dc:description>"
GROUP = "<media:group><media:description>media five</media:description></media:group>"
SUMMARY = '<summary type="html">sum &lt;i&gt;one&lt;/i&gt;</summary>'
CONTENT = '<content type="html">&lt;p&gt;content two&lt;/p&gt;</content>'
XHTML = (
    '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
    "<p>xhtml <b>three</b></p></div></content>"
)
XSUMMARY = (
    '<summary type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">xsum <b>four</b></div>'
    "</summary>"
)
LONG_CONTENT = '<content type="html">' + "&lt;p&gt;word &lt;/p&gt;" * 300 + "</content>"

SUMMARY_ORDERS = {
    "rss: description only": ("rss", [DESC]),
    "rss: description, content:encoded": ("rss", [DESC, ENCODED]),
    "rss: content:encoded, description": ("rss", [ENCODED, DESC]),
    "rss: content:encoded only": ("rss", [ENCODED]),
    "rss: itunes:summary, description (Talk Python)": ("rss", [ITUNES, DESC]),
    "rss: description, content, itunes (Django Chat)": ("rss", [DESC, ENCODED, ITUNES]),
    "rss: empty itunes:summary, description": ("rss", ["<itunes:summary/>", DESC]),
    "rss: dc:description, description": ("rss", [DC, DESC]),
    "rss: description, dc:description": ("rss", [DESC, DC]),
    "rss: content:encoded, itunes, description": ("rss", [ENCODED, ITUNES, DESC]),
    "rss: media:group description, description": ("rss", [GROUP, DESC]),
    "atom: summary, content": ("atom", [SUMMARY, CONTENT]),
    "atom: content, summary": ("atom", [CONTENT, SUMMARY]),
    "atom: long content only": ("atom", [LONG_CONTENT]),
    "atom: xhtml content only": ("atom", [XHTML]),
    "atom: xhtml summary, content": ("atom", [XSUMMARY, CONTENT]),
    "atom: media:group only (YouTube)": ("atom", [GROUP]),
    "atom: media:group, summary": ("atom", [GROUP, SUMMARY]),
    "atom: summary, media:group": ("atom", [SUMMARY, GROUP]),
}


def _summary_feed(style: str, children: list[str]) -> bytes:
    if style == "rss":
        item = (
            f"<item><title>t</title><link>https://edge.example/a</link>{''.join(children)}</item>"
        )
        return (_RSS_HEAD + item + "</channel></rss>").encode()
    entry = (
        '<entry><title>t</title><link href="https://edge.example/a"/><id>e</id>'
        f"<updated>2024-01-01T00:00:00Z</updated>{''.join(children)}</entry>"
    )
    return (_ATOM_HEAD + entry + "</feed>").encode()


@pytest.mark.parametrize(("style", "children"), SUMMARY_ORDERS.values(), ids=SUMMARY_ORDERS)
def test_summary_is_the_one_feedparser_picks(style, children):
    import feedparser

    body = _summary_feed(style, children)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (entry,) = feedparser.parse(body).entries
    content = entry.get("content") or []
    expected = html_to_text(entry.get("summary") or (content[0]["value"] if content else ""))
    (c,) = parse_feed(body, {"content-type": "application/xml"}, source())
    assert expected and c.description == expected


def test_plain_feeds_need_no_second_pass():
    # The speed target rests on this: description/summary plus content is read as is.
    assert not _needs_summary_pass(_summary_feed("rss", [DESC, ENCODED]))
    assert not _needs_summary_pass(_summary_feed("atom", [SUMMARY, CONTENT]))
    assert _needs_summary_pass(_summary_feed("rss", [ITUNES, DESC]))


def test_summary_pass_that_disagrees_on_entries_is_not_used():
    # Matching by position needs the same entries as fastfeedparser found; otherwise
    # fastfeedparser's values stay.
    body = _summary_feed("rss", [ITUNES, DESC])
    assert _feedparser_summaries(body, 1) == ["itunes two"]
    assert _feedparser_summaries(body, 2) is None


# --- pages --------------------------------------------------------------------------


def test_page_title_fallbacks():
    (og,) = parse("pages/og_title_only.html", "page")
    assert og.title == "OG wins" and og.extra["title_from"] == "og:title"
    assert og.published == "2024-05-01T10:00:00Z" and og.extra["date_confidence"] == "high"
    assert og.author == "Ada" and og.extra["code_blocks"] == 2 and og.extra["lang"] == "en"
    # No meta description: trafilatura's main text stands in for it.
    assert og.description.startswith("Python packaging is a topic")
    (h1,) = parse("pages/h1_only.html", "page")
    assert h1.title == "Heading title" and h1.extra["title_from"] == "h1"


def test_page_script_title_is_text_and_bomb_not_expanded():
    (c,) = parse("pages/script_title.html", "page")
    assert c.title == "<script>x</script> Title"
    start = time.perf_counter()
    (bomb,) = parse("pages/entity_bomb.html", "page")
    assert time.perf_counter() - start < 2
    assert len(bomb.title) < 100


def test_page_charset_from_meta_and_lying_header():
    (c,) = parse("pages/meta_cp1252.html", "page")
    assert c.title == "Café – naïve"
    (lied,) = parse("pages/meta_cp1252.html", "page", {"Content-Type": "text/html; charset=utf-8"})
    assert lied.title == "Café – naïve"
    assert "charset_mismatch" in lied.extra["decode_flags"]


# --- JSON sources -------------------------------------------------------------------


def test_hn_ask_item_is_a_hot_topic():
    result = parse("json/hn_ask.json", "hackernews")
    ask, evil = result
    assert ask.url == ask.discussion_url == "https://news.ycombinator.com/item?id=1"
    assert ask.section == "hot_topic" and ask.description == "Which one?"
    assert evil.url == "https://news.ycombinator.com/item?id=2"  # javascript: dropped
    assert evil.published == "2024-05-01T10:00:00Z"
    assert result.notes["skipped"] == {"no_title": 1}


def test_lobsters_tag_filter_and_self_posts():
    py, ask = parse("json/lobsters_mixed.json", "lobsters")
    assert py.points == 5 and py.extra["tags"] == ["python"] and py.author == "u1"
    assert py.published == "2024-05-01T08:47:05Z"
    assert ask.section == "hot_topic" and ask.url == "https://lobste.rs/s/b/y"
    only = parse("json/lobsters_mixed.json", "lobsters", options={"tags": ["python"]})
    assert [c.title for c in only] == ["Py"]


def test_reddit_self_and_link_posts():
    result = parse("json/reddit_mixed.json", "reddit")
    self_post, link = result
    assert self_post.section == "hot_topic"
    assert self_post.url == "https://www.reddit.com/r/Python/comments/1/self/"
    assert self_post.description == "Body text" and self_post.points == 10
    assert link.url == "https://link.example/x" and link.comments == 4
    assert link.discussion_url == "https://www.reddit.com/r/Python/comments/2/link/"
    assert result.notes["skipped"] == {"stickied": 1, "not_a_post": 1}


def test_pypi_without_github_uses_the_pypi_page():
    (c,) = parse("json/pypi_no_github.json", "pypi")
    assert c.url == "https://pypi.org/project/tinypkg/" and c.repo_key is None
    assert c.extra["version"] == "1.0" and c.published == "2024-05-01T10:00:00Z"
    assert c.section == "project"


def test_parsers_registry_covers_every_source_kind():
    from crawler.sources import KINDS

    assert set(PARSERS) == set(KINDS)


# --- robustness -----------------------------------------------------------------------

SMALL_CASES = [name for name, _kind, _expect in CASES if not name.endswith(".gz")]


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_mangled_inputs_only_raise_parse_error(kind):
    """Every fixture, cut short and with random bytes flipped, through every parser."""
    rng = random.Random(f"radar-{kind}")
    for name in SMALL_CASES:
        body = load(name)
        variants = [body[: len(body) * k // 5] for k in range(1, 5)]
        for _ in range(3):
            mangled = bytearray(body)
            for _ in range(rng.randint(1, 12)):
                if mangled:
                    mangled[rng.randrange(len(mangled))] = rng.randrange(256)
            variants.append(bytes(mangled))
        for variant in variants:
            try:
                result = PARSERS[kind](variant, {"Content-Type": "text/html"}, source(kind))
            except ParseError as exc:
                assert exc.reason != "internal_error", (name, exc)
            else:
                for c in result:
                    assert c.url.startswith(("http://", "https://"))
                    c.title.encode("utf-8")  # no lone surrogates


def test_guard_turns_bugs_into_parse_errors(caplog):
    def broken(body, headers, src):
        raise KeyError("boom")

    with pytest.raises(ParseError) as info:
        guarded(broken)(b"x", None, source())
    assert info.value.reason == "internal_error"
    assert "broken" in caplog.text


# --- titles as HTML, xml:base, and the backends agreeing ---------------------------------

_ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"{base}><title>T</title><link href="https://edge.example/"/>
{entries}</feed>"""
_ENTRY = '<entry><title{type}>{title}</title><link href="{link}"/><id>{link}</id></entry>\n'
_UTF8 = {"Content-Type": "application/atom+xml; charset=utf-8"}  # fastfeedparser
_LATIN1 = {"Content-Type": "application/atom+xml; charset=iso-8859-1"}  # feedparser


def test_html_titles_are_text_whichever_backend_reads_the_feed():
    entries = [
        (' type="html"', "Using &lt;code&gt;nbdev&lt;/code&gt; &amp;amp; more", "a"),
        ("", "Tricks &amp;amp; Features", "b"),  # type text, escaped twice by the feed
        ("", "&lt;script&gt;alert(1)&lt;/script&gt; stays text", "c"),
    ]
    body = _ATOM.format(
        base="",
        entries="".join(
            _ENTRY.format(type=t, title=title, link=f"https://edge.example/{link}")
            for t, title, link in entries
        ),
    ).encode()
    fast = PARSERS["feed"](body, _UTF8, source())
    slow = PARSERS["feed"](body, _LATIN1, source())
    assert (fast.notes["parser"], slow.notes["parser"]) == ("fastfeedparser", "feedparser")
    expected = ["Using nbdev & more", "Tricks & Features", "<script>alert(1)</script> stays text"]
    assert [c.title for c in fast] == [c.title for c in slow] == expected


def test_xhtml_titles_and_xml_base_are_read_as_feedparser_reads_them():
    body = _ATOM.format(
        base=' xml:base="https://edge.example/blog/"',
        entries=_ENTRY.format(
            type=' type="xhtml"',
            title='<div xmlns="http://www.w3.org/1999/xhtml">The <code>match</code> statement</div>',
            link="2024/match.html",
        )
        + _ENTRY.format(type="", title="Plain", link="2024/plain.html"),
    ).encode()
    for headers in (_UTF8, _LATIN1):
        result = PARSERS["feed"](body, headers, source())
        assert [(c.title, c.url) for c in result] == [
            ("The match statement", "https://edge.example/blog/2024/match.html"),
            ("Plain", "https://edge.example/blog/2024/plain.html"),
        ]


def test_reddit_escaped_fields_and_link_anchors_are_unescaped():
    post = {
        "kind": "t3",
        "data": {
            "title": "Pandas &amp; Polars",
            "url": "https://link.example/x?id=7&amp;utm_source=reddit",
            "permalink": "/r/Python/comments/9/x/",
            "score": 3,
        },
    }
    listing = json.dumps({"kind": "Listing", "data": {"children": [post]}}).encode()
    (c,) = PARSERS["reddit"](listing, None, source("reddit"))
    assert c.title == "Pandas & Polars"
    assert c.url == "https://link.example/x?id=7&utm_source=reddit"
    assert c.canonical_url == "https://link.example/x?id=7"
    href = "https://link.example/y?id=8&amp;utm_medium=social&amp;utm_source=t.co"
    atom = _ATOM.format(
        base="",
        entries=(
            '<entry><title>Story</title><link href="https://www.reddit.com/r/a/comments/1/s/"/>'
            f'<id>t3_1</id><content type="html">&lt;a href="{href.replace("&", "&amp;")}"&gt;'
            "[link]&lt;/a&gt;</content></entry>"
        ),
    ).encode()
    (c,) = PARSERS["reddit"](atom, _UTF8, source("reddit"))
    assert c.url == "https://link.example/y?id=8&utm_medium=social&utm_source=t.co"
    assert c.canonical_url == "https://link.example/y?id=8"


# --- sitemaps and robots.txt ------------------------------------------------------------------


def test_sitemap_index_lists_children_once_never_itself_post_sitemaps_first():
    result = parse("sitemaps/index_self.xml", "sitemap")
    assert result.notes["sitemaps"] == [
        "https://edge.example/post-sitemap.xml",  # "post"/"sitemap" in the name: first
        "https://edge.example/pages.xml",
    ]
    assert result.notes["skipped"] == {"self_or_duplicate": 2, "bad_link": 1}


def test_sitemap_index_newest_lastmod_first_among_equals():
    body = b"""<sitemapindex>
      <sitemap><loc>https://e.example/a.xml</loc><lastmod>2023-01-01</lastmod></sitemap>
      <sitemap><loc>https://e.example/b.xml</loc></sitemap>
      <sitemap><loc>https://e.example/c.xml</loc><lastmod>2024-01-01T10:00:00+02:00</lastmod></sitemap>
    </sitemapindex>"""
    result = PARSERS["sitemap"](body, None, source("sitemap", url="https://e.example/i.xml"))
    assert [u.rsplit("/", 1)[1] for u in result.notes["sitemaps"]] == ["c.xml", "a.xml", "b.xml"]


def test_robots_txt_gives_its_http_sitemaps_only():
    body = (
        b"User-agent: *\nDisallow: /private/\n"
        b"Sitemap: https://e.example/sitemap.xml\n"
        b"sitemap: /relative.xml\n"  # resolved against the robots.txt URL
        b"Sitemap: ftp://e.example/x.xml\n"
        b"Sitemap: https://e.example/sitemap.xml\n"
    )
    result = PARSERS["sitemap"](body, None, source("sitemap", url="https://e.example/robots.txt"))
    assert list(result) == []
    assert result.notes["sitemaps"] == [
        "https://e.example/sitemap.xml",
        "https://e.example/relative.xml",
    ]
    assert result.notes["skipped"] == {"bad_link": 1, "duplicate": 1}
    # Found by its content type elsewhere; any other text body is not a sitemap.
    plain = {"Content-Type": "text/plain; charset=utf-8"}
    other = source("sitemap", url="https://e.example/sitemaps")
    assert PARSERS["sitemap"](body, plain, other).notes["sitemaps"][0].endswith("/sitemap.xml")
    with pytest.raises(ParseError) as info:
        PARSERS["sitemap"](body, {"Content-Type": "text/html"}, other)
    assert info.value.reason == "not_a_sitemap"


def _urls(*items: str) -> bytes:
    parts = []
    for item in items:
        loc, _, lastmod = item.partition(" ")
        lm = f"<lastmod>{lastmod}</lastmod>" if lastmod else ""
        parts.append(f"<url><loc>https://e.example{loc}</loc>{lm}</url>")
    return f"<urlset>{''.join(parts)}</urlset>".encode()


def test_sitemap_urlset_skips_listings_indexes_and_assets():
    body = _urls(
        "/",
        "/index.html",
        "/2007/",
        "/2020/01/",
        "/tags/python/",
        "/category/news/",
        "/authors/mattip.html",
        "/page/2/",
        "/blog/",
        "/blog/index-3.html",
        "/archives/",
        "/search/",
        "/about/",
        "/feed.xml",
        "/data.json",
        "/img/logo.png",
        "/static/site.css",
        "/static/app.js",
        "/posts/2024/08/pypy-v7317-release.html",
        "/blog/my_first-post/index.html 2024-01-01",
        "/archive/2021/05/kept-because-dated/",
    )
    result = PARSERS["sitemap"](body, None, source("sitemap", url="https://e.example/s.xml"))
    assert {c.url.removeprefix("https://e.example"): c.title for c in result} == {
        "/posts/2024/08/pypy-v7317-release.html": "Pypy v7317 release",
        "/blog/my_first-post/index.html": "My first post",
        "/archive/2021/05/kept-because-dated/": "Kept because dated",
    }
    assert result.notes["skipped"] == {"site_root": 2, "date_index": 2, "listing": 9, "asset": 5}
    assert all(c.extra["title_from"] == "url" and c.section == "article" for c in result)


def test_sitemap_match_option_restricts_to_paths():
    body = _urls("/posts/a-post/ 2024-01-02", "/docs/install/ 2024-01-03")
    src = source("sitemap", url="https://e.example/s.xml", options={"match": r"^/posts/"})
    result = PARSERS["sitemap"](body, None, src)
    assert [c.title for c in result] == ["A post"]
    assert result.notes["skipped"] == {"no_match": 1}


def test_sitemap_dates_path_first_then_lastmod_and_a_build_stamp_is_ignored():
    stamp = "2026-07-21T08:21:00Z"
    body = _urls(
        "/2024/08/dated-by-path/ 2026-01-01",  # the path says when it was published
        "/undated-post/ 2024-03-04T10:00:00+02:00",
        "/future-post/ 2999-01-01",
        *(f"/stamped-{n}/ {stamp}" for n in range(9)),
    )
    result = PARSERS["sitemap"](body, None, source("sitemap", url="https://e.example/s.xml"))
    got = {c.title: (c.published, c.published_raw, c.date_flag) for c in result}
    assert got["Dated by path"] == ("2024-08-01T00:00:00Z", "2024/08", None)
    assert got["Undated post"] == ("2024-03-04T08:00:00Z", "2024-03-04T10:00:00+02:00", None)
    assert got["Stamped 0"][0] == "2026-07-21T08:21:00Z"  # 9 alike: not yet a stamp
    # Most URLs are dated: one without a usable date is a fixed page of the site.
    assert "Future post" not in got and result.notes["skipped"] == {"undated": 1}
    # One more URL with the same lastmod: a site-build stamp, ignored for all ten.
    body = body.replace(
        b"</urlset>",
        f"<url><loc>https://e.example/s9/</loc><lastmod>{stamp}</lastmod></url></urlset>".encode(),
    )
    result = PARSERS["sitemap"](body, None, source("sitemap", url="https://e.example/s.xml"))
    assert result.notes["build_stamp"] == {"lastmod": stamp, "urls": 10}
    # Now most URLs are undated: nothing is left out for it, each page gives its date.
    assert len(result) == 13 and "undated" not in result.notes.get("skipped", {})
    assert sum(1 for c in result if c.published) == 2
    future = next(c for c in result if c.title == "Future post")
    assert (future.published, future.published_raw, future.date_flag) == (
        None,
        "2999-01-01",
        "out_of_range",
    )


def test_sitemap_with_a_comment_after_its_root_is_complete_and_a_cut_one_is_not():
    # Yoast ends every sitemap with <!-- XML Sitemap generated by Yoast SEO -->: before,
    # such a complete sitemap was noted as truncated.
    src = source("sitemap", url="https://e.example/s.xml")
    body = _urls("/2024/01/02/a-post/", "/2024/01/03/b-post/")
    done = body + b"\n<!-- XML Sitemap generated by Yoast SEO -->\n<!-- 2nd -->\n"
    result = PARSERS["sitemap"](done, None, src)
    assert len(result) == 2 and "truncated" not in result.notes
    cut = body[: body.index(b"</url><url>") + 6] + b"<url><loc>https://e.example/2024/01/0"
    result = PARSERS["sitemap"](cut, None, src)
    assert [c.title for c in result] == ["A post"] and result.notes["truncated"] is True


def test_sitemap_urls_on_another_host_are_skipped_www_aside():
    # sitemaps.org: a urlset lists its own site's URLs. Before, links to localhost,
    # 127.0.0.2 or [::1] were stored as the blog's candidates.
    locs = [
        "https://e.example/2024/01/02/own-post/",
        "https://www.e.example/2024/01/03/www-post/",
        "https://E.EXAMPLE:8443/2024/01/04/port-post/",
        "http://localhost/2024/01/05/local/",
        "http://127.0.0.2/2024/01/06/loopback/",
        "http://[::1]/2024/01/07/six/",
        "https://other.example/2024/01/08/theirs/",
        "https://blog.e.example/2024/01/09/sub/",
    ]
    body = "".join(f"<url><loc>{u}</loc></url>" for u in locs)
    src = source("sitemap", url="https://www.e.example/sitemap.xml")
    result = PARSERS["sitemap"](f"<urlset>{body}</urlset>".encode(), None, src)
    assert [c.title for c in result] == ["Own post", "Www post", "Port post"]
    assert result.notes["skipped"] == {"other_host": 5}


def test_a_big_undated_sitemap_keeps_its_first_entries_and_says_so(caplog):
    # Undated URLs have no newest: before, the log said "kept the newest 200" of them.
    body = _urls(*(f"/notes/note-{n}/" for n in range(MAX_ENTRIES + 101)))
    src = source("sitemap", url="https://e.example/s.xml")
    with caplog.at_level("INFO", logger="crawler.parsers.feeds"):
        result = PARSERS["sitemap"](body, None, src)
    assert [c.title for c in result[:2]] == ["Note 0", "Note 1"] and len(result) == MAX_ENTRIES
    assert result[-1].title == f"Note {MAX_ENTRIES - 1}"
    (line,) = [r.getMessage() for r in caplog.records if "capped" in r.getMessage()]
    assert line == (
        f"source {src.name}: sitemap https://e.example/s.xml capped: kept the first "
        f"{MAX_ENTRIES} of {MAX_ENTRIES + 101} entries (undated: in the sitemap's order)"
    )
    # Some dated: the newest dated ones, then the first undated ones.
    dated = [f"/notes/dated-{n}/ 2024-01-{n + 1:02d}" for n in range(5)]
    undated = [f"/notes/note-{n}/" for n in range(MAX_ENTRIES)]
    caplog.clear()
    with caplog.at_level("INFO", logger="crawler.parsers.feeds"):
        PARSERS["sitemap"](_urls(*undated, *dated), None, src)
    (line,) = [r.getMessage() for r in caplog.records if "capped" in r.getMessage()]
    assert line.endswith(
        f"kept the newest 5 and the first {MAX_ENTRIES - 5} undated of {MAX_ENTRIES + 5} "
        "entries (undated: in the sitemap's order)"
    )
