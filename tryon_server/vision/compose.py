"""Take the old garment off: what a new garment replaces becomes skin or background first.

A new garment rarely covers exactly what the old one did: a T-shirt over a long-sleeved top
leaves the forearms, a crop top the midriff, a narrow top the sides of a loose one, a short dress
the shins. Drawn straight over the photo, the old clothes would show there. So before the new
garment is laid on, every replaced pixel is repainted:

- on the body (the joints' torso, limbs and neck, `PersonParse.body`): skin, in the colour and
  light of the person's own visible skin nearby (the face's colour far from any), darker at the
  rim where a limb turns away, so an arm still looks round;
- off the body (a loose garment's folds over the backdrop): background, inpainted from the
  background around the person at a quarter size (studio backdrops are smooth), never from the
  person's own pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from .blend import blend_garment, feather, restore_face
from .garment import GarmentCutout
from .parsing import DRESS, FACE, HAIR, SKIN, UPPER, PersonParse
from .person import PersonAnalysis
from .regions import hip_line_below
from .warp import WarpedGarment


def remove_garment(person_rgb: np.ndarray, parse: PersonParse, area: np.ndarray, person_mask: np.ndarray,
                   scale: float, covered: np.ndarray | None = None) -> np.ndarray:
    """A copy of `person_rgb` with `area` repainted as skin (on the body) or background.

    `person_mask` is the soft person mask, `scale` the shoulder width in px, `covered` (bool)
    where the new garment will lie: a thin strip of the old garment left beside it below the
    hips (wide old trousers beside narrow new ones) is background, not a sliver of skin along
    its edge."""
    if not area.any():
        return person_rgb.copy()
    h, w = area.shape
    # the old garment's edge pixels mix in its colour: take a few more. Full-size work is done
    # in the area's bounding box only.
    grow = max(1, int(0.012 * scale))
    ys, xs = np.nonzero(area)
    pad = grow + 8
    box = (slice(max(0, ys.min() - pad), min(h, ys.max() + 1 + pad)),
           slice(max(0, xs.min() - pad), min(w, xs.max() + 1 + pad)))
    cover = cv2.dilate(area[box].astype(np.uint8), np.ones((2 * grow + 1,) * 2, np.uint8)) > 0
    # the face and the hair are never repainted, not even by the soft edge around the area
    kept = np.isin(parse.labels[box], (FACE, HAIR))
    cover &= ~kept
    skin_area = cover & parse.body[box]
    if covered is not None:
        # (only below the hips: above them a sliver between a collar and the neck is skin)
        bare = skin_area & ~covered[box]
        rows = np.arange(box[0].start, box[0].stop)[:, None]
        bare &= rows > parse.hip_y
        k = max(3, int(0.07 * scale) | 1)
        wide = cv2.morphologyEx(bare.astype(np.uint8), cv2.MORPH_OPEN,
                                cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
        skin_area &= ~(bare & ~wide)
    back_area = cover & ~skin_area
    crop: np.ndarray = person_rgb[box].astype(np.float32)

    f = 4
    size = (max(1, w // f), max(1, h // f))
    if back_area.any():
        # a clean plate: the photo with the whole person (and the area) inpainted from the backdrop
        whole = np.zeros((h, w), bool)
        whole[box] = back_area
        hole = cv2.resize(((person_mask > 0.2) | whole).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        hole = cv2.dilate(hole, np.ones((3, 3), np.uint8))
        small = cv2.resize(person_rgb, size, interpolation=cv2.INTER_AREA)
        plate = cv2.inpaint(small, hole, 3, cv2.INPAINT_TELEA)
        plate_crop = cv2.resize(plate, (w, h), interpolation=cv2.INTER_LINEAR)[box].astype(np.float32)
        a = _soft_cover(back_area) * (~kept)[:, :, None].astype(np.float32)
        crop = plate_crop * a + crop * (1.0 - a)
    if skin_area.any():
        skin = _skin_colours(person_rgb, parse, scale, (f, size))[box]
        a = _soft_cover(skin_area) * (~kept)[:, :, None].astype(np.float32)
        crop = skin * a + crop * (1.0 - a)
    out = person_rgb.copy()
    out[box] = np.clip(crop + 0.5, 0, 255).astype(np.uint8)
    return out


def _skin_colours(person_rgb: np.ndarray, parse: PersonParse, scale: float,
                  small: tuple[int, tuple[int, int]]) -> np.ndarray:
    """HxWx3 float32: the skin each body pixel would show, from the colour and light of the
    person's own visible skin nearby (an arm's skin continues up the arm), else the face's
    colour; darker where the body turns away. Worked at a quarter size, where it is smooth."""
    h, w = parse.labels.shape
    f, size = small
    src = cv2.resize(((parse.labels == SKIN) & parse.body).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    src = cv2.erode(src, np.ones((3, 3), np.uint8)).astype(np.float32)  # not the skin's edge pixels
    colours = cv2.resize(person_rgb, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    sigma = max(1.0, 0.35 * scale / f)
    weight = cv2.GaussianBlur(src, (0, 0), sigma)
    near = cv2.GaussianBlur(colours * src[:, :, None], (0, 0), sigma) / np.maximum(weight, 1e-4)[:, :, None]
    # far from any visible skin, the face's colour; in between, a mix
    trust = np.clip(weight / 0.05, 0.0, 1.0)[:, :, None]
    colour = near * trust + parse.skin_rgb[None, None, :] * (1.0 - trust)
    # limbs and torso are round: darker towards the body's outline
    body_small = cv2.resize(parse.body.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    dist = cv2.distanceTransform(body_small, cv2.DIST_L2, 3)
    rim = 0.85 + 0.15 * np.clip(dist / max(1.0, 0.07 * scale / f), 0.0, 1.0)
    return cv2.resize((colour * rim[:, :, None]).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def _soft_cover(area: np.ndarray) -> np.ndarray:
    """HxWx1 float: 1 over all of `area` and a soft edge just outside it, so the old colour's
    last pixels are covered too, not half-mixed in."""
    grown = cv2.dilate(area.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return np.maximum(feather(grown, 1.5), area.astype(np.float32))[:, :, None]


def garment_support(analysis: PersonAnalysis, replace: np.ndarray, category: str, cut: GarmentCutout) -> np.ndarray:
    """Float HxW in [0, 1]: where the new garment may show. The body grown by a tenth of the
    shoulders (a looser garment is a little wider than the person), the replaced clothes, and for
    skirts and dresses everything below the hips (a skirt hangs free over the gap between the
    legs). A mis-placed sleeve never paints the backdrop far from the body."""
    h, w = replace.shape
    sw = max(analysis.shoulder_width, 1.0)
    f = 4
    size = (max(1, w // f), max(1, h // f))
    small = cv2.resize((analysis.person_mask > 0.5).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    r = max(1, int(0.1 * sw / f))
    small = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    grown = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) > 0
    support = grown | replace
    if category == "dress" or (category == "lower" and "crotch" not in cut.keypoints):
        support |= hip_line_below(analysis)
    return feather(support, 1.5)


def front_of_garment(analysis: PersonAnalysis, parse: PersonParse, warped: WarpedGarment, category: str) -> np.ndarray:
    """Bool HxW: what stays in front of the new garment. The face, hair falling over the
    shoulders and the hands always; the forearms in front of the garment's body but not of its
    sleeves (a sleeve covers its forearm); for trousers, the top that is kept (worn over them)."""
    protect = analysis.face_mask | (parse.labels == HAIR)
    palms = analysis.palms_mask if analysis.palms_mask is not None else analysis.hands_mask
    protect = protect | palms
    forearms = analysis.hands_mask & ~palms
    if warped.sleeve_alpha is not None:
        forearms &= warped.sleeve_alpha < 0.5
    protect |= forearms
    if category == "lower":
        # the kept top, or a kept dress's bodice, is worn over new trousers
        rows = np.arange(parse.labels.shape[0])[:, None]
        protect |= (parse.labels == UPPER) | ((parse.labels == DRESS) & (rows < parse.hip_y))
    return protect


def compose(person_rgb: np.ndarray, analysis: PersonAnalysis, parse: PersonParse, cut: GarmentCutout,
            warped: WarpedGarment, category: str, extra_replace: np.ndarray | None = None) -> np.ndarray:
    """The last stage of both engines: the old garment (plus `extra_replace`) taken off, the
    warped garment laid on, lit like the photo, behind what stays in front; the face exact."""
    replace = parse.replace_area(category)
    if extra_replace is not None:
        replace = replace | extra_replace
    sw = analysis.shoulder_width
    base = remove_garment(person_rgb, parse, replace, analysis.person_mask, sw, covered=warped.alpha > 0.5)
    support = garment_support(analysis, replace, category, cut)
    protect = front_of_garment(analysis, parse, warped, category)
    out = blend_garment(person_rgb, warped, support, None, protect, cut.background, scale=sw, base=base)
    return restore_face(out, person_rgb, analysis.face_mask)
