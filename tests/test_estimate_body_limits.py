"""POST /api/estimate-body cannot pile up work on the inference thread: beyond a few estimates in
flight the answer is 503 + Retry-After at once, and an estimate whose client has gone is dropped
before it runs (an adversarial review queued 60 behind a try-on: 73 MB → 1,040 MB, kept). The check
of a profile photo when it is saved (POST /api/profiles) runs there too and is bounded the same way.

The measurement itself is replaced by a counter here: what is tested is the queueing around it
(the real one is tested in test_measurements.py and test_classic_over_http.py).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import fixture_bytes, image_bytes, new_token, wait_processing
from tests.garments import draw_top
from tests.test_rate_limits import GatedEngine
from tryon_server.api import body
from tryon_server.api import profiles as profiles_api

PHOTO = fixture_bytes("grace_hopper.jpg")


@pytest.fixture
def estimates_run(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Each estimate that really runs on the inference thread appends its height."""
    ran: list[float] = []

    def counted(engine, image, height_cm, **options):
        assert threading.current_thread().name.startswith("inference")
        ran.append(height_cm)
        return {"height_cm": height_cm}

    monkeypatch.setattr(body, "_estimate_on_inference_thread", counted)
    return ran


class GatedAnalyzingEngine(GatedEngine):
    """An engine with a person analysis of its own (engines.base.AnalyzesPeople), so saved profile
    photos are checked on its thread."""

    def person_analyzer(self):
        return None


@pytest.fixture
def checks_run(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each profile photo check that really runs on the inference thread appends its photo's size."""
    ran: list[int] = []

    def counted(engine, stored: bytes, sha256: str) -> bool:
        assert threading.current_thread().name.startswith("inference")
        ran.append(len(stored))
        return True

    monkeypatch.setattr(profiles_api, "_check_on_inference_thread", counted)
    return ran


def _busy_server(server_factory, engine: GatedEngine | None = None) -> tuple[object, GatedEngine, str]:
    """A server whose inference thread is held by a try-on until the test opens the gate."""
    engine = engine or GatedEngine()
    live = server_factory(lambda: engine)
    token = new_token(live)
    with live.client(token) as c:
        r = c.post("/api/tryon/sessions", files={"person": ("me.jpg", PHOTO, "image/jpeg"),
                                                 "garment": ("top.png", image_bytes(draw_top()), "image/png")},
                   data={"options": '{"output_size": 128}'})
        assert r.status_code == 202, r.text
        wait_processing(c, r.json()["session_id"])
    return live, engine, token


def _estimate(live, token: str, height: int, timeout: float = 60) -> httpx.Response | None:
    try:
        return httpx.post(live.url + "/api/estimate-body", headers={"Authorization": f"Bearer {token}"},
                          files={"photo": ("me.jpg", PHOTO, "image/jpeg")}, data={"height_cm": str(height)},
                          timeout=timeout)
    except httpx.TimeoutException:
        return None  # the client gave up and closed its connection


def test_estimates_beyond_the_bound_are_refused_at_once_with_retry_after(server_factory, estimates_run):
    live, engine, token = _busy_server(server_factory)
    try:
        n = body.MAX_ESTIMATES_AT_ONCE + 6
        with ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(_estimate, live, token, 150 + i) for i in range(n)]
            deadline = time.monotonic() + 20
            while sum(f.done() for f in futures) < 6 and time.monotonic() < deadline:
                time.sleep(0.05)
            refused = [f.result() for f in futures if f.done()]
            assert len(refused) == 6, "the extra estimates were not answered while the thread was busy"
            for r in refused:
                assert r is not None and r.status_code == 503, r
                assert r.json()["error"]["code"] == "busy" and "busy" in r.json()["error"]["message"]
                assert int(r.headers["Retry-After"]) > 0
            assert estimates_run == []  # nothing ran yet: the try-on holds the thread
            engine.gate.set()
            answers = [f.result() for f in futures if f.result() is not None and f.result().status_code != 503]
        assert [r.status_code for r in answers] == [200] * body.MAX_ESTIMATES_AT_ONCE
        assert len(estimates_run) == body.MAX_ESTIMATES_AT_ONCE
        # the slots are free again
        r = _estimate(live, token, 170)
        assert r is not None and r.status_code == 200 and r.json() == {"height_cm": 170.0}
    finally:
        engine.gate.set()


