"""`make demo`: the whole weekly loop, offline, on a bundled sample web (never the real DB).

Steps (each one a real command: `crawl` in its own process, the `rank` commands through
their console script's entry point in this one, so pandas and scikit-learn load once;
the first failing step ends the demo with one line ``demo: error: <step> failed …`` and
exit 1):

1. prepare: remove the previous demo output, copy ``data/sample/web`` to ``DEMO/web``
   with its date placeholders resolved against now, so the sample items are always
   recent (``{{iso:-2d5h}}``, ``{{rfc822:-3d}}``, ``{{unix:-1d}}``, ``{{date:-1d}}``;
   see ``data/sample/web/routes.toml``);
2. replay: start ``crawler.replay`` on 127.0.0.1 with an ephemeral port serving
   ``DEMO/web`` (the server itself replaces ``{base}`` in the bodies);
3. sources: write ``DEMO/sources.toml``, ``data/sample/sources.toml`` with ``{base}``
   replaced by the replay's base URL;
4. import-issues: ``rank import-issues data/sample/archive --db DEMO/radar.duckdb``;
   history: ``data/sample/history-sightings.csv`` (what the sources showed in the weeks
   before those issues) is loaded with ``store.load_sightings_file``, so the ranker has
   past pools with the curator's picks to fit on;
5. crawl: ``crawl --sources DEMO/sources.toml --data-dir DEMO --db DEMO/radar.duckdb``
   with ``RADAR_ALLOW_HOSTS=127.0.0.1`` (the address guard lets the replay through),
   ``RADAR_GITHUB_API=<base>/api.github.com`` and ``RADAR_SOCKET_GUARD=1`` (no
   connection or DNS lookup beyond loopback, whatever the sample links to);
6. shortlist: ``rank --week <this ISO week> --out DEMO/shortlists/<week>.csv``;
7. draft: the same with ``--format md`` into ``DEMO/shortlists/<week>.md``;
8. table: the top of each section in the terminal, with reasons (``--format table``).

``DEMO`` is ``data/demo`` in the checkout, or env ``RADAR_DEMO_DIR``, or ``--dir``. The
replay's request log is written to ``DEMO/replay-requests.jsonl`` (method, path, Host)
so anyone can check that the crawl only talked to the local web.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from crawler.items import SECTIONS
from ranking.weeks import IsoWeek

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
DEFAULT_DIR = REPO / "data" / "demo"
DIR_ENV = "RADAR_DEMO_DIR"
MARKER = ".radar-demo"  # only folders carrying it (or empty ones) are ever cleaned
HISTORY_SIGHTINGS = "history-sightings.csv"  # past sightings of the sample issues' weeks
TABLE_TOP = 5  # rows per section in the terminal table

# {{iso:-2d5h}}: a date relative to now; offsets are +/- followed by Nd, Nh, Nm parts.
PLACEHOLDER = re.compile(r"\{\{(iso|rfc822|unix|date):([+-])((?:\d+[dhm])+)\}\}")
_PART = re.compile(r"(\d+)([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
TEXT_SUFFIXES = frozenset({"", ".xml", ".json", ".html", ".htm", ".txt", ".rss", ".atom"})


class DemoError(Exception):
    """A demo step failed; the message is the one line the user sees."""


def resolve_dates(text: str, now: dt.datetime) -> str:
    """Replace every ``{{kind:±offset}}`` placeholder with now ± offset in that format."""

    def replace(m: re.Match[str]) -> str:
        kind, sign, offset = m.groups()
        delta = dt.timedelta(**{_UNITS[u]: int(n) for n, u in _PART.findall(offset)})
        when = now + delta if sign == "+" else now - delta
        if kind == "iso":
            return when.strftime("%Y-%m-%dT%H:%M:%SZ")
        if kind == "rfc822":
            return when.strftime("%a, %d %b %Y %H:%M:%S +0000")
        if kind == "unix":
            return str(int(when.timestamp()))
        return when.strftime("%Y-%m-%d")

    return PLACEHOLDER.sub(replace, text)


def copy_web(src: Path, dst: Path, now: dt.datetime) -> int:
    """Copy the sample web with its date placeholders resolved; returns the file count."""
    count = 0
    for path in sorted(src.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() in TEXT_SUFFIXES and path.name != "routes.toml":
            target.write_text(
                resolve_dates(path.read_text(encoding="utf-8"), now), encoding="utf-8"
            )
        else:
            shutil.copyfile(path, target)
        count += 1
    return count


def clean_dir(demo: Path) -> None:
    """Empty the demo folder of a previous run; refuse folders the demo did not make."""
    if demo.exists():
        if not demo.is_dir():
            raise DemoError(f"prepare failed: {demo} exists and is not a folder")
        if any(demo.iterdir()) and not (demo / MARKER).exists():
            raise DemoError(
                f"prepare failed: {demo} is not empty and was not made by the demo "
                f"(no {MARKER}); choose another folder with {DIR_ENV}"
            )
        shutil.rmtree(demo)
    demo.mkdir(parents=True)
    (demo / MARKER).write_text("made by `python -m ranking.demo`; removed by the next run\n")


def write_sources(template: Path, out: Path, base: str) -> None:
    """The demo's sources file with ``{base}`` replaced by the replay's base URL."""
    out.write_text(template.read_text(encoding="utf-8").replace("{base}", base), encoding="utf-8")


def _env(base: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RADAR_DB", None)  # never the user's real database
    for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env.pop(key, None)
    env.update(
        {
            "RADAR_ALLOW_HOSTS": "127.0.0.1",
            "RADAR_GITHUB_API": f"{base}/api.github.com",
            "RADAR_SOCKET_GUARD": "1",  # no connection and no DNS lookup beyond loopback
            "RADAR_DOWNLOAD_DELAY": "0",  # one local host: no need for the polite floor
            "RADAR_DOWNLOAD_TIMEOUT": "10",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
    )
    return env


def _header(step: str, program: str, argv: Sequence[str], cwd: Path) -> float:
    shown = " ".join([program, *(_short(a, cwd) for a in argv)])
    print(f"\n[demo] {step}: {shown}", flush=True)
    return time.monotonic()


def _done(step: str, started: float) -> None:
    print(f"[demo] {step}: ok ({time.monotonic() - started:.1f}s)", flush=True)


def run_crawl(argv: Sequence[str], env: dict[str, str], cwd: Path) -> None:
    """`crawl` in its own process (Scrapy's reactor, the lock, its own exit codes)."""
    started = _header("crawl", "crawl", argv, cwd)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "crawler.cli", *argv], env=env, cwd=cwd, check=False
        )
    except OSError as exc:
        raise DemoError(f"crawl failed: cannot start {sys.executable}: {exc}") from None
    if proc.returncode != 0:
        raise DemoError(f"crawl failed (exit {proc.returncode}); see the messages above")
    _done("crawl", started)


