"""PostgreSQL behind the same interface as db.Database, for the distributed mode.

The same named queries (sql/queries.sql) and numbered migrations (sql/schema.sql) run here,
translated by dialect.py. A psycopg connection pool serves every process's coroutines; each
statement autocommits, as on the SQLite connection, unless it runs in `in_one_transaction` (or is
one of dialect.SERIALISED). Parameters are bound on the client (psycopg quotes them into the
statement): the queries test `:param IS NULL`, which SQLite accepts and PostgreSQL's server-side
parameters cannot type ("could not determine data type of parameter"). psycopg's integrity
errors are raised as sqlite3.IntegrityError, the exception the callers (manager, profiles)
already handle: a foreign key to a deleted token means the same thing in both databases.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ..db import MIGRATIONS, QUERIES, Row
from ..exceptions import ConfigError
from . import dialect

log = logging.getLogger("tryon.pgdb")
PG_QUERIES = {name: dialect.query(sql) for name, sql in QUERIES.items()}
Conn = psycopg.AsyncConnection[Row]


@contextlib.contextmanager
def _as_sqlite_errors() -> Any:
    try:
        yield
    except psycopg.errors.IntegrityError as exc:
        raise sqlite3.IntegrityError(str(exc)) from exc


class PostgresDatabase:
    """Async access to the cluster's PostgreSQL. `connect()` once, `close()` at shutdown."""

    def __init__(self, url: str, max_size: int = 10, idle_in_transaction_s: float = 60.0) -> None:
        self.url = url
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._max_size = max_size
        # A submission holds the cluster-wide insert lock while it publishes its task. Should its
        # process vanish without closing its connection (its machine cut off the network), the
        # server would keep that transaction, and every submission and worker waiting behind its
        # lock, until TCP keepalive gives up (two hours by default): it ends it after this instead.
        # (after the URL's own ?options=, which the keyword would otherwise replace)
        own = str(conninfo_to_dict(url).get("options") or "")
        self._options = f"{own} -c idle_in_transaction_session_timeout={int(idle_in_transaction_s * 1000)}".strip()

    @property
    def pool(self) -> AsyncConnectionPool[Conn]:
        if self._pool is None:
            raise RuntimeError("PostgresDatabase.connect() was not called")
        return self._pool

    async def connect(self) -> None:
        # one connection first, to stop at start-up with the reason (a pool only says that it
        # timed out after 30 s; the driver's message names the host and never the password)
        try:
            first = await psycopg.AsyncConnection.connect(self.url, connect_timeout=10, options=self._options)
        except psycopg.Error as exc:
            raise ConfigError(f"Cannot connect to the database given by --database: {exc}".strip()) from None
        await first.close()
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self.url, min_size=1, max_size=self._max_size, open=False,
            kwargs={"autocommit": True, "row_factory": dict_row, "cursor_factory": psycopg.AsyncClientCursor,
                    "options": self._options},
        )
        await pool.open(wait=True, timeout=30)
        self._pool = pool
        await self.migrate()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def scrub(self) -> bool:
        """SQLite's WAL scrub has no counterpart: PostgreSQL's VACUUM reclaims deleted rows."""
        return True

    async def migrate(self) -> int:
        """Apply pending migrations under an advisory lock (API processes start together)."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (dialect.LOCK_KEYS["migrate"],))
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            cur = await conn.execute("SELECT version FROM schema_version")
            row = await cur.fetchone()
            if row is None:
                await conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            version = int(row["version"]) if row is not None else 0
            for number in sorted(MIGRATIONS):
                if number <= version:
                    continue
                await conn.execute(dialect.migration(number, MIGRATIONS[number]).encode())
                await conn.execute("UPDATE schema_version SET version = %s", (number,))
                version = number
        return version

    async def _run(self, conn: Conn, query: str, params: dict[str, Any]) -> psycopg.AsyncCursor[Row]:
        if query in dialect.SERIALISED and not conn.info.transaction_status:
            raise RuntimeError(f"{query} must run inside a transaction")
        with _as_sqlite_errors():
            if query in dialect.SERIALISED:
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (dialect.LOCK_KEYS["insert_session"],))
            return await conn.execute(PG_QUERIES[query], params)

    @contextlib.asynccontextmanager
    async def _conn(self, query: str) -> AsyncIterator[Conn]:
        async with self.pool.connection() as conn:
            if query in dialect.SERIALISED:
                async with conn.transaction():
                    yield conn
            else:
                yield conn

    async def execute(self, query: str, /, **params: Any) -> int:
        async with self._conn(query) as conn:
            return int((await self._run(conn, query, params)).rowcount)

    async def execute_then(self, query: str, then: Callable[[int], Awaitable[None]], /, **params: Any) -> int:
        """Run a named write and `then(rows changed)` in one transaction: when `then` raises, the
        write is rolled back (the submission publishes its task this way, before it commits)."""
        async with self.pool.connection() as conn, conn.transaction():
            count = int((await self._run(conn, query, params)).rowcount)
            await then(count)
        return count

    async def wait_for_inserts(self) -> None:
        """Until every submission's insert in progress now has committed or rolled back. A
        submission publishes its task while its transaction holds the insert lock (`_run`), so a
        worker that got the task and then gets this lock (shared: workers do not wait for each
        other) finds the row, or knows it never will be: no clocks of two machines compared."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (dialect.LOCK_KEYS["insert_session"],))

    async def fetch_one(self, query: str, /, **params: Any) -> Row | None:
        async with self._conn(query) as conn:
            return await (await self._run(conn, query, params)).fetchone()

    async def fetch_all(self, query: str, /, **params: Any) -> list[Row]:
        async with self._conn(query) as conn:
            return await (await self._run(conn, query, params)).fetchall()

    async def fetch_value(self, query: str, /, **params: Any) -> Any:
        row = await self.fetch_one(query, **params)
        return next(iter(row.values())) if row else None

    # the poll path's fast reads are plain reads here
    read_one = fetch_one
    read_value = fetch_value

    async def in_one_transaction(self, queries: Sequence[str], /, **params: Any) -> list[list[Row]]:
        async with self.pool.connection() as conn, conn.transaction():
            results = []
            for query in queries:
                cur = await self._run(conn, query, params)
                results.append(await cur.fetchall() if cur.description else [])
            return results

    @contextlib.asynccontextmanager
    async def cluster_lock(self, name: str) -> AsyncIterator[bool]:
        """A session-level advisory lock held for the block, if free: True when this process has
        it (then no other process of the cluster does), False when another holds it."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (dialect.LOCK_KEYS[name],))
            got = bool((await cur.fetchone() or {}).get("got"))
            try:
                yield got
            finally:
                if got:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (dialect.LOCK_KEYS[name],))
