"""The diffusion engine, through its real loader and the real diffusers pipeline, on a CPU.

Every model is a tiny random-weight stand-in built by tests/tiny_models.py and saved into a
temporary models/ folder laid out as models/README.md asks; the engine loads it exactly as the
server does. Runs are small (128-256 px, 2-4 steps) so the whole module takes well under a minute.
"""

from __future__ import annotations

import functools
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests import gpu_engine_checks as checks
from tests.garments import TOP_RED
from tests.tiny_models import build_tiny_models
from tryon_server.config import Settings
from tryon_server.engines import create_engine
from tryon_server.engines.diffusion import DiffusionEngine, missing_weights_reason
from tryon_server.engines.diffusion.engine import DIFFUSION_START
from tryon_server.engines.diffusion.openpose import COLORS, coco18_keypoints, render_openpose
from tryon_server.engines.diffusion.options import FAST_STEPS, parse_options
from tryon_server.exceptions import ConfigError, InputRejected

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
SMALL = {"output_size": 128, "steps": 3, "strength": 1.0, "seed": 7}


models_dir, engine, person, benchmark, server = checks.engine_fixtures("diffusion", build_tiny_models, DiffusionEngine)
job_for = functools.partial(checks.job_for, small=SMALL)


Recorder = functools.partial(checks.Recorder, DIFFUSION_START)


# --- missing weights ------------------------------------------------------------------------------


def test_missing_weights_reason_names_the_missing_folder(tmp_path: Path, models_dir: Path) -> None:
    partial = checks.check_missing_weights_are_named_in_turn(
        missing_weights_reason, models_dir, tmp_path, ["sdxl-inpainting"], then_missing="controlnet-openpose-sdxl")

    shutil.rmtree(partial / "sdxl-inpainting" / "unet")
    reason = missing_weights_reason(partial)
    assert reason and "sdxl-inpainting" in reason and "unet/" in reason

    assert missing_weights_reason(models_dir) is None


def test_engine_diffusion_refuses_to_start_naming_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sdxl-inpainting"):
        create_engine(Settings(models_dir=tmp_path, engine="diffusion"))


def test_engine_auto_falls_back_to_classic_and_says_why(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import tryon_server.engines as engines

    monkeypatch.setattr(engines, "_cuda_available", lambda: True)  # on a GPU, the missing weights are the reason
    with caplog.at_level("WARNING", logger="tryon.engines"):
        engine = create_engine(Settings(models_dir=tmp_path, engine="auto"))
    assert engine.name == "classic"
    assert "sdxl-inpainting" in caplog.text and "classic" in caplog.text


def test_importing_the_package_does_not_import_torch() -> None:
    checks.check_importing_does_not_import_torch("tryon_server.engines.diffusion")


# --- options ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("options, word", [
    ({"steps": 0}, "steps"), ({"steps": 101}, "steps"), ({"steps": "many"}, "steps"), ({"steps": 2.5}, "steps"),
    ({"guidance": -1}, "guidance"), ({"guidance": float("nan")}, "guidance"), ({"strength": 0}, "strength"),
    ({"strength": 1.5}, "strength"), ({"seed": -1}, "seed"), ({"output_size": 10}, "output_size"),
    ({"fast": "maybe"}, "fast"), ({"steps": 2, "strength": 0.2}, "strength"),
])
def test_nonsense_options_are_refused_with_a_sentence(options: dict, word: str) -> None:
    with pytest.raises(InputRejected) as info:
        parse_options(options)
    assert info.value.code == "invalid_option" and word in info.value.message and info.value.message.endswith(".")


def test_options_defaults_parsing_and_fast_mode() -> None:
    default = parse_options({})
    assert (default.output_size, default.steps, default.guidance, default.fast) == (1024, 30, 5.0, False)
    assert 0 < default.strength < 1 and default.denoising_steps >= 1
    assert parse_options({"steps": "8", "guidance": "3.5", "seed": "42", "fast": "false"}).steps == 8
    assert parse_options({"fast": True}).steps == FAST_STEPS
    assert parse_options({"fast": True, "steps": 50}).steps == FAST_STEPS
    assert parse_options({"seed": 5}).seed == 5
    assert parse_options({"steps": None, "seed": None}).steps == 30  # None means "default"


