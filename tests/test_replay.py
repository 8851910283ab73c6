"""crawler.replay: the local web the crawler tests, the demo and the benchmarks run against."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crawler.errors import ConfigError
from crawler.replay import FAULTS, ReplayServer, gzip_bomb, is_loopback_host, main

ROOT = Path(__file__).resolve().parents[1]


def get(
    server: ReplayServer,
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    timeout: float = 5,
) -> tuple[int, dict[str, str], bytes]:
    """One request over a fresh connection; headers are returned lower-cased."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def write_routes(root: Path, text: str) -> Path:
    (root / "routes.toml").write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "python.xml").write_text(
        "<rss><channel><link>{base}/page.html</link></channel></rss>", encoding="utf-8"
    )
    (tmp_path / "page.html").write_text("<html>{base}</html>", encoding="utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.html").write_text("<p>index</p>", encoding="utf-8")
    return tmp_path


# -- files mode --------------------------------------------------------------------------


def test_files_mode_serves_the_folder_by_path(site: Path) -> None:
    with ReplayServer(site) as server:
        status, headers, body = get(server, "/feeds/python.xml")
        assert status == 200
        assert headers["content-type"] == "application/xml"
        assert body == b"<rss><channel><link>{base}/page.html</link></channel></rss>"
        assert get(server, "/docs/")[2] == b"<p>index</p>"
        assert get(server, "/page.html?utm=1")[0] == 200  # query ignored for files
        assert get(server, "/missing.xml")[0] == 404


def test_files_mode_never_escapes_the_folder(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    root = tmp_path / "www"
    root.mkdir()
    with ReplayServer(root) as server:
        for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt"):
            status, _, body = get(server, path)
            assert status == 404
            assert b"secret" not in body


def test_templated_globs_apply_in_files_mode(site: Path) -> None:
    write_routes(site, 'serve_files = true\ntemplated = ["feeds/*.xml"]\n')
    with ReplayServer(site) as server:
        body = get(server, "/feeds/python.xml")[2]
        assert (
            body
            == f"<rss><channel><link>{server.base_url}/page.html</link></channel></rss>".encode()
        )
        assert get(server, "/page.html")[2] == b"<html>{base}</html>"  # not marked templated
        assert get(server, "/routes.toml")[0] == 404  # the table itself is never served


# -- routes ------------------------------------------------------------------------------


def test_routes_serve_status_headers_and_body(site: Path) -> None:
    write_routes(
        site,
        """
[[route]]
path = "/feed"
file = "feeds/python.xml"
headers = { "Content-Type" = "application/rss+xml", "X-Recorded" = "2025-11-01" }
templated = true

[[route]]
path = "/gone"
status = 410
body = "gone"
""",
    )
    with ReplayServer(site) as server:
        status, headers, body = get(server, "/feed")
        assert status == 200
        assert headers["content-type"] == "application/rss+xml"
        assert headers["x-recorded"] == "2025-11-01"
        assert server.base_url.encode() + b"/page.html" in body
        assert get(server, "/gone")[:3:2] == (410, b"gone")
        # a routes table makes unmatched paths 404 unless serve_files is set
        assert get(server, "/page.html")[0] == 404


def test_route_delay_is_applied(tmp_path: Path) -> None:
    with ReplayServer(routes=[{"path": "/slow", "body": "ok", "delay": 0.3}]) as server:
        start = time.monotonic()
        assert get(server, "/slow")[2] == b"ok"
        assert time.monotonic() - start >= 0.3


def test_head_sends_headers_only() -> None:
    with ReplayServer(routes=[{"path": "/x", "body": "12345"}]) as server:
        status, headers, body = get(server, "/x", method="HEAD")
        assert (status, headers["content-length"], body) == (200, "5", b"")


def test_query_matching_is_exact_or_falls_back_to_the_bare_path() -> None:
    routes = [
        {"path": "/search?query=python&numericFilters=points>=20", "body": "python"},
        {"path": "/search", "body": "any"},
    ]
    with ReplayServer(routes=routes) as server:
        # order and percent-encoding of the query do not matter
        assert get(server, "/search?numericFilters=points%3E%3D20&query=python")[2] == b"python"
        assert get(server, "/search?query=django")[2] == b"any"
        assert get(server, "/search")[2] == b"any"


def test_sequence_changes_the_answer_per_hit_and_repeats_the_last() -> None:
    route = {"path": "/flaky", "body": "ok", "sequence": [{"status": 500}, {}]}
    with ReplayServer(routes=[route]) as server:
        assert [get(server, "/flaky")[0] for _ in range(3)] == [500, 200, 200]


def test_routes_json_is_read_too(tmp_path: Path) -> None:
    (tmp_path / "routes.json").write_text(json.dumps({"route": [{"path": "/a", "body": "A"}]}))
    with ReplayServer(tmp_path) as server:
        assert get(server, "/a")[2] == b"A"


def test_add_route_while_running() -> None:
    with ReplayServer() as server:
        assert get(server, "/late")[0] == 404
        server.add_route("/late", body="here", status=201)
        assert get(server, "/late")[:3:2] == (201, b"here")


# -- conditional GET ----------------------------------------------------------------------

VALIDATED = {
    "path": "/feed",
    "body": "<rss/>",
    "etag": '"v1"',
    "last_modified": "Sat, 01 Nov 2025 00:00:00 GMT",
}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, 200),
        ({"If-None-Match": '"v1"'}, 304),
        ({"If-None-Match": 'W/"v1"'}, 304),
        ({"If-None-Match": '"v0", "v1"'}, 304),
        ({"If-None-Match": "*"}, 304),
        ({"If-None-Match": '"v0"'}, 200),
        ({"If-Modified-Since": "Sat, 01 Nov 2025 00:00:00 GMT"}, 304),
        ({"If-Modified-Since": "Sun, 02 Nov 2025 00:00:00 GMT"}, 304),
        ({"If-Modified-Since": "Fri, 31 Oct 2025 00:00:00 GMT"}, 200),
        ({"If-Modified-Since": "not a date"}, 200),
        # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2)
        ({"If-None-Match": '"v0"', "If-Modified-Since": "Sun, 02 Nov 2025 00:00:00 GMT"}, 200),
    ],
)
def test_validators_give_304(headers: dict[str, str], expected: int) -> None:
    with ReplayServer(routes=[VALIDATED]) as server:
        status, got, body = get(server, "/feed", headers=headers)
        assert status == expected
        assert got["etag"] == '"v1"'
        assert got["last-modified"] == "Sat, 01 Nov 2025 00:00:00 GMT"
        assert body == (b"" if expected == 304 else b"<rss/>")


