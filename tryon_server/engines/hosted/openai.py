"""OpenAI's image model: POST /v1/images/edits with both pictures and a prompt.

As OpenAI's API reference documents it for the GPT image models: a multipart form with `model`,
`prompt`, several input images as repeated `image[]` files, `size` and `n`; the answer is
`{"data": [{"b64_json"}]}` (GPT image models always answer base64). A refusal by its moderation
is a 400 whose error code is `moderation_blocked`; a 429 carries `retry-after-ms`/`Retry-After`
and `x-ratelimit-*` headers, which the shared limiter reads.
"""

from __future__ import annotations

from typing import Any

import httpx
from PIL import Image

from ...exceptions import ProviderUnavailable
from ..base import ProgressCallback, TryOnJob
from .engine import HostedEngine, Provider, decode_image, error_text, tryon_prompt

PROVIDER = Provider(engine="openai", title="OpenAI", key_env="OPENAI_API_KEY", base_url_env="OPENAI_BASE_URL",
                    default_base_url="https://api.openai.com", default_model="gpt-image-1")


def _size_for(size: tuple[int, int]) -> str:
    """The output size of the three the model makes that is nearest the person photo's aspect."""
    width, height = size
    if height > width * 1.2:
        return "1024x1536"
    if width > height * 1.2:
        return "1536x1024"
    return "1024x1024"


class OpenAIEngine(HostedEngine):
    provider = PROVIDER

    def _generate(self, job: TryOnJob, person: bytes, garment: bytes, progress: ProgressCallback) -> Image.Image:
        form = {"model": self.model, "prompt": tryon_prompt(job.category), "size": _size_for(job.person.size),
                "n": "1"}
        files = [("image[]", ("person.jpg", person, "image/jpeg")),
                 ("image[]", ("garment.jpg", garment, "image/jpeg"))]
        progress("provider", 0.2)
        url = f"{self.base_url}/v1/images/edits"
        response = self._call(lambda c: c.post(url, data=form, files=files), job.cancel, _rate_limited)
        body = self._read(response)
        data = body.get("data") or []
        b64 = data[0].get("b64_json") if data and isinstance(data[0], dict) else None
        if not b64:
            raise ProviderUnavailable("OpenAI answered without an image")
        return decode_image(b64, "OpenAI")

    def _read(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code in (401, 403, 429):  # 429 here: the account's quota is used up
            raise self._account_problem(response)
        if response.status_code in (400, 422):
            error = _error(response)
            if error.get("code") in ("billing_hard_limit_reached", "insufficient_quota"):
                raise self._account_problem(response)
            raise self._refused(error_text(response), "provider_moderation"
                                if error.get("code") == "moderation_blocked" else "provider_refused")
        body = self._json(response)
        return body if isinstance(body, dict) else {}


def _rate_limited(response: httpx.Response) -> bool:
    """OpenAI answers 429 both for "slow down" and for an exhausted quota (`insufficient_quota`),
    which no waiting cures."""
    return response.status_code == 429 and _error(response).get("code") != "insufficient_quota"


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}
