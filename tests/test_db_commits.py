"""The SQLite connector against a real file: a write is committed (visible to another connection,
so durable) the moment its await returns, even while other coroutines use the same connection.
The status poll reads through a second connection, and the 202 of a submission promises that
the session is committed."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from tryon_server.db import Database


async def _add_queued_session(db: Database, session_id: str) -> None:
    now = time.time()
    await db.execute("insert_session_if_room", id=session_id, owner="owner", profile_id=None, category="upper",
                     person_key="inputs/p.jpg", person_sha256="0" * 64, garment_key="inputs/g.jpg",
                     source_url=None, page_url=None, metadata=None, options="{}", now=now, expires_at=now + 60,
                     queue_max=10**6, quota_day=None, quota_limit=0)


async def _insert_tokens_beside_claims(db: Database, path: Path, n: int) -> list[str]:
    """Insert n tokens, each while the worker's claim (an UPDATE ... RETURNING) runs on the same
    connection; right after each insert's await returns, look from an independent connection.
    Returns the tokens that were not visible (not committed) yet."""
    await db.execute("insert_token", token_hash="owner", now=time.time())
    for i in range(n):
        await _add_queued_session(db, f"s{i:04d}")
    other = sqlite3.connect(path)
    missing: list[str] = []

    async def write(token: str) -> None:
        await db.execute("insert_token", token_hash=token, now=time.time())
        if other.execute("SELECT 1 FROM tokens WHERE token_hash = ?", (token,)).fetchone() is None:
            missing.append(token)

    try:
        for i in range(n):
            # the claim is queued on the connection just before the insert, as when the worker
            # takes the next session while a submission commits its own
            await asyncio.gather(db.fetch_one("claim_session", id=f"s{i:04d}", now=time.time(), takeover=False),
                                 write(f"t{i:04d}"))
    finally:
        other.close()
    return missing


def test_a_write_is_committed_when_its_await_returns_even_beside_a_returning_update(tmp_path: Path) -> None:
    async def main() -> list[str]:
        db = Database(tmp_path / "t.sqlite3")
        await db.connect()
        try:
            return await _insert_tokens_beside_claims(db, db.path, 100)
        finally:
            await db.close()

    assert asyncio.run(main()) == []


def test_fast_reads_on_the_loop_see_the_latest_commit(tmp_path: Path) -> None:
    async def main() -> tuple[list[object], list[object]]:
        db = Database(tmp_path / "t.sqlite3")
        await db.connect()
        try:
            fast, slow = [], []
            for i in range(50):
                await db.execute("insert_token", token_hash=f"h{i}", now=time.time())
                fast.append(await db.read_value("token_exists", token_hash=f"h{i}"))
                slow.append(await db.fetch_value("token_exists", token_hash=f"h{i}"))
            return fast, slow
        finally:
            await db.close()

    fast, slow = asyncio.run(main())
    assert fast == slow == [1] * 50
