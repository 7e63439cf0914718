"""Try-on sessions: submit, watch (poll or SSE), keep, delete, and the archive."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..auth import client_address, require_owner
from ..db import Row
from ..downloads import download_image
from ..engines.base import CATEGORIES
from ..exceptions import BadRequest, NotFound, NotReady, QueueFull, ValidationFailed
from ..profiles import load_profile
from ..schemas import MAX_METADATA_BYTES, PRODUCT_TEXT, EngineOptions, KeepBody, SessionCreateJson
from ..serialize import session_json
from ..state import AppState, get_state
from ..status import TERMINAL, Status
from ..uploads import clean_upload, read_file_field, read_form, read_json, text_field

log = logging.getLogger("tryon.sessions")

# The metadata keys the page and the extension show on an archive tile are checked here, with the
# lengths of schemas.PRODUCT_TEXT (which the API docs state), so what is shown is plain text of a
# sensible length (any other key passes through as the client sent it); a refusal names each so:
_PRODUCT_NOUN = {"title": "the product's name", "shop": "the shop's name", "brand": "the brand",
                 "price": "the price as shown", "currency": "a currency code such as EUR"}
EVENT_REFRESH_S = 2.0  # SSE streams re-read their session at least this often (queue positions move)


def _pydantic_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "body"
    return f"{where}: {first.get('msg', 'is not valid')}."


def _parse_category(value: str | None) -> str:
    category = (value or "upper").strip().lower()
    if category not in CATEGORIES:
        raise ValidationFailed(f"category must be one of: {', '.join(CATEGORIES)}.", code="bad_category")
    return category


def _parse_page_url(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        scheme = urlsplit(value).scheme
    except ValueError:
        scheme = ""
    if len(value) > 2048 or scheme not in ("http", "https"):
        raise ValidationFailed("page_url must be an http(s) address of at most 2048 characters.", code="bad_page_url")
    return value


def _parse_metadata(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise ValidationFailed("metadata must be a JSON object.", code="bad_metadata") from None
    if not isinstance(value, dict):
        raise ValidationFailed("metadata must be a JSON object.", code="bad_metadata")
    _check_product_fields(value)
    try:
        # NaN/Infinity are not JSON: stored, they would break every later answer about this session
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (ValueError, RecursionError):
        raise ValidationFailed("metadata must be plain JSON (no NaN or Infinity).", code="bad_metadata") from None
    if len(text) > MAX_METADATA_BYTES:
        raise ValidationFailed(f"metadata is too long (at most {MAX_METADATA_BYTES // 1024} KB).", code="bad_metadata")
    return text


def _check_product_fields(metadata: dict[str, Any]) -> None:
    for key, limit in PRODUCT_TEXT.items():
        value = metadata.get(key)
        if value is None:
            continue
        # a price may also be a plain number (JSON clients); never a boolean, NaN or below zero
        if key == "price" and isinstance(value, int | float) and not isinstance(value, bool) \
                and math.isfinite(value) and value >= 0:
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            either = "a number from 0 or " if key == "price" else ""
            raise ValidationFailed(f"metadata.{key} must be {either}text of 1 to {limit} characters "
                                   f"({_PRODUCT_NOUN[key]}).", code="bad_metadata")


def _parse_options(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except (ValueError, RecursionError):
            raise ValidationFailed("options must be a JSON object.", code="bad_options") from None
    try:
        options = value if isinstance(value, EngineOptions) else EngineOptions.model_validate(value or {})
    except ValidationError as exc:
        raise ValidationFailed(f"options are not valid: {_pydantic_message(exc)}", code="bad_options") from None
    return options.model_dump_json(exclude_none=True)


async def render(state: AppState, row: Row) -> dict[str, Any]:
    return session_json(row, state.signer, queue_position=await state.sessions.position(row),
                        live=state.events.live(row["id"]))


async def load_session(state: AppState, session_id: str, owner: str) -> Row:
    row = await state.db.read_one("get_session", id=session_id, owner=owner)  # the poll path: fast read
    if row is None:
        raise NotFound("No such try-on session.", code="session_not_found")
    return row


class _Submission:
    """What one POST carries, gathered from multipart or JSON before any image work."""

    person_data: bytes | None = None
    profile_id: str | None = None
    garment_data: bytes | None = None
    garment_url: str | None = None
    category: str = "upper"
    page_url: str | None = None
    metadata: str | None = None
    options: str = "{}"


async def _read_submission(request: Request, state: AppState) -> _Submission:
    sub = _Submission()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        raw = await read_json(request)
        try:
            body = SessionCreateJson.model_validate(raw)
        except ValidationError as exc:
            raise ValidationFailed(_pydantic_message(exc), code="bad_request_body") from None
        # keep the address exactly as the client sent it (the model normalises it)
        sub.profile_id, sub.garment_url, sub.category = body.profile_id, raw["garment_url"], body.category
        sub.page_url = _parse_page_url(body.page_url)
        sub.metadata = _parse_metadata(body.metadata)
        sub.options = _parse_options(body.options)
        return sub
    if content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise BadRequest("Send the session as multipart/form-data or as JSON.", code="bad_content_type")
    form = await read_form(request, file_limit=state.settings.max_upload_bytes, max_files=2)
    try:
        sub.category = _parse_category(text_field(form, "category"))
        sub.page_url = _parse_page_url(text_field(form, "page_url"))
        sub.metadata = _parse_metadata(text_field(form, "metadata"))
        sub.options = _parse_options(text_field(form, "options"))
        sub.profile_id = text_field(form, "profile_id")
        sub.garment_url = text_field(form, "garment_url")
        sub.person_data = await read_file_field(form, "person")
        sub.garment_data = await read_file_field(form, "garment")
    finally:
        await form.close()
    if (sub.person_data is None) == (sub.profile_id is None):
        raise ValidationFailed("Send either a 'person' photo or a 'profile_id' (one of the two).", code="person_required")
    if (sub.garment_data is None) == (sub.garment_url is None):
        raise ValidationFailed("Send either a 'garment' image or a 'garment_url' (one of the two).", code="garment_required")
    return sub


async def create_session(request: Request) -> JSONResponse:
    owner = await require_owner(request)
    state = get_state(request)
    state.limiter.check_submit(client_address(request), owner)
    if state.runner.load_error:
        # accepting work that can never run would leave it queued forever
        raise NotReady("The try-on engine failed to start, so no try-on can run; see the server's log.",
                       code="engine_unavailable", headers={"Retry-After": "60"})
    if await state.sessions.depth() >= state.settings.queue_max:
        raise QueueFull("The try-on queue is full; try again in a minute.", headers={"Retry-After": "30"})
    await state.sessions.quota.check(state.db, owner)  # before reading the uploads; the insert checks again
    sub = await _read_submission(request, state)

    # person: a profile's photo (a hard link the session owns: its expiry removes only its name) or an upload
    if sub.profile_id is not None:
        profile = await load_profile(state, sub.profile_id, owner)
        try:
            person_key = await state.storage.link_copy(profile["photo_key"])
        except FileNotFoundError:  # the profile was deleted a moment ago
            raise NotFound("No such profile.", code="profile_not_found") from None
        person_sha = profile["photo_sha256"]
    else:
        person = await clean_upload(state, sub.person_data or b"", "photo")
        person_key = await state.storage.save("inputs", person.extension, person.data)
        person_sha = person.sha256
    try:
        if sub.garment_url is not None:
            sub.garment_data = await download_image(
                sub.garment_url, max_bytes=state.settings.max_upload_bytes,
                timeout_s=state.settings.download_timeout_s,
                allow_loopback=state.settings.allow_loopback_downloads,
            )
        garment = await clean_upload(state, sub.garment_data or b"", "garment image")
        garment_key = await state.storage.save("inputs", garment.extension, garment.data)
    except BaseException:
        await state.storage.delete([person_key])
        raise

    # committed as queued before the 202 leaves: from here on nothing can lose it
    session_id = await state.sessions.submit(
        owner, category=sub.category, person_key=person_key, person_sha256=person_sha, garment_key=garment_key,
        profile_id=sub.profile_id, source_url=sub.garment_url, page_url=sub.page_url, metadata=sub.metadata,
        options=sub.options,
    )
    row = await load_session(state, session_id, owner)
    poll_url = f"/api/tryon/sessions/{session_id}"
    return JSONResponse(
        {"session_id": session_id, "status": Status.QUEUED, "queue_position": await state.sessions.position(row),
         "poll_url": poll_url, "events_url": f"{poll_url}/events"},
        status_code=202, headers={"Location": poll_url},
    )


async def get_session(request: Request) -> JSONResponse:
    owner = await require_owner(request)
    state = get_state(request)
    row = await load_session(state, request.path_params["session_id"], owner)
    return JSONResponse(await render(state, row))


async def session_events(request: Request) -> EventSourceResponse:
    owner = await require_owner(request)
    state = get_state(request)
    session_id = request.path_params["session_id"]
    await load_session(state, session_id, owner)  # 404 before the stream starts

    async def stream() -> AsyncIterator[dict[str, str]]:
        wake = state.events.watch(session_id)
        last = None
        try:
            while True:
                wake.clear()  # before reading: a change from here on wakes the next wait
                row = await state.db.fetch_one("get_session", id=session_id, owner=owner)
                if row is None:
                    yield {"event": "deleted", "data": json.dumps({"session_id": session_id})}
                    return
                data = json.dumps(await render(state, row))
                if data != last:
                    yield {"event": "session", "data": data}
                    last = data
                if Status(row["status"]) in TERMINAL:
                    return
                try:
                    await asyncio.wait_for(wake.wait(), EVENT_REFRESH_S)
                except TimeoutError:
                    pass
        finally:
            state.events.unwatch(session_id, wake)

    return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def delete_session(request: Request) -> Response:
    owner = await require_owner(request)
    state = get_state(request)
    if not await state.sessions.delete(request.path_params["session_id"], owner):
        raise NotFound("No such try-on session.", code="session_not_found")
    return Response(status_code=204)


async def keep_session(request: Request) -> JSONResponse:
    owner = await require_owner(request)
    state = get_state(request)
    try:
        body = KeepBody.model_validate(await read_json(request))
    except ValidationError as exc:
        raise ValidationFailed(_pydantic_message(exc), code="bad_request_body") from None
    session_id = request.path_params["session_id"]
    if not await state.sessions.keep(session_id, owner, body.keep):
        raise NotFound("No such try-on session.", code="session_not_found")
    return JSONResponse(await render(state, await load_session(state, session_id, owner)))


def _encode_cursor(row: Row) -> str:
    return base64.urlsafe_b64encode(json.dumps([row["created_at"], row["seq"]]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, int]:
    try:
        created, seq = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        created, seq = float(created), int(seq)
        if not (0 <= created < 1e11 and 0 <= seq < 2**63):
            raise ValueError("out of range")
        return created, seq
    except (ValueError, TypeError, UnicodeDecodeError, OverflowError, RecursionError):
        raise BadRequest("The archive cursor is not valid; start again without it.", code="bad_cursor") from None


async def archive(request: Request) -> JSONResponse:
    owner = await require_owner(request)
    state = get_state(request)
    raw_limit = request.query_params.get("limit", "20")
    if not (raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 3 and 1 <= int(raw_limit) <= 100):
        raise BadRequest("limit must be a whole number from 1 to 100.", code="bad_limit")
    limit = int(raw_limit)
    cursor = request.query_params.get("cursor")
    created, seq = _decode_cursor(cursor) if cursor else (None, None)
    rows = await state.db.fetch_all("archive_page", owner=owner, cursor_created=created, cursor_seq=seq, limit=limit + 1)
    items = [session_json(r, state.signer, queue_position=0) for r in rows[:limit]]
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return JSONResponse({"items": items, "next_cursor": next_cursor})


routes = [
    # the status poll first: it is by far the most frequent request
    Route("/api/tryon/sessions/{session_id}", get_session, methods=["GET"]),
    Route("/api/tryon/sessions", create_session, methods=["POST"]),
    Route("/api/tryon/archive", archive, methods=["GET"]),
    Route("/api/tryon/sessions/{session_id}", delete_session, methods=["DELETE"]),
    Route("/api/tryon/sessions/{session_id}/events", session_events, methods=["GET"]),
    Route("/api/tryon/sessions/{session_id}/keep", keep_session, methods=["POST"]),
]
