"""Fitting profiles: the shopper's own photos, kept until they delete them."""

from __future__ import annotations

import sqlite3
import time
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..auth import require_owner
from ..exceptions import Unauthorized, ValidationFailed
from ..profiles import delete_profile as delete_profile_and_sessions
from ..profiles import load_profile, parse_height
from ..serialize import profile_json
from ..state import get_state
from ..uploads import clean_upload, read_file_field, read_form, text_field

MAX_NAME = 80


async def create_profile(request: Request) -> JSONResponse:
    owner = await require_owner(request)
    state = get_state(request)
    form = await read_form(request, file_limit=state.settings.max_upload_bytes, max_files=1)
    try:
        name = text_field(form, "name") or ""
        if len(name) > MAX_NAME:
            raise ValidationFailed(f"The name must be at most {MAX_NAME} characters.", code="bad_name")
        height = parse_height(text_field(form, "height_cm"))
        data = await read_file_field(form, "photo")
        if data is None:
            raise ValidationFailed("Add a photo of yourself in the 'photo' field.", code="photo_required")
    finally:
        await form.close()
    clean = await clean_upload(state, data, "photo")
    key = await state.storage.save("inputs", clean.extension, clean.data)
    profile_id = uuid.uuid4().hex
    try:
        await state.db.execute(
            "insert_profile", id=profile_id, owner=owner, name=name, height_cm=height,
            photo_key=key, photo_sha256=clean.sha256, now=time.time(),
        )
    except sqlite3.IntegrityError:  # the token was deleted while this uploaded
        await state.storage.delete([key])
        raise Unauthorized("This token was deleted; get a new one with POST /api/tokens.", code="unknown_token") from None
    row = await load_profile(state, profile_id, owner)
    return JSONResponse(profile_json(row, state.signer), status_code=201,
                        headers={"Location": f"/api/profiles/{profile_id}"})


async def list_profiles(request: Request) -> JSONResponse:
    owner = await require_owner(request)
    state = get_state(request)
    rows = await state.db.fetch_all("list_profiles", owner=owner)
    return JSONResponse({"items": [profile_json(r, state.signer) for r in rows]})


async def get_profile(request: Request) -> JSONResponse:
    owner = await require_owner(request)
    state = get_state(request)
    row = await load_profile(state, request.path_params["profile_id"], owner)
    return JSONResponse(profile_json(row, state.signer))


async def delete_profile(request: Request) -> Response:
    owner = await require_owner(request)
    await delete_profile_and_sessions(get_state(request), request.path_params["profile_id"], owner)
    return Response(status_code=204)


routes = [
    Route("/api/profiles", create_profile, methods=["POST"]),
    Route("/api/profiles", list_profiles, methods=["GET"]),
    Route("/api/profiles/{profile_id}", get_profile, methods=["GET"]),
    Route("/api/profiles/{profile_id}", delete_profile, methods=["DELETE"]),
]