# --- OpenPose rendering -------------------------------------------------------------------------------


def _standing_landmarks(scale: float = 512.0) -> np.ndarray:
    lm = np.zeros((33, 4), np.float32)
    points = {0: (0.5, 0.12), 2: (0.53, 0.1), 5: (0.47, 0.1), 7: (0.56, 0.11), 8: (0.44, 0.11),
              11: (0.62, 0.25), 12: (0.38, 0.25), 13: (0.66, 0.4), 14: (0.34, 0.4), 15: (0.68, 0.55),
              16: (0.32, 0.55), 23: (0.57, 0.58), 24: (0.43, 0.58), 25: (0.57, 0.76), 26: (0.43, 0.76),
              27: (0.57, 0.94), 28: (0.43, 0.94)}
    for i, (x, y) in points.items():
        lm[i] = (x * scale, y * scale, 0.0, 0.99)
    return lm


def test_openpose_skeleton_uses_coco18_order_and_openpose_colours() -> None:
    lm = _standing_landmarks()
    kp = coco18_keypoints(lm)
    assert kp.shape == (18, 3) and kp[:, 2].all()
    np.testing.assert_allclose(kp[1, :2], (256, 0.25 * 512))  # neck = mid-shoulders
    np.testing.assert_allclose(kp[2, :2], lm[12, :2])  # OpenPose 2 = right shoulder = MediaPipe 12
    img = np.asarray(render_openpose(lm, (512, 512)))
    assert img.shape == (512, 512, 3)
    # joints are dots in their own colour; limbs are 60 % of theirs
    for i in (0, 2, 4, 8, 13):
        x, y = np.round(kp[i, :2]).astype(int)
        assert tuple(img[y, x]) == COLORS[i]
    mid = np.round((kp[1, :2] + kp[8, :2]) / 2).astype(int)  # neck -> right hip is limb 6
    assert tuple(img[mid[1], mid[0]]) == tuple(int(c * 0.6) for c in COLORS[6])
    assert img[:5].max() == 0  # black background


def test_openpose_skips_unseen_joints_and_scales_to_the_target() -> None:
    lm = _standing_landmarks()
    lm[[25, 26, 27, 28], 3] = 0.05  # knees and ankles not seen
    kp = coco18_keypoints(lm)
    assert not kp[[9, 10, 12, 13], 2].any()
    img = np.asarray(render_openpose(lm, (512, 512), (256, 128)))
    assert img.shape == (128, 256, 3)
    assert img[int(0.85 * 128):].max() == 0  # nothing drawn below the hips


# --- the engine, end to end ------------------------------------------------------------------------------


def test_engine_loads_everything_from_the_models_folder(engine: DiffusionEngine) -> None:
    models = engine.models
    assert models.pipe.unet.config.in_channels == 9
    assert models.pipe.vae_scale_factor == 8
    assert models.segformer is not None and models.openpose is None
    assert str(models.dtype) == "torch.float32"
    processors = {type(p).__name__ for p in models.pipe.unet.attn_processors.values()}
    assert processors == {"AttnProcessor2_0"}


def test_run_gives_a_result_at_the_output_size_with_progress_rising(engine: DiffusionEngine, person: Image.Image) -> None:
    progress = Recorder()
    result = engine.run(job_for(person), progress)
    assert result.mode == "RGB"
    assert max(result.size) == 128 and abs(result.size[0] / result.size[1] - person.size[0] / person.size[1]) < 0.02
    values = [p for _, p in progress.events]
    assert values == sorted(values) and values[-1] == 1.0
    assert [s for s, _ in progress.events][:3] == ["pose", "parsing", "warp"]
    assert progress.diffusion_steps() == SMALL["steps"]


