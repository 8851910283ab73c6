"""Reddit Listing JSON (and the .rss Atom) -> candidates."""

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
from crawler.text import SUMMARY_MAX, clean_text, parse_date, unescape_refs
from crawler.urls import host_of

logger = logging.getLogger(__name__)

__all__ = ["REDDIT", "parse_reddit"]

REDDIT = "https://www.reddit.com"
_LINK_ANCHOR = re.compile(r'<a href="([^"]+)">\s*\[link\]\s*</a>')
_REDDIT_HOSTS = ("reddit.com", "redd.it")


def parse_reddit(body: bytes, headers: Mapping[str, str] | None, source: Source) -> ParseResult:
    """A Listing (or a comments page: [post listing, comments]) or the Atom .rss."""
    if looks_like_markup(body):
        return _parse_atom(body, headers, source)
    data = load_json(body)
    if isinstance(data, list) and data:
        data = data[0]  # a comments page: the first Listing holds the post
    if not (isinstance(data, dict) and data.get("kind") == "Listing"):
        raise ParseError("bad_shape", "not a Reddit Listing")
    children = (data.get("data") or {}).get("children") or []
    result = ParseResult(notes={"parser": "reddit_json", "entries_total": len(children)})
    seen: set[str] = set()
    for position, child in enumerate(children, start=1):
        if not (isinstance(child, dict) and child.get("kind") == "t3"):
            result.skip("not_a_post")
            continue
        post = child.get("data") or {}
        if post.get("stickied") and source.options.get("skip_stickied", True):
            result.skip("stickied")
            continue
        c = _post(post, source, position)
        if c is None:
            result.skip("no_title_or_link")
        elif (c.canonical_url or c.url) in seen:
            result.skip("duplicate")
        else:
            seen.add(c.canonical_url or c.url)
            result.append(c)
    return result


def _is_reddit(url: str) -> bool:
    try:
        return host_of(url).endswith(_REDDIT_HOSTS)
    except ValueError:
        return False


def _text(post: dict[str, Any], key: str) -> str | None:
    """A string field as text: the Listing HTML-escapes `&`, `<` and `>` in every string
    (`?a=1&amp;utm_source=x`) unless asked with `raw_json=1`."""
    value = post.get(key)
    return unescape_refs(value) if isinstance(value, str) else None


def _post(post: dict[str, Any], source: Source, position: int) -> Candidate | None:
    extra: dict[str, Any] = {}
    title = clean_title(_text(post, "title"), extra)
    permalink = _text(post, "permalink")
    discussion = http_link(permalink, REDDIT) if permalink else None
    link = (
        None
        if post.get("is_self")
        else http_link(_text(post, "url_overridden_by_dest") or _text(post, "url"))
    )
    if link and _is_reddit(link) and "/comments/" in link:
        link = None  # a link post pointing back at a Reddit thread is a discussion
    if not title or not (link or discussion):
        return None
    c = Candidate(
        url=link or discussion or "",
        title=title,
        source=source.name,
        section=(source.section or "article") if link else "hot_topic",
        description=clean_text(_text(post, "selftext"), SUMMARY_MAX),
        points=to_int(post.get("score")),
        comments=to_int(post.get("num_comments")),
        discussion_url=discussion,
        position=position,
        author=clean_text(_text(post, "author"), 100) or None,
        extra=extra,
    )
    for key in ("subreddit", "link_flair_text", "domain", "name"):
        value = _text(post, key)
        if value:
            extra[key] = clean_text(value, 100)
    if post.get("over_18"):
        extra["over_18"] = True
    created = post.get("created_utc")
    c.published_raw = str(created) if created is not None else None
    c.published, c.date_flag = parse_date(created)
    return fill_identity(c)


def _parse_atom(body: bytes, headers: Mapping[str, str] | None, source: Source) -> ParseResult:
    def customize(c: Candidate, entry: FeedEntry) -> Candidate:
        # Reddit's Atom entry links to the thread; the "[link]" anchor is the target.
        c.discussion_url = c.url
        m = _LINK_ANCHOR.search(entry.content or entry.summary or "")
        target = http_link(unescape_refs(m.group(1))) if m else None  # an HTML attribute
        if target and not _is_reddit(target):
            c.url = target
            fill_identity(c)
        else:
            c.section = "hot_topic"
        return c

    return build_candidates(read_feed(body, headers), source, customize)
