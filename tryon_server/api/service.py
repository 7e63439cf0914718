"""GET /api/health and GET /metrics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..engines.hosted import photo_recipient
from ..photo_needs import PHOTO_NEEDS
from ..state import get_state


async def health(request: Request) -> JSONResponse:
    state = get_state(request)
    try:
        depth = await state.sessions.depth()
        db_ok = True
    except Exception:
        depth, db_ok = 0, False
    runner = state.runner
    if runner.load_error:
        status, detail = "error", f"The engine failed to load: {runner.load_error}"
    elif not runner.ready:
        status, detail = "loading", "The models are loading; try-ons start when they are ready."
    elif not db_ok:
        status, detail = "error", "The database cannot be used."
    else:
        status, detail = "ok", None
    body = {
        "status": status, "engine": runner.engine_name, "device": runner.device,
        "models_loaded": runner.ready, "queue_depth": depth, "db": "ok" if db_ok else "error",
    }
    if runner.licence:
        body["licence"] = runner.licence
    # a hosted engine breaks "photos never leave this machine": say who receives them, always
    body["photos_sent_to"] = photo_recipient(state.settings.engine)
    # what photo of yourself each category needs: the page and the extension show these words
    body["photo_needs"] = PHOTO_NEEDS
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=200 if status == "ok" else 503, headers={"Cache-Control": "no-store"})


async def metrics(request: Request) -> Response:
    state = get_state(request)
    state.metrics.queue_depth.set(await state.sessions.depth())
    state.metrics.ready.set(1 if state.runner.ready else 0)
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


routes = [
    Route("/api/health", health, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
