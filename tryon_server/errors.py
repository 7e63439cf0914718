"""Turning exceptions into the contract's error bodies: {"error": {"code", "message"}}.

Starlette answers an unhandled exception from ServerErrorMiddleware, outside every user
middleware, so such a 500 would lack CORS headers (the extension would see a CORS failure, not
the message) and the request id. `CatchAllMiddleware` sits inside CORS and answers it there.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .exceptions import ApiError, InputRejected

log = logging.getLogger("tryon.errors")
INTERNAL_MESSAGE = "Something went wrong on the server. Please try again."


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


async def api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.code, exc.message, exc.headers)


async def input_rejected(request: Request, exc: Exception) -> JSONResponse:
    """An engine-side refusal reached over HTTP (e.g. /api/estimate-body): the input's fault."""
    assert isinstance(exc, InputRejected)
    return error_response(422, exc.code, exc.message)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    messages = {404: ("not_found", "There is nothing at this address."),
                405: ("method_not_allowed", "This address does not accept that method.")}
    code, message = messages.get(exc.status_code, ("http_error", str(exc.detail)))
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))


EXCEPTION_HANDLERS = {ApiError: api_error, InputRejected: input_rejected, HTTPException: http_error}


class CatchAllMiddleware:
    """Any exception no handler took becomes a JSON 500 (never a stack trace) inside CORS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # too late for a clean answer: let the server close the connection
            response = error_response(500, "internal_error", INTERNAL_MESSAGE)
            await response(scope, receive, send)
