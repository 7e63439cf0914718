"""Time one 1024 x 1024 diffusion try-on on a GPU with full-size, random-weight SDXL models.

A full-size architecture with random weights does exactly the same arithmetic as the published
model, so no download is needed: the SDXL-inpainting UNet (9 input channels), the SDXL OpenPose
ControlNet, the SDXL VAE and both CLIP text encoders are built here from their published
configs (written out below as literal dicts) and run through the engine's own `InpaintRunner`
(prompt-embedding cache, per-step callback, VAE handling) exactly as the server runs them.

    python tests/benchmarks/gpu_diffusion.py               # 1024 px, 30 steps with CFG, and fast mode
    python tests/benchmarks/gpu_diffusion.py --json out.json
    python tests/benchmarks/gpu_diffusion.py --tiny        # tiny configs: a CPU smoke run of this script

Reports, per mode: seconds, seconds per UNet step, peak VRAM (allocated and reserved), the
FLOPs of one run (counted by torch.utils.flop_counter) and the achieved TFLOP/s against the
device's dense fp16 tensor-core peak. Targets on an H100: 30 steps <= 2.0 s, peak VRAM <= 20 GB
(so it fits a 24 GB RTX 3090). Only the diffusion stage is timed: pose, parsing, warp and blend
run on the CPU and are measured by the classic engine's benchmark.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from benchmarks.gpu_timing import count_flops, mode_result, time_run, vram_note, write_json  # noqa: E402 (needs the path)

# --- published configs ------------------------------------------------------------------------
# diffusers/stable-diffusion-xl-1.0-inpainting-0.1, unet/config.json
SDXL_INPAINT_UNET: dict[str, Any] = {
    "act_fn": "silu",
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "attention_head_dim": [5, 10, 20],
    "block_out_channels": [320, 640, 1280],
    "center_input_sample": False,
    "class_embed_type": None,
    "class_embeddings_concat": False,
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "cross_attention_dim": 2048,
    "cross_attention_norm": None,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "encoder_hid_dim": None,
    "encoder_hid_dim_type": None,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 9,
    "layers_per_block": 2,
    "mid_block_only_cross_attention": None,
    "mid_block_scale_factor": 1,
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_attention_heads": None,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "out_channels": 4,
    "projection_class_embeddings_input_dim": 2816,
    "resnet_out_scale_factor": 1.0,
    "resnet_skip_time_act": False,
    "resnet_time_scale_shift": "default",
    "sample_size": 128,
    "time_cond_proj_dim": None,
    "time_embedding_act_fn": None,
    "time_embedding_dim": None,
    "time_embedding_type": "positional",
    "timestep_post_act": None,
    "transformer_layers_per_block": [1, 2, 10],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "upcast_attention": None,
    "use_linear_projection": True,
}

# xinsir/controlnet-openpose-sdxl-1.0 (and thibaud/controlnet-openpose-sdxl-1.0), config.json
SDXL_CONTROLNET: dict[str, Any] = {
    "act_fn": "silu",
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "attention_head_dim": [5, 10, 20],
    "block_out_channels": [320, 640, 1280],
    "class_embed_type": None,
    "conditioning_channels": 3,
    "conditioning_embedding_out_channels": [16, 32, 96, 256],
    "controlnet_conditioning_channel_order": "rgb",
    "cross_attention_dim": 2048,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "downsample_padding": 1,
    "encoder_hid_dim": None,
    "encoder_hid_dim_type": None,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "global_pool_conditions": False,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_attention_heads": None,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "projection_class_embeddings_input_dim": 2816,
    "resnet_time_scale_shift": "default",
    "transformer_layers_per_block": [1, 2, 10],
    "upcast_attention": None,
    "use_linear_projection": True,
}

# stabilityai/stable-diffusion-xl-base-1.0 (and the inpainting repo), vae/config.json
SDXL_VAE: dict[str, Any] = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "force_upcast": True,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 1024,
    "scaling_factor": 0.13025,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}

# text_encoder/config.json: CLIP ViT-L/14's text tower
SDXL_TEXT_ENCODER: dict[str, Any] = {
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "intermediate_size": 3072,
    "max_position_embeddings": 77,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "projection_dim": 768,
    "vocab_size": 49408,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "pad_token_id": 1,
}

# text_encoder_2/config.json: OpenCLIP ViT-bigG/14's text tower, with projection
SDXL_TEXT_ENCODER_2: dict[str, Any] = {
    "hidden_act": "gelu",
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "max_position_embeddings": 77,
    "num_attention_heads": 20,
    "num_hidden_layers": 32,
    "projection_dim": 1280,
    "vocab_size": 49408,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "pad_token_id": 1,
}

# scheduler/scheduler_config.json
SDXL_SCHEDULER: dict[str, Any] = {
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "use_karras_sigmas": False,
}

# Dense fp16/bf16 tensor-core peaks (TFLOP/s, no sparsity) from the vendors' data sheets.
PEAK_TFLOPS: dict[str, float] = {
    "H200": 989.4,
    "H100 SXM": 989.4,
    "H100 80GB HBM3": 989.4,
    "H100 NVL": 835.0,
    "H100 PCIe": 756.0,
    "H100": 756.0,  # unknown H100 form factor: the lower (PCIe) figure
    "A100": 312.0,
    "L40S": 362.0,
    "L40": 181.0,
    "L4": 121.0,
    "A10G": 70.0,
    "A10": 125.0,
    "RTX 4090": 165.2,  # fp16 tensor with fp32 accumulate (what PyTorch uses)
    "RTX 3090 Ti": 80.0,
    "RTX 3090": 71.0,
    "RTX A6000": 154.8,
}

TARGET_SECONDS_H100 = 2.0
TARGET_VRAM_GB = 20.0


def tiny_configs() -> dict[str, dict[str, Any]]:
    """The same architectures shrunk for a CPU smoke run (VAE still /8)."""
    unet = copy.deepcopy(SDXL_INPAINT_UNET)
    unet.update(block_out_channels=[32, 64], attention_head_dim=[2, 4], transformer_layers_per_block=[1, 1],
                layers_per_block=1, down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"],
                up_block_types=["CrossAttnUpBlock2D", "UpBlock2D"], cross_attention_dim=64,
                addition_time_embed_dim=8, projection_class_embeddings_input_dim=6 * 8 + 32, sample_size=16)
    controlnet = copy.deepcopy(SDXL_CONTROLNET)
    controlnet.update(block_out_channels=[32, 64], attention_head_dim=[2, 4], transformer_layers_per_block=[1, 1],
                      layers_per_block=1, down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"],
                      cross_attention_dim=64, addition_time_embed_dim=8,
                      projection_class_embeddings_input_dim=6 * 8 + 32, conditioning_embedding_out_channels=[8, 8, 16, 16])
    vae = copy.deepcopy(SDXL_VAE)
    vae.update(block_out_channels=[8, 16, 16, 16], layers_per_block=1, norm_num_groups=8, sample_size=128)
    tiny_text = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, projection_dim=32)
    text = dict(SDXL_TEXT_ENCODER, **tiny_text)
    text_2 = dict(SDXL_TEXT_ENCODER_2, **tiny_text)
    return {"unet": unet, "controlnet": controlnet, "vae": vae, "text": text, "text_2": text_2}


def full_configs() -> dict[str, dict[str, Any]]:
    return {"unet": SDXL_INPAINT_UNET, "controlnet": SDXL_CONTROLNET, "vae": SDXL_VAE,
            "text": SDXL_TEXT_ENCODER, "text_2": SDXL_TEXT_ENCODER_2}


def build_models(configs: dict[str, dict[str, Any]], device: str, dtype: Any, vae_fp16_fix: bool) -> Any:
    """Random-weight pipeline wrapped in the engine's LoadedModels."""
    import torch
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        EulerDiscreteScheduler,
        StableDiffusionXLControlNetInpaintPipeline,
        UNet2DConditionModel,
    )
    from tiny_models import write_tiny_clip_tokenizer
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from tryon_server.engines.diffusion.loading import LoadedModels, prepare_pipeline

    tok_dir = Path(tempfile.mkdtemp(prefix="bench-tokenizer-"))
    write_tiny_clip_tokenizer(tok_dir / "t1")
    write_tiny_clip_tokenizer(tok_dir / "t2", pad_token="!")
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir / "t1", local_files_only=True)
    tokenizer_2 = CLIPTokenizer.from_pretrained(tok_dir / "t2", local_files_only=True)

    import diffusers

    diffusers.utils.logging.set_verbosity_error()  # "modules to keep in float32: []" on every cast
    torch.manual_seed(0)
    # build straight on the device: initialising 3.5 B random parameters on a CPU takes minutes
    with torch.device(device):
        unet = UNet2DConditionModel(**configs["unet"]).to(dtype)
        controlnet = ControlNetModel(**configs["controlnet"]).to(dtype)
        vae = AutoencoderKL(**configs["vae"]).to(dtype)
        text_encoder = CLIPTextModel(CLIPTextConfig(**configs["text"])).to(dtype)
        text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**configs["text_2"])).to(dtype)
    for model in (unet, controlnet, vae, text_encoder, text_encoder_2):
        model.eval().requires_grad_(False)
    pipe = StableDiffusionXLControlNetInpaintPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
        tokenizer_2=tokenizer_2, unet=unet, controlnet=controlnet,
        scheduler=EulerDiscreteScheduler(**SDXL_SCHEDULER), requires_aesthetics_score=False,
        force_zeros_for_empty_prompt=True, add_watermarker=False,
    )
    prepare_pipeline(pipe, device, dtype, vae_fp16_fix=vae_fp16_fix)
    if device.startswith("cuda"):
        torch.cuda.empty_cache()  # the fp32 copies made while building must not count as peak VRAM
    return LoadedModels(pipe=pipe, device=device, dtype=dtype, vae_fp16_fix=vae_fp16_fix)


