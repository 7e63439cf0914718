"""Body measurements and a clothing size from one full-body photo and the person's height.

    estimate_body(analysis, height_cm, sex=None, weight_kg=None)
        -> {"measurements", "size", "sizes", "confidence", "notes", ...}

1. The scale: the height the person gave over their height in pixels (head top to soles; with
   the head cut off by the frame, shoulders to soles over the survey's shoulder-height ratio).
2. The photo's breadths, read from the person mask at the levels where the survey measures them
   (bideltoid breadth across the shoulders, chest, waist at the navel, widest hips), with arms
   that touch the body cut off and each breadth given an uncertainty: mask edges, clothing,
   arm overlap, a turned body.
3. The girths: a population model fitted on the ANSUR II survey (tools/fit_body_model.py,
   data/body_model.json) predicts chest, waist and hip girths and the shoulder breadth from the
   height, the breadths and, when given, sex and weight; a breadth no human of that height has
   (a coat, an arm) is trusted less, and said so. Each value comes with a range: one standard
   deviation of the model's error plus the photo's.
4. The inseam: the photo's crotch height, as one more noisy observation for the model (a
   trousers' crotch hangs lower than the body's). Torso and arm length from landmark distances,
   corrected for limbs pointing at the camera with MediaPipe's metric 3D landmarks.
5. Sizes for tops and bottoms from data/size_chart.json, or a sentence when the body is outside
   the chart.

See docs/measurements.md for what this can and cannot do.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from .exceptions import InputRejected
from .photo_needs import needs_sentence
from .vision.person import P, PersonAnalysis

# the words of what photo a size estimate needs are photo_needs' (the one definition)
NOT_FULL_BODY = f"Your whole body is not in the photo: step back. {needs_sentence('size')}"
TOO_SMALL = ("You are too small in the photo: step closer (or zoom in) so that you fill most of the "
             "picture's height, head to feet.")
SITTING = ("Please stand up straight for the photo, arms a little away from your body: sitting or "
           "bending changes your measurements.")
SEVERAL = "Several people are in the photo: take the photo with only you in it."
NOT_FACING = "Face the camera for the photo, standing straight with your arms a little away from your body."

SEXES = ("female", "male")
# Plausible adult ranges (cm) of the lengths, which the survey model does not predict: a value
# outside is clamped and its confidence cut.
LENGTHS = {"torso_length": (35.0, 75.0), "arm_length": (40.0, 85.0)}
GIRTHS = ("chest", "waist", "hip")
TARGETS = (*GIRTHS, "shoulder_width", "inseam")
# what the notes call each photo reading, and its words for too big and too small
PARTS = {"bideltoid_breadth": ("shoulders", "wider", "narrower"), "chest_breadth": ("chest", "wider", "narrower"),
         "waist_breadth": ("waist", "wider", "narrower"), "hip_breadth": ("hips", "wider", "narrower"),
         "inseam": ("legs", "longer", "shorter")}

# MediaPipe's shoulder landmark is the joint centre, under the acromion; its hip landmark sits a
# little below the top of the femur's greater trochanter (the survey's trochanterion). Offsets as
# fractions of stature, from the bone geometry (a few cm); the survey's levels are then placed
# between the two.
SHOULDER_BELOW_ACROMION = 0.015
HIP_BELOW_TROCHANTERION = 0.02
# Shoulder landmark height / stature, for photos whose head is cut off by the frame: the survey's
# acromial height ratio (0.820, sd 0.009) less the landmark's offset; its spread widens every range.
SHOULDER_HEIGHT_RATIO = 0.820 - SHOULDER_BELOW_ACROMION
SHOULDER_RATIO_SD = 0.015
# What clothes add to a breadth seen from the front (cm, mean and sd): the survey measured in
# underwear, the photo sees a T-shirt or trousers. A coat or a flared skirt adds far more and is
# caught by the plausibility screen instead.
CLOTHING_CM = {"bideltoid_breadth": (1.0, 1.5), "chest_breadth": (1.5, 1.5), "waist_breadth": (2.0, 2.0),
               "hip_breadth": (2.0, 2.0)}
SCREEN_Z = 2.0
# Together, the readings may still describe a body rarer than 1 in 20 of the survey at that height
# (the chi-squared 95th percentile by number of observations): their noise is then widened until
# they do not, so the answer stays a human one and its range says how little the photo is trusted.
# A single reading further than SCREEN_Z standard deviations from what the rest predicts (a coat,
# a bag, an arm held against the body, a mask error) is widened the same way.
CHI2_95 = {1: 3.84, 2: 5.99, 3: 7.81, 4: 9.49, 5: 11.07, 6: 12.59, 7: 14.07, 8: 15.51}
TURNED_REFUSE_DEG = 40.0


# --- the fitted survey model -------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """A predicted dimension: the median and the range of one standard deviation (cm)."""

    value: float
    low: float
    high: float
    sd_log: float


class BodyModel:
    """The ANSUR II model of data/body_model.json: per sex, a normal distribution of the log
    dimensions (cm; kg for weight). Predictions condition it on what was observed, each
    observation with its own noise; with sex unknown the sexes are a mixture, equally likely a
    priori and weighted by how well each explains the observations."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.variables: list[str] = spec["variables"]
        self.index = {name: i for i, name in enumerate(self.variables)}
        self.sexes = {sex: (np.array(v["mean"]), np.array(v["cov"])) for sex, v in spec["sexes"].items()}
        self.levels: dict[str, dict[str, dict[str, float]]] = spec["levels"]

    def predict(self, observed: dict[str, tuple[float, float]], targets: tuple[str, ...] = TARGETS,
                sex: str | None = None) -> tuple[dict[str, Prediction], dict[str, float]]:
        """({target: Prediction}, {sex: posterior weight}) given {variable: (value, noise sd)}."""
        names = [n for n in self.variables if n in observed]
        obs = [self.index[n] for n in names]
        tgt = [self.index[n] for n in targets]
        y = np.log([observed[n][0] for n in names])
        noise = np.diag([(observed[n][1] / observed[n][0]) ** 2 for n in names])
        sexes = [sex] if sex else sorted(self.sexes)
        logl, mus, variances = [], [], []
        for s in sexes:
            mean, cov = self.sexes[s]
            s_oo = cov[np.ix_(obs, obs)] + noise
            s_to = cov[np.ix_(tgt, obs)]
            gain = np.linalg.solve(s_oo, s_to.T).T
            d = y - mean[obs]
            mus.append(mean[tgt] + gain @ d)
            variances.append(np.diag(cov[np.ix_(tgt, tgt)] - gain @ s_to.T))
            logl.append(-0.5 * float(d @ np.linalg.solve(s_oo, d)) - 0.5 * float(np.linalg.slogdet(s_oo)[1]))
        w = np.exp(np.array(logl) - max(logl))
        w /= w.sum()
        mu = sum(wi * m for wi, m in zip(w, mus))
        var = sum(wi * (v + m**2) for wi, m, v in zip(w, mus, variances)) - mu**2  # the mixture's
        out = {}
        for i, name in enumerate(targets):
            sd = float(math.sqrt(max(var[i], 0.0)))
            out[name] = Prediction(float(np.exp(mu[i])), float(np.exp(mu[i] - sd)), float(np.exp(mu[i] + sd)), sd)
        return out, {s: float(wi) for s, wi in zip(sexes, w)}

    def distance(self, observed: dict[str, tuple[float, float]], sex: str | None = None) -> float:
        """Squared Mahalanobis distance of the observations (with their noise) from the survey,
        for the sex that explains them best: chi-squared with len(observed) degrees of freedom."""
        names = [n for n in self.variables if n in observed]
        obs = [self.index[n] for n in names]
        y = np.log([observed[n][0] for n in names])
        noise = np.diag([(observed[n][1] / observed[n][0]) ** 2 for n in names])
        out = []
        for s in [sex] if sex else sorted(self.sexes):
            mean, cov = self.sexes[s]
            d = y - mean[obs]
            out.append(float(d @ np.linalg.solve(cov[np.ix_(obs, obs)] + noise, d)))
        return min(out)

    def level(self, name: str, weights: dict[str, float]) -> float:
        """Where the survey measures `name` (chest, waist, hip), as a fraction of the way from the
        acromion down to the trochanterion, for the (possibly mixed) sex."""
        return sum(wi * self.levels[s][name]["mean"] for s, wi in weights.items())


