"""Per-session options of the CatVTON engine: the diffusion engine's checks, CatVTON's defaults.

CatVTON's published settings: 50 DDIM steps, guidance 2.5 (2.5-3.5 look best), eta 1.0,
1024 x 768. `strength` does not apply (CatVTON always denoises from pure noise) and is ignored.
"""

from __future__ import annotations

from typing import Any

from ..diffusion.options import DiffusionOptions, OptionDefaults
from ..diffusion.options import parse_options as parse_diffusion_options

DEFAULT_STEPS = 50
FAST_STEPS = 25
DEFAULT_GUIDANCE = 2.5
DDIM_ETA = 1.0
CATVTON_DEFAULTS = OptionDefaults(output_size=1024, steps=DEFAULT_STEPS, fast_steps=FAST_STEPS,
                                  guidance=DEFAULT_GUIDANCE, strength=1.0)


def parse_options(raw: dict[str, Any] | None) -> DiffusionOptions:
    """Session options -> validated options with CatVTON's defaults; InputRejected on nonsense."""
    given = {k: v for k, v in (raw or {}).items() if k != "strength"}
    return parse_diffusion_options(given, CATVTON_DEFAULTS)
