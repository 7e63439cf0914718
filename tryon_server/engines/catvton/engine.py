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
import threading
import time
from typing import Any

import numpy as np
from PIL import Image

from ...config import Settings
from ...vision.blend import restore_face
from ...vision.person import PersonAnalyzer, require_landmarks
from ..base import ProgressCallback, TryOnJob
from ..classic import fit_long_side
from ..diffusion.engine import person_inpaint_mask
from .compose import crop_box, fit_on_white, paste_back
from .loading import LICENCE
from .options import parse_options
from .pipeline import TryOnRequest, working_size

log = logging.getLogger("tryon.engines.catvton")

STAGE_START = {"pose": 0.0, "parsing": 0.05, "diffusion": 0.1, "blend": 0.95}
DIFFUSION_START, DIFFUSION_END = 0.1, 0.94
FEATHER = 0.012  # the paste's soft edge, as a share of the photo's long side


class CatVTONEngine:
    """CatVTON on SD 1.5 inpainting. Construct cheaply; `load()` does the heavy work."""

    name = "catvton"
    licence = LICENCE

    def __init__(self, settings: Settings, device: str | None = None) -> None:
        from ..diffusion.loading import pick_device

        self.settings = settings
        self.models_dir = settings.models_dir
        self.device = device or pick_device()
        self.models: Any = None  # LoadedCatVTON after load()
        self.runner: Any = None  # CatVTONRunner after load()
        self.analyzer: PersonAnalyzer | None = None  # after load()

    # -- Engine protocol -------------------------------------------------------------------------

    def load(self) -> None:
        from .loading import load_models
        from .pipeline import CatVTONRunner

        started = time.perf_counter()
        self.models = load_models(self.models_dir, self.device)
        self.runner = CatVTONRunner(self.models)
        self.analyzer = PersonAnalyzer()
        self.analyzer.load()
        if self.device.startswith("cuda"):
            self._warm_up()
        log.info("catvton engine ready in %.1fs (%s)", time.perf_counter() - started, LICENCE)

    def person_analyzer(self) -> PersonAnalyzer | None:
        """engines.base.AnalyzesPeople: the analyzer its try-ons use, once loaded."""
        return self.analyzer

    def run(self, job: TryOnJob, progress: ProgressCallback) -> Image.Image:
        if self.runner is None or self.analyzer is None:
            raise RuntimeError("CatVTONEngine.run() before load()")
        opts = parse_options(job.options)
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        current = ""

        def stage(name: str) -> None:
            nonlocal clock, current
            job.check_cancelled()
            now = time.perf_counter()
            if current:
                timings[current] = now - clock
            clock, current = now, name
            progress(name, STAGE_START[name])

        # 1. pose, on the photo at its output size (the analysis is cached per photo and size)
        stage("pose")
        person = fit_long_side(job.person.convert("RGB"), opts.output_size)
        person_rgb = np.asarray(person, dtype=np.uint8)
        analysis = self.analyzer.analyze(person_rgb, job.person_key or None)
        require_landmarks(analysis, job.category)

        # 2. the mask, the 3:4 crop around it, the garment on white at the working size
        stage("parsing")
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
        stage("diffusion")

        def on_step(done: int, total: int) -> None:
            progress("diffusion", DIFFUSION_START + (DIFFUSION_END - DIFFUSION_START) * done / max(1, total))

        generated = self.runner(request, on_step, job.cancel)

        # 4. back into the photo: only the masked area changes, the face is the original's
        stage("blend")
        result = paste_back(person_rgb, generated, box, mask, FEATHER * max(person.size))
        result = restore_face(result, person_rgb, analysis.face_mask)
        timings["blend"] = time.perf_counter() - clock
        progress("blend", 1.0)
        log.info("catvton try-on %s", " ".join(f"{k}={v:.2f}s" for k, v in timings.items()))
        return Image.fromarray(result, "RGB")

    def _warm_up(self) -> None:
        """One short call at the default size so the first shopper does not pay for CUDA kernel
        selection."""
        size = working_size(1024)
        request = TryOnRequest(
            person=Image.new("RGB", size, (128, 128, 128)), garment=Image.new("RGB", size, (255, 255, 255)),
            mask=Image.new("L", size, 255), options=parse_options({"steps": 2, "seed": 0}),
        )
        try:
            self.runner(request, lambda done, total: None, threading.Event())
        except Exception as exc:  # a failed warm-up is not worth refusing to start for
            log.warning("catvton warm-up failed: %s", exc)
