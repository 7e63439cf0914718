"""What the three hosted engines share: the key, the consent, the HTTP client, images in and out.

A hosted engine sends the shopper's photo and the garment photo to a company's servers. That
breaks this server's promise that photos never leave the machine, so such an engine is built only
with the explicit consent flag (`--hosted-ok`) and its provider's key in the environment, and
/api/health, the page footer and the extension popup name the provider that receives the photos.
"""

from __future__ import annotations

import base64
import io
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
from PIL import Image, ImageOps, UnidentifiedImageError

from ...config import Settings
from ...exceptions import ConfigError, InputRejected, ProviderUnavailable
from ..base import ProgressCallback, TryOnJob
from . import limiter

# photos are sent at most this large (long side): enough for the providers' models, and a
# base64 body of several megabytes is what their documentation blames for failed uploads
MAX_SEND_SIDE = 1536
TIMEOUT = httpx.Timeout(connect=10.0, read=180.0, write=60.0, pool=30.0)
# what a shopper reads when the provider refused the pictures (its own reason follows)
REFUSED = "{provider} refused these pictures: {reason}. Try another photo or garment."


@dataclass(frozen=True)
class Provider:
    """One hosted provider, as the README, /api/health and the consent message name it."""

    engine: str  # the --engine name
    title: str  # the company's name, as shoppers know it
    key_env: str  # the environment variable holding the API key
    base_url_env: str  # lets the tests (or a user's proxy) point the engine elsewhere
    default_base_url: str
    default_model: str

    def base_url(self) -> str:
        return os.environ.get(self.base_url_env, "").rstrip("/") or self.default_base_url

    def recipient(self) -> str:
        """The sentence the page, the popup and /api/health show."""
        host = httpx.URL(self.base_url()).host
        return f"Your photos are sent to {self.title} ({host}) to make each try-on."

    def unavailable_reason(self, settings: Settings) -> str | None:
        """None when this engine may start, else what to set (the consent first: it is the point)."""
        if not settings.hosted_ok:
            return (f"it sends your photos to {self.title} ({httpx.URL(self.base_url()).host}); "
                    "pass --hosted-ok (or set TRYON_HOSTED_OK=1) if you agree to that")
        if not os.environ.get(self.key_env):
            return f"set the environment variable {self.key_env} to your {self.title} API key"
        return None


class HostedEngine:
    """Base of the hosted engines: subclasses set `provider` and implement `_generate`."""

    provider: ClassVar[Provider]

    def __init__(self, settings: Settings) -> None:
        reason = self.provider.unavailable_reason(settings)
        if reason:
            raise ConfigError(f"The {self.provider.engine} engine cannot start: {reason}.")
        self.name = self.provider.engine
        self.model = settings.hosted_model or self.provider.default_model
        self.base_url = self.provider.base_url()
        # where the work runs, as health and the page footer show it ("fashn engine on api.fashn.ai")
        self.device = httpx.URL(self.base_url).host
        self.photos_sent_to = self.provider.recipient()
        try:
            overrides = limiter.parse_limits(settings.hosted_limits)
        except ValueError as exc:
            raise ConfigError(f"--hosted-limits: {exc}") from None
        self.gate = limiter.gate(self.provider.engine, self.model,
                                 limiter.limit_for(self.provider.engine, self.model, overrides))
        self._key = os.environ[self.provider.key_env]
        self.client: httpx.Client | None = None

    def load(self) -> None:
        # trust_env=False: a proxy set for the rest of the machine must not see the photos by
        # accident; a user who wants one points the base URL at it
        self.client = httpx.Client(timeout=TIMEOUT, trust_env=False, headers=self._auth_headers())

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    def run(self, job: TryOnJob, progress: ProgressCallback) -> Image.Image:
        # 1. the two pictures, as small as the provider needs them
        progress("sending", 0.05)
        person, garment = encode_jpeg(job.person), encode_jpeg(flatten(job.garment))
        job.check_cancelled()
        # 2. the provider makes the try-on (its module knows its API)
        result = self._generate(job, person, garment, progress)
        # 3. the contract: RGB at the person photo's aspect
        progress("done", 1.0)
        return fit_to(result.convert("RGB"), job.person.size)

    def _generate(self, job: TryOnJob, person: bytes, garment: bytes, progress: ProgressCallback) -> Image.Image:
        raise NotImplementedError

    def _call(self, send: Callable[[httpx.Client], httpx.Response], cancel: threading.Event,
              rate_limited: Callable[[httpx.Response], bool] = limiter.is_rate_limited) -> httpx.Response:
        """One request through the shared limiter; transport failures become ProviderUnavailable."""
        if self.client is None:
            raise RuntimeError("the engine is not loaded")
        client = self.client
        try:
            return limiter.call(self.gate, self.provider.title, lambda: send(client), cancel,
                                rate_limited=rate_limited)
        except httpx.TimeoutException:
            raise ProviderUnavailable(f"{self.provider.title} did not answer in time") from None
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"{self.provider.title} cannot be reached: {type(exc).__name__}") from None

    def _json(self, response: httpx.Response) -> Any:
        """The JSON of an answer the provider module has already sorted its refusals and account
        problems out of: anything but 200 left is the provider's own failure, and so is a body
        that is not JSON (a proxy's or load balancer's error page, say)."""
        if response.status_code != 200:
            raise self._server_error(response)
        try:
            return response.json()
        except ValueError:
            raise ProviderUnavailable(f"{self.provider.title} answered something that is not JSON: "
                                      f"{response.text[:200]}") from None

    def _server_error(self, response: httpx.Response) -> ProviderUnavailable:
        return ProviderUnavailable(f"{self.provider.title} answered HTTP {response.status_code}: "
                                   f"{error_text(response)[:300]}")

    def _refused(self, reason: str, code: str = "provider_refused") -> InputRejected:
        return InputRejected(REFUSED.format(provider=self.provider.title, reason=sentence(reason)), code)

    def _account_problem(self, response: httpx.Response) -> InputRejected:
        """401/403 and the like: no retry helps, and the shopper can do nothing but tell the owner."""
        return InputRejected(
            f"{self.provider.title} refused this server's account (HTTP {response.status_code}: "
            f"{sentence(error_text(response))}). The server's owner must check {self.provider.key_env}.",
            "provider_account")


