"""Crash safety: the real server (`python run.py`, a child process) under a stream of submissions
and polls is killed with SIGKILL at random moments and restarted, again and again. At the end:

- every session that was accepted (every 202) reached `completed` or `failed`; none vanished;
- a session seen `completed` was never seen in another status afterwards. "Afterwards" is real
  time, not the order in which the pollers' threads happen to record their answers: a poll
  counts as a regression only if it was *sent* after a `completed` answer had been *received*
  (two concurrent polls may legitimately be answered old-then-new and recorded new-then-old);
- `PRAGMA integrity_check` is `ok`;
- no row whose files are missing (inputs of every row, the result of every completed row);
- no file without a row, once the server's own orphan sweep has run. A kill between an image's
  write and its row's commit leaves an orphan by design (the sweep spares files younger than ten
  minutes, since they may belong to an upload in flight); the harness ages the files by twenty
  minutes, restarts the server, and checks that its start-up sweep leaves none.

The CI run does 20 kills; tests/benchmarks/crash_soak.py runs the same harness with more.
"""

from __future__ import annotations

import io
import os
import random
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image

from tests.conftest import fixture_bytes, image_bytes
from tests.garments import draw_top
from tests.server_process import ServerProcess

STORAGE_FOLDERS = ("inputs", "results")
RESTART_TIMEOUT_S = 120


def small_inputs() -> tuple[bytes, bytes]:
    person = Image.open(io.BytesIO(fixture_bytes("grace_hopper.jpg"))).convert("RGB")
    person.thumbnail((192, 192))
    garment = draw_top()
    garment.thumbnail((128, 128))
    return image_bytes(person, "JPEG"), image_bytes(garment, "PNG")


@dataclass
class SoakReport:
    kills: int = 0
    restarts: int = 0
    accepted: set[str] = field(default_factory=set)
    submit_errors: int = 0  # connection refused/reset while the server was down: expected
    polls: int = 0
    poll_5xx: int = 0
    completed: int = 0
    failed: int = 0
    failure_reasons: dict[str, int] = field(default_factory=dict)  # error_code -> count
    lost: list[str] = field(default_factory=list)  # accepted, then 404: the row is gone
    unfinished: list[str] = field(default_factory=list)  # still queued/processing when the drain timed out
    regressions: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)
    recovered_processing: int = 0  # sessions a kill caught mid-inference (processing -> queued at start-up)
    orphans_before_sweep: int = 0
    orphans_after_sweep: list[str] = field(default_factory=list)
    integrity: str = ""
    database_locked: int = 0  # "database is locked" lines in the server's log
    slowest_restart_s: float = 0.0  # from the kill to /api/health answering 200
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"{self.kills} SIGKILLs survived, {len(self.accepted)} sessions accepted, "
                f"{self.completed} completed, {self.failed} failed {self.failure_reasons}, {len(self.lost)} lost, "
                f"{len(self.unfinished)} unfinished, "
                f"{self.recovered_processing} caught mid-inference, "
                f"{self.polls} polls ({self.poll_5xx} 5xx), {self.orphans_before_sweep} orphan files "
                f"swept, {len(self.missing_files)} missing files, integrity {self.integrity!r}, "
                f"slowest restart {self.slowest_restart_s:.1f} s, {self.seconds:.0f} s")


@dataclass(frozen=True)
class Observation:
    sent: float  # time.monotonic() just before the request went out
    received: float  # time.monotonic() just after the answer came back
    status: str


def regressions(observations: dict[str, list[Observation]]) -> list[str]:
    """Sessions answered `completed` and later answered something else.

    Later means the second poll was sent after the first answer had arrived: only then does the
    server's second answer have to reflect a state at least as new as its first. Polls that
    overlap in time may be answered in either order, so they prove nothing either way."""
    found = []
    for sid, seen in observations.items():
        first_completed = min((o.received for o in seen if o.status == "completed"), default=None)
        if first_completed is None:
            continue
        found += [f"{sid}: completed -> {o.status} ({o.sent - first_completed:.3f} s after)"
                  for o in seen if o.status != "completed" and o.sent > first_completed]
    return found


