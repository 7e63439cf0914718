"""Warp a cut-out garment onto the body: garment key points -> body key points, thin-plate spline.

Scale comes from the body, never from the image size: a top is scaled so that its shoulder
seams land on the person's shoulders (from the pose landmarks), a bottom so that its waistband
spans the person's waist; lengths then follow the garment's own proportions at that scale, and
widths are held between the body's width at that height and a loose-fit limit. Sleeves and legs
are turned to follow the arms and legs. The spline is solved on a coarse grid (scipy's
RBFInterpolator) and the dense map is interpolated, which costs a few milliseconds instead of
the seconds of a per-pixel solve.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.interpolate import RBFInterpolator

from .garment import GarmentCutout
from .person import P, PersonAnalysis

GRID_STEP = 8  # px between spline evaluations; the map is linear in between


@dataclass
class WarpedGarment:
    """The garment laid on the person photo's canvas."""

    rgb: np.ndarray  # HxWx3 float32 0..255 (valid where alpha > 0)
    alpha: np.ndarray  # HxW float32 in [0, 1]
    src_points: np.ndarray  # (N, 2) garment key points used
    dst_points: np.ndarray  # (N, 2) where they landed on the body
    names: list[str]


@dataclass
class _Body:
    """Image-sided body points: "l" is the image's left (the person's right when facing us)."""

    sh_l: np.ndarray
    sh_r: np.ndarray
    el_l: np.ndarray | None
    el_r: np.ndarray | None
    hip_l: np.ndarray
    hip_r: np.ndarray
    knee_l: np.ndarray
    knee_r: np.ndarray
    ank_l: np.ndarray
    ank_r: np.ndarray

    @property
    def sw(self) -> float:
        return float(np.linalg.norm(self.sh_r - self.sh_l))

    @property
    def hw(self) -> float:
        return float(np.linalg.norm(self.hip_r - self.hip_l))

    @property
    def sh_mid(self) -> np.ndarray:
        return (self.sh_l + self.sh_r) / 2

    @property
    def hip_mid(self) -> np.ndarray:
        return (self.hip_l + self.hip_r) / 2