def test_an_estimate_whose_client_left_is_dropped_and_frees_its_slot(server_factory, estimates_run):
    live, engine, token = _busy_server(server_factory)
    try:
        with ThreadPoolExecutor(body.MAX_ESTIMATES_AT_ONCE) as pool:
            gave_up = list(pool.map(lambda i: _estimate(live, token, 150 + i, timeout=1.5),
                                    range(body.MAX_ESTIMATES_AT_ONCE)))
        assert gave_up == [None] * body.MAX_ESTIMATES_AT_ONCE  # every client left while the thread was busy
        # their slots are free at once, while the thread is still busy: one more is accepted
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(_estimate, live, token, 180)
            time.sleep(0.5)
            assert not waiting.done()  # waiting for the thread, not refused
            engine.gate.set()
            r = waiting.result()
        assert r is not None and r.status_code == 200
        assert estimates_run == [180.0]  # the four abandoned estimates never ran
    finally:
        engine.gate.set()


def _save_profile(live, token: str, timeout: float = 60) -> httpx.Response | None:
    try:
        return httpx.post(live.url + "/api/profiles", headers={"Authorization": f"Bearer {token}"},
                          files={"photo": ("me.jpg", PHOTO, "image/jpeg")}, timeout=timeout)
    except httpx.TimeoutException:
        return None  # the client gave up and closed its connection


def test_profile_photo_checks_beyond_the_bound_are_refused_at_once_and_store_nothing(server_factory, checks_run):
    live, engine, token = _busy_server(server_factory, GatedAnalyzingEngine())
    try:
        n = body.MAX_ESTIMATES_AT_ONCE + 3
        with ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(_save_profile, live, token) for _ in range(n)]
            deadline = time.monotonic() + 20
            while sum(f.done() for f in futures) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            refused = [f.result() for f in futures if f.done()]
            assert len(refused) == 3, "the extra photos were not answered while the thread was busy"
            for r in refused:
                assert r is not None and r.status_code == 503 and r.json()["error"]["code"] == "busy"
                assert "checking other photos" in r.json()["error"]["message"] and int(r.headers["Retry-After"]) > 0
            assert checks_run == []
            engine.gate.set()
            saved = [f.result() for f in futures if f.result().status_code != 503]
        assert [r.status_code for r in saved] == [201] * body.MAX_ESTIMATES_AT_ONCE
        assert len(checks_run) == body.MAX_ESTIMATES_AT_ONCE
        with live.client(token) as c:
            assert len(c.get("/api/profiles").json()["items"]) == body.MAX_ESTIMATES_AT_ONCE
    finally:
        engine.gate.set()


def test_a_profile_photo_whose_client_left_is_not_checked_nor_stored(server_factory, checks_run):
    live, engine, token = _busy_server(server_factory, GatedAnalyzingEngine())
    try:
        assert _save_profile(live, token, timeout=1.5) is None  # the client left while the thread was busy
        slots = live.app.state.profile_check_slots
        deadline = time.monotonic() + 20
        while slots.taken and time.monotonic() < deadline:  # until the server has seen it leave
            time.sleep(0.02)
        assert slots.taken == 0, "the photo of a client that left still holds its slot"
        engine.gate.set()
        r = _save_profile(live, token)  # the thread is free: the next one is checked and stored
        assert r is not None and r.status_code == 201
        assert len(checks_run) == 1
        with live.client(token) as c:
            assert [p["profile_id"] for p in c.get("/api/profiles").json()["items"]] == [r.json()["profile_id"]]
    finally:
        engine.gate.set()
