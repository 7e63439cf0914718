"""The classic engine end to end on drawn people in known clothes: sleeves along the arms at the
garment's own length, none of the old clothes left, hands in front.

The figure's analysis is put in the engine's cache (MediaPipe does not see a drawn figure), so
everything after person analysis runs exactly as for a photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.bodies import SKIN
from tests.dressed import Dressed, draw_long_sleeved_top, draw_short_dress, draw_white_tee, dressed_person
from tests.garments import TOP_NAVY, TOP_RED, draw_top
from tryon_server.engines.base import TryOnJob
from tryon_server.engines.classic import ClassicEngine
from tryon_server.vision.person import P

OLD_TOP = (40, 150, 60)  # dressed_person's default top: green
OLD_TROUSERS = (60, 60, 150)


@pytest.fixture(scope="module")
def engine() -> ClassicEngine:
    e = ClassicEngine()
    e.load()
    return e


def try_on(engine: ClassicEngine, d: Dressed, garment, category: str, key: str) -> np.ndarray:
    w, h = d.analysis.size
    engine.analyzer._cache[(key, w, h)] = d.analysis
    out = engine.run(TryOnJob(person=d.photo, garment=garment, category=category, person_key=key,
                              options={"output_size": max(w, h)}), lambda stage, p: None)
    return np.asarray(out).astype(int)


def near(rgb: np.ndarray, colour: tuple[int, int, int], tol: float = 40.0) -> np.ndarray:
    return np.linalg.norm(rgb - np.array(colour), axis=-1) < tol


def on_arm(d: Dressed, start: int, end: int, frac: float) -> tuple[int, int]:
    p = d.analysis.landmarks[start, :2] + frac * (d.analysis.landmarks[end, :2] - d.analysis.landmarks[start, :2])
    return int(p[0]), int(p[1])


def patch(rgb: np.ndarray, xy: tuple[int, int], r: int = 4) -> np.ndarray:
    x, y = xy
    return rgb[y - r: y + r + 1, x - r: x + r + 1].reshape(-1, 3)


def test_long_sleeves_run_down_both_arms_to_the_wrists(engine):
    d = dressed_person(sleeves="none")  # bare arms: every sleeve pixel is new
    out = try_on(engine, d, draw_long_sleeved_top(), "upper", "bare-arms")
    green, orange = near(out, (30, 140, 70), 60), near(out, (240, 140, 30), 60)
    for shoulder, elbow, wrist in ((P.LEFT_SHOULDER, P.LEFT_ELBOW, P.LEFT_WRIST),
                                   (P.RIGHT_SHOULDER, P.RIGHT_ELBOW, P.RIGHT_WRIST)):
        for start, end, frac in ((shoulder, elbow, 0.5), (elbow, wrist, 0.3), (elbow, wrist, 0.7)):
            x, y = on_arm(d, start, end, frac)
            assert (green | orange)[y - 4: y + 5, x - 4: x + 5].mean() > 0.8, (start, end, frac)


def test_short_sleeves_end_above_the_elbow_and_the_old_long_sleeves_become_arms(engine):
    d = dressed_person(sleeves="long")  # an old green top with long sleeves
    out = try_on(engine, d, draw_top(), "upper", "long-old")
    new = near(out, TOP_RED) | near(out, TOP_NAVY)
    for shoulder, elbow, wrist in ((P.LEFT_SHOULDER, P.LEFT_ELBOW, P.LEFT_WRIST),
                                   (P.RIGHT_SHOULDER, P.RIGHT_ELBOW, P.RIGHT_WRIST)):
        x, y = on_arm(d, shoulder, elbow, 0.25)
        assert new[y - 3: y + 4, x - 3: x + 4].mean() > 0.8  # the sleeve is on the upper arm
        for frac in (0.3, 0.6):
            x, y = on_arm(d, elbow, wrist, frac)
            skin = patch(out, (x, y))
            # the forearm is bare skin now: no red sleeve, no old green
            assert np.linalg.norm(skin - np.array(SKIN), axis=1).mean() < 35, (frac, skin.mean(0))
    # and no old green anywhere on the person
    assert near(out, OLD_TOP, 30)[d.analysis.person_mask > 0.5].mean() < 0.002


def test_a_white_tee_replaces_a_green_top_with_no_green_left(engine):
    d = dressed_person(sleeves="short")
    out = try_on(engine, d, draw_white_tee(), "upper", "white-tee")
    body = d.analysis.person_mask > 0.5
    assert near(out, OLD_TOP, 30)[body].mean() < 0.002
    chest = d.analysis.landmarks[[P.LEFT_SHOULDER, P.RIGHT_SHOULDER], :2].mean(0) + (0, 120)
    # white on the chest, as white as the photo's own light makes it (the wall is 232, 228, 220)
    assert patch(out, (int(chest[0]), int(chest[1])), 8).mean(0).min() > 200
    # the trousers are kept below the tee's hem (an untucked tee covers their waistband)
    knees = int(d.analysis.landmarks[P.LEFT_KNEE, 1])
    legs = d.masks["bottom"].copy()
    legs[:knees] = False
    assert near(out, OLD_TROUSERS, 20)[legs].mean() > 0.98


def test_a_dress_shorter_than_the_old_dress_shows_legs_below_its_hem(engine):
    d = dressed_person(sleeves="short", dress_to=0.9)  # an old green dress to the ankles
    out = try_on(engine, d, draw_short_dress(), "dress", "long-dress")
    body = d.analysis.person_mask > 0.5
    assert near(out, OLD_TOP, 30)[body].mean() < 0.002
    # the shins: skin now, where the old dress was
    knee, ankle = P.LEFT_KNEE, P.LEFT_ANKLE
    x, y = on_arm(d, knee, ankle, 0.6)
    assert np.linalg.norm(patch(out, (x, y)) - np.array(SKIN), axis=1).mean() < 35
    # and the new dress is on the hips
    hips = d.analysis.landmarks[[P.LEFT_HIP, P.RIGHT_HIP], :2].mean(0).astype(int)
    assert near(out, (235, 120, 20), 50)[hips[1] - 5: hips[1] + 5, hips[0] - 5: hips[0] + 5].mean() > 0.9


def test_hands_stay_in_front_and_unchanged(engine):
    d = dressed_person(sleeves="none")
    before = np.asarray(d.photo).astype(int)
    out = try_on(engine, d, draw_long_sleeved_top(), "upper", "hands")
    # inside the hands (their soft edge blends a pixel or two with the cuff)
    palms = cv2.erode(d.analysis.hands_mask.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    assert palms.sum() > 150
    assert np.abs(out - before)[palms].max(-1).max() <= 2
