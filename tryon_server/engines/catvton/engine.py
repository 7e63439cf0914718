"""The CatVTON engine: a try-on model trained to condition every step on the garment photo.

    1. pose       MediaPipe landmarks (vision.person), cached by photo hash
    2. parsing    the inpainting mask for the category, from the same function the diffusion
                  engine uses (never face, hair or hands); the 3:4 crop around it; the garment
                  cut out and fitted on white
    3. diffusion  CatVTON: person and garment latents side by side (along the height), DDIM
    4. blend      the generated person pasted back inside the mask through a softened edge;
                  the original face restored

Models are loaded once by `load()` on the inference thread and kept for the process's life.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PIL import Image

from ...vision.blend import restore_face
from ..base import ProgressCallback, TryOnJob
from ..diffusion.engine import person_inpaint_mask
from ..gpu import GPUEngine
from .compose import crop_box, fit_on_white, paste_back
from .loading import LICENCE
from .options import parse_options
from .pipeline import TryOnRequest, working_size

log = logging.getLogger("tryon.engines.catvton")

STAGE_START = {"pose": 0.0, "parsing": 0.05, "diffusion": 0.1, "blend": 0.95}
DIFFUSION_START, DIFFUSION_END = 0.1, 0.94
FEATHER = 0.012  # the paste's soft edge, as a share of the photo's long side


class CatVTONEngine(GPUEngine):
    """CatVTON on SD 1.5 inpainting. Construct cheaply; `load()` does the heavy work."""

    name = "catvton"
    licence = LICENCE
    STAGE_START = STAGE_START

    def _load_models(self) -> tuple[Any, Any]:
        from .loading import load_models
        from .pipeline import CatVTONRunner

        log.info("catvton weights: %s", LICENCE)
        models = load_models(self.models_dir, self.device)
        return models, CatVTONRunner(models)

    def _warm_up_request(self) -> TryOnRequest:
        size = working_size(1024)  # the default output size: its kernels are the ones chosen now
        return TryOnRequest(
            person=Image.new("RGB", size, (128, 128, 128)), garment=Image.new("RGB", size, (255, 255, 255)),
            mask=Image.new("L", size, 255), options=parse_options({"steps": 2, "seed": 0}),
        )

    def run(self, job: TryOnJob, progress: ProgressCallback) -> Image.Image:
        opts = parse_options(job.options)
        # 1. pose, on the photo at its output size
        stages, person, person_rgb, analysis = self._pose(job, progress, opts.output_size)

        # 2. the mask, the 3:4 crop around it, the garment on white at the working size
        stages.enter("parsing")
        mask = person_inpaint_mask(person_rgb, analysis, job.category, self.models.segformer)
        box = crop_box(person.size, mask)
        size = working_size(opts.output_size)
        mask_crop = Image.fromarray((mask[box[1]:box[3], box[0]:box[2]] * 255).astype(np.uint8), "L")
        request = TryOnRequest(
            person=person.crop(box).resize(size, Image.Resampling.LANCZOS),
            garment=fit_on_white(job.garment, job.category, size),
            mask=mask_crop.resize(size, Image.Resampling.NEAREST),
            options=opts,
        )

        # 3. CatVTON
        stages.enter("diffusion")
        generated = self.runner(request, stages.steps(DIFFUSION_START, DIFFUSION_END), job.cancel)

        # 4. back into the photo: only the masked area changes, the face is the original's
        stages.enter("blend")
        result = paste_back(person_rgb, generated, box, mask, FEATHER * max(person.size))
        result = restore_face(result, person_rgb, analysis.face_mask)
        log.info("catvton try-on %s", stages.finish())
        return Image.fromarray(result, "RGB")
