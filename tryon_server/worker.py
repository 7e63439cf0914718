"""The worker: takes session ids off the queue and runs them, one at a time, on the inference thread.

    queued --claim--> processing --engine ok--> completed
                          |------ InputRejected / timeout / attempts used up --> failed
                          '------ unexpected error, attempts left --> queued (after backoff)

Nothing a session does can stop this loop: every failure ends in a row update and the next id.
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
from .db import Database, Row
from .engines.base import Engine, TryOnJob
from .events import SessionEvents
from .exceptions import Cancelled, InferenceTimeout, InputRejected
from .inference import InferenceRunner
from .logs import session_id_var
from .metrics import Metrics
from .queue import SessionQueue
from .storage import Storage

log = logging.getLogger("tryon.worker")

GENERIC_FAILURE = "Something went wrong while making your try-on. Please try again in a minute."
TIMEOUT_FAILURE = "The try-on took too long and was stopped. Please try again; a smaller photo may help."


class Worker:
    def __init__(
        self, settings: Settings, db: Database, storage: Storage, queue: SessionQueue,
        events: SessionEvents, runner: InferenceRunner, metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.db = db
        self.storage = storage
        self.queue = queue
        self.events = events
        self.runner = runner
        self.metrics = metrics
        self.current: str | None = None
        self._cancel_flags: dict[str, threading.Event] = {}
        self._retry_handles: set[asyncio.TimerHandle] = set()

    async def run_forever(self) -> None:
        while True:
            session_id = await self.queue.get()
            try:
                await self.process(session_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in our own bookkeeping: log it, never stop the loop
                log.exception("worker error on session %s", session_id)

    def cancel(self, session_id: str) -> None:
        """Ask a running session to stop at its next step (DELETE of a running session)."""
        flag = self._cancel_flags.get(session_id)
        if flag is not None:
            flag.set()

    def stop(self) -> None:
        """Shutdown: no more retries, and the running try-on stops at its next step (its row stays
        `processing`, so the next start runs it again)."""
        for handle in self._retry_handles:
            handle.cancel()
        for flag in self._cancel_flags.values():
            flag.set()

    async def process(self, session_id: str) -> None:
        row = await self.db.fetch_one("claim_session", id=session_id, now=time.time())
        if row is None:
            return  # deleted while queued, or already taken: nothing to do
        token = session_id_var.set(session_id)
        self.current = session_id
        cancel = threading.Event()
        self._cancel_flags[session_id] = cancel
        self.metrics.transition("processing")
        log.info("session queued -> processing (attempt %d)", row["attempts"])
        self.events.progress(session_id, "starting", 0.0)
        self.events.notify_all()  # everyone behind moved up one place
        started = time.perf_counter()
        try:
            result = await self._infer(row, cancel)
            await self._complete(row, result, time.perf_counter() - started)
        except Cancelled:
            log.info("session cancelled while processing")
        except InputRejected as exc:
            await self._fail(session_id, exc.message, exc.code)
        except InferenceTimeout:
            cancel.set()
            await self._fail(session_id, TIMEOUT_FAILURE, "timeout")
            await self.runner.recover(grace_s=min(30.0, self.settings.inference_timeout_s))
        except Exception as exc:
            await self._retry_or_fail(row, exc)
        finally:
            self._cancel_flags.pop(session_id, None)
            self.current = None
            self.events.clear(session_id)
            self.events.notify(session_id)
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

    async def _complete(self, row: Row, result: Image.Image, seconds: float) -> None:
        key = await asyncio.to_thread(self._store_result, result)
        changed = await self.db.execute("complete_session", id=row["id"], result_key=key, now=time.time(),
                                        retention=self.settings.retention_seconds)
        if not changed:  # deleted while it ran: keep nothing
            await self.storage.delete([key])
            return
        self.metrics.transition("completed")
        self.metrics.inference_seconds.observe(seconds)
        log.info("session processing -> completed in %.2fs", seconds)

    def _store_result(self, result: Image.Image) -> str:
        """Encode and write the result in one trip off the loop (CPU-bound PNG, then fsync)."""
        return self.storage.save_sync("results", "png", images.encode_png(result.convert("RGB")))

    async def _fail(self, session_id: str, message: str, code: str) -> None:
        if await self.db.execute("fail_session", id=session_id, error=message, error_code=code, now=time.time(),
                                 retention=self.settings.retention_seconds):
            self.metrics.transition("failed")
            log.info("session processing -> failed (%s): %s", code, message)

    async def _retry_or_fail(self, row: Row, exc: Exception) -> None:
        attempts = row["attempts"]
        log.error("session attempt %d failed unexpectedly: %s: %s", attempts, type(exc).__name__, exc, exc_info=exc)
        if attempts >= self.settings.max_attempts:
            await self._fail(row["id"], GENERIC_FAILURE, "engine_error")
            return
        if not await self.db.execute("retry_session", id=row["id"], now=time.time()):
            return
        # exponential backoff with jitter; the row says queued, so a crash meanwhile loses nothing
        delay = self.settings.retry_base_s * (2 ** (attempts - 1)) * random.uniform(0.5, 1.5)
        log.info("session processing -> queued (retry in %.1fs)", delay)
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def requeue() -> None:
            self._retry_handles.discard(handle)
            self.queue.put(row["id"])

        handle = loop.call_later(delay, requeue)
        self._retry_handles.add(handle)
