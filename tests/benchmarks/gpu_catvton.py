"""Time one 1024 x 768 CatVTON try-on on a GPU with the full-size network and random weights.

A full-size architecture with random weights does exactly the same arithmetic as the published
model, so no download is needed: the Stable Diffusion 1.5 inpainting UNet (9 input channels) and
the sd-vae-ft-mse VAE are built here from their published configs (written out below as literal
dicts), given CatVTON's attention processors (SDPA self-attention, cross-attention skipped) by the
engine's own `prepare_models`, and run through the engine's own `CatVTONRunner` (person and
garment latents concatenated along the height, guidance batch of two, DDIM, progress callback,
VAE encode and decode) exactly as the server runs them.

    python tests/benchmarks/gpu_catvton.py                # 50 steps and the 25-step fast mode
    python tests/benchmarks/gpu_catvton.py --compile      # torch.compile the UNet first
    python tests/benchmarks/gpu_catvton.py --json out.json
    python tests/benchmarks/gpu_catvton.py --tiny         # tiny configs: a CPU smoke run of this script

Reports, per mode: seconds, seconds per step, peak VRAM (allocated and reserved), the device's
name, and the FLOPs of one run (counted on PyTorch's meta device, so also without a GPU).
Targets: peak VRAM <= 10 GB (CatVTON's paper: under 8 GB at 1024 x 768); on an H100 or H200
<= 2.5 s for 25 steps. Only the model is timed: pose and parsing run on the CPU and are measured
by the classic engine's benchmark.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from benchmarks.gpu_timing import count_flops, mode_result, time_run, vram_note, write_json  # noqa: E402 (needs the path)

# --- published configs ------------------------------------------------------------------------
# stable-diffusion-v1-5/stable-diffusion-inpainting (runwayml's), unet/config.json
SD15_INPAINT_UNET: dict[str, Any] = {
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 9,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}

# stabilityai/sd-vae-ft-mse, config.json
SD_VAE_FT_MSE: dict[str, Any] = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 256,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "scaling_factor": 0.18215,
}

TARGET_SECONDS_FAST_H100 = 2.5
TARGET_VRAM_GB = 10.0


def tiny_configs() -> dict[str, dict[str, Any]]:
    """The same architectures shrunk for a CPU smoke run (VAE still /8)."""
    unet = copy.deepcopy(SD15_INPAINT_UNET)
    unet.update(block_out_channels=[32, 64], layers_per_block=1, cross_attention_dim=32,
                down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"], up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"])
    vae = copy.deepcopy(SD_VAE_FT_MSE)
    vae.update(block_out_channels=[8, 16, 16, 16], layers_per_block=1, norm_num_groups=8)
    return {"unet": unet, "vae": vae}


def full_configs() -> dict[str, dict[str, Any]]:
    return {"unet": SD15_INPAINT_UNET, "vae": SD_VAE_FT_MSE}


def build_models(configs: dict[str, dict[str, Any]], device: str, dtype: Any) -> Any:
    """Random-weight UNet + VAE + DDIM in the engine's LoadedCatVTON, prepared as the engine does."""
    import diffusers
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from tiny_models import SD15_INPAINTING_SCHEDULER

    from tryon_server.engines.catvton.loading import LoadedCatVTON, prepare_models

    diffusers.utils.logging.set_verbosity_error()
    torch.manual_seed(0)
    with torch.device(device):  # build straight on the device: a CPU initialises 0.9 B parameters slowly
        unet = UNet2DConditionModel(**configs["unet"]).to(dtype)
        vae = AutoencoderKL(**configs["vae"]).to(dtype)
    prepare_models(unet, vae, device, dtype)
    scheduler = DDIMScheduler.from_config({k: v for k, v in SD15_INPAINTING_SCHEDULER.items() if k != "_class_name"})
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return LoadedCatVTON(unet=unet, vae=vae, scheduler=scheduler, device=device, dtype=dtype, variant="random")


