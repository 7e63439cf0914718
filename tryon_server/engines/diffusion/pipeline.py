"""One SDXL inpainting + ControlNet call with progress, cancel and an out-of-memory retry.

    runner = InpaintRunner(models)
    picture = runner(InpaintRequest(image, mask, control, options, prompt), on_step, cancel)

- progress: `callback_on_step_end` calls `on_step(done, total)` after every denoising step;
- cancel: the same callback sets the pipeline's `_interrupt` flag when the session's cancel
  event is set, so the pipeline stops at the next step and `Cancelled` is raised before decoding;
- CUDA out of memory: the cache is freed and the call retried once at a lower resolution (the
  result is scaled back up); a second failure ends in a sentence for the shopper;
- the VAE decodes in fp32 unless it is the fp16-fix VAE (the published SDXL VAE overflows in fp16).
"""

from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image

from ...exceptions import Cancelled
from ..gpu import OOM_SHRINK, StepCallback, check_request, forward_only, shrink_on_oom
from .loading import LoadedModels
from .options import DiffusionOptions

log = logging.getLogger("tryon.engines.diffusion")

NEGATIVE_PROMPT = (
    "deformed, distorted, disfigured, bad anatomy, extra limbs, extra fingers, blurry, lowres, "
    "low quality, jpeg artifacts, watermark, text, logo overlay"
)
PROMPTS: dict[str, str] = {
    "upper": "a photo of a person wearing the shown top, natural fit, realistic fabric folds and shading, sharp details",
    "lower": "a photo of a person wearing the shown trousers or skirt, natural fit, realistic fabric folds and shading, "
             "sharp details",
    "dress": "a photo of a person wearing the shown dress, natural fit, realistic fabric folds and shading, sharp details",
}
CONTROLNET_SCALE = 0.8
SIZE_MULTIPLE = 64  # SDXL works in /8 latents with two /2 UNet stages; 64 keeps every level even


@dataclass
class InpaintRequest:
    """Everything at one working size (w, h), each side a multiple of 64."""

    image: Image.Image  # RGB: the person with the warped garment already in the masked region
    mask: Image.Image  # L: 255 where SDXL repaints
    control: Image.Image  # RGB: the OpenPose skeleton
    options: DiffusionOptions
    prompt: str
    negative_prompt: str = NEGATIVE_PROMPT


# how each picture of a request is shrunk for the out-of-memory retry: mask and skeleton stay crisp
_RESAMPLING = {"image": Image.Resampling.LANCZOS, "mask": Image.Resampling.NEAREST,
               "control": Image.Resampling.NEAREST}

def working_size(size: tuple[int, int], long_side: int, multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """(w, h) with the given long side and the same aspect, each rounded to `multiple`."""
    w, h = size
    scale = long_side / max(w, h)
    return (
        max(multiple, int(round(w * scale / multiple)) * multiple),
        max(multiple, int(round(h * scale / multiple)) * multiple),
    )


class InpaintRunner:
    """Wraps the loaded pipeline; caches prompt embeddings (the text encoders run once per
    prompt, not once per try-on)."""

    def __init__(self, models: LoadedModels) -> None:
        self.models = models
        self.pipe = models.pipe
        self._prompt_cache: dict[tuple[str, str, bool], tuple[Any, Any, Any, Any]] = {}

    # -- public ----------------------------------------------------------------------------------

    def __call__(self, request: InpaintRequest, on_step: StepCallback, cancel: threading.Event) -> Image.Image:
        size = request.image.size
        on_step = forward_only(on_step)
        return shrink_on_oom(request, size, working_size(size, int(max(size) * OOM_SHRINK)),
                             lambda at: self._run(at, on_step, cancel), _RESAMPLING)

    # -- internals -------------------------------------------------------------------------------

    def _embeddings(self, prompt: str, negative: str, cfg: bool) -> tuple[Any, Any, Any, Any]:
        import torch

        key = (prompt, negative, cfg)
        if key not in self._prompt_cache:
            with torch.inference_mode():
                self._prompt_cache[key] = self.pipe.encode_prompt(
                    prompt,
                    device=self.models.device,
                    num_images_per_prompt=1,
                    do_classifier_free_guidance=cfg,
                    negative_prompt=negative,
                )
        return self._prompt_cache[key]

    def _run(self, request: InpaintRequest, on_step: StepCallback, cancel: threading.Event) -> Image.Image:
        import torch

        # 1. check inputs
        width, height = check_request("inpainting", (request.image, request.mask, request.control), cancel)
        opts = request.options
        total = opts.denoising_steps

        # 2. prompt embeddings (cached)
        cfg = opts.guidance > 1.0
        embeds, negative_embeds, pooled, negative_pooled = self._embeddings(request.prompt, request.negative_prompt, cfg)

        # 3. progress and cancel, once per step
        stopped_after: list[int] = []

        def step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            on_step(step + 1, total)
            if cancel.is_set() and not stopped_after:
                pipe._interrupt = True  # diffusers' documented way to stop between steps
                stopped_after.append(step + 1)
            return tensors

        # 4. denoise; a CPU generator makes a seed give the same picture on every device
        generator = torch.Generator(device="cpu").manual_seed(opts.seed)
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # the pipeline's own deprecated upcast_vae
            latents = self.pipe(
                prompt_embeds=embeds,
                negative_prompt_embeds=negative_embeds,
                pooled_prompt_embeds=pooled,
                negative_pooled_prompt_embeds=negative_pooled,
                image=request.image,
                mask_image=request.mask,
                control_image=request.control,
                height=height,
                width=width,
                strength=opts.strength,
                num_inference_steps=opts.steps,
                guidance_scale=opts.guidance,
                controlnet_conditioning_scale=CONTROLNET_SCALE,
                generator=generator,
                output_type="latent",
                callback_on_step_end=step_end,
            ).images
        if cancel.is_set():
            if stopped_after:
                log.info("diffusion interrupted after step %d of %d (session cancelled)", stopped_after[0], total)
            raise Cancelled("The try-on was cancelled.")

        # 5. decode in a numerically safe precision
        return self.decode(latents)

    def decode(self, latents: Any) -> Image.Image:
        import torch

        vae = self.pipe.vae
        if vae.dtype == torch.float16 and vae.config.force_upcast:
            vae.to(torch.float32)  # the pipeline's encode step puts it back to fp16 itself
        with torch.inference_mode():
            latents = latents.to(vae.device, vae.dtype)
            mean = getattr(vae.config, "latents_mean", None)
            std = getattr(vae.config, "latents_std", None)
            if mean is not None and std is not None:
                mean_t = torch.tensor(mean).view(1, -1, 1, 1).to(latents)
                std_t = torch.tensor(std).view(1, -1, 1, 1).to(latents)
                latents = latents * std_t / vae.config.scaling_factor + mean_t
            else:
                latents = latents / vae.config.scaling_factor
            image = vae.decode(latents, return_dict=False)[0]
        return self.pipe.image_processor.postprocess(image.float(), output_type="pil")[0]