@lru_cache(maxsize=1)
def body_model() -> BodyModel:
    """The model fitted by tools/fit_body_model.py (tryon_server/data/body_model.json)."""
    text = resources.files("tryon_server").joinpath("data/body_model.json").read_text(encoding="utf-8")
    return BodyModel(json.loads(text))


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


def pick_sizes(girths: dict[str, float],
               ranges: dict[str, tuple[float, float]] | None = None) -> dict[str, dict[str, Any]]:
    """Top and bottom sizes from chest, waist and hip girths (cm), with their ranges if known.

    A top is chosen by chest girth; a bottom by waist and hip girth, taking the larger of the two
    sizes (a garment that closes at the waist but not the hips does not fit). `decided_by` names
    the measurement that chose the size. A body outside the chart gets no size (`size` None,
    `in_range` False) and a sentence saying so, not the chart's end size. `also` is the
    neighbouring size the measurement's range reaches into, when it does."""
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
            if best is None or rank > best[0] or (rank == best[0] and not in_range):
                best = (rank, name, in_range)
        if best is None:
            continue
        rank, name, in_range = best
        entry: dict[str, Any] = {"size": order[rank] if in_range else None, "decided_by": name, "in_range": in_range}
        column = columns[name]
        if not in_range:
            below = girths[name] < column[order[0]][0]
            edge = order[0] if below else order[-1]
            limit = column[edge][0] if below else column[edge][1]
            entry["message"] = (f"Your {name} ({girths[name]:.0f} cm) is {'below' if below else 'above'} this chart's "
                                f"{'smallest' if below else 'largest'} size ({edge}, {'from' if below else 'up to'} "
                                f"{limit:.0f} cm): use the shop's own size chart.")
        elif ranges and name in ranges:
            neighbours = {size_for(column, v)[0] for v in ranges[name]} - {order[rank]}
            if neighbours:
                entry["also"] = sorted(neighbours, key=order.index)[0]
        out[garment] = entry
    return out


