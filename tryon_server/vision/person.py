"""Person analysis: pose landmarks, person mask, face, hair and hands, from MediaPipe's own models.

Everything here uses only the models inside the `mediapipe==0.10.21` wheel (pose_landmark_full
with its segmentation head, face_detection full range), so it runs with no downloaded weights.
One `PersonAnalysis` is computed per (photo hash, size) and cached: a second garment tried on the
same profile skips this stage entirely.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import cv2
import numpy as np

from ..exceptions import InputRejected
from ..photo_needs import PHOTO_NEEDS, needs_sentence

log = logging.getLogger("tryon.vision.person")


class P(IntEnum):
    """MediaPipe Pose landmark indices (the person's own left/right, not the image's)."""

    NOSE = 0
    LEFT_EYE = 2
    RIGHT_EYE = 5
    LEFT_EAR = 7
    RIGHT_EAR = 8
    MOUTH_LEFT = 9
    MOUTH_RIGHT = 10
    LEFT_SHOULDER = 11
    RIGHT_SHOULDER = 12
    LEFT_ELBOW = 13
    RIGHT_ELBOW = 14
    LEFT_WRIST = 15
    RIGHT_WRIST = 16
    LEFT_PINKY = 17
    RIGHT_PINKY = 18
    LEFT_INDEX = 19
    RIGHT_INDEX = 20
    LEFT_THUMB = 21
    RIGHT_THUMB = 22
    LEFT_HIP = 23
    RIGHT_HIP = 24
    LEFT_KNEE = 25
    RIGHT_KNEE = 26
    LEFT_ANKLE = 27
    RIGHT_ANKLE = 28
    LEFT_HEEL = 29
    RIGHT_HEEL = 30
    LEFT_FOOT_INDEX = 31
    RIGHT_FOOT_INDEX = 32


# A landmark counts as seen above this MediaPipe visibility.
VISIBLE = 0.5


@dataclass
class PersonAnalysis:
    """What the pipeline knows about the person in one photo, at the analysed image's size.

    `landmarks[i] = (x_px, y_px, z, visibility)`; x/y may lie outside the image (MediaPipe
    predicts joints that are cropped off), which is how a waist-up photo still gets hips.
    Masks are HxW; `person_mask` is soft (float32 in [0, 1]), the others bool.
    """

    landmarks: np.ndarray  # (33, 4) float32
    world_landmarks: np.ndarray | None  # (33, 4) metres, hip-centred, or None
    person_mask: np.ndarray  # float32 HxW in [0, 1], only the chosen person
    face_mask: np.ndarray  # bool HxW: face (forehead to chin) to protect
    hair_mask: np.ndarray  # bool HxW: hair, including hair that falls over the shoulders
    hands_mask: np.ndarray  # bool HxW: hands and forearms, kept in front of a garment
    size: tuple[int, int]  # (w, h) of the analysed image
    face_box: tuple[int, int, int, int] | None = None  # x, y, w, h of the chosen face
    people_count: int = 1  # faces seen in the photo (>= 1 when a pose was found)
    # bool HxW: the hands alone (without forearms): in front of sleeves too
    palms_mask: np.ndarray | None = None

    def point(self, index: int) -> np.ndarray:
        """(x, y) of one landmark in pixels."""
        return self.landmarks[index, :2].astype(np.float64)

    def visible(self, index: int, margin: float = 0.0) -> bool:
        """Seen by the model and inside the frame (`margin` as a fraction of the size)."""
        x, y, _, vis = self.landmarks[index]
        w, h = self.size
        return bool(vis >= VISIBLE and -margin * w <= x <= (1 + margin) * w and -margin * h <= y <= (1 + margin) * h)

    @property
    def shoulder_width(self) -> float:
        """Distance between the shoulder joints in pixels: the body's own unit of length."""
        return float(np.linalg.norm(self.point(P.LEFT_SHOULDER) - self.point(P.RIGHT_SHOULDER)))


# --- refusals -------------------------------------------------------------------------------

# The words come from photo_needs, the one definition of what photo each category needs.
NO_PERSON = ("No person was found in the photo: use a photo of yourself, facing the camera, with your "
             f"{PHOTO_NEEDS['upper']} in the picture ({PHOTO_NEEDS['size']} suits every garment).")
