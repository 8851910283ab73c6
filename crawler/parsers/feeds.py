"""Feed bytes (RSS, Atom, JSON Feed) -> candidates.

Fast path: fastfeedparser (native core, ~100x feedparser) for well-formed UTF-8.
Fallback: feedparser, handed bytes (never a URL or a path), for other encodings and
for whatever fastfeedparser refuses. Summaries are the ones feedparser would pick
(`_feedparser_summary`; an extra lxml pass only for feeds that need it). Before either
sees the body, entity declarations are refused (billion laughs, quadratic blowup, XXE:
RELIABILITY P1-P6) and invalid character references are neutralized (P5). Nothing but
ParseError leaves this module.
"""

from __future__ import annotations

import contextvars
import io
import json
import logging
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from crawler.items import Candidate
from crawler.parsers.common import (
    ParseError,
    ParseResult,
    checked_link,
    clean_title,
    fill_identity,
    header,
    header_charset,
    http_link,
    is_site_root,
    refuse_entity_declarations,
    valid_xml_char,
)
from crawler.sources import Source
from crawler.text import SUMMARY_MAX, clean_text, html_to_text, parse_date, title_text

logger = logging.getLogger(__name__)

__all__ = ["MAX_ENTRIES", "FeedEntry", "cap_newest", "parse_feed", "read_feed"]

# Entries kept per feed (the newest); a 100,000-entry feed must not flood a run (P11).
MAX_ENTRIES = 200
MAX_RAW_ENTRIES = 5 * MAX_ENTRIES
AUDIO_VIDEO_EXT = (".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".mp4", ".m4v", ".webm")
VIDEO_HOSTS = ("youtube.com", "youtu.be", "vimeo.com")

_CHARREF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,16})|([0-9]{1,20}));")
_XML_DECL_ENC = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_ROOT_TAG = re.compile(
    rb"^(?:\s|<\?[^>]*\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[[^\]]*\])?\s*>)*<([A-Za-z_][\w:.-]*)",
    re.DOTALL | re.IGNORECASE,
)
_HTML_ROOTS = frozenset({b"html", b"head", b"body", b"div", b"p", b"title", b"meta"})
_UTF8_NAMES = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_ENTRY_TAG = re.compile(rb"<(?:[\w.-]+:)?(?:item|entry)[\s>]")
_ITEM_CLOSE = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>")
_ROOT_CLOSE = re.compile(rb"</(?:[\w.-]+:)?(?:rss|feed|RDF)\s*>\s*$")
# What fastfeedparser gets wrong and feedparser right: an Atom title of type xhtml
# (fastfeedparser gives "" and the entry is lost) and xml:base on an element whose links
# resolve against it (on <content> it only concerns links inside the text: Rust's blog).
_XHTML_TITLE = re.compile(rb"<(?:[\w.-]+:)?title\s[^>]*type\s*=\s*[\"']xhtml")
_LINK_BASE = re.compile(rb"<(?:[\w.-]+:)?(?:feed|entry|rss|channel|item|link)\s[^>]*xml:base")


@dataclass
class FeedEntry:
    """One entry as either backend saw it, before it becomes a Candidate."""

    title: str | None = None
    link: str | None = None
    id: str | None = None
    summary: str | None = None  # HTML or text
    content: str | None = None  # HTML or text
    published_raw: str | None = None
    author: str | None = None
    enclosures: list[tuple[str, str]] = field(default_factory=list)  # (url, type)
    tags: list[str] = field(default_factory=list)
    comments: str | None = None


@dataclass
class Feed:
    """A parsed feed: its own title and link, its entries in document order."""

    title: str | None
    link: str | None
    entries: list[FeedEntry]
    notes: dict[str, Any]


