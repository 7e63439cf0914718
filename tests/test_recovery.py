"""kill -9 of the real server process: nothing accepted is lost, order is kept, nothing completes twice."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import httpx

from tests.conftest import fixture_bytes, image_bytes
from tests.garments import draw_top
from tests.server_process import ServerProcess


def test_sigkill_while_processing_loses_nothing_and_finishes_all_in_order(tmp_path):
    data_dir = tmp_path / "data"
    limits = ("--rate-limit-per-minute", "0", "--submit-limit-per-minute", "0")
    server = ServerProcess(data_dir, *limits, env={"TRYON_TEST_ENGINE_DELAY": "1.5"}).start()
    base = server.url
    token = httpx.post(f"{base}/api/tokens").json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    files = {"person": ("p.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg"),
             "garment": ("g.png", image_bytes(draw_top()), "image/png")}
    ids = []
    for _ in range(4):
        r = httpx.post(f"{base}/api/tryon/sessions", headers=headers, files=files,
                       data={"options": json.dumps({"output_size": 256})})
        assert r.status_code == 202
        ids.append(r.json()["session_id"])
    deadline = time.time() + 10
    while httpx.get(f"{base}/api/tryon/sessions/{ids[0]}", headers=headers).json()["status"] != "processing":
        assert time.time() < deadline
        time.sleep(0.02)
    server.kill()

    # the same data folder and port, a faster engine
    server = ServerProcess(data_dir, *limits, port=server.port, env={"TRYON_TEST_ENGINE_DELAY": "0.1"}).start()
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            bodies = [httpx.get(f"{base}/api/tryon/sessions/{i}", headers=headers).json() for i in ids]
            if all(b["status"] == "completed" for b in bodies):
                break
            time.sleep(0.1)
        assert [b["status"] for b in bodies] == ["completed"] * 4
    finally:
        server.terminate()
    with sqlite3.connect(data_dir / "tryon.sqlite3") as db:
        rows = db.execute("SELECT id, attempts, result_key FROM sessions ORDER BY updated_at, seq").fetchall()
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [r[0] for r in rows] == ids  # finished in the order they were accepted
    assert rows[0][1] == 2 and all(r[1] == 1 for r in rows[1:])  # the interrupted one ran again, once
    results = {p.name for p in (data_dir / "images" / "results").iterdir()}
    assert {Path(r[2]).name for r in rows} <= results and len(results) == 4  # one result each, no double