_NEEDS: dict[str, tuple[str, tuple[int, ...]]] = {
    "upper": (
        f"Your shoulders are not clearly visible, or something covers them. {needs_sentence('upper')}",
        (P.LEFT_SHOULDER, P.RIGHT_SHOULDER),
    ),
    "lower": (
        f"Your legs are not all in the photo. {needs_sentence('lower')}",
        (P.LEFT_HIP, P.RIGHT_HIP, P.LEFT_KNEE, P.RIGHT_KNEE, P.LEFT_ANKLE, P.RIGHT_ANKLE),
    ),
    "dress": (
        f"Your body is not in the photo down to the knees. {needs_sentence('dress')}",
        (P.LEFT_SHOULDER, P.RIGHT_SHOULDER, P.LEFT_HIP, P.RIGHT_HIP, P.LEFT_KNEE, P.RIGHT_KNEE),
    ),
}
_UPPER_HIPS = f"Your waist is hidden (by a desk, a bag or crossed arms). {needs_sentence('upper')}"


def require_landmarks(analysis: PersonAnalysis, category: str) -> None:
    """Raise `InputRejected` (code `person_incomplete`) unless the body parts the category needs
    are visible.

    For `upper`, hips may be cut off by the bottom of the frame (a waist-up photo is the usual
    profile photo and the garment simply continues out of frame), but hips inside the frame must
    be seen: a hidden waist (a desk, crossed arms) would put the hem in the wrong place.
    """
    sentence, needed = _NEEDS[category]
    missing = [int(i) for i in needed if not analysis.visible(i, margin=0.02)]
    if missing:
        raise InputRejected(sentence, code="person_incomplete")
    if category == "upper":
        w, h = analysis.size
        for hip in (P.LEFT_HIP, P.RIGHT_HIP):
            x, y, _, vis = analysis.landmarks[hip]
            below_frame = y >= 0.9 * h  # the photo ends at or just above the waist
            if vis < VISIBLE and not below_frame:
                raise InputRejected(_UPPER_HIPS, code="person_incomplete")
        torso = float(np.mean(analysis.landmarks[[P.LEFT_HIP, P.RIGHT_HIP], 1]) - np.mean(
            analysis.landmarks[[P.LEFT_SHOULDER, P.RIGHT_SHOULDER], 1]))
        if torso < 0.5 * analysis.shoulder_width:  # lying down, upside down or bent over
            raise InputRejected(sentence, code="person_incomplete")


# --- the analyzer ---------------------------------------------------------------------------


