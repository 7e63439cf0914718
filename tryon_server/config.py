"""Settings: one frozen object built from command-line flags, each also readable as TRYON_*."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Sequence

# --engine: auto | classic | catvton | diffusion | package.module:factory (see engines/__init__.py)


@dataclass(frozen=True)
class Settings:
    """Everything the server can be told. Defaults are the private, local ones."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    models_dir: Path = Path("models")
    engine: str = "auto"
    retention_hours: float = 24.0
    max_upload_mb: float = 10.0
    # Pillow's decompression-bomb limit; above it an image is refused, not decoded
    max_image_pixels: int = 40_000_000
    queue_max: int = 100
    max_attempts: int = 3
    retry_base_s: float = 1.0
    inference_timeout_s: float = 600.0
    expiry_interval_s: float = 3600.0
    signed_url_ttl_s: int = 3600
    download_timeout_s: float = 15.0
    # only tests turn this on: lets garment_url point at a loopback test server
    allow_loopback_downloads: bool = False
    # requests per minute per token and per client address (0 disables)
    rate_limit_per_minute: int = 300
    submit_limit_per_minute: int = 30
    # extra Host names accepted besides the bound address, localhost and 127.0.0.1
    allowed_hosts: tuple[str, ...] = ()
    # Origins allowed by CORS besides the server's own page and chrome-extension:// origins
    allowed_origins: tuple[str, ...] = ()
    log_level: str = "info"
    # trust X-Forwarded-For/-Proto from the addresses in uvicorn's FORWARDED_ALLOW_IPS (by
    # default 127.0.0.1): only behind a real reverse proxy, else any local page picks its address
    proxy_headers: bool = False
    # connections and requests at once (0: no limit); past it the answer is 503
    max_connections: int = 256
    # a request's head must arrive within this of its first byte, and its body within the other
    # once the head is in; then the connection is closed (slow-send clients hold nothing for long)
    request_head_timeout_s: float = 10.0
    request_body_timeout_s: float = 60.0

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def retention_seconds(self) -> float:
        return self.retention_hours * 3600.0

    @property
    def db_path(self) -> Path:
        return self.data_dir / "tryon.sqlite3"

    def with_(self, **changes: Any) -> "Settings":
        return replace(self, **changes)


def _env_name(flag: str) -> str:
    return "TRYON_" + flag.upper()


def _parse_bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py",
        description="Local AI virtual try-on server. Every flag can also be set as TRYON_<FLAG> "
        "(e.g. TRYON_PORT=8001).",
    )
    defaults = Settings()
    for f in fields(Settings):
        default = getattr(defaults, f.name)
        env = os.environ.get(_env_name(f.name))
        flag = "--" + f.name.replace("_", "-")
        help_text = f"(env {_env_name(f.name)}, default {default!r})"
        if isinstance(default, bool):
            value = _parse_bool(env) if env is not None else default
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=value, help=help_text)
        elif isinstance(default, tuple):
            value = tuple(x for x in env.split(",") if x) if env is not None else default
            parser.add_argument(flag, nargs="*", default=value, help=help_text + " (comma-separated in env)")
        else:
            kind = type(default)
            value = kind(env) if env is not None else default
            kwargs: dict[str, Any] = {"type": kind, "default": value, "help": help_text}
            parser.add_argument(flag, **kwargs)
    return parser


def parse_settings(argv: Sequence[str] | None = None) -> Settings:
    """Flags win over TRYON_* environment variables, which win over the defaults."""
    ns = vars(build_parser().parse_args(argv))
    ns["allowed_hosts"] = tuple(ns["allowed_hosts"])
    ns["allowed_origins"] = tuple(ns["allowed_origins"])
    return Settings(**ns)
