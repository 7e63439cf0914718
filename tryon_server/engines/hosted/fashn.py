"""FASHN's try-on API: submit with POST /v1/run, then poll GET /v1/status/{id}.

As docs.fashn.ai documents it: `{"model_name", "inputs": {"model_image", "garment_image",
"category": "tops" | "bottoms" | "one-pieces" | "auto", "mode", "seed", "output_format",
"return_base64"}}` answers `{"id"}`; the status is `starting`, `in_queue`, `processing`, then
`completed` (with `output`, a list of images) or `failed` (with `error: {name, message}`),
`canceled` or `time_out`. Images go as base64 data URLs, and come back as base64 too, so nothing
is fetched from a CDN. Hand-written with httpx rather than the `fashn` SDK: the SDK polls on its
own schedule and retries on its own, where every call here must pass the shared limiter.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
from PIL import Image

from ...exceptions import ProviderUnavailable
from ..base import ProgressCallback, TryOnJob
from .engine import HostedEngine, Provider, decode_image, error_text

PROVIDER = Provider(engine="fashn", title="FASHN", key_env="FASHN_API_KEY", base_url_env="FASHN_BASE_URL",
                    default_base_url="https://api.fashn.ai", default_model="tryon-v1.6")
CATEGORY = {"upper": "tops", "lower": "bottoms", "dress": "one-pieces"}
PENDING = {"starting", "in_queue", "processing"}
# runtime errors that are the pictures' fault (FASHN's error catalogue); others are retried
INPUT_ERRORS = {"ImageLoadError", "ContentModerationError", "PoseError", "InputValidationError"}
POLL_INTERVAL_S = 1.0
POLL_LIMIT_S = 300.0


def _data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def _rate_limited(response: httpx.Response) -> bool:
    """FASHN's 429s: RateLimitExceeded and ConcurrencyLimitExceeded pass with time;
    OutOfCredits does not."""
    return response.status_code == 429 and "OutOfCredits" not in response.text


class FashnEngine(HostedEngine):
    provider = PROVIDER

    def _generate(self, job: TryOnJob, person: bytes, garment: bytes, progress: ProgressCallback) -> Image.Image:
        inputs: dict[str, Any] = {
            "model_image": _data_url(person),
            "garment_image": _data_url(garment),
            "category": CATEGORY.get(job.category, "auto"),
            "mode": "performance" if job.options.get("fast") else "balanced",
            "output_format": "png",
            "return_base64": True,
        }
        if job.options.get("seed") is not None:
            inputs["seed"] = int(job.options["seed"])
        # 1. submit
        response = self._call(lambda c: c.post(f"{self.base_url}/v1/run",
                                               json={"model_name": self.model, "inputs": inputs}),
                              job.cancel, _rate_limited)
        prediction_id = self._read(response).get("id")
        if not prediction_id:
            raise ProviderUnavailable(f"FASHN answered no prediction id: {response.text[:200]}")
        progress("provider", 0.2)
        # 2. poll until it ends (every poll passes the limiter too)
        deadline = time.monotonic() + POLL_LIMIT_S
        while True:
            job.check_cancelled()
            body = self._read(self._call(lambda c: c.get(f"{self.base_url}/v1/status/{prediction_id}"),
                                         job.cancel, _rate_limited))
            status = body.get("status")
            if status == "completed":
                output = body.get("output") or []
                if not output:
                    raise ProviderUnavailable("FASHN completed without an image")
                return decode_image(output[0], "FASHN")
            if status == "failed":
                error = body.get("error") or {}
                name, message = str(error.get("name", "")), str(error.get("message", "") or error.get("name", ""))
                if name in INPUT_ERRORS:
                    raise self._refused(message or name)
                raise ProviderUnavailable(f"FASHN failed the try-on: {name}: {message}")
            if status not in PENDING:  # canceled, time_out, or something new
                raise ProviderUnavailable(f"FASHN ended the try-on as {status!r}")
            if time.monotonic() > deadline:
                raise ProviderUnavailable(f"FASHN was still {status} after {POLL_LIMIT_S:.0f}s")
            progress("provider", 0.3 if status != "processing" else 0.6)
            if job.cancel.wait(POLL_INTERVAL_S):
                job.check_cancelled()

    def _read(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code in (401, 402, 403, 429):  # 429 here: out of credits
            raise self._account_problem(response)
        if response.status_code in (400, 422):
            raise self._refused(error_text(response))
        body = self._json(response)
        if not isinstance(body, dict):
            raise ProviderUnavailable("FASHN answered an unexpected JSON value")
        return body
