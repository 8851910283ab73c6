"""A local web that replays recorded responses from a folder (tests, the demo, benchmarks).

A replay folder holds the recorded bodies and, optionally, a ``routes.toml`` (or
``routes.json``) that maps request paths to responses::

    serve_files = false            # also serve unmatched paths straight from the folder
    templated = ["feeds/*.xml"]    # files-mode globs whose bodies get {base} replaced

    [[route]]
    path = "/feeds/python.xml"     # exact path; may carry a query ("/search?q=python")
    file = "feeds/python.xml"      # or: body = "inline text"
    status = 200
    headers = { "Content-Type" = "application/rss+xml" }
    delay = 0.2                    # seconds before answering
    etag = '"v1"'                  # conditional GET: If-None-Match -> 304
    last_modified = "Sat, 01 Nov 2025 00:00:00 GMT"   # If-Modified-Since -> 304
    templated = true               # replace "{base}" in the body with the server's base URL

    [[route]]
    path = "/hang"
    fault = "hang"                 # see FAULTS

Without a routes file every file under the folder is served by its path (files mode).

A route whose path has no query also answers that path with any query, unless a route
with a matching query exists (queries compare as sorted, decoded pairs). A route may
carry ``sequence = [{...}, {...}]``: the n-th hit is the route updated with the n-th
entry, and the last entry repeats (e.g. a 500 then a 200, or a feed that grows).

Faults (``fault = ...``), for the fault tests of the crawler:

- ``hang``: accept, read the request, never answer (until the server stops).
- ``drip``: headers, then one byte every ``interval`` seconds (default 1).
- ``gzip_bomb``: ``size_mib`` MiB of zeros (default 200), ``encoding`` gzip or deflate.
- ``status``: any ``status`` with an optional ``retry_after`` (seconds or HTTP date).
- ``redirect``: ``status`` (default 302) to ``location`` ({base} is replaced).
- ``truncate``: declares ``content_length`` (default 1000), sends the body, closes.
- ``chunked``: ``size_mib`` MiB in chunked encoding, no Content-Length.
- ``reset``: close the connection without any answer.

The server binds 127.0.0.1 on an ephemeral port by default and refuses non-loopback
hosts. Every request is logged (method, path, headers) so tests can assert hits, e.g.
that an SSRF target saw none::

    with ReplayServer(folder) as server:
        fetch(server.base_url + "/feeds/python.xml")
        assert server.hits("/internal-admin") == 0

CLI: ``python -m crawler.replay DIR [--port 0] [--host 127.0.0.1]``.
"""

from __future__ import annotations

import argparse
import email.utils
import fnmatch
import ipaddress
import json
import logging
import mimetypes
import socket
import struct
import sys
import threading
import time
import tomllib
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from crawler.errors import ConfigError

logger = logging.getLogger(__name__)

ROUTES_FILES = ("routes.toml", "routes.json")
FAULTS = ("hang", "drip", "gzip_bomb", "status", "redirect", "truncate", "chunked", "reset")
ROUTE_KEYS = frozenset(
    {
        "path",
        "file",
        "body",
        "status",
        "headers",
        "content_type",
        "delay",
        "etag",
        "last_modified",
        "templated",
        "fault",
        "size_mib",
        "encoding",
        "location",
        "retry_after",
        "content_length",
        "interval",
        "sequence",
    }
)
TOP_KEYS = frozenset({"route", "routes", "serve_files", "templated"})
MIB = 1024 * 1024

_bomb_cache: dict[tuple[float, str], bytes] = {}
_bomb_lock = threading.Lock()


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def gzip_bomb(size_mib: float = 200, encoding: str = "gzip") -> bytes:
    """``size_mib`` MiB of zeros compressed with gzip or deflate (zlib); cached."""
    key = (size_mib, encoding)
    with _bomb_lock:
        if key not in _bomb_cache:
            wbits = 31 if encoding == "gzip" else 15
            comp = zlib.compressobj(9, zlib.DEFLATED, wbits)
            total = int(size_mib * MIB)
            chunk = bytes(MIB)
            parts = []
            while total > 0:
                parts.append(comp.compress(chunk[: min(MIB, total)]))
                total -= MIB
            parts.append(comp.flush())
            _bomb_cache[key] = b"".join(parts)
        return _bomb_cache[key]


