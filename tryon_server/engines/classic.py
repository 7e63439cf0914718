"""The `classic` engine: a real try-on on a CPU in well under a second, with no downloaded weights.

The vision stages without the generative step (docs/tryon.md): MediaPipe pose and masks
(`vision.person`), a label per pixel and the old garment to replace (`vision.parsing`), the
garment cut out of its product photo and split into body and sleeves (`vision.garment`), warped
part by part onto the body (`vision.warp`), and composed: the old garment repainted as skin or
background, the new one laid on with the photo's light (`vision.compose`). The person's analysis
and parse are cached per photo, the cut-out per garment.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict

import numpy as np
from PIL import Image

from ..config import Settings
from ..vision.compose import compose
from ..vision.garment import GarmentCutout, cut_out
from ..vision.parsing import PersonParse, parse_person
from ..vision.person import PersonAnalysis, PersonAnalyzer, require_landmarks
from ..vision.warp import warp_garment
from .base import ProgressCallback, TryOnJob

log = logging.getLogger("tryon.engines.classic")

DEFAULT_OUTPUT_SIZE = 1024


def fit_long_side(image: Image.Image, long_side: int) -> Image.Image:
    """Resize so the longer side is `long_side`, keeping the aspect ratio."""
    w, h = image.size
    scale = long_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return image
    return image.resize(size, Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.LANCZOS)


class ClassicEngine:
    """MediaPipe + OpenCV try-on. Create, `load()` once on the inference thread, then `run()`."""

    name = "classic"
    device = "cpu"

    def __init__(self, settings: Settings | None = None, cache_size: int = 16) -> None:
        self.settings = settings
        self.analyzer = PersonAnalyzer(cache_size=cache_size)
        self._garments: OrderedDict[tuple[str, str], GarmentCutout] = OrderedDict()
        self._cache_size = cache_size
        self._parses: OrderedDict[tuple[str, str], PersonParse] = OrderedDict()

    def load(self) -> None:
        self.analyzer.load()

    def person_analyzer(self) -> PersonAnalyzer:
        """engines.base.AnalyzesPeople: the analyzer its try-ons use (loaded by `load()`)."""
        return self.analyzer

    def _cutout(self, garment: Image.Image, category: str) -> GarmentCutout:
        # the same product is often tried on several profiles: key the cut-out on its pixels
        key = (hashlib.sha256(garment.tobytes() + repr(garment.size).encode()).hexdigest(), category)
        hit = self._garments.get(key)
        if hit is not None:
            self._garments.move_to_end(key)
            return hit
        cut = cut_out(garment, category)
        self._garments[key] = cut
        while len(self._garments) > self._cache_size:
            self._garments.popitem(last=False)
        return cut

    def _parse(self, person: np.ndarray, analysis: PersonAnalysis, key: str) -> PersonParse:
        h, w = person.shape[:2]
        cache_key = (key, f"{w}x{h}")
        hit = self._parses.get(cache_key) if key else None
        if hit is not None:
            self._parses.move_to_end(cache_key)
            return hit
        parse = parse_person(person, analysis)
        if key:
            self._parses[cache_key] = parse
            while len(self._parses) > self._cache_size:
                self._parses.popitem(last=False)
        return parse

    def run(self, job: TryOnJob, progress: ProgressCallback) -> Image.Image:
        timings: dict[str, float] = {}
        t = time.perf_counter()
        # 1. pose: the person photo at the output size, analysed (or taken from the cache)
        progress("pose", 0.0)
        long_side = int(job.options.get("output_size") or DEFAULT_OUTPUT_SIZE)
        person_img = fit_long_side(job.person.convert("RGB"), long_side)
        person = np.asarray(person_img)
        analysis = self.analyzer.analyze(person, job.person_key or None)
        require_landmarks(analysis, job.category)
        timings["pose"] = time.perf_counter() - t
        job.check_cancelled()

        # 2. parsing: what each pixel of the person is, and what the new garment replaces
        progress("parsing", 0.35)
        t = time.perf_counter()
        parse = self._parse(person, analysis, job.person_key)
        cut = self._cutout(job.garment, job.category)
        timings["parsing"] = time.perf_counter() - t
        job.check_cancelled()

        # 3. warp: the garment's parts onto the body's parts
        progress("warp", 0.55)
        t = time.perf_counter()
        warped = warp_garment(cut, analysis, job.category)
        timings["warp"] = time.perf_counter() - t
        job.check_cancelled()

        # 4. compose: the old garment taken off (skin or background), the new one laid on,
        # lit like the photo, behind what stays in front
        progress("blend", 0.8)
        t = time.perf_counter()
        out = compose(person, analysis, parse, cut, warped, job.category)
        timings["blend"] = time.perf_counter() - t
        progress("blend", 1.0)
        log.debug("classic try-on %s", {k: round(v, 3) for k, v in timings.items()})
        return Image.fromarray(out, "RGB")
