"""Body measurements and sizes (tryon_server.measurements) and the survey model behind them.

No public-domain full-body photo ships in a PyPI or Debian package we could find: the real
fixture photos (waist-up) test the refusal, and the drawn standing figure of tests/bodies.py
(exact landmarks and mask) tests the geometry, its stability and the other refusals. The fitted
survey model is checked against the reference predictions tools/fit_body_model.py wrote with an
independent least-squares fit, and, where the survey tables are on disk, against a fresh fit.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.bodies import standing_person
from tests.conftest import image_bytes, new_token
from tryon_server.api.body import parse_body_options
from tryon_server.exceptions import InputRejected, ValidationFailed
from tryon_server.measurements import (
    GIRTHS,
    LENGTHS,
    TARGETS,
    body_model,
    estimate_body,
    pick_sizes,
    size_chart,
    size_for,
)
from tryon_server.vision.person import P, PersonAnalysis, PersonAnalyzer

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parent.parent
ANSUR = ROOT.parent / "shared" / "data" / "ansur2"  # the survey tables, never copied into the project
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


def band(name: str, stature: float, group: str = "any") -> tuple[float, float]:
    """The survey's 1st-99th percentile band of a girth for people near this stature."""
    bands = body_model().spec["bands"]
    i = int(np.argmin([abs(s - stature) for s in bands["stature_cm"]]))
    return tuple(bands[group][name][i])


def steps_apart(result: dict) -> int:
    order = size_chart()["sizes"]
    return abs(order.index(result["sizes"]["top"]["size"]) - order.index(result["sizes"]["bottom"]["size"]))


@pytest.mark.parametrize("height", [152, 175, 192])
def test_drawn_figure_gets_human_girths_with_ranges_and_sizes_that_agree(height):
    image, an = standing_person()
    result = estimate_body(an, height, image=np.asarray(image))
    assert set(result["measurements"]) == set(TARGETS) | set(LENGTHS)
    for name, entry in result["measurements"].items():
        assert entry["low_cm"] < entry["value_cm"] < entry["high_cm"], name  # a range, not a point
        assert 0.0 < entry["confidence"] <= 1.0, name
    for name in GIRTHS:
        lo, hi = band(name, height)
        assert lo <= result["measurements"][name]["value_cm"] <= hi, (name, height)
    lo, hi = band("shoulder_width", height)
    assert lo <= result["measurements"]["shoulder_width"]["value_cm"] <= hi
    for name, (lo, hi) in LENGTHS.items():
        assert lo < result["measurements"][name]["value_cm"] < hi, name  # strictly inside: not clamped
    # the contract's single size is the top size; both garments carry what decided them; a body
    # outside the chart gets a sentence instead of the chart's end size
    assert result["size"] == result["sizes"]["top"]["size"]
    for garment in ("top", "bottom"):
        entry = result["sizes"][garment]
        assert entry["size"] in size_chart()["sizes"] or "shop's own size chart" in entry["message"]
    assert result["sizes"]["top"]["decided_by"] == "chest"
    assert result["sizes"]["bottom"]["decided_by"] in ("waist", "hip")
    if result["size"] and result["sizes"]["bottom"]["size"]:
        assert steps_apart(result) <= 1
    assert 0.0 < result["confidence"] <= 1.0
    v = values(result)
    assert 0.38 < v["inseam"] / height < 0.55 and 0.25 < v["arm_length"] / height < 0.4


@pytest.mark.parametrize("size", [(450, 750), (900, 1500), (1200, 2000)])
def test_measurements_are_stable_within_3_percent_when_the_photo_is_resized(size):
    image, an = standing_person()
    base = values(estimate_body(an, 175, image=np.asarray(image)))
    image, an = standing_person(*size)
    other = values(estimate_body(an, 175, image=np.asarray(image)))
    for name in base:
        assert other[name] == pytest.approx(base[name], rel=0.03), name


def test_measurements_are_stable_within_3_percent_when_the_photo_is_mirrored():
    image, an = standing_person()
    base = values(estimate_body(an, 175, image=np.asarray(image)))
    flipped = values(estimate_body(mirrored(an), 175, image=np.asarray(image)[:, ::-1].copy()))
    for name in base:
        assert flipped[name] == pytest.approx(base[name], rel=0.03), name


def test_the_photo_and_its_mirror_image_read_together_give_one_answer_whichever_comes_first():
    image, an = standing_person()
    pixels = np.asarray(image)
    flipped = mirrored(an)
    one = estimate_body(an, 175, image=pixels, mirror=flipped)
    other = estimate_body(flipped, 175, image=np.ascontiguousarray(pixels[:, ::-1]), mirror=an)
    assert values(one) == values(other)
    assert one["sizes"] == other["sizes"]


