"""ISO weeks (`2025-W07`): the one place they are parsed, validated and turned into dates."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from ranking.errors import UsageError

_WEEK = re.compile(r"^(\d{4})-?W(\d{2})$", re.IGNORECASE)
# Years a newsletter week can be in; outside them the window's dates would overflow.
YEARS = (1970, 2999)


@dataclass(frozen=True, order=True)
class IsoWeek:
    """An ISO-8601 week; `start` is its Monday, `end` its Sunday."""

    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """Parse `2025-W07` (or `2025W07`); raise UsageError with a one-line reason."""
        match = _WEEK.match((text or "").strip())
        if not match:
            raise UsageError(f"invalid week {text!r}: expected YYYY-Www, e.g. 2025-W07")
        year, week = int(match.group(1)), int(match.group(2))
        if not YEARS[0] <= year <= YEARS[1]:
            raise UsageError(f"invalid week {text!r}: the year must be {YEARS[0]}-{YEARS[1]}")
        weeks_in_year = dt.date(year, 12, 28).isocalendar().week
        if not 1 <= week <= weeks_in_year:
            raise UsageError(f"invalid week {text!r}: {year} has weeks W01-W{weeks_in_year:02d}")
        return cls(year, week)

    @classmethod
    def of(cls, day: dt.date) -> IsoWeek:
        """The ISO week that contains `day`."""
        iso = day.isocalendar()
        return cls(iso.year, iso.week)

    @property
    def start(self) -> dt.date:
        return dt.date.fromisocalendar(self.year, self.week, 1)

    @property
    def end(self) -> dt.date:
        return dt.date.fromisocalendar(self.year, self.week, 7)

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"
