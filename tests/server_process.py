"""The real server as a child process (`python run.py ...`), for tests that kill it, measure its
memory, or read what it prints at start-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port

REPO = Path(__file__).resolve().parent.parent
# for tests that send many requests on purpose: what they measure is not the rate limits
NO_RATE_LIMITS = ("--rate-limit-per-minute", "0", "--submit-limit-per-minute", "0")


class ServerProcess:
    """`python run.py` on 127.0.0.1 with the instant test engine unless told otherwise."""

    COMMAND: tuple[str, ...] = ("run.py",)  # what `python` runs (tests/cluster.py: the worker's module)

    def __init__(self, data_dir: Path, *args: str, port: int | None = None, engine: str = "tests.doubles:instant_engine",
                 env: dict[str, str] | None = None, log_path: Path | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.args = ["--port", str(self.port), "--data-dir", str(data_dir), "--engine", engine, *args]
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log_path = log_path or data_dir.parent / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        # run in the child before it starts (tests/cluster.py: die with the test process)
        self.preexec_fn: Callable[[], None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready: bool = True, timeout: float = 60) -> ServerProcess:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, *self.COMMAND, *self.args], cwd=REPO, env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     preexec_fn=self.preexec_fn)
        log.close()
        self.starts += 1
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        assert self.proc is not None
        wait_until_serving(self.url, self.proc, self.log_path, timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a power cut of the process."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 20) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        return self.proc.returncode

    def peak_rss_mb(self) -> float:
        """The process's peak resident memory so far (VmHWM), in MiB."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc status")

    def log_tail(self, chars: int = 4000) -> str:
        return log_tail(self.log_path, chars)


def log_tail(log_path: Path, chars: int = 4000) -> str:
    try:
        return log_path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return ""


def wait_until_serving(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 60) -> None:
    """Until the server at `url` answers /api/health with 200; the end of its log in the error if
    the process exits first or `timeout` runs out. Also for a server started some other way than
    run.py (tests/test_packaging.py: the installed `tryon-server` command)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_tail(log_path)}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server did not become ready in {timeout}s:\n{log_tail(log_path)}")


def serve_unlimited(data_dir: Path, *args: str, timeout: float = 60, **options: Any) -> Iterator[ServerProcess]:
    """A started `ServerProcess` (args and options as its own) with the rate limits off, stopped
    when the module fixture that runs `yield from serve_unlimited(...)` is torn down."""
    server = ServerProcess(data_dir, *NO_RATE_LIMITS, *args, **options).start(timeout=timeout)
    try:
        yield server
    finally:
        server.terminate()