def flatten(image: Image.Image) -> Image.Image:
    """A product photo with transparency, on white (JPEG has no alpha; providers expect a backdrop)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, "white")
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def encode_jpeg(image: Image.Image, max_side: int = MAX_SEND_SIDE) -> bytes:
    image = image.convert("RGB")
    if max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)  # no EXIF: nothing but pixels leaves the machine
    return out.getvalue()


def decode_image(data: bytes | str, provider: str) -> Image.Image:
    """A provider's base64 (or data: URL) or raw image bytes as a decoded picture."""
    try:
        if isinstance(data, str):
            data = base64.b64decode(data.split(",", 1)[1] if data.startswith("data:") else data, validate=False)
        image = Image.open(io.BytesIO(data))
        image.load()
        return image
    except (ValueError, OSError, UnidentifiedImageError) as exc:
        raise ProviderUnavailable(f"{provider} answered with an image that cannot be read ({exc})") from None


def fit_to(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The provider's picture at the person photo's aspect (providers pick their own sizes), and
    never larger than the photo sent."""
    scale = min(1.0, max(image.size) / max(size))
    target = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
    return ImageOps.fit(image, target, Image.Resampling.LANCZOS) if image.size != target else image


def error_text(response: httpx.Response) -> str:
    """A provider's error message from its JSON body ({"error": {"message"}} or {"error", "message"}),
    else the start of its text."""
    try:
        body: Any = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if body.get("message"):
            return str(body["message"])
        if error:
            return str(error)
    return response.text[:200].strip()


def sentence(text: str) -> str:
    """A provider's message as part of our sentence: one line, no trailing full stop, bounded."""
    text = " ".join(str(text).split())[:300].rstrip(". ")
    return text or "no reason given"


_GARMENT_WORDS = {"upper": "top", "lower": "trousers, skirt or shorts", "dress": "dress or one-piece"}


def tryon_prompt(category: str) -> str:
    """The instruction the general image models (OpenAI's, Gemini's) get with the two pictures."""
    garment = _GARMENT_WORDS.get(category, "garment")
    return (
        "The first image is a photo of a person; the second is a product photo of a "
        f"{garment}. Make a photo of the same person wearing that {garment} in place of what they "
        "wear there now, with its exact colour, pattern, print, length and sleeves. Keep the "
        "person's face, hair, body shape, pose, skin, the rest of their clothes, the background, "
        "the light and the framing of the first photo unchanged. Answer with the photo only."
    )
