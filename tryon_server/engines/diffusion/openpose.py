"""The ControlNet's pose image: MediaPipe's 33 landmarks drawn as an OpenPose body skeleton.

ControlNet-OpenPose models were trained on images drawn by the OpenPose annotator: 18 COCO
keypoints on black, limbs as filled ellipses at 60 % of the keypoint colour, joints as dots.
Drawing the same picture from MediaPipe landmarks needs no annotator weights at all.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image

# OpenPose's COCO-18 order -> MediaPipe Pose index; None = derived (neck = mid-shoulders).
# OpenPose "right" is the person's right, as in MediaPipe.
COCO18_FROM_MEDIAPIPE: tuple[int | None, ...] = (
    0,  # 0 nose
    None,  # 1 neck
    12,  # 2 right shoulder
    14,  # 3 right elbow
    16,  # 4 right wrist
    11,  # 5 left shoulder
    13,  # 6 left elbow
    15,  # 7 left wrist
    24,  # 8 right hip
    26,  # 9 right knee
    28,  # 10 right ankle
    23,  # 11 left hip
    25,  # 12 left knee
    27,  # 13 left ankle
    5,  # 14 right eye
    2,  # 15 left eye
    8,  # 16 right ear
    7,  # 17 left ear
)

# the annotator's limb list (0-based), drawn in this order with the colour of the same index
LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)

COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)

MIN_VISIBILITY = 0.3


def coco18_keypoints(landmarks: np.ndarray, min_visibility: float = MIN_VISIBILITY) -> np.ndarray:
    """(33, 4) MediaPipe landmarks (x_px, y_px, z, visibility) -> (18, 3) x, y, ok (0 or 1)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (33, 4):
        raise ValueError(f"expected (33, 4) MediaPipe landmarks, got {lm.shape}")
    out = np.zeros((18, 3), dtype=np.float64)
    for i, mp_index in enumerate(COCO18_FROM_MEDIAPIPE):
        if mp_index is None:
            left, right = lm[11], lm[12]
            if min(left[3], right[3]) >= min_visibility:
                out[i] = ((left[0] + right[0]) / 2, (left[1] + right[1]) / 2, 1.0)
            continue
        x, y, _, vis = lm[mp_index]
        if vis >= min_visibility and np.isfinite(x) and np.isfinite(y):
            out[i] = (x, y, 1.0)
    return out


def draw_openpose(keypoints: np.ndarray, size: tuple[int, int], scale: float = 1.0) -> Image.Image:
    """Draw (18, 3) keypoints (in pixels of a `size`=(width, height) image) OpenPose-style.

    `scale` multiplies the annotator's line width (4 px) and dot radius (4 px), which were meant
    for a 512 px picture; pass long_side / 512 for bigger ones."""
    width, height = size
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    stick = max(1, round(4 * scale))
    radius = max(1, round(4 * scale))
    for (a, b), color in zip(LIMBS, COLORS):
        if keypoints[a, 2] < 0.5 or keypoints[b, 2] < 0.5:
            continue
        (xa, ya), (xb, yb) = keypoints[a, :2], keypoints[b, :2]
        length = math.hypot(xa - xb, ya - yb)
        angle = math.degrees(math.atan2(ya - yb, xa - xb))
        polygon = cv2.ellipse2Poly(
            (int(round((xa + xb) / 2)), int(round((ya + yb) / 2))),
            (int(length / 2), stick),
            int(angle),
            0,
            360,
            1,
        )
        cv2.fillConvexPoly(canvas, np.asarray(polygon, np.int32), tuple(int(c * 0.6) for c in color))
    for (x, y, ok), color in zip(keypoints, COLORS):
        if ok >= 0.5:
            cv2.circle(canvas, (int(round(x)), int(round(y))), radius, color, thickness=-1)
    return Image.fromarray(canvas, "RGB")


def render_openpose(landmarks: np.ndarray, source_size: tuple[int, int],
                    target_size: tuple[int, int] | None = None) -> Image.Image:
    """MediaPipe landmarks measured on a `source_size` (w, h) photo -> an OpenPose image of
    `target_size` (w, h; default the source size), ready to be the ControlNet's condition."""
    target_size = target_size or source_size
    keypoints = coco18_keypoints(landmarks)
    sx = target_size[0] / source_size[0]
    sy = target_size[1] / source_size[1]
    keypoints[:, 0] *= sx
    keypoints[:, 1] *= sy
    return draw_openpose(keypoints, target_size, scale=max(target_size) / 512)
