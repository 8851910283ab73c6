"""Spreadsheet-safe CSV: the one writer for the shortlist and the robust reader for feedback.

Pure file I/O, no SQL. Decisions (RELIABILITY 2.6, 2.7; goals G11, G12, G14):

Writing (`write_csv`)
- UTF-8 **with a BOM**, so Excel on Windows and macOS opens non-ASCII text (CJK, emoji,
  accents) correctly instead of guessing a legacy code page (C4).
- **LF** line endings everywhere, both between records and inside multi-line cells
  (`\\r\\n` and lone `\\r` in a cell become `\\n`). Excel, LibreOffice, Numbers and Google
  Sheets all read LF files; one convention keeps the bytes deterministic (G15).
- RFC 4180 quoting (`"` doubled) of every cell holding a `,`, `"` or a line break, **and
  of every cell holding a `;` or a TAB** (C2): LibreOffice's import splits on `,` `;` and
  TAB at once by default, so an unquoted `;` in a reason or a sources cell shifted
  every later column of the row, the `decision` column included.
- Every string cell (header included) goes through `neutralize`: it is cleaned
  (`clean_text`), truncated to `MAX_CELL_CHARS` with an ellipsis (C3, far below Excel's
  32,767 limit) and prefixed with `'` when it starts with a formula trigger
  `= + - @ \\t \\r \\n` (C1) **or with `'` itself**. Escaping our own escape character makes
  the round trip lossless: `unescape(neutralize(s)) == s` for every clean, short `s`.
- Numbers are not strings and are not escaped: integers as `str(int)`, floats with
  `FLOAT_DECIMALS` (4) fixed decimals, `-0.0` as `0.0000`; NaN and ±inf become an empty
  cell (R7). `bool` is written `true`/`false`, `None` as empty, dates as ISO 8601.
- Atomic (C7): rows are streamed to a temp file in the target directory, flushed,
  fsynced and `os.replace`d over the target; on any error the temp file is removed and
  the previous file is untouched. Identical input gives byte-identical output.

Reading (`read_csv_rows`)
- Refuses, with one line naming the file: files over `MAX_READ_BYTES` (50 MB), empty
  files, Excel workbooks renamed to `.csv` (`PK\\x03\\x04` zip or `D0 CF 11 E0` OLE2
  magic), NUL bytes in a byte-oriented file, and bytes no candidate encoding decodes
  (naming the byte offset of the first invalid UTF-8 byte).
- Encoding, in order: UTF-8 BOM → `utf-8-sig`; UTF-16 BOM (Excel "Unicode Text") →
  `utf-16`; strict `utf-8`; the encoding chardet detects (e.g. GB18030, MacRoman);
  `cp1252`. The chosen codec is reported in `CsvMeta.encoding`; `CsvMeta.legacy_encoding`
  is True when it was neither UTF-8 nor UTF-16, i.e. characters outside the code page
  may have been replaced by `?` when the file was saved.
- Delimiter: the most frequent of `,` `;` `\\t` outside quotes on the header line, the
  first line that is not blank (ties and none → `,`). `csv.Sniffer` is not used: it
  guesses from data rows and is not deterministic enough to rely on.
- Quotes are parsed strictly: a quote that never closes is an error naming the line
  where its row starts, instead of silently swallowing every later row into one cell.
- Header names are normalized (`normalize_header`): strip, drop one leading `'` and
  any BOM, NFKC, lowercase, runs of spaces/dashes → `_`. Empty header cells are ignored; a
  repeated name keeps its first column and is listed in `CsvMeta.duplicate_columns`.
- Rows are `CsvRow` dicts (normalized header → raw cell text, `\\r\\n` → `\\n`, missing
  trailing cells → `""`) carrying `row_number`, the row as a spreadsheet shows it
  (header = 1; a quoted multi-line cell is still one row; blank lines count as rows),
  and `line`, the physical line where the row starts.
  Entirely blank rows are skipped and counted in `CsvMeta.blank_rows`. Cells are not
  unescaped here; callers `unescape` the fields they compare.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io
import logging
import math
import numbers
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from crawler.text import remove_unsafe, truncate
from ranking.errors import CsvFormatError

logger = logging.getLogger(__name__)

__all__ = [
    "FLOAT_DECIMALS",
    "FORMULA_TRIGGERS",
    "MAX_CELL_CHARS",
    "MAX_READ_BYTES",
    "CsvMeta",
    "CsvRow",
    "clean_text",
    "format_cell",
    "neutralize",
    "normalize_header",
    "read_csv_rows",
    "sniff_delimiter",
    "unescape",
    "write_csv",
]

FORMULA_TRIGGERS = frozenset("=+-@\t\r\n")
ESCAPE = "'"
MAX_CELL_CHARS = 2000
FLOAT_DECIMALS = 4
MAX_READ_BYTES = 50 * 1024 * 1024
DELIMITERS = (",", ";", "\t")

_NEWLINES = re.compile("\r\n?")
_HEADER_SEPARATORS = re.compile(r"[\s\-]+")

_ZIP_MAGIC = b"PK\x03\x04"
_ODF_SPREADSHEET = b"application/vnd.oasis.opendocument.spreadsheet"
_SAVE_AS_LIBREOFFICE = "'Text CSV (.csv)' with character set 'Unicode (UTF-8)' (LibreOffice)"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


# --------------------------------------------------------------------------- writing


def clean_text(text: str) -> str:
    """Make text safe to store or show, by the crawler's rule for titles.

    `\\r\\n` and `\\r` become `\\n`; then `crawler.text.remove_unsafe`: lone surrogates,
    bidi controls and zero-width characters are removed, other C0/C1 controls (but `\\t`,
    `\\n`) and DEL become a space. Nothing else changes (no NFC, no space folding).
    """
    if text.isprintable():  # fast path: no Cc, Cf (bidi, zero-width) or Cs (surrogate)
        return text
    return remove_unsafe(_NEWLINES.sub("\n", text))[0]


def neutralize(cell: str, max_chars: int = MAX_CELL_CHARS) -> str:
    """Return `cell` cleaned, truncated and escaped so no spreadsheet runs it as a formula.

    A `'` is prefixed when the cleaned text starts with `= + - @ \\t \\r \\n`, with those
    after spaces (a spreadsheet that trims cells would run ` =1+1`, as a control character
    before it becomes a space), or with `'` (so that `unescape` gives the original back).
    Text longer than `max_chars` is cut to `max_chars - 1` characters plus `…`.
    """
    text = truncate(clean_text(cell), max_chars)
    if text and (text[0] == ESCAPE or {text[0], text.lstrip()[:1]} & FORMULA_TRIGGERS):
        text = ESCAPE + text
    return text


def unescape(cell: str) -> str:
    """Strip exactly one leading `'` (our escape, which a spreadsheet may keep or drop)."""
    return cell[1:] if cell.startswith(ESCAPE) else cell


# pandas' missing values (pd.NA, pd.NaT), known by type name: this module needs no pandas.
_MISSING_TYPES = frozenset({"NAType", "NaTType"})


def format_cell(value: object) -> str:
    """Format one value the way `write_csv` writes it (deterministic, never `nan`)."""
    if value is None or type(value).__name__ in _MISSING_TYPES:
        return ""
    if isinstance(value, str):
        return neutralize(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            return ""
        text = f"{number:.{FLOAT_DECIMALS}f}"
        # -0.0 and tiny negatives that round to zero print as "-0.0000": drop the sign.
        return text[1:] if text.startswith("-") and float(text) == 0 else text
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return neutralize(str(value))


def _row_values(columns: Sequence[str], row: Mapping[str, object] | Sequence[object]) -> list:
    if isinstance(row, Mapping):
        extra = [key for key in row if key not in columns]
        if extra:
            raise ValueError(f"row has keys that are not columns: {sorted(map(str, extra))}")
        return [row.get(column) for column in columns]
    if isinstance(row, str | bytes) or not isinstance(row, Sequence):
        raise TypeError(f"a row must be a mapping or a sequence, not {type(row).__name__}")
    if len(row) != len(columns):
        raise ValueError(f"row has {len(row)} cells, expected {len(columns)}")
    return list(row)


def write_csv(
    path: str | os.PathLike[str],
    columns: Sequence[str],
    rows: Iterable[Mapping[str, object] | Sequence[object]],
) -> int:
    """Write `rows` under the header `columns` to `path` atomically; return the row count.

    Rows are mappings (missing keys → empty cells; unknown keys are a ValueError) or
    sequences of exactly `len(columns)` values. See the module docstring for the format.
    """
    count = 0
    with atomic_open(path, encoding="utf-8-sig") as handle:
        handle.write(_record([format_cell(str(column)) for column in columns]))
        for row in rows:
            handle.write(_record([format_cell(value) for value in _row_values(columns, row)]))
            count += 1
    return count


# A cell holding one of these is quoted: the delimiter, the quote, line breaks, and the
# other separators a spreadsheet's import may split on (LibreOffice: `,` `;` TAB at once).
_QUOTED_IF = re.compile(r'[,";\t\r\n]')


def _record(cells: list[str]) -> str:
    """One CSV line of formatted cells, `\n`-terminated (a lone empty cell is `""`, as
    the csv module writes it, so the line is not blank)."""
    if cells == [""]:
        return '""\n'
    return (
        ",".join('"' + c.replace('"', '""') + '"' if _QUOTED_IF.search(c) else c for c in cells)
        + "\n"
    )


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], *, encoding: str | None = "utf-8"
) -> Iterator[IO[Any]]:
    """A file that replaces `path` only when the block completes (temp + os.replace); text
    in `encoding`, or bytes with ``encoding=None``. A failed block leaves no temp file.

    An OSError about the hidden temp file (or about no file: a write to a full disk) names
    `path` instead, the file the user asked for.
    """
    target = Path(path)
    directory = target.parent
    directory.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        _name_target(exc, target)
        raise
    tmp = Path(tmp_name)
    try:
        handle = (
            os.fdopen(fd, "wb")
            if encoding is None
            else os.fdopen(fd, "w", encoding=encoding, newline="")
        )
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; a shortlist is an ordinary user file.
        os.chmod(tmp, _target_mode(target))
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.filename in (None, tmp_name):
            _name_target(exc, target)
        raise
    _fsync_directory(directory)


def _name_target(exc: OSError, target: Path) -> None:
    """Make `exc` name `target`: `/proc/x.csv: No such file or directory`, not the temp file."""
    exc.filename, exc.filename2 = str(target), None


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` (UTF-8, no BOM) to `path` atomically."""
    with atomic_open(path) as handle:
        handle.write(text)


