"""The hosted engines (fashn, openai, gemini) against a fake provider on 127.0.0.1.

The fake is a real HTTP server run by this test that speaks the three providers' documented
shapes and can answer 429 (with and without hints), 500, slowly, or with a moderation refusal.
What is checked is ours: the request shapes, the limiter's spacing and concurrency as the fake
measures them, the retries, the delayed re-queue (across a kill -9), and the sentences a shopper
reads. Try-on quality is not the subject: the fake answers a plain picture. No test here can reach
a real provider: every base URL points at loopback before anything runs.
"""

from __future__ import annotations

import base64
import email.parser
import email.utils
import io
import json
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import fixture_bytes, image_bytes, new_token, wait_terminal
from tests.garments import draw_top
from tests.server_process import ServerProcess
from tryon_server import cli
from tryon_server.config import Settings
from tryon_server.engines import resolve_choice
from tryon_server.engines.hosted import ENGINES, limiter
from tryon_server.exceptions import ProviderBusy, ProviderUnavailable

# arrival times at the fake carry the loopback, connect and thread hand-over delays of a busy
# 2-core machine (seen up to ~40 ms on one request, the next one then on time, and 52 ms in a
# full CI run); spacing is checked to within this, far from the ~0 s gaps of calls that are not
# spaced at all
JITTER_S = 0.1
KEYS = {"FASHN_API_KEY": "fashn-test-key", "OPENAI_API_KEY": "openai-test-key", "GEMINI_API_KEY": "gemini-test-key"}
RESULT_SIZE = (96, 128)


def result_png() -> bytes:
    return image_bytes(Image.new("RGB", RESULT_SIZE, (200, 30, 60)))


# -- the fake provider ---------------------------------------------------------------------------

Answer = tuple[int, dict[str, str], bytes]


def json_answer(body: Any, status: int = 200, headers: dict[str, str] | None = None,
                delay_s: float = 0.0) -> Callable[[], Answer]:
    def answer() -> Answer:
        if delay_s:
            time.sleep(delay_s)
        return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()
    return answer


def too_many(headers: dict[str, str] | None = None, body: Any = None) -> Callable[[], Answer]:
    return json_answer(body or {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}}, 429, headers)


@dataclass
class Request:
    at: float  # monotonic arrival time
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> list[tuple[str, str | None, bytes]]:
        """A multipart body as (field name, file name, content) parts."""
        message = email.parser.BytesParser().parsebytes(
            f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode() + self.body)
        return [(part.get_param("name", header="content-disposition"), part.get_filename(),
                 part.get_payload(decode=True)) for part in message.get_payload()]


