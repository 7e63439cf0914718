"""Fetch a garment image from a URL the client gave us, without becoming an SSRF proxy.

Every hop (the URL and each redirect) is checked the same way: http(s) only, the host name
resolved once, every address it resolves to must be public, and the connection goes to the
address that was checked (the Host header and TLS SNI carry the name), so a DNS answer that
changes between check and connect (rebinding) cannot reach the inside. Size and time are capped,
and the size is counted after decompression: an 822-byte body labelled `gzip, gzip` held 400 MB.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
import zlib
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from .exceptions import PayloadTooLarge, ValidationFailed

MAX_REDIRECTS = 5
USER_AGENT = "tryon-server/0.1 (+local virtual try-on; fetches one product image)"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


# IPv6 forms whose last 32 bits are an IPv4 address a gateway may forward to: well-known NAT64
# (RFC 6052), IPv4-compatible (deprecated ::a.b.c.d; "::7f00:1" is 127.0.0.1 to some stacks) and
# SIIT (::ffff:0:a.b.c.d, RFC 2765, the network ::ffff:0:0:0/96). Python's is_global calls the last two public.
_LAST_32_BITS_IPV4 = [ipaddress.ip_network(n) for n in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96")]
# Local-use NAT64 (RFC 8215): a network's own translator, to wherever it chooses; never public
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, NAT64, compatible, SIIT), if any."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if any(addr in net for net in _LAST_32_BITS_IPV4):
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def is_public_address(addr: IPAddress) -> bool:
    """True only for globally routable unicast addresses (not loopback, private, link-local,
    shared 100.64/10, metadata 169.254.169.254, unspecified, multicast, reserved, Teredo)."""
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(addr)
        if embedded is not None:
            return is_public_address(embedded)
        # Teredo tunnels to an arbitrary IPv4; fec0::/10 (deprecated site-local) is still routed
        # inside some networks, yet Python counts it as global
        if addr.teredo is not None or addr.is_site_local or addr in _LOCAL_NAT64:
            return False
    return addr.is_global and not addr.is_multicast


def address_allowed(addr: IPAddress, allow_loopback: bool) -> bool:
    """`allow_loopback` exists for tests only (a loopback image server); never set it in production."""
    if allow_loopback:
        plain = _embedded_ipv4(addr) if isinstance(addr, ipaddress.IPv6Address) else None
        if addr.is_loopback or (plain is not None and plain.is_loopback):
            return True
    return is_public_address(addr)


def _not_public() -> ValidationFailed:
    return ValidationFailed(
        "The garment URL points to a private or local network address; only public web addresses can be fetched.",
        code="garment_url_not_public",
    )


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # as written in the URL (for Host and SNI)
    port: int
    address: IPAddress  # the checked address we connect to


async def resolve_target(url: str, *, allow_loopback: bool = False) -> Target:
    """Check one URL: scheme, host, and every address it resolves to. Raises ValidationFailed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationFailed("The garment URL is not a valid web address.", code="bad_garment_url") from None
    if parts.scheme not in ("http", "https"):
        raise ValidationFailed("The garment URL must start with http:// or https://.", code="bad_garment_url")
    host = parts.hostname
    if not host:
        raise ValidationFailed("The garment URL has no host name.", code="bad_garment_url")
    if parts.username or parts.password:
        raise ValidationFailed("The garment URL must not contain a user name or password.", code="bad_garment_url")
    port = port or (443 if parts.scheme == "https" else 80)
    name = host.rstrip(".").lower()
    if not allow_loopback and (name == "localhost" or name.endswith(".localhost")):
        # RFC 6761: always loopback, whatever a resolver says; refused without asking one
        raise _not_public()
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP), timeout=5
        )
    except (TimeoutError, OSError, UnicodeError):
        raise ValidationFailed(
            f"The garment URL's host {host!r} could not be found.", code="garment_host_unknown"
        ) from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]  # str: sockaddr is typed str | int
    if not addresses or not all(address_allowed(a, allow_loopback) for a in addresses):
        raise _not_public()
    return Target(url=url, scheme=parts.scheme, host=host, port=port, address=addresses[0])


def _pinned_url(target: Target) -> str:
    parts = urlsplit(target.url)
    ip = f"[{target.address}]" if target.address.version == 6 else str(target.address)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return f"{parts.scheme}://{ip}:{target.port}{path}"


def _host_header(target: Target) -> str:
    default = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default else f"{host}:{target.port}"


