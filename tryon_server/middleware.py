"""Pure ASGI middleware: request id + access log + metrics, the Host guard, CORS, and 405s.

Order (outermost first): RequestContext, HostGuard, LocalCORS (Starlette's, with a fast path for
requests without Origin, and cross-site writes refused), MethodNotAllowed, StreamLimit (event
streams per token), then the routes. They work on raw header lists: a
status poll passes through all of them, and Headers objects cost microseconds each.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
from collections.abc import Sequence
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logs import request_id_var
from .metrics import Metrics

access_log = logging.getLogger("tryon.access")
# request ids only need to be unique, not secret: a PRNG, unlike uuid4's os.urandom, does not drop
# the GIL (which costs the loop a wait whenever the inference thread is busy in Python code)
_ids = random.Random()
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}
_SECURITY_RAW = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()]
# a status poll every second from each open page would drown the log: successful, quick GETs are
# logged at DEBUG (run with --log-level debug to see them); everything else at INFO
_QUIET_GET_S = 0.5
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestContextMiddleware:
    """Gives every request an id (echoed as X-Request-ID), logs one JSON line per request and
    feeds the request metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # (method, route, status) -> its counter and histogram children; bounded by the routes
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _raw_header(scope, b"x-request-id")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else f"{_ids.getrandbits(128):032x}"
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # raw (lower-case bytes) headers: cheaper than a MutableHeaders on every response
                raw = [kv for kv in message.get("headers", ()) if kv[0] != b"x-request-id"]
                raw.append((b"x-request-id", request_id.encode("latin-1")))
                present = {k for k, _ in raw}
                raw.extend(kv for kv in _SECURITY_RAW if kv[0] not in present)
                message["headers"] = raw
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            # a client can send any method name: only known ones become labels (bounded memory)
            method = scope["method"] if scope["method"] in _KNOWN_METHODS else "OTHER"
            key = (method, route_path, status)
            children = self._children.get(key)
            if children is None:  # labels() takes a lock and builds a key: once per kind of request
                children = (self.metrics.requests.labels(method, route_path, str(status)),
                            self.metrics.latency.labels(route_path))
                self._children[key] = children
            children[0].inc()
            children[1].observe(seconds)
            quiet = scope["method"] == "GET" and status < 400 and seconds < _QUIET_GET_S
            level = logging.DEBUG if quiet else logging.INFO
            if access_log.isEnabledFor(level):
                access_log.log(
                    level, "%s %s %d", scope["method"], scope["path"], status,
                    extra={"fields": {"method": scope["method"], "path": scope["path"], "status": status,
                                      "duration_ms": round(seconds * 1000, 2)}},
                )
            request_id_var.reset(token)


