"""POST /api/estimate-body: measurements and a size from one full-body photo and a height.

The estimate runs on the inference thread, after any try-on already there. The work that may wait
for it is bounded (an adversarial review queued 60 of them behind a try-on and grew the server
from 73 MB to 1 GB, each holding its decoded photo), and work whose client has gone is dropped
before it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from PIL import Image
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import images
from ..auth import require_owner
from ..db import Row
from ..engines.base import AnalyzesPeople, Engine
from ..exceptions import InferenceTimeout, InputRejected, NotReady, ValidationFailed
from ..profiles import load_profile, require_height
from ..state import AppState, get_state
from ..uploads import clean_upload, read_file_field, read_form, text_field

if TYPE_CHECKING:
    from ..vision.person import PersonAnalyzer

ANALYSIS_LONG_SIDE = 1536
# Estimates waiting for or running on the inference thread, all clients together; one more is
# answered 503 at once. Each holds a decoded photo of up to 2048 px (12 MB) while it waits.
MAX_ESTIMATES_AT_ONCE = 4
ESTIMATE_RETRY_AFTER_S = 10
Estimate = dict[str, Any]  # what estimate_body answers, sent as JSON
T = TypeVar("T")


@functools.cache
def _own_analyzer() -> PersonAnalyzer:
    """For an engine without a PersonAnalyzer (a hosted one): loaded at the first estimate, on the
    inference thread, and kept; one process has one inference thread, so one is enough."""
    from ..vision.person import PersonAnalyzer

    analyzer = PersonAnalyzer()
    analyzer.load()
    return analyzer


def _analyzer_for(engine: Engine) -> PersonAnalyzer:
    """The engine's own PersonAnalyzer (its MediaPipe models are loaded already), else ours."""
    lent = engine.person_analyzer() if isinstance(engine, AnalyzesPeople) else None
    return lent if lent is not None else _own_analyzer()


def parse_body_options(sex: str | None, weight: str | None) -> dict[str, Any]:
    """The optional `sex` ('female'/'male': the survey model is fitted per sex) and `weight_kg`
    (the strongest single predictor of the waist) as keyword arguments for estimate_body."""
    options: dict[str, Any] = {}
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


def _estimate_on_inference_thread(engine: Engine, image: Image.Image, height_cm: float, **options: Any) -> Estimate:
    import numpy as np

    from ..measurements import estimate_body

    rgb = image.convert("RGB")
    rgb.thumbnail((ANALYSIS_LONG_SIDE, ANALYSIS_LONG_SIDE))  # measurements do not depend on resolution
    analyzer = _analyzer_for(engine)
    # the photo and its mirror image, averaged: the same answer for both, steadier than either;
    # a view where no person is found is left out, so the order of the two never matters
    views, refusals = [], []
    for pixels in (np.asarray(rgb), np.ascontiguousarray(np.asarray(rgb)[:, ::-1])):
        try:
            views.append((analyzer.analyze(pixels, key=None), pixels))
        except InputRejected as err:
            refusals.append(err)
    if not views:
        raise refusals[0]
    (analysis, pixels), mirror = views[0], (views[1][0] if len(views) > 1 else None)
    # the pixels too: an arm lying against the body is told from it by colour
    return estimate_body(analysis, height_cm, image=pixels, mirror=mirror, **options)


class AnalysisSlots:
    """A count of the person analyses in flight for one kind of request (size estimates, profile
    photo checks), from before their photo is decoded until their work is done or dropped; one app
    has one per kind (on its Starlette state), used on the event loop only."""

    def __init__(self, limit: int, busy: str) -> None:
        self.limit = limit
        self.busy = busy
        self.taken = 0

    @classmethod
    def of(cls, request: Request, kind: str = "estimate",
           busy: str = "The server is busy with other size estimates; try again in a few seconds.") -> AnalysisSlots:
        slots = getattr(request.app.state, f"{kind}_slots", None)
        if slots is None:
            slots = cls(MAX_ESTIMATES_AT_ONCE, busy)
            setattr(request.app.state, f"{kind}_slots", slots)
        return slots

    @contextlib.contextmanager
    def take(self) -> Iterator[None]:
        if self.taken >= self.limit:
            raise NotReady(self.busy, code="busy", headers={"Retry-After": str(ESTIMATE_RETRY_AFTER_S)})
        self.taken += 1
        try:
            yield
        finally:
            self.taken -= 1


async def _until_disconnected(request: Request) -> None:
    """Returns when the client closes its connection. The body has been read by now, so the
    next message the server has for this request is its disconnect."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def run_while_connected(request: Request, state: AppState, job: Callable[[Engine], T]) -> T | None:
    """Run job(engine) on the inference thread; None (and the job dropped, if it has not started)
    when the client goes away first. The profile photo check (api/profiles.py) runs through it too."""
    gone = threading.Event()

    def unless_gone(engine: Engine) -> T | None:
        # dropped before it started: None, not an exception, which would be logged as "never
        # retrieved" when it reaches the runner's shielded future that nobody awaits any more
        return None if gone.is_set() else job(engine)

    work = asyncio.ensure_future(state.runner.run(unless_gone, timeout_s=state.settings.inference_timeout_s))
    watch = asyncio.ensure_future(_until_disconnected(request))
    try:
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not work.done():
            gone.set()  # left in the queue: it will not run
            work.cancel()
    return None if work.cancelled() else work.result()


async def estimate(request: Request) -> Response:
    owner = await require_owner(request)
    state = get_state(request)
    form = await read_form(request, file_limit=state.settings.max_upload_bytes, max_files=1)
    try:
        height = require_height(text_field(form, "height_cm"))
        options = parse_body_options(text_field(form, "sex"), text_field(form, "weight_kg"))
        profile_id = text_field(form, "profile_id")
        data = await read_file_field(form, "photo")
    finally:
        await form.close()
    if not state.runner.ready:
        raise NotReady("The models are still loading; try again in a few seconds.", headers={"Retry-After": "5"})
    profile = await load_profile(state, profile_id, owner) if profile_id is not None else None  # 404 first
    if data is None and profile is None:
        raise ValidationFailed("Add a full-body photo in the 'photo' field (or a profile_id).", code="photo_required")
    with AnalysisSlots.of(request).take():
        result = await _estimate(request, state, data, profile, height, options)
    if result is None:  # the client is gone: nobody reads this answer
        return Response(status_code=499)
    if profile_id is not None:
        await state.db.execute("set_profile_measurements", id=profile_id, owner=owner,
                               measurements=json.dumps(result))
    return JSONResponse(result)


async def _estimate(request: Request, state: AppState, data: bytes | None, profile: Row | None,
                    height: float, options: dict[str, Any]) -> Estimate | None:
    if data is not None:  # an upload: untrusted, cleaned like any other
        upload = (await clean_upload(state, data, "photo")).image

        def photo() -> Image.Image:
            return upload
    else:  # the profile's photo was cleaned when it was stored
        assert profile is not None
        stored = await state.storage.read(profile["photo_key"])

        def photo() -> Image.Image:
            return images.open_stored(stored)
    # MediaPipe (and decoding) run on the inference thread: never on the event loop, never beside
    # a try-on; the wait includes a try-on that may be running, so the limit is the try-on's own
    try:
        return await run_while_connected(
            request, state, lambda engine: _estimate_on_inference_thread(engine, photo(), height, **options))
    except InferenceTimeout:
        raise NotReady("The server is busy with try-ons; try again in a minute.", code="busy",
                       headers={"Retry-After": "60"}) from None


routes = [Route("/api/estimate-body", estimate, methods=["POST"])]
