"""What the GPU benchmarks (gpu_diffusion.py, gpu_catvton.py) measure the same way: FLOPs counted
by PyTorch, and one runner call timed after a warm-up with the peak VRAM of that call alone.
Both scripts put this folder's parent on sys.path and import it as `benchmarks.gpu_timing`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of `fn()`, counted by PyTorch (on the meta device: shapes only, no memory, no GPU)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        fn()
    return counter.get_total_flops()


@dataclass
class TimedRun:
    picture: Any  # the runner's PIL result
    seconds: float
    steps_reported: int  # progress callbacks seen: one per denoising step
    peak_vram_allocated_gb: float | None  # None off CUDA
    peak_vram_reserved_gb: float | None


def time_run(runner: Any, request: Any, device: str) -> TimedRun:
    """`runner(request, on_step, cancel)` once to warm up (kernels, autotuning, compilation, caches),
    then once timed, with the CUDA peak-memory counters reset in between."""
    import torch

    cuda = device.startswith("cuda")
    cancel = threading.Event()
    steps_seen: list[int] = []

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    runner(request, lambda done, total: None, cancel)
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    picture = runner(request, lambda done, total: steps_seen.append(done), cancel)
    sync()
    seconds = time.perf_counter() - started
    return TimedRun(
        picture=picture, seconds=seconds, steps_reported=len(steps_seen),
        peak_vram_allocated_gb=round(torch.cuda.max_memory_allocated() / 1e9, 2) if cuda else None,
        peak_vram_reserved_gb=round(torch.cuda.max_memory_reserved() / 1e9, 2) if cuda else None,
    )


def mode_result(timed: TimedRun, options: Any, denoising_steps: int) -> dict[str, Any]:
    """The keys both benchmarks report for a mode (the engine's parsed options, and the steps
    the model actually ran, by which the time per step is divided)."""
    return {
        "size": list(timed.picture.size),
        "steps": options.steps,
        "guidance": options.guidance,
        "cfg": options.guidance > 1.0,
        "fast": options.fast,
        "seconds": round(timed.seconds, 3),
        "seconds_per_step": round(timed.seconds / max(1, denoising_steps), 4),
        "steps_reported": timed.steps_reported,
        "peak_vram_allocated_gb": timed.peak_vram_allocated_gb,
        "peak_vram_reserved_gb": timed.peak_vram_reserved_gb,
    }


def vram_note(result: dict[str, Any]) -> str:
    """', peak VRAM … allocated / … reserved' for a mode's printed line, or '' off CUDA."""
    if result["peak_vram_allocated_gb"] is None:
        return ""
    return (f", peak VRAM {result['peak_vram_allocated_gb']:.2f} GB allocated / "
            f"{result['peak_vram_reserved_gb']:.2f} GB reserved")


def write_json(results: dict[str, Any], path: Path | None) -> int:
    """Write the results where --json asked (if it did); the script's exit status."""
    if path:
        path.write_text(json.dumps(results, indent=2))
    return 0
