"""Shared parts of the server benchmarks: a real server in a subprocess, wrk, and the numbers.

Every measurement talks to `python run.py` started as a child process on a fresh data folder,
over loopback, from a load generator in another process (wrk). Nothing here imports the server
package into the process that measures it, so the figures are what a browser would see.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))  # tests.garments, tests.doubles (engine named on the command line)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = psutil.virtual_memory().total / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GB RAM, Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of raw samples."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# --- images ---------------------------------------------------------------------------------------

def jpeg_of_size(target_bytes: int, size: tuple[int, int] = (1536, 2048)) -> bytes:
    """A photo-like JPEG of about `target_bytes` (portrait, 3.1 MP by default, like a phone photo
    exported at "large" size): the astronaut fixture scaled up with sensor-like noise (a scaled-up
    image alone compresses far below a real camera photo's size)."""
    import numpy as np

    base = Image.open(REPO / "tests" / "fixtures" / "astronaut.png").convert("RGB").resize(size)
    noise = np.random.default_rng(7).normal(0, 6, (size[1], size[0], 3))
    img = Image.fromarray(np.clip(np.asarray(base, dtype=np.float32) + noise, 0, 255).astype("uint8"))
    best = b""
    for quality in range(95, 30, -1):
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=quality)
        best = out.getvalue()
        if len(best) <= target_bytes:
            break
    return best


def small_png(name: str, side: int) -> bytes:
    img = Image.open(REPO / "tests" / "fixtures" / name).convert("RGB")
    img.thumbnail((side, side))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def garment_jpeg(side: int | None = None) -> bytes:
    from tests.garments import draw_top

    img = draw_top().convert("RGB")
    if side:
        img.thumbnail((side, side))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90)
    return out.getvalue()


def multipart_body(files: dict[str, tuple[str, bytes, str]], fields: dict[str, str]) -> tuple[bytes, str]:
    """A multipart/form-data body built once, so wrk can send it again and again."""
    boundary = "benchboundary7f3a9c"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data, ctype) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


# --- the server under test ------------------------------------------------------------------------

@dataclass
class ServerProcess:
    proc: subprocess.Popen
    port: int
    data_dir: Path
    log_path: Path
    started_at: float
    listening_s: float | None = None  # first HTTP answer (503 while the engine loads)
    ready_s: float | None = None  # /api/health 200
    idle_rss: int = 0
    peak_rss: int = 0
    _sampling: bool = True
    _sampler: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, token: str | None = None, timeout: float = 30) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=timeout)

    def token(self) -> str:
        with self.client() as c:
            r = c.post("/api/tokens")
            r.raise_for_status()
            return r.json()["token"]

    def rss(self) -> int:
        try:
            return psutil.Process(self.proc.pid).memory_info().rss
        except psutil.Error:
            return 0

    def cpu_s(self) -> float:
        """CPU seconds (user + system, all threads) the server has used so far."""
        return cpu_seconds(self.proc.pid)

    def _sample(self) -> None:
        while self._sampling and self.proc.poll() is None:
            self.peak_rss = max(self.peak_rss, self.rss())
            time.sleep(0.05)

    def reset_peak(self) -> None:
        self.peak_rss = self.rss()

    def metrics_text(self) -> str:
        with self.client() as c:
            return c.get("/metrics").text

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except ValueError:
                    pass
        return records


