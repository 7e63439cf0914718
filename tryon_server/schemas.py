"""The API's data shapes (pydantic): request validation and the OpenAPI document share them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from .engines.base import (
    MAX_GUIDANCE,
    MAX_OUTPUT_SIZE,
    MAX_SEED,
    MAX_STEPS,
    MIN_GUIDANCE,
    MIN_OUTPUT_SIZE,
    MIN_STEPS,
    Category,
)
from .status import Status


class EngineOptions(BaseModel):
    """Per-session engine options; every one is optional and has a sensible default."""

    model_config = ConfigDict(extra="forbid")

    output_size: int = Field(1024, ge=MIN_OUTPUT_SIZE, le=MAX_OUTPUT_SIZE,
                             description="Long side of the result in pixels.")
    steps: int | None = Field(None, ge=MIN_STEPS, le=MAX_STEPS, description="Denoising steps (GPU engines).")
    guidance: float | None = Field(None, ge=MIN_GUIDANCE, le=MAX_GUIDANCE,
                                   description="Classifier-free guidance scale (GPU engines).")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="Seed for a reproducible result (GPU engines).")
    strength: float | None = Field(None, gt=0, le=1,
                                   description="How much the masked area is repainted (diffusion; catvton: always all).")
    fast: bool = Field(False, description="Fewer steps, quicker result (GPU engines).")


# The metadata keys the page and the extension show on an archive tile, with their most characters:
# api/sessions.py checks them with these numbers and the help below states them, so the two agree.
PRODUCT_TEXT: dict[str, int] = {"title": 300, "shop": 120, "brand": 120, "price": 40, "currency": 10}
MAX_METADATA_BYTES = 16 * 1024
METADATA_HELP = ("What the client knows about the product, as a JSON object of at most "
                 f"{MAX_METADATA_BYTES // 1024} KB. The page and the extension show these keys when present: "
                 f"`title` (at most {PRODUCT_TEXT['title']} characters), `shop` ({PRODUCT_TEXT['shop']}), `brand` "
                 f"({PRODUCT_TEXT['brand']}), `price` (text of at most {PRODUCT_TEXT['price']} characters as the shop "
                 f"shows it, or a number from 0) and `currency` ({PRODUCT_TEXT['currency']}, e.g. EUR); each is "
                 "non-blank text, else 422. Other keys are kept as sent.")


class SessionCreateJson(BaseModel):
    """JSON form of POST /api/tryon/sessions (for clients that send a garment URL)."""

    model_config = ConfigDict(extra="forbid")

    profile_id: str = Field(min_length=1, max_length=64)
    garment_url: HttpUrl
    category: Category = "upper"
    page_url: str | None = Field(None, max_length=2048)
    metadata: dict[str, Any] | None = Field(None, description=METADATA_HELP)
    options: EngineOptions | None = None


class KeepBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keep: bool = Field(strict=True)  # true or false, not 0, 1 or "yes"


class TokenOut(BaseModel):
    token: str


class QuotaOut(BaseModel):
    """Today's try-ons of this token under the server's --daily-quota."""

    limit: int = Field(description="Try-ons a token may start per UTC day.")
    used: int = Field(description="Started today, less those given back (failed through no fault of the photos).")
    left: int
    resets_at: str = Field(description="The next midnight UTC, when `used` starts again from 0.")


class TokenCurrent(BaseModel):
    quota: QuotaOut | None = Field(description="null when the server has no daily quota.")


class ProfileOut(BaseModel):
    profile_id: str
    name: str
    height_cm: float | None
    photo_url: str
    created_at: str
    measurements: dict[str, Any] | None = None
    tryon_count: int = Field(ge=0, description="Try-ons made from this profile's photo, finished (those the archive "
                             "lists) or still running; deleting the profile deletes them too, and any failed ones "
                             "(not counted).")
    kept_count: int = Field(ge=0, description="How many of those are kept; they are deleted with the profile too.")


class ProfileHeight(BaseModel):
    """PATCH /api/profiles/{id}: add, change or (null) remove the height a size estimate needs."""

    model_config = ConfigDict(extra="forbid")
    height_cm: float | None = Field(ge=50, le=250, description="Your height in centimetres, or null to remove it.")


class ProfileList(BaseModel):
    items: list[ProfileOut]


class SessionOut(BaseModel):
    session_id: str
    status: Status
    progress: float = Field(ge=0, le=1)
    queue_position: int = Field(ge=0)
    stage: str | None
    category: Category
    attempts: int
    retry_in_s: int | None = Field(None, description="while queued waiting for a hosted engine's provider that "
                                   "rate-limits this server: seconds until the try-on runs again")
    result_url: str | None
    person_image_url: str | None
    garment_image_url: str | None
    source_url: str | None
    page_url: str | None
    profile_id: str | None
    metadata: dict[str, Any] | None = Field(description=METADATA_HELP)
    error: str | None
    error_code: str | None
    created_at: str
    updated_at: str
    expires_at: str | None
    kept: bool


class Accepted(BaseModel):
    session_id: str
    status: Literal["queued"]
    queue_position: int
    poll_url: str
    events_url: str


class Archive(BaseModel):
    items: list[SessionOut]
    next_cursor: str | None


class Health(BaseModel):
    status: Literal["ok", "loading", "error"]
    engine: str
    device: str
    models_loaded: bool
    queue_depth: int
    db: Literal["ok", "error"]
    licence: str | None = Field(None, description="Terms of the engine's model weights, when they have any to show.")
    photos_sent_to: str | None = Field(None, description="With a hosted engine, a sentence naming the provider that "
                                       "receives the photos; null when they never leave this machine.")
    photo_needs: dict[str, str] = Field(description="What must be in a photo of yourself, by use: `upper`, "
                                        "`lower`, `dress` and `size` (a size estimate), e.g. \"shoulders to knees\". "
                                        "The server's own refusals use the same words.")
    detail: str | None = None


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


class BodyEstimate(BaseModel):
    measurements: dict[str, Any] = Field(description="name -> {value_cm, low_cm, high_cm, confidence}: a value and "
                                         "its range (one standard deviation, the model's error plus the photo's)")
    size: str | None = Field(description="the top size; null when the body is outside the size chart")
    sizes: dict[str, Any] | None = Field(None, description="top and bottom: {size, decided_by, in_range, also?, "
                                         "message?}; `also` is the neighbouring size the range reaches")
    confidence: float
    notes: list[str] = Field([], description="sentences about what made the estimate less sure")
    sex_estimate: dict[str, float] | None = Field(None, description="how well each sex explains the photo, "
                                                  "when sex was not given")
