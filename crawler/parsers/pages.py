"""Article HTML -> one candidate: title, description, author, date (with confidence), stats.

A soft 404 or a bot challenge / captcha page answered with a 200 is not an article: it
raises ParseError("not_an_article") and yields nothing (RELIABILITY F19).

Also owns `decode_html`, the one place that turns HTML bytes into text (header charset,
then meta charset, then chardet; U+FFFD flagged), shared with github_trending.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from lxml.html import HtmlElement
from parsel import Selector

from crawler.items import Candidate
from crawler.parsers.common import (
    ParseError,
    ParseResult,
    clean_title,
    fill_identity,
    header_charset,
    valid_xml_char,
)
from crawler.parsers.common import http_link as _http_link
from crawler.sources import Source
from crawler.text import SUMMARY_MAX, clean_text, html_to_text, parse_date

logger = logging.getLogger(__name__)

__all__ = ["decode_html", "parse_page"]

_BINARY_MAGIC = (
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"%PDF",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"RIFF",
    b"OggS",
    b"ID3",
    b"\x00asm",
    b"\x7fELF",
    b"BZh",
    b"\xfd7zXZ",
    b"(\xb5/\xfd",
)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE
)
# WHATWG: these labels mean their supersets on the web.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "euc-kr": "cp949",
}
_C0 = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_CHARREF = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,16})|([0-9]{1,20}));?")
# A JSON-LD block some sites (Real Python) wrap in <![CDATA[ ]]> or <!-- -->, as XHTML
# scripts used to be: the HTML parser keeps the wrapper as text, and JSON refuses it.
_LD_WRAPPER = re.compile(r"^\s*(?:<!\[CDATA\[|<!--)|(?:\]\]>|-->)\s*$")
_URL_DATE = re.compile(r"/((?:19|20)\d\d)/(0?[1-9]|1[0-2])/(?:(0?[1-9]|[12]\d|3[01])/)?")


def _codec(label: str) -> str | None:
    label = label.strip().lower()
    label = _SUPERSETS.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_html(body: bytes, headers: Mapping[str, str] | None) -> tuple[str, str, set[str]]:
    """HTML bytes -> (text, encoding used, flags).

    Order: BOM, header charset, ``<meta charset>``, UTF-8, chardet. A declared charset
    is used only if the body decodes under it; otherwise the next one is tried and the
    flag ``charset_mismatch`` set. Flags: ``charset_mismatch``, ``guessed_charset``,
    ``low_confidence``, ``replacement_char``. Binary bodies raise ParseError("not_text").
    """
    if not body or not body.strip():
        raise ParseError("empty", "empty body")
    if body.startswith(_BINARY_MAGIC):
        raise ParseError("not_text", "binary body (magic number)")
    flags: set[str] = set()
    for bom, enc in _BOMS:
        if body.startswith(bom):
            return _finish(body[len(bom) :].decode(enc, errors="replace"), enc, flags)
    if b"\x00" in body[:1024]:
        raise ParseError("not_text", "NUL bytes: binary body")
    declared: list[str] = []
    charset = header_charset(headers)
    if charset:
        declared.append(charset)
    m = _META_CHARSET.search(body[:8192])
    if m:
        declared.append(m.group(1).decode("ascii", "replace"))
    for label in declared:
        enc = _codec(label)
        if enc is None:
            continue
        try:
            return _finish(body.decode(enc), enc, flags)
        except UnicodeDecodeError:
            flags.add("charset_mismatch")
    try:
        return _finish(body.decode("utf-8"), "utf-8", flags)
    except UnicodeDecodeError:
        pass
    import chardet

    guess = chardet.detect(body[:65536])
    enc = _codec(guess.get("encoding") or "") or "cp1252"
    flags.add("guessed_charset")
    if (guess.get("confidence") or 0) < 0.5:
        flags.add("low_confidence")
    return _finish(body.decode(enc, errors="replace"), enc, flags)


def _finish(text: str, enc: str, flags: set[str]) -> tuple[str, str, set[str]]:
    # lxml refuses strings with C0 controls, and turns references to surrogates into
    # bytes it cannot decode again; neither is ever meaningful text.
    if _C0.search(text):
        text = _C0.sub("", text)
        flags.add("controls")
    if "&#" in text:
        text = _CHARREF.sub(_fix_charref, text)
    if "\ufffd" in text:
        flags.add("replacement_char")
    return text, enc, flags


def _fix_charref(m: re.Match[str]) -> str:
    cp = int(m.group(1), 16) if m.group(1) is not None else int(m.group(2))
    return m.group(0) if valid_xml_char(cp) else "\ufffd"


# RELIABILITY F19. A title or first heading that is nothing but one of these phrases
# (lower-cased, reduced to its words: "Just a moment..." -> "just a moment") is a soft 404
# or a bot challenge, never an article; an article that merely mentions one is longer.
_SOFT_404 = re.compile(
    r"(?:error )?404(?: error)?(?: page)?"
    r"|(?:(?:error )?404 )?(?:(?:oops|sorry|whoops) )*(?:(?:this|the|that) )?"
    r"(?:(?:page|file|document)(?: you (?:requested|were looking for|are looking for))? )?"
    r"(?:(?:is |was )?not found|(?:could not|cannot|cant|couldnt) be found"
    r"|does not exist|doesnt exist|no longer exists)(?: 404)?"
    r"|nothing (?:was )?found(?: here)?"
)
_CHALLENGE = re.compile(
    r"just a moment|attention required(?: cloudflare)?|please wait cloudflare"
    r"|checking your browser(?: before accessing [\w ]+)?"
    r"|access denied(?: [\w ]*cloudflare[\w ]*)?|access to this page has been denied"
    r"|(?:ddos protection by )?ddos guard|pardon our interruption"
    r"|are you (?:a )?(?:robot|human)|(?:verifying|verify) (?:that )?you are (?:a )?human"
    r"|human verification|robot check|captcha"
)
# Challenge and captcha markup, as the markup spells it: not an article when the page has
# next to no text (an article with a reCAPTCHA comment form has plenty) and no og:title.
_CHALLENGE_MARKUP = (
    "/cdn-cgi/challenge-platform/",
    "cf-browser-verification",
    "cf_chl_opt",
    "cf-turnstile",
    "g-recaptcha",
    "h-captcha",
    "ddos-guard",
)
_CHALLENGE_MAX_WORDS = 60
_VISIBLE_TEXT = "//body//text()[not(ancestor::script or ancestor::style or ancestor::noscript)]"

TRAFILATURA_MAX_CHARS = 2_000_000
TRAFILATURA_MAX_LINKS = 5_000


def parse_page(body: bytes, headers: Mapping[str, str] | None, source: Source) -> ParseResult:
    """An article page -> one candidate (url = the fetched URL, ``source.url``)."""
    text, encoding, flags = decode_html(body, headers)
    if not re.search(r"<(?:html|head|body|title|meta|p|div|h1|article)\b", text[:65536], re.I):
        raise ParseError("not_html", "no HTML markup")
    # parsel parses (robustly); the queries go to lxml itself: parsel would wrap every
    # result in a Selector of its own, which costs more than most of these queries.
    root = Selector(text=text, type="html").root
    extra: dict[str, Any] = {"encoding": encoding}
    if flags:
        extra["decode_flags"] = sorted(flags)
    base = source.url
    meta = _meta(root)
    not_article = _not_an_article(root, meta, text)
    if not_article:
        raise ParseError("not_an_article", not_article)
    ld = _json_ld(root)

    title = ""
    for origin, raw_title in _title_sources(root, meta):
        title = clean_title(raw_title, extra)
        if title:
            extra["title_from"] = origin
            break
    if not title:
        raise ParseError("no_title", "no og:title, <title> or <h1>")

    description = (
        meta.get("og:description") or meta.get("description") or meta.get("twitter:description")
    )
    date, confidence = _date(root, meta, ld)
    # trafilatura is the costly part (milliseconds per page; seconds and hundreds of MB
    # on link farms): only a page without a meta description or a marked-up date needs it.
    doc: dict[str, Any] = {}
    if not description or date is None:
        if len(text) > TRAFILATURA_MAX_CHARS or text.count("<a ") > TRAFILATURA_MAX_LINKS:
            extra["extraction_skipped"] = "page too large"
        else:
            doc = _trafilatura(text, base)
        description = description or doc.get("description") or doc.get("text")
        if date is None:
            date, confidence = _fallback_date(doc, source.url)
    author = next(
        (
            name
            for raw in (
                meta.get("author"),
                meta.get("article:author"),
                _ld_author(ld),
                doc.get("author"),
                meta.get("twitter:creator"),
            )
            # Some sites put a profile URL or a link in the author field.
            if (name := html_to_text(raw, 200)) and not name.startswith(("http://", "https://"))
        ),
        None,
    )
    c = Candidate(
        url=source.url,
        title=title,
        source=source.name,
        section=source.section or "article",
        description=clean_text(description, SUMMARY_MAX),
        author=author,
        extra=extra,
    )
    c.published_raw = clean_text(date, 100) or None
    c.published, c.date_flag = parse_date(c.published_raw)
    if c.published:
        extra["date_confidence"] = confidence
    lang = _first(root, "/html/@lang") or meta.get("og:locale") or doc.get("language")
    if lang:
        extra["lang"] = clean_text(lang, 20)
    canonical = _http_link(_first(root, '//link[@rel="canonical"]/@href'), base)
    if canonical:
        extra["canonical_link"] = canonical
    extra["code_blocks"] = sum(1 for _ in root.iter("pre"))
    site = meta.get("og:site_name") or doc.get("sitename")
    if site:
        extra["site_name"] = clean_text(site, 100)
    return ParseResult([fill_identity(c)], notes={"parser": "page"})


def _not_an_article(root: HtmlElement, meta: dict[str, str], text: str) -> str | None:
    """Why the page is a soft 404 or a bot challenge rather than an article, or None."""
    titles = (
        meta.get("og:title"),
        " ".join(root.xpath("//title//text()", smart_strings=False)),
        " ".join(root.xpath("(//h1)[1]//text()", smart_strings=False)),
    )
    for raw in titles:
        words = " ".join(
            re.findall(r"[^\W_]+", (raw or "").lower().replace("'", "").replace("\u2019", ""))
        )
        if _SOFT_404.fullmatch(words):
            return f"soft 404 page titled {clean_text(raw, 80)!r}"
        if _CHALLENGE.fullmatch(words):
            return f"bot challenge page titled {clean_text(raw, 80)!r}"
    if "og:title" in meta:
        return None
    marker = next((m for m in _CHALLENGE_MARKUP if m in text), None)
    if marker:
        n = len(" ".join(root.xpath(_VISIBLE_TEXT, smart_strings=False)).split())
        if n < _CHALLENGE_MAX_WORDS:
            return f"challenge or captcha page ({marker}, {n} words of text)"
    return None


def _title_sources(root: HtmlElement, meta: dict[str, str]) -> Iterator[tuple[str, str | None]]:
    """(origin, raw title) in order of preference; each is only read if the previous is empty."""
    yield "og:title", meta.get("og:title")
    yield "title", " ".join(root.xpath("//title//text()", smart_strings=False))
    yield "h1", " ".join(root.xpath("//h1//text()", smart_strings=False))
    yield "twitter:title", meta.get("twitter:title")


def _first(root: HtmlElement, path: str) -> str | None:
    """The first string an XPath query selects (an attribute or text), or None."""
    found = root.xpath(path, smart_strings=False)
    return found[0] if found else None


def _meta(root: HtmlElement) -> dict[str, str]:
    """First value of each <meta name|property|itemprop> (lowercased key)."""
    out: dict[str, str] = {}
    for m in root.iter("meta"):
        key = m.get("property") or m.get("name") or m.get("itemprop")
        value = m.get("content")
        if key and value and value.strip():
            out.setdefault(key.strip().lower(), value.strip())
    return out


def _json_ld(root: HtmlElement) -> list[dict[str, Any]]:
    """The objects of the page's JSON-LD blocks (and of their @graph); bad blocks skipped."""
    objs: list[dict[str, Any]] = []
    scripts = root.xpath('//script[@type="application/ld+json"]/text()', smart_strings=False)
    for raw in scripts[:10]:
        try:
            data = json.loads(_LD_WRAPPER.sub("", raw))
        except (ValueError, RecursionError):
            continue
        stack = data if isinstance(data, list) else [data]
        for obj in stack:
            if isinstance(obj, dict):
                objs.append(obj)
                graph = obj.get("@graph")
                if isinstance(graph, list):
                    objs.extend(o for o in graph if isinstance(o, dict))
    return objs


