"""G3: the suite only ever talks to 127.0.0.1 - the guards that make sure of it are live.

No test here sends a packet anywhere: the guard refuses a connection by looking at the
address before `connect` runs, and the only names tried are under `.invalid.`.
"""

from __future__ import annotations

import socket
import subprocess

import pytest

from faults.conftest import PY, REPO, _env
from faults.report import figure


def test_socket_guard_is_live_in_this_process():
    assert getattr(socket.socket.connect, "_radar_guard", False)
    with socket.socket() as s, pytest.raises(ConnectionRefusedError, match="socket guard"):
        s.connect(("guard-check.invalid.", 80))
    with socket.socket() as s, pytest.raises(ConnectionRefusedError, match="socket guard"):
        s.connect_ex(("guard-check.invalid.", 80))


def test_socket_guard_is_live_in_crawl_subprocesses():
    """`crawl` installs the same guard when RADAR_SOCKET_GUARD=1 (set for every subprocess)."""
    code = (
        "import socket, sys\n"
        "from crawler.cli import main\n"
        "main(['status', '--data-dir', sys.argv[1]])\n"
        "s = socket.socket()\n"
        "try:\n"
        "    s.connect(('guard-check.invalid.', 80))\n"
        "except ConnectionRefusedError as exc:\n"
        "    print('REFUSED', exc)\n"
    )
    proc = subprocess.run(
        [PY, "-c", code, str(REPO / "data" / "does-not-exist")],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "REFUSED socket guard" in proc.stdout, proc.stderr[-2000:]
    env = _env()
    assert env["RADAR_SOCKET_GUARD"] == "1"
    assert not any("proxy" in k.lower() for k in env)
    figure(
        "G3",
        "socket guard verified live in-process and in a `crawl` subprocess; proxy variables cleared",
        True,
    )


def test_dns_of_outside_names_is_refused_by_the_crawl_resolver():
    """The crawl's resolver never asks DNS about an outside name while the guard is on."""
    code = (
        "import os\nos.environ['RADAR_SOCKET_GUARD'] = '1'\n"
        "from twisted.internet import reactor\n"
        "from crawler.guard import GuardedResolver\n"
        "from scrapy.utils.test import get_crawler\n"
        "r = GuardedResolver.from_crawler(get_crawler(), reactor)\n"
        "d = r.getHostByName('outside-name.invalid.')\n"
        "out = []\n"
        "d.addErrback(lambda f: out.append(str(f.value)))\n"
        "print(out[0] if out else 'RESOLVED')\n"
    )
    proc = subprocess.run(
        [PY, "-c", code],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "socket guard: no DNS lookup" in proc.stdout, proc.stdout + proc.stderr[-2000:]
