"""A stand-in for the nightly's writer step, to be killed with SIGKILL (G8, S3, S4).

``python tests/faults/ingest_child.py DB RAW_DIR FIRST_BATCH`` loops forever: write raw
file ``batch-NNNNN.jsonl`` (BATCH_ROWS candidate lines + a fetch record) atomically,
run ``ranking.store.ingest_pending``, print ``ACK NNNNN`` once the call returned (the
transaction committed). The parent kills it at a random moment and checks the store.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

BATCH_ROWS = 20


def batch_records(n: int) -> list[dict]:
    fetched = "2026-11-20T10:00:00Z"
    rows: list[dict] = [
        {
            "type": "candidate",
            "run_id": f"kill-{n:05d}",
            "source": "kill-src",
            "kind": "feed",
            "fetched_at": fetched,
            "url": f"https://kill.example/{n}/{i}",
            "canonical_url": f"https://kill.example/{n}/{i}",
            "title": f"Batch {n} item {i}",
            "section": "article",
        }
        for i in range(BATCH_ROWS)
    ]
    rows.append(
        {
            "type": "fetch",
            "run_id": f"kill-{n:05d}",
            "source": "kill-src",
            "status": "ok",
            "items": BATCH_ROWS,
            "started_at": fetched,
            "finished_at": fetched,
        }
    )
    return rows


def write_batch(raw: Path, n: int) -> None:
    final = raw / f"batch-{n:05d}.jsonl"
    tmp = raw / f".batch-{n:05d}.tmp"
    with tmp.open("w", encoding="utf-8") as fh:
        for rec in batch_records(n):
            fh.write(json.dumps(rec) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)  # the crawl's raw file is complete before ingest sees it


def main(db: str, raw_dir: str, first: int) -> int:
    from ranking.store import ingest_pending

    raw = Path(raw_dir)
    raw.mkdir(parents=True, exist_ok=True)
    print("READY", flush=True)
    n = first
    while True:
        write_batch(raw, n)
        report = ingest_pending(db, raw)
        if report.pending:
            print(f"BUSY {n:05d}", flush=True)
        else:
            print(f"ACK {n:05d}", flush=True)
        n += 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