class PersonAnalyzer:
    """Runs MediaPipe on person photos; keeps the last `cache_size` analyses keyed by photo hash.

    Not thread-safe: like the engines, one instance belongs to one (inference) thread.
    """

    def __init__(self, cache_size: int = 16) -> None:
        self._pose: Any = None
        self._faces: Any = None
        self._cache: OrderedDict[tuple[str, int, int], PersonAnalysis] = OrderedDict()
        self._cache_size = cache_size

    @property
    def loaded(self) -> bool:
        return self._pose is not None

    def load(self) -> None:
        """Build the MediaPipe graphs now (they load their .tflite files from the wheel), then
        run them once so the first real photo does not pay for XNNPACK's set-up."""
        if self._pose is not None:
            return
        import mediapipe as mp  # imported here: it is slow to import and logs on import

        self._pose = mp.solutions.pose.Pose(
            static_image_mode=True,
            model_complexity=1,  # the "full" model is the best one shipped inside the wheel
            enable_segmentation=True,
            min_detection_confidence=0.5,
        )
        self._faces = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
        warm = np.full((256, 256, 3), 127, np.uint8)
        self._pose.process(warm)
        self._faces.process(warm)

    def close(self) -> None:
        for graph in (self._pose, self._faces):
            if graph is not None:
                graph.close()
        self._pose = self._faces = None

    def cached(self, key: str, size: tuple[int, int]) -> PersonAnalysis | None:
        """The cached analysis for this photo at this size, if any."""
        return self._cache.get((key, size[0], size[1]))

    def analyze(self, image_rgb: np.ndarray, key: str | None = None) -> PersonAnalysis:
        """Analyse an RGB uint8 HxWx3 photo; raise `InputRejected(code="no_person")` if nobody
        is in it. With a `key` (the photo's content hash) the result is cached."""
        h, w = image_rgb.shape[:2]
        if key:
            hit = self._cache.get((key, w, h))
            if hit is not None:
                self._cache.move_to_end((key, w, h))
                return hit
        if self._pose is None:
            self.load()
        analysis = self._analyze(np.ascontiguousarray(image_rgb[:, :, :3]))
        if key:
            self._cache[(key, w, h)] = analysis
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return analysis

    # -- internals ---------------------------------------------------------------------------

    def _detect_faces(self, image: np.ndarray) -> list[tuple[float, tuple[int, int, int, int]]]:
        h, w = image.shape[:2]
        result = self._faces.process(image)
        faces = []
        for det in result.detections or []:
            box = det.location_data.relative_bounding_box
            x, y, bw, bh = box.xmin * w, box.ymin * h, box.width * w, box.height * h
            faces.append((float(det.score[0]), (int(x), int(y), int(bw), int(bh))))
        return faces

    def _analyze(self, image: np.ndarray) -> PersonAnalysis:
        h, w = image.shape[:2]
        faces = self._detect_faces(image)
        chosen_face = _choose_face(faces, w, h)
        offset = np.zeros(2)
        result = self._pose.process(image)
        if chosen_face is not None and len(faces) > 1 and not _pose_matches_face(result, chosen_face, w, h):
            # MediaPipe Pose follows one person of its own choosing; several people are in the
            # photo and it picked another: crop around the largest, most central face and retry.
            x0, y0, x1, y1 = _crop_around_face(chosen_face, w, h)
            crop = np.ascontiguousarray(image[y0:y1, x0:x1])
            retry = self._pose.process(crop)
            if retry.pose_landmarks is not None:
                result, offset = retry, np.array([x0, y0], float)
                crop_box = (x0, y0, x1, y1)
            else:
                crop_box = None
        else:
            crop_box = None
        if result.pose_landmarks is None:
            raise InputRejected(NO_PERSON, code="no_person")

        cw = (crop_box[2] - crop_box[0]) if crop_box else w
        ch = (crop_box[3] - crop_box[1]) if crop_box else h
        lm = np.array([[p.x * cw + offset[0], p.y * ch + offset[1], p.z * cw, p.visibility]
                       for p in result.pose_landmarks.landmark], np.float32)
        world = None
        if result.pose_world_landmarks is not None:
            world = np.array([[p.x, p.y, p.z, p.visibility] for p in result.pose_world_landmarks.landmark], np.float32)

        seg = np.zeros((h, w), np.float32)
        if result.segmentation_mask is not None:
            m = result.segmentation_mask.astype(np.float32)
            if crop_box:
                seg[crop_box[1]:crop_box[3], crop_box[0]:crop_box[2]] = m
            else:
                seg = m
        person_mask = _keep_component_of(seg, lm)
        if float((person_mask > 0.5).mean()) < 0.002 or lm[[P.LEFT_SHOULDER, P.RIGHT_SHOULDER], 3].max() < 0.2:
            raise InputRejected(NO_PERSON, code="no_person")

        face_box = chosen_face if chosen_face is not None and _face_near_nose(chosen_face, lm) else None
        if face_box is None:
            face_box = _face_box_from_landmarks(lm)
        face_mask = _face_mask(face_box, (h, w))
        hair_mask = _hair_mask(image, person_mask, face_mask, face_box, lm)
        palms_mask, hands_mask = _hands_mask(lm, person_mask, (w, h))
        return PersonAnalysis(
            landmarks=lm,
            world_landmarks=world,
            person_mask=person_mask,
            face_mask=face_mask,
            hair_mask=hair_mask,
            hands_mask=hands_mask,
            size=(w, h),
            face_box=face_box,
            people_count=max(1, len(faces)),
            palms_mask=palms_mask,
        )


def _choose_face(faces: list[tuple[float, tuple[int, int, int, int]]], w: int, h: int) -> tuple[int, int, int, int] | None:
    """The largest, most central face: area weighted down by distance from the image centre."""
    best, best_score = None, -1.0
    diag = float(np.hypot(w, h))
    for _, (x, y, bw, bh) in faces:
        cx, cy = x + bw / 2, y + bh / 2
        centrality = 1.0 - np.hypot(cx - w / 2, cy - h / 2) / diag
        score = bw * bh * centrality**2
        if score > best_score:
            best, best_score = (x, y, bw, bh), score
    return best


