"""Fetch a garment image from a URL the client gave us, without becoming an SSRF proxy.

Every hop (the URL and each redirect) is checked the same way: http(s) only, the host name
resolved once, every address it resolves to must be public, and the connection goes to the
address that was checked (the Host header and TLS SNI carry the name), so a DNS answer that
changes between check and connect (rebinding) cannot reach the inside. Size and time are capped.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from .exceptions import PayloadTooLarge, ValidationFailed

MAX_REDIRECTS = 5
USER_AGENT = "tryon-server/0.1 (+local virtual try-on; fetches one product image)"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, NAT64), if any."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr in _NAT64:
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
        if addr.teredo is not None or addr.is_site_local:
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
    except (OSError, asyncio.TimeoutError, UnicodeError):
        raise ValidationFailed(
            f"The garment URL's host {host!r} could not be found.", code="garment_host_unknown"
        ) from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
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
            request = client.build_request(
                "GET", _pinned_url(target),
                headers={"Host": _host_header(target), "User-Agent": USER_AGENT, "Accept": "image/*"},
                extensions={"sni_hostname": target.host, "timeout": {"connect": min(remaining, 10), "read": remaining, "write": remaining, "pool": remaining}},
            )
            try:
                response = await asyncio.wait_for(client.send(request, stream=True), timeout=remaining)
            except (httpx.HTTPError, asyncio.TimeoutError, OSError) as exc:
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
                    raise PayloadTooLarge(
                        f"The garment image is larger than {max_bytes // (1024 * 1024)} MB.", code="garment_too_large"
                    )
                chunks: list[bytes] = []
                total = 0
                try:
                    async for chunk in _iter_with_deadline(response, deadline):
                        total += len(chunk)
                        if total > max_bytes:
                            raise PayloadTooLarge(
                                f"The garment image is larger than {max_bytes // (1024 * 1024)} MB.",
                                code="garment_too_large",
                            )
                        chunks.append(chunk)
                except (httpx.HTTPError, asyncio.TimeoutError, OSError) as exc:
                    raise ValidationFailed(
                        "The garment image download was interrupted or took too long.", code="garment_download_failed"
                    ) from exc
                return b"".join(chunks)
            finally:
                await response.aclose()
        raise ValidationFailed("The garment URL redirects too many times.", code="garment_download_failed")
    finally:
        if own_client:
            await client.aclose()


async def _iter_with_deadline(response: httpx.Response, deadline: float):
    iterator = response.aiter_bytes().__aiter__()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise asyncio.TimeoutError
        try:
            chunk = await asyncio.wait_for(iterator.__anext__(), timeout=remaining)
        except StopAsyncIteration:
            return
        yield chunk
