"""Load and validate the source list (`sources.toml`) into Source records.

The format (``crawl --sources FILE`` replaces the packaged default)::

    [[source]]
    name = "real-python"        # unique; letters, digits, '.', '_', '-'
    kind = "feed"               # one of KINDS: feed, newsletter, page, sitemap, ...
    url = "https://realpython.com/atom.xml"
    section = "article"         # optional hint: article | project | audio_video | hot_topic
    enabled = true              # optional, default true
    options = { max_new_items = 20 }   # optional; the keys OPTIONS lists for the kind

Every problem is a one-line ``ConfigError`` naming the file and the entry, e.g.
``sources.toml: source #3 'foo': unknown kind 'rss' (expected one of feed, ...)``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crawler.errors import ConfigError
from crawler.items import SECTIONS
from crawler.urls import MAX_URL_LENGTH

KINDS = (
    "feed",
    "newsletter",
    "github_trending",
    "hackernews",
    "lobsters",
    "reddit",
    "pypi",
    "github_repo",
    "page",
    "sitemap",
)
FIELDS = ("name", "kind", "url", "section", "enabled", "options")
REQUIRED = ("name", "kind", "url")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
# The option keys the code reads, per kind (crawler.runstate: max_new_items; the spider:
# fetch_pages, resolve_links, max_sitemaps; the reddit, lobsters and sitemap parsers:
# skip_stickied, tags, match). Any other key is an error: a typo must not be silently
# ignored.
OPTIONS: dict[str, tuple[str, ...]] = {kind: ("max_new_items",) for kind in KINDS} | {
    "newsletter": ("max_new_items", "resolve_links"),
    "hackernews": ("max_new_items", "fetch_pages"),
    "lobsters": ("max_new_items", "fetch_pages", "tags"),
    "reddit": ("max_new_items", "fetch_pages", "skip_stickied"),
    "sitemap": ("max_new_items", "fetch_pages", "max_sitemaps", "match"),
}
INT_OPTIONS = ("max_new_items", "max_sitemaps")
BOOL_OPTIONS = ("fetch_pages", "resolve_links", "skip_stickied")


@dataclass(frozen=True)
class Source:
    """One configured source: where to fetch and how to read it."""

    name: str
    kind: str
    url: str
    section: str | None = None  # hint: article | project | audio_video | hot_topic
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


def default_sources_path() -> Path:
    """The packaged default list, ``crawler/sources.toml``."""
    return Path(str(resources.files("crawler").joinpath("sources.toml")))


def check_url(url: str) -> str | None:
    """Why ``url`` is not a usable source URL, or None when it is."""
    if not url or url != url.strip():
        return "empty or surrounded by spaces"
    if len(url) > MAX_URL_LENGTH:
        return f"longer than {MAX_URL_LENGTH} characters"
    if any(ord(c) < 0x21 or c == "\x7f" for c in url):
        return "contains spaces or control characters"
    if "\\" in url:
        return "contains a backslash"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"cannot be parsed ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme or '(none)'!r} is not http or https"
    if "@" in parts.netloc:
        return "user-info ('user@') is not allowed"
    if not parts.hostname:
        return "has no host"
    return None


def _where(label: str, index: int, name: Any) -> str:
    if isinstance(name, str) and name:
        return f"{label}: source #{index} {name!r}"
    return f"{label}: source #{index}"


def _check_options(options: Any, kind: str, where: str) -> dict[str, Any]:
    if not isinstance(options, dict):
        raise ConfigError(f"{where}: 'options' must be a table, got {type(options).__name__}")
    unknown = [k for k in options if k not in OPTIONS[kind]]
    if unknown:
        raise ConfigError(
            f"{where}: unknown option(s) {', '.join(map(repr, unknown))} "
            f"(known for kind {kind!r}: {', '.join(OPTIONS[kind])})"
        )
    for key in BOOL_OPTIONS:
        if key in options and not isinstance(options[key], bool):
            raise ConfigError(f"{where}: option {key!r} must be true or false")
    for key in INT_OPTIONS:
        if key in options:
            value = options[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{where}: option {key!r} must be a non-negative integer")
    tags = options.get("tags")
    if tags is not None and (
        not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags)
    ):
        raise ConfigError(f"{where}: option 'tags' must be a list of strings")
    match = options.get("match")
    if match is not None:
        if not isinstance(match, str) or not match:
            raise ConfigError(f"{where}: option 'match' must be a non-empty string")
        try:
            re.compile(match)
        except re.error as exc:
            raise ConfigError(
                f"{where}: option 'match' is not a valid regular expression: {exc}"
            ) from None
    return dict(options)


def _parse_entry(entry: Any, index: int, label: str) -> Source:
    if not isinstance(entry, dict):
        raise ConfigError(f"{label}: source #{index}: expected a [[source]] table")
    where = _where(label, index, entry.get("name"))
    unknown = [k for k in entry if k not in FIELDS]
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(map(repr, unknown))} "
            f"(expected {', '.join(FIELDS)})"
        )
    missing = [k for k in REQUIRED if k not in entry]
    if missing:
        raise ConfigError(f"{where}: missing field(s) {', '.join(map(repr, missing))}")
    for key in ("name", "kind", "url"):
        if not isinstance(entry[key], str):
            raise ConfigError(f"{where}: {key!r} must be a string")
    name, kind, url = entry["name"], entry["kind"], entry["url"]
    if not NAME_RE.match(name):
        raise ConfigError(
            f"{where}: bad name (use 1-64 letters, digits, '.', '_' or '-', e.g. 'real-python')"
        )
    if kind not in KINDS:
        raise ConfigError(f"{where}: unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    problem = check_url(url)
    if problem:
        raise ConfigError(f"{where}: bad url {url!r}: {problem}")
    section = entry.get("section")
    if section is not None and section not in SECTIONS:
        raise ConfigError(
            f"{where}: unknown section {section!r} (expected one of {', '.join(SECTIONS)})"
        )
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}: 'enabled' must be true or false")
    options = _check_options(entry.get("options", {}), kind, where)
    return Source(name, kind, url, section, enabled, options)


def parse_sources(text: str, label: str = "sources.toml") -> list[Source]:
    """Parse and validate TOML text; ``label`` names the file in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        match = re.search(r"\(at line (\d+), column (\d+)\)$", msg)
        if match:
            msg = msg[: match.start()].rstrip()
            raise ConfigError(
                f"{label}: line {match[1]}: invalid TOML: {msg} (column {match[2]})"
            ) from None
        raise ConfigError(f"{label}: invalid TOML: {msg}") from None
    unknown = [k for k in data if k != "source"]
    if unknown:
        raise ConfigError(
            f"{label}: unknown top-level key(s) {', '.join(map(repr, unknown))} "
            "(expected [[source]] tables)"
        )
    entries = data.get("source", [])
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{label}: no [[source]] entries")
    sources: list[Source] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries, 1):
        source = _parse_entry(entry, index, label)
        key = source.name.lower()
        if key in seen:
            raise ConfigError(
                f"{_where(label, index, source.name)}: duplicate name "
                f"(first used by source #{seen[key]})"
            )
        seen[key] = index
        sources.append(source)
    return sources


def load_sources(path: Path | None = None) -> list[Source]:
    """Read a sources file (None: the packaged default) into validated Source records."""
    if path is None:
        text = default_sources_path().read_text(encoding="utf-8")
        return parse_sources(text, "sources.toml")
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}: not UTF-8 (line {line}, byte {exc.start})") from None
    return parse_sources(text, str(path))


def select_sources(sources: Sequence[Source], names: Iterable[str]) -> list[Source]:
    """The sources named (``crawl --source NAME...``), in list order; disabled ones included.

    An unknown name is a ConfigError that suggests the closest known names.
    """
    wanted = list(dict.fromkeys(names))
    by_name = {s.name: s for s in sources}
    for name in wanted:
        if name not in by_name:
            close = difflib.get_close_matches(name, list(by_name), n=3, cutoff=0.8)
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            raise ConfigError(f"unknown source {name!r}{hint}")
    chosen = set(wanted)
    return [s for s in sources if s.name in chosen]


def enabled_sources(sources: Iterable[Source]) -> list[Source]:
    """The sources a plain ``crawl`` runs."""
    return [s for s in sources if s.enabled]
