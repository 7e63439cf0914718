"""Body measurements and a clothing size from one full-body photo and the person's height.

    estimate_body(analysis, height_cm) -> {"measurements", "size", "sizes", "confidence", ...}

Everything is measured in the photo, in pixels, then scaled to centimetres by the height the
person gave (their standing height over their height in pixels, head top to soles): so the
result does not depend on the photo's resolution or the camera distance. Widths come from the
person mask at the heights the pose landmarks give (chest, waist, hips); girths are ellipses
with standard depth-to-width ratios; lengths are corrected for limbs pointing towards the camera
with MediaPipe's metric 3D (world) landmarks. See docs/measurements.md for what this can and
cannot do. Sizes come from the chart in data/size_chart.json.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from .exceptions import InputRejected
from .vision.person import P, PersonAnalysis

# Depth / width of the body's cross-section seen from the front (adult averages; the girth
# of an ellipse with these axes approximates the tape-measured girth to a few per cent).
DEPTH_RATIO = {"chest": 0.80, "waist": 0.80, "hip": 0.75}

# Plausible adult ranges (cm) used to clamp and to flag a doubtful measurement.
PLAUSIBLE = {
    "shoulder_width": (28.0, 58.0),
    "chest": (65.0, 150.0),
    "waist": (50.0, 150.0),
    "hip": (70.0, 160.0),
    "torso_length": (35.0, 75.0),
    "arm_length": (40.0, 85.0),
    "inseam": (55.0, 100.0),
}

NOT_FULL_BODY = ("We need your whole body in the photo: stand back until your head and your feet are "
                 "both in the picture, facing the camera.")
TOO_SMALL = ("You are too small in the photo: step closer (or zoom in) so that you fill most of the "
             "picture's height, head to feet.")
SITTING = ("Please stand up straight for the photo, arms a little away from your body: sitting or "
           "bending changes your measurements.")
SEVERAL = "Several people are in the photo: take the photo with only you in it."
NOT_FACING = "Face the camera for the photo, standing straight with your arms a little away from your body."


# --- the size chart -----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def size_chart() -> dict[str, Any]:
    """The chart in tryon_server/data/size_chart.json (see its "standard" and "about")."""
    text = resources.files("tryon_server").joinpath("data/size_chart.json").read_text(encoding="utf-8")
    return json.loads(text)


def size_for(column: dict[str, list[float]], value: float) -> tuple[str, bool]:
    """(size, in_range) for one measurement: intervals are [min, max); below the smallest size
    gives the smallest, above the largest gives the largest, with in_range False."""
    order = size_chart()["sizes"]
    for size in order:
        lo, hi = column[size]
        if lo <= value < hi:
            return size, True
    first, last = order[0], order[-1]
    return (first, False) if value < column[first][0] else (last, False)


def pick_sizes(girths: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Top and bottom sizes from chest, waist and hip girths (cm).

    A top is chosen by chest girth; a bottom by waist and hip girth, taking the larger of the two
    sizes (a garment that closes at the waist but not the hips does not fit). `decided_by` names
    the measurement that chose the size."""
    chart = size_chart()
    order = chart["sizes"]
    out: dict[str, dict[str, Any]] = {}
    for garment, columns in (("top", chart["top"]), ("bottom", chart["bottom"])):
        best: tuple[int, str, bool] | None = None
        for name, column in columns.items():
            if name not in girths:
                continue
            size, in_range = size_for(column, girths[name])
            rank = order.index(size)
            if best is None or rank > best[0]:
                best = (rank, name, in_range)
        if best is not None:
            out[garment] = {"size": order[best[0]], "decided_by": best[1], "in_range": best[2]}
    return out


# --- photo checks -------------------------------------------------------------------------------