def _query_key(query: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(parse_qsl(query, keep_blank_values=True)))


@dataclass
class RequestRecord:
    """One request the server received."""

    method: str
    path: str  # the path without the query, percent-decoded
    query: str  # the raw query string ("" when none)
    headers: dict[str, str]
    time: float = field(default_factory=time.time)

    @property
    def target(self) -> str:
        """The path with its query, as requested."""
        return f"{self.path}?{self.query}" if self.query else self.path


@dataclass
class Route:
    """One configured response (or fault) for a path."""

    path: str
    query: tuple[tuple[str, str], ...] | None = None  # None: any query
    file: str | None = None
    body: bytes | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    delay: float = 0.0
    etag: str | None = None
    last_modified: str | None = None
    templated: bool = False
    fault: str | None = None
    size_mib: float = 200
    encoding: str = "gzip"
    location: str | None = None
    retry_after: int | str | None = None
    content_length: int = 1000
    interval: float = 1.0
    sequence: list[dict[str, Any]] = field(default_factory=list)
    hits: int = 0


def _route_from_spec(spec: Mapping[str, Any], where: str) -> Route:
    unknown = sorted(set(spec) - ROUTE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
    raw_path = spec.get("path")
    if not isinstance(raw_path, str) or not raw_path.startswith("/"):
        raise ConfigError(f"{where}: 'path' must be a string starting with '/'")
    fault = spec.get("fault")
    if fault is not None and fault not in FAULTS:
        raise ConfigError(f"{where}: unknown fault {fault!r} (expected one of {', '.join(FAULTS)})")
    if "file" in spec and "body" in spec:
        raise ConfigError(f"{where}: give 'file' or 'body', not both")
    path, _, query = raw_path.partition("?")
    kwargs: dict[str, Any] = {k: v for k, v in spec.items() if k not in ("path", "body")}
    body = spec.get("body")
    if isinstance(body, str):
        body = body.encode("utf-8")
    if fault == "redirect":
        kwargs.setdefault("status", 302)
    elif fault == "status":
        kwargs.setdefault("status", 503)
    try:
        route = Route(path=unquote(path), query=_query_key(query) if query else None, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    route.body = body
    route.headers = {str(k): str(v) for k, v in (route.headers or {}).items()}
    if not isinstance(route.sequence, list) or not all(isinstance(s, dict) for s in route.sequence):
        raise ConfigError(f"{where}: 'sequence' must be a list of tables")
    for i, step in enumerate(route.sequence, 1):
        bad = sorted(set(step) - (ROUTE_KEYS - {"path", "sequence"}))
        if bad:
            raise ConfigError(f"{where}: sequence #{i}: unknown field(s) {', '.join(bad)}")
    return route


def load_routes(root: Path) -> tuple[list[Route], bool, list[str]]:
    """Read ``routes.toml``/``routes.json`` under ``root``: (routes, serve_files, templated)."""
    for name in ROUTES_FILES:
        path = root / name
        if path.is_file():
            break
    else:
        return [], True, []
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(path.read_text(encoding="utf-8"))
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: invalid TOML: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path.name}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if isinstance(data, list):
        data = {"route": data}
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: expected a table of routes")
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise ConfigError(f"{path.name}: unknown top-level field(s) {', '.join(unknown)}")
    specs = data.get("route", data.get("routes", []))
    routes = [
        _route_from_spec(spec, f"{path.name}: route #{i} {spec.get('path', '?')!r}")
        for i, spec in enumerate(specs, 1)
    ]
    return routes, bool(data.get("serve_files", False)), list(data.get("templated", []))


class _Handler(BaseHTTPRequestHandler):
    """Answers from the replay table; kept lean: one write per response."""

    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "replay"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is structured; no stderr noise

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._answer(head=False)

    # -- plumbing ------------------------------------------------------------------------

    def _write_head(self, status: int, headers: Iterable[tuple[str, str]]) -> bytes:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Status"
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{k}: {v}" for k, v in headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send(
        self, status: int, headers: list[tuple[str, str]], body: bytes, head: bool = False
    ) -> None:
        headers.append(("Content-Length", str(len(body))))
        if self.close_connection:
            headers.append(("Connection", "close"))
        data = self._write_head(status, headers)
        if not head and status != 304 and status >= 200 and status not in (204,):
            data += body
        self.wfile.write(data)

    def _answer(self, head: bool) -> None:
        srv = self.server.replay
        split = urlsplit(self.path)
        path = unquote(split.path)
        srv._record(self.command, path, split.query, self.headers)
        route, step = srv._match(path, split.query)
        try:
            if route is None:
                file_body = srv._file_body(path) if srv.serve_files else None
                if file_body is None:
                    self._send(404, [("Content-Type", "text/plain")], b"not found\n", head)
                    return
                body, ctype = file_body
                self._send(200, [("Content-Type", ctype)], body, head)
                return
            if step.delay and srv._stopping.wait(step.delay):
                return
            if step.fault:
                self._fault(step, head)
            else:
                self._normal(step, head)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _normal(self, route: Route, head: bool) -> None:
        srv = self.server.replay
        headers: list[tuple[str, str]] = []
        if route.etag:
            headers.append(("ETag", route.etag))
        if route.last_modified:
            headers.append(("Last-Modified", route.last_modified))
        if (route.etag or route.last_modified) and _not_modified(
            self.headers, route.etag, route.last_modified
        ):
            self._send(304, headers, b"", head)
            return
        body = srv._route_body(route)
        ctype = route.content_type or _guess_type(route.file)
        if not any(k.lower() == "content-type" for k in route.headers):
            headers.append(("Content-Type", ctype))
        if route.retry_after is not None:
            headers.append(("Retry-After", str(route.retry_after)))
        headers += [(k, srv._template_str(v)) for k, v in route.headers.items()]
        self._send(route.status, headers, body, head)

    def _fault(self, route: Route, head: bool) -> None:
        srv = self.server.replay
        fault = route.fault
        extra = [(k, srv._template_str(v)) for k, v in route.headers.items()]
        if fault == "hang":
            self.close_connection = True
            srv._stopping.wait()
        elif fault == "reset":
            self.close_connection = True
            # linger 0: close() sends a RST instead of a FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif fault == "drip":
            self.close_connection = True
            body = srv._route_body(route) or b"<" * 1_000_000
            ctype = route.content_type or "application/xml"
            headers = [("Content-Type", ctype), ("Content-Length", str(len(body))), *extra]
            self.wfile.write(self._write_head(route.status, headers))
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                if srv._stopping.wait(route.interval):
                    return
        elif fault == "gzip_bomb":
            body = gzip_bomb(route.size_mib, route.encoding)
            ctype = route.content_type or "application/xml"
            headers = [("Content-Type", ctype), ("Content-Encoding", route.encoding), *extra]
            self._send(route.status, headers, body, head)
        elif fault == "redirect":
            location = srv._template_str(route.location or "/")
            headers = [("Location", location), ("Content-Type", "text/plain"), *extra]
            self._send(route.status, headers, b"redirect\n", head)
        elif fault == "status":
            headers = [("Content-Type", route.content_type or "text/plain"), *extra]
            if route.retry_after is not None:
                headers.append(("Retry-After", str(route.retry_after)))
            body = srv._route_body(route) or f"status {route.status}\n".encode()
            self._send(route.status, headers, body, head)
        elif fault == "truncate":
            self.close_connection = True
            body = srv._route_body(route) or b"Hello, world!"
            ctype = route.content_type or "application/xml"
            headers = [
                ("Content-Type", ctype),
                ("Content-Length", str(route.content_length)),
                ("Connection", "close"),
                *extra,
            ]
            self.wfile.write(self._write_head(route.status, headers) + body)
        elif fault == "chunked":
            self.close_connection = True
            ctype = route.content_type or "application/xml"
            headers = [("Content-Type", ctype), ("Transfer-Encoding", "chunked"), *extra]
            self.wfile.write(self._write_head(route.status, headers))
            chunk = b"%x\r\n%s\r\n" % (MIB, b"x" * MIB)
            remaining = int(route.size_mib * MIB)
            while remaining >= MIB and not srv._stopping.is_set():
                self.wfile.write(chunk)
                remaining -= MIB
            if remaining > 0:
                self.wfile.write(b"%x\r\n%s\r\n" % (remaining, b"x" * remaining))
            self.wfile.write(b"0\r\n\r\n")


