"""Untrusted images are decoded within bounds: JPEG scans are counted before decoding, a decode
has a deadline, and decodes run in a pool of their own so that they cannot take the threads file
reads and writes need.

The attacks here are from an adversarial review (issue 16): a 140 KB progressive JPEG with 1,500
scans cost 12 s of CPU each, and six at once made a 64×64 upload wait 12.7 s.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from tests.hostile_images import encode, jpeg_scan_bomb, jpeg_with_comment, photo
from tests.server_process import ServerProcess, serve_unlimited
from tryon_server import images
from tryon_server.exceptions import UnreadableImage


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ServerProcess]:
    yield from serve_unlimited(tmp_path_factory.mktemp("decode") / "data")


@pytest.fixture(scope="module")
def token(server: ServerProcess) -> str:
    return httpx.post(server.url + "/api/tokens").json()["token"]


def _upload(server: ServerProcess, token: str, data: bytes, timeout: float = 60) -> tuple[int, float]:
    started = time.monotonic()
    try:
        r = httpx.post(server.url + "/api/profiles", headers={"Authorization": f"Bearer {token}"},
                       files={"photo": ("p.jpg", data, "image/jpeg")}, timeout=timeout)
    except httpx.TimeoutException:
        return 0, time.monotonic() - started
    return r.status_code, time.monotonic() - started


# ---- counting scans ---------------------------------------------------------------------------

def test_scans_are_counted_by_segment_not_by_searching_bytes():
    plain = encode(photo(), "JPEG")
    progressive = encode(photo(), "JPEG", progressive=True)
    assert images.count_jpeg_scans(plain) == 1
    assert images.count_jpeg_scans(progressive) == 10  # libjpeg's standard colour progression
    # FF DA inside a comment is data, and so is anything after the end of the image
    assert images.count_jpeg_scans(jpeg_with_comment(progressive, b"\xff\xda\x00\x08" * 500)) == 10
    assert images.count_jpeg_scans(plain + progressive) == 1
    assert images.count_jpeg_scans(jpeg_scan_bomb(256, 1500)) > images.MAX_JPEG_SCANS


def test_the_scan_bomb_is_refused_before_any_decoding():
    bomb = jpeg_scan_bomb(4000, 1500)
    started = time.perf_counter()
    with pytest.raises(UnreadableImage) as info:
        images.clean_image(bomb, max_pixels=40_000_000)
    assert info.value.code == "too_many_scans" and info.value.status_code == 422
    assert "scans" in info.value.message and info.value.message.endswith(".")
    assert time.perf_counter() - started < 0.5  # the old code decoded it for about 10 s


def test_an_allowed_number_of_scans_is_decoded():
    img = images.clean_image(jpeg_scan_bomb(512, images.MAX_JPEG_SCANS), max_pixels=40_000_000)
    assert img.size == (512, 512)


# ---- the deadline ------------------------------------------------------------------------------

def test_a_decode_past_its_deadline_is_stopped_and_refused():
    """A 36-megapixel JPEG with as many scans as allowed takes about a second to decode here;
    with a 50 ms deadline it is stopped at the next block of input, long before it would end."""
    slow = jpeg_scan_bomb(6000, images.MAX_JPEG_SCANS)
    started = time.perf_counter()
    with pytest.raises(UnreadableImage) as info:
        images.clean_image(slow, max_pixels=40_000_000, deadline_s=0.05)
    elapsed = time.perf_counter() - started
    assert info.value.code == "decode_too_slow" and info.value.status_code == 422
    full = time.perf_counter()
    images.clean_image(slow, max_pixels=40_000_000)  # the default deadline lets it finish
    full = time.perf_counter() - full
    assert elapsed < full / 2, (elapsed, full)


# ---- the decode pool ---------------------------------------------------------------------------

def test_decodes_run_in_their_own_bounded_pool(monkeypatch: pytest.MonkeyPatch):
    """However many uploads arrive at once, at most DECODE_THREADS decodes run, none of them on
    the default executor (asyncio.to_thread), which stays free for file reads and writes."""
    slow = jpeg_scan_bomb(2000, images.MAX_JPEG_SCANS)
    lock = threading.Lock()
    running = 0
    most = 0
    threads: set[str] = set()
    real_clean = images.clean_image

    def watched(*args, **kwargs):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            threads.add(threading.current_thread().name)
        try:
            return real_clean(*args, **kwargs)
        finally:
            with lock:
                running -= 1

    async def scenario() -> float:
        tasks = [asyncio.ensure_future(images.clean_untrusted(slow, max_pixels=40_000_000)) for _ in range(8)]
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        await asyncio.to_thread(lambda: None)  # the default executor answers at once
        waited = time.perf_counter() - started
        await asyncio.gather(*tasks)
        return waited

    monkeypatch.setattr(images, "clean_image", watched)
    waited = asyncio.run(scenario())
    assert most == images.DECODE_THREADS, most
    assert threads and all(name.startswith("decode") for name in threads), threads
    assert waited < 0.2, waited


def test_six_scan_bombs_at_once_do_not_hold_up_a_small_upload(server: ServerProcess, token: str):
    """The review's scenario: six 1,500-scan bombs posted together, then a 64×64 photo. The bombs
    are refused from their headers, and the small photo is stored at once (it waited 12.7 s)."""
    bomb = jpeg_scan_bomb(4000, 1500)
    small = encode(photo(64, 64), "JPEG")
    with ThreadPoolExecutor(7) as pool:
        bombs = [pool.submit(_upload, server, token, bomb, 30) for _ in range(6)]
        time.sleep(0.3)  # the bombs are in
        status, seconds = _upload(server, token, small, timeout=10)
        bomb_results = [f.result() for f in bombs]
    assert status == 201 and seconds < 3, (status, seconds)
    assert [s for s, _ in bomb_results] == [422] * 6, bomb_results
    assert max(t for _, t in bomb_results) < 5, bomb_results
    assert httpx.get(server.url + "/api/health").status_code == 200


def test_the_stored_copy_of_a_progressive_jpeg_is_a_baseline_image(server: ServerProcess, token: str):
    """What is kept is re-encoded: the scans an upload came with are not."""
    r = httpx.post(server.url + "/api/profiles", headers={"Authorization": f"Bearer {token}"},
                   files={"photo": ("p.jpg", jpeg_scan_bomb(512, 40), "image/jpeg")}, timeout=30)
    assert r.status_code == 201, r.text
    stored = httpx.get(server.url + r.json()["photo_url"], timeout=30).content
    assert images.count_jpeg_scans(stored) == 1
    assert Image.open(io.BytesIO(stored)).size == (512, 512)


# ---- a JPEG cut short ----------------------------------------------------------------------------

def test_a_phone_sized_jpeg_cut_short_is_refused_and_the_whole_one_accepted():
    """libjpeg fills what is missing with grey and says nothing; cut at 40 % and given its end
    marker back, a 4000×3000 photo (decoded at half size, DCT scaling) was stored as 60 % grey."""
    whole = encode(photo(4000, 3000), "JPEG", quality=85)
    assert images.clean_image(whole, max_pixels=40_000_000).size == (2000, 1500)
    cut = whole[: len(whole) * 4 // 10] + b"\xff\xd9"
    with pytest.raises(UnreadableImage) as info:
        images.clean_image(cut, max_pixels=40_000_000)
    assert info.value.code == "undecodable_image" and "incomplete" in info.value.message


def test_a_progressive_jpeg_cut_in_its_first_scan_is_refused_but_one_cut_later_is_whole():
    """The first scan of a progressive JPEG carries every block's average colour: cut inside
    it, the rest is grey (refused); cut after it, the whole picture is there, only coarser (as a
    browser shows it while it loads), and it is accepted."""
    whole = encode(photo(4000, 3000), "JPEG", quality=85, progressive=True)
    first_scan = whole.index(b"\xff\xda")
    with pytest.raises(UnreadableImage):
        images.clean_image(whole[: first_scan + 2000] + b"\xff\xd9", max_pixels=40_000_000)
    coarse = images.clean_image(whole[: len(whole) * 4 // 10] + b"\xff\xd9", max_pixels=40_000_000)
    assert coarse.size == (2000, 1500)
