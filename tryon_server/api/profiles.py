"""Fitting profiles: the shopper's own photos, kept until they delete them.

A photo is checked when it is saved: the engine's own person analysis (the one its try-ons run
first) runs on it, on the inference thread, so a product photo saved as "your photo" is refused
at once with what photo to take, not at the first try-on. The analysis is cached under the
photo's hash at the size a try-on uses by default, so that first try-on skips its pose stage.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import images
from ..auth import require_owner
from ..engines.base import AnalyzesPeople, Engine
from ..exceptions import InferenceTimeout, InputRejected, NotReady, Unauthorized, ValidationFailed
from ..images import CleanImage
from ..photo_needs import PROFILE_NO_PERSON
from ..profiles import check_height, load_profile, parse_height
from ..profiles import delete_profile as delete_profile_and_sessions
from ..serialize import profile_json
from ..state import AppState, get_state
from ..uploads import clean_upload, read_file_field, read_form, read_json, text_field
from .body import AnalysisSlots, run_while_connected

log = logging.getLogger("tryon.profiles")
MAX_NAME = 80
CHECK_BUSY = "The server is busy checking other photos; try again in a few seconds."


def _check_on_inference_thread(engine: Engine, stored: bytes, sha256: str) -> bool:
    """Analyse the photo as the engine's try-ons will (same analyzer, the same decoded pixels of the
    stored copy at the same size, the same cache key); InputRejected with the profile's own sentence
    when nobody is in it. True once checked (None is run_while_connected's "the client left")."""
    analyzer = engine.person_analyzer() if isinstance(engine, AnalyzesPeople) else None
    if analyzer is None:  # an engine reloaded meanwhile without one: the try-on checks it
        return True
    import numpy as np

    from ..engines.classic import DEFAULT_OUTPUT_SIZE, fit_long_side

    photo = images.open_stored(stored).convert("RGB")  # as the worker will open it: the cache fits it
    pixels = np.asarray(fit_long_side(photo, DEFAULT_OUTPUT_SIZE))
    try:
        analyzer.analyze(pixels, key=sha256)  # cached: the first try-on at the default size reuses it
    except InputRejected as err:
        if err.code == "no_person":  # the try-on's sentence says "the photo"; here it is "this photo"
            raise InputRejected(PROFILE_NO_PERSON, code="no_person") from None
        raise
    except Exception:  # the check failing is no reason to lose the photo: the try-on judges it
        log.exception("checking a profile photo failed; it is stored unchecked")
    return True


async def _check_photo(request: Request, state: AppState, clean: CleanImage) -> bool:
    """False when the client left while its photo waited for the inference thread."""
    if not state.runner.ready or not state.runner.analyzes_people:
        # the models are still loading, or the engine has no analysis of its own (a hosted one
        # sends the photo away and judges it there; loading MediaPipe only to check photos is not
        # worth its memory): the first try-on checks the photo instead
        return True
    stored, sha256 = clean.data, clean.sha256
    try:
        done = await run_while_connected(
            request, state, lambda engine: _check_on_inference_thread(engine, stored, sha256))
    except InferenceTimeout:
        raise NotReady("The server is busy with try-ons; try again in a minute.", code="busy",
                       headers={"Retry-After": "60"}) from None
    return done is not None


async def create_profile(request: Request) -> Response:
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
    # bounded like size estimates: each waiting photo holds its decoded pixels
    with AnalysisSlots.of(request, "profile_check", CHECK_BUSY).take():
        clean = await clean_upload(state, data, "photo")
        if not await _check_photo(request, state, clean):
            return Response(status_code=499)  # the client is gone: store nothing for nobody
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


async def update_profile(request: Request) -> JSONResponse:
    """PATCH {"height_cm": 172} adds or changes the height (a size estimate needs it), null removes
    it. A size estimated with another height no longer holds: it is cleared."""
    owner = await require_owner(request)
    state = get_state(request)
    body = await read_json(request)
    if set(body) != {"height_cm"}:
        raise ValidationFailed('Send your height as {"height_cm": 172}, or {"height_cm": null} to remove it.',
                               code="bad_request_body")
    value = body["height_cm"]
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValidationFailed("height_cm must be a number of centimetres, e.g. 172.", code="bad_height")
    height = None if value is None else check_height(float(value))
    row = await load_profile(state, request.path_params["profile_id"], owner)
    if height != row["height_cm"]:
        await state.db.execute("set_profile_height", id=row["id"], owner=owner, height_cm=height)
    row = await load_profile(state, row["id"], owner)
    return JSONResponse(profile_json(row, state.signer))


async def delete_profile(request: Request) -> Response:
    owner = await require_owner(request)
    await delete_profile_and_sessions(get_state(request), request.path_params["profile_id"], owner)
    return Response(status_code=204)


routes = [
    Route("/api/profiles", create_profile, methods=["POST"]),
    Route("/api/profiles", list_profiles, methods=["GET"]),
    Route("/api/profiles/{profile_id}", get_profile, methods=["GET"]),
    Route("/api/profiles/{profile_id}", update_profile, methods=["PATCH"]),
    Route("/api/profiles/{profile_id}", delete_profile, methods=["DELETE"]),
]