def meta_flops(width: int, height: int, cfg: bool, configs: dict[str, dict[str, Any]] | None = None) -> dict[str, float]:
    """FLOPs of one UNet step (batch 2 with guidance, latents of person + garment stacked along
    the height) and of the VAE (encode person and garment, decode the person), counted on the
    meta device: shapes only, no memory, no GPU."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from tryon_server.engines.catvton.loading import use_catvton_attention

    configs = configs or full_configs()
    batch = 2 if cfg else 1

    with torch.device("meta"):
        unet = UNet2DConditionModel(**configs["unet"])
        use_catvton_attention(unet)
        vae = AutoencoderKL(**configs["vae"])
        sample = torch.empty(batch, 9, 2 * height // 8, width // 8)
        t = torch.full((batch,), 500.0)
        step = count_flops(lambda: unet(sample, t, encoder_hidden_states=None))
        encode = count_flops(lambda: vae.encode(torch.empty(2, 3, height, width)))
        decode = count_flops(lambda: vae.decode(torch.empty(1, 4, height // 8, width // 8)))
    return {"unet_step_tflop": step / 1e12, "vae_encode_tflop": encode / 1e12, "vae_decode_tflop": decode / 1e12}


def make_request(width: int, height: int, steps: int, guidance: float, fast: bool) -> Any:
    import numpy as np
    from PIL import Image, ImageDraw

    from tryon_server.engines.catvton.options import parse_options
    from tryon_server.engines.catvton.pipeline import TryOnRequest

    rng = np.random.default_rng(0)
    person = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")
    garment = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).rectangle([width // 5, height // 5, 4 * width // 5, 7 * height // 10], fill=255)
    options = parse_options({"output_size": height, "steps": steps, "guidance": guidance, "seed": 0, "fast": fast})
    return TryOnRequest(person=person, garment=garment, mask=mask, options=options)


def run_mode(runner: Any, request: Any, device: str) -> dict[str, Any]:
    return mode_result(time_run(runner, request, device), request.options, request.options.steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny configs at 192x256, 2 steps: runs on a CPU")
    parser.add_argument("--height", type=int, default=None, help="input height in px (default 1024, tiny 256); width = 3/4")
    parser.add_argument("--steps", type=int, default=None, help="steps of the standard mode (default 50, tiny 2)")
    parser.add_argument("--guidance", type=float, default=2.5, help="CFG scale; > 1 runs the batch of two")
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNet (the warm-up run compiles)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    import torch

    from tryon_server.engines.catvton.loading import pick_dtype, self_attention_modules
    from tryon_server.engines.catvton.options import FAST_STEPS
    from tryon_server.engines.catvton.pipeline import CatVTONRunner, working_size

    cuda = torch.cuda.is_available()
    width, height = working_size(args.height or (256 if args.tiny else 1024))
    steps = args.steps or (2 if args.tiny else 50)
    modes = {"standard": (steps, False), "fast": (min(steps, FAST_STEPS), True)}
    configs = tiny_configs() if args.tiny else full_configs()
    flops = meta_flops(width, height, args.guidance > 1.0, configs)
    per_run = {mode: s * flops["unet_step_tflop"] + flops["vae_encode_tflop"] + flops["vae_decode_tflop"]
               for mode, (s, _) in modes.items()}
    if not cuda and not args.tiny:
        print("No CUDA GPU found: this benchmark times the full-size CatVTON network on a GPU and was not run. "
              "Use --tiny for a CPU smoke run of the script.")
        for mode, (mode_steps, _) in modes.items():
            print(f"{mode} would be: {width}x{height}, {mode_steps} steps, CFG {'on' if args.guidance > 1 else 'off'}: "
                  f"{per_run[mode]:.1f} TFLOP (UNet {flops['unet_step_tflop']:.2f} per step, VAE encode "
                  f"{flops['vae_encode_tflop']:.2f} + decode {flops['vae_decode_tflop']:.2f})")
        return 0
    device = "cuda" if cuda else "cpu"
    dtype = pick_dtype(device)
    name = torch.cuda.get_device_name(0) if cuda else "CPU"

    started = time.perf_counter()
    models = build_models(configs, device, dtype)
    built_s = time.perf_counter() - started
    attention = sum(p.numel() for _, m in self_attention_modules(models.unet) for p in m.parameters())
    if args.compile:
        models.unet = torch.compile(models.unet)
    runner = CatVTONRunner(models)
    results: dict[str, Any] = {
        "device": name, "dtype": str(dtype).replace("torch.", ""), "tiny": args.tiny, "torch": torch.__version__,
        "compiled": args.compile, "width": width, "height": height, "build_seconds": round(built_s, 1),
        "params_millions": {"unet": round(sum(p.numel() for p in models.unet.parameters()) / 1e6, 2),
                            "vae": round(sum(p.numel() for p in models.vae.parameters()) / 1e6, 2),
                            "attn1_trained": round(attention / 1e6, 3)},
        "tflop_per_run": {k: round(v, 2) for k, v in per_run.items()},
    }
    if cuda:
        results["weights_vram_gb"] = round(torch.cuda.memory_allocated() / 1e9, 2)
    print(f"device: {name} ({results['dtype']}), built in {built_s:.1f}s, params (M): {results['params_millions']}")

    for mode, (mode_steps, fast) in modes.items():
        r = run_mode(runner, make_request(width, height, mode_steps, args.guidance, fast), device)
        r["achieved_tflops"] = round(per_run[mode] / r["seconds"], 1)
        results[mode] = r
        vram = vram_note(r)
        print(f"{mode}: {width}x{height}, {r['steps']} steps, CFG {'on' if r['cfg'] else 'off'}: {r['seconds']:.3f}s "
              f"({r['seconds_per_step']:.4f}s/step){vram}; {per_run[mode]:.1f} TFLOP, {r['achieved_tflops']} TFLOP/s")

    if cuda and not args.tiny:
        fast_r = results["fast"]
        hopper = any(k in name.upper() for k in ("H100", "H200"))
        verdict_t = ("PASS" if fast_r["seconds"] <= TARGET_SECONDS_FAST_H100 else "MISS") if hopper else "n/a (not an H100/H200)"
        verdict_m = "PASS" if max(results[m]["peak_vram_reserved_gb"] or 0 for m in modes) <= TARGET_VRAM_GB else "MISS"
        results["targets"] = {"fast_seconds_le_2.5_on_h100_h200": verdict_t, "peak_vram_le_10gb": verdict_m}
        print(f"targets: {FAST_STEPS} steps <= {TARGET_SECONDS_FAST_H100}s on an H100/H200: {verdict_t}; "
              f"peak VRAM (reserved) <= {TARGET_VRAM_GB} GB: {verdict_m}")
    return write_json(results, args.json)


if __name__ == "__main__":
    sys.exit(main())
