"""POST /api/estimate-body: measurements and a size from one full-body photo and a height."""

from __future__ import annotations

import json

from PIL import Image
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .. import images
from ..auth import require_owner
from ..exceptions import InferenceTimeout, NotReady, ValidationFailed
from ..state import get_state
from ..uploads import read_file_field, read_form, text_field
from .profiles import clean_upload, load_profile, parse_height

ANALYSIS_LONG_SIDE = 1536
_own_analyzer = None  # only for an engine without one; created and used on the inference thread


def _analyzer_for(engine: object):
    """The engine's own PersonAnalyzer (its MediaPipe models are loaded already), else one of ours."""
    from ..vision.person import PersonAnalyzer

    global _own_analyzer
    analyzer = getattr(engine, "analyzer", None)
    if isinstance(analyzer, PersonAnalyzer):
        return analyzer
    if _own_analyzer is None:
        _own_analyzer = PersonAnalyzer()
        _own_analyzer.load()
    return _own_analyzer


def parse_body_options(sex: str | None, weight: str | None) -> dict:
    """The optional `sex` ('female'/'male': the survey model is fitted per sex) and `weight_kg`
    (the strongest single predictor of the waist) as keyword arguments for estimate_body."""
    options: dict = {}
    if sex is not None:
        if sex.lower() not in ("female", "male"):
            raise ValidationFailed("sex must be 'female' or 'male', or left out.", code="bad_sex")
        options["sex"] = sex.lower()
    if weight is not None:
        try:
            options["weight_kg"] = float(weight)
        except ValueError:
            raise ValidationFailed("weight_kg must be a number of kilograms, e.g. 70.", code="bad_weight") from None
        if not 30 <= options["weight_kg"] <= 250:
            raise ValidationFailed("weight_kg must be between 30 and 250 kilograms.", code="bad_weight")
    return options


def _estimate_on_inference_thread(engine: object, image: Image.Image, height_cm: float, **options) -> dict:
    import numpy as np

    from ..measurements import estimate_body

    rgb = image.convert("RGB")
    rgb.thumbnail((ANALYSIS_LONG_SIDE, ANALYSIS_LONG_SIDE))  # measurements do not depend on resolution
    analysis = _analyzer_for(engine).analyze(np.asarray(rgb), key=None)
    # the photo itself too: an arm lying against the body is told from it by colour
    return estimate_body(analysis, height_cm, image=np.asarray(rgb), **options)


async def estimate(request: Request) -> JSONResponse:
    owner = await require_owner(request)
    state = get_state(request)
    form = await read_form(request, file_limit=state.settings.max_upload_bytes, max_files=1)
    try:
        height = parse_height(text_field(form, "height_cm"), required=True)
        options = parse_body_options(text_field(form, "sex"), text_field(form, "weight_kg"))
        profile_id = text_field(form, "profile_id")
        data = await read_file_field(form, "photo")
    finally:
        await form.close()
    if not state.runner.ready:
        raise NotReady("The models are still loading; try again in a few seconds.", headers={"Retry-After": "5"})
    profile = await load_profile(state, profile_id, owner) if profile_id is not None else None  # 404 first
    if data is not None:  # an upload: untrusted, cleaned like any other
        upload = (await clean_upload(state, data, "photo")).image

        def photo() -> Image.Image:
            return upload
    elif profile is not None:  # the profile's photo was cleaned when it was stored
        stored = await state.storage.read(profile["photo_key"])

        def photo() -> Image.Image:
            return images.open_stored(stored)
    else:
        raise ValidationFailed("Add a full-body photo in the 'photo' field (or a profile_id).", code="photo_required")
    # MediaPipe (and decoding) run on the inference thread: never on the event loop, never beside
    # a try-on; the wait includes a try-on that may be running, so the limit is the try-on's own
    try:
        result = await state.runner.run(lambda engine: _estimate_on_inference_thread(engine, photo(), height, **options),
                                        timeout_s=state.settings.inference_timeout_s)
    except InferenceTimeout:
        raise NotReady("The server is busy with try-ons; try again in a minute.", code="busy",
                       headers={"Retry-After": "60"}) from None
    if profile_id is not None:
        await state.db.execute("set_profile_measurements", id=profile_id, owner=owner,
                               measurements=json.dumps(result))
    return JSONResponse(result)


routes = [Route("/api/estimate-body", estimate, methods=["POST"])]
