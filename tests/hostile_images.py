"""A corpus of hostile and awkward image uploads, generated deterministically at test time (no
binary blobs in the repository), each with the answer the server documents for it.

    status 201/202   accepted: decoded, oriented, re-encoded without metadata
    415              not a JPEG, PNG or WebP by its bytes (whatever its name or Content-Type says)
    422              an allowed format that is empty, damaged, too small or has too many pixels
    413              larger than the upload limit (checked while the body streams)

Decompression bombs exist in each allowed format: their headers declare billions of pixels and
the server must refuse them from the header, before decoding a single row.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

ACCEPTED = 201  # as a profile photo; 202 as a session's garment


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    filename: str
    content_type: str
    status: int  # the documented answer (ACCEPTED for the variants the server must take)
    code: str | None = None  # the error code, for refusals
    why: str = ""
    # extra checks on the stored copy (the re-encoded image the server kept), for accepted cases
    stored_check: Callable[[Image.Image, bytes], None] | None = field(default=None, compare=False)


# ---- building blocks ----------------------------------------------------------------------------

def photo(width: int = 256, height: int = 320, mode: str = "RGB") -> Image.Image:
    """A deterministic picture with structure (so JPEG has real entropy to code)."""
    rng = np.random.default_rng(width * 7919 + height)
    noise = rng.integers(0, 40, size=(height, width, 3), dtype=np.uint8)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 255 // max(1, width - 1)), (y * 255 // max(1, height - 1)),
                     ((x + y) * 127 // max(1, width + height))], axis=-1).astype(np.uint8)
    img = Image.fromarray(np.clip(base.astype(int) + noise, 0, 255).astype(np.uint8), "RGB")
    ImageDraw.Draw(img).ellipse((width // 4, height // 5, 3 * width // 4, 4 * height // 5), outline=(20, 20, 20), width=4)
    return img.convert(mode) if mode != "RGB" else img


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **kwargs)
    return out.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_raw(width: int, height: int, bit_depth: int, color_type: int, row: bytes, rows: int | None = None) -> bytes:
    """A PNG whose every row is `row` (filter byte 0 added), streamed through zlib: a bomb costs
    kilobytes here however many pixels it declares. `rows` < height makes a lying file."""
    comp = zlib.compressobj(9)
    parts = []
    line = b"\x00" + row
    for _ in range(height if rows is None else rows):
        parts.append(comp.compress(line))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", b"".join(parts)) + png_chunk(b"IEND", b"")


def jpeg_with_size(data: bytes, width: int, height: int) -> bytes:
    """Patch a baseline JPEG's SOF0 frame header to declare another size."""
    at = data.index(b"\xff\xc0")
    return data[:at + 5] + struct.pack(">HH", height, width) + data[at + 9:]


def webp_lossless_with_size(data: bytes, width: int, height: int) -> bytes:
    """Patch a simple lossless WebP (RIFF, VP8L) header's 14-bit width-1 / height-1."""
    assert data[12:16] == b"VP8L" and data[20] == 0x2F
    bits = int.from_bytes(data[21:25], "little")
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    return data[:21] + bits.to_bytes(4, "little") + data[25:]


def jpeg_scan_bomb(side: int, scans: int) -> bytes:
    """A progressive JPEG of a flat side×side picture whose last scan (an AC refinement pass over
    the whole image) is repeated until the file has `scans` scans: ~31 bytes per scan, and each
    scan costs the decoder a pass over every coefficient of the image."""
    data = encode(Image.new("RGB", (side, side), (128, 100, 90)), "JPEG", progressive=True, quality=90)
    assert data.endswith(b"\xff\xd9")
    last = data.rindex(b"\xff\xda")  # a flat image's entropy data holds no FF DA: this is the last SOS
    normal = data.count(b"\xff\xda")
    return data[:-2] + data[last:-2] * (scans - normal) + b"\xff\xd9"


def jpeg_with_comment(data: bytes, comment: bytes) -> bytes:
    """A COM segment right after SOI."""
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]


def zip_bytes() -> bytes:
    import zipfile
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Main-Class: Evil\n")
        z.writestr("evil.html", "<script>alert(document.domain)</script>")
    return out.getvalue()


