"""The distributed mode's PostgreSQL layer on a real PostgreSQL server of its own: the SQLite
schema and queries, translated in one place (distributed/dialect.py), behave the same there; the
races between API processes and workers, each held open at the moment that matters (an insert
published and not yet committed, a claim between its lease and its row); and the test servers
themselves (tests/cluster.py), which must never outlive a killed test run."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import PostgresServer, services_missing
from tests.server_process import REPO
from tryon_server.config import Settings
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


def session_params(now: float, **overrides: object) -> dict[str, object]:
    """insert_session_if_room's parameters, for the token "t1"."""
    return {**dict(owner="t1", profile_id=None, category="upper", person_key="inputs/p.jpg", person_sha256="x",
                   garment_key="inputs/g.jpg", source_url=None, page_url=None, metadata=None, options="{}", now=now,
                   expires_at=now + 60, queue_max=1000, quota_day=None, quota_limit=0), **overrides}


def test_the_tests_find_the_postgresql_their_release_installs(tmp_path: Path):
    """Debian 12's postgresql package is 15, Ubuntu 24.04's is 16: the newest one installed."""
    from tests.cluster import newest_pg_bin

    for version in ("9", "15", "16", "common"):
        (tmp_path / version / "bin").mkdir(parents=True)
        if version != "common":
            (tmp_path / version / "bin" / "initdb").touch()
    assert newest_pg_bin(tmp_path) == tmp_path / "16" / "bin"


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    if (why := services_missing()) is not None:
        pytest.fail(f"this test needs PostgreSQL: {why} (.ci/run installs it)")
    server = PostgresServer()
    try:
        yield server.start()
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
            common = session_params(now, quota_day="2026-12-02", quota_limit=2)
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


def test_a_worker_whose_try_on_was_taken_over_changes_nothing(pg: PostgresServer):
    """Every write of a worker is fenced by the attempt it claimed. A try-on taken over (attempt 2)
    and deferred for its provider is queued at attempt 1 again: the stale worker of attempt 1
    could still fail it (fail_session also takes queued rows, for the embedded server)."""
    from tryon_server.distributed.pgdb import PostgresDatabase

    async def scenario() -> None:
        db = PostgresDatabase(pg.url, max_size=2)
        await db.connect()
        try:
            now = time.time()
            await db.execute("insert_token", token_hash="fenced", now=now)
            await db.execute("insert_session_if_room", id="f1", **session_params(now, owner="fenced"))
            assert (await db.fetch_one("claim_session", id="f1", now=now, takeover=False))["attempts"] == 1
            # its worker stalled past its lease: another takes it over, and the provider defers it
            assert (await db.fetch_one("claim_session", id="f1", now=now, takeover=True))["attempts"] == 2
            assert await db.execute("defer_session", id="f1", retry_at=now + 60, now=now, attempt=2) == 1
            stale = dict(id="f1", now=now, attempt=1)
            assert await db.execute("fail_session", error="e", error_code="engine_error", retention=60, refund=True,
                                    **stale) == 0
            assert await db.execute("complete_session", result_key="results/r.png", retention=60, **stale) == 0
            assert await db.execute("retry_session", **stale) == 0
            assert await db.fetch_value("session_status", id="f1") == "queued"
        finally:
            await db.close()

    asyncio.run(scenario())


def test_the_expiry_pass_publishes_again_the_tasks_of_stale_sessions_claimed_ones_too(pg: PostgresServer,
                                                                                     tmp_path: Path):
    """A Redis that lost its data lost the tasks of queued sessions and of running ones; a worker
    that died meanwhile leaves its session `processing` with no task to redeliver. Once the
    visibility timeout has passed, both get a task again (the lease decides who runs it)."""
    from tryon_server.distributed.bus import Bus, ClusterEvents
    from tryon_server.distributed.manager import DistributedSessionManager
    from tryon_server.distributed.pgdb import PostgresDatabase
    from tryon_server.metrics import Metrics
    from tryon_server.storage import Storage

    published: list[str] = []

    async def scenario() -> None:
        db = PostgresDatabase(pg.url, max_size=2)
        await db.connect()
        bus = Bus("redis://127.0.0.1:1/0")  # never connected to
        sessions = DistributedSessionManager(Settings(visibility_timeout_s=600), db, Storage(tmp_path),
                                             ClusterEvents(bus), Metrics(), lambda sid, _: published.append(sid))
        try:
            long_ago = time.time() - 3600
            await db.execute("insert_token", token_hash="stale", now=long_ago)
            for sid in ("stale-queued", "stale-claimed", "recent"):
                await db.execute("insert_session_if_room", id=sid, **session_params(long_ago, owner="stale"))
            await db.fetch_one("claim_session", id="stale-claimed", now=long_ago, takeover=False)
            await db.fetch_one("claim_session", id="recent", now=time.time(), takeover=False)
            assert await sessions.republish_stale() == 2
            assert sorted(published) == ["stale-claimed", "stale-queued"]
        finally:
            await bus.redis.aclose()
            await db.close()

    asyncio.run(scenario())


