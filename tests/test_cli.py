"""The `rank` command end to end on a real DuckDB file: help, history, candidates, the
curator's loop (shortlist -> feedback -> report -> draft), weeks and store versions."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import inspect
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ranking import cli, csvio, store
from ranking.errors import SightingsFileError, StoreError, UsageError
from ranking.weeks import IsoWeek

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = REPO / "data" / "sample" / "archive"
SIGHTINGS = REPO / "data" / "sample" / "history-sightings.csv"
WEEK = "2025-W07"


def rank(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _read(path: Path) -> list[dict[str, str]]:
    """The rows of a shortlist CSV as `rank` writes it (UTF-8 with a BOM)."""
    return list(csv.DictReader(io.StringIO(path.read_text("utf-8-sig"))))


@pytest.mark.parametrize("command", [[], *[[c] for c in cli.SUBCOMMANDS]])
def test_every_command_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([*command, "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    assert "example" in out
    assert "--db" in out or command == ["backtest"]


def test_every_command_and_option_is_in_the_docs():
    # `rank --help` listed history, candidates, report, ingest, --quota, ... that no doc did.
    import argparse

    docs = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    text = "\n".join(path.read_text("utf-8") for path in docs)
    main, sub = cli.build_parser()
    (subs,) = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
    missing = [f"rank {c}" for c in cli.SUBCOMMANDS if f"rank {c}" not in text]
    for parser in (main, *subs.choices.values()):
        for action in parser._actions:
            names = [o for o in action.option_strings if o != "-h"]
            if names and "--help" not in names and not any(o in text for o in names):
                missing.append(f"{parser.prog} {names[-1]}")
    assert not missing


@pytest.mark.parametrize(
    "week", ["2025-W54", "2026-W00", "next", "", "2025-7", "0000-W01", "0001-W01", "9999-W52"]
)
def test_a_malformed_week_is_a_one_line_usage_error(week, tmp_path, capsys):
    code, _out, err = rank(["--week", week, "--db", str(tmp_path / "r.duckdb")], capsys)
    assert code == 2
    assert err.strip().startswith("rank: error: invalid week")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r.duckdb").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["feeback", "x.csv"], "unknown command 'feeback' (did you mean 'feedback'?)"),
        (["-v", "--db", "w.db", "raport"], "unknown command 'raport' (did you mean 'report'?)"),
        (["--db", "w.db", "report"], "put the command first: rank report --db w.db"),
        (["--week", WEEK, "draft"], f"put the command first: rank draft --week {WEEK}"),
        (["2025-W07"], "unknown command '2025-W07'; the commands are import-issues, "),
        (["--week", WEEK, "stray"], "unrecognized arguments: stray"),
    ],
)
def test_a_misspelt_or_misplaced_command_is_named(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([*args, "--db", str(tmp_path / "r.duckdb")] if "--db" not in args else args)
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.splitlines()[-1].startswith(f"rank: error: {message}")
    assert not (tmp_path / "r.duckdb").exists()


@pytest.mark.parametrize("quota", ["project=³", "project=٣", "project=-1", "project=", "books=3"])
def test_a_bad_quota_is_a_one_line_usage_error(quota, loop_db, capsys):
    code, _out, err = rank(["--week", WEEK, "--quota", quota, "--db", str(loop_db)], capsys)
    assert code == 2
    assert err.strip() == (
        f"rank: error: invalid --quota {quota!r}: expected SECTION=N with SECTION one of "
        "article, project, audio_video, hot_topic, e.g. --quota project=48"
    )


def test_iso_weeks_know_53_week_years():
    assert IsoWeek.parse("2020-W53").end.isoformat() == "2021-01-03"
    assert str(IsoWeek.parse("2025w07")) == "2025-W07"
    with pytest.raises(UsageError, match="W01-W52"):
        IsoWeek.parse("2025-W53")


@pytest.fixture(scope="module")
def loop_db(tmp_path_factory) -> Path:
    """Sample archive + sample sightings, then the shortlist of WEEK."""
    db = tmp_path_factory.mktemp("cli") / "radar.duckdb"
    assert cli.main(["import-issues", str(ARCHIVE), "--db", str(db)]) == 0
    assert cli.main(["import-sightings", str(SIGHTINGS), "--db", str(db)]) == 0
    assert cli.main(["--week", WEEK, "--db", str(db)]) == 0
    return db


def test_history_csv_has_exactly_the_contract_columns(loop_db, capsys):
    code, out, _err = rank(["history", "--format", "csv", "--db", str(loop_db)], capsys)
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["issue_no", "pub_date", "section", "items"]
    with store.open_store(loop_db, read_only=True) as con:
        expected = store.history_counts(con)
    assert [(int(r[0]), r[1], r[2], int(r[3])) for r in rows[1:]] == [
        (n, d.isoformat(), s, c) for n, d, s, c in expected
    ]
    assert all(int(r[3]) > 0 for r in rows[1:])


def test_history_table_has_totals_and_date_range(loop_db, capsys):
    code, out, _err = rank(["history", "--db", str(loop_db)], capsys)
    assert code == 0
    assert "total" in out and "2025-01-04" in out and "top domains" in out


def test_candidates_csv(loop_db, capsys):
    code, out, _err = rank(
        ["candidates", "--week", WEEK, "--format", "csv", "--db", str(loop_db)], capsys
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows
    for column in ("url", "title", "section", "sources", "first_seen", "last_seen"):
        assert column in rows[0]
    assert any("unsloth" in r["url"] for r in rows)


def test_shortlist_feedback_report_draft(loop_db, tmp_path, capsys):
    shortlist = loop_db.parent / "shortlists" / f"{WEEK}.csv"
    assert shortlist.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = _read(shortlist)
    assert rows and {r["week"] for r in rows} == {WEEK}
    # The curator keeps the first row of each section and rejects the second.
    edited = tmp_path / f"{WEEK}-edited.csv"
    firsts: dict[str, str] = {}
    for row in rows:
        if row["rank"] == "1":
            row["decision"] = "Keep"
            firsts[row["section"]] = row["title"]
        elif row["rank"] == "2":
            row["decision"] = "reject"
    with edited.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    code, out, err = rank(["feedback", str(edited), "--db", str(loop_db)], capsys)
    assert code == 0, err
    kept = len(firsts)
    assert f"{WEEK}: " in out and f"{kept} keep" in out
    # Applying the same file twice changes nothing.
    with store.open_store(loop_db, read_only=True) as con:
        before = con.execute("SELECT * FROM decisions ORDER BY candidate_id").fetchall()
    assert rank(["feedback", str(edited), "--db", str(loop_db)], capsys)[0] == 0
    with store.open_store(loop_db, read_only=True) as con:
        after = con.execute("SELECT * FROM decisions ORDER BY candidate_id").fetchall()
    assert before == after and len(after) >= kept

    code, out, _err = rank(["report", "--db", str(loop_db)], capsys)
    assert code == 0 and WEEK in out

    code, out, _err = rank(["draft", "--week", WEEK, "--db", str(loop_db)], capsys)
    assert code == 0
    for title in firsts.values():
        assert title in out
    assert "1、[" in out


def test_feedback_for_a_week_without_a_shortlist_is_refused(loop_db, tmp_path, capsys):
    path = tmp_path / "2024-W01.csv"
    path.write_text("week,id,decision\n2024-W01,c-0000000000,keep\n", "utf-8")
    code, _out, err = rank(["feedback", str(path), "--db", str(loop_db)], capsys)
    assert code == 1
    assert "no shortlist of 2024-W01" in err and len(err.strip().splitlines()) == 1


def test_shortlist_is_byte_identical_on_a_rerun(loop_db, tmp_path):
    first, again = tmp_path / "first.csv", tmp_path / "again.csv"
    for out in (first, again):
        assert cli.main(["--week", WEEK, "--db", str(loop_db), "--out", str(out)]) == 0
    assert again.read_bytes() == first.read_bytes()


def _shortlist_db(tmp_path: Path, extra_sightings: str | None = None) -> tuple[Path, Path]:
    """A store of the sample archive and sightings (and `extra_sightings`, CSV text), and
    the shortlist of WEEK written beside it: (database, shortlist file)."""
    db = tmp_path / "radar.duckdb"
    assert cli.main(["import-issues", str(ARCHIVE), "--db", str(db)]) == 0
    assert cli.main(["import-sightings", str(SIGHTINGS), "--db", str(db)]) == 0
    if extra_sightings is not None:
        extra = tmp_path / "extra-sightings.csv"
        extra.write_text(extra_sightings, "utf-8")
        assert cli.main(["import-sightings", str(extra), "--db", str(db)]) == 0
    assert cli.main(["--week", WEEK, "--db", str(db)]) == 0
    return db, tmp_path / "shortlists" / f"{WEEK}.csv"


def _rerun(db: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`rank --week WEEK` again on `db`: its exit code and what it said on stderr (not what
    earlier commands of the test printed)."""
    capsys.readouterr()
    code, _out, err = rank(["--week", WEEK, "--db", str(db)], capsys)
    return code, err


