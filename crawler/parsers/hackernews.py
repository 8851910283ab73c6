"""Hacker News bytes (Algolia search JSON, Firebase item JSON, the HN RSS) -> candidates."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from crawler.items import Candidate
from crawler.parsers.common import (
    ParseError,
    ParseResult,
    clean_title,
    fill_identity,
    http_link,
    load_json,
    looks_like_markup,
    to_int,
)
from crawler.parsers.feeds import FeedEntry, build_candidates, read_feed
from crawler.sources import Source
from crawler.text import SUMMARY_MAX, clean_text, html_to_text, parse_date

logger = logging.getLogger(__name__)

__all__ = ["ITEM_URL", "parse_hackernews"]

ITEM_URL = "https://news.ycombinator.com/item?id={}"
_ITEM_LINK = re.compile(r"https?://news\.ycombinator\.com/item\?id=(\d+)")


def parse_hackernews(body: bytes, headers: Mapping[str, str] | None, source: Source) -> ParseResult:
    """Algolia ``{"hits": [...]}``, a Firebase item, or the RSS -> candidates.

    A Firebase id list (topstories) gives no candidates and ``notes["item_ids"]``.
    """
    if looks_like_markup(body):
        return _parse_rss(body, headers, source)
    data = load_json(body)
    if isinstance(data, dict) and isinstance(data.get("hits"), list):
        return _parse_hits(data["hits"], source)
    if isinstance(data, dict) and "id" in data and "type" in data:
        result = ParseResult(notes={"parser": "hn_firebase"})
        c = _from_firebase(data, source)
        if c is None:
            result.skip("not_a_story")
        else:
            result.append(c)
        return result
    if isinstance(data, list) and all(isinstance(x, int) for x in data):
        return ParseResult(notes={"parser": "hn_firebase", "item_ids": data})
    raise ParseError("bad_shape", "neither Algolia hits, a Firebase item nor an id list")


def _story(
    source: Source,
    *,
    item_id: object,
    title: object,
    url: object,
    points: object,
    comments: object,
    created: object,
    author: object,
    text: object,
    position: int | None,
) -> Candidate | None:
    extra: dict[str, Any] = {}
    clean = clean_title(title if isinstance(title, str) else None, extra)
    hn_id = to_int(item_id)
    if not clean or hn_id is None:
        return None
    discussion = ITEM_URL.format(hn_id)
    link = http_link(url)
    c = Candidate(
        url=link or discussion,
        title=clean,
        source=source.name,
        # Ask HN / Show HN without a URL: the discussion is the item.
        section=(source.section or "article") if link else "hot_topic",
        points=to_int(points),
        comments=to_int(comments),
        discussion_url=discussion,
        position=position,
        author=clean_text(author if isinstance(author, str) else None, 100) or None,
        extra=extra,
    )
    if isinstance(text, str) and text:
        c.description = html_to_text(text, SUMMARY_MAX)
    c.published_raw = str(created) if created is not None else None
    c.published, c.date_flag = parse_date(created)
    extra["hn_id"] = hn_id
    return fill_identity(c)


def _parse_hits(hits: list[Any], source: Source) -> ParseResult:
    result = ParseResult(notes={"parser": "hn_algolia", "entries_total": len(hits)})
    seen: set[str] = set()
    for position, hit in enumerate(hits, start=1):
        if not isinstance(hit, dict):
            result.skip("bad_shape")
            continue
        c = _story(
            source,
            item_id=hit.get("objectID") or hit.get("story_id"),
            title=hit.get("title"),
            url=hit.get("url"),
            points=hit.get("points"),
            comments=hit.get("num_comments"),
            created=hit.get("created_at") or hit.get("created_at_i"),
            author=hit.get("author"),
            text=hit.get("story_text"),
            position=position,
        )
        if c is None:
            result.skip("no_title")
        elif c.canonical_url in seen:
            result.skip("duplicate")
        else:
            seen.add(c.canonical_url or c.url)
            result.append(c)
    return result


def _from_firebase(item: dict[str, Any], source: Source) -> Candidate | None:
    if item.get("type") not in ("story", "job", "poll") or item.get("deleted") or item.get("dead"):
        return None
    return _story(
        source,
        item_id=item.get("id"),
        title=item.get("title"),
        url=item.get("url"),
        points=item.get("score"),
        comments=item.get("descendants"),
        created=item.get("time"),
        author=item.get("by"),
        text=item.get("text"),
        position=None,
    )


def _parse_rss(body: bytes, headers: Mapping[str, str] | None, source: Source) -> ParseResult:
    def customize(c: Candidate, entry: FeedEntry) -> Candidate:
        # The HN RSS description is only a "Comments" link to the discussion.
        m = _ITEM_LINK.search(entry.comments or "") or _ITEM_LINK.search(entry.summary or "")
        if m:
            c.discussion_url = ITEM_URL.format(m.group(1))
            c.extra["hn_id"] = int(m.group(1))
            if c.description == "Comments":
                c.description = ""
            if c.url == c.discussion_url:
                c.section = "hot_topic"
        return c

    return build_candidates(read_feed(body, headers), source, customize)