def test_a_second_face_seen_in_only_one_orientation_does_not_refuse_the_photo():
    # the face detector is not mirror-symmetric: a false second face in one view is not a crowd
    image, an = standing_person()
    crowd = dataclasses.replace(an, people_count=2)
    result = estimate_body(crowd, 175, image=np.asarray(image), mirror=mirrored(an))
    assert values(result) == pytest.approx(values(estimate_body(mirrored(an), 175, image=np.asarray(image)[:, ::-1].copy())))
    with pytest.raises(InputRejected) as err:  # seen both ways: several people
        estimate_body(crowd, 175, mirror=dataclasses.replace(mirrored(an), people_count=2))
    assert err.value.code == "several_people"


def test_two_views_refused_differently_get_the_same_refusal_in_either_order():
    _, an = standing_person()
    crowd = dataclasses.replace(an, people_count=2)
    lm = an.landmarks.copy()
    lm[[P.LEFT_KNEE, P.RIGHT_KNEE], 1] = lm[[P.LEFT_HIP, P.RIGHT_HIP], 1] + 40
    seated = dataclasses.replace(mirrored(an), landmarks=mirrored(dataclasses.replace(an, landmarks=lm)).landmarks)
    codes = set()
    for first, second in ((crowd, seated), (seated, crowd)):
        with pytest.raises(InputRejected) as err:
            estimate_body(first, 175, mirror=second)
        codes.add(err.value.code)
    assert codes == {"several_people"}


def test_lengths_scale_with_the_height_given_and_girths_follow_the_survey():
    _, an = standing_person()
    tall, short = estimate_body(an, 190), estimate_body(an, 152)
    for name in LENGTHS:
        assert tall["measurements"][name]["value_cm"] / short["measurements"][name]["value_cm"] == pytest.approx(
            190 / 152, rel=0.02), name
    for name in GIRTHS:  # a bigger body at the same proportions: bigger girths, still human ones
        assert tall["measurements"][name]["value_cm"] > short["measurements"][name]["value_cm"], name


def test_a_head_cut_off_by_the_frame_is_placed_from_the_shoulders_and_said_so():
    image, an = standing_person()
    full = values(estimate_body(an, 175))
    crop = 60  # through the forehead: the nose stays in the picture
    cut = dataclasses.replace(
        an, size=(600, 1000 - crop), landmarks=an.landmarks - np.array([0, crop, 0, 0], np.float32),
        person_mask=an.person_mask[crop:], face_mask=an.face_mask[crop:], hair_mask=an.hair_mask[crop:],
        hands_mask=an.hands_mask[crop:], face_box=(an.face_box[0], an.face_box[1] - crop, *an.face_box[2:]))
    result = estimate_body(cut, 175)
    assert any("head is cut off" in note for note in result["notes"])
    for name, value in values(result).items():
        assert value == pytest.approx(full[name], rel=0.05), name
    assert result["measurements"]["chest"]["high_cm"] - result["measurements"]["chest"]["low_cm"] >= (
        estimate_body(an, 175)["measurements"]["chest"]["high_cm"] - estimate_body(an, 175)["measurements"]["chest"]["low_cm"])


def test_a_coat_wider_than_any_body_of_that_height_is_set_aside_with_a_sentence():
    image, an = standing_person()
    lm = an.landmarks.copy()  # arms held out, clear of the coat
    lm[[P.LEFT_ELBOW, P.LEFT_WRIST, P.LEFT_INDEX], 0] = (470, 540, 550)
    lm[[P.RIGHT_ELBOW, P.RIGHT_WRIST, P.RIGHT_INDEX], 0] = (130, 60, 50)
    mask = an.person_mask.copy()
    mask[300:620, 140:460] = 1.0  # a wide coat from the waist to mid-thigh: 320 px = 63 cm at 175 cm
    result = estimate_body(dataclasses.replace(an, landmarks=lm, person_mask=mask), 175)
    assert any("loose clothes" in note for note in result["notes"]), result["notes"]
    # read as a body, 63 cm of coat would be a 150 cm waist; the screens keep it at the edge of the
    # survey's band for the height, with a range reaching back into it
    for name in GIRTHS:
        lo, hi = band(name, 175)
        entry = result["measurements"][name]
        assert lo <= entry["value_cm"] <= 1.03 * hi and entry["low_cm"] <= hi, name


