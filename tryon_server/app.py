"""The application: builds the objects of one server, wires the routes, and runs its lifespan.

    start-up:  data folders -> SQLite (migrate) -> re-queue unfinished sessions -> expiry pass
               -> engine loads on the inference thread (health says 503 until then) -> worker starts
    shutdown:  worker and expiry stop -> inference thread released -> SQLite closed
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from .api import routes as api_routes
from .config import Settings
from .db import Database
from .engines import Engine, create_engine
from .events import SessionEvents
from .exceptions import ApiError, InputRejected
from .expiry import expiry_loop
from .inference import InferenceRunner
from .metrics import Metrics
from .middleware import HostGuardMiddleware, RequestContextMiddleware
from .queue import SessionQueue
from .ratelimit import RateLimiter
from .signing import UrlSigner, load_or_create_secret
from .state import AppState
from .storage import Storage
from .worker import Worker

log = logging.getLogger("tryon.app")
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _error(exc.status_code, exc.code, exc.message, exc.headers)


async def _input_rejected(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InputRejected)
    return _error(422, exc.code, exc.message)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    messages = {404: ("not_found", "There is nothing at this address."),
                405: ("method_not_allowed", "This address does not accept that method.")}
    code, message = messages.get(exc.status_code, ("http_error", str(exc.detail)))
    return _error(exc.status_code, code, message, dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal_error", "Something went wrong on the server. Please try again.")


def allowed_hosts(settings: Settings) -> set[str]:
    hosts = {"localhost", "127.0.0.1", "::1", *settings.allowed_hosts}
    if settings.host not in WILDCARD_HOSTS:
        hosts.add(settings.host)
    return hosts


def allowed_origins(settings: Settings) -> list[str]:
    origins = [f"http://{h}:{settings.port}" for h in ("127.0.0.1", "localhost", "[::1]")]
    return origins + list(settings.allowed_origins)


def build_state(settings: Settings, engine_factory: Callable[[], Engine]) -> AppState:
    metrics = Metrics()
    db = Database(settings.db_path)
    storage = Storage(settings.data_dir / "images")
    signer = UrlSigner(load_or_create_secret(settings.data_dir / "secret.key"), settings.signed_url_ttl_s)
    queue = SessionQueue(db)
    events = SessionEvents()
    runner = InferenceRunner(engine_factory)
    worker = Worker(settings, db, storage, queue, events, runner, metrics)
    limiter = RateLimiter(settings.rate_limit_per_minute, settings.submit_limit_per_minute)
    return AppState(settings=settings, db=db, storage=storage, signer=signer, queue=queue, events=events,
                    runner=runner, worker=worker, metrics=metrics, limiter=limiter)


def create_app(settings: Settings, engine_factory: Callable[[], Engine] | None = None) -> Starlette:
    """The ASGI app. `engine_factory` defaults to the engine `settings.engine` names; it is
    called on the inference thread, so building the engine there too keeps models on it."""
    factory = engine_factory or (lambda: create_engine(settings))
    state = build_state(settings, factory)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.storage.prepare()
        await state.db.connect()
        recovered = await state.queue.recover()  # before any new work can be accepted
        tasks = [asyncio.create_task(expiry_loop(state), name="expiry")]

        async def load_then_work() -> None:
            if await state.runner.load():
                await state.worker.run_forever()

        tasks.append(asyncio.create_task(load_then_work(), name="worker"))
        log.info("server ready to accept requests; %d sessions recovered", recovered)
        try:
            yield
        finally:
            state.worker.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            state.runner.shutdown()
            await state.db.close()
            if state.runner.has_stuck_threads():
                # a stuck native call cannot be interrupted and would block interpreter exit
                log.error("an inference thread is still stuck; exiting without waiting for it")
                logging.shutdown()
                os._exit(0)

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
                CORSMiddleware,
                allow_origins=allowed_origins(settings),
                allow_origin_regex=r"chrome-extension://[a-p]{32}",
                allow_methods=["GET", "POST", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                expose_headers=["Location", "Retry-After", "X-Request-ID"],
                max_age=600,
            ),
        ],
        exception_handlers={
            ApiError: _api_error,
            InputRejected: _input_rejected,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.state.tryon = state
    return app
