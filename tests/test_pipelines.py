"""crawler/pipelines.py: parser-cleaned text passes once; raw fields are still cleaned."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler import text
from crawler.items import Candidate
from crawler.parsers import PARSERS
from crawler.pipelines import clean_candidate
from crawler.sources import Source
from crawler.text import _already_clean, _clean_flagged, clean_text_flagged

# Text with everything clean_text cares about: spaces of every kind, controls, bidi and
# zero-width characters, U+FFFD, surrogates, combining marks (NFC), plain letters.
_TRICKY = st.sampled_from(
    list(" \t\n\r\x0b\x0c\x1c\x85\xa0\u2028\u3000\x00\x07\x1b\x7f\x9f")
    + list("\u202a\u202e\u2066\u2069\u200b\ufeff\ufffd\ud800\udfff\u0301\u00e9e")
    + list("ab Z.-")
)
_TEXT = st.one_of(st.text(), st.lists(_TRICKY, max_size=40).map("".join))


@settings(max_examples=600, deadline=None)
@given(_TEXT, st.integers(min_value=1, max_value=60))
def test_what_passes_the_fast_check_is_what_clean_text_returns(s, max_len):
    if _already_clean(s, max_len):
        assert _clean_flagged(s, max_len, True) == (s, frozenset())


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_cleaned_text_without_flags_passes_the_fast_check(s):
    # What parsers hand over takes the cheap path (a flagged text may not: removing a
    # zero-width space can leave a base letter and a combining mark that NFC would join).
    cleaned, flags = clean_text_flagged(s, 1000)
    if not flags:
        assert _already_clean(cleaned, 1000)


def _feed_candidates() -> list[Candidate]:
    body = (
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>"
        b"<link>https://blog.example/</link>"
        b"<item><title>  Caf\xc3\xa9 \xe2\x80\xae news  </title><link>https://blog.example/a</link>"
        b"<description>&lt;p&gt;Some &lt;b&gt;bold&lt;/b&gt;   text&lt;/p&gt;</description>"
        b"<author>Ada  Lovelace</author><pubDate>Tue, 03 Jun 2025 10:00:00 GMT</pubDate></item>"
        b"<item><title>Repo</title><link>https://github.com/Astral-sh/UV/tree/main</link></item>"
        b"</channel></rss>"
    )
    source = Source("blog", "feed", "https://blog.example/feed")
    return list(PARSERS["feed"](body, {"content-type": "application/rss+xml"}, source))


def test_parser_output_is_not_cleaned_twice(monkeypatch):
    candidates = _feed_candidates()
    before = [dataclasses.replace(c, extra=dict(c.extra)) for c in candidates]

    def fail(*args, **kwargs):
        raise AssertionError("parser text cleaned a second time")

    # The pipeline calls clean_text, whose cheap check must let parser text through
    # without the full cleaning pass.
    monkeypatch.setattr(text, "_clean_flagged", fail)
    for cand in candidates:
        assert clean_candidate(cand) is None
    assert candidates == before
    assert candidates[0].extra["title_flags"] == ["bidi"]
    assert candidates[1].repo_key == "github.com/astral-sh/uv"


def test_raw_fields_are_still_cleaned():
    cand = Candidate(
        url=" https://Example.com/a?utm_source=x ",
        title="ok title",
        source="s",
        description="two\n\nlines\u200b",
        published_raw="2024-01-02T03:04:05Z\x00",
        author="  Ada \u202eLovelace ",
        language=" Python\t",
        discussion_url="javascript:alert(1)",
        section="article",
    )
    assert clean_candidate(cand) is None
    assert cand.url == "https://Example.com/a?utm_source=x"
    assert cand.canonical_url == "https://example.com/a"
    assert cand.repo_key is None
    assert cand.description == "two lines"
    assert cand.published_raw == "2024-01-02T03:04:05Z"
    assert cand.author == "Ada Lovelace"
    assert cand.language == "Python"
    assert cand.discussion_url is None


def test_title_flags_are_merged_with_the_parsers():
    cand = Candidate(
        url="https://example.com/",
        title="bad\ufffd \x07title",
        source="s",
        extra={"title_flags": ["truncated"]},
    )
    assert clean_candidate(cand) is None
    assert cand.title == "bad\ufffd title"
    assert cand.extra["title_flags"] == ["controls", "replacement_char", "truncated"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("   ", None), (42, "42"), ("x" * 600, "x" * 499 + "…")],
)
def test_optional_text_fields(value, expected):
    cand = Candidate(url="https://example.com/", title="t", source="s", author=value)
    assert clean_candidate(cand) is None
    assert cand.author == expected


def test_non_text_description_becomes_empty():
    cand = Candidate(url="https://example.com/", title="t", source="s", description=None)  # type: ignore[arg-type]
    assert clean_candidate(cand) is None
    assert cand.description == ""


def test_to_dict_is_a_shallow_copy_with_its_own_extra():
    cand = Candidate(url="https://example.com/", title="t", source="s", extra={"tags": ["a"]})
    record = cand.to_dict()
    assert record == dataclasses.asdict(cand)
    assert list(record) == [f.name for f in dataclasses.fields(Candidate)]
    record["extra"]["new"] = 1
    assert "new" not in cand.extra
    assert Candidate.from_dict({**record, "unknown": 1}).title == "t"
