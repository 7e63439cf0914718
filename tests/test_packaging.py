"""The package as a user installs it: a built wheel (not the checkout, not `pip install -e`) in a
fresh virtual environment, started with its `tryon-server` command, serving a real try-on.

So that the test does not download gigabytes, the fresh environment gets only the wheel (installed
with --no-deps from the file, no index); the wheel's dependencies are then lent from the test's
own environment by a .pth file, which Python appends to sys.path *after* the fresh
site-packages, so `tryon_server` is imported from the installed wheel. The test checks that.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import site
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import fixture_bytes, free_port, image_bytes
from tests.garments import draw_top
from tests.server_process import wait_until_serving

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "README.md", "tryon_server", "static")

pytestmark = pytest.mark.slow


def _copy_sources(dest: Path) -> Path:
    """The files a build reads, without caches or an old build/ folder (setuptools would reuse
    a stale build/lib and hide a file the package data rules miss)."""
    dest.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    return dest


def _run(*cmd: str | Path, cwd: Path, timeout: float = 300) -> str:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy_sources(tmp_path_factory.mktemp("wheel") / "src")


@pytest.fixture(scope="module")
def wheel(sources: Path) -> Path:
    work, src = sources.parent, sources
    # the build backend from this environment: no download of setuptools for an isolated build
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", work / "dist", src, cwd=work)
    (built,) = (work / "dist").glob("tryon_server-*.whl")
    return built


def _files_under(root: Path, pattern: str) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob(pattern)
            if p.is_file() and "__pycache__" not in p.parts}


def test_the_wheel_carries_every_module_the_sql_the_data_and_the_page(wheel: Path, sources: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    package = sources / "tryon_server"
    wanted = {f"tryon_server/{f}" for f in _files_under(package, "*.py") | _files_under(package, "*.sql")
              | _files_under(package, "*.json")}
    wanted |= {f"tryon_server/static/{f}" for f in _files_under(sources / "static", "*")}
    assert "tryon_server/sql/queries.sql" in wanted and "tryon_server/static/index.html" in wanted
    missing = sorted(wanted - names)
    assert missing == [], f"the wheel lacks {missing}"
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "tryon-server = tryon_server.cli:main" in entry_points


def _fresh_venv(where: Path, wheel: Path) -> Path:
    _run(sys.executable, "-m", "venv", where, cwd=where.parent)
    python = where / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel, cwd=where.parent)
    # lend the dependencies: a .pth line is appended to sys.path after the venv's own site-packages
    purelib = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                        cwd=where.parent).strip())
    (purelib / "zz_lent_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


def test_the_installed_wheel_starts_and_serves_the_page_and_a_try_on(wheel: Path, tmp_path: Path):
    python = _fresh_venv(tmp_path / "venv", wheel)
    outside = tmp_path / "elsewhere"  # not the checkout: `import tryon_server` must find the wheel
    outside.mkdir()
    where = _run(python, "-c", "import tryon_server, tryon_server.db as d; print(tryon_server.__file__); "
                 "print(len(d.QUERIES))", cwd=outside).split()
    assert where[0].startswith(str(tmp_path / "venv")), f"imported from {where[0]}, not the installed wheel"
    assert int(where[1]) > 10  # the named queries were read from the wheel's sql/queries.sql

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRYON_")}
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen([tmp_path / "venv" / "bin" / "tryon-server", "--port", str(port), "--data-dir",
                               tmp_path / "data", "--engine", "classic"], cwd=outside, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, server, tmp_path / "server.log", timeout=90)
        page = httpx.get(url + "/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert httpx.get(url + "/app.js").status_code == 200
        token = httpx.post(url + "/api/tokens").json()["token"]
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            r = c.post("/api/tryon/sessions", data={"category": "upper", "options": json.dumps({"output_size": 256})},
                       files={"person": ("a.png", fixture_bytes("astronaut.png"), "image/png"),
                              "garment": ("top.png", image_bytes(draw_top()), "image/png")})
            assert r.status_code == 202, r.text
            deadline = time.monotonic() + 60
            while (body := c.get(r.headers["Location"]).json())["status"] not in ("completed", "failed"):
                assert time.monotonic() < deadline, body
                time.sleep(0.2)
            assert body["status"] == "completed", body
            result = Image.open(io.BytesIO(c.get(body["result_url"]).content))
            assert result.size == (256, 256)
    finally:
        server.terminate()
        server.wait(20)
        log.close()
    # uvicorn re-raises SIGTERM after a clean shutdown, so the code is -15; the log says it was clean
    assert "Application shutdown complete" in (tmp_path / "server.log").read_text()
