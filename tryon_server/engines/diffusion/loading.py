"""Finding and loading the diffusion engine's weights, from `models/` only.

Layout (models/README.md says where each comes from and how to fetch it):

    models/
      sdxl-inpainting/           required: a diffusers SDXL inpainting pipeline folder
      controlnet-openpose-sdxl/  required: a diffusers ControlNetModel (OpenPose, SDXL)
      segformer-b2-clothes/      optional: transformers Segformer clothes parser
      vae-fp16-fix/              optional: an SDXL VAE that is safe to run in fp16
      openpose-annotator/        optional: body_pose_model.pth for controlnet_aux's OpenPose

This module imports nothing heavy at import time: `missing_weights_reason` is what the server
calls for `--engine auto`, and it must stay cheap when the classic engine is chosen.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..gpu import missing_package

log = logging.getLogger("tryon.engines.diffusion")

SDXL_INPAINTING = "sdxl-inpainting"
CONTROLNET_OPENPOSE = "controlnet-openpose-sdxl"
SEGFORMER_CLOTHES = "segformer-b2-clothes"
VAE_FP16_FIX = "vae-fp16-fix"
OPENPOSE_ANNOTATOR = "openpose-annotator"

# the components an SDXL inpainting pipeline folder must hold (model_index.json names them)
_PIPELINE_PARTS = ("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler")
_WEIGHT_SUFFIXES = (".safetensors", ".bin")


def _has_weights(folder: Path) -> bool:
    return folder.is_dir() and any(p.name.endswith(_WEIGHT_SUFFIXES) for p in folder.iterdir())


def _has_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer.json").is_file() or (folder / "vocab.json").is_file()


def _fp16_variant(folder: Path) -> str | None:
    """'fp16' when a folder holds only the fp16 variant files (what the README's commands fetch)."""
    names = [p.name for p in folder.rglob("*") if p.name.endswith(_WEIGHT_SUFFIXES)]
    if names and all(".fp16." in n for n in names):
        return "fp16"
    return None


def _missing_pipeline_part(folder: Path) -> str | None:
    if not (folder / "model_index.json").is_file():
        return "model_index.json"
    for part in _PIPELINE_PARTS:
        sub = folder / part
        if part.startswith("tokenizer"):
            ok = _has_tokenizer(sub)
        elif part == "scheduler":
            ok = (sub / "scheduler_config.json").is_file()
        else:
            ok = (sub / "config.json").is_file() and _has_weights(sub)
        if not ok:
            return part + "/"
    return None


def missing_weights_reason(models_dir: Path) -> str | None:
    """None when the required folders are present, else a sentence fragment naming what is
    missing and where to read how to fetch it (the caller adds the sentence around it)."""
    models_dir = Path(models_dir)
    missing = missing_package("torch", "diffusers", "transformers")
    if missing:
        return missing
    readme = models_dir / "README.md"
    inpainting = models_dir / SDXL_INPAINTING
    if not inpainting.is_dir():
        return (
            f"the folder {inpainting} is missing (it must hold the diffusers SDXL inpainting pipeline; "
            f"{readme} says how to fetch it)"
        )
    part = _missing_pipeline_part(inpainting)
    if part:
        return (
            f"the folder {inpainting} is incomplete: {part} is missing (a full diffusers SDXL inpainting "
            f"pipeline is needed; {readme} says how to fetch it)"
        )
    controlnet = models_dir / CONTROLNET_OPENPOSE
    if not controlnet.is_dir():
        return (
            f"the folder {controlnet} is missing (it must hold the SDXL OpenPose ControlNet; "
            f"{readme} says how to fetch it)"
        )
    if not ((controlnet / "config.json").is_file() and _has_weights(controlnet)):
        return (
            f"the folder {controlnet} is incomplete: it needs config.json and a weights file "
            f"({readme} says how to fetch it)"
        )
    return None


@dataclass
class LoadedModels:
    """Everything `load_models` put on the device; the engine holds one for its lifetime."""

    pipe: Any  # diffusers StableDiffusionXLControlNetInpaintPipeline
    device: str
    dtype: Any  # torch.dtype
    segformer: Any | None = None  # SegformerParser or None
    openpose: Any | None = None  # controlnet_aux OpenposeDetector or None
    vae_fp16_fix: bool = False


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_models(models_dir: Path, device: str | None = None) -> LoadedModels:
    """Load every model once from `models_dir` (never the network): fp16 on CUDA, fp32 on CPU,
    SDPA attention, and a VAE that cannot overflow."""
    import torch
    from diffusers import AutoencoderKL, ControlNetModel, StableDiffusionXLControlNetInpaintPipeline

    from ...exceptions import ConfigError

    models_dir = Path(models_dir)
    reason = missing_weights_reason(models_dir)
    if reason:
        raise ConfigError(f"The diffusion engine cannot start: {reason}.")
    device = device or pick_device()
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    common: dict[str, Any] = {"torch_dtype": dtype, "local_files_only": True}

    inpainting = models_dir / SDXL_INPAINTING
    controlnet_dir = models_dir / CONTROLNET_OPENPOSE
    try:
        controlnet = ControlNetModel.from_pretrained(controlnet_dir, variant=_fp16_variant(controlnet_dir), **common)
        extra: dict[str, Any] = {}
        vae_fix_dir = models_dir / VAE_FP16_FIX
        vae_fix = (vae_fix_dir / "config.json").is_file() and _has_weights(vae_fix_dir)
        if vae_fix:
            # madebyollin's fix keeps activations in range, so fp16 is safe and no upcast is needed
            vae = AutoencoderKL.from_pretrained(vae_fix_dir, variant=_fp16_variant(vae_fix_dir), **common)
            extra["vae"] = vae
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            pipe = StableDiffusionXLControlNetInpaintPipeline.from_pretrained(
                inpainting,
                controlnet=controlnet,
                variant=_fp16_variant(inpainting),
                add_watermarker=False,
                **extra,
                **common,
            )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ConfigError(
            f"The diffusion engine cannot start: the weights in {models_dir} could not be loaded ({exc}). "
            f"Re-fetch them as {models_dir / 'README.md'} describes."
        ) from exc
    prepare_pipeline(pipe, device, dtype, vae_fp16_fix=vae_fix)

    segformer = load_segformer(models_dir, device, dtype)
    openpose = load_openpose_detector(models_dir / OPENPOSE_ANNOTATOR, device)
    log.info(
        "diffusion models loaded on %s (%s), segformer=%s, openpose=%s, vae-fp16-fix=%s",
        device, dtype, segformer is not None, openpose is not None, vae_fix,
    )
    return LoadedModels(pipe=pipe, device=device, dtype=dtype, segformer=segformer, openpose=openpose, vae_fp16_fix=vae_fix)


def load_segformer(models_dir: Path, device: str, dtype: Any) -> Any | None:
    """The optional Segformer clothes parser from `models_dir`, or None when it is not there."""
    seg_dir = Path(models_dir) / SEGFORMER_CLOTHES
    if not ((seg_dir / "config.json").is_file() and _has_weights(seg_dir)):
        log.info("no %s: parsing falls back to pose + person mask", seg_dir)
        return None
    from .parsing import SegformerParser

    return SegformerParser.load(seg_dir, device=device, dtype=dtype)


def prepare_pipeline(pipe: Any, device: str, dtype: Any, *, vae_fp16_fix: bool = False) -> Any:
    """Put a loaded (or, in the benchmark, freshly built) pipeline in serving shape: VAE mode,
    SDPA attention, channels-last on CUDA, on the device, no progress bars."""
    import torch

    if not vae_fp16_fix and dtype == torch.float16:
        # The published SDXL VAE overflows in fp16 (black or NaN images). force_upcast makes the
        # pipeline encode in fp32, and the engine decodes in fp32 itself (see pipeline.py).
        pipe.vae.register_to_config(force_upcast=True)
    elif dtype == torch.float32 or vae_fp16_fix:
        # fp32 already, or the fp16-fix VAE: upcasting would only re-cast the VAE on every call
        pipe.vae.register_to_config(force_upcast=False)
    _use_sdpa(pipe)
    if device.startswith("cuda"):
        for model in (pipe.unet, pipe.controlnet, pipe.vae):
            model.to(memory_format=torch.channels_last)  # faster convolutions on tensor cores
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _use_sdpa(pipe: Any) -> None:
    """PyTorch's scaled_dot_product_attention (flash / memory-efficient kernels on CUDA)."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    for model in (pipe.unet, pipe.controlnet, pipe.vae):
        try:
            model.set_attn_processor(AttnProcessor2_0())
        except (AttributeError, ValueError) as exc:  # a model with no attention: nothing to set
            log.debug("SDPA not set on %s: %s", type(model).__name__, exc)


def load_openpose_detector(folder: Path, device: str) -> Any | None:
    """controlnet_aux's OpenPose, only when both the package and its weights are present.
    It is optional on purpose: controlnet_aux pulls torchvision (and a CUDA torch with it)."""
    if not (folder / "body_pose_model.pth").is_file():
        return None
    if importlib.util.find_spec("controlnet_aux") is None:
        log.info("%s holds OpenPose weights but controlnet_aux is not installed: using MediaPipe pose", folder)
        return None
    try:
        from controlnet_aux import OpenposeDetector

        detector = OpenposeDetector.from_pretrained(str(folder))
        if hasattr(detector, "to"):
            detector = detector.to(device)
        return detector
    except Exception as exc:  # an optional extra must never stop the server
        log.warning("controlnet_aux OpenPose could not be loaded from %s (%s): using MediaPipe pose", folder, exc)
        return None