def test_a_submission_stuck_inside_its_transaction_does_not_hold_the_insert_lock_for_ever(pg: PostgresServer):
    """A submission holds the cluster-wide insert lock while it publishes its task. One whose
    process stops answering there (its machine cut off: no connection closed) is ended by the
    server after the idle-in-transaction limit, which frees the lock for every other submission
    and worker, rather than after TCP keepalive's two hours."""
    from tryon_server.distributed.pgdb import PostgresDatabase

    async def scenario() -> None:
        stuck_db = PostgresDatabase(pg.url, max_size=2, idle_in_transaction_s=1)
        other = PostgresDatabase(f"{pg.url}?options=-capplication_name%3Dtryon-api")
        await stuck_db.connect()
        await other.connect()
        try:
            now = time.time()
            await other.execute("insert_token", token_hash="stuck", now=now)
            published = asyncio.Event()

            async def stuck(inserted: int) -> None:  # published, then silent far past the limit
                published.set()
                await asyncio.sleep(3600)

            submission = asyncio.create_task(stuck_db.execute_then(
                "insert_session_if_room", stuck, id="stuck", **session_params(now, owner="stuck")))
            await published.wait()
            # a URL's own options stay (here: the session's name in pg_stat_activity)
            async with other.pool.connection() as conn:
                cur = await conn.execute("SELECT current_setting('application_name') AS name")
                assert (await cur.fetchone())["name"] == "tryon-api"
            # another submission gets through (here it would wait an hour without the limit)
            assert await asyncio.wait_for(other.execute_then("insert_session_if_room", lambda _: asyncio.sleep(0),
                                                             id="after", **session_params(now, owner="stuck")),
                                          120) == 1
            submission.cancel()
            await asyncio.gather(submission, return_exceptions=True)
            assert await other.fetch_value("session_status", id="stuck") is None  # never committed
        finally:
            await stuck_db.close()
            await other.close()

    asyncio.run(scenario())


def test_a_claim_that_fails_on_the_database_gives_its_lease_back(pg: PostgresServer, tmp_path: Path):
    """The lease is taken first, then the row claimed: when the database fails in between, the
    lease goes back at once, so the task's retry (a second or so later) takes the session, rather
    than finding it leased (by this very worker) and coming back a lease period later."""
    import psycopg

    from tests.cluster import RedisServer
    from tryon_server.distributed.bus import Bus, ClusterEvents
    from tryon_server.distributed.manager import LEASE_KEY, DistributedSessionManager
    from tryon_server.distributed.pgdb import PostgresDatabase
    from tryon_server.metrics import Metrics
    from tryon_server.storage import Storage

    async def scenario(redis_url: str) -> None:
        db = PostgresDatabase(pg.url, max_size=2)
        await db.connect()
        bus = Bus(redis_url)
        sessions = DistributedSessionManager(Settings(), db, Storage(tmp_path), ClusterEvents(bus), Metrics(),
                                             lambda *_: None)
        try:
            now = time.time()
            await db.execute("insert_token", token_hash="leased", now=now)
            await db.execute("insert_session_if_room", id="leased", **session_params(now, owner="leased"))
            fetch_one = db.fetch_one

            async def database_gone(query: str, /, **params: Any) -> Any:
                if query == "claim_session":
                    raise psycopg.OperationalError("server closed the connection unexpectedly")
                return await fetch_one(query, **params)

            db.fetch_one = database_gone  # type: ignore[method-assign]
            with pytest.raises(psycopg.OperationalError):
                await sessions.claim("leased")
            assert await bus.redis.exists(LEASE_KEY.format("leased")) == 0
            db.fetch_one = fetch_one  # type: ignore[method-assign]
            claimed = await sessions.claim("leased")  # the retry, at once
            assert claimed is not None and claimed[0]["attempts"] == 1
            sessions.release("leased")
            await sessions.settle()
        finally:
            await bus.redis.aclose()
            await db.close()

    redis = RedisServer()
    try:
        asyncio.run(scenario(redis.start().url))
    finally:
        redis.stop()


