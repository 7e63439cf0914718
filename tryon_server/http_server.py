"""How uvicorn serves the app: connection limits, read timeouts, and no trust in proxy headers.

uvicorn times out idle keep-alive connections, but not a request that is still arriving: a client
that sends its headers (or its body) a byte at a time keeps a connection, and its memory, for as
long as it likes (an adversarial review held 200 such connections open). Its HTTP protocol is
subclassed here to give the request head and the request body each a deadline.

uvicorn also believes `X-Forwarded-For` from 127.0.0.1 by default, which on a local server is
every client: any web page could then pick the address its rate limit is counted under. Proxy
headers are off unless `--proxy-headers` says a real proxy stands in front.
"""

from __future__ import annotations

import asyncio
import logging

import uvicorn
from starlette.types import ASGIApp

from .config import Settings

log = logging.getLogger("tryon.http")

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools missing (it comes with uvicorn[standard], a dependency)
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


def _protocol_with_read_timeouts(head_timeout_s: float, body_timeout_s: float) -> type:
    assert HttpToolsProtocol is not None

    class ReadTimeoutProtocol(HttpToolsProtocol):
        """A request's head must arrive within `head_timeout_s` of its first byte (of the
        connection, for the first request) and its body within `body_timeout_s` after the head;
        otherwise the connection is closed. Responses (server-sent events) are not limited."""

        _read_timer: asyncio.TimerHandle | None = None

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._read_timer = self.loop.call_later(seconds, self._read_timed_out)

        def _disarm(self) -> None:
            if self._read_timer is not None:
                self._read_timer.cancel()
                self._read_timer = None

        def _read_timed_out(self) -> None:
            self._read_timer = None
            if not self.transport.is_closing():
                log.info("closing a connection from %s: its request did not arrive in time",
                         self.client[0] if self.client else "?")
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm(head_timeout_s)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm(head_timeout_s)

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._arm(body_timeout_s)

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return ReadTimeoutProtocol


def uvicorn_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    """The uvicorn configuration `run.py` (and `tryon-server`) serves with."""
    http: type | str = "auto"
    if HttpToolsProtocol is not None:
        http = _protocol_with_read_timeouts(settings.request_head_timeout_s, settings.request_body_timeout_s)
    else:
        log.warning("httptools is not installed: requests that arrive slowly are not timed out")
    return uvicorn.Config(
        app, host=settings.host, port=settings.port, log_config=None, access_log=False,
        http=http,
        proxy_headers=settings.proxy_headers,
        # connections and requests at once; past it uvicorn answers 503 instead of taking more work
        limit_concurrency=settings.max_connections or None,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=10,
    )
