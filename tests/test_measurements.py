"""Body measurements and sizes (tryon_server.measurements).

No public-domain full-body photo ships in a PyPI or Debian package we could find: the real
fixture photos (waist-up) test the refusal, and the drawn standing figure of tests/bodies.py
(exact landmarks and mask) tests the geometry, its stability and the other refusals.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.bodies import standing_person
from tryon_server.exceptions import InputRejected
from tryon_server.measurements import PLAUSIBLE, estimate_body, pick_sizes, size_chart, size_for
from tryon_server.vision.person import P, PersonAnalysis, PersonAnalyzer

FIXTURES = Path(__file__).parent / "fixtures"
_PAIRS = [(1, 4), (2, 5), (3, 6), (7, 8), (9, 10)] + [(i, i + 1) for i in range(11, 33, 2)]


def mirrored(an: PersonAnalysis) -> PersonAnalysis:
    """The analysis of the mirrored photo: x flipped, and left/right swapped as MediaPipe
    labels sides anatomically from what it sees."""
    w, _ = an.size
    lm = an.landmarks.copy()
    lm[:, 0] = w - 1 - lm[:, 0]
    for a, b in _PAIRS:
        lm[[a, b]] = lm[[b, a]]
    world = an.world_landmarks.copy()
    world[:, 0] = -world[:, 0]
    for a, b in _PAIRS:
        world[[a, b]] = world[[b, a]]
    x, y, bw, bh = an.face_box
    return dataclasses.replace(
        an, landmarks=lm, world_landmarks=world, person_mask=an.person_mask[:, ::-1].copy(),
        face_mask=an.face_mask[:, ::-1].copy(), hair_mask=an.hair_mask[:, ::-1].copy(),
        hands_mask=an.hands_mask[:, ::-1].copy(), face_box=(w - x - bw, y, bw, bh))


def values(result: dict) -> dict[str, float]:
    return {k: v["value_cm"] for k, v in result["measurements"].items()}


def test_drawn_figure_gives_every_measurement_in_a_plausible_adult_range():
    _, an = standing_person()
    result = estimate_body(an, 175)
    assert set(result["measurements"]) == set(PLAUSIBLE)
    for name, (lo, hi) in PLAUSIBLE.items():
        entry = result["measurements"][name]
        assert lo < entry["value_cm"] < hi, name  # strictly inside: not a clamped value
        assert 0.0 < entry["confidence"] <= 1.0
    # the contract's single size is the top size; both garments carry what decided them
    assert result["size"] == result["sizes"]["top"]["size"] in size_chart()["sizes"]
    assert result["sizes"]["top"]["decided_by"] == "chest"
    assert result["sizes"]["bottom"]["decided_by"] in ("waist", "hip")
    assert 0.0 < result["confidence"] <= 1.0
    # body proportions: inseam ~0.45 of height, arm ~0.3, torso ~0.3
    v = values(result)
    assert 0.38 < v["inseam"] / 175 < 0.55 and 0.25 < v["arm_length"] / 175 < 0.4


@pytest.mark.parametrize("size", [(450, 750), (900, 1500), (1200, 2000)])
def test_measurements_are_stable_when_the_photo_is_resized(size):
    base = values(estimate_body(standing_person()[1], 175))
    other = values(estimate_body(standing_person(*size)[1], 175))
    for name in base:
        assert other[name] == pytest.approx(base[name], rel=0.05), name


def test_measurements_are_stable_when_the_photo_is_mirrored():
    _, an = standing_person()
    base = values(estimate_body(an, 175))
    flipped = values(estimate_body(mirrored(an), 175))
    for name in base:
        assert flipped[name] == pytest.approx(base[name], rel=0.05), name


def test_measurements_scale_with_the_height_given():
    _, an = standing_person()
    tall, short = values(estimate_body(an, 190)), values(estimate_body(an, 152))
    for name in tall:
        assert tall[name] / short[name] == pytest.approx(190 / 152, rel=0.02), name


@pytest.mark.parametrize("photo", ["astronaut.png", "grace_hopper.jpg"])
def test_waist_up_photo_is_refused_as_not_full_body(photo):
    analyzer = PersonAnalyzer()
    analyzer.load()
    an = analyzer.analyze(np.asarray(Image.open(FIXTURES / photo).convert("RGB")))
    with pytest.raises(InputRejected) as err:
        estimate_body(an, 170)
    assert err.value.code == "not_full_body"
    assert "whole body" in err.value.message and "feet" in err.value.message


def test_feet_cut_off_by_the_frame_is_refused_as_not_full_body():
    _, an = standing_person()
    cropped = dataclasses.replace(an, size=(600, 850), person_mask=an.person_mask[:850],
                                  face_mask=an.face_mask[:850], hair_mask=an.hair_mask[:850],
                                  hands_mask=an.hands_mask[:850])
    with pytest.raises(InputRejected) as err:
        estimate_body(cropped, 170)
    assert err.value.code == "not_full_body"


def test_small_person_far_away_is_refused_with_step_closer():
    _, an = standing_person()
    pad = lambda m: np.pad(m, ((0, 1400), (0, 1400)))  # noqa: E731 - the figure in a 2000x2400 frame
    small = dataclasses.replace(an, size=(2000, 2400), person_mask=pad(an.person_mask), face_mask=pad(an.face_mask),
                                hair_mask=pad(an.hair_mask), hands_mask=pad(an.hands_mask))
    with pytest.raises(InputRejected) as err:
        estimate_body(small, 170)
    assert err.value.code == "person_too_small" and "closer" in err.value.message


def test_sitting_person_is_refused_with_stand_up():
    _, an = standing_person()
    lm = an.landmarks.copy()
    # seated facing the camera: thighs point at the lens (short in the photo), shins hang
    lm[[P.LEFT_KNEE, P.RIGHT_KNEE], 1] = lm[[P.LEFT_HIP, P.RIGHT_HIP], 1] + 40
    with pytest.raises(InputRejected) as err:
        estimate_body(dataclasses.replace(an, landmarks=lm), 170)
    assert err.value.code == "sitting" and "stand" in err.value.message


def test_several_people_are_refused():
    _, an = standing_person()
    with pytest.raises(InputRejected) as err:
        estimate_body(dataclasses.replace(an, people_count=2), 170)
    assert err.value.code == "several_people" and "only you" in err.value.message


def test_height_outside_human_range_is_refused():
    _, an = standing_person()
    with pytest.raises(InputRejected) as err:
        estimate_body(an, 20)
    assert err.value.code == "bad_height"


# --- the size chart ---------------------------------------------------------------------------


def test_size_chart_names_its_standard_and_has_xs_to_xxl_without_gaps():
    chart = size_chart()
    assert "EN 13402" in chart["standard"]
    assert chart["sizes"] == ["XS", "S", "M", "L", "XL", "XXL"]
    for garment in ("top", "bottom"):
        for column in chart[garment].values():
            bounds = [column[s] for s in chart["sizes"]]
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))  # contiguous
            assert all(lo < hi for lo, hi in bounds)


@pytest.mark.parametrize("chest,expected", [(85.99, ("XS", True)), (86.0, ("S", True)), (93.9, ("S", True)),
                                            (94.0, ("M", True)), (118.0, ("XXL", True)), (128.9, ("XXL", True)),
                                            (129.0, ("XXL", False)), (77.9, ("XS", False)), (78.0, ("XS", True))])
def test_chest_boundaries_belong_to_the_larger_size(chest, expected):
    assert size_for(size_chart()["top"]["chest"], chest) == expected


def test_bottom_size_is_the_larger_of_waist_and_hip_and_says_which():
    sizes = pick_sizes({"chest": 95.0, "waist": 80.0, "hip": 100.0})
    assert sizes["top"] == {"size": "M", "decided_by": "chest", "in_range": True}
    assert sizes["bottom"] == {"size": "M", "decided_by": "hip", "in_range": True}  # waist says S
    sizes = pick_sizes({"chest": 95.0, "waist": 90.0, "hip": 95.0})
    assert sizes["bottom"]["size"] == "L" and sizes["bottom"]["decided_by"] == "waist"
