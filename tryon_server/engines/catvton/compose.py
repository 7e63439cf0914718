"""CatVTON's inputs and the way back: the 3:4 crop, the garment on white, the soft paste.

    box = crop_box(photo_size, mask)                # 3:4, around the area to repaint
    garment = fit_on_white(garment_photo, category, size)
    result = paste_back(photo, generated, box, mask)
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from ...exceptions import InputRejected
from ...vision.garment import cut_out
from .pipeline import ASPECT

Box = tuple[int, int, int, int]  # x0, y0, x1, y1
GARMENT_MARGIN = 0.04  # white kept around the garment, as a share of its longer side
WHITE = (255, 255, 255)


def crop_box(size: tuple[int, int], mask: np.ndarray, aspect: float = ASPECT) -> Box:
    """The largest box of width/height `aspect` inside an image of `size` (w, h), centred on
    the area to repaint as far as the image's edges allow."""
    w, h = size
    if w / h > aspect:
        bw, bh = max(1, int(round(h * aspect))), h
    else:
        bw, bh = w, max(1, int(round(w / aspect)))
    ys, xs = np.nonzero(mask)
    cx, cy = ((xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2) if len(xs) else (w / 2, h / 2)
    x0 = int(np.clip(round(cx - bw / 2), 0, w - bw))
    y0 = int(np.clip(round(cy - bh / 2), 0, h - bh))
    return x0, y0, x0 + bw, y0 + bh


def fit_on_white(garment: Image.Image, category: str, size: tuple[int, int]) -> Image.Image:
    """The garment photo as CatVTON was trained to see it: the garment alone on white, as large
    as fits `size` (w, h), centred. When no garment can be cut out (a busy photo, a person
    wearing it), the whole photo is fitted instead: CatVTON copes with those better than a cut
    that misses half the garment."""
    rgb = np.asarray(garment.convert("RGB"))
    try:
        cut = cut_out(garment, category)
    except InputRejected:
        picture = Image.fromarray(rgb, "RGB")
    else:
        alpha = cut.alpha[..., None]
        on_white = cut.rgb.astype(np.float32) * alpha + 255.0 * (1 - alpha)
        ys, xs = np.nonzero(cut.alpha > 0.5)
        margin = int(GARMENT_MARGIN * max(ys.max() - ys.min(), xs.max() - xs.min()))
        y0, y1 = max(0, ys.min() - margin), min(rgb.shape[0], ys.max() + 1 + margin)
        x0, x1 = max(0, xs.min() - margin), min(rgb.shape[1], xs.max() + 1 + margin)
        picture = Image.fromarray(np.clip(on_white[y0:y1, x0:x1] + 0.5, 0, 255).astype(np.uint8), "RGB")
    tw, th = size
    scale = min(tw / picture.width, th / picture.height)
    fitted = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                            Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", size, WHITE)
    canvas.paste(fitted, ((tw - fitted.width) // 2, (th - fitted.height) // 2))
    return canvas


def paste_back(photo: np.ndarray, generated: Image.Image, box: Box, mask: np.ndarray, feather_px: float) -> np.ndarray:
    """The generated crop put back into `photo` (HxWx3 uint8) inside `mask` only, through an
    edge softened inward over `feather_px`: outside the mask every pixel stays the photo's, and
    the VAE's slight colour shift fades in instead of showing as a seam."""
    x0, y0, x1, y1 = box
    crop = np.asarray(generated.convert("RGB").resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS), dtype=np.float32)
    inside = np.zeros(mask.shape, np.uint8)
    inside[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
    if not inside.any():
        return photo.copy()
    alpha = np.clip(cv2.distanceTransform(inside, cv2.DIST_L2, 3) / max(1.0, feather_px), 0.0, 1.0)[y0:y1, x0:x1, None]
    out = photo.copy()
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(region * (1 - alpha) + crop * alpha + 0.5, 0, 255).astype(np.uint8)
    return out
