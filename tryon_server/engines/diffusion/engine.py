"""The diffusion engine: SDXL inpainting + ControlNet OpenPose over the classic engine's warp.

    1. pose      MediaPipe landmarks (vision.person), cached by photo hash
    2. parsing   Segformer clothes labels when present, else the pose + person-mask region;
                 the inpainting mask covers the category's garment area, never face or hands
    3. warp      the garment cut out and laid on the body (vision.garment + vision.warp)
    4. diffusion SDXL inpainting with ControlNet OpenPose; the warped garment is the starting
                 image of the masked region (strength < 1 keeps its cut and pattern)
    5. blend     Poisson clone of the repainted area into the original photo, the garment's
                 colours histogram-matched back, the original face restored

Models are loaded once by `load()` on the inference thread and kept for the process's life.
"""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np
from PIL import Image

from ...vision.blend import restore_face
from ...vision.compose import compose
from ...vision.garment import cut_out
from ...vision.parsing import PersonParse, parse_person
from ...vision.person import P
from ...vision.regions import garment_region_mask
from ...vision.warp import warp_garment
from ..base import ProgressCallback, TryOnJob
from ..gpu import GPUEngine, StepCallback
from .options import DiffusionOptions, parse_options
from .parsing import inpaint_mask

log = logging.getLogger("tryon.engines.diffusion")

# overall progress at the start of each stage; diffusion fills DIFFUSION_START..DIFFUSION_END
STAGE_START = {"pose": 0.0, "parsing": 0.06, "warp": 0.1, "diffusion": 0.15, "blend": 0.93}
DIFFUSION_START, DIFFUSION_END = 0.15, 0.92
# how much histogram matching pulls the repainted garment back to the garment photo's colours
COLOUR_MATCH = 0.6


class DiffusionEngine(GPUEngine):
    """SDXL inpainting + ControlNet OpenPose. Construct cheaply; `load()` does the heavy work."""

    name = "diffusion"
    STAGE_START = STAGE_START

    def _load_models(self) -> tuple[Any, Any]:
        from .loading import load_models
        from .pipeline import InpaintRunner

        models = load_models(self.models_dir, self.device)
        return models, InpaintRunner(models)

    def _warm_up_request(self) -> Any:
        from .pipeline import PROMPTS, InpaintRequest

        size = (1024, 1024)  # the default output size: its kernels are the ones chosen now
        return InpaintRequest(
            image=Image.new("RGB", size, (128, 128, 128)), mask=Image.new("L", size, 255),
            control=Image.new("RGB", size), options=parse_options({"steps": 2, "strength": 1.0, "seed": 0}),
            prompt=PROMPTS["upper"],
        )

    def run(self, job: TryOnJob, progress: ProgressCallback) -> Image.Image:
        opts = parse_options(job.options)
        # 1. pose, on the photo at its output size
        stages, person, person_rgb, analysis = self._pose(job, progress, opts.output_size)

        # 2. parsing -> the inpainting mask
        stages.enter("parsing")
        parse = parse_person(person_rgb, analysis)
        mask = person_inpaint_mask(person_rgb, analysis, job.category, self.models.segformer, parse=parse)

        # 3. the garment, cut out and warped onto the body
        stages.enter("warp")
        cut = cut_out(job.garment, job.category)
        warped = warp_garment(cut, analysis, job.category)
        mask |= (warped.alpha > 0.5) & ~(analysis.face_mask | analysis.hair_mask | analysis.hands_mask)
        start = _with_garment(person_rgb, warped, mask, analysis, parse, cut, job.category)

        # 4. SDXL inpainting + ControlNet OpenPose, at a working size SDXL likes
        stages.enter("diffusion")
        generated = self._diffuse(job, opts, person, start, mask, analysis,
                                  stages.steps(DIFFUSION_START, DIFFUSION_END))

        # 5. blend back into the original photo
        stages.enter("blend")
        result = blend_generated(person_rgb, generated, mask, start, warped.alpha > 0.5)
        result = restore_face(result, person_rgb, analysis.face_mask)
        log.info("diffusion try-on %s", stages.finish())
        return Image.fromarray(result, "RGB")

    # -- stages ------------------------------------------------------------------------------------

    def _control_image(self, person: Image.Image, analysis: Any, size: tuple[int, int]) -> Image.Image:
        from .openpose import render_openpose

        detector = self.models.openpose
        if detector is not None:
            try:
                return detector(person).convert("RGB").resize(size, Image.Resampling.NEAREST)
            except Exception as exc:  # optional extra: fall back rather than fail the try-on
                log.warning("controlnet_aux OpenPose failed (%s): drawing the pose from MediaPipe", exc)
        return render_openpose(analysis.landmarks, person.size, size)

    def _diffuse(
        self, job: TryOnJob, opts: DiffusionOptions, person: Image.Image, start: np.ndarray,
        mask: np.ndarray, analysis: Any, on_step: StepCallback,
    ) -> np.ndarray:
        from .pipeline import PROMPTS, InpaintRequest, working_size

        size = working_size(person.size, opts.output_size)
        request = InpaintRequest(
            image=Image.fromarray(start, "RGB").resize(size, Image.Resampling.LANCZOS),
            mask=Image.fromarray((mask * 255).astype(np.uint8), "L").resize(size, Image.Resampling.BILINEAR),
            control=self._control_image(person, analysis, size),
            options=opts,
            prompt=PROMPTS[job.category],
        )

        picture = self.runner(request, on_step, job.cancel)
        return np.asarray(picture.convert("RGB").resize(person.size, Image.Resampling.LANCZOS), dtype=np.uint8)


