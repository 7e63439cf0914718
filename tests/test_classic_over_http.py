"""The real server with the real classic engine (MediaPipe models) on real photos, over HTTP."""

from __future__ import annotations

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