def test_only_the_masked_area_changes_and_the_face_is_the_original(engine: DiffusionEngine, person: Image.Image) -> None:
    from tryon_server.engines.classic import fit_long_side

    result = engine.run(job_for(person, output_size=256, steps=2), Recorder())
    checks.check_only_the_masked_area_changes(engine, result, fit_long_side(person, 256))


def test_the_same_seed_gives_the_same_picture(engine: DiffusionEngine, person: Image.Image) -> None:
    checks.check_the_same_seed_gives_the_same_picture(engine, functools.partial(job_for, person), Recorder())


def test_the_warped_garment_is_the_starting_image(engine: DiffusionEngine, person: Image.Image) -> None:
    """At a low strength the result keeps the warped garment's colour where it lies."""
    from tryon_server.engines.classic import fit_long_side

    job = job_for(person, output_size=256, steps=10, strength=0.2)
    result = np.asarray(engine.run(job, Recorder())).astype(float)
    original = np.asarray(fit_long_side(person, 256)).astype(float)
    chest = (slice(int(0.8 * 300), int(0.95 * 300)), slice(int(0.35 * 256), int(0.65 * 256)))
    before = np.linalg.norm(original[chest].reshape(-1, 3).mean(0) - TOP_RED)
    after = np.linalg.norm(result[chest].reshape(-1, 3).mean(0) - TOP_RED)
    assert after < 0.6 * before


def test_fast_mode_runs_fewer_steps(engine: DiffusionEngine, person: Image.Image) -> None:
    checks.check_fast_mode_runs_fewer_steps(engine, functools.partial(job_for, person), Recorder(), FAST_STEPS)


def test_a_nonsense_option_fails_the_session_with_a_sentence(engine: DiffusionEngine, person: Image.Image) -> None:
    with pytest.raises(InputRejected, match="steps"):
        engine.run(job_for(person, steps=0), Recorder())


def test_cancel_during_diffusion_stops_at_the_next_step(engine: DiffusionEngine, person: Image.Image) -> None:
    checks.check_cancel_during_diffusion_stops_at_the_next_step(engine, functools.partial(job_for, person), Recorder())


def test_cancel_before_the_run_starts(engine: DiffusionEngine, person: Image.Image) -> None:
    checks.check_cancel_before_the_run_starts(engine, functools.partial(job_for, person), Recorder())


def test_out_of_memory_frees_the_cache_and_retries_once_smaller(
    engine: DiffusionEngine, person: Image.Image, monkeypatch: pytest.MonkeyPatch,
) -> None:
    checks.check_out_of_memory_frees_the_cache_and_retries_once_smaller(
        engine, functools.partial(job_for, person), Recorder(), monkeypatch, lambda request: request.image.size)


def test_inpaint_mask_never_covers_face_or_hands_even_if_parsing_says_clothes(engine: DiffusionEngine) -> None:
    from tryon_server.engines.diffusion.parsing import inpaint_mask

    parser = engine.models.segformer
    h, w = 64, 48
    region = np.zeros((h, w), bool)
    region[20:60, 5:43] = True
    face = np.zeros((h, w), bool)
    face[5:25, 15:33] = True
    hands = np.zeros((h, w), bool)
    hands[50:60, 5:12] = True
    labels = np.full((h, w), parser.labels["upper-clothes"], np.int32)  # a parse that calls it all clothes
    labels[:4] = parser.labels["hair"]
    mask = inpaint_mask("upper", region, face, hands, labels=labels, parser=parser, dilate_px=3)
    assert mask.any() and not (mask & face).any() and not (mask & hands).any() and not mask[:4].any()
    assert mask[40, 2]  # clothes the parse found outside the pose region are repainted too


def test_a_photo_that_does_not_fit_the_category_is_refused(engine: DiffusionEngine, person: Image.Image) -> None:
    checks.check_a_photo_that_does_not_fit_the_category_is_refused(engine, person, SMALL, Recorder())