def _save(path: Path, rows: list[dict[str, str]]) -> None:
    """As a spreadsheet saves it: no BOM, CRLF, the rows the curator kept."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)


def test_a_rerun_keeps_the_curators_edits_and_a_copy_of_what_it_cannot_hold(tmp_path, capsys):
    db, path = _shortlist_db(tmp_path)
    rows = _read(path)
    assert len(rows) >= 4
    # Fed back: row 0 kept. Only in the file: row 1 rejected with a note, row 2 a note alone.
    rows[0]["decision"] = "keep"
    _save(path, rows)
    assert rank(["feedback", str(path), "--db", str(db)], capsys)[0] == 0
    rows[1]["decision"], rows[1]["note"] = "no", "seen it elsewhere"
    rows[2]["note"] = "ask the author"
    _save(path, rows)
    saved = path.read_bytes()

    code, err = _rerun(db, capsys)
    assert code == 0, err
    backup = path.with_name(f"{WEEK}.previous-1.csv")
    assert err.strip() == (
        f"rank: {path}: its 2 decisions carried over to the new shortlist; 1 note without a "
        f"decision (row 4) not carried; the file as it was is kept as {backup}"
    )
    assert backup.read_bytes() == saved
    again = {r["id"]: r for r in _read(path)}
    assert (again[rows[0]["id"]]["decision"], again[rows[0]["id"]]["note"]) == ("keep", "")
    assert (again[rows[1]["id"]]["decision"], again[rows[1]["id"]]["note"]) == (
        "reject",
        "seen it elsewhere",
    )
    assert again[rows[2]["id"]]["decision"] == again[rows[3]["id"]]["decision"] == ""
    # Everything the new file holds is carried again; nothing more is copied.
    code, err = _rerun(db, capsys)
    assert code == 0
    assert err.strip() == f"rank: {path}: its 2 decisions carried over to the new shortlist"
    assert not path.with_name(f"{WEEK}.previous-2.csv").exists()


def test_a_rerun_keeps_a_copy_of_a_column_and_a_section_the_new_file_cannot_hold(tmp_path, capsys):
    """The curator added a column, sorted the rows and moved an undecided row to another
    section: the new file carries the decision, and the copy keeps the rest (the command
    said only that the decision carried over, and both were gone). Sorting alone is no
    edit: nothing is copied."""
    db, path = _shortlist_db(tmp_path)
    rows = _read(path)
    rows[0]["decision"] = "keep"
    moved = rows[1]
    moved["section"] = "hot_topic" if moved["section"] != "hot_topic" else "article"
    for row in rows:
        row["my tags"] = ""
    rows[2]["my tags"] = "interview"
    rows.reverse()
    _save(path, rows)
    saved = path.read_bytes()

    code, err = _rerun(db, capsys)
    assert code == 0, err
    backup = path.with_name(f"{WEEK}.previous-1.csv")
    assert err.strip() == (
        f"rank: {path}: its 1 decision carried over to the new shortlist; its column "
        f"'my tags' (1 cell) is not on the new shortlist; 1 cell it changed is rewritten "
        f"(section in row {rows.index(moved) + 2}); the file as it was is kept as {backup}"
    )
    assert backup.read_bytes() == saved
    again = _read(path)
    assert "my tags" not in again[0]
    assert [r["decision"] for r in again if r["id"] == rows[-1]["id"]] == ["keep"]

    _save(path, again[::-1])
    code, err = _rerun(db, capsys)
    assert code == 0
    assert err.strip() == f"rank: {path}: its 1 decision carried over to the new shortlist"
    assert not path.with_name(f"{WEEK}.previous-2.csv").exists()


def test_a_rerun_keeps_a_copy_of_what_the_curator_typed_into_a_column_rank_writes(tmp_path, capsys):
    """Text typed into `flags` or `reason` (columns `rank` writes) was overwritten and no
    copy kept. Numbers and dates are not compared: a spreadsheet saves them in its own form
    (0.5 for 0.5000, 2/3/2025 for 2025-02-03)."""
    db, path = _shortlist_db(tmp_path)
    rows = _read(path)
    rows[0]["decision"] = "keep"
    rows[1]["flags"] = "paywalled?"
    rows[2]["reason"] = "the author's second try"
    y, m, d = (int(n) for n in rows[3]["first_seen"].split("-"))
    rows[3]["first_seen"] = f"{m}/{d}/{y}"
    rows[3]["score"] = str(float(rows[3]["score"]))
    _save(path, rows)
    saved = path.read_bytes()

    code, err = _rerun(db, capsys)
    assert code == 0, err
    backup = path.with_name(f"{WEEK}.previous-1.csv")
    assert err.strip() == (
        f"rank: {path}: its 1 decision carried over to the new shortlist; 2 cells it changed "
        f"are rewritten (flags in row 3, reason in row 4); the file as it was is kept as {backup}"
    )
    assert backup.read_bytes() == saved
    again = _read(path)
    assert again[1]["flags"] != "paywalled?" and again[0]["decision"] == "keep"

    for row in again:  # a spreadsheet's re-save with a decision filled in: nothing copied
        y, m, d = (int(n) for n in row["first_seen"].split("-"))
        row["first_seen"], row["score"] = f"{d:02d}.{m:02d}.{y}", str(float(row["score"]))
    _save(path, again)
    code, err = _rerun(db, capsys)
    assert code == 0
    assert err.strip() == f"rank: {path}: its 1 decision carried over to the new shortlist"
    assert not path.with_name(f"{WEEK}.previous-2.csv").exists()


def test_a_rerun_compares_a_file_with_what_rank_wrote_into_that_file(tmp_path, capsys):
    """A run with --out elsewhere, after feedback changed the model, wrote other scores:
    the week's file, where the curator only decided, still holds no edit."""
    db, path = _shortlist_db(tmp_path)
    rows = _read(path)
    rows[0]["decision"] = "keep"
    _save(path, rows)
    earlier = tmp_path / "shortlists" / "2025-W05.csv"
    assert cli.main(["--week", "2025-W05", "--db", str(db)]) == 0
    decided = _read(earlier)
    decided[0]["decision"], decided[1]["decision"] = "keep", "reject"
    _save(earlier, decided)
    assert cli.main(["feedback", str(earlier), "--db", str(db)]) == 0
    other = tmp_path / "other.csv"
    assert cli.main(["--week", WEEK, "--db", str(db), "--out", str(other)]) == 0
    scores = {r["id"]: r["score"] for r in _read(other)}
    assert any(scores.get(r["id"]) not in (None, r["score"]) for r in rows)  # other scores

    code, err = _rerun(db, capsys)
    assert code == 0
    assert err.strip() == f"rank: {path}: its 1 decision carried over to the new shortlist"
    assert not path.with_name(f"{WEEK}.previous-1.csv").exists()


def test_a_rerun_on_a_store_restored_from_a_backup_keeps_no_copy(tmp_path, capsys):
    """The restored store records an earlier run than the file's, whose scores and reasons
    differ from it untouched: every such cell was named as the curator's and a copy kept."""
    db, path = _shortlist_db(tmp_path)
    shutil.copy(db, tmp_path / "backup.duckdb")
    before = {r["id"]: r["score"] for r in _read(path)}
    earlier = tmp_path / "shortlists" / "2025-W05.csv"
    assert cli.main(["--week", "2025-W05", "--db", str(db)]) == 0
    decided = _read(earlier)
    decided[0]["decision"], decided[1]["decision"] = "keep", "reject"
    _save(earlier, decided)
    assert cli.main(["feedback", str(earlier), "--db", str(db)]) == 0
    assert cli.main(["--week", WEEK, "--db", str(db)]) == 0  # the newer model's file
    assert sum(before.get(r["id"], r["score"]) != r["score"] for r in _read(path)) > 0
    shutil.copy(tmp_path / "backup.duckdb", db)

    code, err = _rerun(db, capsys)
    assert (code, err) == (0, "")
    assert not path.with_name(f"{WEEK}.previous-1.csv").exists()


def test_a_file_written_before_its_cells_were_recorded_is_compared_as_before(tmp_path, capsys):
    """A store of schema 2 (no shortlist_cells) is upgraded; the file it wrote is compared
    with the week's sections, titles and links, all it recorded."""
    db, path = _shortlist_db(tmp_path)
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE shortlist_cells")
    con.execute("DELETE FROM schema_migrations WHERE version > 2")
    con.close()
    rows = _read(path)
    rows[0]["title"] += " (mine)"
    rows[1]["flags"] = "paywalled?"  # not recorded for this file: not named
    _save(path, rows)

    code, err = _rerun(db, capsys)
    assert code == 0, err
    backup = path.with_name(f"{WEEK}.previous-1.csv")
    assert err.strip() == (
        f"rank: {path}: 1 cell it changed is rewritten (title in row 2); the file as it was "
        f"is kept as {backup}"
    )


def test_a_rerun_keeps_the_later_of_the_files_and_the_stored_decision(tmp_path, capsys):
    """Kept in the week's file and fed back, then rejected in a file written with --out and
    fed back: ranked again, the old file's keep won, and feeding the new file back stored
    it again. The later one stands, either way, and one line says so."""
    db, path = _shortlist_db(tmp_path)
    rows = _read(path)
    rows[0]["decision"] = "keep"
    _save(path, rows)
    assert cli.main(["feedback", str(path), "--db", str(db)]) == 0
    late = tmp_path / "late" / f"{WEEK}-late.csv"
    assert cli.main(["--week", WEEK, "--db", str(db), "--out", str(late)]) == 0
    late_rows = _read(late)
    for row in late_rows:
        if row["id"] == rows[0]["id"]:
            row["decision"] = "reject"
    _save(late, late_rows)
    assert cli.main(["feedback", str(late), "--db", str(db)]) == 0

    code, err = _rerun(db, capsys)
    assert code == 0, err
    assert err.strip() == (
        f"rank: {path}: 1 decision differs from those stored by `rank feedback`; the later "
        "stands: the stored in 1 (row 2: reject stored, keep in the file)"
    )
    again = _read(path)
    assert [r["decision"] for r in again if r["id"] == rows[0]["id"]] == ["reject"]
    assert rank(["feedback", str(path), "--db", str(db)], capsys)[0] == 0
    with store.open_store(db, read_only=True) as con:
        assert store.week_decisions(con, WEEK)[rows[0]["id"]][0] == "reject"
        decided = store.decision_times(con, WEEK)[rows[0]["id"]]

    # Then she changes her mind in the file, after that decision, and does not feed it back.
    for row in again:
        if row["id"] == rows[0]["id"]:
            row["decision"] = "maybe"
    _save(path, again)
    later = decided.replace(tzinfo=dt.UTC).timestamp() + 60
    os.utime(path, (later, later))
    code, err = _rerun(db, capsys)
    assert code == 0, err
    assert err.strip().splitlines() == [
        f"rank: {path}: 1 decision differs from those stored by `rank feedback`; the later "
        "stands: the file's in 1 (row 2: reject stored, maybe in the file)",
        f"rank: {path}: its 1 decision carried over to the new shortlist",
    ]
    assert [r["decision"] for r in _read(path) if r["id"] == rows[0]["id"]] == ["maybe"]


def test_clear_removes_a_stored_decision_and_a_blank_cell_says_it_stands(tmp_path, capsys):
    db, path = _shortlist_db(tmp_path)
    rows = _read(path)
    rows[0]["decision"], rows[1]["decision"] = "keep", "maybe"
    _save(path, rows)
    assert rank(["feedback", str(path), "--db", str(db)], capsys)[0] == 0
    rows[0]["decision"], rows[1]["decision"] = "clear", ""
    _save(path, rows)

    code, out, err = rank(["feedback", str(path), "--db", str(db)], capsys)
    assert code == 0, err
    assert out.startswith(f"{WEEK}: 0 decisions stored (0 keep, 0 reject, 0 maybe, ")
    assert "1 cleared" in out
    assert err.strip() == (
        f"rank: {path}: the decision stored before stands where a row has none (row 3); "
        "write clear in the decision cell to remove it"
    )
    with store.open_store(db, read_only=True) as con:
        assert store.week_decisions(con, WEEK) == {
            rows[1]["id"]: ("maybe", None, rows[1]["section"])
        }


