"""An API process of the distributed mode: the same routes, middleware and session code as the
embedded server, over PostgreSQL, Celery, Redis and a shared folder. Stateless: start as many as
wanted (behind one address), kill any of them at any time.

    start-up:  shared folder -> PostgreSQL (migrate, under an advisory lock) -> event bus
               -> expiry loop (a pass runs on one process of the cluster at a time, once per
               interval) -> ready
    shutdown:  loops stop -> pending publishes settle -> bus and database closed

No engine runs here: try-ons run on the workers. /api/estimate-body still runs here, on this
process's inference thread with MediaPipe loaded at its first use (it answers the request that
asks, and a queue would only add a round trip).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from PIL import Image
from starlette.applications import Starlette

from ..app import build_starlette
from ..config import Settings
from ..engines.base import ProgressCallback, TryOnJob
from ..expiry import expire_once
from ..inference import InferenceRunner
from ..metrics import Metrics, watch_loop_lag
from ..ratelimit import RateLimiter
from ..signing import SECRET_BYTES, UrlSigner
from ..state import AppState
from ..storage import Storage
from ..worker import Worker
from .bus import Bus, ClusterEvents
from .celery_app import enqueue, make_celery
from .manager import DistributedSessionManager, worker_name
from .pgdb import PostgresDatabase

log = logging.getLogger("tryon.app")
EXPIRY_MARK = "tryon:expiry:last"


class FrontEngine:
    """The engine of an API process: none. It names the workers' engine for /api/health."""

    device = "workers"

    def __init__(self, name: str) -> None:
        self.name = name

    def load(self) -> None:
        pass

    def run(self, job: TryOnJob, progress: ProgressCallback) -> Image.Image:
        raise RuntimeError("try-ons run on the workers in the distributed mode")


@dataclass
class ClusterAppState(AppState):
    bus: Bus | None = None

    def forget_tokens(self, token_hashes: Iterable[str]) -> None:
        """Every API process caches known tokens: a deleted one leaves all their caches."""
        hashes = list(token_hashes)
        super().forget_tokens(hashes)
        if self.bus is not None and hashes:
            self.bus.publish("tokens", hashes=hashes)

    def on_message(self, message: dict[str, Any]) -> None:
        if message.get("t") == "tokens":
            AppState.forget_tokens(self, [str(h) for h in message.get("hashes", [])])


def load_or_create_shared_secret(path: Path) -> bytes:
    """The link-signing secret every API process shares: the first to start writes it, the
    others read it (a hard link to a complete file is atomic and refuses to replace one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(SECRET_BYTES))
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink()
    secret = path.read_bytes()
    if len(secret) != SECRET_BYTES:
        raise RuntimeError(f"{path} is not a link-signing secret ({len(secret)} bytes); remove it to make a new one")
    return secret


async def cluster_expiry_loop(state: ClusterAppState, db: PostgresDatabase, bus: Bus) -> None:
    """expiry.expiry_loop, once across the cluster: each process wakes every interval, and the
    one that first sets the Redis mark (it lasts most of an interval) runs the pass, holding a
    PostgreSQL advisory lock so that no two passes ever overlap. The same pass publishes again
    the tasks of sessions queued for very long (DistributedSessionManager.republish_stale)."""
    interval = state.settings.expiry_interval_s
    while True:
        try:
            if await bus.redis.set(EXPIRY_MARK, worker_name(), nx=True, px=max(1, int(interval * 900))):
                async with db.cluster_lock("expiry") as got:
                    if got:
                        await expire_once(state)
                        await state.sessions.republish_stale()  # type: ignore[attr-defined]
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("expiry pass failed; retrying at the next interval")
        await asyncio.sleep(interval)


def create_cluster_app(settings: Settings) -> Starlette:
    shared = Path(settings.storage)
    metrics = Metrics()
    db = PostgresDatabase(settings.database)
    storage = Storage(shared / "images")
    bus = Bus(settings.broker)
    events = ClusterEvents(bus)
    celery = make_celery(settings)
    sessions = DistributedSessionManager(settings, db, storage, events, metrics, partial(enqueue, celery))
    runner = InferenceRunner(lambda: FrontEngine(settings.engine))
    state = ClusterAppState(
        settings=settings, db=db, storage=storage,  # type: ignore[arg-type]
        signer=UrlSigner(load_or_create_shared_secret(shared / "secret.key"), settings.signed_url_ttl_s),
        sessions=sessions, events=events, runner=runner,
        worker=Worker(settings, sessions, storage, events, runner, metrics),  # never runs here
        metrics=metrics, limiter=RateLimiter(settings.rate_limit_per_minute, settings.submit_limit_per_minute),
        bus=bus,
    )
    bus.on_message(state.on_message)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        storage.prepare()
        await db.connect()
        await bus.start()
        await runner.load()
        tasks = [asyncio.create_task(cluster_expiry_loop(state, db, bus), name="expiry"),
                 asyncio.create_task(watch_loop_lag(metrics), name="loop-lag")]
        log.info("API process %s ready (distributed: engine %s on the workers)", worker_name(), settings.engine)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await sessions.settle()
            await bus.flush()
            await bus.stop()
            runner.shutdown()
            await db.close()
            celery.close()

    return build_starlette(settings, state, lifespan)
