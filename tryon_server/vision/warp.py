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
SMOOTHING = 30.0  # thin-plate-spline regularisation (scipy's `smoothing`)


@dataclass
class WarpedGarment:
    """The garment laid on the person photo's canvas."""

    rgb: np.ndarray  # HxWx3 float32 0..255 (valid where alpha > 0)
    alpha: np.ndarray  # HxW float32 in [0, 1]
    src_points: np.ndarray  # (N, 2) garment key points used
    dst_points: np.ndarray  # (N, 2) where they landed on the body
    names: list[str]


@dataclass
class BodyPoints:
    """Image-sided body points from the pose: "l" is the image's left (the person's right when
    they face the camera). Warps and regions work in image sides because garments do."""

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


def body_points(an: PersonAnalysis) -> BodyPoints:
    """The pose's joints by image side; elbows seen with visibility under 0.2 are None."""
    lm = an.landmarks
    facing = lm[P.LEFT_SHOULDER, 0] >= lm[P.RIGHT_SHOULDER, 0]  # facing the camera: left is on the right

    def pair(left: int, right: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = lm[right, :2].astype(np.float64), lm[left, :2].astype(np.float64)
        return (a, b) if facing else (b, a)

    sh_l, sh_r = pair(P.LEFT_SHOULDER, P.RIGHT_SHOULDER)
    el_l, el_r = pair(P.LEFT_ELBOW, P.RIGHT_ELBOW)
    vis_r_side, vis_l_side = lm[P.LEFT_ELBOW, 3], lm[P.RIGHT_ELBOW, 3]
    vis_l, vis_r = (vis_l_side, vis_r_side) if facing else (vis_r_side, vis_l_side)
    hip_l, hip_r = pair(P.LEFT_HIP, P.RIGHT_HIP)
    knee_l, knee_r = pair(P.LEFT_KNEE, P.RIGHT_KNEE)
    ank_l, ank_r = pair(P.LEFT_ANKLE, P.RIGHT_ANKLE)
    return BodyPoints(sh_l, sh_r, el_l if vis_l > 0.2 else None, el_r if vis_r > 0.2 else None,
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


def _mask_extent(mask: np.ndarray, start: np.ndarray, direction: np.ndarray, limit: float) -> float:
    """How far from `start` along `direction` the person mask goes on (px, up to `limit`)."""
    h, w = mask.shape
    steps = np.arange(0.0, max(limit, 1.0), 1.0)
    pts = start[None, :] + steps[:, None] * direction[None, :]
    xs = np.clip(pts[:, 0].round().astype(int), 0, w - 1)
    ys = np.clip(pts[:, 1].round().astype(int), 0, h - 1)
    inside = mask[ys, xs] > 0.5
    outside_frame = (pts[:, 0] < 0) | (pts[:, 0] >= w) | (pts[:, 1] < 0) | (pts[:, 1] >= h)
    gone = np.nonzero(~inside & ~outside_frame)[0]
    return float(steps[gone[0]]) if len(gone) else float(limit)


def _upper_targets(cut: GarmentCutout, b: BodyPoints, category: str,
                   person_mask: np.ndarray) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Garment key points of a top or dress and their places on the body."""
    k = cut.keypoints
    sw = b.sw
    br = _unit(b.sh_r - b.sh_l)  # across the shoulders, image left -> right
    bd = _unit(b.hip_mid - b.sh_mid)  # down the torso
    up = -bd
    torso = float(np.linalg.norm(b.hip_mid - b.sh_mid))

    # the shoulder seam sits on the outer top of the shoulder, outside and above the joint:
    # how far is read from the person mask (bulky clothes, broad shoulders), within limits
    def probe(start: np.ndarray, direction: np.ndarray, lo: float, hi: float, keep: float) -> float:
        d = _mask_extent(person_mask, start, direction, hi * sw)
        return float(np.clip(keep * d, lo * sw, hi * sw))

    tip_l = b.sh_l - br * probe(b.sh_l, -br, 0.08, 0.25, 0.8)
    tip_r = b.sh_r + br * probe(b.sh_r, br, 0.08, 0.25, 0.8)
    tip_l = tip_l + up * probe(tip_l, up, 0.03, 0.25, 0.9)
    tip_r = tip_r + up * probe(tip_r, up, 0.03, 0.25, 0.9)
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
    # halfway between collar and seam, the garment's top edge rests on the shoulder's own outline
    # (a flat lay's shoulder line is straight, a shoulder is round)
    top_row = np.where(cut.alpha > 0.5, np.arange(cut.alpha.shape[0])[:, None], cut.alpha.shape[0]).min(0)
    for side, tip, neck_name in (("l", tip_l, "neck_l"), ("r", tip_r, "neck_r")):
        gx = 0.5 * (k[neck_name][0] + k[f"shoulder_{side}"][0])
        gy = float(top_row[int(np.clip(gx, 0, len(top_row) - 1))])
        if gy >= cut.alpha.shape[0]:
            continue
        neck_t = affine(k[neck_name])
        across = float(np.dot(0.5 * (neck_t + tip) - b.sh_mid, br))
        start = b.sh_mid + across * br + bd * 0.1 * sw  # on the joint line, a little lower
        d = _mask_extent(person_mask, start, up, 0.45 * sw)
        if not 0.03 * sw < d < 0.45 * sw:  # no shoulder edge there (hair, a raised arm): leave it
            continue
        names.append(f"shoulder_mid_{side}")
        src.append(np.array([gx, gy]))
        dst.append(start + up * (d - 0.02 * sw))
    for n in ("neck_l", "neck_r", "neck"):
        add(n, affine(k[n]))
    tip_span = float(np.linalg.norm(tip_r - tip_l))
    for n in ("armpit_l", "armpit_r"):
        # the armhole's depth follows the body: flat-lay armholes are often cut deep, and a
        # deep one would put the sleeve's underside at the elbow
        p = fit_side(n, loose=1.15)
        v = float(np.dot(p - b_mid, bd_frame))
        armpit_v = float(np.clip(v, 0.3 * tip_span, 0.45 * tip_span))
        add(n, p + (armpit_v - v) * bd)
    for n in ("hem_l", "hem_r"):
        # a dress's skirt may flare well past the hips; a top's hem stays near the body
        add(n, fit_side(n, loose=2.0 if category == "dress" else 1.3))
    if "waist_l" in k:
        for n in ("waist_l", "waist_r"):
            add(n, fit_side(n, loose=1.15))
    # interior anchors on the centre line keep the pattern straight down the middle
    for name, y in (("chest_c", (k["armpit_l"][1] + k["armpit_r"][1]) / 2), ("hem_c", k["hem_l"][1])):
        gl, gr_ = _garment_half_width(cut, y)
        p = np.array([(gl + gr_) / 2 if np.isfinite(gl) else g_mid[0], y])
        v = armpit_v if name == "chest_c" else float(np.dot(affine(p) - b_mid, bd_frame))
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
        # turn most of the way only: a sleeve turned fully onto a hanging arm folds over the
        # torso side; what sticks out past the arm is cut by the person mask anyway
        turn = float(np.clip(0.9 * turn, -np.deg2rad(60), np.deg2rad(60)))
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


def _lower_targets(cut: GarmentCutout, b: BodyPoints) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    k = cut.keypoints
    hr = _unit(b.hip_r - b.hip_l)
    legs_dir = _unit((b.knee_l + b.knee_r) / 2 - b.hip_mid)
    up = -legs_dir
    hj = b.hw
    # a mid-rise waistband: above the hip joints, about 1.55x their span wide
    waist_half = 0.5 * hj * 1.55
    w_l = b.hip_mid - hr * waist_half + up * 0.7 * hj
    w_r = b.hip_mid + hr * waist_half + up * 0.7 * hj
    gw_l, gw_r = k["waist_l"], k["waist_r"]
    s = float(np.linalg.norm(w_r - w_l)) / float(np.linalg.norm(gw_r - gw_l))
    g_mid = (gw_l + gw_r) / 2
    b_mid = (w_l + w_r) / 2
    names = ["waist_l", "waist_r"]
    src = [gw_l, gw_r]
    dst = [w_l, w_r]
    if "crotch" in k:
        # the crotch sits about half a hip-joint span below the joints (the rise is ~1.2 spans)
        crotch_t = b.hip_mid + legs_dir * 0.5 * hj
        names.append("crotch")
        src.append(k["crotch"])
        dst.append(crotch_t)
        # outer hip points at crotch height
        gl, gr_ = _garment_half_width(cut, k["crotch"][1])
        for name, gx, sign in (("hip_l", gl, -1.0), ("hip_r", gr_, 1.0)):
            names.append(name)
            src.append(np.array([gx, k["crotch"][1]]))
            dst.append(crotch_t + sign * hr * 0.5 * hj * 1.9)
        for side, hip, knee, ank, sign in (("l", b.hip_l, b.knee_l, b.ank_l, -1.0), ("r", b.hip_r, b.knee_r, b.ank_r, 1.0)):
            g_out, g_in = k[f"hem_{side}_out"], k[f"hem_{side}_in"]
            g_hem_c = (g_out + g_in) / 2
            # a flat lay's waist is ~1.3x the body's width seen from the front (the body is
            # deep as well as wide): lengths use the garment's true scale, not the squeezed one
            g_len = 1.3 * s * float(g_hem_c[1] - k["crotch"][1])
            leg_len = float(np.linalg.norm(knee - hip) + np.linalg.norm(ank - knee))
            # from the hip joint: the crotch sits ~0.5 hj below it
            reach = min(g_len + 0.5 * hj, leg_len * 1.02)
            if g_len + 0.5 * hj > 0.65 * leg_len:  # full-length trousers end at the ankle
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
    b = body_points(analysis)
    if category == "lower":
        names, src, dst = _lower_targets(cut, b)
    else:
        names, src, dst = _upper_targets(cut, b, category, analysis.person_mask)
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
    # a little smoothing: the points need not be hit to the pixel, and it keeps a pattern's
    # straight lines from waving between neighbouring points (measured by eye on the fixtures)
    spline = RBFInterpolator(dst, src, kernel="thin_plate_spline", smoothing=SMOOTHING)
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


def fill_underarm_gaps(warped: WarpedGarment, analysis: PersonAnalysis, region: np.ndarray) -> WarpedGarment:
    """Close the notch between a sleeve and the torso side.

    A flat-lay's sleeve leaves the body at an angle; turned down onto a hanging arm, the notch
    between its underside and the torso would show the old clothes as a spike. Such notches
    (concavities of the warped garment at the sides, below the armpits, on the body) are filled
    by inpainting from the garment around them, like the fabric folded under the arm. Done at a
    quarter size: the fill is smooth anyway.
    """
    h, w = warped.alpha.shape
    b = body_points(analysis)
    sw = max(b.sw, 1.0)
    f = 4
    size = (max(1, w // f), max(1, h // f))
    a = cv2.resize(warped.alpha, size, interpolation=cv2.INTER_AREA)
    solid = (a > 0.5).astype(np.uint8)
    k = max(3, int(0.35 * sw / f) | 1)
    closed = cv2.morphologyEx(solid, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    holes = (closed > 0) & (solid == 0)
    # only at the sides, below the shoulders: the neckline is a concavity to keep
    ys, xs = np.mgrid[0: size[1], 0: size[0]].astype(np.float32) * f
    across = _unit(b.sh_r - b.sh_l)
    down = _unit(b.hip_mid - b.sh_mid)
    rel_x = (xs - b.sh_mid[0]) * across[0] + (ys - b.sh_mid[1]) * across[1]
    rel_y = (xs - b.sh_mid[0]) * down[0] + (ys - b.sh_mid[1]) * down[1]
    body = cv2.resize((region & (analysis.person_mask > 0.5)).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    holes &= (np.abs(rel_x) > 0.3 * sw) & (rel_y > 0.2 * sw) & body
    # and only next to an armpit: a fitted waist further down is the garment's shape
    near_pit = np.zeros_like(holes)
    for name, pt in zip(warped.names, warped.dst_points):
        if name.startswith("armpit"):
            near_pit |= np.hypot(xs - pt[0], ys - pt[1]) < 0.8 * sw
    holes &= near_pit
    if not holes.any():
        return warped
    small_rgb = np.clip(cv2.resize(warped.rgb, size, interpolation=cv2.INTER_AREA), 0, 255).astype(np.uint8)
    # outside the garment the warped colour is the product photo's backdrop: never copy it in
    near = cv2.dilate(holes.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    unknown = holes | (near & (a < 0.95))
    filled = cv2.inpaint(small_rgb, unknown.astype(np.uint8), max(3, k // 2), cv2.INPAINT_TELEA)
    hole_full = cv2.resize(holes.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    fill_full = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    new_alpha = np.maximum(warped.alpha, np.clip(hole_full * 1.5, 0, 1))
    mix = np.clip(hole_full * 1.5, 0, 1)[:, :, None] * (warped.alpha[:, :, None] < 0.5)
    new_rgb = warped.rgb * (1 - mix) + fill_full * mix
    return WarpedGarment(new_rgb.astype(np.float32), new_alpha.astype(np.float32), warped.src_points,
                         warped.dst_points, warped.names)