class _Load:
    """Submitters and pollers against whatever server is up at the moment."""

    def __init__(self, url: str, token: str, report: SoakReport, seed: int, submitters: int, pollers: int,
                 submit_pause_s: float) -> None:
        self.url, self.token, self.report = url, token, report
        self.submit_pause_s = submit_pause_s
        self.person, self.garment = small_inputs()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.accepted_list: list[str] = []
        # per session, every answered poll as (sent, received, status) on the monotonic clock
        self.observations: dict[str, list[Observation]] = {}
        self.rng = random.Random(seed)
        self.threads = [threading.Thread(target=self._submitter, daemon=True) for _ in range(submitters)]
        self.threads += [threading.Thread(target=self._poller, daemon=True) for _ in range(pollers)]

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10)

    def _submitter(self) -> None:
        with self._client() as c:
            while not self.stop.is_set():
                try:
                    r = c.post("/api/tryon/sessions", data={"options": '{"output_size": 128}'},
                               files={"person": ("p.jpg", self.person, "image/jpeg"),
                                      "garment": ("g.png", self.garment, "image/png")})
                except httpx.HTTPError:
                    with self.lock:
                        self.report.submit_errors += 1
                    time.sleep(0.05)
                    continue
                if r.status_code == 202:
                    with self.lock:
                        self.report.accepted.add(r.json()["session_id"])
                        self.accepted_list.append(r.json()["session_id"])
                elif r.status_code >= 500:
                    with self.lock:
                        self.report.submit_errors += 1
                time.sleep(self.submit_pause_s)

    def _poller(self) -> None:
        with self._client() as c:
            while not self.stop.is_set():
                with self.lock:
                    sid = self.rng.choice(self.accepted_list) if self.accepted_list else None
                if sid is None:
                    time.sleep(0.05)
                    continue
                sent = time.monotonic()
                try:
                    r = c.get(f"/api/tryon/sessions/{sid}")
                except httpx.HTTPError:
                    time.sleep(0.05)
                    continue
                received = time.monotonic()
                with self.lock:
                    self.report.polls += 1
                    if r.status_code >= 500:
                        self.report.poll_5xx += 1
                    elif r.status_code == 404:
                        self.report.lost.append(sid)
                    elif r.status_code == 200:
                        self.observations.setdefault(sid, []).append(Observation(sent, received, r.json()["status"]))

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(15)
        with self.lock:
            self.report.regressions = regressions(self.observations)


def _storage_keys(data_dir: Path) -> set[str]:
    root = data_dir / "images"
    return {f"{folder}/{e.name}" for folder in STORAGE_FOLDERS if (root / folder).is_dir()
            for e in os.scandir(root / folder) if e.is_file()}


def _referenced_keys(db: sqlite3.Connection) -> set[str]:
    rows = db.execute("SELECT person_key FROM sessions UNION SELECT garment_key FROM sessions "
                      "UNION SELECT result_key FROM sessions WHERE result_key IS NOT NULL "
                      "UNION SELECT photo_key FROM profiles").fetchall()
    return {r[0] for r in rows}


def _wait_all_terminal(url: str, token: str, ids: set[str], timeout: float) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    final: dict[str, dict] = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as c:
        pending = set(ids)
        while pending and time.monotonic() < deadline:
            for sid in list(pending):
                r = c.get(f"/api/tryon/sessions/{sid}")
                if r.status_code != 200:
                    final[sid] = {"status": f"http {r.status_code}"}
                    pending.discard(sid)
                elif r.json()["status"] in ("completed", "failed"):
                    final[sid] = r.json()
                    pending.discard(sid)
            if pending:
                time.sleep(0.2)
        for sid in pending:
            final[sid] = {"status": "unfinished"}
    return final


