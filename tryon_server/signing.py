"""Signed, expiring image links: /api/images/{key}?exp=<unix>&sig=<hmac>.

The expiry is rounded up to a window so that repeated polls hand out the same URL and the
browser can cache the image.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from urllib.parse import quote

SECRET_BYTES = 32
_MAX_EXP_DIGITS = 12


def load_or_create_secret(path: Path) -> bytes:
    """A per-install secret, created once (mode 0600) and kept in the data folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        secret = path.read_bytes()
        if len(secret) == SECRET_BYTES:
            return secret
        # empty or short (a crash while it was first written): an empty HMAC key would let anyone sign
    except FileNotFoundError:
        pass
    secret = secrets.token_bytes(SECRET_BYTES)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return secret


class UrlSigner:
    def __init__(self, secret: bytes, ttl_s: int) -> None:
        self._secret = secret
        self.ttl_s = max(60, ttl_s)

    def _sig(self, key: str, exp: int) -> str:
        return hmac.new(self._secret, f"{key}\n{exp}".encode(), hashlib.sha256).hexdigest()[:32]

    def url(self, key: str | None, now: float | None = None) -> str | None:
        if not key:
            return None
        now = time.time() if now is None else now
        exp = (int(now) // self.ttl_s + 2) * self.ttl_s  # valid for at least one full window
        return f"/api/images/{quote(key)}?exp={exp}&sig={self._sig(key, exp)}"

    def verify(self, key: str, exp: str | None, sig: str | None, now: float | None = None) -> bool:
        if not exp or not sig or not (exp.isascii() and exp.isdigit() and len(exp) <= _MAX_EXP_DIGITS):
            return False
        if not sig.isascii():
            return False
        now = time.time() if now is None else now
        if int(exp) < now:
            return False
        return hmac.compare_digest(self._sig(key, int(exp)), sig)
