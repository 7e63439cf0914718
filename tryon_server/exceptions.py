"""Every exception the server raises on purpose, under one root.

    TryOnServerError
     ├── ConfigError ............ the server cannot start as configured (missing weights, bad flag)
     ├── EngineError ............ raised on the inference thread while running a try-on
     │    ├── InputRejected ..... the input's fault: not retried; `message` is shown to the shopper
     │    ├── Cancelled ......... the session was deleted while it ran
     │    ├── InferenceTimeout .. the engine took longer than the configured limit
     │    ├── ProviderBusy ...... a hosted engine's provider kept answering 429: re-queued with a delay
     │    └── ProviderUnavailable a hosted engine's provider is down or answered nonsense: retried
     └── ApiError ............... answered to an HTTP client as {"error": {"code", "message"}}
          ├── BadRequest (400) / ValidationFailed (422) / Unauthorized (401) / Forbidden (403)
          ├── NotFound (404) / PayloadTooLarge (413) / UnsupportedImage (415) / UnreadableImage (422)
          └── TooManyRequests (429) / QueueFull (503) / NotReady (503)

Any other exception escaping an engine is "unexpected": the worker retries it with backoff.
"""

from __future__ import annotations


class TryOnServerError(Exception):
    """Root of every exception the server raises on purpose."""


class ConfigError(TryOnServerError):
    """The server cannot start as configured; the message says what to change."""


class EngineError(TryOnServerError):
    """Raised by an engine while it runs one try-on."""


# Final refusals that are not the shopper's doing: the try-on is given back to the daily quota
# (--daily-quota). The graphics card ran out of memory even after lowering the resolution; the
# hosted provider refused the server's own account (bad key, no credits left).
NOT_THE_SHOPPERS = frozenset({"out_of_memory", "provider_account"})


class InputRejected(EngineError):
    """The photo or garment cannot be used. The message is a sentence for the shopper that says
    what to do instead, e.g. "No person was found in the photo: use a photo that shows your
    shoulders and hips." Never retried, and not given back to the daily quota unless `refund`
    (by default: its code is one of NOT_THE_SHOPPERS)."""

    def __init__(self, message: str, code: str = "input_rejected", *, refund: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.refund = code in NOT_THE_SHOPPERS if refund is None else refund


class Cancelled(EngineError):
    """The session was cancelled (deleted) while the engine was running it."""


class InferenceTimeout(EngineError):
    """The engine did not finish within the configured time limit."""


class ProviderBusy(EngineError):
    """A hosted engine's provider still answered "too many requests" after the in-process
    retries. Not a failure: the worker puts the session back in line after `retry_after_s` (the
    provider's own hint, when it gave one) or an exponential delay, and says so to the shopper."""

    def __init__(self, provider: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"{provider} is rate-limiting this server")
        self.provider = provider
        self.retry_after_s = retry_after_s


class ProviderUnavailable(EngineError):
    """A hosted engine's provider failed (5xx, timeout, connection refused, an answer without an
    image). Retried like any unexpected engine error."""


class ApiError(TryOnServerError):
    """An error answered to the HTTP client in the contract's JSON shape."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.headers = headers or {}


class BadRequest(ApiError):
    status_code, code = 400, "bad_request"


class Unauthorized(ApiError):
    status_code, code = 401, "unauthorized"


class Forbidden(ApiError):
    status_code, code = 403, "forbidden"


class NotFound(ApiError):
    status_code, code = 404, "not_found"


class PayloadTooLarge(ApiError):
    status_code, code = 413, "payload_too_large"


class UnsupportedImage(ApiError):
    status_code, code = 415, "unsupported_image"


class ValidationFailed(ApiError):
    status_code, code = 422, "validation_failed"


class UnreadableImage(ApiError):
    status_code, code = 422, "unreadable_image"


class TooManyRequests(ApiError):
    status_code, code = 429, "too_many_requests"


class QueueFull(ApiError):
    status_code, code = 503, "queue_full"


class NotReady(ApiError):
    status_code, code = 503, "not_ready"
