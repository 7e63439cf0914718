"""Drawn garment product photos for tests, shared by every engineer's tests.

Each garment is a flat lay on a plain near-white background (with a faint gradient and noise,
like a real product photo) carrying a visible pattern, so a wrong warp shows as bent or broken
stripes. Deterministic: the same pixels every call, on every machine.

    draw_top()       red T-shirt with navy horizontal stripes, short sleeves    (600 x 720)
    draw_trousers()  teal trousers with a yellow check and a dark waistband     (500 x 800)
    draw_dress()     purple sleeveless dress with white polka dots              (560 x 900)
    garment_mask(name)   the true garment mask (bool HxW) of "top", "trousers" or "dress"

The dominant colours are exported (TOP_RED, TROUSERS_TEAL, DRESS_PURPLE) so tests can measure
that a result now carries the garment's colour.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

TOP_RED = (205, 35, 45)
TOP_NAVY = (25, 35, 90)
TROUSERS_TEAL = (20, 130, 135)
TROUSERS_YELLOW = (235, 200, 40)
DRESS_PURPLE = (120, 40, 150)
BACKGROUND = (247, 246, 243)

# Outlines in image coordinates (image left first). The neckline is an arc added in _top_shape.
_TOP = [(240, 60), (170, 82), (55, 205), (115, 262), (178, 215), (172, 665), (428, 665),
        (422, 215), (485, 262), (545, 205), (430, 82), (360, 60)]
_TROUSERS = [(130, 40), (370, 40), (392, 765), (285, 765), (250, 300), (215, 765), (108, 765)]
_DRESS = [(232, 52), (178, 62), (172, 195), (205, 390), (85, 860), (475, 860), (355, 390),
          (388, 195), (382, 62), (328, 52)]


def _background(size: tuple[int, int], seed: int) -> Image.Image:
    w, h = size
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.0, 4.0, h)[:, None, None]  # a studio backdrop is never perfectly flat
    base = np.array(BACKGROUND, float)[None, None, :] - ramp
    noise = rng.normal(0.0, 1.2, (h, w, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")


def _neck_arc(left: tuple[int, int], right: tuple[int, int], depth: int, n: int = 16) -> list[tuple[int, int]]:
    (xl, yl), (xr, yr) = left, right
    pts = []
    for i in range(1, n):
        t = i / n
        x = xl + (xr - xl) * t
        y = yl + (yr - yl) * t + depth * np.sin(np.pi * t)
        pts.append((int(round(x)), int(round(y))))
    return pts


def _top_shape() -> list[tuple[int, int]]:
    return _TOP + _neck_arc(_TOP[-1], _TOP[0], 45)


def _dress_shape() -> list[tuple[int, int]]:
    return _DRESS + _neck_arc(_DRESS[-1], _DRESS[0], 55)


def _mask(size: tuple[int, int], polygon: list[tuple[int, int]]) -> Image.Image:
    m = Image.new("L", size, 0)
    ImageDraw.Draw(m).polygon(polygon, fill=255)
    return m


def draw_top() -> Image.Image:
    """A red short-sleeved T-shirt with navy horizontal stripes, flat on a near-white backdrop."""
    size = (600, 720)
    img = _background(size, 1)
    pattern = Image.new("RGB", size, TOP_RED)
    d = ImageDraw.Draw(pattern)
    for y in range(110, 700, 70):
        d.rectangle([0, y, size[0], y + 16], fill=TOP_NAVY)
    img.paste(pattern, (0, 0), _mask(size, _top_shape()))
    ImageDraw.Draw(img).line(_top_shape() + [_top_shape()[0]], fill=(150, 25, 35), width=2)
    return img


def draw_trousers() -> Image.Image:
    """Teal trousers with a yellow check (tartan-like lines) and a dark waistband."""
    size = (500, 800)
    img = _background(size, 2)
    pattern = Image.new("RGB", size, TROUSERS_TEAL)
    d = ImageDraw.Draw(pattern)
    for v in range(20, 800, 60):
        d.line([(0, v), (size[0], v)], fill=TROUSERS_YELLOW, width=5)
    for u in range(20, 500, 60):
        d.line([(u, 0), (u, size[1])], fill=TROUSERS_YELLOW, width=5)
    d.rectangle([0, 40, size[0], 72], fill=(15, 60, 65))
    img.paste(pattern, (0, 0), _mask(size, _TROUSERS))
    return img


def draw_dress() -> Image.Image:
    """A purple sleeveless A-line dress with white polka dots."""
    size = (560, 900)
    img = _background(size, 3)
    pattern = Image.new("RGB", size, DRESS_PURPLE)
    d = ImageDraw.Draw(pattern)
    for row, y in enumerate(range(80, 900, 56)):
        for x in range(20 + (row % 2) * 28, 560, 56):
            d.ellipse([x - 9, y - 9, x + 9, y + 9], fill=(250, 250, 250))
    # keep the dots off the outline so the garment edge stays purple all round
    inner = Image.new("L", size, 0)
    ImageDraw.Draw(inner).polygon(_dress_shape(), fill=255)
    edge = _mask(size, _dress_shape())
    img.paste(Image.new("RGB", size, DRESS_PURPLE), (0, 0), edge)
    shrunk = np.asarray(inner).copy()
    from scipy.ndimage import binary_erosion

    shrunk = Image.fromarray((binary_erosion(shrunk > 0, iterations=12) * 255).astype(np.uint8))
    img.paste(pattern, (0, 0), shrunk)
    return img


def garment_mask(name: str) -> np.ndarray:
    """The exact drawn outline of "top", "trousers" or "dress" as a bool array."""
    if name == "top":
        return np.asarray(_mask((600, 720), _top_shape())) > 0
    if name == "trousers":
        return np.asarray(_mask((500, 800), _TROUSERS)) > 0
    if name == "dress":
        return np.asarray(_mask((560, 900), _dress_shape())) > 0
    raise ValueError(name)