# --- photo checks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """Where the body stands in the photo: its top, the floor, and the scale."""

    top: float  # head top row (estimated when the head is cut off)
    floor: float  # soles row
    head_cut: bool  # the head is cut off by the top of the frame
    scale_sd: float  # relative sd of the cm-per-pixel scale

    @property
    def stature_px(self) -> float:
        return self.floor - self.top


def check_photo(analysis: PersonAnalysis) -> Frame:
    """Raise `InputRejected` with what to fix unless this is one person, standing, whole from
    the shoulders to the feet, big enough, facing the camera; return where the body stands.
    Codes: several_people, not_full_body, person_too_small, sitting, not_facing."""
    w, h = analysis.size
    if analysis.people_count > 1:
        raise InputRejected(SEVERAL, code="several_people")
    needed = (P.LEFT_SHOULDER, P.RIGHT_SHOULDER, P.LEFT_HIP, P.RIGHT_HIP, P.LEFT_KNEE, P.RIGHT_KNEE,
              P.LEFT_ANKLE, P.RIGHT_ANKLE)
    if not all(analysis.visible(i) for i in needed):
        raise InputRejected(NOT_FULL_BODY, code="not_full_body")
    floor = _floor(analysis)
    if floor >= h - 1 and _mask_touches_bottom(analysis):
        raise InputRejected(NOT_FULL_BODY, code="not_full_body")
    lm = analysis.landmarks
    sh_y = float(np.mean(lm[[P.LEFT_SHOULDER, P.RIGHT_SHOULDER], 1]))
    top = _head_top(analysis) if analysis.visible(P.NOSE) else 0.0
    if top > 1:
        frame = Frame(top, floor, False, 0.01)
    elif sh_y > 0.03 * h:  # the head is cut off but the shoulders are well inside: place it by the survey
        frame = Frame(floor - (floor - sh_y) / SHOULDER_HEIGHT_RATIO, floor, True,
                      math.hypot(0.01, SHOULDER_RATIO_SD / SHOULDER_HEIGHT_RATIO))
    else:
        raise InputRejected(NOT_FULL_BODY, code="not_full_body")
    if frame.stature_px < 0.45 * h or frame.stature_px < 250:
        raise InputRejected(TOO_SMALL, code="person_too_small")
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
    if analysis.shoulder_width < 0.45 * torso or _turn_deg(analysis) > TURNED_REFUSE_DEG:
        raise InputRejected(NOT_FACING, code="not_facing")  # side-on: widths would be depths
    return frame


def _head_top(analysis: PersonAnalysis) -> float:
    """Topmost person-mask row above the face, in a band the face's width around the nose
    (0 when the mask reaches the top of the frame there: the head is cut off)."""
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
    """The soles: per foot the lowest of heel and toes (MediaPipe's foot points), averaged over
    the two feet, so a foot set forward (lower in the picture) does not stretch the body; the
    mask's lowest row under the ankles when it reaches lower (thick soles, a dress)."""
    lm = analysis.landmarks
    w, h = analysis.size
    feet = []
    for ankle, heel, toe in ((P.LEFT_ANKLE, P.LEFT_HEEL, P.LEFT_FOOT_INDEX),
                             (P.RIGHT_ANKLE, P.RIGHT_HEEL, P.RIGHT_FOOT_INDEX)):
        seen = [lm[i, 1] for i in (heel, toe) if lm[i, 3] >= 0.3]
        feet.append(max(seen) if seen else lm[ankle, 1] + 0.16 * analysis.shoulder_width)
    floor = float(np.mean(feet))
    ankle_y = float(np.max(lm[[P.LEFT_ANKLE, P.RIGHT_ANKLE], 1]))
    xs = lm[[P.LEFT_ANKLE, P.RIGHT_ANKLE], 0]
    x0 = int(max(0, xs.min() - 0.3 * analysis.shoulder_width))
    x1 = int(min(w, xs.max() + 0.3 * analysis.shoulder_width))
    rows = np.nonzero((analysis.person_mask[int(max(ankle_y, 0)):, x0:x1] > 0.5).any(1))[0]
    if len(rows):
        mask_floor = ankle_y + rows[-1]
        if floor < mask_floor < floor + 0.15 * (floor - ankle_y + 1) + 0.1 * analysis.shoulder_width:
            floor = 0.5 * (floor + mask_floor)  # between the feet points and the lower sole's edge
    return float(min(floor, h - 1))


def _mask_touches_bottom(analysis: PersonAnalysis) -> bool:
    return bool((analysis.person_mask[-2:] > 0.5).any())


def _turn_deg(analysis: PersonAnalysis) -> float:
    """How far the body is turned from the camera (degrees), from the metric 3D landmarks: the
    depth difference between the two shoulders and between the two hips."""
    world = analysis.world_landmarks
    if world is None:
        return 0.0
    angles = []
    for a, b in ((P.LEFT_SHOULDER, P.RIGHT_SHOULDER), (P.LEFT_HIP, P.RIGHT_HIP)):
        d = world[a, :3] - world[b, :3]
        angles.append(math.degrees(math.atan2(abs(float(d[2])), abs(float(d[0])) + 1e-6)))
    return float(np.mean(angles))


