"""A local server is reachable by every web page the user visits. These tests prove that a page on
another site gets nothing: not through DNS rebinding (Host check), not through cross-site requests
(CORS and bearer tokens on every state-changing call), and that the server binds to loopback unless
told otherwise, and says so loudly when it is not.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from tests.conftest import fixture_bytes, new_token
from tests.doubles import InstantEngine
from tests.server_process import ServerProcess
from tryon_server.api import routes as api_routes
from tryon_server.config import parse_settings

EXTENSION_ORIGIN = "chrome-extension://" + "abcdefghijklmnop" * 2


# ---- Host: DNS rebinding ---------------------------------------------------------------------

@pytest.mark.parametrize("host", [
    "evil.example", "evil.example:{port}", "127.0.0.1.nip.io:{port}", "localhost.evil.example:{port}",
    "attacker.localtest.me", "192.168.1.20:{port}", "127.0.0.2:{port}", "[::2]:{port}", "0.0.0.0:{port}",
    "localhost:{port}:{port}", "", "127.0.0.1 evil.example",
    # read only up to where they looked right, these once passed
    "[::1]evil", "[::1]evil.example:{port}", "[::1]:{port}evil", "localhost:evil", "127.0.0.1:{port}x",
])
def test_requests_addressed_to_another_host_name_are_refused_403(server_factory, host):
    live = server_factory(InstantEngine)
    port = live.url.rsplit(":", 1)[1]
    for path in ("/api/health", "/api/tokens", "/", "/openapi.json"):
        method = "POST" if path == "/api/tokens" else "GET"
        r = httpx.request(method, live.url + path, headers={"Host": host.format(port=port)})
        assert r.status_code in (403, 400), (host, path, r.status_code)
        if r.status_code == 403:
            assert r.json()["error"]["code"] == "bad_host"
    # nothing was created by the refused POSTs
    assert live.state.known_tokens == set()


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}",
                                  "127.0.0.1", "localhost"])
def test_requests_to_the_servers_own_names_are_served(server_factory, host):
    live = server_factory(InstantEngine)
    port = live.url.rsplit(":", 1)[1]
    r = httpx.get(live.url + "/api/health", headers={"Host": host.format(port=port)})
    assert r.status_code == 200


def test_extra_host_names_are_accepted_only_when_configured(server_factory):
    live = server_factory(InstantEngine, allowed_hosts=("tryon.lan",))
    assert httpx.get(live.url + "/api/health", headers={"Host": "tryon.lan"}).status_code == 200
    assert httpx.get(live.url + "/api/health", headers={"Host": "other.lan"}).status_code == 403


# ---- CORS: only the extension and the page's own origins -----------------------------------------

def _preflight(url: str, origin: str, method: str = "POST") -> httpx.Response:
    return httpx.options(url, headers={"Origin": origin, "Access-Control-Request-Method": method,
                                       "Access-Control-Request-Headers": "authorization,content-type"})


def test_cors_allows_the_extension_and_the_servers_own_page(server_factory):
    live = server_factory(InstantEngine)
    port = live.url.rsplit(":", 1)[1]
    for origin in (EXTENSION_ORIGIN, f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        pre = _preflight(live.url + "/api/tryon/sessions", origin)
        assert pre.status_code == 200, (origin, pre.text)
        assert pre.headers["access-control-allow-origin"] == origin
        assert "authorization" in pre.headers["access-control-allow-headers"].lower()
        r = httpx.get(live.url + "/api/health", headers={"Origin": origin})
        assert r.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize("origin", [
    "https://evil.example", "http://evil.example", "null", "http://127.0.0.1", "http://127.0.0.1:1",
    "http://localhost.evil.example", "chrome-extension://short", "chrome-extension://" + "z" * 32,
    "chrome-extension://" + "a" * 32 + ".evil.example", "moz-extension://" + "a" * 32, "file://",
    "https://127.0.0.1.nip.io",
])
def test_cors_refuses_every_other_origin(server_factory, origin):
    live = server_factory(InstantEngine)
    pre = _preflight(live.url + "/api/tryon/sessions", origin)
    assert pre.status_code == 400
    assert "access-control-allow-origin" not in pre.headers
    simple = httpx.get(live.url + "/api/health", headers={"Origin": origin})
    assert "access-control-allow-origin" not in simple.headers
    token = httpx.post(live.url + "/api/tokens", headers={"Origin": origin, "Content-Type": "text/plain"})
    assert "access-control-allow-origin" not in token.headers  # a page cannot read a token it made
    # ...nor make one: a "simple" cross-site POST is sent without a preflight, so it is refused
    assert token.status_code == 403 and token.json()["error"]["code"] == "cross_site_refused"
    assert live.state.known_tokens == set()


def test_the_servers_own_page_and_the_extension_can_still_write(server_factory):
    live = server_factory(InstantEngine)
    port = live.url.rsplit(":", 1)[1]
    for origin in (EXTENSION_ORIGIN, f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        assert httpx.post(live.url + "/api/tokens", headers={"Origin": origin}).status_code == 201, origin
    # same origin under a name given with --allowed-hosts (the page served as http://NAME:PORT)
    live.stop()
    named = server_factory(InstantEngine, allowed_hosts=("tryon.lan",))
    r = httpx.post(named.url + "/api/tokens", headers={"Host": f"tryon.lan:{port}", "Origin": f"http://tryon.lan:{port}"})
    assert r.status_code == 201, r.text


def test_cors_never_allows_credentials_or_wildcards(server_factory):
    live = server_factory(InstantEngine)
    pre = _preflight(live.url + "/api/tryon/sessions", EXTENSION_ORIGIN)
    assert pre.headers["access-control-allow-origin"] != "*"
    assert "access-control-allow-credentials" not in pre.headers


# ---- bearer token on every state-changing call ---------------------------------------------------

PUBLIC_CALLS = {("POST", "/api/tokens")}  # the one way to get a token
UNAUTHENTICATED_READS = {"/api/health", "/metrics", "/openapi.json", "/api/docs", "/api/docs/init.js",
                         "/api/images/{key:path}"}


def _api_calls() -> list[tuple[str, str]]:
    """Every (method, path) in the routing table, so a route added later is covered automatically."""
    calls = []
    for route in api_routes:
        if isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    calls.append((method, route.path))
    return calls


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0123456789abcdef0123456789abcdef", path)


def test_the_route_table_has_the_state_changing_calls_we_expect():
    changing = {c for c in _api_calls() if c[0] in ("POST", "DELETE", "PUT", "PATCH")}
    assert {("POST", "/api/tryon/sessions"), ("DELETE", "/api/tryon/sessions/{session_id}"),
            ("POST", "/api/profiles"), ("DELETE", "/api/tokens/current")} <= changing


@pytest.mark.parametrize("method,path", [c for c in _api_calls()
                                          if c not in PUBLIC_CALLS and c[1] not in UNAUTHENTICATED_READS])
def test_every_private_call_needs_a_valid_bearer_token(server_factory, method, path):
    live = server_factory(InstantEngine)
    for auth in (None, "Bearer not-a-token", "Basic dXNlcjpwdw==", "Bearer", "bearer x y", "Token abc"):
        headers = {"Authorization": auth} if auth else {}
        kwargs: dict = {}
        if method == "POST":  # a real-looking body, as a cross-site form post would send
            kwargs = {"files": {"photo": ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg"),
                                "person": ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg")},
                      "data": {"height_cm": "170", "garment_url": "https://shop.example/a.png", "keep": "true"}}
        r = httpx.request(method, live.url + _concrete(path), headers=headers, **kwargs)
        assert r.status_code == 401, (method, path, auth, r.status_code, r.text)
        assert r.json()["error"]["code"] in {"missing_token", "unknown_token"}
    with sqlite3.connect(live.state.settings.db_path) as db:
        assert db.execute("SELECT (SELECT COUNT(*) FROM sessions) + (SELECT COUNT(*) FROM profiles)").fetchone()[0] == 0
    assert live.state.storage.all_keys() == set()


def test_a_token_does_not_reach_another_tokens_data(server_factory):
    live = server_factory(InstantEngine)
    with live.client(new_token(live)) as owner, live.client(new_token(live)) as stranger:
        pid = owner.post("/api/profiles", files={"photo": ("me.jpg", fixture_bytes("grace_hopper.jpg"),
                                                           "image/jpeg")}).json()["profile_id"]
        assert stranger.get(f"/api/profiles/{pid}").status_code == 404
        assert stranger.delete(f"/api/profiles/{pid}").status_code == 404
        assert stranger.get("/api/profiles").json()["items"] == []
        assert owner.get(f"/api/profiles/{pid}").status_code == 200


# ---- binding ---------------------------------------------------------------------------------

def test_default_settings_bind_to_loopback_only():
    assert parse_settings([]).host == "127.0.0.1"


def _listening_addresses(port: int) -> set[str]:
    """Local addresses in LISTEN state for `port`, from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            addr_hex, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:
                found.add(addr_hex)
    return found


def test_server_started_without_host_listens_on_127_0_0_1_only(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    try:
        assert _listening_addresses(server.port) == {"0100007F"}  # 127.0.0.1, little-endian hex
        assert "!!!" not in server.log_tail()
    finally:
        server.terminate()


def test_binding_beyond_loopback_prints_a_loud_warning(tmp_path):
    server = ServerProcess(tmp_path / "data", "--host", "0.0.0.0")
    server.start(wait_ready=False)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "!!!" not in server.log_tail():
            time.sleep(0.05)
        log = server.log_tail()
    finally:
        server.kill()  # do not leave it listening on every interface a moment longer than needed
    assert "!!! listening on 0.0.0.0: other machines can reach this server and your photos" in log
    assert "--allowed-hosts" in log
