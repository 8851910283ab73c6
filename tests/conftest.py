"""Shared test fixtures: where ../shared is, and how its absence is treated."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def require_shared(*parts: str) -> Path:
    """Path under ../shared; skip when absent, but FAIL under CI=true (the data must be there)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"{path} is missing (../shared beside the checkout)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def shared_dir() -> Path:
    """The ../shared folder beside the checkout (fails under CI=true when missing)."""
    return require_shared()


# --- socket guard (crawl engineer): no test reaches anything but loopback -------------------
@pytest.fixture(autouse=True, scope="session")
def _loopback_only_sockets():
    """Refuse connections to anything but 127.0.0.1/::1/localhost, in-process and in children.

    In-process: socket.connect/connect_ex are patched. Subprocesses (`crawl`) inherit env
    RADAR_SOCKET_GUARD=1, which makes crawler.cli install the same guard and the address
    guard's resolver refuse DNS lookups of outside names. Proxy variables are cleared.
    """
    from crawler.guard import SOCKET_GUARD_ENV, install_socket_guard

    install_socket_guard()
    proxies = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
    saved = {k: os.environ.get(k) for k in (SOCKET_GUARD_ENV, *proxies)}
    os.environ[SOCKET_GUARD_ENV] = "1"
    for key in saved:
        if key != SOCKET_GUARD_ENV:
            os.environ.pop(key, None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