# --- breadths from the photo -------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """A breadth or length read from the photo (cm), its standard deviation, and what lowered it."""

    value: float
    sd: float
    note: str | None = None


_ARMS = ((P.LEFT_SHOULDER, P.LEFT_ELBOW, P.LEFT_WRIST, P.LEFT_INDEX),
         (P.RIGHT_SHOULDER, P.RIGHT_ELBOW, P.RIGHT_WRIST, P.RIGHT_INDEX))


def _arm_x_at(lm: np.ndarray, chain: tuple[int, ...], y: float) -> float | None:
    """Where an arm (shoulder, elbow, wrist, hand) crosses row y, if it does."""
    pts = lm[list(chain), :2]
    for a, b in zip(pts, pts[1:]):
        lo, hi = sorted((a[1], b[1]))
        if lo <= y <= hi and hi > lo:
            t = (y - a[1]) / (b[1] - a[1])
            return float(a[0] + t * (b[0] - a[0]))
    return None


class BodyReader:
    """Reads breadths off the person mask of one analysed photo, at rows given in pixels."""

    def __init__(self, analysis: PersonAnalysis, frame: Frame, image: np.ndarray | None = None) -> None:
        self.an = analysis
        self.image = image if image is not None and image.shape[:2] == analysis.person_mask.shape else None
        # a high threshold: the coarse mask often bridges the gap between an arm and the body with
        # values just above one half
        self.mask = analysis.person_mask > 0.8
        self.lm = analysis.landmarks.astype(np.float64)
        self.frame = frame
        self.s = frame.stature_px
        lm = self.lm
        self.sh_y = float(np.mean(lm[[P.LEFT_SHOULDER, P.RIGHT_SHOULDER], 1]))
        self.hip_y = float(np.mean(lm[[P.LEFT_HIP, P.RIGHT_HIP], 1]))
        self.sh_mid = (lm[P.LEFT_SHOULDER, :2] + lm[P.RIGHT_SHOULDER, :2]) / 2
        self.hip_mid = (lm[P.LEFT_HIP, :2] + lm[P.RIGHT_HIP, :2]) / 2
        self.arm_half = {chain: self._arm_half(chain) for chain in _ARMS}

    def centre_x(self, y: float) -> float:
        t = (y - self.sh_mid[1]) / max(self.hip_mid[1] - self.sh_mid[1], 1.0)
        return float(self.sh_mid[0] + t * (self.hip_mid[0] - self.sh_mid[0]))

    def run(self, y: float, limit: float) -> tuple[int, int] | None:
        """The mask's run through row y from the body's centre line outwards (at most `limit`
        px each way), or None if the centre is not on the mask."""
        w, h = self.an.size
        yi = int(np.clip(round(y), 0, h - 1))
        row = self.mask[yi]
        c = int(np.clip(round(self.centre_x(y)), 0, w - 1))
        if not row[c]:
            return None
        lim = int(limit)
        lo, hi = max(0, c - lim), min(w - 1, c + lim)
        gaps_left = np.nonzero(~row[lo:c])[0]
        gaps_right = np.nonzero(~row[c:hi + 1])[0]
        left = lo + int(gaps_left[-1]) + 1 if len(gaps_left) else lo
        right = c + int(gaps_right[0]) - 1 if len(gaps_right) else hi
        return left, right

    def _arm_half(self, chain: tuple[int, ...]) -> float:
        """Half the arm's width (px), read at the elbow when the arm hangs free of the body there,
        else a typical adult upper arm (4.5 % of stature wide)."""
        default = 0.0225 * self.s
        elbow = self.lm[chain[1], :2]
        w, h = self.an.size
        x, y = int(round(elbow[0])), int(round(elbow[1]))
        if not (0 <= x < w and 0 <= y < h) or not self.mask[y, x]:
            return default
        torso = self.run(y, 0.3 * self.s)
        if torso is not None and torso[0] <= x <= torso[1]:
            return default  # merged with the torso here too
        row = self.mask[y]
        left, right = x, x
        while left > 0 and row[left - 1]:
            left -= 1
        while right < w - 1 and row[right + 1]:
            right += 1
        return float(np.clip((right - left + 1) / 2, 0.6 * default, 1.4 * default))

    def torso_breadth(self, y: float) -> tuple[float, float, bool] | None:
        """(breadth px, sd px from arms, an arm lay against the side) of the torso at row y.

        An arm hanging against the side merges with the torso in the (coarse) person mask. Its
        outer edge is then the run's edge, and its centre half an arm's width in (averaged with
        the landmarks' arm line, which runs inside the deltoid near the shoulder); the torso's
        edge is where the photo's colour turns from the arm's to the body's, or, with no such
        turn (a white sleeve on a white shirt), one more half-width in, less sure. A side the
        arm does not touch is sure, and being nearly symmetric about the centre line, the body
        lends it to the other: each side is the average of its own reading and the other's
        mirrored, weighted by how sure each is."""
        span = self.run(y, 0.3 * self.s)
        if span is None:
            return None
        cx = self.centre_x(y)
        halves = [cx - span[0], span[1] + 1 - cx]  # centre line to the left and right edges
        sds = [0.0, 0.0]
        for chain in _ARMS:
            ax = _arm_x_at(self.lm, chain, y)
            if ax is None or not span[0] <= ax <= span[1] + 1:
                continue  # the arm hangs free of the body here (or is above or below this row)
            half = self.arm_half[chain]
            side = 0 if ax < cx else 1
            inward = 1.0 if side == 0 else -1.0
            outer = cx - halves[side] * inward
            if abs(ax - outer) > 3 * half:
                continue  # an arm in front of the body: the outline there is the body's own
            centre = 0.5 * (ax + outer + inward * half)
            edge = self._colour_edge(y, centre, inward, half, cx)
            sure = edge is not None
            if edge is None:
                edge = centre + inward * half
            halves[side] = min(halves[side], abs(cx - edge))
            sds[side] = math.hypot(sds[side], (0.35 if sure else 0.6) * half)
        touched = any(sd > 0 for sd in sds)
        # the centre line and the body's own asymmetry: 4 % of a half-width, at least 2 px
        base = [max(2.0, 0.04 * h) for h in halves]
        var = [b**2 + sd**2 for b, sd in zip(base, sds)]
        combined, combined_var = [], []
        for i in (0, 1):
            j = 1 - i
            other_var = var[j] + (0.12 * halves[j]) ** 2  # mirrored: plus the asymmetry of a pose or a loose top
            w = other_var / (var[i] + other_var)
            combined.append(w * halves[i] + (1 - w) * halves[j])
            combined_var.append(var[i] * other_var / (var[i] + other_var))
        # the two combined sides share their information: their errors add, not in quadrature
        sd = math.sqrt(combined_var[0]) + math.sqrt(combined_var[1])
        return max(combined[0] + combined[1], 1.0), sd, touched

    def _colour_edge(self, y: float, centre: float, inward: float, half: float, cx: float) -> float | None:
        """Going from the arm's centre towards the body's, the first x where the photo's colour
        stays closer to the body's (from two arm half-widths in to the centre line) than to the arm's
        (sampled on its centre line); None without the photo or when the two colours are alike."""
        if self.image is None:
            return None
        w, h = self.an.size
        yi = int(np.clip(round(y), 2, h - 3))
        rows = self.image[yi - 2:yi + 3].astype(np.float32).mean(0)  # 5 rows
        kernel = np.ones(5, np.float32) / 5  # a fabric's pattern averages out over a few pixels
        row = np.stack([np.convolve(rows[:, c], kernel, mode="same") for c in range(3)], -1)

        def sample(x0: float, x1: float) -> np.ndarray | None:
            lo, hi = int(max(0, min(x0, x1))), int(min(w, max(x0, x1) + 1))
            return np.median(row[lo:hi], 0) if hi - lo >= 2 else None

        arm = sample(centre - 0.3 * half, centre + 0.3 * half)
        body = sample(centre + inward * 2.0 * half, cx)  # the median over half the body: a logo is not the shirt
        if arm is None or body is None or float(np.abs(arm - body).sum()) < 40.0:
            return None
        xs = np.arange(int(round(centre)), int(round(centre + inward * 2.0 * half)), int(inward))
        xs = xs[(xs >= 0) & (xs < w)]
        d_body = np.abs(row[xs] - body).sum(-1)
        closer = d_body < np.abs(row[xs] - arm).sum(-1)
        # a sliver of background between arm and body (merged by the coarse mask) is not body,
        # unless the body has the background's colour (a white shirt on a white wall)
        outside = ~self.mask[yi] & (np.abs(np.arange(w) - cx) < 0.35 * self.s)
        if outside.sum() >= 5:
            background = np.median(row[outside], 0)
            if float(np.abs(background - body).sum()) >= 40.0:
                closer &= d_body < np.abs(row[xs] - background).sum(-1)
        for i in range(len(xs) - 2):
            if closer[i:i + 3].all():
                return float(xs[i])
        return None

    def bideltoid(self) -> tuple[float, float] | None:
        """(breadth px, sd px): the widest row across the deltoids, just below the shoulder
        joints, arms hanging; sd large when an arm is raised away from the body."""
        best = None
        for y in np.linspace(self.sh_y - 0.01 * self.s, self.sh_y + 0.06 * self.s, 15):
            span = self.run(float(y), 0.2 * self.s)
            if span is not None and (best is None or span[1] - span[0] > best):
                best = span[1] - span[0] + 1
        if best is None:
            return None
        sd = 0.0
        for chain in _ARMS:  # an elbow well outside its shoulder: the arm is raised or akimbo
            shoulder, elbow = self.lm[chain[0], 0], self.lm[chain[1], 0]
            cx = self.sh_mid[0]
            if abs(elbow - cx) > abs(shoulder - cx) + 0.05 * self.s:
                sd += 0.03 * self.s
        return float(best), sd


