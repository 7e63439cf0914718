"""Tokens and profiles end cleanly: a token that never stored anything is forgotten after the
retention period; a deleted token cannot slip back into the cache of known tokens through a
request that was looking it up meanwhile; and what another request adds while a token or a
profile is being deleted is either deleted with it or refused, never left behind. The bad
interleavings are forced (a request held at the exact step), against the real server and SQLite.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import fixture_bytes, image_bytes, new_token
from tests.doubles import InstantEngine
from tests.garments import draw_top
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


def test_an_upload_landing_in_the_middle_of_delete_all_leaves_no_file(server_factory):
    """The review's race, forced: a profile upload inserts its row right after the deletion has
    removed the owner's profiles and before it removes the token. The token's cascade then took
    the new row, and nobody deleted its photo. Deleting is one transaction now: the upload's row
    comes after it, finds no token, and removes its own file (401)."""
    live = server_factory(InstantEngine)
    token = new_token(live)
    photo = ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg")
    with live.client(token) as c:
        assert c.post("/api/profiles", files={"photo": photo}).status_code == 201
    db = live.state.db
    real_execute, real_fetch_all = db.execute, db.fetch_all
    upload_waiting = threading.Event()
    go: asyncio.Event | None = None
    inserted: asyncio.Event | None = None

    async def execute(query: str, /, **params):
        nonlocal go, inserted
        if query != "insert_profile":
            return await real_execute(query, **params)
        go, inserted = asyncio.Event(), asyncio.Event()
        upload_waiting.set()
        await go.wait()  # until the deletion is half done (or, done in one go, over)
        try:
            return await real_execute(query, **params)
        finally:
            inserted.set()

    async def fetch_all(query: str, /, **params):
        rows = await real_fetch_all(query, **params)
        if query == "delete_owner_profiles" and go is not None:
            go.set()  # the profiles are gone, the token not yet: let the upload's row in now
            await asyncio.wait_for(inserted.wait(), 5)
        return rows

    db.execute, db.fetch_all = execute, fetch_all  # type: ignore[method-assign]
    try:
        with ThreadPoolExecutor(1) as pool, live.client(token) as c:
            upload = pool.submit(c.post, "/api/profiles", files={"photo": photo})
            assert upload_waiting.wait(20)
            assert c.delete("/api/tokens/current").status_code == 204
            live.loop.call_soon_threadsafe(go.set)
            answer = upload.result(20)
    finally:
        db.execute, db.fetch_all = real_execute, real_fetch_all  # type: ignore[method-assign]
    assert answer.status_code == 401, answer.text
    assert live.state.storage.all_keys() == set()  # not the old profile's photo, not the new one


def test_a_try_on_submitted_from_a_profile_being_deleted_does_not_outlive_it(server_factory):
    """Deleting a profile takes the try-ons made from its photo. One submitted from it while it
    was being deleted was inserted after, and kept a copy of the deleted photo; now its insert
    needs the profile to exist, and it is refused with the profile's 404."""
    live = server_factory(InstantEngine)
    token = new_token(live)
    with live.client(token) as c:
        profile = c.post("/api/profiles", files={"photo": ("me.jpg", fixture_bytes("grace_hopper.jpg"),
                                                           "image/jpeg")}).json()["profile_id"]
    db = live.state.db
    real_execute = db.execute
    submit_waiting = threading.Event()
    go: asyncio.Event | None = None

    async def execute(query: str, /, **params):
        nonlocal go
        if query == "insert_session_if_room":
            go = asyncio.Event()
            submit_waiting.set()
            await go.wait()  # the profile is deleted meanwhile
        return await real_execute(query, **params)

    db.execute = execute  # type: ignore[method-assign]
    try:
        with ThreadPoolExecutor(1) as pool, live.client(token) as c:
            submitted = pool.submit(c.post, "/api/tryon/sessions", data={"profile_id": profile},
                                    files={"garment": ("top.png", image_bytes(draw_top()), "image/png")})
            assert submit_waiting.wait(20)
            assert c.delete(f"/api/profiles/{profile}").status_code == 204
            live.loop.call_soon_threadsafe(go.set)
            answer = submitted.result(20)
            assert answer.status_code == 404 and answer.json()["error"]["code"] == "profile_not_found", answer.text
            assert c.get("/api/tryon/archive").json()["items"] == []
    finally:
        db.execute = real_execute  # type: ignore[method-assign]
    assert live.state.storage.all_keys() == set()  # no copy of the deleted photo anywhere
