"""Tokens end: one that never stored anything is forgotten after the retention period, and a
deleted token cannot slip back into the server's cache of known tokens through a request that
was looking it up while it was deleted (it then kept reading). Real server, real SQLite.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import fixture_bytes, new_token
from tests.doubles import InstantEngine
from tryon_server.auth import hash_token
from tryon_server.expiry import expire_once


def test_tokens_that_never_stored_anything_are_forgotten_after_the_retention(server_factory, settings):
    live = server_factory(InstantEngine)
    idle, with_profile = new_token(live), new_token(live)
    with live.client(with_profile) as c:
        assert c.post("/api/profiles", files={"photo": ("me.jpg", fixture_bytes("grace_hopper.jpg"),
                                                        "image/jpeg")}).status_code == 201
    assert live.call(expire_once, live.state, time.time() + 60)["tokens"] == 0  # not due yet
    result = live.call(expire_once, live.state, time.time() + settings.retention_seconds + 60)
    assert result["tokens"] == 1  # `idle`; the one with a profile stays
    with live.client(idle) as c:
        r = c.get("/api/profiles")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unknown_token"
    with live.client(with_profile) as c:
        assert len(c.get("/api/profiles").json()["items"]) == 1
    assert hash_token(idle) not in live.state.known_tokens


def test_a_lookup_in_flight_cannot_put_a_deleted_token_back_in_the_cache(server_factory):
    """A request that found the token in the database just before `DELETE /api/tokens/current`
    committed, and resumed just after, used to add it back to the cache: the deleted token then
    kept working until a restart."""
    live = server_factory(InstantEngine)
    token = new_token(live)
    token_hash = hash_token(token)
    db = live.state.db
    real_fetch_value = db.fetch_value
    paused = threading.Event()
    resume: asyncio.Event | None = None

    async def slow_first_lookup(query: str, /, **params):
        nonlocal resume
        value = await real_fetch_value(query, **params)
        if query == "token_exists" and resume is None:  # the first lookup: held after it found the token
            resume = asyncio.Event()
            paused.set()
            await resume.wait()
        return value

    db.fetch_value = slow_first_lookup  # type: ignore[method-assign]
    live.state.known_tokens.discard(token_hash)  # as after a restart: the next request looks it up
    try:
        with ThreadPoolExecutor(1) as pool, live.client(token) as c:
            reader = pool.submit(c.get, "/api/profiles")
            assert paused.wait(10)
            with live.client(token) as deleter:
                assert deleter.delete("/api/tokens/current").status_code == 204
            live.loop.call_soon_threadsafe(resume.set)
            assert reader.result(10).status_code == 200  # it had been let in before the deletion
            assert token_hash not in live.state.known_tokens
            r = c.get("/api/profiles")
            assert r.status_code == 401, r.text
    finally:
        db.fetch_value = real_fetch_value  # type: ignore[method-assign]
