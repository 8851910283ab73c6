"""deploy/: the nightly job's shell lines, run with /bin/sh in a scratch checkout."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
CHECKOUT = "/srv/weekly-radar"
CRAWL = ".venv/bin/crawl --progress never"

pytestmark = pytest.mark.skipif(not Path("/bin/sh").exists(), reason="needs /bin/sh")


def _service_backup() -> str:
    """The ExecStartPre shell line as systemd hands it to sh (`$$` is one `$`)."""
    text = (DEPLOY / "radar-crawl.service").read_text("utf-8")
    line = re.search(r"^ExecStartPre=-(.+)$", text, re.MULTILINE)
    assert line, "no ExecStartPre in radar-crawl.service"
    argv = shlex.split(line.group(1))
    assert argv[:2] == ["/bin/sh", "-c"] and len(argv) == 3, argv
    return argv[2].replace("$$", "$")


def _cron_line() -> str:
    """The crontab command, in the scratch checkout, with `true` for the crawl."""
    text = (DEPLOY / "radar-crawl.cron").read_text("utf-8")
    (line,) = [x for x in text.splitlines() if x and not x.startswith("#")]
    command = line.split(None, 5)[5]
    assert CHECKOUT in command and CRAWL in command, command
    return command.replace(f"cd {CHECKOUT}", "cd .").replace(CRAWL, "true")


@pytest.mark.parametrize("line", [_service_backup(), _cron_line()], ids=["systemd", "cron"])
def test_the_nightly_backup_copies_the_database_the_crawl_will_use(line, tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "data").mkdir(parents=True)
    (checkout / "data" / "radar.duckdb").write_text("default")
    elsewhere = tmp_path / "db dir" / "radar.duckdb"  # a space: the shell must quote it
    elsewhere.parent.mkdir()
    elsewhere.write_text("RADAR_DB")
    backup = checkout / "data" / "backup" / "radar.duckdb.pre-run"
    env = {k: v for k, v in os.environ.items() if k != "RADAR_DB"}
    for extra, expected in (({}, "default"), ({"RADAR_DB": str(elsewhere)}, "RADAR_DB")):
        backup.unlink(missing_ok=True)
        subprocess.run(["/bin/sh", "-c", line], cwd=checkout, env=env | extra, check=True)
        assert backup.read_text() == expected
    # No database yet (the first night): no backup, and the crawl still runs.
    backup.unlink()
    missing = {"RADAR_DB": str(tmp_path / "none.duckdb")}
    subprocess.run(["/bin/sh", "-c", line], cwd=checkout, env=env | missing, check=True)
    assert not backup.exists()
