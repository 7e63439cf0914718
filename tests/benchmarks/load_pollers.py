"""Load: 50 concurrent pollers plus submitters against the real server (`python run.py`, the
instant test engine, a real SQLite file) for 60 s. Pass: zero errors, zero "database is locked".

    python -m tests.benchmarks.load_pollers [--seconds 60] [--pollers 50] [--submitters 4]

Pollers poll as fast as they can (no think time), so this measures the ceiling, not a realistic
extension (which polls about once a second). Rate limits are off for the run: every client here
shares 127.0.0.1, and the subject is the database and the event loop, not the limiter.
tests/test_load.py runs a 10-second version in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.server_process import ServerProcess
from tests.test_crash_safety import small_inputs


@dataclass
class LoadReport:
    seconds: float = 0.0
    pollers: int = 0
    submitters: int = 0
    polls: int = 0
    submits: int = 0
    completed: int = 0
    errors: list[str] = field(default_factory=list)
    poll_latencies_ms: list[float] = field(default_factory=list, repr=False)
    submit_latencies_ms: list[float] = field(default_factory=list, repr=False)
    database_locked: int = 0
    server_5xx_logged: int = 0

    def figures(self) -> dict:
        def pct(values: list[float], q: float) -> float:
            if not values:
                return float("nan")
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))], 1)
        return {
            "seconds": round(self.seconds, 1), "pollers": self.pollers, "submitters": self.submitters,
            "polls": self.polls, "polls_per_s": round(self.polls / self.seconds, 1) if self.seconds else 0,
            "poll_p50_ms": pct(self.poll_latencies_ms, 50), "poll_p99_ms": pct(self.poll_latencies_ms, 99),
            "submits": self.submits, "submit_p50_ms": pct(self.submit_latencies_ms, 50),
            "submit_p99_ms": pct(self.submit_latencies_ms, 99), "completed": self.completed,
            "errors": len(self.errors), "database_locked": self.database_locked,
            "server_5xx_logged": self.server_5xx_logged,
        }


async def _poller(url: str, token: str, ids: list[str], stop: float, report: LoadReport, rng: random.Random) -> None:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        while time.monotonic() < stop:
            sid = rng.choice(ids)
            started = time.perf_counter()
            try:
                r = await c.get(f"/api/tryon/sessions/{sid}")
            except httpx.HTTPError as exc:
                report.errors.append(f"poll: {type(exc).__name__}: {exc}")
                continue
            report.poll_latencies_ms.append((time.perf_counter() - started) * 1000)
            report.polls += 1
            if r.status_code != 200:
                report.errors.append(f"poll: {r.status_code} {r.text[:200]}")


async def _submitter(url: str, token: str, ids: list[str], stop: float, report: LoadReport, pause_s: float) -> None:
    person, garment = small_inputs()
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                r = await c.post("/api/tryon/sessions", data={"options": '{"output_size": 128}'},
                                 files={"person": ("p.jpg", person, "image/jpeg"),
                                        "garment": ("g.png", garment, "image/png")})
            except httpx.HTTPError as exc:
                report.errors.append(f"submit: {type(exc).__name__}: {exc}")
                continue
            report.submit_latencies_ms.append((time.perf_counter() - started) * 1000)
            report.submits += 1
            if r.status_code != 202:
                report.errors.append(f"submit: {r.status_code} {r.text[:200]}")
            else:
                ids.append(r.json()["session_id"])
            await asyncio.sleep(pause_s)


async def _drive(url: str, seconds: float, pollers: int, submitters: int, report: LoadReport) -> list[tuple[str, str]]:
    # set-up before the load starts, with nothing else on the loop yet: blocking calls cost nothing here
    tokens = [httpx.post(url + "/api/tokens").json()["token"] for _ in range(max(1, submitters))]  # noqa: ASYNC210
    ids_by_token: list[list[str]] = [[] for _ in tokens]
    person, garment = small_inputs()
    with httpx.Client(base_url=url, timeout=30) as c:  # something to poll from the first moment
        for token, ids in zip(tokens, ids_by_token):
            r = c.post("/api/tryon/sessions", headers={"Authorization": f"Bearer {token}"},  # noqa: ASYNC212
                       data={"options": '{"output_size": 128}'},
                       files={"person": ("p.jpg", person, "image/jpeg"), "garment": ("g.png", garment, "image/png")})
            r.raise_for_status()
            ids.append(r.json()["session_id"])
    stop = time.monotonic() + seconds
    tasks = [_poller(url, tokens[i % len(tokens)], ids_by_token[i % len(tokens)], stop, report, random.Random(i))
             for i in range(pollers)]
    tasks += [_submitter(url, tokens[i], ids_by_token[i], stop, report, pause_s=0.2) for i in range(submitters)]
    started = time.monotonic()
    await asyncio.gather(*tasks)
    report.seconds = time.monotonic() - started
    return [(t, sid) for t, ids in zip(tokens, ids_by_token) for sid in ids]


def run_load(workdir: Path, *, seconds: float = 60, pollers: int = 50, submitters: int = 4,
             engine_delay_s: float = 0.05) -> LoadReport:
    report = LoadReport(pollers=pollers, submitters=submitters)
    server = ServerProcess(workdir / "data", "--rate-limit-per-minute", "0", "--submit-limit-per-minute", "0",
                           "--queue-max", "100000", env={"TRYON_TEST_ENGINE_DELAY": str(engine_delay_s)},
                           log_path=workdir / "server.log").start()
    try:
        sessions = asyncio.run(_drive(server.url, seconds, pollers, submitters, report))
        deadline = time.monotonic() + 120  # let the queue drain: every session must finish
        with httpx.Client(base_url=server.url, timeout=30) as c:
            pending = list(sessions)
            while pending and time.monotonic() < deadline:
                token, sid = pending[0]
                body = c.get(f"/api/tryon/sessions/{sid}", headers={"Authorization": f"Bearer {token}"}).json()
                if body["status"] in ("completed", "failed"):
                    pending.pop(0)
                    report.completed += body["status"] == "completed"
                    if body["status"] == "failed":
                        report.errors.append(f"session failed: {body['error']}")
                else:
                    time.sleep(0.1)
            report.errors += [f"unfinished: {sid}" for _, sid in pending]
    finally:
        server.terminate()
    log = server.log_path.read_text(errors="replace")
    report.database_locked = log.count("database is locked")
    report.server_5xx_logged = sum(1 for line in log.splitlines() if '"status": 5' in line)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--submitters", type=int, default=4)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        report = run_load(Path(tmp), seconds=args.seconds, pollers=args.pollers, submitters=args.submitters)
    print(json.dumps(report.figures(), indent=2))
    for line in report.errors[:20]:
        print("error:", line, file=sys.stderr)
    ok = not report.errors and report.database_locked == 0 and report.server_5xx_logged == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