def run_crash_soak(workdir: Path, *, kills: int, seed: int = 1, engine_delay_s: float = 0.05,
                   submitters: int = 2, pollers: int = 3, max_gap_s: float = 0.8,
                   submit_pause_s: float = 0.1) -> SoakReport:
    """Run the harness and return its report; the assertions are the caller's."""
    started = time.monotonic()
    rng = random.Random(seed)
    data = workdir / "data"
    report = SoakReport()
    server = ServerProcess(data, "--rate-limit-per-minute", "0", "--submit-limit-per-minute", "0",
                           "--queue-max", "100000", "--retry-base-s", "0.05",
                           env={"TRYON_TEST_ENGINE_DELAY": str(engine_delay_s)}, log_path=workdir / "server.log")
    try:  # whatever fails, no server is left running
        server.start()
        token = httpx.post(server.url + "/api/tokens").json()["token"]
        load = _Load(server.url, token, report, seed, submitters, pollers, submit_pause_s)
        load.start()
        try:
            for _ in range(kills):
                time.sleep(rng.uniform(0.05, max_gap_s))  # a random moment: mid-upload, mid-inference, mid-write
                server.kill()
                killed = time.monotonic()
                report.kills += 1
                time.sleep(rng.uniform(0.0, 0.2))
                # a restart takes about a second; the generous limit is for a machine busy with other work
                server.start(timeout=RESTART_TIMEOUT_S)
                report.slowest_restart_s = max(report.slowest_restart_s, time.monotonic() - killed)
                report.restarts += 1
            time.sleep(0.5)
        finally:
            load.finish()

        # the backlog drains at the engine's pace: allow for it
        final = _wait_all_terminal(server.url, token, report.accepted,
                                   timeout=60 + len(report.accepted) * (engine_delay_s + 0.1))
        server.terminate()
        for sid, body in final.items():
            if body["status"] == "completed":
                report.completed += 1
            elif body["status"] == "failed":
                report.failed += 1
                code = str(body.get("error_code"))
                report.failure_reasons[code] = report.failure_reasons.get(code, 0) + 1
            elif body["status"] == "unfinished":
                report.unfinished.append(sid)
            else:
                report.lost.append(f"{sid}: {body['status']}")

        with sqlite3.connect(data / "tryon.sqlite3") as db:
            report.integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
            for sid, status, person, garment, result in db.execute(
                    "SELECT id, status, person_key, garment_key, result_key FROM sessions"):
                needed = [person, garment] + ([result] if status == "completed" else [])
                if status == "completed" and not result:
                    report.missing_files.append(f"{sid}: completed without a result")
                for key in needed:
                    if not (data / "images" / key).is_file():
                        report.missing_files.append(f"{sid}: {key}")
            report.orphans_before_sweep = len(_storage_keys(data) - _referenced_keys(db))

        # let ten minutes pass for the files, then let the server's start-up sweep do its job
        old = time.time() - 1200
        for key in _storage_keys(data):
            os.utime(data / "images" / key, (old, old))
        leftovers = [p.name for folder in STORAGE_FOLDERS for p in (data / "images" / folder).glob("*.part")]
        with sqlite3.connect(data / "tryon.sqlite3") as db:  # at rest: every session is terminal
            referenced = _referenced_keys(db)
        server.start(timeout=RESTART_TIMEOUT_S)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (_storage_keys(data) - referenced or leftovers):
            time.sleep(0.1)
            leftovers = [p.name for folder in STORAGE_FOLDERS for p in (data / "images" / folder).glob("*.part")]
        server.terminate()
        report.orphans_after_sweep = sorted(_storage_keys(data) - referenced) + leftovers
    finally:
        server.kill()
    report.database_locked = server.log_tail(10**8).count("database is locked")
    for m in re.finditer(r"\((\d+) were processing when the server stopped\)", server.log_tail(10**8)):
        report.recovered_processing += int(m.group(1))
    report.seconds = time.monotonic() - started
    return report


def test_twenty_sigkills_under_load_lose_no_accepted_session_and_leave_a_consistent_store(tmp_path):
    report = run_crash_soak(tmp_path, kills=20, seed=20261122)
    print("\ncrash soak:", report.summary())
    assert report.kills == 20 and report.restarts == 20
    assert len(report.accepted) >= 20, "the load did not get enough sessions in to prove anything"
    assert report.lost == [], f"accepted sessions vanished: {report.lost[:10]}"
    assert report.unfinished == [], f"accepted sessions never finished: {report.unfinished[:10]}"
    assert report.completed + report.failed == len(report.accepted)
    assert report.recovered_processing >= 1, "no kill landed mid-inference: the run proved less than it claims"
    assert report.regressions == []
    assert report.poll_5xx == 0
    assert report.integrity == "ok"
    assert report.database_locked == 0
    assert report.missing_files == []
    assert report.orphans_after_sweep == []


def test_a_regression_counts_only_when_the_later_poll_was_sent_after_completed_was_received():
    # overlapping polls answered new-then-old (recorded in either order) are no regression ...
    overlapping = {"s": [Observation(1.0, 1.2, "completed"), Observation(1.1, 1.3, "processing")]}
    assert regressions(overlapping) == []
    # ... a poll sent once `completed` was in hand that answers `processing` is one, whatever the
    # order the threads recorded them in
    later = {"s": [Observation(2.0, 2.1, "processing"), Observation(1.0, 1.2, "completed")]}
    assert regressions(later) == ["s: completed -> processing (0.800 s after)"]
    # a session never seen completed has nothing to regress from
    assert regressions({"s": [Observation(1.0, 1.1, "queued"), Observation(2.0, 2.1, "processing")]}) == []
