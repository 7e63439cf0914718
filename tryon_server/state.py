"""The objects one running server is made of, built once in app.py and shared by the routes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from starlette.requests import Request

from .config import Settings
from .db import Database
from .events import SessionEvents
from .inference import InferenceRunner
from .manager import SessionManager
from .metrics import Metrics
from .ratelimit import RateLimiter
from .signing import UrlSigner
from .storage import Storage
from .worker import Worker


@dataclass
class AppState:
    settings: Settings
    db: Database
    storage: Storage
    signer: UrlSigner
    sessions: SessionManager  # the session lifecycle: every change to a session goes through it
    events: SessionEvents
    runner: InferenceRunner
    worker: Worker
    metrics: Metrics
    limiter: RateLimiter
    # token hashes known to exist: saves a query on every poll; entries leave when a token is deleted
    known_tokens: set[str] = field(default_factory=set)
    # bumped after tokens are deleted: a lookup that began before cannot put one back in the cache
    tokens_forgotten: int = 0

    def forget_tokens(self, token_hashes: Iterable[str]) -> None:
        """After the token rows are deleted (committed): out of the cache, and no lookup still in
        flight from before may add them back."""
        self.tokens_forgotten += 1
        self.known_tokens.difference_update(token_hashes)


def get_state(request: Request) -> AppState:
    return request.app.state.tryon
