"""Engine test doubles, for tests whose subject is NOT the engine (the queue, retries, timeouts).

Tests of try-on quality use the real engines; these stand in only where an engine's behaviour
must be forced (an error on every attempt, a hang) or must cost nothing (queue overhead).
"""

from __future__ import annotations

import os
import threading
import time

from PIL import Image, ImageOps

from tryon_server.engines.base import ProgressCallback, TryOnJob
from tryon_server.exceptions import InputRejected


class InstantEngine:
    """Returns the person photo, mirrored, at the requested size: a result with no model cost."""

    name, device = "instant", "cpu"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.runs: list[str] = []

    def load(self) -> None:
        pass

    def run(self, job: TryOnJob, progress: ProgressCallback) -> Image.Image:
        steps = 4
        for i in range(steps):
            job.check_cancelled()
            progress("warp", (i + 1) / steps)
            if self.delay_s:
                time.sleep(self.delay_s / steps)
        self.runs.append(job.person_key)
        size = job.options.get("output_size", 1024)
        out = ImageOps.mirror(job.person)
        out.thumbnail((size, size))
        return out


class FailingEngine(InstantEngine):
    """Raises an unexpected error for chosen categories (all by default): a poison session."""

    name = "failing"

    def __init__(self, fail_categories: tuple[str, ...] = ("upper", "lower", "dress")) -> None:
        super().__init__()
        self.fail_categories = fail_categories
        self.attempts = 0

    def run(self, job: TryOnJob, progress: ProgressCallback) -> Image.Image:
        if job.category in self.fail_categories:
            self.attempts += 1
            raise RuntimeError("simulated engine crash")
        return super().run(job, progress)


class RejectingEngine(InstantEngine):
    name = "rejecting"

    def run(self, job: TryOnJob, progress: ProgressCallback) -> Image.Image:
        raise InputRejected("No person was found in the photo: use a photo that shows your shoulders and hips.",
                            code="no_person")


class StuckEngine(InstantEngine):
    """Hangs (ignoring cancel) on the first try-on only, like a wedged native call."""

    name = "stuck"

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.stuck_once = False

    def run(self, job: TryOnJob, progress: ProgressCallback) -> Image.Image:
        if not self.stuck_once:
            self.stuck_once = True
            self.release.wait(60)
        return super().run(job, progress)


def instant_engine(settings: object) -> InstantEngine:
    """For a server started as a subprocess: `run.py --engine tests.doubles:instant_engine`.
    TRYON_TEST_ENGINE_DELAY (seconds) makes each try-on take that long."""
    return InstantEngine(delay_s=float(os.environ.get("TRYON_TEST_ENGINE_DELAY", "0")))


# a try-on whose `seed` option is this pauses first (tests/test_scale_out.py kills its worker then)
PAUSE_SEED = 424242
PAUSE_S = 4.0
# one with this seed waits while the file named by TRYON_TEST_GATE exists (at most GATE_MAX_S)
GATE_SEED = 434343
GATE_MAX_S = 120.0
# one with this seed fails with an engine error the first time, on any worker (the file named by
# TRYON_TEST_GATE + ".failed" remembers it across processes)
FAIL_ONCE_SEED = 444444


class PausingClassicEngine:
    """The real classic engine; a try-on with seed PAUSE_SEED first reports the stage "test_pause"
    and waits PAUSE_S, one with GATE_SEED waits while the test's gate file exists (both still
    cancellable), so that a test can act while it surely runs; one with FAIL_ONCE_SEED fails once."""

    def __init__(self, settings: object) -> None:
        from tryon_server.engines.classic import ClassicEngine

        self.inner = ClassicEngine(settings)  # type: ignore[arg-type]
        self.name, self.device = self.inner.name, self.inner.device

    def load(self) -> None:
        self.inner.load()

    def person_analyzer(self) -> object:
        return self.inner.person_analyzer()

    def run(self, job: TryOnJob, progress: ProgressCallback) -> Image.Image:
        seed = job.options.get("seed")
        if seed == FAIL_ONCE_SEED:
            try:
                with open(os.environ["TRYON_TEST_GATE"] + ".failed", "x"):
                    pass
            except FileExistsError:
                pass
            else:
                raise RuntimeError("simulated engine error, once")
        if seed in (PAUSE_SEED, GATE_SEED):
            progress("test_pause", 0.05)
            gate = os.environ.get("TRYON_TEST_GATE", "")
            deadline = time.monotonic() + (PAUSE_S if seed == PAUSE_SEED else GATE_MAX_S)
            while time.monotonic() < deadline and (seed == PAUSE_SEED or os.path.exists(gate)):
                job.check_cancelled()
                time.sleep(0.05)
        return self.inner.run(job, progress)


def pausing_classic_engine(settings: object) -> PausingClassicEngine:
    """`--engine tests.doubles:pausing_classic_engine`: the classic engine with a pause on demand."""
    return PausingClassicEngine(settings)
