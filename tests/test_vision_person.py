"""Person analysis on the real fixture photos (MediaPipe models from the wheel)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.garments import draw_top
from tryon_server.exceptions import InputRejected
from tryon_server.photo_needs import PHOTO_NEEDS
from tryon_server.vision.person import NO_PERSON, P, PersonAnalyzer, require_landmarks

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> np.ndarray:
    return np.asarray(Image.open(FIXTURES / name).convert("RGB"))


@pytest.fixture(scope="module")
def analyzer() -> PersonAnalyzer:
    a = PersonAnalyzer()
    a.load()
    yield a
    a.close()


@pytest.mark.parametrize("photo", ["astronaut.png", "grace_hopper.jpg"])
def test_fixture_photos_give_shoulders_face_and_a_person_mask(analyzer, photo):
    img = load(photo)
    an = analyzer.analyze(img)
    h, w = img.shape[:2]
    assert an.size == (w, h) and an.landmarks.shape == (33, 4)
    assert an.visible(P.LEFT_SHOULDER) and an.visible(P.RIGHT_SHOULDER)
    # shoulders below the face, face box around the nose, mask on the chest and off the corners
    nose = an.point(P.NOSE)
    assert an.face_mask[int(nose[1]), int(nose[0])]
    assert an.point(P.LEFT_SHOULDER)[1] > nose[1] + 0.1 * h
    chest = ((an.point(P.LEFT_SHOULDER) + an.point(P.RIGHT_SHOULDER)) / 2 + [0, 0.1 * h]).astype(int)
    assert an.person_mask[chest[1], chest[0]] > 0.9
    assert an.person_mask[:20, :20].max() < 0.5 and an.person_mask[:20, -20:].max() < 0.5
    assert an.world_landmarks is not None and an.world_landmarks.shape == (33, 4)


def test_upper_body_photos_are_accepted_for_tops(analyzer):
    for photo in ("astronaut.png", "grace_hopper.jpg"):
        require_landmarks(analyzer.analyze(load(photo)), "upper")


@pytest.mark.parametrize("category,words", [("lower", "waist to ankles"), ("dress", "shoulders to knees")])
def test_upper_body_photo_is_refused_for_bottoms_and_dresses_with_what_to_take(analyzer, category, words):
    an = analyzer.analyze(load("grace_hopper.jpg"))
    with pytest.raises(InputRejected) as err:
        require_landmarks(an, category)
    assert err.value.code == "person_incomplete"
    assert words in err.value.message and "photo" in err.value.message
    assert words == PHOTO_NEEDS[category]  # the words are the one definition's


def test_photo_without_a_person_is_refused_with_the_shopper_sentence(analyzer):
    with pytest.raises(InputRejected) as err:
        analyzer.analyze(np.asarray(draw_top()))
    assert err.value.code == "no_person"
    assert err.value.message == NO_PERSON


def test_same_key_is_analysed_once(analyzer, monkeypatch):
    img = load("astronaut.png")
    calls = []
    real = analyzer._analyze
    monkeypatch.setattr(analyzer, "_analyze", lambda image: calls.append(1) or real(image))
    first = analyzer.analyze(img, key="k-astronaut")
    second = analyzer.analyze(img, key="k-astronaut")
    assert first is second and len(calls) == 1
    analyzer.analyze(img, key="another-photo")
    assert len(calls) == 2


def test_with_two_people_the_larger_central_one_is_analysed(analyzer):
    # a small Grace Hopper in the left corner, the astronaut large in the middle
    canvas = Image.new("RGB", (1400, 900), (200, 200, 200))
    canvas.paste(Image.open(FIXTURES / "grace_hopper.jpg").convert("RGB").resize((340, 398)), (0, 502))
    canvas.paste(Image.open(FIXTURES / "astronaut.png").convert("RGB").resize((800, 800)), (450, 100))
    an = analyzer.analyze(np.asarray(canvas))
    nose = an.point(P.NOSE)
    assert 450 < nose[0] < 1250 and 100 < nose[1] < 900
    assert an.people_count >= 2
    # the small person is not part of the mask
    assert an.person_mask[650:890, 20:320].mean() < 0.1
