"""What both GPU engines (diffusion, catvton) must do, written once: tests/test_engine_diffusion.py
and tests/test_engine_catvton.py take their fixtures from `engine_fixtures` and call these checks
with their own loaded engine, their own small job options and their own progress boundaries (the
engine module's DIFFUSION_START)."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.conftest import image_bytes
from tests.garments import draw_top
from tests.server_process import ServerProcess, serve_unlimited
from tryon_server.engines.base import TryOnJob
from tryon_server.engines.gpu import GPUEngine
from tryon_server.exceptions import Cancelled, InputRejected

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"

MakeJob = Callable[..., TryOnJob]  # options -> a job on the fixture photo


class Recorder:
    """A progress callback that keeps every (stage, progress) it is given."""

    def __init__(self, diffusion_start: float) -> None:
        self.diffusion_start = diffusion_start
        self.events: list[tuple[str, float]] = []

    def __call__(self, stage: str, progress: float) -> None:
        self.events.append((stage, progress))

    def diffusion_steps(self) -> int:
        return sum(1 for s, p in self.events if s == "diffusion" and p > self.diffusion_start)

    def rose_to_the_end(self) -> bool:
        values = [p for _, p in self.events]
        return values == sorted(values) and values[-1] == 1.0


def engine_fixtures(name: str, build_models: Callable[[Path], Path], engine_class: type[GPUEngine]) -> tuple[Any, ...]:
    """The module-scoped fixtures a GPU engine's test module needs, for `--engine NAME`: models_dir
    (the tiny models `build_models` writes into a fresh folder), engine (loaded from them, an
    `engine_class`), person (the fixture photo), benchmark (tests/benchmarks/gpu_NAME.py) and server
    (`python run.py --engine NAME` on them, a started ServerProcess). Made here once so that both modules build, load and
    serve the same way; each binds them to those names, which is how pytest finds them:
    `models_dir, engine, person, benchmark, server = checks.engine_fixtures(...)`."""

    @pytest.fixture(scope="module", name="models_dir")
    def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return build_models(tmp_path_factory.mktemp("models"))

    @pytest.fixture(scope="module", name="engine")
    def engine(models_dir: Path) -> GPUEngine:
        engine = loaded_engine(models_dir, name)
        assert isinstance(engine, engine_class)
        return engine

    @pytest.fixture(scope="module", name="person")
    def person() -> Image.Image:
        return fixture_person()

    @pytest.fixture(scope="module", name="benchmark")
    def benchmark() -> ModuleType:
        return load_benchmark(f"gpu_{name}")

    @pytest.fixture(scope="module", name="server")
    def server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
        # generous: start-up imports torch, diffusers and MediaPipe on a CPU shared with others
        yield from serve_unlimited(tmp_path_factory.mktemp("server") / "data", "--models-dir", str(models_dir),
                                   engine=name, timeout=240)

    return models_dir, engine, person, benchmark, server


def loaded_engine(models_dir: Path, name: str) -> GPUEngine:
    """The engine `--engine NAME` makes, on this CPU, loaded from the tiny models."""
    from tryon_server.config import Settings
    from tryon_server.engines import create_engine

    engine = create_engine(Settings(models_dir=models_dir, engine=name))
    assert isinstance(engine, GPUEngine) and engine.name == name and engine.device == "cpu"
    engine.load()
    return engine


def fixture_person() -> Image.Image:
    """A real photo of a person, upper body (public domain)."""
    return Image.open(FIXTURES / "grace_hopper.jpg").convert("RGB")


def job_for(person: Image.Image, small: dict[str, Any], **options: Any) -> TryOnJob:
    return TryOnJob(person=person, garment=draw_top(), category="upper", person_key="grace",
                    options={**small, **options})


def load_benchmark(name: str) -> ModuleType:
    """tests/benchmarks/<name>.py as a module (the folder is not a package pytest collects)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_missing_weights_are_named_in_turn(missing_weights_reason: Callable[[Path], str | None], models_dir: Path,
                                            tmp_path: Path, folders: list[str], then_missing: str) -> Path:
    """An empty models folder is refused naming the first of `folders` and models/README.md; with
    each folder copied in from the full `models_dir` in turn, the reason names the next one still
    missing, `then_missing` after the last. The partly filled folder, for the caller's own checks."""
    reason = missing_weights_reason(tmp_path)
    assert reason and folders[0] in reason and "README.md" in reason
    partial = tmp_path / "partial"
    for present, missing in zip(folders, [*folders[1:], then_missing]):
        shutil.copytree(models_dir / present, partial / present)
        reason = missing_weights_reason(partial)
        assert reason and missing in reason
    return partial