def check_photo(analysis: PersonAnalysis) -> None:
    """Raise `InputRejected` with what to fix unless this is one person, standing, whole, big
    enough. Codes: several_people, not_full_body, person_too_small, sitting, not_facing."""
    w, h = analysis.size
    if analysis.people_count > 1:
        raise InputRejected(SEVERAL, code="several_people")
    needed = (P.NOSE, P.LEFT_SHOULDER, P.RIGHT_SHOULDER, P.LEFT_HIP, P.RIGHT_HIP, P.LEFT_KNEE, P.RIGHT_KNEE,
              P.LEFT_ANKLE, P.RIGHT_ANKLE)
    if not all(analysis.visible(i) for i in needed):
        raise InputRejected(NOT_FULL_BODY, code="not_full_body")
    top, floor = _head_top(analysis), _floor(analysis)
    if top <= 1 or floor >= h - 1 and _mask_touches_bottom(analysis):
        raise InputRejected(NOT_FULL_BODY, code="not_full_body")
    stature = floor - top
    if stature < 0.45 * h or stature < 250:
        raise InputRejected(TOO_SMALL, code="person_too_small")
    lm = analysis.landmarks
    sh_y = float(np.mean(lm[[P.LEFT_SHOULDER, P.RIGHT_SHOULDER], 1]))
    hip_y = float(np.mean(lm[[P.LEFT_HIP, P.RIGHT_HIP], 1]))
    knee_y = float(np.mean(lm[[P.LEFT_KNEE, P.RIGHT_KNEE], 1]))
    ankle_y = float(np.mean(lm[[P.LEFT_ANKLE, P.RIGHT_ANKLE], 1]))
    thigh = knee_y - hip_y
    shin = ankle_y - knee_y
    torso = hip_y - sh_y
    # standing: thighs hang about as long as shins; seated, they point at the camera or sideways
    if thigh < 0.6 * shin or torso <= 0 or ankle_y - hip_y < 1.2 * torso:
        raise InputRejected(SITTING, code="sitting")
    for hip, knee in ((P.LEFT_HIP, P.LEFT_KNEE), (P.RIGHT_HIP, P.RIGHT_KNEE)):
        d = lm[knee, :2] - lm[hip, :2]
        if abs(d[0]) > 0.7 * abs(d[1]):  # a thigh more than ~35 degrees from vertical
            raise InputRejected(SITTING, code="sitting")
    if analysis.shoulder_width < 0.45 * torso:  # side-on: widths would be depths
        raise InputRejected(NOT_FACING, code="not_facing")


def _head_top(analysis: PersonAnalysis) -> float:
    """Topmost person-mask row above the face, in a band the face's width around the nose."""
    w, h = analysis.size
    nose = analysis.point(P.NOSE)
    half = 0.5 * (analysis.face_box[2] if analysis.face_box else 0.3 * analysis.shoulder_width)
    x0, x1 = int(max(0, nose[0] - half)), int(min(w, nose[0] + half + 1))
    column = (analysis.person_mask[:, x0:x1] > 0.5).any(1)
    rows = np.nonzero(column[: int(max(1, nose[1]))])[0]
    if len(rows) == 0:  # mask missed the head: eyes are ~ 0.06 statures below the top
        return float(nose[1] - 1.1 * half)
    return float(rows[0])


def _floor(analysis: PersonAnalysis) -> float:
    """The soles: the lowest of heels and toes (MediaPipe's foot points), or the mask's lowest
    row under the ankles when it reaches lower (thick soles, a dress)."""
    lm = analysis.landmarks
    feet = [lm[i, 1] for i in (P.LEFT_HEEL, P.RIGHT_HEEL, P.LEFT_FOOT_INDEX, P.RIGHT_FOOT_INDEX) if lm[i, 3] >= 0.3]
    ankle_y = float(np.max(lm[[P.LEFT_ANKLE, P.RIGHT_ANKLE], 1]))
    floor = max(feet) if feet else ankle_y + 0.04 * analysis.shoulder_width * 4
    w, h = analysis.size
    xs = lm[[P.LEFT_ANKLE, P.RIGHT_ANKLE], 0]
    x0 = int(max(0, xs.min() - 0.3 * analysis.shoulder_width))
    x1 = int(min(w, xs.max() + 0.3 * analysis.shoulder_width))
    rows = np.nonzero((analysis.person_mask[int(ankle_y):, x0:x1] > 0.5).any(1))[0]
    if len(rows):
        mask_floor = ankle_y + rows[-1]
        if mask_floor < floor + 0.15 * (floor - ankle_y + 1) + 0.1 * analysis.shoulder_width:
            floor = max(floor, mask_floor)
    return float(min(floor, h - 1))