def test_weight_and_sex_narrow_the_ranges():
    _, an = standing_person()
    def width(result: dict, name: str) -> float:
        return result["measurements"][name]["high_cm"] - result["measurements"][name]["low_cm"]
    plain = estimate_body(an, 175)
    told = estimate_body(an, 175, sex="male", weight_kg=72)
    assert told["sex"] == "male" and told["weight_kg"] == 72.0 and told["sex_estimate"] is None
    assert set(plain["sex_estimate"]) == {"female", "male"}
    for name in GIRTHS:
        assert width(told, name) < width(plain, name), name
    heavy = estimate_body(an, 175, sex="male", weight_kg=110)
    assert heavy["measurements"]["waist"]["value_cm"] > told["measurements"]["waist"]["value_cm"] + 5


@pytest.mark.parametrize("photo", ["astronaut.png", "grace_hopper.jpg"])
def test_waist_up_photo_is_refused_as_not_full_body(photo):
    analyzer = PersonAnalyzer()
    analyzer.load()
    image = Image.open(FIXTURES / photo).convert("RGB")
    an = analyzer.analyze(np.asarray(image))
    flipped = analyzer.analyze(np.asarray(image)[:, ::-1].copy())
    for analysis in (an, flipped):  # the mirrored photo gets the same refusal
        with pytest.raises(InputRejected) as err:
            estimate_body(analysis, 170)
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


def test_a_body_turned_away_from_the_camera_is_refused_with_face_the_camera():
    _, an = standing_person()
    world = an.world_landmarks.copy()
    for a, b in ((P.LEFT_SHOULDER, P.RIGHT_SHOULDER), (P.LEFT_HIP, P.RIGHT_HIP)):  # turned 60 degrees
        span = float(world[a, 0] - world[b, 0])
        world[a, 2], world[b, 2] = span * 0.87, -span * 0.87
    with pytest.raises(InputRejected) as err:
        estimate_body(dataclasses.replace(an, world_landmarks=world), 170)
    assert err.value.code == "not_facing" and "Face the camera" in err.value.message


def test_several_people_are_refused():
    _, an = standing_person()
    with pytest.raises(InputRejected) as err:
        estimate_body(dataclasses.replace(an, people_count=2), 170)
    assert err.value.code == "several_people" and "only you" in err.value.message


@pytest.mark.parametrize("kwargs,code", [({"height_cm": 20}, "bad_height"), ({"sex": "other"}, "bad_sex"),
                                         ({"weight_kg": 5.0}, "bad_weight"), ({"weight_kg": float("nan")}, "bad_weight")])
def test_inputs_outside_human_range_are_refused_with_a_sentence(kwargs, code):
    _, an = standing_person()
    with pytest.raises(InputRejected) as err:
        estimate_body(an, **{"height_cm": 170, **kwargs})
    assert err.value.code == code and err.value.message.endswith(".")


@pytest.mark.parametrize("sex,weight,code", [("other", None, "bad_sex"), (None, "heavy", "bad_weight"),
                                             (None, "500", "bad_weight")])
def test_the_endpoint_refuses_bad_optional_inputs_with_a_sentence(sex, weight, code):
    with pytest.raises(ValidationFailed) as err:
        parse_body_options(sex, weight)
    assert err.value.code == code and err.value.message.endswith(".")
    assert parse_body_options("Female", "61.5") == {"sex": "female", "weight_kg": 61.5}


def test_the_endpoint_over_http_checks_sex_and_weight_and_refuses_a_photo_and_its_mirror_alike(server_factory):
    live = server_factory()  # the real app with the real classic engine's MediaPipe models
    photo = Image.open(FIXTURES / "grace_hopper.jpg").convert("RGB")
    with live.client(new_token(live)) as c:
        for data, code in (({"height_cm": "170", "sex": "x"}, "bad_sex"), ({"height_cm": "170", "weight_kg": "9"}, "bad_weight")):
            r = c.post("/api/estimate-body", data=data, files={"photo": ("g.jpg", image_bytes(photo, "JPEG"), "image/jpeg")})
            assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
            assert r.json()["error"]["message"].endswith(".")
        answers = []
        for picture in (photo, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)):
            r = c.post("/api/estimate-body", data={"height_cm": "170", "sex": "female", "weight_kg": "60"},
                       files={"photo": ("g.jpg", image_bytes(picture, "JPEG"), "image/jpeg")})
            answers.append((r.status_code, r.json()["error"]["code"]))
    assert answers == [(422, "not_full_body")] * 2


