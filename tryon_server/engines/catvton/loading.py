"""Finding and loading the CatVTON engine's weights, from `models/` only.

Layout (models/README.md says where each comes from and how to fetch it):

    models/
      stable-diffusion-inpainting/   the SD 1.5 inpainting base: unet/ (9 input channels) and scheduler/
      sd-vae-ft-mse/                 the VAE CatVTON was trained with (scaling factor 0.18215)
      catvton/<variant>/attention/model.safetensors
                                     the trained self-attention weights; variants, in the order
                                     they are preferred: mix-48k-1024, vitonhd-16k-512, dresscode-16k-512

CatVTON trains only the self-attention (`attn1`) projections of the UNet's 16 transformer blocks
(49.57 M parameters) and drops the text encoder: cross-attention (`attn2`) is skipped, its
processor hands back its input unchanged. The block still adds that input to its residual
(`h = attn2(norm2(h)) + h` in diffusers' BasicTransformerBlock), so the frozen `norm2` keeps
acting, exactly as in training: the layer stays, only its processor changes.

The attention file's keys are positional. The reference code gathers every module whose name
contains "attn1" in `named_modules()` order into one ModuleList and saves that list: per
attention module that is the module itself, to_q, to_k, to_v, to_out, to_out.0, to_out.1 (the
dropout) and the processor (an nn.Module there), so the i-th attn1 module's tensors are stored
as `{8 i}.to_q.weight`, `{8 i}.to_k.weight`, `{8 i}.to_v.weight`, `{8 i}.to_out.0.weight`,
`{8 i}.to_out.0.bias` (shared tensors are written once, under their first name). The loader
maps the file's groups to our attn1 modules by order and checks every key and shape.

Importing this module is cheap: torch and diffusers are imported only when something is loaded.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...exceptions import ConfigError
from ..diffusion.loading import _fp16_variant, _has_weights
from ..gpu import missing_package

log = logging.getLogger("tryon.engines.catvton")

BASE_INPAINTING = "stable-diffusion-inpainting"
VAE_FT_MSE = "sd-vae-ft-mse"
CATVTON = "catvton"
VARIANTS: tuple[str, ...] = ("mix-48k-1024", "vitonhd-16k-512", "dresscode-16k-512")
ATTENTION_FILE = Path("attention") / "model.safetensors"

# the tensors of one self-attention module, as the checkpoint names them after its index
ATTENTION_KEYS: tuple[str, ...] = ("to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight", "to_out.0.bias")
# index step between two attn1 modules in the published file (see the module docstring)
CHECKPOINT_STRIDE = 8
SELF_ATTENTION_BLOCKS = 16  # SD 1.5: 6 down, 1 mid, 9 up

LICENCE = (
    "CatVTON weights: CC BY-NC-SA 4.0 (personal, non-commercial use only; "
    "https://creativecommons.org/licenses/by-nc-sa/4.0/)"
)


# -- what must be there ---------------------------------------------------------------------------


def attention_file(models_dir: Path) -> Path | None:
    """The attention weights of the first variant present, in the order of VARIANTS."""
    for variant in VARIANTS:
        path = Path(models_dir) / CATVTON / variant / ATTENTION_FILE
        if path.is_file():
            return path
    return None


def missing_weights_reason(models_dir: Path) -> str | None:
    """None when every folder CatVTON needs is present, else a sentence fragment naming the
    first one missing and where to read how to fetch it (the caller adds the sentence around it)."""
    models_dir = Path(models_dir)
    missing = missing_package("torch", "diffusers", "safetensors")
    if missing:
        return missing
    readme = models_dir / "README.md"
    base = models_dir / BASE_INPAINTING
    if not base.is_dir():
        return (f"the folder {base} is missing (it must hold the Stable Diffusion 1.5 inpainting model's "
                f"unet/ and scheduler/; {readme} says how to fetch it)")
    unet = base / "unet"
    if not ((unet / "config.json").is_file() and _has_weights(unet)):
        return f"the folder {unet} is incomplete: it needs config.json and a weights file ({readme} says how to fetch it)"
    if not (base / "scheduler" / "scheduler_config.json").is_file():
        return f"the folder {base / 'scheduler'} is missing its scheduler_config.json ({readme} says how to fetch it)"
    vae = models_dir / VAE_FT_MSE
    if not ((vae / "config.json").is_file() and _has_weights(vae)):
        return (f"the folder {vae} is missing or incomplete (it must hold stabilityai/sd-vae-ft-mse: config.json "
                f"and a weights file; {readme} says how to fetch it)")
    if attention_file(models_dir) is None:
        wanted = models_dir / CATVTON / VARIANTS[0] / ATTENTION_FILE
        return (f"the folder {models_dir / CATVTON} has no attention weights (expected {wanted}, or the same "
                f"file under {VARIANTS[1]}/ or {VARIANTS[2]}/; {readme} says how to fetch it)")
    return None


# -- the attention layout -------------------------------------------------------------------------


def self_attention_modules(unet: Any) -> list[tuple[str, Any]]:
    """The UNet's attn1 modules as (name, module), in `named_modules()` order: the order the
    published checkpoint stores them in."""
    return [(name, module) for name, module in unet.named_modules() if name.endswith(".attn1")]


def checkpoint_layout(unet: Any, stride: int = CHECKPOINT_STRIDE) -> dict[str, tuple[int, ...]]:
    """Every key of a CatVTON attention file for this UNet, with its tensor's shape."""
    layout: dict[str, tuple[int, ...]] = {}
    params_by_module = [dict(module.named_parameters()) for _, module in self_attention_modules(unet)]
    for i, params in enumerate(params_by_module):
        for key in ATTENTION_KEYS:
            layout[f"{i * stride}.{key}"] = tuple(params[key].shape)
    return layout