async def blocked_or_done(db: Any, task: asyncio.Task[Any]) -> None:
    """Until `task` has finished or a statement of it waits for a lock another transaction holds."""
    deadline = time.monotonic() + 60
    while not task.done():
        async with db.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) AS n FROM pg_locks WHERE NOT granted")
            if (await cur.fetchone())["n"]:
                return
        assert time.monotonic() < deadline, "the statement neither finished nor waited for a lock"
        await asyncio.sleep(0.02)


def held_open(published: asyncio.Event, finish: asyncio.Event,
              error: Exception | None = None) -> Callable[[int], Awaitable[None]]:
    """A submission's publish step that keeps its transaction open (row inserted, task out) until
    `finish`; then it commits, or rolls back by raising `error`."""

    async def publish(inserted: int) -> None:
        published.set()
        await finish.wait()
        if error is not None:
            raise error

    return publish


@pytest.mark.parametrize("deletion", ["profile", "owner"])
def test_a_deletion_takes_along_a_try_on_submitted_from_it_meanwhile(pg: PostgresServer, deletion: str):
    """Deleting a profile (or all of a token's data) while a try-on made from it is being
    submitted: the try-on goes with it, as on SQLite, whose one connection never interleaves the
    two. Here the delete must wait for the insert's commit; it did not, and the try-on survived."""
    from tryon_server.distributed.pgdb import PostgresDatabase

    async def scenario() -> None:
        db = PostgresDatabase(pg.url, max_size=4)
        await db.connect()
        try:
            now, owner, profile, sid = time.time(), f"race-{deletion}", f"p-{deletion}", f"s-{deletion}"
            await db.execute("insert_token", token_hash=owner, now=now)
            await db.execute("insert_profile", id=profile, owner=owner, name="A", height_cm=None,
                             photo_key="photos/a.jpg", photo_sha256="x", now=now)
            published, finish = asyncio.Event(), asyncio.Event()
            insert = asyncio.create_task(db.execute_then("insert_session_if_room", held_open(published, finish),
                                                         id=sid, **session_params(now, owner=owner,
                                                                                  profile_id=profile)))
            await published.wait()
            if deletion == "profile":  # as SessionManager.delete_for_profile / delete_for_owner
                delete = asyncio.create_task(db.in_one_transaction(["delete_profile", "delete_profile_sessions"],
                                                                   id=profile, profile_id=profile, owner=owner))
            else:
                delete = asyncio.create_task(db.in_one_transaction(
                    ["delete_owner_sessions", "delete_owner_profiles", "delete_token"], owner=owner, token_hash=owner))
            await blocked_or_done(db, delete)
            finish.set()
            assert await insert == 1
            deleted = (await delete)[1 if deletion == "profile" else 0]
            # returned by the deletion (so its files and running try-on go too), and gone
            assert [row["id"] for row in deleted] == [sid]
            assert await db.fetch_value("session_status", id=sid) is None
        finally:
            await db.close()

    asyncio.run(scenario())


def test_a_task_that_beats_its_rows_commit_waits_for_it_then_runs_it_or_not(pg: PostgresServer):
    """A submission publishes its task, then commits: a worker may get the task first. It waits
    for that commit, however late (it used to give up 5 s after the task's send time, read on
    the API's clock: a later commit, or a worker whose clock ran ahead, lost the session), and
    runs the session once it is committed, or nothing when the submission rolled back."""
    from tryon_server.distributed.pgdb import PostgresDatabase
    from tryon_server.distributed.worker_main import WorkerServices

    ran: list[str] = []

    class StandIn:  # the worker and its session manager: what the task would run
        async def process(self, session_id: str) -> None:
            ran.append(session_id)

        async def settle(self) -> None:
            pass

    async def scenario() -> None:
        db = PostgresDatabase(pg.url, max_size=4)
        await db.connect()
        stand_in = StandIn()
        services = WorkerServices(Settings(), db, None, stand_in, None, stand_in, None)  # type: ignore[arg-type]
        try:
            now = time.time()
            await db.execute("insert_token", token_hash="early", now=now)
            for sid, error in (("early-committed", None), ("early-rolled-back", RuntimeError("commit failed"))):
                published, finish = asyncio.Event(), asyncio.Event()
                insert = asyncio.create_task(db.execute_then("insert_session_if_room",
                                                             held_open(published, finish, error),
                                                             id=sid, **session_params(now, owner="early")))
                await published.wait()
                run = asyncio.create_task(services.run(sid))
                await blocked_or_done(db, run)
                finish.set()
                await asyncio.gather(insert, return_exceptions=True)
                await run
            assert ran == ["early-committed"]
            await services.run("never-submitted")  # a deleted session's task: nothing, at once
            assert ran == ["early-committed"]
        finally:
            await db.close()

    asyncio.run(scenario())


