"""Smoke test of the benchmarks: each script runs end to end in --quick mode and prints its table.

Never a timed assertion: the figures of a --quick run are meaningless, and the machine is
shared. What is checked is that every script still runs against the current code (entry
points, record formats, settings names) and produces its report.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, require_shared

BENCH = REPO / "benchmarks"

CASES = [
    pytest.param("bench_feeds.py", ["--quick"], (), id="feeds"),
    pytest.param("bench_ingest.py", ["--quick", "--sizes", "2000"], (), id="ingest"),
    pytest.param("bench_crawl.py", ["--quick", "--pages", "40", "--feeds", "4"], (), id="crawl"),
    pytest.param(
        "bench_history.py",
        ["--quick"],
        ("datasets", "python-weekly"),
        id="history",
        marks=pytest.mark.shared,
    ),
    pytest.param(
        "bench_rank.py",
        ["--quick", "--sizes", "300,600"],
        ("datasets", "python-weekly"),
        id="rank",
        marks=[pytest.mark.shared, pytest.mark.slow],
    ),
    pytest.param(
        "bench_backtest.py",
        ["--quick"],
        ("datasets", "sightings"),
        id="backtest",
        marks=[pytest.mark.shared, pytest.mark.slow],
    ),
]


def _run(args: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


ANCHORS = {"bench_feeds.py": "C3 anchor", "bench_ingest.py": "D1 anchor"}


@pytest.mark.parametrize(("script", "args", "needs"), CASES)
def test_benchmark_runs_and_prints_its_table(
    script: str, args: list[str], needs: tuple[str, ...], tmp_path: Path
) -> None:
    if needs:
        require_shared(*needs)
    out = tmp_path / "result.json"
    proc = _run([str(BENCH / script), *args, "--json", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "command: `.venv/bin/python benchmarks/" in proc.stdout
    assert "|---|" in proc.stdout, proc.stdout[-2000:]  # a markdown table was printed
    assert "| target | goal | measured | met |" in proc.stdout
    if script in ANCHORS:  # measured against the baseline ../shared/PERFORMANCE.md names
        assert ANCHORS[script] in proc.stdout
    assert out.exists()


def test_run_all_writes_the_document(tmp_path: Path) -> None:
    doc = tmp_path / "PERFORMANCE.md"
    doc.write_text(
        "old\n<!-- findings:start (kept by run_all.py) -->\nkeep me\n<!-- findings:end -->\n"
    )
    proc = _run([str(BENCH / "run_all.py"), "--quick", "--only", "feeds", "--out", str(doc)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = doc.read_text()
    assert "## Targets" in text
    assert "## 2. Feed parsing" in text
    assert "cores" in text and "feedparser" in text
    assert "keep me" in text  # the hand-written findings survive a rewrite
    # Quick figures say so: they must not pass for the measured page.
    assert "**Smoke run:** feeds ran with `--quick`" in text


@pytest.mark.shared
@pytest.mark.slow
def test_model_choice_prints_each_model_beside_the_shipped_one() -> None:
    """The alternatives and a scorer without one feature, each with its difference to the
    shipped one, on the sightings without a feed; an unknown model is a usage error."""
    require_shared("datasets", "sightings")
    args = ["--issues", "5-6", "--models=hgb,spline,-mentions_python"]
    proc = _run([str(BENCH / "model_choice.py"), *args, "--without-feed", "python_weekly"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "(issues 5-6, without python_weekly)" in proc.stdout
    assert re.search(r"signal +hgb +spline +-mentions_python", proc.stdout), proc.stdout
    lines = [line for line in proc.stdout.splitlines() if line.startswith("tuning #1-#40")]
    assert lines, proc.stdout
    for line in lines:  # the shipped model's figure, then each other model with its difference
        assert re.search(r"^tuning #1-#40 +\w+ +\d\.\d{3} ", line), line
        assert len(re.findall(r"\d\.\d{3} \([+-]\d\.\d{3}\)", line)) == 3, line
    for model in ("-no_such_feature", "xkw_tool"):  # a feature's name needs the dash
        bad = _run([str(BENCH / "model_choice.py"), f"--models={model}"])
        assert bad.returncode == 2
        assert f"unknown model '{model}'" in bad.stderr


def test_title_only_archive_keeps_every_item_title_and_drops_the_links(tmp_path) -> None:
    """The rewritten issues read back (with ranking.history) as title-only issues with
    the same items per section and the same titles, and no link is left."""
    from ranking import history

    source = REPO / "data" / "sample" / "archive"
    proc = _run([str(BENCH / "title_only_archive.py"), str(source), str(tmp_path / "to"), "1-4"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("title-only") == 4
    before, _, _ = history.read_archive(source)
    after, _, problems = history.read_archive(tmp_path / "to")
    assert not problems
    rewritten = [issue for issue in after if issue.issue_no <= 4]
    assert len(rewritten) == 4 and all(issue.kind == "title_only" for issue in rewritten)
    assert [(i.issue_no, i.kind) for i in after[4:]] == [(i.issue_no, i.kind) for i in before[4:]]
    for old, new in zip(before[:4], rewritten, strict=True):
        listed = history.LISTED_SECTIONS  # a book giveaway paragraph stays a paragraph
        assert [
            (it.section, it.position, it.title_zh) for it in new.items if it.section in listed
        ] == [(it.section, it.position, it.title_zh) for it in old.items if it.section in listed], (
            old.issue_no
        )
        assert all(it.url is None for it in new.items)
    assert "](http" not in (tmp_path / "to" / "docs" / "2025-01-04-weekly.md").read_text("utf-8")


@pytest.mark.shared
@pytest.mark.slow
def test_late_ranking_prints_both_runs_per_section() -> None:
    require_shared("datasets", "sightings")
    proc = _run([str(BENCH / "late_ranking.py"), "--issues", "5-5", "--days", "2"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = re.findall(
        r"^(project|article) +(on the day|2 d late) +\d+ +\d\.\d{3} +\d\.\d{3}$",
        proc.stdout,
        flags=re.M,
    )
    assert len(rows) == 4, proc.stdout