# -- faults -------------------------------------------------------------------------------


def test_hang_times_out_client_side_and_stop_releases_it() -> None:
    server = ReplayServer(routes=[{"path": "/hang", "fault": "hang"}])
    server.start()
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        get(server, "/hang", timeout=0.3)
    assert time.monotonic() - start < 2
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 2
    assert server.hits("/hang") == 1


def test_drip_sends_headers_then_one_byte_at_a_time() -> None:
    with ReplayServer(routes=[{"path": "/drip", "fault": "drip", "interval": 1.0}]) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=0.5)
        conn.request("GET", "/drip")
        resp = conn.getresponse()
        assert resp.status == 200
        assert int(resp.getheader("Content-Length")) > 1000
        assert resp.read(1) == b"<"
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            resp.read()  # the next byte is a second away; the client gives up first
        assert time.monotonic() - start < 2
        conn.close()


def test_gzip_bomb_is_small_on_the_wire_and_big_inflated() -> None:
    route = {"path": "/bomb", "fault": "gzip_bomb", "size_mib": 4}
    with ReplayServer(routes=[route]) as server:
        status, headers, body = get(server, "/bomb")
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert len(body) < 64 * 1024
    assert len(gzip.decompress(body)) == 4 * 1024 * 1024
    assert gzip_bomb(4) is gzip_bomb(4)  # built once


def test_default_gzip_bomb_is_200_mib() -> None:
    body = gzip_bomb()
    assert len(body) < 1024 * 1024
    d = __import__("zlib").decompressobj(31)
    total = 0
    while body:
        total += len(d.decompress(body, 16 * 1024 * 1024))
        body = d.unconsumed_tail
    assert total == 200 * 1024 * 1024


def test_deflate_bomb() -> None:
    route = {"path": "/bomb", "fault": "gzip_bomb", "size_mib": 1, "encoding": "deflate"}
    with ReplayServer(routes=[route]) as server:
        _, headers, body = get(server, "/bomb")
    assert headers["content-encoding"] == "deflate"
    assert len(__import__("zlib").decompress(body)) == 1024 * 1024


@pytest.mark.parametrize(
    ("status", "retry_after"), [(429, 120), (503, "Wed, 21 Oct 2026 07:28:00 GMT")]
)
def test_status_fault_with_retry_after(status: int, retry_after: int | str) -> None:
    route = {"path": "/busy", "fault": "status", "status": status, "retry_after": retry_after}
    with ReplayServer(routes=[route]) as server:
        got, headers, _ = get(server, "/busy")
    assert got == status
    assert headers["retry-after"] == str(retry_after)


