"""Settings from flags and TRYON_* variables; run.py refuses to start with a reason it can state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tryon_server.config import parse_settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_are_private_and_local():
    s = parse_settings([])
    assert (s.host, s.port, s.engine, s.retention_hours) == ("127.0.0.1", 8000, "auto", 24.0)
    assert s.data_dir == Path("data") and s.models_dir == Path("models") and s.max_upload_bytes == 10 * 1024 * 1024


def test_environment_variables_set_flags_and_flags_win(monkeypatch):
    monkeypatch.setenv("TRYON_PORT", "8123")
    monkeypatch.setenv("TRYON_RETENTION_HOURS", "2.5")
    monkeypatch.setenv("TRYON_ALLOW_LOOPBACK_DOWNLOADS", "true")
    monkeypatch.setenv("TRYON_ALLOWED_HOSTS", "tryon.lan,box.local")
    s = parse_settings(["--retention-hours", "1"])
    assert s.port == 8123 and s.retention_hours == 1.0 and s.allow_loopback_downloads is True
    assert s.allowed_hosts == ("tryon.lan", "box.local")


def test_diffusion_without_weights_refuses_to_start_naming_the_missing_folder(tmp_path):
    proc = subprocess.run(
        [sys.executable, "run.py", "--engine", "diffusion", "--models-dir", str(tmp_path / "models"),
         "--data-dir", str(tmp_path / "data")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "cannot start" in proc.stderr
    assert "sdxl-inpainting" in proc.stderr and "models/README.md" in proc.stderr
