"""Hosted engines: the try-on is made by a company's servers, not on this machine.

    fashn ..... FASHN's try-on model (fashn.py)
    openai .... OpenAI's image model (openai.py)
    gemini .... Google's Gemini image models (gemini.py)
    limiter ... the one gate all their calls pass: limits per model, 429 retries and hints
    engine .... what they share: consent and key checks, HTTP client, images in and out

Strictly opt-in: `--engine auto` never picks one, and each refuses to start without
`--hosted-ok` and its API key in the environment.
"""

from __future__ import annotations

from ...config import Settings
from ..base import Engine
from . import limiter
from .engine import HostedEngine, Provider
from .fashn import FashnEngine
from .gemini import GeminiEngine
from .openai import OpenAIEngine

ENGINES: dict[str, type[HostedEngine]] = {cls.provider.engine: cls for cls in (FashnEngine, OpenAIEngine, GeminiEngine)}
PROVIDERS: dict[str, Provider] = {name: cls.provider for name, cls in ENGINES.items()}


def unavailable_reason(settings: Settings, name: str) -> str | None:
    """None when the hosted engine `name` may start, else what to set."""
    try:
        limiter.parse_limits(settings.hosted_limits)
    except ValueError as exc:
        return f"--hosted-limits: {exc}"
    return PROVIDERS[name].unavailable_reason(settings)


def photo_recipient(engine: str) -> str | None:
    """The sentence naming who receives the photos when `engine` runs; None for a local engine."""
    provider = PROVIDERS.get(engine)
    return provider.recipient() if provider else None


def create(settings: Settings, name: str) -> Engine:
    """Build (not load) the hosted engine `name`; ConfigError without consent or key."""
    return ENGINES[name](settings)
