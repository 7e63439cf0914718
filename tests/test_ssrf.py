"""SSRF: a `garment_url` can never make the server fetch from anything but the public internet.

Traffic in these tests goes only to loopback. Non-loopback ranges (private, link-local, metadata,
ULA...) are tested at the address check itself; every test here also runs under a guard that fails
the test if any code in this process tries to open a connection to a non-loopback address, so a
broken check trips the guard instead of reaching the network. "No connection was made" is proven
by loopback servers that count their TCP connections.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import socket
import time
import tracemalloc
import zlib

import pytest

from tests.conftest import fixture_bytes, image_bytes, new_token, wait_terminal
from tests.doubles import InstantEngine
from tests.garments import draw_top
from tests.loopback_http import (
    LoopbackServer,
    endless_chunks,
    gzip_of_zeros,
    hang,
    redirect_to,
    serve_bytes,
    serve_encoded,
    trickle,
)
from tryon_server.downloads import download_image, is_public_address, resolve_target
from tryon_server.exceptions import PayloadTooLarge, ValidationFailed

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


def _is_loopback(host: str) -> bool:
    try:
        addr = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return host == "localhost"
    return any(addr in net for net in LOOPBACK)


@pytest.fixture(autouse=True)
def no_traffic_beyond_loopback(monkeypatch: pytest.MonkeyPatch):
    """Fail loudly (instead of connecting) if anything tries a non-loopback address."""
    attempts: list[str] = []
    real_create = asyncio.BaseEventLoop.create_connection
    real_connect = socket.socket.connect

    async def guarded_create(self, protocol_factory, host=None, port=None, *args, **kwargs):
        if host is not None and not _is_loopback(str(host)):
            attempts.append(str(host))
            raise ConnectionRefusedError(f"test guard: refused a connection to non-loopback {host}")
        return await real_create(self, protocol_factory, host, port, *args, **kwargs)

    def guarded_connect(self, address):
        if isinstance(address, tuple) and not _is_loopback(str(address[0])):
            attempts.append(str(address[0]))
            raise ConnectionRefusedError(f"test guard: refused a connection to non-loopback {address[0]}")
        return real_connect(self, address)

    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", guarded_create)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    yield attempts
    assert attempts == [], f"code under test tried to connect beyond loopback: {attempts}"


# ---- 1. the address check, for every range that must never be fetched --------------------------

NON_PUBLIC = [
    # loopback, every spelling an URL parser may hand over after resolution
    "127.0.0.1", "127.1.2.3", "127.255.255.254", "::1", "::ffff:127.0.0.1", "::ffff:7f00:1",
    "0.0.0.0", "0.1.2.3", "::",
    # private (RFC 1918), shared CGNAT (RFC 6598), link-local and cloud metadata
    "10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.0.1", "192.168.255.255",
    "100.64.0.1", "100.127.255.254", "169.254.169.254", "169.254.0.1", "fd00:ec2::254",
    # IPv6 unique-local, link-local, site-local
    "fc00::1", "fd12:3456:789a::1", "fe80::1", "febf::1", "fec0::1",
    # benchmarking, documentation, reserved, broadcast, multicast
    "198.18.0.1", "192.0.2.1", "198.51.100.1", "203.0.113.1", "240.0.0.1", "255.255.255.255",
    "224.0.0.1", "239.255.255.250", "ff02::1", "2001:db8::1", "192.0.0.1",
    # private IPv4 hidden inside IPv6: mapped, NAT64, 6to4, Teredo
    "::ffff:10.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1", "64:ff9b::7f00:1",
    "2002:a00:1::1", "2002:7f00:1::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "100::1",
    # ...and in the forms Python's is_global calls public: IPv4-compatible (::a.b.c.d), SIIT
    # (::ffff:0:a.b.c.d) and local-use NAT64 (64:ff9b:1::/48, a network's own translator)
    "::7f00:1", "::a00:1", "::a9fe:a9fe", "::ffff:0:7f00:1", "::ffff:0:a00:1", "64:ff9b:1::7f00:1",
    "64:ff9b:1::808:808", "64:ff9b:1:ffff::1",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001:82b::200e",
          "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_address_check_refuses_every_non_public_range(address: str):
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_address_check_accepts_public_addresses(address: str):
    assert is_public_address(ipaddress.ip_address(address))


# ---- 2. URLs: every spelling of loopback, and every scheme that is not http(s) ------------------

LOOPBACK_SPELLINGS = [
    "127.0.0.1", "127.1", "0x7f000001", "2130706433", "017700000001", "0x7f.1", "127.000.000.001",
    "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:0:0:1]", "0.0.0.0", "0", "localhost",
    "LOCALHOST", "localhost.", "api.localhost", "[::7f00:1]", "[::127.0.0.1]", "[::ffff:0:7f00:1]",
    "[64:ff9b:1::7f00:1]",
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
async def test_every_spelling_of_loopback_is_refused(host: str):
    with pytest.raises(ValidationFailed) as info:
        await resolve_target(f"http://{host}:8080/shirt.png")
    assert info.value.code == "garment_url_not_public"


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/a.png", "http://100.64.0.1/a.png",
    "http://[fc00::1]/a.png", "http://[fe80::1]/a.png", "https://192.168.1.1/a.png", "http://172.16.0.1/",
    "http://[::ffff:169.254.169.254]/", "http://0xa9fea9fe/", "http://2852039166/",
])
async def test_private_link_local_and_metadata_urls_are_refused(url: str):
    with pytest.raises(ValidationFailed) as info:
        await resolve_target(url)
    assert info.value.code == "garment_url_not_public"


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://127.0.0.1/a.png", "gopher://127.0.0.1:6379/_INFO", "dict://127.0.0.1:11211/",
    "data:image/png;base64,iVBORw0KGgo=", "javascript:alert(1)", "jar:http://x/y!/z", "//127.0.0.1/a.png",
    "http:///a.png", "http://user:pw@example.com/a.png", "not a url", "http://[::1/",
])
async def test_non_http_schemes_and_malformed_urls_are_refused(url: str):
    with pytest.raises(ValidationFailed) as info:
        await resolve_target(url)
    assert info.value.code in {"bad_garment_url", "garment_url_not_public"}


# ---- 3. through the real server: refused, and the loopback target saw no connection at all ---------

@pytest.fixture
def targets():
    """The same port on 127.0.0.1 and [::1], counting connections: what an attacker wants reached."""
    v4 = LoopbackServer("127.0.0.1", routes={"/secret.png": serve_bytes(image_bytes(draw_top()))})
    try:
        v6 = LoopbackServer("::1", port=v4.port, routes=v4.routes)
    except OSError:
        v6 = None
    yield v4, v6
    v4.close()
    if v6:
        v6.close()


def test_server_refuses_loopback_garment_urls_and_makes_no_connection(server_factory, targets):
    v4, v6 = targets
    live = server_factory(InstantEngine)  # allow_loopback_downloads is off, as in production
    with live.client(new_token(live)) as c:
        for host in LOOPBACK_SPELLINGS:
            url = f"http://{host}:{v4.port}/secret.png"
            r = c.post("/api/tryon/sessions", data={"garment_url": url},
                       files={"person": ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg")})
            assert r.status_code == 422, (url, r.text)
            assert r.json()["error"]["code"] == "garment_url_not_public", (url, r.text)
            assert "private or local network" in r.json()["error"]["message"]
        # the JSON form of the request takes the same path
        profile = c.post("/api/profiles", files={"photo": ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg")})
        r = c.post("/api/tryon/sessions", json={"profile_id": profile.json()["profile_id"],
                                                "garment_url": f"http://127.0.0.1:{v4.port}/secret.png"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "garment_url_not_public"
    assert v4.hits.connections == 0 and v4.hits.requests == []
    if v6:
        assert v6.hits.connections == 0
    # only the profile photo is on disk: every refused submission removed the person photo it stored
    assert len(live.state.storage.all_keys()) == 1


def test_refused_url_leaves_no_stored_file_behind(server_factory, targets):
    v4, _ = targets
    live = server_factory(InstantEngine)
    with live.client(new_token(live)) as c:
        r = c.post("/api/tryon/sessions", data={"garment_url": f"http://127.1:{v4.port}/secret.png"},
                   files={"person": ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg")})
        assert r.status_code == 422
    assert live.state.storage.all_keys() == set()  # the person photo stored first was removed again


# ---- 4. redirects: each hop is checked again, before any connection to it ----------------------

REDIRECT_TARGETS = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/", "http://10.0.0.1/a.png",
    "http://100.64.0.1/a.png", "http://[fc00::1]/a.png", "http://[fe80::1]/a.png", "http://192.168.0.1/",
    "http://0.0.0.0:{port}/img.png", "file:///etc/passwd", "ftp://127.0.0.1/a.png", "gopher://127.0.0.1:6379/_x",
    # no slashes: httpx refuses to parse it (InvalidURL), which once escaped as a 500
    "http:127.0.0.1:{port}/img.png", "https:[::1]:{port}/img.png",
]


@pytest.mark.parametrize("target", REDIRECT_TARGETS)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_to_a_non_public_address_is_refused_before_connecting(target: str, status: int):
    with LoopbackServer() as shop:
        shop.routes["/garment.png"] = redirect_to(target.format(port=shop.port), status)
        shop.routes["/img.png"] = serve_bytes(b"never served")
        # loopback is allowed here only so that the first hop (the fake shop) can be reached
        with pytest.raises(ValidationFailed) as info:
            await download_image(shop.url("/garment.png"), max_bytes=1 << 20, timeout_s=5, allow_loopback=True)
        assert info.value.code in {"garment_url_not_public", "bad_garment_url"}
        assert [p for p, _ in shop.hits.requests] == ["/garment.png"]


async def test_redirect_to_loopback_is_refused_when_loopback_is_not_allowed(monkeypatch):
    """The production setting: a public-looking name that redirects to 127.0.0.1 gets nothing."""
    with LoopbackServer() as inside:
        inside.routes["/admin"] = serve_bytes(b"secret")
        with pytest.raises(ValidationFailed):
            await download_image(inside.url("/admin"), max_bytes=1 << 20, timeout_s=5)
        assert inside.hits.connections == 0


async def test_redirect_chain_within_allowed_hosts_works_and_loops_are_cut_off():
    png = image_bytes(draw_top())
    with LoopbackServer() as shop:
        shop.routes["/a"] = redirect_to("/b")
        shop.routes["/b"] = redirect_to(shop.url("/img.png"), 307)
        shop.routes["/img.png"] = serve_bytes(png)
        shop.routes["/loop"] = redirect_to("/loop")
        assert await download_image(shop.url("/a"), max_bytes=1 << 20, timeout_s=5, allow_loopback=True) == png
        with pytest.raises(ValidationFailed, match="redirects too many times"):
            await download_image(shop.url("/loop"), max_bytes=1 << 20, timeout_s=5, allow_loopback=True)
        assert sum(1 for p, _ in shop.hits.requests if p == "/loop") == 6  # the URL and 5 redirects


def test_a_malformed_redirect_is_a_422_through_the_real_server(server_factory):
    with LoopbackServer() as shop:
        shop.routes["/garment.png"] = redirect_to(f"http:127.0.0.1:{shop.port}/img.png")
        live = server_factory(InstantEngine, allow_loopback_downloads=True)
        with live.client(new_token(live)) as c:
            r = c.post("/api/tryon/sessions", data={"garment_url": shop.url("/garment.png")},
                       files={"person": ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg")})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "bad_garment_url" and "not valid" in r.json()["error"]["message"]
        assert [p for p, _ in shop.hits.requests] == ["/garment.png"]


# ---- 5. one DNS lookup per hop, and the connection goes to the address that was checked ----------

async def test_connection_goes_to_the_checked_address_with_no_second_dns_lookup(monkeypatch):
    """DNS rebinding: the first answer is checked; a later answer (here another loopback address,
    standing in for an internal one) must never be used, because nothing looks the name up again."""
    png = image_bytes(draw_top())
    with LoopbackServer("127.0.0.1", routes={"/g.png": serve_bytes(png)}) as checked, \
            LoopbackServer("127.0.0.2", port=checked.port, routes={"/g.png": serve_bytes(b"inside")}) as inside:
        lookups: list[str] = []
        real = asyncio.BaseEventLoop.getaddrinfo

        async def rebinding_dns(self, host, port, *args, **kwargs):
            if host == "shop.test":
                lookups.append(host)
                answer = "127.0.0.1" if len(lookups) == 1 else "127.0.0.2"
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, port))]
            return await real(self, host, port, *args, **kwargs)

        def no_sync_lookup(host, *args, **kwargs):
            lookups.append(f"sync:{host}")
            raise AssertionError(f"unexpected synchronous DNS lookup of {host}")

        monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", rebinding_dns)
        monkeypatch.setattr(socket, "getaddrinfo", no_sync_lookup)
        data = await download_image(f"http://shop.test:{checked.port}/g.png", max_bytes=1 << 20, timeout_s=5,
                                    allow_loopback=True)
        assert data == png
        assert lookups == ["shop.test"]
        assert checked.hits.requests == [("/g.png", f"shop.test:{checked.port}")]  # the name rides in Host
        assert inside.hits.connections == 0


async def test_a_name_with_any_non_public_answer_is_refused(monkeypatch):
    """A name resolving to one public and one private address is refused as a whole."""
    async def mixed(self, host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", mixed)
    with pytest.raises(ValidationFailed) as info:
        await download_image("https://shop.test/g.png", max_bytes=1 << 20, timeout_s=5)
    assert info.value.code == "garment_url_not_public"


# ---- 6. size cap and time limits ------------------------------------------------------------------

async def test_declared_oversize_download_is_refused_without_reading_the_body():
    with LoopbackServer(routes={"/big.png": endless_chunks(declared_length=50 << 20)}) as shop:
        started = time.monotonic()
        with pytest.raises(PayloadTooLarge) as info:
            await download_image(shop.url("/big.png"), max_bytes=1 << 20, timeout_s=10, allow_loopback=True)
        assert info.value.code == "garment_too_large" and info.value.status_code == 413
        assert time.monotonic() - started < 3


async def test_endless_chunked_download_is_cut_off_at_the_size_cap():
    with LoopbackServer(routes={"/endless.png": endless_chunks()}) as shop:
        started = time.monotonic()
        with pytest.raises(PayloadTooLarge):
            await download_image(shop.url("/endless.png"), max_bytes=1 << 20, timeout_s=10, allow_loopback=True)
        assert time.monotonic() - started < 3


@pytest.mark.parametrize("route", [trickle(0.2), hang(30)], ids=["trickle", "no_answer"])
async def test_slow_or_silent_server_is_timed_out_at_the_deadline(route):
    with LoopbackServer(routes={"/slow.png": route}) as shop:
        started = time.monotonic()
        with pytest.raises(ValidationFailed) as info:
            await download_image(shop.url("/slow.png"), max_bytes=1 << 20, timeout_s=1.5, allow_loopback=True)
        elapsed = time.monotonic() - started
        assert info.value.code in {"garment_download_failed", "garment_download_timeout"}
        assert 1.0 < elapsed < 4.0, elapsed  # the 1.5 s deadline, with room for a loaded CI machine


# ---- 6b. compressed bodies: the cap counts what they inflate to, and memory stays small -------

def _peak_traced_mb(coro_fn) -> tuple[object, float]:
    """Run a coroutine and return (its result or exception, the peak of Python allocations in MB)."""
    tracemalloc.start()
    try:
        try:
            result: object = asyncio.run(coro_fn())
        except Exception as exc:  # the refusal is the result here
            result = exc
        peak = tracemalloc.get_traced_memory()[1] / (1 << 20)
    finally:
        tracemalloc.stop()
    return result, peak


@pytest.mark.parametrize("encoding,inner_mb", [("gzip, gzip", 400), ("gzip", 100), ("x-gzip", 100)],
                         ids=["gzip_gzip_400mb", "gzip_100mb", "x_gzip_100mb"])
def test_compression_bombs_are_cut_off_at_the_cap_without_inflating_them(encoding: str, inner_mb: int):
    """The review's attack: `gzip, gzip` around 400 MB of zeros is an 822-byte body, and httpx
    inflated it whole (the server grew by ~800 MB) before the size check saw it."""
    body = gzip_of_zeros(inner_mb << 20)
    if encoding == "gzip, gzip":
        body = gzip.compress(body, 9)
    assert len(body) < 1 << 20  # the download itself is well under the 1 MB cap
    seen: list[str] = []
    with LoopbackServer(routes={"/bomb.png": serve_encoded(body, encoding, seen)}) as shop:
        result, peak = _peak_traced_mb(lambda: download_image(shop.url("/bomb.png"), max_bytes=1 << 20,
                                                                 timeout_s=10, allow_loopback=True))
    print(f"\n{encoding} bomb: {len(body)} bytes sent, {inner_mb} MB inside, peak {peak:.1f} MB")
    assert isinstance(result, (PayloadTooLarge, ValidationFailed)), result
    if encoding == "gzip, gzip":  # layers upon layers are refused as such
        assert result.code == "garment_download_failed" and "gzip, gzip" in result.message
    else:
        assert result.code == "garment_too_large" and result.status_code == 413
    assert peak < 8, f"peak {peak:.1f} MB of Python allocations"
    assert seen == ["identity"]  # it asked for the image as it is


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "deflate, br"])
def test_encodings_we_do_not_decode_are_refused_in_a_sentence(encoding: str):
    with LoopbackServer(routes={"/g.png": serve_encoded(b"\x00" * 100, encoding)}) as shop:
        with pytest.raises(ValidationFailed) as info:
            asyncio.run(download_image(shop.url("/g.png"), max_bytes=1 << 20, timeout_s=5, allow_loopback=True))
    assert info.value.code == "garment_download_failed" and "compressed" in info.value.message


def test_one_layer_of_gzip_or_deflate_is_still_accepted():
    """A shop that compresses its images anyway (against our Accept-Encoding) still works."""
    png = image_bytes(draw_top())
    with LoopbackServer(routes={"/gz.png": serve_encoded(gzip.compress(png), "gzip"),
                                "/df.png": serve_encoded(zlib.compress(png), "deflate"),
                                "/id.png": serve_encoded(png, "identity"),
                                "/cut.png": serve_encoded(gzip.compress(png)[:-40], "gzip")}) as shop:
        for path in ("/gz.png", "/df.png", "/id.png"):
            assert asyncio.run(download_image(shop.url(path), max_bytes=1 << 20, timeout_s=5,
                                              allow_loopback=True)) == png, path
        with pytest.raises(ValidationFailed) as info:  # a gzip stream that stops short
            asyncio.run(download_image(shop.url("/cut.png"), max_bytes=1 << 20, timeout_s=5, allow_loopback=True))
        assert info.value.code == "garment_download_failed"


# ---- 7. the feature itself still works: a garment URL on an allowed host becomes a try-on ---------

def test_garment_url_download_works_end_to_end_when_loopback_is_allowed(server_factory):
    png = image_bytes(draw_top())
    with LoopbackServer(routes={"/top.png": serve_bytes(png)}) as shop:
        live = server_factory(InstantEngine, allow_loopback_downloads=True)
        with live.client(new_token(live)) as c:
            r = c.post("/api/tryon/sessions", data={"garment_url": shop.url("/top.png")},
                       files={"person": ("me.jpg", fixture_bytes("grace_hopper.jpg"), "image/jpeg")})
            assert r.status_code == 202, r.text
            body = wait_terminal(c, r.json()["session_id"])
        assert body["status"] == "completed" and body["source_url"] == shop.url("/top.png")
        assert shop.hits.requests == [("/top.png", f"127.0.0.1:{shop.port}")]


def test_downloads_use_no_proxy_from_the_environment(monkeypatch):
    """HTTP(S)_PROXY pointing at an inside host must not become the path out (trust_env=False)."""
    monkeypatch.setenv("HTTP_PROXY", "http://10.0.0.1:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.1:3128")
    png = image_bytes(draw_top())
    with LoopbackServer(routes={"/p.png": serve_bytes(png)}) as shop:
        data = asyncio.run(download_image(shop.url("/p.png"), max_bytes=1 << 20, timeout_s=5, allow_loopback=True))
    assert data == png


def test_status_codes_of_the_shop_are_reported_in_a_sentence():
    with LoopbackServer() as shop:  # no routes: 404
        with pytest.raises(ValidationFailed) as info:
            asyncio.run(download_image(shop.url("/gone.png"), max_bytes=1 << 20, timeout_s=5, allow_loopback=True))
    assert "answered 404" in info.value.message

