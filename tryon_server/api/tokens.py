"""POST /api/tokens (get an anonymous token), GET /api/tokens/current (what it may still do today),
DELETE /api/tokens/current (delete all my data)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..auth import client_address, create_token, require_owner
from ..state import get_state


async def issue_token(request: Request) -> JSONResponse:
    state = get_state(request)
    state.limiter.check_token_creation(client_address(request))
    return JSONResponse({"token": await create_token(state)}, status_code=201)


async def describe_token(request: Request) -> JSONResponse:
    """The token's daily quota ({limit, used, left, resets_at}), or null when the server has none."""
    owner = await require_owner(request)
    state = get_state(request)
    return JSONResponse({"quota": await state.sessions.quota.status(state.db, owner)})


async def delete_everything(request: Request) -> Response:
    """Every profile, session and image of this token, then the token itself."""
    owner = await require_owner(request)
    state = get_state(request)
    deleted = await state.sessions.delete_for_owner(owner)  # running ones stop at their next step, keep nothing
    state.forget_tokens([owner])  # after the row is gone: a request looking it up meanwhile cannot re-cache it
    await state.storage.delete(deleted.photo_keys)
    return Response(status_code=204)


routes = [
    Route("/api/tokens", issue_token, methods=["POST"]),
    Route("/api/tokens/current", describe_token, methods=["GET"]),
    Route("/api/tokens/current", delete_everything, methods=["DELETE"]),
]
