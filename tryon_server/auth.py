"""Anonymous bearer tokens: 256 random bits, kept server-side only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
import time

from starlette.requests import Request

from .exceptions import Unauthorized
from .state import AppState, get_state


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


async def create_token(state: AppState) -> str:
    token = new_token()
    token_hash = hash_token(token)
    await state.db.execute("insert_token", token_hash=token_hash, now=time.time())
    state.known_tokens.add(token_hash)
    return token


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


async def require_owner(request: Request) -> str:
    """The caller's token hash; 401 when the token is missing or unknown."""
    token = bearer(request)
    if token is None:
        raise Unauthorized("Send your token as 'Authorization: Bearer <token>'. Get one with POST /api/tokens.",
                           code="missing_token")
    token_hash = hash_token(token)
    state = get_state(request)
    if token_hash not in state.known_tokens:
        forgotten_before = state.tokens_forgotten
        if await state.db.fetch_value("token_exists", token_hash=token_hash) is None:
            raise Unauthorized("This token is not known to the server; get a new one with POST /api/tokens.",
                               code="unknown_token")
        if state.tokens_forgotten == forgotten_before:  # else it may be one deleted while we looked
            state.known_tokens.add(token_hash)
    state.limiter.check_request(client_address(request), token_hash)
    return token_hash


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
