"""A real cluster of the distributed mode for tests and the scale-out benchmark: a Redis server
and a PostgreSQL server of their own (Debian's redis-server and postgresql packages), on free
loopback ports with temporary folders, plus API processes (`python run.py --database ...`) and
workers (`python -m tryon_server.worker ...`) as child processes.

PostgreSQL refuses to run as root: as root (CI), its folder belongs to the `postgres` user that
Debian's package creates, and initdb and postgres run as that user (Popen's user=, so that the
server is our direct child and its signals reach it).

Nothing started here outlives the test process, however it ends (a failure, pytest-timeout, CI
killing the run): each child is told by the kernel when its parent dies (PR_SET_PDEATHSIG), and
none holds the test run's stdout or stderr, which a CI job reading them through a pipe would wait
on forever. `stop()` never raises before it has stopped everything.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.server_process import ServerProcess

PG_USER = "postgres"


def newest_pg_bin(root: Path = Path("/usr/lib/postgresql")) -> Path:
    """The server programs of the newest PostgreSQL installed: Debian's `postgresql` package
    installs its release's (15 on Debian 12, 16 on Ubuntu 24.04) in /usr/lib/postgresql/N/bin."""
    found = sorted((int(d.name), d / "bin") for d in root.glob("*") if d.name.isdigit() and (d / "bin/initdb").exists())
    return found[-1][1] if found else root / "N" / "bin"


PG_BIN = newest_pg_bin()


def services_missing() -> str | None:
    """Why the cluster cannot start here, or None."""
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (apt-get install redis-server)"
    if not (PG_BIN / "initdb").exists():
        return "PostgreSQL is not installed in /usr/lib/postgresql/N/bin (apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            return "running as root, and there is no 'postgres' user to run PostgreSQL as"
    return None


PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals) -> Callable[[], None]:
    """A Popen preexec_fn: the child gets `sig` when the process (thread) that started it dies.
    Set after Popen's user= switch (a change of user clears it), so it holds for postgres too."""
    parent, libc = os.getpid(), ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, int(sig))
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)

    return preexec


def stop_process(proc: subprocess.Popen[bytes] | None, sig: signal.Signals, timeout: float) -> None:
    """`sig`, then SIGKILL if it is still there after `timeout`; never raises."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()


def _wait_until(check, what: str, timeout: float, log: Path | None = None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not start in {timeout:.0f}s\n{tail}")


class RedisServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tryon-redis-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        log = self.dir / "redis.log"
        # no snapshots or append-only file: the tests never restart Redis (production: see docs/scale-out.md)
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                                      str(self.dir), "--save", "", "--appendonly", "no", "--logfile", str(log)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=die_with_parent(signal.SIGTERM))

        def ready() -> bool:
            r = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True)
            return r.stdout.strip() == "PONG"

        _wait_until(ready, "redis-server", 30, log)
        return self

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGTERM, 20)
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tryon-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        # as root: run as the postgres user (dropping root's groups too)
        self._as: dict[str, object] = {}
        if os.geteuid() == 0:
            user = pwd.getpwnam(PG_USER)
            self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        if self._as:
            os.chown(self.dir, self._as["user"], self._as["group"])  # type: ignore[arg-type]
        subprocess.run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True, cwd=self.dir, **self._as)  # type: ignore[call-overload]
        log = self.dir / "postgres.log"
        with open(log, "wb") as out:
            # fsync off: a test database need not survive a power cut; this one is thrown away
            self.proc = subprocess.Popen([str(PG_BIN / "postgres"), "-D", str(self.data), "-p",
                                          str(self.port), "-h", "127.0.0.1", "-k", str(self.dir), "-c", "fsync=off",
                                          "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                                          "-c", "max_connections=200"], stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, cwd=self.dir,
                                         preexec_fn=die_with_parent(signal.SIGINT), **self._as)  # type: ignore[call-overload]

        def ready() -> bool:
            r = subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                               capture_output=True)
            return r.returncode == 0

        _wait_until(ready, "postgres", 60, log)
        return self

    def sql(self, query: str) -> str:
        """Run a query with psql; its rows as text, one a line, columns split by |."""
        r = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-At", "-c", query],
                           capture_output=True, text=True, check=True)
        return r.stdout.strip()

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGINT, 30)  # SIGINT: PostgreSQL's fast shutdown
        shutil.rmtree(self.dir, ignore_errors=True)


class WorkerProcess(ServerProcess):
    """`python -m tryon_server.worker ...`; ready once it logs that its engine is loaded."""

    READY = re.compile(rb'"msg": "worker \S+ ready')

    COMMAND = ("-m", "tryon_server.worker")

    def start(self, wait_ready: bool = True, timeout: float = 120) -> WorkerProcess:
        # where this start's log begins: a restarted worker's earlier "ready" line does not count
        self.ready_from = self.log_path.stat().st_size if self.log_path.exists() else 0
        super().start(wait_ready, timeout)
        return self

    def wait_ready(self, timeout: float = 120) -> None:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            with open(self.log_path, "rb") as f:
                f.seek(self.ready_from)
                return bool(self.READY.search(f.read()))

        _wait_until(ready, "worker", timeout, self.log_path)


class Cluster:
    """Redis, PostgreSQL, a shared folder, and the API processes and workers started on them."""

    def __init__(self, root: Path, *, engine: str = "classic", extra: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> None:
        self.root = root
        self.shared = root / "shared"
        self.engine, self.extra, self.env = engine, extra, env
        self.redis = RedisServer()
        self.pg = PostgresServer()
        self.apis: list[ServerProcess] = []
        self.workers: list[WorkerProcess] = []

    def start(self) -> Cluster:
        self.redis.start()
        self.pg.start()
        return self

    @property
    def common(self) -> tuple[str, ...]:
        return ("--database", self.pg.url, "--broker", self.redis.url, "--storage", str(self.shared), *self.extra)

    def add_api(self) -> ServerProcess:
        n = len(self.apis)
        api = ServerProcess(self.root / f"api{n}", *self.common, engine=self.engine, env=self.env,
                            log_path=self.root / f"api{n}.log")
        api.preexec_fn = die_with_parent(signal.SIGKILL)
        self.apis.append(api)  # stopped by stop() even when it fails to start
        api.start(timeout=120)
        return api

    def add_worker(self, *extra: str) -> WorkerProcess:
        n = len(self.workers)
        worker = WorkerProcess(self.root / f"worker{n}", *self.common, *extra, engine=self.engine, env=self.env,
                               log_path=self.root / f"worker{n}.log")
        worker.preexec_fn = die_with_parent(signal.SIGKILL)
        self.workers.append(worker)
        worker.start()
        return worker

    def stop(self) -> None:
        for proc in [*self.apis, *self.workers]:
            stop_process(proc.proc, signal.SIGTERM, 30)
        self.pg.stop()
        self.redis.stop()

    def health(self, api: ServerProcess) -> dict:  # type: ignore[type-arg]
        return httpx.get(f"{api.url}/api/health", timeout=10).json()
