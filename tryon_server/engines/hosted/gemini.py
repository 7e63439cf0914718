"""Google's Gemini image models: POST /v1beta/models/{model}:generateContent.

As the Gemini API reference documents it: the key in the `x-goog-api-key` header; `contents`
with one user turn whose `parts` are the prompt and the two pictures as `inline_data`
(`mime_type`, base64 `data`); `generationConfig.responseModalities: ["TEXT", "IMAGE"]`. The
picture comes back as a part with `inlineData` (the answer is camelCase). A blocked prompt says so
in `promptFeedback.blockReason`, a blocked answer in the candidate's `finishReason`. A 429 is
`RESOURCE_EXHAUSTED` with a `google.rpc.RetryInfo` detail whose `retryDelay` the limiter honours.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
from PIL import Image

from ...exceptions import ProviderUnavailable
from ..base import ProgressCallback, TryOnJob
from .engine import HostedEngine, Provider, decode_image, error_text, tryon_prompt

PROVIDER = Provider(engine="gemini", title="Google Gemini", key_env="GEMINI_API_KEY",
                    base_url_env="GEMINI_BASE_URL", default_base_url="https://generativelanguage.googleapis.com",
                    default_model="gemini-2.5-flash-image")
# finish reasons that mean "refused by policy", not "broken"
BLOCKED = {"SAFETY", "PROHIBITED_CONTENT", "IMAGE_SAFETY", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_PROHIBITED_CONTENT"}


def _inline(jpeg: bytes) -> dict[str, Any]:
    return {"inline_data": {"mime_type": "image/jpeg", "data": base64.b64encode(jpeg).decode("ascii")}}


class GeminiEngine(HostedEngine):
    provider = PROVIDER

    def _auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._key}

    def _generate(self, job: TryOnJob, person: bytes, garment: bytes, progress: ProgressCallback) -> Image.Image:
        request = {
            "contents": [{"role": "user",
                          "parts": [{"text": tryon_prompt(job.category)}, _inline(person), _inline(garment)]}],
            "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]},
        }
        progress("provider", 0.2)
        url = f"{self.base_url}/v1beta/models/{self.model}:generateContent"
        body = self._read(self._call(lambda c: c.post(url, json=request), job.cancel))
        block = (body.get("promptFeedback") or {}).get("blockReason")
        if block:
            raise self._refused(f"blocked ({block})", "provider_moderation")
        candidates = body.get("candidates") or []
        reasons, texts = [], []
        for candidate in candidates:
            for part in (candidate.get("content") or {}).get("parts") or []:
                inline = part.get("inlineData") or part.get("inline_data")
                if inline and inline.get("data"):
                    return decode_image(inline["data"], "Google Gemini")
                if part.get("text"):
                    texts.append(part["text"])
            reasons.append(candidate.get("finishReason", ""))
        blocked = [r for r in reasons if r in BLOCKED]
        if blocked:
            raise self._refused(f"blocked ({blocked[0]})", "provider_moderation")
        # no picture and no policy reason: the model answered in words (often why it would not)
        raise ProviderUnavailable(f"Google Gemini answered without an image: {' '.join(texts)[:200]!r} "
                                  f"(finish reasons {reasons})")

    def _read(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code in (401, 403) or _status(response) == "FAILED_PRECONDITION":
            raise self._account_problem(response)  # a bad key, or billing/region not set up
        if response.status_code == 400:
            raise self._refused(error_text(response))
        body = self._json(response)
        return body if isinstance(body, dict) else {}


def _status(response: httpx.Response) -> str:
    """Google's error status name ("INVALID_ARGUMENT", "FAILED_PRECONDITION", ...), if any."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return str(error.get("status", "")) if isinstance(error, dict) else ""