_POSITIONAL = re.compile(r"^(\d+)\.(.+)$")


def map_checkpoint(keys_and_shapes: dict[str, tuple[int, ...]], unet: Any, source: Path | str) -> dict[str, str]:
    """{checkpoint key: UNet parameter name}, matching the file's attention groups to the UNet's
    attn1 modules by order; raises ConfigError naming the first key or shape that does not fit."""
    groups: dict[int, dict[str, tuple[int, ...]]] = {}
    for key, shape in keys_and_shapes.items():
        found = _POSITIONAL.match(key)
        if not found or found.group(2) not in ATTENTION_KEYS:
            raise ConfigError(f"The CatVTON attention file {source} has an unexpected key {key!r}: it is not a "
                              "CatVTON attention checkpoint. Re-fetch it as models/README.md describes.")
        groups.setdefault(int(found.group(1)), {})[found.group(2)] = tuple(shape)
    modules = self_attention_modules(unet)
    if len(groups) != len(modules):
        raise ConfigError(f"The CatVTON attention file {source} holds {len(groups)} attention modules, but the "
                          f"UNet has {len(modules)}: the base model or the file is not the right one.")
    mapping: dict[str, str] = {}
    for (index, stored), (name, module) in zip(sorted(groups.items()), modules):
        params = dict(module.named_parameters())
        for key in ATTENTION_KEYS:
            if key not in stored:
                raise ConfigError(f"The CatVTON attention file {source} lacks {index}.{key} (for {name}).")
            if tuple(params[key].shape) != stored[key]:
                raise ConfigError(f"The CatVTON attention file {source} stores {index}.{key} as {list(stored[key])}, "
                                  f"but {name}.{key} is {list(params[key].shape)}: the base model or the file is not "
                                  "the right one.")
            mapping[f"{index}.{key}"] = f"{name}.{key}"
    return mapping


def load_attention_weights(unet: Any, path: Path) -> int:
    """Copy the trained self-attention weights in `path` into `unet`; returns the number of
    parameters loaded. Every key and shape is checked before anything is copied."""
    import torch
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
            mapping = map_checkpoint(shapes, unet, path)
            params = dict(unet.named_parameters())
            loaded = 0
            with torch.no_grad():
                for key, name in mapping.items():
                    target = params[name]
                    target.copy_(handle.get_tensor(key).to(target.dtype))
                    loaded += target.numel()
    except (OSError, RuntimeError, SafetensorError) as exc:  # unreadable, truncated, not safetensors
        raise ConfigError(f"The CatVTON attention file {path} could not be read ({exc}). "
                          "Re-fetch it as models/README.md describes.") from exc
    return loaded


