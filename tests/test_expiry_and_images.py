"""Privacy: expiry deletes what is due and nothing kept; images leave only by valid signed links."""

from __future__ import annotations

import sqlite3
import time

from tests.conftest import new_token, wait_terminal
from tests.doubles import InstantEngine
from tests.test_sessions import submit
from tryon_server.expiry import expire_once


def test_expiry_deletes_expired_sessions_files_and_rows_but_keeps_kept_ones(server_factory, settings):
    live = server_factory(InstantEngine)
    with live.client(new_token(live)) as c:
        doomed, kept = (submit(c).json()["session_id"] for _ in range(2))
        wait_terminal(c, doomed), wait_terminal(c, kept)
        assert c.post(f"/api/tryon/sessions/{kept}/keep", json={"keep": True}).status_code == 200
        kept_files = {k for k in live.state.storage.all_keys()}
        result = live.call(expire_once, live.state, time.time() + settings.retention_seconds + 60)
        assert result["sessions"] == 1
        assert c.get(f"/api/tryon/sessions/{doomed}").status_code == 404
        assert c.get(f"/api/tryon/sessions/{kept}").json()["status"] == "completed"
    remaining = live.state.storage.all_keys()
    assert len(remaining) == 3 and remaining < kept_files
    with sqlite3.connect(settings.db_path) as db:
        assert db.execute("SELECT id FROM sessions").fetchall() == [(kept,)]


def test_expiry_sweeps_old_files_that_no_row_references(server_factory, settings):
    live = server_factory(InstantEngine)
    orphan = live.state.storage.root / "inputs" / ("ab" * 16 + ".jpg")
    orphan.write_bytes(b"left behind by a crash between file write and row commit")
    fresh = live.state.storage.root / "inputs" / ("cd" * 16 + ".jpg")
    fresh.write_bytes(b"an upload still in flight")
    old = time.time() - 3600
    import os

    os.utime(orphan, (old, old))
    result = live.call(expire_once, live.state)
    assert result["orphans"] == 1 and not orphan.exists() and fresh.exists()


def test_signed_image_links_refuse_wrong_expired_or_missing_signatures(server_factory):
    live = server_factory(InstantEngine)
    with live.client(new_token(live)) as c:
        body = wait_terminal(c, submit(c).json()["session_id"])
        url = body["result_url"]
        assert c.get(url).status_code == 200
        path, query = url.split("?")
        params = dict(p.split("=") for p in query.split("&"))
        bad_sig = f"{path}?exp={params['exp']}&sig={'0' * 32}"
        assert c.get(bad_sig).status_code == 403
        past = int(time.time()) - 10
        forged_exp = f"{path}?exp={past}&sig={live.state.signer._sig(path.split('/api/images/')[1], past)}"
        assert c.get(forged_exp).status_code == 403  # correctly signed but expired
        assert c.get(path).status_code == 403
        other_key = path.replace(path[-10:-4], "000000")
        assert c.get(f"{other_key}?{query}").status_code == 403  # a signature binds one key
        r = c.get(bad_sig)
        assert r.json()["error"]["code"] == "bad_signature"


def test_images_are_not_reachable_as_static_files(server_factory, settings):
    live = server_factory(InstantEngine)
    with live.client(new_token(live)) as c:
        body = wait_terminal(c, submit(c).json()["session_id"])
        key = body["result_url"].split("/api/images/")[1].split("?")[0]
        for guess in (f"/data/images/{key}", f"/images/{key}", f"/{key}", "/tryon.sqlite3", "/data/secret.key"):
            assert c.get(guess).status_code == 404, guess
