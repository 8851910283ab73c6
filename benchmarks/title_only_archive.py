"""Copy an archive of the newsletter and rewrite issues A-B in the title-only form.

The later issues of the real archive (after #85, the weeks the ranker is judged on) are
title-only: section headings, then `① title` lines, no links, no summaries, often no
English file. This rewrites a copy of ../shared/datasets/python-weekly that way, so a
backtest can show what the ranker does when its recent history is title-only:

    .venv/bin/python benchmarks/title_only_archive.py ../shared/datasets/python-weekly \\
        /tmp/title-only 70-85
    .venv/bin/rank backtest --history /tmp/title-only \\
        --sightings ../shared/datasets/sightings/sightings-2023-2025-01.parquet \\
        --without-feed python_weekly --without-feed pycoders_weekly --issues 70-85 --out /tmp/bt

It reads the markdown with its own small rules, not with ranking.history, so the import
of the result is a check of that parser too. The copy is written to DEST (replaced).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ranking.backtest import parse_issue_range

LISTED = re.compile(r"文章|教程|项目|资源|播客|视频|讨论|问题")
ITEM = re.compile(r"^\s{0,3}(\d{1,3})、\s*(.*)$")
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>|~])")
ISSUE_NO = re.compile(r"^title:.*?#(\d+)", re.MULTILINE)


def circled(n: int) -> str:
    """①…⑳, then ㉑…㉟ and ㊱…㊿."""
    for first, base in ((1, 0x2460), (21, 0x3251), (36, 0x32B1)):
        if first <= n < first + (20 if first == 1 else 15):
            return chr(base + n - first)
    raise ValueError(f"no circled number for {n}")


def _closing(text: str, start: int, open_ch: str, close_ch: str) -> int:
    depth = 0
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        depth += (text[i] == open_ch) - (text[i] == close_ch)
        if depth == 0:
            return i
        i += 1
    return -1


def unlink(text: str) -> str:
    """`[text](url)` becomes text; images and bare URLs are dropped."""
    text = IMAGE.sub("", text)
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
            continue
        if text[i] == "[":
            j = _closing(text, i, "[", "]")
            if j != -1 and j + 1 < len(text) and text[j + 1] == "(":
                k = _closing(text, j + 1, "(", ")")
                if k != -1:
                    out.append(unlink(text[i + 1 : j]))
                    i = k + 1
                    continue
        out.append(text[i])
        i += 1
    return re.sub(r"<https?://[^>\s]+>|https?://\S+", "", "".join(out))


def plain(text: str) -> str:
    return ESCAPE.sub(r"\1", unlink(text)).strip()


def rewrite(text: str) -> str:
    """The issue in the title-only form: front matter and headings kept, each numbered
    item of a listed section a `① title` line, its summary dropped."""
    lines = text.split("\n")
    out: list[str] = []
    start = 0
    if lines and lines[0].strip() == "---":
        end = next(k for k in range(1, len(lines)) if lines[k].strip() == "---")
        out += lines[: end + 1]
        start = end + 1
    listed = False
    n = 0
    for line in lines[start:]:
        heading = HEADING.match(line)
        if heading:
            title = plain(heading.group(2))
            listed, n = bool(LISTED.search(title)), 0
            out.append(f"{heading.group(1)} {title}")
            continue
        item = ITEM.match(line) if listed else None
        if item:
            rest = item.group(2).strip()
            if rest.startswith("**") and rest.endswith("**"):
                rest = rest[2:-2]
            if rest.startswith("["):  # the link's text is the title; `（英文）` after it is not
                end = _closing(rest, 0, "[", "]")
                rest = rest[1:end] if end > 0 else rest
            n += 1
            title = " ".join(plain(rest).split())
            out += ["", f"{circled(n)} {title}", ""]
            continue
        if not listed:  # a listed section keeps only its item titles
            out.append(plain(line) if line.strip() else line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="the archive (with docs/ and docs/en/)")
    parser.add_argument("dest", type=Path, help="where the copy goes (replaced)")
    parser.add_argument("issues", help="the issues to rewrite, e.g. 70-85")
    args = parser.parse_args()
    first, last = parse_issue_range(args.issues)
    if args.dest.exists():
        shutil.rmtree(args.dest)
    shutil.copytree(args.source, args.dest)
    for copied in [args.dest, *args.dest.rglob("*")]:  # the source may be read-only
        copied.chmod(0o755 if copied.is_dir() else 0o644)
    for path in sorted((args.dest / "docs").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        match = ISSUE_NO.search(text)
        if match is None or not first <= int(match.group(1)) <= last:
            continue
        path.write_text(rewrite(text), encoding="utf-8")
        (args.dest / "docs" / "en" / path.name).unlink(missing_ok=True)
        print(f"#{match.group(1)} {path.name}: title-only")


if __name__ == "__main__":
    main()
