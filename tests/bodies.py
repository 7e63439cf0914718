"""A synthetic standing person for tests that need a full body.

No public-domain full-body photo ships inside a PyPI or Debian package we could find, so the
geometry of `lower` and `dress` try-ons is tested on a drawn figure with hand-placed MediaPipe
landmarks (pixel coordinates of a frontal, standing adult). `standing_person()` returns the
drawn photo and the matching `PersonAnalysis`, which tests can put in an analyzer's cache.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from tryon_server.vision.person import P, PersonAnalysis

# (x, y) in a 600 x 1000 frame; the figure faces the camera, so its left is on the image right
_POINTS = {
    P.NOSE: (300, 110), P.LEFT_EYE: (315, 98), P.RIGHT_EYE: (285, 98), P.LEFT_EAR: (335, 105),
    P.RIGHT_EAR: (265, 105), P.MOUTH_LEFT: (312, 130), P.MOUTH_RIGHT: (288, 130),
    P.LEFT_SHOULDER: (370, 210), P.RIGHT_SHOULDER: (230, 210),
    P.LEFT_ELBOW: (395, 350), P.RIGHT_ELBOW: (205, 350),
    P.LEFT_WRIST: (405, 470), P.RIGHT_WRIST: (195, 470),
    P.LEFT_PINKY: (410, 500), P.RIGHT_PINKY: (190, 500), P.LEFT_INDEX: (405, 505),
    P.RIGHT_INDEX: (195, 505), P.LEFT_THUMB: (398, 495), P.RIGHT_THUMB: (202, 495),
    P.LEFT_HIP: (342, 480), P.RIGHT_HIP: (258, 480),
    P.LEFT_KNEE: (345, 700), P.RIGHT_KNEE: (255, 700),
    P.LEFT_ANKLE: (345, 905), P.RIGHT_ANKLE: (255, 905),
    P.LEFT_HEEL: (340, 925), P.RIGHT_HEEL: (260, 925),
    P.LEFT_FOOT_INDEX: (360, 945), P.RIGHT_FOOT_INDEX: (240, 945),
}
SKIN = (224, 180, 150)
CLOTHES = (90, 90, 95)


def standing_person(width: int = 600, height: int = 1000) -> tuple[Image.Image, PersonAnalysis]:
    """A drawn, standing, frontal figure on a light wall, and its analysis, scaled to the size."""
    sx, sy = width / 600, height / 1000
    lm = np.zeros((33, 4), np.float32)
    lm[:, 3] = 0.99
    for idx, (x, y) in _POINTS.items():
        lm[idx, :2] = (x * sx, y * sy)
    for i in range(33):  # the eye inner/outer points nobody here uses
        if not lm[i, :2].any():
            lm[i, :2] = lm[P.NOSE, :2]
    img = np.full((height, width, 3), (232, 228, 220), np.uint8)
    mask = np.zeros((height, width), np.uint8)
    s = (sx + sy) / 2

    def limb(a: int, b: int, thick: float, colour: tuple[int, int, int]) -> None:
        pa, pb = tuple(int(v) for v in lm[a, :2]), tuple(int(v) for v in lm[b, :2])
        for target, value in ((img, colour), (mask, 1)):
            cv2.line(target, pa, pb, value, max(1, int(thick * s)))
            cv2.circle(target, pa, max(1, int(thick * s / 2)), value, -1)
            cv2.circle(target, pb, max(1, int(thick * s / 2)), value, -1)

    torso = np.array([lm[P.RIGHT_SHOULDER, :2] + (-15 * sx, -5 * sy), lm[P.LEFT_SHOULDER, :2] + (15 * sx, -5 * sy),
                      lm[P.LEFT_HIP, :2] + (30 * sx, 10 * sy), lm[P.RIGHT_HIP, :2] + (-30 * sx, 10 * sy)], np.int32)
    for a, b, t in ((P.LEFT_HIP, P.LEFT_KNEE, 70), (P.RIGHT_HIP, P.RIGHT_KNEE, 70),
                    (P.LEFT_KNEE, P.LEFT_ANKLE, 50), (P.RIGHT_KNEE, P.RIGHT_ANKLE, 50)):
        limb(a, b, t, CLOTHES)
    cv2.fillConvexPoly(img, torso, CLOTHES)
    cv2.fillConvexPoly(mask, torso, 1)
    for a, b, t in ((P.LEFT_SHOULDER, P.LEFT_ELBOW, 45), (P.RIGHT_SHOULDER, P.RIGHT_ELBOW, 45),
                    (P.LEFT_ELBOW, P.LEFT_WRIST, 38), (P.RIGHT_ELBOW, P.RIGHT_WRIST, 38)):
        limb(a, b, t, SKIN)
    head = (int(lm[P.NOSE, 0]), int(lm[P.NOSE, 1]))
    for target, value in ((img, SKIN), (mask, 1)):
        cv2.ellipse(target, head, (int(45 * s), int(60 * s)), 0, 0, 360, value, -1)
        cv2.line(target, head, (head[0], int(lm[P.LEFT_SHOULDER, 1])), value, int(40 * s))
    face_box = (int(head[0] - 45 * s), int(head[1] - 60 * s), int(90 * s), int(120 * s))
    face = np.zeros((height, width), bool)
    cv2.ellipse(face.view(np.uint8), head, (int(45 * s), int(62 * s)), 0, 0, 360, 1, -1)
    hands = np.zeros((height, width), np.uint8)
    for w_, i_ in ((P.LEFT_WRIST, P.LEFT_INDEX), (P.RIGHT_WRIST, P.RIGHT_INDEX)):
        cv2.circle(hands, tuple(int(v) for v in (lm[w_, :2] + lm[i_, :2]) / 2), int(25 * s), 1, -1)
    world = np.zeros((33, 4), np.float32)
    # metric, hip-centred, y down: 1.75 m tall figure spans ~0.95 units of the 1000 px frame
    metres_per_px = 1.75 / (945 - 40) / sy
    hip_mid = (lm[P.LEFT_HIP, :2] + lm[P.RIGHT_HIP, :2]) / 2
    world[:, :2] = (lm[:, :2] - hip_mid) * metres_per_px
    world[:, 3] = lm[:, 3]
    analysis = PersonAnalysis(
        landmarks=lm, world_landmarks=world, person_mask=mask.astype(np.float32), face_mask=face,
        hair_mask=np.zeros((height, width), bool), hands_mask=hands.astype(bool) & (mask > 0),
        size=(width, height), face_box=face_box, people_count=1,
    )
    return Image.fromarray(img, "RGB"), analysis