def _body(an: PersonAnalysis) -> _Body:
    lm = an.landmarks
    facing = lm[P.LEFT_SHOULDER, 0] >= lm[P.RIGHT_SHOULDER, 0]  # facing the camera: left is on the right
    def pair(left: int, right: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = lm[right, :2].astype(np.float64), lm[left, :2].astype(np.float64)
        return (a, b) if facing else (b, a)
    sh_l, sh_r = pair(P.LEFT_SHOULDER, P.RIGHT_SHOULDER)
    el_l, el_r = pair(P.LEFT_ELBOW, P.RIGHT_ELBOW)
    vis_l, vis_r = (lm[P.RIGHT_ELBOW, 3], lm[P.LEFT_ELBOW, 3]) if facing else (lm[P.LEFT_ELBOW, 3], lm[P.RIGHT_ELBOW, 3])
    hip_l, hip_r = pair(P.LEFT_HIP, P.RIGHT_HIP)
    knee_l, knee_r = pair(P.LEFT_KNEE, P.RIGHT_KNEE)
    ank_l, ank_r = pair(P.LEFT_ANKLE, P.RIGHT_ANKLE)
    return _Body(sh_l, sh_r, el_l if vis_l > 0.2 else None, el_r if vis_r > 0.2 else None,
                 hip_l, hip_r, knee_l, knee_r, ank_l, ank_r)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else np.array([0.0, 1.0])


def _rot(v: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def _angle(v: np.ndarray) -> float:
    return float(np.arctan2(v[1], v[0]))


def _garment_half_width(cut: GarmentCutout, y: float) -> tuple[float, float]:
    row = np.nonzero(cut.alpha[int(np.clip(y, 0, cut.alpha.shape[0] - 1))] > 0.5)[0]
    if len(row) == 0:
        return float("nan"), float("nan")
    return float(row[0]), float(row[-1])


def _upper_targets(cut: GarmentCutout, b: _Body, category: str) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    k = cut.keypoints
    sw = b.sw
    br = _unit(b.sh_r - b.sh_l)  # across the shoulders, image left -> right
    bd = _unit(b.hip_mid - b.sh_mid)  # down the torso
    up = -bd
    torso = float(np.linalg.norm(b.hip_mid - b.sh_mid))
    # the shoulder seam sits on the outer top of the shoulder, a little outside the joint
    tip_l = b.sh_l - br * 0.12 * sw + up * 0.05 * sw
    tip_r = b.sh_r + br * 0.12 * sw + up * 0.05 * sw
    g_l, g_r = k["shoulder_l"], k["shoulder_r"]
    gsw = float(np.linalg.norm(g_r - g_l))
    s = float(np.linalg.norm(tip_r - tip_l)) / gsw
    g_mid, b_mid = (g_l + g_r) / 2, (tip_l + tip_r) / 2
    gr = _unit(g_r - g_l)
    gd = np.array([-gr[1], gr[0]])
    bd_frame = _unit(bd - np.dot(bd, br) * br)  # square the frame: lean is carried by the points

    def affine(p: np.ndarray) -> np.ndarray:
        q = p - g_mid
        return b_mid + s * np.dot(q, gr) * br + s * np.dot(q, gd) * bd_frame

    def body_half(v: float) -> float:
        """Half the body's width at depth v (px below the shoulder line): chest ~ the shoulder
        joints' span, hips ~ 1.6x the hip joints' span (the joints sit inside the flesh)."""
        t = float(np.clip(v / max(torso, 1.0), 0.0, 1.3))
        return 0.5 * ((1 - min(t, 1.0)) * sw * 1.0 + min(t, 1.0) * b.hw * 1.65) * (1 + 0.1 * max(t - 1.0, 0.0))

    def fit_side(name: str, loose: float = 1.2) -> np.ndarray:
        """Keep the garment's own width at this height, but no tighter than the body and no
        looser than `loose` times it: a flat-lay is wider than a body seen from the front."""
        p = affine(k[name])
        v = float(np.dot(p - b_mid, bd_frame))
        gl, gr_ = _garment_half_width(cut, k[name][1])
        g_half = 0.5 * (gr_ - gl) * s if np.isfinite(gl) else body_half(v)
        half = float(np.clip(g_half, body_half(v), body_half(v) * loose))
        centre = b_mid + v * bd
        sign = -1.0 if name.endswith("_l") else 1.0
        return centre + sign * half * br

    names: list[str] = []
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []

    def add(name: str, target: np.ndarray, source: np.ndarray | None = None) -> None:
        names.append(name)
        src.append(np.asarray(k[name] if source is None else source, float))
        dst.append(np.asarray(target, float))

    add("shoulder_l", tip_l)
    add("shoulder_r", tip_r)
    for n in ("neck_l", "neck_r", "neck"):
        add(n, affine(k[n]))
    for n in ("armpit_l", "armpit_r", "hem_l", "hem_r"):
        add(n, fit_side(n, loose=1.15 if n.startswith("armpit") else 1.3))
    if "waist_l" in k:
        for n in ("waist_l", "waist_r"):
            add(n, fit_side(n, loose=1.15))
    # interior anchors on the centre line keep the pattern straight down the middle
    for name, y in (("chest_c", (k["armpit_l"][1] + k["armpit_r"][1]) / 2), ("hem_c", k["hem_l"][1])):
        gl, gr_ = _garment_half_width(cut, y)
        p = np.array([(gl + gr_) / 2 if np.isfinite(gl) else g_mid[0], y])
        v = float(np.dot(affine(p) - b_mid, bd_frame))
        names.append(name)
        src.append(p)
        dst.append(b_mid + v * bd)
    # sleeves follow the upper arms
    for side, tip, elbow in (("l", tip_l, b.el_l), ("r", tip_r, b.el_r)):
        out_n, in_n = f"cuff_{side}_out", f"cuff_{side}_in"
        if out_n not in k:
            continue
        g_tip = k[f"shoulder_{side}"]
        g_axis = (k[out_n] + k[in_n]) / 2 - g_tip
        # the sleeve's direction in the body frame if it were not turned
        g_dir_body = np.dot(g_axis, gr) * br + np.dot(g_axis, gd) * bd_frame
        sign = -1.0 if side == "l" else 1.0
        if elbow is not None:
            arm = elbow - (b.sh_l if side == "l" else b.sh_r)
        else:  # arm unseen: assume it hangs a little away from the body
            arm = _rot(bd, -sign * np.deg2rad(12))
        turn = _angle(arm) - _angle(g_dir_body)
        turn = (turn + np.pi) % (2 * np.pi) - np.pi
        for n in (out_n, in_n):
            q = k[n] - g_tip
            rel = s * (np.dot(q, gr) * br + np.dot(q, gd) * bd_frame)
            add(n, tip + _rot(rel, turn))
    return names, src, dst


def _leg_point(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, dist: float) -> tuple[np.ndarray, np.ndarray]:
    """The point `dist` px down the leg polyline hip -> knee -> ankle, and the leg's direction
    there."""
    thigh = float(np.linalg.norm(knee - hip))
    if dist <= thigh:
        d = _unit(knee - hip)
        return hip + d * dist, d
    d = _unit(ankle - knee)
    return knee + d * (dist - thigh), d


def _lower_targets(cut: GarmentCutout, b: _Body) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    k = cut.keypoints
    hr = _unit(b.hip_r - b.hip_l)
    legs_dir = _unit((b.knee_l + b.knee_r) / 2 - b.hip_mid)
    up = -legs_dir
    hj = b.hw
    # a mid-rise waistband: above the hip joints, about 1.55x their span wide
    waist_half = 0.5 * hj * 1.55
    w_l = b.hip_mid - hr * waist_half + up * 0.45 * hj
    w_r = b.hip_mid + hr * waist_half + up * 0.45 * hj
    gw_l, gw_r = k["waist_l"], k["waist_r"]
    s = float(np.linalg.norm(w_r - w_l)) / float(np.linalg.norm(gw_r - gw_l))
    g_mid = (gw_l + gw_r) / 2
    b_mid = (w_l + w_r) / 2
    names = ["waist_l", "waist_r"]
    src = [gw_l, gw_r]
    dst = [w_l, w_r]
    if "crotch" in k:
        crotch_t = b.hip_mid + legs_dir * 0.35 * hj
        names.append("crotch")
        src.append(k["crotch"])
        dst.append(crotch_t)
        # outer hip points at crotch height
        gl, gr_ = _garment_half_width(cut, k["crotch"][1])
        for name, gx, sign in (("hip_l", gl, -1.0), ("hip_r", gr_, 1.0)):
            names.append(name)
            src.append(np.array([gx, k["crotch"][1]]))
            dst.append(crotch_t + sign * hr * 0.5 * hj * 1.65)
        for side, hip, knee, ank, sign in (("l", b.hip_l, b.knee_l, b.ank_l, -1.0), ("r", b.hip_r, b.knee_r, b.ank_r, 1.0)):
            g_out, g_in = k[f"hem_{side}_out"], k[f"hem_{side}_in"]
            g_hem_c = (g_out + g_in) / 2
            g_len = s * float(g_hem_c[1] - k["crotch"][1])
            leg_len = float(np.linalg.norm(knee - hip) + np.linalg.norm(ank - knee))
            # from the hip joint: the crotch sits ~0.35 hj below it
            reach = min(g_len + 0.35 * hj, leg_len * 1.02)
            if g_len + 0.35 * hj > 0.8 * leg_len:  # full-length trousers end at the ankle
                reach = leg_len * 1.02
            hem_c, d = _leg_point(hip, knee, ank, reach)
            perp = np.array([-d[1], d[0]])
            if np.dot(perp, hr) * sign < 0:
                perp = -perp
            half = float(np.clip(0.5 * s * abs(g_out[0] - g_in[0]), 0.3 * hj, 0.8 * hj))
            names += [f"hem_{side}_out", f"hem_{side}_in"]
            src += [g_out, g_in]
            dst += [hem_c + perp * half, hem_c - perp * half]
            # the knee: same fraction down the garment's leg as the body's knee down the leg
            frac = float(np.linalg.norm(knee - hip)) / max(reach, 1.0)
            if frac < 0.95:
                gy = k["crotch"][1] + frac * (g_hem_c[1] - k["crotch"][1]) * 0.95
                row = np.nonzero(cut.alpha[int(gy)] > 0.5)[0]
                row = row[row < k["crotch"][0]] if side == "l" else row[row >= k["crotch"][0]]
                if len(row):
                    knee_c, d2 = _leg_point(hip, knee, ank, frac * reach)
                    p2 = np.array([-d2[1], d2[0]])
                    if np.dot(p2, hr) * sign < 0:
                        p2 = -p2
                    half_k = float(np.clip(0.5 * s * (row[-1] - row[0]), 0.35 * hj, 0.9 * hj))
                    o, i = (row[0], row[-1]) if side == "l" else (row[-1], row[0])
                    names += [f"knee_{side}_out", f"knee_{side}_in"]
                    src += [np.array([o, gy], float), np.array([i, gy], float)]
                    dst += [knee_c + p2 * half_k, knee_c - p2 * half_k]
    else:  # a skirt: hem at the garment's own length, at least as wide as the legs there
        for name, sign in (("hem_l", -1.0), ("hem_r", 1.0)):
            g = k[name]
            v = s * float(g[1] - g_mid[1])
            centre = b_mid + legs_dir * v
            knees_half = 0.5 * float(np.linalg.norm(b.knee_r - b.knee_l)) + 0.35 * hj
            half = max(s * abs(g[0] - g_mid[0]), knees_half if v > 0.6 * np.linalg.norm(b.knee_l - b.hip_l) else hj)
            names.append(name)
            src.append(g)
            dst.append(centre + sign * hr * half)
        names.append("hem_c")
        src.append(np.array([g_mid[0], k["hem_l"][1]]))
        dst.append(b_mid + legs_dir * s * float(k["hem_l"][1] - g_mid[1]))
    return names, [np.asarray(p, float) for p in src], [np.asarray(p, float) for p in dst]


def garment_targets(cut: GarmentCutout, analysis: PersonAnalysis, category: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Pairs of (garment key point, body point) for `category`: names, src (N,2), dst (N,2)."""
    b = _body(analysis)
    if category == "lower":
        names, src, dst = _lower_targets(cut, b)
    else:
        names, src, dst = _upper_targets(cut, b, category)
    return names, np.array(src, float), np.array(dst, float)


def warp_garment(cut: GarmentCutout, analysis: PersonAnalysis, category: str) -> WarpedGarment:
    """Lay the garment on the person's canvas with a thin-plate spline through its key points."""
    w, h = analysis.size
    names, src, dst = garment_targets(cut, analysis, category)
    gh, gw = cut.alpha.shape
    # where the garment can land: the spline image of the garment's bounding box, plus margin
    spline_fwd = RBFInterpolator(src, dst, kernel="thin_plate_spline", smoothing=1e-3)
    x0, y0, x1, y1 = cut.bbox
    border = np.array([[x, y0] for x in np.linspace(x0, x1, 9)] + [[x, y1] for x in np.linspace(x0, x1, 9)]
                      + [[x0, y] for y in np.linspace(y0, y1, 9)] + [[x1, y] for y in np.linspace(y0, y1, 9)])
    landed = spline_fwd(border)
    margin = 0.05 * max(w, h)
    bx0 = int(np.clip(landed[:, 0].min() - margin, 0, w))
    bx1 = int(np.clip(landed[:, 0].max() + margin, 0, w))
    by0 = int(np.clip(landed[:, 1].min() - margin, 0, h))
    by1 = int(np.clip(landed[:, 1].max() + margin, 0, h))
    rgb = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    if bx1 - bx0 < 2 or by1 - by0 < 2:
        return WarpedGarment(rgb, alpha, src, dst, names)
    # backward map: for each canvas pixel, where in the garment photo it comes from
    spline = RBFInterpolator(dst, src, kernel="thin_plate_spline", smoothing=1e-3)
    gxs = np.arange(bx0, bx1 + GRID_STEP, GRID_STEP, dtype=np.float64)
    gys = np.arange(by0, by1 + GRID_STEP, GRID_STEP, dtype=np.float64)
    gx, gy = np.meshgrid(gxs, gys)
    coarse = spline(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(len(gys), len(gxs), 2).astype(np.float32)
    # cv2.resize samples at pixel centres: dense pixel x reads coarse (x + 0.5) / STEP - 0.5,
    # so coarse node i (canvas bx0 + i * STEP) sits at dense x = i * STEP + STEP / 2 - 0.5
    dense = cv2.resize(coarse, (len(gxs) * GRID_STEP, len(gys) * GRID_STEP), interpolation=cv2.INTER_LINEAR)
    o = GRID_STEP // 2
    dense = dense[o: o + by1 - by0, o: o + bx1 - bx0]
    map_x = np.ascontiguousarray(dense[:, :, 0])
    map_y = np.ascontiguousarray(dense[:, :, 1])
    rgba = np.dstack([cut.rgb.astype(np.float32), cut.alpha.astype(np.float32)])
    out = cv2.remap(rgba, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    rgb[by0:by1, bx0:bx1] = out[:, :, :3]
    alpha[by0:by1, bx0:bx1] = np.clip(out[:, :, 3], 0.0, 1.0)
    return WarpedGarment(rgb, alpha, src, dst, names)
