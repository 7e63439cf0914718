"""The garment region (the diffusion engine's inpainting mask) on the drawn figure."""

from __future__ import annotations

from tests.bodies import standing_person
from tryon_server.vision.person import P
from tryon_server.vision.regions import garment_region_mask


def _at(mask, xy) -> bool:
    return bool(mask[int(xy[1]), int(xy[0])])


def test_upper_region_covers_the_torso_and_never_face_or_hands():
    _, an = standing_person()
    region = garment_region_mask(an, "upper")
    chest = (an.point(P.LEFT_SHOULDER) + an.point(P.RIGHT_SHOULDER)) / 2 + [0, 80]
    assert _at(region, chest)
    assert not (region & an.face_mask).any() and not (region & an.hands_mask).any()
    assert not _at(region, an.point(P.LEFT_KNEE))
    # it stays on the person, give or take the margin
    assert region[:, :120].sum() == 0 and region[:, -120:].sum() == 0


def test_lower_region_covers_both_legs_down_to_the_ankles_but_not_the_chest():
    _, an = standing_person()
    region = garment_region_mask(an, "lower")
    for idx in (P.LEFT_KNEE, P.RIGHT_KNEE, P.LEFT_HIP, P.RIGHT_HIP):
        assert _at(region, an.point(idx))
    assert _at(region, an.point(P.LEFT_ANKLE) - [0, 15])
    chest = (an.point(P.LEFT_SHOULDER) + an.point(P.RIGHT_SHOULDER)) / 2 + [0, 40]
    assert not _at(region, chest)


def test_dress_region_bridges_the_gap_between_the_legs():
    _, an = standing_person()
    between = (an.point(P.LEFT_KNEE) + an.point(P.RIGHT_KNEE)) / 2 - [0, 40]
    assert an.person_mask[int(between[1]), int(between[0])] == 0  # background in the photo
    assert _at(garment_region_mask(an, "dress"), between)
    assert not _at(garment_region_mask(an, "lower"), between)
