"""Warp a cut-out garment onto the body: garment key points -> body key points, thin-plate spline.

Scale comes from the body, never from the image size: a top is scaled so that its shoulder
seams land on the person's shoulders (from the pose landmarks), a bottom so that its waistband
spans the person's waist; lengths then follow the garment's own proportions at that scale, and
widths are held between the body's width at that height and a loose-fit limit. Sleeves and legs
are turned to follow the arms and legs. The spline is solved on a coarse grid (scipy's
RBFInterpolator) and the dense map is interpolated, which costs a few milliseconds instead of
the seconds of a per-pixel solve.

Tops and dresses then meet the person's outline where a flat lay cannot: seams and cuffs reach
a bulky shoulder or sleeve, the top edge is stretched column by column up to round shoulders
(`_lift_top_edge`), and the notch under a turned-down sleeve is filled with the torso's own
rows (`fill_underarm_gaps`). Anchors across the upper chest keep the garment's rows straight.
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


def mask_extent(mask: np.ndarray, start: np.ndarray, direction: np.ndarray, limit: float) -> float:
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
    g_h, g_w = cut.alpha.shape
    br = _unit(b.sh_r - b.sh_l)  # across the shoulders, image left -> right
    bd = _unit(b.hip_mid - b.sh_mid)  # down the torso
    up = -bd
    torso = float(np.linalg.norm(b.hip_mid - b.sh_mid))

    # the shoulder seam sits on the outer top of the shoulder, outside and above the joint:
    # how far is read from the person mask (bulky clothes, broad shoulders), within limits
    def probe(start: np.ndarray, direction: np.ndarray, lo: float, hi: float, keep: float) -> float:
        d = mask_extent(person_mask, start, direction, hi * sw)
        return float(np.clip(keep * d, lo * sw, hi * sw))

    # sideways the seam goes all the way to the outline: a padded or bulky shoulder left
    # outside it shows as a strip of the old clothes beside the sleeve
    tip_l = b.sh_l - br * probe(b.sh_l, -br, 0.08, 0.3, 1.0)
    tip_r = b.sh_r + br * probe(b.sh_r, br, 0.08, 0.3, 1.0)
    # raised only part of the way to the outline: a spline pulled up at the shoulders bends
    # the pattern's rows below them; `_lift_top_edge` takes the edge the rest of the way
    tip_l = tip_l + up * probe(tip_l, up, 0.03, 0.15, 0.5)
    tip_r = tip_r + up * probe(tip_r, up, 0.03, 0.15, 0.5)
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
    # the upper chest between the shoulder line and the armpits: a grid of anchors keeps each
    # of the garment's rows a straight row on the body (the spline alone bowed a stripe there
    # between the neckline's and the armpits' points, which pull at different depths)
    pit_y = (k["armpit_l"][1] + k["armpit_r"][1]) / 2
    depth_g = float(np.dot(np.array([g_mid[0], pit_y]) - g_mid, gd))
    if depth_g > 1.0:
        v_scale = armpit_v / depth_g
        # the torso's own width: the row at armpit height runs on into the sleeves
        half_g = 0.5 * abs(k["armpit_r"][0] - k["armpit_l"][0])
        centre_g = 0.5 * (k["armpit_r"][0] + k["armpit_l"][0])
        for i, frac in enumerate((0.35, 0.7)):
            for j, off in enumerate((-0.6, 0.6)):
                p = np.array([centre_g + off * half_g, g_mid[1] + frac * depth_g * gd[1]])
                if cut.alpha[int(np.clip(p[1], 0, g_h - 1)), int(np.clip(p[0], 0, g_w - 1))] < 0.5:
                    continue  # in the neckline: not fabric
                q = p - g_mid
                names.append(f"chest_{i}{j}")
                src.append(p)
                dst.append(b_mid + s * np.dot(q, gr) * br + v_scale * np.dot(q, gd) * bd)
        # the neckline's lowest point lies in the same band: the same depth scale, or the rows
        # beside it would sit higher than the rows under it
        if "neck" in names:
            i = names.index("neck")
            q = src[i] - g_mid
            if np.dot(q, gd) > 0:
                dst[i] = b_mid + s * np.dot(q, gr) * br + v_scale * np.dot(q, gd) * bd
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
        cuff = {}
        for n in (out_n, in_n):
            q = k[n] - g_tip
            rel = s * (np.dot(q, gr) * br + np.dot(q, gd) * bd_frame)
            cuff[n] = tip + _rot(rel, turn)
        cuff[out_n] = _cuff_to_arm_outline(person_mask, cuff[out_n], cuff[in_n], sw)
        for n in (out_n, in_n):
            add(n, cuff[n])
    return names, src, dst


def _cuff_to_arm_outline(person_mask: np.ndarray, out: np.ndarray, inner: np.ndarray, sw: float,
                         overshoot: float = 0.03, most: float = 1.6) -> np.ndarray:
    """Move a sleeve's outer cuff corner out to the arm's outline when the arm is wider.

    The sleeve is scaled by the shoulders, but a bulky old sleeve (a jacket, a space suit) is
    wider than the arm inside it: a sleeve of the garment's own width would leave a strip of the
    old sleeve showing beside it. The corner goes just past the outline (the person mask trims
    it) and the sleeve widens to at most `most` times its own width.
    """
    across = out - inner
    width = float(np.linalg.norm(across))
    if width < 1.0:
        return out
    outward = across / width
    reach = mask_extent(person_mask, out, outward, (most - 1.0) * width)
    if reach <= 0.0 or reach >= (most - 1.0) * width:  # already outside, or no outline near
        return out
    return out + outward * (reach + overshoot * sw)


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
    warped = WarpedGarment(rgb, alpha, src, dst, names)
    if category in ("upper", "dress"):
        warped = _lift_top_edge(warped, analysis)
    return warped


def _lift_top_edge(warped: WarpedGarment, analysis: PersonAnalysis, depth: float = 0.3,
                  reach: float = 0.22, overshoot: float = 0.015) -> WarpedGarment:
    """Stretch the top of a top or dress up to the shoulders' outline, column by column.

    A flat lay's shoulder line is straight, a shoulder is round, and old clothes are often
    fuller there (padded jackets, a space suit): a garment placed by the joints alone leaves a
    band of the old clothes above its shoulders. Each column between the neckline and the seams
    (and a little past them, onto the upper arm) is stretched over the top `depth` shoulder
    widths so its edge reaches the person's outline plus `overshoot` (the person mask trims it
    exactly). Rows below that band do not move, so stripes across the chest stay straight. An
    outline more than `reach` above the garment is no shoulder (the neck, hair, a raised arm):
    that column is left alone.
    """
    names = dict(zip(warped.names, warped.dst_points))
    if not {"neck_l", "neck_r", "shoulder_l", "shoulder_r"} <= names.keys():
        return warped
    h, w = warped.alpha.shape
    sw = max(analysis.shoulder_width, 1.0)
    x0 = int(np.clip(names["shoulder_l"][0] - 0.15 * sw, 0, w - 1))
    x1 = int(np.clip(names["shoulder_r"][0] + 0.15 * sw, x0 + 1, w))
    cols = warped.alpha[:, x0:x1] > 0.5
    has = cols.any(0)
    if not has.any():
        return warped
    top = np.where(has, cols.argmax(0), h).astype(np.float64)
    y0 = int(max(0, np.min(top[has]) - reach * sw - 2))
    y1 = int(min(h, np.max(top[has]) + depth * sw + 2))
    body = analysis.person_mask[y0:y1, x0:x1] > 0.5
    outline = np.where(body.any(0), body.argmax(0) + y0, h).astype(np.float64)
    lift = top - outline + overshoot * sw
    xs = np.arange(x0, x1, dtype=np.float64)
    neck_l, neck_r = sorted((names["neck_l"][0], names["neck_r"][0]))
    # beside the collar the outline climbs the neck (or a collar ring, a hood): not a shoulder
    outer = (xs < neck_l - 0.2 * sw) | (xs > neck_r + 0.2 * sw)
    shoulder = has & (lift > -0.05 * sw) & (lift < reach * sw) & outer
    if not shoulder.any():
        return warped
    # across the neckline (an opening: its edge is not the shoulder's) and across columns with
    # no shoulder edge, the lift is interpolated from its neighbours: a lift that changed from
    # column to column would bend the stripes below it
    lift = np.interp(xs, xs[shoulder], np.maximum(lift[shoulder], 0.0))
    lift[~has] = 0.0
    # the columns beyond this span do not move: fade the lift out towards its ends
    fade = max(1.0, 0.08 * sw)
    lift *= np.clip(np.minimum(xs - x0, x1 - 1 - xs) / fade, 0.0, 1.0)
    # likewise the stretched band starts at the shoulder line carried across the neckline, so
    # a row below the neckline moves as far as the same row beside it
    top = np.where(outer & has, top, np.interp(xs, xs[shoulder], top[shoulder]))
    # one shoulder curve, not a comb: neighbouring columns move together
    lift = _smooth_row(lift, 0.06 * sw)
    top = _smooth_row(top, 0.06 * sw)
    if lift.max() < 1.0:
        return warped
    d = depth * sw
    ys = np.arange(y0, y1, dtype=np.float64)[:, None]
    # rows [top - lift, top + d] read from [top, top + d]. Above that the shift fades out over
    # another `lift` px: where the garment rises above the shoulder line (the collar's corners
    # beside the neck) it is squeezed, not carried up the neck
    t, L = top[None, :], np.maximum(lift[None, :], 1e-3)
    shift = L * np.clip((t + d - ys) / (d + L), 0.0, 1.0) * np.clip((ys - (t - 2 * L)) / L, 0.0, 1.0)
    map_y = ys + shift
    map_x = np.broadcast_to(xs[None, :] - x0, map_y.shape)
    map_y = map_y - y0  # the remap reads the crop
    rgba = np.dstack([warped.rgb[y0:y1, x0:x1], warped.alpha[y0:y1, x0:x1]])
    moved = cv2.remap(rgba, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    # in place: the caller owns the canvas (a full-size copy costs more than the stretch)
    warped.rgb[y0:y1, x0:x1] = moved[:, :, :3]
    warped.alpha[y0:y1, x0:x1] = np.clip(moved[:, :, 3], 0.0, 1.0)
    return warped


def fill_underarm_gaps(warped: WarpedGarment, analysis: PersonAnalysis, region: np.ndarray) -> WarpedGarment:
    """Close the notch between a sleeve and the torso side.

    A flat-lay's sleeve leaves the body at an angle; turned down onto a hanging arm, the notch
    between its underside and the torso would show the old clothes as a spike. Such notches
    (concavities of the warped garment at the sides, below the armpits, on the body) are found
    at a quarter size and filled at full size, row by row, with the torso's fabric beside them
    (see `_fill_rows_from_torso`), like the fabric folded under the arm.
    """
    h, w = warped.alpha.shape
    b = body_points(analysis)
    sw = max(b.sw, 1.0)
    f = 4
    size = (max(1, w // f), max(1, h // f))
    a = cv2.resize(warped.alpha, size, interpolation=cv2.INTER_AREA)
    # partly covered cells count as open: the notch's thin apex is in them
    solid = (a > 0.9).astype(np.uint8)
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
    # upsampled smoothly: a nearest-neighbour hole has 4-px stairs along the sleeve
    hole_full = cv2.resize(holes.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
    # the sleeve's underside and the torso's side meet at the notch's edges: their last pixels
    # (seam, anti-aliasing) would outline the filled notch, so a thin ring is refilled too
    ring = max(2, int(0.015 * sw))
    fill_zone = cv2.dilate(hole_full.astype(np.uint8), np.ones((2 * ring + 1,) * 2, np.uint8)) > 0
    centre_x = float(b.sh_mid[0] + (b.hip_mid[0] - b.sh_mid[0]) * 0.5)
    new_rgb, new_alpha = warped.rgb.copy(), warped.alpha.copy()
    for side in (-1, 1):
        zone = fill_zone & ((np.arange(w)[None, :] < centre_x) if side < 0 else (np.arange(w)[None, :] >= centre_x))
        _fill_rows_from_torso(new_rgb, new_alpha, zone, hole_full, side, inset=ring)
    return WarpedGarment(new_rgb, new_alpha, warped.src_points, warped.dst_points, warped.names)


def _smooth_row(values: np.ndarray, sigma: float) -> np.ndarray:
    """A 1-D Gaussian blur of a per-column profile (edges replicated)."""
    row = values.reshape(1, -1).astype(np.float32)
    return cv2.GaussianBlur(row, (0, 0), max(1.0, sigma), borderType=cv2.BORDER_REPLICATE).ravel().astype(np.float64)


def _fill_rows_from_torso(rgb: np.ndarray, alpha: np.ndarray, zone: np.ndarray, hole: np.ndarray,
                          side: int, inset: int) -> None:
    """Fill `zone` (in place) row by row with the garment's colour from the torso side.

    Under the arm the fabric continues the torso's own rows, so a horizontal stripe runs on
    straight into the filled notch instead of the smear of an isotropic inpaint. `side` -1: the
    notch is on the image's left and the torso lies to its right (and vice versa). The colour
    is read `inset` px past the first solid pixel, beyond the torso's edge pixels.
    """
    ys, xs = np.nonzero(zone)
    if len(ys) == 0:
        return
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    # look for solid garment up to a notch's width further towards the torso
    span = x1 - x0
    bx0, bx1 = (x0, min(alpha.shape[1], x1 + span + inset)) if side < 0 else (max(0, x0 - span - inset), x1)
    solid = (alpha[y0:y1, bx0:bx1] > 0.9) & ~zone[y0:y1, bx0:bx1]
    cols = np.arange(bx1 - bx0)[None, :].repeat(y1 - y0, 0)
    if side < 0:  # nearest solid column at or to the right of each pixel
        idx = np.where(solid, cols, bx1 - bx0)
        src = np.minimum.accumulate(idx[:, ::-1], axis=1)[:, ::-1] + inset
        ok = src < bx1 - bx0 - inset
    else:  # nearest solid column at or to the left
        idx = np.where(solid, cols, -1)
        src = np.maximum.accumulate(idx, axis=1) - inset
        ok = src >= 0
    src = np.clip(src, 0, bx1 - bx0 - 1)
    sub_zone = zone[y0:y1, bx0:bx1] & ok
    rows = np.arange(y0, y1)[:, None].repeat(bx1 - bx0, 1)
    fill = rgb[rows, src + bx0]
    target = rgb[y0:y1, bx0:bx1]
    a = alpha[y0:y1, bx0:bx1]
    # the hole becomes garment; on the ring the edge pixels become solid garment too (their
    # soft alpha would draw the old outline as a dotted line), the rest of the ring, off the
    # garment, stays off it
    in_hole = hole[y0:y1, bx0:bx1]
    solid_now = sub_zone & (in_hole | (a > 0.02))
    # over the sleeve the fill fades into the sleeve's own fabric across the ring, so the patch
    # has no straight seam; in the hole itself it is all fill
    weight = cv2.GaussianBlur(sub_zone.astype(np.float32), (0, 0), max(1.0, inset / 2))
    weight = np.where(in_hole, 1.0, np.clip(2.0 * weight - 0.5, 0.0, 1.0))[:, :, None]
    target[:] = np.where(sub_zone[:, :, None], fill * weight + target * (1.0 - weight), target)
    a[solid_now] = 1.0
