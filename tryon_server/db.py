"""The SQLite storage connector: one aiosqlite connection, WAL, migrations, named queries.

One connection serialises every statement on its own thread, which is what SQLite wants anyway:
no "database is locked" between our own writers, and WAL lets readers elsewhere (backups, the
CLI) look while we write. All SQL lives in sql/schema.sql and sql/queries.sql.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

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


class Database:
    """Async access to the server's SQLite file. Call `connect()` once, `close()` at shutdown."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("Database.connect() was not called")
        return self._conn

    async def connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(self.path, isolation_level=None)  # autocommit; explicit BEGIN where needed
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL is durable across process crashes (kill -9) in WAL mode; only an OS crash or
        # power cut can lose the last transactions, and never corrupts the file.
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA busy_timeout = 5000")
        await conn.execute("PRAGMA foreign_keys = ON")
        self._conn = conn
        await self.migrate()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def migrate(self) -> int:
        """Apply pending migrations; return the schema version now in force."""
        (version,) = await (await self.conn.execute("PRAGMA user_version")).fetchone()
        for number in sorted(MIGRATIONS):
            if number <= version:
                continue
            await self.conn.executescript(
                f"BEGIN;\n{MIGRATIONS[number]}\nPRAGMA user_version = {number};\nCOMMIT;"
            )
            version = number
        return version

    async def execute(self, query: str, /, **params: Any) -> int:
        """Run a named write; return the number of rows changed."""
        cursor = await self.conn.execute(QUERIES[query], params)
        return cursor.rowcount

    async def fetch_one(self, query: str, /, **params: Any) -> Row | None:
        cursor = await self.conn.execute(QUERIES[query], params)
        row = await cursor.fetchone()
        await cursor.close()
        return dict(row) if row is not None else None

    async def fetch_all(self, query: str, /, **params: Any) -> list[Row]:
        cursor = await self.conn.execute(QUERIES[query], params)
        rows = await cursor.fetchall()
        await cursor.close()
        return [dict(r) for r in rows]

    async def fetch_value(self, query: str, /, **params: Any) -> Any:
        cursor = await self.conn.execute(QUERIES[query], params)
        row = await cursor.fetchone()
        await cursor.close()
        return row[0] if row is not None else None

    async def execute_many(self, statements: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Run several named writes in one transaction."""
        await self.conn.execute("BEGIN IMMEDIATE")
        try:
            for name, params in statements:
                await self.conn.execute(QUERIES[name], params)
        except BaseException:
            await self.conn.execute("ROLLBACK")
            raise
        await self.conn.execute("COMMIT")

    async def integrity_ok(self) -> bool:
        cursor = await self.conn.execute("PRAGMA quick_check")
        row = await cursor.fetchone()
        return row is not None and row[0] == "ok"
