"""Settings from flags and TRYON_* variables; run.py refuses to start with a reason it can state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tryon_server.config import build_parser, parse_settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_are_private_and_local():
    s = parse_settings([])
    assert (s.host, s.port, s.engine, s.retention_hours) == ("127.0.0.1", 8000, "auto", 24.0)
    assert s.data_dir == Path("data") and s.models_dir == Path("models") and s.max_upload_bytes == 10 * 1024 * 1024


def test_environment_variables_set_flags_and_flags_win(monkeypatch):
    monkeypatch.setenv("TRYON_PORT", "8123")
    monkeypatch.setenv("TRYON_RETENTION_HOURS", "2.5")
    monkeypatch.setenv("TRYON_PROXY_HEADERS", "true")
    monkeypatch.setenv("TRYON_ALLOWED_HOSTS", "tryon.lan,box.local")
    s = parse_settings(["--retention-hours", "1"])
    assert s.port == 8123 and s.retention_hours == 1.0 and s.proxy_headers is True
    assert s.allowed_hosts == ("tryon.lan", "box.local")


def test_the_test_only_loopback_downloads_switch_is_no_flag_and_no_variable(monkeypatch, capsys):
    monkeypatch.setenv("TRYON_ALLOW_LOOPBACK_DOWNLOADS", "true")
    assert parse_settings([]).allow_loopback_downloads is False
    with pytest.raises(SystemExit):
        parse_settings(["--allow-loopback-downloads"])
    assert "unrecognized arguments: --allow-loopback-downloads" in capsys.readouterr().err


def test_help_explains_every_flag_and_shows_defaults_as_typed():
    text = build_parser().format_help()
    flags = [a for a in build_parser()._actions if a.option_strings != ["-h", "--help"]]
    assert len(flags) >= 20
    # every flag has a sentence of its own before the "(default ...; env ...)" part
    assert all(a.help and not a.help.startswith("(") and "(default " in a.help for a in flags), \
        [a.option_strings for a in flags if not a.help or a.help.startswith("(")]
    assert "(default data;" in text and "(default 24;" in text and "(default none;" in text
    assert "PosixPath" not in text and "24.0" not in text and "()" not in text


def test_the_workers_help_says_what_it_is_and_an_empty_default_reads_none():
    worker = subprocess.run([sys.executable, "-m", "tryon_server.worker", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=True).stdout
    assert worker.startswith("usage: python -m tryon_server.worker ")  # not run.py's name
    assert "A GPU worker of the try-on server's distributed mode" in worker
    assert "--database URL" in worker and "--storage DIR" in worker
    for text in (" ".join(worker.split()), " ".join(build_parser().format_help().split())):
        assert "(default ;" not in text and "(default none; env TRYON_BROKER)" in text


def test_diffusion_without_weights_refuses_to_start_naming_the_missing_folder(tmp_path):
    proc = subprocess.run(
        [sys.executable, "run.py", "--engine", "diffusion", "--models-dir", str(tmp_path / "models"),
         "--data-dir", str(tmp_path / "data")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "cannot start" in proc.stderr
    assert "sdxl-inpainting" in proc.stderr and "models/README.md" in proc.stderr


def _auto_lines(monkeypatch, caplog, tmp_path, gpu: bool) -> list[tuple[str, str]]:
    import tryon_server.engines as engines
    from tryon_server.config import Settings
    from tryon_server.engines import resolve_choice

    monkeypatch.setattr(engines, "_cuda_available", lambda: gpu)
    with caplog.at_level("INFO", logger="tryon.engines"):
        assert resolve_choice(Settings(models_dir=tmp_path / "no-models", engine="auto")) == "classic"
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "tryon.engines"]


def test_auto_without_a_gpu_picks_classic_quietly_and_advises_no_gpu_install(monkeypatch, caplog, tmp_path):
    [(level, line)] = _auto_lines(monkeypatch, caplog, tmp_path, gpu=False)
    assert level == "INFO" and "no CUDA GPU" in line
    assert "pip install" not in line and "[diffusion]" not in line and "models" not in line


def test_auto_on_a_gpu_without_the_gpu_engines_warns_with_what_is_missing(monkeypatch, caplog, tmp_path):
    [(level, line)] = _auto_lines(monkeypatch, caplog, tmp_path, gpu=True)
    assert level == "WARNING" and "CUDA GPU is present" in line
    assert "catvton cannot run" in line and "diffusion cannot run" in line


def test_run_py_on_an_unsupported_python_stops_with_a_sentence_naming_the_versions():
    # Python 3.13 is simulated: run.py must stop before importing anything that would fail there
    code = ("import sys, runpy; sys.version_info = (3, 13, 1, 'final', 0); sys.version = '3.13.1 (simulated)'; "
            "runpy.run_path('run.py', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "runs on Python 3.11 or 3.12" in proc.stderr and "this is Python 3.13.1" in proc.stderr
    assert "Traceback" not in proc.stderr