@contextmanager
def run_server(engine: str, *extra: str, env: dict[str, str] | None = None,
               ready_timeout_s: float = 300) -> Iterator[ServerProcess]:
    """`python run.py` on a fresh data folder with the rate limits off; waits for health 200."""
    data_dir = Path(tempfile.mkdtemp(prefix="tryon-bench-"))
    port = free_port()
    log_path = data_dir.parent / f"{data_dir.name}.log"
    cmd = [PYTHON, "run.py", "--port", str(port), "--data-dir", str(data_dir), "--engine", engine,
           "--rate-limit-per-minute", "0", "--submit-limit-per-minute", "0", "--queue-max", "100000", *extra]
    child_env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO)}
    log_file = open(log_path, "wb")
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=child_env, stdout=log_file, stderr=subprocess.STDOUT)
    server = ServerProcess(proc=proc, port=port, data_dir=data_dir, log_path=log_path, started_at=started)
    server._sampler = threading.Thread(target=server._sample, daemon=True)
    server._sampler.start()
    try:
        deadline = started + ready_timeout_s
        with httpx.Client(timeout=2) as c:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
                try:
                    r = c.get(f"{server.base}/api/health")
                    if server.listening_s is None:
                        server.listening_s = time.perf_counter() - started
                    if r.status_code == 200:
                        server.ready_s = time.perf_counter() - started
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"server not ready in {ready_timeout_s}s: {log_path.read_text()[-2000:]}")
                time.sleep(0.01)
        time.sleep(1.0)  # let start-up work (expiry pass, imports) settle before calling it idle
        server.idle_rss = server.rss()
        yield server
    finally:
        server._sampling = False
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_file.close()
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)
        log_path.unlink(missing_ok=True)


@dataclass
class BareProcess:
    base: str
    pid: int

    def cpu_s(self) -> float:
        return cpu_seconds(self.pid)


@contextmanager
def run_bare(port: int | None = None) -> Iterator[BareProcess]:
    """The bare Starlette JSON endpoint (bare_app.py) under the same uvicorn as run.py."""
    port = port or free_port()
    proc = subprocess.Popen([PYTHON, str(BENCH_DIR / "bare_app.py"), "--port", str(port)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=2) as c:
            for _ in range(500):
                try:
                    if c.get(f"{base}/json").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.02)
            else:
                raise RuntimeError("bare app did not start")
        yield BareProcess(base, proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


# --- wrk ------------------------------------------------------------------------------------------

@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx/3xx answers plus socket errors
    load: str = field(default_factory=load_average)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(output: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    dist = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.MULTILINE))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        errors += sum(int(x) for x in m.groups())
    return WrkResult(requests_per_s=rps, p50_ms=_ms(dist["50"]), p99_ms=_ms(dist["99"]), requests=total, errors=errors)


def wrk(url: str, *, connections: int, seconds: float, token: str | None = None, threads: int = 1,
        script: Path | None = None, env: dict[str, str] | None = None) -> WrkResult:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    if script:
        cmd += ["-s", str(script)]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, **(env or {})})
    return parse_wrk(out.stdout)


def wrk_command(url: str, connections: int, seconds: float, script: str | None = None) -> str:
    s = f" -s {script}" if script else ""
    return f"wrk -t1 -c{connections} -d{seconds:g}s --latency{s} -H 'Authorization: Bearer $TOKEN' {url}"


# --- Prometheus text ------------------------------------------------------------------------------

def histogram(text: str, name: str, labels: str = "") -> dict[float, float]:
    """Cumulative bucket counts {upper bound: count} of one histogram series."""
    buckets: dict[float, float] = {}
    pattern = re.compile(rf'^{name}_bucket\{{(.*?)le="([^"]+)"\}} ([\d.e+-]+)$', re.MULTILINE)
    for lab, le, value in pattern.findall(text):
        if labels and labels not in lab:
            continue
        buckets[float("inf") if le == "+Inf" else float(le)] = float(value)
    return buckets


def counter(text: str, name: str, labels: str = "") -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#") and (not labels or labels in line):
            if line.split("{")[0].split(" ")[0] == name:
                total += float(line.rsplit(" ", 1)[1])
    return total


def histogram_quantile(before: dict[float, float], after: dict[float, float], q: float) -> tuple[float, int]:
    """The upper bound of the bucket that holds quantile q of the samples observed between two
    scrapes (a conservative estimate: the true value is at most this), and the sample count."""
    delta = {le: after.get(le, 0) - before.get(le, 0) for le in after}
    bounds = sorted(delta)
    total = delta[bounds[-1]] if bounds else 0
    if total <= 0:
        return float("nan"), 0
    for le in bounds:
        if delta[le] >= q * total:
            return le, int(total)
    return float("inf"), int(total)