def test_a_store_rebuilt_as_the_recovery_steps_say_gets_the_decisions_back(tmp_path, capsys):
    # docs/OPERATIONS.md, Recovery, no usable backup: import again, rank the week, feed back.
    db, path = _shortlist_db(tmp_path)
    rows = _read(path)
    rows[0]["decision"], rows[1]["decision"], rows[1]["note"] = "keep", "reject", "old news"
    _save(path, rows)
    assert rank(["feedback", str(path), "--db", str(db)], capsys)[0] == 0
    with store.open_store(db, read_only=True) as con:
        decided = store.week_decisions(con, WEEK)
    saved = path.read_bytes()

    rebuilt = str(tmp_path / "rebuilt" / "radar.duckdb")
    assert cli.main(["import-issues", str(ARCHIVE), "--db", rebuilt]) == 0
    assert cli.main(["import-sightings", str(SIGHTINGS), "--db", rebuilt]) == 0
    code, _out, err = rank(["feedback", str(path), "--db", rebuilt], capsys)
    assert code == 1 and f"no shortlist of {WEEK} in this database" in err  # ranking first
    scratch = tmp_path / "scratch.csv"
    assert rank(["--week", WEEK, "--db", rebuilt, "--out", str(scratch)], capsys)[0] == 0
    assert rank(["feedback", str(path), "--db", rebuilt], capsys)[0] == 0
    with store.open_store(Path(rebuilt), read_only=True) as con:
        assert store.week_decisions(con, WEEK) == decided
    assert path.read_bytes() == saved  # --out elsewhere: the curator's file as it was


def test_feedback_into_a_mistyped_database_creates_nothing(tmp_path, capsys):
    path = tmp_path / f"{WEEK}.csv"
    path.write_text(f"week,id,decision\n{WEEK},c-0000000000,keep\n", "utf-8")
    db = tmp_path / "typo" / "radar.duckdb"
    code, _out, err = rank(["feedback", str(path), "--db", str(db)], capsys)
    assert code == 2
    assert err.startswith(f"rank: error: no database at {db}")
    assert not db.parent.exists()


def test_a_missing_default_database_names_the_folder_it_was_looked_for_in(
    tmp_path, capsys, monkeypatch
):
    """`data/radar.duckdb` is taken from the current folder: run from elsewhere than the
    checkout, the message said only `no database at data/radar.duckdb`."""
    monkeypatch.delenv("RADAR_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    code, _out, err = rank(["report"], capsys)
    assert code == 2
    assert err.startswith(
        f"rank: error: no database at {Path('data', 'radar.duckdb')} (in {tmp_path}): "
    )


def test_verbose_goes_before_or_after_a_subcommand(loop_db, capsys):
    for args in (["-v", "history"], ["history", "-v"], ["--verbose", "history"]):
        code, out, err = rank([*args, "--db", str(loop_db)], capsys)
        assert code == 0, (args, err)
        assert "total" in out


def test_candidates_csv_escapes_once_and_leaves_missing_numbers_empty(tmp_path, capsys):
    db = tmp_path / "radar.duckdb"
    path = tmp_path / "sightings.csv"
    path.write_text(
        SIGHTINGS_HEADER
        + "hackernews,hn:frontpage,2025-02-10,=HYPERLINK(1),https://example.org/a,\n"
        + "hackernews,hn:frontpage,2025-02-10,'quoted,https://example.org/b,7\n",
        encoding="utf-8",
    )
    assert rank(["import-sightings", str(path), "--db", str(db)], capsys)[0] == 0
    code, out, _err = rank(["candidates", "--format", "csv", "--db", str(db)], capsys)
    assert code == 0
    listed = list(csv.DictReader(io.StringIO(out)))
    # One escape each (a leading ' is escaped too, so that it reads back as written).
    assert {r["title"] for r in listed} == {"'=HYPERLINK(1)", "''quoted"}
    assert "<NA>" not in out


def test_a_newer_schema_is_refused_with_one_line(tmp_path, capsys):
    db = tmp_path / "future.duckdb"
    store.connect(db).close()
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO schema_migrations VALUES (999, 'from the future', now())")
    con.close()
    with pytest.raises(StoreError, match="schema version 999"):
        store.connect(db)
    code, _out, err = rank(["history", "--db", str(db)], capsys)
    assert code == 3
    assert err.startswith("rank: error:") and len(err.strip().splitlines()) == 1


def test_a_newer_duckdb_is_refused(tmp_path):
    db = tmp_path / "newer.duckdb"
    store.connect(db).close()
    con = duckdb.connect(str(db))
    con.execute("UPDATE meta SET value = '99.0.0' WHERE key = 'duckdb_version'")
    con.close()
    with pytest.raises(StoreError, match="newer than"):
        store.connect(db)


def test_migrations_are_recorded_and_idempotent():
    con = duckdb.connect(":memory:")
    assert store.migrate(con) == store.SCHEMA_VERSION
    assert store.migrate(con) == store.SCHEMA_VERSION
    rows = con.execute("SELECT version FROM schema_migrations").fetchall()
    assert rows == [(v,) for v, _n, _s in store.MIGRATIONS]


def test_env_radar_db_is_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("RADAR_DB", str(tmp_path / "env.duckdb"))
    assert store.db_path() == tmp_path / "env.duckdb"
    assert store.db_path("x.duckdb") == Path("x.duckdb")


def test_issue_range():
    from ranking.backtest import parse_issue_range

    assert parse_issue_range("61-85") == (61, 85)
    assert parse_issue_range("7") == (7, 7)
    for bad in ("85-61", "a-b", "0-3", "1-2-3"):
        with pytest.raises(UsageError):
            parse_issue_range(bad)


BACKTEST_SAMPLE = ["backtest", "--history", str(ARCHIVE), "--sightings", str(SIGHTINGS)]


def test_backtest_without_a_feed_says_so_and_an_absent_feed_is_a_warning(tmp_path, capsys):
    base = [*BACKTEST_SAMPLE, "--issues", "6-6", "--out", str(tmp_path / "bt")]
    code, out, err = rank([*base, "--without-feed", "hackernews"], capsys)
    assert code == 0, err
    assert "note: sightings: 157 sightings loaded, 22 rows of hackernews left out\n" in out
    assert (tmp_path / "bt" / "issue-006.csv").exists()
    for days in ("0", "1000000"):
        code, _out, err = rank([*base, "--window-days", days], capsys)
        assert (code, err.strip()) == (
            2,
            f"rank: error: invalid --window-days {days}: must be 1-3660, e.g. --window-days 21",
        )
    # A later sightings file may not carry the newsletters the documented command leaves
    # out: the run goes on, and says so.
    code, out, err = rank(
        [*base, "--without-feed", "reddit", "--out", str(tmp_path / "bt2")], capsys
    )
    assert (code, err) == (0, "")
    assert (
        "note: sightings: 179 sightings loaded, no feed reddit in this file to leave out\n" in out
    )
    assert (tmp_path / "bt2" / "issue-006.csv").exists()


def test_backtest_exits_1_naming_an_archive_file_that_failed_and_its_lost_issue(tmp_path, capsys):
    # An issue whose file failed vanished from the backtest with exit 0 and a mere note.
    archive = tmp_path / "archive"
    shutil.copytree(ARCHIVE, archive)
    third = archive / "docs" / "2025-01-18-weekly.md"
    fourth = archive / "docs" / "2025-01-25-weekly.md"
    third.write_text(third.read_text("utf-8").replace("'2025-01-18'", "Jan 18, 2025"), "utf-8")
    fourth.write_text(fourth.read_text("utf-8").replace("的一周'", "的一周"), "utf-8")
    args = ["backtest", "--history", str(archive), "--sightings", str(SIGHTINGS)]
    code, out, err = rank([*args, "--issues", "2-5", "--out", str(tmp_path / "bt")], capsys)
    assert (code, err) == (1, "")
    assert out.startswith("backtest of issues 2-5 (3 issues")  # #3's date is read
    errors = [line for line in out.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: archive: docs/2025-01-25-weekly.md: front matter value has an unclosed quote: "
        "title (not imported)",
        "error: issue #4 of 2-5 not replayed: not in the archive as read",
    ]
    assert sorted(p.name for p in (tmp_path / "bt").glob("issue-*.csv")) == [
        "issue-002.csv",
        "issue-003.csv",
        "issue-005.csv",
    ]
    # A range without the lost issue still fails on the file; a clean archive exits 0.
    code, out, err = rank([*args, "--issues", "5-6", "--out", str(tmp_path / "bt2")], capsys)
    assert code == 1 and [x for x in out.splitlines() if x.startswith("error: ")] == errors[:1]
    code, out, err = rank(
        [*BACKTEST_SAMPLE, "--issues", "2-5", "--out", str(tmp_path / "ok")], capsys
    )
    assert (code, err) == (0, "")
    assert "error: " not in out and "not replayed" not in out


def test_backtest_names_a_lost_issue_past_the_last_one_stored(tmp_path, capsys):
    # The archive's last file (#8) failed: `--issues 5-8` exited 1 with no line naming #8
    # (the lost issues stopped at the last one stored, #7), and `--issues 8-8` was a usage
    # error (exit 2) although OPERATIONS says a failed archive file exits 1.
    archive = tmp_path / "archive"
    shutil.copytree(ARCHIVE, archive)
    last = archive / "docs" / "2025-02-22-weekly.md"
    last.write_text(last.read_text("utf-8").replace("二十四个标题'", "二十四个标题", 1), "utf-8")
    failed = (
        "archive: docs/2025-02-22-weekly.md: front matter value has an unclosed quote: title "
        "(not imported)"
    )
    args = ["backtest", "--history", str(archive), "--sightings", str(SIGHTINGS)]
    code, out, err = rank([*args, "--issues", "5-9", "--out", str(tmp_path / "bt")], capsys)
    assert (code, err) == (1, "")
    assert [line for line in out.splitlines() if line.startswith("error: ")] == [
        f"error: {failed}",
        "error: issues #8-#9 of 5-9 not replayed: not in the archive as read",
    ]
    code, out, err = rank([*args, "--issues", "8-8", "--out", str(tmp_path / "bt2")], capsys)
    assert (code, out) == (1, "")
    assert err == f"rank: error: no issues with items in 8-8; {failed}\n"
    # Without a failed file, a range past the archive stays a usage error; one that runs
    # past its end replays what there is and names the rest (they went unmentioned).
    code, out, err = rank(
        [*BACKTEST_SAMPLE, "--issues", "90-99", "--out", str(tmp_path / "x")], capsys
    )
    assert (code, out, err) == (2, "", "rank: error: no issues with items in 90-99\n")
    code, out, err = rank(
        [*BACKTEST_SAMPLE, "--issues", "8-12", "--out", str(tmp_path / "y")], capsys
    )
    assert (code, err) == (0, "")
    assert "note: issues #9-#12 of 8-12 not replayed: not in the archive" in out.splitlines()


def test_an_output_path_under_a_file_is_a_usage_error_naming_it(loop_db, tmp_path, capsys):
    blocker = tmp_path / "not-a-folder.md"
    blocker.write_text("x")
    for command, out in (
        (["--week", WEEK], blocker / "w.csv"),
        (["--week", WEEK, "--format", "md"], blocker / "deeper" / "w.md"),
        (["draft", "--week", WEEK], blocker / "d.md"),
    ):
        code, _out, err = rank([*command, "--db", str(loop_db), "--out", str(out)], capsys)
        assert code == 2
        assert err.strip() == f"rank: error: --out {out}: {blocker} is a file, not a folder"
    for out in (blocker / "bt", blocker):
        code, _out, err = rank([*BACKTEST_SAMPLE, "--issues", "6-6", "--out", str(out)], capsys)
        assert code == 2
        assert err.strip().startswith(f"rank: error: --out {out}: ")
        assert err.strip().endswith("a file, not a folder")


@pytest.mark.parametrize(
    "command",
    [["history"], ["candidates"], ["report"], ["--week", WEEK], ["draft", "--week", WEEK]],
    ids=["history", "candidates", "report", "week", "draft"],
)
def test_reading_a_missing_database_is_one_line_and_creates_nothing(command, tmp_path, capsys):
    db = tmp_path / "typo.duckdb"
    code, _out, err = rank([*command, "--db", str(db)], capsys)
    assert code == 2
    assert err.strip() == (
        f"rank: error: no database at {db}: `crawl`, `rank import-issues` or "
        "`rank import-sightings` creates it (--db or RADAR_DB chooses another)"
    )
    assert not db.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["history"],
        ["--week", WEEK],
        ["import-sightings", str(SIGHTINGS)],
        ["import-issues", str(ARCHIVE)],
        ["ingest"],
    ],
    ids=["history", "week", "import-sightings", "import-issues", "ingest"],
)
def test_a_folder_as_the_database_is_a_usage_error(command, tmp_path, capsys):
    """DuckDB cannot open a folder: that was exit 3, "store unavailable", whose recovery
    steps are for a busy or damaged database."""
    (tmp_path / "raw").mkdir()
    code, out, err = rank([*command, "--db", str(tmp_path)], capsys)
    assert (code, out) == (2, "")
    assert err.strip() == (
        f"rank: error: {tmp_path}: a folder, not a database file (--db or RADAR_DB names the "
        f"file, e.g. --db {tmp_path / 'radar.duckdb'})"
    )


