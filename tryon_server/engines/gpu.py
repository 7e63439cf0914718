"""What the GPU engines share: spotting CUDA out-of-memory, freeing the cache, one retry smaller.

    result = retry_smaller_on_oom(run, size, smaller, free=free_device_memory)

`run(size)` does one whole denoising call at a working size; when it runs out of GPU memory the
cache is freed and it is called once more at `smaller`; a second failure (or no smaller size
worth trying) ends in a sentence for the shopper (`InputRejected`, code `out_of_memory`).
Progress passed through `forward_only` never moves back when the retry starts its steps again.

torch is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from typing import TypeVar

from ..exceptions import Cancelled, InputRejected

log = logging.getLogger("tryon.engines.gpu")

T = TypeVar("T")
Size = tuple[int, int]  # (width, height)
StepCallback = Callable[[int, int], None]  # (steps done, steps in this call)

OOM_SHRINK = 0.75  # the retry's long side, as a share of the first try's
OOM_MIN_LONG_SIDE = 256  # below this a try-on is not worth showing: give the sentence instead

OUT_OF_MEMORY = (
    "The graphics card ran out of memory for this try-on, even at a lower resolution: "
    "try the fast mode or a smaller output size, or close other programs that use the GPU."
)


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)) if t)
    if oom_types and isinstance(exc, oom_types):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_device_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def forward_only(report: StepCallback) -> StepCallback:
    """A step callback that passes on only progress beyond what was already reported: a retry
    starts its steps again, and the shopper's progress bar must not go back."""
    reported = [0.0]

    def on_step(done: int, total: int) -> None:
        if done / max(1, total) > reported[0]:
            reported[0] = done / max(1, total)
            report(done, total)

    return on_step


def retry_smaller_on_oom(
    run: Callable[[Size], T], size: Size, smaller: Size, *, free: Callable[[], None] = free_device_memory,
) -> T:
    """`run(size)`; on CUDA out-of-memory free the cache and `run(smaller)` once. Cancellation
    and every other error pass through untouched."""
    try:
        return run(size)
    except Cancelled:
        raise
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        log.warning("out of memory at %sx%s; retrying once at %sx%s", *size, *smaller)
    # outside the except block: the traceback (which pins the failed call's tensors) is gone
    free()
    if max(smaller) >= max(size) or max(smaller) < OOM_MIN_LONG_SIDE:
        raise InputRejected(OUT_OF_MEMORY, code="out_of_memory")
    try:
        return run(smaller)
    except Cancelled:
        raise
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
    free()
    raise InputRejected(OUT_OF_MEMORY, code="out_of_memory")