class SkipCrossAttention:
    """attn2's processor: hands back its input, norm2(h), unchanged. The transformer block then
    adds it to its residual (h + norm2(h)), which is what the published model was trained with."""

    def __call__(self, attn: Any, hidden_states: Any, encoder_hidden_states: Any = None,
                 attention_mask: Any = None, temb: Any = None, **kwargs: Any) -> Any:
        return hidden_states


def use_catvton_attention(unet: Any) -> None:
    """SDPA for self-attention, the skip for cross-attention."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    unet.set_attn_processor({
        name: SkipCrossAttention() if name.endswith("attn2.processor") else AttnProcessor2_0()
        for name in unet.attn_processors
    })


# -- loading ----------------------------------------------------------------------------------------


@dataclass
class LoadedCatVTON:
    """Everything `load_models` put on the device; the engine holds one for its lifetime."""

    unet: Any  # diffusers UNet2DConditionModel, 9 input channels, CatVTON attention
    vae: Any  # diffusers AutoencoderKL (sd-vae-ft-mse)
    scheduler: Any  # diffusers DDIMScheduler
    device: str
    dtype: Any  # torch.dtype
    variant: str = ""
    segformer: Any | None = None  # the optional clothes parser the diffusion engine also uses


def pick_dtype(device: str) -> Any:
    """bf16 on a CUDA GPU that has it (what CatVTON's app runs in: no fp16 overflow in the VAE),
    else fp16 on CUDA, fp32 on a CPU."""
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def prepare_models(unet: Any, vae: Any, device: str, dtype: Any) -> None:
    """Serving shape for a loaded (or, in the benchmark, freshly built) UNet and VAE: CatVTON
    attention processors (the VAE keeps diffusers' SDPA default), eval mode, dtype, channels-last
    on CUDA, on the device."""
    import torch

    use_catvton_attention(unet)
    for model in (unet, vae):
        model.eval().requires_grad_(False)
        if model.dtype != dtype:
            model.to(dtype=dtype)
        model.to(device=device)
        if device.startswith("cuda"):
            model.to(memory_format=torch.channels_last)  # faster convolutions on tensor cores


def load_models(models_dir: Path, device: str | None = None) -> LoadedCatVTON:
    """Load the UNet, the VAE, the scheduler and the trained attention weights once, from
    `models_dir` only (never the network)."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    from ..diffusion.loading import load_segformer, pick_device

    models_dir = Path(models_dir)
    reason = missing_weights_reason(models_dir)
    if reason:
        raise ConfigError(f"The catvton engine cannot start: {reason}.")
    device = device or pick_device()
    dtype = pick_dtype(device)
    base = models_dir / BASE_INPAINTING
    vae_dir = models_dir / VAE_FT_MSE
    attention = attention_file(models_dir)
    assert attention is not None  # missing_weights_reason checked it
    try:
        common: dict[str, Any] = {"torch_dtype": dtype, "local_files_only": True}
        unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet", variant=_fp16_variant(base / "unet"), **common)
        vae = AutoencoderKL.from_pretrained(vae_dir, variant=_fp16_variant(vae_dir), **common)
        scheduler = DDIMScheduler.from_pretrained(base, subfolder="scheduler", local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ConfigError(f"The catvton engine cannot start: the weights in {models_dir} could not be loaded "
                          f"({exc}). Re-fetch them as {models_dir / 'README.md'} describes.") from exc
    if unet.config.in_channels != 9:
        raise ConfigError(f"The catvton engine cannot start: {base / 'unet'} has {unet.config.in_channels} input "
                          "channels, not 9: it must be the Stable Diffusion 1.5 *inpainting* UNet.")
    loaded = load_attention_weights(unet, attention)  # the file's fp32, cast to the UNet's dtype
    prepare_models(unet, vae, device, dtype)
    segformer = load_segformer(models_dir, device, dtype)
    variant = attention.parent.parent.name
    log.info("catvton models loaded on %s (%s): variant %s, %.2f M attention parameters, segformer=%s",
             device, dtype, variant, loaded / 1e6, segformer is not None)
    return LoadedCatVTON(unet=unet, vae=vae, scheduler=scheduler, device=device, dtype=dtype, variant=variant,
                         segformer=segformer)