def _mask_touches_bottom(analysis: PersonAnalysis) -> bool:
    return bool((analysis.person_mask[-2:] > 0.5).any())


# --- geometry ---------------------------------------------------------------------------------


def _ellipse_girth(width: float, depth: float) -> float:
    """Ramanujan's perimeter of an ellipse with these full axes."""
    a, b = width / 2, depth / 2
    return math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))


def _arm_x_at(lm: np.ndarray, side: tuple[int, int, int], y: float) -> float | None:
    """Where an arm (shoulder, elbow, wrist) crosses row y, if it does."""
    pts = lm[list(side), :2]
    for a, b in ((pts[0], pts[1]), (pts[1], pts[2])):
        lo, hi = sorted((a[1], b[1]))
        if lo <= y <= hi and hi > lo:
            t = (y - a[1]) / (b[1] - a[1])
            return float(a[0] + t * (b[0] - a[0]))
    return None


def _torso_width(analysis: PersonAnalysis, y: float) -> tuple[float, float]:
    """(width px, confidence) of the torso's mask run through row y, from the body's centre
    line outwards. An arm hanging against the side merges with the torso in the mask: the run
    is then cut at the arm's inner edge, and the confidence drops."""
    w, h = analysis.size
    lm = analysis.landmarks
    yi = int(np.clip(round(y), 0, h - 1))
    sh_mid = (lm[P.LEFT_SHOULDER, :2] + lm[P.RIGHT_SHOULDER, :2]) / 2
    hip_mid = (lm[P.LEFT_HIP, :2] + lm[P.RIGHT_HIP, :2]) / 2
    t = (y - sh_mid[1]) / max(hip_mid[1] - sh_mid[1], 1.0)
    cx = float(sh_mid[0] + t * (hip_mid[0] - sh_mid[0]))
    row = analysis.person_mask[yi] > 0.5
    sw = analysis.shoulder_width
    limit = int(1.2 * sw)
    c = int(np.clip(round(cx), 0, w - 1))
    if not row[c]:
        return float("nan"), 0.0
    left = c
    while left > 0 and row[left - 1] and c - left < limit:
        left -= 1
    right = c
    while right < w - 1 and row[right + 1] and right - c < limit:
        right += 1
    confidence = 1.0
    arm_half = 0.11 * sw
    for side in ((P.LEFT_SHOULDER, P.LEFT_ELBOW, P.LEFT_WRIST), (P.RIGHT_SHOULDER, P.RIGHT_ELBOW, P.RIGHT_WRIST)):
        ax = _arm_x_at(lm, side, y)
        if ax is None:
            continue
        if left <= ax <= right:  # the arm is inside the run: cut at its inner edge
            if ax < cx:
                left = max(left, int(ax + arm_half))
            else:
                right = min(right, int(ax - arm_half))
            confidence = min(confidence, 0.5)
    if c - left >= limit or right - c >= limit:
        confidence = min(confidence, 0.3)
    return float(right - left + 1), confidence


def _widest(analysis: PersonAnalysis, y0: float, y1: float, narrowest: bool) -> tuple[float, float]:
    best: tuple[float, float] | None = None
    for y in np.linspace(y0, y1, 9):
        width, conf = _torso_width(analysis, float(y))
        if not np.isfinite(width):
            continue
        if best is None or (width < best[0] if narrowest else width > best[0]):
            best = (width, conf)
    return best if best is not None else (float("nan"), 0.0)