def _raw_header(scope: Scope, name: bytes) -> str:
    """The first value of header `name` (lower-case bytes), or "": what Headers(scope).get does,
    without building a Headers object on every request."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


_HOST_RE = re.compile(r"^(?:\[([0-9a-f:.]+)\]|([^:\[\]]*))(?::[0-9]{1,5})?$")


def _host_name(host_header: str) -> str:
    """The name in a Host header ("localhost:8000" → "localhost", "[::1]:8000" → "::1"), or ""
    when the header is not a name with an optional numeric port: "[::1]evil" and "localhost:x"
    are refused rather than read up to where they look right."""
    found = _HOST_RE.match(host_header.strip().lower())
    if found is None:
        return ""
    return found.group(1) or found.group(2) or ""


async def _send_error(send: Send, status: int, code: str, message: str,
                      headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class HostGuardMiddleware:
    """Refuses requests whose Host is not this server's own name: a page on evil.example that
    rebinds its DNS name to 127.0.0.1 still sends `Host: evil.example`, and gets 403."""

    def __init__(self, app: ASGIApp, allowed_hosts: set[str]) -> None:
        self.app = app
        self.allowed = {h.lower().strip("[]") for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = _host_name(_raw_header(scope, b"host"))
            if host not in self.allowed:
                body = json.dumps({"error": {"code": "bad_host", "message":
                                   "This server only answers requests addressed to its own local address."}}).encode()
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


class StreamLimitMiddleware:
    """At most `per_token` server-sent event streams open at once for one bearer token; one more
    gets 429 with Retry-After. A stream holds a connection and a watcher for as long as its
    session runs (minutes): without a cap one token could open thousands. Counted here, around
    the whole response, so the count falls when a stream ends however it ends."""

    _STREAM_PATH = re.compile(r"^/api/tryon/sessions/[^/]+/events$")

    def __init__(self, app: ASGIApp, per_token: int) -> None:
        self.app = app
        self.per_token = per_token
        self.open: dict[str, int] = {}  # a digest of the Authorization header -> streams open

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not self._STREAM_PATH.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        # the header's digest, not the token: a forged header is counted too, and 401s at once
        key = hashlib.sha256(_raw_header(scope, b"authorization").encode("latin-1")).hexdigest()
        if self.open.get(key, 0) >= self.per_token:
            await _send_error(send, 429, "too_many_streams",
                              f"Too many live progress streams are open for this token (at most {self.per_token}); "
                              "close some and try again.", headers=[(b"retry-after", b"5")])
            return
        self.open[key] = self.open.get(key, 0) + 1
        try:
            await self.app(scope, receive, send)
        finally:
            left = self.open[key] - 1
            if left:
                self.open[key] = left
            else:
                del self.open[key]


class MethodNotAllowedMiddleware:
    """405 with an `Allow` header that lists every method the path supports.

    Each method of a path is its own Route, and the static page is mounted at "/", so left to the
    router a wrong method reaches either the first route of the path (Allow lists only its
    methods) or the static files (Allow: GET, HEAD). Both tell clients the wrong thing. Placed
    inside CORS, so preflight OPTIONS requests never get here.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        by_path: dict[str, tuple[re.Pattern[str], set[str]]] = {}
        for route in routes:
            if isinstance(route, Route) and route.methods:
                pattern, methods = by_path.setdefault(route.path, (route.path_regex, set()))
                methods.update(route.methods)
        self._paths = list(by_path.values())

    def _allowed(self, path: str) -> set[str] | None:
        for pattern, methods in self._paths:
            if pattern.match(path):
                return methods
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            allowed = self._allowed(scope["path"])
            if allowed is not None and scope["method"] not in allowed:
                body = json.dumps({"error": {"code": "method_not_allowed",
                                             "message": "This address does not accept that method."}}).encode()
                order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
                allow = ", ".join(sorted(allowed, key=lambda m: order.index(m) if m in order else 99))
                await send({"type": "http.response.start", "status": 405,
                            "headers": [(b"content-type", b"application/json"), (b"allow", allow.encode()),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


class LocalCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a fast path for requests that carry no `Origin` header (the page's
    own same-origin GETs, scripts, curl): for those Starlette only merges "Origin" into the
    `Vary` header, which is exactly what this does, without building Headers objects twice
    and wrapping `send` in a partial on every status poll.

    CORS only stops a foreign page from *reading* an answer: a "simple" cross-site POST (a form,
    or fetch with text/plain) is sent without a preflight and runs. Browsers always name the page
    in `Origin` on such a request, so one that writes (any method but GET/HEAD/OPTIONS) from an
    origin that is neither allowed nor this server's own is refused before it does anything: a
    website could otherwise create tokens from your browser by the hundred and use up your
    address's rate limit (non-browser clients send no Origin and are not affected)."""

    def _cross_site_write(self, scope: Scope) -> bool:
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return False
        origin = _raw_header(scope, b"origin")
        if self.is_allowed_origin(origin):
            return False
        same_origin = f"{scope.get('scheme', 'http')}://{_raw_header(scope, b'host')}"
        return origin.lower() != same_origin.lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(k == b"origin" for k, _ in scope["headers"]):
            if self._cross_site_write(scope):
                await _send_error(send, 403, "cross_site_refused",
                                  "This server does not take requests that other websites make in your browser.")
                return
            await super().__call__(scope, receive, send)
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return

        async def send_with_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", ()))
                vary = [v.decode("latin-1") for k, v in raw if k == b"vary"]
                raw = [kv for kv in raw if kv[0] != b"vary"]
                raw.append((b"vary", ", ".join([*vary, "Origin"]).encode("latin-1")))
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_vary)
