"""The session lifecycle's one owner (manager.SessionManager) on a real SQLite file and real
storage: every move a session makes, and what each kind of deletion leaves behind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tryon_server.config import Settings
from tryon_server.db import Database
from tryon_server.engines.base import CATEGORIES, MAX_OUTPUT_SIZE, MAX_SEED, MIN_OUTPUT_SIZE
from tryon_server.engines.diffusion.options import parse_options
from tryon_server.events import SessionEvents
from tryon_server.exceptions import InputRejected, QueueFull, Unauthorized
from tryon_server.manager import SessionManager
from tryon_server.metrics import Metrics
from tryon_server.schemas import EngineOptions, SessionCreateJson
from tryon_server.status import Status
from tryon_server.storage import Storage

OWNER = "a" * 64


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[SessionManager]:
    settings = Settings(data_dir=tmp_path, queue_max=3, max_attempts=2, retention_hours=1)
    db = Database(settings.db_path)
    await db.connect()
    await db.execute("insert_token", token_hash=OWNER, now=time.time())
    storage = Storage(tmp_path / "images")
    storage.prepare()
    yield SessionManager(settings, db, storage, SessionEvents(), Metrics())
    await db.close()


async def _submit(m: SessionManager, **kw: str) -> tuple[str, list[str]]:
    keys = [await m.storage.save("inputs", "png", b"person"), await m.storage.save("inputs", "png", b"garment")]
    sid = await m.submit(OWNER, category="upper", person_key=keys[0], person_sha256="0" * 64, garment_key=keys[1], **kw)
    return sid, keys


async def _status(m: SessionManager, sid: str) -> str | None:
    row = await m.db.fetch_one("get_session", id=sid, owner=OWNER)
    return None if row is None else row["status"]


def _exists(m: SessionManager, key: str) -> bool:
    return (m.storage.root / key).is_file()


async def test_a_session_moves_queued_processing_completed_and_its_place_in_line_moves_up(manager):
    first, _ = await _submit(manager)
    second, _ = await _submit(manager)
    assert await manager.depth() == 2
    assert await manager.next() == first
    rows = {sid: await manager.db.fetch_one("get_session", id=sid, owner=OWNER) for sid in (first, second)}
    assert [await manager.position(rows[s]) for s in (first, second)] == [1, 2]

    claimed = await manager.claim(first)
    assert claimed is not None and claimed[0]["attempts"] == 1 and manager.running(first)
    assert await manager.claim(first) is None  # a second claim is a no-op
    second_row = await manager.db.fetch_one("get_session", id=second, owner=OWNER)
    assert await manager.position(second_row) == 1

    result = await manager.storage.save("results", "png", b"result")
    assert await manager.complete(first, result)
    manager.release(first)
    assert await _status(manager, first) == Status.COMPLETED and not manager.running(first)
    assert _exists(manager, result)


async def test_a_full_queue_refuses_and_deletes_the_uploads_it_was_given(manager):
    for _ in range(3):
        await _submit(manager)
    with pytest.raises(QueueFull):
        await _submit(manager)
    stored = {p.name for p in (manager.storage.root / "inputs").iterdir()}
    assert len(stored) == 6  # the three accepted sessions' images, none of the refused one's


async def test_retry_puts_it_back_in_line_after_the_delay_and_fail_is_final(manager):
    sid, _ = await _submit(manager)
    await manager.next()
    await manager.claim(sid)
    assert await manager.retry(sid, 0.05)
    manager.release(sid)
    assert await _status(manager, sid) == Status.QUEUED
    assert await asyncio.wait_for(manager.next(), 2) == sid
    await manager.claim(sid)
    assert await manager.fail(sid, "No person in the photo.", "no_person")
    assert not await manager.retry(sid, 0.05)  # failed stays failed
    assert await _status(manager, sid) == Status.FAILED


async def test_deleting_a_running_session_cancels_it_and_its_late_result_is_not_kept(manager):
    sid, keys = await _submit(manager)
    await manager.next()
    _, cancel = await manager.claim(sid)
    assert await manager.delete(sid, OWNER)
    assert cancel.is_set() and not any(_exists(manager, k) for k in keys)
    late = await manager.storage.save("results", "png", b"late")
    assert not await manager.complete(sid, late)
    assert not _exists(manager, late)
    assert not await manager.delete(sid, OWNER)  # already gone


async def test_profile_and_owner_deletions_take_exactly_their_sessions(manager):
    await manager.db.execute("insert_profile", id="p1", owner=OWNER, name="", height_cm=None, photo_key="inputs/x",
                             photo_sha256="0" * 64, now=time.time())
    from_profile, profile_keys = await _submit(manager, profile_id="p1")
    other, other_keys = await _submit(manager)
    assert await manager.delete_for_profile("p1", OWNER) == 1
    assert await _status(manager, from_profile) is None and await _status(manager, other) == Status.QUEUED
    assert not any(_exists(manager, k) for k in profile_keys) and all(_exists(manager, k) for k in other_keys)
    assert (await manager.delete_for_owner(OWNER)).sessions == 1
    assert not any(_exists(manager, k) for k in other_keys)


async def test_expire_removes_finished_unkept_sessions_past_their_retention(manager):
    done, done_keys = await _submit(manager)
    kept, _ = await _submit(manager)
    waiting, _ = await _submit(manager)
    for sid in (done, kept):
        await manager.claim(sid)
        await manager.fail(sid, "x", "x")
    assert await manager.keep(kept, OWNER, True)
    assert await manager.expire(time.time() + 1800) == 0  # within the hour of retention
    assert await manager.expire(time.time() + 7200) == 1
    assert await _status(manager, done) is None and not any(_exists(manager, k) for k in done_keys)
    assert await _status(manager, kept) == Status.FAILED and await _status(manager, waiting) == Status.QUEUED


async def test_recover_requeues_in_order_and_fails_what_crashed_at_every_attempt(manager):
    crashing, _ = await _submit(manager)
    interrupted, _ = await _submit(manager)
    waiting, _ = await _submit(manager)
    for attempt in range(2):  # max_attempts == 2: two claims that never finished
        await manager.claim(crashing)
        if attempt == 0:
            await manager.db.execute("requeue_processing", now=time.time())
    await manager.claim(interrupted)
    fresh = SessionManager(manager.settings, manager.db, manager.storage, SessionEvents(), Metrics())  # a restart
    assert await fresh.recover() == 2
    assert [await fresh.next(), await fresh.next()] == [interrupted, waiting]
    assert await _status(fresh, crashing) == Status.FAILED
    row = await fresh.db.fetch_one("get_session", id=crashing, owner=OWNER)
    assert row["error_code"] == "engine_crash"


async def test_a_session_of_a_deleted_token_is_refused_and_leaves_no_files(manager):
    await manager.db.execute("delete_token", token_hash=OWNER)
    with pytest.raises(Unauthorized, match="token was deleted"):
        await _submit(manager)
    assert list((manager.storage.root / "inputs").iterdir()) == []


def test_the_api_and_the_engines_share_one_set_of_option_limits_and_categories():
    assert SessionCreateJson.model_json_schema()["properties"]["category"]["enum"] == list(CATEGORIES)
    props = EngineOptions.model_json_schema()["properties"]
    assert (props["output_size"]["minimum"], props["output_size"]["maximum"]) == (MIN_OUTPUT_SIZE, MAX_OUTPUT_SIZE)
    assert props["seed"]["anyOf"][0]["maximum"] == MAX_SEED
    assert parse_options({"output_size": MIN_OUTPUT_SIZE, "seed": MAX_SEED}).seed == MAX_SEED
    for bad in ({"output_size": MIN_OUTPUT_SIZE - 1}, {"seed": MAX_SEED + 1}):
        with pytest.raises(InputRejected):
            parse_options(bad)