def _face_near_nose(face: tuple[int, int, int, int], lm: np.ndarray) -> bool:
    x, y, bw, bh = face
    nx, ny = lm[P.NOSE, :2]
    return bool(x - 0.5 * bw <= nx <= x + 1.5 * bw and y - 0.5 * bh <= ny <= y + 1.5 * bh)


def _pose_matches_face(result: Any, face: tuple[int, int, int, int], w: int, h: int) -> bool:
    if result.pose_landmarks is None:
        return False
    nose = result.pose_landmarks.landmark[0]
    return _face_near_nose(face, np.array([[nose.x * w, nose.y * h, 0, 1]], np.float32))


def _crop_around_face(face: tuple[int, int, int, int], w: int, h: int) -> tuple[int, int, int, int]:
    x, y, bw, bh = face
    cx = x + bw / 2
    x0 = int(max(0, cx - 3.5 * bw))
    x1 = int(min(w, cx + 3.5 * bw))
    y0 = int(max(0, y - 1.0 * bh))
    y1 = h
    return x0, y0, x1, y1


def _keep_component_of(seg: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Keep the connected parts of the segmentation that touch the chosen person's torso, so a
    second person in the photo is never dressed (or counted as background)."""
    binary = (seg > 0.5).astype(np.uint8)
    n, labels = cv2.connectedComponents(binary, connectivity=8)
    if n <= 2:
        return seg
    h, w = seg.shape
    keep = np.zeros(n, bool)
    for idx in (P.NOSE, P.LEFT_SHOULDER, P.RIGHT_SHOULDER, P.LEFT_HIP, P.RIGHT_HIP):
        x, y = int(round(lm[idx, 0])), int(round(lm[idx, 1]))
        if 0 <= x < w and 0 <= y < h and labels[y, x] > 0:
            keep[labels[y, x]] = True
    mid = ((lm[P.LEFT_SHOULDER, :2] + lm[P.RIGHT_SHOULDER, :2]) / 2).astype(int)
    if 0 <= mid[0] < w and 0 <= mid[1] < h and labels[mid[1], mid[0]] > 0:
        keep[labels[mid[1], mid[0]]] = True
    if not keep.any():
        return seg
    keep[0] = False
    # soft edges survive: zero only what lies well inside the dropped components
    dropped = ~keep[labels] & (labels > 0)
    dropped = cv2.dilate(dropped.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    out = seg.copy()
    out[dropped & ~keep[labels]] = 0.0
    return out


def _face_box_from_landmarks(lm: np.ndarray) -> tuple[int, int, int, int]:
    """A face box from the pose's face points when the face detector found nothing (profile
    views, small faces)."""
    pts = lm[[P.NOSE, P.LEFT_EYE, P.RIGHT_EYE, P.LEFT_EAR, P.RIGHT_EAR, P.MOUTH_LEFT, P.MOUTH_RIGHT], :2]
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    bw = max(x1 - x0, 1.0)
    return int(x0), int(y0 - 0.6 * bw), int(bw), int(1.4 * bw)


def _face_mask(face_box: tuple[int, int, int, int], shape: tuple[int, int]) -> np.ndarray:
    """An ellipse a little larger than the detector's box, reaching under the chin: the
    detector's box stops at the mouth-chin line and a garment collar must never cover the chin."""
    x, y, bw, bh = face_box
    mask = np.zeros(shape, np.uint8)
    centre = (int(x + bw / 2), int(y + bh * 0.5))
    axes = (max(1, int(bw * 0.56)), max(1, int(bh * 0.68)))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, (1,), -1)
    return mask.astype(bool)


