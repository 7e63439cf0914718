"""Put a warped garment into the person photo so it looks lit by the same light.

    1. colour: von Kries white balance from the product photo's background (its white) to the
       scene's white (the photo's brightest tones), and the scene's overall light level
    2. shading: the person photo's own folds and light falloff (its luminance relative to a
       blurred copy, measured inside the garment area only) multiply the garment; what is
       printed or sewn on the old clothes (name tags, ribbons, logos: sharp, strong edges) is
       replaced by the shading around it, so it leaves no ghost
    3. alpha: garment alpha x person mask x garment region, minus the protected parts (face,
       hair, hands), then feathered by a pixel or two

Edges use a feathered alpha rather than Poisson cloning: `cv2.seamlessClone` at 1024 px costs
about half a second here and pulls the garment's colour toward whatever it replaces (a red
shirt over a navy jacket turns purple), which is the opposite of a try-on.
"""

from __future__ import annotations

import cv2
import numpy as np

from .warp import WarpedGarment

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma in [0, 1] as float32."""
    return (rgb.astype(np.float32) @ _LUMA) / 255.0


def feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    """A soft float32 copy of a mask: a Gaussian blur of `sigma` px."""
    m = mask.astype(np.float32)
    if sigma <= 0:
        return m
    return cv2.GaussianBlur(m, (0, 0), sigma)


def light_gains(person_rgb: np.ndarray, garment_background: np.ndarray) -> np.ndarray:
    """Per-channel gains taking the product photo's light to the person photo's light.

    The product background is the garment photo's white; the person photo's white is estimated
    from its brightest tones (99th percentile per channel, a white-patch estimate). The colour
    cast is applied at reduced strength and the result is kept within +-15 % per channel: a
    warm room should warm the garment, not repaint it.
    """
    small = person_rgb[::4, ::4].reshape(-1, 3).astype(np.float32)
    scene = np.percentile(small, 99, axis=0) + 1.0
    bg = np.asarray(garment_background, np.float32) + 1.0
    cast = (scene / scene.max()) / (bg / bg.max())
    cast = np.clip(1.0 + 0.7 * (cast - 1.0), 0.85, 1.15)
    level = float(np.clip((scene @ _LUMA) / max(float(bg @ _LUMA), 1.0), 0.7, 1.05))
    return (cast * level).astype(np.float32)


def shading_map(person_rgb: np.ndarray, region: np.ndarray, scale: float) -> np.ndarray:
    """Multiplicative shading (HxW float32 around 1.0): the folds of the person photo.

    The photo's luminance mixes light with the old clothes' own colours (a white shirt under a
    navy jacket). An edge-preserving guided filter keeps those strong albedo edges in its smooth
    version, so luminance / smooth keeps only the soft, low-contrast variation that folds and
    creases make. `scale` is the body's size (shoulder width, px). Computed at a quarter size.
    """
    h, w = region.shape
    f = 4
    size = (max(1, w // f), max(1, h // f))
    small_l = cv2.resize(luminance(person_rgb), size, interpolation=cv2.INTER_AREA)
    fine = cv2.GaussianBlur(small_l, (0, 0), max(0.6, 0.006 * scale / f))
    radius = max(2, int(0.12 * scale / f))
    smooth = cv2.ximgproc.guidedFilter(guide=fine, src=fine, radius=radius, eps=0.004)
    # the offset damps dark clothes, where a little sensor noise is a large relative change
    ratio = (fine + 0.08) / (smooth + 0.08)
    # folds darken; bright detail is mostly old print and logos, so it lifts only a little
    shade = np.where(ratio < 1.0, np.clip(ratio, 0.6, 1.0) ** 0.8, np.clip(ratio, 1.0, 1.2) ** 0.3)
    shade = _without_prints(shade, fine, radius)
    inside = cv2.resize(region.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    if inside.any():  # the garment's own brightness stays what the light gains made it
        shade = shade / max(float(np.median(shade[inside])), 0.5)
    return cv2.resize(shade.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def print_mask(luma: np.ndarray, step: float = 0.22, max_area: float = 0.02) -> np.ndarray:
    """Bool mask of what is printed or sewn on the old clothes rather than shaped by light.

    Name tags, ribbons, logos and lapels are bounded by sharp, strong edges in log luminance
    (a change of ~3x within a pixel or two); folds and light fall-off change slowly. The mask is
    those edges, a pixel wider, plus the small areas they enclose (up to `max_area` of the
    image: a tag, a badge, a pocket), whose own inside is an unrelated colour.
    """
    log_l = np.log(luma + 0.08)
    gx = cv2.Sobel(log_l, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(log_l, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    edges = (np.hypot(gx, gy) > step).astype(np.uint8)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
    # holes of the edge mask: areas not reachable from the image border without crossing edges
    _, labels, stats, _ = cv2.connectedComponentsWithStats(1 - edges, connectivity=4)
    small = stats[:, cv2.CC_STAT_AREA] <= max_area * luma.size
    small[0] = False  # label 0 is the edges themselves
    return edges.astype(bool) | small[labels]


def _without_prints(shade: np.ndarray, luma: np.ndarray, radius: int) -> np.ndarray:
    """Shading with the printed parts (see `print_mask`) replaced by the shading around them,
    so the new garment shows the old one's folds, not a ghost of its name tag."""
    prints = print_mask(luma)
    if not prints.any():
        return shade
    # the smooth copy leans towards a print's colour up to about a third of the filter's radius
    # from its edge: that rim is the print's too
    grow = max(1, radius // 3)
    prints = cv2.dilate(prints.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2)) > 0
    keep = (~prints).astype(np.float32)
    sigma = max(1.5, radius / 2)
    # normalised convolution: the mean shading of the nearby unprinted pixels
    weight = cv2.GaussianBlur(keep, (0, 0), sigma)
    near = np.where(weight > 1e-3, cv2.GaussianBlur(shade * keep, (0, 0), sigma) / np.maximum(weight, 1e-3), 1.0)
    return np.where(prints, near, shade).astype(np.float32)


