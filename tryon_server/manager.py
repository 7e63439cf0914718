"""The session lifecycle, in one place: every change to a session's row and files goes through here.

    submit ──> queued ──claim──> processing ──complete──> completed
                 ▲                    │ └──────fail─────> failed
                 └─retry / defer / recover─┘

    keep exempts a session from expiry; delete (by id, by profile, by owner) and expire remove a
    session in any state: the row, then its files, and a running try-on is cancelled at its next
    step.

The routes, the worker, start-up recovery and the expiry pass call these methods; none of them
writes a session's row or deletes its files itself (procrastinate's JobManager is the model).
SQLite is the truth; the asyncio.Queue inside is only the order of work, rebuilt by `recover()`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from typing import NamedTuple

from .config import Settings
from .db import Database, Row
from .events import SessionEvents
from .exceptions import NotFound, QueueFull, Unauthorized
from .metrics import Metrics
from .quota import DailyQuota
from .status import Status
from .storage import Storage

log = logging.getLogger("tryon.sessions")

CRASH_FAILURE = "This try-on stopped the server every time it ran, so it was given up. Try another photo or garment."
FILE_COLUMNS = ("person_key", "garment_key", "result_key")


class OwnerDeleted(NamedTuple):
    sessions: int
    photo_keys: list[str]  # of the owner's profiles


class SessionManager:
    def __init__(self, settings: Settings, db: Database, storage: Storage, events: SessionEvents,
                 metrics: Metrics) -> None:
        self.settings = settings
        self.db = db
        self.storage = storage
        self.events = events
        self.metrics = metrics
        self.quota = DailyQuota(settings.daily_quota)
        self._ids: asyncio.Queue[str] = asyncio.Queue()
        self._running: dict[str, threading.Event] = {}  # session id -> its cancel flag, while it runs
        self._retry_handles: set[asyncio.TimerHandle] = set()

    # -- the line ------------------------------------------------------------------------------

    async def next(self) -> str:
        """The id of the next session to run, in the order they were queued."""
        return await self._ids.get()

    async def depth(self) -> int:
        """Sessions waiting, as the database knows them."""
        # an indexed count, asked on every submission and health check: a fast read on the loop
        return int(await self.db.read_value("count_queued") or 0)

    async def position(self, row: Row) -> int:
        """1 for next in line, 0 for a session that is not waiting."""
        if row["status"] != Status.QUEUED:
            return 0
        return int(await self.db.read_value("queue_position", seq=row["seq"]) or 1)

    # -- queued --------------------------------------------------------------------------------

    async def submit(self, owner: str, *, category: str, person_key: str, person_sha256: str, garment_key: str,
                     profile_id: str | None = None, source_url: str | None = None, page_url: str | None = None,
                     metadata: str | None = None, options: str = "{}") -> str:
        """Commit a new session as queued (before the 202 goes out: from here nothing loses it) and
        put it in line, counted against its token's daily quota (when on) in the same statement.
        It owns the two stored images: on refusal they are deleted."""
        session_id = uuid.uuid4().hex
        now = time.time()
        quota_day = self.quota.day()
        try:
            inserted = await self._insert(
                session_id, owner=owner, profile_id=profile_id, category=category,
                person_key=person_key, person_sha256=person_sha256, garment_key=garment_key, source_url=source_url,
                page_url=page_url, metadata=metadata, options=options, now=now,
                expires_at=now + self.settings.retention_seconds, queue_max=self.settings.queue_max,
                quota_day=quota_day, quota_limit=self.quota.limit,
            )
        except sqlite3.IntegrityError:  # the token was deleted (delete-all-data) while this uploaded
            await self.storage.delete([person_key, garment_key])
            raise Unauthorized("This token was deleted; get a new one with POST /api/tokens.",
                               code="unknown_token") from None
        if not inserted:  # the queue filled up, its profile was deleted, or the token's other try-ons
            await self.storage.delete([person_key, garment_key])  # used up the quota while this uploaded
            if profile_id is not None and await self.db.fetch_one("get_profile", id=profile_id, owner=owner) is None:
                raise NotFound("No such profile.", code="profile_not_found")
            if quota_day is not None and await self.quota.used(self.db, owner) >= self.quota.limit:
                raise self.quota.exceeded()
            raise QueueFull("The try-on queue is full; try again in a minute.", headers={"Retry-After": "30"})
        self._line_up(session_id)
        self.metrics.transition(Status.QUEUED)
        log.info("session created -> queued", extra={"fields": {"session_id": session_id}})
        return session_id

    # The hooks below are where the distributed mode (distributed/manager.py) differs: the line
    # is Celery's there, and a session row is claimed under a lease, fenced by its attempt number.

    async def _insert(self, session_id: str, **params: object) -> int:
        return await self.db.execute("insert_session_if_room", id=session_id, **params)

    def _line_up(self, session_id: str) -> None:
        self._ids.put_nowait(session_id)

    async def _claim_row(self, session_id: str) -> Row | None:
        return await self.db.fetch_one("claim_session", id=session_id, now=time.time(), takeover=False)

    def _fence(self, session_id: str) -> int | None:
        """The attempt a running session was claimed with, when another process could claim it
        again (then a stale worker's writes match no row); None here, where none can."""
        return None

    async def recover(self) -> int:
        """Crash recovery, at start-up before any new work: processing -> queued, then every
        unfinished session back in line, oldest first. A session that was running at each of its
        attempts may be what crashes the process: it fails instead of crashing every start."""
        now = time.time()
        crashed = await self.db.execute("fail_crashed", now=now, max_attempts=self.settings.max_attempts,
                                        retention=self.settings.retention_seconds, error=CRASH_FAILURE)
        if crashed:
            log.error("%d sessions failed: the server stopped during each of their attempts", crashed)
        requeued = await self.db.execute("requeue_processing", now=now)
        rows = await self.db.fetch_all("unfinished_sessions")
        for row in rows:
            if row["retry_at"] and row["retry_at"] > now:  # waiting for its provider: the wait survives
                self._requeue_later(row["id"], row["retry_at"] - now)
            else:
                self._ids.put_nowait(row["id"])
        if rows:
            log.info("recovered %d unfinished sessions (%d were processing when the server stopped)",
                     len(rows), requeued)
        return len(rows)

    # -- processing ----------------------------------------------------------------------------

    async def claim(self, session_id: str) -> tuple[Row, threading.Event] | None:
        """queued -> processing: the row and the flag that cancels it, or None when the session
        was deleted while it waited (or is already taken)."""
        row = await self._claim_row(session_id)
        if row is None:
            return None
        cancel = self._running[session_id] = threading.Event()
        self.metrics.transition(Status.PROCESSING)
        log.info("session queued -> processing (attempt %d)", row["attempts"])
        self.events.progress(session_id, "starting", 0.0)
        self.events.notify_all()  # everyone behind moved up one place
        return row, cancel

    def release(self, session_id: str) -> None:
        """The worker is done with a claimed session, whatever the outcome."""
        self._running.pop(session_id, None)
        self.events.clear(session_id)
        self.events.notify(session_id)

    def running(self, session_id: str) -> bool:
        return session_id in self._running

    # -- completed / failed / back in line -------------------------------------------------------

    async def complete(self, session_id: str, result_key: str) -> bool:
        """processing -> completed with its stored result; False (and the result deleted) when the
        session was deleted while it ran."""
        changed = await self.db.execute("complete_session", id=session_id, result_key=result_key, now=time.time(),
                                        retention=self.settings.retention_seconds, attempt=self._fence(session_id))
        if not changed:
            await self.storage.delete([result_key])
            return False
        self.metrics.transition(Status.COMPLETED)
        return True

    async def fail(self, session_id: str, message: str, code: str, *, refund: bool = True) -> bool:
        """queued or processing -> failed, with a sentence for the shopper and a code. The try-on
        goes back to the daily quota, in the same statement and once at most, unless the caller
        says the failure is the input's (refund=False: a photo without a person, a refused garment)."""
        if not await self.db.execute("fail_session", id=session_id, error=message, error_code=code, now=time.time(),
                                     retention=self.settings.retention_seconds, refund=refund,
                                     attempt=self._fence(session_id)):
            return False
        self.metrics.transition(Status.FAILED)
        log.info("session -> failed (%s%s): %s", code, "" if refund else ", not refunded", message)
        return True

    async def retry(self, session_id: str, delay_s: float) -> bool:
        """processing -> queued now (a crash meanwhile loses nothing), back in line after the delay."""
        if not await self.db.execute("retry_session", id=session_id, now=time.time(), attempt=self._fence(session_id)):
            return False
        log.info("session processing -> queued (retry in %.1fs)", delay_s)
        self._requeue_later(session_id, delay_s)
        return True

    async def defer(self, session_id: str, delay_s: float) -> bool:
        """processing -> queued, waiting for a rate-limiting provider: like `retry`, but the time
        it may run again is in the row (a restart keeps the wait, the shopper sees it) and the
        attempt does not count."""
        now = time.time()
        if not await self.db.execute("defer_session", id=session_id, retry_at=now + delay_s, now=now,
                                     attempt=self._fence(session_id)):
            return False
        log.info("session processing -> queued (waiting for the provider, retry in %.1fs)", delay_s)
        self._requeue_later(session_id, delay_s)
        return True

    def _requeue_later(self, session_id: str, delay_s: float) -> None:
        handle: asyncio.TimerHandle

        def requeue() -> None:
            self._retry_handles.discard(handle)
            self._ids.put_nowait(session_id)

        handle = asyncio.get_running_loop().call_later(delay_s, requeue)
        self._retry_handles.add(handle)

    async def keep(self, session_id: str, owner: str, keep: bool) -> bool:
        """Kept sessions never expire; False when the owner has no such session."""
        return bool(await self.db.execute("set_kept", id=session_id, owner=owner, kept=int(keep), now=time.time()))

    # -- gone ----------------------------------------------------------------------------------

    async def delete(self, session_id: str, owner: str) -> bool:
        """One session of this owner; False when there is none."""
        row = await self.db.fetch_one("delete_session", id=session_id, owner=owner)
        if row is None:
            return False
        await self._gone([{**row, "id": session_id}])
        log.info("session deleted", extra={"fields": {"session_id": session_id}})
        return True

    async def delete_for_profile(self, profile_id: str, owner: str) -> int:
        """A profile and the sessions made from its photo (derived from it, they go with it), in one
        transaction: a session submitted from it meanwhile is either taken along or refused."""
        _, sessions = await self.db.in_one_transaction(["delete_profile", "delete_profile_sessions"],
                                                       id=profile_id, profile_id=profile_id, owner=owner)
        return await self._gone(sessions)

    async def delete_for_owner(self, owner: str) -> OwnerDeleted:
        """Delete-all-data: the token with every session and profile of it, in one transaction, so
        that a row another request inserts meanwhile is either taken along or refused (its token
        is gone, and it removes its own file); then running work stops and the session files go.
        The profiles' photos are returned for the caller to delete."""
        sessions, profiles, _ = await self.db.in_one_transaction(
            ["delete_owner_sessions", "delete_owner_profiles", "delete_token"], owner=owner, token_hash=owner)
        return OwnerDeleted(await self._gone(sessions), [row["photo_key"] for row in profiles])

    async def expire(self, now: float | None = None) -> int:
        """Sessions past their retention and not kept (finished ones only)."""
        now = time.time() if now is None else now
        count = 0
        while rows := await self.db.fetch_all("expired_sessions", now=now):
            for row in rows:
                # row first, files second: a crash in between leaves orphans, which the sweep removes
                await self.db.execute("delete_session_by_id", id=row["id"])
                await self._gone([row])
                count += 1
        return count

    async def _gone(self, rows: Iterable[Row]) -> int:
        """After their rows were deleted: cancel the running one, wake its watchers, delete files."""
        rows = list(rows)
        for row in rows:
            flag = self._running.get(row["id"])
            if flag is not None:
                flag.set()  # a running one stops at its next step and keeps nothing
            self.events.notify(row["id"])
        await self.storage.delete([row[k] for row in rows for k in FILE_COLUMNS])
        return len(rows)

    def stop(self) -> None:
        """Shutdown: no more retries, and the running try-on stops at its next step (its row stays
        `processing`, so the next start runs it again)."""
        for handle in self._retry_handles:
            handle.cancel()
        for flag in self._running.values():
            flag.set()

