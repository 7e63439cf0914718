"""Reading request bodies with limits enforced while they stream.

Starlette's form parser spools files with no size cap, so the body is cut off here: up front
from Content-Length, and while it streams by counting bytes, before the whole body is read.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.types import Message, Receive

from . import images
from .exceptions import BadRequest, PayloadTooLarge

if TYPE_CHECKING:
    from .state import AppState

# room for the multipart boundaries and the text fields beside the files
FORM_OVERHEAD = 256 * 1024


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The upload is larger than {limit / (1024 * 1024):.0f} MB; use a smaller image.", code="upload_too_large"
    )


def limited_request(request: Request, limit: int) -> Request:
    """A view of `request` whose body raises PayloadTooLarge once more than `limit` bytes arrive."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest("The Content-Length header is not a number.", code="bad_content_length")
        if int(declared) > limit:
            raise _too_large(limit)
    received = 0
    upstream: Receive = request.receive

    async def receive() -> Message:
        nonlocal received
        message = await upstream()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(limit)
        return message

    return Request(request.scope, receive)


async def read_form(request: Request, *, file_limit: int, max_files: int) -> FormData:
    """Parse a multipart/urlencoded form with a cap per file and on the whole body."""
    limited = limited_request(request, file_limit * max_files + FORM_OVERHEAD)
    try:
        form = await limited.form(max_files=max_files, max_fields=20, max_part_size=64 * 1024)
    except PayloadTooLarge:
        raise
    except Exception as exc:  # python-multipart / Starlette parse errors
        raise BadRequest(f"The form could not be read: {exc}", code="bad_form") from None
    for value in form.values():
        if isinstance(value, UploadFile) and value.size is not None and value.size > file_limit:
            await form.close()
            raise _too_large(file_limit)
    return form


async def read_file_field(form: FormData, name: str) -> bytes | None:
    value = form.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, UploadFile):
        raise BadRequest(f"The field {name!r} must be a file.", code="bad_form")
    return await value.read()


def text_field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if isinstance(value, UploadFile):
        raise BadRequest(f"The field {name!r} must be text, not a file.", code="bad_form")
    value = value.strip()
    return value or None


async def read_json(request: Request, limit: int = 64 * 1024) -> dict[str, Any]:
    body = await limited_request(request, limit).body()
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("The request body is not valid JSON.", code="bad_json") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.", code="bad_json")
    return data


async def clean_upload(state: AppState, data: bytes, what: str) -> images.CleanImage:
    """An uploaded image decoded, checked and re-encoded without its metadata (images.py), within
    this server's pixel limit; `what` names it in the refusal ("photo", "garment image")."""
    return await images.clean_untrusted(data, max_pixels=state.settings.max_image_pixels, what=what)
