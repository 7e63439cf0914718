"""The body area a garment category covers: where a new garment may be drawn.

The classic engine clips its warped garment to it; the diffusion engine inpaints inside it.
It is built from the pose (so it follows the body, not the old clothes) and cut to the person
mask grown by a margin (so a loose new garment may be a little wider than a tight old one),
and it never includes the face, the hair or the hands.
"""

from __future__ import annotations

import cv2
import numpy as np

from .person import PersonAnalysis
from .warp import body_points, mask_extent


def _capsule(mask: np.ndarray, a: np.ndarray, b: np.ndarray, thickness: float) -> None:
    cv2.line(mask, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), (1,), max(1, int(thickness)))
    for p in (a, b):
        cv2.circle(mask, (int(p[0]), int(p[1])), max(1, int(thickness / 2)), (1,), -1)


def _poly(mask: np.ndarray, pts: list[np.ndarray]) -> None:
    cv2.fillPoly(mask, [np.array(pts, np.float64).round().astype(np.int32)], (1,))


def _arm_thickness(person_mask: np.ndarray, shoulder: np.ndarray, elbow: np.ndarray, centre: np.ndarray,
                   sw: float) -> float:
    """The upper arm's thickness for the sleeve area: twice the person mask's reach outward
    from the arm's axis at mid-arm, between 0.38 and 0.7 shoulder widths. A bulky old sleeve is
    wider than the joints suggest; a sleeve area cut to the joints left a strip of it showing."""
    mid = (shoulder + elbow) / 2
    axis = elbow - shoulder
    normal = np.array([-axis[1], axis[0]]) / (float(np.linalg.norm(axis)) or 1.0)
    if np.dot(normal, mid - centre) < 0:  # point away from the body
        normal = -normal
    reach = mask_extent(person_mask, mid, normal, 0.4 * sw)
    return float(np.clip(2.2 * reach, 0.38 * sw, 0.7 * sw))


def hip_line_below(analysis: PersonAnalysis, offset: float = 0.1) -> np.ndarray:
    """Bool HxW: everything below the hips (plus `offset` torso lengths). A skirt or a dress
    hangs free there, over the gap between the legs and past them, so it is not cut to the
    person's outline."""
    w, h = analysis.size
    b = body_points(analysis)
    down = b.hip_mid - b.sh_mid
    torso = float(np.linalg.norm(down)) or b.sw
    down = down / torso
    ys, xs = np.mgrid[0:h, 0:w]
    start = b.hip_mid + down * offset * torso
    return ((xs - start[0]) * down[0] + (ys - start[1]) * down[1]) > 0


def garment_region_mask(analysis: PersonAnalysis, category: str, margin: float = 0.06,
                        free_below_hips: bool | None = None) -> np.ndarray:
    """Bool HxW: the part of the body a garment of `category` ("upper", "lower", "dress")
    covers, grown into the background by `margin` shoulder widths, without face, hair, hands.

    With `free_below_hips` (default: for dresses) the part below the hips is not cut to the
    person's outline: a skirt covers the gap between the legs."""
    w, h = analysis.size
    b = body_points(analysis)
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
            if el is not None:  # sleeves: down the upper arm, as thick as the arm looks
                _capsule(region, sh, el, _arm_thickness(analysis.person_mask, sh, el, b.sh_mid, sw))
    if category in ("lower", "dress"):
        waist_l = b.hip_mid - hip_across * hj * 0.85 - legs * 0.5 * hj
        waist_r = b.hip_mid + hip_across * hj * 0.85 - legs * 0.5 * hj
        if category == "lower":
            _poly(region, [waist_l, waist_r, b.hip_r + hip_across * 0.45 * hj, b.hip_l - hip_across * 0.45 * hj])
            if free_below_hips:  # a skirt: hips to below the knees, flaring
                _poly(region, [waist_l, waist_r, b.knee_r + (b.ank_r - b.knee_r) * 0.3 + hip_across * 0.6 * hj,
                               b.knee_l + (b.ank_l - b.knee_l) * 0.3 - hip_across * 0.6 * hj])
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

    # grow the person mask at a quarter size: a large dilation at full size costs ~50 ms
    f = 4
    small = cv2.resize((analysis.person_mask > 0.5).astype(np.uint8), (max(1, w // f), max(1, h // f)),
                       interpolation=cv2.INTER_NEAREST)
    r = max(1, int(margin * sw / f))
    small = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    grown = (cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST) > 0) | (analysis.person_mask > 0.5)
    if free_below_hips is None:
        free_below_hips = category == "dress"
    if free_below_hips:
        grown = grown | hip_line_below(analysis)
    out = (region > 0) & (grown > 0)
    out &= ~analysis.face_mask & ~analysis.hair_mask & ~analysis.hands_mask
    return out