def _hair_mask(image: np.ndarray, person: np.ndarray, face: np.ndarray,
               face_box: tuple[int, int, int, int], lm: np.ndarray) -> np.ndarray:
    """Hair, found by colour: sample the person's pixels just above the face box (the top of the
    head), then grow that colour through the person mask down to a little below the shoulders.
    MediaPipe's segmentation has no hair class, so this is a colour model; it gives up on the part
    below the shoulders when that would swallow the torso (dark hair over a dark top)."""
    h, w = person.shape
    x, y, bw, bh = face_box
    sw = float(np.linalg.norm(lm[P.LEFT_SHOULDER, :2] - lm[P.RIGHT_SHOULDER, :2])) or float(bw * 2)
    inside = person > 0.5
    y0 = max(0, int(y - 0.45 * bh))
    y1 = max(0, int(y + 0.1 * bh))
    x0, x1 = max(0, int(x + 0.1 * bw)), min(w, int(x + 0.9 * bw))
    if y1 <= y0 or x1 <= x0:
        return np.zeros((h, w), bool)
    sample_mask = inside[y0:y1, x0:x1] & ~face[y0:y1, x0:x1]
    if sample_mask.sum() < 30:
        return np.zeros((h, w), bool)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    sample = lab[y0:y1, x0:x1][sample_mask]
    mean = sample.mean(0)
    spread = np.maximum(sample.std(0), (6.0, 4.0, 4.0))
    shoulder_y = float(min(lm[P.LEFT_SHOULDER, 1], lm[P.RIGHT_SHOULDER, 1]))
    limit = int(min(h, shoulder_y + 0.6 * sw))
    dist = np.abs((lab[:limit] - mean) / spread).max(-1)
    cand = np.zeros((h, w), bool)
    cand[:limit] = (dist < 2.5) & inside[:limit]
    cand &= ~face
    n, labels = cv2.connectedComponents(cand.astype(np.uint8), connectivity=8)
    if n <= 1:
        return cand
    seeds = np.unique(labels[y0:y1, x0:x1][sample_mask & cand[y0:y1, x0:x1]])
    hair = np.isin(labels, seeds[seeds > 0])
    # below the shoulder line, hair is only believable as narrow strands near the head
    below = hair.copy()
    below[: int(shoulder_y)] = False
    cx = float(lm[P.NOSE, 0])
    band = np.zeros((h, w), bool)
    band[int(shoulder_y):limit, max(0, int(cx - 0.6 * sw)):min(w, int(cx + 0.6 * sw))] = True
    torso_band = band & inside
    if torso_band.any() and (below & torso_band).sum() > 0.25 * torso_band.sum():
        hair[int(shoulder_y):] = False
    return hair


def _hands_mask(lm: np.ndarray, person: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Hands (the hull of wrist, thumb, index and pinky, widened), and hands with forearms (a
    capsule from elbow to wrist added), inside the person mask. These stay in front of a
    garment: the hands always, the forearms in front of a garment's body (not of its sleeves)."""
    w, h = size
    sw = float(np.linalg.norm(lm[P.LEFT_SHOULDER, :2] - lm[P.RIGHT_SHOULDER, :2]))
    mask = np.zeros((h, w), np.uint8)
    palms = np.zeros((h, w), np.uint8)
    for wrist, pinky, index, thumb, elbow in (
        (P.LEFT_WRIST, P.LEFT_PINKY, P.LEFT_INDEX, P.LEFT_THUMB, P.LEFT_ELBOW),
        (P.RIGHT_WRIST, P.RIGHT_PINKY, P.RIGHT_INDEX, P.RIGHT_THUMB, P.RIGHT_ELBOW),
    ):
        if lm[wrist, 3] < VISIBLE:
            continue
        pts = lm[[wrist, pinky, index, thumb], :2]
        centre = pts.mean(0)
        # MediaPipe's finger points stop at the knuckles: push them out to cover the fingers
        pts = np.vstack([pts, centre + (pts - centre) * 1.8]).astype(np.int32)
        hull = cv2.convexHull(pts).astype(np.int32)
        cv2.fillConvexPoly(mask, hull, (1,))
        cv2.fillConvexPoly(palms, hull, (1,))
        thick = max(2, int(0.2 * sw))
        if lm[elbow, 3] >= VISIBLE:
            e = lm[elbow, :2]
            wr = lm[wrist, :2]
            # only the lower two thirds of the forearm: the elbow end is under a long sleeve
            start = e + (wr - e) * 0.35
            cv2.line(mask, (int(start[0]), int(start[1])), (int(wr[0]), int(wr[1])), (1,), thick)
    inside = person > 0.35
    return palms.astype(bool) & inside, mask.astype(bool) & inside
