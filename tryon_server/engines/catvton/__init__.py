"""The CatVTON engine (a trained try-on model on SD 1.5 inpainting), a package:

    engine    CatVTONEngine: the four stages, from photo to result
    loading   what must be in models/, `missing_weights_reason`, the attention checkpoint's
              positional layout, loading it all once
    pipeline  the denoising loop with progress, cancel and an out-of-memory retry
    compose   the 3:4 crop, the garment on white, pasting the result back
    options   CatVTON's defaults (50 steps, fast 25, guidance 2.5) over the diffusion engine's checks

Importing this package is cheap: torch and diffusers are imported only when the engine is built
or loaded, so `--engine classic` never pays for them.
"""

from __future__ import annotations

from .engine import CatVTONEngine
from .loading import LICENCE, missing_weights_reason

__all__ = ["LICENCE", "CatVTONEngine", "missing_weights_reason"]
