"""LocalCORSMiddleware answers exactly what Starlette's CORSMiddleware answers, with or without an
Origin header; it only takes a shorter path when there is none (every status poll)."""

from __future__ import annotations

import asyncio

import pytest
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Message

from tryon_server.middleware import LocalCORSMiddleware

OPTIONS = dict(allow_origins=["http://127.0.0.1:8000"], allow_origin_regex=r"chrome-extension://[a-p]{32}",
               allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"],
               expose_headers=["Location"], max_age=600)


def _answer(middleware: type, request_headers: list[tuple[bytes, bytes]],
            response_headers: list[tuple[bytes, bytes]], method: str = "GET") -> list[Message]:
    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(response_headers)})
        await send({"type": "http.response.body", "body": b"{}"})

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/api/health", "headers": request_headers}
    asyncio.run(middleware(app, **OPTIONS)(scope, receive, send))
    return sent


@pytest.mark.parametrize("request_headers", [
    [],
    [(b"origin", b"http://127.0.0.1:8000")],
    [(b"origin", b"https://evil.example")],
    [(b"origin", b"chrome-extension://" + b"a" * 32)],
])
@pytest.mark.parametrize("response_headers", [
    [],
    [(b"vary", b"Accept-Encoding")],
    [(b"vary", b"a"), (b"content-type", b"application/json"), (b"vary", b"b")],
])
def test_fast_path_sends_the_same_headers_as_starlettes_cors(request_headers, response_headers) -> None:
    ours = _answer(LocalCORSMiddleware, request_headers, response_headers)
    theirs = _answer(CORSMiddleware, request_headers, response_headers)
    assert sorted(ours[0]["headers"]) == sorted(theirs[0]["headers"])
    assert ours[1] == theirs[1]


def test_preflight_still_goes_through_starlettes_cors() -> None:
    preflight = [(b"origin", b"chrome-extension://" + b"b" * 32), (b"access-control-request-method", b"POST")]
    ours = _answer(LocalCORSMiddleware, preflight, [], method="OPTIONS")
    assert ours[0]["status"] == 200
    headers = dict(ours[0]["headers"])
    assert headers[b"access-control-allow-origin"] == b"chrome-extension://" + b"b" * 32
