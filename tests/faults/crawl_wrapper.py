"""Run the real `crawl` command with the fault suite's test knobs (a subprocess entry point).

Env knobs (all optional):

- FAULTS_RLIMIT_AS: address-space limit in bytes, set before anything is imported (G4).
- FAULTS_SETTINGS: JSON object of Scrapy settings patched into crawler.settings (e.g.
  more concurrency per host, so that the faults of one test night run side by side).
- FAULTS_CRASH_MARKER: a byte string; a feed body containing it makes the feed parser
  raise RuntimeError *outside* the parser guard (a bug in a parser, F27).

At exit it prints ``FAULTS_MAXRSS_KB=<peak RSS>`` and ``FAULTS_MEMORYERRORS=<n>`` on
stderr for the suite to collect.
"""

from __future__ import annotations

import json
import os
import resource
import sys


def main() -> int:
    limit = os.environ.get("FAULTS_RLIMIT_AS")
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))
    import crawler.settings as settings

    for key, value in json.loads(os.environ.get("FAULTS_SETTINGS") or "{}").items():
        setattr(settings, key, value)
    marker = os.environ.get("FAULTS_CRASH_MARKER")
    if marker:
        import crawler.parsers as parsers

        inner = parsers.PARSERS["feed"]

        def crashing(body, headers, source):
            if marker.encode() in body:
                raise RuntimeError("parser bug injected by the fault suite")
            return inner(body, headers, source)

        parsers.PARSERS["feed"] = crashing
    from crawler.cli import main as crawl_main

    memory_errors = 0
    try:
        code = crawl_main(sys.argv[1:])
    except MemoryError:
        memory_errors += 1
        raise
    finally:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"FAULTS_MAXRSS_KB={peak}", file=sys.stderr)
        print(f"FAULTS_MEMORYERRORS={memory_errors}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
