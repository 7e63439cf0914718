"""Real HTTP servers on loopback that count their hits, for the SSRF and download tests.

A test proves "no connection was made" only by a server like this one seeing zero requests (and
zero TCP connections): traffic never goes anywhere but 127.0.0.0/8 and [::1].
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Hits:
    connections: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        with self.server.hits.lock:
            self.server.hits.requests.append((self.path, self.headers.get("Host", "")))
        route = self.server.routes.get(self.path.split("?")[0])
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    hits: Hits
    routes: dict[str, Route]

    def get_request(self):  # count TCP connections, even ones that never send a request
        conn = super().get_request()
        with self.hits.lock:
            self.hits.connections += 1
        return conn


class _Server6(_Server):
    address_family = socket.AF_INET6


class LoopbackServer:
    """One HTTP server on a loopback address; `routes` maps a path to a handler function."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, routes: dict[str, Route] | None = None) -> None:
        cls = _Server6 if ":" in host else _Server
        self.httpd = cls((host, port), _Handler)
        self.httpd.hits = Hits()
        self.httpd.routes = dict(routes or {})
        self.host = host
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def hits(self) -> Hits:
        return self.httpd.hits

    @property
    def routes(self) -> dict[str, Route]:
        return self.httpd.routes

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- route helpers ----------------------------------------------------------------------------

def serve_bytes(data: bytes, content_type: str = "image/png", headers: dict[str, str] | None = None) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
    return route


def redirect_to(location: str, status: int = 302) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return route


def endless_chunks(chunk: bytes = b"\0" * 65536, declared_length: int | None = None) -> Route:
    """A body that never ends (chunked), or one that lies about its length."""
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        if declared_length is None:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(declared_length))
        h.end_headers()
        deadline = time.time() + 30
        while time.time() < deadline:
            if declared_length is None:
                h.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            else:
                h.wfile.write(chunk)
    return route


def trickle(interval_s: float = 0.3) -> Route:
    """Headers at once, then one byte per interval: a slowloris download that never finishes."""
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Content-Length", "1000000")
        h.end_headers()
        deadline = time.time() + 30
        while time.time() < deadline:
            h.wfile.write(b"\0")
            h.wfile.flush()
            time.sleep(interval_s)
    return route


def hang(seconds: float = 30) -> Route:
    """Accept the request and never answer."""
    def route(h: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
    return route


def serve_encoded(body: bytes, content_encoding: str, accept_encodings: list[str] | None = None) -> Route:
    """A body sent as is with the `Content-Encoding` it claims, whatever the client asked for (a
    hostile server chooses); each request's Accept-Encoding is appended to `accept_encodings`."""
    send = serve_bytes(body, "image/png", {"Content-Encoding": content_encoding})

    def route(h: BaseHTTPRequestHandler) -> None:
        if accept_encodings is not None:
            accept_encodings.append(h.headers.get("Accept-Encoding", ""))
        send(h)
    return route


def gzip_of_zeros(size: int, level: int = 9) -> bytes:
    """A gzip stream of `size` zero bytes, built a megabyte at a time (never `size` in memory)."""
    import zlib
    comp = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [comp.compress(block) for _ in range(size >> 20)]
    parts.append(comp.compress(bytes(size & ((1 << 20) - 1))))
    parts.append(comp.flush())
    return b"".join(parts)
