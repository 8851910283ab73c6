"""Sitemaps and robots.txt -> candidates (a blog without a feed, RELIABILITY G2 as ever).

One parser for the three bodies a ``sitemap`` source meets on its way down:

- robots.txt: no candidates; ``notes["sitemaps"]`` lists its ``Sitemap:`` URLs.
- ``<sitemapindex>``: no candidates; ``notes["sitemaps"]`` lists its child sitemaps,
  the likeliest to hold posts first (a name with "post" or "sitemap", then the newest
  ``<lastmod>``).
- ``<urlset>``: one candidate per article-like URL on the sitemap's own host ("www."
  aside), titled from its slug (``extra["title_from"] = "url"``: the page, when
  fetched, gives the real one).

The spider follows ``notes["sitemaps"]`` (crawler.spiders.radar). A gzip body is
unpacked up to MAX_UNZIPPED bytes; entity declarations are refused before lxml sees the
body, as for feeds. Nothing but ParseError leaves this module.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from crawler.items import Candidate
from crawler.parsers.common import (
    ParseError,
    ParseResult,
    checked_link,
    clean_title,
    fill_identity,
    header,
    is_site_root,
    looks_like_markup,
    refuse_entity_declarations,
)
from crawler.parsers.feeds import cap_newest
from crawler.sources import Source
from crawler.text import parse_date

__all__ = ["BUILD_STAMP_MIN", "MAX_UNZIPPED", "parse_sitemap"]

MAX_UNZIPPED = 10 * 1024 * 1024  # as DOWNLOAD_MAXSIZE: what a plain body may weigh
# This many URLs of one urlset with the very same <lastmod>: the time the site was built
# (pypy.org stamps all 620 URLs with its deploy time), not when each page changed.
BUILD_STAMP_MIN = 10

# Path segments that start a listing (/tags/python/, /authors/mattip.html) ...
_LISTING_PREFIX = frozenset(
    {"tag", "tags", "category", "categories", "author", "authors", "archive", "archives", "search"}
)
# ... and last segments of listing or fixed pages (/about/, /blog/, /page/); without extension.
_LISTING_LAST = _LISTING_PREFIX | {"about", "blog", "posts", "articles", "news", "page", "index"}
_LISTING_PAGE = re.compile(r"(?:index|page)-?\d+\Z")  # blog/index-3.html, page2
_INDEX_FILE = re.compile(r"/index\.(?:s?html?|php)\Z", re.IGNORECASE)
_PAGE_EXT = re.compile(r"\.(?:s?html?|xhtml|php|aspx?|jsp)\Z", re.IGNORECASE)
_ASSET_EXT = re.compile(
    r"\.(?:xml|json|rss|atom|txt|gz|zip|css|js|mjs|map|png|jpe?g|gif|svg|webp|avif|ico|bmp"
    r"|tiff?|woff2?|ttf|pdf)\Z",
    re.IGNORECASE,
)
_PATH_DATE = re.compile(r"/((?:19|20)\d\d)/(\d\d?)/(?:(\d\d?)/)?")
_ENTRY_CLOSE = re.compile(rb"</(?:[\w.-]+:)?(?:url|sitemap)\s*>")
# The root's end tag, then only whitespace or comments (Yoast adds one after </urlset>).
_ROOT_CLOSE = re.compile(
    rb"</(?:[\w.-]+:)?(?:urlset|sitemapindex)\s*>(?:\s|<!--.*?-->)*$", re.DOTALL
)
_POST_NAME = re.compile(r"(?:^|[-_.])posts?(?:[-_.\d]|$)")


def parse_sitemap(body: bytes, headers: Mapping[str, str] | None, source: Source) -> ParseResult:
    """A robots.txt, sitemap index or urlset body (gzip or not) -> ParseResult."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise ParseError("bad_input", f"expected bytes, got {type(body).__name__}")
    body = bytes(body)
    if body[:2] == b"\x1f\x8b":
        body = _gunzip(body)
    if not body.strip(b" \t\r\n\x00\xef\xbb\xbf"):
        raise ParseError("empty", "empty body")
    if not looks_like_markup(body):
        if _is_robots(headers, source):
            return _read_robots(body, source)
        raise ParseError("not_a_sitemap", "neither XML nor a robots.txt")
    refuse_entity_declarations(body)
    kind, entries = _read_xml(body)
    truncated = not _ROOT_CLOSE.search(body[-1024:])
    if truncated:
        # Cut off mid-transfer: lxml recovers the last, partial <loc>; keep the closed ones.
        entries = entries[: len(_ENTRY_CLOSE.findall(body))]
    result = (
        _read_index(entries, source) if kind == "sitemapindex" else _read_urlset(entries, source)
    )
    if truncated:
        result.notes["truncated"] = True
    return result