def test_controlnet_aux_openpose_is_used_only_with_package_and_weights(
    engine: DiffusionEngine, person: Image.Image, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.machinery
    import types

    from tryon_server.engines.diffusion.loading import load_openpose_detector

    folder = tmp_path / "openpose-annotator"
    calls: list[tuple[int, int]] = []

    class FakeDetector:
        @classmethod
        def from_pretrained(cls, path: str) -> FakeDetector:
            assert Path(path) == folder
            return cls()

        def __call__(self, image: Image.Image) -> Image.Image:
            calls.append(image.size)
            return Image.new("RGB", (512, 512), (255, 0, 0))

    assert load_openpose_detector(folder, "cpu") is None  # no weights: MediaPipe drawing
    folder.mkdir()
    (folder / "body_pose_model.pth").write_bytes(b"weights")
    if importlib.util.find_spec("controlnet_aux") is None:
        assert load_openpose_detector(folder, "cpu") is None  # weights but no package
    fake = types.ModuleType("controlnet_aux")
    fake.__spec__ = importlib.machinery.ModuleSpec("controlnet_aux", None)
    fake.OpenposeDetector = FakeDetector
    monkeypatch.setitem(sys.modules, "controlnet_aux", fake)
    detector = load_openpose_detector(folder, "cpu")
    assert isinstance(detector, FakeDetector)
    monkeypatch.setattr(engine.models, "openpose", detector)
    engine.run(job_for(person, steps=2), Recorder())
    assert len(calls) == 1


@pytest.mark.slow
def test_no_segformer_falls_back_to_pose_region_and_a_vae_fp16_fix_is_used(tmp_path: Path, person: Image.Image) -> None:
    models = build_tiny_models(tmp_path / "models", segformer=False)
    shutil.copytree(models / "sdxl-inpainting" / "vae", models / "vae-fp16-fix")
    engine = DiffusionEngine(Settings(models_dir=models))
    engine.load()
    assert engine.models.segformer is None
    assert engine.models.vae_fp16_fix and not engine.models.pipe.vae.config.force_upcast
    result = engine.run(job_for(person, steps=2), Recorder())
    assert max(result.size) == 128


def test_gpu_benchmark_configs_are_the_published_sdxl_sizes(benchmark) -> None:
    """Built on the meta device (no memory): parameter counts match the published models."""
    import torch
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel

    with torch.device("meta"):
        counts = {name: sum(p.numel() for p in make().parameters()) / 1e6 for name, make in {
            "unet": lambda: UNet2DConditionModel(**benchmark.SDXL_INPAINT_UNET),
            "controlnet": lambda: ControlNetModel(**benchmark.SDXL_CONTROLNET),
            "vae": lambda: AutoencoderKL(**benchmark.SDXL_VAE),
        }.items()}
    assert round(counts["unet"]) == 2567 and round(counts["controlnet"]) == 1251 and round(counts["vae"]) == 84


@pytest.mark.slow
def test_gpu_benchmark_script_runs_tiny_on_cpu(benchmark, tmp_path: Path) -> None:
    module = benchmark
    out = tmp_path / "bench.json"
    assert module.main(["--tiny", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    for mode in ("standard", "fast"):
        assert report[mode]["seconds"] > 0 and report[mode]["tflop"] >= 0
        assert report[mode]["steps_reported"] == report[mode]["denoising_steps"]
    assert report["params_millions"]["unet"] > 0


# --- the real server, started with --engine diffusion -------------------------------------------------


@pytest.mark.slow
def test_server_with_engine_diffusion_runs_a_session_to_completed(server) -> None:
    options = {"output_size": 128, "steps": 4, "strength": 1.0, "seed": 1}
    checks.check_server_runs_a_session_to_completed(server.url, "diffusion", options)


@pytest.mark.slow
def test_server_delete_interrupts_a_running_diffusion_session(server) -> None:
    progress_at_delete = checks.check_server_delete_interrupts_a_running_session(
        server.url, server.log_path, "diffusion", DIFFUSION_START,
        slow={"output_size": 384, "steps": 100, "strength": 1.0, "seed": 1},
        quick={"output_size": 128, "steps": 2, "strength": 1.0, "seed": 1})
    assert progress_at_delete < 0.5
