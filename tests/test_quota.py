"""The daily try-on quota per token (--daily-quota), over real HTTP against a real SQLite file:
counted when a try-on is accepted, refused past the limit with a 429 until midnight UTC, given
back once when a try-on fails through no fault of its photos, kept across a restart, new each
UTC day (the quota's clock is injected: no test waits for midnight)."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests import test_engine_hosted as hosted
from tests.conftest import LiveServer, new_token, wait_processing, wait_terminal
from tests.doubles import InstantEngine
from tests.test_engine_hosted import _clear_gates, fake, nowhere_real  # noqa: F401  (fixtures, by name)
from tests.test_sessions import submit
from tryon_server.config import Settings
from tryon_server.db import Database
from tryon_server.engines.base import ProgressCallback, TryOnJob
from tryon_server.events import SessionEvents
from tryon_server.exceptions import InputRejected
from tryon_server.expiry import expire_once
from tryon_server.manager import SessionManager
from tryon_server.metrics import Metrics
from tryon_server.storage import Storage

# the injected clock: a minute before the coming midnight UTC, then just after it (days of the
# real calendar, since the server's start-up expiry pass forgets the counts of past days by it)
# A day a month ahead, not today: a server's start-up expiry pass runs on the real clock and
# drops the counts of days before the real today, so a run that crossed midnight UTC lost the
# counts of an injected "today" that had become yesterday (seen at 00:05 UTC).
_TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=30)
LATE_EVENING = (_TODAY + timedelta(hours=23, minutes=59)).timestamp()
NEXT_MORNING = (_TODAY + timedelta(days=1, seconds=1)).timestamp()
DAY, NEXT_DAY, DAY_AFTER = (f"{_TODAY + timedelta(days=n):%Y-%m-%d}" for n in range(3))


class ByCategoryEngine(InstantEngine):
    """upper: a result; lower: an unexpected engine error (the server's fault, retried, then
    failed); dress: the photo is refused (the shopper's fault)."""

    name = "by_category"

    def __init__(self, gate: threading.Event | None = None) -> None:
        super().__init__()
        self.errors = 0
        self.gate = gate  # when given, an upper try-on waits for it

    def run(self, job: TryOnJob, progress: ProgressCallback) -> Image.Image:
        if self.gate is not None and job.category == "upper":
            self.gate.wait(30)
        if job.category == "lower":
            self.errors += 1
            raise RuntimeError("simulated engine error")
        if job.category == "dress":
            raise InputRejected("No person was found in the photo: use a photo that shows your shoulders and hips.",
                                code="no_person")
        return super().run(job, progress)


def quota(client: httpx.Client) -> dict:
    r = client.get("/api/tokens/current")
    assert r.status_code == 200, r.text
    return r.json()["quota"]


def accepted(client: httpx.Client, category: str = "upper") -> str:
    r = submit(client, category=category)
    assert r.status_code == 202, r.text
    return r.json()["session_id"]


def test_without_the_flag_there_is_no_quota(server_factory):
    live = server_factory(InstantEngine)
    with live.client(new_token(live)) as c:
        for _ in range(3):
            wait_terminal(c, accepted(c))
        assert quota(c) is None


def test_accepting_counts_and_past_the_limit_is_a_429_with_a_sentence_and_nothing_stored(server_factory):
    live = server_factory(InstantEngine, daily_quota=2)
    live.state.sessions.quota.clock = lambda: LATE_EVENING
    token = new_token(live)
    with live.client(token) as c, live.client(new_token(live)) as other:
        assert quota(c) == {"limit": 2, "used": 0, "left": 2, "resets_at": f"{NEXT_DAY}T00:00:00Z"}
        first = accepted(c)
        assert quota(c)["used"] == 1 and quota(c)["left"] == 1
        second = accepted(c)
        for sid in (first, second):
            assert wait_terminal(c, sid)["status"] == "completed"  # completed try-ons stay counted
        assert quota(c) == {"limit": 2, "used": 2, "left": 0, "resets_at": f"{NEXT_DAY}T00:00:00Z"}

        refused = submit(c)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "60"  # until midnight UTC, a minute away
        error = refused.json()["error"]
        assert error["code"] == "daily_quota_exceeded"
        assert "quota of 2 try-ons" in error["message"] and "midnight UTC" in error["message"]
        # the quota is the token's: another token on the same server is not held back
        assert quota(other)["used"] == 0
        wait_terminal(other, accepted(other))
    rows = sqlite3.connect(live.state.settings.db_path).execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    assert rows == 3  # the refused try-on left no row


def test_a_burst_of_submissions_cannot_go_past_the_quota(server_factory):
    """All of them pass the early check together; the insert's own check decides, atomically."""
    live = server_factory(lambda: InstantEngine(delay_s=0.5), daily_quota=3)
    with live.client(new_token(live)) as c:
        with ThreadPoolExecutor(8) as pool:
            codes = sorted(r.status_code for r in pool.map(lambda _: submit(c), range(8)))
        assert codes == [202] * 3 + [429] * 5
        assert quota(c)["used"] == 3


def test_an_engine_failure_is_refunded_exactly_once_even_after_retries_and_a_second_fail(server_factory):
    engine = ByCategoryEngine()
    live = server_factory(lambda: engine, daily_quota=2, max_attempts=3, retry_base_s=0.01)
    with live.client(new_token(live)) as c:
        ok = accepted(c)
        failing = accepted(c, "lower")
        assert quota(c)["used"] == 2
        body = wait_terminal(c, failing)
        assert body["status"] == "failed" and engine.errors == 3  # retried twice, then failed: one refund
        assert wait_terminal(c, ok)["status"] == "completed"
        assert quota(c)["used"] == 1
        # the lifecycle reaching fail again (a late duplicate) neither fails nor refunds twice
        assert live.call(live.state.sessions.fail, failing, "again", "engine_error") is False
        assert quota(c)["used"] == 1
        # the refunded try-on can be made again today
        wait_terminal(c, accepted(c))
        assert quota(c)["used"] == 2 and submit(c).status_code == 429


def test_a_refused_photo_and_a_deleted_try_on_are_not_refunded(server_factory):
    live = server_factory(lambda: ByCategoryEngine(), daily_quota=3)
    with live.client(new_token(live)) as c:
        rejected = accepted(c, "dress")
        body = wait_terminal(c, rejected)
        assert body["status"] == "failed" and body["error_code"] == "no_person"
        assert quota(c)["used"] == 1
        deleted = accepted(c)
        assert c.delete(f"/api/tryon/sessions/{deleted}").status_code == 204
        assert quota(c)["used"] == 2


def test_the_count_survives_a_restart_and_a_new_utc_day_starts_from_zero(server_factory, settings):
    live = server_factory(lambda: ByCategoryEngine(), daily_quota=2)
    live.state.sessions.quota.clock = lambda: LATE_EVENING
    token = new_token(live)
    with live.client(token) as c:
        for _ in range(2):
            wait_terminal(c, accepted(c))
    live.stop()

    again = server_factory(lambda: ByCategoryEngine(), daily_quota=2)
    again.state.sessions.quota.clock = lambda: LATE_EVENING
    with again.client(token) as c:
        assert quota(c)["used"] == 2 and submit(c).status_code == 429
        clock = [NEXT_MORNING]
        again.state.sessions.quota.clock = lambda: clock[0]
        assert quota(c) == {"limit": 2, "used": 0, "left": 2, "resets_at": f"{DAY_AFTER}T00:00:00Z"}
        today = accepted(c)
        wait_terminal(c, today)
        assert quota(c)["used"] == 1


def test_a_try_on_accepted_yesterday_that_fails_today_is_refunded_to_yesterday(server_factory):
    """The refund goes to the day that was charged: it cannot lift today's count below what
    today's try-ons used."""
    gate = threading.Event()
    live = server_factory(lambda: ByCategoryEngine(gate), daily_quota=3, max_attempts=1)
    clock = [LATE_EVENING]
    live.state.sessions.quota.clock = lambda: clock[0]
    with live.client(new_token(live)) as c:
        running = accepted(c)
        wait_processing(c, running)  # held at the gate: the next one waits in line past midnight
        yesterday = accepted(c, "lower")
        clock[0] = NEXT_MORNING
        today = accepted(c, "lower")
        assert quota(c)["used"] == 1
        gate.set()
        for sid in (running, yesterday, today):
            wait_terminal(c, sid)
        assert quota(c)["used"] == 0  # today's failure given back to today; yesterday's to yesterday
        assert _quota_rows(live) == [(DAY, 1), (NEXT_DAY, 0)]
        live.call(expire_once, live.state)  # a past day's count is of no more use: the expiry pass drops it
        assert _quota_rows(live) == [(NEXT_DAY, 0)]


def test_deleting_all_my_data_takes_the_counts_along(server_factory):
    live = server_factory(InstantEngine, daily_quota=2)
    with live.client(new_token(live)) as c:
        wait_terminal(c, accepted(c))
        assert [used for _, used in _quota_rows(live)] == [1]
        assert c.delete("/api/tokens/current").status_code == 204
    assert _quota_rows(live) == []


def _quota_rows(live: LiveServer) -> list[tuple[str, int]]:
    with sqlite3.connect(live.state.settings.db_path) as db:
        return db.execute("SELECT day, used FROM quota_usage ORDER BY day").fetchall()


def test_hosted_failures_are_refunded_unless_the_provider_refused_the_pictures(fake, server_factory):  # noqa: F811
    """Against the fake provider on loopback: an outage (500 at every attempt) and the server's
    account refused (no credits) are the server's side, given back; a moderation refusal of the
    pictures is not; a rate limit longer than the longest wait is given back (last: its hint
    holds every call to the provider)."""
    moderation = {"id": "pred-1", "status": "failed", "output": None, "error": {
        "name": "ContentModerationError", "message": "Prohibited content detected in the garment image."}}
    cases = [
        ("/v1/run", [hosted.json_answer({"error": "InternalServerError", "message": "boom"}, 500)] * 3,
         "engine_error", 0),
        ("/v1/status/", [hosted.json_answer(moderation)], "provider_refused", 1),
        ("/v1/run", [hosted.json_answer({"error": "OutOfCredits", "message": "You have no API credits left."}, 429)],
         "provider_account", 1),
        ("/v1/run", [hosted.too_many({"Retry-After": "7200"})], "provider_busy", 1),
    ]
    live, client = hosted.hosted(server_factory, "fashn", daily_quota=10)
    with client:
        for prefix, answers, code, used in cases:
            fake.queue(prefix, *answers)
            body = wait_terminal(client, hosted.submit(client))
            assert (body["error_code"], quota(client)["used"]) == (code, used)


OWNER = "b" * 64


async def test_a_try_on_that_crashed_the_server_at_every_attempt_is_refunded_at_recovery(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, max_attempts=1, daily_quota=5)
    db = Database(settings.db_path)
    await db.connect()
    try:
        await db.execute("insert_token", token_hash=OWNER, now=time.time())
        storage = Storage(tmp_path / "images")
        storage.prepare()
        manager = SessionManager(settings, db, storage, SessionEvents(), Metrics())
        keys = [await storage.save("inputs", "png", b"p"), await storage.save("inputs", "png", b"g")]
        sid = await manager.submit(OWNER, category="upper", person_key=keys[0], person_sha256="0" * 64,
                                   garment_key=keys[1])
        assert await manager.quota.used(db, OWNER) == 1
        await manager.claim(sid)  # ... and the process dies while it runs

        restarted = SessionManager(settings, db, storage, SessionEvents(), Metrics())
        await restarted.recover()
        row = await db.fetch_one("get_session", id=sid, owner=OWNER)
        assert row is not None and row["status"] == "failed" and row["error_code"] == "engine_crash"
        assert await restarted.quota.used(db, OWNER) == 0
        await restarted.recover()  # a second start finds nothing more to refund
        assert await restarted.quota.used(db, OWNER) == 0
    finally:
        await db.close()


@pytest.mark.parametrize("value", ["0", "-1"])
def test_zero_or_less_turns_the_quota_off(value, monkeypatch):
    from tryon_server.config import parse_settings
    from tryon_server.quota import DailyQuota

    monkeypatch.setenv("TRYON_DAILY_QUOTA", value)
    settings = parse_settings([])
    assert not DailyQuota(settings.daily_quota).on
    monkeypatch.setenv("TRYON_DAILY_QUOTA", "7")
    assert parse_settings([]).daily_quota == 7 and parse_settings(["--daily-quota", "3"]).daily_quota == 3
