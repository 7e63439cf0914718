"""Rate limits (per client address and per token, 429 + Retry-After) and the bounded queue
(503 + Retry-After when full), against the real server over HTTP.

Different client addresses are real: the kernel lets a client bind any 127.0.0.0/8 source address,
so requests from 127.0.0.2 and 127.0.0.3 are different clients to the server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest

from tests.conftest import LiveServer, fixture_bytes, image_bytes, new_token, wait_processing, wait_terminal
from tests.doubles import InstantEngine
from tests.garments import draw_top
from tryon_server.config import Settings


def client_from(live, source: str, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=live.url, headers=headers, timeout=30,
                        transport=httpx.HTTPTransport(local_address=source))


def assert_429(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "too_many_requests"
    retry_after = int(r.headers["Retry-After"])
    assert 1 <= retry_after <= 60


def submit(c: httpx.Client) -> httpx.Response:
    return c.post("/api/tryon/sessions",
                  files={"person": ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg"),
                         "garment": ("top.png", image_bytes(draw_top()), "image/png")},
                  data={"options": '{"output_size": 128}'})


def test_one_client_address_is_limited_and_another_address_is_not(server_factory):
    live = server_factory(InstantEngine, rate_limit_per_minute=5)
    with client_from(live, "127.0.0.2") as noisy, client_from(live, "127.0.0.3") as quiet:
        for _ in range(5):
            assert noisy.post("/api/tokens").status_code == 201
        r = noisy.post("/api/tokens")
        assert_429(r)
        assert "wait a moment" in r.json()["error"]["message"]
        assert quiet.post("/api/tokens").status_code == 201  # its own budget


def test_a_flood_of_token_creation_does_not_lock_out_the_users_own_token(server_factory):
    """An adversarial review made ~300 tokens from one address (as a web page in the user's
    browser could) and the user's page and extension, on the same address, got 429."""
    live = server_factory(InstantEngine, rate_limit_per_minute=5)
    with client_from(live, "127.0.0.2") as user:
        token = user.post("/api/tokens").json()["token"]
        for _ in range(4):
            assert user.post("/api/tokens").status_code == 201
        assert_429(user.post("/api/tokens"))  # token creation is limited on its own...
        mine = {"Authorization": f"Bearer {token}"}
        assert [user.get("/api/profiles", headers=mine).status_code for _ in range(5)] == [200] * 5  # ...not with it
        assert_429(user.get("/api/profiles", headers=mine))


def test_one_token_is_limited_across_client_addresses(server_factory):
    live = server_factory(InstantEngine, rate_limit_per_minute=6)
    with client_from(live, "127.0.0.4") as issuer:
        token = issuer.post("/api/tokens").json()["token"]
    with client_from(live, "127.0.0.2", token) as a, client_from(live, "127.0.0.3", token) as b:
        for i in range(6):  # each address spends 3 of its 6; the token spends all 6
            assert (a if i % 2 else b).get("/api/profiles").status_code == 200
        assert_429(a.get("/api/profiles"))
        assert_429(b.get("/api/profiles"))
    with client_from(live, "127.0.0.2") as same_address_new_token:  # the address itself is not used up
        other = same_address_new_token.post("/api/tokens").json()["token"]
        assert same_address_new_token.get("/api/profiles", headers={"Authorization": f"Bearer {other}"}).status_code == 200


def test_submissions_have_their_own_lower_limit(server_factory):
    live = server_factory(InstantEngine, rate_limit_per_minute=100, submit_limit_per_minute=2)
    with live.client(new_token(live)) as c:
        assert submit(c).status_code == 202
        assert submit(c).status_code == 202
        assert_429(submit(c))
        assert c.get("/api/profiles").status_code == 200  # reading goes on


def test_health_and_rate_limited_answers_carry_no_500(server_factory):
    live = server_factory(InstantEngine, rate_limit_per_minute=3)
    with live.client(new_token(live)) as c:
        statuses = [c.get("/api/tryon/archive").status_code for _ in range(20)]
    assert set(statuses) == {200, 429} and statuses[:2] == [200, 200]
    assert httpx.get(live.url + "/api/health").status_code == 200  # health is never rate limited


class GatedEngine(InstantEngine):
    """Holds every try-on until the test opens the gate: a queue that cannot drain."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def run(self, job, progress):
        self.gate.wait(60)
        return super().run(job, progress)


@contextmanager
def one_session_processing(server_factory, queue_max: int) -> Iterator[tuple[LiveServer, GatedEngine, httpx.Client]]:
    """A server whose one inference thread is held by a first session, so that every later one
    waits in the queue; the gate is opened on the way out whatever happened, or the server could
    not stop."""
    engine = GatedEngine()
    live = server_factory(lambda: engine, queue_max=queue_max)
    try:
        with live.client(new_token(live)) as c:
            wait_processing(c, submit(c).json()["session_id"])
            yield live, engine, c
    finally:
        engine.gate.set()


def test_default_queue_bound_is_100():
    assert Settings().queue_max == 100


def test_full_queue_answers_503_with_retry_after_and_accepts_again_once_drained(server_factory):
    with one_session_processing(server_factory, queue_max=3) as (_, engine, c):
        waiting = [submit(c) for _ in range(3)]
        assert [r.status_code for r in waiting] == [202, 202, 202]
        full = submit(c)
        assert full.status_code == 503, full.text
        assert full.json()["error"]["code"] == "queue_full" and "queue is full" in full.json()["error"]["message"]
        assert int(full.headers["Retry-After"]) > 0
        engine.gate.set()
        for r in waiting:
            assert wait_terminal(c, r.json()["session_id"])["status"] == "completed"
        assert submit(c).status_code == 202


@pytest.mark.parametrize("limit", [0])
def test_zero_disables_rate_limits(server_factory, limit):
    live = server_factory(InstantEngine, rate_limit_per_minute=limit)
    with live.client(new_token(live)) as c:
        assert all(c.get("/api/profiles").status_code == 200 for _ in range(50))


def test_simultaneous_submissions_cannot_overfill_the_queue(server_factory):
    """The bound holds under a burst: the check and the insert are not separated by the upload."""
    with one_session_processing(server_factory, queue_max=3) as (live, _, c):
        with ThreadPoolExecutor(12) as pool:
            statuses = list(pool.map(lambda _: submit(c).status_code, range(12)))
        assert sorted(statuses) == [202] * 3 + [503] * 9, statuses
        assert httpx.get(live.url + "/api/health").json()["queue_depth"] == 3
        # the nine refused uploads left no file behind: person + garment of the 4 sessions only
        assert len([k for k in live.state.storage.all_keys() if k.startswith("inputs/")]) == 8