async def download_image(
    url: str, *, max_bytes: int, timeout_s: float, allow_loopback: bool = False,
    client: httpx.AsyncClient | None = None,
) -> bytes:
    """Download `url` (following checked redirects) and return at most `max_bytes` bytes.

    Raises ValidationFailed (422) for a refused or failed download and PayloadTooLarge (413).
    """
    deadline = time.monotonic() + timeout_s
    own_client = client is None
    client = client or httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=timeout_s)
    try:
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            target = await resolve_target(current, allow_loopback=allow_loopback)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ValidationFailed("The garment image took too long to download.", code="garment_download_timeout")
            try:
                request = client.build_request(
                    "GET", _pinned_url(target),
                    # images are compressed already: ask for the bytes as they are
                    headers={"Host": _host_header(target), "User-Agent": USER_AGENT, "Accept": "image/*",
                             "Accept-Encoding": "identity"},
                    extensions={"sni_hostname": target.host,
                                "timeout": {"connect": min(remaining, 10), "read": remaining,
                                            "write": remaining, "pool": remaining}},
                )
                response = await asyncio.wait_for(client.send(request, stream=True), timeout=remaining)
            except httpx.InvalidURL:
                # httpx parses a redirect's Location as it receives the answer: "http:127.0.0.1:80/x"
                raise ValidationFailed("The garment URL leads to an address that is not valid.",
                                       code="bad_garment_url") from None
            except (TimeoutError, httpx.HTTPError, OSError) as exc:
                raise ValidationFailed(
                    "The garment image could not be downloaded from that address.", code="garment_download_failed"
                ) from exc
            try:
                if response.status_code in (301, 302, 303, 307, 308):
                    location = response.headers.get("location")
                    if not location:
                        raise ValidationFailed("The garment URL redirects nowhere.", code="garment_download_failed")
                    current = urljoin(current, location)
                    continue
                if response.status_code != 200:
                    raise ValidationFailed(
                        f"The shop answered {response.status_code} for the garment image; try uploading the image instead.",
                        code="garment_download_failed",
                    )
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise _too_large(max_bytes)
                body = _BoundedBody(response.headers.get("content-encoding", ""), max_bytes)
                try:
                    async for chunk in _iter_with_deadline(response, deadline):
                        body.feed(chunk)
                except (TimeoutError, httpx.HTTPError, OSError) as exc:
                    raise ValidationFailed(
                        "The garment image download was interrupted or took too long.", code="garment_download_failed"
                    ) from exc
                return body.finish()
            finally:
                await response.aclose()
        raise ValidationFailed("The garment URL redirects too many times.", code="garment_download_failed")
    finally:
        if own_client:
            await client.aclose()


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The garment image is larger than {max_bytes // (1024 * 1024)} MB.",
                           code="garment_too_large")


class _BoundedBody:
    """Collects a response body of at most `max_bytes`, counted after decompression.

    We ask for `identity`; a server that compresses anyway may use one layer of gzip or deflate,
    which is inflated here a chunk at a time, never to more than the cap (httpx's own decoders
    inflate each chunk whole: a 1 MB gzip cost 100 MB). Anything else — brotli, zstd, or layers
    upon layers like `gzip, gzip` — is refused rather than decoded.
    """

    def __init__(self, content_encoding: str, max_bytes: int) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        self.max_bytes = max_bytes
        self.raw = 0
        self.total = 0
        self.chunks: list[bytes] = []
        self._inflate: zlib._Decompress | None = None
        if not codings:
            return
        if len(codings) > 1 or codings[0] not in ("gzip", "x-gzip", "deflate"):
            raise ValidationFailed(
                f"The shop sent the garment image compressed as {content_encoding.strip()!r}, which is not "
                "accepted; try uploading the image instead.", code="garment_download_failed")
        # wbits: 16+ for a gzip wrapper, 15 for zlib-wrapped deflate (what "deflate" means in HTTP)
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS if "gzip" in codings[0] else zlib.MAX_WBITS)

    def _keep(self, data: bytes) -> None:
        self.total += len(data)
        if self.total > self.max_bytes:
            raise _too_large(self.max_bytes)
        if data:
            self.chunks.append(data)

    def feed(self, chunk: bytes) -> None:
        self.raw += len(chunk)
        if self.raw > self.max_bytes:
            raise _too_large(self.max_bytes)
        if self._inflate is None:
            self._keep(chunk)
            return
        try:
            # at most one byte past the cap: enough to know the cap is passed, never more
            self._keep(self._inflate.decompress(chunk, self.max_bytes - self.total + 1))
        except zlib.error:
            raise ValidationFailed("The garment image download is damaged (its compression is broken).",
                                   code="garment_download_failed") from None
        if self._inflate.unconsumed_tail:  # output stopped at the limit with input left
            raise _too_large(self.max_bytes)

    def finish(self) -> bytes:
        if self._inflate is not None:
            if not self._inflate.eof:
                raise ValidationFailed("The garment image download ended before its compressed data did.",
                                       code="garment_download_failed")
        return b"".join(self.chunks)


async def _iter_with_deadline(response: httpx.Response, deadline: float):
    iterator = response.aiter_raw().__aiter__()  # the bytes as sent: _BoundedBody decompresses
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        try:
            chunk = await asyncio.wait_for(iterator.__anext__(), timeout=remaining)
        except StopAsyncIteration:
            return
        yield chunk