def _target_mode(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o644


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform (Windows).
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- reading


class CsvRow(dict):
    """One data row: normalized header name → raw cell text, plus its spreadsheet row."""

    def __init__(self, cells: Mapping[str, str], row_number: int, line: int) -> None:
        super().__init__(cells)
        self.row_number = row_number  # as a spreadsheet shows it; header = 1
        self.line = line  # physical line of the file where the row starts (1-based)


@dataclass(frozen=True)
class CsvMeta:
    """How a CSV file was read: encoding, delimiter and what was skipped."""

    path: str
    size: int
    encoding: str
    delimiter: str
    had_bom: bool
    line_ending: str | None  # "\r\n", "\n", "\r" or None (single line)
    legacy_encoding: bool = False
    raw_header: tuple[str, ...] = ()
    duplicate_columns: tuple[str, ...] = ()
    blank_rows: tuple[int, ...] = field(default=())


def normalize_header(name: str) -> str:
    """`' Decision '`, `'Decision`, `DECISION` → `decision`; `First-Seen` → `first_seen`."""
    text = name.replace("\ufeff", "").strip()
    text = unescape(text).strip()
    text = unicodedata.normalize("NFKC", text).lower()
    return _HEADER_SEPARATORS.sub("_", text).strip("_")


def read_csv_rows(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_READ_BYTES
) -> tuple[list[str], list[CsvRow], CsvMeta]:
    """Read a spreadsheet-saved CSV robustly; return (header, rows, meta).

    `header` holds the normalized names in file order (empty ones as `""`). Raises
    CsvFormatError with one line naming the file for everything that is not a table.
    """
    source = Path(path)
    data = _read_bytes(source, max_bytes)
    _reject_non_csv(source, data)
    text, encoding, had_bom = _decode(source, data)
    if not text.strip():
        raise CsvFormatError(f"{source}: the file is empty (no header row)")
    if "\x00" in text:
        offset = data.find(b"\x00")
        raise CsvFormatError(
            f"{source}: NUL byte at byte offset {offset}; not a text CSV "
            "(UTF-16 without a BOM?) - save it again as 'CSV UTF-8'"
        )
    delimiter = sniff_delimiter(text)
    records = _parse(source, text, delimiter)
    # Blank lines above the header are tolerated; row numbers still count them.
    first = next((i for i, (_, cells) in enumerate(records) if any(c.strip() for c in cells)), None)
    if first is None:  # `,,,` lines: a spreadsheet's cleared rows
        raise CsvFormatError(f"{source}: the file has only empty cells (no header row)")
    raw_header = records[first][1]
    header = [normalize_header(cell) for cell in raw_header]
    positions: dict[str, int] = {}
    duplicates: list[str] = []
    for index, name in enumerate(header):
        if not name:
            continue
        if name in positions:
            if name not in duplicates:
                duplicates.append(name)
            continue
        positions[name] = index
    rows: list[CsvRow] = []
    blank: list[int] = []
    for row_number, (line, cells) in enumerate(records[first + 1 :], start=first + 2):
        if not any(cell.strip() for cell in cells):
            blank.append(row_number)
            continue
        values = {
            name: _NEWLINES.sub("\n", cells[index]) if index < len(cells) else ""
            for name, index in positions.items()
        }
        rows.append(CsvRow(values, row_number, line))
    meta = CsvMeta(
        path=str(source),
        size=len(data),
        encoding=encoding,
        delimiter=delimiter,
        had_bom=had_bom,
        line_ending=_line_ending(text),
        legacy_encoding=not encoding.startswith(("utf-8", "utf-16", "utf-32")),
        raw_header=tuple(raw_header),
        duplicate_columns=tuple(duplicates),
        blank_rows=tuple(blank),
    )
    return header, rows, meta


def _read_bytes(source: Path, max_bytes: int) -> bytes:
    try:
        size = source.stat().st_size
        if size > max_bytes:
            raise CsvFormatError(
                f"{source}: {_human(size)} is over the {_human(max_bytes)} limit for a CSV "
                "file; is this the right file?"
            )
        with source.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except CsvFormatError:
        raise
    except IsADirectoryError:
        raise CsvFormatError(f"{source}: is a directory, not a CSV file") from None
    except FileNotFoundError:
        raise CsvFormatError(f"{source}: no such file") from None
    except OSError as exc:
        raise CsvFormatError(f"{source}: cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # grew after stat, or a pipe
        raise CsvFormatError(f"{source}: over the {_human(max_bytes)} limit for a CSV file")
    return data


def _human(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} bytes"


def _reject_non_csv(source: Path, data: bytes) -> None:
    if not data or not data.removeprefix(_UTF8_BOM).strip():
        raise CsvFormatError(f"{source}: the file is empty (no header row)")
    if data.startswith(_ZIP_MAGIC):
        if _ODF_SPREADSHEET in data[:256]:  # ODF stores its mimetype first, uncompressed
            raise CsvFormatError(
                f"{source}: looks like an OpenDocument spreadsheet (.ods), not a CSV file; "
                f"open it and save as {_SAVE_AS_LIBREOFFICE}"
            )
        raise CsvFormatError(
            f"{source}: looks like an Excel workbook (.xlsx), not a CSV file; open it and "
            f"save as 'CSV UTF-8 (Comma delimited)' (Excel) or {_SAVE_AS_LIBREOFFICE}"
        )
    if data.startswith(_OLE2_MAGIC):
        raise CsvFormatError(
            f"{source}: looks like an old Excel workbook (.xls), not a CSV file; "
            "open it and save as 'CSV UTF-8 (Comma delimited)'"
        )


def _decode(source: Path, data: bytes) -> tuple[str, str, bool]:
    """Return (text, codec name, had_bom)."""
    if data.startswith(_UTF8_BOM):
        try:
            return data.decode("utf-8-sig"), "utf-8-sig", True
        except UnicodeDecodeError as exc:
            raise CsvFormatError(
                f"{source}: starts with a UTF-8 BOM but byte offset "
                f"{exc.start + len(_UTF8_BOM)} is not "
                "UTF-8; save it again as 'CSV UTF-8'"
            ) from None
    if data.startswith(_UTF16_BOMS):
        try:
            return data.decode("utf-16"), "utf-16", True
        except UnicodeDecodeError as exc:
            raise CsvFormatError(
                f"{source}: starts with a UTF-16 BOM but byte offset {exc.start} is not "
                "UTF-16; save it again as 'CSV UTF-8'"
            ) from None
    try:
        return data.decode("utf-8"), "utf-8", False
    except UnicodeDecodeError as exc:
        utf8_error = exc
    import chardet  # only for files that are not UTF-8 (slow import)

    guess = chardet.detect(data)
    candidates: list[str] = []
    if guess.get("encoding"):
        with contextlib.suppress(LookupError):  # a name Python does not know
            candidates.append(codecs.lookup(guess["encoding"]).name)
    candidates.append("cp1252")
    for name in dict.fromkeys(candidates):
        if name in ("utf-8", "ascii"):
            continue
        try:
            text = data.decode(name)
        except UnicodeDecodeError:
            continue
        logger.warning(
            "%s is not UTF-8 (first invalid byte at offset %d); decoded as %s",
            source,
            utf8_error.start,
            name,
        )
        return text, name, False
    raise CsvFormatError(
        f"{source}: cannot decode: not UTF-8 (first invalid byte at offset "
        f"{utf8_error.start}) nor {' / '.join(dict.fromkeys(candidates))}; "
        "save it again as 'CSV UTF-8'"
    )


def _line_ending(text: str) -> str | None:
    for ending in ("\r\n", "\n", "\r"):
        if ending in text:
            return ending
    return None


_LEADING_BLANK_LINES = re.compile(r"(?:[^\S\r\n]*(?:\r\n?|\n))*")


def sniff_delimiter(text: str, delimiters: tuple[str, ...] = DELIMITERS) -> str:
    """The most frequent of `delimiters` (`,` `;` TAB) outside quotes on the header line
    (ties → the first; none → `,`).

    The header line is the first one that is not blank: blank lines above it are skipped.
    """
    counts = dict.fromkeys(delimiters, 0)
    quoted = False
    for char in text[_LEADING_BLANK_LINES.match(text).end() :]:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "\r\n":
            break
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(delimiters, key=lambda d: (counts[d], -delimiters.index(d)))
    return best if counts[best] else ","


@contextlib.contextmanager
def wide_fields() -> Iterator[None]:
    """Let Python's csv module read cells of any size while in this block: it refuses one
    over 128 KiB ("field larger than field limit"), which DuckDB and a spreadsheet read.
    The limit is the process's: restored after."""
    old = csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _parse(source: Path, text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """(physical start line, cells) for every record, the header first."""
    # strict: a quote that never closes must not swallow the rest of the file silently.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        with wide_fields():
            for cells in reader:
                records.append((start, cells))
                start = reader.line_num + 1
    except csv.Error as exc:
        raise CsvFormatError(
            f"{source}: the row starting on line {start} is not valid CSV ({exc}); "
            "check the quotes in that row"
        ) from None
    return records
