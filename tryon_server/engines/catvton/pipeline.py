"""CatVTON's denoising loop in diffusers terms, with progress, cancel and an out-of-memory retry.

    runner = CatVTONRunner(models)
    picture = runner(TryOnRequest(person, garment, mask, options), on_step, cancel)

The person and the garment are VAE-encoded and their latents concatenated along the height axis
(the garment below the person); the UNet sees, on the channel axis, the noisy latent (4), the
mask (1, zero over the garment half) and the masked-person + garment latent (4). Guidance runs
an unconditional branch whose garment half is zero. At the end only the person half is decoded.

- progress: `on_step(done, total)` after every denoising step;
- cancel: checked after every step; `Cancelled` is raised before decoding;
- CUDA out of memory: the cache is freed and the call retried once at a smaller working size
  (engines/gpu.py); the result is scaled back up; a second failure ends in a sentence.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ...exceptions import Cancelled
from ..diffusion.options import DiffusionOptions
from ..gpu import OOM_SHRINK, StepCallback, check_request, forward_only, shrink_on_oom
from .loading import LoadedCatVTON
from .options import DDIM_ETA

log = logging.getLogger("tryon.engines.catvton")

# The published model works at 1024 x 768 (height x width). The width must be a multiple of 64
# (the SD 1.5 UNet halves the /8 latent three times); so must the height, which is doubled by the
# concatenation anyway.
MAX_HEIGHT = 1024
ASPECT = 3 / 4  # width / height
SIZE_MULTIPLE = 64


def working_size(long_side: int) -> tuple[int, int]:
    """(w, h) of the model's input for a result of `long_side` px: 3:4, h at most 1024."""
    h = min(MAX_HEIGHT, max(SIZE_MULTIPLE, int(long_side / SIZE_MULTIPLE + 0.5) * SIZE_MULTIPLE))
    w = max(SIZE_MULTIPLE, int(h * ASPECT / SIZE_MULTIPLE + 0.5) * SIZE_MULTIPLE)
    return w, h


@dataclass
class TryOnRequest:
    """Everything at one working size (w, h)."""

    person: Image.Image  # RGB: the person photo, cropped to the working aspect
    garment: Image.Image  # RGB: the garment fitted and padded with white
    mask: Image.Image  # L: >= 128 where the garment goes (binarised here)
    options: DiffusionOptions


# how each picture of a request is shrunk for the out-of-memory retry: the mask stays binary
_RESAMPLING = {"person": Image.Resampling.LANCZOS, "garment": Image.Resampling.LANCZOS,
               "mask": Image.Resampling.NEAREST}


class CatVTONRunner:
    """Owns the loaded models' scheduler state; one call at a time (the inference thread)."""

    def __init__(self, models: LoadedCatVTON) -> None:
        self.models = models
        self.last_size: tuple[int, int] | None = None  # working size of the last successful call

    def __call__(self, request: TryOnRequest, on_step: StepCallback, cancel: threading.Event) -> Image.Image:
        size = request.person.size
        on_step = forward_only(on_step)
        return shrink_on_oom(request, size, working_size(int(max(size) * OOM_SHRINK)),
                             lambda at: self._run(at, on_step, cancel), _RESAMPLING)

    # -- internals -------------------------------------------------------------------------------

    def _to_tensor(self, image: Image.Image) -> Any:
        """RGB PIL -> (1, 3, h, w) float32 in [-1, 1] on the device."""
        import torch

        array = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
        return torch.from_numpy(array.transpose(2, 0, 1).copy())[None].to(self.models.device)

    def _encode(self, pixels: Any, generator: Any) -> Any:
        vae = self.models.vae
        latents = vae.encode(pixels.to(vae.dtype)).latent_dist.sample(generator)
        return latents.float() * vae.config.scaling_factor

    def _run(self, request: TryOnRequest, on_step: StepCallback, cancel: threading.Event) -> Image.Image:
        import torch
        import torch.nn.functional as F
        from diffusers.utils.torch_utils import randn_tensor

        models = self.models
        unet, vae, scheduler = models.unet, models.vae, models.scheduler

        # 1. check inputs
        width, height = check_request("catvton", (request.person, request.garment, request.mask), cancel)
        opts = request.options
        cfg = opts.guidance > 1.0
        # a CPU generator makes a seed give the same picture on every device
        generator = torch.Generator(device="cpu").manual_seed(opts.seed)

        with torch.inference_mode():
            # 2. images to tensors: person and garment in [-1, 1], the mask binarised to {0, 1}
            person = self._to_tensor(request.person)
            garment = self._to_tensor(request.garment)
            mask_array = (np.asarray(request.mask.convert("L")) >= 128).astype(np.float32)
            mask = torch.from_numpy(mask_array)[None, None].to(models.device)

            # 3. encode the person with the masked area blanked, and the garment
            masked_person = person * (mask < 0.5)
            person_latent = self._encode(masked_person, generator)
            garment_latent = self._encode(garment, generator)
            mask_latent = F.interpolate(mask, size=person_latent.shape[-2:], mode="nearest")

            # 4. concatenate along the height: person on top, garment below; no mask on the garment
            condition = torch.cat([person_latent, garment_latent], dim=-2)
            mask_condition = torch.cat([mask_latent, torch.zeros_like(mask_latent)], dim=-2)
            if cfg:  # the unconditional branch sees no garment
                unconditional = torch.cat([person_latent, torch.zeros_like(garment_latent)], dim=-2)
                condition = torch.cat([unconditional, condition])
                mask_condition = torch.cat([mask_condition] * 2)

            # 5. noise and timesteps (DDIM)
            scheduler.set_timesteps(opts.steps, device=models.device)
            timesteps = scheduler.timesteps
            latents = randn_tensor(condition[:1].shape, generator=generator, device=torch.device(models.device),
                                   dtype=torch.float32) * scheduler.init_noise_sigma
            # eta 1.0: DDIM with full stochastic noise each step, as CatVTON samples
            step_kwargs: dict[str, Any] = {"eta": DDIM_ETA, "generator": generator}

            # 6. denoise: the UNet runs without encoder states (CatVTON has no text encoder)
            total = len(timesteps)
            for i, t in enumerate(timesteps):
                model_input = torch.cat([latents] * 2) if cfg else latents
                model_input = scheduler.scale_model_input(model_input, t)
                model_input = torch.cat([model_input, mask_condition, condition], dim=1).to(unet.dtype)
                noise = unet(model_input, t, encoder_hidden_states=None, return_dict=False)[0].float()
                if cfg:
                    uncond, cond = noise.chunk(2)
                    noise = uncond + opts.guidance * (cond - uncond)
                latents = scheduler.step(noise, t, latents, **step_kwargs).prev_sample
                on_step(i + 1, total)
                if cancel.is_set():
                    log.info("catvton interrupted after step %d of %d (session cancelled)", i + 1, total)
                    raise Cancelled("The try-on was cancelled.")

            # 7. decode the person half only
            person_half = latents.split(latents.shape[-2] // 2, dim=-2)[0]
            image = vae.decode((person_half / vae.config.scaling_factor).to(vae.dtype), return_dict=False)[0]
            image = (image.float() / 2 + 0.5).clamp(0, 1)
            array = (image[0].permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
        self.last_size = (width, height)
        return Image.fromarray(array, "RGB")
