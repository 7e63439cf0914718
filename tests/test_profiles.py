"""Fitting profiles over HTTP: a height added or changed later (PATCH), and how many try-ons a
profile's deletion takes with it, said before it happens (tryon_count, kept_count)."""

from __future__ import annotations

import json
import threading
from functools import partial

import pytest
from PIL import Image

from tests.conftest import fixture_bytes, image_bytes, new_token, wait_processing, wait_terminal
from tests.doubles import InstantEngine
from tests.garments import draw_top
from tryon_server.auth import hash_token
from tryon_server.engines.base import ProgressCallback, TryOnJob
from tryon_server.exceptions import InputRejected

PHOTO = {"photo": ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg")}


def test_a_height_is_added_changed_and_removed_later_and_a_size_made_with_another_goes(server_factory):
    live = server_factory(InstantEngine)
    token = new_token(live)
    with live.client(token) as c:
        profile = c.post("/api/profiles", files=PHOTO).json()
        assert profile["height_cm"] is None
        url = f"/api/profiles/{profile['profile_id']}"
        r = c.patch(url, json={"height_cm": 172})
        assert r.status_code == 200 and r.json()["height_cm"] == 172
        assert c.get(url).json()["height_cm"] == 172
        # a size estimated with that height: changing the height clears it, keeping the same does not
        live.call(partial(live.state.db.execute, "set_profile_measurements", id=profile["profile_id"],
                          owner=hash_token(token), measurements=json.dumps({"size": "M"})))
        assert c.patch(url, json={"height_cm": 172.0}).json()["measurements"] == {"size": "M"}
        changed = c.patch(url, json={"height_cm": 180.5}).json()
        assert changed["height_cm"] == 180.5 and changed["measurements"] is None
        assert c.patch(url, json={"height_cm": None}).json()["height_cm"] is None


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"height_cm": 20}, 422, "bad_height"),
    ({"height_cm": 251}, 422, "bad_height"),
    ({"height_cm": "172"}, 422, "bad_height"),
    ({"height_cm": True}, 422, "bad_height"),
    ({"height_cm": [172]}, 422, "bad_height"),
    ({"height": 172}, 422, "bad_request_body"),
    ({"height_cm": 172, "name": "x"}, 422, "bad_request_body"),
    ({}, 422, "bad_request_body"),
])
def test_a_bad_height_gets_a_sentence_and_changes_nothing(server_factory, body, status, code):
    live = server_factory(InstantEngine)
    with live.client(new_token(live)) as c:
        profile = c.post("/api/profiles", files=PHOTO, data={"height_cm": "165"}).json()
        r = c.patch(f"/api/profiles/{profile['profile_id']}", json=body)
        assert r.status_code == status and r.json()["error"]["code"] == code
        assert r.json()["error"]["message"].endswith(".")
        assert c.get(f"/api/profiles/{profile['profile_id']}").json()["height_cm"] == 165


def test_a_height_patch_is_refused_as_nan_not_json_another_tokens_or_unknown(server_factory):
    live = server_factory(InstantEngine)
    with live.client(new_token(live)) as c, live.client(new_token(live)) as other:
        profile = c.post("/api/profiles", files=PHOTO).json()
        url = f"/api/profiles/{profile['profile_id']}"
        nan = c.patch(url, content=b'{"height_cm": NaN}', headers={"Content-Type": "application/json"})
        assert nan.status_code == 422 and nan.json()["error"]["code"] == "bad_height"
        assert c.patch(url, content=b"172", headers={"Content-Type": "application/json"}).status_code == 400
        assert other.patch(url, json={"height_cm": 170}).status_code == 404  # never reveal it exists
        assert c.patch("/api/profiles/nope", json={"height_cm": 170}).status_code == 404
        assert c.get(url).json()["height_cm"] is None


class RefusesTrousers(InstantEngine):
    """Refuses every pair of trousers (a final failure, no retry): a failed try-on at once; holds a
    dress until the test opens `gate` (a try-on still running)."""

    gate = threading.Event()

    def run(self, job: TryOnJob, progress: ProgressCallback) -> Image.Image:
        if job.category == "lower":
            raise InputRejected("Your legs are not all in the photo.", code="missing_body_parts")
        if job.category == "dress":
            self.gate.wait(30)
        return super().run(job, progress)


def test_a_profile_counts_the_tryons_its_deletion_takes_kept_ones_included(server_factory):
    live = server_factory(RefusesTrousers)
    with live.client(new_token(live)) as c:
        mine = c.post("/api/profiles", files=PHOTO).json()
        other = c.post("/api/profiles", files=PHOTO).json()
        assert (mine["tryon_count"], mine["kept_count"]) == (0, 0)
        made = []
        for profile, category in ((mine, "upper"), (mine, "upper"), (mine, "upper"), (other, "upper"), (mine, "lower")):
            r = c.post("/api/tryon/sessions", data={"profile_id": profile["profile_id"], "category": category},
                       files={"garment": ("top.png", image_bytes(draw_top()), "image/png")})
            made.append(wait_terminal(c, r.json()["session_id"]))
        assert [s["status"] for s in made] == ["completed"] * 4 + ["failed"]
        made_ids = [s["session_id"] for s in made]
        assert c.post(f"/api/tryon/sessions/{made_ids[0]}/keep", json={"keep": True}).status_code == 200
        # the failed one is not counted: the archive never shows it, and the page's "all 3 try-ons"
        # must be the three the shopper sees there
        counted = {p["profile_id"]: (p["tryon_count"], p["kept_count"]) for p in c.get("/api/profiles").json()["items"]}
        assert counted == {mine["profile_id"]: (3, 1), other["profile_id"]: (1, 0)}
        assert c.get(f"/api/profiles/{mine['profile_id']}").json()["tryon_count"] == 3
        # one still running (on the stage) is counted: it goes too
        RefusesTrousers.gate.clear()
        running = c.post("/api/tryon/sessions", data={"profile_id": mine["profile_id"], "category": "dress"},
                         files={"garment": ("dress.png", image_bytes(draw_top()), "image/png")}).json()["session_id"]
        try:
            wait_processing(c, running)
            assert c.get(f"/api/profiles/{mine['profile_id']}").json()["tryon_count"] == 4
            # and the deletion takes those, the kept one, the running one and the failed one too
            assert c.delete(f"/api/profiles/{mine['profile_id']}").status_code == 204
        finally:
            RefusesTrousers.gate.set()
        assert [c.get(f"/api/tryon/sessions/{s}").status_code for s in [*made_ids, running]] == [
            404, 404, 404, 200, 404, 404]