def run_rank(step: str, argv: Sequence[str], cwd: Path) -> None:
    """A `rank` command in this process (pandas and scikit-learn are imported once).

    It is the console script's own entry point, ``ranking.cli.main``; an unexpected crash
    becomes the step's one-line error and its traceback goes to ``DEMO/demo-error.log``.
    """
    from ranking import cli

    started = _header(step, "rank", argv, cwd)
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    except Exception as exc:
        (cwd / "demo-error.log").write_text(traceback.format_exc(), encoding="utf-8")
        raise DemoError(
            f"{step} failed: {type(exc).__name__}: {exc} (traceback in {cwd / 'demo-error.log'})"
        ) from None
    finally:
        sys.stdout.flush()
    if code != 0:
        raise DemoError(f"{step} failed (exit {code}); see the messages above")
    _done(step, started)


def _short(arg: str, cwd: Path) -> str:
    for root, label in ((cwd, "DEMO"), (REPO, ".")):
        if arg.startswith(str(root)):
            return label + arg[len(str(root)) :]
    return arg


def load_history_sightings(db: Path, path: Path) -> None:
    """Load what the sources showed before the sample issues: the fit's training pools."""
    from ranking import store
    from ranking.errors import RankingError

    print(f"\n[demo] history: past sightings from {_short(str(path), db.parent)}", flush=True)
    try:
        with store.open_store(db) as con:
            counts = store.load_sightings_file(con, path)
    except RankingError as exc:
        raise DemoError(f"history failed: {exc}") from None
    skipped = counts.get("invalid_url", 0)
    note = f", {skipped} rows with invalid URLs skipped" if skipped else ""
    print(f"[demo] history: ok ({counts.get('inserted', 0)} sightings{note})", flush=True)


