"""What the GPU engines (diffusion, catvton) share.

- `GPUEngine`: construction, `load()` (models, runner, the MediaPipe analyzer, a CUDA warm-up),
  the pose stage every run starts with, and `Stages`, which reports and times the stages;
- the runners' out-of-memory handling:

    result = retry_smaller_on_oom(run, size, smaller, free=free_device_memory)
    picture = shrink_on_oom(request, size, smaller, run, resampling)  # the same, for a request

`run(size)` does one whole denoising call at a working size; when it runs out of GPU memory the
cache is freed and it is called once more at `smaller`; a second failure (or no smaller size
worth trying) ends in a sentence for the shopper (`InputRejected`, code `out_of_memory`).
Progress passed through `forward_only` never moves back when the retry starts its steps again.

torch, diffusers and MediaPipe are imported inside the functions, so importing this module stays
cheap.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np
from PIL import Image

from ..exceptions import Cancelled, InputRejected
from .base import ProgressCallback, TryOnJob

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from ..config import Settings
    from ..vision.person import PersonAnalysis, PersonAnalyzer

log = logging.getLogger("tryon.engines.gpu")

T = TypeVar("T")
R = TypeVar("R", bound="DataclassInstance")
Size = tuple[int, int]  # (width, height)
StepCallback = Callable[[int, int], None]  # (steps done, steps in this call)

OOM_SHRINK = 0.75  # the retry's long side, as a share of the first try's
OOM_MIN_LONG_SIDE = 256  # below this a try-on is not worth showing: give the sentence instead

OUT_OF_MEMORY = (
    "The graphics card ran out of memory for this try-on, even at a lower resolution: "
    "try the fast mode or a smaller output size, or close other programs that use the GPU."
)


def missing_package(*names: str) -> str | None:
    """A sentence fragment naming the first of `names` not installed (with the command that
    installs the GPU engines' packages), None when every one is there. Imports none of them."""
    for name in names:
        if importlib.util.find_spec(name) is None:
            return f"the {name} package is not installed; install with: pip install -e '.[diffusion]'"
    return None


def check_request(what: str, pictures: Sequence[Image.Image], cancel: threading.Event) -> tuple[int, int]:
    """The (w, h) a runner's request's pictures share. Pictures of different sizes or with sides
    not divisible by 8 are the engine's own bug (ValueError, not a sentence for the shopper);
    `Cancelled` when the session was deleted before the model starts."""
    width, height = pictures[0].size
    if width % 8 or height % 8 or any(p.size != (width, height) for p in pictures):
        raise ValueError(f"{what} inputs must share one size with sides divisible by 8, got "
                         f"{', '.join(str(p.size) for p in pictures)}")
    if cancel.is_set():
        raise Cancelled("The try-on was cancelled.")
    return width, height


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


def shrink_on_oom(
    request: R, size: Size, smaller: Size, run: Callable[[R], Image.Image],
    resampling: dict[str, Image.Resampling],
) -> Image.Image:
    """`retry_smaller_on_oom` for a runner's request: the retry runs on a copy of `request` whose
    pictures (the fields named in `resampling`, each resized its own way) are at `smaller`, and
    its result is scaled back up to `size`."""

    def at(working: Size) -> Image.Image:
        if working == size:
            return run(request)
        shrunk = dataclasses.replace(
            request, **{name: getattr(request, name).resize(working, how) for name, how in resampling.items()})
        return run(shrunk).resize(size, Image.Resampling.LANCZOS)

    # `free_device_memory` is looked up here, at call time, so a test can replace it
    return retry_smaller_on_oom(at, size, smaller, free=free_device_memory)


class Stages:
    """A try-on's stages, entered in order: each entry checks for cancellation, reports the
    stage's starting progress and ends the previous stage's timing."""

    def __init__(self, job: TryOnJob, progress: ProgressCallback, starts: dict[str, float]) -> None:
        self.job, self.progress, self.starts = job, progress, starts
        self.timings: dict[str, float] = {}
        self._current = ""
        self._clock = time.perf_counter()

    def enter(self, name: str) -> None:
        self.job.check_cancelled()
        now = time.perf_counter()
        if self._current:
            self.timings[self._current] = now - self._clock
        self._current, self._clock = name, now
        self.progress(name, self.starts[name])

    def steps(self, start: float, end: float) -> StepCallback:
        """A runner's step callback: the current stage's progress from `start` to `end`."""
        name = self._current

        def on_step(done: int, total: int) -> None:
            self.progress(name, start + (end - start) * done / max(1, total))

        return on_step

    def finish(self) -> str:
        """End the last stage, report the try-on done; the timings as one line for the log."""
        self.timings[self._current] = time.perf_counter() - self._clock
        self.progress(self._current, 1.0)
        return " ".join(f"{k}={v:.2f}s" for k, v in self.timings.items())


class GPUEngine:
    """The part of the diffusion and CatVTON engines that is the same: construct cheaply, `load()`
    does the heavy work. A subclass sets `name` and `STAGE_START` (overall progress at the start
    of each stage, "pose" first) and implements `_load_models()` and `_warm_up_request()`."""

    name: str
    STAGE_START: ClassVar[dict[str, float]]

    def __init__(self, settings: Settings, device: str | None = None) -> None:
        from .diffusion.loading import pick_device

        self.settings = settings
        self.models_dir = settings.models_dir
        self.device = device or pick_device()
        self.models: Any = None  # the loaded networks, after load()
        self.runner: Any = None  # the denoising call (models, request, on_step, cancel), after load()
        self.analyzer: PersonAnalyzer | None = None  # after load()

    def _load_models(self) -> tuple[Any, Any]:
        """(models, runner) from `models_dir` on `device`."""
        raise NotImplementedError

    def _warm_up_request(self) -> Any:
        """A short request for the runner at the default output size."""
        raise NotImplementedError

    # -- Engine protocol -------------------------------------------------------------------------

    def load(self) -> None:
        from ..vision.person import PersonAnalyzer

        started = time.perf_counter()
        self.models, self.runner = self._load_models()
        self.analyzer = PersonAnalyzer()
        self.analyzer.load()
        if self.device.startswith("cuda"):
            self._warm_up()
        logging.getLogger(f"tryon.engines.{self.name}").info(
            "%s engine ready in %.1fs", self.name, time.perf_counter() - started)

    def person_analyzer(self) -> PersonAnalyzer | None:
        """engines.base.AnalyzesPeople: the analyzer its try-ons use, once loaded."""
        return self.analyzer

    # -- what every run starts with ----------------------------------------------------------------

    def _pose(self, job: TryOnJob, progress: ProgressCallback, output_size: int,
              ) -> tuple[Stages, Image.Image, np.ndarray, PersonAnalysis]:
        """Stage 1: the photo at its output size and its pose (the analysis is cached per photo and
        size); refused when the photo does not show what the category needs."""
        from ..vision.person import require_landmarks
        from .classic import fit_long_side

        if self.runner is None or self.analyzer is None:
            raise RuntimeError(f"{type(self).__name__}.run() before load()")
        stages = Stages(job, progress, self.STAGE_START)
        stages.enter("pose")
        person = fit_long_side(job.person.convert("RGB"), output_size)
        person_rgb = np.asarray(person, dtype=np.uint8)
        analysis = self.analyzer.analyze(person_rgb, job.person_key or None)
        require_landmarks(analysis, job.category)
        return stages, person, person_rgb, analysis

    def _warm_up(self) -> None:
        """One short call so the first shopper does not pay for CUDA kernel selection."""
        try:
            self.runner(self._warm_up_request(), lambda done, total: None, threading.Event())
        except Exception as exc:  # a failed warm-up is not worth refusing to start for
            log.warning("%s warm-up failed: %s", self.name, exc)