# --- reading -----------------------------------------------------------------------------


def _gunzip(body: bytes) -> bytes:
    import zlib

    from scrapy.utils.gz import gunzip

    try:
        return gunzip(body, max_size=MAX_UNZIPPED)
    except (OSError, EOFError, zlib.error) as exc:
        raise ParseError("bad_gzip", f"{type(exc).__name__}: {exc}"[:150]) from None
    except ValueError:  # scrapy's _DecompressionMaxSizeExceeded
        raise ParseError("too_large", f"gzip body over {MAX_UNZIPPED} bytes unpacked") from None


def _is_robots(headers: Mapping[str, str] | None, source: Source) -> bool:
    ctype = (header(headers, "content-type") or "").split(";")[0].strip().lower()
    return urlsplit(source.url).path == "/robots.txt" or ctype == "text/plain"


def _read_xml(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    """(root name, entries) of a sitemap; ParseError for another root or no XML at all."""
    from lxml import etree
    from scrapy.utils.sitemap import Sitemap

    try:
        sitemap = Sitemap(body)  # lxml, resolve_entities=False, recover=True
        kind = sitemap.type
        if kind not in ("urlset", "sitemapindex"):
            raise ParseError("not_a_sitemap", f"root <{kind}>")
        return kind, list(sitemap)
    except StopIteration:
        raise ParseError("unparseable", "no XML element") from None
    except (etree.LxmlError, ValueError) as exc:
        raise ParseError("unparseable", f"{type(exc).__name__}: {exc}"[:150]) from None


def _read_robots(body: bytes, source: Source) -> ParseResult:
    from scrapy.utils.sitemap import sitemap_urls_from_robots

    result = ParseResult(notes={"sitemap_kind": "robots"})
    urls: dict[str, str] = {}
    for loc in sitemap_urls_from_robots(body, base_url=source.url):
        checked = checked_link(loc, source.url)
        if checked is None:
            result.skip("bad_link")
        elif checked[1] in urls.values():
            result.skip("duplicate")
        else:
            urls[checked[0]] = checked[1]
    result.notes["sitemaps"] = list(urls)
    return result


def _read_index(entries: list[dict[str, Any]], source: Source) -> ParseResult:
    result = ParseResult(notes={"sitemap_kind": "sitemapindex", "sitemaps_total": len(entries)})
    own = checked_link(source.url)
    seen = {own[1]} if own else set()
    ranked: list[tuple[int, str, str]] = []  # (preference, lastmod, url) in document order
    for entry in entries:
        checked = checked_link(entry.get("loc"), source.url)
        if checked is None:
            result.skip("bad_link")
            continue
        if checked[1] in seen:
            result.skip("self_or_duplicate")
            continue
        seen.add(checked[1])
        name = urlsplit(checked[0]).path.rstrip("/").rsplit("/", 1)[-1].lower()
        preference = ("sitemap" in name) + bool(_POST_NAME.search(name))
        lastmod, _flag = parse_date(entry.get("lastmod"))
        ranked.append((preference, lastmod or "", checked[0]))
    # Newest first (no lastmod last), then the preferred names first; both sorts are
    # stable, so equals keep the document's order.
    ranked.sort(key=lambda r: r[1], reverse=True)
    ranked.sort(key=lambda r: r[0], reverse=True)
    result.notes["sitemaps"] = [url for *_, url in ranked]
    return result


def _read_urlset(entries: list[dict[str, Any]], source: Source) -> ParseResult:
    result = ParseResult(notes={"sitemap_kind": "urlset", "urls_total": len(entries)})
    match = source.options.get("match")
    pattern = re.compile(match) if isinstance(match, str) and match else None
    stamps = Counter((e.get("lastmod") or "").strip() for e in entries)
    stamps.pop("", None)
    stamp, n_stamped = stamps.most_common(1)[0] if stamps else ("", 0)
    if n_stamped < BUILD_STAMP_MIN:
        stamp = ""
    else:
        result.notes["build_stamp"] = {"lastmod": stamp, "urls": n_stamped}
    seen: set[str] = set()
    kept: list[Candidate] = []
    own_host = _site_host(source.url)
    for position, entry in enumerate(entries, start=1):
        checked = checked_link(entry.get("loc"), source.url)
        if checked is None:
            result.skip("bad_link")
            continue
        url, canonical = checked
        if _site_host(url) != own_host:
            # A urlset lists its own site's pages only (sitemaps.org): not the blog's post.
            result.skip("other_host")
            continue
        path = _INDEX_FILE.sub("/", unquote(urlsplit(url).path))
        reason = _not_an_article(path, canonical)
        if reason is None and pattern is not None and not pattern.search(path):
            reason = "no_match"
        if reason is None and canonical in seen:
            reason = "duplicate"
        if reason is not None:
            result.skip(reason)
            continue
        seen.add(canonical)
        extra: dict[str, Any] = {"title_from": "url"}
        title = clean_title(_slug_title(path), extra)
        if not title:
            result.skip("no_title")
            continue
        c = Candidate(url=url, title=title, source=source.name, position=position, extra=extra)
        fill_identity(c, canonical)
        c.section = source.section or "article"
        lastmod = (entry.get("lastmod") or "").strip()
        _set_date(c, path, "" if lastmod == stamp else lastmod)
        kept.append(c)
    if 2 * sum(1 for c in kept if c.published) > len(kept):
        # Most URLs are dated (by path or lastmod): the undated ones are the site's fixed
        # pages (download, contact, people), not posts.
        for c in kept:
            if c.published is None:
                result.skip("undated")
        kept = [c for c in kept if c.published]
    result.extend(kept)
    cap_newest(result, source)
    return result


def _site_host(url: str) -> str:
    """The host name of `url` without a leading "www." (the same site either way)."""
    return (urlsplit(url).hostname or "").removeprefix("www.")


def _not_an_article(path: str, canonical: str) -> str | None:
    """Why a URL path is not an article (site root, listing, date index, asset), or None."""
    if is_site_root(canonical) or path in ("", "/"):
        return "site_root"
    if _ASSET_EXT.search(path):
        return "asset"
    segments = [_PAGE_EXT.sub("", s).lower() for s in path.split("/") if s]
    if all(s.isdigit() for s in segments):
        return "date_index"  # /2007/, /2020/01/
    if any(s in _LISTING_PREFIX for s in segments[:-1]) and not _PATH_DATE.search(path):
        return "listing"  # /tags/python/, /authors/mattip.html (but /archive/2020/01/x/)
    last = segments[-1]
    if last in _LISTING_LAST or _LISTING_PAGE.match(last):
        return "listing"
    if len(segments) >= 2 and segments[-2] == "page" and last.isdigit():
        return "listing"  # /page/3/
    return None


def _slug_title(path: str) -> str:
    """`/posts/2024/08/pypy-v7317-release.html` -> "Pypy v7317 release"."""
    last = next((s for s in reversed(path.split("/")) if s), "")
    words = " ".join(re.sub(r"[-_]+", " ", _PAGE_EXT.sub("", last)).split())
    return words[:1].upper() + words[1:]


def _set_date(c: Candidate, path: str, lastmod: str) -> None:
    """The path's date (/YYYY/MM/DD/ or /YYYY/MM/: when the post was published), else
    <lastmod> (when the page last changed), each only inside the plausible window."""
    m = _PATH_DATE.search(path)
    if m:
        year, month, day = m.group(1), int(m.group(2)), int(m.group(3) or 1)
        published, _flag = parse_date(f"{year}-{month:02d}-{day:02d}")
        if published:
            c.published, c.published_raw, c.date_flag = published, m.group(0).strip("/"), None
            c.extra["date_from"] = "url"
            return
    c.published_raw = lastmod or None
    c.published, c.date_flag = parse_date(c.published_raw)
