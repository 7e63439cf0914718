"""Engines: pick and build the one engine the inference thread will own.

`classic` needs nothing but the models inside MediaPipe; `diffusion` needs weights in models/
and is worth it only on a GPU. `auto` takes diffusion when it can run well, else classic, and
says why. A third-party engine can be named as "package.module:factory" (a callable taking the
Settings and returning an Engine).
"""

from __future__ import annotations

import importlib
import logging

from ..config import Settings
from ..exceptions import ConfigError
from .base import CATEGORIES, Category, Engine, ProgressCallback, TryOnJob

__all__ = ["CATEGORIES", "Category", "Engine", "ProgressCallback", "TryOnJob", "create_engine"]

log = logging.getLogger("tryon.engines")


def _classic(settings: Settings) -> Engine:
    from .classic import ClassicEngine

    return ClassicEngine(settings)


def _diffusion(settings: Settings) -> Engine:
    from .diffusion import DiffusionEngine

    return DiffusionEngine(settings)


def _diffusion_unavailable_reason(settings: Settings) -> str | None:
    """None when the diffusion engine can run here, else a sentence saying why not."""
    try:
        from .diffusion.loading import missing_weights_reason
    except ImportError as exc:  # torch/diffusers not installed
        return f"the diffusion packages are not installed ({exc.name}); install with: pip install -e '.[diffusion]'"
    return missing_weights_reason(settings.models_dir)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_choice(settings: Settings) -> str:
    """The concrete engine `settings.engine` means here: `auto` becomes `classic` or `diffusion`
    (logging why once); `diffusion` with its weights missing raises ConfigError with the reason."""
    choice = settings.engine
    if choice == "diffusion":
        reason = _diffusion_unavailable_reason(settings)
        if reason:
            raise ConfigError(f"The diffusion engine cannot start: {reason}.")
    elif choice == "auto":
        reason = _diffusion_unavailable_reason(settings)
        if reason is None and not _cuda_available():
            reason = "no CUDA GPU was found (diffusion on a CPU takes many minutes per try-on)"
        if reason is None:
            log.info("engine auto: using diffusion")
            return "diffusion"
        log.warning("engine auto: using classic because %s", reason)
        return "classic"
    elif choice != "classic" and ":" not in choice:
        raise ConfigError(f"Unknown engine {choice!r}: use auto, classic, diffusion or package.module:factory.")
    return choice


def create_engine(settings: Settings) -> Engine:
    """Build (not load) the engine that `settings.engine` asks for."""
    choice = resolve_choice(settings)
    if choice == "classic":
        return _classic(settings)
    if choice == "diffusion":
        return _diffusion(settings)
    module_name, _, attr = choice.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"Engine {choice!r} could not be imported: {exc}") from exc
    return factory(settings)
