"""Session status: moves only forward, queued -> processing -> completed | failed.

A processing session may go back to queued in two cases only: crash recovery at start-up, and a
retry after an unexpected engine error (its attempt counter says how many tries it has had).
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


TERMINAL: frozenset[Status] = frozenset({Status.COMPLETED, Status.FAILED})
