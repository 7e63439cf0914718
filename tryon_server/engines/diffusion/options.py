"""Per-session options of the diffusion engine: defaults, parsing and validation.

The server passes the session's options through untouched (they may arrive as JSON numbers or as
form strings); every value is checked here and a nonsense one is refused with a sentence.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Any

from ...exceptions import InputRejected
from ..base import MAX_GUIDANCE, MAX_OUTPUT_SIZE, MAX_SEED, MAX_STEPS, MIN_GUIDANCE, MIN_OUTPUT_SIZE, MIN_STEPS

DEFAULT_OUTPUT_SIZE = 1024  # SDXL's native resolution
DEFAULT_STEPS = 30
FAST_STEPS = 12  # fast mode: fewer steps, same everything else
DEFAULT_GUIDANCE = 5.0  # at 1.0 or below classifier-free guidance is off (one UNet batch)
# below 1 the warped garment is the starting image of the masked region, so its cut and pattern
# survive; 1.0 would start from pure noise and lose them
DEFAULT_STRENGTH = 0.85


@dataclass(frozen=True)
class OptionDefaults:
    """What an engine uses when a session leaves an option out (each GPU engine has its own)."""

    output_size: int = DEFAULT_OUTPUT_SIZE
    steps: int = DEFAULT_STEPS
    fast_steps: int = FAST_STEPS
    guidance: float = DEFAULT_GUIDANCE
    strength: float = DEFAULT_STRENGTH


SDXL_DEFAULTS = OptionDefaults()


@dataclass(frozen=True)
class DiffusionOptions:
    output_size: int = DEFAULT_OUTPUT_SIZE
    steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    seed: int = 0
    strength: float = DEFAULT_STRENGTH
    fast: bool = False

    @property
    def denoising_steps(self) -> int:
        """Steps the UNet actually runs: diffusers skips the first (1 - strength) of them."""
        return min(int(self.steps * self.strength), self.steps)


def _bad(name: str, rule: str, value: Any) -> InputRejected:
    return InputRejected(f"The option {name} must be {rule} (got {value!r}).", code="invalid_option")


def _number(name: str, value: Any, kind: type, rule: str) -> Any:
    if isinstance(value, bool):
        raise _bad(name, rule, value)
    try:
        if kind is int:
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                return int(value)
            return int(str(value).strip())
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError):
        raise _bad(name, rule, value) from None
    if not math.isfinite(number):
        raise _bad(name, rule, value)
    return number


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on", "0", "false", "no", "off", ""}:
        return value.strip().lower() in {"1", "true", "yes", "on"}
    raise _bad(name, "true or false", value)


def _ranged(name: str, value: Any, kind: type, low: float, high: float) -> Any:
    rule = f"{'a whole number' if kind is int else 'a number'} from {low:g} to {high:g}"
    number = _number(name, value, kind, rule)
    if not low <= number <= high:
        raise _bad(name, rule, value)
    return number


def parse_options(raw: dict[str, Any] | None, defaults: OptionDefaults = SDXL_DEFAULTS) -> DiffusionOptions:
    """Session options -> validated DiffusionOptions; unknown keys are ignored, None means
    'use the default'. Raises InputRejected(code="invalid_option") with a sentence."""
    raw = {k: v for k, v in (raw or {}).items() if v is not None}
    fast = _bool("fast", raw.get("fast", False))
    output_size = _ranged("output_size", raw.get("output_size", defaults.output_size), int, MIN_OUTPUT_SIZE, MAX_OUTPUT_SIZE)
    steps = _ranged("steps", raw.get("steps", defaults.fast_steps if fast else defaults.steps), int, MIN_STEPS, MAX_STEPS)
    if fast:
        steps = min(steps, defaults.fast_steps)
    guidance = float(_ranged("guidance", raw.get("guidance", defaults.guidance), float, MIN_GUIDANCE, MAX_GUIDANCE))
    strength = float(_number("strength", raw.get("strength", defaults.strength), float, "a number above 0 and at most 1"))
    if not 0.0 < strength <= 1.0:
        raise _bad("strength", "a number above 0 and at most 1", raw.get("strength"))
    if "seed" in raw:
        seed = _ranged("seed", raw["seed"], int, 0, MAX_SEED)
    else:
        seed = secrets.randbelow(2**31)  # random, but a caller who wants a repeat passes one
    options = DiffusionOptions(output_size=output_size, steps=steps, guidance=guidance, seed=seed, strength=strength, fast=fast)
    if options.denoising_steps < 1:
        raise InputRejected(
            f"The options steps={steps} and strength={strength:g} leave no denoising step: "
            "raise steps or strength so that steps x strength is at least 1.",
            code="invalid_option",
        )
    return options