def meta_flops(size: int, denoising_steps: int, cfg: bool, configs: dict[str, dict[str, Any]] | None = None) -> dict[str, float]:
    """FLOPs of one try-on counted on PyTorch's meta device (shapes only, no memory, no GPU):
    per step ControlNet + UNet (batch 2 with CFG), plus the VAE encoding the start image and the
    masked image and decoding the result. Lets a machine without a GPU say what a run costs."""
    import torch
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel

    configs = configs or full_configs()
    batch = 2 if cfg else 1
    lat = size // 8
    text_dim = configs["unet"]["cross_attention_dim"]
    pooled = configs["text_2"]["projection_dim"]

    with torch.device("meta"):
        unet = UNet2DConditionModel(**configs["unet"])
        controlnet = ControlNetModel(**configs["controlnet"])
        vae = AutoencoderKL(**configs["vae"])
        x = torch.empty(batch, 4, lat, lat)
        t = torch.full((batch,), 500.0)
        enc = torch.empty(batch, 77, text_dim)
        added = {"text_embeds": torch.empty(batch, pooled), "time_ids": torch.empty(batch, 6)}
        cond = torch.empty(batch, 3, size, size)
        residuals: dict[str, Any] = {}

        def control() -> None:
            residuals["down"], residuals["mid"] = controlnet(
                x, t, encoder_hidden_states=enc, controlnet_cond=cond, added_cond_kwargs=added, return_dict=False)

        step_cn = count_flops(control)
        step_unet = count_flops(lambda: unet(torch.empty(batch, 9, lat, lat), t, encoder_hidden_states=enc,
                                       added_cond_kwargs=added, down_block_additional_residuals=residuals["down"],
                                       mid_block_additional_residual=residuals["mid"]))
        vae_encode = count_flops(lambda: vae.encode(torch.empty(2, 3, size, size)))
        vae_decode = count_flops(lambda: vae.decode(torch.empty(1, 4, lat, lat)))
    total = denoising_steps * (step_cn + step_unet) + vae_encode + vae_decode
    return {"controlnet_step_tflop": step_cn / 1e12, "unet_step_tflop": step_unet / 1e12,
            "vae_encode_tflop": vae_encode / 1e12, "vae_decode_tflop": vae_decode / 1e12, "total_tflop": total / 1e12}


