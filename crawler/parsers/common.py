"""What every parser shares: ParseError, ParseResult, link checks and JSON loading."""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from crawler.errors import CrawlError
from crawler.items import Candidate
from crawler.sources import Source
from crawler.text import TITLE_MAX, clean_text_flagged
from crawler.urls import InvalidURL, canonical_url, project_key

logger = logging.getLogger(__name__)

__all__ = [
    "ParseError",
    "ParseResult",
    "checked_link",
    "clean_title",
    "fill_identity",
    "guarded",
    "header",
    "header_charset",
    "http_link",
    "is_site_root",
    "load_json",
    "looks_like_markup",
    "refuse_entity_declarations",
    "to_int",
    "valid_xml_char",
]

_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)
# Entity declarations in any of the encodings an XML parser would accept.
_ENTITY_MARKERS = tuple(
    "<!ENTITY".encode(enc) for enc in ("ascii", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)


class ParseError(CrawlError):
    """The body is not what this parser reads; `.reason` is a short code for the log."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class ParseResult(list[Candidate]):
    """The candidates of one response, plus `notes` on what was skipped, capped or odd.

    A plain list for callers that only iterate; `notes` is a dict of counters and
    facts for the fetch log (``skipped``, ``entries_total``, ``capped``, ``parser`` …).
    """

    def __init__(self, items: list[Candidate] | None = None, notes: dict[str, Any] | None = None):
        super().__init__(items or [])
        self.notes: dict[str, Any] = notes if notes is not None else {}

    def skip(self, reason: str, n: int = 1) -> None:
        """Count one dropped entry under `reason`."""
        skipped = self.notes.setdefault("skipped", {})
        skipped[reason] = skipped.get(reason, 0) + n


Parser = Callable[[bytes, Mapping[str, str] | None, Source], ParseResult]


def guarded(parse: Parser) -> Parser:
    """Wrap a parser so that only ParseError leaves it (RELIABILITY G2: no crash).

    An unexpected exception is a bug in our code or a library on hostile input: it is
    logged with its traceback and becomes ParseError("internal_error"), so one bad
    response never takes down the crawl of the other sources.
    """

    @functools.wraps(parse)
    def wrapper(body: bytes, headers: Mapping[str, str] | None, source: Source) -> ParseResult:
        try:
            return parse(body, headers, source)
        except ParseError:
            raise
        except Exception as exc:
            logger.exception("parser %s failed on source %s", parse.__name__, source.name)
            raise ParseError("internal_error", f"{type(exc).__name__}: {exc}"[:150]) from exc

    return wrapper


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Case-insensitive header lookup (Scrapy gives bytes-keyed headers; spiders pass str)."""
    if not headers:
        return None
    lname = name.lower()
    for key, value in headers.items():
        k = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        if k.lower() == lname:
            if isinstance(value, list | tuple):
                value = value[0] if value else ""
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return None


def header_charset(headers: Mapping[str, str] | None) -> str | None:
    """The ``charset=`` label of the Content-Type header, as written; None if absent."""
    ctype = header(headers, "content-type")
    m = _CHARSET.search(ctype) if ctype else None
    return m.group(1) if m else None


def valid_xml_char(cp: int) -> bool:
    """True for a code point XML 1.0 allows (its ``Char`` rule).

    Tab, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD and U+10000-U+10FFFF: no other C0
    control, no surrogate, not U+FFFE/U+FFFF, nothing past U+10FFFF. Character
    references to anything else are replaced by U+FFFD, in feeds and pages alike.
    """
    return (
        cp in (0x9, 0xA, 0xD)
        or 0x20 <= cp <= 0xD7FF
        or 0xE000 <= cp <= 0xFFFD
        or 0x10000 <= cp <= 0x10FFFF
    )


def looks_like_markup(body: bytes | bytearray | memoryview) -> bool:
    """True if the body starts with ``<`` once a UTF-8 BOM and whitespace are skipped.

    Only the first 64 bytes are looked at: the parsers that take JSON or a feed use
    it to tell the two apart.
    """
    return bytes(body[:64]).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def refuse_entity_declarations(body: bytes) -> None:
    """ParseError("entity_declarations") for XML that declares entities.

    Run before any XML parser sees the body: billion laughs, quadratic blowup and XXE
    all need a declaration (RELIABILITY P1-P6); no feed or sitemap needs one.
    """
    if any(marker in body for marker in _ENTITY_MARKERS):
        raise ParseError("entity_declarations", "entity declarations not allowed")


def http_link(link: object, base: str | None = None) -> str | None:
    """`link` as an absolute http(s) URL, or None (javascript:, data:, file:, junk).

    Relative links are resolved against `base`. The URL must pass canonical_url().
    """
    checked = checked_link(link, base)
    return checked[0] if checked else None


def checked_link(link: object, base: str | None = None) -> tuple[str, str] | None:
    """Like http_link() but returns ``(url, canonical_url(url))``, or None."""
    if not isinstance(link, str):
        return None
    link = link.strip()
    if not link:
        return None
    try:
        scheme = urlsplit(link).scheme.lower() if ":" in link[:12] else ""
        if link.startswith("//"):
            link = "https:" + link
        elif not scheme and base:
            link = urljoin(base, link)
        return link, canonical_url(link)
    except (InvalidURL, ValueError):
        return None


def is_site_root(url: str) -> bool:
    """True for a site's home page (`https://host` or `https://host/`, any query)."""
    try:
        return urlsplit(url).path in ("", "/")
    except ValueError:
        return False


def fill_identity(c: Candidate, canonical: str | None = None) -> Candidate:
    """Set `canonical_url` and `repo_key` from `url` (pipelines may recompute them)."""
    if canonical is None:
        try:
            canonical = canonical_url(c.url)
        except InvalidURL:
            canonical = None
    c.canonical_url = canonical
    # project_key() only ever answers for GitHub; skip its second canonicalization otherwise.
    c.repo_key = project_key(canonical) if canonical and "github.com/" in canonical else None
    return c


def clean_title(raw: str | None, extra: dict[str, Any], max_len: int = TITLE_MAX) -> str:
    """Clean a title; record text flags (bidi, controls, truncated …) in `extra`."""
    text, flags = clean_text_flagged(raw, max_len)
    if flags:
        extra["title_flags"] = sorted(flags)
    return text


def load_json(body: bytes) -> Any:
    """Decode a JSON body, or raise ParseError("empty" / "not_json")."""
    if not body or not body.strip():
        raise ParseError("empty", "empty body")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ParseError("not_json", str(exc)[:120]) from None


def to_int(value: object) -> int | None:
    """An int from JSON numbers or strings like ``"1,234"``; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == value and abs(value) < 1e18 else None
    if isinstance(value, str):
        s = value.strip().replace(",", "").replace("_", "")
        if s.isascii() and s.isdigit():  # str.isdigit() is also true of "³", which int() refuses
            return int(s)
        if s.lower().endswith("k"):
            try:
                return int(float(s[:-1]) * 1000)
            except (ValueError, OverflowError):  # "nank", "infk"
                return None
    return None
