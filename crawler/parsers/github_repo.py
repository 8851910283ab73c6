"""GitHub REST repository JSON (one repo, or search/repositories) -> candidates.

The releases/commits Atom feeds of a repository are feeds; they are read by feeds.py.
"""

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
    looks_like_markup,
    to_int,
)
from crawler.parsers.feeds import parse_feed
from crawler.sources import Source
from crawler.text import SUMMARY_MAX, clean_text, parse_date

logger = logging.getLogger(__name__)

__all__ = ["parse_github_repo"]


def parse_github_repo(
    body: bytes, headers: Mapping[str, str] | None, source: Source
) -> ParseResult:
    """``/repos/{owner}/{repo}`` or ``/search/repositories`` JSON -> candidates."""
    if looks_like_markup(body):
        return parse_feed(body, headers, source)  # releases.atom, commits.atom
    data = load_json(body)
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        repos = data["items"]
        notes: dict[str, Any] = {"parser": "github_search", "total_count": data.get("total_count")}
    elif isinstance(data, dict) and "full_name" in data:
        repos = [data]
        notes = {"parser": "github_repo"}
    elif isinstance(data, list):
        repos = data
        notes = {"parser": "github_repo_list"}
    else:
        raise ParseError("bad_shape", "not a GitHub repository object or search result")
    result = ParseResult(notes=notes)
    result.notes["entries_total"] = len(repos)
    for position, repo in enumerate(repos, start=1):
        c = _repo(repo, source, position if len(repos) > 1 else None)
        if c is None:
            result.skip("bad_repo")
        else:
            result.append(c)
    return result


def _repo(repo: object, source: Source, position: int | None) -> Candidate | None:
    if not isinstance(repo, dict):
        return None
    url = http_link(repo.get("html_url"))
    full_name = repo.get("full_name")
    if not url and isinstance(full_name, str):
        url = http_link(f"https://github.com/{full_name}")
    if not url or not isinstance(full_name, str):
        return None
    extra: dict[str, Any] = {}
    title = clean_title(full_name, extra, 200)
    license_ = repo.get("license")
    c = Candidate(
        url=url,
        title=title,
        source=source.name,
        section=source.section or "project",
        description=clean_text(repo.get("description"), SUMMARY_MAX),
        language=clean_text(repo.get("language"), 50) or None,
        stars=to_int(repo.get("stargazers_count")),
        forks=to_int(repo.get("forks_count")),
        position=position,
        author=clean_text((repo.get("owner") or {}).get("login"), 100) or None
        if isinstance(repo.get("owner"), dict)
        else None,
        extra=extra,
    )
    topics = [clean_text(t, 50) for t in repo.get("topics") or [] if isinstance(t, str)]
    if topics:
        extra["topics"] = topics
    for key in ("pushed_at", "updated_at"):
        if isinstance(repo.get(key), str):
            extra[key] = repo[key]
    for key in ("archived", "fork", "is_template"):
        if isinstance(repo.get(key), bool):
            extra[key] = repo[key]
    if isinstance(license_, dict) and isinstance(license_.get("spdx_id"), str):
        extra["license"] = license_["spdx_id"]
    homepage = http_link(repo.get("homepage"))
    if homepage:
        extra["homepage"] = homepage
    for key in ("open_issues_count", "watchers_count", "subscribers_count"):
        value = to_int(repo.get(key))
        if value is not None:
            extra[key] = value
    raw = repo.get("created_at")
    c.published_raw = raw if isinstance(raw, str) else None
    c.published, c.date_flag = parse_date(raw)
    return fill_identity(c)
