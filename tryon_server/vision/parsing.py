"""Person parsing without downloaded weights: what each pixel of the person photo is.

Labels come from the pose, the person mask, the face and hair masks (vision.person) and colour
models seeded by the pose: the skin's colour is learned from the face, the upper garment's from
the chest, the lower garment's from the thighs. Each person pixel takes the label whose colour
model explains it best among the labels its place allows (no trousers on the chest, no top on
the shins); prints and logos that fit no model take the garment that encloses them. Worked at a
quarter of the photo's size (about 256 px on the long side): the labels feed masks that are
feathered anyway, and it keeps this stage near 20 ms.

From the labels, `PersonParse.replace_area(category)` is what a new garment of that category
must replace (the old garment of that category), and `body` is where the body itself is under
loose clothes (from the joints): replaced pixels there become skin, outside it background.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .person import PersonAnalysis
from .warp import body_points

BACKGROUND, FACE, HAIR, SKIN, UPPER, LOWER, DRESS, OTHER = range(8)
LABEL_NAMES = ("background", "face", "hair", "skin", "upper", "lower", "dress", "other")

WORK_SIDE = 256  # px, long side of the working size


@dataclass
class PersonParse:
    """Per-pixel labels of a person photo, at the photo's size."""

    labels: np.ndarray  # HxW uint8, one of the constants above
    body: np.ndarray  # HxW bool: the body under the clothes (torso, arms, legs, neck)
    skin_rgb: np.ndarray  # (3,) float32: the person's skin colour (from the face)
    hip_y: float  # the hip line's height, px: where a dress is split into bodice and skirt

    def replace_area(self, category: str) -> np.ndarray:
        """Bool HxW: the clothes a new garment of `category` replaces."""
        names = {"upper": (UPPER,), "lower": (LOWER,), "dress": (UPPER, LOWER, DRESS)}[category]
        area = np.isin(self.labels, names)
        if category != "dress" and (self.labels == DRESS).any():
            # a top replaces a dress's bodice, trousers its skirt: split at the hip line
            rows = np.arange(self.labels.shape[0])[:, None]
            half = rows < self.hip_y if category == "upper" else rows >= self.hip_y
            area |= (self.labels == DRESS) & half
        return area


