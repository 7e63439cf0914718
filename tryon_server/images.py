"""Untrusted image bytes in, a clean re-encoded image out (or a clear ApiError).

The format is decided by the bytes, never the file name. The pixel count (and, for a JPEG, the
number of scans) is checked from the headers before anything is decoded, then the whole image is
decoded (so a truncated file fails here, not later on the inference thread) under a memory budget,
a deadline and a pool of its own, EXIF orientation is applied, and the image is re-encoded with no
metadata at all (no EXIF, GPS, ICC, XMP, comments).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import os
import re
import struct
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from .exceptions import UnreadableImage, UnsupportedImage

ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# Larger inputs are scaled down when stored: every engine works at 1024 px, and keeping less of
# a private photo is better.
STORED_LONG_SIDE = 2048
MIN_SIDE = 32


def sniff_format(head: bytes) -> str | None:
    """The image format from the first bytes, or None when it is not JPEG, PNG or WebP."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


@dataclass(frozen=True)
class CleanImage:
    """A decoded, oriented, metadata-free image and its re-encoded bytes."""

    image: Image.Image  # RGB, or RGBA when the source had transparency
    data: bytes
    extension: str  # "jpg" or "png"
    sha256: str

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def _to_rgb_or_rgba(img: Image.Image) -> Image.Image:
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale to 8 bits instead of clipping everything to white
        img = img.point(lambda v: v / 256).convert("L")
    target = "RGBA" if has_alpha else "RGB"
    # convert() to the same mode would copy the whole image for nothing
    return img if img.mode == target else img.convert(target)


class DecodeBudget:
    """Caps the memory being spent on decoding at once, across threads. Each decode runs in a
    thread of its own pool, and a 40-megapixel image needs some 250 MB (600 MB as WebP) while it
    is decoded, converted and re-encoded: without a cap, eight such uploads at once took 1.3 GB.
    A decode waits until its bytes fit; one image larger than the whole budget still runs, alone."""

    def __init__(self, total_bytes: int) -> None:
        self.total = total_bytes
        self.in_use = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, cost: int) -> Iterator[None]:
        cost = min(cost, self.total)
        with self._cond:
            self._cond.wait_for(lambda: self.in_use + cost <= self.total)
            self.in_use += cost
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= cost
                self._cond.notify_all()


DECODE_BUDGET = DecodeBudget(350 * 1024 * 1024)

# Peak bytes per pixel while an image is decoded, converted and re-encoded, measured with
# ru_maxrss on 6300×6300 files (Pillow 13): PNG 5.5, progressive JPEG 6 (libjpeg keeps every DCT
# coefficient of the whole image, 2 bytes each per component, whatever the output scale), and
# WebP 15.5, lossy or lossless (libwebp decodes to RGBA, Pillow copies it twice). A baseline JPEG
# decodes at reduced size (see _decode_smaller), so it costs its output, about 4 bytes a pixel.
BYTES_PER_PIXEL = {"PNG": 6, "JPEG": 6, "WEBP": 16}
# A WebP may then have fewer pixels than the others, so that no single decode costs more than the
# largest PNG allowed: a 1.5 KB lossless 6300×6300 WebP took 612 MB to open.
WEBP_PIXEL_SHARE = BYTES_PER_PIXEL["PNG"] / BYTES_PER_PIXEL["WEBP"]

# A progressive JPEG is coded in scans, each a pass over the whole image's coefficients:
# libjpeg's standard progression has 10 (for colour), mozjpeg's optimised ones about 20. Decode
# time grows with the scan count, so a 141 KB 4000×4000 file with 1,500 identical scans kept a
# core busy for 12 s; more than this is refused from the headers, before decoding.
MAX_JPEG_SCANS = 50
# A backstop for any other slow path: a decode still running after this is stopped (between two
# blocks of input) and refused. A 40-megapixel PNG, the slowest legitimate upload, takes 3.6 s.
DECODE_DEADLINE_S = 15.0
# Untrusted decodes run in a pool of their own: they cannot take every thread of the default
# executor that file reads and writes share (six decoding bombs once held all six threads of a
# 2-core machine's default pool, and a 64×64 upload waited 12.7 s behind them).
DECODE_THREADS = max(2, min(4, os.cpu_count() or 2))
_decode_pool = ThreadPoolExecutor(max_workers=DECODE_THREADS, thread_name_prefix="decode")


