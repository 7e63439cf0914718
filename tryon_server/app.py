"""The application: builds the objects of one server, wires the routes, and runs its lifespan.

    start-up:  data folders -> SQLite (migrate) -> re-queue unfinished sessions -> expiry pass
               -> engine loads on the inference thread (health says 503 until then) -> worker starts
    shutdown:  worker and expiry stop -> inference thread released -> SQLite closed
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from .api import routes as api_routes
from .config import Settings
from .db import Database
from .engines import Engine, create_engine
from .errors import EXCEPTION_HANDLERS, CatchAllMiddleware
from .events import SessionEvents
from .exceptions import ConfigError
from .expiry import expiry_loop
from .inference import InferenceRunner
from .manager import SessionManager
from .metrics import Metrics, watch_loop_lag
from .middleware import (
    HostGuardMiddleware,
    LocalCORSMiddleware,
    MethodNotAllowedMiddleware,
    RequestContextMiddleware,
    StreamLimitMiddleware,
)
from .ratelimit import RateLimiter
from .signing import UrlSigner, load_or_create_secret
from .state import AppState
from .storage import Storage
from .worker import Worker

log = logging.getLogger("tryon.app")
_PACKAGE_DIR = Path(__file__).resolve().parent
# an installed wheel carries the page inside the package (pyproject.toml maps static/ there); a
# checkout (also `pip install -e`) serves the repository's static/ folder itself
STATIC_DIR = next((d for d in (_PACKAGE_DIR / "static", _PACKAGE_DIR.parent / "static") if d.is_dir()),
                  _PACKAGE_DIR.parent / "static")
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}
# live progress streams (server-sent events) one token may hold open at once
MAX_STREAMS_PER_TOKEN = 10


def lock_data_dir(data_dir: Path) -> IO[bytes]:
    """One server per data folder: a second one would re-queue the first one's running session
    and sweep its files. The lock dies with the process, so kill -9 never leaves it stale."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(data_dir / ".lock", "wb")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(f"Another try-on server is already using {data_dir}; stop it or pass another --data-dir.") from None
    return handle


def allowed_hosts(settings: Settings) -> set[str]:
    hosts = {"localhost", "127.0.0.1", "::1", *settings.allowed_hosts}
    if settings.host not in WILDCARD_HOSTS:
        hosts.add(settings.host)
    return hosts


def allowed_origins(settings: Settings) -> list[str]:
    origins = [f"http://{h}:{settings.port}" for h in ("127.0.0.1", "localhost", "[::1]")]
    return origins + list(settings.allowed_origins)


_frozen = False


def freeze_long_lived_objects() -> None:
    """Once the engine is loaded, what is alive (modules, routes, models) lives as long as the
    process: move it out of the cyclic garbage collector's sight. A full collection then scans
    only what requests create, instead of stopping every thread (the event loop included) for
    20 ms with the instant engine and 60 ms with the classic one loaded, measured here. Once per
    process: a test process starts many apps, and a frozen cycle is never collected."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()


def build_state(settings: Settings, engine_factory: Callable[[], Engine]) -> AppState:
    metrics = Metrics()
    db = Database(settings.db_path)
    storage = Storage(settings.data_dir / "images")
    signer = UrlSigner(load_or_create_secret(settings.data_dir / "secret.key"), settings.signed_url_ttl_s)
    events = SessionEvents()
    sessions = SessionManager(settings, db, storage, events, metrics)
    runner = InferenceRunner(engine_factory)
    worker = Worker(settings, sessions, storage, events, runner, metrics)
    limiter = RateLimiter(settings.rate_limit_per_minute, settings.submit_limit_per_minute)
    return AppState(settings=settings, db=db, storage=storage, signer=signer, sessions=sessions, events=events,
                    runner=runner, worker=worker, metrics=metrics, limiter=limiter)


def create_app(settings: Settings, engine_factory: Callable[[], Engine] | None = None) -> Starlette:
    """The ASGI app. `engine_factory` defaults to the engine `settings.engine` names; it is
    called on the inference thread, so building the engine there too keeps models on it.
    With --database set, an API process of the distributed mode instead (distributed/app.py)."""
    if settings.distributed:
        from .distributed.app import create_cluster_app

        return create_cluster_app(settings)
    factory = engine_factory or (lambda: create_engine(settings))
    state = build_state(settings, factory)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        lock = lock_data_dir(settings.data_dir)  # before anything touches the database or files
        state.storage.prepare()
        await state.db.connect()
        recovered = await state.sessions.recover()  # before any new work can be accepted
        tasks = [asyncio.create_task(expiry_loop(state), name="expiry"),
                 asyncio.create_task(watch_loop_lag(state.metrics), name="loop-lag")]

        async def load_then_work() -> None:
            if await state.runner.load():
                freeze_long_lived_objects()
                await state.worker.run_forever()

        def worker_stopped(task: asyncio.Task[None]) -> None:
            # the worker loop never ends on its own: if it does, health must stop saying "ok"
            if task.cancelled() or task.exception() is None:
                return
            log.critical("the try-on worker stopped; no try-on will run until a restart", exc_info=task.exception())
            state.runner.ready = False
            state.runner.load_error = f"the worker stopped: {task.exception()!r}"

        worker_task = asyncio.create_task(load_then_work(), name="worker")
        worker_task.add_done_callback(worker_stopped)
        tasks.append(worker_task)
        log.info("server ready to accept requests; %d sessions recovered", recovered)
        try:
            yield
        finally:
            state.sessions.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            state.runner.shutdown()
            await state.db.close()
            lock.close()
            if state.runner.has_stuck_threads():
                # a stuck native call cannot be interrupted and would block interpreter exit
                log.error("an inference thread is still stuck; exiting without waiting for it")
                logging.shutdown()
                os._exit(0)

    return build_starlette(settings, state, lifespan)


def build_starlette(settings: Settings, state: AppState,
                    lifespan: Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]) -> Starlette:
    """The routes, the page and the middleware around them: the same in both modes."""
    routes = list(api_routes)
    if STATIC_DIR.is_dir():
        routes.append(Mount("/", app=StaticFiles(directory=STATIC_DIR, html=True), name="static"))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestContextMiddleware, metrics=state.metrics),
            Middleware(HostGuardMiddleware, allowed_hosts=allowed_hosts(settings)),
            Middleware(
                LocalCORSMiddleware,
                allow_origins=allowed_origins(settings),
                allow_origin_regex=r"chrome-extension://[a-p]{32}",
                allow_methods=["GET", "POST", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                expose_headers=["Location", "Retry-After", "X-Request-ID"],
                max_age=600,
            ),
            Middleware(CatchAllMiddleware),
            Middleware(MethodNotAllowedMiddleware, routes=api_routes),
            Middleware(StreamLimitMiddleware, per_token=MAX_STREAMS_PER_TOKEN),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.tryon = state
    return app