def parse_person(image_rgb: np.ndarray, analysis: PersonAnalysis) -> PersonParse:
    """Label every pixel of `image_rgb` (the photo `analysis` was made from)."""
    h, w = image_rgb.shape[:2]
    f = max(1.0, max(h, w) / WORK_SIDE)
    sw_, sh_ = max(1, round(w / f)), max(1, round(h / f))
    small = cv2.resize(image_rgb, (sw_, sh_), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)

    def shrink(mask: np.ndarray) -> np.ndarray:
        return cv2.resize(mask.astype(np.uint8), (sw_, sh_), interpolation=cv2.INTER_NEAREST) > 0

    person = shrink(analysis.person_mask > 0.5)
    face = shrink(analysis.face_mask)
    hair = shrink(analysis.hair_mask)
    b = body_points(analysis)
    sw = max(b.sw / f, 2.0)
    sh_mid, hip_mid = b.sh_mid / f, b.hip_mid / f
    torso = max(float(np.linalg.norm(hip_mid - sh_mid)), sw)
    down = (hip_mid - sh_mid) / torso
    across = np.array([down[1], -down[0]])
    ys, xs = np.mgrid[0:sh_, 0:sw_].astype(np.float32)
    depth = (xs - sh_mid[0]) * down[0] + (ys - sh_mid[1]) * down[1]  # px below the shoulder line
    side = (xs - sh_mid[0]) * across[0] + (ys - sh_mid[1]) * across[1]

    # 1. colour models
    skin_mean, skin_icov, skin_l = _skin_model(lab, face)
    chest = person & ~face & ~hair & (depth > 0.25 * torso) & (depth < 0.6 * torso) & (np.abs(side) < 0.3 * sw)
    top_pal = _palette(lab[chest])
    thighs = np.zeros((sh_, sw_), np.uint8)
    for hip, knee in ((b.hip_l, b.knee_l), (b.hip_r, b.knee_r)):
        # the top of the thigh: under shorts and short skirts too
        a, c = hip / f + 0.1 * (knee - hip) / f, hip / f + 0.35 * (knee - hip) / f
        cv2.line(thighs, (int(a[0]), int(a[1])), (int(c[0]), int(c[1])), (1,), max(1, int(0.25 * b.hw / f)))
    thigh = person & (thighs > 0) & ~face & ~hair
    bottom_pal = _palette(lab[thigh]) if thigh.sum() > 30 else None

    # 2. each person pixel: the model that explains it best, among those its place allows
    inf = np.float32(1e9)
    d_skin = _mahalanobis(lab, skin_mean, skin_icov, skin_l) if skin_mean is not None else np.full((sh_, sw_), inf)
    d_top = _palette_distance(lab, top_pal) if top_pal is not None else np.full((sh_, sw_), inf)
    d_bot = _palette_distance(lab, bottom_pal) if bottom_pal is not None else np.full((sh_, sw_), inf)
    # a top ends around the hips and starts at the base of the neck
    d_top = np.where((depth < 1.45 * torso) & (depth > -0.12 * torso), d_top, inf)
    # a pink blouse is as near the skin model as to its own colours: on the body cloth wins a
    # near-tie, so the old garment is replaced rather than kept as "skin"; on the arms beside
    # the torso (bare arms beside a beige dress) skin does; on the legs, a skirt's print and
    # bare legs are both common, and they are told apart by colour alone
    arms = (np.abs(side) >= 0.62 * sw) & (depth < 1.1 * torso)
    legs = depth >= 1.1 * torso
    d_skin = d_skin + np.where(arms, -SKIN_BIAS, np.where(legs, 0.0, SKIN_BIAS)).astype(np.float32)
    d_bot = np.where(depth > 0.6 * torso, d_bot, inf)  # trousers start around the waist
    # no garment below the ankles: shoes and feet are kept whatever their colour
    ankle_y = float(min(b.ank_l[1], b.ank_r[1])) / f
    feet = ys > ankle_y - 0.02 * torso
    d_top = np.where(feet, inf, d_top)
    d_bot = np.where(feet, inf, d_bot)
    costs = np.stack([d_skin, d_top, d_bot])
    best = costs.argmin(0)
    fits = costs.min(0) < 4.0
    labels = np.full((sh_, sw_), BACKGROUND, np.uint8)
    labels[person] = OTHER
    for i, lab_id in enumerate((SKIN, UPPER, LOWER)):
        labels[person & fits & (best == i)] = lab_id

    # 3. one cloth from the chest to the thighs is a dress (or a jumpsuit): the chest's and the
    # thighs' colours match, and the two models split it anywhere between them
    groups: tuple[tuple[int, np.ndarray], ...] = ((UPPER, chest), (LOWER, thigh))
    if top_pal is not None and bottom_pal is not None and _same_cloth(top_pal, bottom_pal):
        one = _joined_to(np.isin(labels, (UPPER, LOWER)), chest)
        if (one & thigh).any():
            labels[one] = DRESS
            groups = ((DRESS, chest | thigh), (UPPER, chest), (LOWER, thigh))

    # 4. a garment is one piece: keep the parts joined to its core, take in what it encloses
    # (a print, a logo, a shadowed fold that fits no model)
    close = max(3, int(0.12 * sw) | 1)
    for lab_id, core in groups:
        m = labels == lab_id
        m = _joined_to(m, core)
        closed = cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_CLOSE,
                                  cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close))) > 0
        filled = _fill_holes(closed)
        labels[(labels == lab_id) & ~m] = OTHER
        labels[filled & person & ~feet & np.isin(labels, (OTHER, lab_id))] = lab_id
    # the hair mask is a colour grown from the top of the head: below the neck it also takes
    # in a blouse or a shoulder of the same tone; there it stays hair only where neither the
    # top nor the skin explains the pixel better
    rows = np.nonzero(face.any(1))[0]
    chin = float(rows.max()) if len(rows) else float(sh_mid[1] - 0.3 * sw)
    hair_here = hair & person & ((ys <= chin) | ((d_top > 1.5) & (d_skin > 2.0)))
    labels[hair_here] = HAIR
    labels[face] = FACE

    body = _body_area(analysis, (sw_, sh_), f) & (person | _body_area(analysis, (sw_, sh_), f, loose=0.0))
    skin_rgb = _lab_to_rgb(skin_mean if skin_mean is not None else np.array([170.0, 140.0, 145.0], np.float32), skin_l)
    full = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
    # the person mask's own edge is sharper than a quarter-size label: outside it, background
    full[(analysis.person_mask < 0.5) & (full != FACE)] = BACKGROUND
    full[analysis.face_mask] = FACE  # the face's own outline, not a quarter-size one
    body_full = cv2.resize(body.astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR) > 0
    return PersonParse(labels=full, body=body_full, skin_rgb=skin_rgb, hip_y=float(b.hip_mid[1]))


