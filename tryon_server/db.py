"""The SQLite storage connector: one aiosqlite connection, WAL, migrations, named queries.

One connection serialises every statement on its own thread, which is what SQLite wants anyway:
no "database is locked" between our own writers, and WAL lets readers elsewhere (backups, the
CLI) look while we write. All SQL lives in sql/schema.sql and sql/queries.sql.

Hot point reads (a status poll) also have a second, read-only connection used directly on the
event loop: a lookup by key takes microseconds in SQLite, far less than the two thread hand-overs
(and the GIL ping-pong between the loop and the aiosqlite thread) that every awaited aiosqlite
call costs. In WAL mode a reader never waits for the writer, so this cannot stall the loop; in
the rare case SQLite still says busy, the read falls back to the aiosqlite connection.

Deleted means gone: the database files are the owner's only (0600), deleted rows are overwritten
with zeros (secure_delete), and shortly after a deletion the WAL, which still holds the rows'
earlier copies, is checkpointed into the database and truncated to nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

_NAME_RE = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
_MIGRATION_RE = re.compile(r"^-- migration: (\d+)\s*$", re.MULTILINE)


def _split_blocks(text: str, marker: re.Pattern[str]) -> dict[str, str]:
    parts = marker.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}


def _read_sql(name: str) -> str:
    return resources.files("tryon_server").joinpath("sql", name).read_text(encoding="utf-8")


QUERIES: dict[str, str] = _split_blocks(_read_sql("queries.sql"), _NAME_RE)
MIGRATIONS: dict[int, str] = {int(k): v for k, v in _split_blocks(_read_sql("schema.sql"), _MIGRATION_RE).items()}

Row = dict[str, Any]
log = logging.getLogger("tryon.db")
# named queries that delete what a user asked to be deleted (or what expired) start with this
_DELETING = "delete_"
# a burst of deletions (all of a token's data, an expiry pass) is followed by one checkpoint
SCRUB_DELAY_S = 0.2


class Database:
    """Async access to the server's SQLite file. Call `connect()` once, `close()` at shutdown."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._scrub_timer: asyncio.TimerHandle | None = None
        self._scrub_task: asyncio.Task[bool] | None = None

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("Database.connect() was not called")
        return self._conn

    def _owner_only(self) -> None:
        """The database file exists and only its owner may read it; SQLite creates the -wal and
        -shm files with the database's own permissions (older ones are fixed here too)."""
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.chmod(f"{self.path}{suffix}", 0o600)
            except FileNotFoundError:
                pass

    async def connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._owner_only()
        conn = await aiosqlite.connect(self.path, isolation_level=None)  # autocommit; explicit BEGIN where needed
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode = WAL")
        # a deleted row's bytes are overwritten with zeros, not left in a free page
        await conn.execute("PRAGMA secure_delete = ON")
        # NORMAL is durable across process crashes (kill -9) in WAL mode; only an OS crash or
        # power cut can lose the last transactions, and never corrupts the file.
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA busy_timeout = 5000")
        await conn.execute("PRAGMA foreign_keys = ON")
        self._conn = conn
        await self.migrate()
        self._reader = self._open_reader()

    def _open_reader(self) -> sqlite3.Connection:
        # autocommit, so every SELECT sees the latest commit; query_only guards against a write
        # sneaking onto the loop thread; no busy wait, since it runs on the loop (busy: fall back)
        reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        reader.row_factory = sqlite3.Row
        reader.execute("PRAGMA busy_timeout = 0")
        reader.execute("PRAGMA query_only = ON")
        return reader

    async def close(self) -> None:
        if self._scrub_timer is not None:
            self._scrub_timer.cancel()
            self._scrub_timer = None
        if self._scrub_task is not None:
            await asyncio.gather(self._scrub_task, return_exceptions=True)
        if self._conn is not None:
            await self.scrub()  # a deletion just before shutdown leaves nothing in the WAL either
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def scrub(self) -> bool:
        """Checkpoint the WAL into the database and truncate it, so that no earlier copy of a
        deleted row remains in it. False when it could not be done now (a transaction is open on
        this connection, or a reader is in the way); it is tried again later then."""
        if self._conn is None:
            return False
        if self._conn.in_transaction:
            self._schedule_scrub()
            return False
        try:
            row = await (await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")).fetchone()
            busy = row[0] if row is not None else 1
        except sqlite3.Error as exc:
            log.warning("could not checkpoint the WAL after a deletion: %s", exc)
            return False
        if busy:
            self._schedule_scrub()
        return not busy

    def _schedule_scrub(self) -> None:
        if self._scrub_timer is None and self._conn is not None:
            self._scrub_timer = asyncio.get_running_loop().call_later(SCRUB_DELAY_S, self._start_scrub)

    def _start_scrub(self) -> None:
        self._scrub_timer = None
        self._scrub_task = asyncio.ensure_future(self.scrub())

    def _after(self, query: str) -> None:
        if query.startswith(_DELETING):
            self._schedule_scrub()

    async def migrate(self) -> int:
        """Apply pending migrations; return the schema version now in force."""
        row = await (await self.conn.execute("PRAGMA user_version")).fetchone()
        version = int(row[0]) if row is not None else 0
        for number in sorted(MIGRATIONS):
            if number <= version:
                continue
            await self.conn.executescript(
                f"BEGIN;\n{MIGRATIONS[number]}\nPRAGMA user_version = {number};\nCOMMIT;"
            )
            version = number
        return version

    async def execute(self, query: str, /, **params: Any) -> int:
        """Run a named write; return the number of rows changed. (A write without RETURNING
        runs to completion inside `execute`, so it leaves no statement open.)"""
        cursor = await self.conn.execute(QUERIES[query], params)
        self._after(query)
        return int(cursor.rowcount)

    # Queries run execute + fetch in ONE call on the connection's thread. An UPDATE ... RETURNING
    # (the worker's claim) keeps its write transaction open until its statement finishes; left
    # open across an await (execute, fetchone, close: three hops), another coroutine's INSERT
    # landed inside that transaction and was not yet committed (durable, visible to the poll's
    # reader) when its own await returned. tests/test_db_commits.py. One hop is also cheaper.
    async def fetch_one(self, query: str, /, **params: Any) -> Row | None:
        rows = list(await self.conn.execute_fetchall(QUERIES[query], params))
        self._after(query)
        return dict(rows[0]) if rows else None

    async def fetch_all(self, query: str, /, **params: Any) -> list[Row]:
        rows = list(await self.conn.execute_fetchall(QUERIES[query], params))
        self._after(query)
        return [dict(r) for r in rows]

    async def fetch_value(self, query: str, /, **params: Any) -> Any:
        rows = list(await self.conn.execute_fetchall(QUERIES[query], params))
        return rows[0][0] if rows else None

    async def in_one_transaction(self, queries: Sequence[str], /, **params: Any) -> list[list[Row]]:
        """Run named queries, in order, as one transaction (BEGIN IMMEDIATE ... COMMIT) on a short-lived
        connection of its own, and return each one's rows. On the shared connection, statements of
        other requests would land between ours (it is one connection, so one transaction): a
        profile inserted between "delete this owner's profiles" and "delete the token" was then
        removed by the token's cascade with nobody left to delete its file. Here every write of
        others waits (busy_timeout) until the whole sequence is committed, or comes after it."""

        def run() -> list[list[Row]]:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
            try:
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("PRAGMA secure_delete = ON")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    results = [[dict(r) for r in conn.execute(QUERIES[q], params).fetchall()] for q in queries]
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                return results
            finally:
                conn.close()

        results = await asyncio.to_thread(run)
        for query in queries:
            self._after(query)
        return results

    def _read(self, query: str, params: dict[str, Any]) -> sqlite3.Row | None:
        """One row of a named read on the loop thread, or raise sqlite3.OperationalError."""
        if self._reader is None:
            raise sqlite3.OperationalError("reader closed")
        cursor = self._reader.execute(QUERIES[query], params)
        try:
            row: sqlite3.Row | None = cursor.fetchone()
            return row
        finally:
            cursor.close()  # ends the statement's read snapshot at once, so checkpoints are never held up

    async def read_one(self, query: str, /, **params: Any) -> Row | None:
        """`fetch_one` for small indexed lookups (the poll path): run on the loop thread."""
        try:
            row = self._read(query, params)
        except sqlite3.OperationalError as exc:  # busy/locked, rare in WAL: take the slow path
            log.debug("fast read %s fell back: %s", query, exc)
            return await self.fetch_one(query, **params)
        return dict(row) if row is not None else None

    async def read_value(self, query: str, /, **params: Any) -> Any:
        """`fetch_value` for small indexed lookups: run on the loop thread."""
        try:
            row = self._read(query, params)
        except sqlite3.OperationalError as exc:
            log.debug("fast read %s fell back: %s", query, exc)
            return await self.fetch_value(query, **params)
        return row[0] if row is not None else None
