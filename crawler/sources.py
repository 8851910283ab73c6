"""Load and validate the source list (`sources.toml`) into Source records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = ("feed", "github_trending", "hackernews", "lobsters", "reddit", "pypi", "github_repo", "page")


@dataclass(frozen=True)
class Source:
    """One configured source: where to fetch and how to read it."""

    name: str
    kind: str
    url: str
    section: str | None = None  # hint: article | project | audio_video | hot_topic
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
