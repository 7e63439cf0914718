"""The real server with the real classic engine (MediaPipe models) on real photos, over HTTP."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
from PIL import Image

from tests.conftest import fixture_bytes, image_bytes, new_token, wait_terminal
from tests.garments import TOP_RED, draw_top


def test_classic_engine_session_completes_with_the_garment_on_the_person(server_factory):
    live = server_factory()  # settings.engine == "classic": the real engine, loaded at start-up
    with live.client(new_token(live)) as c:
        profile = c.post("/api/profiles", files={"photo": ("a.png", fixture_bytes("astronaut.png"), "image/png")},
                         data={"name": "Astronaut"}).json()
        r = c.post("/api/tryon/sessions", data={"profile_id": profile["profile_id"], "category": "upper",
                                                 "options": json.dumps({"output_size": 512})},
                   files={"garment": ("top.png", image_bytes(draw_top()), "image/png")})
        assert r.status_code == 202, r.text
        body = wait_terminal(c, r.json()["session_id"])
        assert body["status"] == "completed", body
        result = Image.open(io.BytesIO(c.get(body["result_url"]).content)).convert("RGB")
        original = Image.open(io.BytesIO(fixture_bytes("astronaut.png"))).convert("RGB").resize(result.size)
    assert result.size == (512, 512)
    changed = np.abs(np.asarray(result, float) - np.asarray(original, float)).mean(axis=2) > 40
    red = np.linalg.norm(np.asarray(result, float) - np.array(TOP_RED, float), axis=2) < 90
    assert 0.05 < changed.mean() < 0.6  # the garment went somewhere, not everywhere
    assert red[changed].mean() > 0.3  # and what changed carries the garment's red


def test_photo_without_a_person_fails_with_a_sentence_that_says_what_to_take(server_factory):
    live = server_factory()
    blank = Image.new("RGB", (600, 800), (200, 210, 220))
    with live.client(new_token(live)) as c:
        r = c.post("/api/tryon/sessions", data={"category": "upper"},
                   files={"person": ("p.jpg", image_bytes(blank, "JPEG"), "image/jpeg"),
                          "garment": ("g.png", image_bytes(draw_top()), "image/png")})
        body = wait_terminal(c, r.json()["session_id"])
    assert body["status"] == "failed" and body["attempts"] == 1
    assert "No person" in body["error"] and "photo" in body["error"]


def test_estimate_body_refuses_a_waist_up_photo_and_stores_nothing_on_the_profile(server_factory):
    live = server_factory()
    with live.client(new_token(live)) as c:
        profile = c.post("/api/profiles", data={"height_cm": "170"},
                         files={"photo": ("g.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg")}).json()
        r = c.post("/api/estimate-body", data={"profile_id": profile["profile_id"], "height_cm": "170"})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "not_full_body"
        assert c.get(f"/api/profiles/{profile['profile_id']}").json()["measurements"] is None
        r = c.post("/api/estimate-body", data={"profile_id": profile["profile_id"]})
        assert r.status_code == 422 and "height" in r.json()["error"]["message"]


def test_a_profile_photo_is_checked_when_saved_and_its_analysis_serves_the_first_tryon(server_factory, monkeypatch):
    from tryon_server.engines.classic import DEFAULT_OUTPUT_SIZE, fit_long_side
    from tryon_server.photo_needs import PROFILE_NO_PERSON

    live = server_factory()
    engine = live.call(live.state.runner.run, lambda e: e, 30)  # the engine, handed out by its own thread
    analyses: list[tuple[int, int]] = []
    real = engine.analyzer._analyze
    monkeypatch.setattr(engine.analyzer, "_analyze", lambda pixels: analyses.append(pixels.shape[:2]) or real(pixels))
    inputs = live.state.settings.data_dir / "images" / "inputs"
    with live.client(new_token(live)) as c:
        # a product photo as "your photo": refused at once, with what photo to take; nothing stored
        r = c.post("/api/profiles", files={"photo": ("top.png", image_bytes(draw_top()), "image/png")})
        assert r.status_code == 422, r.text
        assert r.json()["error"] == {"code": "no_person", "message": PROFILE_NO_PERSON}
        assert c.get("/api/profiles").json()["items"] == []
        assert not inputs.exists() or not any(inputs.iterdir())

        # a real photo: analysed once, when saved, under the stored copy's hash at the default size
        profile = c.post("/api/profiles", files={"photo": ("g.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg")})
        assert profile.status_code == 201, profile.text
        stored = c.get(profile.json()["photo_url"]).content
        size = fit_long_side(Image.open(io.BytesIO(stored)).convert("RGB"), DEFAULT_OUTPUT_SIZE).size
        assert len(analyses) == 2  # the product photo and this one
        assert engine.analyzer.cached(hashlib.sha256(stored).hexdigest(), size) is not None

        # the first try-on at the default size runs no person analysis of its own
        r = c.post("/api/tryon/sessions", data={"profile_id": profile.json()["profile_id"], "category": "upper"},
                   files={"garment": ("top.png", image_bytes(draw_top()), "image/png")})
        assert wait_terminal(c, r.json()["session_id"])["status"] == "completed"
    assert len(analyses) == 2


def test_an_engine_without_its_own_person_analysis_stores_the_photo_unchecked(server_factory):
    from tests.doubles import InstantEngine

    live = server_factory(InstantEngine)  # like a hosted engine: it judges photos itself, at try-on time
    with live.client(new_token(live)) as c:
        r = c.post("/api/profiles", files={"photo": ("top.png", image_bytes(draw_top()), "image/png")})
    assert r.status_code == 201, r.text


def test_a_profile_photo_whose_check_breaks_is_stored_unchecked_not_lost(server_factory, monkeypatch):
    live = server_factory()
    engine = live.call(live.state.runner.run, lambda e: e, 30)

    def broken(pixels, key=None):
        raise RuntimeError("a MediaPipe graph failed")

    monkeypatch.setattr(engine.analyzer, "analyze", broken)
    with live.client(new_token(live)) as c:
        r = c.post("/api/profiles", files={"photo": ("g.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg")})
        assert r.status_code == 201, r.text
        assert len(c.get("/api/profiles").json()["items"]) == 1