def test_an_archive_folder_without_issue_files_is_a_usage_error(tmp_path, capsys):
    """It created an empty database and reported `emptyarch:0: no issue files …`."""
    db = tmp_path / "radar.duckdb"
    empty, archive = tmp_path / "empty", tmp_path / "archive"
    empty.mkdir()
    (archive / "docs").mkdir(parents=True)
    for given, named in ((empty, empty), (archive, archive / "docs")):
        code, out, err = rank(["import-issues", str(given), "--db", str(db)], capsys)
        assert (code, out) == (2, "")
        assert err.strip() == (
            f"rank: error: no issue files (*.md) in {named}: give the archive folder holding "
            "docs/, e.g. rank import-issues ~/python-weekly"
        )
    assert not db.exists()


def test_import_issues_names_a_file_without_items_and_does_not_count_it(tmp_path, capsys):
    # `9 issues imported (75 items, 6 links; 1 without items)`: the essay counted as an
    # issue, its file named only with -v. Now it is skipped as a season file is.
    archive = tmp_path / "archive"
    shutil.copytree(ARCHIVE, archive)
    essay = Path(__file__).parent / "fixtures" / "history" / "essay.md"
    shutil.copy(essay, archive / "docs" / "2025-07-05-weekly.md")
    code, out, err = rank(["import-issues", str(archive), "--db", str(tmp_path / "r.db")], capsys)
    assert (code, out) == (
        0,
        "8 issues imported (75 items, 6 links), 0 unchanged, 2 files skipped, 0 errors, "
        "0 warnings\n",
    )
    assert err == (
        "rank: skipped docs/2025-03-01-sweekly.md: season compilation (re-lists earlier "
        "items), not an issue\n"
        "rank: skipped docs/2025-07-05-weekly.md: no items (an essay, #49), not counted as "
        "an issue\n"
    )


def test_a_backtest_of_an_archive_folder_without_issue_files_is_a_usage_error(tmp_path, capsys):
    """It loaded the whole sightings file first, then exited 1 with `no issues with items
    in the archive; archive: …: no issue files (*.md)…`: OPERATIONS says exit 2."""
    sightings = tmp_path / "broken.csv"  # never read: the archive is checked first
    sightings.write_text("not,a,sightings,file\n", "utf-8")
    empty, archive, out = tmp_path / "empty", tmp_path / "archive", tmp_path / "bt"
    empty.mkdir()
    (archive / "docs").mkdir(parents=True)
    args = ["--sightings", str(sightings), "--issues", "1-2", "--out", str(out)]
    for given, named in ((empty, empty), (archive, archive / "docs")):
        code, out_text, err = rank(["backtest", "--history", str(given), *args], capsys)
        assert (code, out_text) == (2, "")
        assert err == (
            f"rank: error: no issue files (*.md) in {named}: give the archive folder holding "
            "docs/, e.g. --history ~/python-weekly\n"
        )
    assert not out.exists()


SIGHTINGS_HEADER = "feed,section,seen_date,title,url,points\n"


def _import_sightings(tmp_path, body: str, capsys, caplog) -> tuple[Path, int, str, list[str]]:
    """Write a sightings CSV (SIGHTINGS_HEADER + body) and import it: (path, exit code,
    the summary line, the warnings logged)."""
    path = tmp_path / "sightings.csv"
    path.write_text(SIGHTINGS_HEADER + body, encoding="utf-8")
    caplog.clear()
    args = ["import-sightings", str(path), "--db", str(tmp_path / "radar.duckdb")]
    code, out, err = rank(args, capsys)
    assert err == ""  # the warnings go through logging (caplog here, stderr in a shell)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    return path, code, out.strip(), warnings