def composite(person_rgb: np.ndarray, garment_rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """out = garment * alpha + person * (1 - alpha), as uint8."""
    a = alpha[:, :, None].astype(np.float32)
    out = garment_rgb.astype(np.float32) * a + person_rgb.astype(np.float32) * (1.0 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def blend_garment(
    person_rgb: np.ndarray,
    warped: WarpedGarment,
    person_mask: np.ndarray,
    region: np.ndarray | None,
    protect: np.ndarray,
    garment_background: np.ndarray,
    scale: float,
    base: np.ndarray | None = None,
) -> np.ndarray:
    """The whole stage 5: light-matched, shaded garment over the body, behind `protect`.

    The garment shows where `person_mask` (soft: where it may show) and `region` (None: all of
    it) allow. Light and folds are read from `person_rgb`; the garment is laid onto `base` (the photo with
    the old garment already taken off, `compose.remove_garment`), or onto the photo itself."""
    canvas = person_rgb if base is None else base
    h, w = person_rgb.shape[:2]
    edge = max(0.8, 0.0025 * max(h, w))  # ~2.5 px at 1024: soft, not blurry
    region_soft = feather(region, edge * 2) if region is not None else 1.0
    protect_soft = feather(protect, edge)
    alpha = warped.alpha * np.clip(person_mask * 1.15, 0.0, 1.0) * region_soft * (1.0 - protect_soft)
    # shrink by a pixel and soften so the old clothes' edge never peeks out as a halo
    alpha = cv2.erode(alpha, np.ones((3, 3), np.uint8))
    alpha = feather(alpha, edge * 0.6)
    ys, xs = np.nonzero(alpha > 0.004)
    if len(ys) == 0:
        return canvas.copy()
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    gains = light_gains(person_rgb, garment_background)
    on_garment = warped.alpha > 0.5
    shade = shading_map(person_rgb, on_garment & region if region is not None else on_garment, scale)
    out = canvas.copy()
    sub = (slice(y0, y1), slice(x0, x1))
    garment = warped.rgb[sub] * gains[None, None, :] * shade[sub][:, :, None]
    out[sub] = composite(canvas[sub], garment, alpha[sub])
    return out


def restore_face(result: np.ndarray, original: np.ndarray, face_mask: np.ndarray, feather_px: float = 3.0) -> np.ndarray:
    """Paste the original face back over a result (same size), with a feathered edge.

    The diffusion engine needs this after inpainting (which can subtly repaint a face near the
    collar); the classic engine uses it as a guarantee that the face is untouched.
    """
    if result.shape != original.shape:
        raise ValueError("restore_face needs the result and the original at the same size")
    m = cv2.erode(face_mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(np.float32)
    m = np.maximum(feather(m, feather_px), face_mask.astype(np.float32) * (cv2.erode(
        face_mask.astype(np.uint8), np.ones((2 * int(feather_px) + 1,) * 2, np.uint8)) > 0))
    return composite(result, original, np.clip(m, 0.0, 1.0)) if m.any() else result.copy()
