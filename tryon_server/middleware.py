"""Pure ASGI middleware: request id + access log + metrics, and the Host guard.

Order (outermost first): RequestContext, HostGuard, CORS (Starlette's), MethodNotAllowed, then the routes.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from typing import Sequence

from starlette.datastructures import Headers, MutableHeaders
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


class RequestContextMiddleware:
    """Gives every request an id (echoed as X-Request-ID), logs one JSON line per request and
    feeds the request metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else f"{_ids.getrandbits(128):032x}"
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                present = {k for k, _ in headers.raw}
                headers.raw.extend(kv for kv in _SECURITY_RAW if kv[0] not in present)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], route_path, str(status)).inc()
            self.metrics.latency.labels(route_path).observe(seconds)
            quiet = scope["method"] == "GET" and status < 400 and seconds < _QUIET_GET_S
            level = logging.DEBUG if quiet else logging.INFO
            if access_log.isEnabledFor(level):
                access_log.log(
                    level, "%s %s %d", scope["method"], scope["path"], status,
                    extra={"fields": {"method": scope["method"], "path": scope["path"], "status": status,
                                      "duration_ms": round(seconds * 1000, 2)}},
                )
            request_id_var.reset(token)


def _host_name(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):  # [::1]:8000
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


class HostGuardMiddleware:
    """Refuses requests whose Host is not this server's own name: a page on evil.example that
    rebinds its DNS name to 127.0.0.1 still sends `Host: evil.example`, and gets 403."""

    def __init__(self, app: ASGIApp, allowed_hosts: set[str]) -> None:
        self.app = app
        self.allowed = {h.lower().strip("[]") for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = _host_name(Headers(scope=scope).get("host", ""))
            if host not in self.allowed:
                body = json.dumps({"error": {"code": "bad_host", "message":
                                   "This server only answers requests addressed to its own local address."}}).encode()
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


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