# --- fastfeedparser date hook --------------------------------------------------------
# fastfeedparser's native core converts strictly valid dates itself and hands every
# other date string to fastfeedparser.main._parse_date, which guesses ("2024-13-01"
# becomes 13 January, "yesterday" becomes a date). We want those raw: while our
# context variable is set, the hook returns the string untouched; for every other
# caller in the process it is the original function.
_RAW_DATES: contextvars.ContextVar[bool] = contextvars.ContextVar("raw_dates", default=False)


def _install_raw_date_hook() -> None:
    """Install the hook, once. fastfeedparser is pinned; should a new version lose
    `_parse_date`, test_absurd_dates_are_flagged_never_rolled_over fails."""
    try:
        import fastfeedparser.main as ffp_main
    except ImportError:  # pragma: no cover - fastfeedparser is a pinned dependency
        return
    original = getattr(ffp_main, "_parse_date", None)
    if original is None or getattr(original, "_radar_hook", False):
        return

    def _parse_date(date_str: str) -> str | None:
        if _RAW_DATES.get():
            return date_str.strip() or None if isinstance(date_str, str) else None
        return original(date_str)

    _parse_date._radar_hook = True  # type: ignore[attr-defined]
    ffp_main._parse_date = _parse_date


_install_raw_date_hook()


# --- public entry points -------------------------------------------------------------


def parse_feed(body: bytes, headers: Mapping[str, str] | None, source: Source) -> ParseResult:
    """Feed bytes -> candidates (one per usable entry, newest MAX_ENTRIES kept)."""
    feed = read_feed(body, headers)
    return build_candidates(feed, source)


