"""crawler.text: cleaning untrusted strings, HTML to text, and dates without guessing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from crawler.text import (
    ELLIPSIS,
    clean_text,
    clean_text_flagged,
    html_to_text,
    parse_date,
    parse_iso_utc,
    parse_local_date,
    title_text,
    unescape_refs,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "cleaned", "flags"),
    [
        ("  plain   title \n", "plain title", set()),
        ("a\x00b\x08c\x1bd", "a b c d", {"controls"}),
        ("tab\tand\nnewline", "tab and newline", set()),
        ("evil\u202egnp.exe", "evilgnp.exe", {"bidi"}),
        ("iso\u2066late\u2069", "isolate", {"bidi"}),
        ("zero\u200bwidth\ufeff", "zerowidth", {"zero_width"}),
        ("lone \ud800 surrogate", "lone surrogate", {"surrogates"}),
        ("e\u0301", "\u00e9", set()),  # NFC
        ("e\u200b\u0301", "\u00e9", {"zero_width"}),  # NFC after what was between is gone
        ("bad \ufffd byte", "bad \ufffd byte", {"replacement_char"}),
        ("c1\x85control", "c1 control", {"controls"}),
        (None, "", set()),
        (42, "", set()),
    ],
)
def test_clean_text(raw, cleaned, flags):
    text, got = clean_text_flagged(raw)
    assert text == cleaned
    assert set(got) == flags


def test_clean_text_truncates_with_ellipsis():
    text, flags = clean_text_flagged("word " * 100, 20)
    assert len(text) == 20 and text.endswith(ELLIPSIS)
    assert flags == {"truncated"}
    assert clean_text("short", 20) == "short"


def test_clean_text_on_10_mb_is_bounded():
    text, flags = clean_text_flagged("x" * 10_000_000 + "\u202e", 1000)
    assert len(text) == 1000 and "truncated" in flags


def test_clean_text_multiline_keeps_paragraphs():
    text = clean_text("para  one\r\n\r\n\r\n  para\ttwo  \n", None, single_line=False)
    assert text == "para one\n\npara two"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hello &amp; <b>world</b></p><p>again</p>", "Hello & world again"),
        ("<script>alert(1)</script><style>p{}</style>Visible", "Visible"),
        ("Tom &amp; Jerry &lt;3", "Tom & Jerry <3"),
        ("<p>a<!-- hidden -->b</p>", "ab"),
        ("<iframe src='x'>no</iframe><a href='javascript:x'>link</a>", "link"),
        ("", ""),
        (None, ""),
        ("<p>unclosed <b>tags", "unclosed tags"),
        ("nul\x00 and \ud800 surrogate <i>x</i>", "nul and surrogate x"),
    ],
)
def test_html_to_text(html, text):
    assert html_to_text(html) == text


def test_html_to_text_truncates():
    assert len(html_to_text("<p>" + "word " * 1000 + "</p>", 100)) == 100


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, (None, "missing")),
        ("  ", (None, "missing")),
        ("Tue, 10 Jun 2003 04:00:00 GMT", ("2003-06-10T04:00:00Z", None)),
        ("Tue, 10 Jun 2003 04:00:00", ("2003-06-10T04:00:00Z", None)),
        ("Tue, 10 Jun 2003 04:00:00 XYZ", ("2003-06-10T04:00:00Z", None)),
        ("Wed, 07 Jun 2023 00:00:00 -0800", ("2023-06-07T08:00:00Z", None)),
        ("2024-13-01T00:00:00Z", (None, "unparsed")),
        ("2024-02-30T00:00:00Z", (None, "unparsed")),
        ("2024-02-30", (None, "unparsed")),
        ("2023-02-29", (None, "unparsed")),
        ("2024-02-29", ("2024-02-29T00:00:00Z", None)),
        ("Feb 30 2024", (None, "unparsed")),
        ("Mon, 31 Jun 2024 10:00:00 GMT", (None, "unparsed")),
        ("1700000000", ("2023-11-14T22:13:20Z", None)),
        ("1700000000000", ("2023-11-14T22:13:20Z", None)),
        (1175714200, ("2007-04-04T19:16:40Z", None)),
        (1777060705.0, ("2026-04-24T19:58:25Z", None)),
        ("2099-01-01T00:00:00Z", (None, "out_of_range")),
        ("9999-12-31T23:59:59Z", (None, "out_of_range")),
        ("0001-01-01T00:00:00Z", (None, "out_of_range")),
        ("0001-01-01T00:00:00+01:00", (None, "unparsed")),
        ("1970-01-01T00:00:00+14:00", (None, "out_of_range")),
        ("1994-12-31T23:59:59Z", (None, "out_of_range")),
        ("2026-11-22T11:00:00Z", ("2026-11-22T11:00:00Z", None)),  # within now + 1 day
        ("2026-11-22T13:00:00Z", (None, "out_of_range")),
        ("2023-11-02T03:47:05.000-05:00", ("2023-11-02T08:47:05Z", None)),
        ("2021-02-20 10:30:00+01:00", ("2021-02-20T09:30:00Z", None)),
        ("2024-05-01T10:00:00+25:00", (None, "unparsed")),
        ("May 1, 2024", ("2024-05-01T00:00:00Z", None)),
        ("yesterday", (None, "unparsed")),
        ("2024", (None, "unparsed")),
        ("x" * 500, (None, "unparsed")),
        (True, (None, "unparsed")),
        ([2024], (None, "unparsed")),
    ],
)
def test_parse_date(raw, expected):
    assert parse_date(raw, now=NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-21T12:00:00.5Z", datetime(2026, 11, 21, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-21T13:30:00+01:30", datetime(2026, 11, 21, 12, 0, tzinfo=UTC)),
        ("2026-11-21T12:00:00", datetime(2026, 11, 21, 12, 0, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
        ("0001-01-01T00:00:00+01:00", None),  # no UTC time: before year 1
        ("9999-12-31T23:30:00-01:00", None),  # no UTC time: after year 9999
        ("2026-13-01T00:00:00Z", None),
        ("", None),
        ("yesterday", None),
        (None, None),
        (1764000000, None),
    ],
)
def test_parse_iso_utc(value, expected):
    assert parse_iso_utc(value) == expected


@pytest.mark.parametrize(
    ("raw", "day"),
    [
        ("Sat, 18 Jan 2025 02:00:00 +0800", date(2025, 1, 18)),  # the 17th in UTC
        ("Fri, 17 Jan 2025 22:00:00 -0500", date(2025, 1, 17)),  # the 18th in UTC
        ("2025-01-18T02:00:00+08:00", date(2025, 1, 18)),
        ("Jan 18, 2025", date(2025, 1, 18)),
        ("18 January 2025", date(2025, 1, 18)),
        ("1700000000", date(2023, 11, 14)),
        ("Feb 30 2024", None),
        ("18 Jan 25", None),
        ("2099-01-01", None),
        ("", None),
    ],
)
def test_parse_local_date_is_the_day_as_written(raw, day):
    assert parse_local_date(raw, now=NOW) == day
    if day is not None:  # the same reading as parse_date's, without the move to UTC
        assert parse_date(raw, now=NOW)[1] is None


def test_parse_date_naive_now_is_utc():
    assert parse_date("2026-11-21T00:00:00Z", now=datetime(2026, 11, 21)) == (
        "2026-11-21T00:00:00Z",
        None,
    )


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("Tricks &amp; Features", "Tricks & Features"),  # escaped twice by the feed
        ("We&#39;re at 1M", "We're at 1M"),
        ("Using <code>nbdev</code> &amp; more", "Using nbdev & more"),  # Atom type="html"
        ("a &lt; b", "a < b"),
        # text that mentions markup stays verbatim (RELIABILITY P9)
        ("<script>alert(1)</script> in titles", "<script>alert(1)</script> in titles"),
        ("List<int> and Map<K,V>", "List<int> and Map<K,V>"),
        ("The <code> element", "The <code> element"),
        ("AT&T and &foo; Co", "AT&T and &foo; Co"),
        ("Plain", "Plain"),
        # a `<` that opens no closed inline tag is text; the references are still decoded
        ("if a<b: print(x) &mdash; tips", "if a<b: print(x) — tips"),
        ("Comparing a<b and b>c &amp; more", "Comparing a<b and b>c & more"),
        ("5 < 6 &amp; 7 > 3", "5 < 6 & 7 > 3"),
        ("Line<br>break &amp; more", "Line break & more"),
    ],
)
def test_title_text(raw, text):
    assert title_text(raw) == text


def test_unescape_refs_decodes_only_complete_references():
    url = "https://x.org/a?b=1&amp;utm_source=2&copy=3&#38;z=&#x26;"
    assert unescape_refs(url) == "https://x.org/a?b=1&utm_source=2&copy=3&z=&"
    assert unescape_refs("no refs") == "no refs"
