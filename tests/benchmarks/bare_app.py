"""The yardstick for status polling: a bare Starlette JSON endpoint under the same uvicorn
(uvloop + httptools, no access log) that run.py uses, answering a session-shaped body of the
same size as a real poll, with no middleware, no auth and no database.

    python tests/benchmarks/bare_app.py --port 8200   # then: wrk -c64 http://127.0.0.1:8200/json
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

# the shape and size of a queued session as GET /api/tryon/sessions/{id} answers it
BODY = {
    "session_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "status": "queued", "progress": 0.0,
    "queue_position": 12, "stage": "queued", "category": "upper", "attempts": 0, "result_url": None,
    "person_image_url": "/api/images/inputs/3f2a9c1d0e8b7a6f5e4d3c2b1a0f9e8d.jpg"
                        "?exp=1790000000&sig=0123456789abcdef0123456789abcdef",
    "garment_image_url": "/api/images/inputs/9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b.jpg"
                         "?exp=1790000000&sig=fedcba9876543210fedcba9876543210",
    "source_url": None, "page_url": None, "profile_id": None, "metadata": None, "error": None,
    "error_code": None, "created_at": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T10:00:00Z",
    "expires_at": "2026-11-23T10:00:00Z", "kept": False,
}


async def json_endpoint(request: Request) -> JSONResponse:
    return JSONResponse(BODY)


app = Starlette(routes=[Route("/json", json_endpoint)])

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8200)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