def _give_big_buffers_back_to_the_os() -> None:
    """glibc raises its mmap threshold after a large buffer is freed (up to 32 MB), so the next
    decode's pixel buffers come from a per-thread heap that keeps the memory after it is freed:
    eight 36-megapixel uploads left the process at 1.1 GB even with the budget above. A fixed
    1 MB threshold serves every image-sized buffer by mmap, returned to the OS on free (295 MB)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 1024 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc (macOS, musl): their allocators differ
        pass


_give_big_buffers_back_to_the_os()


# A phone photo (4032×3024) is stored at most STORED_LONG_SIDE px long: libjpeg can decode it at
# 1/2, 1/4 or 1/8 size directly (DCT scaling), several times faster than a full decode and a resize.
DRAFT_MIN_LONG_SIDE = 1536


def _decode_smaller(img: Image.Image) -> None:
    """Ask the JPEG decoder for the smallest power-of-two reduction that keeps the long side at
    least DRAFT_MIN_LONG_SIDE (the stored copy is then at most a few percent under 2048 px)."""
    width, height = img.size
    scale = 1
    while scale < 8 and max(width, height) / (scale * 2) >= DRAFT_MIN_LONG_SIDE:
        scale *= 2
    if scale > 1:
        img.draft(img.mode, (-(-width // scale), -(-height // scale)))


_JPEG_MARKER = re.compile(rb"\xff+([^\x00\xd0-\xd7\xff])")  # a marker, not stuffing or a restart
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # markers with no length field


def _jpeg_markers(data: bytes) -> Iterator[tuple[int, int]]:
    """(marker, offset of its FF) of a JPEG's first image, by walking its segments: the bytes of
    an EXIF thumbnail or a comment are skipped, not read as markers, and so is the entropy-coded
    data after each SOS. Ends after EOI, so data appended after the image (a polyglot) is not read."""
    pos = 2  # after SOI
    while True:
        found = _JPEG_MARKER.search(data, pos)
        if found is None:
            return
        marker = found.group(1)[0]
        yield marker, found.start(1) - 1
        pos = found.end()
        if marker == 0xD9:  # EOI
            return
        if marker in _JPEG_STANDALONE:
            continue
        if pos + 2 > len(data):
            return
        pos += struct.unpack(">H", data[pos:pos + 2])[0]  # skip the segment (an SOS: its header)


def count_jpeg_scans(data: bytes) -> int:
    """The number of scans (SOS segments) of a JPEG's first image; counting stops past the limit."""
    scans = 0
    for marker, _at in _jpeg_markers(data):
        if marker == 0xDA:
            scans += 1
            if scans > MAX_JPEG_SCANS:
                break
    return scans


class _DecodeTooSlow(Exception):
    pass


class _DeadlineReader(io.BytesIO):
    """The bytes to decode, refusing to hand out more once the deadline has passed: decoders
    read their input block by block, so a decode that runs too long stops at its next block."""

    def __init__(self, data: bytes, deadline: float) -> None:
        super().__init__(data)
        self.deadline = deadline

    def read(self, size: int | None = -1) -> bytes:
        if time.monotonic() > self.deadline:
            raise _DecodeTooSlow
        return super().read(size)


# decoders take their input in blocks of this size (Pillow's default is 64 KB): the deadline is
# checked between two of them
_DECODE_BLOCK = 16 * 1024


def _decode_cost(fmt: str, img: Image.Image, width: int, height: int) -> int:
    """Bytes a decode of this image may take at its peak (see BYTES_PER_PIXEL)."""
    if fmt == "JPEG" and not img.info.get("progressive"):
        out_w, out_h = img.size  # after draft(): the reduced size libjpeg decodes to
        return out_w * out_h * 4
    return width * height * BYTES_PER_PIXEL[fmt]


