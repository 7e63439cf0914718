"""What the server costs beside the model: status polls, submissions, the queue, the event loop,
start-up and memory. Run on demand (never in CI's test command):

    python tests/benchmarks/server_overhead.py                 # everything, 3 runs each (~6 min)
    python tests/benchmarks/server_overhead.py --only polling submission --repeats 5
    python tests/benchmarks/server_overhead.py --write         # also update tests/benchmarks/RESULTS.md

Each item starts `python run.py` as a child process on a fresh data folder and drives it over
loopback with wrk (Debian's `wrk`) from another process. Every figure is the median of
`--repeats` runs; the load average (`uptime`) at each run is recorded beside it, because this
machine is shared. Ratios against the bare Starlette endpoint are taken pair by pair in the same
run, bare and server alternating, so that load from elsewhere hits both sides alike.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import (
    BENCH_DIR,
    REPO,
    ServerProcess,
    counter,
    garment_jpeg,
    histogram,
    histogram_quantile,
    jpeg_of_size,
    load_average,
    machine,
    median,
    multipart_body,
    percentile,
    run_bare,
    run_server,
    small_png,
    wrk,
)
from PIL import Image

INSTANT = "tests.doubles:instant_engine"
RESULTS = BENCH_DIR / "RESULTS.md"
BEGIN, END = "<!-- server-overhead:begin -->", "<!-- server-overhead:end -->"
MB = 2**20

TARGETS = {
    "poll_ratio": 0.60, "poll_p99_ms": 20.0, "submit_p50_ms": 30.0, "submit_p99_ms": 100.0,
    "queue_per_s": 300.0, "loop_lag_p99_ms": 10.0,
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def submit(srv: ServerProcess, token: str, person: bytes, garment: bytes, n: int, **fields: str) -> list[str]:
    ids = []
    with srv.client(token) as c:
        for _ in range(n):
            r = c.post("/api/tryon/sessions", data={"category": "upper", **fields},
                       files={"person": ("p.png", person, "image/png"), "garment": ("g.jpg", garment, "image/jpeg")})
            r.raise_for_status()
            ids.append(r.json()["session_id"])
    return ids


def wait_until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.02) -> bool:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return False


def completed(srv: ServerProcess) -> float:
    return counter(srv.metrics_text(), "tryon_session_transitions_total", 'to="completed"')


# --- 1. status polling ----------------------------------------------------------------------------

def bench_polling(repeats: int, seconds: float, engine: str) -> dict[str, Any]:
    """GET /api/tryon/sessions/{id} at 64 connections while the inference thread works through a
    backlog, against the bare endpoint, alternating."""
    if engine == "classic":
        env, per_session_s, server_engine = {}, 0.25, "classic"
    else:  # an engine that keeps the inference thread busy without using the CPU, like a GPU one
        env, per_session_s, server_engine = {"TRYON_TEST_ENGINE_DELAY": "0.5"}, 0.5, INSTANT
    pairs = []
    with run_bare() as bare, run_server(server_engine, env=env) as srv:
        token = srv.token()
        backlog = int(repeats * 2 * (seconds + 2) / per_session_s) + 10
        person = small_png("astronaut.png", 512)
        ids = submit(srv, token, person, garment_jpeg(512), backlog)
        # each request polls a session picked at random from the backlog: many pages watching their
        # own try-on, most of them queued (the dearer poll: it counts its place in line)
        paths_file = Path(tempfile.mkstemp(suffix=".paths")[1])
        paths_file.write_text("".join(f"/api/tryon/sessions/{i}\n" for i in ids))
        script, env = BENCH_DIR / "poll_sessions.lua", {"PATHS_FILE": str(paths_file)}
        url = srv.base
        wrk(url, connections=64, seconds=1, token=token, script=script, env=env)  # warm both
        wrk(f"{bare.base}/json", connections=64, seconds=1)
        for i in range(repeats):
            done_before = completed(srv)
            cpu0 = bare.cpu_s()
            b = wrk(f"{bare.base}/json", connections=64, seconds=seconds)
            bare_cpu_us = (bare.cpu_s() - cpu0) / b.requests * 1e6
            cpu0 = srv.cpu_s()
            s = wrk(url, connections=64, seconds=seconds, token=token, script=script, env=env)
            # server CPU includes the inference thread's: only meaningful when it sleeps
            cpu_us = (srv.cpu_s() - cpu0) / s.requests * 1e6
            done = completed(srv) - done_before
            with srv.client(token) as c:
                status = c.get(f"/api/tryon/sessions/{ids[-1]}").json()["status"]
            if s.errors or b.errors or status != "queued":
                raise RuntimeError(f"polling run invalid: errors {s.errors}/{b.errors}, last session {status}")
            pairs.append({"bare_rps": b.requests_per_s, "bare_p50": b.p50_ms, "bare_p99": b.p99_ms,
                          "rps": s.requests_per_s, "p50": s.p50_ms, "p99": s.p99_ms,
                          "ratio": s.requests_per_s / b.requests_per_s, "tryons_during": done, "load": s.load,
                          "cpu_us": cpu_us, "bare_cpu_us": bare_cpu_us})
            log(f"polling[{engine}] {i + 1}/{repeats}: {s.requests_per_s:.0f} vs bare {b.requests_per_s:.0f} req/s "
                f"(ratio {pairs[-1]['ratio']:.2f}), p99 {s.p99_ms:.1f} vs bare {b.p99_ms:.1f} ms, CPU {cpu_us:.0f} vs "
                f"{bare_cpu_us:.0f} us/request, {done:.0f} try-ons meanwhile, load {s.load}")
        peak = srv.peak_rss
        paths_file.unlink(missing_ok=True)
    return {"engine": engine, "runs": pairs, "peak_rss": peak,
            **{k: median([p[k] for p in pairs]) for k in ("bare_rps", "bare_p99", "rps", "p50", "p99", "ratio",
                                                         "tryons_during", "cpu_us", "bare_cpu_us")}}


# --- 2. submission --------------------------------------------------------------------------------

def _server_durations(srv: ServerProcess, since: int) -> list[float]:
    records = srv.log_records()[since:]
    return [r["duration_ms"] for r in records
            if r.get("logger") == "tryon.access" and r.get("method") == "POST" and r.get("status") == 202]


def bench_submission(repeats: int, seconds: float) -> dict[str, Any]:
    """POST a ~1 MB JPEG person photo + a garment photo; 16 connections, and 1 for the service time.
    The engine sleeps through a very long try-on so that only acceptance uses the CPU."""
    person = jpeg_of_size(1 * MB)
    garment = garment_jpeg()
    body, ctype = multipart_body({"person": ("person.jpg", person, "image/jpeg"),
                                  "garment": ("garment.jpg", garment, "image/jpeg")}, {"category": "upper"})
    body_file = Path(tempfile.mkstemp(suffix=".multipart")[1])
    body_file.write_bytes(body)
    env = {"BODY_FILE": str(body_file), "CONTENT_TYPE": ctype}
    runs: dict[int, list[dict[str, Any]]] = {1: [], 16: []}
    try:
        with run_server(INSTANT, env={"TRYON_TEST_ENGINE_DELAY": "600"}) as srv:
            token = srv.token()
            url = f"{srv.base}/api/tryon/sessions"
            wrk(url, connections=4, seconds=1, token=token, script=BENCH_DIR / "post_session.lua", env=env)
            for i in range(repeats):
                for conns in (1, 16):
                    mark = len(srv.log_records())
                    cpu0 = srv.cpu_s()
                    w = wrk(url, connections=conns, seconds=seconds, token=token,
                            script=BENCH_DIR / "post_session.lua", env=env)
                    time.sleep(0.5)  # let the requests still in flight when wrk stopped finish
                    server_ms = _server_durations(srv, mark)
                    cpu_ms = (srv.cpu_s() - cpu0) / max(1, len(server_ms)) * 1000
                    if w.errors:
                        raise RuntimeError(f"submission run had {w.errors} errors")
                    runs[conns].append({"rps": w.requests_per_s, "p50": w.p50_ms, "p99": w.p99_ms,
                                        "server_p50": percentile(server_ms, 50), "server_p99": percentile(server_ms, 99),
                                        "n": len(server_ms), "cpu_ms": cpu_ms, "load": w.load})
                    log(f"submission c={conns} {i + 1}/{repeats}: {w.requests_per_s:.1f}/s, client p50 {w.p50_ms:.0f} "
                        f"p99 {w.p99_ms:.0f} ms, server p50 {runs[conns][-1]['server_p50']:.0f} "
                        f"p99 {runs[conns][-1]['server_p99']:.0f} ms, CPU {cpu_ms:.0f} ms/upload, load {w.load}")
            peak = srv.peak_rss
    finally:
        body_file.unlink(missing_ok=True)
    w_px, h_px = Image.open(io.BytesIO(person)).size
    out: dict[str, Any] = {"person_bytes": len(person), "person_px": f"{w_px}×{h_px}", "garment_bytes": len(garment),
                           "runs": runs, "peak_rss": peak}
    for conns, rs in runs.items():
        for k in ("rps", "p50", "p99", "server_p50", "server_p99", "cpu_ms"):
            out[f"c{conns}_{k}"] = median([r[k] for r in rs])
    return out


# --- 3. queue overhead ----------------------------------------------------------------------------

def bench_queue(repeats: int, seconds: float) -> dict[str, Any]:
    """Whole lifecycle (accept -> queue -> claim -> engine -> store result -> completed) with an
    engine that returns at once and small (256 px) images, so the figure is the server's own cost."""
    person = small_png("astronaut.png", 256)
    garment = garment_jpeg(256)
    body, ctype = multipart_body({"person": ("person.png", person, "image/png"),
                                  "garment": ("garment.jpg", garment, "image/jpeg")}, {"category": "upper"})
    body_file = Path(tempfile.mkstemp(suffix=".multipart")[1])
    body_file.write_bytes(body)
    env = {"BODY_FILE": str(body_file), "CONTENT_TYPE": ctype}
    runs = []
    try:
        for i in range(repeats):
            with run_server(INSTANT) as srv:
                token = srv.token()
                cpu0 = srv.cpu_s()
                t0 = time.perf_counter()
                w = wrk(f"{srv.base}/api/tryon/sessions", connections=16, seconds=seconds, token=token,
                        script=BENCH_DIR / "post_session.lua", env=env)
                submitted_s = time.perf_counter() - t0
                accepted = w.requests
                if w.errors or not wait_until(lambda n=accepted: completed(srv) >= n, 300, 0.05):
                    raise RuntimeError(f"queue run: {w.errors} errors, {completed(srv)} of {accepted} completed")
                total_s = time.perf_counter() - t0
                cpu_ms = (srv.cpu_s() - cpu0) / accepted * 1000
                runs.append({"sessions": accepted, "per_s": accepted / total_s, "submit_per_s": accepted / submitted_s,
                             "cpu_ms": cpu_ms,
                             "ms_per_session": 1000 * total_s / accepted, "load": w.load, "peak_rss": srv.peak_rss})
                log(f"queue {i + 1}/{repeats}: {accepted} sessions in {total_s:.1f}s = {runs[-1]['per_s']:.0f}/s "
                    f"(submissions alone {runs[-1]['submit_per_s']:.0f}/s), server CPU {cpu_ms:.1f} ms/session, load {w.load}")
    finally:
        body_file.unlink(missing_ok=True)
    return {"runs": runs, **{k: median([r[k] for r in runs]) for k in ("per_s", "submit_per_s", "ms_per_session",
                                                                     "cpu_ms", "peak_rss")}}


