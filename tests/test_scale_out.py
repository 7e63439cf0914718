"""The distributed mode on a real cluster: Redis and PostgreSQL servers of their own, two API
processes (`python run.py --database ...`) and two workers (`python -m tryon_server.worker ...`)
with the real classic engine. Nothing accepted is lost or completed twice, while a worker and an
API process are killed with SIGKILL; progress reaches an SSE client of the other API process."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.cluster import Cluster, services_missing
from tests.conftest import free_port, image_bytes
from tests.doubles import FAIL_ONCE_SEED, GATE_SEED, PAUSE_SEED
from tests.garments import draw_top
from tests.server_process import NO_RATE_LIMITS, ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SESSIONS = 200
VISIBILITY_S = 20  # a killed worker's task is restored this long after it was taken
TERMINAL = ("completed", "failed")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if (why := services_missing()) is not None:
        pytest.fail(f"the scale-out tests need Redis and PostgreSQL: {why} (.ci/run installs them)")
    root = tmp_path_factory.mktemp("cluster")
    c = Cluster(root, engine="tests.doubles:pausing_classic_engine", env={"TRYON_TEST_GATE": str(root / "gate")},
                extra=("--visibility-timeout-s", str(VISIBILITY_S), "--inference-timeout-s", str(VISIBILITY_S - 2),
                       "--worker-lease-s", "6", *NO_RATE_LIMITS, "--queue-max", "1000"))
    try:
        c.start()
        for _ in range(2):
            c.add_api()
        for _ in range(2):
            c.add_worker("--metrics-port", str(free_port()))
        yield c
    finally:
        c.stop()


def small_garment() -> bytes:
    top = draw_top()
    top.thumbnail((256, 256))
    return image_bytes(top)


def submit(api: ServerProcess, token: str, profile_id: str, garment: bytes, **options: object) -> dict:  # type: ignore[type-arg]
    r = httpx.post(f"{api.url}/api/tryon/sessions", headers={"Authorization": f"Bearer {token}"}, timeout=60,
                   data={"profile_id": profile_id, "category": "upper", "options": json.dumps({"output_size": 256,
                                                                                                 **options})},
                   files={"garment": ("top.png", garment, "image/png")})
    assert r.status_code == 202, r.text
    return r.json()  # type: ignore[no-any-return]


def session(api: ServerProcess, token: str, session_id: str) -> dict:  # type: ignore[type-arg]
    r = httpx.get(f"{api.url}/api/tryon/sessions/{session_id}", headers={"Authorization": f"Bearer {token}"},
                  timeout=30)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def wait_all_terminal(api: ServerProcess, token: str, ids: list[str], timeout: float) -> dict[str, dict]:  # type: ignore[type-arg]
    done: dict[str, dict] = {}  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(done) < len(ids):
        for sid in ids:
            if sid not in done and (body := session(api, token, sid))["status"] in TERMINAL:
                done[sid] = body
        time.sleep(0.5)
    missing = [sid for sid in ids if sid not in done]
    assert not missing, f"{len(missing)} sessions not finished in {timeout:.0f}s, e.g. {session(api, token, missing[0])}"
    return done


def completions(cluster: Cluster) -> Counter[str]:
    """Per session id, the completions the workers logged (a killed worker's log counts too)."""
    counts: Counter[str] = Counter()
    for worker in cluster.workers:
        for line in worker.log_path.read_text(errors="replace").splitlines():
            if '"session processing -> completed' in line:
                counts[json.loads(line)["session_id"]] += 1
    return counts


def lease_holder_pid(cluster: Cluster, session_id: str, timeout: float = 60) -> int:
    """The pid of the worker that holds a running session's lease (its token is host:pid:random)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = subprocess.run(["redis-cli", "-p", str(cluster.redis.port), "get", f"tryon:lease:{session_id}"],
                           capture_output=True, text=True)
        if r.stdout.strip():
            return int(r.stdout.strip().split(":")[1])
        time.sleep(0.05)
    raise AssertionError("no worker took the session's lease")


class SseWatcher(threading.Thread):
    """Reads a session's event stream from one API process and keeps every session event."""

    def __init__(self, api: ServerProcess, token: str, session_id: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{api.url}/api/tryon/sessions/{session_id}/events"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.events: list[dict] = []  # type: ignore[type-arg]
        self.connected = threading.Event()

    def run(self) -> None:
        with httpx.stream("GET", self.url, headers=self.headers, timeout=httpx.Timeout(30, read=120)) as r:
            self.connected.set()
            kind = None
            for line in r.iter_lines():
                if line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and kind == "session":
                    self.events.append(json.loads(line.split(":", 1)[1]))


def new_profile(api: ServerProcess) -> tuple[str, str]:
    token = httpx.post(f"{api.url}/api/tokens", timeout=30).json()["token"]
    person = Image.open(Path(__file__).parent / "fixtures" / "astronaut.png").convert("RGB")
    person.thumbnail((384, 384))
    r = httpx.post(f"{api.url}/api/profiles", headers={"Authorization": f"Bearer {token}"}, timeout=60,
                   files={"photo": ("a.png", image_bytes(person), "image/png")}, data={"name": "A"})
    assert r.status_code == 201, r.text
    return token, r.json()["profile_id"]


def test_sessions_through_both_apis_complete_exactly_once_while_a_worker_and_an_api_are_killed(cluster: Cluster):
    api0, api1 = cluster.apis
    token, profile = new_profile(api0)
    garment = small_garment()

    # a try-on submitted through one API process, watched through the other, whose worker dies
    # mid-try-on: it waits at its gate until the kill (a fixed pause could end first on a busy machine)
    gate = cluster.root / "gate"
    gate.touch()
    try:
        paused = submit(api0, token, profile, garment, seed=GATE_SEED)["session_id"]
        watcher = SseWatcher(api1, token, paused)
        watcher.start()
        assert watcher.connected.wait(30)
        victim_pid = lease_holder_pid(cluster, paused)
        victim = next(w for w in cluster.workers if w.proc is not None and w.proc.pid == victim_pid)
        deadline = time.monotonic() + 60
        while session(api1, token, paused)["stage"] != "test_pause":  # the engine reports it, then waits
            assert time.monotonic() < deadline, session(api1, token, paused)
            time.sleep(0.05)
        victim.kill()
    finally:
        gate.unlink()  # the redelivered try-on runs through

    # 200 more through both API processes; API 0 is killed with SIGKILL half-way and started again
    ids, positions = [], []
    for i in range(SESSIONS):
        if i == SESSIONS // 2:
            api0.kill()
        if i == SESSIONS * 3 // 4:
            api0.start(timeout=120)
        api = api1 if i % 2 or SESSIONS // 2 <= i < SESSIONS * 3 // 4 else api0
        body = submit(api, token, profile, garment)
        ids.append(body["session_id"])
        positions.append(body["queue_position"])
    # the place in line is answered (a submission that found a worker idle is at 0, already taken)
    assert all(isinstance(p, int) and p >= 0 for p in positions) and max(positions) >= 1

    bodies = wait_all_terminal(api1, token, [paused, *ids], timeout=600)
    assert {b["status"] for b in bodies.values()} == {"completed"}, Counter(b["status"] for b in bodies.values())
    assert bodies[paused]["attempts"] == 2  # redelivered to the surviving worker, taken over, done there
    counts = completions(cluster)
    assert {sid: counts[sid] for sid in [paused, *ids] if counts[sid] != 1} == {}
    results = list((cluster.shared / "images" / "results").iterdir())
    assert len(results) == SESSIONS + 1  # one result each, none left behind by a second run

    # the watcher on the other API process saw the stage and progress the worker's engine reported
    # (they exist only in the worker's memory and on the bus, never in the row), then the completion.
    # The classic engine's own later stages pass in a fraction of a second: a stream may coalesce them
    watcher.join(60)
    stages = [(e["status"], e["stage"], e["progress"]) for e in watcher.events]
    assert ("processing", "test_pause", 0.05) in stages, stages
    assert stages[-1][:2] == ("completed", "done"), stages

    # each worker's own Prometheus metrics count what its log says it completed
    survivor = next(w for w in cluster.workers if w is not victim)
    port = survivor.args[survivor.args.index("--metrics-port") + 1]
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    completed = re.search(r'^tryon_session_transitions_total\{to="completed"\} (\S+)$', metrics, re.MULTILINE)
    logged = sum(1 for line in survivor.log_path.read_text(errors="replace").splitlines()
                 if '"session processing -> completed' in line)
    assert completed is not None and float(completed.group(1)) == logged > 0

    victim.start()  # two workers again for the next test


def test_a_redelivered_or_duplicated_task_never_runs_a_session_twice(cluster: Cluster):
    from tryon_server.config import Settings
    from tryon_server.distributed.celery_app import enqueue, make_celery

    api = cluster.apis[1]
    token, profile = new_profile(api)
    garment = small_garment()
    done = submit(api, token, profile, garment)["session_id"]
    wait_all_terminal(api, token, [done], timeout=120)
    before = session(api, token, done)
    paused = submit(api, token, profile, garment, seed=PAUSE_SEED)["session_id"]

    celery = make_celery(Settings(broker=cluster.redis.url))
    try:
        for _ in range(3):  # a finished session's task again; a running one's, twice more
            enqueue(celery, done)
            enqueue(celery, paused)
    finally:
        celery.close()
    bodies = wait_all_terminal(api, token, [paused], timeout=120)
    time.sleep(2 * 6)  # the duplicates of the running one come back after a lease period: let them
    assert bodies[paused]["status"] == "completed" and bodies[paused]["attempts"] == 1
    assert session(api, token, done) == before  # untouched by its second task
    assert session(api, token, paused)["attempts"] == 1
    counts = completions(cluster)
    assert counts[done] == 1 and counts[paused] == 1


def test_queue_positions_are_the_same_through_either_api_process(cluster: Cluster):
    api0, api1 = cluster.apis
    token, profile = new_profile(api0)
    garment = small_garment()
    gate = cluster.root / "gate"
    gate.touch()  # the two gated try-ons hold both workers until the gate goes
    try:
        gated = [submit(api, token, profile, garment, seed=GATE_SEED)["session_id"] for api in (api0, api1)]
        assert len({lease_holder_pid(cluster, sid) for sid in gated}) == 2  # one on each worker
        waiting = [submit(api, token, profile, garment) for api in (api0, api1, api0)]
        assert [w["queue_position"] for w in waiting] == [1, 2, 3]
        assert [session(api1, token, w["session_id"])["queue_position"] for w in waiting] == [1, 2, 3]
        assert [session(api0, token, w["session_id"])["queue_position"] for w in waiting] == [1, 2, 3]
    finally:
        gate.unlink()
    bodies = wait_all_terminal(api1, token, [*gated, *(w["session_id"] for w in waiting)], timeout=300)
    assert {b["status"] for b in bodies.values()} == {"completed"}


def test_an_engine_error_is_retried_with_backoff_on_a_worker(cluster: Cluster):
    api = cluster.apis[0]
    token, profile = new_profile(api)
    sid = submit(api, token, profile, small_garment(), seed=FAIL_ONCE_SEED)["session_id"]
    body = wait_all_terminal(api, token, [sid], timeout=120)[sid]
    assert body["status"] == "completed" and body["attempts"] == 2, body
    logs = "".join(w.log_path.read_text(errors="replace") for w in cluster.workers)
    assert "simulated engine error, once" in logs and "processing -> queued (retry in" in logs


def test_links_and_delete_all_work_across_api_processes(cluster: Cluster):
    api0, api1 = cluster.apis
    token, profile = new_profile(api0)
    auth = {"Authorization": f"Bearer {token}"}
    sid = submit(api0, token, profile, small_garment())["session_id"]
    body = wait_all_terminal(api0, token, [sid], timeout=120)[sid]
    # a link one API process signed opens on the other (the secret on the shared folder)
    image = httpx.get(f"{api1.url}{body['result_url']}", timeout=30)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    result = cluster.shared / "images" / body["result_url"].split("?")[0].removeprefix("/api/images/")
    assert result.is_file()
    assert session(api1, token, sid)["status"] == "completed"  # API 1 now knows (caches) the token

    assert httpx.delete(f"{api0.url}/api/tokens/current", headers=auth, timeout=30).status_code == 204
    assert not result.exists()  # the shared folder's files went with the rows
    # API 1 forgot the token too (the event bus told it): unknown, not merely without sessions
    deadline = time.monotonic() + 30
    while (r := httpx.get(f"{api1.url}/api/tryon/sessions/{sid}", headers=auth, timeout=30)).status_code != 401:
        assert r.status_code == 404 and time.monotonic() < deadline, r.text
        time.sleep(0.1)
    assert r.json()["error"]["code"] == "unknown_token"


def test_expiry_runs_once_across_the_cluster(cluster: Cluster):
    from tryon_server.distributed.pgdb import PostgresDatabase

    # one API process took the interval's mark (the others skipped their pass)...
    r = subprocess.run(["redis-cli", "-p", str(cluster.redis.port), "get", "tryon:expiry:last"],
                       capture_output=True, text=True)
    started = {pid for api in cluster.apis for pid in re.findall(r"API process [^: ]+:(\d+) ready",
                                                                  api.log_path.read_text(errors="replace"))}
    assert r.stdout.strip().split(":")[1] in started

    # ...and a pass holds PostgreSQL's advisory lock, which no other process gets meanwhile
    async def lock_twice() -> tuple[bool, bool, bool]:
        a, b = PostgresDatabase(cluster.pg.url, max_size=2), PostgresDatabase(cluster.pg.url, max_size=2)
        await a.connect()
        await b.connect()
        try:
            async with a.cluster_lock("expiry") as first, b.cluster_lock("expiry") as meanwhile:
                pass
            async with b.cluster_lock("expiry") as after:
                return first, meanwhile, after
        finally:
            await a.close()
            await b.close()

    assert asyncio.run(lock_twice()) == (True, False, True)


def test_sigterm_lets_a_worker_finish_its_try_on(cluster: Cluster):
    api = cluster.apis[1]
    token, profile = new_profile(api)
    paused = submit(api, token, profile, small_garment(), seed=PAUSE_SEED)["session_id"]
    pid = lease_holder_pid(cluster, paused)
    worker = next(w for w in cluster.workers if w.proc is not None and w.proc.pid == pid)
    assert worker.proc is not None
    worker.proc.send_signal(signal.SIGTERM)  # Celery's warm shutdown: the running task ends first
    worker.proc.wait(120)
    body = wait_all_terminal(api, token, [paused], timeout=120)[paused]
    assert body["status"] == "completed" and body["attempts"] == 1
    worker.start()
