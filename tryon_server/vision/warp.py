"""Warp a cut-out garment onto the body: garment key points -> body key points, thin-plate spline.

Scale comes from the body, never from the image size: a top is scaled so that its shoulder
seams land on the person's shoulders (from the pose landmarks), a bottom so that its waistband
spans the person's waist; lengths then follow the garment's own proportions at that scale, and
widths are held between the body's width at that height and a loose-fit limit. Sleeves and legs
are turned to follow the arms and legs. The spline is solved on a coarse grid (scipy's
RBFInterpolator) and the dense map is interpolated, which costs a few milliseconds instead of
the seconds of a per-pixel solve.

Tops and dresses are warped by parts (`vision.garment.top_parts`): the body onto the torso with
the spline, its top edge then stretched column by column up to round shoulders
(`_lift_top_edge`), and each sleeve along its own arm's bones at its own length
(`_warp_sleeve`), laid over the body's shoulder. Anchors across the upper chest keep the
garment's rows straight.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.interpolate import RBFInterpolator

from .garment import BODY, SLEEVE_L, SLEEVE_R, GarmentCutout, Sleeve
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
    # HxW float32: the sleeves' own coverage (a forearm in front of the body is behind a sleeve)
    sleeve_alpha: np.ndarray | None = None


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
    # (at most an eighth of the shoulders: sideways the outline runs on into a hanging arm,
    # and the seams' span sets the garment's scale, so its length too)
    tip_l = b.sh_l - br * probe(b.sh_l, -br, 0.08, 0.13, 1.0)
    tip_r = b.sh_r + br * probe(b.sh_r, br, 0.08, 0.13, 1.0)
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

    # the length follows the garment's own proportions at that scale, within what a garment of
    # this kind can be on a body: a top ends by mid-thigh, a dress by mid-calf. A flat lay's
    # seams (a dropped shoulder, a boxy cut) can make the scale, and so the length, too large.
    g_len = float(np.dot(k["hem_l"] - g_mid, gd))
    if category == "dress":
        legs = float(np.linalg.norm((b.ank_l + b.ank_r) / 2 - b.hip_mid))
        most = torso + 0.8 * legs
    else:
        most = 1.3 * torso
    sv = min(s, most / max(g_len, 1.0))

    def affine(p: np.ndarray) -> np.ndarray:
        q = p - g_mid
        return b_mid + s * np.dot(q, gr) * br + sv * np.dot(q, gd) * bd_frame

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
    """Lay the garment on the person's canvas, part by part.

    A top's or dress's body goes onto the torso with a thin-plate spline through its key points;
    each sleeve then follows its arm's bones (`_warp_sleeve`) and is laid over the body's
    shoulder. Trousers and skirts go on with one spline through waist, crotch, knee and hem
    points, each leg along its own hip, knee and ankle."""
    if category in ("upper", "dress") and cut.parts is not None:
        body_alpha = cut.alpha * (cut.parts.labels == BODY)
        torso = GarmentCutout(rgb=cut.rgb, alpha=body_alpha, background=cut.background, category=category,
                              keypoints=cut.keypoints, method=cut.method, parts=None)
        warped = _spline_warp(torso, analysis, category)
        for side, sleeve in cut.parts.sleeves.items():
            _warp_sleeve(warped, cut, side, sleeve, analysis)
        return warped
    return _spline_warp(cut, analysis, category)


def _spline_warp(cut: GarmentCutout, analysis: PersonAnalysis, category: str) -> WarpedGarment:
    """Lay a garment (or a top's body) on the canvas with a thin-plate spline."""
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
    map_x, map_y = _backward_map(dst, src, (bx0, by0, bx1, by1))
    rgba = np.dstack([cut.rgb.astype(np.float32), cut.alpha.astype(np.float32)])
    out = cv2.remap(rgba, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                    borderValue=(0, 0, 0, 0))
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


def _smooth_row(values: np.ndarray, sigma: float) -> np.ndarray:
    """A 1-D Gaussian blur of a per-column profile (edges replicated)."""
    row = values.reshape(1, -1).astype(np.float32)
    return cv2.GaussianBlur(row, (0, 0), max(1.0, sigma), borderType=cv2.BORDER_REPLICATE).ravel().astype(np.float64)


# Seen from the front, a sleeve is narrower than laid flat: a flat sleeve is half its
# circumference wide, a round one seen from the front 2/pi of that; sleeves are not round.
SLEEVE_FRONT_WIDTH = 0.9


def _warp_sleeve(warped: WarpedGarment, cut: GarmentCutout, side: str, sleeve: Sleeve,
                 analysis: PersonAnalysis) -> None:
    """Lay one sleeve along its arm, over the body already on `warped` (in place).

    Flat, a sleeve is a band between two edges: the outer one from the shoulder tip to the
    cuff's outer corner, the inner one from the armpit to its inner corner. On the body each
    edge runs down its side of the arm from where the body's warp put the tip and the armpit,
    as long as it is in the flat lay at the body's scale, bending at the elbow: a short sleeve
    ends above the elbow, a long one at the wrist, and the sleeve's root follows the armhole
    down the shoulder. A thin-plate spline through points along both edges and the middle maps
    the canvas back to the flat sleeve."""
    names = dict(zip(warped.names, warped.dst_points))
    srcs = dict(zip(warped.names, warped.src_points))
    tip_n, pit_n = f"shoulder_{side}", f"armpit_{side}"
    if tip_n not in names or pit_n not in names:
        return
    # the body's scale: the garment's shoulder span against where the spline put it
    g_span = float(np.linalg.norm(srcs["shoulder_r"] - srcs["shoulder_l"]))
    s = float(np.linalg.norm(names["shoulder_r"] - names["shoulder_l"])) / max(g_span, 1.0)
    arm = _arm_polyline(analysis, side)
    tip_b, pit_b = names[tip_n], names[pit_n]
    # across the arm, each edge goes from where its seam end lies to the cuff's half width
    half = 0.5 * SLEEVE_FRONT_WIDTH * sleeve.cuff_width * s
    a_tip, a_pit = arm.along(tip_b), arm.along(pit_b)
    c_tip, c_pit = arm.across(tip_b), arm.across(pit_b)
    far = sleeve.root + sleeve.length * sleeve.axis
    cuff_out, cuff_in = far + 0.5 * sleeve.cuff_width * sleeve.outer, far - 0.5 * sleeve.cuff_width * sleeve.outer
    len_out = float(np.linalg.norm(cuff_out - sleeve.tip)) * s
    len_in = float(np.linalg.norm(cuff_in - sleeve.pit)) * s
    src: list[np.ndarray] = [sleeve.tip, sleeve.pit]
    dst: list[np.ndarray] = [tip_b, pit_b]
    for frac in (0.25, 0.5, 0.75, 1.0):
        src.append(sleeve.tip + frac * (cuff_out - sleeve.tip))
        dst.append(arm.point(a_tip + frac * len_out, c_tip + frac * (half - c_tip)))
        src.append(sleeve.pit + frac * (cuff_in - sleeve.pit))
        dst.append(arm.point(a_pit + frac * len_in, c_pit + frac * (-half - c_pit)))
        src.append(sleeve.root + frac * sleeve.length * sleeve.axis)
        dst.append(arm.point(0.5 * (a_tip + a_pit) + frac * 0.5 * (len_out + len_in), 0.0))
    src_a, dst_a = np.array(src, float), np.array(dst, float)
    h, w = warped.alpha.shape
    margin = 0.3 * max(half, abs(c_tip), abs(c_pit)) + 4
    x0, y0 = np.floor(dst_a.min(0) - margin).astype(int)
    x1, y1 = np.ceil(dst_a.max(0) + margin).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    gx, gy = _backward_map(dst_a, src_a, (x0, y0, x1, y1))
    # the sleeve is its labelled piece plus the garment's cloth within its band: where a long
    # sleeve lies against the body in the flat lay, its inner edge was labelled body, and left
    # out it would show as a slit along the arm
    label = SLEEVE_L if side == "l" else SLEEVE_R
    own = (cut.parts.labels == label) if cut.parts is not None else np.ones(cut.alpha.shape, bool)
    g_ys, g_xs = np.mgrid[0:cut.alpha.shape[0], 0:cut.alpha.shape[1]].astype(np.float32)
    ax, ou = sleeve.axis, sleeve.outer
    g_along = (g_xs - sleeve.root[0]) * ax[0] + (g_ys - sleeve.root[1]) * ax[1]
    g_across = (g_xs - sleeve.root[0]) * ou[0] + (g_ys - sleeve.root[1]) * ou[1]
    own |= (g_along > 0.15 * sleeve.width) & (g_along <= sleeve.length) & (np.abs(g_across) <= 0.5 * sleeve.width)
    rgba = np.dstack([cut.rgb.astype(np.float32), (cut.alpha * own).astype(np.float32)])
    out = cv2.remap(rgba, gx, gy, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                    borderValue=(0, 0, 0, 0))
    a_s = np.clip(out[:, :, 3], 0.0, 1.0)
    # "over" compositing, the sleeve in front of the body's shoulder
    sub = (slice(y0, y1), slice(x0, x1))
    a_t = warped.alpha[sub]
    a_out = a_s + a_t * (1.0 - a_s)
    premult = out[:, :, :3] * a_s[:, :, None] + warped.rgb[sub] * (a_t * (1.0 - a_s))[:, :, None]
    warped.rgb[sub] = premult / np.maximum(a_out, 1e-6)[:, :, None]
    warped.alpha[sub] = a_out
    if warped.sleeve_alpha is None:
        warped.sleeve_alpha = np.zeros_like(warped.alpha)
    warped.sleeve_alpha[sub] = np.maximum(warped.sleeve_alpha[sub], a_s)


def _backward_map(dst: np.ndarray, src: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """For each canvas pixel of `box` (x0, y0, x1, y1), where it comes from in the garment photo:
    a thin-plate spline from `dst` to `src`, solved on a coarse grid and interpolated."""
    x0, y0, x1, y1 = box
    spline = RBFInterpolator(dst, src, kernel="thin_plate_spline", smoothing=SMOOTHING)
    gxs = np.arange(x0, x1 + GRID_STEP, GRID_STEP, dtype=np.float64)
    gys = np.arange(y0, y1 + GRID_STEP, GRID_STEP, dtype=np.float64)
    gx, gy = np.meshgrid(gxs, gys)
    coarse = spline(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(len(gys), len(gxs), 2).astype(np.float32)
    # cv2.resize samples at pixel centres: dense pixel x reads coarse (x + 0.5) / STEP - 0.5,
    # so coarse node i (canvas x0 + i * STEP) sits at dense x = i * STEP + STEP / 2 - 0.5
    dense = cv2.resize(coarse, (len(gxs) * GRID_STEP, len(gys) * GRID_STEP), interpolation=cv2.INTER_LINEAR)
    o = GRID_STEP // 2
    dense = dense[o: o + y1 - y0, o: o + x1 - x0]
    return np.ascontiguousarray(dense[:, :, 0]), np.ascontiguousarray(dense[:, :, 1])


@dataclass
class ArmPolyline:
    """An arm's bones from the shoulder joint through the elbow to the wrist (and on), with
    positions measured as length along them and offset across them ("outer" positive: away from
    the body's centre line)."""

    joints: np.ndarray  # (3, 2): shoulder, elbow, wrist
    outward: np.ndarray  # unit vector across the body towards this arm's side

    def _segments(self) -> list[tuple[np.ndarray, np.ndarray, float]]:
        segs = []
        for a, c in ((self.joints[0], self.joints[1]), (self.joints[1], self.joints[2])):
            length = float(np.linalg.norm(c - a))
            if length >= 1.0:
                segs.append((a, (c - a) / length, length))
        return segs

    def _normal(self, d: np.ndarray) -> np.ndarray:
        """The normal of bone direction `d` on the arm's outer side. The side is chosen once,
        on the upper arm: a forearm folded up across the body keeps the same handedness, so the
        sleeve's edges do not cross at the elbow."""
        a, d0, _ = self._segments()[0]
        n0 = np.array([-d0[1], d0[0]])
        hand = 1.0 if np.dot(n0, self.outward) >= 0 else -1.0
        return hand * np.array([-d[1], d[0]])

    def along(self, p: np.ndarray) -> float:
        """Length along the upper arm (from the shoulder joint) of `p`'s projection."""
        a, d, _ = self._segments()[0]
        return float(np.dot(p - a, d))

    def across(self, p: np.ndarray) -> float:
        """How far `p` lies off the upper arm's line, outwards positive."""
        a, d, _ = self._segments()[0]
        return float(np.dot(p - a, self._normal(d)))

    def point(self, along: float, across: float) -> np.ndarray:
        """The point `along` px down the bones and `across` px off them; past the elbow it
        follows the forearm, past the wrist it runs on straight."""
        segs = self._segments()
        start = 0.0
        for i, (a, d, length) in enumerate(segs):
            if along <= start + length or i == len(segs) - 1:
                return a + d * (along - start) + self._normal(d) * across
            start += length
        raise AssertionError("unreachable: an arm has at least one bone")


def _arm_polyline(analysis: PersonAnalysis, side: str) -> ArmPolyline:
    """The arm on the photo's `side`: unseen joints are assumed hanging a little away from the
    body, the forearm continuing the upper arm."""
    b = body_points(analysis)
    joint = b.sh_l if side == "l" else b.sh_r
    elbow = b.el_l if side == "l" else b.el_r
    wrist = _wrist(analysis, side)
    sign = -1.0 if side == "l" else 1.0
    across = _unit(b.sh_r - b.sh_l)
    down = _unit(b.hip_mid - b.sh_mid)
    reach = max(b.sw, 8.0)  # a few px at least, so the bones never vanish
    if elbow is None:
        elbow = joint + _rot(down, -sign * np.deg2rad(12)) * 0.8 * reach
    if float(np.linalg.norm(elbow - joint)) < 1.0:
        elbow = joint + down * 0.8 * reach
    if wrist is None:
        wrist = elbow + (elbow - joint) * 0.9
    return ArmPolyline(np.array([joint, elbow, wrist], float), across * sign)


def _wrist(analysis: PersonAnalysis, side: str) -> np.ndarray | None:
    """The wrist on the photo's `side`, or None when the pose barely sees it."""
    lm = analysis.landmarks
    facing = lm[P.LEFT_SHOULDER, 0] >= lm[P.RIGHT_SHOULDER, 0]
    idx = (P.RIGHT_WRIST if side == "l" else P.LEFT_WRIST) if facing else (P.LEFT_WRIST if side == "l" else P.RIGHT_WRIST)
    return lm[idx, :2].astype(np.float64) if lm[idx, 3] > 0.2 else None