GOOD_SIGHTING = (
    "hackernews,hn:frontpage,2025-02-10,PEP 750 in practice,https://example.org/pep-750,80"
)
# body, the summary line, the warnings naming skipped rows (after `<file>: `)
SKIPPED_ROWS = {
    "one per reason": (
        f"{GOOD_SIGHTING}\n{GOOD_SIGHTING}\n"
        "hackernews,hn:frontpage,2025-02-10,Broken,http://,3\n"
        "hackernews,hn:frontpage,someday,Undated,https://example.org/undated,5\n",
        "1 sighting loaded, 1 duplicate skipped (already in the store or repeated), 1 row with "
        "an invalid URL skipped, 1 row with an unreadable or impossible date skipped",
        [
            "row 4 skipped: invalid URL 'http://'",  # as a spreadsheet shows it: header = 1
            "row 5 skipped: unreadable or impossible date 'someday'",
        ],
    ),
    "three named, the rest counted": (
        "hackernews,hn:top20,2025-02-10,Good,https://example.org/good,1\n"
        + "".join(f"hackernews,hn:top20,2025-02-10,Bad,javascript:f({i}),1\n" for i in range(5))
        + ",,2025-02-10,No feed,https://example.org/nowhere,1\n"
        "hackernews,hn:top20,,No date,https://example.org/undated,1\n",
        "1 sighting loaded, 5 rows with invalid URLs skipped, 1 row with an unreadable or "
        "impossible date skipped, 1 row without feed or section skipped",
        [
            "row 3 skipped: invalid URL 'javascript:f(0)'",
            "row 4 skipped: invalid URL 'javascript:f(1)'",
            "row 5 skipped: invalid URL 'javascript:f(2)'",
            "2 more rows skipped: invalid URL",
            "row 8 skipped: no feed or section",
            "row 9 skipped: unreadable or impossible date (empty)",
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(SKIPPED_ROWS))
def test_import_sightings_counts_the_rows_it_skips_and_names_the_first_three_per_reason(
    case, tmp_path, capsys, caplog
):
    body, summary, named = SKIPPED_ROWS[case]
    path, code, out, warnings = _import_sightings(tmp_path, body, capsys, caplog)
    assert (code, out) == (0, f"{path}: {summary}")
    assert warnings == [f"{path}: {line}" for line in named]


def test_import_sightings_names_skipped_rows_on_stderr_in_a_shell(tmp_path):
    import subprocess
    import sys

    body, summary, named = SKIPPED_ROWS["one per reason"]
    path = tmp_path / "sightings.csv"
    path.write_text(SIGHTINGS_HEADER + body, encoding="utf-8")
    args = ["import-sightings", str(path), "--db", str(tmp_path / "radar.duckdb")]
    proc = subprocess.run(
        [sys.executable, "-m", "ranking.cli", *args], capture_output=True, text=True, timeout=120
    )
    assert (proc.returncode, proc.stdout) == (0, f"{path}: {summary}\n")
    # As the command's other one-line messages, as README shows them: no logging prefix.
    assert proc.stderr.splitlines() == [f"rank: {path}: {n}" for n in named]


def test_import_sightings_loads_a_file_once(tmp_path, capsys, caplog):
    body = SKIPPED_ROWS["one per reason"][0]
    path, code, out, _warnings = _import_sightings(tmp_path, body, capsys, caplog)
    assert (code, out.split(",")[0]) == (0, f"{path}: 1 sighting loaded")
    path, code, out, _warnings = _import_sightings(tmp_path, body, capsys, caplog)
    assert code == 0
    assert out.startswith(f"{path}: 0 sightings loaded, 2 duplicates skipped")
    db = tmp_path / "radar.duckdb"
    code, out, _err = rank(["candidates", "--db", str(db), "--format", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["url"] for r in rows] == ["https://example.org/pep-750"]


def test_import_sightings_reads_each_date_on_its_own_and_leaves_non_counts_empty(tmp_path, capsys):
    db = tmp_path / "radar.duckdb"
    path = tmp_path / "sightings.csv"
    path.write_text(
        "feed,section,seen_date,title,url,stars,forks,points,rank\n"
        # the first cell's format used to be taken for the whole column
        "github_trending,trending:python,2025-02-10T23:30:00+08:00,acme/tool,"
        "https://github.com/acme/tool,-5,1e3,,-1\n"
        "github_trending,trending:python,2025-02-11,,https://github.com/acme/kit,12,,,0\n"
        "hackernews,hn:top20,2025-02-11 08:00:00,A post,https://example.org/a,,,1.5,2\n"
        "hackernews,hn:top20,2025-02-12T09:00Z,Another,https://example.org/b,,,1e20,3\n"
        ",,2025-02-12,Nowhere,https://example.org/c,,,,\n",
        encoding="utf-8",
    )
    code, out, err = rank(["import-sightings", str(path), "--db", str(db)], capsys)
    assert (code, err) == (0, "")
    assert out.strip() == (
        f"{path}: 4 sightings loaded, 1 row without feed or section skipped, 5 numbers that "
        "are not counts (negative, fractional, text) left empty"
    )
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT url, seen_date::VARCHAR, stars, forks, points, position FROM sightings ORDER BY url"
    ).fetchall()
    con.close()
    assert rows == [
        ("https://example.org/a", "2025-02-11", None, None, None, 2),
        ("https://example.org/b", "2025-02-12", None, None, None, 3),
        ("https://github.com/acme/kit", "2025-02-11", 12, None, None, None),
        ("https://github.com/acme/tool", "2025-02-10", None, 1000, None, None),
    ]
    # An empty title: the repository's owner/name stands in on the shortlist.
    shortlist = tmp_path / "w07.csv"
    code, _out, _err = rank(
        ["--week", "2025-W07", "--db", str(db), "--out", str(shortlist)], capsys
    )
    assert code == 0
    rows = _read(shortlist)
    titles = {r["url"]: r["title"] for r in rows}
    assert titles["https://github.com/acme/kit"] == "acme/kit"


def test_import_sightings_reads_only_iso_dates_and_names_the_others(tmp_path, capsys, caplog):
    """`10.09.2024` may be 10 September or 9 October: each row's day and month were
    guessed on its own (one file stored 2024-10-09 and 2024-07-26, without a word). Only
    ISO dates are read; any other date is an unreadable date, skipped and named."""
    path = tmp_path / "eu.csv"
    path.write_text(
        "feed;section;seen_date;title;url\n"
        "hackernews;hn:top20;10.09.2024;A;https://example.org/a\n"
        "hackernews;hn:top20;26.07.2024;B;https://example.org/b\n"
        "hackernews;hn:top20;07/26/2024;C;https://example.org/c\n"
        "hackernews;hn:top20;2024-07-26T10:00:00Z;D;https://example.org/d\n",
        encoding="utf-8",
    )
    db = tmp_path / "radar.duckdb"
    code, out, _err = rank(["import-sightings", str(path), "--db", str(db)], capsys)
    assert (code, out.strip()) == (
        0,
        f"{path}: 1 sighting loaded, 3 rows with unreadable or impossible dates skipped",
    )
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"{path}: row {n} skipped: unreadable or impossible date {day!r}"
        for n, day in ((2, "10.09.2024"), (3, "26.07.2024"), (4, "07/26/2024"))
    ]
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT url, seen_date::VARCHAR FROM sightings").fetchall()
    con.close()
    assert rows == [("https://example.org/d", "2024-07-26")]


def test_an_extra_that_is_not_a_json_object_is_dropped_and_the_week_still_ranks(tmp_path, capsys):
    db = tmp_path / "radar.duckdb"
    path = tmp_path / "sightings.csv"
    path.write_text(
        "feed,section,seen_date,title,url,extra\n"
        "github_trending,trending:python,2025-02-10,acme/tool,https://github.com/acme/tool,"
        '"{""history_only"": tru"\n'
        "github_trending,trending:python,2025-02-11,acme/kit,https://github.com/acme/kit,[1]\n"
        'github_trending,trending:python,2025-02-11,acme/cli,https://github.com/acme/cli,"{}"\n',
        encoding="utf-8",
    )
    code, out, err = rank(["import-sightings", str(path), "--db", str(db)], capsys)
    assert (code, err) == (0, "")
    assert out.strip() == (
        f"{path}: 3 sightings loaded, 2 rows with an extra that is not a JSON object "
        "(loaded without it)"
    )
    shortlist = tmp_path / "w07.csv"
    code, out, _err = rank(["--week", "2025-W07", "--db", str(db), "--out", str(shortlist)], capsys)
    assert code == 0
    rows = _read(shortlist)
    assert sorted(r["url"] for r in rows) == [
        "https://github.com/acme/cli",
        "https://github.com/acme/kit",
        "https://github.com/acme/tool",
    ]


def test_import_sightings_of_a_bad_file_is_one_line_naming_it(tmp_path, capsys):
    db = tmp_path / "radar.duckdb"
    text = tmp_path / "notes.txt"
    text.write_text("not sightings", encoding="utf-8")
    no_url = tmp_path / "no-url.csv"
    no_url.write_text("feed,section,seen_date\nhackernews,hn:frontpage,2025-02-10\n", "utf-8")
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        SIGHTINGS_HEADER.encode() + b"hn,hn:top,2025-02-10,Caf\xe9,https://a.org/x,1\n"
    )
    cases = [
        ([str(text)], 1, f"{text}: unsupported sightings file type '.txt'"),
        ([str(no_url)], 1, f"{no_url}: missing sightings columns ['url']"),
        ([str(tmp_path / "gone.csv")], 2, f"{tmp_path / 'gone.csv'}: no such sightings file"),
        ([str(folder)], 2, f"{folder}: a folder, not a sightings file"),
        ([str(empty)], 1, f"{empty}: the file is empty"),
        (
            [str(latin)],
            1,
            f"{latin}: cannot read sightings: row 2: Invalid unicode (byte sequence mismatch) "
            "detected. This file is not utf-8 encoded.",
        ),
    ]
    for args, expected_code, message in cases:
        code, out, err = rank(["import-sightings", *args, "--db", str(db)], capsys)
        assert code == expected_code, args
        assert err.startswith(f"rank: error: {message}"), err
        assert len(err.strip().splitlines()) == 1 and out == ""


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_a_csv_row_with_too_few_or_too_many_cells_is_skipped_and_named(
    delimiter, tmp_path, capsys, caplog
):
    """One short or long row made DuckDB's sniffer read the file as one column, and the
    whole file was refused for `missing sightings columns`; the header decides."""
    with SIGHTINGS.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    rows[3] = rows[3][:5]  # row 4 as a spreadsheet shows it (the header is row 1)
    rows[5] = [*rows[5], "x", "y"]  # row 6
    path = tmp_path / "cut.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    db = tmp_path / "radar.duckdb"
    code, out, err = rank(["import-sightings", str(path), "--db", str(db)], capsys)
    assert (code, err) == (0, "")
    assert out.strip() == f"{path}: {len(rows) - 3:,} sightings loaded, 2 unreadable rows skipped"
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"{path}: row 4 skipped: 5 cells, the header has 13",
        f"{path}: row 6 skipped: 15 cells, the header has 13",
    ]


def test_a_torn_jsonl_line_is_skipped_and_named_by_its_line(tmp_path, capsys, caplog):
    """A torn record failed the whole file, naming the line after it and the caret
    under DuckDB's query (`at byte 41 in line 5…: ^^^^^^^^`)."""
    lines = [
        json.dumps(
            {"feed": "hackernews", "section": "hn:top20", "seen_date": "2025-02-10", "url": url}
        )
        for url in ("https://example.org/1", "https://example.org/2", "https://example.org/3")
    ]
    lines.insert(2, lines[0][:41])
    path = tmp_path / "torn.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = rank(["import-sightings", str(path), "--db", str(tmp_path / "r.db")], capsys)
    assert (code, err) == (0, "")
    assert out.strip() == f"{path}: 3 sightings loaded, 1 unreadable row skipped"
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"{path}: no column 'title': {store._WITHOUT_COLUMN['title']}",
        f"{path}: row 3 skipped: invalid JSON: unterminated string starting at column 35",
    ]


def test_a_jsonl_line_that_is_not_an_object_is_skipped_and_named(tmp_path, capsys, caplog):
    """DuckDB's reader refused the whole file for one line that is JSON but not an object
    ("expected records, but got non-record JSON"); a torn line beside it is still named."""
    lines = [
        json.dumps(
            {"feed": "hackernews", "section": "hn:top20", "seen_date": "2025-02-10", "url": url}
        )
        for url in ("https://example.org/1", "https://example.org/2", "https://example.org/3")
    ]
    lines[1:1] = ['["https://example.org/4"]', "", lines[0][:41], "42", "null"]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = rank(["import-sightings", str(path), "--db", str(tmp_path / "r.db")], capsys)
    assert (code, err) == (0, "")
    assert out.strip() == f"{path}: 3 sightings loaded, 4 unreadable rows skipped"
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"{path}: no column 'title': {store._WITHOUT_COLUMN['title']}",
        f"{path}: row 2 skipped: a JSON array, not an object",
        f"{path}: row 4 skipped: invalid JSON: unterminated string starting at column 35",
        f"{path}: row 5 skipped: a JSON value, not an object",
        f"{path}: 1 more row skipped: unreadable",
    ]
    # Without such a line, `null` is named the same way (it was an empty URL).
    path.write_text(f"{lines[0]}\nnull\n", encoding="utf-8")
    code, out, _err = rank(["import-sightings", str(path), "--db", str(tmp_path / "2.db")], capsys)
    assert out.strip() == f"{path}: 1 sighting loaded, 1 unreadable row skipped"
    assert caplog.records[-1].getMessage() == f"{path}: row 2 skipped: a JSON value, not an object"
    # Errors name the file given, not the copy it is read from.
    for text, why in [
        ("[1]\n{}\n{torn\n", "no line is a JSON object with fields"),
        (
            '[1]\n{"feed": "hackernews"}\n',
            "missing sightings columns ['seen_date', 'url']",
        ),
    ]:
        path.write_text(text, encoding="utf-8")
        code, _out, err = rank(
            ["import-sightings", str(path), "--db", str(tmp_path / "r.db")], capsys
        )
        assert (code, err.strip()) == (1, f"rank: error: {path}: {why}")


