"""Parse hostile inputs under RLIMIT_AS 1 GiB; one forked child per input (G4, G5).

``python tests/faults/memprobe.py NAME...`` sets the address-space limit first, imports
the parsers, then forks one child per named input (built by GENERATORS below), so each
input's peak RSS (ru_maxrss of its child) and time are measured on their own. Prints
one JSON line per input: name, outcome (``ok`` + candidate count, or the ParseError
reason, or the name of any other exception), CPU seconds, peak RSS in MB.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys

ONE_GIB = 1 << 30
MB = 1024 * 1024


def rss_feed(items: list[str]) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        "<link>https://m.example/</link>" + "".join(items) + "</channel></rss>"
    ).encode()


def item(i: int, title: str = "") -> str:
    return (
        f"<item><title>{title or f'Entry {i}'}</title><link>https://m.example/{i}</link>"
        f"<pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate></item>"
    )


def quadratic(entity_chars: int, refs: int) -> bytes:
    return (
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY q "' + "Q" * entity_chars + '">]>'
        '<rss version="2.0"><channel><title>t</title><item><title>'
        + "&q;" * refs
        + "</title><link>https://m.example/q</link></item></channel></rss>"
    ).encode()


def billion_laughs() -> bytes:
    decl = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
    )
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [{decl}]><rss version="2.0"><channel>'
        "<title>t</title><item><title>&i;</title><link>https://m.example/b</link></item>"
        "</channel></rss>"
    ).encode()


def page(body: str, title: str = "Probe page") -> bytes:
    return f"<html><head><title>{title}</title></head><body>{body}</body></html>".encode()


# name -> (parser kind, body factory)
GENERATORS = {
    "P2-billion-laughs": ("feed", billion_laughs),
    "P3-quadratic-75KB": ("feed", lambda: quadratic(60_000, 5_000)),
    "P3-quadratic-115KB": ("feed", lambda: quadratic(100_000, 5_000)),
    "P11-title-10MB": ("feed", lambda: rss_feed([item(1, "T" * 10 * MB)])),
    "P11-100k-entries": ("feed", lambda: rss_feed([item(i) for i in range(100_000)])),
    # 2.3 MB: under RADAR_PAGE_MAXSIZE (3 MiB), so a fetched page can be this.
    "F24-100k-anchors": (
        "page",
        lambda: page("".join(f"<a href=/p/{i}>x</a> " for i in range(100_000))),
    ),
    "H7-deep-nesting": ("page", lambda: page("<div>" * 100_000 + "x" + "</div>" * 100_000)),
    "H7-3MiB-page": ("page", lambda: page("<p>" + "word " * (3 * MB // 5) + "</p>")),
    "H6-html-entity-bomb": (
        "page",
        lambda: (
            '<!DOCTYPE html [<!ENTITY a "'
            + "a" * 10_000
            + '">]><html><head><title>'
            + "&a;" * 10_000
            + "</title></head><body><p>x</p></body></html>"
        ).encode(),
    ),
}


# Seconds an input may take before the child is stopped (reported as "timeout").
TIME_LIMIT = {"P11-100k-entries": 30, "default": 10}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Timeout(BaseException):
    """Raised by SIGPROF (CPU-time limit) in a child: the input took longer than its time limit."""


def _timeout(signum: int, frame: object) -> None:
    raise _Timeout


def run_one(name: str) -> dict:
    from crawler.parsers import PARSERS, ParseError
    from crawler.sources import Source

    kind, factory = GENERATORS[name]
    body = factory()
    source = Source("probe", kind, "https://m.example/page", "article")
    start = _cpu()
    # A CPU-time limit (not wall time): the suite runs other processes side by side.
    signal.signal(signal.SIGPROF, _timeout)
    signal.setitimer(signal.ITIMER_PROF, TIME_LIMIT.get(name, TIME_LIMIT["default"]))
    try:
        result = PARSERS[kind](body, {}, source)
        outcome = f"ok:{len(result)}"
        longest = max((len(c.title) for c in result), default=0)
        notes = getattr(result, "notes", {})
    except ParseError as exc:
        outcome, longest, notes = f"error:{exc.reason}", 0, {}
    except MemoryError:
        outcome, longest, notes = "MemoryError", 0, {}
    except _Timeout:
        outcome, longest, notes = "timeout", 0, {}
    except Exception as exc:  # reported, and the suite fails on it
        outcome, longest, notes = f"exception:{type(exc).__name__}", 0, {}
    signal.setitimer(signal.ITIMER_PROF, 0)
    seconds = _cpu() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "name": name,
        "outcome": outcome,
        "seconds": round(seconds, 4),
        "peak_rss_mb": round(peak, 1),
        "bytes": len(body),
        "longest_title": longest,
        "capped": bool(notes.get("capped")) if isinstance(notes, dict) else False,
    }


def main(names: list[str]) -> int:
    resource.setrlimit(resource.RLIMIT_AS, (ONE_GIB, ONE_GIB))
    import crawler.parsers  # noqa: F401 - imported once, before the forks

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for name in names:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            os.close(read)
            try:
                data = run_one(name)
            except BaseException as exc:
                data = {"name": name, "outcome": f"exception:{type(exc).__name__}"}
            data["base_rss_mb"] = round(base, 1)
            os.write(write, json.dumps(data).encode())
            os._exit(0)
        os.close(write)
        chunks = []
        while chunk := os.read(read, 65536):
            chunks.append(chunk)
        os.close(read)
        _, status = os.waitpid(pid, 0)
        line = b"".join(chunks).decode() or json.dumps(
            {"name": name, "outcome": f"child died (status {status})"}
        )
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or list(GENERATORS)))
