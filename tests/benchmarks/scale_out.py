"""Throughput of the distributed mode with 1, 2 and 4 workers.

    python tests/benchmarks/scale_out.py [--sessions 60] [--delay 0.5] [--workers 1 2 4]

A real cluster (tests/cluster.py: Redis and PostgreSQL servers of its own, two API processes)
with workers whose engine sleeps a fixed time per try-on (tests.doubles:instant_engine with
TRYON_TEST_ENGINE_DELAY), a stand-in for a GPU: the worker is busy, the CPU is free, as when the
model runs on the GPU. For each worker count: workers started (models preloaded), then the
sessions submitted through both API processes at once, and the time from the first submission to
the last completion measured. Ideal throughput is workers / delay try-ons per second.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.cluster import Cluster
from tests.conftest import fixture_bytes
from tests.server_process import NO_RATE_LIMITS


def run(workers: int, sessions: int, cluster: Cluster) -> dict[str, float]:
    api0, api1 = cluster.apis
    for _ in range(workers):
        cluster.add_worker()
    token = httpx.post(f"{api0.url}/api/tokens", timeout=30).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    photo = fixture_bytes("astronaut.png")
    profile = httpx.post(f"{api0.url}/api/profiles", headers=auth, timeout=60,
                         files={"photo": ("a.png", photo, "image/png")}).json()["profile_id"]

    def submit(i: int) -> str:
        api = (api0, api1)[i % 2]
        r = httpx.post(f"{api.url}/api/tryon/sessions", headers=auth, timeout=60,
                       data={"profile_id": profile, "options": json.dumps({"output_size": 256})},
                       files={"garment": ("g.png", photo, "image/png")})
        r.raise_for_status()
        return str(r.json()["session_id"])

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(submit, range(sessions)))
    submitted = time.monotonic() - started
    pending = set(ids)
    while pending:
        for sid in list(pending):
            body = httpx.get(f"{api1.url}/api/tryon/sessions/{sid}", headers=auth, timeout=30).json()
            if body["status"] in ("completed", "failed"):
                assert body["status"] == "completed", body
                pending.discard(sid)
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    for worker in cluster.workers:
        worker.terminate(timeout=60)
    cluster.workers.clear()
    return {"workers": workers, "sessions": sessions, "seconds": elapsed, "submit_seconds": submitted,
            "per_second": sessions / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=60)
    parser.add_argument("--delay", type=float, default=0.5, help="seconds the stand-in engine sleeps per try-on")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    env = {"TRYON_TEST_ENGINE_DELAY": str(args.delay)}
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="tryon-scale-")), engine="tests.doubles:instant_engine", env=env,
                      extra=(*NO_RATE_LIMITS, "--queue-max", "10000"))
    rows = []
    try:
        cluster.start()
        cluster.add_api()
        cluster.add_api()
        for n in args.workers:
            rows.append(run(n, args.sessions, cluster))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        cluster.stop()
    base = rows[0]["per_second"] / rows[0]["workers"]
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"engine: sleeps {args.delay} s per try-on (ideal: workers / {args.delay} try-ons per second)\n")
    print("| workers | sessions | seconds | try-ons/s | ideal | speed-up vs 1 worker |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['workers']} | {row['sessions']} | {row['seconds']:.1f} | {row['per_second']:.2f} | "
              f"{row['workers'] / args.delay:.2f} | {row['per_second'] / base:.2f}× |")


if __name__ == "__main__":
    main()
