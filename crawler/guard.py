"""Address guard (SSRF): only public addresses are fetched, checked where names resolve.

The rule (RELIABILITY F8, F9): resolve, unwrap IPv4-mapped IPv6, then refuse anything
that is not a global unicast address: private, loopback, link-local, reserved, CGNAT
(100.64/10), multicast, unspecified. ``ipaddress.ip_address`` rejects ``127.1``,
``2130706433``, ``0x7f000001`` or ``0177.0.0.1``, so IPv4 literals are read with
``inet_aton`` (the parser that connects) and names go through the resolver.

`GuardedResolver` is installed process-wide through ``TWISTED_DNS_RESOLVER``: every
connection, including redirects and robots.txt, asks it for the address, IP literals
too. The downloader middleware repeats the check for IP literals and schemes before a
request is queued, so blocked requests never reach a slot.

The only way to allow a non-public address is env ``RADAR_ALLOW_HOSTS``: comma-separated
host names or IP literals (matched against the URL's host *as written*, so allowing
``127.0.0.1`` does not allow ``localhost`` or ``127.1``) and CIDRs (``127.0.0.0/8``,
matched against the resolved address). Tests and the demo set it; nothing else does.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)

ALLOW_ENV = "RADAR_ALLOW_HOSTS"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressBlocked(Exception):
    """A host or address the guard refuses (reason in the message)."""


def _allow_list() -> tuple[
    frozenset[str], tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
]:
    raw = os.environ.get(ALLOW_ENV, "")
    names: set[str] = set()
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for entry in raw.split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if "/" in entry:
            try:
                nets.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue
        else:
            names.add(entry.strip("[]").rstrip("."))
    return frozenset(names), tuple(nets)


def normalize_host(host: str) -> str:
    """Lowercase, brackets and trailing dot removed: the form allow-list names compare to."""
    return host.strip().lower().strip("[]").rstrip(".")


def literal_ip(host: str) -> IPAddress | None:
    """The address an IP-literal host means in any spelling, or None for a name.

    ``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1`` and ``0`` are read the way
    the C library reads them (``inet_aton``); IPv6 with or without brackets.
    """
    h = normalize_host(host)
    if not h:
        return None
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    if ":" in h:
        return None
    # inet_aton accepts decimal, octal and hex parts and 1-4 of them; names never parse.
    if all(part and (part.isdigit() or part.startswith("0x")) for part in h.split(".")):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(h))
        except (OSError, ValueError):
            return None
    return None


def is_public(ip: IPAddress) -> bool:
    """True for a global unicast address (IPv4-mapped IPv6 judged by its IPv4 part)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_global
        and not ip.is_multicast
        and not ip.is_reserved
        and not ip.is_unspecified
        and not ip.is_loopback
        and not ip.is_link_local
        and not ip.is_private
    )


def check_address(host: str, ip: IPAddress | str) -> None:
    """Raise AddressBlocked unless `ip` (what `host` resolved to) may be fetched."""
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip.strip("[]"))
    if is_public(ip):
        return
    names, nets = _allow_list()
    if normalize_host(host) in names:
        return
    if any(ip in net for net in nets if net.version == ip.version):
        return
    raise AddressBlocked(f"address guard: {host} -> {ip} is not a public address")


def check_host(host: str) -> None:
    """Raise AddressBlocked for an IP-literal host that is not public, or a localhost
    name (RFC 6761: always loopback, so it is judged without asking the resolver, whose
    answer under load may come late or not at all); other names pass here."""
    if not host:
        raise AddressBlocked("address guard: empty host")
    ip = literal_ip(host)
    if ip is not None:
        check_address(host, ip)
    elif _is_localhost_name(host):
        check_address(host, ipaddress.IPv4Address("127.0.0.1"))


def _is_localhost_name(host: str) -> bool:
    h = normalize_host(host)
    return h == "localhost" or h.endswith(".localhost")


# Hosts the resolver refused in this process, with the reason: Scrapy reports a refusal
# as a plain "DNS lookup failed", so error messages look the real reason up here.
_BLOCKED: dict[str, str] = {}


def blocked_reason(host: str | None) -> str | None:
    """Why the resolver refused `host` in this process (None when it did not)."""
    return _BLOCKED.get(normalize_host(host)) if host else None


def _build_resolver() -> type:
    # Built on first use: importing Twisted/Scrapy costs ~0.5 s, which `crawl` must not
    # pay before taking its lock (a second run exits 75 at once).
    from scrapy.resolver import CachingThreadedResolver
    from twisted.internet import defer
    from twisted.internet.error import DNSLookupError

    class GuardedResolver(CachingThreadedResolver):
        """Scrapy's caching resolver that refuses non-public answers (process-level)."""

        def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Any:
            try:
                check_host(name)
            except AddressBlocked as exc:
                logger.warning("%s", exc)
                _BLOCKED[normalize_host(name)] = str(exc)
                return defer.fail(DNSLookupError(str(exc)))
            if (
                os.environ.get(SOCKET_GUARD_ENV) == "1"
                and literal_ip(name) is None
                and normalize_host(name) != "localhost"
            ):
                # Hermetic tests: no DNS query for outside names ever leaves the machine.
                return defer.fail(
                    DNSLookupError(f"socket guard: no DNS lookup of {name!r} in tests")
                )

            def _check(address: str) -> str:
                try:
                    check_address(name, address)
                except (AddressBlocked, ValueError) as exc:
                    logger.warning("%s", exc)
                    _BLOCKED[normalize_host(name)] = str(exc)
                    raise DNSLookupError(str(exc)) from None
                return address

            d = super().getHostByName(name, timeout)
            d.addCallback(_check)
            return d

    GuardedResolver.__module__ = __name__
    GuardedResolver.__qualname__ = "GuardedResolver"
    return GuardedResolver


def __getattr__(name: str) -> Any:
    """``crawler.guard.GuardedResolver`` (the TWISTED_DNS_RESOLVER setting), built lazily."""
    if name == "GuardedResolver":
        cls = _build_resolver()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- test support: a process-wide socket guard -------------------------------------------

SOCKET_GUARD_ENV = "RADAR_SOCKET_GUARD"
_LOOPBACK_NAMES = frozenset({"127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1"})


def install_socket_guard() -> None:
    """Make every TCP/UDP connect to anything but loopback raise (test suites only).

    Installed by the test suite's conftest in-process, and by `crawl` when env
    RADAR_SOCKET_GUARD=1 is set (the tests set it, so subprocesses are guarded too).
    """
    if getattr(socket.socket.connect, "_radar_guard", False):
        return
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def _verify(sock: socket.socket, address: Any) -> None:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        host = address[0] if isinstance(address, tuple) else address
        if str(host).lower() not in _LOOPBACK_NAMES:
            raise ConnectionRefusedError(f"socket guard: connection to {host!r} refused in tests")

    def connect(self: socket.socket, address: Any) -> None:
        _verify(self, address)
        return original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _verify(self, address)
        return original_connect_ex(self, address)

    connect._radar_guard = True  # type: ignore[attr-defined]
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
