"""Shared fixtures: a real server (uvicorn, real SQLite file in a temp folder) over real HTTP."""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from PIL import Image

from tryon_server.app import create_app
from tryon_server.config import Settings
from tryon_server.engines.base import Engine

FIXTURES = Path(__file__).parent / "fixtures"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def image_bytes(img: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", models_dir=tmp_path / "models", engine="classic", port=free_port(),
        retry_base_s=0.05, rate_limit_per_minute=0, submit_limit_per_minute=0, expiry_interval_s=3600,
    )


@dataclass
class LiveServer:
    """A real uvicorn server on loopback, running in a thread with its own event loop."""

    app: object
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def state(self):
        return self.app.state.tryon

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def call(self, coro_fn: Callable, *args):
        """Run a coroutine on the server's loop (e.g. an expiry pass) and return its result."""
        return asyncio.run_coroutine_threadsafe(coro_fn(*args), self.loop).result(30)

    loop: asyncio.AbstractEventLoop | None = None

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def start_server(settings: Settings, engine_factory: Callable[[], Engine] | None = None,
                 wait_ready: bool = True) -> LiveServer:
    app = create_app(settings, engine_factory)
    config = uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_config=None, access_log=False,
                            lifespan="on")
    server = uvicorn.Server(config)
    live = LiveServer(app=app, url=f"http://127.0.0.1:{settings.port}", server=server, thread=None)  # type: ignore[arg-type]

    def run() -> None:
        loop = asyncio.new_event_loop()
        live.loop = loop
        loop.run_until_complete(server.serve())
        loop.close()

    live.thread = threading.Thread(target=run, daemon=True)
    live.thread.start()
    deadline = time.time() + 60
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    if wait_ready:
        while time.time() < deadline:
            if httpx.get(f"{live.url}/api/health").status_code == 200:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("server did not become ready")
    return live


@pytest.fixture
def server_factory(settings: Settings) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def make(engine_factory: Callable[[], Engine] | None = None, **changes) -> LiveServer:
        live = start_server(settings.with_(**changes) if changes else settings, engine_factory)
        started.append(live)
        return live

    yield make
    for live in started:
        live.stop()


def new_token(live: LiveServer) -> str:
    r = httpx.post(f"{live.url}/api/tokens")
    assert r.status_code == 201, r.text
    return r.json()["token"]


def wait_processing(client: httpx.Client, session_id: str, timeout: float = 10) -> None:
    """Until the worker has claimed the session (its engine is running)."""
    deadline = time.time() + timeout
    while client.get(f"/api/tryon/sessions/{session_id}").json()["status"] != "processing":
        assert time.time() < deadline, f"session {session_id} never started"
        time.sleep(0.02)


def wait_terminal(client: httpx.Client, session_id: str, timeout: float = 60) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        body = client.get(f"/api/tryon/sessions/{session_id}").json()
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"session {session_id} did not finish: {body}")
