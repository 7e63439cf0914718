"""Drawn people in known clothes, and drawn garments the try-on stages find hard, for tests that
need ground truth: which pixel is the top, the trousers, the skin.

    dressed_person(top=..., sleeves=..., bottom=..., dress_to=...)
        the standing figure of tests/bodies.py repainted: a top of one colour with no, short or
        long sleeves, trousers of another (or the top's colour running on as a dress), bare
        skin elsewhere; returns the photo, its analysis and the true masks by name
    draw_white_tee()          a white T-shirt on a white backdrop, told apart by 3-10 Lab units
    draw_long_sleeved_top()   a green long-sleeved top with orange stripes, sleeves angled down
    draw_short_dress()        a sleeveless dress ending above the knee

Deterministic: the same pixels every call.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from tests.bodies import SKIN, standing_person
from tryon_server.vision.person import P, PersonAnalysis

WALL = (232, 228, 220)


@dataclass
class Dressed:
    photo: Image.Image
    analysis: PersonAnalysis
    masks: dict[str, np.ndarray]  # "top", "bottom", "skin", "face": bool HxW, the truth


def _capsule(target: np.ndarray, a: np.ndarray, b: np.ndarray, thick: float, value: object) -> None:
    pa, pb = tuple(int(v) for v in a), tuple(int(v) for v in b)
    cv2.line(target, pa, pb, value, max(1, int(thick)))  # type: ignore[call-overload]
    cv2.circle(target, pa, max(1, int(thick / 2)), value, -1)  # type: ignore[call-overload]
    cv2.circle(target, pb, max(1, int(thick / 2)), value, -1)  # type: ignore[call-overload]


def dressed_person(top: tuple[int, int, int] = (40, 150, 60), sleeves: str = "short",
                   bottom: tuple[int, int, int] = (60, 60, 150), dress_to: float | None = None) -> Dressed:
    """The standing figure in a `top` of `sleeves` ("none", "short", "long") and trousers of
    `bottom`; with `dress_to` (0 = hips, 1 = ankles) the top runs on as a skirt to that height
    and the legs below it are bare."""
    _, an = standing_person()
    w, h = an.size
    lm = an.landmarks
    body = an.person_mask > 0.5
    img = np.full((h, w, 3), WALL, np.uint8)
    img[body] = SKIN
    pt = {i: lm[i, :2].astype(np.float64) for i in range(33)}
    top_m = np.zeros((h, w), np.uint8)
    bottom_m = np.zeros((h, w), np.uint8)
    torso = np.array([pt[P.RIGHT_SHOULDER] + (-15, -5), pt[P.LEFT_SHOULDER] + (15, -5),
                      pt[P.LEFT_HIP] + (30, 10), pt[P.RIGHT_HIP] + (-30, 10)], np.int32)
    cv2.fillConvexPoly(top_m, torso, 1)
    for sh, el, wr in ((P.LEFT_SHOULDER, P.LEFT_ELBOW, P.LEFT_WRIST), (P.RIGHT_SHOULDER, P.RIGHT_ELBOW, P.RIGHT_WRIST)):
        if sleeves == "short":
            _capsule(top_m, pt[sh], pt[sh] + 0.55 * (pt[el] - pt[sh]), 47, 1)
        elif sleeves == "long":
            _capsule(top_m, pt[sh], pt[el], 47, 1)
            _capsule(top_m, pt[el], pt[el] + 0.92 * (pt[wr] - pt[el]), 40, 1)
    hip_y = float(pt[P.LEFT_HIP][1])
    ankle_y = float(pt[P.LEFT_ANKLE][1])
    legs = np.zeros((h, w), np.uint8)
    for a, b, t in ((P.LEFT_HIP, P.LEFT_KNEE, 70), (P.RIGHT_HIP, P.RIGHT_KNEE, 70),
                    (P.LEFT_KNEE, P.LEFT_ANKLE, 50), (P.RIGHT_KNEE, P.RIGHT_ANKLE, 50)):
        _capsule(legs, pt[a], pt[b], t, 1)
    legs[: int(hip_y)] = 0
    if dress_to is None:
        bottom_m[:] = legs
        bottom_m[int(ankle_y) - 10:] = 0
    else:
        hem = int(hip_y + dress_to * (ankle_y - hip_y))
        skirt = np.array([pt[P.RIGHT_HIP] + (-32, 0), pt[P.LEFT_HIP] + (32, 0),
                          (pt[P.LEFT_HIP][0] + 60, hem), (pt[P.RIGHT_HIP][0] - 60, hem)], np.int32)
        cv2.fillConvexPoly(top_m, skirt, 1)
    top_b, bottom_b = top_m > 0, (bottom_m > 0) & ~(top_m > 0)
    img[top_b] = top
    img[bottom_b] = bottom
    person = body | top_b | bottom_b
    an.person_mask = person.astype(np.float32)
    face = an.face_mask & person
    skin = person & ~top_b & ~bottom_b & ~face
    return Dressed(Image.fromarray(img, "RGB"), an, {"top": top_b, "bottom": bottom_b, "skin": skin, "face": face})


def _backdrop(size: tuple[int, int], value: int) -> Image.Image:
    return Image.new("RGB", size, (value, value, value))


_TEE = [(240, 60), (170, 82), (55, 205), (115, 262), (178, 215), (172, 665), (428, 665),
        (422, 215), (485, 262), (545, 205), (430, 82), (360, 60), (330, 95), (270, 95)]
_LONG = [(240, 60), (170, 82), (60, 560), (130, 575), (180, 240), (175, 640), (425, 640),
         (420, 240), (470, 575), (540, 560), (430, 82), (360, 60), (330, 95), (270, 95)]
_SHORT_DRESS = [(230, 50), (185, 60), (180, 200), (205, 360), (150, 600), (410, 600), (355, 360),
                (380, 200), (375, 60), (330, 50), (305, 110), (255, 110)]


def garment_polygon(name: str) -> list[tuple[int, int]]:
    return {"white_tee": _TEE, "long_sleeved": _LONG, "short_dress": _SHORT_DRESS}[name]


def true_mask(name: str, size: tuple[int, int]) -> np.ndarray:
    m = Image.new("L", size, 0)
    ImageDraw.Draw(m).polygon(garment_polygon(name), fill=255)
    return np.asarray(m) > 0


def draw_white_tee() -> Image.Image:
    """A white T-shirt (RGB 240, with a faint fold shading) on a flat 247 backdrop, as studio
    product photos of white garments are: 3-10 Lab units apart."""
    size = (600, 720)
    img = _backdrop(size, 247)
    cloth = np.full((size[1], size[0], 3), 240, np.uint8)
    cloth[:, :, 2] = 236  # a warm white
    ys = np.arange(size[1])[:, None]
    cloth = np.clip(cloth.astype(int) - (3 * np.sin(ys / 40.0)).astype(int)[:, :, None], 0, 255).astype(np.uint8)
    m = Image.new("L", size, 0)
    ImageDraw.Draw(m).polygon(_TEE, fill=255)
    img.paste(Image.fromarray(cloth), (0, 0), m)
    return img


def draw_long_sleeved_top() -> Image.Image:
    """A green top with orange horizontal stripes and long sleeves angled down beside it."""
    size = (600, 720)
    img = _backdrop(size, 246)
    pattern = Image.new("RGB", size, (30, 140, 70))
    d = ImageDraw.Draw(pattern)
    for y in range(100, 700, 60):
        d.rectangle([0, y, size[0], y + 12], fill=(240, 140, 30))
    m = Image.new("L", size, 0)
    ImageDraw.Draw(m).polygon(_LONG, fill=255)
    img.paste(pattern, (0, 0), m)
    return img


def draw_short_dress() -> Image.Image:
    """A plain orange sleeveless dress ending above the knee."""
    size = (560, 660)
    img = _backdrop(size, 245)
    m = Image.new("L", size, 0)
    ImageDraw.Draw(m).polygon(_SHORT_DRESS, fill=255)
    img.paste(Image.new("RGB", size, (235, 120, 20)), (0, 0), m)
    return img
