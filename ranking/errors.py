"""The ranking package's error tree; the CLI turns each into one line and an exit code."""

from __future__ import annotations

from collections.abc import Sequence


def first_of(items: Sequence[str], n: int = 3, sep: str = ", ") -> str:
    """The first `n` of `items` joined by `sep`, then " …" if there are more: how a one-line
    message names a few of many (rows, files, cells)."""
    return sep.join(items[:n]) + (" …" if len(items) > n else "")


class RankingError(Exception):
    """Base of every expected failure in ranking; the CLI prints it as one line."""

    exit_code = 1


class UsageError(RankingError):
    """A command-line value is malformed (week, path, option)."""

    exit_code = 2


class StoreError(RankingError):
    """The database cannot be used (missing, busy, newer schema or DuckDB)."""

    exit_code = 3


class StoreBusyError(StoreError):
    """Another process holds the database lock."""


class OutputBusyError(RankingError):
    """Another `rank backtest` writes into the same --out folder (its PID named); exit 3,
    as for a busy store: nothing done, wait for the holder."""

    exit_code = 3


class CsvFormatError(RankingError):
    """A CSV file cannot be read as a table (size, encoding, workbook, empty)."""


class SightingsFileError(RankingError):
    """A sightings file cannot be read as a whole (type, columns, content)."""


class FeedbackError(RankingError):
    """A curator's feedback file cannot be used as a whole (not a shortlist, other week)."""