def exif_bytes(orientation: int | None = None, gps: bool = False) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam Inc."  # Make
    exif[0x0110] = "SecretCam 3000"  # Model
    if orientation:
        exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.5), 3: "E", 4: (13.0, 24.0, 36.0)}
    return exif.tobytes()


# ---- checks on the stored copy -----------------------------------------------------------------

def no_metadata(img: Image.Image, data: bytes) -> None:
    assert not img.getexif(), f"stored image still has EXIF: {dict(img.getexif())}"
    for marker in (b"Exif\x00\x00", b"SecretCam", b"GPS", b"<script", b"PK\x03\x04", b"tEXt", b"iTXt", b"zTXt",
                   b"iCCP", b"eXIf", b"http://ns.adobe.com/xap"):
        assert marker not in data, f"stored image still carries {marker!r}"


def size_is(width: int, height: int) -> Callable[[Image.Image, bytes], None]:
    def check(img: Image.Image, data: bytes) -> None:
        no_metadata(img, data)
        assert img.size == (width, height), f"stored size {img.size}, expected {(width, height)}"
    return check


def long_side_at_most(limit: int) -> Callable[[Image.Image, bytes], None]:
    def check(img: Image.Image, data: bytes) -> None:
        no_metadata(img, data)
        assert max(img.size) <= limit, img.size
    return check


def mean_between(low: float, high: float) -> Callable[[Image.Image, bytes], None]:
    def check(img: Image.Image, data: bytes) -> None:
        no_metadata(img, data)
        mean = float(np.asarray(img.convert("L")).mean())
        assert low <= mean <= high, f"stored mean brightness {mean:.0f}, expected {low}..{high}"
    return check


def colour_near(rgb: tuple[int, int, int], tolerance: int = 6) -> Callable[[Image.Image, bytes], None]:
    def check(img: Image.Image, data: bytes) -> None:
        no_metadata(img, data)
        got = np.asarray(img.convert("RGB")).reshape(-1, 3).mean(axis=0)
        assert all(abs(g - w) <= tolerance for g, w in zip(got, rgb)), f"stored colour {got}, expected {rgb}"
    return check


def is_png_with_alpha(img: Image.Image, data: bytes) -> None:
    no_metadata(img, data)
    assert img.format == "PNG" and img.mode == "RGBA", (img.format, img.mode)


# ---- the corpus ------------------------------------------------------------------------------

