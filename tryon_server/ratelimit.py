"""Rate limits per token and per client address, on the `limits` library's moving window.

`limits` is a well-kept implementation of the windows and their storage; an in-memory store is
right for one local process.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from .exceptions import TooManyRequests


class RateLimiter:
    def __init__(self, per_minute: int, submits_per_minute: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._general = RateLimitItemPerMinute(per_minute) if per_minute > 0 else None
        self._submit = RateLimitItemPerMinute(submits_per_minute) if submits_per_minute > 0 else None

    def _check(self, item: RateLimitItemPerMinute | None, *keys: str) -> None:
        if item is None:
            return
        for key in keys:
            if not self._limiter.hit(item, key):
                reset, _remaining = self._limiter.get_window_stats(item, key)
                retry_after = max(1, math.ceil(reset - time.time()))
                raise TooManyRequests(
                    "Too many requests; wait a moment and try again.",
                    headers={"Retry-After": str(retry_after)},
                )

    def check_request(self, client: str, token_hash: str | None) -> None:
        keys = [f"ip:{client}"] + ([f"tok:{token_hash}"] if token_hash else [])
        self._check(self._general, *keys)

    def check_token_creation(self, client: str) -> None:
        """Creating tokens has a bucket of its own, of the same size: a flood of them (from a
        script, or from pages in the user's browser before the Origin check) cannot use up the
        budget the user's page and extension spend with their token from that address."""
        self._check(self._general, f"newtok:{client}")

    def check_submit(self, client: str, token_hash: str) -> None:
        self._check(self._submit, f"sip:{client}", f"stok:{token_hash}")
