"""The one gate every call to a hosted provider goes through: limits, 429 retries, hints.

Per provider and model, a `Gate` allows at most `concurrency` calls in flight and starts them at
least `spacing_s` apart, for the whole process (gates live in one registry, keyed by provider and
model, so two engines or two threads calling the same model share one). A 429 answer is retried
here a few times — after the provider's own hint (`retry-after-ms`, `Retry-After`, Google's
`RetryInfo.retryDelay`) when it gives one, else after 0.5 → 1 → 2 s plus jitter — and a hint
also holds back every other call to that model until it has passed. When the retries are used
up, or the hint is longer than is worth holding the inference thread for, `ProviderBusy` goes up
to the worker, which puts the session back in line with a delay that survives a restart.

Everything here runs on the inference thread (engines are synchronous), so it uses threading
primitives, and every wait wakes up when the session is cancelled.
"""

from __future__ import annotations

import email.utils
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from ...exceptions import Cancelled, ProviderBusy

# in-process waits after a 429 with no hint; jitter adds up to a quarter of each
BACKOFF_S: tuple[float, ...] = (0.5, 1.0, 2.0)
# a hint longer than this is not waited out on the inference thread: the session is re-queued
MAX_IN_PROCESS_WAIT_S = 10.0


@dataclass(frozen=True)
class Limit:
    concurrency: int
    spacing_s: float


# Built-in limits by model name (the longest matching prefix wins), then by provider. Gemini's
# pro image model takes fewer and slower calls than its flash ones (what the hosted try-on systems
# we learned from ran with); FASHN's documented default concurrency is 6.
DEFAULT_LIMITS: dict[str, Limit] = {
    "gemini-3-pro-image": Limit(2, 0.5),
    "gemini": Limit(4, 0.2),
    "fashn": Limit(6, 0.1),
    "openai": Limit(4, 0.2),
}

_LIMIT_RE = re.compile(r"^\s*([\w.:/-]+)\s*=\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*$")


def parse_limits(items: tuple[str, ...]) -> dict[str, Limit]:
    """`MODEL=CONCURRENT/SPACING_MS` items (the --hosted-limits flag) as limits; ValueError with
    the offending item otherwise."""
    limits: dict[str, Limit] = {}
    for item in items:
        match = _LIMIT_RE.match(item)
        if not match or int(match[2]) < 1:
            raise ValueError(f"{item!r} is not MODEL=CONCURRENT/SPACING_MS with CONCURRENT at least 1")
        limits[match[1]] = Limit(int(match[2]), float(match[3]) / 1000.0)
    return limits


def limit_for(provider: str, model: str, overrides: dict[str, Limit] | None = None) -> Limit:
    table = {**DEFAULT_LIMITS, **(overrides or {})}
    for key in sorted(table, key=len, reverse=True):
        if model.startswith(key):
            return table[key]
    return table.get(provider, Limit(2, 0.5))


class Gate:
    """Concurrency and spacing for one provider model, shared by every thread of the process."""

    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit.concurrency)
        self._lock = threading.Lock()
        self._next_start = 0.0  # monotonic time the next reserved start may be at, at the earliest
        self._held = 0.0  # the provider asked us to wait until then

    def _reserve(self) -> float:
        with self._lock:
            start = max(time.monotonic(), self._next_start)
            self._next_start = start + self.limit.spacing_s
            return start

    @contextmanager
    def slot(self, cancel: threading.Event) -> Iterator[None]:
        """Hold one of the concurrent slots, started no sooner than the spacing allows."""
        while not self._slots.acquire(timeout=0.05):
            if cancel.is_set():
                raise Cancelled("The try-on was cancelled.")
        try:
            start = self._reserve()
            while True:
                _sleep(start - time.monotonic(), cancel)
                with self._lock:
                    held = self._held > start
                if not held:
                    break
                # a hold came in while this call waited for its turn: take a new turn after it
                start = self._reserve()
            yield
        finally:
            self._slots.release()

    def hold_until(self, monotonic_time: float) -> None:
        """The provider asked everyone to wait: no call to this model starts before then, even
        one whose turn was given out before the provider said so."""
        with self._lock:
            self._held = max(self._held, monotonic_time)
            self._next_start = max(self._next_start, monotonic_time)


_gates: dict[tuple[str, str], Gate] = {}
_gates_lock = threading.Lock()


def gate(provider: str, model: str, limit: Limit) -> Gate:
    """The process's one gate for this provider and model (made with `limit` on first use)."""
    with _gates_lock:
        found = _gates.get((provider, model))
        if found is None or found.limit != limit:
            found = _gates[(provider, model)] = Gate(limit)
        return found


def _sleep(seconds: float, cancel: threading.Event) -> None:
    if seconds > 0 and cancel.wait(seconds):
        raise Cancelled("The try-on was cancelled.")


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def retry_hint(response: httpx.Response) -> float | None:
    """Seconds the provider asked us to wait, from whichever hint it gave, else None:
    `retry-after-ms` (OpenAI), `Retry-After` (seconds or an HTTP date), or a google.rpc.RetryInfo
    detail in a Google error body ({"error": {"details": [{"retryDelay": "46s"}]}})."""
    headers = response.headers
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000.0)
        if "retry-after" in headers:
            value = headers["retry-after"].strip()
            if value.replace(".", "", 1).isdigit():
                return float(value)
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (ValueError, TypeError):
        pass  # a malformed header is no hint
    try:
        details = response.json().get("error", {}).get("details", [])
    except (ValueError, AttributeError):
        return None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DURATION_RE.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match[1])
    return None


def is_rate_limited(response: httpx.Response) -> bool:
    return response.status_code == 429


def call(gate_: Gate, provider: str, send: Callable[[], httpx.Response], cancel: threading.Event,
         backoff_s: tuple[float, ...] | None = None,
         rate_limited: Callable[[httpx.Response], bool] = is_rate_limited) -> httpx.Response:
    """One call through the gate: `send()` inside a slot, retried in-process while
    `rate_limited(answer)` (a 429, unless the provider's module knows better: FASHN also answers
    429 when the account is out of credits, which no waiting cures). Any other answer is returned
    for the provider's module to read; ProviderBusy when the rate limiting persists."""
    backoff_s = BACKOFF_S if backoff_s is None else backoff_s
    for attempt in range(len(backoff_s) + 1):
        with gate_.slot(cancel):
            response = send()
        if not rate_limited(response):
            return response
        hint = retry_hint(response)
        if hint is not None:
            gate_.hold_until(time.monotonic() + hint)
        if attempt == len(backoff_s) or (hint is not None and hint > MAX_IN_PROCESS_WAIT_S):
            raise ProviderBusy(provider, hint)
        wait = hint if hint is not None else backoff_s[attempt] * (1 + random.uniform(0, 0.25))
        _sleep(wait, cancel)
    raise AssertionError("unreachable")  # the loop returns or raises
