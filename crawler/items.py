"""Candidate: the one record shape every parser and spider yields."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SECTIONS = ("article", "project", "audio_video", "hot_topic")


@dataclass
class Candidate:
    """One item seen by one source at one time.

    Parsers fill what the source tells; pipelines add ``canonical_url``/``repo_key``
    and clean the text. Metrics are what the source showed at fetch time.
    """

    url: str
    title: str
    source: str
    section: str | None = None  # article | project | audio_video | hot_topic
    description: str = ""
    published: str | None = None  # ISO-8601 UTC, only when inside the plausible window
    published_raw: str | None = None  # the source's own date string, kept verbatim
    date_flag: str | None = None  # None (ok) | "missing" | "unparsed" | "out_of_range"
    author: str | None = None
    language: str | None = None  # programming language (repos) or None
    stars: int | None = None
    forks: int | None = None
    stars_period: int | None = None  # stars today / this week as the page shows it
    points: int | None = None
    comments: int | None = None
    position: int | None = None  # 1-based rank on the source's page
    discussion_url: str | None = None
    canonical_url: str | None = None
    repo_key: str | None = None  # urls.project_key: None for a link to a repository's thread
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a new dict; `extra` is copied one level deep (not deep-copied)."""
        out = {name: getattr(self, name) for name in _FIELD_NAMES}
        out["extra"] = dict(self.extra or {})
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        return cls(**{k: v for k, v in data.items() if k in _FIELD_NAMES})


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Candidate))
