"""Shared plumbing of the benchmarks: child processes, interleaved repeats, tables, machine.

Every benchmark measures our code and a baseline *in the same run*, alternating the
order of the configurations between repeats, and reports medians and ratios. The machine
is shared (other tenants hold cores), so the steadiest figure is CPU time per item,
measured inside the process that does the work; wall time is reported next to it.

A measurement that needs a fresh interpreter (a crawl, a memory peak) runs as a child
process: the child prints one ``BENCH_RESULT {json}`` line with what it measured itself
(CPU and wall time of the measured section only, not the imports), and the parent adds
the child's peak RSS from ``os.wait4`` (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
BENCH_DIR = Path(__file__).resolve().parent
PY = sys.executable
RESULT_TAG = "BENCH_RESULT "

LIBRARIES = (
    "scrapy",
    "twisted",
    "aiohttp",
    "lxml",
    "feedparser",
    "fastfeedparser",
    "duckdb",
    "pyarrow",
    "pandas",
    "numpy",
    "scipy",
    "scikit-learn",
    "datasketch",
    "rapidfuzz",
)


# --- arguments and results ---------------------------------------------------------------


def parser(description: str, repeats: int = 3) -> argparse.ArgumentParser:
    """The options every benchmark script takes (``--quick``, ``--repeats``, ``--json``)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny inputs and one repeat: checks the script end to end (smoke test), "
        "figures are meaningless",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help=f"interleaved repeats per configuration (default {repeats}; 1 with --quick), "
        "e.g. --repeats 5",
    )
    p.add_argument(
        "--json", metavar="PATH", help="also write the results as JSON, e.g. --json /tmp/b.json"
    )
    p.set_defaults(default_repeats=repeats)
    return p


def repeats_of(args: argparse.Namespace) -> int:
    if args.repeats:
        return max(1, args.repeats)
    return 1 if args.quick else args.default_repeats


@dataclass
class Target:
    """One contract figure: what is asked, what was measured, met or not (None: not run)."""

    name: str
    goal: str
    value: str
    met: bool | None
    note: str = ""


@dataclass
class Report:
    """What a benchmark prints and what `run_all` puts in docs/PERFORMANCE.md."""

    name: str
    title: str
    command: str
    quick: bool
    tables: list[tuple[str, str]] = field(default_factory=list)  # (caption, markdown)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def table(self, caption: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        self.tables.append((caption, markdown_table(headers, rows)))

    def emit(self, json_path: str | None) -> None:
        """Print the tables (and targets) and optionally write the JSON file."""
        print(f"## {self.title}\n")
        print(f"command: `{self.command}`{' (quick mode)' if self.quick else ''}\n")
        for caption, text in self.tables:
            if caption:
                print(f"{caption}\n")
            print(text + "\n")
        if self.targets:
            print(
                markdown_table(
                    ("target", "goal", "measured", "met"),
                    [
                        (
                            t.name,
                            t.goal,
                            t.value,
                            verdict(t.met) + (f" ({t.note})" if t.note else ""),
                        )
                        for t in self.targets
                    ],
                )
                + "\n"
            )
        for note in self.notes:
            print(f"- {note}")
        sys.stdout.flush()
        if json_path:
            payload = {
                "name": self.name,
                "title": self.title,
                "command": self.command,
                "quick": self.quick,
                "tables": self.tables,
                "targets": [t.__dict__ for t in self.targets],
                "notes": self.notes,
                "data": self.data,
            }
            Path(json_path).write_text(json.dumps(payload, indent=1, default=str), "utf-8")


def argparse_hidden() -> str:
    """Help text for internal options (the child-process switches)."""
    return argparse.SUPPRESS


def time_target(
    name: str, goal_s: float, wall_s: float, cpu_s: float, load: float, quick: bool = False
) -> Target:
    """A wall-time target judged fairly on a shared box.

    Met when the wall time is within the goal. When it is not, but the CPU time is and the
    load average during the run exceeded the cores (other tenants' jobs), the wall time
    says more about the neighbours than about our code: the target counts as met on CPU,
    and the note says so.
    """
    cores = os.cpu_count() or 1
    value = f"{wall_s:,.1f} s wall, {cpu_s:,.1f} s CPU (load avg {load:.1f} on {cores} cores)"
    if quick:
        return Target(name, f"≤ {goal_s:,.0f} s", value, None)
    if wall_s <= goal_s:
        return Target(name, f"≤ {goal_s:,.0f} s", value, True)
    if cpu_s <= goal_s and load > cores:
        return Target(
            name, f"≤ {goal_s:,.0f} s", value, True, "met on CPU time; wall inflated by load"
        )
    return Target(name, f"≤ {goal_s:,.0f} s", value, False)


def verdict(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "not measured"}[met]


def command_line(script: str, args: argparse.Namespace) -> str:
    """The command that reproduces this run (the ``--json`` output path left out)."""
    argv = sys.argv[1:]
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--json":
            skip = True
            continue
        if arg.startswith("--json="):
            continue
        kept.append(arg)
    return " ".join([".venv/bin/python", f"benchmarks/{script}", *kept])


# --- measuring ---------------------------------------------------------------------------


class Clock:
    """CPU (this process, all threads) and wall time of a section: ``with Clock() as c``."""

    def __enter__(self) -> Clock:
        self._cpu = time.process_time()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self._cpu
        self.wall = time.perf_counter() - self._wall