# -- helpers --------------------------------------------------------------------------------------


def person_inpaint_mask(person_rgb: np.ndarray, analysis: Any, category: str, parser: Any | None = None,
                        parse: PersonParse | None = None) -> np.ndarray:
    """Bool HxW: the area a GPU engine repaints for `category` on this photo, from our parsing
    (the optional Segformer `parser` when loaded), dilated a little, never face, hair or hands.
    Both GPU engines call this one function, so a better parser improves both."""
    # what the pose says the garment covers, and the clothes our parser sees there now
    if parse is None:
        parse = parse_person(person_rgb, analysis)
    region = garment_region_mask(analysis, category) | parse.replace_area(category)
    labels = parser.parse(person_rgb) if parser is not None else None
    hip_y = float(np.mean(analysis.landmarks[[P.LEFT_HIP, P.RIGHT_HIP], 1]))
    dilate = max(2, int(round(0.012 * max(analysis.size))))
    return inpaint_mask(
        category, region, analysis.face_mask | analysis.hair_mask, analysis.hands_mask,
        person_mask=analysis.person_mask, labels=labels, parser=parser, hip_y=hip_y, dilate_px=dilate,
    )


def _with_garment(person_rgb: np.ndarray, warped: Any, mask: np.ndarray, analysis: Any, parse: PersonParse,
                  cut: Any, category: str) -> np.ndarray:
    """The diffusion's starting image: the classic engine's picture (the old garment taken off
    over the whole masked area, the warped garment laid on, lit and shaded like the photo), so
    the old garment's colour never leaks into what the model repaints."""
    return compose(person_rgb, analysis, parse, cut, warped, category, extra_replace=mask & (warped.alpha < 0.5))


def match_histograms(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-channel histogram matching of `source` pixels (N, 3) to `reference` pixels (M, 3)."""
    out = np.empty(source.shape, np.float32)
    for c in range(source.shape[1]):
        s_values, s_index, s_counts = np.unique(source[:, c], return_inverse=True, return_counts=True)
        r_values, r_counts = np.unique(reference[:, c], return_counts=True)
        s_cdf = np.cumsum(s_counts) / source.shape[0]
        r_cdf = np.cumsum(r_counts) / reference.shape[0]
        out[:, c] = np.interp(s_cdf, r_cdf, r_values)[s_index.ravel()]
    return out


def blend_generated(
    original: np.ndarray, generated: np.ndarray, mask: np.ndarray, garment_ref: np.ndarray, garment_area: np.ndarray,
) -> np.ndarray:
    """Put the repainted area into the original photo: outside the mask every pixel is the
    original's; at the mask's edge a Poisson clone hides the VAE's slight colour shift; inside,
    the garment's colours are histogram-matched back toward the garment photo's (diffusion
    drifts them) and the raw generated pixels take over from the Poisson ones a few pixels in,
    so the clone's boundary colours cannot tint the whole garment."""
    h, w = mask.shape
    m8 = mask.astype(np.uint8)
    if not m8.any():
        return original.copy()
    gen = generated.astype(np.float32)
    inside = garment_area & mask
    if inside.sum() > 64:
        ref = garment_ref[inside].astype(np.float32)
        gen[inside] = (1 - COLOUR_MATCH) * gen[inside] + COLOUR_MATCH * match_histograms(gen[inside], ref)
    gen8 = np.clip(gen + 0.5, 0, 255).astype(np.uint8)

    # Poisson clone (cv2.seamlessClone) needs the mask away from the image border
    pad = 2
    clone_mask = m8 * 255
    clone_mask[:pad], clone_mask[-pad:], clone_mask[:, :pad], clone_mask[:, -pad:] = 0, 0, 0, 0
    ys, xs = np.nonzero(clone_mask)
    if len(ys) == 0:
        return original.copy()
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    centre = (int((x0 + x1) // 2), int((y0 + y1) // 2))
    try:
        cloned = cv2.seamlessClone(gen8, original, clone_mask, centre, cv2.NORMAL_CLONE)
    except cv2.error:  # degenerate masks (a sliver): a plain paste is fine there
        cloned = original.copy()
        cloned[mask] = gen8[mask]
    # distance from the mask's edge: Poisson at the edge, generated pixels from `band` px inside
    band = max(3.0, 0.02 * max(h, w))
    dist = cv2.distanceTransform(m8, cv2.DIST_L2, 3)
    inner = np.clip(dist / band, 0.0, 1.0)[:, :, None]
    out = cloned.astype(np.float32) * (1 - inner) + gen8.astype(np.float32) * inner
    result = original.copy()
    result[mask] = np.clip(out[mask] + 0.5, 0, 255).astype(np.uint8)
    return result
