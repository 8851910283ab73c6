"""The fault server: one misbehaving HTTP resource per fault, in a subprocess on 127.0.0.1.

Scrapy's mock-server pattern: ``python tests/faults/server.py FIXTURES`` binds port 0 on
127.0.0.1 (never anything else), prints one JSON line with its addresses and serves
until stdin closes or it is killed. Several listening ports share one request log,
because robots.txt is per host:port: the main port answers ``Allow: /`` and every
other port stands for one robots.txt behaviour (404, 500, 503, HTML, empty, 5 MB of
garbage, hang, Crawl-delay). A TLS port with a self-signed certificate serves F17.

Resources (any port):

- ``/hang``: reads the request, never answers.
- ``/drip``: headers (Content-Length 1 MB), then one byte every 0.5 s.
- ``/bomb/{gzip,deflate,br,zstd}?mib=N``: N MiB of zeros (default 200), compressed.
- ``/big?mib=N`` (Content-Length) and ``/chunked?mib=N`` (no Content-Length).
- ``/truncate`` (Content-Length 1000, 13 bytes sent) and ``/badchunk`` (broken chunking).
- ``/loop/a`` <-> ``/loop/b``; ``/redirect?to=URL[&status=301]`` (``{port}`` and
  ``{base}`` are filled in); ``/status/CODE[?retry_after=S]``; ``/reset``.
- ``/badheaders``: a header line without a colon and duplicate headers, then a feed.
- ``/cal?d=N``: an endless calendar, each page linking to the days before and after.
- ``/fixture/REL[?ct=TYPE&status=N]``: a file of the fixtures folder, ``{base}``
  replaced by the main base URL.
- ``/internal-admin``: the SSRF target (its hits must stay 0).
- ``/_log`` (GET: the request log as JSON; DELETE: clear it) - not itself logged.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

MIB = 1024 * 1024
ROBOTS_MODES = ("r404", "r500", "r503", "rhtml", "rempty", "rgarbage", "rhang", "rdelay")

_cache: dict[tuple[str, int], bytes] = {}
_cache_lock = threading.Lock()
_stop = threading.Event()
_log: list[dict] = []
_log_lock = threading.Lock()


def bomb(encoding: str, mib: int) -> bytes:
    """`mib` MiB of zeros in a Content-Encoding (zstd is hand-made RLE blocks)."""
    key = (encoding, mib)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        zeros = bytes(MIB)
        if encoding in ("gzip", "deflate"):
            comp = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
            data = b"".join(comp.compress(zeros) for _ in range(mib)) + comp.flush()
        elif encoding == "br":
            import brotli

            comp = brotli.Compressor(quality=5)
            data = b"".join(comp.process(zeros) for _ in range(mib)) + comp.finish()
        elif encoding == "zstd":
            data = zstd_rle_frame(mib * MIB)
        else:
            raise ValueError(encoding)
        _cache[key] = data
        return data


def zstd_rle_frame(size: int) -> bytes:
    """A valid zstd frame of `size` zero bytes made of RLE blocks (RFC 8878 3.1.1)."""
    # Frame header: magic, descriptor 0 (no checksum, no content size, window descriptor),
    # window descriptor 0x58 = 2^(10+11) = 2 MiB window.
    out = [struct.pack("<I", 0xFD2FB528), b"\x00", b"\x58"]
    block_max = 128 * 1024
    remaining = size
    while remaining > 0:
        n = min(block_max, remaining)
        remaining -= n
        last = 1 if remaining == 0 else 0
        header = last | (1 << 1) | (n << 3)  # block type 1 = RLE
        out.append(header.to_bytes(3, "little") + b"\x00")
    return b"".join(out)


def self_signed_context(tmp: Path) -> ssl.SSLContext:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fault-server.invalid")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=30))
        .not_valid_after(now - timedelta(days=1))  # expired as well as self-signed
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faults"
    sys_version = ""
    server: Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        if self.path.startswith("/_log"):
            with _log_lock:
                _log.clear()
            self._send(200, b"cleared\n")

    # -- helpers -----------------------------------------------------------------------
    def _send(
        self, status: int, body: bytes, ctype: str = "text/plain", headers: tuple = ()
    ) -> None:
        lines = [f"HTTP/1.1 {status} X", f"Content-Type: {ctype}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if self.command == "HEAD" else body))

    def _raw(self, data: bytes) -> None:
        self.close_connection = True
        self.wfile.write(data)

    def _fill(self, text: str) -> str:
        return text.replace("{port}", str(self.server.main_port)).replace(
            "{base}", self.server.base
        )

    # -- routing -----------------------------------------------------------------------
    def _handle(self) -> None:
        split = urlsplit(self.path)
        path = unquote(split.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        if path == "/_log":
            with _log_lock:
                data = json.dumps(_log).encode()
            self._send(200, data, "application/json")
            return
        with _log_lock:
            _log.append(
                {
                    "port": self.server.server_address[1],
                    "mode": self.server.mode,
                    "method": self.command,
                    "path": path,
                    "query": split.query,
                    "host": self.headers.get("Host", ""),
                    "headers": dict(self.headers.items()),
                    "t": time.time(),
                }
            )
        try:
            self._route(path, query)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _route(self, path: str, q: dict[str, str]) -> None:
        mode = self.server.mode
        if path == "/robots.txt":
            return self._robots(mode)
        if path == "/hang":
            self.close_connection = True
            _stop.wait(600)
            return
        if path == "/drip":
            self.close_connection = True
            head = "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 1000000\r\n\r\n"
            self.wfile.write(head.encode())
            while not _stop.wait(0.5):
                self.wfile.write(b"<")
                self.wfile.flush()
            return
        if path.startswith("/bomb/"):
            enc = path.rsplit("/", 1)[1]
            body = bomb(enc, int(q.get("mib", 200)))
            ctype = q.get("ct", "application/rss+xml")
            return self._send(200, body, ctype, (("Content-Encoding", enc),))
        if path == "/big":
            return self._send(200, b"<" * (int(q.get("mib", 30)) * MIB), "application/xml")
        if path == "/chunked":
            self.close_connection = True
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"%x\r\n%s\r\n" % (MIB, b"<" * MIB)
            for _ in range(int(q.get("mib", 30))):
                self.wfile.write(chunk)
            self.wfile.write(b"0\r\n\r\n")
            return
        if path == "/truncate":
            return self._raw(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 1000\r\n"
                b"Connection: close\r\n\r\nHello, world!"
            )
        if path == "/badchunk":
            return self._raw(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\n"
                b"Connection: close\r\n\r\n5\r\n<rss>\r\nzz\r\nbroken\r\n"
            )
        if path.startswith("/loop/"):
            nxt = "/loop/b" if path.endswith("a") else "/loop/a"
            nxt += "?" + urlsplit(self.path).query if "?" in self.path else ""
            return self._send(302, b"loop\n", headers=(("Location", nxt),))
        if path == "/redirect":
            target = self._fill(q.get("to", "/"))
            return self._send(
                int(q.get("status", 302)), b"moved\n", headers=(("Location", target),)
            )
        if path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            headers = (("Retry-After", q["retry_after"]),) if "retry_after" in q else ()
            body = b"" if "empty" in q else f"status {code}\n".encode()
            return self._send(code, body, headers=headers)
        if path == "/reset":
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        if path == "/badheaders":
            feed = self.server.fixture("feeds/healthy-rss.xml")
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                b"This line has no colon\r\nX-Dup: 1\r\nX-Dup: 2\r\n"
                b"Content-Type: application/rss+xml\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n" % len(feed)
            )
            return self._raw(head + feed)
        if path == "/cal":
            d = int(q.get("d", "0") or 0)
            body = (
                f'<html><head><title>Day {d}</title></head><body><a href="/cal?d={d - 1}">prev</a>'
                f' <a href="/cal?d={d + 1}">next</a></body></html>'
            ).encode()
            return self._send(200, body, "text/html; charset=utf-8")
        if path.startswith("/fixture/"):
            rel = path[len("/fixture/") :]
            body = self.server.fixture(rel)
            if body is None:
                return self._send(404, b"no such fixture\n")
            ctype = q.get("ct") or _guess(rel)
            return self._send(int(q.get("status", 200)), body, ctype)
        if path == "/internal-admin":
            return self._send(200, b"<html><title>admin console</title></html>", "text/html")
        return self._send(404, b"not found\n")

    def _robots(self, mode: str) -> None:
        if mode == "main":
            return self._send(200, b"User-agent: *\nAllow: /\n")
        if mode == "r404":
            return self._send(404, b"not found\n")
        if mode in ("r500", "r503"):
            return self._send(int(mode[1:]), b"<html>server error</html>", "text/html")
        if mode == "rhtml":
            return self._send(200, b"<html><body><h1>Welcome</h1></body></html>", "text/html")
        if mode == "rempty":
            return self._send(200, b"")
        if mode == "rgarbage":
            return self._send(200, bytes(range(256)) * (5 * MIB // 256), "text/plain")
        if mode == "rhang":
            self.close_connection = True
            _stop.wait(600)
            return None
        if mode == "rdelay":
            return self._send(200, b"User-agent: *\nCrawl-delay: 3\nAllow: /\n")
        return self._send(404, b"")


def _guess(rel: str) -> str:
    if rel.endswith((".xml", ".rss", ".atom")):
        return "application/rss+xml"
    if rel.endswith(".json"):
        return "application/json"
    if rel.endswith((".html", ".htm")):
        return "text/html; charset=utf-8"
    return "application/octet-stream"


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    mode = "main"
    main_port = 0
    base = ""
    fixtures: Path

    def fixture(self, rel: str) -> bytes | None:
        path = (self.fixtures / rel).resolve()
        if not path.is_relative_to(self.fixtures) or not path.is_file():
            return None
        data = path.read_bytes().replace(b"{base}", self.base.encode())
        return data.replace(b"{port}", str(self.main_port).encode())

    def handle_error(self, request: object, client_address: object) -> None:
        pass


class TLSServer(Server):
    context: ssl.SSLContext

    def get_request(self):  # type: ignore[override]
        sock, addr = super().get_request()
        return self.context.wrap_socket(sock, server_side=True), addr


def main(argv: list[str]) -> int:
    fixtures = Path(argv[1]).resolve() if len(argv) > 1 else Path(__file__).parent / "fixtures"
    servers: list[Server] = []
    main_srv = Server(("127.0.0.1", 0), Handler)
    servers.append(main_srv)
    base = f"http://127.0.0.1:{main_srv.server_address[1]}"
    info: dict[str, object] = {"base": base, "robots": {}}
    for mode in ROBOTS_MODES:
        srv = Server(("127.0.0.1", 0), Handler)
        srv.mode = mode
        servers.append(srv)
        info["robots"][mode] = f"http://127.0.0.1:{srv.server_address[1]}"  # type: ignore[index]
    tmp = Path(tempfile.mkdtemp(prefix="fault-tls-"))
    try:
        tls = TLSServer(("127.0.0.1", 0), Handler)
        tls.context = self_signed_context(tmp)
        servers.append(tls)
        info["tls"] = f"https://127.0.0.1:{tls.server_address[1]}"
    except ImportError:
        info["tls"] = None
    for srv in servers:
        srv.main_port = main_srv.server_address[1]
        srv.base = base
        srv.fixtures = fixtures
        threading.Thread(
            target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
    # Built before the crawl may start (~1.5 s): a bomb request arriving while the cache
    # warmed waited for it, and on a loaded machine timed out and was retried.
    for enc, mib in (("gzip", 200), ("deflate", 200), ("br", 200), ("zstd", 200), ("gzip", 12)):
        bomb(enc, mib)
    print(json.dumps(info), flush=True)
    try:
        sys.stdin.read()  # the parent closes our stdin (or kills us) to stop
    finally:
        _stop.set()
        for srv in servers:
            srv.shutdown()
            srv.server_close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