def _ld_author(ld: list[dict[str, Any]]) -> str | None:
    for obj in ld:
        author = obj.get("author")
        if isinstance(author, list) and author:
            author = author[0]
        if isinstance(author, dict):
            author = author.get("name")
        if isinstance(author, str) and author.strip():
            return author
    return None


def _date(
    root: HtmlElement, meta: dict[str, str], ld: list[dict[str, Any]]
) -> tuple[str | None, str | None]:
    """The publication date the page marks up, and how sure we are: high or medium."""
    for key in ("article:published_time", "og:published_time", "datepublished"):
        if meta.get(key):
            return meta[key], "high"
    for obj in ld:
        if isinstance(obj.get("datePublished"), str):
            return obj["datePublished"], "high"
    itemprop = _first(root, '//time[@itemprop="datePublished"]/@datetime')
    if itemprop:
        return itemprop, "high"
    for key in ("date", "dc.date", "dc.date.issued", "citation_publication_date", "pubdate"):
        if meta.get(key):
            return meta[key], "medium"
    time_attr = _first(root, "//time/@datetime")
    if time_attr:
        return time_attr, "medium"
    return None, None


def _fallback_date(doc: dict[str, Any], url: str) -> tuple[str | None, str | None]:
    """No marked-up date: trafilatura's guess, else a /YYYY/MM[/DD]/ in the URL (low)."""
    if isinstance(doc.get("date"), str):
        return doc["date"], "low"
    m = _URL_DATE.search(url)
    if m:
        return f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3) or 1):02d}", "low"
    return None, None


def _trafilatura(text: str, url: str) -> dict[str, Any]:
    """Main text and metadata from trafilatura; {} when it finds nothing or fails."""
    try:
        import trafilatura

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            doc = trafilatura.bare_extraction(
                text,
                url=url,
                with_metadata=True,
                include_comments=False,
                as_dict=True,
                fast=True,  # no fallback extractors: same text on real articles, ~15% less CPU
            )
    except Exception as exc:  # a third-party extractor on hostile HTML: never fatal
        logger.debug("trafilatura failed on %s: %s", url, exc)
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: v for k, v in doc.items() if isinstance(v, str) and v}
