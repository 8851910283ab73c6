"""The exit codes of `crawl` and `rank`: the code, `--help` and docs/OPERATIONS.md agree.

The fault suite exercises every code of the OPERATIONS.md tables (goal G10); this test
makes a code added to one place and not the others fail at once, not as a "NO" in the
generated report.
"""

from __future__ import annotations

import re

import pytest
from faults.report import documented_exit_codes

from crawler import cli as crawl_cli
from ranking import cli as rank_cli
from ranking import errors


def _subclasses(cls: type) -> list[type]:
    out = [cls]
    for sub in cls.__subclasses__():
        out += _subclasses(sub)
    return out


def _help_codes(epilog: str) -> set[int]:
    """The codes an `exit codes: 0 …; 1 …` epilog names."""
    text = epilog.split("exit codes:", 1)[1].split("example", 1)[0]
    return {int(n) for n in re.findall(r"(?:^|;)\s*(\d+) ", text)}


def test_crawl_exit_codes_in_code_help_and_docs_agree() -> None:
    documented = documented_exit_codes()["crawl"]
    constants = {v for k, v in vars(crawl_cli).items() if k.startswith("EXIT_")}
    assert constants == documented
    assert _help_codes(crawl_cli.build_parser().epilog or "") == documented
    docstring = crawl_cli.__doc__ or ""
    assert {int(n) for n in re.findall(r"^(\d+) {2,}", docstring, re.M)} == documented


def test_rank_exit_codes_in_code_help_and_docs_agree() -> None:
    documented = documented_exit_codes()["rank"]
    raised = {cls.exit_code for cls in _subclasses(errors.RankingError)}
    assert raised | {0} == documented
    main_parser, _ = rank_cli.build_parser()
    assert _help_codes(main_parser.epilog or "") == documented


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "## Exit codes\n\n`crawl`:\n\n| code | x |\n|---|---|\n| 0 | ok |\n| 75 | busy |\n",
            {"crawl": {0, 75}},
        ),
        (
            "## Exit codes\n\n`a`:\n| 1 | x |\n`b` (all):\n| 2 | y |\n## Next\n| 3 | z |\n",
            {"a": {1}, "b": {2}},
        ),
    ],
)
def test_the_docs_table_reader(tmp_path, text: str, expected: dict[str, set[int]]) -> None:
    doc = tmp_path / "OPERATIONS.md"
    doc.write_text("# Ops\n\n" + text, "utf-8")
    assert documented_exit_codes(doc) == expected