def read_feed(body: bytes, headers: Mapping[str, str] | None) -> Feed:
    """Feed bytes -> Feed (entries normalized across backends); ParseError otherwise."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise ParseError("bad_input", f"expected bytes, got {type(body).__name__}")
    body = bytes(body)
    if not body.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise ParseError("empty", "empty body")
    refuse_entity_declarations(body)
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        return _read_json_feed(body)
    root = _ROOT_TAG.match(head)
    if root and root.group(1).lower() in _HTML_ROOTS:
        raise ParseError("not_a_feed", "HTML page, not a feed")
    body = _neutralize_charrefs(body)
    try:
        if _fast_path_ok(body, headers):
            feed = _read_fast(body)
            # A feed-looking body with no entries: give feedparser (older dialects) a go.
            if feed is not None and (feed.entries or not _ENTRY_TAG.search(body)):
                return _drop_truncated(feed, body)
        return _drop_truncated(_read_feedparser(body, headers), body)
    except ParseError:
        raise
    except Exception as exc:  # the backends raise anything on hostile input (P5, P6)
        raise ParseError("unparseable", f"{type(exc).__name__}: {str(exc)[:120]}") from None


# --- guards --------------------------------------------------------------------------


def _neutralize_charrefs(body: bytes) -> bytes:
    """Replace references to non-XML characters (valid_xml_char) with U+FFFD (feedparser #591)."""
    if b"&#" not in body:
        return body

    def fix(m: re.Match[bytes]) -> bytes:
        hexa, dec = m.group(1), m.group(2)
        cp = int(hexa, 16) if hexa is not None else int(dec)
        return m.group(0) if valid_xml_char(cp) else b"&#xFFFD;"

    return _CHARREF.sub(fix, body)


def _declared_charset(body: bytes, headers: Mapping[str, str] | None) -> list[str]:
    found = []
    charset = header_charset(headers)
    if charset:
        found.append(charset.lower())
    m = _XML_DECL_ENC.match(body[:512])
    if m:
        found.append(m.group(1).decode("ascii").lower())
    return found


def _fast_path_ok(body: bytes, headers: Mapping[str, str] | None) -> bool:
    """True for bodies fastfeedparser reads right: declared (or undeclared) UTF-8 that is."""
    if body.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")) or b"\x00" in body[:64]:
        return False
    if any(cs not in _UTF8_NAMES for cs in _declared_charset(body, headers)):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        # Undeclared cp1252 or GBK: feedparser + chardet decode it (P8).
        return False
    if b"xml:base" in body and _LINK_BASE.search(body):
        return False
    return b"xhtml" not in body or _XHTML_TITLE.search(body) is None


def _drop_truncated(feed: Feed, body: bytes) -> Feed:
    """A body cut mid-entry: keep only the entries whose closing tag arrived (P7)."""
    if body.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in body[:64]:
        return feed
    if _ROOT_CLOSE.search(body[-2048:]):
        return feed
    closed = len(_ITEM_CLOSE.findall(body))
    feed.notes["truncated"] = True
    if len(feed.entries) > closed:
        feed.notes.setdefault("skipped", {})["incomplete_entry"] = len(feed.entries) - closed
        feed.entries = feed.entries[:closed]
    return feed


# --- backends ------------------------------------------------------------------------


def _read_fast(body: bytes) -> Feed | None:
    import fastfeedparser

    token = _RAW_DATES.set(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # library warnings must not fail a crawl
            d = fastfeedparser.parse(body)
    except Exception as exc:
        logger.debug("fastfeedparser refused the body (%s); trying feedparser", exc)
        return None
    finally:
        _RAW_DATES.reset(token)
    meta = d.get("feed") or {}
    raw_entries = d.get("entries") or []
    summaries = _feedparser_summaries(body, len(raw_entries))
    entries = []
    for i, e in enumerate(raw_entries):
        content = e.get("content") or []
        content_value = (
            content[0].get("value") if content and isinstance(content[0], dict) else None
        )
        summary = e.get("description")
        if summaries is not None and i < len(summaries):
            summary = summaries[i]
        elif summary and content_value and _is_synthesized(summary, content_value):
            summary = None  # a snippet of the content, not a summary element: use the content
        published = e.get("published") or e.get("updated")
        if published and published == e.get("id"):
            published = None  # fastfeedparser's guess from a non-URL guid
        enclosures = [x for x in (e.get("enclosures") or []) if isinstance(x, dict)]
        # Atom <link rel="enclosure"> (Blogger) is only in links; feedparser lists it too.
        enclosures += [
            x
            for x in (e.get("links") or [])
            if isinstance(x, dict) and x.get("rel") == "enclosure" and x.get("href")
        ]
        entries.append(
            FeedEntry(
                title=e.get("title"),
                link=e.get("link") or _first_alternate(e.get("links")),
                id=e.get("id"),
                summary=summary,
                content=content_value,
                published_raw=published if isinstance(published, str) else None,
                author=e.get("author"),
                enclosures=[
                    (str(x.get("url") or x.get("href") or ""), str(x.get("type") or ""))
                    for x in enclosures
                ],
                tags=_tags(e.get("tags")),
                comments=e.get("comments"),
            )
        )
    notes: dict[str, Any] = {"parser": "fastfeedparser"}
    return Feed(meta.get("title"), meta.get("link"), entries, notes)


# --- summaries as feedparser picks them ----------------------------------------------
# fastfeedparser's `description` is the first <description> (or any *:description or
# *:summary) of an item, or, when there is none, a 512-character plain-text snippet it
# synthesizes from the content. feedparser's summary follows its own rules (below).
# They agree on entries with at most one summary element (<description>/<summary>)
# besides the content, once a synthesized snippet is replaced by the content itself.
# Any other mix (itunes:summary, media:description, dc:description, xhtml, both a
# <summary> and a <description>) gets one extra lxml pass that applies feedparser's rules.

_SYNTH_MAX = 512  # fastfeedparser's _SYNTH_DESCRIPTION_LEN
# One regex per literal first character: each scans the body about as fast as `in`.
_SUMMARY_PASS_MARKERS = (
    re.compile(rb":(?:summary|description|body)[\s>/]"),
    re.compile(rb"<(?:abstract|fullitem|body)[\s>/]"),
    re.compile(rb"xhtml"),
)
_ENTRY_TAGS = ("{*}item", "{*}entry")
# Namespaces feedparser maps to its own prefixes (mixin.namespaces); any other keeps the
# document's prefix. Only those of the elements below matter.
_FP_NAMESPACES = {
    "http://backend.userland.com/rss": "",
    "http://blogs.law.harvard.edu/tech/rss": "",
    "http://purl.org/rss/1.0/": "",
    "http://my.netscape.com/rdf/simple/0.9/": "",
    "http://purl.org/atom/ns#": "",
    "http://www.w3.org/2005/atom": "",
    "http://purl.org/rss/1.0/modules/rss091#": "",
    "http://purl.org/rss/1.0/modules/content/": "content",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://www.itunes.com/dtds/podcast-1.0.dtd": "itunes",
    "http://example.com/dtds/podcast-1.0.dtd": "itunes",
    "http://search.yahoo.com/mrss": "media",
    "http://search.yahoo.com/mrss/": "media",
    "http://www.w3.org/1999/xhtml": "xhtml",
}
# feedparser's _start_description / _start_summary: a summary, or content if the entry
# already has a summary and no content yet.
_FP_SUMMARY_TAGS = frozenset(
    {"description", "dc:description", "media:description", "summary", "itunes:summary"}
)
# Content elements -> (default type, whether it sets hasContent); the first of them
# becomes the summary when there is none yet and its type is text or HTML.
_FP_CONTENT_TAGS = {
    "content": ("text/plain", True),
    "content:encoded": ("text/html", True),
    "fullitem": ("text/html", True),
    "body": ("application/xhtml+xml", False),
    "xhtml:body": ("application/xhtml+xml", False),
}
_FP_COPIED_TYPES = frozenset({"text/plain", "text/html", "application/xhtml+xml"})
_FP_SHORT_TYPES = {
    "text": "text/plain",
    "plain": "text/plain",
    "html": "text/html",
    "xhtml": "application/xhtml+xml",
}


def _synthesizer() -> Callable[[dict[str, Any]], None] | None:
    try:
        import fastfeedparser.main as ffp_main
    except ImportError:  # pragma: no cover - fastfeedparser is a pinned dependency
        return None
    return getattr(ffp_main, "_synthesize_entry_description", None)


_SYNTHESIZE = _synthesizer()


def _is_synthesized(description: str, content: str) -> bool:
    """True when fastfeedparser made `description` up from `content` (no summary element)."""
    if len(description) > _SYNTH_MAX or _SYNTHESIZE is None:
        return False
    first = _first_text_char(content)
    if first is not None and first != description[0]:
        return False  # a synthesized description starts with the content's text
    probe: dict[str, Any] = {"content": [{"value": content}]}
    _SYNTHESIZE(probe)
    return str(probe.get("description", "")).strip() == description


def _first_text_char(html: str) -> str | None:
    """The first character of `html` outside leading tags and whitespace, as
    fastfeedparser's snippet starts; None where that is not plain to see (an entity,
    a stray "<", or a long run of tags)."""
    i, n = 0, len(html)
    while i < n:
        ch = html[i]
        if ch.isspace():
            i += 1
        elif ch == "<":
            end = html.find(">", i + 2)  # its tag pattern is <[^>]+>
            if end == -1 or html[i + 1] == ">" or end > 1024:
                return None
            i = end + 1
        elif ch == "&":
            return None
        else:
            return ch
    return None


def _needs_summary_pass(body: bytes) -> bool:
    if any(marker.search(body) for marker in _SUMMARY_PASS_MARKERS):
        return True
    return b"<summary" in body and b"<description" in body


def _feedparser_summaries(body: bytes, n_entries: int) -> list[str | None] | None:
    """Each entry's summary as feedparser would pick it, or None (no pass, or no match)."""
    if not n_entries or not _needs_summary_pass(body):
        return None
    from lxml import etree

    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, recover=True, remove_comments=True
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.LxmlError:
        return None
    if root is None:
        return None
    items = list(root.iter(*_ENTRY_TAGS))
    if len(items) != n_entries:
        # Matching by position needs the same entries; keep fastfeedparser's values.
        logger.debug("summary pass found %d entries, not %d", len(items), n_entries)
        return None
    names: dict[tuple[str, str | None], str] = {}
    # build_candidates considers only the first MAX_RAW_ENTRIES entries.
    return [_feedparser_summary(item, names) for item in items[:MAX_RAW_ENTRIES]]


def _fp_name(el: Any, names: dict[tuple[str, str | None], str]) -> str:
    """The element's name as feedparser dispatches it ("itunes:summary", "description")."""
    key = (el.tag, el.prefix)
    name = names.get(key)
    if name is None:
        tag = el.tag
        if tag.startswith("{"):
            uri, local = tag[1:].split("}", 1)
            uri = uri.lower()
            if "backend.userland.com/rss" in uri:
                uri = "http://backend.userland.com/rss"
            prefix = _FP_NAMESPACES.get(uri, el.prefix)
            name = f"{prefix}:{local}" if prefix else local
        else:
            name = tag
        name = names[key] = name.lower()
    return name


def _markup(el: Any) -> str:
    """An element's text, or its inner markup when it has child elements (xhtml)."""
    from lxml import etree

    text = el.text or ""
    if len(el):
        text += "".join(etree.tostring(child, encoding="unicode") for child in el)
    return text.strip()


def _feedparser_summary(item: Any, names: dict[tuple[str, str | None], str]) -> str | None:
    """feedparser 6's summary for one entry (namespaces/_base.py, mixin.pop).

    In document order: a summary element sets the summary, unless the entry already has
    one and no content yet, in which case it counts as content. A later summary element
    replaces the summary unless it is nested deeper than the one that set it. Content
    sets the summary only when there is none. An empty summary falls back to the first
    content, as the benchmark and build_candidates do.
    """
    summary: str | None = None
    summary_depth: int | None = None
    first_content: str | None = None
    has_content = False
    stack = [(iter(item), 1)]
    while stack:
        children, depth = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            continue
        if not isinstance(child.tag, str):
            continue
        name = _fp_name(child, names)
        if name in _FP_SUMMARY_TAGS or name == "abstract":
            value = _markup(child)
            if name != "abstract" and summary is not None and not has_content:
                has_content = True
                first_content = value if first_content is None else first_content
            elif summary_depth is None or depth <= summary_depth:
                summary, summary_depth = value, depth
        elif name in _FP_CONTENT_TAGS:
            default_type, sets_has_content = _FP_CONTENT_TAGS[name]
            value = _markup(child)
            has_content = has_content or sets_has_content
            first_content = value if first_content is None else first_content
            ctype = (child.get("type") or default_type).lower()
            if summary is None and _FP_SHORT_TYPES.get(ctype, ctype) in _FP_COPIED_TYPES:
                summary = value
        elif name != "source" and len(child):
            stack.append((iter(child), depth + 1))
    return summary or first_content or None


def _read_feedparser(body: bytes, headers: Mapping[str, str] | None) -> Feed:
    import feedparser

    response_headers = {}
    for name in ("content-type", "content-location", "content-language"):
        value = header(headers, name)
        if value:
            response_headers[name] = value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Bytes in a BytesIO: feedparser never fetches or opens a path (P12, P13).
        d = feedparser.parse(
            io.BytesIO(body),
            response_headers=response_headers,
            sanitize_html=False,  # we reduce HTML to text ourselves
            resolve_relative_uris=False,
        )
    entries_in = d.get("entries") or []
    if not d.get("version") and not entries_in:
        exc = d.get("bozo_exception")
        raise ParseError("not_a_feed", f"{type(exc).__name__}: {exc}"[:150] if exc else "")
    meta = d.get("feed") or {}
    entries = []
    for e in entries_in:
        content = e.get("content") or []
        entries.append(
            FeedEntry(
                title=e.get("title"),
                link=e.get("link") or _first_alternate(e.get("links")),
                id=e.get("id"),
                summary=e.get("summary"),
                content=content[0].get("value") if content else None,
                published_raw=e.get("published") or e.get("updated") or e.get("created"),
                author=e.get("author"),
                enclosures=[
                    (str(x.get("href") or x.get("url") or ""), str(x.get("type") or ""))
                    for x in (e.get("enclosures") or [])
                ],
                tags=_tags(e.get("tags")),
                comments=e.get("comments"),
            )
        )
    notes: dict[str, Any] = {"parser": "feedparser", "encoding": d.get("encoding")}
    if d.get("bozo"):
        exc = d.get("bozo_exception")
        notes["bozo"] = type(exc).__name__ if exc else True
    return Feed(meta.get("title"), meta.get("link"), entries, notes)


def _read_json_feed(body: bytes) -> Feed:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ParseError("not_a_feed", "JSON that does not parse") from None
    if not (
        isinstance(data, dict)
        and "jsonfeed.org" in str(data.get("version", ""))
        and isinstance(data.get("items", []), list)
    ):
        raise ParseError("not_a_feed", "JSON that is not a JSON Feed")
    entries = []
    for item in data.get("items") or []:
        if not isinstance(item, dict):
            continue
        authors = item.get("authors") or ([item["author"]] if item.get("author") else [])
        author = authors[0].get("name") if authors and isinstance(authors[0], dict) else None
        entries.append(
            FeedEntry(
                title=_str(item.get("title")),
                link=_str(item.get("url")) or _str(item.get("external_url")),
                id=_str(item.get("id")),
                summary=_str(item.get("summary")),
                content=_str(item.get("content_html")) or _str(item.get("content_text")),
                published_raw=_str(item.get("date_published")) or _str(item.get("date_modified")),
                author=_str(author),
                enclosures=[
                    (_str(a.get("url")) or "", _str(a.get("mime_type")) or "")
                    for a in (item.get("attachments") or [])
                    if isinstance(a, dict)
                ],
                tags=[t for t in (item.get("tags") or []) if isinstance(t, str)],
            )
        )
    return Feed(
        _str(data.get("title")), _str(data.get("home_page_url")), entries, {"parser": "jsonfeed"}
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _first_alternate(links: object) -> str | None:
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("href") and link.get("rel") in (None, "alternate"):
            return str(link["href"])
    return None


def _tags(tags: object) -> list[str]:
    out = []
    for tag in tags or []:
        term = tag.get("term") if isinstance(tag, dict) else tag
        if isinstance(term, str) and term.strip():
            out.append(clean_text(term, 60))
    return out[:20]


# --- entries -> candidates -----------------------------------------------------------


def is_audio_video(entry: FeedEntry, url: str, feed_link: str | None) -> bool:
    """Podcast enclosures (audio/video types or extensions) and YouTube/Vimeo entries."""
    for enc_url, enc_type in entry.enclosures:
        if enc_type.lower().startswith(("audio/", "video/")):
            return True
        if urlsplit(enc_url).path.lower().endswith(AUDIO_VIDEO_EXT):
            return True
    for link in (url, feed_link or ""):
        host = (urlsplit(link).hostname or "").lower().removeprefix("www.").removeprefix("m.")
        if host in VIDEO_HOSTS:
            return True
    return False


def build_candidates(
    feed: Feed,
    source: Source,
    customize: Callable[[Candidate, FeedEntry], Candidate] | None = None,
) -> ParseResult:
    """Turn entries into candidates: http(s) links only, deduped, capped, cleaned.

    `customize` lets a site parser (HN, Reddit) adjust each candidate and returns it.
    """
    result = ParseResult(notes=dict(feed.notes))
    result.notes["entries_total"] = len(feed.entries)
    base = http_link(feed.link) or source.url
    feed_title = clean_text(feed.title, 200) or None
    seen: set[str] = set()
    entries = feed.entries
    if len(entries) > MAX_RAW_ENTRIES:
        # Feeds list newest first; building 100,000 candidates only to keep 200 costs
        # seconds, so the document's first MAX_RAW_ENTRIES are the ones considered.
        result.notes["raw_capped"] = {"considered": MAX_RAW_ENTRIES, "entries": len(entries)}
        entries = entries[:MAX_RAW_ENTRIES]
    for position, entry in enumerate(entries, start=1):
        checked = checked_link(entry.link, base)
        extra: dict[str, Any] = {}
        if checked is None or is_site_root(checked[1]):
            # Podcast items whose <link> is the show's home page (Django Chat): the
            # episode itself is the enclosure.
            media = next(filter(None, (checked_link(u) for u, _t in entry.enclosures)), None)
            if media:
                if checked:
                    extra["page_url"] = checked[0]
                checked = media
        if checked is None:
            result.skip("bad_link" if entry.link else "no_link")
            continue
        url, canonical = checked
        title = clean_title(title_text(entry.title), extra)
        if not title:
            title = html_to_text(entry.summary or entry.content, 120)
            if not title:
                result.skip("no_title")
                continue
            extra["title_from_summary"] = True
        c = Candidate(url=url, title=title, source=source.name, position=position, extra=extra)
        fill_identity(c, canonical)
        key = c.canonical_url or url
        if is_site_root(key):
            # Entries that all point at one home page are different items (P15).
            key = f"{key}#{title}#{entry.published_raw}"
        if key in seen:
            result.skip("duplicate")
            continue
        seen.add(key)
        c.description = html_to_text(entry.summary or entry.content, SUMMARY_MAX)
        c.published_raw = clean_text(entry.published_raw, 100) or None
        c.published, c.date_flag = parse_date(c.published_raw)
        c.author = html_to_text(entry.author, 200) or None
        c.section = (
            "audio_video" if is_audio_video(entry, url, feed.link) else source.section or "article"
        )
        if feed_title:
            extra["feed_title"] = feed_title
        if entry.id:
            extra["guid"] = clean_text(entry.id, 500)
        if entry.tags:
            extra["tags"] = entry.tags
        media = [(u, t) for u, t in entry.enclosures if u]
        if media:
            extra["enclosure"] = {"url": media[0][0], "type": media[0][1]}
        comments = http_link(entry.comments)
        if comments:
            c.discussion_url = comments
        if customize is not None:
            c = customize(c, entry)
        result.append(c)
    cap_newest(result, source)
    return result


def cap_newest(result: ParseResult, source: Source) -> None:
    """Keep the MAX_ENTRIES newest candidates (undated last, the document's first of them),
    in document order; the log line names the source, its URL and what was kept."""
    if len(result) <= MAX_ENTRIES:
        return
    total = len(result)
    # Newest first, undated last, ties in document order (sort is stable); then back
    # to document order.
    ranked = sorted(result, key=lambda c: c.position or 0)
    ranked.sort(key=lambda c: c.published or "", reverse=True)
    kept = sorted(ranked[:MAX_ENTRIES], key=lambda c: c.position or 0)
    result[:] = kept
    result.notes["capped"] = {"kept": MAX_ENTRIES, "usable": total}
    what = "sitemap" if source.kind == "sitemap" else "feed"
    undated = sum(1 for c in kept if not c.published)
    if not undated:
        how = f"the newest {MAX_ENTRIES}"
    elif undated == MAX_ENTRIES:  # no date to tell the newest: the document's first
        how = f"the first {MAX_ENTRIES}"
    else:
        how = f"the newest {MAX_ENTRIES - undated} and the first {undated} undated"
    logger.info(
        "source %s: %s %s capped: kept %s of %d entries%s",
        source.name,
        what,
        source.url,
        how,
        total,
        f" (undated: in the {what}'s order)" if undated else "",
    )
