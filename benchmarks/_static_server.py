"""A fast static HTTP/1.1 server for the crawl benchmark (run as its own process).

Every file under DIR is loaded into memory at start and answered from a dict, with
keep-alive, by an asyncio Protocol (no per-request threads, no header parsing beyond
the request line): a few tens of µs of CPU per response, so the server is never what
limits a crawler measured against it. Unknown paths get 404.

    python benchmarks/_static_server.py DIR      # prints "READY <port>", serves until SIGTERM

On SIGTERM it prints "SERVED <requests> <cpu seconds>" and exits.
"""

from __future__ import annotations

import asyncio
import mimetypes
import signal
import sys
import time
from pathlib import Path
from typing import ClassVar

TYPES = {".xml": "application/rss+xml; charset=utf-8", ".html": "text/html; charset=utf-8"}


def load(root: Path) -> dict[bytes, bytes]:
    """path -> the complete response (status line, headers, body)."""
    out: dict[bytes, bytes] = {}
    for f in root.rglob("*"):
        if not f.is_file():
            continue
        body = f.read_bytes()
        rel = "/" + f.relative_to(root).as_posix()
        ctype = TYPES.get(f.suffix) or mimetypes.guess_type(f.name)[0] or "text/plain"
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            "Connection: keep-alive\r\n\r\n"
        ).encode("latin-1")
        out[rel.encode()] = head + body
    return out


NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n"
)


class Http(asyncio.Protocol):
    routes: ClassVar[dict[bytes, bytes]] = {}
    served: ClassVar[int] = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end], self.buf[end + 4 :]
            line = head.split(b"\r\n", 1)[0]
            parts = line.split(b" ")
            path = parts[1].split(b"?", 1)[0] if len(parts) > 1 else b"/"
            Http.served += 1
            self.transport.write(Http.routes.get(path, NOT_FOUND))  # type: ignore[attr-defined]


async def serve(root: Path) -> None:
    Http.routes = load(root)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Http, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()
    print(f"SERVED {Http.served} {time.process_time():.3f}", flush=True)


def main() -> int:
    asyncio.run(serve(Path(sys.argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
