"""Lobsters hottest/newest JSON -> candidates (optionally only some tags)."""

from __future__ import annotations

import logging
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
    to_int,
)
from crawler.sources import Source
from crawler.text import SUMMARY_MAX, clean_text, html_to_text, parse_date

logger = logging.getLogger(__name__)

__all__ = ["parse_lobsters"]


def parse_lobsters(body: bytes, headers: Mapping[str, str] | None, source: Source) -> ParseResult:
    """A JSON list of stories -> candidates.

    ``source.options["tags"]`` (e.g. ``["python"]``) keeps only stories with one of them.
    """
    data = load_json(body)
    if not isinstance(data, list):
        raise ParseError("bad_shape", "expected a JSON list of stories")
    wanted = source.options.get("tags") or []
    if isinstance(wanted, str):
        wanted = [wanted]
    wanted_set = {str(t).lower() for t in wanted}
    result = ParseResult(notes={"parser": "lobsters", "entries_total": len(data)})
    seen: set[str] = set()
    for position, story in enumerate(data, start=1):
        if not isinstance(story, dict):
            result.skip("bad_shape")
            continue
        tags = [str(t) for t in story.get("tags") or [] if isinstance(t, str)]
        if wanted_set and not wanted_set.intersection(t.lower() for t in tags):
            result.skip("tag_filtered")
            continue
        c = _story(story, tags, source, position)
        if c is None:
            result.skip("no_title_or_link")
        elif (c.canonical_url or c.url) in seen:
            result.skip("duplicate")
        else:
            seen.add(c.canonical_url or c.url)
            result.append(c)
    return result


def _story(
    story: dict[str, Any], tags: list[str], source: Source, position: int
) -> Candidate | None:
    extra: dict[str, Any] = {"tags": tags}
    title = clean_title(story.get("title") if isinstance(story.get("title"), str) else None, extra)
    link = http_link(story.get("url"))
    discussion = http_link(story.get("comments_url")) or http_link(story.get("short_id_url"))
    if not title or not (link or discussion):
        return None
    submitter = story.get("submitter_user")
    if isinstance(submitter, dict):
        submitter = submitter.get("username")
    c = Candidate(
        url=link or discussion or "",
        title=title,
        source=source.name,
        section=(source.section or "article") if link else "hot_topic",
        description=html_to_text(story.get("description") or "", SUMMARY_MAX),
        points=to_int(story.get("score")),
        comments=to_int(story.get("comment_count")),
        discussion_url=discussion,
        position=position,
        author=clean_text(submitter if isinstance(submitter, str) else None, 100) or None,
        extra=extra,
    )
    if story.get("short_id"):
        extra["short_id"] = str(story["short_id"])
    raw = story.get("created_at")
    c.published_raw = raw if isinstance(raw, str) else None
    c.published, c.date_flag = parse_date(raw)
    return fill_identity(c)
