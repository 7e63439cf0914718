"""The body area a garment category covers: where a new garment may be drawn.

The classic engine clips its warped garment to it; the diffusion engine inpaints inside it.
It is built from the pose (so it follows the body, not the old clothes) and cut to the person
mask grown by a margin (so a loose new garment may be a little wider than a tight old one),
and it never includes the face, the hair or the hands.
"""

from __future__ import annotations

import cv2
import numpy as np

from .person import P, PersonAnalysis
from .warp import _body


def _capsule(mask: np.ndarray, a: np.ndarray, b: np.ndarray, thickness: float) -> None:
    cv2.line(mask, tuple(int(v) for v in a), tuple(int(v) for v in b), 1, max(1, int(thickness)))
    for p in (a, b):
        cv2.circle(mask, tuple(int(v) for v in p), max(1, int(thickness / 2)), 1, -1)


def _poly(mask: np.ndarray, pts: list[np.ndarray]) -> None:
    cv2.fillPoly(mask, [np.array(pts, np.float64).round().astype(np.int32)], 1)


def garment_region_mask(analysis: PersonAnalysis, category: str, margin: float = 0.06) -> np.ndarray:
    """Bool HxW: the part of the body a garment of `category` ("upper", "lower", "dress")
    covers, grown into the background by `margin` shoulder widths, without face, hair, hands."""
    w, h = analysis.size
    b = _body(analysis)
    sw, hj = max(b.sw, 1.0), max(b.hw, 1.0)
    across = (b.sh_r - b.sh_l) / sw
    down = b.hip_mid - b.sh_mid
    torso = float(np.linalg.norm(down)) or sw
    down = down / torso
    up = -down
    hip_across = (b.hip_r - b.hip_l) / hj
    legs = (b.knee_l + b.knee_r) / 2 - b.hip_mid
    legs = legs / (np.linalg.norm(legs) or 1.0)
    region = np.zeros((h, w), np.uint8)

    if category in ("upper", "dress"):
        neck_l = b.sh_mid - across * 0.22 * sw + up * 0.12 * sw
        neck_r = b.sh_mid + across * 0.22 * sw + up * 0.12 * sw
        tip_l = b.sh_l - across * 0.2 * sw + up * 0.08 * sw
        tip_r = b.sh_r + across * 0.2 * sw + up * 0.08 * sw
        # an upper garment ends a little below the waist: past the hip joints by a fifth of
        # the torso (tunics and long tops), as wide as the hips
        low = 0.2 if category == "upper" else 0.0
        hem_l = b.hip_mid - hip_across * hj * 1.0 + down * low * torso
        hem_r = b.hip_mid + hip_across * hj * 1.0 + down * low * torso
        _poly(region, [neck_l, tip_l, b.sh_l - across * 0.2 * sw + down * 0.5 * sw, hem_l, hem_r,
                       b.sh_r + across * 0.2 * sw + down * 0.5 * sw, tip_r, neck_r])
        for sh, el in ((b.sh_l, b.el_l), (b.sh_r, b.el_r)):
            if el is not None:  # sleeves: down the upper arm
                _capsule(region, sh, el, 0.38 * sw)
    if category in ("lower", "dress"):
        waist_l = b.hip_mid - hip_across * hj * 0.85 - legs * 0.5 * hj
        waist_r = b.hip_mid + hip_across * hj * 0.85 - legs * 0.5 * hj
        if category == "lower":
            _poly(region, [waist_l, waist_r, b.hip_r + hip_across * 0.45 * hj, b.hip_l - hip_across * 0.45 * hj])
            for hip, knee, ank in ((b.hip_l, b.knee_l, b.ank_l), (b.hip_r, b.knee_r, b.ank_r)):
                _capsule(region, hip, knee, 1.0 * hj)
                _capsule(region, knee, ank, 0.75 * hj)
        else:
            # a dress falls from the hips to below the knees, flaring out
            calf = 0.3
            k_l = b.knee_l + (b.ank_l - b.knee_l) * calf
            k_r = b.knee_r + (b.ank_r - b.knee_r) * calf
            flare = hip_across * 0.6 * hj
            _poly(region, [waist_l, waist_r, k_r + flare, k_l - flare])

    grown = cv2.dilate((analysis.person_mask > 0.5).astype(np.uint8),
                       cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(margin * sw) + 1,) * 2))
    out = (region > 0) & (grown > 0)
    out &= ~analysis.face_mask & ~analysis.hair_mask & ~analysis.hands_mask
    return out