def build_corpus() -> list[Case]:
    rng = random.Random(1234)
    jpeg = encode(photo(), "JPEG", quality=90)
    png = encode(photo(), "PNG")
    webp = encode(photo(), "WEBP", quality=80)
    webp_lossless = encode(photo(64, 64), "WEBP", lossless=True)
    tiny_jpeg = encode(photo(64, 64), "JPEG")
    gif = encode(photo(64, 64).convert("P"), "GIF")
    frames = [photo(96, 96), photo(96, 97).resize((96, 96)), photo(97, 96).resize((96, 96))]
    cases: list[Case] = []

    def add(name, data, status, code=None, filename=None, content_type=None, why="", stored_check=None):
        cases.append(Case(name, data, filename or f"{name}.jpg", content_type or "image/jpeg", status, code, why,
                          stored_check if stored_check is not None else (no_metadata if status == ACCEPTED else None)))

    # --- controls: ordinary images in each allowed format
    add("plain_jpeg", jpeg, ACCEPTED, why="control")
    add("plain_png", png, ACCEPTED, filename="p.png", content_type="image/png", why="control")
    add("plain_webp", webp, ACCEPTED, filename="p.webp", content_type="image/webp", why="control")

    # --- decompression bombs, one per allowed format, plus a big-but-allowed one
    add("bomb_png_2_5_gigapixels", png_raw(50_000, 50_000, 1, 0, b"\x00" * 6250), 422, "too_many_pixels",
        filename="bomb.png", content_type="image/png", why="1-bit PNG, 300 KB on disk, 2.5 Gpx decoded")
    add("bomb_png_rgba_lying_rows", png_raw(30_000, 30_000, 8, 6, b"\x00" * 120_000, rows=64), 422, "too_many_pixels",
        filename="bomb2.png", content_type="image/png", why="RGBA header of 900 Mpx, 64 rows of data")
    add("bomb_jpeg_4_gigapixels", jpeg_with_size(tiny_jpeg, 65_500, 65_500), 422, "too_many_pixels",
        why="SOF0 frame header patched to 65500x65500")
    add("bomb_webp_268_megapixels", webp_lossless_with_size(webp_lossless, 16_384, 16_384), 422, "too_many_pixels",
        filename="bomb.webp", content_type="image/webp", why="VP8L header patched to 16384x16384")
    add("big_png_36_megapixels_allowed", png_raw(6000, 6000, 8, 0, bytes(range(250)) * 24), ACCEPTED,
        filename="big.png", content_type="image/png", why="under the 40 Mpx limit: decoded, stored at 2048 px",
        stored_check=long_side_at_most(2048))
    add("jpeg_scan_bomb_1500_scans", jpeg_scan_bomb(4000, 1500), 422, "too_many_scans",
        why="140 KB progressive 4000x4000 whose last scan is repeated: 12 s of CPU to decode")
    add("webp_lossless_38_bytes_6300px", webp_lossless_with_size(
        encode(Image.new("RGB", (64, 64), (120, 80, 60)), "WEBP", lossless=True, method=0), 6300, 6300), 422,
        "too_many_pixels", filename="w.webp", content_type="image/webp",
        why="a valid one-colour 39.7 Mpx WebP: 612 MB to decode, so WebP has a lower pixel limit")
    text_bomb = zlib.compress(b"A" * (64 << 20), 9)
    add("png_ztxt_bomb_64mb", png[:-12] + png_chunk(b"zTXt", b"Comment\x00\x00" + text_bomb) + png[-12:], 422,
        "undecodable_image", filename="z.png", content_type="image/png",
        why="a text chunk inflating to 64 MB: refused once it passes 1 MB (Pillow's text-chunk limit)")

    # --- truncated and corrupt files
    add("truncated_jpeg", jpeg[: len(jpeg) * 6 // 10], 422, "undecodable_image")
    add("truncated_png", png[: len(png) // 2], 422, "undecodable_image", filename="t.png", content_type="image/png")
    # cut, then given back its end-of-image marker: libjpeg fills the rest with grey and says nothing
    add("truncated_jpeg_with_end_marker", jpeg[: len(jpeg) * 6 // 10] + b"\xff\xd9", 422, "undecodable_image")
    progressive = encode(photo(), "JPEG", progressive=True)
    add("truncated_progressive_jpeg_with_end_marker", progressive[: progressive.index(b"\xff\xda") + 200]
        + b"\xff\xd9", 422, "undecodable_image", why="cut inside the first (DC) scan: nothing but grey after")
    grey = Image.new("RGB", (256, 320), (128, 128, 128))
    grey.paste(photo(256, 160), (0, 0))
    add("jpeg_mid_grey_lower_half", encode(grey, "JPEG", quality=90), ACCEPTED,
        why="exactly 128 at the bottom, like a cut file, but every block is in the file: accepted")
    add("progressive_jpeg_mid_grey_lower_half", encode(grey, "JPEG", progressive=True), ACCEPTED)
    add("truncated_webp", webp[: len(webp) // 2], 422, "undecodable_image", filename="t.webp",
        content_type="image/webp")
    add("jpeg_header_only", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9", 422,
        "undecodable_image")
    bad_crc = bytearray(png)
    bad_crc[29] ^= 0xFF  # inside the IHDR CRC
    add("png_bad_ihdr_crc", bytes(bad_crc), 422, "undecodable_image", filename="c.png", content_type="image/png")
    idat = png.index(b"IDAT") + 40
    scrambled = png[:idat] + bytes(rng.randrange(256) for _ in range(200)) + png[idat + 200:]
    add("png_scrambled_idat", scrambled, 422, "undecodable_image", filename="s.png", content_type="image/png")
    add("png_zero_by_zero", PNG_SIGNATURE + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0))
        + png_chunk(b"IEND", b""), 422, "undecodable_image", filename="0.png", content_type="image/png")
    add("webp_riff_junk", b"RIFF\x40\x00\x00\x00WEBPVP8 " + bytes(rng.randrange(256) for _ in range(60)), 422,
        "undecodable_image", filename="j.webp", content_type="image/webp")
    add("jpeg_zero_width", jpeg_with_size(tiny_jpeg, 0, 64), 422, "undecodable_image", why="SOF0 says 0 pixels wide")
    add("png_one_pixel_over_the_limit", png_raw(1_000_001, 40, 1, 0, b"\x00" * 125_001, rows=1), 422,
        "too_many_pixels", filename="o.png", content_type="image/png", why="40,000,040 px: the limit is exact")
    add("png_chunk_length_overflow", PNG_SIGNATURE + png[8:33] + b"\xff\xff\xff\xf0IDAT" + b"\x00" * 64, 422,
        "undecodable_image", filename="l.png", content_type="image/png", why="a chunk claiming 4 GB")
    add("png_magic_then_html", PNG_SIGNATURE + b"<html><script>alert(1)</script></html>", 422, "undecodable_image",
        filename="h.png", content_type="image/png")
    add("random_bytes", bytes(rng.randrange(256) for _ in range(5000)), 415, "unsupported_format")
    add("zero_bytes", b"", 422, "empty_file")

    # --- wrong names and types: the bytes decide
    add("png_named_jpg", png, ACCEPTED, filename="photo.jpg", content_type="image/jpeg")
    add("jpeg_named_png_sent_as_gif", jpeg, ACCEPTED, filename="photo.png", content_type="image/gif")
    add("jpeg_named_exe", jpeg, ACCEPTED, filename="setup.exe", content_type="application/octet-stream")

    # --- polyglots: an image that is also something else; only the pixels survive
    add("polyglot_jpeg_html", jpeg + b"<html><body><script>alert(document.cookie)</script></body></html>", ACCEPTED)
    add("polyglot_jpeg_zip_jar", jpeg + zip_bytes(), ACCEPTED, filename="shirt.jar")
    add("polyglot_png_html_in_text_chunk", png[:-12] + png_chunk(b"tEXt", b"Comment\x00<script>alert(1)</script>")
        + png[-12:] + b"<script>alert(2)</script>", ACCEPTED, filename="x.png", content_type="image/png")
    add("polyglot_gifar", gif + zip_bytes(), 415, "unsupported_format", filename="g.jpg")

    # --- other formats disguised as images
    add("svg_with_script", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" '
        b'onload="alert(1)"><rect width="100" height="100"/></svg>', 415, "unsupported_format",
        filename="shirt.svg", content_type="image/svg+xml")
    add("svg_as_jpg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 415,
        "unsupported_format")
    add("html_as_jpg", b"<!doctype html><html><script>fetch('/api/profiles')</script></html>", 415,
        "unsupported_format")
    add("eps_as_jpg", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n(/etc/passwd) (r) file\nshowpage\n", 415,
        "unsupported_format", why="never handed to Ghostscript")
    add("tiff_as_jpg", encode(photo(64, 64), "TIFF"), 415, "unsupported_format")
    add("bmp_as_jpg", encode(photo(64, 64), "BMP"), 415, "unsupported_format")
    add("gif_static", gif, 415, "unsupported_format", filename="a.gif", content_type="image/gif")
    add("gif_animated", encode(frames[0].convert("P"), "GIF", save_all=True,
                               append_images=[f.convert("P") for f in frames[1:]]), 415, "unsupported_format",
        filename="a.gif", content_type="image/gif")
    add("ico_as_png", encode(photo(64, 64), "ICO"), 415, "unsupported_format", filename="i.png", content_type="image/png")
    add("pdf_as_jpg", b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n", 415,
        "unsupported_format")

    # --- dimensions
    add("one_by_one_png", encode(Image.new("RGB", (1, 1), "white"), "PNG"), 422, "too_small", filename="1.png",
        content_type="image/png")
    add("sliver_4000x8_png", encode(Image.new("RGB", (4000, 8), "white"), "PNG"), 422, "too_small",
        filename="s.png", content_type="image/png")
    add("extreme_aspect_16000x40_png", png_raw(16_000, 40, 8, 0, b"\x80" * 16_000), ACCEPTED, filename="w.png",
        content_type="image/png", stored_check=long_side_at_most(2048))

    # --- colour modes and variants the server must take
    add("cmyk_jpeg", encode(photo(mode="CMYK"), "JPEG"), ACCEPTED)
    add("grayscale_jpeg", encode(photo(mode="L"), "JPEG"), ACCEPTED)
    add("progressive_jpeg", encode(photo(), "JPEG", progressive=True, optimize=True), ACCEPTED)
    add("jpeg_comment_full_of_sos_markers", jpeg_with_comment(jpeg, b"\xff\xda\x00\x08" * 200), ACCEPTED,
        why="FF DA inside a comment is not a scan: only real segments are counted")
    grey16 = (np.arange(256 * 256, dtype=np.uint16).reshape(256, 256) * 1).astype(">u2").tobytes()
    add("png_16bit_grey", PNG_SIGNATURE + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 256, 256, 16, 0, 0, 0, 0))
        + png_chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + grey16[r * 512:(r + 1) * 512] for r in range(256))))
        + png_chunk(b"IEND", b""), ACCEPTED, filename="g16.png", content_type="image/png",
        why="scaled to 8 bits, not clipped to white", stored_check=mean_between(100, 155))
    rgb48 = np.dstack([np.full((128, 128), v, dtype=np.uint16) for v in (60000, 30000, 1000)]).astype(">u2").tobytes()
    add("png_16bit_rgb", PNG_SIGNATURE + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 128, 128, 16, 2, 0, 0, 0))
        + png_chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + rgb48[r * 768:(r + 1) * 768] for r in range(128))))
        + png_chunk(b"IEND", b""), ACCEPTED, filename="rgb48.png", content_type="image/png",
        stored_check=colour_near((233, 117, 4)))
    pal = photo(128, 128).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    add("palette_png_with_transparency", encode(pal, "PNG", transparency=0), ACCEPTED, filename="p.png",
        content_type="image/png", stored_check=is_png_with_alpha)
    rgba = photo(128, 128).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((128, 128)))
    add("rgba_png", encode(rgba, "PNG"), ACCEPTED, filename="a.png", content_type="image/png",
        stored_check=is_png_with_alpha)
    add("la_png", encode(photo(128, 128, "LA"), "PNG"), ACCEPTED, filename="la.png", content_type="image/png")
    add("rgba_webp", encode(rgba, "WEBP"), ACCEPTED, filename="a.webp", content_type="image/webp",
        stored_check=is_png_with_alpha)
    add("animated_png", encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100), ACCEPTED,
        filename="a.png", content_type="image/png", stored_check=size_is(96, 96))
    add("animated_webp", encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100), ACCEPTED,
        filename="a.webp", content_type="image/webp", stored_check=size_is(96, 96))

    # --- metadata: orientation applied, then every tag dropped
    add("exif_rotated_90", encode(photo(200, 100), "JPEG", exif=exif_bytes(orientation=6)), ACCEPTED,
        why="orientation 6: stored upright as 100x200", stored_check=size_is(100, 200))
    add("exif_mirrored_rotated_270", encode(photo(200, 100), "JPEG", exif=exif_bytes(orientation=7)), ACCEPTED,
        stored_check=size_is(100, 200))
    add("exif_with_gps_and_camera", encode(photo(), "JPEG", exif=exif_bytes(gps=True)), ACCEPTED,
        why="GPS position and camera make must not be stored")
    add("png_with_exif_and_icc", encode(photo(), "PNG", exif=exif_bytes(orientation=3, gps=True),
                                        icc_profile=_srgb_icc()), ACCEPTED, filename="m.png", content_type="image/png",
        stored_check=size_is(256, 320))
    add("webp_with_exif_gps", encode(photo(), "WEBP", exif=exif_bytes(orientation=6, gps=True)), ACCEPTED,
        filename="m.webp", content_type="image/webp", stored_check=size_is(320, 256))
    add("jpeg_with_broken_exif", _broken_exif_jpeg(jpeg), ACCEPTED)

    # --- size
    add("over_the_upload_limit_11mb", PNG_SIGNATURE + bytes(11 << 20), 413, "upload_too_large", filename="huge.png",
        content_type="image/png")
    return cases


def _srgb_icc() -> bytes:
    from PIL import ImageCms
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _broken_exif_jpeg(jpeg: bytes) -> bytes:
    """An APP1 Exif segment whose IFD offsets point past its end."""
    body = b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 0xFFFF0000) + b"\x00" * 16
    app1 = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    return jpeg[:2] + app1 + jpeg[2:]
