"""Health, request ids, error shape, OpenAPI and offline docs, metrics."""

from __future__ import annotations

import threading

import httpx

from tests.conftest import start_server
from tests.doubles import InstantEngine


class SlowLoadingEngine(InstantEngine):
    def __init__(self) -> None:
        super().__init__()
        self.may_finish = threading.Event()

    def load(self) -> None:
        self.may_finish.wait(20)


def test_health_is_503_while_the_engine_loads_then_200(settings):
    engine = SlowLoadingEngine()
    live = start_server(settings, lambda: engine, wait_ready=False)
    try:
        r = httpx.get(f"{live.url}/api/health")
        assert r.status_code == 503 and r.json()["status"] == "loading" and r.json()["models_loaded"] is False
        engine.may_finish.set()
        for _ in range(100):
            r = httpx.get(f"{live.url}/api/health")
            if r.status_code == 200:
                break
            threading.Event().wait(0.05)
        body = r.json()
        assert r.status_code == 200 and body["status"] == "ok" and body["engine"] == "instant"
        assert body["db"] == "ok" and body["queue_depth"] == 0 and body["models_loaded"] is True
    finally:
        engine.may_finish.set()
        live.stop()


def test_engine_that_fails_to_load_makes_health_503_with_the_reason(settings):
    class BrokenEngine(InstantEngine):
        def load(self) -> None:
            raise FileNotFoundError("models/sdxl-inpainting/unet is missing")

    live = start_server(settings, BrokenEngine, wait_ready=False)
    try:
        for _ in range(100):
            r = httpx.get(f"{live.url}/api/health")
            if r.json()["status"] == "error":
                break
            threading.Event().wait(0.05)
        assert r.status_code == 503 and "sdxl-inpainting" in r.json()["detail"]
    finally:
        live.stop()


def test_every_response_echoes_a_request_id_and_errors_have_the_contract_shape(server_factory):
    live = server_factory(InstantEngine)
    with live.client() as c:
        r = c.get("/api/nothing-here", headers={"X-Request-ID": "abc-123"})
        assert r.status_code == 404 and r.headers["x-request-id"] == "abc-123"
        assert set(r.json()["error"]) == {"code", "message"}
        r = c.get("/api/health", headers={"X-Request-ID": "bad id with spaces"})
        assert len(r.headers["x-request-id"]) == 32  # replaced by a fresh one
        r = c.put("/api/tokens")
        assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_openapi_and_docs_are_served_with_no_internet(server_factory):
    live = server_factory(InstantEngine)
    with live.client() as c:
        spec = c.get("/openapi.json").json()
        assert spec["openapi"].startswith("3.") and "/api/tryon/sessions" in spec["paths"]
        html = c.get("/api/docs").text
        assert "swagger-ui-bundle.js" in html and "http" not in html.split("<body>")[1]  # nothing remote
        asset = c.get("/api/docs/assets/swagger-ui-bundle.js")
        assert asset.status_code == 200 and len(asset.content) > 100_000


def test_metrics_count_requests_and_transitions(server_factory):
    live = server_factory(InstantEngine)
    with live.client() as c:
        c.post("/api/tokens")
        text = c.get("/metrics").text
    assert 'tryon_http_requests_total{method="POST",route="/api/tokens",status="201"} 1.0' in text
    assert "tryon_engine_ready 1.0" in text