def test_a_csv_with_a_huge_cell_or_mac_line_ends_loads(tmp_path, capsys, caplog):
    """Python's csv module (which numbers the rows) refused a cell over 128 KiB with a
    traceback ("field larger than field limit"), and a file saved with CR line ends
    ("CSV (Macintosh)") failed on its header; DuckDB reads both."""
    rows = [
        "hackernews,hn:top20,2025-02-10,Story,https://example.org/1,5",
        "hackernews,hn:top20,2025-02-10," + "x" * 200_000 + ",https://example.org/2,5",
        "hackernews,hn:top20,2025-02-10,a,b,c,https://example.org/3," + "y" * 200_000,
    ]
    for name, end in [("huge.csv", "\n"), ("mac.csv", "\r")]:
        path = tmp_path / name
        path.write_text(SIGHTINGS_HEADER.rstrip("\n") + end + end.join(rows) + end, "utf-8")
        caplog.clear()
        db = str(tmp_path / f"{name}.db")
        code, out, err = rank(["import-sightings", str(path), "--db", db], capsys)
        assert (code, err) == (0, ""), name
        assert out.strip() == f"{path}: 2 sightings loaded, 1 unreadable row skipped"
        assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
            f"{path}: row 4 skipped: 8 cells, the header has 6"
        ]


def test_a_sightings_file_without_section_or_seen_date_loads_from_feed_and_seen_ts(
    tmp_path, capsys
):
    """A later file may drop `section` (a row's source is then its feed) or give only
    `seen_ts` (its UTC day); it was refused whole for a missing column. Stars written as a
    page shows them (`9,479`) were left empty."""
    path = tmp_path / "later.csv"
    path.write_text(
        "feed,seen_ts,title,url,stars\n"
        'hackernews,2025-02-10T23:30:00-02:00,Story,https://example.org/1,"9,479"\n'
        "github_trending,2025-02-10 00:00:00,Repo,https://github.com/o/r,12\n",
        encoding="utf-8",
    )
    db = tmp_path / "r.db"
    code, out, err = rank(["import-sightings", str(path), "--db", str(db)], capsys)
    assert (code, err) == (0, "")
    assert out.strip() == f"{path}: 2 sightings loaded"
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT source, CAST(seen_date AS VARCHAR), stars FROM sightings ORDER BY source"
    ).fetchall()
    con.close()
    assert rows == [("github_trending", "2025-02-10", 12), ("hackernews", "2025-02-11", 9479)]


def test_impossible_seen_dates_are_skipped_like_unreadable_ones(tmp_path, capsys):
    path = tmp_path / "sightings.csv"
    path.write_text(
        SIGHTINGS_HEADER
        + "".join(
            f"hackernews,hn:frontpage,{day},Story {n},https://example.org/{n},5\n"
            for n, day in enumerate(["2025-02-10", "9999-12-31", "0001-01-01", "1980-05-01"])
        ),
        encoding="utf-8",
    )
    code, out, _err = rank(["import-sightings", str(path), "--db", str(tmp_path / "r.db")], capsys)
    assert code == 0
    assert out.strip() == (
        f"{path}: 1 sighting loaded, 2 rows with unreadable or impossible dates skipped, "
        "1 row dated after tomorrow by this machine's clock skipped"
    )


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_file_without_section_or_title_says_what_is_used_instead(tmp_path, caplog, suffix):
    """Without `section` every page of a feed was one source, without `title` the
    shortlist showed links: both silently (the summary even counted merged rows as
    duplicates). Now one warning line per such column; other absent columns are a note."""
    frame = pd.DataFrame(
        {"feed": ["hackernews"], "seen_date": ["2025-02-10"], "url": ["https://e.example/1"]}
    )
    path = tmp_path / f"s{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    con = store.connect(":memory:")
    with caplog.at_level("INFO", logger="ranking.store"):
        assert store.load_sightings_file(con, path)["inserted"] == 1
    con.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert [w.split(": ", 2)[1] for w in warnings] == ["no column 'section'", "no column 'title'"]
    assert all(w.startswith(str(path)) for w in warnings)
    assert f"{path}: no columns seen_ts, description, stars," in caplog.text


def test_only_a_live_import_judges_dates_by_the_clock(tmp_path, caplog):
    """A sighting after tomorrow is skipped by `import-sightings`, naming the clock; a
    replay (`rank backtest`) loads it: its weeks may be later than a wrong clock, and
    before, such weeks were replayed from empty pools, exit 0."""
    later = dt.date.today() + dt.timedelta(days=30)
    path = tmp_path / "sightings.csv"
    path.write_text(
        SIGHTINGS_HEADER + f"hackernews,hn:frontpage,{later},Story,https://example.org/1,5\n",
        encoding="utf-8",
    )
    con = store.connect(":memory:")
    with pytest.raises(SightingsFileError, match="1 row dated after tomorrow by this"):
        store.load_sightings_file(con, path)
    assert "row 2 skipped: date after tomorrow by this machine's clock (today " in caplog.text
    counts = store.load_sightings_file(con, path, by_the_clock=False)
    assert (counts["inserted"], counts["future_date"]) == (1, 0)
    con.close()


def test_an_output_folder_is_a_usage_error_with_an_example(loop_db, tmp_path, capsys):
    for command in (["--week", WEEK], ["draft", "--week", WEEK]):
        code, _out, err = rank([*command, "--db", str(loop_db), "--out", str(tmp_path)], capsys)
        assert code == 2
        assert err.startswith(f"rank: error: --out {tmp_path}: a folder; give a file, e.g. --out ")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_an_unwritable_output_is_named_as_given_not_by_its_temp_file(loop_db, capsys):
    # /proc takes no new files: the atomic write's hidden temp file cannot be made there.
    for command, out in (
        (["--week", WEEK], "/proc/x.csv"),
        (["--week", WEEK, "--format", "md"], "/proc/x.md"),
        (["draft", "--week", WEEK], "/proc/d.md"),
    ):
        code, _out, err = rank([*command, "--db", str(loop_db), "--out", out], capsys)
        assert code == 1
        assert err.splitlines()[-1] == f"rank: error: {out}: No such file or directory"


