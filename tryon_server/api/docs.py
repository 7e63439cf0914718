"""GET /openapi.json and /api/docs (Swagger UI from the swagger-ui-bundle wheel: no CDN)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from .. import __version__, schemas
from ..engines.base import CATEGORIES

_MODELS: list[type[BaseModel]] = [
    schemas.EngineOptions, schemas.SessionCreateJson, schemas.KeepBody, schemas.TokenOut, schemas.TokenCurrent,
    schemas.ProfileOut, schemas.ProfileHeight, schemas.ProfileList, schemas.SessionOut, schemas.Accepted,
    schemas.Archive, schemas.Health, schemas.ErrorOut, schemas.BodyEstimate,
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Malformed request", 401: "Missing or unknown token", 403: "Forbidden", 404: "Not found",
            413: "Upload too large", 415: "Not an allowed image", 422: "Invalid input",
            429: "Too many requests", 503: "Not ready or queue full"}
    return {str(c): _json("ErrorOut", text[c]) for c in codes}


BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
# a form field the server strips: blank text counts as absent
_TEXT_ID = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "\\S"}
_IMAGE = {"type": "string", "format": "binary"}
_ID = lambda name: {"name": name, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}  # noqa: E731


def _to_openapi_30(node: Any) -> Any:
    """Pydantic writes JSON Schema 2020-12; OpenAPI 3.0 (which Swagger UI 4 renders) spells two
    things differently: `nullable: true` instead of a `{"type": "null"}` branch, and a boolean
    `exclusiveMinimum` beside `minimum` instead of a number."""
    if isinstance(node, list):
        return [_to_openapi_30(x) for x in node]
    if not isinstance(node, dict):
        return node
    node = {k: _to_openapi_30(v) for k, v in node.items()}
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        if isinstance(branches, list) and {"type": "null"} in branches:
            rest = [b for b in branches if b != {"type": "null"}]
            del node[key]
            if len(rest) == 1 and "$ref" not in rest[0]:
                node.update(rest[0])
            else:  # a $ref cannot carry siblings in 3.0: wrap it
                node["allOf" if len(rest) == 1 else key] = rest
            node["nullable"] = True
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node.get(bound), bool):
            node[flag] = node.pop(bound)
            node[bound] = True
    return node


# one server-sent event: `session` carries the session object as JSON text; `deleted` ends the stream
_SSE_EVENT = {"type": "object", "required": ["data"], "properties": {
    "event": {"type": "string", "enum": ["session", "deleted"]},
    "data": {"type": "string", "description": "The session object (or {\"session_id\"} when deleted), as JSON."},
    "id": {"type": "string"}, "retry": {"type": "integer"}}}

# what the server checks beyond the pydantic models (see api/sessions.py)
_HTTP_URL = {"pattern": "^https?://"}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    _, top = models_json_schema([(m, "serialization") for m in _MODELS], ref_template="#/components/schemas/{model}")
    components = _to_openapi_30(top.get("$defs", {}))
    json_form = components["SessionCreateJson"]["properties"]
    json_form["garment_url"].update(_HTTP_URL)
    json_form["page_url"].update(_HTTP_URL)
    common = _errors(401, 429)
    session_form = {
        "type": "object",
        "description": "A person (`person` photo or `profile_id`, exactly one) and a garment (`garment` image "
                       "or `garment_url`, exactly one).",
        "properties": {
            "person": _IMAGE, "profile_id": _TEXT_ID, "garment": _IMAGE,
            "garment_url": {"type": "string", "format": "uri", "pattern": "^https?://", "maxLength": 2048},
            "category": {"type": "string", "enum": list(CATEGORIES), "default": "upper"},
            "page_url": {"type": "string", "format": "uri", "pattern": "^https?://", "maxLength": 2048},
            "metadata": {"type": "string", "description": f"As JSON text. {schemas.METADATA_HELP}"},
            "options": {"type": "string", "description": "EngineOptions as JSON text."},
        },
        "allOf": [{"oneOf": [{"required": ["person"]}, {"required": ["profile_id"]}]},
                  {"oneOf": [{"required": ["garment"]}, {"required": ["garment_url"]}]}],
    }
    paths: dict[str, Any] = {
        "/api/tokens": {"post": {
            "summary": "Get an anonymous token (256 random bits; the server keeps only its hash).",
            "security": [], "responses": {"201": _json("TokenOut", "Created"), **_errors(429)}}},
        "/api/tokens/current": {
            "get": {"summary": "This token's daily try-on quota: limit, used, left, when it resets (null: none).",
                    "security": BEARER, "responses": {"200": _json("TokenCurrent"), **common}},
            "delete": {
                "summary": "Delete all my data: every profile, session and image of this token, and the token.",
                "security": BEARER, "responses": {"204": {"description": "Deleted"}, **common}}},
        "/api/profiles": {
            "post": {"summary": "Add a fitting profile (a photo of yourself). With an engine that analyses people "
                                "itself (classic, diffusion, catvton) the photo is checked first: one with no "
                                "person in it is refused (422 `no_person`) with what photo to take; with more "
                                "than 4 photos waiting to be checked, 503 `busy` with Retry-After.",
                     "security": BEARER,
                     "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                         "type": "object", "required": ["photo"],
                         "properties": {"photo": _IMAGE, "name": {"type": "string", "maxLength": 80},
                                        "height_cm": {"type": "number", "minimum": 50, "maximum": 250}}}}}},
                     "responses": {"201": _json("ProfileOut", "Created"), **common,
                                   **_errors(400, 413, 415, 422, 503)}},
            "get": {"summary": "List my profiles.", "security": BEARER,
                    "responses": {"200": _json("ProfileList"), **common}}},
        "/api/profiles/{profile_id}": {
            "parameters": [_ID("profile_id")],
            "get": {"summary": "One profile.", "security": BEARER,
                    "responses": {"200": _json("ProfileOut"), **common, **_errors(404)}},
            "patch": {"summary": "Add, change or (null) remove the profile's height; a size estimated with "
                                 "another height is cleared.", "security": BEARER,
                      "requestBody": {"required": True,
                                      "content": {"application/json": {"schema": _ref("ProfileHeight")}}},
                      "responses": {"200": _json("ProfileOut"), **common, **_errors(400, 404, 422)}},
            "delete": {"summary": "Delete a profile, its photo and the try-ons made from it (kept ones too: "
                                  "`tryon_count` says how many, failed ones not counted).",
                       "security": BEARER,
                       "responses": {"204": {"description": "Deleted"}, **common, **_errors(404)}}},
        "/api/tryon/sessions": {"post": {
            "summary": "Start a try-on: a person (photo or profile) wearing one garment (image or URL).",
            "security": BEARER,
            "requestBody": {"required": True, "content": {
                "multipart/form-data": {"schema": session_form},
                "application/json": {"schema": _ref("SessionCreateJson")}}},
            "responses": {"202": {**_json("Accepted", "Accepted and queued"),
                                  "headers": {"Location": {"schema": {"type": "string"}}}},
                          **common, **_errors(400, 404, 413, 415, 422, 503)}}},
        "/api/tryon/sessions/{session_id}": {
            "parameters": [_ID("session_id")],
            "get": {"summary": "A session's status, progress and result.", "security": BEARER,
                    "responses": {"200": _json("SessionOut"), **common, **_errors(404)}},
            "delete": {"summary": "Delete a session and its images; cancels it if queued or running.",
                       "security": BEARER, "responses": {"204": {"description": "Deleted"}, **common, **_errors(404)}}},
        "/api/tryon/sessions/{session_id}/events": {
            "parameters": [_ID("session_id")],
            "get": {"summary": "Server-sent events: the session object on every change; ends when it is done.",
                    "security": BEARER,
                    "responses": {"200": {"description": "An event stream",
                                          "content": {"text/event-stream": {"schema": _SSE_EVENT}}},
                                  **common, **_errors(404)}}},
        "/api/tryon/sessions/{session_id}/keep": {
            "parameters": [_ID("session_id")],
            "post": {"summary": "Keep (exempt from expiry) or un-keep a session.", "security": BEARER,
                     "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("KeepBody")}}},
                     "responses": {"200": _json("SessionOut"), **common, **_errors(400, 404, 422)}}},
        "/api/tryon/archive": {"get": {
            "summary": "My completed sessions, newest first.", "security": BEARER,
            "parameters": [
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
                {"name": "cursor", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": _json("Archive"), **common, **_errors(400)}}},
        "/api/estimate-body": {"post": {
            "summary": "Body measurements (each a value and a range) and sizes from a full-body photo and your "
                       "height; sex and weight are optional and narrow the ranges.", "security": BEARER,
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["height_cm"],
                "properties": {"photo": _IMAGE, "height_cm": {"type": "number", "minimum": 50, "maximum": 250},
                               "profile_id": _TEXT_ID,
                               "sex": {"type": "string", "enum": ["female", "male"], "description":
                                       "Optional. The survey model is fitted per sex; without it both are "
                                       "weighed by how well each explains the photo's breadths."},
                               "weight_kg": {"type": "number", "minimum": 30, "maximum": 250, "description":
                                             "Optional. The strongest single predictor of the waist: on the "
                                             "survey it takes the waist error from 2.3 to 2.1 cm with a perfect "
                                             "photo, from 8.6 to 3.6 cm with a photo that shows nothing."}},
                "anyOf": [{"required": ["photo"]}, {"required": ["profile_id"]}]}}}},
            "responses": {"200": _json("BodyEstimate"), **common, **_errors(400, 404, 413, 415, 422, 503)}}},
        "/api/images/{key}": {"get": {
            "summary": "A stored image, by the signed link the API handed out.", "security": [],
            "parameters": [{"name": "key", "in": "path", "required": True, "schema": {"type": "string"}},
                           {"name": "exp", "in": "query", "required": True, "schema": {"type": "string"}},
                           {"name": "sig", "in": "query", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The image", "content": {"image/png": {"schema": _IMAGE},
                                                                         "image/jpeg": {"schema": _IMAGE}}},
                          **_errors(403, 404)}}},
        "/api/health": {"get": {
            "summary": "Ready when the models are loaded and the database answers.", "security": [],
            "responses": {"200": _json("Health"), "503": _json("Health", "Loading, or broken")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics.", "security": [],
                             "responses": {"200": {"description": "Prometheus text format",
                                                   "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Local virtual try-on server", "version": __version__,
                 "description": "Every error body is {\"error\": {\"code\", \"message\"}}. See README.md."},
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": BEARER,
    }


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document())


# Swagger UI lays an operation out in one row (method, path, summary) made for a desktop: on a
# phone the path was squeezed to one letter a line. Under 600 px the summary takes a line of its
# own under the method and the path; code and tables scroll inside their own box, never the page.
DOCS_PHONE_CSS = """
body { margin: 0; }
.swagger-ui .wrapper { padding: 0 12px; }
@media (max-width: 600px) {
  .swagger-ui .info { margin: 16px 0; }
  .swagger-ui .info .title { font-size: 24px; }
  .swagger-ui .opblock .opblock-summary { flex-wrap: wrap; row-gap: 4px; }
  .swagger-ui .opblock .opblock-summary-control { flex-wrap: wrap; row-gap: 4px; }
  .swagger-ui .opblock .opblock-summary-path { flex: 1 1 0; max-width: none; min-width: 0;
    word-break: normal; overflow-wrap: anywhere; font-size: 14px; }
  .swagger-ui .opblock .opblock-summary-description { flex: 1 1 100%; order: 9; padding: 0 4px 2px; }
  .swagger-ui .opblock .opblock-summary-method { min-width: 64px; font-size: 12px; }
  .swagger-ui .opblock-body pre, .swagger-ui .highlight-code, .swagger-ui .model-box,
  .swagger-ui .table-container, .swagger-ui .responses-inner { overflow-x: auto; max-width: 100%; }
  .swagger-ui .scheme-container .schemes { justify-content: flex-start; }
  .swagger-ui .parameters-col_description { width: auto; }
}
"""

DOCS_HTML = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Try-on server API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">
<style>{DOCS_PHONE_CSS}</style>
<link rel="icon" href="/img/logo.svg" type="image/svg+xml"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script></body></html>"""

DOCS_INIT = "window.ui = SwaggerUIBundle({url: '/openapi.json', dom_id: '#swagger-ui'});"


async def docs_page(request: Request) -> HTMLResponse:
    return HTMLResponse(DOCS_HTML)


async def docs_init(request: Request) -> HTMLResponse:
    return HTMLResponse(DOCS_INIT, media_type="text/javascript")


routes = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/api/docs", docs_page, methods=["GET"]),
    Route("/api/docs/init.js", docs_init, methods=["GET"]),
    Mount("/api/docs/assets", app=StaticFiles(directory=swagger_ui_path), name="swagger-assets"),
]
