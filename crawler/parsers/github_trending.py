"""The github.com/trending HTML page -> one project candidate per repository row."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from parsel import Selector

from crawler.items import Candidate
from crawler.parsers.common import ParseError, ParseResult, fill_identity, http_link, to_int
from crawler.parsers.pages import decode_html
from crawler.sources import Source
from crawler.text import SUMMARY_MAX, clean_text
from crawler.urls import project_key

logger = logging.getLogger(__name__)

__all__ = ["parse_github_trending"]

GITHUB = "https://github.com/"
_PERIOD = re.compile(r"([\d,.]+k?)\s+stars?\s+(today|this week|this month)", re.IGNORECASE)
_PERIOD_NAMES = {"today": "daily", "this week": "weekly", "this month": "monthly"}


def parse_github_trending(
    body: bytes, headers: Mapping[str, str] | None, source: Source
) -> ParseResult:
    """Trending page bytes -> candidates with stars, forks, stars in the period, position."""
    text, _encoding, _flags = decode_html(body, headers)
    sel = Selector(text=text, type="html")
    rows = sel.css("article.Box-row")
    page_title = clean_text(sel.css("title::text").get(), 200)
    if not rows and "trending" not in page_title.lower():
        raise ParseError("bad_shape", "no article.Box-row: not a GitHub trending page")
    result = ParseResult(notes={"parser": "github_trending", "entries_total": len(rows)})
    if page_title:
        result.notes["page_title"] = page_title
    seen: set[str] = set()
    for position, row in enumerate(rows, start=1):
        c = _row(row, source, position)
        if c is None:
            result.skip("no_repo_link")
        elif c.repo_key in seen:
            result.skip("duplicate")
        else:
            seen.add(c.repo_key or c.url)
            result.append(c)
    return result


def _row(row: Selector, source: Source, position: int) -> Candidate | None:
    # Heading link: h2 in current markup, h1 in older pages.
    href = row.css("h2 a::attr(href), h1 a::attr(href)").get()
    url = http_link(href, GITHUB)
    key = project_key(url) if url else None
    if not url or not key:
        return None
    # Keep the owner/repo spelling the page shows; repo_key is the lowercased identity.
    segments = [seg for seg in urlsplit(url).path.split("/") if seg]
    name = "/".join(segments[:2]) if len(segments) >= 2 else key.removeprefix("github.com/")
    extra: dict[str, Any] = {}
    c = Candidate(
        url=url,
        title=name,
        source=source.name,
        section=source.section or "project",
        description=clean_text(" ".join(row.css("p ::text").getall()), SUMMARY_MAX),
        language=clean_text(row.css("[itemprop=programmingLanguage]::text").get(), 50) or None,
        position=position,
        author=name.split("/")[0],
        extra=extra,
    )
    for a in row.css("a"):
        link = a.attrib.get("href", "")
        number = to_int(clean_text(" ".join(a.css("::text").getall()), 40))
        if link.endswith("/stargazers"):
            c.stars = number
        elif link.endswith(("/forks", "/network/members", "/network")):
            c.forks = number
    period_text = clean_text(" ".join(row.css("span ::text").getall()), 2000)
    m = _PERIOD.search(period_text)
    if m:
        c.stars_period = to_int(m.group(1))
        extra["stars_period"] = _PERIOD_NAMES[m.group(2).lower()]
    return fill_identity(c)
