"""GET /api/images/{key}: the only way a stored image leaves the server, by signed link."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Route

from ..exceptions import Forbidden, NotFound
from ..state import get_state

MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png"}


async def get_image(request: Request) -> FileResponse:
    state = get_state(request)
    key = request.path_params["key"]
    exp, sig = request.query_params.get("exp"), request.query_params.get("sig")
    if not state.storage.is_valid_key(key) or not state.signer.verify(key, exp, sig):
        raise Forbidden("This image link is invalid or has expired; reload the page to get a fresh one.",
                        code="bad_signature")
    path = state.storage.path(key)
    if not path.is_file():
        raise NotFound("This image no longer exists.", code="image_not_found")
    max_age = max(0, int(exp or 0) - int(time.time()))
    return FileResponse(
        path, media_type=MEDIA_TYPES[key.rsplit(".", 1)[1]],
        headers={"Cache-Control": f"private, max-age={max_age}, immutable", "X-Content-Type-Options": "nosniff"},
    )


routes = [Route("/api/images/{key:path}", get_image, methods=["GET"])]
