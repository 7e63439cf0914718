"""Launching Debian's Chromium through Playwright, the way every browser test here does it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("TRYON_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# The machine has no network but loopback: keep Chromium from reaching for Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync", "--disable-quic",
]


def require_chromium() -> str:
    """The browser's path; skips with the install command when it is missing (CI installs it)."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        message = f"Chromium not found at {CHROMIUM}: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a missing browser there is a broken CI, not a skip
        pytest.skip(message)
    return CHROMIUM


def artifact(name: str) -> Path:
    """Where a test saves a screenshot for people to look at (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def launch_with_extension(playwright, extension_dir: Path, user_data_dir: Path,
                          viewport: dict[str, int] | None = None):
    """Chromium (headless) with one unpacked extension loaded, in a persistent context (Chromium
    loads extensions only there). Returns (context, service_worker, extension_id)."""
    context = playwright.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=require_chromium(), headless=True,
        args=CHROMIUM_ARGS + [f"--disable-extensions-except={extension_dir}", f"--load-extension={extension_dir}"],
        viewport=viewport or {"width": 1280, "height": 900},
    )
    worker = context.service_workers[0] if context.service_workers else context.wait_for_event("serviceworker", timeout=30000)
    extension_id = worker.url.split("/")[2]  # chrome-extension://<id>/background.js
    return context, worker, extension_id
