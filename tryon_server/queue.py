"""The queue of session ids. SQLite is the truth; this asyncio.Queue is only the order of work.

A session is committed as `queued` before its 202 goes out and only then put here. At start-up
every `queued` or `processing` row goes back in line, oldest first, before any new work.
"""

from __future__ import annotations

import asyncio
import logging
import time

from .db import Database

log = logging.getLogger("tryon.queue")
CRASH_FAILURE = "This try-on stopped the server every time it ran, so it was given up. Try another photo or garment."


class SessionQueue:
    def __init__(self, db: Database, max_attempts: int, retention_s: float) -> None:
        self._db = db
        self._max_attempts = max_attempts
        self._retention_s = retention_s
        self._ids: asyncio.Queue[str] = asyncio.Queue()

    async def recover(self) -> int:
        """Crash recovery: processing -> queued, then every unfinished session in order. A session
        that was running at the last crash and has used all its attempts is failed instead: it
        may be what crashes the process, and must not do so at every start."""
        now = time.time()
        crashed = await self._db.execute("fail_crashed", now=now, max_attempts=self._max_attempts,
                                         retention=self._retention_s, error=CRASH_FAILURE)
        if crashed:
            log.error("%d sessions failed: the server stopped during each of their attempts", crashed)
        requeued = await self._db.execute("requeue_processing", now=now)
        rows = await self._db.fetch_all("unfinished_sessions")
        for row in rows:
            self._ids.put_nowait(row["id"])
        if rows:
            log.info("recovered %d unfinished sessions (%d were processing when the server stopped)", len(rows), requeued)
        return len(rows)

    def put(self, session_id: str) -> None:
        self._ids.put_nowait(session_id)

    async def get(self) -> str:
        return await self._ids.get()

    async def depth(self) -> int:
        """Sessions waiting, as the database knows them."""
        # an indexed count, asked on every submission and health check: a fast read on the loop
        return int(await self._db.read_value("count_queued") or 0)
