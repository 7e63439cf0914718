"""Garment cut-out and key points on the drawn product photos of tests/garments.py."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.garments import BACKGROUND, draw_dress, draw_top, draw_trousers, garment_mask
from tryon_server.exceptions import InputRejected
from tryon_server.vision.garment import cut_out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _truth(name: str, shape: tuple[int, int]) -> np.ndarray:
    m = garment_mask(name).astype(np.uint8)
    return cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0


@pytest.mark.parametrize("name,draw,category", [("top", draw_top, "upper"), ("trousers", draw_trousers, "lower"),
                                                ("dress", draw_dress, "dress")])
def test_cutout_matches_the_drawn_outline(name, draw, category):
    cut = cut_out(draw(), category)
    mask = cut.alpha > 0.5
    assert cut.method == "colour"
    assert _iou(mask, _truth(name, mask.shape)) > 0.97


def test_top_key_points_sit_on_the_drawn_corners():
    cut = cut_out(draw_top(), "upper")
    k = cut.keypoints  # drawn at 600x720, under the 768 limit: same pixels
    expect = {"neck_l": (240, 60), "neck_r": (360, 60), "neck": (300, 105), "shoulder_l": (175, 80),
              "shoulder_r": (425, 80), "armpit_l": (178, 215), "armpit_r": (422, 215),
              "hem_l": (172, 660), "hem_r": (428, 660)}
    for name, (x, y) in expect.items():
        assert np.hypot(k[name][0] - x, k[name][1] - y) < 15, (name, k[name])
    # the sleeves end at the drawn cuffs, (55,205)-(115,262) and mirrored
    for side, cuff in (("l", (85, 233)), ("r", (515, 233))):
        sleeve = cut.parts.sleeves[side]
        end = sleeve.root + sleeve.length * sleeve.axis
        assert np.hypot(*(end - cuff)) < 20, (side, end)
        # the drawn sleeve tapers from its seam (139 px) to its cuff (83 px): its middle between
        assert np.hypot(60, 57) < sleeve.width < 139


def test_trouser_key_points_find_waist_crotch_and_both_leg_hems():
    cut = cut_out(draw_trousers(), "lower")
    k = cut.keypoints
    scale = cut.alpha.shape[0] / 800  # drawn at 800 px high, analysed at 768
    assert "crotch" in k
    assert abs(k["crotch"][0] - 250 * scale) < 12 and 280 * scale < k["crotch"][1] < 360 * scale
    assert abs(k["waist_l"][0] - 130 * scale) < 10 and abs(k["waist_r"][0] - 370 * scale) < 10
    assert k["hem_l_out"][0] < k["hem_l_in"][0] < k["crotch"][0] < k["hem_r_in"][0] < k["hem_r_out"][0]
    assert k["hem_l_out"][1] > 700 * scale


def test_sleeveless_dress_has_no_sleeves_and_a_waist_between_armpits_and_hem():
    cut = cut_out(draw_dress(), "dress")
    k = cut.keypoints
    assert cut.parts is not None and not cut.parts.sleeves
    assert k["armpit_l"][1] < k["waist_l"][1] < k["hem_l"][1]
    assert k["waist_r"][0] - k["waist_l"][0] < k["hem_r"][0] - k["hem_l"][0]


def test_transparent_png_cutout_uses_its_alpha():
    rgb = np.asarray(draw_top())
    alpha = (garment_mask("top") * 255).astype(np.uint8)
    rgba = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    cut = cut_out(rgba, "upper")
    assert cut.method == "alpha"
    assert _iou(cut.alpha > 0.5, garment_mask("top")) > 0.99


def test_empty_product_photo_is_refused_as_unreadable():
    blank = Image.new("RGB", (400, 500), (245, 245, 245))
    with pytest.raises(InputRejected) as err:
        cut_out(blank, "upper")
    assert err.value.code == "garment_unreadable"
    assert "garment" in err.value.message


def test_cutout_edge_carries_the_garment_colour_not_the_backdrop():
    # the warp interpolates colours across the alpha edge: a backdrop-coloured rim showed as a
    # pale outline wherever the garment ended on the body (the notch under a sleeve, a neckline)
    cut = cut_out(draw_top(), "upper")
    rim = (cut.alpha > 0.02) & (cut.alpha < 0.98)
    assert rim.sum() > 1000
    to_backdrop = np.linalg.norm(cut.rgb[rim].astype(float) - np.array(BACKGROUND, float), axis=1)
    assert np.percentile(to_backdrop, 2) > 150  # red or navy, never near-white
    # and inside, the photo's own pixels are kept (all but a few at sharp corners)
    inner = cut.alpha > 0.999
    kept = (cut.rgb == np.asarray(draw_top())).all(-1)[inner]
    assert kept.mean() > 0.995


# --- parts and light garments -------------------------------------------------------------------


def test_white_tee_on_a_white_backdrop_is_cut_out_whole():
    # 3-10 Lab units from the backdrop: the landed tolerance (8 units at least) lost both sleeves
    from tests.dressed import draw_white_tee, true_mask

    g = draw_white_tee()
    cut = cut_out(g, "upper")
    m, t = cut.alpha > 0.5, true_mask("white_tee", g.size)
    assert (m & t).sum() / (m | t).sum() > 0.97


@pytest.mark.parametrize("which,expected", [("top", "short"), ("long", "long"), ("dress", "none"),
                                            ("short_dress", "none")])
def test_sleeve_length_is_read_off_the_flat_lay(which, expected):
    from tests.dressed import draw_long_sleeved_top, draw_short_dress

    garment, category = {"top": (draw_top(), "upper"), "long": (draw_long_sleeved_top(), "upper"),
                         "dress": (draw_dress(), "dress"), "short_dress": (draw_short_dress(), "dress")}[which]
    cut = cut_out(garment, category)
    assert cut.parts is not None
    assert cut.parts.sleeve_length == expected
    assert sorted(cut.parts.sleeves) == ([] if expected == "none" else ["l", "r"])


def test_the_drawn_tee_splits_into_body_and_two_sleeves_at_its_seams():
    from tryon_server.vision.garment import BODY, SLEEVE_L, SLEEVE_R

    cut = cut_out(draw_top(), "upper")
    labels = cut.parts.labels
    # the drawn sleeves: beyond the seams x=178 (left) and x=422 (right), above y=262
    cloth = garment_mask("top")
    left, right = np.zeros_like(cloth), np.zeros_like(cloth)
    left[150:230, 60:160], right[150:230, 440:540] = True, True
    assert (labels[cloth & left] == SLEEVE_L).mean() > 0.97
    assert (labels[cloth & right] == SLEEVE_R).mean() > 0.97
    assert (labels[300:600, 200:400] == BODY).mean() > 0.99
    # each sleeve points down and out from its seam, about its drawn length (~1/3 of the span)
    left, right = cut.parts.sleeves["l"], cut.parts.sleeves["r"]
    assert left.axis[0] < 0 < right.axis[0] and left.axis[1] > 0 and right.axis[1] > 0
    for sleeve in (left, right):
        assert 0.2 < sleeve.length / cut.parts.span < 0.6


def test_long_sleeves_lying_beside_the_body_are_sleeves_not_body():
    from tests.dressed import draw_long_sleeved_top
    from tryon_server.vision.garment import SLEEVE_L, SLEEVE_R

    cut = cut_out(draw_long_sleeved_top(), "upper")
    labels = cut.parts.labels
    # the lower ends of the drawn sleeves (x ~ 60-130 and 470-540 near y = 540)
    assert (labels[520:550, 75:115] == SLEEVE_L).mean() > 0.9
    assert (labels[520:550, 485:525] == SLEEVE_R).mean() > 0.9
    assert cut.parts.sleeves["l"].length > 0.9 * cut.parts.span


@pytest.mark.parametrize("category", ["upper", "dress", "lower"])
def test_any_garment_shaped_blob_is_warped_or_refused_never_crashes(category):
    # odd product photos (a short wide piece, a blob, a shape with a bar across it) once ran the
    # key-point rules off the garment's rows into NaN: 11 of 900 such shapes crashed
    from tests.bodies import standing_person
    from tryon_server.vision.warp import warp_garment

    _, an = standing_person()
    rng = np.random.default_rng(7)
    warped = 0
    for _ in range(40):
        h, w = int(rng.integers(200, 700)), int(rng.integers(200, 700))
        img = np.full((h, w, 3), int(rng.integers(200, 256)), np.uint8)
        n = int(rng.integers(3, 14))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(0.1, 0.48, n) * min(w, h)
        pts = np.stack([w / 2 + rad * np.cos(ang), h / 2 + rad * np.sin(ang)], 1).astype(np.int32)
        colour = tuple(int(v) for v in rng.integers(0, 200, 3))
        cv2.fillPoly(img, [pts], colour)
        if rng.random() < 0.3:
            cv2.rectangle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))),
                          (int(rng.integers(0, w)), int(rng.integers(0, h))), colour, -1)
        try:
            cut = cut_out(Image.fromarray(img), category)
        except InputRejected:
            continue
        out = warp_garment(cut, an, category)
        assert np.isfinite(out.rgb).all() and np.isfinite(out.alpha).all()
        warped += 1
    assert warped > 25
