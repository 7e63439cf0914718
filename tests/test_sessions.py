"""The sessions API over real HTTP against a real SQLite file: lifecycle, failures, ownership."""

from __future__ import annotations

import json
import sqlite3
import time

import httpx

from tests.conftest import fixture_bytes, image_bytes, new_token, wait_processing, wait_terminal
from tests.doubles import FailingEngine, InstantEngine, RejectingEngine
from tests.garments import draw_top


def submit(client: httpx.Client, *, category: str = "upper", **extra) -> httpx.Response:
    files = {"person": ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg"),
             "garment": ("top.png", image_bytes(draw_top()), "image/png")}
    data = {"category": category, "options": json.dumps({"output_size": 256}), **extra}
    return client.post("/api/tryon/sessions", files=files, data=data)


def test_session_is_queued_then_processing_then_completed_with_a_result_png(server_factory):
    live = server_factory(lambda: InstantEngine(delay_s=0.3))
    with live.client(new_token(live)) as c:
        r = submit(c, page_url="https://shop.example/p/1", metadata=json.dumps({"title": "Tee"}))
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert accepted["status"] == "queued" and r.headers["location"] == accepted["poll_url"]
        seen = set()
        deadline = time.time() + 20
        while time.time() < deadline:
            body = c.get(accepted["poll_url"]).json()
            seen.add(body["status"])
            if body["status"] == "completed":
                break
            time.sleep(0.02)
        assert "processing" in seen and body["status"] == "completed"
        assert body["progress"] == 1.0 and body["error"] is None
        assert body["metadata"] == {"title": "Tee"} and body["page_url"] == "https://shop.example/p/1"
        img = c.get(body["result_url"])
        assert img.status_code == 200 and img.headers["content-type"] == "image/png"
        assert img.content.startswith(b"\x89PNG")


def test_engine_input_error_fails_at_once_with_the_engines_sentence(server_factory):
    live = server_factory(RejectingEngine)
    with live.client(new_token(live)) as c:
        body = wait_terminal(c, submit(c).json()["session_id"])
    assert body["status"] == "failed" and body["attempts"] == 1
    assert body["error"].startswith("No person was found") and body["error_code"] == "no_person"


def test_poison_session_fails_after_three_attempts_and_the_worker_goes_on(server_factory):
    engine = FailingEngine(fail_categories=("lower",))
    live = server_factory(lambda: engine)
    with live.client(new_token(live)) as c:
        poison = submit(c, category="lower").json()["session_id"]
        good = submit(c, category="upper").json()["session_id"]
        poison_body = wait_terminal(c, poison)
        good_body = wait_terminal(c, good)
    assert poison_body["status"] == "failed" and poison_body["attempts"] == 3 and engine.attempts == 3
    assert "try again" in poison_body["error"] and "Traceback" not in poison_body["error"]
    assert good_body["status"] == "completed"


def test_another_tokens_session_is_404_and_no_token_is_401(server_factory):
    live = server_factory(InstantEngine)
    with live.client(new_token(live)) as owner, live.client(new_token(live)) as stranger:
        sid = submit(owner).json()["session_id"]
        assert stranger.get(f"/api/tryon/sessions/{sid}").status_code == 404
        assert stranger.delete(f"/api/tryon/sessions/{sid}").status_code == 404
        assert stranger.post(f"/api/tryon/sessions/{sid}/keep", json={"keep": True}).status_code == 404
        with live.client() as anonymous:
            r = anonymous.get(f"/api/tryon/sessions/{sid}")
            assert r.status_code == 401 and r.json()["error"]["code"] == "missing_token"
        with live.client("not-a-real-token") as forged:
            assert forged.get(f"/api/tryon/sessions/{sid}").status_code == 401


