"""Settings: one frozen object built from command-line flags, each also readable as TRYON_*.

Each setting is declared once, with its help text; `--help` lists them all with their defaults
as a person would type them. Settings made with `flag=False` exist for tests only and are no
command-line flag and no environment variable.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def setting(default: T, help: str, *, flag: bool = True) -> T:
    """A Settings field with its --help text (`flag=False`: settable from code only)."""
    return field(default=default, metadata={"help": help, "flag": flag})


@dataclass(frozen=True)
class Settings:
    """Everything the server can be told. Defaults are the private, local ones."""

    host: str = setting("127.0.0.1", "address to listen on; anything but loopback is logged as a loud warning")
    port: int = setting(8000, "TCP port to listen on")
    data_dir: Path = setting(Path("data"), "folder for the SQLite file, the images and the link-signing secret")
    models_dir: Path = setting(Path("models"), "folder with the GPU engines' weights (see models/README.md)")
    engine: str = setting("auto", "auto, classic, catvton, diffusion, the hosted fashn, openai or gemini (these "
                                  "send your photos away; see --hosted-ok), or package.module:factory for your own "
                                  "engine")
    hosted_ok: bool = setting(False, "consent to send the photos to the provider of a hosted engine (fashn, openai, "
                                     "gemini); without it such an engine refuses to start")
    hosted_model: str = setting("", "the hosted engine's model (default: tryon-v1.6 for fashn, gpt-image-1 for "
                                    "openai, gemini-2.5-flash-image for gemini)")
    hosted_limits: tuple[str, ...] = setting((), "limits on calls to a hosted model, MODEL=CONCURRENT/SPACING_MS "
                                                 "(e.g. gemini-3-pro-image-preview=2/500); built-in ones otherwise")
    provider_retry_base_s: float = setting(8.0, "first delay before a try-on the provider kept rate-limiting runs "
                                                "again; it doubles with each wait, up to provider_retry_max_s")
    provider_retry_max_s: float = setting(300.0, "longest delay between two tries of a rate-limited try-on")
    provider_wait_max_s: float = setting(3600.0, "a try-on still rate-limited this long after it was submitted "
                                                 "fails with a message")
    retention_hours: float = setting(24.0, "try-on images and rows are deleted this long after they are made, "
                                           "unless kept")
    max_upload_mb: float = setting(10.0, "largest accepted image, per file, enforced while it streams in")
    max_image_pixels: int = setting(40_000_000, "largest accepted image in pixels (decompression-bomb limit); "
                                                "above it an image is refused, not decoded")
    queue_max: int = setting(100, "try-ons waiting at most; beyond it new ones get 503 with Retry-After")
    daily_quota: int = setting(0, "try-ons each token may start per UTC day (0: no quota); past it 429 until "
                                  "midnight UTC; one that fails through no fault of its photos is given back")
    max_attempts: int = setting(3, "tries of one try-on after unexpected engine errors or crashes before it fails")
    retry_base_s: float = setting(1.0, "first retry delay in seconds; it doubles with each attempt, with jitter")
    inference_timeout_s: float = setting(600.0, "a try-on running longer fails with a message and the engine "
                                                "is reloaded")
    expiry_interval_s: float = setting(3600.0, "seconds between passes that delete expired try-ons and stray "
                                               "files")
    signed_url_ttl_s: int = setting(3600, "seconds an image link stays valid")
    download_timeout_s: float = setting(15.0, "seconds allowed for fetching a garment_url")
    allow_loopback_downloads: bool = setting(False, "lets garment_url point at a loopback test server", flag=False)
    rate_limit_per_minute: int = setting(300, "requests per minute per token and per client address (0: no limit)")
    submit_limit_per_minute: int = setting(30, "try-ons submitted per minute per token and per client address "
                                               "(0: no limit)")
    allowed_hosts: tuple[str, ...] = setting((), "extra Host names to accept besides the bound address, "
                                                 "localhost and 127.0.0.1")
    allowed_origins: tuple[str, ...] = setting((), "extra CORS origins besides the server's own page and "
                                                   "chrome-extension:// origins")
    log_level: str = setting("info", "debug, info, warning or error")
    proxy_headers: bool = setting(False, "trust X-Forwarded-For/-Proto from the addresses in uvicorn's "
                                         "FORWARDED_ALLOW_IPS (127.0.0.1 unless set); only behind a real reverse "
                                         "proxy, else any local page picks its address")
    max_connections: int = setting(256, "connections and requests at once (0: no limit); past it the answer is 503")
    request_head_timeout_s: float = setting(10.0, "seconds a request's head may take to arrive from its first "
                                                  "byte; then the connection is closed")
    request_body_timeout_s: float = setting(60.0, "seconds a request's body may take to arrive once its head "
                                                  "is in; then the connection is closed")
    # the distributed mode (docs/scale-out.md): set --database, --broker and --storage together
    database: str = setting("", "distributed mode: postgresql://USER@HOST:PORT/DB holds the state instead of "
                                "SQLite (needs --broker and --storage)")
    broker: str = setting("", "distributed mode: redis://HOST:PORT/N, Celery's broker and the progress channel")
    storage: str = setting("", "distributed mode: the image folder every API process and worker sees (a shared "
                               "mount); the link-signing secret lives there too")
    visibility_timeout_s: float = setting(3600.0, "distributed mode: a try-on taken by a worker that vanished is "
                                                  "handed to another after this; keep it above the longest try-on")
    worker_lease_s: float = setting(30.0, "distributed mode: seconds a worker's lease on its running try-on lasts "
                                          "(renewed every third of it); an expired one, its worker dead, is taken "
                                          "over")
    metrics_port: int = setting(0, "distributed worker: serve its Prometheus metrics on this port (0: off)")

    @property
    def distributed(self) -> bool:
        return bool(self.database)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def retention_seconds(self) -> float:
        return self.retention_hours * 3600.0

    @property
    def db_path(self) -> Path:
        return self.data_dir / "tryon.sqlite3"

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _env_name(name: str) -> str:
    return "TRYON_" + name.upper()


def _parse_bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


def _as_typed(value: Any) -> str:
    """A default as a person types it: data, not PosixPath('data'); 24, not 24.0; none for ()."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(value) or "none"
    return str(value) or "none"


