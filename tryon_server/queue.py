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


class SessionQueue:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._ids: asyncio.Queue[str] = asyncio.Queue()

    async def recover(self) -> int:
        """Crash recovery: processing -> queued, then every unfinished session in order."""
        requeued = await self._db.execute("requeue_processing", now=time.time())
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
        return int(await self._db.fetch_value("count_queued") or 0)
