"""The daily try-on quota per token (`--daily-quota N`; 0, the default, turns it off).

A try-on counts against its token's quota of the UTC day it is accepted on, in the statement that
inserts it (sql/queries.sql insert_session_if_room and the quota_take trigger of migration 3), and
is given back, once, when it fails for a reason that is not the shopper's: an engine error, a
crash, a timeout, a provider that stayed down or busy (the session manager's `fail(refund=True)`).
A photo the engine refuses (no person found, a provider's moderation) and a try-on the shopper
deletes are not given back. The count lives in SQLite, so a restart keeps it.

The clock is injectable (`DailyQuota.clock`) so tests can move to the next day without waiting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .db import Database
from .exceptions import TooManyRequests
from .serialize import iso


class QuotaExceeded(TooManyRequests):
    code = "daily_quota_exceeded"


class DailyQuota:
    def __init__(self, limit: int, clock: Callable[[], float] = time.time) -> None:
        self.limit = max(0, limit)
        self.clock = clock

    @property
    def on(self) -> bool:
        return self.limit > 0

    def _today(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def day(self) -> str | None:
        """The UTC day a try-on accepted now counts against ('YYYY-MM-DD'), None when off."""
        return self._today().date().isoformat() if self.on else None

    def resets_at(self) -> float:
        """The next UTC midnight, as a Unix time."""
        return (self._today() + timedelta(days=1)).timestamp()

    async def used(self, db: Database, owner: str) -> int:
        day = self.day()
        return 0 if day is None else int(await db.read_value("quota_used", owner=owner, day=day) or 0)

    async def check(self, db: Database, owner: str) -> None:
        """Raise the 429 when the token has no try-on left today (an early, cheap refusal before
        the uploads are read; the insert checks again, atomically)."""
        if self.on and await self.used(db, owner) >= self.limit:
            raise self.exceeded()

    def exceeded(self) -> QuotaExceeded:
        wait_s = max(1, math.ceil(self.resets_at() - self.clock()))
        return QuotaExceeded(
            f"This token has used today's quota of {self.limit} try-on{'s' if self.limit != 1 else ''}; "
            f"more are possible after midnight UTC ({_in_words(wait_s)}).",
            headers={"Retry-After": str(wait_s)},
        )

    async def status(self, db: Database, owner: str) -> dict[str, Any] | None:
        """`{limit, used, left, resets_at}` for GET /api/tokens/current; None when off."""
        if not self.on:
            return None
        used = await self.used(db, owner)
        return {"limit": self.limit, "used": used, "left": max(0, self.limit - used),
                "resets_at": iso(self.resets_at())}


def _in_words(seconds: int) -> str:
    if seconds < 3600:
        minutes = max(1, round(seconds / 60))
        return f"in {minutes} minute{'s' if minutes != 1 else ''}"
    hours = round(seconds / 3600)
    return f"in about {hours} hour{'s' if hours != 1 else ''}"