def read_breadths(analysis: PersonAnalysis, frame: Frame, cm: float, level_of: dict[str, float],
                  image: np.ndarray | None = None) -> dict[str, Reading]:
    """The photo's bideltoid, chest, waist and hip breadths (cm) with their uncertainties, read
    at the survey's levels (`level_of`: fraction of the acromion-trochanterion span)."""
    reader = BodyReader(analysis, frame, image)
    s = frame.stature_px
    acromion = reader.sh_y - SHOULDER_BELOW_ACROMION * s
    trochanterion = reader.hip_y - HIP_BELOW_TROCHANTERION * s
    turn = math.radians(min(_turn_deg(analysis), TURNED_REFUSE_DEG))
    edge_px = max(0.5 / cm, 1.5)  # a mask edge is good to about 1.5 px (or 5 mm)

    def finish(name: str, px: float, arm_sd_px: float, note: str | None) -> Reading:
        bias, cloth_sd = CLOTHING_CM[name]
        value = px * cm - bias
        sd = math.sqrt((math.sqrt(2) * edge_px * cm) ** 2 + (arm_sd_px * cm) ** 2 + cloth_sd**2
                       + (frame.scale_sd * value) ** 2 + (0.5 * (1 - math.cos(turn)) * value) ** 2)
        return Reading(value, sd, note)

    out: dict[str, Reading] = {}
    deltoid = reader.bideltoid()
    if deltoid is not None:
        out["bideltoid_breadth"] = finish("bideltoid_breadth", deltoid[0], deltoid[1], None)
    for name, widest in (("chest", False), ("waist", False), ("hip", True)):
        y0 = acromion + level_of[name] * (trochanterion - acromion)
        # the median of the rows around the level (the 80th percentile around the hips, which the
        # survey measures at their widest): one row's mask or landmark error moves it little
        rows = np.linspace(y0 - 0.035 * s, y0 + 0.035 * s, 15) if not widest else \
            np.linspace(y0 - 0.03 * s, y0 + 0.03 * s, 13)
        found = [b for b in (reader.torso_breadth(float(y)) for y in rows) if b is not None]
        if not found:
            continue
        px = float(np.percentile([b[0] for b in found], 80 if widest else 50))
        arm_sd = float(np.median([b[1] for b in found]))
        touched = sum(b[2] for b in found) > len(found) / 2
        note = f"An arm touches your side at the {name}: that breadth is less sure." if touched else None
        out[f"{name}_breadth"] = finish(f"{name}_breadth", px, arm_sd, note)
    return out