def test_a_try_on_whose_task_cannot_be_published_is_refused_with_a_503_and_leaves_nothing(pg: PostgresServer,
                                                                                         tmp_path: Path):
    """The broker unreachable at submission: the row is rolled back (nothing was accepted), the
    uploaded images go, and the shopper is told to come back (503), not shown a server error."""
    from kombu.exceptions import OperationalError

    from tryon_server.distributed.bus import Bus, ClusterEvents
    from tryon_server.distributed.manager import DistributedSessionManager
    from tryon_server.distributed.pgdb import PostgresDatabase
    from tryon_server.exceptions import NotReady
    from tryon_server.metrics import Metrics
    from tryon_server.storage import Storage

    def unreachable(session_id: str, countdown_s: float) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    async def scenario() -> None:
        db = PostgresDatabase(pg.url, max_size=2)
        await db.connect()
        storage = Storage(tmp_path / "images")
        storage.prepare()
        bus = Bus("redis://127.0.0.1:1/0")  # never connected to
        sessions = DistributedSessionManager(Settings(), db, storage, ClusterEvents(bus), Metrics(), unreachable)
        try:
            await db.execute("insert_token", token_hash="no-broker", now=time.time())
            person, garment = storage.save_sync("inputs", "png", b"p"), storage.save_sync("inputs", "png", b"g")
            with pytest.raises(NotReady, match="cannot be reached") as refused:
                await sessions.submit("no-broker", category="upper", person_key=person, person_sha256="x",
                                      garment_key=garment)
            assert refused.value.status_code == 503 and refused.value.headers == {"Retry-After": "30"}
            async with db.pool.connection() as conn:
                cur = await conn.execute("SELECT count(*) AS n FROM sessions WHERE owner = 'no-broker'")
                assert (await cur.fetchone())["n"] == 0
            assert not storage.path(person).exists() and not storage.path(garment).exists()
        finally:
            await bus.redis.aclose()
            await db.close()

    asyncio.run(scenario())


def test_an_unreachable_database_stops_the_start_with_the_reason():
    from tests.conftest import free_port
    from tryon_server.distributed.pgdb import PostgresDatabase
    from tryon_server.exceptions import ConfigError

    db = PostgresDatabase(f"postgresql://postgres:s3cret@127.0.0.1:{free_port()}/postgres")
    with pytest.raises(ConfigError, match="Cannot connect to the database given by --database.*refused") as refused:
        asyncio.run(db.connect())  # (a pool said only "pool initialization incomplete after 30 sec")
    assert "s3cret" not in str(refused.value)


def test_a_test_run_killed_midway_leaves_no_server_behind(tmp_path: Path):
    """A test process that dies without its teardown (pytest-timeout, CI's own timeout) takes its
    Redis and PostgreSQL servers with it, and none of them keeps its stdout open: a leaked
    redis-server held the pipe a CI job reads the run's output through, which then never ended."""
    if (why := services_missing()) is not None:
        pytest.fail(f"this test needs Redis and PostgreSQL: {why} (.ci/run installs them)")
    record = tmp_path / "started"
    code = ("import os, sys; from tests.cluster import PostgresServer, RedisServer; "
            "servers = [RedisServer().start(), PostgresServer().start()]; "
            "open(sys.argv[1], 'w').write(' '.join(f'{s.proc.pid}:{s.dir}' for s in servers)); "
            "os._exit(0)")  # no teardown, as when the test process is killed
    started: list[tuple[int, str]] = []
    try:
        try:
            subprocess.run([sys.executable, "-c", code, str(record)], cwd=REPO, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        finally:
            if record.exists():
                started = [(int(pid), folder) for pid, folder in
                           (item.split(":", 1) for item in record.read_text().split())]
        assert len(started) == 2
        deadline = time.monotonic() + 60
        while alive := [pid for pid, _ in started if running(pid)]:
            assert time.monotonic() < deadline, f"still running after their parent died: {alive}"
            time.sleep(0.1)
    finally:
        for pid, folder in started:  # what the test started, if it failed
            if running(pid):
                os.kill(pid, signal.SIGKILL)
            shutil.rmtree(folder, ignore_errors=True)


def running(pid: int) -> bool:
    """A process that has not exited (a zombie waiting for init to reap it has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_the_embedded_server_never_imports_the_distributed_libraries():
    code = ("import sys; from tryon_server.app import create_app; from tryon_server.config import Settings; "
            "import tryon_server.cli, tryon_server.worker; create_app(Settings(data_dir=__import__('pathlib')"
            ".Path(sys.argv[1]))); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'celery', 'kombu', 'redis', 'psycopg'}))")
    with tempfile.TemporaryDirectory() as data:
        out = subprocess.run([sys.executable, "-c", code, data], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