def test_a_closed_pipe_ends_quietly(loop_db):
    import subprocess
    import sys

    with subprocess.Popen(
        [sys.executable, "-m", "ranking.cli", "history", "--format", "csv", "--db", str(loop_db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader (`| head`) is gone before the first line is written
        err = proc.stderr.read()
        code = proc.wait(timeout=60)
    assert (code, err) == (0, b"")


def _screen(raw: str) -> list[str]:
    """The lines a terminal shows for `raw` (text, \\r, \\n, erase line, cursor up; other
    escape sequences such as colours change nothing on screen)."""
    lines, row, col = [""], 0, 0
    for token in re.findall(r"\x1b\[[0-9;?]*[A-Za-z]|\r|\n|[^\x1b\r\n]+", raw):
        if token == "\r":
            col = 0
        elif token == "\n":
            row += 1
            lines += [""] * (row + 1 - len(lines))
        elif token == "\x1b[2K":
            lines[row] = ""
        elif token.startswith("\x1b["):
            if token.endswith("A"):
                row = max(0, row - int(token[2:-1] or 1))
        else:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + token + line[col + len(token) :]
            col += len(token)
    return [line.rstrip() for line in lines]


def test_a_warning_during_a_spinner_is_a_line_of_its_own_on_a_terminal(tmp_path):
    # The log handler wrote to the stderr saved at startup, past Rich's live display: the
    # warning was glued onto the spinner's line ("⠙ backtest: …archiverank: …: row 181 …").
    import fcntl
    import pty
    import struct
    import subprocess
    import sys
    import termios

    sightings = tmp_path / "sightings.csv"
    text = SIGHTINGS.read_text("utf-8")
    sightings.write_text(text + "hackernews,hn:top20,2025-02-10,Bad,javascript:f(0)" + "," * 8)
    row = len(text.splitlines()) + 1
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    args = [*BACKTEST_SAMPLE[:3], "--sightings", str(sightings), "--issues", "6-6"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ranking.cli", *args, "--out", str(tmp_path / "bt")],
        cwd=REPO,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "TERM": "xterm-256color"},
    )
    os.close(slave)
    raw = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the command ended and closed the terminal
            break
        if not chunk:
            break
        raw += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0, raw[-2000:]
    assert b"backtest: " in raw  # the spinner ran
    screen = _screen(raw.decode("utf-8"))
    warning = f"rank: {sightings}: row {row} skipped: invalid URL 'javascript:f(0)'"
    assert warning in screen, [line for line in screen if "skipped" in line]
    assert screen[screen.index(warning) + 1].startswith("backtest of issues 6-6")


def test_shortlist_counts_are_whole_numbers(loop_db):
    rows = _read(loop_db.parent / "shortlists" / f"{WEEK}.csv")
    counts = [r[c] for r in rows for c in ("stars", "stars_gained", "points", "comments") if r[c]]
    assert counts and all(c.isdigit() for c in counts), counts


def test_tables_in_a_pipe_are_not_cut_to_80_columns(loop_db, capsys):
    code, out, _err = rank(["candidates", "--week", WEEK, "--db", str(loop_db)], capsys)
    assert code == 0
    assert "Python is dead, long live Python" in out  # one line, not folded
    assert max(len(line) for line in out.splitlines()) > 80


def _issue_file(docs: Path, no: int, day: str, repo: str) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    (docs / f"{day}-weekly.md").write_text(
        f"---\ntitle: 'Python 潮流周刊#{no}：测试'\npubDate: {day}\n---\n\n"
        f"## 🐿️项目&资源\n\n1、[{repo}](https://github.com/{repo})\n\n一个 Python 项目。\n",
        encoding="utf-8",
    )


def test_the_issue_of_the_week_is_not_featured_in_its_own_shortlist(tmp_path, capsys):
    # #1 came out on Saturday 2025-02-08 (W06), #2 on Saturday 2025-02-15 (W07).
    db = tmp_path / "radar.duckdb"
    sightings = tmp_path / "sightings.csv"
    lines = [
        f"github_trending,trending:python,2025-02-{day:02d},{repo},https://github.com/{repo},"
        for day in range(3, 16)
        for repo in ("acme/old", "acme/tool", "acme/kit", "acme/cli")
    ]
    sightings.write_text(SIGHTINGS_HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    assert rank(["import-sightings", str(sightings), "--db", str(db)], capsys)[0] == 0
    archive = tmp_path / "archive"
    _issue_file(archive / "docs", 1, "2025-02-08", "acme/old")
    assert rank(["import-issues", str(archive), "--db", str(db)], capsys)[0] == 0

    w07 = tmp_path / "w07.csv"
    code, out, _err = rank(["--week", WEEK, "--db", str(db), "--out", str(w07)], capsys)
    assert code == 0
    before = w07.read_bytes()
    assert sorted(r["title"] for r in _read(w07)) == ["acme/cli", "acme/kit", "acme/tool"]

    # The curator publishes W07's issue; ranking W07 again gives the same shortlist: its
    # picks are featured from the next week on, not in the week they were picked from.
    _issue_file(archive / "docs", 2, "2025-02-15", "acme/tool")
    assert rank(["import-issues", str(archive), "--db", str(db)], capsys)[0] == 0
    code, out, _err = rank(
        ["--week", WEEK, "--db", str(db), "--out", str(w07), "--show-featured"], capsys
    )
    assert code == 0
    assert w07.read_bytes() == before
    assert "1 candidates excluded as already featured:" in out
    assert "featured in #1: acme/old" in out
    w08 = tmp_path / "w08.csv"
    code, out, _err = rank(
        ["--week", "2025-W08", "--db", str(db), "--out", str(w08), "--show-featured"], capsys
    )
    assert code == 0
    assert sorted(r["title"] for r in _read(w08)) == ["acme/cli", "acme/kit"]
    assert "featured in #2: acme/tool" in out

    # Seen on the Sunday, after #2 came out: not on the shortlist #2 was picked from.
    late = "github_trending,trending:python,2025-02-16,acme/late,https://github.com/acme/late,"
    sightings.write_text(SIGHTINGS_HEADER + late + "\n", encoding="utf-8")
    assert rank(["import-sightings", str(sightings), "--db", str(db)], capsys)[0] == 0
    code, out, _err = rank(["--week", WEEK, "--db", str(db), "--out", str(w07)], capsys)
    assert out == f"wrote {w07} (3 rows; ranked as of 2025-02-15, the day #2 came out)\n"
    assert w07.read_bytes() == before
    rank(["--week", "2025-W08", "--db", str(db), "--out", str(w08)], capsys)
    assert "acme/late" in {r["title"] for r in _read(w08)}


def test_import_issues_names_an_unclosed_code_fence_and_keeps_the_items_after_it(tmp_path, capsys):
    docs = tmp_path / "archive" / "docs"
    _issue_file(docs, 1, "2025-02-08", "acme/old")
    issue = docs / "2025-02-08-weekly.md"
    issue.write_text(
        issue.read_text(encoding="utf-8") + "```\n\n2、[acme/new](https://github.com/acme/new)\n",
        encoding="utf-8",
    )
    db = tmp_path / "radar.duckdb"
    code, out, err = rank(["import-issues", str(tmp_path / "archive"), "--db", str(db)], capsys)
    assert code == 0
    assert out.startswith("1 issues imported (2 items, 0 links)")
    assert out.rstrip().endswith("0 errors, 1 warnings")
    assert err == (
        "rank: warning: docs/2025-02-08-weekly.md:11: code fence never closed; read as text\n"
    )


def test_a_week_is_ranked_as_of_its_last_day_with_sightings(tmp_path, capsys):
    # W07 is Monday 2025-02-10 .. Sunday 2025-02-16; the crawl has run up to Thursday.
    db = tmp_path / "radar.duckdb"

    def load(lines: list[str]) -> None:
        path = tmp_path / "sightings.csv"
        path.write_text(SIGHTINGS_HEADER + "\n".join(lines) + "\n", encoding="utf-8")
        assert rank(["import-sightings", str(path), "--db", str(db)], capsys)[0] == 0

    def row(day: int, repo: str) -> str:
        return (
            f"github_trending,trending:python,2025-02-{day:02d},{repo},https://github.com/{repo},"
        )

    load([row(day, "acme/tool") for day in range(1, 14)] + [row(13, "acme/new")])
    w07 = tmp_path / "w07.csv"
    code, out, _err = rank(["--week", WEEK, "--db", str(db), "--out", str(w07)], capsys)
    assert code == 0
    assert out == (
        f"wrote {w07} (2 rows; ranked as of 2025-02-13, the last day of {WEEK} with "
        "sightings so far)\n"
    )
    reasons = {r["title"]: r["reason"] for r in _read(w07)}
    # Ages count from Thursday: seen tonight is "today", not 3 days before the Sunday.
    assert "first seen today" in reasons["acme/new"]

    load([row(14, "acme/new")])  # Friday's crawl; the curator ranks again
    code, out, _err = rank(["--week", WEEK, "--db", str(db), "--out", str(w07)], capsys)
    assert "ranked as of 2025-02-14" in out
    assert "first seen 1 d ago" in {r["title"]: r["reason"] for r in _read(w07)}["acme/new"]
    # One pool file for the week, whichever day it was ranked as of.
    assert len(list((tmp_path / "cache" / "pools").glob("pool-*-21h2025-02-10-*"))) == 1

    load([row(16, "acme/new")])  # the week is complete: as of its Sunday, nothing to say
    code, out, _err = rank(["--week", WEEK, "--db", str(db), "--out", str(w07)], capsys)
    assert out == f"wrote {w07} (2 rows)\n"
    assert "first seen 3 d ago" in {r["title"]: r["reason"] for r in _read(w07)}["acme/new"]


def test_a_past_week_ranks_as_the_backtest_replays_its_issue(tmp_path, capsys):
    from ranking.backtest import run_backtest

    db = tmp_path / "radar.duckdb"  # the archive and the sightings, as the backtest loads them
    run_backtest(ARCHIVE, SIGHTINGS, (6, 6), tmp_path / "bt", db_path=db)
    week = tmp_path / "w06.csv"  # #6 came out on Saturday 2025-02-08, in W06
    quotas = ["--quota", "article=2", "--quota", "project=1"]  # the backtest's run to 50
    args = ["--week", "2025-W06", "--db", str(db), "--out", str(week), *quotas]
    code, out, _err = rank(args, capsys)
    assert code == 0
    assert "ranked as of 2025-02-08, the day #6 came out" in out
    lines = (tmp_path / "bt" / "issue-006.csv").read_text(encoding="utf-8").splitlines()
    replayed = list(csv.reader(lines))
    limit = {"article": 2, "project": 1, "audio_video": 6, "hot_topic": 6}
    head = [line for line, row in zip(lines, replayed, strict=True) if row[2] == "rank"
            or int(row[2]) <= limit[row[3]]]  # fmt: skip
    assert len(head) < len(lines)  # the backtest's file runs on past the quotas
    assert week.read_text(encoding="utf-8").splitlines() == head  # the same rows up to them


def test_a_repository_linked_only_by_a_release_is_kept_and_drafted(tmp_path, capsys):
    """The row of `github.com/o/r` shows the link a source gave (a release); the curator's
    keep on it is accepted, and the draft names it as the shortlist showed it."""
    release = "https://github.com/radar-test/pyemu/releases/tag/v2.0"
    db, path = _shortlist_db(
        tmp_path,
        "feed,section,seen_date,title,url,points,comments\n"
        f"hackernews,hn:frontpage,2025-02-13,Pyemu 2.0: a Python emulator,{release},512,230\n",
    )
    rows = _read(path)
    (row,) = [r for r in rows if r["url"] == release]
    assert row["section"] == "project"
    row["decision"] = "keep"
    _save(path, rows)
    capsys.readouterr()
    code, out, err = rank(["feedback", str(path), "--db", str(db)], capsys)
    assert (code, err) == (0, "") and "1 keep" in out
    code, out, _err = rank(["draft", "--week", WEEK, "--db", str(db)], capsys)
    assert code == 0
    assert f"1、[Pyemu 2.0: a Python emulator]({release})" in out


def test_a_quick_run_elsewhere_does_not_forget_the_rows_of_the_curators_file(tmp_path, capsys):
    """`rank --week W --quota article=2 --out quick.csv` writes a smaller shortlist; the
    curator's own file of W still feeds back whole."""
    db, path = _shortlist_db(tmp_path)
    rows = _read(path)
    for row in rows:
        row["decision"] = "reject"
    _save(path, rows)
    quick = tmp_path / "quick.csv"
    args = ["--week", WEEK, "--quota", "article=2", "--quota", "project=2", "--db", str(db)]
    assert cli.main([*args, "--out", str(quick)]) == 0
    assert len(_read(quick)) < len(rows)
    capsys.readouterr()
    code, out, err = rank(["feedback", str(path), "--db", str(db)], capsys)
    assert (code, err) == (0, "") and f"{len(rows)} reject" in out


def test_a_week_ranks_again_from_cached_pools_once_an_earlier_week_has_decisions(tmp_path, capsys):
    """Decisions of an earlier week are training rows. Ranked again, every pool comes from
    the disk cache, so the last query before the shortlist was saved was a one-row lookup
    (the earlier week's issue) left unread: DuckDB refused to save, a traceback, no file."""
    db, path = _shortlist_db(tmp_path)
    earlier = tmp_path / "shortlists" / "2025-W05.csv"
    assert cli.main(["--week", "2025-W05", "--db", str(db)]) == 0
    rows = _read(earlier)
    rows[0]["decision"], rows[1]["decision"] = "keep", "reject"
    _save(earlier, rows)
    assert cli.main(["feedback", str(earlier), "--db", str(db)]) == 0
    path.unlink()
    capsys.readouterr()
    code, out, err = rank(["--week", WEEK, "--db", str(db)], capsys)
    assert code == 0, err
    assert out.startswith(f"wrote {path}") and path.is_file()


@pytest.mark.parametrize(
    "lookup",
    [
        lambda con: store.last_issue_in(con, dt.date(2025, 2, 10), dt.date(2025, 2, 16)),
        lambda con: store.last_sighting_day(con, dt.date(2025, 2, 16)),
        lambda con: store.check_version(con),
        store.table_counts,
    ],
    ids=["last_issue_in", "last_sighting_day", "check_version", "table_counts"],
)
def test_a_one_row_lookup_leaves_no_result_open_for_the_next_write(lookup):
    """DuckDB refuses `register` while a result is unread: a lookup that read one row with
    fetchone() made the next save_shortlist_rows raise ResourceInUseException."""
    con = store.connect(":memory:")
    con.execute("INSERT INTO issues (issue_no, pub_date, kind) VALUES (7, '2025-02-15', 'full')")
    con.execute(
        "INSERT INTO sightings (canonical_url, source, seen_date) "
        "VALUES ('https://a.example/x', 'hn', '2025-02-12')"
    )
    assert lookup(con)
    rows = {
        "id": ["c-1"],
        "url_canonical": ["https://a.example/x"],
        "section": ["article"],
        "rank": [1],
        "score": [0.5],
        "title": ["X"],
        "url": ["https://a.example/x"],
    }
    assert store.save_shortlist_rows(con, WEEK, pd.DataFrame(rows)) == 1
    assert not re.search(r"\.fetchone\(", inspect.getsource(store)), "use store._one"


def test_the_draft_shows_the_title_the_shortlist_showed(tmp_path, capsys):
    """Two sources titled one story differently: the draft of a kept row carries the
    title of its shortlist row, not the store's latest."""
    url = "https://www.python.org/downloads/release/python-3141/"
    db, path = _shortlist_db(
        tmp_path,
        "feed,section,seen_date,title,url,points,comments\n"
        f"hackernews,hn:frontpage,2025-02-12,Python 3.14.1 is now available,{url},400,120\n"
        f"feed,planet-python,2025-02-13,Python 3.14.1 is out,{url},,\n",
    )
    rows = _read(path)
    (row,) = [r for r in rows if r["url"] == url]
    row["decision"] = "keep"
    _save(path, rows)
    assert cli.main(["feedback", str(path), "--db", str(db)]) == 0
    capsys.readouterr()
    code, out, _err = rank(["draft", "--week", WEEK, "--db", str(db)], capsys)
    assert code == 0 and f"[{row['title']}]({url})" in out


def _as_schema_1(db: Path) -> None:
    """Turn a store back into what the first schema wrote (no title/url on shortlist rows,
    no cells of shortlist files)."""
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE shortlist_cells")
    con.execute("ALTER TABLE shortlist_rows DROP COLUMN title")
    con.execute("ALTER TABLE shortlist_rows DROP COLUMN url")
    con.execute("DELETE FROM schema_migrations WHERE version > 1")
    con.close()


def test_a_store_of_the_first_schema_is_read_by_every_reader(tmp_path, capsys):
    """`rank draft` (read-only) upgrades an older store before reading it; a notebook's
    snapshot of one is brought to this version in memory."""
    from ranking import explore

    db, path = _shortlist_db(tmp_path)
    rows = _read(path)
    rows[0]["decision"] = "keep"
    _save(path, rows)
    assert cli.main(["feedback", str(path), "--db", str(db)]) == 0
    _as_schema_1(db)
    snap = explore.open_store(db)
    assert snap.execute("SELECT count(title) FROM shortlist_rows").fetchone() == (0,)
    snap.close()
    capsys.readouterr()
    code, out, err = rank(["draft", "--week", WEEK, "--db", str(db)], capsys)
    assert (code, err) == (0, "") and f"1、[{rows[0]['title']}]" in out
    with store.open_store(db, read_only=True) as con:
        assert store.check_version(con) == store.SCHEMA_VERSION


def test_the_precision_report_counts_the_latest_shortlist_of_a_week(tmp_path):
    """Rows of a week's earlier run stay stored (they can be fed back), but `rank report`
    counts what the latest run showed: 24 rows, not the 36 the two runs showed together."""
    import time

    import pandas as pd

    def run(ids: list[int]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "id": [f"c-{i:016x}" for i in ids],
                "url_canonical": [f"https://x.example/{i}" for i in ids],
                "section": "article",
                "rank": range(1, len(ids) + 1),
                "score": 1.0,
                "title": [f"Story {i}" for i in ids],
                "url": [f"https://x.example/{i}" for i in ids],
            }
        )

    with store.open_store(tmp_path / "r.duckdb") as con:
        store.save_shortlist_rows(con, WEEK, run(list(range(1, 25))))
        time.sleep(0.01)
        store.save_shortlist_rows(con, WEEK, run(list(range(13, 37))))
        decisions = [
            {
                "candidate_id": f"c-{13:016x}",
                "canonical_url": "https://x.example/13",
                "decision": "keep",
                "section_override": None,
                "note": None,
                "row_number": 2,
            }
        ]
        store.apply_decisions(con, WEEK, "f.csv", decisions)
        report = store.precision_report(con)
        assert len(store.shortlist_ids(con, WEEK)) == 36
    assert report[["shown", "decided", "kept"]].values.tolist() == [[24, 1, 1]]


def test_csv_rows_are_named_by_their_record_past_blank_lines_and_quoted_newlines(
    tmp_path, capsys, caplog
):
    """Blank lines above the header are skipped; a row is named as a spreadsheet shows
    it, as `rank feedback` names a shortlist's rows (the header is the row of its line, a
    blank line counts, a quoted newline does not), whether DuckDB or the URL check skips
    it."""
    path = tmp_path / "gaps.csv"
    path.write_text(
        "\n\n"
        + SIGHTINGS_HEADER
        + "hackernews,hn:frontpage,2025-02-10,A,https://example.org/a,5\n"
        + "\n"
        + "hackernews,hn:frontpage,2025-02-10,short\n"
        + 'hackernews,hn:frontpage,2025-02-10,"two\nlines",https://example.org/b,5\n'
        + "hackernews,hn:frontpage,2025-02-10,C,http://,5\n",
        encoding="utf-8",
    )
    code, out, _err = rank(["import-sightings", str(path), "--db", str(tmp_path / "r.db")], capsys)
    assert code == 0 and "2 sightings loaded" in out
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"{path}: row 6 skipped: 4 cells, the header has 6",
        f"{path}: row 8 skipped: invalid URL 'http://'",
    ]
    # rank feedback's reader numbers the rows of a CSV alike.
    _header, rows, _meta = csvio.read_csv_rows(path)
    assert [(r.row_number, r["title"]) for r in rows if r["title"] in ("short", "C")] == [
        (6, "short"),
        (8, "C"),
    ]


# A multi-line cell, then a row of too few cells, then an invalid URL.
MULTI_LINE_THEN_SHORT_ROW = (
    "candidate_id,feed,source,source_repo,seen_date,seen_ts,title,url,canonical_url,repo_key,host,description,stars,stars_today,forks,language,points,comments,rank,section,url_kind,extra\n"
    '1,github_trending,github_trending_bonfy,bonfy/github-trending,2023-04-01,,hpcaitech/ColossalAI,https://github.com/hpcaitech/ColossalAI,github.com/hpcaitech/colossalai,github.com/hpcaitech/colossalai,github.com,"Making\n'
    "multi\n"
    'line large AI models cheaper, faster and more accessible",,,,python,,,1,trending:python,original,\n'
    '2,github_trending,github_trending_bonfy,bonfy/github-trending,2023-04-01,,nomic-ai/gpt4all,https://github.com/nomic-ai/gpt4all,github.com/nomic-ai/gpt4all,github.com/nomic-ai/gpt4all,github.com,"gpt4all: a chatbot trained on a massive collection of clean assistant data including code, stories and dialogue",,,,python,,,2,trending:python,original,\n'
    "x,y\n"
    "3,github_trending,github_trending_bonfy,bonfy/github-trending,2023-04-01,,ZrrSkywalker/LLaMA-Adapter,ftp://nope/ZrrSkywalker/LLaMA-Adapter,github.com/zrrskywalker/llama-adapter,github.com/zrrskywalker/llama-adapter,github.com,Fine-tuning LLaMA to follow instructions within 1 Hour and 1.2M Parameters,,,,python,,,3,trending:python,original,\n"
    "4,github_trending,github_trending_bonfy,bonfy/github-trending,2023-04-01,,Kent0n-Li/ChatDoctor,https://github.com/Kent0n-Li/ChatDoctor,github.com/kent0n-li/chatdoctor,github.com/kent0n-li/chatdoctor,github.com,,,,,python,,,4,trending:python,original,\n"
)


def test_a_row_after_a_multi_line_cell_and_a_short_row_is_named_by_its_true_row(
    tmp_path, capsys, caplog
):
    """DuckDB numbers the rows it rejects by record, which were taken for physical lines:
    the short row matched no record, the rows read then outnumbered the records kept, and
    each was named by its place among them (the invalid URL as row 4, the short row's)."""
    path = tmp_path / "multi.csv"
    path.write_text(MULTI_LINE_THEN_SHORT_ROW, encoding="utf-8")
    code, out, _err = rank(["import-sightings", str(path), "--db", str(tmp_path / "r.db")], capsys)
    assert code == 0 and "3 sightings loaded" in out
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"{path}: row 4 skipped: 2 cells, the header has 22",
        f"{path}: row 5 skipped: invalid URL 'ftp://nope/ZrrSkywalker/LLaMA-Adapter'",
    ]


