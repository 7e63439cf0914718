"""The CatVTON engine, through its real loader and diffusers' real UNet and VAE, on a CPU.

The models are tiny random-weight stand-ins built by tests/tiny_models.py and saved into a
temporary models/ folder laid out as models/README.md asks; the attention file is written the way
CatVTON's own training code writes it (positional keys). The full-size network is checked on
PyTorch's meta device (shapes and parameter counts, no memory). Runs are small (128-256 px,
2-4 steps).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests import gpu_engine_checks as checks
from tests.garments import draw_top, garment_mask
from tests.tiny_models import build_tiny_catvton_models, reference_attention_state
from tryon_server.config import Settings
from tryon_server.engines import create_engine, resolve_choice
from tryon_server.engines.catvton import LICENCE, CatVTONEngine, missing_weights_reason
from tryon_server.engines.catvton.compose import crop_box, fit_on_white, paste_back
from tryon_server.engines.catvton.engine import DIFFUSION_START
from tryon_server.engines.catvton.loading import (
    ATTENTION_KEYS,
    CHECKPOINT_STRIDE,
    SkipCrossAttention,
    checkpoint_layout,
    load_attention_weights,
    map_checkpoint,
    self_attention_modules,
)
from tryon_server.engines.catvton.options import FAST_STEPS, parse_options
from tryon_server.engines.catvton.pipeline import TryOnRequest, working_size
from tryon_server.exceptions import ConfigError, InputRejected

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
SMALL = {"output_size": 256, "steps": 3, "seed": 7}
ATTENTION = Path("catvton") / "mix-48k-1024" / "attention" / "model.safetensors"


models_dir, engine, person, benchmark, server = checks.engine_fixtures("catvton", build_tiny_catvton_models, CatVTONEngine)
job_for = functools.partial(checks.job_for, small=SMALL)


Recorder = functools.partial(checks.Recorder, DIFFUSION_START)


# --- weights present or not, and which engine `auto` picks ----------------------------------------


def test_missing_weights_reason_names_the_missing_folder(tmp_path: Path, models_dir: Path) -> None:
    partial = checks.check_missing_weights_are_named_in_turn(
        missing_weights_reason, models_dir, tmp_path, ["stable-diffusion-inpainting", "sd-vae-ft-mse"],
        then_missing=str(tmp_path / "partial" / ATTENTION))

    other_variant = partial / "catvton" / "dresscode-16k-512" / "attention"
    other_variant.mkdir(parents=True)
    shutil.copy(models_dir / ATTENTION, other_variant / "model.safetensors")
    assert missing_weights_reason(partial) is None  # any published variant will do

    (partial / "stable-diffusion-inpainting" / "scheduler" / "scheduler_config.json").unlink()
    reason = missing_weights_reason(partial)
    assert reason and "scheduler" in reason
    assert missing_weights_reason(models_dir) is None


def test_engine_catvton_refuses_to_start_naming_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="stable-diffusion-inpainting"):
        create_engine(Settings(models_dir=tmp_path, engine="catvton"))


def test_run_py_engine_catvton_refuses_with_the_folder_name(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "run.py", "--engine", "catvton", "--models-dir", str(tmp_path),
                          "--data-dir", str(tmp_path / "data")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "catvton engine cannot start" in out.stderr and str(tmp_path / "stable-diffusion-inpainting") in out.stderr


@pytest.mark.parametrize("cuda, chosen, words", [
    (True, "catvton", ("using catvton", "CUDA GPU", "sdxl-inpainting")),  # and why not the other GPU engine
    (False, "classic", ("no CUDA GPU", "catvton")),
])
def test_auto_prefers_catvton_only_on_a_gpu_and_says_why_in_one_line(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    cuda: bool, chosen: str, words: tuple[str, ...],
) -> None:
    import tryon_server.engines as engines

    monkeypatch.setattr(engines, "_cuda_available", lambda: cuda)
    with caplog.at_level("INFO", logger="tryon.engines"):
        assert resolve_choice(Settings(models_dir=models_dir, engine="auto")) == chosen
    lines = [r.getMessage() for r in caplog.records if r.name == "tryon.engines"]
    assert len(lines) == 1
    assert all(word in lines[0] for word in words), lines[0]


def test_importing_the_package_does_not_import_torch() -> None:
    checks.check_importing_does_not_import_torch("tryon_server.engines.catvton")


# --- options --------------------------------------------------------------------------------------


def test_options_have_catvtons_defaults_and_the_same_checks() -> None:
    default = parse_options({})
    assert (default.output_size, default.steps, default.guidance, default.strength) == (1024, 50, 2.5, 1.0)
    assert parse_options({"fast": True}).steps == FAST_STEPS == 25
    assert parse_options({"strength": 0.3, "steps": 2}).strength == 1.0  # CatVTON always starts from noise
    with pytest.raises(InputRejected, match="steps"):
        parse_options({"steps": 0})
    with pytest.raises(InputRejected, match="guidance"):
        parse_options({"guidance": -1})


def test_working_size_is_three_by_four_in_multiples_of_64_and_at_most_1024() -> None:
    assert working_size(1024) == (768, 1024)
    assert working_size(2048) == (768, 1024)
    assert working_size(512) == (384, 512)
    for long_side in (128, 256, 300, 700):
        w, h = working_size(long_side)
        assert w % 64 == 0 and h % 64 == 0 and abs(w / h - 0.75) <= 0.26


# --- the attention checkpoint: the published layout on the full-size network ----------------------


def test_full_size_sd15_inpainting_unet_has_the_published_attention_layout(benchmark) -> None:
    """The loader's attn1 list on the real architecture (meta device: no memory): 16 modules whose
    q/k/v/out add up to CatVTON's 49.57 M trained parameters, and the key-and-shape table the
    loader expects is exactly what CatVTON's own code saves, so a real checkpoint loads with no
    missing or unexpected key."""
    import torch
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel(**benchmark.SD15_INPAINT_UNET)
        reference_unet = UNet2DConditionModel(**benchmark.SD15_INPAINT_UNET)
    modules = self_attention_modules(unet)
    assert len(modules) == 16
    assert sum(p.numel() for _, m in modules for p in m.parameters()) == 49_574_080
    assert round(sum(p.numel() for p in unet.parameters()) / 1e6, 1) == 859.5  # SD 1.5 + 5 input channels

    expected = checkpoint_layout(unet)
    published = {key: tuple(p.shape) for key, p in reference_attention_state(reference_unet).items()}
    assert expected == published
    assert len(expected) == 16 * len(ATTENTION_KEYS) and "120.to_out.0.bias" in expected
    mapping = map_checkpoint(published, unet, "model.safetensors")
    loaded = {name for name, _ in unet.named_parameters() if ".attn1." in name}
    assert set(mapping.values()) == loaded  # every trained parameter, nothing else


def test_loader_maps_by_order_and_refuses_any_key_or_shape_that_does_not_fit(engine: CatVTONEngine, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    unet = engine.models.unet
    good = {key: torch.zeros(shape) for key, shape in checkpoint_layout(unet).items()}

    def refused(tensors: dict, pattern: str) -> None:
        path = tmp_path / "bad.safetensors"
        save_file(tensors, str(path))
        with pytest.raises(ConfigError, match=pattern):
            load_attention_weights(unet, path)

    first = f"0.{ATTENTION_KEYS[0]}"
    refused({**good, first: torch.zeros(3, 3)}, r"stores 0\.to_q\.weight as \[3, 3\]")
    refused({k: v for k, v in good.items() if k != "8.to_out.0.bias"}, "lacks 8.to_out.0.bias")
    refused({**good, "0.norm.weight": torch.zeros(1)}, "unexpected key '0.norm.weight'")
    last = max(int(k.split(".")[0]) for k in good)
    refused({k: v for k, v in good.items() if not k.startswith(f"{last}.")}, "holds 3 attention modules")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ConfigError, match="could not be read"):
        load_attention_weights(unet, tmp_path / "junk.safetensors")


# --- what was loaded -------------------------------------------------------------------------------


def test_engine_loads_the_trained_attention_and_skips_cross_attention(engine: CatVTONEngine, models_dir: Path) -> None:
    from safetensors.torch import load_file

    models = engine.models
    assert models.unet.config.in_channels == 9 and models.variant == "mix-48k-1024"
    assert type(models.scheduler).__name__ == "DDIMScheduler" and models.vae.config.scaling_factor == 0.18215
    assert str(models.dtype) == "torch.float32" and engine.licence == LICENCE and "CC BY-NC-SA 4.0" in LICENCE
    stored = load_file(str(models_dir / ATTENTION))
    for i, (_, module) in enumerate(self_attention_modules(models.unet)):
        for key in ATTENTION_KEYS:
            assert np.array_equal(dict(module.named_parameters())[key].detach().numpy(),
                                  stored[f"{i * CHECKPOINT_STRIDE}.{key}"].numpy()), key
    processors = models.unet.attn_processors
    assert {type(p).__name__ for n, p in processors.items() if ".attn1." in n} == {"AttnProcessor2_0"}
    assert all(isinstance(p, SkipCrossAttention) for n, p in processors.items() if ".attn2." in n)


def test_cross_attention_returns_its_input_and_norm2_still_acts(engine: CatVTONEngine) -> None:
    """h = attn2(norm2(h)) + h with attn2 handing back norm2(h): text states change nothing,
    but the frozen norm2 does (the layer was kept, not removed)."""
    import torch

    unet = engine.models.unet
    sample = torch.randn(1, 9, 16, 8, generator=torch.Generator().manual_seed(0))
    block = next(m for n, m in unet.named_modules() if n.endswith("transformer_blocks.0") and hasattr(m, "attn2"))
    seen: list[tuple] = []
    hook = block.attn2.register_forward_hook(lambda mod, args, out: seen.append((args[0], out)))
    try:
        with torch.no_grad():
            plain = unet(sample, 500, encoder_hidden_states=None).sample
            with_text = unet(sample, 500, encoder_hidden_states=torch.randn(1, 77, 32)).sample
    finally:
        hook.remove()
    assert seen and torch.equal(seen[0][0], seen[0][1])
    assert torch.equal(plain, with_text)
    original = block.norm2.weight.detach().clone()
    try:
        with torch.no_grad():
            block.norm2.weight.mul_(3.0)
            changed = unet(sample, 500, encoder_hidden_states=None).sample
    finally:
        with torch.no_grad():
            block.norm2.weight.copy_(original)
    assert not torch.allclose(plain, changed)


def test_unet_input_is_noise_mask_and_person_over_garment_latents(engine: CatVTONEngine) -> None:
    """Every step: cat([noisy latent, mask, masked person + garment latent]) on the channels,
    person and garment stacked along the height, no mask over the garment, the unconditional
    branch with the garment half zeroed, and no encoder states."""
    import threading

    import torch

    size = (64, 128)
    person = Image.new("RGB", size, (90, 120, 160))
    garment = Image.new("RGB", size, (200, 30, 40))
    mask = Image.new("L", size, 0)
    mask.paste(255, (0, 32, 64, 96))
    calls: list[tuple] = []
    hook = engine.models.unet.register_forward_pre_hook(
        lambda mod, args, kwargs: calls.append((args[0].clone(), kwargs.get("encoder_hidden_states", "absent"))),
        with_kwargs=True)
    try:
        request = TryOnRequest(person=person, garment=garment, mask=mask, options=parse_options({"steps": 2, "seed": 1}))
        engine.runner(request, lambda done, total: None, threading.Event())
        calls_cfg = len(calls)
        request.options = parse_options({"steps": 1, "seed": 1, "guidance": 1.0})
        engine.runner(request, lambda done, total: None, threading.Event())
    finally:
        hook.remove()
    assert calls_cfg == 2 and len(calls) == 3
    sample, states = calls[0]
    assert states is None
    lat_h, lat_w = size[1] // 8, size[0] // 8
    assert tuple(sample.shape) == (2, 9, 2 * lat_h, lat_w)
    mask_channel = sample[:, 4]
    expected_mask = torch.zeros(2 * lat_h, lat_w)
    expected_mask[32 // 8: 96 // 8] = 1.0
    assert torch.equal(mask_channel[0], expected_mask) and torch.equal(mask_channel[1], expected_mask)
    person_half, garment_half = sample[:, 5:, :lat_h], sample[:, 5:, lat_h:]
    assert torch.equal(person_half[0], person_half[1])  # both branches see the same person
    assert garment_half[0].abs().max() == 0 and garment_half[1].abs().max() > 0  # unconditional: no garment
    assert tuple(calls[2][0].shape) == (1, 9, 2 * lat_h, lat_w)  # guidance 1: no unconditional branch


# --- the engine, end to end ------------------------------------------------------------------------


def test_run_gives_a_result_at_the_output_size_with_progress_rising(engine: CatVTONEngine, person: Image.Image) -> None:
    progress = Recorder()
    result = engine.run(job_for(person), progress)
    assert result.mode == "RGB"
    assert max(result.size) == 256 and abs(result.size[0] / result.size[1] - person.size[0] / person.size[1]) < 0.02
    values = [p for _, p in progress.events]
    assert values == sorted(values) and values[-1] == 1.0
    assert [s for s, _ in progress.events][:3] == ["pose", "parsing", "diffusion"]
    assert progress.diffusion_steps() == SMALL["steps"]
    assert engine.runner.last_size == (192, 256)


def test_only_the_masked_area_changes_and_the_face_is_the_original(engine: CatVTONEngine, person: Image.Image) -> None:
    from tryon_server.engines.classic import fit_long_side

    result = engine.run(job_for(person, steps=2), Recorder())
    changed = checks.check_only_the_masked_area_changes(engine, result, fit_long_side(person, 256))
    assert changed.mean() > 0.05  # random weights paint noise: the garment area is repainted


def test_the_same_seed_gives_the_same_picture(engine: CatVTONEngine, person: Image.Image) -> None:
    checks.check_the_same_seed_gives_the_same_picture(engine, functools.partial(job_for, person, steps=2), Recorder())


def test_fast_mode_runs_fewer_steps(engine: CatVTONEngine, person: Image.Image) -> None:
    checks.check_fast_mode_runs_fewer_steps(engine, functools.partial(job_for, person), Recorder(), FAST_STEPS)


def test_cancel_during_diffusion_stops_at_the_next_step(engine: CatVTONEngine, person: Image.Image) -> None:
    checks.check_cancel_during_diffusion_stops_at_the_next_step(engine, functools.partial(job_for, person), Recorder())


def test_cancel_before_the_run_starts(engine: CatVTONEngine, person: Image.Image) -> None:
    checks.check_cancel_before_the_run_starts(engine, functools.partial(job_for, person), Recorder())


def test_out_of_memory_frees_the_cache_and_retries_once_smaller(
    engine: CatVTONEngine, person: Image.Image, monkeypatch: pytest.MonkeyPatch,
) -> None:
    sizes = checks.check_out_of_memory_frees_the_cache_and_retries_once_smaller(
        engine, functools.partial(job_for, person), Recorder(), monkeypatch, lambda request: request.person.size)
    assert sizes == [(384, 512), working_size(384)]


def test_a_nonsense_option_or_a_photo_that_does_not_fit_is_refused(engine: CatVTONEngine, person: Image.Image) -> None:
    with pytest.raises(InputRejected, match="steps"):
        engine.run(job_for(person, steps=0), Recorder())
    checks.check_a_photo_that_does_not_fit_the_category_is_refused(engine, person, SMALL, Recorder())


# --- inputs and the paste back ----------------------------------------------------------------------


def test_crop_box_is_three_by_four_around_the_mask_and_inside_the_photo() -> None:
    mask = np.zeros((600, 1000), bool)
    mask[200:400, 700:800] = True
    x0, y0, x1, y1 = crop_box((1000, 600), mask)
    assert (y0, y1) == (0, 600) and x1 - x0 == 450 and x0 <= 700 and x1 >= 800
    mask[:] = False
    mask[300:400, 950:1000] = True  # at the edge: the box is pushed back inside
    assert crop_box((1000, 600), mask)[2] == 1000
    x0, y0, x1, y1 = crop_box((300, 800), np.zeros((800, 300), bool))  # narrow photo: full width
    assert (x0, x1, y1 - y0) == (0, 300, 400) and y0 == 200


def test_garment_is_cut_out_and_fitted_on_white() -> None:
    garment = draw_top()
    fitted = np.asarray(fit_on_white(garment, "upper", (192, 256))).astype(int)
    assert fitted.shape == (256, 192, 3)
    red = (fitted[..., 0] > 150) & (fitted[..., 1] < 100)
    ys, xs = np.nonzero(red)
    assert xs.min() < 20 and xs.max() > 172  # the garment fills the width, not the photo's margins
    assert abs((ys.min() + ys.max()) / 2 - 128) < 16  # centred
    # the padding and the backdrop around the garment are pure white, not the photo's grey-white
    assert (fitted[:5] >= 250).all() and (fitted[-5:] >= 250).all() and (fitted[40:60, :3] >= 250).all()
    true_area = garment_mask("top").mean()
    assert 0.6 * true_area < red.mean() < 1.6 * true_area

    # no garment can be cut out of noise: the whole photo is fitted instead of refusing the try-on
    rng = np.random.default_rng(0)
    busy = Image.fromarray(rng.integers(0, 256, (300, 200, 3), dtype=np.uint8), "RGB")
    fallback = np.asarray(fit_on_white(busy, "upper", (192, 256))).astype(int)
    assert fallback.shape == (256, 192, 3)
    assert fallback[:, 10:182].std() > 40  # the noise fills the frame edge to edge (2:3 in 3:4)
    assert (fallback[:, :5] == 255).all() and (fallback[:, -5:] == 255).all()  # the rest is white padding


def test_paste_back_changes_only_the_mask_with_a_soft_inner_edge() -> None:
    photo = np.full((100, 80, 3), 50, np.uint8)
    mask = np.zeros((100, 80), bool)
    mask[20:80, 10:70] = True
    generated = Image.new("RGB", (60, 80), (250, 250, 250))
    out = paste_back(photo, generated, (10, 10, 70, 90), mask, feather_px=5)
    assert (out[~mask] == 50).all()
    assert out[50, 40, 0] == 250  # deep inside: the generated pixels
    assert 50 < out[20, 40, 0] < 250  # at the edge: blended


# --- the benchmark script --------------------------------------------------------------------------


def test_gpu_benchmark_configs_are_the_published_sizes(benchmark) -> None:
    import torch
    from diffusers import AutoencoderKL

    with torch.device("meta"):
        vae = AutoencoderKL(**benchmark.SD_VAE_FT_MSE)
    assert round(sum(p.numel() for p in vae.parameters()) / 1e6, 1) == 83.7


@pytest.mark.slow
def test_gpu_benchmark_script_runs_tiny_on_cpu(benchmark, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert benchmark.main(["--tiny", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    for mode in ("standard", "fast"):
        assert report[mode]["seconds"] > 0 and report[mode]["steps_reported"] == report[mode]["steps"]
    assert report["params_millions"]["attn1_trained"] > 0 and report["tflop_per_run"]["standard"] > 0


# --- the real server, started with --engine catvton -------------------------------------------------


@pytest.mark.slow
def test_server_with_engine_catvton_runs_a_session_to_completed(server) -> None:
    health = checks.check_server_runs_a_session_to_completed(server.url, "catvton", {"output_size": 256, "steps": 4, "seed": 1})
    assert health["licence"] == LICENCE


@pytest.mark.slow
def test_server_delete_interrupts_a_running_catvton_session(server) -> None:
    checks.check_server_delete_interrupts_a_running_session(
        server.url, server.log_path, "catvton", DIFFUSION_START, slow={"output_size": 256, "steps": 100, "seed": 1},
        quick={"output_size": 128, "steps": 2, "seed": 1})


# --- the licence on the demo page's footer -----------------------------------------------------------


@pytest.mark.browser
def test_page_footer_shows_the_engines_licence(server_factory, tmp_path: Path) -> None:
    """Whenever an engine with licensed weights runs, the page says so; otherwise it says nothing."""
    from playwright.sync_api import expect, sync_playwright

    from tests.browser import CHROMIUM_ARGS, require_chromium
    from tests.conftest import free_port
    from tests.doubles import InstantEngine

    class LicensedEngine(InstantEngine):
        licence = LICENCE

    licensed = server_factory(lambda: LicensedEngine())
    plain = server_factory(lambda: InstantEngine(), port=free_port(), data_dir=tmp_path / "plain")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(licensed.url)
            expect(page.locator("#server-status")).to_contain_text("Server ready")
            expect(page.locator("#engine-licence")).to_be_visible()
            expect(page.locator("#engine-licence")).to_have_text(LICENCE)
            page.goto(plain.url)
            expect(page.locator("#server-status")).to_contain_text("Server ready")
            expect(page.locator("#engine-licence")).to_be_hidden()
        finally:
            browser.close()