@pytest.mark.browser
def test_the_page_shows_the_size_with_its_neighbour_and_the_girths_as_ranges(server_factory):
    from functools import partial

    from playwright.sync_api import expect, sync_playwright

    from tests.browser import CHROMIUM_ARGS, artifact, require_chromium
    from tests.doubles import InstantEngine
    from tryon_server.auth import hash_token

    image, an = standing_person()
    result = estimate_body(an, 175, image=np.asarray(image))
    result["sizes"]["top"]["also"] = "L" if result["size"] != "L" else "XL"  # a range across a boundary
    live = server_factory(InstantEngine)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(live.url + "/")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        token = page.evaluate("localStorage.getItem('tryon.token')")
        with live.client(token) as c:
            profile = c.post("/api/profiles", data={"name": "Drawn", "height_cm": "175"},
                             files={"photo": ("p.png", image_bytes(image), "image/png")}).json()
        live.call(partial(live.state.db.execute, "set_profile_measurements", id=profile["profile_id"],
                          owner=hash_token(token), measurements=json.dumps(result)))
        page.reload()
        card = page.locator(".profile", has_text="Drawn")
        expect(card).to_contain_text(f"Your size: {result['size']} or {result['sizes']['top']['also']}")
        chest = result["measurements"]["chest"]
        expect(card).to_contain_text(f"chest {round(chest['low_cm'])}–{round(chest['high_cm'])} cm")
        card.screenshot(path=artifact("page-size-ranges.png"))
        browser.close()


# --- the survey model -------------------------------------------------------------------------


def test_committed_model_reproduces_the_scripts_least_squares_predictions():
    model = body_model()
    assert model.spec["references"], "the fit script writes reference predictions"
    for ref in model.spec["references"]:
        inputs = dict(ref["inputs"])
        sex = inputs.pop("sex")
        pred, weights = model.predict({k: (v, 1e-9) for k, v in inputs.items()}, sex=sex)
        assert weights == {sex: 1.0}
        for name, expected in ref["expected_cm"].items():
            assert pred[name].value == pytest.approx(expected, abs=0.05), (ref["inputs"], name)


@pytest.mark.skipif(not ANSUR.is_dir(), reason="the ANSUR II tables are not on this machine")
def test_committed_model_is_what_the_script_fits_on_the_survey_tables():
    import importlib.util

    spec = importlib.util.spec_from_file_location("fit_body_model", ROOT / "tools" / "fit_body_model.py")
    fit_body_model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fit_body_model)
    fresh = json.loads(json.dumps(fit_body_model.fit(ANSUR)))
    assert fresh == body_model().spec


def test_the_survey_error_floor_is_what_the_readme_says():
    cv = body_model().spec["cross_validation"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in GIRTHS:
        for inputs in ("height", "height+photo", "height+noisy_photo"):
            assert f"{cv[inputs]['sex_unknown'][name]['mae_cm']:.1f} cm" in readme, (inputs, name)


@pytest.mark.parametrize("inputs", ["height", "height+photo", "height+noisy_photo"])
def test_model_ranges_hold_about_68_percent_of_the_survey(inputs):
    cv = body_model().spec["cross_validation"][inputs]
    for sex in ("female", "male"):
        for name in TARGETS:
            assert 0.62 <= cv[sex][name]["within_1sd"] <= 0.74, (sex, name)


def test_a_photos_error_costs_accuracy_but_leaves_it_well_above_height_alone():
    cv = body_model().spec["cross_validation"]
    for name in GIRTHS:
        exact, noisy, height = (cv[k]["sex_unknown"][name]["mae_cm"] for k in ("height+photo", "height+noisy_photo", "height"))
        assert exact < noisy < height, name


@pytest.mark.parametrize("sex", ["female", "male", None])
@pytest.mark.parametrize("stature", [155, 165, 175, 185, 195])
def test_sizes_from_the_model_alone_are_one_step_apart_at_most(sex, stature):
    pred, _ = body_model().predict({"stature": (stature, 0.5)}, sex=sex)
    sizes = pick_sizes({g: pred[g].value for g in GIRTHS})
    order = size_chart()["sizes"]
    if sizes["top"]["size"] and sizes["bottom"]["size"]:
        assert abs(order.index(sizes["top"]["size"]) - order.index(sizes["bottom"]["size"])) <= 1


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


def test_a_body_outside_the_chart_gets_no_size_but_a_sentence():
    sizes = pick_sizes({"chest": 135.0, "waist": 60.0, "hip": 80.0})
    assert sizes["top"]["size"] is None and sizes["top"]["in_range"] is False
    assert "above this chart's largest size (XXL" in sizes["top"]["message"]
    assert sizes["bottom"]["size"] is None and "below this chart's smallest size" in sizes["bottom"]["message"]


def test_a_range_across_a_size_boundary_names_the_other_size():
    sizes = pick_sizes({"chest": 100.5, "waist": 80.0, "hip": 96.0},
                       {"chest": (97.0, 104.0), "waist": (77.0, 81.5), "hip": (93.0, 99.0)})
    assert sizes["top"]["size"] == "M" and sizes["top"]["also"] == "L"
    assert sizes["bottom"]["size"] == "S" and "also" not in sizes["bottom"]  # both ranges lie inside S