@dataclass
class FakeProvider:
    """FASHN, OpenAI and Gemini on one loopback port. `script[path prefix]` holds answers to
    give before the default (successful) one; `work_s` is how long each default answer takes."""

    work_s: float = 0.0
    script: dict[str, deque[Callable[[], Answer]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    polls: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def queue(self, prefix: str, *answers: Callable[[], Answer]) -> None:
        with self.lock:
            self.script.setdefault(prefix, deque()).extend(answers)

    def hits(self, prefix: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        with self.lock:
            self.requests.append(Request(time.monotonic(), method, path, headers, body))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            scripted = next((q.popleft() for prefix, q in self.script.items() if path.startswith(prefix) and q), None)
        try:
            if scripted is not None:
                return scripted()
            time.sleep(self.work_s)
            return self.default(method, path)
        finally:
            with self.lock:
                self.in_flight -= 1

    def default(self, method: str, path: str) -> Answer:
        png = base64.b64encode(result_png()).decode()
        if path == "/v1/run":
            with self.lock:
                prediction = f"pred-{len(self.polls)}"
                self.polls[prediction] = 0
            return json_answer({"id": prediction, "error": None})()
        if path.startswith("/v1/status/"):
            prediction = path.rsplit("/", 1)[1]
            with self.lock:
                self.polls[prediction] = self.polls.get(prediction, 0) + 1
                done = self.polls[prediction] >= 2
            if not done:
                return json_answer({"id": prediction, "status": "processing", "output": None, "error": None})()
            return json_answer({"id": prediction, "status": "completed", "output": [f"data:image/png;base64,{png}"],
                                "error": None})()
        if path == "/v1/images/edits":
            return json_answer({"created": 1, "data": [{"b64_json": png}]})()
        if path.startswith("/v1beta/models/") and path.endswith(":generateContent"):
            return json_answer({"candidates": [{"content": {"role": "model", "parts": [
                {"text": "Here it is."}, {"inlineData": {"mimeType": "image/png", "data": png}}]},
                "finishReason": "STOP"}]})()
        return json_answer({"error": {"message": f"no route {path}"}}, 404)()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.server.fake.handle(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeProvider


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    provider = FakeProvider()
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.fake = provider
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    for name in ("FASHN_BASE_URL", "OPENAI_BASE_URL", "GEMINI_BASE_URL"):
        monkeypatch.setenv(name, url)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    provider.url = url
    yield provider
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def nowhere_real(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before any test sets its fake: every provider URL points at a closed loopback port, so a
    mistake fails here instead of reaching a company's servers."""
    for name in ("FASHN_BASE_URL", "OPENAI_BASE_URL", "GEMINI_BASE_URL"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limiter, "BACKOFF_S", (0.2, 0.4, 0.8))


def submit(client: httpx.Client, category: str = "upper") -> str:
    r = client.post("/api/tryon/sessions",
                    files={"person": ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg"),
                           "garment": ("top.png", image_bytes(draw_top()), "image/png")},
                    data={"category": category, "options": json.dumps({"seed": 7})})
    assert r.status_code == 202, r.text
    return r.json()["session_id"]


def hosted(server_factory: Callable[..., Any], engine: str, **changes: Any) -> tuple[Any, httpx.Client]:
    live = server_factory(engine=engine, hosted_ok=True, **changes)
    return live, live.client(new_token(live))


def result_image(client: httpx.Client, body: dict[str, Any]) -> Image.Image:
    r = client.get(body["result_url"])
    assert r.status_code == 200
    return Image.open(io.BytesIO(r.content))


def gaps(requests: list[Request]) -> list[float]:
    return [b.at - a.at for a, b in zip(requests, requests[1:])]


# -- each engine, end to end through the real server ---------------------------------------------

def test_fashn_session_completes_with_the_documented_request_shape(fake, server_factory):
    live, client = hosted(server_factory, "fashn")
    body = wait_terminal(client, submit(client, "lower"))
    assert body["status"] == "completed", body
    # the result keeps the person photo's aspect (grace_hopper.jpg is 512x600)
    image = result_image(client, body)
    assert abs(image.width / image.height - 512 / 600) < 0.02
    (run,) = fake.hits("/v1/run")
    assert run.headers["authorization"] == "Bearer fashn-test-key"
    payload = run.json()
    assert payload["model_name"] == "tryon-v1.6"
    inputs = payload["inputs"]
    assert inputs["category"] == "bottoms" and inputs["seed"] == 7 and inputs["return_base64"] is True
    assert inputs["output_format"] == "png" and inputs["mode"] == "balanced"
    for key in ("model_image", "garment_image"):
        assert inputs[key].startswith("data:image/jpeg;base64,")
        sent = Image.open(io.BytesIO(base64.b64decode(inputs[key].split(",", 1)[1])))
        assert sent.format == "JPEG" and not sent.info.get("exif")
    polls = fake.hits("/v1/status/")
    assert [p.path for p in polls] == ["/v1/status/pred-0"] * 2 and polls[0].method == "GET"


def test_openai_session_sends_both_pictures_and_a_prompt(fake, server_factory):
    live, client = hosted(server_factory, "openai")
    body = wait_terminal(client, submit(client, "dress"))
    assert body["status"] == "completed", body
    (call,) = fake.hits("/v1/images/edits")
    assert call.headers["authorization"] == "Bearer openai-test-key"
    assert call.headers["content-type"].startswith("multipart/form-data")
    parts = call.form()
    fields = {name: content.decode() for name, filename, content in parts if filename is None}
    images = [content for name, filename, content in parts if name == "image[]"]
    assert fields["model"] == "gpt-image-1" and fields["n"] == "1" and fields["size"] == "1024x1024"
    assert "dress" in fields["prompt"]
    assert len(images) == 2 and all(Image.open(io.BytesIO(i)).format == "JPEG" for i in images)


def test_gemini_session_sends_inline_data_and_asks_for_an_image(fake, server_factory):
    live, client = hosted(server_factory, "gemini", hosted_model="gemini-3-pro-image-preview")
    body = wait_terminal(client, submit(client))
    assert body["status"] == "completed", body
    (call,) = fake.hits("/v1beta/models/")
    assert call.path == "/v1beta/models/gemini-3-pro-image-preview:generateContent"
    assert call.headers["x-goog-api-key"] == "gemini-test-key" and "authorization" not in call.headers
    request = call.json()
    assert request["generationConfig"]["responseModalities"] == ["TEXT", "IMAGE"]
    parts = request["contents"][0]["parts"]
    assert "top" in parts[0]["text"]
    assert [p["inline_data"]["mime_type"] for p in parts[1:]] == ["image/jpeg", "image/jpeg"]
    assert all(base64.b64decode(p["inline_data"]["data"])[:2] == b"\xff\xd8" for p in parts[1:])


def test_health_names_the_provider_that_receives_the_photos(fake, server_factory):
    live, client = hosted(server_factory, "gemini")
    health = httpx.get(f"{live.url}/api/health").json()
    assert health["engine"] == "gemini" and health["device"] == "127.0.0.1"
    assert health["photos_sent_to"] == "Your photos are sent to Google Gemini (127.0.0.1) to make each try-on."


def test_health_says_nothing_is_sent_with_a_local_engine(server_factory):
    from tests.doubles import InstantEngine

    live = server_factory(lambda: InstantEngine())
    assert httpx.get(f"{live.url}/api/health").json()["photos_sent_to"] is None


# -- refusals, outages, slowness ------------------------------------------------------------------

def test_a_moderation_refusal_fails_at_once_with_the_providers_reason(fake, server_factory):
    fake.queue("/v1/status/", json_answer({"id": "pred-0", "status": "failed", "output": None, "error": {
        "name": "ContentModerationError", "message": "Prohibited content detected in the garment image."}}))
    live, client = hosted(server_factory, "fashn")
    body = wait_terminal(client, submit(client))
    assert body["status"] == "failed" and body["error_code"] == "provider_refused"
    assert body["error"] == ("FASHN refused these pictures: Prohibited content detected in the garment image. "
                             "Try another photo or garment.")
    assert body["attempts"] == 1 and len(fake.hits("/v1/run")) == 1  # not retried


def test_openai_moderation_and_gemini_blocks_fail_with_a_sentence(fake, server_factory):
    fake.queue("/v1/images/edits", json_answer({"error": {
        "message": "Your request was rejected by the safety system.", "type": "image_generation_user_error",
        "code": "moderation_blocked"}}, 400))
    live, client = hosted(server_factory, "openai")
    body = wait_terminal(client, submit(client))
    assert (body["status"], body["error_code"]) == ("failed", "provider_moderation")
    assert body["error"].startswith("OpenAI refused these pictures: Your request was rejected by the safety system")
    assert len(fake.hits("/v1/images/edits")) == 1


def test_gemini_prompt_block_fails_with_a_sentence(fake, server_factory):
    fake.queue("/v1beta/", json_answer({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}))
    live, client = hosted(server_factory, "gemini")
    body = wait_terminal(client, submit(client))
    assert (body["status"], body["error_code"]) == ("failed", "provider_moderation")
    assert "Google Gemini refused these pictures: blocked (PROHIBITED_CONTENT)" in body["error"]


@pytest.mark.parametrize("code,status,message", [(403, "PERMISSION_DENIED", "API key not valid."),
                                                 (400, "FAILED_PRECONDITION", "User location is not supported.")])
def test_a_refused_account_says_what_the_owner_must_check(fake, server_factory, code, status, message):
    fake.queue("/v1beta/", json_answer({"error": {"code": code, "message": message, "status": status}}, code))
    live, client = hosted(server_factory, "gemini")
    body = wait_terminal(client, submit(client))
    assert body["error_code"] == "provider_account", body
    assert body["error"] == (f"Google Gemini refused this server's account (HTTP {code}: {message.rstrip('.')}). "
                             "The server's owner must check GEMINI_API_KEY.")
    assert len(fake.hits("/v1beta/")) == 1


def test_a_provider_outage_is_retried_and_slow_answers_are_waited_for(fake, server_factory):
    fake.queue("/v1/images/edits", json_answer({"error": {"message": "The server had an error"}}, 500))
    fake.work_s = 1.0  # the answer that succeeds is slow
    live, client = hosted(server_factory, "openai")
    body = wait_terminal(client, submit(client))
    assert body["status"] == "completed" and body["attempts"] == 2, body
    assert len(fake.hits("/v1/images/edits")) == 2


def test_an_outage_fails_after_the_attempt_limit_with_the_generic_sentence(fake, server_factory):
    fake.queue("/v1/run", *[json_answer({"error": "InternalServerError", "message": "boom"}, 500)] * 3)
    live, client = hosted(server_factory, "fashn")
    body = wait_terminal(client, submit(client))
    assert (body["status"], body["error_code"], body["attempts"]) == ("failed", "engine_error", 3)
    assert len(fake.hits("/v1/run")) == 3


@pytest.mark.parametrize("engine,title", [("fashn", "FASHN"), ("openai", "OpenAI"), ("gemini", "Google Gemini")])
def test_a_page_that_is_not_json_or_an_unknown_status_is_the_providers_failure(monkeypatch, engine, title):
    """What is left after each provider's own refusals and account problems is read by one helper:
    a 200 that is not JSON (a proxy's error page) and any other status are the provider failing
    (retried, then the generic sentence), each naming the provider."""
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    made = ENGINES[engine](Settings(engine=engine, hosted_ok=True))
    with pytest.raises(ProviderUnavailable, match=f"^{title} answered something that is not JSON: <html>Bad gateway"):
        made._read(httpx.Response(200, text="<html>Bad gateway</html>"))
    with pytest.raises(ProviderUnavailable, match=f"^{title} answered HTTP 502: upstream down$"):
        made._read(httpx.Response(502, json={"error": {"message": "upstream down"}}))


def test_fashn_out_of_credits_is_not_waited_out(fake, server_factory):
    fake.queue("/v1/run", json_answer({"error": "OutOfCredits", "message": "You have no API credits left."}, 429))
    live, client = hosted(server_factory, "fashn")
    body = wait_terminal(client, submit(client))
    assert body["error_code"] == "provider_account" and "no API credits left" in body["error"]
    assert len(fake.hits("/v1/run")) == 1


def test_deleting_a_session_stops_polling_the_provider(fake, server_factory):
    fake.queue("/v1/status/", *[json_answer({"id": "pred-0", "status": "in_queue", "output": None,
                                             "error": None})] * 100)
    live, client = hosted(server_factory, "fashn")
    session_id = submit(client)
    deadline = time.time() + 20
    while len(fake.hits("/v1/status/")) < 2:
        assert time.time() < deadline
        time.sleep(0.05)
    assert client.delete(f"/api/tryon/sessions/{session_id}").status_code == 204
    time.sleep(0.5)  # a poll in flight may still land
    polls = len(fake.hits("/v1/status/"))
    time.sleep(2.0)  # two more poll intervals
    assert len(fake.hits("/v1/status/")) == polls
    assert live.state.worker.current is None


# -- 429s: in-process retries, hints, and the delayed re-queue -----------------------------------

def test_429_without_a_hint_backs_off_half_a_second_then_one(fake, server_factory):
    fake.queue("/v1/images/edits", too_many(), too_many())
    live, client = hosted(server_factory, "openai")
    body = wait_terminal(client, submit(client))
    assert body["status"] == "completed" and body["attempts"] == 1, body
    first, second = gaps(fake.hits("/v1/images/edits"))
    assert 0.5 <= first < 0.5 * 1.25 + 0.3  # 0.5 s plus up to a quarter of jitter
    assert 1.0 <= second < 1.0 * 1.25 + 0.3


@pytest.mark.parametrize("hint", [{"retry-after-ms": "1200"}, {"Retry-After": "1"}])
def test_429_hints_in_headers_are_honoured(fake, server_factory, hint):
    fake.queue("/v1/images/edits", too_many(hint))
    live, client = hosted(server_factory, "openai")
    assert wait_terminal(client, submit(client))["status"] == "completed"
    (gap,) = gaps(fake.hits("/v1/images/edits"))
    wanted = 1.2 if "retry-after-ms" in hint else 1.0
    assert wanted <= gap < wanted + 0.4


def test_gemini_retry_info_in_the_429_body_is_honoured(fake, server_factory):
    fake.queue("/v1beta/", too_many(body={"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota",
                                                    "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                                                 "retryDelay": "1.5s"}]}}))
    live, client = hosted(server_factory, "gemini")
    assert wait_terminal(client, submit(client))["status"] == "completed"
    (gap,) = gaps(fake.hits("/v1beta/"))
    assert 1.5 <= gap < 1.9


def test_persistent_429_requeues_the_session_with_a_visible_delay(fake, server_factory, quick_backoff):
    fake.queue("/v1/run", *[too_many()] * 4)  # the first try and its three in-process retries
    live, client = hosted(server_factory, "fashn", provider_retry_base_s=2.0)
    session_id = submit(client)
    deadline = time.time() + 20
    while (body := client.get(f"/api/tryon/sessions/{session_id}").json())["stage"] != "waiting_for_provider":
        assert time.time() < deadline and body["status"] != "failed", body
        time.sleep(0.05)
    assert body["status"] == "queued" and 1 <= body["retry_in_s"] <= 3, body
    body = wait_terminal(client, session_id)
    assert body["status"] == "completed" and body["attempts"] == 1 and body["retry_in_s"] is None, body
    runs = fake.hits("/v1/run")
    assert len(runs) == 5
    # in-process: 0.2, 0.4, 0.8 s (+jitter); then the worker's delay, 2 s with ±20 % jitter
    assert [round(g, 1) >= b for g, b in zip(gaps(runs), (0.2, 0.4, 0.8, 1.6))] == [True] * 4


def test_a_rate_limit_that_outlasts_the_longest_wait_fails_with_a_sentence(fake, server_factory):
    fake.queue("/v1/images/edits", too_many({"Retry-After": "7200"}))
    live, client = hosted(server_factory, "openai")
    body = wait_terminal(client, submit(client))
    assert (body["status"], body["error_code"]) == ("failed", "provider_busy")
    assert body["error"].startswith("OpenAI stayed too busy to make this try-on (it asked to wait 120 more minutes)")


def test_the_limiter_spaces_and_caps_a_burst_measured_at_the_provider(fake):
    """12 threads at once through one gate (2 at a time, 300 ms apart) to a provider that takes
    400 ms a call: the fake sees at most 2 in flight and starts at least 300 ms apart."""
    fake.work_s = 0.4
    gate = limiter.Gate(limiter.Limit(concurrency=2, spacing_s=0.3))
    cancel = threading.Event()
    client = httpx.Client(base_url=fake.url)
    statuses: list[int] = []

    def one() -> None:
        statuses.append(limiter.call(gate, "fake", lambda: client.post("/v1/images/edits"), cancel).status_code)

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses == [200] * 12
    assert fake.max_in_flight == 2
    assert min(gaps(fake.hits("/v1/images/edits"))) >= 0.3 - JITTER_S


def test_a_429_burst_keeps_the_limits_and_holds_everyone_for_the_hint(fake, quick_backoff):
    """Six callers (3 at a time, 300 ms apart) meet three 429s, one with Retry-After: 1: nobody
    calls the model again before that second has passed, and the spacing and concurrency hold
    throughout."""
    fake.work_s = 0.1
    fake.queue("/v1/images/edits", too_many({"Retry-After": "1"}), too_many(), too_many())
    gate = limiter.Gate(limiter.Limit(concurrency=3, spacing_s=0.3))
    client = httpx.Client(base_url=fake.url)
    cancel = threading.Event()
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(
        limiter.call(gate, "fake", lambda: client.post("/v1/images/edits"), cancel).status_code)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    calls = fake.hits("/v1/images/edits")
    assert results == [200] * 6 and len(calls) == 9
    assert fake.max_in_flight <= 3 and min(gaps(calls)) >= 0.3 - JITTER_S
    # the first answer was the one with the hint, back at once: every other call waited it out,
    # including the two whose turns (0.3 s and 0.6 s) had been given out before it came
    later = [c.at - calls[0].at for c in calls[1:]]
    assert min(later) >= 1.0, later


def test_persistent_429_raises_the_typed_error_with_the_hint(fake, quick_backoff):
    fake.queue("/v1/images/edits", *[too_many({"retry-after-ms": "10"})] * 4)
    gate = limiter.Gate(limiter.Limit(1, 0.0))
    client = httpx.Client(base_url=fake.url)
    with pytest.raises(ProviderBusy) as caught:
        limiter.call(gate, "OpenAI", lambda: client.post("/v1/images/edits"), threading.Event())
    assert caught.value.retry_after_s == pytest.approx(0.01) and caught.value.provider == "OpenAI"
    assert len(fake.hits("/v1/images/edits")) == 4


def test_retry_hints_are_read_from_every_documented_place():
    def answer(headers: dict[str, str] | None = None, body: Any = None) -> httpx.Response:
        return httpx.Response(429, headers=headers, json=body if body is not None else {})

    assert limiter.retry_hint(answer({"retry-after-ms": "250"})) == 0.25
    assert limiter.retry_hint(answer({"Retry-After": "3"})) == 3.0
    http_date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= limiter.retry_hint(answer({"Retry-After": http_date})) <= 30
    google = {"error": {"details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure"},
                                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "46s"}]}}
    assert limiter.retry_hint(answer(body=google)) == 46.0
    assert limiter.retry_hint(answer({"Retry-After": "soon"})) is None
    assert limiter.retry_hint(answer()) is None


def test_limits_are_per_model_and_configurable():
    assert limiter.limit_for("gemini", "gemini-3-pro-image-preview") == limiter.Limit(2, 0.5)
    assert limiter.limit_for("gemini", "gemini-2.5-flash-image") == limiter.Limit(4, 0.2)
    overrides = limiter.parse_limits(("gemini-2.5-flash-image=1/1500",))
    assert limiter.limit_for("gemini", "gemini-2.5-flash-image", overrides) == limiter.Limit(1, 1.5)
    with pytest.raises(ValueError, match="MODEL=CONCURRENT/SPACING_MS"):
        limiter.parse_limits(("gemini=0/100",))
    # one gate per provider and model, for the whole process
    a = limiter.gate("gemini", "m", limiter.Limit(2, 0.5))
    assert limiter.gate("gemini", "m", limiter.Limit(2, 0.5)) is a


# -- consent, keys, auto ----------------------------------------------------------------------------

@pytest.mark.parametrize("engine,key", [("fashn", "FASHN_API_KEY"), ("openai", "OPENAI_API_KEY"),
                                        ("gemini", "GEMINI_API_KEY")])
def test_without_consent_or_key_the_server_refuses_to_start(tmp_path, monkeypatch, capsys, engine, key):
    for name in KEYS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TRYON_HOSTED_OK", raising=False)
    assert cli.main(["--engine", engine, "--data-dir", str(tmp_path)]) == 2
    said = capsys.readouterr().err
    assert f"The {engine} engine cannot start: it sends your photos to" in said and "--hosted-ok" in said
    assert cli.main(["--engine", engine, "--hosted-ok", "--data-dir", str(tmp_path)]) == 2
    assert f"set the environment variable {key}" in capsys.readouterr().err
    assert not (tmp_path / "tryon.sqlite3").exists()  # refused before anything was made


def test_auto_never_picks_a_hosted_engine(monkeypatch):
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    assert resolve_choice(Settings(engine="auto", hosted_ok=True)) in ("classic", "catvton", "diffusion")


# -- the delayed re-queue survives kill -9 -----------------------------------------------------------

def test_a_pending_provider_retry_survives_kill_9_and_runs_once_after_restart(fake, tmp_path):
    """The provider rate-limits; the session is re-queued for later; the server is killed while
    it waits; after the restart the session runs when its time comes (not before, not twice)."""
    fake.queue("/v1/run", *[too_many({"Retry-After": "0"})] * 4)
    server = ServerProcess(tmp_path / "data", "--hosted-ok", "--provider-retry-base-s", "6", engine="fashn",
                           env={**KEYS, "FASHN_BASE_URL": fake.url})
    server.start()
    try:
        token = httpx.post(f"{server.url}/api/tokens").json()["token"]
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        session_id = submit(client)
        deadline = time.time() + 30
        while (body := client.get(f"/api/tryon/sessions/{session_id}").json())["stage"] != "waiting_for_provider":
            assert time.time() < deadline, body
            time.sleep(0.05)
        server.kill()
        row = sqlite3.connect(tmp_path / "data" / "tryon.sqlite3").execute(
            "SELECT status, retry_at, attempts, deferrals FROM sessions WHERE id = ?", (session_id,)).fetchone()
        status, retry_at, attempts, deferrals = row
        assert (status, attempts, deferrals) == ("queued", 0, 1) and retry_at > time.time()
        rate_limited = len(fake.hits("/v1/run"))
        server.start()
        body = wait_terminal(client, session_id, timeout=60)
        assert body["status"] == "completed" and body["attempts"] == 1, body
        runs = fake.hits("/v1/run")[rate_limited:]
        assert len(runs) == 1  # once: not lost, not doubled
        # not before its time: the wall clock of the run's arrival, from the fake's monotonic clock
        arrived = time.time() - (time.monotonic() - runs[0].at)
        assert arrived >= retry_at - 0.05
        time.sleep(1.0)
        assert len(fake.hits("/v1/run")) == rate_limited + 1
    finally:
        server.terminate()


@pytest.fixture(autouse=True)
def _clear_gates() -> Iterator[None]:
    """Gates are process-wide on purpose; between tests that would carry one test's holds into
    the next."""
    yield
    with limiter._gates_lock:
        limiter._gates.clear()


# -- the page and the extension say where the photos go ------------------------------------------------

def test_page_footer_and_extension_popup_name_the_provider(fake, server_factory, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.browser import launch_with_extension, require_chromium

    require_chromium()
    live, _ = hosted(server_factory, "fashn")
    sentence = "Your photos are sent to FASHN (127.0.0.1) to make each try-on."
    extension = Path(__file__).resolve().parent.parent / "static" / "extension"
    with sync_playwright() as p:
        context, worker, extension_id = launch_with_extension(p, extension, tmp_path / "profile")
        try:
            page = context.new_page()
            page.goto(live.url)
            footer = page.locator("#photos-sent-to")
            footer.wait_for(state="visible", timeout=10000)
            assert footer.inner_text() == sentence
            worker.evaluate("async (url) => { await chrome.storage.local.set({serverUrl: url}); }", live.url)
            popup = context.new_page()
            popup.goto(f"chrome-extension://{extension_id}/popup.html")
            notice = popup.locator("#photos-sent-to")
            notice.wait_for(state="visible", timeout=10000)
            assert notice.inner_text() == sentence
        finally:
            context.close()
