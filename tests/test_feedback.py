"""ranking.feedback: the curator's edited shortlist -> decisions (I1-I10, G12).

One fixture file per variant in tests/fixtures/feedback/ (made by make_fixtures.py there).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from ranking import cli
from ranking.csvio import read_csv_rows
from ranking.errors import FeedbackError
from ranking.feedback import (
    CLEAR,
    DECISION_VOCABULARY,
    KEEP,
    MAYBE,
    REJECT,
    SECTIONS,
    FeedbackResult,
    normalize_decision,
    normalize_section,
    parse_feedback,
    previous_edits,
    validate_ids,
)

FIXTURES = Path(__file__).parent / "fixtures" / "feedback"
WEEK = "2025-W07"
KNOWN_IDS = ["c-0a1b2c3d4e", "c-1b2c3d4e5f", "c-2c3d4e5f6a", "c-3d4e5f6a7b", "c-4e5f6a7b8c"]
URLS = {
    "c-0a1b2c3d4e": "https://example.com/asyncio-guide",
    "c-1b2c3d4e5f": "https://github.com/acme/tool",
    "c-2c3d4e5f6a": "https://example.org/podcast/42",
    "c-3d4e5f6a7b": "https://discuss.python.org/t/999",
    "c-4e5f6a7b8c": "https://blog.example.net/typing",
}
# What the curator decided in the base fixture; row 5 (c-3d4e5f6a7b) is left blank.
EXPECTED = {
    "c-0a1b2c3d4e": (KEEP, 2),
    "c-1b2c3d4e5f": (REJECT, 3),
    "c-2c3d4e5f6a": (MAYBE, 4),
    "c-4e5f6a7b8c": (KEEP, 6),
}

SAME_DECISIONS = [
    "bom.csv",
    "no_bom.csv",
    "crlf.csv",
    "semicolon.csv",
    "cp1252.csv",
    "reordered.csv",
    "extra_columns.csv",
    "quoted_prefix.csv",
    "headers_recased.csv",
    "multiline_note.csv",
    "macroman.csv",
    "gbk.csv",
    "utf16_tab.csv",
    "utf16_no_bom.csv",
    "no_week_column.csv",
]
PARSEABLE = [
    *SAME_DECISIONS,
    "unknown_id.csv",
    "conflicting_duplicates.csv",
    "blank_decisions.csv",
    "vocabulary.csv",
    "sections.csv",
    "bad_week_cell.csv",
    "missing_id_cell.csv",
    "cp1252_lost_ticks.csv",
]


def parse(name: str) -> FeedbackResult:
    return parse_feedback(FIXTURES / name)


def decided(result: FeedbackResult) -> dict[str, tuple[str, int]]:
    return {d.id: (d.decision, d.row_number) for d in result.decisions}


# --------------------------------------------------------------------------- G12 variants


@pytest.mark.parametrize("name", SAME_DECISIONS)
def test_every_variant_gives_the_same_decisions(name):
    result = validate_ids(parse(name), URLS)
    assert decided(result) == EXPECTED
    assert result.errors == []
    assert result.blank_rows == [5]
    assert result.week == (None if name == "no_week_column.csv" else WEEK)
    assert result.counts == {
        KEEP: 2,
        REJECT: 1,
        MAYBE: 1,
        CLEAR: 0,
        "blank": 1,
        "errors": 0,
        "duplicates": 0,
        "ignored": 0,
        "rows": 5,
    }


@pytest.mark.parametrize("name", PARSEABLE)
def test_no_silent_drops_every_row_is_accounted_for_once(name):
    _, rows, _ = read_csv_rows(FIXTURES / name)
    result = validate_ids(parse(name), KNOWN_IDS)
    placed = [d.row_number for d in result.decisions]
    placed += [n for d in result.decisions for n in d.duplicate_rows]
    placed += [e.row_number for e in result.errors]
    placed += result.blank_rows + result.ignored_rows
    assert sorted(placed) == [row.row_number for row in rows]
    assert result.rows_total == len(rows)


@pytest.mark.parametrize(
    ("name", "encoding", "delimiter"),
    [
        ("bom.csv", "utf-8-sig", ","),
        ("cp1252.csv", "cp1252", ","),
        ("semicolon.csv", "utf-8-sig", ";"),
        ("gbk.csv", "gb18030", ","),
        ("macroman.csv", "mac-roman", ","),
        ("utf16_tab.csv", "utf-16", "\t"),
    ],
)
def test_detected_encoding_and_delimiter_are_reported(name, encoding, delimiter):
    result = parse(name)
    assert (result.encoding, result.delimiter) == (encoding, delimiter)


@pytest.mark.parametrize("name", ["gbk.csv", "utf16_tab.csv"])
def test_chinese_re_saves_decode_notes_and_sections(name):
    result = parse(name)
    first = result.decisions[0]
    assert first.note == "很好的文章，推荐"
    assert result.decisions[1].section_override == "project"  # "开源项目"


def test_section_and_note_are_read():
    result = parse("bom.csv")
    by_id = {d.id: d for d in result.decisions}
    assert by_id["c-0a1b2c3d4e"].section_override == "article"
    assert by_id["c-4e5f6a7b8c"].note == "short, sweet"
    assert by_id["c-4e5f6a7b8c"].url == "https://blog.example.net/typing"


def test_quoted_prefix_cells_are_unescaped_once():
    result = parse("quoted_prefix.csv")
    assert result.decisions[-1].note == "=1+2 is not a formula"
    assert result.decisions[0].section_override == "article"


def test_quoted_multiline_note():
    result = parse("multiline_note.csv")
    assert result.decisions[0].note == 'first line\nsecond line, with a comma\n"quoted" third'
    assert result.decisions[2].note == "a\nb"
    assert [d.row_number for d in result.decisions] == [2, 3, 4, 6]


# --------------------------------------------------------------------------- row errors


def test_unknown_id_is_reported_with_its_row_number():
    parsed = parse("unknown_id.csv")
    assert "c-ffffffffff" in {d.id for d in parsed.decisions}
    result = validate_ids(parsed, KNOWN_IDS)
    assert [(e.row_number, e.id) for e in result.errors] == [(5, "c-ffffffffff")]
    assert "unknown id c-ffffffffff" in result.errors[0].reason
    assert "2025-W07" in result.errors[0].reason
    assert "c-ffffffffff" not in {d.id for d in result.decisions}
    assert len(parsed.errors) == 0  # the input result is not modified


def test_validate_ids_with_urls_catches_rows_sorted_apart():
    urls = dict(URLS, **{"c-0a1b2c3d4e": "https://example.com/something-else"})
    result = validate_ids(parse("bom.csv"), urls)
    assert [e.row_number for e in result.errors] == [2]
    assert "sorted separately" in result.errors[0].reason
    trailing_slash = dict(URLS, **{"c-0a1b2c3d4e": "https://example.com/asyncio-guide/"})
    assert validate_ids(parse("bom.csv"), trailing_slash).errors == []


def test_conflicting_duplicates_are_all_reported_and_none_applied():
    result = validate_ids(parse("conflicting_duplicates.csv"), KNOWN_IDS)
    assert [(e.row_number, e.id) for e in result.errors] == [
        (2, "c-0a1b2c3d4e"),
        (7, "c-0a1b2c3d4e"),
    ]
    assert all("rows 2, 7" in e.reason and "conflicting" in e.reason for e in result.errors)
    assert "c-0a1b2c3d4e" not in decided(result)


def test_identical_duplicates_are_applied_once():
    result = parse("conflicting_duplicates.csv")
    [tool] = [d for d in result.decisions if d.id == "c-1b2c3d4e5f"]
    assert (tool.decision, tool.row_number, tool.duplicate_rows) == (REJECT, 3, (8,))
    assert result.counts["duplicates"] == 1


def test_a_blank_duplicate_does_not_conflict():
    result = parse("conflicting_duplicates.csv")
    assert decided(result)["c-2c3d4e5f6a"] == (MAYBE, 4)
    assert 9 in result.blank_rows


def test_blank_decisions_are_counted_not_errors():
    result = parse("blank_decisions.csv")
    assert result.errors == []
    assert result.blank_rows == [2, 3, 5, 7]  # "", "   ", TAB, a lone "'"; row 4 is empty
    assert decided(result) == {"c-3d4e5f6a7b": (KEEP, 6)}
    assert result.summary() == "1 keep, 0 reject, 0 maybe, 4 undecided, 0 row errors"


def _vocabulary_expectations() -> list[tuple[str, str]]:
    lines = (FIXTURES / "vocabulary_expected.txt").read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t")) for line in lines]


def test_every_vocabulary_variant():
    result = parse("vocabulary.csv")
    got = decided(result)
    errors = {e.id for e in result.errors}
    expectations = _vocabulary_expectations()
    assert len(expectations) == len(result.decisions) + len(result.errors) == 46
    for row_id, expected in expectations:
        if expected == "error":
            assert row_id in errors, row_id
        else:
            assert got[row_id][0] == expected, row_id
    assert all("unknown decision" in e.reason for e in result.errors)


BRIEF_VOCABULARY = {
    KEEP: "keep k accept accepted yes y ✓ ✔ x + 1 true pick picked ok",
    REJECT: "reject rejected no n ✗ ✘ - 0 false drop skip",
    MAYBE: "maybe m ? later hold",
    CLEAR: "clear undo unset",
}


@pytest.mark.parametrize(
    ("word", "decision"),
    [(w, d) for d, words in BRIEF_VOCABULARY.items() for w in words.split()],
)
def test_documented_vocabulary_is_exported(word, decision):
    assert DECISION_VOCABULARY[word] == decision
    assert normalize_decision(f"  '{word.upper()} ") == decision


def _words_by_decision(pairs: dict[str, str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for word, decision in pairs.items():
        out.setdefault(decision, set()).add(word)
    return out


def test_the_operations_table_lists_every_decision_word():
    # README, OPERATIONS and --help said only "keep / reject / maybe": nowhere a curator
    # could read that `x` keeps a row or that `-`, `0` and `n` reject it.
    ops = (Path(__file__).parents[1] / "docs" / "OPERATIONS.md").read_text("utf-8")
    section = ops.split("### The `decision` column", 1)[1].split("\n#", 1)[0]
    documented: dict[str, str] = {}
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) == 4 and cells[1].strip() in (KEEP, REJECT, MAYBE, CLEAR):
            words = re.findall(r"`([^`]+)`", cells[2].split(":", 1)[0])
            documented.update(dict.fromkeys(words, cells[1].strip()))
    assert _words_by_decision(documented) == _words_by_decision(DECISION_VOCABULARY)


def test_feedback_help_names_the_vocabulary():
    _, sub = cli.build_parser()
    (subs,) = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
    text = " ".join((subs.choices["feedback"].description or "").split())
    listed: dict[str, str] = {}
    for decision in (KEEP, REJECT, MAYBE):
        (words,) = re.findall(rf"\b{decision} \(also ([^)]*)\)", text)
        listed.update({w: decision for w in words.split(", ") if w != "…"})
    assert {w: DECISION_VOCABULARY[w] for w in listed} == listed
    assert {"x", "y", "✓"} <= _words_by_decision(listed)[KEEP]
    assert {"-", "0", "n"} <= _words_by_decision(listed)[REJECT]
    assert "clear" in text and "docs/OPERATIONS.md" in text


@pytest.mark.parametrize("cell", ["", "   ", "\t", "'", "' "])
def test_blank_decision_is_none(cell):
    assert normalize_decision(cell) is None


@pytest.mark.parametrize("cell", ["perhaps", "kep", "yes please", "2", "✓✓", "=TRUE()"])
def test_unknown_decisions_raise(cell):
    with pytest.raises(ValueError, match="unknown decision"):
        normalize_decision(cell)


def test_question_mark_is_ambiguous_in_a_legacy_encoding():
    assert normalize_decision("?") == MAYBE
    with pytest.raises(ValueError, match="ambiguous"):
        normalize_decision("?", legacy_encoding=True)


def test_ticks_lost_to_cp1252_are_row_errors_not_maybes():
    result = parse("cp1252_lost_ticks.csv")
    assert result.encoding == "cp1252"
    assert [e.row_number for e in result.errors] == [2, 3]
    assert all("ambiguous" in e.reason for e in result.errors)
    assert decided(result) == {"c-2c3d4e5f6a": (MAYBE, 4), "c-4e5f6a7b8c": (KEEP, 6)}


def test_notes_a_legacy_code_page_damaged_are_row_errors(tmp_path):
    """A note `好文章，值得推荐` saved in cp1252 is `???,????`: stored, it replaced the
    curator's note with question marks. Now a row error naming the encoding, like a `?`
    decision there; the other rows, and notes with a plain question mark, apply."""
    path = tmp_path / "w.csv"
    path.write_bytes(
        "id,decision,note\n"
        "c-1,keep,???,????\n"
        "c-2,keep,?\n"
        "c-3,keep,worth it? caf\u00e9 says yes\n"
        "c-4,reject,\n".encode("cp1252").replace(b"???,????", b'"???,????"')
    )
    result = parse_feedback(path)
    assert result.encoding == "cp1252"
    assert [(e.row_number, "looks damaged" in e.reason) for e in result.errors] == [
        (2, True),
        (3, True),
    ]
    assert "cp1252" in result.errors[0].reason
    assert decided(result) == {"c-3": (KEEP, 4), "c-4": (REJECT, 5)}
    path.write_text("id,decision,note\nc-1,keep,???,????\n".replace("???,????", '"??"'))
    assert not parse_feedback(path).errors  # UTF-8: the curator typed them


@pytest.mark.parametrize(
    ("cell", "section"),
    [
        ("article", "article"),
        ("Articles", "article"),
        ("project", "project"),
        ("Projects", "project"),
        ("repo", "project"),
        ("audio_video", "audio_video"),
        ("audio/video", "audio_video"),
        ("Audio & Video", "audio_video"),
        ("audio and video", "audio_video"),
        ("Audio-Video", "audio_video"),
        ("podcast", "audio_video"),
        ("hot_topic", "hot_topic"),
        ("Hot Topic", "hot_topic"),
        ("hot-topics", "hot_topic"),
        ("'project", "project"),
        ("音视频", "audio_video"),
        ("文章&教程", "article"),
        ("", None),
    ],
)
def test_section_variants(cell, section):
    assert normalize_section(cell) == section


def test_every_section_name_maps_to_itself():
    assert all(normalize_section(s) == s for s in SECTIONS)


def test_section_overrides_and_an_unknown_section():
    result = parse("sections.csv")
    assert [(d.row_number, d.section_override) for d in result.decisions] == [
        (2, "project"),
        (3, "audio_video"),
        (4, "audio_video"),
        (5, "hot_topic"),
    ]
    assert [e.row_number for e in result.errors] == [6]
    assert "unknown section 'misc'" in result.errors[0].reason


def test_malformed_week_cell_is_a_row_error():
    result = parse("bad_week_cell.csv")
    assert [(e.row_number, e.id) for e in result.errors] == [(3, "c-1b2c3d4e5f")]
    assert "invalid week 'next week'" in result.errors[0].reason


def test_rows_without_an_id():
    result = parse("missing_id_cell.csv")
    assert [(e.row_number, e.id) for e in result.errors] == [(3, None)]
    assert "no id" in result.errors[0].reason
    assert result.ignored_rows == [5]
    assert str(result.errors[0]).startswith("row 3: ")


# --------------------------------------------------------------------------- whole-file errors


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "the file is empty"),
        ("bom_only.csv", "the file is empty"),
        ("header_only.csv", "has a header but no rows"),
        ("xlsx_renamed.csv", "looks like an Excel workbook.*save as"),
        ("mixed_weeks.csv", r"mixes several weeks: 2025-W07 \(row 2\), 2025-W08 \(row 6\)"),
        ("not_a_shortlist.csv", "not a shortlist: no 'id' and no 'decision' column"),
        ("missing_decision.csv", "missing required column 'decision'"),
        ("duplicate_column.csv", "column 'decision' appears more than once"),
        ("unterminated_quote.csv", "line 2 is not valid CSV"),
    ],
)
def test_unusable_files_fail_fast_with_one_line(name, message):
    with pytest.raises(FeedbackError, match=message) as info:
        parse(name)
    text = str(info.value)
    assert text.startswith(str(FIXTURES / name)) and "\n" not in text


def test_missing_id_column_is_named(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("title,decision\nSomething,keep\n", encoding="utf-8")
    with pytest.raises(FeedbackError, match="missing required column 'id'"):
        parse_feedback(path)


def test_missing_file_is_a_feedback_error(tmp_path):
    with pytest.raises(FeedbackError, match="no such file"):
        parse_feedback(tmp_path / "nope.csv")


def test_week_is_taken_from_the_file():
    assert parse("other_week.csv").week == "2025-W06"
    assert parse("no_week_column.csv").week is None


def test_parsing_is_idempotent():
    assert parse("conflicting_duplicates.csv") == parse("conflicting_duplicates.csv")


def test_undecided_ids_are_those_with_only_blank_rows():
    result = parse("blank_decisions.csv")
    assert sorted(result.undecided.values()) == [2, 3, 5, 7]
    assert "c-3d4e5f6a7b" not in result.undecided  # decided in row 6


def test_previous_edits_carry_what_the_new_shortlist_has(tmp_path):
    path = tmp_path / f"{WEEK}.csv"
    path.write_text(
        "week,id,decision,note\n"
        f"{WEEK},c-1,keep,\n"
        f"{WEEK},c-2,,a note alone\n"
        f"{WEEK},c-3,reject,gone from the new list\n"
        f"{WEEK},c-4,,\n",
        encoding="utf-8",
    )
    edits = previous_edits(path, ["c-1", "c-2", "c-4"])
    assert set(edits.decisions) == {"c-1"}
    assert (edits.edited_rows, edits.not_carried) == (3, 2)


def test_previous_edits_name_what_a_new_file_would_not_hold(tmp_path):
    """A column of her own with cells, a section/title/link changed where no decision carries
    it: named. Rows in another order, an empty column of her own, a section moved on a
    decided row (carried) or a link spelled otherwise for the same page: nothing lost."""
    shown = {
        "c-1": {"section": "article", "title": "One", "url": "https://a.example/1"},
        "c-2": {"section": "article", "title": "Two", "url": "https://a.example/2"},
        "c-3": {"section": "project", "title": "=Three", "url": "https://github.com/o/r"},
        "c-4": {"section": "project", "title": "Four", "url": "https://b.example/4"},
    }
    columns = ["week", "id", "section", "title", "url", "decision", "note"]
    path = tmp_path / f"{WEEK}.csv"
    path.write_text(
        "id,section,title,url,decision,note,My Tags,empty\n"
        "c-4,project,Four,https://b.example/4,,,,\n"
        "c-3,Projects,'=Three,https://github.com/o/r/,,,,\n"
        "c-2,project,Two,https://a.example/2,keep,,later,\n"
        "c-1,hot_topic,One!,https://a.example/1,,,interview,\n",
        encoding="utf-8",
    )
    edits = previous_edits(path, list(shown), shown, columns)
    assert set(edits.decisions) == {"c-2"}
    assert edits.extra_columns == {"My Tags": 2}
    assert edits.changed_cells == [(5, "section"), (5, "title")]
    assert edits.lost() == [
        "its column 'My Tags' (2 cells) is not on the new shortlist",
        "2 cells it changed are rewritten (section in row 5, title in row 5)",
    ]
    path.write_text(
        "id,section,title,url,decision,note,My Tags,empty\n"
        "c-1,article,One,https://a.example/1,,,,\n"
        "c-2,project,Two,https://a.example/2,keep,,,\n"
        "c-3,Projects,'=Three,https://github.com/o/r/,,,,\n"
        "c-4,project,Four,https://b.example/4,,,,\n",
        encoding="utf-8",
    )
    edits = previous_edits(path, list(shown), shown, columns)
    assert edits.lost() == [] and set(edits.decisions) == {"c-2"}


def test_previous_edits_name_text_typed_into_a_column_rank_writes(tmp_path):
    """Text in `flags` (written empty) or a changed reason: named, in the file's column
    order. Numbers and dates are not compared (a spreadsheet saves them in its locale's
    form: `0,5`, `03.02.2025`), nor a blank cell where `rank` wrote none."""
    written = {"score": 0.5, "reason": "3 sources", "title": "A"}
    shown = {
        "c-1": {**written, "flags": None},
        "c-2": {**written, "flags": None},
        "c-3": {**written, "flags": "no date"},
    }
    columns = ["id", "rank", "score", "reason", "title", "first_seen", "decision", "note", "flags"]
    header = ",".join(columns) + "\n"
    path = tmp_path / f"{WEEK}.csv"
    path.write_text(
        header + "c-1,1,0.5,3 sources,A,2/3/2025,keep,,\n"
        'c-2,2,"0,50",3 sources,A,03.02.2025,,,\n'
        "c-3,3,.5,3 sources,A,2025-02-03,,,no date\n",
        encoding="utf-8",
    )
    assert previous_edits(path, list(shown), shown, columns).lost() == []
    path.write_text(
        header + "c-1,1,0.5,3 sources,A,2025-02-03,keep,,paywalled?\n"
        "c-2,9,0.5,3 sources,A,2025-02-04,,,\n"
        "c-3,3,0.5,mine,A,2025-02-03,,,no date\n",
        encoding="utf-8",
    )
    edits = previous_edits(path, list(shown), shown, columns)
    assert edits.changed_cells == [(2, "flags"), (4, "reason")]
    assert edits.lost() == ["2 cells it changed are rewritten (flags in row 2, reason in row 4)"]


def test_previous_edits_of_another_run_than_the_recorded_one_compare_titles_only(tmp_path):
    """A store restored from a backup records an earlier run: the file's scores are not
    the recorded ones, and its reasons may differ untouched. Only section, title and link
    (the same from run to run) are compared then."""
    shown = {f"c-{n}": {"score": 0.5, "reason": "3 sources", "title": "A"} for n in (1, 2, 3)}
    columns = ["id", "score", "reason", "title", "decision", "note"]
    path = tmp_path / f"{WEEK}.csv"
    path.write_text(
        ",".join(columns) + "\n"
        "c-1,0.61,first seen today,A,,\n"
        "c-2,0.4,4 sources,B,,\n"
        "c-3,0.5,3 sources,A,,\n",
        encoding="utf-8",
    )
    assert previous_edits(path, list(shown), shown, columns).changed_cells == [(3, "title")]


def test_previous_edits_carry_no_decision_from_a_row_whose_link_is_not_its_ids(tmp_path):
    """A file whose columns shifted (a spreadsheet split a cell) put a `0` under
    `decision` of a row nobody touched, and a re-run carried it over as a reject: now the
    row's link must be its id's, the check `rank feedback` makes."""
    shown = {
        "c-1": {"title": "One", "url": "https://a.example/1"},
        "c-2": {"title": "Two", "url": "https://a.example/2"},
    }
    path = tmp_path / f"{WEEK}.csv"
    path.write_text(
        "id,title,url,decision\nc-1,One,https://a.example/1,keep\nc-2,Two,3 sources,0\n",
        encoding="utf-8",
    )
    edits = previous_edits(path, list(shown), shown, ["id", "title", "url", "decision"])
    assert set(edits.decisions) == {"c-1"}
    assert (edits.edited_rows, edits.not_carried) == (2, 1)


def test_numbers_a_spreadsheet_reformatted_in_a_title_are_no_edit(tmp_path):
    """Calc saves a title `1.50` as `1.5` and `0012` as `12`: that was named as a
    changed cell (and a copy of the file kept); a real change still is."""
    shown = {
        "c-1": {"score": 0.5, "title": "1.50"},
        "c-2": {"score": 0.5, "title": "0012"},
        "c-3": {"score": 0.5, "title": "1e5"},
        "c-4": {"score": 0.5, "title": "2.0"},
    }
    columns = ["id", "score", "title", "decision"]
    path = tmp_path / f"{WEEK}.csv"
    path.write_text(
        "id,score,title,decision\nc-1,0.5,1.5,\nc-2,0.5,12,\nc-3,0.5,100000,\nc-4,0.5,2.1,\n",
        encoding="utf-8",
    )
    assert previous_edits(path, list(shown), shown, columns).changed_cells == [(5, "title")]


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"", (0, 0)), (b"\xef\xbb\xbf\n", (0, 0)), (b"PK\x03\x04 a workbook", (1, 1))],
    ids=["empty", "bom-only", "workbook"],
)
def test_previous_edits_of_a_file_that_is_no_shortlist(tmp_path, content, expected):
    path = tmp_path / f"{WEEK}.csv"
    path.write_bytes(content)
    edits = previous_edits(path, ["c-1"])
    assert (edits.edited_rows, edits.not_carried) == expected and not edits.decisions
