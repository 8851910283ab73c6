"""Defaults shared by the `rank` CLI and the ranker (no heavy imports: `--help` stays fast)."""

from __future__ import annotations

DEFAULT_WINDOW_DAYS = 21
DEFAULT_QUOTAS: dict[str, int] = {"article": 36, "project": 36, "audio_video": 6, "hot_topic": 6}
