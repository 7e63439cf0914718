"""Privacy by default: expired sessions (not kept) lose their images and rows, hourly and at start-up.
Then every file that no row references is swept. Profiles stay until their owner deletes them."""

from __future__ import annotations

import asyncio
import logging

from .state import AppState

log = logging.getLogger("tryon.expiry")


async def expire_once(state: AppState, now: float | None = None) -> dict[str, int]:
    sessions = await state.sessions.expire(now)
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
