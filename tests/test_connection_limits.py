"""What uvicorn is told by run.py: no trust in X-Forwarded-For, a cap on connections, and
deadlines for a request's head and body (slowloris). Against the real server process.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.conftest import fixture_bytes, image_bytes, new_token
from tests.garments import draw_top
from tests.server_process import ServerProcess
from tests.test_rate_limits import GatedEngine
from tryon_server.app import MAX_STREAMS_PER_TOKEN


@pytest.fixture
def start(tmp_path) -> Iterator:
    started: list[ServerProcess] = []

    def make(*args: str) -> ServerProcess:
        proc = ServerProcess(tmp_path / f"data{len(started)}", *args).start()
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.terminate()


def _connect(server: ServerProcess) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return s


def _closed_by_server(s: socket.socket, within_s: float) -> bool:
    """True if the server closes the connection (EOF or reset) within `within_s`."""
    s.settimeout(within_s)
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_x_forwarded_for_does_not_choose_the_rate_limited_address(start):
    """uvicorn trusted proxy headers from 127.0.0.1 by default: every request naming another
    X-Forwarded-For got a fresh per-address budget."""
    server = start("--rate-limit-per-minute", "5")
    statuses = [httpx.post(server.url + "/api/tokens", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                for i in range(8)]
    assert statuses == [201] * 5 + [429] * 3, statuses


def test_proxy_headers_can_be_turned_on_behind_a_real_proxy(start):
    server = start("--rate-limit-per-minute", "2", "--proxy-headers")
    statuses = [httpx.post(server.url + "/api/tokens", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                for i in range(4)]
    assert statuses == [201] * 4  # each forwarded address has its own budget
    same = [httpx.post(server.url + "/api/tokens", headers={"X-Forwarded-For": "198.51.100.7"}).status_code
            for _ in range(3)]
    assert same == [201, 201, 429]


def test_slow_request_heads_and_bodies_are_cut_off(start):
    """50 connections that send half a request head, 10 that send nothing, and 10 whose body
    trickles: all are closed by the server at their deadline, and it keeps answering."""
    server = start("--request-head-timeout-s", "1", "--request-body-timeout-s", "1.5")
    half_heads = []
    for _ in range(50):
        s = _connect(server)
        s.sendall(b"POST /api/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        half_heads.append(s)
    silent = [_connect(server) for _ in range(10)]
    slow_bodies = []
    for _ in range(10):
        s = _connect(server)
        s.sendall(b"POST /api/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                  b"Content-Length: 1000\r\n\r\n0123456789")
        slow_bodies.append(s)
    assert httpx.get(server.url + "/api/health").status_code == 200  # others are served meanwhile
    started = time.monotonic()
    try:
        assert all(_closed_by_server(s, 4) for s in half_heads + silent)
        assert all(_closed_by_server(s, 4) for s in slow_bodies)
        assert time.monotonic() - started < 6
    finally:
        for s in half_heads + silent + slow_bodies:
            s.close()
    assert httpx.get(server.url + "/api/health").status_code == 200


def test_a_request_that_arrives_in_time_is_not_cut_off(start):
    """The deadlines are for arriving: a head sent in pieces within it is served normally."""
    server = start("--request-head-timeout-s", "2")
    s = _connect(server)
    try:
        for piece in (b"GET /api/health HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"\r\n"):
            s.sendall(piece)
            time.sleep(0.3)
        s.settimeout(5)
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        s.close()


def test_connections_beyond_the_limit_get_503(start):
    server = start("--max-connections", "10")
    idle = [_connect(server) for _ in range(10)]
    try:
        time.sleep(0.2)
        r = httpx.get(server.url + "/api/health")
        assert r.status_code == 503
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + 5
    while httpx.get(server.url + "/api/health").status_code != 200:
        assert time.monotonic() < deadline, "the server did not take connections again"
        time.sleep(0.1)


def test_event_streams_per_token_are_capped(server_factory):
    """A live session's event stream stays open while it runs: one token may hold
    MAX_STREAMS_PER_TOKEN of them, one more gets 429, another token is not affected, and the
    count falls as streams close."""
    engine = GatedEngine()
    live = server_factory(lambda: engine)
    token = new_token(live)
    try:
        with live.client(token) as c:
            r = c.post("/api/tryon/sessions", files={"person": ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg"),
                                                     "garment": ("top.png", image_bytes(draw_top()), "image/png")})
            assert r.status_code == 202, r.text
            events = f"/api/tryon/sessions/{r.json()['session_id']}/events"
        with ExitStack() as stack:
            clients = [stack.enter_context(live.client(token)) for _ in range(MAX_STREAMS_PER_TOKEN + 1)]
            streams = [stack.enter_context(cl.stream("GET", events)) for cl in clients[:MAX_STREAMS_PER_TOKEN]]
            assert all(s.status_code == 200 for s in streams)
            extra = clients[-1].get(events)
            assert extra.status_code == 429 and extra.json()["error"]["code"] == "too_many_streams"
            assert int(extra.headers["Retry-After"]) > 0
            with live.client(new_token(live)) as other:  # someone else's token: not counted together
                assert other.get(events).status_code == 404
            streams[0].close()
            deadline = time.monotonic() + 5
            while (again := clients[-1].stream("GET", events).__enter__()).status_code != 200:
                again.close()
                assert time.monotonic() < deadline, "the closed stream was never counted off"
                time.sleep(0.1)
            again.close()
    finally:
        engine.gate.set()
