"""The diffusion engine (SDXL inpainting + ControlNet OpenPose), a package:

    engine    DiffusionEngine: the five stages, from photo to result
    loading   what must be in models/, `missing_weights_reason`, loading it all once
    pipeline  one diffusers call with progress, cancel and an out-of-memory retry
    options   per-session options (steps, guidance, seed, strength, fast) and their checks
    openpose  MediaPipe landmarks drawn as an OpenPose skeleton for the ControlNet
    parsing   Segformer clothes parsing and the inpainting mask

Importing this package is cheap: torch, diffusers and transformers are imported only when the
engine is built or loaded, so `--engine classic` never pays for them.
"""

from __future__ import annotations

from .engine import DiffusionEngine
from .loading import missing_weights_reason

__all__ = ["DiffusionEngine", "missing_weights_reason"]
