"""Human parsing and the inpainting mask.

With `models/segformer-b2-clothes/` (a Segformer fine-tuned on ATR clothes labels) the mask
follows the clothes the person wears now; without it, the classic engine's pose + person-mask
region stands in. Either way the mask never touches the face or the hands: the diffusion model
may repaint cloth, never a person's identity.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

log = logging.getLogger("tryon.engines.diffusion")

# Labels (by name, as in the model's config.id2label) that each category repaints: what the person
# wears there now, so the old garment disappears even where the new one is smaller.
CATEGORY_LABELS: dict[str, tuple[str, ...]] = {
    "upper": ("upper-clothes", "dress", "scarf"),
    "lower": ("pants", "skirt", "belt", "dress"),
    "dress": ("upper-clothes", "dress", "skirt", "pants", "belt", "scarf"),
}
# never repainted, whatever the category
PROTECTED_LABELS: tuple[str, ...] = ("face", "hair", "sunglasses", "hat", "bag", "left-shoe", "right-shoe")
# Segformer's clothes labels cut "dress" across the whole body; for `upper` only its top half
# (above the hips) is the upper garment, for `lower` only its bottom half.


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


class SegformerParser:
    """A transformers SegformerForSemanticSegmentation that returns a label map at image size."""

    def __init__(self, model: Any, processor: Any, device: str, dtype: Any) -> None:
        self.model = model
        self.processor = processor
        self.device = device
        self.dtype = dtype
        self.labels: dict[str, int] = {_norm(n): int(i) for i, n in model.config.id2label.items()}

    @classmethod
    def load(cls, folder: Path, device: str, dtype: Any) -> SegformerParser:
        from transformers import AutoImageProcessor, SegformerForSemanticSegmentation

        model = SegformerForSemanticSegmentation.from_pretrained(folder, local_files_only=True, torch_dtype=dtype)
        model.to(device).eval()  # type: ignore[arg-type]  # transformers types its wrapped .to() as unbound
        processor = None
        if (folder / "preprocessor_config.json").is_file():
            processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
        return cls(model, processor, device, dtype)

    def _pixel_values(self, image_rgb: np.ndarray) -> Any:
        import torch

        if self.processor is not None:
            pixels = self.processor(images=image_rgb, return_tensors="pt")["pixel_values"]
        else:  # the ImageNet normalisation Segformer was trained with, at 512 px
            resized = cv2.resize(image_rgb, (512, 512), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
            resized = (resized - (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225)
            pixels = torch.from_numpy(resized.transpose(2, 0, 1)[None].astype(np.float32))
        return pixels.to(self.device, self.dtype)

    def parse(self, image_rgb: np.ndarray) -> np.ndarray:
        """RGB uint8 HxWx3 -> int HxW label map (indices of model.config.id2label)."""
        import torch
        import torch.nn.functional as F

        h, w = image_rgb.shape[:2]
        with torch.inference_mode():
            logits = self.model(pixel_values=self._pixel_values(image_rgb)).logits
            logits = F.interpolate(logits.float(), size=(h, w), mode="bilinear", align_corners=False)
            return logits.argmax(1)[0].to("cpu").numpy().astype(np.int32)

    def masks(self, labels: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
        """Union of the named classes (names this model does not know are skipped)."""
        ids = [self.labels[n] for n in names if n in self.labels]
        return np.isin(labels, ids) if ids else np.zeros(labels.shape, bool)


def inpaint_mask(
    category: str,
    region: np.ndarray,
    face_mask: np.ndarray,
    hands_mask: np.ndarray,
    *,
    person_mask: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    parser: SegformerParser | None = None,
    hip_y: float | None = None,
    dilate_px: int = 0,
) -> np.ndarray:
    """The area SDXL repaints, as a bool HxW mask.

    `region` is where the new garment goes (the classic engine's `garment_region_mask`, which
    already contains the warped garment's footprint); with a parse, the clothes worn there now
    are added so the old garment cannot peek out. `dilate_px` widens it to hide seams. The face
    and hands (and, with a parse, hair, hat, bag and shoes) are always taken out, after dilation.
    """
    mask = region.astype(bool).copy()
    protected = face_mask.astype(bool) | hands_mask.astype(bool)
    if labels is not None and parser is not None:
        worn = parser.masks(labels, CATEGORY_LABELS[category])
        # only clothes around where the new garment goes: a stray "clothes" pixel elsewhere
        # (a flag, a sofa) must not be repainted
        reach = max(3, int(0.08 * max(region.shape)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
        worn &= cv2.dilate(region.astype(np.uint8), kernel).astype(bool)
        if hip_y is not None and category in ("upper", "lower") and "dress" in parser.labels:
            dress = labels == parser.labels["dress"]
            rows = np.arange(labels.shape[0])[:, None]
            keep_half = rows < hip_y if category == "upper" else rows >= hip_y
            worn &= ~dress | keep_half
        mask |= worn
        protected |= parser.masks(labels, PROTECTED_LABELS)
        # faces are parsed more tightly than the pose-based face ellipse: keep both
    if dilate_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate_px + 1, 2 * dilate_px + 1))
        mask = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
        if person_mask is not None:
            # grow into the background only a little: a dilated mask far outside the body
            # invites the model to paint a wider garment than the person's
            near_body = cv2.dilate((person_mask > 0.5).astype(np.uint8), kernel).astype(bool)
            mask &= near_body | region.astype(bool)
    return mask & ~protected