def make_request(size: int, steps: int, guidance: float, strength: float, fast: bool) -> Any:
    import numpy as np
    from PIL import Image, ImageDraw

    from tryon_server.engines.diffusion.openpose import render_openpose
    from tryon_server.engines.diffusion.options import parse_options
    from tryon_server.engines.diffusion.pipeline import PROMPTS, InpaintRequest

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rectangle([size // 4, size // 5, 3 * size // 4, 7 * size // 10], fill=255)
    # a standing person's MediaPipe landmarks on a 1 x 1 frame, drawn OpenPose-style
    lm = np.zeros((33, 4), np.float32)
    lm[:, 3] = 1.0
    points = {0: (0.5, 0.12), 2: (0.52, 0.1), 5: (0.48, 0.1), 7: (0.55, 0.11), 8: (0.45, 0.11),
              11: (0.62, 0.22), 12: (0.38, 0.22), 13: (0.68, 0.38), 14: (0.32, 0.38), 15: (0.7, 0.52),
              16: (0.3, 0.52), 23: (0.58, 0.55), 24: (0.42, 0.55), 25: (0.58, 0.75), 26: (0.42, 0.75),
              27: (0.58, 0.95), 28: (0.42, 0.95)}
    for i, (x, y) in points.items():
        lm[i, :2] = (x, y)
    control = render_openpose(lm, (1, 1), (size, size))
    options = parse_options({"output_size": size, "steps": steps, "guidance": guidance, "strength": strength,
                             "seed": 0, "fast": fast})
    return InpaintRequest(image=image, mask=mask, control=control, options=options, prompt=PROMPTS["upper"])


def peak_for(name: str, override: float | None) -> float | None:
    if override:
        return override
    upper = name.upper()
    for key in sorted(PEAK_TFLOPS, key=len, reverse=True):  # most specific name first
        if key.upper() in upper:
            return PEAK_TFLOPS[key]
    return None


def run_mode(runner: Any, request: Any, device: str, peak: float | None) -> dict[str, Any]:
    timed = time_run(runner, request, device)  # the warm-up also fills the prompt-embedding cache
    flops = count_flops(lambda: runner(request, lambda d, t: None, threading.Event()))
    achieved = flops / timed.seconds / 1e12
    opts = request.options
    return {
        **mode_result(timed, opts, opts.denoising_steps),
        "denoising_steps": opts.denoising_steps,
        "strength": opts.strength,
        "tflop": round(flops / 1e12, 2),
        "achieved_tflops": round(achieved, 2),
        "peak_tflops": peak,
        "utilisation_pct": None if not peak else round(100 * achieved / peak, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny configs at 128 px, 2 steps: runs on a CPU")
    parser.add_argument("--size", type=int, default=None, help="square side in px (default 1024, tiny 128)")
    parser.add_argument("--steps", type=int, default=None, help="steps of the standard mode (default 30, tiny 2)")
    parser.add_argument("--guidance", type=float, default=5.0, help="CFG scale; > 1 runs the batch of two")
    parser.add_argument("--strength", type=float, default=None,
                        help="inpainting strength (default: the engine's default; 1.0 runs every step)")
    parser.add_argument("--vae-fp16-fix", action="store_true", help="decode in fp16 as with models/vae-fp16-fix/")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's dense fp16 peak, if not in the table")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    import torch

    from tryon_server.engines.diffusion.options import DEFAULT_STRENGTH, FAST_STEPS
    from tryon_server.engines.diffusion.pipeline import InpaintRunner

    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        print("No CUDA GPU found: this benchmark times full-size SDXL on a GPU and was not run. "
              "Use --tiny for a CPU smoke run of the script.")
        # what a run would cost, counted on the meta device: no GPU and no memory needed
        size = args.size or 1024
        steps = args.steps or 30
        strength = args.strength if args.strength is not None else DEFAULT_STRENGTH
        h100 = PEAK_TFLOPS["H100 SXM"]
        per = meta_flops(size, 0, args.guidance > 1.0)  # the VAE's share; steps are added below
        for mode, mode_steps in (("standard", steps), ("fast", min(steps, FAST_STEPS))):
            denoise = min(int(mode_steps * strength), mode_steps)
            f = dict(per, total_tflop=per["total_tflop"] + denoise * (per["controlnet_step_tflop"] + per["unet_step_tflop"]))
            print(f"{mode} would be: {size}x{size}, {mode_steps} steps ({denoise} denoising), CFG "
                  f"{'on' if args.guidance > 1.0 else 'off'}: {f['total_tflop']:.0f} TFLOP "
                  f"(per step ControlNet {f['controlnet_step_tflop']:.1f} + UNet {f['unet_step_tflop']:.1f}, "
                  f"VAE encode {f['vae_encode_tflop']:.1f} + decode {f['vae_decode_tflop']:.1f}); "
                  f"at 50% of an H100 SXM's {h100:g} TFLOP/s that is {f['total_tflop'] / (0.5 * h100):.2f}s")
        return 0
    device = "cuda" if cuda else "cpu"
    dtype = torch.float16 if cuda else torch.float32
    size = args.size or (128 if args.tiny else 1024)
    steps = args.steps or (2 if args.tiny else 30)
    strength = args.strength if args.strength is not None else (1.0 if args.tiny else DEFAULT_STRENGTH)
    name = torch.cuda.get_device_name(0) if cuda else "CPU"
    peak = peak_for(name, args.peak_tflops) if cuda else args.peak_tflops

    started = time.perf_counter()
    models = build_models(tiny_configs() if args.tiny else full_configs(), device, dtype, args.vae_fp16_fix)
    built_s = time.perf_counter() - started
    params = {n: sum(p.numel() for p in getattr(models.pipe, n).parameters()) / 1e6
              for n in ("unet", "controlnet", "vae", "text_encoder", "text_encoder_2")}
    runner = InpaintRunner(models)
    results: dict[str, Any] = {
        "device": name, "dtype": str(dtype).replace("torch.", ""), "tiny": args.tiny, "torch": torch.__version__,
        "params_millions": {k: round(v, 1) for k, v in params.items()}, "build_seconds": round(built_s, 1),
    }
    if cuda:
        results["weights_vram_gb"] = round(torch.cuda.memory_allocated() / 1e9, 2)
    print(f"device: {name} ({results['dtype']}), models built in {built_s:.1f}s, params (M): {results['params_millions']}")

    modes = {"standard": (steps, False), "fast": (min(steps, FAST_STEPS), True)}
    for mode, (mode_steps, fast) in modes.items():
        request = make_request(size, mode_steps, args.guidance, strength, fast)
        r = run_mode(runner, request, device, peak)
        results[mode] = r
        vram = vram_note(r)
        util = "" if r["utilisation_pct"] is None else f" = {r['utilisation_pct']}% of {peak} peak"
        print(f"{mode}: {size}x{size}, {r['steps']} steps ({r['denoising_steps']} denoising at strength {r['strength']}, "
              f"CFG {'on' if r['cfg'] else 'off'}): {r['seconds']:.3f}s ({r['seconds_per_step']:.4f}s/step){vram}; "
              f"{r['tflop']} TFLOP, {r['achieved_tflops']} TFLOP/s{util}")

    if cuda and not args.tiny:
        std = results["standard"]
        verdict_t = "PASS" if std["seconds"] <= TARGET_SECONDS_H100 else "MISS"
        verdict_m = "PASS" if (std["peak_vram_reserved_gb"] or 0) <= TARGET_VRAM_GB else "MISS"
        results["targets"] = {"seconds_le_2.0_on_h100": verdict_t if "H100" in name.upper() else "n/a (not an H100)",
                              "peak_vram_le_20gb": verdict_m}
        print(f"targets: 30 steps <= {TARGET_SECONDS_H100}s on an H100: {results['targets']['seconds_le_2.0_on_h100']}; "
              f"peak VRAM (reserved) <= {TARGET_VRAM_GB} GB: {verdict_m}")
    return write_json(results, args.json)


if __name__ == "__main__":
    sys.exit(main())
