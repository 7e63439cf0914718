"""Garment warp geometry, on the drawn standing figure of tests/bodies.py (known landmarks)."""

from __future__ import annotations

import numpy as np

from tests.bodies import standing_person
from tests.garments import draw_dress, draw_top, draw_trousers
from tryon_server.vision.garment import cut_out
from tryon_server.vision.person import P
from tryon_server.vision.warp import garment_targets, warp_garment


def _covered(warped, xy) -> bool:
    x, y = int(round(xy[0])), int(round(xy[1]))
    return bool(warped.alpha[y - 2:y + 3, x - 2:x + 3].max() > 0.5)


def test_top_shoulder_seams_land_on_the_shoulders_and_the_warp_passes_through_its_points():
    _, an = standing_person()
    cut = cut_out(draw_top(), "upper")
    warped = warp_garment(cut, an, "upper")
    d = dict(zip(warped.names, warped.dst_points))
    sw = an.shoulder_width
    # image left is the person's right shoulder
    assert np.linalg.norm(d["shoulder_l"] - an.point(P.RIGHT_SHOULDER)) < 0.4 * sw
    assert np.linalg.norm(d["shoulder_r"] - an.point(P.LEFT_SHOULDER)) < 0.4 * sw
    for name in ("shoulder_l", "shoulder_r", "armpit_l", "armpit_r", "neck"):
        assert _covered(warped, d[name] + [0, 6]), name  # just inside the garment edge
    # the garment covers the chest centre and nothing far outside the body
    chest = (an.point(P.LEFT_SHOULDER) + an.point(P.RIGHT_SHOULDER)) / 2 + [0, 0.6 * sw]
    assert _covered(warped, chest)
    assert warped.alpha[:, :100].max() < 0.5 and warped.alpha[:, -100:].max() < 0.5


def test_garment_size_follows_the_body_not_the_image():
    cut = cut_out(draw_top(), "upper")
    _, small = standing_person(600, 1000)
    _, large = standing_person(900, 1500)
    w_small = (warp_garment(cut, small, "upper").alpha > 0.5).sum()
    w_large = (warp_garment(cut, large, "upper").alpha > 0.5).sum()
    assert abs(w_large / w_small - 1.5**2) < 0.15 * 1.5**2  # area scales with the body


def test_full_length_trousers_reach_the_ankles_and_split_at_the_crotch():
    _, an = standing_person()
    cut = cut_out(draw_trousers(), "lower")
    names, src, dst = garment_targets(cut, an, "lower")
    d = dict(zip(names, dst))
    ankles_y = np.mean(an.landmarks[[P.LEFT_ANKLE, P.RIGHT_ANKLE], 1])
    hips_y = np.mean(an.landmarks[[P.LEFT_HIP, P.RIGHT_HIP], 1])
    assert abs(d["hem_l_out"][1] - ankles_y) < 40 and abs(d["hem_r_out"][1] - ankles_y) < 40
    assert d["waist_l"][1] < hips_y < d["crotch"][1]
    warped = warp_garment(cut, an, "lower")
    between_knees = (an.point(P.LEFT_KNEE) + an.point(P.RIGHT_KNEE)) / 2
    assert not _covered(warped, between_knees)  # two legs, not a skirt
    assert _covered(warped, an.point(P.LEFT_KNEE)) and _covered(warped, an.point(P.RIGHT_KNEE))


def test_dress_spans_shoulders_to_below_the_hips():
    _, an = standing_person()
    warped = warp_garment(cut_out(draw_dress(), "dress"), an, "dress")
    hips = (an.point(P.LEFT_HIP) + an.point(P.RIGHT_HIP)) / 2
    knees_y = np.mean(an.landmarks[[P.LEFT_KNEE, P.RIGHT_KNEE], 1])
    assert _covered(warped, hips) and _covered(warped, hips + [0, 0.5 * (knees_y - hips[1])])
    ys = np.nonzero(warped.alpha.max(1) > 0.5)[0]
    assert ys.min() < an.point(P.LEFT_SHOULDER)[1] and ys.max() > knees_y - 60


def _padded_shoulders(an, pad: int):
    """The figure in a padded jacket: its outline raised by `pad` px over both shoulders."""
    import dataclasses

    import cv2

    mask = (an.person_mask > 0.5).astype(np.uint8)
    right_sh, left_sh = an.point(P.RIGHT_SHOULDER), an.point(P.LEFT_SHOULDER)
    for joint in (right_sh, left_sh):  # no wider than the arm: the seams' places do not change
        cv2.rectangle(mask, (int(joint[0] - 18), int(joint[1] - 5 - pad)), (int(joint[0] + 18), int(joint[1] + 20)), 1, -1)
    return dataclasses.replace(an, person_mask=mask.astype(np.float32))


def _top_rows(warped, xs) -> np.ndarray:
    return np.array([int(np.argmax(warped.alpha[:, x] > 0.5)) for x in xs])


def test_top_edge_rises_to_padded_shoulders_and_the_rows_below_stay_put():
    # a flat lay's straight shoulder line under padded shoulders left a band of the old jacket
    # above the new top; its edge now reaches the outline, and the chest (with its stripes)
    # does not move
    _, plain = standing_person()
    padded = _padded_shoulders(plain, 28)
    cut = cut_out(draw_top(), "upper")
    before, after = warp_garment(cut, plain, "upper"), warp_garment(cut, padded, "upper")
    body = padded.person_mask > 0.5
    right_sh, left_sh = plain.point(P.RIGHT_SHOULDER), plain.point(P.LEFT_SHOULDER)
    over = [int(x) + dx for x in (right_sh[0], left_sh[0]) for dx in (-10, 0, 10)]  # over the joints
    outline = np.array([int(np.argmax(body[:, x])) for x in over])
    assert (_top_rows(before, over) - outline).min() > 0.04 * plain.shoulder_width  # the band the fix is about
    # the neckline's columns reach the outline; the seam's columns are where the sleeve's root is
    # laid over the shoulder along the arm, within 6 % of the shoulders of it
    off = np.abs(_top_rows(after, over) - outline)
    assert off[1:-1].max() <= 4
    assert off.max() <= 0.06 * plain.shoulder_width
    chest_row = int(right_sh[1] + 0.6 * plain.shoulder_width)
    # between the sleeves (which follow the padded seams)
    inner = slice(int(right_sh[0] + 0.2 * plain.shoulder_width), int(left_sh[0] - 0.2 * plain.shoulder_width))
    assert np.abs(after.rgb[chest_row, inner] - before.rgb[chest_row, inner]).max() < 1.0
    # the neckline is not pulled up the neck: it rises with the seams' midpoint (half of what the
    # padding raised them, 8 px of 28 here), no more
    centre = int((right_sh[0] + left_sh[0]) / 2)
    assert abs(_top_rows(after, [centre])[0] - _top_rows(before, [centre])[0]) < 0.06 * plain.shoulder_width
