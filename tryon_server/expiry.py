"""Privacy by default: expired sessions (not kept) lose their images and rows, hourly and at start-up.
Then every file that no row references is swept. Profiles stay until their owner deletes them."""

from __future__ import annotations

import asyncio
import logging
import time

from .state import AppState

log = logging.getLogger("tryon.expiry")


async def expire_once(state: AppState, now: float | None = None) -> dict[str, int]:
    now = time.time() if now is None else now
    sessions = 0
    while rows := await state.db.fetch_all("expired_sessions", now=now):
        for row in rows:
            # row first, files second: a crash in between leaves orphans, which the sweep removes
            await state.db.execute("delete_session_by_id", id=row["id"])
            await state.storage.delete([row["person_key"], row["garment_key"], row["result_key"]])
            sessions += 1
    referenced = {r["key"] for r in await state.db.fetch_all("all_file_keys")}
    orphans = await asyncio.to_thread(state.storage.sweep_orphans, referenced)
    if sessions or orphans:
        log.info("expiry: deleted %d sessions and %d orphan files", sessions, len(orphans))
    return {"sessions": sessions, "orphans": len(orphans)}


async def expiry_loop(state: AppState) -> None:
    while True:
        try:
            await expire_once(state)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("expiry pass failed; retrying at the next interval")
        await asyncio.sleep(state.settings.expiry_interval_s)
