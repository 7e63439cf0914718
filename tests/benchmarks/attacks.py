"""The attacks of the second adversarial review (issue 16), against the real server process, with
the answers counted and the server's memory measured: `python -m tests.benchmarks.attacks`.

Each attack runs against a fresh `python run.py` (instant test engine) on loopback, so that the
peak resident memory (VmHWM) is that attack's alone. Printed as a Markdown table; the figures in
docs/reliability.md come from it. The tests that make each claim pass or fail are elsewhere
(tests/test_decode_limits.py, test_estimate_body_limits.py, test_connection_limits.py,
test_rate_limits.py, test_localhost_guard.py, test_ssrf.py); this measures.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import io
import socket
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from PIL import Image

from tests.hostile_images import encode, jpeg_scan_bomb, photo, webp_lossless_with_size
from tests.loopback_http import LoopbackServer, gzip_of_zeros, serve_encoded
from tests.server_process import ServerProcess


def _rss_mb(proc: ServerProcess) -> float:
    assert proc.proc is not None
    for line in Path(f"/proc/{proc.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _statuses(results: list[int]) -> str:
    counts = collections.Counter(results)
    return ", ".join(f"{n} × {code or 'cut off'}" for code, n in sorted(counts.items()))


class Run:
    def __init__(self, root: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = ServerProcess(root / f"data-{time.monotonic_ns()}", "--rate-limit-per-minute", "0",
                                  "--submit-limit-per-minute", "0", *args, env=env).start()
        self.token = httpx.post(self.proc.url + "/api/tokens").json()["token"]
        self.auth = {"Authorization": f"Bearer {self.token}"}
        self.idle_mb = _rss_mb(self.proc)

    def close(self) -> tuple[float, float]:
        peak = self.proc.peak_rss_mb()
        self.proc.terminate()
        return self.idle_mb, peak


def scan_bombs(root: Path) -> tuple[str, str]:
    run = Run(root)
    bomb = jpeg_scan_bomb(4000, 1500)
    small = encode(photo(64, 64), "JPEG")

    def upload(data: bytes, timeout: float) -> tuple[int, float]:
        started = time.monotonic()
        try:
            r = httpx.post(run.proc.url + "/api/profiles", headers=run.auth,
                           files={"photo": ("p.jpg", data, "image/jpeg")}, timeout=timeout)
            return r.status_code, time.monotonic() - started
        except httpx.TimeoutException:
            return 0, time.monotonic() - started

    with ThreadPoolExecutor(7) as pool:
        bombs = [pool.submit(upload, bomb, 120) for _ in range(6)]
        time.sleep(0.3)
        small_status, small_s = upload(small, 60)
        results = [f.result() for f in bombs]
    idle, peak = run.close()
    return (f"6 × {len(bomb) // 1024} KB 4000×4000 JPEG with 1,500 scans at once, then a 64×64 photo",
            f"{_statuses([s for s, _ in results])} in ≤ {max(t for _, t in results):.1f} s; the photo "
            f"{small_status} in {small_s:.2f} s; peak {peak:.0f} MiB (idle {idle:.0f})")


def webp_bomb(root: Path) -> tuple[str, str]:
    run = Run(root)
    data = webp_lossless_with_size(encode(Image.new("RGB", (64, 64), (120, 80, 60)), "WEBP", lossless=True,
                                          method=0), 6300, 6300)
    statuses = [httpx.post(run.proc.url + "/api/profiles", headers=run.auth, timeout=120,
                           files={"photo": ("w.webp", data, "image/webp")}).status_code for _ in range(3)]
    idle, peak = run.close()
    return (f"3 × {len(data)}-byte lossless 6300×6300 WebP", f"{_statuses(statuses)}; peak {peak:.0f} MiB (idle {idle:.0f})")


def estimate_flood(root: Path) -> tuple[str, str]:
    run = Run(root, env={"TRYON_TEST_ENGINE_DELAY": "20"})  # a try-on holds the inference thread
    big = io.BytesIO()
    photo(1536, 2048).save(big, "JPEG", quality=92)
    person = io.BytesIO()
    photo(512, 640).save(person, "JPEG")
    r = httpx.post(run.proc.url + "/api/tryon/sessions", headers=run.auth, timeout=30,
                   files={"person": ("p.jpg", person.getvalue(), "image/jpeg"),
                          "garment": ("g.jpg", person.getvalue(), "image/jpeg")})
    assert r.status_code == 202, r.text
    time.sleep(0.5)

    def estimate(_: int) -> int:
        try:
            return httpx.post(run.proc.url + "/api/estimate-body", headers=run.auth, timeout=120,
                              files={"photo": ("p.jpg", big.getvalue(), "image/jpeg")},
                              data={"height_cm": "170"}).status_code
        except httpx.TimeoutException:
            return 0

    with ThreadPoolExecutor(60) as pool:
        statuses = list(pool.map(estimate, range(60)))
    after = _rss_mb(run.proc)
    idle, peak = run.close()
    return ("60 × `POST /api/estimate-body` (2048 px JPEG) while a 20 s try-on runs",
            f"{_statuses(statuses)}; peak {peak:.0f} MiB (idle {idle:.0f}, {after:.0f} after)")


def slowloris(root: Path) -> tuple[str, str]:
    run = Run(root, "--request-head-timeout-s", "5")
    socks = []
    for i in range(200):
        s = socket.create_connection(("127.0.0.1", run.proc.port))
        s.sendall(b"POST /api/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " if i % 2 else b"")
        socks.append(s)
    health = httpx.get(run.proc.url + "/api/health").status_code
    time.sleep(7)
    closed = 0
    for s in socks:
        s.settimeout(0.5)
        try:
            closed += s.recv(1) == b""
        except (TimeoutError, ConnectionResetError):
            pass
        s.close()
    idle, peak = run.close()
    return ("200 connections sending half a request head or nothing (head deadline set to 5 s)",
            f"health {health} meanwhile; {closed}/200 closed by the server at 7 s; peak {peak:.0f} MiB")


def forwarded_for(root: Path) -> tuple[str, str]:
    run = Run(root, "--rate-limit-per-minute", "20")  # the later flag wins
    statuses = [httpx.post(run.proc.url + "/api/tokens", headers={"X-Forwarded-For": f"203.0.113.{i % 250}"}).status_code
                for i in range(40)]
    run.close()
    return ("40 × `POST /api/tokens`, each with another `X-Forwarded-For` (limit 20/min)", _statuses(statuses))


def cross_site_tokens(root: Path) -> tuple[str, str]:
    run = Run(root, "--rate-limit-per-minute", "300")
    statuses = [httpx.post(run.proc.url + "/api/tokens", headers={"Origin": "https://evil.example",
                                                                   "Content-Type": "text/plain"}).status_code
                for _ in range(350)]
    mine = [httpx.get(run.proc.url + "/api/profiles", headers=run.auth).status_code for _ in range(5)]
    run.close()
    return ("350 cross-site \"simple\" `POST /api/tokens` (text/plain, `Origin: https://evil.example`)",
            f"{_statuses(statuses)}; the user's own token afterwards: {_statuses(mine)}")


def gzip_bombs(_: Path) -> tuple[str, str]:
    from tryon_server.downloads import download_image

    out = []
    for encoding, inner_mb in (("gzip, gzip", 400), ("gzip", 100)):
        body = gzip_of_zeros(inner_mb << 20)
        if encoding == "gzip, gzip":
            import gzip
            body = gzip.compress(body, 9)
        with LoopbackServer(routes={"/g.png": serve_encoded(body, encoding)}) as shop:
            tracemalloc.start()
            try:
                asyncio.run(download_image(shop.url("/g.png"), max_bytes=10 << 20, timeout_s=15, allow_loopback=True))
                status = "accepted"
            except Exception as exc:  # the refusal is the result
                status = str(getattr(exc, "status_code", type(exc).__name__))
            peak = tracemalloc.get_traced_memory()[1] / (1 << 20)
            tracemalloc.stop()
        out.append(f"`{encoding}` {len(body):,} bytes ({inner_mb} MB inside): {status}, peak {peak:.1f} MB")
    return ("garment downloads compressed against `Accept-Encoding: identity` (10 MB cap, Python allocations)",
            "; ".join(out))


ATTACKS: dict[str, Callable[[Path], tuple[str, str]]] = {
    "scan_bombs": scan_bombs, "webp_bomb": webp_bomb, "estimate_flood": estimate_flood, "slowloris": slowloris,
    "forwarded_for": forwarded_for, "cross_site_tokens": cross_site_tokens, "gzip_bombs": gzip_bombs,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("attacks", nargs="*", help=f"some of: {', '.join(ATTACKS)} (default: all)")
    args = parser.parse_args(argv)
    unknown = set(args.attacks) - set(ATTACKS)
    if unknown:
        parser.error(f"unknown attacks: {', '.join(sorted(unknown))}")
    args.attacks = args.attacks or list(ATTACKS)
    print("| attack | answers, memory |\n|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.attacks:
            what, result = ATTACKS[name](Path(tmp))
            print(f"| {what} | {result} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
