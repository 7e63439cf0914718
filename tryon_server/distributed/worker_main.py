"""A GPU worker of the distributed mode: `python -m tryon_server.worker --database ... --broker ...
--storage ... [--engine ...] [--metrics-port N]`, one per GPU.

The engine is loaded once, at start, on this process's inference thread (inference.py), before
the worker takes its first task. Celery runs with the solo pool: one task at a time, in this
process, which owns the GPU and the models. Our session code is asyncio (the same Worker and
SessionManager as the embedded server), so it runs on an event loop in a thread of its own, and
each Celery task hands its session to that loop and waits.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from celery import Task
from prometheus_client import start_http_server

from ..config import ENV_NOTE, Settings, parse_settings
from ..engines import create_engine, resolve_choice
from ..exceptions import ConfigError
from ..inference import InferenceRunner
from ..logs import configure_logging
from ..metrics import Metrics
from ..storage import Storage
from ..worker import Worker
from . import check_settings
from .bus import Bus, ClusterEvents
from .celery_app import QUEUE, TASK, enqueue, make_celery
from .manager import DistributedSessionManager, worker_name
from .pgdb import PostgresDatabase

log = logging.getLogger("tryon.worker")
T = TypeVar("T")
INFRA_RETRY_MAX_S = 60.0


@dataclass
class WorkerServices:
    settings: Settings
    db: PostgresDatabase
    bus: Bus
    sessions: DistributedSessionManager
    runner: InferenceRunner
    worker: Worker
    metrics: Metrics

    @classmethod
    async def start(cls, settings: Settings) -> WorkerServices:
        metrics = Metrics()
        db = PostgresDatabase(settings.database, max_size=4)
        await db.connect()
        bus = Bus(settings.broker)
        await bus.start()
        storage = Storage(Path(settings.storage) / "images")
        storage.prepare()
        events = ClusterEvents(bus)
        celery = make_celery(settings)
        sessions = DistributedSessionManager(settings, db, storage, events, metrics, partial(enqueue, celery))
        runner = InferenceRunner(lambda: create_engine(settings))
        if not await runner.load():
            raise ConfigError(f"the engine failed to load: {runner.load_error}")
        metrics.ready.set(1)
        worker = Worker(settings, sessions, storage, events, runner, metrics)
        return cls(settings, db, bus, sessions, runner, worker, metrics)

    async def run(self, session_id: str) -> None:
        """Run one session's task (nothing when its row is gone)."""
        if await self.db.fetch_value("session_status", id=session_id) is None:
            # the task may have arrived before the submission that published it committed (it
            # publishes, then commits): wait for that commit, then the row is there, or it was
            # deleted, or its submission rolled back. (A wait measured against the task's send
            # time compared two machines' clocks, and lost a row committed later than that.)
            await self.db.wait_for_inserts()
            if await self.db.fetch_value("session_status", id=session_id) is None:
                return
        await self.worker.process(session_id)
        await self.sessions.settle()

    async def stop(self) -> None:
        self.sessions.stop()
        await self.sessions.settle()
        await self.bus.flush()
        await self.bus.stop()
        self.runner.shutdown()
        await self.db.close()


class LoopThread:
    """An asyncio loop on a thread of its own; `call` runs a coroutine there and waits for it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="worker-loop", daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


WORKER_HELP = (
    "A GPU worker of the try-on server's distributed mode (docs/scale-out.md): it loads the engine once, "
    "then runs the try-ons the API processes (run.py with the same --database, --broker and --storage) "
    "queue on Celery, one at a time; start one per GPU. It takes the server's flags; those of the HTTP "
    "server (--port, --allowed-hosts, the rate limits...) and --data-dir are not used here, --host is "
    f"where --metrics-port listens. {ENV_NOTE}"
)


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(argv, prog="python -m tryon_server.worker", description=WORKER_HELP)
    configure_logging(settings.log_level)
    try:
        check_settings(settings)
        if not settings.distributed:
            raise ConfigError("A worker needs --database postgresql://..., --broker redis://... and --storage DIR.")
        settings = settings.with_(engine=resolve_choice(settings))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if settings.visibility_timeout_s <= settings.inference_timeout_s:
        log.warning("--visibility-timeout-s (%.0fs) is not above --inference-timeout-s (%.0fs): a try-on running "
                    "longer is handed to another worker too, which waits for this one's lease (no double run, "
                    "but wasted deliveries)", settings.visibility_timeout_s, settings.inference_timeout_s)
    loop = LoopThread()
    try:
        services = loop.call(WorkerServices.start(settings))
    except Exception as exc:
        log.exception("worker could not start")
        print(f"error: the worker could not start: {exc}", file=sys.stderr)
        return 1
    log.info("worker %s ready: engine %s on %s loaded in %.2fs", worker_name(), services.runner.engine_name,
             services.runner.device, services.runner.load_seconds or 0)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.host, registry=services.metrics.registry)

    app = make_celery(settings)

    @app.task(name=TASK, bind=True, max_retries=None)
    def run_session(task: Task, session_id: str, sent_at: float) -> None:
        # sent_at (the publisher's clock) is only informative: nothing compares it to this clock
        try:
            loop.call(services.run(session_id))
        except Exception as exc:  # the database or the broker unreachable: the row is untouched, try later
            delay = min(INFRA_RETRY_MAX_S, 2.0 ** min(task.request.retries, 6))
            log.warning("session %s could not be run (%s); again in %.0fs", session_id, exc, delay)
            raise task.retry(countdown=delay) from exc

    try:
        app.worker_main(["worker", "--pool=solo", "--concurrency=1", f"--hostname={worker_name().replace(':', '-')}@%h",
                         f"--loglevel={settings.log_level.upper()}", f"--queues={QUEUE}",
                         "--without-mingle", "--without-gossip"])
    finally:
        loop.call(services.stop())
    return 0


if __name__ == "__main__":
    sys.exit(main())
