"""Engines: pick and build the one engine the inference thread will own.

`classic` needs nothing but the models inside MediaPipe; `catvton` (a trained try-on model) and
`diffusion` (SDXL inpainting) need weights in models/ and are worth it only on a GPU. `auto`
takes catvton, then diffusion, when one can run well, else classic, and says why in one line.
A third-party engine can be named as "package.module:factory" (a callable taking the Settings
and returning an Engine). The hosted engines (`fashn`, `openai`, `gemini`: hosted/) send the
photos to a company's servers: only when named, never by `auto`, and only with --hosted-ok and
their key.
"""

from __future__ import annotations

import importlib
import logging
import shutil
from pathlib import Path

from ..config import Settings
from ..exceptions import ConfigError
from . import hosted
from .base import CATEGORIES, Category, Engine, ProgressCallback, TryOnJob

__all__ = ["CATEGORIES", "Category", "Engine", "ProgressCallback", "TryOnJob", "create_engine"]

log = logging.getLogger("tryon.engines")


def _classic(settings: Settings) -> Engine:
    from .classic import ClassicEngine

    return ClassicEngine(settings)


def _diffusion(settings: Settings) -> Engine:
    from .diffusion import DiffusionEngine

    return DiffusionEngine(settings)


def _catvton(settings: Settings) -> Engine:
    from .catvton import CatVTONEngine

    return CatVTONEngine(settings)


def _catvton_unavailable_reason(settings: Settings) -> str | None:
    """None when the catvton engine can run here, else a sentence fragment saying why not."""
    from .catvton.loading import missing_weights_reason

    return missing_weights_reason(settings.models_dir)


def _diffusion_unavailable_reason(settings: Settings) -> str | None:
    """None when the diffusion engine can run here, else a sentence saying why not."""
    try:
        from .diffusion.loading import missing_weights_reason
    except ImportError as exc:  # torch/diffusers not installed
        return f"the diffusion packages are not installed ({exc.name}); install with: pip install -e '.[diffusion]'"
    return missing_weights_reason(settings.models_dir)


def _cuda_available() -> bool:
    """A CUDA GPU can be used here: torch says so or, with torch not installed, NVIDIA's driver is
    loaded (then installing the GPU engines would help, which is worth saying)."""
    try:
        import torch
    except ImportError:
        return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None
    return bool(torch.cuda.is_available())


def resolve_choice(settings: Settings) -> str:
    """The concrete engine `settings.engine` means here: `auto` becomes `catvton`, `diffusion` or
    `classic` (logging why, once, in one line); `catvton` or `diffusion` with its weights missing
    raises ConfigError with the reason."""
    choice = settings.engine
    unavailable = {"catvton": _catvton_unavailable_reason, "diffusion": _diffusion_unavailable_reason}
    if choice in hosted.PROVIDERS:  # opt-in only: `auto` below never considers these
        reason = hosted.unavailable_reason(settings, choice)
        if reason:
            raise ConfigError(f"The {choice} engine cannot start: {reason}.")
    elif choice in unavailable:
        reason = unavailable[choice](settings)
        if reason:
            raise ConfigError(f"The {choice} engine cannot start: {reason}.")
    elif choice == "auto":
        # best first: CatVTON conditions every step on the garment photo; SDXL repaints a warp
        reasons = {name: why(settings) for name, why in unavailable.items()}
        ready = [name for name, reason in reasons.items() if reason is None]
        gpu = _cuda_available()
        if ready and gpu:
            skipped = "".join(f"; not {name}: {reason}" for name, reason in reasons.items() if reason and name != ready[0])
            log.info("engine auto: using %s because its weights are in %s and a CUDA GPU is present%s",
                     ready[0], settings.models_dir, skipped)
            return ready[0]
        if not gpu:
            # classic is the right engine here: no advice to install gigabytes that could not help
            log.info("engine auto: using classic because no CUDA GPU was found%s (the GPU engines take many "
                     "minutes per try-on on a CPU)", f" for {' or '.join(ready)}" if ready else "")
            return "classic"
        why = "; ".join(f"{name} cannot run: {reason}" for name, reason in reasons.items())
        log.warning("engine auto: using classic although a CUDA GPU is present, because %s", why)
        return "classic"
    elif choice != "classic" and ":" not in choice:
        raise ConfigError(f"Unknown engine {choice!r}: use auto, classic, catvton, diffusion, fashn, openai, gemini "
                          "or package.module:factory.")
    return choice


def create_engine(settings: Settings) -> Engine:
    """Build (not load) the engine that `settings.engine` asks for."""
    choice = resolve_choice(settings)
    if choice == "classic":
        return _classic(settings)
    if choice == "diffusion":
        return _diffusion(settings)
    if choice == "catvton":
        return _catvton(settings)
    if choice in hosted.PROVIDERS:
        return hosted.create(settings, choice)
    module_name, _, attr = choice.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"Engine {choice!r} could not be imported: {exc}") from exc
    return factory(settings)