# --- 4. event-loop lag with the classic engine ----------------------------------------------------

def _person_variants(n: int) -> list[bytes]:
    """Distinct person photos (so the engine's per-person cache never hits): small shifts of the
    two real photos in tests/fixtures."""
    out = []
    for i in range(n):
        src = Image.open(REPO / "tests" / "fixtures" / ("astronaut.png" if i % 2 == 0 else "grace_hopper.jpg"))
        src = src.convert("RGB")
        w, h = src.size
        d = 2 + i
        img = src.crop((d, d, w - d, h - d))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def bench_loop_lag(repeats: int, sessions: int, idle_s: float = 4.0) -> dict[str, Any]:
    runs = []
    for i in range(repeats):
        with run_server("classic") as srv:
            token = srv.token()
            garment = garment_jpeg()
            # control: the same server, idle, for a few seconds (what this machine's load alone does)
            idle_before = histogram(srv.metrics_text(), "tryon_event_loop_lag_seconds")
            if not idle_before:
                raise RuntimeError("the server exposes no tryon_event_loop_lag_seconds histogram")
            time.sleep(idle_s)
            before = histogram(srv.metrics_text(), "tryon_event_loop_lag_seconds")
            idle_p99, _ = histogram_quantile(idle_before, before, 0.99)
            srv.reset_peak()
            t0 = time.perf_counter()
            with srv.client(token) as c:
                ids = []
                for person in _person_variants(sessions):
                    r = c.post("/api/tryon/sessions", data={"category": "upper"},
                               files={"person": ("p.png", person, "image/png"),
                                      "garment": ("g.jpg", garment, "image/jpeg")})
                    r.raise_for_status()
                    ids.append(r.json()["session_id"])
                def last_done(last: str = ids[-1]) -> bool:
                    return c.get(f"/api/tryon/sessions/{last}").json()["status"] in ("completed", "failed")

                wait_until(last_done, 600, 0.25)
                statuses = [c.get(f"/api/tryon/sessions/{s}").json()["status"] for s in ids]
            elapsed = time.perf_counter() - t0
            after = histogram(srv.metrics_text(), "tryon_event_loop_lag_seconds")
            p99, n = histogram_quantile(before, after, 0.99)
            p50, _ = histogram_quantile(before, after, 0.50)
            max_bucket, _ = histogram_quantile(before, after, 1.0)
            tryon_s = [float(r["msg"].rsplit(" in ", 1)[1].rstrip("s")) for r in srv.log_records()
                       if r.get("logger") == "tryon.worker" and "-> completed in" in r.get("msg", "")]
            runs.append({"idle_p99_ms": idle_p99 * 1000,
                         "lag_p50_ms": p50 * 1000, "lag_p99_ms": p99 * 1000, "lag_max_ms": max_bucket * 1000,
                         "samples": n, "tryons": statuses.count("completed"), "failed": statuses.count("failed"),
                         "tryon_s": median(tryon_s), "elapsed_s": elapsed, "peak_rss": srv.peak_rss,
                         "idle_rss": srv.idle_rss, "load": load_average()})
            log(f"loop lag {i + 1}/{repeats}: idle p99 <= {idle_p99 * 1000:.0f} ms; busy p99 <= {p99 * 1000:.0f} ms "
                f"({n} samples), max bucket {max_bucket * 1000:.0f} ms; {runs[-1]['tryons']} try-ons, "
                f"median {runs[-1]['tryon_s']:.2f}s each; "
                f"load {runs[-1]['load']}")
    return {"runs": runs, **{k: median([r[k] for r in runs]) for k in ("idle_p99_ms", "lag_p50_ms", "lag_p99_ms", "lag_max_ms",
                                                                     "tryon_s", "peak_rss", "idle_rss")}}