def _foreshortening(analysis: PersonAnalysis, chain: tuple[int, ...]) -> float:
    """3D length / length in the picture plane, from the metric world landmarks (>= 1): an arm
    bent towards the camera looks short in the photo but not in 3D."""
    world = analysis.world_landmarks
    if world is None:
        return 1.0
    full = sum(float(np.linalg.norm(world[b, :3] - world[a, :3])) for a, b in zip(chain, chain[1:]))
    flat = sum(float(np.linalg.norm(world[b, :2] - world[a, :2])) for a, b in zip(chain, chain[1:]))
    if flat <= 1e-6:
        return 1.0
    return float(np.clip(full / flat, 1.0, 1.3))


def _chain_px(analysis: PersonAnalysis, chain: tuple[int, ...]) -> float:
    return sum(float(np.linalg.norm(analysis.point(b) - analysis.point(a))) for a, b in zip(chain, chain[1:]))


def _crotch_y(analysis: PersonAnalysis) -> tuple[float, float]:
    """The top of the gap between the legs, scanning up the centre line from the ankles; with
    the legs together (no gap) half a hip-joint span below the hip joints, less sure."""
    lm = analysis.landmarks
    hip_mid = (lm[P.LEFT_HIP, :2] + lm[P.RIGHT_HIP, :2]) / 2
    ankle_mid = (lm[P.LEFT_ANKLE, :2] + lm[P.RIGHT_ANKLE, :2]) / 2
    hip_span = float(np.linalg.norm(lm[P.LEFT_HIP, :2] - lm[P.RIGHT_HIP, :2]))
    fallback = float(hip_mid[1] + 0.5 * hip_span), 0.4
    h = analysis.size[1]
    knee_y = float(np.mean(lm[[P.LEFT_KNEE, P.RIGHT_KNEE], 1]))
    for y in range(int(knee_y), int(hip_mid[1]), -1):  # from the knees up
        t = (y - hip_mid[1]) / max(ankle_mid[1] - hip_mid[1], 1.0)
        x = int(round(hip_mid[0] + t * (ankle_mid[0] - hip_mid[0])))
        if not (0 <= y < h and 0 <= x < analysis.size[0]):
            return fallback
        if analysis.person_mask[y, x] > 0.5:
            if y >= knee_y - 2:  # legs touch at the knees: no usable gap
                return fallback
            return float(y), 0.8
    return fallback


# --- the estimate -------------------------------------------------------------------------------


