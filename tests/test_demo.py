"""`make demo` (ranking.demo): date placeholders, folder safety, and the whole loop end to end.

The end-to-end test runs ``python -m ranking.demo`` once in a temporary folder
(env RADAR_DEMO_DIR) with the suite's socket guard inherited (RADAR_SOCKET_GUARD=1), so
nothing but 127.0.0.1 can be contacted; the replay's request log shows what was.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ranking import demo
from ranking.weeks import IsoWeek

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
NOW = dt.datetime(2026, 3, 4, 12, 0, 0, tzinfo=dt.UTC)


# -- date placeholders -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{iso:-2d}}", "2026-03-02T12:00:00Z"),
        ("{{iso:-1d2h30m}}", "2026-03-03T09:30:00Z"),
        ("{{rfc822:-3d}}", "Sun, 01 Mar 2026 12:00:00 +0000"),
        ("{{unix:-1h}}", str(int(NOW.timestamp()) - 3600)),
        ("{{date:+1d}}", "2026-03-05"),
        ('"created": {{unix:-0m}},', f'"created": {int(NOW.timestamp())},'),
        (
            "{base}/feed.xml {{iso}} {{iso:2d}} {{when:-1d}}",
            "{base}/feed.xml {{iso}} {{iso:2d}} {{when:-1d}}",
        ),
    ],
)
def test_resolve_dates(template: str, expected: str) -> None:
    assert demo.resolve_dates(template, NOW) == expected


def test_sample_web_has_no_unresolved_placeholder_after_copy(tmp_path: Path) -> None:
    count = demo.copy_web(SAMPLE / "web", tmp_path, NOW)
    assert count >= 20
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "routes.toml":
            text = path.read_text(encoding="utf-8")
            assert "{{" not in text, path
    # the JSON bodies are valid once their numeric placeholders are resolved
    for rel in (
        "hn.algolia.com/api/v1/search",
        "lobste.rs/t/python.json",
        "www.reddit.com/r/Python/hot.json",
        "api.github.com/repos/astral-sh/ty",
    ):
        json.loads((tmp_path / rel).read_text(encoding="utf-8"))


def test_sample_sources_resolve_to_the_replay(tmp_path: Path) -> None:
    from crawler.sources import load_sources

    out = tmp_path / "sources.toml"
    demo.write_sources(SAMPLE / "sources.toml", out, "http://127.0.0.1:8765")
    sources = load_sources(out)
    kinds = {s.kind for s in sources}
    expected = {"feed", "newsletter", "github_trending", "hackernews", "lobsters", "reddit", "page"}
    assert expected <= kinds
    assert all(s.url.startswith("http://127.0.0.1:8765/") for s in sources)


def test_week_of_a_day() -> None:
    assert str(IsoWeek.of(dt.date(2026, 1, 1))) == "2026-W01"
    assert str(IsoWeek.of(dt.date(2027, 1, 1))) == "2026-W53"


# -- the demo folder ---------------------------------------------------------------------


def test_clean_dir_rebuilds_its_own_folder(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    demo.clean_dir(folder)
    (folder / "old.csv").write_text("x")
    demo.clean_dir(folder)  # a second run starts from scratch
    assert sorted(p.name for p in folder.iterdir()) == [demo.MARKER]


def test_clean_dir_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.duckdb").write_text("x")
    with pytest.raises(demo.DemoError, match="not made by the demo"):
        demo.clean_dir(tmp_path)
    assert (tmp_path / "precious.duckdb").exists()


def test_missing_sample_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(demo.DemoError, match=r"^prepare failed: .*web is missing"):
        demo.run(tmp_path / "demo", sample=tmp_path / "nothing")


@pytest.mark.slow  # a crawl process: ~1 s with bytecode caches, ~10 s without
def test_a_failing_step_is_one_line_naming_it(tmp_path: Path) -> None:
    env = demo._env("http://127.0.0.1:9")
    with pytest.raises(demo.DemoError, match=r"^crawl failed \(exit 2\)"):
        demo.run_crawl(["--sources", str(tmp_path / "missing.toml")], env, tmp_path)
    with pytest.raises(demo.DemoError, match=r"^shortlist failed \(exit 2\)"):
        demo.run_rank("shortlist", ["--week", "2026-W99"], tmp_path)


def test_help() -> None:
    with pytest.raises(SystemExit) as exc:
        demo.main(["--help"])
    assert exc.value.code == 0


# -- end to end ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    folder = tmp_path_factory.mktemp("radar") / "demo"
    env = dict(os.environ, RADAR_DEMO_DIR=str(folder), RADAR_SOCKET_GUARD="1")
    env.pop("RADAR_DB", None)
    proc = subprocess.run(
        [sys.executable, "-m", "ranking.demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc, folder


@pytest.mark.slow
def test_demo_crawls_only_the_local_web(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, folder = demo_run
    log = folder / "replay-requests.jsonl"
    assert log.is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    requests = [json.loads(line) for line in log.read_text().splitlines()]
    assert requests, "the replay saw no request"
    assert {urlsplit("//" + r["host"]).hostname for r in requests} == {"127.0.0.1"}
    hit = {r["path"] for r in requests}
    sources = tomllib.loads((folder / "sources.toml").read_text())["source"]
    for source in sources:
        parts = urlsplit(source["url"])
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        assert target in hit, f"source {source['name']} was not fetched"
    assert "/robots.txt" in hit
    assert sum(p.startswith("/api.github.com/repos/") for p in hit) >= 10  # repo metadata
    # every source of the sample web parsed fine
    raws = sorted((folder / "raw").glob("*.jsonl"))
    assert len(raws) == 1
    records = [json.loads(line) for line in raws[0].read_text().splitlines()]
    fetches = [r for r in records if r["type"] == "fetch" and not r["source"].startswith("_")]
    extras = {r["source"]: r for r in records if r["type"] == "fetch" and r["source"][0] == "_"}
    # repository metadata came from the replay; no request failed (none left loopback)
    assert extras["_github_api"]["items"] >= 10
    assert all(r["errors"] == 0 for r in extras.values()), extras
    assert {f["source"] for f in fetches} == {s["name"] for s in sources}
    assert {f["status"] for f in fetches} == {"ok"}, fetches
    assert all(f["items"] > 0 for f in fetches), fetches
    # nothing landed outside the demo folder's database
    assert (folder / "radar.duckdb").is_file()


@pytest.mark.slow
def test_demo_writes_shortlist_and_draft(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, folder = demo_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    week = str(IsoWeek.of(dt.datetime.now(dt.UTC).date()))
    shortlist = folder / "shortlists" / f"{week}.csv"
    draft = folder / "shortlists" / f"{week}.md"
    assert str(shortlist) in proc.stdout and str(draft) in proc.stdout
    with shortlist.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    sections = {(r.get("section") or "").strip() for r in rows}
    assert len(sections - {""}) >= 3, sections
    urls = " ".join(r.get("url", "") for r in rows)
    # already featured in the sample archive: never shortlisted again
    assert "github.com/astral-sh/ruff" not in urls
    assert "realpython.com/python-f-strings" not in urls
    # the same release seen on a blog, HN, Lobsters and Reddit is one row
    release = [r for r in rows if "python-3141" in r.get("url", "")]
    assert len(release) == 1
    assert len(release[0]["sources"].split(";")) >= 3, release
    # the newsletter's links are items of their own, under the archive's label, and an
    # article it shares with Real Python is one row with both sources
    free_threading = [r for r in rows if "python-free-threading" in r.get("url", "")]
    assert len(free_threading) == 1
    assert {"python_weekly", "real-python"} <= set(free_threading[0]["sources"].split(";"))
    assert "picked by Python Weekly" in free_threading[0]["reason"]
    assert "events.example.org" not in urls and "jobs.example.com" not in urls
    assert draft.read_text(encoding="utf-8").strip()
    assert "reason" in proc.stdout  # the terminal table with its reasons