# --- 5. start-up ----------------------------------------------------------------------------------

def bench_startup(repeats: int, engines: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for engine in engines:
        runs = []
        for i in range(repeats):
            with run_server(engine) as srv:
                runs.append({"listening_s": srv.listening_s, "ready_s": srv.ready_s, "idle_rss": srv.idle_rss,
                             "load": load_average()})
            log(f"start-up {engine} {i + 1}/{repeats}: listening {runs[-1]['listening_s']:.2f}s, "
                f"health 200 after {runs[-1]['ready_s']:.2f}s, idle RSS {runs[-1]['idle_rss'] / MB:.0f} MB")
        out[engine] = {"runs": runs, **{k: median([r[k] for r in runs]) for k in ("listening_s", "ready_s", "idle_rss")}}
    return out


# --- report ---------------------------------------------------------------------------------------

def _ok(value: float, target: float, higher_is_better: bool = False) -> str:
    met = value >= target if higher_is_better else value <= target
    return "met" if met else "**missed**"


def _cpu(row: dict[str, Any]) -> str:
    if row["engine"] == "classic":  # the inference thread's CPU is in the server's total
        return f"— / {row['bare_cpu_us']:.0f}"
    return f"{row['cpu_us']:.0f} / {row['bare_cpu_us']:.0f} (×{row['cpu_us'] / row['bare_cpu_us']:.1f})"


def _loads(runs: list[dict[str, Any]]) -> str:
    return "; ".join(r["load"] for r in runs)


def report(results: dict[str, Any], command: str, repeats: int, now: str) -> str:
    lines = [BEGIN, "## Server overhead beside the model", "",
             f"- Date: {now}", f"- Machine: {machine()}", f"- Command: `{command}`",
             f"- Every figure is the median of {repeats} runs; the load average (1/5/15 min, as `uptime` prints "
             "it) at the end of each run is listed beside it: this machine is shared with other work.", ""]
    if p := results.get("polling"):
        lines += ["### Status polling: `GET /api/tryon/sessions/{id}`, 64 connections, wrk -t1", "",
                  "Bare = a Starlette JSON endpoint with the same body under the same uvicorn (uvloop + httptools), "
                  "in its own process, measured alternately with the server in the same run. Each request polls a "
                  "session picked at random from a backlog that the inference thread is working through (most "
                  "of them queued: the dearer poll, as it counts its place in line).", "",
                  "| inference thread busy with | server req/s | bare req/s | ratio (target ≥ 0.60) | p50 ms | "
                  "p99 ms (target ≤ 20) | CPU µs per request, server / bare | try-ons finished meanwhile | load per run |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for row in p:
            what = ("classic engine (CPU-bound thread)" if row["engine"] == "classic"
                    else "engine sleeping 0.5 s per try-on (GPU-like: thread busy, CPU free)")
            lines.append(f"| {what} | {row['rps']:.0f} | {row['bare_rps']:.0f} (p99 {row['bare_p99']:.1f} ms) | "
                         f"{row['ratio']:.2f} ({_ok(row['ratio'], TARGETS['poll_ratio'], True)}) | {row['p50']:.1f} | "
                         f"{row['p99']:.1f} ({_ok(row['p99'], TARGETS['poll_p99_ms'])}) | "
                         f"{_cpu(row)} | {row['tryons_during']:.0f} | "
                         f"{_loads(row['runs'])} |")
        lines.append("")
    if s := results.get("submission"):
        lines += ["### Submission: multipart `POST /api/tryon/sessions` (validate, re-encode, store, commit, enqueue)", "",
                  f"Person photo: a {s['person_bytes'] / MB:.2f} MB JPEG of {s['person_px']} px; garment photo "
                  f"{s['garment_bytes'] / 1024:.0f} KB JPEG. Client = wrk latency over loopback; server = the "
                  "access log's duration of each 202. The engine sleeps through a long try-on so that only "
                  "acceptance uses the CPU.", "",
                  "| connections | accepted/s | client p50 ms | client p99 ms | server p50 ms (target ≤ 30) | "
                  "server p99 ms (target ≤ 100) | server CPU ms per upload | load per run |",
                  "|---|---|---|---|---|---|---|---|"]
        for c in (1, 16):
            lines.append(f"| {c} | {s[f'c{c}_rps']:.1f} | {s[f'c{c}_p50']:.0f} | {s[f'c{c}_p99']:.0f} | "
                         f"{s[f'c{c}_server_p50']:.0f} ({_ok(s[f'c{c}_server_p50'], TARGETS['submit_p50_ms'])}) | "
                         f"{s[f'c{c}_server_p99']:.0f} ({_ok(s[f'c{c}_server_p99'], TARGETS['submit_p99_ms'])}) | "
                         f"{s[f'c{c}_cpu_ms']:.0f} | {_loads(s['runs'][c])} |")
        lines.append("")
    if q := results.get("queue"):
        lines += ["### Queue overhead: whole lifecycle with an engine that returns at once", "",
                  "wrk posts 256 px photos on 16 connections for the run's length; the clock stops when the "
                  "last accepted session is `completed` (result PNG stored, row committed). Fresh server and "
                  "data folder per run.", "",
                  "| sessions/s through the lifecycle (target ≥ 300) | wall ms per session | server CPU ms per session | "
                  "submissions alone /s | sessions per run | load per run |", "|---|---|---|---|---|---|",
                  f"| {q['per_s']:.0f} ({_ok(q['per_s'], TARGETS['queue_per_s'], True)}) | {q['ms_per_session']:.2f} | "
                  f"{q['cpu_ms']:.1f} | "
                  f"{q['submit_per_s']:.0f} | {', '.join(str(r['sessions']) for r in q['runs'])} | {_loads(q['runs'])} |", ""]
    if g := results.get("loop_lag"):
        lines += ["### Event-loop lag while the classic engine runs back to back", "",
                  "From the server's own `tryon_event_loop_lag_seconds` histogram (a 50 ms timer's oversleep; "
                  "figures are the upper bound of the bucket holding the quantile), over the window in which "
                  "distinct photos are tried on one after another. Control: the same server idle for 4 s just "
                  "before, which shows what the machine's load alone does to the loop.", "",
                  "| idle control p99 ms | loop lag p50 ms | p99 ms (target ≤ 10) | worst bucket ms | "
                  "classic try-on s (median) | load per run |", "|---|---|---|---|---|---|",
                  f"| ≤ {g['idle_p99_ms']:.0f} | ≤ {g['lag_p50_ms']:.0f} | ≤ {g['lag_p99_ms']:.0f} "
                  f"({_ok(g['lag_p99_ms'], TARGETS['loop_lag_p99_ms'])}) | "
                  f"≤ {g['lag_max_ms']:.0f} | {g['tryon_s']:.2f} | {_loads(g['runs'])} |", ""]
    lines += ["### Engines: time per try-on", "",
              "| engine | time per try-on | where it comes from |", "|---|---|---|"]
    if g:
        lines.append(f"| classic (CPU, 1024 px) | {g['tryon_s']:.2f} s median in the server (inference thread, "
                     "inputs read and decoded, new person photo each time) | the event-loop runs above; the engine "
                     "alone, cold and cached: the classic engine section of this file (`bench_classic.py`) |")
    lines += ["| diffusion (GPU, full-size random-weight SDXL inpainting + ControlNet, 1024 px, 30 steps) | "
              "**pending a GPU session** (none was lent to this one) | `python tests/benchmarks/gpu_diffusion.py "
              "--json gpu.json` on a CUDA machine: seconds, s/step, peak VRAM and achieved TFLOP/s against the "
              "GPU's dense fp16 peak |", ""]
    if st := results.get("startup"):
        lines += ["### Start-up and memory", "",
                  "`python run.py` to the first HTTP answer and to `/api/health` 200 (engine loaded); RSS of the "
                  "server process 1 s after ready (idle) and the highest seen during the runs above (peak).", "",
                  "| engine | first answer s | health 200 s | idle RSS MB | peak RSS MB (during) | load per run |",
                  "|---|---|---|---|---|---|"]
        peaks = {"classic": (g or {}).get("peak_rss"), INSTANT: max(
            [x for x in [(s or {}).get("peak_rss"), (q or {}).get("peak_rss")] if x] or [0]) or None}
        during = {"classic": "classic try-ons back to back", INSTANT: "submission / queue benchmarks"}
        for engine, row in st.items():
            peak = peaks.get(engine)
            peak_text = f"{peak / MB:.0f} ({during[engine]})" if peak else "—"
            name = "instant (test double)" if engine == INSTANT else engine
            lines.append(f"| {name} | {row['listening_s']:.2f} | {row['ready_s']:.2f} | {row['idle_rss'] / MB:.0f} | "
                         f"{peak_text} | {_loads(row['runs'])} |")
        lines += ["| diffusion | pending a GPU session | | | | |", ""]
    lines.append(END)
    return "\n".join(lines)


def write_results(section: str) -> None:
    """Replace this benchmark's own section of RESULTS.md (between its markers), keep the rest."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def main() -> int:
    items = ["polling", "submission", "queue", "loop_lag", "startup"]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=items, default=items)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each wrk run")
    parser.add_argument("--poll-engines", nargs="*", default=["instant", "classic"], choices=["instant", "classic"])
    parser.add_argument("--lag-sessions", type=int, default=20, help="classic try-ons per loop-lag run")
    parser.add_argument("--write", action="store_true", help="update this section of tests/benchmarks/RESULTS.md")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--render", type=Path, help="only re-render the report from a --json file")
    args = parser.parse_args()
    if args.render:
        saved = json.loads(args.render.read_text())
        if "results" not in saved:  # a bare results file
            mtime = dt.datetime.fromtimestamp(args.render.stat().st_mtime, dt.UTC)
            saved = {"results": saved, "command": "python tests/benchmarks/server_overhead.py --write",
                     "repeats": args.repeats, "date": mtime.strftime("%Y-%m-%d %H:%M UTC")}
        if "submission" in saved["results"]:  # JSON turned the connection counts into strings
            sub = saved["results"]["submission"]
            sub["runs"] = {int(k): v for k, v in sub["runs"].items()}
        section = report(saved["results"], saved["command"], saved["repeats"], saved["date"])
        print(section)
        if args.write:
            write_results(section)
        return 0
    results: dict[str, Any] = {}
    log(f"machine: {machine()}; load {load_average()}")
    if "polling" in args.only:
        results["polling"] = [bench_polling(args.repeats, args.seconds, e) for e in args.poll_engines]
    if "submission" in args.only:
        results["submission"] = bench_submission(args.repeats, args.seconds)
    if "queue" in args.only:
        results["queue"] = bench_queue(args.repeats, args.seconds)
    if "loop_lag" in args.only:
        results["loop_lag"] = bench_loop_lag(args.repeats, args.lag_sessions)
    if "startup" in args.only:
        results["startup"] = bench_startup(args.repeats, [INSTANT, "classic"])
    command = "python " + " ".join([str(Path(sys.argv[0]).resolve().relative_to(REPO))] + sys.argv[1:])
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = report(results, command, args.repeats, date)
    print(section)
    if args.json:
        args.json.write_text(json.dumps({"results": results, "command": command, "repeats": args.repeats,
                                         "date": date, "machine": machine()}, indent=2, default=str))
    if args.write:
        write_results(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
