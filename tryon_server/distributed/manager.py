"""The session lifecycle of the distributed mode: manager.SessionManager with Celery as the line
and a lease in Redis around each running try-on.

    API process:  insert the row as queued and publish its Celery task in ONE transaction (the
                  task goes out before the commit, so a crash between the two loses neither: no
                  row, no 202; a worker that gets the task before the commit waits for the row)
    worker:       lease (Redis lock, renewed while it runs) -> claim the row (queued, or
                  processing when its last worker died: the lease is free again) -> run ->
                  complete / fail / retry (a new task with a countdown) with every write fenced by
                  the attempt number it claimed

Celery redelivers a task whose worker died (acks_late, reject_on_worker_lost, the broker's
visibility timeout), and may in rare cases deliver one twice: the row decides. A task whose
session is finished or deleted does nothing; one whose session is running elsewhere (the lease
is held) comes back after a lease period and then finds it finished, or its worker gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from redis.asyncio.lock import Lock
from redis.exceptions import LockError

from ..config import Settings
from ..db import Row
from ..exceptions import NotReady
from ..manager import CRASH_FAILURE, SessionManager
from ..metrics import Metrics
from ..storage import Storage
from .bus import Bus, ClusterEvents
from .pgdb import PostgresDatabase

log = logging.getLogger("tryon.sessions")
LEASE_KEY = "tryon:lease:{}"

Enqueue = Callable[[str, float], None]  # (session id, countdown in seconds); blocking: publishes to the broker


class _Unpublished(Exception):
    """A submission's task could not be published (its row is rolled back)."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class DistributedSessionManager(SessionManager):
    def __init__(self, settings: Settings, db: PostgresDatabase, storage: Storage, events: ClusterEvents,
                 metrics: Metrics, enqueue: Enqueue) -> None:
        super().__init__(settings, db, storage, events, metrics)  # type: ignore[arg-type]
        self.pg = db
        self.bus: Bus = events.bus
        self._enqueue = enqueue
        self._leases: dict[str, Lock] = {}
        self._attempts: dict[str, int] = {}
        self._renewals: dict[str, asyncio.Task[None]] = {}
        self._later: set[asyncio.Task[None]] = set()
        self.bus.on_message(self._on_message)

    # -- the line is Celery's ---------------------------------------------------------------

    async def _insert(self, session_id: str, **params: object) -> int:
        async def publish(inserted: int) -> None:
            if inserted:  # still inside the transaction: an error here rolls the row back
                try:
                    await asyncio.to_thread(self._enqueue, session_id, 0.0)
                except Exception as exc:
                    raise _Unpublished from exc

        try:
            return await self.pg.execute_then("insert_session_if_room", publish, id=session_id, **params)
        except _Unpublished as exc:  # the broker unreachable: nothing was accepted, so say so (not a 500)
            log.error("could not queue a try-on (the broker is unreachable?): %s", exc.__cause__)
            await self.storage.delete([params["person_key"], params["garment_key"]])  # type: ignore[list-item]
            raise NotReady("The try-on queue cannot be reached right now; please try again in a minute.",
                           headers={"Retry-After": "30"}) from None

    def _line_up(self, session_id: str) -> None:
        pass  # published with the insert

    def _requeue_later(self, session_id: str, delay_s: float) -> None:
        # the row is queued already; a task with a countdown brings it back. A crash before this
        # is published loses nothing: the task being run is acknowledged only after it returns
        task = asyncio.ensure_future(asyncio.to_thread(self._enqueue, session_id, max(0.0, delay_s)))
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def next(self) -> str:
        raise RuntimeError("the distributed mode's line is Celery's; workers take tasks from it")

    async def recover(self) -> int:
        """Nothing to put back in line: the broker keeps the tasks, and a task whose worker died is
        redelivered by Celery (the lease then lets it take the row over)."""
        return 0

    # -- a running try-on: leased, fenced ---------------------------------------------------

    async def _claim_row(self, session_id: str) -> Row | None:
        lease = Lock(self.bus.redis, LEASE_KEY.format(session_id), timeout=self.settings.worker_lease_s,
                     blocking=False)
        if not await lease.acquire(token=f"{worker_name()}:{uuid.uuid4().hex[:8]}"):
            # running on another worker: come back when a lease period has passed; by then it is
            # finished (and this task does nothing) or its worker is gone (and this one takes over)
            status = await self.db.fetch_value("session_status", id=session_id)
            if status in ("queued", "processing"):
                log.info("session is leased by another worker; looking again in %.0fs", self.settings.worker_lease_s)
                self._requeue_later(session_id, self.settings.worker_lease_s)
            return None
        now = time.time()
        try:
            if await self.db.execute("fail_crashed_session", id=session_id, now=now,
                                     max_attempts=self.settings.max_attempts,
                                     retention=self.settings.retention_seconds, error=CRASH_FAILURE):
                log.error("session failed: its worker stopped during each of its attempts")
                self.events.notify(session_id)
            row = await self.db.fetch_one("claim_session", id=session_id, now=now, takeover=True)
        except Exception:
            # the database failed before the claim: the task is retried in a second or so, and must
            # find the lease free, not held by this worker, which would send it away for a lease period
            with contextlib.suppress(Exception):
                await self._release_lease(lease)
            raise
        if row is None:
            await self._release_lease(lease)
            return None
        if row["attempts"] > 1:
            log.info("session taken over at attempt %d", row["attempts"])
        self.events.clear(session_id)  # progress of a dead worker's attempt must not linger
        self._leases[session_id] = lease
        self._attempts[session_id] = int(row["attempts"])
        self._renewals[session_id] = asyncio.create_task(self._renew(session_id, lease))
        return row

    async def _renew(self, session_id: str, lease: Lock) -> None:
        while True:
            await asyncio.sleep(self.settings.worker_lease_s / 3)
            try:
                await lease.reacquire()
            except LockError:  # taken over (this worker stalled past its lease): stop, keep nothing
                log.error("lost the lease of a running session; cancelling it here")
                flag = self._running.get(session_id)
                if flag is not None:
                    flag.set()
                return
            except Exception as exc:  # the broker unreachable for a moment: try again next period
                log.warning("could not renew a session's lease: %s", exc)

    def _fence(self, session_id: str) -> int | None:
        return self._attempts.get(session_id)

    def release(self, session_id: str) -> None:
        super().release(session_id)
        self._attempts.pop(session_id, None)
        renewal = self._renewals.pop(session_id, None)
        if renewal is not None:
            renewal.cancel()
        lease = self._leases.pop(session_id, None)
        if lease is not None:
            task = asyncio.ensure_future(self._release_lease(lease))
            self._later.add(task)
            task.add_done_callback(self._later.discard)

    @staticmethod
    async def _release_lease(lease: Lock) -> None:
        try:
            await lease.release()
        except LockError:
            pass  # expired or taken over meanwhile: not ours to release

    async def settle(self) -> None:
        """Wait for the publishes and lease releases started by the last session, and raise when
        one failed: the worker's Celery task then fails and is retried, so a session set back to
        queued whose new task could not be published is not left without one."""
        errors: list[BaseException] = []
        while self._later:
            results = await asyncio.gather(*list(self._later), return_exceptions=True)
            errors += [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    async def republish_stale(self) -> int:
        """Tasks again for sessions queued, or claimed, longer than the visibility timeout (their
        task may have been lost with a Redis that restarted empty; a claimed one's worker is gone
        too, unless its lease says otherwise). A duplicate does nothing: the row and the lease decide."""
        now = time.time()
        rows = await self.db.fetch_all("stale_sessions", before=now - self.settings.visibility_timeout_s, now=now)
        for row in rows:
            await asyncio.to_thread(self._enqueue, row["id"], 0.0)
        if rows:
            log.warning("published again the tasks of %d sessions queued or claimed over %.0fs ago", len(rows),
                        self.settings.visibility_timeout_s)
        return len(rows)

    # -- deletions reach the worker that runs the session -------------------------------------

    async def _gone(self, rows: Any) -> int:
        rows = list(rows)
        for row in rows:
            self.bus.publish("cancel", id=row["id"])
        return await super()._gone(rows)

    def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("t") == "cancel":
            flag: threading.Event | None = self._running.get(str(message.get("id")))
            if flag is not None:
                flag.set()  # its row is gone: the running try-on stops at its next step