def test_a_quote_never_closed_refuses_the_file_naming_its_line(tmp_path, capsys):
    """Read on, the open quote swallowed every later row, unnamed and uncounted."""
    path = tmp_path / "quote.csv"
    path.write_text(
        SIGHTINGS_HEADER
        + "hackernews,hn:frontpage,2025-02-10,A,https://example.org/a,5\n"
        + 'hackernews,hn:frontpage,2025-02-10,"unclosed,https://example.org/b,5\n'
        + "hackernews,hn:frontpage,2025-02-10,C,https://example.org/c,5\n",
        encoding="utf-8",
    )
    code, _out, err = rank(["import-sightings", str(path), "--db", str(tmp_path / "r.db")], capsys)
    assert code == 1
    assert err == f"rank: error: {path}: cannot read sightings: row 3: a quote is never closed\n"


def test_a_title_with_markup_is_shown_as_text_and_a_terminal_table_fits_it(tmp_path, capsys):
    """`rank candidates` and `rank --week W --format table` crashed with a traceback on a
    title `[/b] …` (rich markup), and the table was 160 columns on any terminal."""
    import pty

    day = dt.date.today().isoformat()
    path = tmp_path / "s.csv"
    path.write_text(
        SIGHTINGS_HEADER
        + f"hackernews,hn:frontpage,{day},Python [/b] closing tag,https://example.org/1,50\n"
        + f'hackernews,hn:frontpage,{day},"dict[str, list[int]] tips",https://example.org/2,40\n',
        encoding="utf-8",
    )
    db = tmp_path / "r.db"
    assert rank(["import-sightings", str(path), "--db", str(db)], capsys)[0] == 0
    code, out, err = rank(["candidates", "--db", str(db)], capsys)
    assert (code, err) == (0, "")
    assert "[/b] closing tag" in out and "dict[str, list[int]] tips" in out
    week = str(IsoWeek.of(dt.date.today()))
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "60", "LINES": "40", "TERM": "dumb"}
    run = subprocess.run(
        [sys.executable, "-m", "ranking.cli", "--week", week, "--db", str(db), "--format", "table"],
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
        timeout=120,
        check=False,
    )
    os.close(follower)
    screen = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(leader, 65536):
            screen += chunk
    os.close(leader)
    lines = screen.decode("utf-8").replace("\r\n", "\n").splitlines()
    assert run.returncode == 0, run.stderr
    assert "[/b]" in screen.decode("utf-8")
    assert max(map(len, lines)) <= 60
