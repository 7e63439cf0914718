"""Deleted data is gone from the database files, and those files are the owner's only.

Before: a deleted profile's name stayed in `tryon.sqlite3-wal` until SQLite happened to
checkpoint, and the database files were mode 0644 while the image folders were 0700. The real
server over HTTP, the real SQLite files read back as bytes.
"""

from __future__ import annotations

import stat
import time
from pathlib import Path

from tests.conftest import fixture_bytes, image_bytes, new_token, wait_terminal
from tests.doubles import InstantEngine
from tests.garments import draw_top


def _db_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "tryon.sqlite3", data_dir / "tryon.sqlite3-wal", data_dir / "tryon.sqlite3-shm")
            if p.exists()]


def _on_disk(data_dir: Path, marker: bytes) -> list[str]:
    return [p.name for p in _db_files(data_dir) if marker in p.read_bytes()]


def _wait_gone(data_dir: Path, marker: bytes, timeout: float = 5) -> list[str]:
    deadline = time.monotonic() + timeout
    while (found := _on_disk(data_dir, marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_database_files_are_readable_by_their_owner_only(server_factory, settings):
    live = server_factory(InstantEngine)
    with live.client(new_token(live)) as c:  # a write, so the WAL and its index exist
        assert c.post("/api/profiles", files={"photo": ("me.jpg", fixture_bytes("grace_hopper.jpg"),
                                                        "image/jpeg")}).status_code == 201
    files = _db_files(settings.data_dir)
    assert {p.name for p in files} == {"tryon.sqlite3", "tryon.sqlite3-wal", "tryon.sqlite3-shm"}
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, (p.name, oct(p.stat().st_mode))


def test_a_database_left_readable_by_an_older_version_is_made_private(settings, server_factory):
    settings.data_dir.mkdir(parents=True)
    db = settings.data_dir / "tryon.sqlite3"
    db.touch(mode=0o644)
    db.chmod(0o644)
    server_factory(InstantEngine)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_a_deleted_profile_leaves_no_copy_in_the_database_files(server_factory, settings):
    live = server_factory(InstantEngine)
    name = "Marker-Profile-7f3a9c"
    with live.client(new_token(live)) as c:
        r = c.post("/api/profiles", data={"name": name},
                   files={"photo": ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg")})
        assert r.status_code == 201
        assert _on_disk(settings.data_dir, name.encode())  # it is there to begin with
        assert c.delete(f"/api/profiles/{r.json()['profile_id']}").status_code == 204
    assert _wait_gone(settings.data_dir, name.encode()) == []
    assert settings.data_dir.joinpath("tryon.sqlite3-wal").stat().st_size == 0  # truncated, not just reused


def test_delete_all_my_data_leaves_no_copy_in_the_database_files(server_factory, settings):
    live = server_factory(InstantEngine)
    page = "https://shop.example/marker-page-51c0de"
    with live.client(new_token(live)) as c:
        r = c.post("/api/tryon/sessions", data={"page_url": page, "options": '{"output_size": 128}'},
                   files={"person": ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg"),
                          "garment": ("top.png", image_bytes(draw_top()), "image/png")})
        assert r.status_code == 202, r.text
        assert wait_terminal(c, r.json()["session_id"])["status"] == "completed"
        assert _on_disk(settings.data_dir, page.encode())
        assert c.delete("/api/tokens/current").status_code == 204
    assert _wait_gone(settings.data_dir, page.encode()) == []
