"""Poison and hang: a session whose engine call fails every time ends `failed` after the attempt
limit while the others complete; a stuck inference is timed out with a clear sentence, the
inference thread is replaced, and a server with a wedged thread still stops and restarts cleanly.
"""

from __future__ import annotations

import json
import sqlite3
import time

import httpx

from tests.conftest import fixture_bytes, image_bytes, new_token, wait_terminal
from tests.doubles import FailingEngine, StuckEngine
from tests.garments import draw_top
from tests.server_process import ServerProcess

TIMEOUT_SENTENCE = "The try-on took too long and was stopped. Please try again; a smaller photo may help."


def submit(c: httpx.Client, category: str = "upper") -> str:
    r = c.post("/api/tryon/sessions",
               files={"person": ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg"),
                      "garment": ("top.png", image_bytes(draw_top()), "image/png")},
               data={"category": category, "options": json.dumps({"output_size": 128})})
    assert r.status_code == 202, r.text
    return r.json()["session_id"]


def test_poison_sessions_fail_after_the_attempt_limit_while_the_others_complete(server_factory):
    engine = FailingEngine(fail_categories=("lower",))
    live = server_factory(lambda: engine, max_attempts=3, retry_base_s=0.05)
    with live.client(new_token(live)) as c:
        order = ["lower", "upper", "lower", "dress", "upper", "lower", "upper"]
        ids = [(cat, submit(c, cat)) for cat in order]
        results = {sid: wait_terminal(c, sid, timeout=60) for _, sid in ids}
    for cat, sid in ids:
        body = results[sid]
        if cat == "lower":
            assert body["status"] == "failed" and body["attempts"] == 3 and body["error_code"] == "engine_error"
            assert body["error"] == "Something went wrong while making your try-on. Please try again in a minute."
            assert body["result_url"] is None
        else:
            assert body["status"] == "completed" and body["attempts"] == 1, body
    assert engine.attempts == 3 * 3  # three poison sessions, three attempts each, no more
    assert httpx.get(live.url + "/api/health").json()["status"] == "ok"


def test_a_stuck_inference_times_out_with_a_sentence_and_a_fresh_thread_takes_over(server_factory):
    engine = StuckEngine()
    live = server_factory(lambda: engine, inference_timeout_s=1.0)
    try:
        with live.client(new_token(live)) as c:
            stuck = submit(c)
            next_one = submit(c)
            started = time.monotonic()
            stuck_body = wait_terminal(c, stuck, timeout=20)
            assert stuck_body["status"] == "failed" and stuck_body["error_code"] == "timeout"
            assert stuck_body["error"] == TIMEOUT_SENTENCE
            assert time.monotonic() - started < 10  # 1 s limit + the worker's bookkeeping
            # the wedged thread ignored its cancel flag: it was abandoned and a fresh one took over
            after = wait_terminal(c, next_one, timeout=30)
            assert after["status"] == "completed", after
            assert live.state.runner.has_stuck_threads()
            assert httpx.get(live.url + "/api/health").json()["models_loaded"] is True
            assert wait_terminal(c, submit(c))["status"] == "completed"
    finally:
        engine.release.set()


def test_server_with_a_wedged_inference_thread_stops_on_sigterm_and_restarts_cleanly(tmp_path):
    data = tmp_path / "data"
    server = ServerProcess(data, "--inference-timeout-s", "1", "--rate-limit-per-minute", "0",
                           engine="tests.fault_engines:hanging_engine").start()
    try:
        token = httpx.post(server.url + "/api/tokens").json()["token"]
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            first, second = submit(c), submit(c)
            for sid in (first, second):  # every try-on hangs; each is timed out, the queue moves on
                body = wait_terminal(c, sid, timeout=30)
                assert body["status"] == "failed" and body["error"] == TIMEOUT_SENTENCE
            assert httpx.get(server.url + "/api/health").status_code == 200
        started = time.monotonic()
        assert server.terminate(timeout=20) == 0
        assert time.monotonic() - started < 15
        assert "an inference thread is still stuck; exiting without waiting for it" in server.log_tail()
    finally:
        server.kill()
    with sqlite3.connect(data / "tryon.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    server = ServerProcess(data, port=server.port).start()  # the instant engine this time
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            assert c.get(f"/api/tryon/sessions/{first}").json()["status"] == "failed"
            assert wait_terminal(c, submit(c))["status"] == "completed"
    finally:
        server.terminate()