ENV_NOTE = "Every flag can also be set as TRYON_<FLAG> (e.g. TRYON_PORT=8001); a flag wins over its variable."
SERVER_HELP = f"Local AI virtual try-on server. {ENV_NOTE}"


def build_parser(prog: str = "run.py", description: str = SERVER_HELP) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    defaults = Settings()
    for f in fields(Settings):
        if not f.metadata["flag"]:
            continue
        default = getattr(defaults, f.name)
        env = os.environ.get(_env_name(f.name))
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata['help']} (default {_as_typed(default)}; env {_env_name(f.name)})"
        if isinstance(default, bool):
            value = _parse_bool(env) if env is not None else default
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=value, help=help_text)
        elif isinstance(default, tuple):
            items = tuple(x for x in env.split(",") if x) if env is not None else default
            parser.add_argument(flag, nargs="*", default=items, metavar="NAME",
                                help=help_text.replace("; env", "; comma-separated in env"))
        else:
            kind = type(default)
            metavar = {"database": "URL", "broker": "URL", "storage": "DIR"}.get(f.name)
            parser.add_argument(flag, type=kind, default=kind(env) if env is not None else default,
                                metavar=metavar or ("DIR" if isinstance(default, Path) else None if kind is str else "N"),
                                help=help_text)
    return parser


def parse_settings(argv: Sequence[str] | None = None, prog: str = "run.py", description: str = SERVER_HELP) -> Settings:
    """Flags win over TRYON_* environment variables, which win over the defaults."""
    ns = vars(build_parser(prog, description).parse_args(argv))
    ns["allowed_hosts"] = tuple(ns["allowed_hosts"])
    ns["allowed_origins"] = tuple(ns["allowed_origins"])
    ns["hosted_limits"] = tuple(ns["hosted_limits"])
    return Settings(**ns)