# --- colour models ----------------------------------------------------------------------------


def _skin_model(lab: np.ndarray, face: np.ndarray) -> tuple[np.ndarray | None, np.ndarray, tuple[float, float]]:
    """Mean and inverse covariance of the face's chroma (a, b), and its lightness (mean, spread).

    The face's darkest and brightest pixels (eyes, brows, lips' shadow, highlights) are left out."""
    core = cv2.erode(face.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    px = lab[core]
    if len(px) < 12:
        # no face to learn from (a back view, a tiny face): a mid skin lightness, so the
        # fallback colour is a skin tone and not black
        return None, np.eye(2, dtype=np.float32), (170.0, 12.0)
    lo, hi = np.percentile(px[:, 0], [20, 90])
    px = px[(px[:, 0] >= lo) & (px[:, 0] <= hi)]
    ab = px[:, 1:]
    mean = px.mean(0)
    cov = np.cov(ab.T) + np.eye(2) * 4.0  # a floor: a small, flat face patch is not the whole skin
    return mean.astype(np.float32), np.linalg.inv(cov).astype(np.float32), (float(px[:, 0].mean()), float(px[:, 0].std() + 8.0))


def _mahalanobis(lab: np.ndarray, mean: np.ndarray, icov: np.ndarray, light: tuple[float, float]) -> np.ndarray:
    """Distance of every pixel from the skin model, in spreads. Skin in shadow is darker than the
    face, rarely brighter: lightness counts three times less downwards."""
    d = lab[:, :, 1:] - mean[1:]
    chroma = np.einsum("...i,ij,...j->...", d, icov, d)
    dl = (lab[:, :, 0] - light[0]) / light[1]
    dl = np.where(dl < 0, dl / 3.0, dl)
    return np.sqrt(chroma + dl**2).astype(np.float32)


def _palette(px: np.ndarray, k: int = 3) -> np.ndarray | None:
    """The main colours (Lab) of a garment sample: k-means centres holding 8 % of it or more."""
    if len(px) < 12:
        return None
    px = px[:: max(1, len(px) // 3000)].astype(np.float32)
    k = min(k, len(px))
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 15, 0.5)
    cv2.setRNGSeed(0)  # the same photo gives the same labels
    # OpenCV allocates the labels itself when given None (its stubs do not say so)
    _, lbl, centres = cv2.kmeans(px, k, None, crit, 2, cv2.KMEANS_PP_CENTERS)  # type: ignore[call-overload]
    counts = np.bincount(lbl.ravel(), minlength=k)
    return centres[counts >= 0.08 * counts.sum()]


# Added to the skin's cost (in spreads) on the torso, taken off it on the limbs: where skin and
# a garment explain a pixel equally well, on the torso it is the garment's, on an arm skin.
SKIN_BIAS = 0.7

# A garment colour explains a pixel within this many 8-bit Lab units per "spread" (the skin
# model's unit), so that the three costs compare.
PALETTE_SPREAD = 9.0


def _palette_distance(lab: np.ndarray, palette: np.ndarray) -> np.ndarray:
    d = np.full(lab.shape[:2], np.inf, np.float32)
    for c in palette:
        diff = lab - c
        # lightness varies with folds and light far more than the cloth's hue does
        dist = np.sqrt(0.35 * diff[:, :, 0] ** 2 + diff[:, :, 1] ** 2 + diff[:, :, 2] ** 2)
        d = np.minimum(d, dist)
    return d / PALETTE_SPREAD


def _same_cloth(a: np.ndarray, b: np.ndarray) -> bool:
    """Both samples' main colours match one to one (within 12 units)."""
    dist = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    return bool(dist.min(1).max() < 12.0 and dist.min(0).max() < 12.0)


def _lab_to_rgb(lab: np.ndarray, light: tuple[float, float]) -> np.ndarray:
    px = np.array([[[light[0], lab[1], lab[2]]]], np.float32).clip(0, 255).astype(np.uint8)
    return cv2.cvtColor(px, cv2.COLOR_LAB2RGB)[0, 0].astype(np.float32)


# --- shapes ----------------------------------------------------------------------------------


def _joined_to(mask: np.ndarray, core: np.ndarray) -> np.ndarray:
    """The connected parts of `mask` that touch `core`."""
    n, comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask.copy()
    ids = np.unique(comp[core & mask])
    ids = ids[ids > 0]
    return np.isin(comp, ids) if len(ids) else np.zeros_like(mask)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(out, contours, -1, (1,), -1)
    return out > 0


def _body_area(analysis: PersonAnalysis, size: tuple[int, int], f: float, loose: float = 0.1) -> np.ndarray:
    """Bool mask (at `size`) of the body itself from its joints: the torso as wide as the
    shoulders and hips, the limbs as capsules, the neck; `loose` widens it by that many shoulder
    widths. Old clothes outside it were cloth over background, not over skin."""
    w, h = size
    b = body_points(analysis)
    sw, hw = b.sw / f, b.hw / f
    pts: dict[str, np.ndarray] = {k: v / f for k, v in vars(b).items() if v is not None}
    out = np.zeros((h, w), np.uint8)
    across = (pts["sh_r"] - pts["sh_l"]) / max(sw, 1.0)
    hip_across = (pts["hip_r"] - pts["hip_l"]) / max(hw, 1.0)
    grow = loose * sw
    # the shoulders' tops and the slope up to the neck lie above the joints (MediaPipe's
    # shoulder points sit inside the joint): a collar or a jacket's shoulder there is over skin
    up = (pts["sh_l"] + pts["sh_r"] - pts["hip_l"] - pts["hip_r"]) / 2
    up = up / max(float(np.linalg.norm(up)), 1e-6)
    mid = (pts["sh_l"] + pts["sh_r"]) / 2
    torso = [mid + up * (0.3 * sw + grow) - across * 0.2 * sw, mid + up * (0.3 * sw + grow) + across * 0.2 * sw,
             pts["sh_r"] + across * (0.08 * sw + grow) + up * (0.12 * sw + grow),
             pts["sh_r"] + across * (0.08 * sw + grow),
             pts["hip_r"] + hip_across * (0.3 * hw + grow), pts["hip_l"] - hip_across * (0.3 * hw + grow),
             pts["sh_l"] - across * (0.08 * sw + grow),
             pts["sh_l"] - across * (0.08 * sw + grow) + up * (0.12 * sw + grow)]
    cv2.fillPoly(out, [np.array(torso).round().astype(np.int32)], (1,))
    lm = analysis.landmarks

    def limb(a: np.ndarray | None, c: np.ndarray | None, width: float, end_width: float | None = None) -> None:
        """A limb from joint `a` to joint `c`, `width` wide at `a` tapering to `end_width`."""
        if a is None or c is None:
            return
        wa, wc = width / 2 + grow, (width if end_width is None else end_width) / 2 + grow
        d = c - a
        n = np.array([-d[1], d[0]]) / max(float(np.linalg.norm(d)), 1e-6)
        quad = np.array([a + n * wa, c + n * wc, c - n * wc, a - n * wa]).round().astype(np.int32)
        cv2.fillConvexPoly(out, quad, (1,))
        cv2.circle(out, (int(c[0]), int(c[1])), max(1, int(wc)), (1,), -1)

    facing = lm[11, 0] >= lm[12, 0]
    wrists = (lm[16, :2] / f, lm[15, :2] / f) if facing else (lm[15, :2] / f, lm[16, :2] / f)
    limb(pts["sh_l"], pts.get("el_l"), 0.34 * sw, 0.28 * sw)
    limb(pts["sh_r"], pts.get("el_r"), 0.34 * sw, 0.28 * sw)
    limb(pts.get("el_l"), wrists[0], 0.28 * sw, 0.2 * sw)
    limb(pts.get("el_r"), wrists[1], 0.28 * sw, 0.2 * sw)
    # thighs are as wide as the hip joints are apart at the top and half that at the knee: the
    # gap between the legs is not body
    limb(pts["hip_l"], pts["knee_l"], 0.8 * hw, 0.5 * hw)
    limb(pts["hip_r"], pts["knee_r"], 0.8 * hw, 0.5 * hw)
    limb(pts["knee_l"], pts["ank_l"], 0.5 * hw, 0.3 * hw)
    limb(pts["knee_r"], pts["ank_r"], 0.5 * hw, 0.3 * hw)
    return out > 0
