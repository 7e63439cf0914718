"""The distributed mode's PostgreSQL layer on a real PostgreSQL server of its own: the SQLite
schema and queries, translated in one place (distributed/dialect.py), behave the same there."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest

from tests.cluster import PostgresServer, services_missing
from tryon_server.db import MIGRATIONS, QUERIES
from tryon_server.distributed import dialect


def test_every_query_and_migration_translates():
    for name, sql in QUERIES.items():
        translated = dialect.query(sql)
        assert not re.search(r"(?<![:\w]):\w", translated), name  # every :param became %(param)s
    for number, sql in MIGRATIONS.items():
        translated = dialect.migration(number, sql)
        assert "AUTOINCREMENT" not in translated and "WITHOUT ROWID" not in translated
        assert not re.search(r"\bREAL\b", translated)
    assert "EXECUTE FUNCTION quota_refund()" in dialect.migration(3, MIGRATIONS[3])


def test_a_trigger_without_a_postgresql_version_stops_the_migration_with_a_sentence():
    sql = "CREATE TRIGGER new_one AFTER INSERT ON sessions BEGIN DELETE FROM tokens; END;"
    with pytest.raises(dialect.DialectError, match="new_one.*dialect.py"):
        dialect.migration(9, sql)


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    if (why := services_missing()) is not None:
        pytest.fail(f"this test needs PostgreSQL: {why} (.ci/run installs it)")
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


def test_quota_queue_bound_and_refund_work_the_same_on_postgresql(pg: PostgresServer):
    from tryon_server.distributed.pgdb import PostgresDatabase

    async def scenario() -> None:
        db = PostgresDatabase(pg.url, max_size=3)
        await db.connect()
        try:
            assert await db.migrate() == max(MIGRATIONS)  # a second start migrates nothing
            now = time.time()
            await db.execute("insert_token", token_hash="t1", now=now)
            common = dict(owner="t1", profile_id=None, category="upper", person_key="inputs/p.jpg",
                          person_sha256="x", garment_key="inputs/g.jpg", source_url=None, page_url=None,
                          metadata=None, options="{}", now=now, expires_at=now + 60, queue_max=10,
                          quota_day="2026-12-02", quota_limit=2)
            inserted = [await db.execute("insert_session_if_room", id=f"s{i}", **common) for i in range(3)]
            assert inserted == [1, 1, 0]  # the quota of 2, checked and counted in the one statement
            assert await db.read_value("quota_used", owner="t1", day="2026-12-02") == 2
            assert await db.read_value("queue_position", seq=(await db.read_one("get_session", id="s1",
                                                                                 owner="t1"))["seq"]) == 2
            claimed = await db.fetch_one("claim_session", id="s0", now=now, takeover=False)
            assert claimed is not None and claimed["attempts"] == 1
            assert await db.fetch_one("claim_session", id="s0", now=now, takeover=False) is None  # taken
            # a write fenced by another attempt changes nothing; the right one refunds the quota
            assert await db.execute("fail_session", id="s0", error="e", error_code="engine_error", now=now,
                                    retention=60, refund=True, attempt=7) == 0
            assert await db.execute("fail_session", id="s0", error="e", error_code="engine_error", now=now,
                                    retention=60, refund=True, attempt=1) == 1
            assert await db.read_value("quota_used", owner="t1", day="2026-12-02") == 1
            # a row of a deleted token: the same exception as SQLite's, which the callers handle
            with pytest.raises(sqlite3.IntegrityError):
                await db.execute("insert_session_if_room", id="s9", **{**common, "owner": "gone", "quota_day": None})
            sessions, profiles, tokens = await db.in_one_transaction(
                ["delete_owner_sessions", "delete_owner_profiles", "delete_token"], owner="t1", token_hash="t1")
            assert sorted(r["id"] for r in sessions) == ["s0", "s1"] and profiles == [] and tokens == []
        finally:
            await db.close()

    asyncio.run(scenario())


def test_the_embedded_server_never_imports_the_distributed_libraries():
    code = ("import sys; from tryon_server.app import create_app; from tryon_server.config import Settings; "
            "import tryon_server.cli, tryon_server.worker; create_app(Settings(data_dir=__import__('pathlib')"
            ".Path(sys.argv[1]))); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'celery', 'kombu', 'redis', 'psycopg'}))")
    with tempfile.TemporaryDirectory() as data:
        out = subprocess.run([sys.executable, "-c", code, data], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