def test_redirect_fault_templates_the_location() -> None:
    routes = [
        {"path": "/a", "fault": "redirect", "location": "{base}/b"},
        {"path": "/b", "fault": "redirect", "location": "{base}/a", "status": 301},
        {"path": "/evil", "fault": "redirect", "location": "file:///etc/passwd"},
    ]
    with ReplayServer(routes=routes) as server:
        status, headers, _ = get(server, "/a")
        assert (status, headers["location"]) == (302, server.base_url + "/b")
        assert get(server, "/b")[0] == 301
        assert get(server, "/evil")[1]["location"] == "file:///etc/passwd"


def test_truncate_lies_about_content_length() -> None:
    with ReplayServer(routes=[{"path": "/short", "fault": "truncate"}]) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/short")
        resp = conn.getresponse()
        assert resp.getheader("Content-Length") == "1000"
        with pytest.raises(http.client.IncompleteRead) as info:
            resp.read()
        assert info.value.partial == b"Hello, world!"
        conn.close()


def test_chunked_fault_has_no_content_length() -> None:
    with ReplayServer(routes=[{"path": "/big", "fault": "chunked", "size_mib": 2.5}]) as server:
        status, headers, body = get(server, "/big")
    assert status == 200
    assert "content-length" not in headers
    assert headers["transfer-encoding"] == "chunked"
    assert len(body) == int(2.5 * 1024 * 1024)


def test_reset_fault_closes_without_an_answer() -> None:
    with (
        ReplayServer(routes=[{"path": "/reset", "fault": "reset"}]) as server,
        pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)),
    ):
        get(server, "/reset")


def test_every_fault_is_tested() -> None:
    tested = {"hang", "drip", "gzip_bomb", "status", "redirect", "truncate", "chunked", "reset"}
    assert set(FAULTS) == tested


# -- request log -------------------------------------------------------------------------


def test_request_log_records_method_path_and_headers() -> None:
    with ReplayServer(routes=[{"path": "/feed", "body": "x"}]) as server:
        get(server, "/feed?a=1", headers={"User-Agent": "radar-test", "If-None-Match": '"x"'})
        get(server, "/nowhere", method="HEAD")
        log = server.requests
        assert [(r.method, r.path, r.query) for r in log] == [
            ("GET", "/feed", "a=1"),
            ("HEAD", "/nowhere", ""),
        ]
        assert log[0].target == "/feed?a=1"
        assert log[0].headers["User-Agent"] == "radar-test"
        assert log[0].headers["If-None-Match"] == '"x"'
        assert server.hits("/feed") == 1
        assert server.hits("/internal-admin") == 0
        assert server.hits() == 2
        server.clear_log()
        assert server.hits() == 0


def test_keep_alive_serves_many_requests_on_one_connection() -> None:
    with ReplayServer(routes=[{"path": "/x", "body": "y"}]) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        for _ in range(50):
            conn.request("GET", "/x")
            assert conn.getresponse().read() == b"y"
        conn.close()
        assert server.hits("/x") == 50


# -- binding and lifecycle -----------------------------------------------------------------


def test_binds_loopback_on_an_ephemeral_port() -> None:
    server = ReplayServer()
    base = server.start()
    try:
        assert base == f"http://127.0.0.1:{server.port}"
        assert server.port != 0
        assert server.url("/x") == base + "/x"
        assert server.start() == base  # idempotent
    finally:
        server.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=1):
        pass


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com", ""])
def test_refuses_non_loopback_hosts(host: str) -> None:
    assert not is_loopback_host(host)
    with pytest.raises(ConfigError, match="only loopback"):
        ReplayServer(host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[route]]\npath = "/a"\nfiel = "x"\n', "route #1 '/a': unknown field(s) fiel"),
        ('[[route]]\npath = "/a"\nfault = "explode"\n', "route #1 '/a': unknown fault 'explode'"),
        ('[[route]]\npath = "a"\n', "route #1 'a': 'path' must be a string starting with '/'"),
        ('[[route]]\npath = "/a"\nfile = "x"\nbody = "y"\n', "give 'file' or 'body'"),
        ("route = [\n", "routes.toml: invalid TOML"),
        ("srve_files = true\n", "unknown top-level field(s) srve_files"),
    ],
)
def test_bad_routes_files_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    write_routes(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        ReplayServer(tmp_path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


# -- CLI -----------------------------------------------------------------------------------


def test_cli_serves_and_prints_the_base_url(site: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler.replay", str(site), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith(f"replay: serving {site} on http://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/page.html")
        assert conn.getresponse().read() == b"<html>{base}</html>"
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        proc.stdout.close()


def test_cli_refuses_a_public_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("replay: error: refusing to bind '0.0.0.0'")
    assert err.count("\n") == 1


def test_cli_missing_dir_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--port" in out and "--host" in out and "e.g." in out
