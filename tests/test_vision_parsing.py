"""The clothing parser: labels on drawn people whose clothes are known, and on the real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.dressed import dressed_person
from tryon_server.engines.classic import fit_long_side
from tryon_server.vision.parsing import DRESS, FACE, LOWER, SKIN, UPPER, parse_person
from tryon_server.vision.person import P, PersonAnalyzer

FIXTURES = Path(__file__).parent / "fixtures"


def share(labels: np.ndarray, truth: np.ndarray, label: int) -> float:
    """Of the true pixels, the share given `label`."""
    return float((labels[truth] == label).mean())


@pytest.mark.parametrize("sleeves", ["none", "short", "long"])
def test_top_trousers_and_skin_are_told_apart(sleeves):
    d = dressed_person(sleeves=sleeves)
    parse = parse_person(np.asarray(d.photo), d.analysis)
    assert share(parse.labels, d.masks["top"], UPPER) > 0.95
    assert share(parse.labels, d.masks["bottom"], LOWER) > 0.9
    assert share(parse.labels, d.masks["skin"], SKIN) > 0.75
    assert share(parse.labels, d.masks["face"], FACE) > 0.95
    # nothing of the top is called trousers or skin, nothing of the trousers a top
    assert share(parse.labels, d.masks["top"], LOWER) < 0.01
    assert share(parse.labels, d.masks["bottom"], UPPER) < 0.01
    assert share(parse.labels, d.masks["top"], SKIN) < 0.03


def test_one_cloth_from_chest_to_shins_is_a_dress_and_each_category_takes_its_half():
    d = dressed_person(dress_to=0.8)
    parse = parse_person(np.asarray(d.photo), d.analysis)
    assert share(parse.labels, d.masks["top"], DRESS) > 0.95
    hip_y = int(d.analysis.landmarks[P.LEFT_HIP, 1])
    upper, lower, dress = (parse.replace_area(c) for c in ("upper", "lower", "dress"))
    top = d.masks["top"]
    assert (upper & top)[:hip_y].sum() > 0.95 * top[:hip_y].sum() and not (upper & top)[hip_y + 5:].any()
    assert (lower & top)[hip_y:].sum() > 0.95 * top[hip_y:].sum() and not (lower & top)[: hip_y - 5].any()
    assert (dress & top).sum() > 0.95 * top.sum()


def test_the_replace_area_is_the_old_garment_of_the_category_only():
    d = dressed_person(sleeves="long")
    parse = parse_person(np.asarray(d.photo), d.analysis)
    upper = parse.replace_area("upper")
    assert (upper & d.masks["top"]).sum() > 0.95 * d.masks["top"].sum()
    assert (upper & (d.masks["bottom"] | d.masks["face"])).sum() < 0.01 * d.masks["bottom"].sum()
    # the body under the clothes covers the top, and not the wall far from it
    assert (parse.body & d.masks["top"]).sum() > 0.9 * d.masks["top"].sum()
    assert not parse.body[:, :100].any()


@pytest.mark.parametrize("name", ["astronaut.png", "grace_hopper.jpg"])
def test_real_photos_the_old_top_is_found_and_the_face_kept(name):
    analyzer = PersonAnalyzer()
    image = np.asarray(fit_long_side(Image.open(FIXTURES / name).convert("RGB"), 768))
    an = analyzer.analyze(image)
    parse = parse_person(image, an)
    mid = (an.point(P.LEFT_SHOULDER) + an.point(P.RIGHT_SHOULDER)) / 2
    chest = (mid + np.array([0, 0.5 * an.shoulder_width])).astype(int)
    # the chest below the collar is the old top (a space suit, a navy jacket)
    patch = parse.labels[chest[1] - 10: chest[1] + 10, chest[0] - 10: chest[0] + 10]
    assert np.isin(patch, (UPPER, DRESS)).mean() > 0.9
    upper = parse.replace_area("upper")
    assert not (upper & an.face_mask).any()
    assert share(parse.labels, an.face_mask, FACE) > 0.95


def test_with_no_face_to_learn_from_the_fallback_skin_is_a_skin_tone():
    # a back view or a tiny face: the fallback was built with lightness 0 and came out black,
    # which painted a bare torso near black
    d = dressed_person()
    d.analysis.face_mask = np.zeros_like(d.analysis.face_mask)
    parse = parse_person(np.asarray(d.photo), d.analysis)
    r, g, b = parse.skin_rgb
    assert r > 140 and r > g > b


def test_repainting_never_touches_the_face_even_when_asked_to():
    from tryon_server.vision.compose import remove_garment

    d = dressed_person()
    photo = np.asarray(d.photo)
    parse = parse_person(photo, d.analysis)
    everything = np.ones(d.analysis.face_mask.shape, bool)
    out = remove_garment(photo, parse, everything, d.analysis.person_mask, d.analysis.shoulder_width)
    assert np.array_equal(out[d.masks["face"]], photo[d.masks["face"]])
    assert (out[d.masks["top"]] != photo[d.masks["top"]]).any()  # and it did repaint the rest
