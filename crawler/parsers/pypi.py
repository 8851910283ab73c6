"""PyPI JSON API (project or release endpoint) -> one candidate per project."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from crawler.items import Candidate
from crawler.parsers.common import (
    ParseError,
    ParseResult,
    clean_title,
    fill_identity,
    http_link,
    load_json,
)
from crawler.sources import Source
from crawler.text import SUMMARY_MAX, clean_text, parse_date
from crawler.urls import project_key

logger = logging.getLogger(__name__)

__all__ = ["parse_pypi"]

# project_urls labels that name the code, most specific first.
_REPO_LABELS = ("source", "source code", "repository", "code", "github", "homepage", "home")


def parse_pypi(body: bytes, headers: Mapping[str, str] | None, source: Source) -> ParseResult:
    """``/pypi/<name>/json`` or ``/pypi/<name>/<version>/json`` -> one project candidate.

    The candidate URL is the GitHub repository when the metadata names one (so it
    merges with trending and HN sightings by repo_key), else the PyPI page.
    """
    data = load_json(body)
    info = data.get("info") if isinstance(data, dict) else None
    if not isinstance(info, dict) or not isinstance(info.get("name"), str):
        raise ParseError("bad_shape", "no info.name: not a PyPI JSON response")
    extra: dict[str, Any] = {}
    name = clean_title(info["name"], extra, 200)
    if not name:
        raise ParseError("bad_shape", "empty project name")
    pypi_url = http_link(info.get("project_url")) or http_link(info.get("package_url"))
    pypi_url = pypi_url or f"https://pypi.org/project/{quote(name)}/"
    repo_url = _repo_url(info)
    version = info.get("version") if isinstance(info.get("version"), str) else None
    c = Candidate(
        url=repo_url or pypi_url,
        title=name,
        source=source.name,
        section=source.section or "project",
        description=clean_text(info.get("summary"), SUMMARY_MAX),
        author=clean_text(info.get("author") or info.get("maintainer"), 200) or None,
        extra=extra,
    )
    extra["pypi_url"] = pypi_url
    if version:
        extra["version"] = clean_text(version, 50)
    for key in ("requires_python", "license"):
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            extra[key] = clean_text(value, 100)
    if isinstance(info.get("yanked"), bool) and info["yanked"]:
        extra["yanked"] = True
    raw = _release_date(data, version)
    c.published_raw = raw
    c.published, c.date_flag = parse_date(raw)
    releases = data.get("releases")
    if isinstance(releases, dict):
        extra["release_count"] = len(releases)
        first = _first_upload(releases)
        if first:
            extra["first_release"] = first
    return ParseResult([fill_identity(c)], notes={"parser": "pypi"})


def _repo_url(info: dict[str, Any]) -> str | None:
    urls: list[tuple[str, str]] = []
    project_urls = info.get("project_urls")
    if isinstance(project_urls, dict):
        urls.extend(
            (str(k).strip().lower(), v) for k, v in project_urls.items() if isinstance(v, str)
        )
    if isinstance(info.get("home_page"), str):
        urls.append(("homepage", info["home_page"]))
    ranked = sorted(
        urls,
        key=lambda kv: _REPO_LABELS.index(kv[0]) if kv[0] in _REPO_LABELS else len(_REPO_LABELS),
    )
    for _label, url in ranked:
        key = project_key(url) if http_link(url) else None
        if key:
            return f"https://{key}"
    return None


def _release_date(data: dict[str, Any], version: str | None) -> str | None:
    """The earliest upload time of `version` (the ``urls`` list, else ``releases``)."""
    files = data.get("urls")
    if not files and version and isinstance(data.get("releases"), dict):
        files = data["releases"].get(version)
    times = [
        f.get("upload_time_iso_8601") or f.get("upload_time")
        for f in files or []
        if isinstance(f, dict)
    ]
    times = [t for t in times if isinstance(t, str)]
    return min(times) if times else None


def _first_upload(releases: dict[str, Any]) -> str | None:
    times = [
        f.get("upload_time_iso_8601")
        for files in releases.values()
        if isinstance(files, list)
        for f in files
        if isinstance(f, dict) and isinstance(f.get("upload_time_iso_8601"), str)
    ]
    return min(times) if times else None