def _ends_early(data: bytes, img: Image.Image, source_height: int) -> bool:
    """True for a JPEG whose picture data runs out before its last block. libjpeg then fills every
    block after the cut with zero coefficients, exactly 128 in every channel, and accepts the file
    (an end-of-image marker may well follow the cut). So: when the last full row of blocks is
    exactly 128 everywhere (cheap, and a camera photo's noise never is), decode the file again
    with zero bytes before its end marker. A complete file ends its data before them and decodes
    the same; a cut one reads them as more blocks and comes out different. A picture that really
    is mid-grey at the bottom is accepted."""
    if img.mode not in ("RGB", "L"):  # CMYK and others: zero coefficients are not grey there
        return False
    import numpy as np

    layers = getattr(img, "layer", None) or [("", 1, 1, 0)]
    scale = max(1, round(source_height / img.size[1]))  # draft(): decoded at 1/2, 1/4 or 1/8
    block_rows = max(1, 8 * max(v for _c, _h, v, _q in layers) // scale)
    width, height = img.size
    rows = min(height, block_rows + height % block_rows)  # the last full row of blocks and any part-row after
    if not (np.asarray(img.crop((0, height - rows, width, height))) == 128).all():
        return False
    end = next((at for marker, at in _jpeg_markers(data) if marker == 0xD9), None)
    if end is None:
        return False  # no end marker: the decoder has refused it already
    again = Image.open(io.BytesIO(data[:end] + bytes(64) + data[end:]), formats=["JPEG"])
    again.draft(img.mode, (width, height))
    again.load()
    return again.size != img.size or not np.array_equal(np.asarray(again), np.asarray(img))


async def clean_untrusted(data: bytes, *, max_pixels: int, what: str = "image") -> CleanImage:
    """clean_image on the decode pool, for the event loop. A caller that goes away (its task
    cancelled) before its turn takes no decode thread at all."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        _decode_pool, functools.partial(clean_image, data, max_pixels=max_pixels, what=what))


def clean_image(data: bytes, *, max_pixels: int, what: str = "image",
                deadline_s: float = DECODE_DEADLINE_S) -> CleanImage:
    """Validate and re-encode untrusted bytes. Raises UnsupportedImage (415) or UnreadableImage (422).

    Runs CPU-bound work: from the event loop, call clean_untrusted.
    """
    if not data:
        raise UnreadableImage(f"The {what} file is empty.", code="empty_file")
    fmt = sniff_format(data[:16])
    if fmt is None:
        raise UnsupportedImage(
            f"The {what} is not a JPEG, PNG or WebP image. Save it in one of those formats and try again.",
            code="unsupported_format",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if fmt == "JPEG" and count_jpeg_scans(data) > MAX_JPEG_SCANS:
                raise UnreadableImage(
                    f"The {what} is a JPEG made of more than {MAX_JPEG_SCANS} scans, which no camera or "
                    "editor writes; save it again as an ordinary JPEG or PNG.",
                    code="too_many_scans",
                )
            img = Image.open(_DeadlineReader(data, time.monotonic() + deadline_s), formats=[fmt])
            img.decodermaxblock = _DECODE_BLOCK
            width, height = img.size
            limit = int(max_pixels * WEBP_PIXEL_SHARE) if fmt == "WEBP" else max_pixels
            if width * height > limit:
                raise UnreadableImage(
                    f"The {what} is too large ({width}×{height} pixels); use one under "
                    f"{limit // 1_000_000} megapixels{' as WebP' if fmt == 'WEBP' else ''}.",
                    code="too_many_pixels",
                )
            if min(width, height) < MIN_SIDE:
                raise UnreadableImage(
                    f"The {what} is too small ({width}×{height} pixels); use one at least {MIN_SIDE} pixels on each side.",
                    code="too_small",
                )
            if fmt == "JPEG":
                _decode_smaller(img)
            with DECODE_BUDGET.hold(_decode_cost(fmt, img, width, height)):
                img.seek(0)  # animated WebP/PNG: the first frame only
                img.load()
                if fmt == "JPEG" and _ends_early(data, img, height):
                    raise UnreadableImage(
                        f"The {what} is incomplete (its picture data ends early); it may have been cut off "
                        "while copying. Try the original file.", code="undecodable_image")
                ImageOps.exif_transpose(img, in_place=True)  # in place: no copy of an upright photo
                clean = _to_rgb_or_rgba(img)
                if max(clean.size) > STORED_LONG_SIDE:
                    clean.thumbnail((STORED_LONG_SIDE, STORED_LONG_SIDE), Image.Resampling.LANCZOS)
                return encode_clean(clean)
    except (UnreadableImage, UnsupportedImage):
        raise
    except _DecodeTooSlow:
        raise UnreadableImage(
            f"The {what} took too long to decode; it may be damaged or built to overload the server. "
            "Use an ordinary photo.", code="decode_too_slow",
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnreadableImage(
            f"The {what} has too many pixels to open safely; use a smaller image.", code="too_many_pixels"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError,
            TypeError, MemoryError, struct.error) as exc:
        raise UnreadableImage(
            f"The {what} could not be read; it may be damaged or incomplete. Try another file.",
            code="undecodable_image",
        ) from exc


def encode_clean(img: Image.Image) -> CleanImage:
    """Encode without metadata: PNG when there is transparency, JPEG otherwise."""
    # Pillow's PNG writer copies info["icc_profile"] (and text chunks) from the source by default
    img.info.clear()
    out = io.BytesIO()
    if img.mode == "RGBA":
        img.save(out, format="PNG", optimize=False, compress_level=3)
        ext = "png"
    else:
        img.save(out, format="JPEG", quality=92, subsampling=0)
        ext = "jpg"
    data = out.getvalue()
    return CleanImage(image=img, data=data, extension=ext, sha256=hashlib.sha256(data).hexdigest())


def encode_png(img: Image.Image) -> bytes:
    """Results are PNG (lossless, no metadata). zlib level 1: the same pixels as level 3 in about
    three quarters of the time (71 vs 95 ms for 1024 px here), for files about 4 % larger."""
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def open_stored(data: bytes) -> Image.Image:
    """Open an image this server stored itself (already validated)."""
    img = Image.open(io.BytesIO(data))
    img.load()
    return img
