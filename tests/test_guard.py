"""The address guard: every private/loopback/reserved spelling blocked, allow-list semantics."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from crawler.guard import (
    ALLOW_ENV,
    AddressBlocked,
    check_address,
    check_host,
    is_public,
    literal_ip,
)

# RELIABILITY F9 plus IPv6 and mapped forms: (host as written in a URL, the address it means).
BLOCKED_SPELLINGS = [
    ("127.0.0.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("0", "0.0.0.0"),
    ("0.0.0.0", "0.0.0.0"),
    ("[::1]", "::1"),
    ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
    ("[::ffff:7f00:1]", "::ffff:127.0.0.1"),
    ("169.254.169.254", "169.254.169.254"),
    ("100.64.0.1", "100.64.0.1"),
    ("10.0.0.1", "10.0.0.1"),
    ("10.1", "10.0.0.1"),
    ("172.16.5.4", "172.16.5.4"),
    ("192.168.1.1", "192.168.1.1"),
    ("[fd00::1]", "fd00::1"),
    ("[fe80::1]", "fe80::1"),
    ("224.0.0.1", "224.0.0.1"),
    ("[ff02::1]", "ff02::1"),
    ("240.0.0.1", "240.0.0.1"),
    ("255.255.255.255", "255.255.255.255"),
    ("[::]", "::"),
    ("[::ffff:10.0.0.1]", "::ffff:10.0.0.1"),
]


@pytest.fixture(autouse=True)
def _no_allow_list(monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)


@pytest.mark.parametrize(("host", "address"), BLOCKED_SPELLINGS)
def test_literal_spellings_are_read_like_the_c_library(host, address):
    assert literal_ip(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize(("host", "address"), BLOCKED_SPELLINGS)
def test_every_private_spelling_is_blocked(host, address):
    with pytest.raises(AddressBlocked):
        check_host(host)
    with pytest.raises(AddressBlocked):
        check_address(host, address)


@pytest.mark.parametrize("host", ["example.com", "good.test", "0day.example", "localhost.com"])
def test_names_are_left_to_the_resolver(host):
    assert literal_ip(host) is None
    check_host(host)  # names pass here; the resolver checks what they resolve to


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "api.localhost"])
def test_localhost_names_are_loopback_without_a_lookup(host, monkeypatch):
    def no_lookup(*args, **kwargs):
        raise AssertionError("the resolver was asked")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    with pytest.raises(AddressBlocked, match=r"-> 127\.0\.0\.1 is not a public address"):
        check_host(host)
    monkeypatch.setenv(ALLOW_ENV, "localhost")
    if host != "api.localhost":
        check_host(host)  # allowed by name, as written


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::6810:85e5", "8.8.8.8"])
def test_public_addresses_pass(address):
    assert is_public(ipaddress.ip_address(address))
    check_address("example.com", address)


def test_resolved_name_to_loopback_is_blocked():
    with pytest.raises(AddressBlocked, match=r"localhost -> 127\.0\.0\.1"):
        check_address("localhost", "127.0.0.1")


def test_allow_list_names_match_the_host_as_written(monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "127.0.0.1")
    check_host("127.0.0.1")
    check_address("127.0.0.1", "127.0.0.1")
    # Other spellings and names that resolve to the same address stay blocked.
    for host in ("localhost", "127.1", "2130706433", "0x7f000001"):
        with pytest.raises(AddressBlocked):
            check_address(host, "127.0.0.1")
    with pytest.raises(AddressBlocked):
        check_address("10.0.0.1", "10.0.0.1")


def test_allow_list_cidrs_match_resolved_addresses(monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, " 10.0.0.0/8 , replay.local ")
    check_address("anything.example", "10.2.3.4")
    check_address("replay.local", "192.168.1.1")
    with pytest.raises(AddressBlocked):
        check_address("anything.example", "192.168.1.1")


def test_the_settings_install_the_resolver_process_wide():
    from crawler import settings

    assert settings.TWISTED_DNS_RESOLVER == "crawler.guard.GuardedResolver"
    assert settings.DOWNLOAD_HANDLERS == {"file": None, "data": None, "ftp": None, "s3": None}
    assert settings.CONCURRENT_REQUESTS_PER_DOMAIN <= 2
    assert settings.TELNETCONSOLE_ENABLED is False and settings.REMOTE_CONTROL_ENABLED is False


def test_socket_guard_refuses_non_loopback_in_tests():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(ConnectionRefusedError, match="socket guard"):
            sock.connect(("10.255.255.1", 80))
        with pytest.raises(ConnectionRefusedError, match="socket guard"):
            sock.connect_ex(("93.184.216.34", 80))
    finally:
        sock.close()
