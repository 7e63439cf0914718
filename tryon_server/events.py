"""Live progress of the running session, and wake-ups for the SSE streams that watch sessions.

Progress lives in memory only: after a crash a session restarts from the beginning anyway, so
writing every diffusion step to SQLite would buy nothing. Everything here runs on the event loop;
the inference thread reaches it through loop.call_soon_threadsafe.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict


class SessionEvents:
    def __init__(self) -> None:
        self._live: dict[str, tuple[str, float]] = {}
        self._watchers: dict[str, set[asyncio.Event]] = defaultdict(set)

    def progress(self, session_id: str, stage: str, progress: float) -> None:
        previous = self._live.get(session_id)
        progress = min(1.0, max(0.0, float(progress)))
        if previous is not None:
            progress = max(progress, previous[1])  # progress never goes backwards within an attempt
        self._live[session_id] = (stage, progress)
        self.notify(session_id)

    def live(self, session_id: str) -> tuple[str, float] | None:
        return self._live.get(session_id)

    def clear(self, session_id: str) -> None:
        self._live.pop(session_id, None)

    def notify(self, session_id: str) -> None:
        for event in self._watchers.get(session_id, ()):
            event.set()

    def notify_all(self) -> None:
        """Queue positions moved: every watcher re-reads its session."""
        for watchers in self._watchers.values():
            for event in watchers:
                event.set()

    def watch(self, session_id: str) -> asyncio.Event:
        event = asyncio.Event()
        self._watchers[session_id].add(event)
        return event

    def unwatch(self, session_id: str, event: asyncio.Event) -> None:
        watchers = self._watchers.get(session_id)
        if watchers is not None:
            watchers.discard(event)
            if not watchers:
                del self._watchers[session_id]
