"""Untrusted uploads: limits enforced while streaming, formats by content, bombs refused, metadata stripped."""

from __future__ import annotations

import io
import socket

import numpy as np
import pytest
from PIL import Image

from tests.conftest import fixture_bytes, image_bytes, new_token
from tests.doubles import InstantEngine
from tests.garments import draw_top
from tryon_server.exceptions import UnreadableImage, UnsupportedImage
from tryon_server.images import clean_image


def post_person(client, data: bytes, name: str = "me.jpg"):
    return client.post("/api/tryon/sessions", data={"category": "upper"},
                       files={"person": (name, data, "image/jpeg"),
                              "garment": ("g.png", image_bytes(draw_top()), "image/png")})


def bomb_png(side: int = 20000) -> bytes:
    # a tiny file that claims side*side pixels: refused from the header, never decoded
    img = Image.new("1", (side, side))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("label", "data", "status"),
    [
        ("empty file", b"", 422),
        ("plain text", b"hello, I am not an image", 415),
        ("html named .jpg", b"<html><script>alert(1)</script></html>", 415),
        ("gif", b"GIF89a" + b"\x00" * 64, 415),
        ("truncated jpeg", fixture_bytes("grace_hopper.jpg")[:5000], 422),
        ("png header only", b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, 422),
        ("decompression bomb", bomb_png(), 422),
    ],
)
def test_bad_person_uploads_get_a_clear_4xx_never_500(server_factory, label, data, status):
    live = server_factory(InstantEngine, max_image_pixels=40_000_000)
    with live.client(new_token(live)) as c:
        r = post_person(c, data)
    assert r.status_code == status, (label, r.text)
    assert r.json()["error"]["message"].endswith(".")
    assert live.state.storage.all_keys() == set()  # nothing stored for a refused upload


def test_oversize_upload_is_refused_from_content_length_before_the_body_is_read(server_factory):
    live = server_factory(InstantEngine, max_upload_mb=1)
    token = new_token(live)
    # announce 50 MB, send only the headers: the answer must come without the body
    with socket.create_connection(("127.0.0.1", live.server.config.port), timeout=5) as s:
        s.sendall(
            b"POST /api/tryon/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {token}\r\n".encode()
            + b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 52428800\r\n\r\n"
        )
        reply = s.recv(4096).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 413"), reply


def test_oversize_upload_without_content_length_is_cut_off_while_streaming(server_factory):
    live = server_factory(InstantEngine, max_upload_mb=1)
    with live.client(new_token(live)) as c:
        def chunks():
            yield b"--x\r\nContent-Disposition: form-data; name=\"person\"; filename=\"a.jpg\"\r\n\r\n"
            for _ in range(400):  # 400 x 16 KB = 6.4 MB, chunked: no Content-Length
                yield b"\xff" * 16384
        r = c.post("/api/tryon/sessions", content=chunks(),
                   headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "upload_too_large"


def test_stored_photos_carry_no_exif_and_are_turned_upright(server_factory):
    upright = Image.open(io.BytesIO(fixture_bytes("grace_hopper.jpg"))).convert("RGB")
    # store it rotated on its side with EXIF orientation 6 ("rotate 90° clockwise to view") plus GPS
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 30.0)}  # GPSInfo
    out = io.BytesIO()
    sideways.save(out, format="JPEG", exif=exif)
    live = server_factory(InstantEngine)
    with live.client(new_token(live)) as c:
        r = c.post("/api/profiles", files={"photo": ("p.jpg", out.getvalue(), "image/jpeg")})
        assert r.status_code == 201, r.text
        stored = c.get(r.json()["photo_url"])
    img = Image.open(io.BytesIO(stored.content))
    assert img.size == upright.size  # orientation applied
    assert not img.getexif() and "exif" not in img.info and "icc_profile" not in img.info


def test_format_is_decided_by_content_not_by_name():
    png = image_bytes(draw_top(), "PNG")
    assert clean_image(png, max_pixels=10**8, what="garment").extension in ("png", "jpg")
    with pytest.raises(UnsupportedImage):
        clean_image(b"BM" + b"\x00" * 100, max_pixels=10**8)  # BMP, even if named .png
    with pytest.raises(UnreadableImage):
        clean_image(bomb_png(), max_pixels=40_000_000)


def test_transparent_png_is_stored_without_icc_profile_or_text_chunks():
    from PIL import ImageCms, PngImagePlugin

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "someone@example.com")
    out = io.BytesIO()
    Image.new("RGBA", (64, 64), (10, 20, 30, 128)).save(out, format="PNG", icc_profile=icc, pnginfo=text)
    clean = clean_image(out.getvalue(), max_pixels=10**8, what="garment")
    stored = Image.open(io.BytesIO(clean.data))
    assert clean.extension == "png" and stored.mode == "RGBA"
    assert stored.info == {} and b"iCCP" not in clean.data and b"tEXt" not in clean.data


def test_big_phone_jpeg_is_stored_upright_at_most_2048px_and_true_to_the_picture():
    """A 12 MP photo takes the reduced-size JPEG decode (DCT scaling) and is then oriented: the
    stored copy must still be the same picture, the right way up, with a useful size."""
    picture = Image.open(io.BytesIO(fixture_bytes("grace_hopper.jpg"))).convert("RGB").resize((4032, 3024))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=90, exif=exif)
    clean = clean_image(out.getvalue(), max_pixels=40_000_000)
    width, height = clean.size
    assert height > width and 1536 <= height <= 2048  # portrait after EXIF, long side kept useful
    expected = picture.transpose(Image.Transpose.ROTATE_270).resize((64, 64))
    got = Image.open(io.BytesIO(clean.data)).convert("RGB").resize((64, 64))
    assert np.abs(np.asarray(expected, float) - np.asarray(got, float)).mean() < 6
