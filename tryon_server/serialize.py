"""Rows to the JSON the API answers with."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from .db import Row
from .signing import UrlSigner


@lru_cache(maxsize=8192)  # a session's timestamps repeat on every poll of it
def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@lru_cache(maxsize=8192)
def _signed(signer: UrlSigner, key: str, window: int) -> str | None:
    return signer.url(key, now=window * signer.ttl_s)


def signed_url(signer: UrlSigner, key: str | None) -> str | None:
    """signer.url(key), computed once per key and signing window: a URL is the same for every
    moment of its window (that is what lets browsers cache images), so polls reuse it."""
    if not key:
        return None
    return _signed(signer, key, int(time.time()) // signer.ttl_s)


def profile_json(row: Row, signer: UrlSigner) -> dict[str, Any]:
    return {
        "profile_id": row["id"],
        "name": row["name"],
        "height_cm": row["height_cm"],
        "photo_url": signer.url(row["photo_key"]),
        "created_at": iso(row["created_at"]),
        "measurements": json.loads(row["measurements"]) if row["measurements"] else None,
        # deleting the profile deletes these too: a client says so before it asks
        "tryon_count": row["tryon_count"],
        "kept_count": row["kept_count"],
    }


def session_json(row: Row, signer: UrlSigner, *, queue_position: int,
                 live: tuple[str, float] | None = None) -> dict[str, Any]:
    stage, progress = row["stage"], row["progress"]
    if live is not None and row["status"] == "processing":
        stage, progress = live
    completed = row["status"] == "completed"
    # waiting for a rate-limiting hosted provider: the page says "retrying in N s"
    retry_at = row.get("retry_at") if row["status"] == "queued" else None
    retry_in_s = math.ceil(retry_at - time.time()) if retry_at and retry_at > time.time() else None
    return {
        "session_id": row["id"],
        "status": row["status"],
        "progress": round(float(progress), 4),
        "queue_position": queue_position,
        "stage": stage,
        "category": row["category"],
        "attempts": row["attempts"],
        "retry_in_s": retry_in_s,
        "result_url": signed_url(signer, row["result_key"]) if completed else None,
        "person_image_url": signed_url(signer, row["person_key"]),
        "garment_image_url": signed_url(signer, row["garment_key"]),
        "source_url": row["source_url"],
        "page_url": row["page_url"],
        "profile_id": row["profile_id"],
        "metadata": json.loads(row["metadata"]) if row["metadata"] else None,
        "error": row["error"] if row["status"] == "failed" else None,
        "error_code": row["error_code"] if row["status"] == "failed" else None,
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "expires_at": None if row["kept"] else iso(row["expires_at"]),
        "kept": bool(row["kept"]),
    }
