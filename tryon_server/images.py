"""Untrusted image bytes in, a clean re-encoded image out (or a clear ApiError).

The format is decided by the bytes, never the file name. The pixel count is checked from the
header before anything is decoded, then the whole image is decoded (so a truncated file fails
here, not later on the inference thread), EXIF orientation is applied, and the image is
re-encoded with no metadata at all (no EXIF, GPS, ICC, XMP, comments).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import struct
import threading
import warnings
from dataclasses import dataclass
from typing import Iterator

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


class PixelBudget:
    """Caps the pixels being decoded at once, across threads. Each upload decodes in its own
    worker thread, and a 40-megapixel image needs some 300 MB while it is decoded, converted and
    re-encoded: without a cap, eight such uploads at once took 1.3 GB. A decode waits until its
    pixels fit; one image larger than the whole budget still runs, alone."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.in_use = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        pixels = min(pixels, self.total)
        with self._cond:
            self._cond.wait_for(lambda: self.in_use + pixels <= self.total)
            self.in_use += pixels
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= pixels
                self._cond.notify_all()


# about 350 MB of decoding at once, whatever the number of simultaneous uploads
DECODE_BUDGET = PixelBudget(48_000_000)


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


def clean_image(data: bytes, *, max_pixels: int, what: str = "image") -> CleanImage:
    """Validate and re-encode untrusted bytes. Raises UnsupportedImage (415) or UnreadableImage (422).

    Runs CPU-bound work: call it through asyncio.to_thread from the event loop.
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
            img = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = img.size
            if width * height > max_pixels:
                raise UnreadableImage(
                    f"The {what} is too large ({width}×{height} pixels); use one under "
                    f"{max_pixels // 1_000_000} megapixels.",
                    code="too_many_pixels",
                )
            if min(width, height) < MIN_SIDE:
                raise UnreadableImage(
                    f"The {what} is too small ({width}×{height} pixels); use one at least {MIN_SIDE} pixels on each side.",
                    code="too_small",
                )
            with DECODE_BUDGET.hold(width * height):
                img.seek(0)  # animated WebP/PNG: the first frame only
                if fmt == "JPEG":
                    _decode_smaller(img)
                img.load()
                ImageOps.exif_transpose(img, in_place=True)  # in place: no copy of an upright photo
                img = _to_rgb_or_rgba(img)
                if max(img.size) > STORED_LONG_SIDE:
                    img.thumbnail((STORED_LONG_SIDE, STORED_LONG_SIDE), Image.Resampling.LANCZOS)
                return encode_clean(img)
    except (UnreadableImage, UnsupportedImage):
        raise
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