def _guess_type(file: str | None) -> str:
    if not file:
        return "text/plain; charset=utf-8"
    ctype, _ = mimetypes.guess_type(file)
    if file.endswith((".xml", ".rss", ".atom")):
        return "application/xml"
    return ctype or "application/octet-stream"


def _not_modified(headers: Any, etag: str | None, last_modified: str | None) -> bool:
    """RFC 9110 §13.1: If-None-Match wins over If-Modified-Since."""
    inm = headers.get("If-None-Match")
    if inm is not None:
        if not etag:
            return False
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or etag.removeprefix("W/") in tags
    ims = headers.get("If-Modified-Since")
    if ims and last_modified:
        try:
            since = email.utils.parsedate_to_datetime(ims)
            modified = email.utils.parsedate_to_datetime(last_modified)
        except (TypeError, ValueError):
            return False
        return modified <= since
    return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    replay: ReplayServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("replay: error answering %s", client_address, exc_info=True)


class ReplayServer:
    """Replay a folder over HTTP on loopback; ``start()`` returns the base URL.

    ``routes`` adds routes in code (same fields as ``routes.toml``), after those of the
    folder's routes file. ``root`` may be None for a server made of routes only.
    """

    def __init__(
        self,
        root: Path | str | None = None,
        *,
        routes: Iterable[Mapping[str, Any]] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        serve_files: bool | None = None,
    ) -> None:
        if not is_loopback_host(host):
            raise ConfigError(f"refusing to bind {host!r}: only loopback hosts allowed")
        self.root = Path(root).resolve() if root is not None else None
        self.host = host
        self.port = port
        file_routes: list[Route] = []
        default_serve, self.templated_globs = (root is not None), []
        if self.root is not None:
            if not self.root.is_dir():
                raise ConfigError(f"{root}: not a directory")
            file_routes, default_serve, self.templated_globs = load_routes(self.root)
        code_routes = [
            _route_from_spec(spec, f"route #{i} {spec.get('path', '?')!r}")
            for i, spec in enumerate(routes, 1)
        ]
        self.serve_files = default_serve if serve_files is None else serve_files
        self._exact: dict[tuple[str, tuple[tuple[str, str], ...]], Route] = {}
        self._any_query: dict[str, Route] = {}
        for route in file_routes + code_routes:
            self._add(route)
        self._log: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._bodies: dict[tuple[str, bool], bytes] = {}
        self._files: dict[str, tuple[bytes, str] | None] = {}
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- routes ----------------------------------------------------------------------------

    def _add(self, route: Route) -> None:
        if route.query is None:
            self._any_query[route.path] = route
        else:
            self._exact[(route.path, route.query)] = route

    def add_route(self, path: str, **spec: Any) -> None:
        """Add or replace a route while running (same fields as ``routes.toml``)."""
        route = _route_from_spec({"path": path, **spec}, f"route {path!r}")
        with self._lock:
            self._add(route)
            self._bodies.clear()

    def _match(self, path: str, query: str) -> tuple[Route | None, Route]:
        route = None
        if query and self._exact:
            route = self._exact.get((path, _query_key(query)))
        if route is None:
            route = self._any_query.get(path)
            if route is None and not query:
                route = self._exact.get((path, ()))
        if route is None:
            return None, Route(path=path)
        if not route.sequence:
            route.hits += 1
            return route, route
        with self._lock:
            n = route.hits
            route.hits += 1
        step = route.sequence[min(n, len(route.sequence) - 1)]
        merged = Route(**{**route.__dict__, "sequence": [], "hits": 0})
        for key, value in step.items():
            setattr(
                merged, key, value.encode() if key == "body" and isinstance(value, str) else value
            )
        if "file" in step and "body" not in step:
            merged.body = None
        return route, merged

    def _route_body(self, route: Route) -> bytes:
        if route.body is not None:
            body = route.body
            if route.templated:
                body = body.replace(b"{base}", self.base_url.encode())
            return body
        if route.file is None:
            return b""
        key = (route.file, route.templated)
        cached = self._bodies.get(key)
        if cached is not None:
            return cached
        if self.root is None:
            raise ConfigError(f"route {route.path!r}: 'file' needs a replay folder")
        body = (self.root / route.file).read_bytes()
        if route.templated:
            body = body.replace(b"{base}", self.base_url.encode())
        self._bodies[key] = body
        return body

    def _template_str(self, value: str) -> str:
        return value.replace("{base}", self.base_url)

    def _file_body(self, path: str) -> tuple[bytes, str] | None:
        if path in self._files:
            return self._files[path]
        assert self.root is not None
        result = None
        target = (self.root / path.lstrip("/")).resolve()
        if target.is_dir():
            target = target / "index.html"
        rel = target.relative_to(self.root).as_posix() if target.is_relative_to(self.root) else ""
        if rel and rel not in ROUTES_FILES and target.is_file():
            body = target.read_bytes()
            if any(fnmatch.fnmatch(rel, g) for g in self.templated_globs):
                body = body.replace(b"{base}", self.base_url.encode())
            result = (body, _guess_type(rel))
        self._files[path] = result
        return result

    # -- request log -------------------------------------------------------------------------

    def _record(self, method: str, path: str, query: str, headers: Any) -> None:
        record = RequestRecord(method, path, query, dict(headers.items()))
        self._log.append(record)  # list.append is atomic under the GIL

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        return list(self._log)

    def hits(self, path: str | None = None) -> int:
        """Requests received for ``path`` (any query), or in total when None."""
        if path is None:
            return len(self._log)
        return sum(1 for r in self._log if r.path == path)

    def clear_log(self) -> None:
        """Forget the logged requests (route hit counters are kept)."""
        self._log.clear()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> str:
        """Bind and serve in a background thread; returns ``http://HOST:PORT``."""
        if self._httpd is not None:
            return self.base_url
        host = self.host.strip("[]")
        server_cls = _Server
        if ":" in host:
            server_cls = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
        self._stopping.clear()
        self._httpd = server_cls((host, self.port), _Handler)
        self._httpd.replay = self
        self.port = self._httpd.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{self.port}"
        self._bodies.clear()
        self._files.clear()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="replay-server",
            daemon=True,
        )
        self._thread.start()
        logger.info("replay: serving %s on %s", self.root or "(routes)", self.base_url)
        return self.base_url

    def stop(self) -> None:
        """Stop serving; hanging and dripping responses are released."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> ReplayServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        return self.base_url + path


def main(argv: list[str] | None = None) -> int:
    """``python -m crawler.replay DIR``: serve a replay folder until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m crawler.replay",
        description="Serve recorded responses from a folder on loopback (tests, demo).",
    )
    parser.add_argument(
        "dir", type=Path, help="replay folder, with an optional routes.toml (e.g. tests/fixtures)"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port to bind; 0 picks a free one (e.g. --port 8765)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="loopback address to bind (e.g. --host ::1); other hosts are refused",
    )
    args = parser.parse_args(argv)
    try:
        server = ReplayServer(args.dir, host=args.host, port=args.port)
        base = server.start()
    except (ConfigError, OSError) as exc:
        print(f"replay: error: {exc}", file=sys.stderr)
        return 2
    print(f"replay: serving {args.dir} on {base}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
