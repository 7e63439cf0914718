"""Privacy by default: expired sessions (not kept) lose their images and rows, hourly and at start-up.
Then every file that no row references is swept, and tokens that never stored anything are
forgotten after the same retention. Profiles stay until their owner deletes them."""

from __future__ import annotations

import asyncio
import logging
import time

from .state import AppState

log = logging.getLogger("tryon.expiry")


async def expire_once(state: AppState, now: float | None = None) -> dict[str, int]:
    sessions = await state.sessions.expire(now)
    cutoff = (time.time() if now is None else now) - state.settings.retention_seconds
    tokens = [r["token_hash"] for r in await state.db.fetch_all("delete_unused_tokens", cutoff=cutoff)]
    state.forget_tokens(tokens)
    if (today := state.sessions.quota.day()) is not None:
        await state.db.execute("delete_past_quota_days", day=today)
    referenced = {r["key"] for r in await state.db.fetch_all("all_file_keys")}
    orphans = await asyncio.to_thread(state.storage.sweep_orphans, referenced)
    if sessions or orphans or tokens:
        log.info("expiry: deleted %d sessions, %d orphan files and %d unused tokens", sessions, len(orphans), len(tokens))
    return {"sessions": sessions, "orphans": len(orphans), "tokens": len(tokens)}


async def expiry_loop(state: AppState) -> None:
    while True:
        try:
            await expire_once(state)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("expiry pass failed; retrying at the next interval")
        await asyncio.sleep(state.settings.expiry_interval_s)
