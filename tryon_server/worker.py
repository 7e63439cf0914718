"""The worker: takes session ids off the queue and runs them, one at a time, on the inference thread.

    queued --claim--> processing --engine ok--> completed
                          |------ InputRejected / timeout / attempts used up --> failed
                          |------ ProviderBusy (a hosted provider rate-limits) --> queued (after a
                          |       delay kept in the row; not an attempt; fails past provider_wait_max_s)
                          '------ unexpected error, attempts left --> queued (after backoff)

Every one of those moves is the session manager's (manager.py); the worker decides which one,
from what the engine did. Nothing a session does can stop this loop: every failure ends in a
row update and the next id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from typing import Any

from PIL import Image

from . import images
from .config import Settings
from .db import Row
from .engines.base import Engine, TryOnJob
from .events import SessionEvents
from .exceptions import Cancelled, InferenceTimeout, InputRejected, ProviderBusy
from .inference import InferenceRunner
from .logs import session_id_var
from .manager import SessionManager
from .metrics import Metrics
from .storage import Storage

log = logging.getLogger("tryon.worker")

GENERIC_FAILURE = "Something went wrong while making your try-on. Please try again in a minute."
TIMEOUT_FAILURE = "The try-on took too long and was stopped. Please try again; a smaller photo may help."
PROVIDER_BUSY_FAILURE = "{provider} stayed too busy to make this try-on{when}. Please try again later."


class Worker:
    def __init__(self, settings: Settings, sessions: SessionManager, storage: Storage, events: SessionEvents,
                 runner: InferenceRunner, metrics: Metrics) -> None:
        self.settings = settings
        self.sessions = sessions
        self.storage = storage
        self.events = events
        self.runner = runner
        self.metrics = metrics
        self.current: str | None = None

    async def run_forever(self) -> None:
        while True:
            session_id = await self.sessions.next()
            try:
                await self.process(session_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in our own bookkeeping: log it, never stop the loop
                log.exception("worker error on session %s", session_id)

    async def process(self, session_id: str) -> None:
        token = session_id_var.set(session_id)
        try:
            claimed = await self.sessions.claim(session_id)
            if claimed is None:
                return  # deleted while queued, or already taken: nothing to do
            row, cancel = claimed
            self.current = session_id
            started = time.perf_counter()
            try:
                result = await self._infer(row, cancel)
                key = await asyncio.to_thread(self._store_result, result)
                if await self.sessions.complete(session_id, key):
                    seconds = time.perf_counter() - started
                    self.metrics.inference_seconds.observe(seconds)
                    log.info("session processing -> completed in %.2fs", seconds)
            except Cancelled:
                log.info("session cancelled while processing")
            except InputRejected as exc:  # mostly the photo's or garment's fault: then not given back to the quota
                await self.sessions.fail(session_id, exc.message, exc.code, refund=exc.refund)
            except ProviderBusy as exc:
                await self._wait_for_provider(row, exc)
            except InferenceTimeout:
                cancel.set()
                await self.sessions.fail(session_id, TIMEOUT_FAILURE, "timeout")
                await self.runner.recover(grace_s=min(30.0, self.settings.inference_timeout_s))
            except Exception as exc:
                await self._retry_or_fail(row, exc)
            finally:
                self.current = None
                self.sessions.release(session_id)
        finally:
            session_id_var.reset(token)

    async def _infer(self, row: Row, cancel: threading.Event) -> Image.Image:
        options: dict[str, Any] = json.loads(row["options"] or "{}")
        loop = asyncio.get_running_loop()
        session_id = row["id"]

        def report(stage: str, progress: float) -> None:
            loop.call_soon_threadsafe(self._progress, session_id, stage, progress)

        def work(engine: Engine) -> Image.Image:
            # reading and decoding happen here, on the inference thread, not on the event loop
            # (and without extra hand-overs between threads for each file)
            job = TryOnJob(
                person=images.open_stored(self.storage.read_sync(row["person_key"])).convert("RGB"),
                garment=images.open_stored(self.storage.read_sync(row["garment_key"])),
                category=row["category"],
                person_key=row["person_sha256"],
                options=options,
                cancel=cancel,
            )
            job.check_cancelled()
            return engine.run(job, report)

        return await self.runner.run(work, timeout_s=self.settings.inference_timeout_s)

    def _progress(self, session_id: str, stage: str, progress: float) -> None:
        # a call that overran its deadline may still report after its session was closed
        if self.current == session_id:
            self.events.progress(session_id, stage, progress)

    def _store_result(self, result: Image.Image) -> str:
        """Encode and write the result in one trip off the loop (CPU-bound PNG, then fsync)."""
        return self.storage.save_sync("results", "png", images.encode_png(result.convert("RGB")))

    async def _retry_or_fail(self, row: Row, exc: Exception) -> None:
        attempts = row["attempts"]
        log.error("session attempt %d failed unexpectedly: %s: %s", attempts, type(exc).__name__, exc, exc_info=exc)
        if attempts >= self.settings.max_attempts:
            await self.sessions.fail(row["id"], GENERIC_FAILURE, "engine_error")
            return
        # exponential backoff with jitter
        delay = self.settings.retry_base_s * (2 ** (attempts - 1)) * random.uniform(0.5, 1.5)
        await self.sessions.retry(row["id"], delay)

    async def _wait_for_provider(self, row: Row, exc: ProviderBusy) -> None:
        """Back in line after an exponential delay (the provider's own hint when it is longer),
        unless that would run past the longest wait a shopper is asked to accept."""
        settings = self.settings
        delay = min(settings.provider_retry_max_s, settings.provider_retry_base_s * 2 ** row["deferrals"])
        delay = max(delay * random.uniform(0.8, 1.2), exc.retry_after_s or 0.0)
        if time.time() + delay - row["created_at"] > settings.provider_wait_max_s:
            hint = exc.retry_after_s or 0.0
            when = f" (it asked to wait {hint / 60:.0f} more minutes)" if hint >= 60 else ""
            await self.sessions.fail(row["id"], PROVIDER_BUSY_FAILURE.format(provider=exc.provider, when=when),
                                     "provider_busy")
            return
        await self.sessions.defer(row["id"], delay)


if __name__ == "__main__":  # `python -m tryon_server.worker`: a GPU worker of the distributed mode
    import sys

    from .distributed.worker_main import main

    sys.exit(main())