# --- lengths ------------------------------------------------------------------------------------


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
    """The top of the gap between the legs, scanning up the centre line from the knees; with
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


def measure_lengths(analysis: PersonAnalysis, frame: Frame, cm: float) -> dict[str, tuple[float, float]]:
    """Torso length (shoulder to hip joint) and arm length (shoulder to wrist), cm, each with a
    confidence."""
    lm = analysis.landmarks
    m: dict[str, tuple[float, float]] = {}
    torso_chain = (P.LEFT_SHOULDER, P.LEFT_HIP)
    torso_len = 0.5 * (_chain_px(analysis, torso_chain) + _chain_px(analysis, (P.RIGHT_SHOULDER, P.RIGHT_HIP)))
    m["torso_length"] = (torso_len * cm * _foreshortening(analysis, torso_chain), 0.8)
    arms = []
    for chain in ((P.LEFT_SHOULDER, P.LEFT_ELBOW, P.LEFT_WRIST), (P.RIGHT_SHOULDER, P.RIGHT_ELBOW, P.RIGHT_WRIST)):
        f = _foreshortening(analysis, chain)
        sure = float(np.min(lm[list(chain), 3]))
        arms.append((_chain_px(analysis, chain) * cm * f, sure * (1.0 - 1.5 * (f - 1.0))))
    # both arms, weighted by how sure each is: a mirrored photo swaps them, the answer must not move
    weights = np.array([max(a[1], 1e-3) for a in arms])
    m["arm_length"] = (float(np.dot(weights, [a[0] for a in arms]) / weights.sum()),
                       float(np.clip(max(a[1] for a in arms), 0.2, 0.9)))
    return m


def read_inseam(analysis: PersonAnalysis, frame: Frame, cm: float) -> Reading:
    """The inseam (crotch to floor, cm) as the photo shows it: a trousers' crotch or a skirt's
    hem is not the body's, so it is only an observation for the survey model, 5 % sure with a
    gap between the legs, 12 % without."""
    crotch, seen = _crotch_y(analysis)
    value = max((frame.floor - crotch) * cm, 1.0)
    rel = 0.05 if seen >= 0.8 else 0.12
    note = None if seen >= 0.8 else "No gap shows between your legs: your inseam is mostly estimated from your height."
    return Reading(value, value * math.hypot(rel, frame.scale_sd), note)


# --- the estimate -------------------------------------------------------------------------------


def _check_inputs(height_cm: float, sex: str | None, weight_kg: float | None) -> None:
    if not 100.0 <= float(height_cm) <= 250.0:
        raise InputRejected("Give your height in centimetres, between 100 and 250.", code="bad_height")
    if sex is not None and sex not in SEXES:
        raise InputRejected("Give sex as 'female' or 'male', or leave it out.", code="bad_sex")
    if weight_kg is not None and not (math.isfinite(weight_kg) and 30.0 <= weight_kg <= 250.0):
        raise InputRejected("Give your weight in kilograms, between 30 and 250, or leave it out.", code="bad_weight")


@dataclass
class View:
    """What one analysed photo (the photo, or its mirror image) reads of the body."""

    frame: Frame
    readings: dict[str, Reading]  # survey variables read off the photo (breadths, inseam)
    lengths: dict[str, tuple[float, float]]  # torso and arm length: (cm, confidence)
    turn_deg: float
    pose_sure: float


# refusals by precedence, so that two views refused differently give one answer whatever their order
REFUSAL_ORDER = ("several_people", "not_full_body", "person_too_small", "sitting", "not_facing")


def read_view(analysis: PersonAnalysis, image: np.ndarray | None, height: float,
              level_of: dict[str, float]) -> View:
    """Check one analysed photo (raising `InputRejected`) and read the body off it."""
    frame = check_photo(analysis)
    cm = height / frame.stature_px
    readings = read_breadths(analysis, frame, cm, level_of, image)
    readings["inseam"] = read_inseam(analysis, frame, cm)
    lm = analysis.landmarks
    used = [P.LEFT_SHOULDER, P.RIGHT_SHOULDER, P.LEFT_HIP, P.RIGHT_HIP, P.LEFT_KNEE, P.RIGHT_KNEE,
            P.LEFT_ANKLE, P.RIGHT_ANKLE, P.LEFT_ELBOW, P.RIGHT_ELBOW, P.LEFT_WRIST, P.RIGHT_WRIST]
    return View(frame, readings, measure_lengths(analysis, frame, cm), _turn_deg(analysis),
                float(np.clip(np.mean(lm[used, 3]), 0.0, 1.0)))


def combine_views(views: list[View]) -> View:
    """The average of the views' readings: the photo and its mirror image disagree only through
    the models' noise, so their mean is steadier than either, and the same for both."""
    if len(views) == 1:
        return views[0]
    readings = {}
    for name in views[0].readings:
        seen = [v.readings[name] for v in views if name in v.readings]
        if len(seen) < len(views):
            continue  # read in one view only: not trusted
        notes = sorted({r.note for r in seen if r.note})
        readings[name] = Reading(float(np.mean([r.value for r in seen])), float(np.mean([r.sd for r in seen])),
                                 notes[0] if notes else None)
    lengths = {name: (float(np.mean([v.lengths[name][0] for v in views])),
                      float(np.mean([v.lengths[name][1] for v in views]))) for name in views[0].lengths}
    frames = [v.frame for v in views]
    frame = Frame(float(np.mean([f.top for f in frames])), float(np.mean([f.floor for f in frames])),
                  any(f.head_cut for f in frames), max(f.scale_sd for f in frames))
    return View(frame, readings, lengths, float(np.mean([v.turn_deg for v in views])),
                float(np.mean([v.pose_sure for v in views])))