def check_importing_does_not_import_torch(package: str) -> None:
    """Importing the engine's package and asking what is missing must stay cheap."""
    code = (f"import sys, {package} as e; "
            "e.missing_weights_reason(__import__('pathlib').Path('nowhere')); "
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# --- the engine, end to end ------------------------------------------------------------------------


def check_only_the_masked_area_changes(engine: GPUEngine, result: Image.Image, original: Image.Image) -> np.ndarray:
    """The face is the original's, nothing changes over face, hands or the head's surroundings;
    the pixels that did change, for the caller's own checks."""
    out, before = np.asarray(result).astype(int), np.asarray(original).astype(int)
    assert engine.analyzer is not None
    analysis = engine.analyzer.analyze(before.astype(np.uint8), "grace")
    face = analysis.face_mask
    assert face.any() and np.abs(out[face] - before[face]).max() <= 2
    changed = np.abs(out - before).max(-1) > 8
    assert changed.any()
    assert not (changed & face).any() and not (changed & analysis.hands_mask).any()
    assert not changed[: int(0.1 * changed.shape[0])].any()  # the head's surroundings stay as they were
    return changed


def check_the_same_seed_gives_the_same_picture(engine: GPUEngine, make_job: MakeJob, recorder: Recorder) -> None:
    a = np.asarray(engine.run(make_job(seed=11), recorder))
    b = np.asarray(engine.run(make_job(seed=11), recorder))
    c = np.asarray(engine.run(make_job(seed=12), recorder))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def check_fast_mode_runs_fewer_steps(engine: GPUEngine, make_job: MakeJob, recorder: Recorder, fast_steps: int) -> None:
    engine.run(make_job(steps=None, fast=True, output_size=128), recorder)
    assert recorder.diffusion_steps() == fast_steps


def check_cancel_during_diffusion_stops_at_the_next_step(engine: GPUEngine, make_job: MakeJob,
                                                         progress: Recorder) -> None:
    job = make_job(steps=8)

    def cancel_after_first_step(stage: str, value: float) -> None:
        progress(stage, value)
        if stage == "diffusion" and value > progress.diffusion_start:
            job.cancel.set()

    with pytest.raises(Cancelled):
        engine.run(job, cancel_after_first_step)
    assert progress.diffusion_steps() == 1
    assert ("blend", 1.0) not in progress.events


def check_cancel_before_the_run_starts(engine: GPUEngine, make_job: MakeJob, progress: Recorder) -> None:
    job = make_job()
    job.cancel.set()
    with pytest.raises(Cancelled):
        engine.run(job, progress)
    assert progress.events == []  # not even the pose stage began


def check_out_of_memory_frees_the_cache_and_retries_once_smaller(
    engine: GPUEngine, make_job: MakeJob, progress: Recorder, monkeypatch: pytest.MonkeyPatch,
    input_size: Callable[[Any], tuple[int, int]],
) -> list[tuple[int, int]]:
    """The first denoising call runs out of GPU memory after a step: the cache is freed, the call
    retried once smaller, the result scaled back to the output size, progress never goes back;
    a runner that always runs out ends in the shopper's sentence. The working sizes tried (from
    `input_size(request)`), for the caller's own checks."""
    import torch

    from tryon_server.engines import gpu

    runner = engine.runner
    real_run = runner._run
    sizes: list[tuple[int, int]] = []
    freed: list[bool] = []

    def flaky(request: Any, on_step: Callable[[int, int], None], cancel: Any) -> Image.Image:
        sizes.append(input_size(request))
        if len(sizes) == 1:
            on_step(1, 2)  # one step done, then the GPU runs out
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_run(request, on_step, cancel)

    monkeypatch.setattr(runner, "_run", flaky)
    monkeypatch.setattr(gpu, "free_device_memory", lambda: freed.append(True))
    result = engine.run(make_job(output_size=512, steps=2), progress)
    assert max(result.size) == 512
    assert len(sizes) == 2 and max(sizes[1]) < max(sizes[0]) and freed
    assert progress.rose_to_the_end()  # the retry never moves progress back

    def always(request: Any, on_step: Callable[[int, int], None], cancel: Any) -> Image.Image:
        raise torch.OutOfMemoryError("CUDA out of memory.")

    monkeypatch.setattr(runner, "_run", always)
    with pytest.raises(InputRejected) as info:
        engine.run(make_job(output_size=512, steps=2), Recorder(progress.diffusion_start))
    assert info.value.code == "out_of_memory" and "memory" in info.value.message
    return sizes


def check_a_photo_that_does_not_fit_the_category_is_refused(engine: GPUEngine, person: Image.Image,
                                                             small: dict[str, Any], progress: Recorder) -> None:
    job = TryOnJob(person=person, garment=draw_top(), category="lower", person_key="grace", options=small)
    with pytest.raises(InputRejected) as info:
        engine.run(job, progress)
    assert info.value.code == "person_incomplete"


# --- the real server, started with --engine NAME ----------------------------------------------------


def submit(client: Any, options: dict[str, Any]) -> str:
    files = {"person": ("me.jpg", (FIXTURES / "grace_hopper.jpg").read_bytes(), "image/jpeg"),
             "garment": ("top.png", image_bytes(draw_top()), "image/png")}
    r = client.post("/api/tryon/sessions", files=files, data={"category": "upper", "options": json.dumps(options)})
    assert r.status_code == 202, r.text
    return r.json()["session_id"]


def _wait_until_done(client: Any, sid: str, deadline: float, pause: float) -> tuple[dict[str, Any], list[float]]:
    progress: list[float] = []
    while time.time() < deadline:
        body = client.get(f"/api/tryon/sessions/{sid}").json()
        progress.append(body["progress"])
        if body["status"] in ("completed", "failed"):
            break
        time.sleep(pause)
    return body, progress


def check_server_runs_a_session_to_completed(url: str, engine: str, options: dict[str, Any]) -> dict[str, Any]:
    """Health names the engine on the CPU with its models loaded; one session rises to completed
    and its result is a PNG at the output size. Health's answer, for the caller's own checks."""
    import httpx

    health = httpx.get(f"{url}/api/health").json()
    assert health["engine"] == engine and health["device"] == "cpu" and health["models_loaded"]
    token = httpx.post(f"{url}/api/tokens").json()["token"]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        body, progress = _wait_until_done(c, submit(c, options), time.time() + 120, 0.02)
        assert body["status"] == "completed", body
        assert progress == sorted(progress) and progress[-1] == 1.0
        assert len({p for p in progress if 0 < p < 1}) >= 2  # seen rising, not just 0 then 1
        result = c.get(body["result_url"])
        assert result.status_code == 200 and result.headers["content-type"] == "image/png"
        assert max(Image.open(BytesIO(result.content)).size) == options["output_size"]
    return health


def check_server_delete_interrupts_a_running_session(url: str, log_path: Path, engine: str, diffusion_start: float,
                                                     slow: dict[str, Any], quick: dict[str, Any]) -> float:
    """DELETE while a 100-step session is in its diffusion stage: the engine stops at the next
    step (its log says after which), and the next session runs at once. The deleted session's
    progress when it was deleted, for the caller's own checks."""
    import httpx

    token = httpx.post(f"{url}/api/tokens").json()["token"]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        running = submit(c, slow)
        deadline = time.time() + 60
        while time.time() < deadline:
            body = c.get(f"/api/tryon/sessions/{running}").json()
            if body["stage"] == "diffusion" and body["progress"] > diffusion_start + 0.01:
                break
            time.sleep(0.02)
        assert body["stage"] == "diffusion", body
        progress_at_delete = float(body["progress"])
        assert c.delete(f"/api/tryon/sessions/{running}").status_code == 204
        # the inference thread is free again long before the 100 steps could have finished
        body, _ = _wait_until_done(c, submit(c, quick), deadline, 0.05)
        assert body["status"] == "completed", body
        assert c.get(f"/api/tryon/sessions/{running}").status_code == 404
    found = re.search(rf"{engine} interrupted after step (\d+) of (\d+)", log_path.read_text())
    assert found, log_path.read_text()[-3000:]
    assert found.group(2) == str(slow["steps"]) and int(found.group(1)) < 60
    return progress_at_delete