def warm_imports(*modules: str) -> None:
    """Import `modules` before a timed section.

    This environment sets PYTHONDONTWRITEBYTECODE=1, so every process compiles each module
    it imports from source (pandas alone costs seconds): a lazy import inside the code
    under test would be charged to it. Production runs from cached bytecode.
    """
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            continue


def peak_rss_mb() -> float:
    """This process's peak RSS so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_result(**fields: Any) -> None:
    """Called in a child: hand the measured figures to the parent (one tagged line)."""
    fields.setdefault("peak_rss_self_mb", peak_rss_mb())
    fields.setdefault("loadavg_1min", os.getloadavg()[0])
    print(RESULT_TAG + json.dumps(fields, default=str), flush=True)


class ChildFailed(RuntimeError):
    """A benchmark child exited non-zero or printed no result."""


def run_child(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    cwd: Path | None = None,
    rss_limit_mb: float | None = None,
) -> dict[str, Any]:
    """Run a Python child; return its BENCH_RESULT plus ``maxrss_mb`` and ``child_wall_s``.

    With `rss_limit_mb` the parent samples the child's RSS every 0.2 s and kills it above
    the limit (ChildFailed says so): a run that would swap the shared box is stopped.
    """
    full_env = dict(os.environ)
    full_env.setdefault("PYTHONHASHSEED", "0")
    if env:
        full_env.update(env)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [PY, *argv],
        cwd=str(cwd or ROOT),
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampled = 0.0
    watch = None
    if rss_limit_mb:
        import psutil

        watch = psutil.Process(proc.pid)
    out = err = ""
    while True:
        try:
            out, err = proc.communicate(timeout=0.2 if watch else timeout)
            break
        except subprocess.TimeoutExpired:
            elapsed = time.perf_counter() - start
            if watch is not None:
                try:
                    rss = watch.memory_info().rss / 2**20
                except Exception:  # the child just exited
                    rss = 0.0
                sampled = max(sampled, rss)
                if rss_limit_mb and rss > rss_limit_mb:
                    # Children that called watch_stack() print their Python stack first.
                    proc.send_signal(signal.SIGUSR1)
                    time.sleep(1.0)
                    proc.kill()
                    _out, err = proc.communicate()
                    where = _innermost_frames(err)
                    raise ChildFailed(
                        f"killed: RSS {rss:,.0f} MiB above the {rss_limit_mb:,.0f} MiB limit "
                        f"after {elapsed:,.0f} s{where}"
                    ) from None
            if timeout is not None and elapsed > timeout:
                proc.kill()
                proc.communicate()
                raise ChildFailed(f"{argv[0]} timed out after {timeout} s") from None
    wall = time.perf_counter() - start
    result = None
    for line in out.splitlines():
        if line.startswith(RESULT_TAG):
            result = json.loads(line[len(RESULT_TAG) :])
    if proc.returncode != 0 or result is None:
        tail = "\n".join((err or out).strip().splitlines()[-15:])
        raise ChildFailed(f"{' '.join(argv[:3])} exited {proc.returncode}:\n{tail}")
    # The child reports its own peak RSS (getrusage RUSAGE_SELF at its end): RUSAGE_CHILDREN
    # here would be the maximum over every child reaped so far, not this one's.
    result.setdefault("maxrss_mb", result.get("peak_rss_self_mb"))
    result["child_wall_s"] = wall
    result["stderr_tail"] = "\n".join(err.strip().splitlines()[-5:]) if err else ""
    return result


def watch_stack() -> None:
    """In a child: dump the Python stack to stderr on SIGUSR1 (sent before an RSS kill)."""
    import faulthandler

    faulthandler.register(signal.SIGUSR1, all_threads=False)


def _innermost_frames(stderr: str) -> str:
    """The project frames of a faulthandler dump: where the memory went."""
    import re

    frames = [
        f"{m[1]}:{m[2]} {m[3]}"
        for m in re.finditer(
            r'File "[^"]*/((?:ranking|crawler)/[\w/]+\.py)", line (\d+) in (\w+)', stderr
        )
    ]
    return f"; stack at the kill (innermost first): {' <- '.join(frames[:4])}" if frames else ""


def interleave(
    configs: dict[str, Callable[[], dict[str, Any]]], repeats: int
) -> dict[str, list[dict[str, Any]]]:
    """Run every configuration `repeats` times, alternating the order (ABC, CBA, BCA, ...)."""
    names = list(configs)
    results: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        if r % 2:
            order.reverse()
        for name in order:
            results[name].append(configs[name]())
    return results


def med(runs: Sequence[dict[str, Any]], key: str) -> float:
    values = [float(r[key]) for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else float("nan")


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log(y) against log(x) (the scaling exponent)."""
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    den = sum((a - mx) ** 2 for a in lx)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / den if den else 0.0


# --- formatting ----------------------------------------------------------------------------


def fmt(value: Any, digits: int = 3) -> str:
    """Numbers with `digits` significant digits (thousands separated); text as is."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:,.{decimals}f}"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt(v) for v in row) + " |")
    return "\n".join(lines)


# --- the machine -------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, RAM, Python, library versions and the load when asked."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = int(line.split()[1]) / 1024 / 1024
                break
    except OSError:
        pass
    versions = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = "not installed"
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(ram_gib, 1) if ram_gib else None,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "loadavg": os.getloadavg(),
        "versions": versions,
    }


def shared_path(*parts: str) -> Path:
    """A path under ../shared (read at run time, never copied into the project)."""
    return SHARED.joinpath(*parts)
