"""Fitting profiles outside HTTP: finding one of an owner's, reading a height, deleting one with
what was made from it. The profile routes (api/profiles.py), the try-on routes and body estimation
share these."""

from __future__ import annotations

from .db import Row
from .exceptions import NotFound, ValidationFailed
from .state import AppState

MIN_HEIGHT_CM, MAX_HEIGHT_CM = 50, 250


def parse_height(text: str | None) -> float | None:
    """The optional `height_cm` field: None when it is left out, 400 when it is not a height."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValidationFailed("height_cm must be a number of centimetres, e.g. 172.", code="bad_height") from None
    return check_height(value)


def check_height(value: float) -> float:
    """A height in centimetres within what a person can be (NaN and infinities are not), or 422."""
    if not MIN_HEIGHT_CM <= value <= MAX_HEIGHT_CM:
        raise ValidationFailed(f"height_cm must be between {MIN_HEIGHT_CM} and {MAX_HEIGHT_CM} centimetres.",
                               code="bad_height")
    return value


def require_height(text: str | None) -> float:
    """The `height_cm` field where an answer cannot do without it (body estimation scales by it)."""
    height = parse_height(text)
    if height is None:
        raise ValidationFailed("Give your height in centimetres (height_cm).", code="height_required")
    return height


async def load_profile(state: AppState, profile_id: str, owner: str) -> Row:
    row = await state.db.fetch_one("get_profile", id=profile_id, owner=owner)
    if row is None:
        raise NotFound("No such profile.", code="profile_not_found")
    return row


async def delete_profile(state: AppState, profile_id: str, owner: str) -> None:
    """The profile, its photo, and the try-ons made from it (they are derived from the photo:
    the API promises they are gone from disk too; running ones are cancelled at their next step)."""
    row = await load_profile(state, profile_id, owner)
    await state.sessions.delete_for_profile(row["id"], owner)  # the profile row with them, in one go
    await state.storage.delete([row["photo_key"]])