def estimate_body(analysis: PersonAnalysis, height_cm: float) -> dict[str, Any]:
    """Measurements (cm, each with a confidence in [0, 1]) and sizes for a full-body photo.

    Returns {"measurements": {name: {"value_cm", "confidence"}}, "size": top size (the API
    contract's single size), "sizes": {"top": {"size", "decided_by", "in_range"}, "bottom":
    {...}}, "confidence": overall, "height_cm": as given}. Raises `InputRejected` with what to
    fix when the photo cannot be measured (see `check_photo`)."""
    if not 100.0 <= float(height_cm) <= 250.0:
        raise InputRejected("Give your height in centimetres, between 100 and 250.", code="bad_height")
    check_photo(analysis)
    lm = analysis.landmarks
    top, floor = _head_top(analysis), _floor(analysis)
    stature_px = floor - top
    cm = float(height_cm) / stature_px
    sh_y = float(np.mean(lm[[P.LEFT_SHOULDER, P.RIGHT_SHOULDER], 1]))
    hip_y = float(np.mean(lm[[P.LEFT_HIP, P.RIGHT_HIP], 1]))
    torso_px = hip_y - sh_y
    # photo quality: resolution of the body and how sure the pose is of the joints used
    resolution = float(np.clip((stature_px - 250) / 550, 0.3, 1.0))
    used = [P.LEFT_SHOULDER, P.RIGHT_SHOULDER, P.LEFT_HIP, P.RIGHT_HIP, P.LEFT_KNEE, P.RIGHT_KNEE,
            P.LEFT_ANKLE, P.RIGHT_ANKLE, P.LEFT_ELBOW, P.RIGHT_ELBOW, P.LEFT_WRIST, P.RIGHT_WRIST]
    pose_sure = float(np.clip(np.mean(lm[used, 3]), 0.0, 1.0))
    base = resolution * (0.5 + 0.5 * pose_sure)

    m: dict[str, tuple[float, float]] = {}
    # shoulder width: the mask just below the shoulder line spans the deltoids; a shoulder seam
    # sits ~0.9 of that; falls back to 1.2x the joints' span when the row is unusable
    w_sh, c_sh = _torso_width(analysis, sh_y + 0.05 * torso_px)
    joints = analysis.shoulder_width
    if np.isfinite(w_sh) and 1.0 * joints <= w_sh <= 1.6 * joints:
        m["shoulder_width"] = (0.9 * w_sh * cm, 0.8)
    else:
        m["shoulder_width"] = (1.2 * joints * cm, 0.5)
    # girths from widths at the chest (armpit level), the natural waist (the narrowest row of
    # the lower torso) and the hips (the widest row around the hip joints)
    w_chest, c_chest = _widest(analysis, sh_y + 0.25 * torso_px, sh_y + 0.4 * torso_px, narrowest=False)
    w_waist, c_waist = _widest(analysis, sh_y + 0.55 * torso_px, sh_y + 0.85 * torso_px, narrowest=True)
    w_hip, c_hip = _widest(analysis, hip_y - 0.05 * torso_px, hip_y + 0.25 * torso_px, narrowest=False)
    hip_span = float(np.linalg.norm(lm[P.LEFT_HIP, :2] - lm[P.RIGHT_HIP, :2]))
    fallbacks = {"chest": 1.0 * joints, "waist": 0.85 * joints, "hip": 1.75 * hip_span}
    for name, width, conf in (("chest", w_chest, c_chest), ("waist", w_waist, c_waist), ("hip", w_hip, c_hip)):
        if not np.isfinite(width):
            width, conf = fallbacks[name], 0.3
        m[name] = (_ellipse_girth(width * cm, DEPTH_RATIO[name] * width * cm), conf)
    # lengths, corrected for foreshortening
    torso_chain = (P.LEFT_SHOULDER, P.LEFT_HIP)
    torso_len = 0.5 * (_chain_px(analysis, torso_chain) + _chain_px(analysis, (P.RIGHT_SHOULDER, P.RIGHT_HIP)))
    m["torso_length"] = (torso_len * cm * _foreshortening(analysis, torso_chain), 0.8)
    arms = []
    for chain in ((P.LEFT_SHOULDER, P.LEFT_ELBOW, P.LEFT_WRIST), (P.RIGHT_SHOULDER, P.RIGHT_ELBOW, P.RIGHT_WRIST)):
        f = _foreshortening(analysis, chain)
        sure = float(np.min(lm[list(chain), 3]))
        arms.append((_chain_px(analysis, chain) * cm * f, sure * (1.0 - 1.5 * (f - 1.0))))
    best_arm = max(arms, key=lambda a: a[1])
    m["arm_length"] = (best_arm[0], float(np.clip(best_arm[1], 0.2, 0.9)))
    crotch, c_crotch = _crotch_y(analysis)
    m["inseam"] = ((floor - crotch) * cm, c_crotch)

    measurements: dict[str, dict[str, float]] = {}
    for name, (value, conf) in m.items():
        lo, hi = PLAUSIBLE[name]
        if not (np.isfinite(value) and np.isfinite(conf)):
            # NaN is not JSON: it would break every later answer about this profile
            value, conf = (lo + hi) / 2, 0.0
        elif not lo <= value <= hi:
            conf *= 0.3  # reported, clamped, and flagged as doubtful by its confidence
            value = float(np.clip(value, lo, hi))
        confidence = round(float(np.clip(conf * base, 0.0, 1.0)), 2)
        measurements[name] = {"value_cm": round(float(value), 1), "confidence": confidence}
    girths = {k: measurements[k]["value_cm"] for k in ("chest", "waist", "hip")}
    sizes = pick_sizes(girths)
    overall = float(np.mean([v["confidence"] for v in measurements.values()]))
    return {
        "measurements": measurements,
        "size": sizes["top"]["size"],
        "sizes": sizes,
        "confidence": round(overall, 2),
        "height_cm": float(height_cm),
        "size_chart": size_chart()["standard"],
    }
