"""The one inference thread: it owns the engine, and nothing else ever touches the engine.

Work is handed over as a callable and awaited with `asyncio.wrap_future`, with the caller's
contextvars copied so that log lines from the thread keep their session id. A call that overruns
its time limit is given a grace period to notice its cancel flag; if the thread is still stuck
after that, the executor is abandoned and a fresh thread with a freshly loaded engine takes over.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from .engines.base import AnalyzesPeople, Engine
from .exceptions import InferenceTimeout

log = logging.getLogger("tryon.inference")
T = TypeVar("T")


class InferenceRunner:
    """Loads the engine on its own thread and runs work there, one call at a time."""

    def __init__(self, engine_factory: Callable[[], Engine]) -> None:
        self._factory = engine_factory
        self._executor = self._new_executor()
        self._engine: Engine | None = None
        self.ready = False
        self.load_error: str | None = None
        self.load_seconds: float | None = None
        self.engine_name = "?"
        self.device = "?"
        self.licence: str | None = None  # the engine's weights' licence, when they have terms to show
        # the engine analyses people itself (engines.base.AnalyzesPeople): saved profile photos are
        # checked with its analyzer; known on the event loop, so work that needs it waits for nothing
        self.analyzes_people = False
        self._abandoned: list[ThreadPoolExecutor] = []
        self._last_overrun: Future | None = None

    @staticmethod
    def _new_executor() -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")

    def _load_on_thread(self) -> Engine:
        started = time.perf_counter()
        engine = self._factory()
        self.engine_name, self.device = engine.name, engine.device
        self.licence = getattr(engine, "licence", None)
        self.analyzes_people = isinstance(engine, AnalyzesPeople)
        engine.load()
        self.load_seconds = time.perf_counter() - started
        return engine

    async def load(self) -> bool:
        """Build and load the engine on the inference thread. False (with load_error) on failure."""
        self.ready = False
        try:
            self._engine = await asyncio.wrap_future(self._executor.submit(self._load_on_thread))
        except Exception as exc:  # a broken install or weights: report it, keep serving the API
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.exception("engine failed to load")
            return False
        self.load_error = None
        self.ready = True
        log.info("engine %s loaded on %s in %.2fs", self.engine_name, self.device, self.load_seconds or 0)
        return True

    async def run(self, fn: Callable[[Engine], T], timeout_s: float) -> T:
        """Run fn(engine) on the inference thread; InferenceTimeout after `timeout_s`."""
        if self._engine is None:
            raise RuntimeError("the engine is not loaded")
        engine = self._engine
        ctx = contextvars.copy_context()
        future: Future[T] = self._executor.submit(ctx.run, fn, engine)
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout_s)
        except TimeoutError:
            self._last_overrun = future
            raise InferenceTimeout(f"inference exceeded {timeout_s:.0f}s") from None

    async def recover(self, grace_s: float) -> None:
        """After a timeout: wait `grace_s` for the overrunning call to stop (it was asked to
        cancel); if it does not, abandon the stuck thread and load a fresh engine on a new one."""
        future = self._last_overrun
        self._last_overrun = None
        if future is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), grace_s)
        except TimeoutError:
            log.error("inference thread still stuck %.0fs after its deadline: starting a fresh one", grace_s)
            self._abandoned.append(self._executor)
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            self._engine = None
            await self.load()
        except Exception:
            pass  # it finished by failing: the thread is free again

    def has_stuck_threads(self) -> bool:
        return any(t.is_alive() for ex in self._abandoned for t in getattr(ex, "_threads", ()))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
