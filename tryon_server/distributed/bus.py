"""The cluster's event bus on Redis pub/sub: progress from the workers to every API process's
SSE streams, wake-ups when a session changes, cancellations of a deleted session's running
try-on, and tokens forgotten by one API process.

Each process publishes through one ordered queue (a progress message never overtakes the clear
that follows it) and applies what it receives, its own messages too, to its local SessionEvents.
Pub/sub is fire-and-forget: a process that is down misses the messages of that time, which is
harmless, since the rows in PostgreSQL are the truth and every SSE stream re-reads its row at
least every EVENT_REFRESH_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from ..events import SessionEvents

log = logging.getLogger("tryon.bus")
CHANNEL = "tryon:events"


class Bus:
    def __init__(self, url: str) -> None:
        self.redis: aioredis.Redis = aioredis.Redis.from_url(url)
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._handlers: list[Callable[[dict[str, Any]], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.subscribed = asyncio.Event()

    def on_message(self, handler: Callable[[dict[str, Any]], None]) -> None:
        self._handlers.append(handler)

    def publish(self, kind: str, **fields: Any) -> None:
        """Queue a message; call on the event loop (never blocks)."""
        self._outbox.put_nowait(json.dumps({"t": kind, **fields}))

    async def start(self) -> None:
        await self.redis.ping()  # fail at start-up, with the reason, when the broker is unreachable
        self._tasks = [asyncio.create_task(self._send(), name="bus-send"),
                       asyncio.create_task(self._receive(), name="bus-receive")]
        await asyncio.wait_for(self.subscribed.wait(), 30)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.redis.aclose()

    async def flush(self, timeout_s: float = 5.0) -> None:
        """Wait until what was published so far has left (a worker's last words at shutdown)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outbox.join(), timeout_s)

    async def _send(self) -> None:
        while True:
            message = await self._outbox.get()
            try:
                await self.redis.publish(CHANNEL, message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker restarting: live progress is lost, the rows are not
                log.warning("could not publish an event: %s", exc)
            finally:
                self._outbox.task_done()

    async def _receive(self) -> None:
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.subscribed.set()
                    async for raw in pubsub.listen():
                        self._dispatch(raw)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event subscription lost (%s); subscribing again", exc)
                await asyncio.sleep(1.0)

    def _dispatch(self, raw: dict[str, Any]) -> None:
        try:
            message = json.loads(raw["data"])
        except (ValueError, KeyError, TypeError):
            return
        for handler in self._handlers:
            try:
                handler(message)
            except Exception:
                log.exception("event handler failed on %s", message.get("t"))


class ClusterEvents(SessionEvents):
    """SessionEvents whose changes go to every process of the cluster (this one included, through
    the bus, which then applies them locally with the parent class's methods)."""

    def __init__(self, bus: Bus) -> None:
        super().__init__()
        self.bus = bus
        bus.on_message(self._apply)

    def progress(self, session_id: str, stage: str, progress: float) -> None:
        self.bus.publish("progress", id=session_id, stage=stage, p=float(progress))

    def clear(self, session_id: str) -> None:
        self.bus.publish("clear", id=session_id)

    def notify(self, session_id: str) -> None:
        super().notify(session_id)  # this process's own streams at once
        self.bus.publish("changed", id=session_id)

    def notify_all(self) -> None:
        super().notify_all()
        self.bus.publish("all")

    def _apply(self, message: dict[str, Any]) -> None:
        kind, session_id = message.get("t"), str(message.get("id", ""))
        if kind == "progress":
            SessionEvents.progress(self, session_id, str(message.get("stage", "")), float(message.get("p", 0.0)))
        elif kind == "clear":
            SessionEvents.clear(self, session_id)
            SessionEvents.notify(self, session_id)
        elif kind == "changed":
            SessionEvents.notify(self, session_id)
        elif kind == "all":
            SessionEvents.notify_all(self)