def test_delete_removes_the_row_and_every_image_file(server_factory, settings):
    live = server_factory(InstantEngine)
    with live.client(new_token(live)) as c:
        sid = submit(c).json()["session_id"]
        wait_terminal(c, sid)
        before = live.state.storage.all_keys()
        assert len(before) == 3  # person, garment, result
        assert c.delete(f"/api/tryon/sessions/{sid}").status_code == 204
        assert c.get(f"/api/tryon/sessions/{sid}").status_code == 404
    assert live.state.storage.all_keys() == set()
    with sqlite3.connect(settings.db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0


def test_deleting_a_running_session_cancels_it_and_keeps_no_result(server_factory):
    engine = InstantEngine(delay_s=2.0)
    live = server_factory(lambda: engine)
    with live.client(new_token(live)) as c:
        sid = submit(c).json()["session_id"]
        wait_processing(c, sid)
        assert c.delete(f"/api/tryon/sessions/{sid}").status_code == 204
        time.sleep(1.0)
    assert engine.runs == []  # cancelled at its next step, never finished
    assert live.state.storage.all_keys() == set()


def test_sse_stream_sends_rising_progress_and_ends_after_completion(server_factory):
    live = server_factory(lambda: InstantEngine(delay_s=0.8))
    with live.client(new_token(live)) as c:
        accepted = submit(c).json()
        events = []
        with c.stream("GET", accepted["events_url"]) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
    statuses = [e["status"] for e in events]
    assert statuses[-1] == "completed" and "processing" in statuses
    progress = [e["progress"] for e in events if e["status"] == "processing"]
    assert progress == sorted(progress) and len(set(progress)) >= 2


def test_keep_exempts_from_expiry_and_archive_lists_completed_newest_first(server_factory):
    live = server_factory(InstantEngine)
    with live.client(new_token(live)) as c:
        ids = [submit(c).json()["session_id"] for _ in range(3)]
        for sid in ids:
            wait_terminal(c, sid)
        kept = c.post(f"/api/tryon/sessions/{ids[0]}/keep", json={"keep": True}).json()
        assert kept["kept"] is True and kept["expires_at"] is None
        page1 = c.get("/api/tryon/archive", params={"limit": 2}).json()
        assert [s["session_id"] for s in page1["items"]] == [ids[2], ids[1]]
        page2 = c.get("/api/tryon/archive", params={"limit": 2, "cursor": page1["next_cursor"]}).json()
        assert [s["session_id"] for s in page2["items"]] == [ids[0]] and page2["next_cursor"] is None
        assert c.get("/api/tryon/archive", params={"cursor": "garbage!"}).status_code == 400


def test_json_submission_with_profile_and_bad_inputs_get_clear_4xx(server_factory):
    live = server_factory(InstantEngine)
    with live.client(new_token(live)) as c:
        profile = c.post("/api/profiles", files={"photo": ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg")},
                         data={"name": "Me", "height_cm": "170"})
        assert profile.status_code == 201, profile.text
        pid = profile.json()["profile_id"]
        r = c.post("/api/tryon/sessions", json={"profile_id": pid, "garment_url": "ftp://x/y.png"})
        assert r.status_code == 422
        r = c.post("/api/tryon/sessions", data={"profile_id": pid, "category": "hat"},
                   files={"garment": ("g.png", image_bytes(draw_top()), "image/png")})
        assert r.status_code == 422 and "category" in r.json()["error"]["message"]
        r = c.post("/api/tryon/sessions", data={"profile_id": pid, "category": "upper"},
                   files={"garment": ("g.png", image_bytes(draw_top()), "image/png")})
        assert r.status_code == 202
        body = wait_terminal(c, r.json()["session_id"])
        assert body["status"] == "completed" and body["profile_id"] == pid
        # the try-ons made from a profile's photo are derived from it: they go with the profile
        assert c.delete(f"/api/profiles/{pid}").status_code == 204
        assert c.get(f"/api/tryon/sessions/{body['session_id']}").status_code == 404
        assert c.get(body["person_image_url"]).status_code == 404
        assert live.state.storage.all_keys() == set()
        r = c.post("/api/tryon/sessions", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_json"


def test_product_fields_of_metadata_are_stored_and_returned_and_bad_ones_refused_with_a_sentence(server_factory):
    # what the extension sends about the product (title, shop, price...) comes back as sent
    live = server_factory(InstantEngine)
    product = {"title": "Striped Breton Tee", "shop": "NORD atelier", "brand": "NORD", "price": "39.00",
               "currency": "EUR", "sku": 12345}
    with live.client(new_token(live)) as c:
        r = submit(c, page_url="https://shop.example/p/1", metadata=json.dumps(product))
        assert r.status_code == 202, r.text
        assert wait_terminal(c, r.json()["session_id"])["metadata"] == product
        r = submit(c, metadata=json.dumps({"title": "T" * 300, "price": 39.5}))  # at the bound; a number price
        assert r.status_code == 202, r.text
        assert wait_terminal(c, r.json()["session_id"])["metadata"] == {"title": "T" * 300, "price": 39.5}

        refused = [
            ({"title": "T" * 301}, "metadata.title must be text of 1 to 300 characters (the product's name)."),
            ({"shop": "S" * 121}, "metadata.shop must be text of 1 to 120 characters (the shop's name)."),
            ({"shop": "   "}, "metadata.shop must be text of 1 to 120 characters (the shop's name)."),
            ({"title": ["a", "list"]}, "metadata.title must be text of 1 to 300 characters (the product's name)."),
            ({"price": True}, "metadata.price must be a number from 0 or text of 1 to 40 characters (the price as shown)."),
            ({"price": -1}, "metadata.price must be a number from 0 or text of 1 to 40 characters (the price as shown)."),
            ({"currency": "EURO-DOLLAR"}, "metadata.currency must be text of 1 to 10 characters (a currency code such as EUR)."),
        ]
        for metadata, sentence in refused:
            r = submit(c, metadata=json.dumps(metadata))
            assert (r.status_code, r.json()["error"]) == (422, {"code": "bad_metadata", "message": sentence}), metadata
            # the JSON form of the request is held to the same rules
            r = c.post("/api/tryon/sessions", json={"profile_id": "p", "garment_url": "https://shop.example/a.png",
                                                    "metadata": metadata})
            assert (r.status_code, r.json()["error"]["message"]) == (422, sentence), metadata
        assert len(c.get("/api/tryon/archive").json()["items"]) == 2  # nothing refused was stored