def _write_request_log(server: object, path: Path) -> int:
    records = getattr(server, "requests", [])
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            line = {
                "method": r.method,
                "path": r.target,
                "host": r.headers.get("Host") or r.headers.get("host"),
                "user_agent": r.headers.get("User-Agent") or r.headers.get("user-agent"),
            }
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    return len(records)


def run(demo: Path, sample: Path = SAMPLE) -> dict[str, Path]:
    """Run every step; returns the outputs. Raises DemoError naming the failing step."""
    from crawler.errors import ConfigError
    from crawler.replay import ReplayServer
    from crawler.runstate import RAW_DIR

    started = time.monotonic()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    week = str(IsoWeek.of(now.date()))
    demo = demo.resolve()
    for needed in (
        sample / "web",
        sample / "sources.toml",
        sample / "archive",
        sample / HISTORY_SIGHTINGS,
    ):
        if not needed.exists():
            raise DemoError(f"prepare failed: {needed} is missing")

    clean_dir(demo)
    files = copy_web(sample / "web", demo / "web", now)
    print(f"[demo] sample web: {files} files copied to {demo / 'web'} (dates relative to now)")

    try:
        server = ReplayServer(demo / "web")
        base = server.start()
    except (ConfigError, OSError) as exc:
        raise DemoError(f"replay failed: {exc}") from None
    print(f"[demo] replay: serving the sample web on {base}")
    outputs = {
        "database": demo / "radar.duckdb",
        "shortlist": demo / "shortlists" / f"{week}.csv",
        "draft": demo / "shortlists" / f"{week}.md",
        "requests": demo / "replay-requests.jsonl",
    }
    db = str(outputs["database"])
    try:
        sources = demo / "sources.toml"
        write_sources(sample / "sources.toml", sources, base)
        env = _env(base)
        run_rank("import-issues", ["import-issues", str(sample / "archive"), "--db", db], demo)
        load_history_sightings(outputs["database"], sample / HISTORY_SIGHTINGS)
        run_crawl(["--sources", str(sources), "--data-dir", str(demo), "--db", db], env, demo)
        outputs["shortlist"].parent.mkdir(parents=True, exist_ok=True)
        week_args = ["--week", week, "--db", db]
        run_rank("shortlist", [*week_args, "--out", str(outputs["shortlist"])], demo)
        run_rank("draft", [*week_args, "--format", "md", "--out", str(outputs["draft"])], demo)
        quotas = [f"--quota={s}={TABLE_TOP}" for s in SECTIONS]
        run_rank("table", [*week_args, "--format", "table", *quotas], demo)
    finally:
        hits = _write_request_log(server, outputs["requests"])
        server.stop()
    for step, key in (("shortlist", "shortlist"), ("draft", "draft")):
        if not outputs[key].is_file():
            raise DemoError(f"{step} failed: {outputs[key]} was not written")
    elapsed = time.monotonic() - started
    print(f"\n[demo] done in {elapsed:.0f}s; the replay answered {hits} requests on {base}")
    print(f"[demo] week {week}; everything is under {demo}:")
    for label, key in (
        ("shortlist (open in a spreadsheet)", "shortlist"),
        ("markdown draft", "draft"),
        ("database", "database"),
        ("raw crawl files", None),
        ("replay request log", "requests"),
    ):
        path = outputs[key] if key else demo / RAW_DIR
        print(f"  {label:<34} {path}")
    return outputs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ranking.demo",
        description="Run the whole weekly loop offline on the bundled sample web: replay "
        "server on 127.0.0.1, sample archive import, a real crawl, a real ranking. "
        "Everything lands in the demo folder (removed and rebuilt on every run).",
        epilog="example: python -m ranking.demo --dir /tmp/radar-demo",
    )
    parser.add_argument(
        "--dir",
        metavar="DIR",
        help=f"demo output folder (default: env {DIR_ENV}, else data/demo in the checkout), "
        "e.g. --dir /tmp/radar-demo",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if os.environ.get("RADAR_SOCKET_GUARD") == "1":  # the test suite: loopback only, here too
        from crawler.guard import install_socket_guard

        install_socket_guard()
    demo = Path(args.dir or os.environ.get(DIR_ENV) or DEFAULT_DIR)
    try:
        run(demo)
    except DemoError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