def estimate_body(analysis: PersonAnalysis, height_cm: float, sex: str | None = None,
                  weight_kg: float | None = None, image: np.ndarray | None = None,
                  mirror: PersonAnalysis | None = None) -> dict[str, Any]:
    """Measurements (cm, each a value, a range and a confidence in [0, 1]) and sizes for a
    full-body photo.

    Returns {"measurements": {name: {"value_cm", "low_cm", "high_cm", "confidence"}}, "size":
    the top size (the API contract's single size; None outside the chart), "sizes": {"top":
    {"size", "decided_by", "in_range", ["also"], ["message"]}, "bottom": {...}}, "confidence":
    overall, "notes": sentences about what lowered the confidence, "height_cm", "sex",
    "weight_kg": as given}. Raises `InputRejected` with what to fix when the photo cannot be
    measured (see `check_photo`) or an input is out of range. `image` (RGB, the analysed size)
    lets an arm lying against the body be told from it by colour; without it the arm's width is
    assumed. `mirror`, the analysis of the same photo flipped left to right, is read too and
    the two averaged: the answer is then the same for a photo and its mirror image, and steadier.
    A view that is refused is left out; only when every view is refused is the photo."""
    # 1. check the inputs; the survey levels for this body: the height (and weight) decide which
    #    sex's levels apply
    _check_inputs(height_cm, sex, weight_kg)
    height = float(height_cm)
    model = body_model()
    given: dict[str, tuple[float, float]] = {"stature": (height, 0.5)}
    if weight_kg is not None:
        given["weight"] = (float(weight_kg), 1.0)
    _, prior_sex = model.predict(given, sex=sex)
    level_of = {g: model.level(g, prior_sex) for g in GIRTHS}

    # 2. check and read the photo (and its mirror image)
    pairs = [(analysis, image)]
    if mirror is not None:
        pairs.append((mirror, None if image is None else np.ascontiguousarray(image[:, ::-1])))
    views, refusals = [], []
    for an, img in pairs:
        try:
            views.append(read_view(an, img, height, level_of))
        except InputRejected as err:
            refusals.append(err)
    if not views:
        raise min(refusals, key=lambda e: REFUSAL_ORDER.index(e.code) if e.code in REFUSAL_ORDER else len(REFUSAL_ORDER))
    view = combine_views(views)
    frame, readings = view.frame, view.readings
    notes: list[str] = []
    if frame.head_cut:
        notes.append("Your head is cut off at the top of the photo: your height was placed from your shoulders, "
                     "so every measurement is a little less sure.")
    if view.turn_deg > 20:
        notes.append("You are turned a little away from the camera: the breadths are less sure. Face the camera.")

    # 3. the photo's readings (breadths, inseam), screened against what the rest of the body says
    observed = dict(given)
    for name, b in readings.items():
        observed[name] = (max(b.value, 1.0), b.sd)
    # Both screens widen a doubtful breadth's noise just enough to make it believable, rather than
    # dropping it at a threshold: the answer then moves smoothly with the photo (a mirrored or
    # resized copy cannot jump from one side of a threshold to the other).
    for name in list(readings):
        others = {k: v for k, v in observed.items() if k != name}
        expected = model.predict(others, targets=(name,), sex=sex)[0][name]
        value, sd = observed[name]
        gap = math.log(value) - math.log(expected.value)
        z = gap / math.hypot(expected.sd_log, sd / value)
        note = readings[name].note
        if abs(z) > SCREEN_Z:
            observed[name] = (value, value * math.sqrt(max((gap / SCREEN_Z) ** 2 - expected.sd_log**2, 0.0)))
            if abs(z) > SCREEN_Z + 0.5:  # said only when it matters
                part, bigger, smaller = PARTS[name]
                plural = part in ("shoulders", "hips", "legs")
                notes.append(f"Your {part} look{'' if plural else 's'} {bigger if z > 0 else smaller} in the photo "
                             f"than a body of your height is likely to have (loose clothes, a bag or an arm?): "
                             f"{'they were' if plural else 'it was'} mostly estimated from the rest of you.")
        elif note:
            notes.append(note)
    limit = CHI2_95[len(observed)]
    if model.distance(observed, sex) > limit:
        lo, hi = 1.0, 30.0  # the factor on the readings' noise that puts them on the 95th percentile
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            trial = {k: (v, sd * (mid if k in readings else 1.0)) for k, (v, sd) in observed.items()}
            lo, hi = (mid, hi) if model.distance(trial, sex) > limit else (lo, mid)
        observed = {k: (v, sd * (hi if k in readings else 1.0)) for k, (v, sd) in observed.items()}
        if hi > 1.25:
            notes.append("Together your breadths in the photo are unusual for your height (loose or thick "
                         "clothes, or arms against your body?): they were trusted less and the ranges are wider.")

    # 4. the girths, the shoulder breadth and the inseam, with the confidence as the share of the
    #    best precision the model can reach (exact survey breadths) that this photo reached
    pred, weights = model.predict(observed, sex=sex)
    exact = {n: (max(b.value, 1.0), 1e-3) for n, b in readings.items() if n != "inseam"}
    best, _ = model.predict({**given, **exact}, sex=sex)
    measurements: dict[str, dict[str, float]] = {}
    for name in TARGETS:
        p = pred[name]
        confidence = float(np.clip(best[name].sd_log / max(p.sd_log, 1e-9), 0.0, 1.0))
        measurements[name] = {"value_cm": round(p.value, 1), "low_cm": round(p.low, 1), "high_cm": round(p.high, 1),
                              "confidence": round(confidence, 2)}

    # 5. the other lengths: within about 4 % plus the scale's own uncertainty
    resolution = float(np.clip((frame.stature_px - 250) / 550, 0.3, 1.0))
    rel = math.hypot(0.04, frame.scale_sd)
    for name, (value, conf) in view.lengths.items():
        lo, hi = LENGTHS[name]
        if not (math.isfinite(value) and math.isfinite(conf)):
            value, conf = (lo + hi) / 2, 0.0  # NaN is not JSON: it would break every later answer
        elif not lo <= value <= hi:
            conf *= 0.3  # reported, clamped, and flagged as doubtful by its confidence
            value = float(np.clip(value, lo, hi))
        measurements[name] = {"value_cm": round(value, 1), "low_cm": round(value * (1 - rel), 1),
                              "high_cm": round(value * (1 + rel), 1),
                              "confidence": round(float(np.clip(conf * resolution * (0.5 + 0.5 * view.pose_sure), 0, 1)), 2)}

    # 6. sizes from the girths and their ranges
    girths = {g: pred[g].value for g in GIRTHS}
    sizes = pick_sizes(girths, {g: (pred[g].low, pred[g].high) for g in GIRTHS})
    order = size_chart()["sizes"]
    top, bottom = sizes["top"]["size"], sizes["bottom"]["size"]
    if top and bottom and abs(order.index(top) - order.index(bottom)) > 1:
        notes.append("Your top and bottom sizes are more than one size apart: check them against the shop's "
                     "own chart.")
    overall = float(np.mean([v["confidence"] for v in measurements.values()]))
    return {
        "measurements": measurements,
        "size": top,
        "sizes": sizes,
        "confidence": round(overall, 2),
        "notes": notes,
        "height_cm": height,
        "sex": sex,
        "weight_kg": None if weight_kg is None else float(weight_kg),
        "sex_estimate": None if sex else {s: round(w, 2) for s, w in weights.items()},
        "size_chart": size_chart()["standard"],
        "model": "ANSUR II survey (6,068 adults), see docs/measurements.md",
    }
