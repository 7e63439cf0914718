"""A loopback web server for the fixture shop pages in this folder, with their pictures.

Every picture is drawn at start-up (product photos from tests/garments.py, recoloured so that
each page's product is a different picture) into a temporary folder. Routes, besides the pages:

    /img/<name>                    a picture (any query string is ignored, like an image CDN's ?w=)
    /_next/image?url=/img/<name>   Next.js's image optimiser
    /late/product/<n>              the single-page shop's deep links (serve late.html)
    /strict/img/<name>             hotlink protection: refuses requests that say they come from a
                                   script (Sec-Fetch-Dest present but not "image"), as shops' CDNs
                                   refuse downloads that are not page images
    /members/img/<name>            a members-only picture: served only with the cookie member=1,
                                   which members.html's response sets (a logged-in shopper's session)
"""

from __future__ import annotations

import http.server
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from tests.garments import draw_dress, draw_top, draw_trousers

PAGES = Path(__file__).resolve().parent


def _swap(img: Image.Image, order: str) -> Image.Image:
    """The same garment in another colour (channels reordered): a distinct picture per page."""
    r, g, b = img.convert("RGB").split()
    channels = {"r": r, "g": g, "b": b}
    return Image.merge("RGB", [channels[c] for c in order])


def _scene(size: tuple[int, int], seed: int, label: str) -> Image.Image:
    """A photo-like non-product picture (banner, editorial, blog): gradient sky, blobs, a caption bar."""
    w, h = size
    rng = np.random.default_rng(seed)
    top, bottom = rng.integers(60, 220, 3), rng.integers(20, 160, 3)
    ramp = np.linspace(0, 1, h)[:, None, None]
    pixels = (top[None, None, :] * (1 - ramp) + bottom[None, None, :] * ramp).repeat(w, axis=1)
    img = Image.fromarray(pixels.astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(6):
        x, y, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(h // 10, h // 3))
        d.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    d.rectangle([0, h - 40, w, h], fill=(20, 20, 20))
    d.text((16, h - 30), label, fill=(255, 255, 255))
    return img


def _icon(size: int, colour: tuple[int, int, int]) -> Image.Image:
    img = Image.new("RGB", (size, size), (255, 255, 255))
    ImageDraw.Draw(img).ellipse([2, 2, size - 3, size - 3], outline=colour, width=2)
    return img


def draw_pictures(folder: Path) -> dict[str, tuple[int, int]]:
    """Write every picture the pages use into `folder`; returns name -> size."""
    top, trousers, dress = draw_top(), draw_trousers(), draw_dress()
    logo = Image.new("RGB", (160, 40), (255, 255, 255))
    ImageDraw.Draw(logo).text((8, 12), "SHOP LOGO", fill=(0, 0, 0))
    sprite = Image.new("RGB", (480, 48), (240, 240, 240))
    for i in range(10):
        ImageDraw.Draw(sprite).rectangle([i * 48 + 8, 8, i * 48 + 40, 40], outline=(60, 60, 60), width=3)
    pictures: dict[str, Image.Image] = {
        # products (one distinct picture per page)
        "og-top.jpg": top,
        "ld-dress-front.jpg": dress,
        "ld-dress-back.jpg": ImageOps.mirror(_swap(dress, "bgr")),
        "next-trousers.png": trousers,
        "legacy-top-main.jpg": _swap(top, "gbr").resize((450, 540)),
        "legacy-top-zoom.jpg": _swap(top, "gbr").resize((1200, 1440)),
        "legacy-alt-2.jpg": ImageOps.mirror(_swap(top, "rbg")).resize((450, 540)),
        "legacy-alt-3.jpg": ImageOps.flip(_swap(top, "brg")).resize((450, 540)),
        "lazy-trousers-400.jpg": _swap(trousers, "brg").resize((400, 640)),
        "lazy-trousers-1200.jpg": _swap(trousers, "brg").resize((1000, 1600)),
        "late-dress-1.jpg": _swap(dress, "grb"),
        "late-top-2.jpg": _swap(top, "bgr"),
        "bg-shirt-600.jpg": _swap(top, "brg").resize((600, 720)),
        "bg-shirt-1200.jpg": _swap(top, "brg").resize((1200, 1440)),
        "bg-shirt-navy-1200.jpg": _swap(top, "bgr").resize((1200, 1440)),
        "shadow-dress-600.jpg": _swap(dress, "rbg").resize((600, 750)),
        "shadow-dress-1200.jpg": _swap(dress, "rbg").resize((1200, 1500)),
        "shadow-dress-back-600.jpg": ImageOps.mirror(_swap(dress, "gbr")).resize((600, 750)),
        "shadow-dress-back-1200.jpg": ImageOps.mirror(_swap(dress, "gbr")).resize((1200, 1500)),
        # the failure patterns of real shops (issue 15), one product per page
        "rend-tee-4411-1-zoom-desktop.jpg": _swap(top, "gbr").resize((900, 1080)),
        "rend-tee-4411-2-zoom-desktop.jpg": ImageOps.mirror(_swap(top, "gbr")).resize((900, 1080)),
        "tc-jacket-main.jpg": _swap(top, "rbg").resize((900, 1080)),
        "bt-dress.jpg": _swap(dress, "brg").resize((560, 900)),
        "lz-coat-1.jpg": _swap(dress, "bgr").resize((900, 1200)),
        "lz-coat-2.jpg": ImageOps.mirror(_swap(dress, "bgr")).resize((900, 1200)),
        "lm-trousers-1.jpg": _swap(trousers, "gbr").resize((800, 1280)),
        "amz-tee._AC_SL1500_.jpg": _swap(top, "grb").resize((1250, 1500)),
        "amz-tee._AC_SX679_.jpg": _swap(top, "grb").resize((679, 815)),
        "amz-tee._AC_SX355_.jpg": _swap(top, "grb").resize((355, 426)),
        "plain-skirt.jpg": _swap(trousers, "brg").resize((700, 1120)),
        "lqip-bag.jpg": _swap(dress, "gbr").resize((600, 720)),
        # their decoys: other products' tiles, brand banners, editorial pictures
        "rend-rec-5120-1-catalog.jpg": _swap(top, "bgr").resize((450, 540)),
        "rend-rec-5133-1-catalog.jpg": _swap(top, "rgb").resize((450, 540)),
        "tc-thumb-2.jpg": ImageOps.mirror(_swap(top, "rbg")).resize((90, 108)),
        "tc-brand-story.jpg": _scene((960, 460), 12, "THE ATELIER"),
        "bt-featured.jpg": _swap(trousers, "bgr").resize((600, 900)),
        "lz-look.jpg": _scene((720, 720), 13, "Styled with"),
        "lm-look.jpg": _scene((720, 760), 14, "Weekend edit"),
        "amz-rec-1.jpg": _swap(trousers, "grb").resize((400, 480)),
        "amz-sponsored.jpg": _scene((600, 500), 15, "Sponsored"),
        "news-photo.jpg": _scene((1000, 620), 16, "Rain, tested"),
        "podcast-art.jpg": _scene((600, 600), 17, "THE FIT PODCAST"),
        # decoys
        "logo.png": logo,
        "icon-cart.png": _icon(24, (20, 20, 20)),
        "icon-search.png": _icon(24, (90, 90, 90)),
        "payment-visa.png": Image.new("RGB", (38, 24), (26, 31, 113)),
        "sprite.png": sprite,
        "hero-banner.jpg": _scene((1400, 450), 1, "SUMMER COLLECTION"),
        "next-promo.jpg": _scene((1200, 300), 2, "SPRING SALE -30%"),
        "next-look.jpg": _scene((640, 720), 8, "Complete the look"),
        "og-editorial.jpg": _scene((900, 700), 3, "Our workshop"),
        "lookbook.jpg": _scene((600, 600), 4, "The harbour look"),
        "blog-hero.jpg": _scene((1400, 500), 5, "JOURNAL"),
        "blog-article-1.jpg": _scene((800, 520), 6, "On the pier"),
        "blog-article-2.jpg": _scene((640, 640), 7, "Folded"),
        "ld-rec-1.jpg": _swap(top, "rbg").resize((200, 240)),
        "ld-rec-2.jpg": _swap(trousers, "gbr").resize((200, 240)),
        "next-card-1.jpg": _swap(trousers, "bgr").resize((180, 240)),
        "next-card-2.jpg": _swap(trousers, "grb").resize((180, 240)),
        "legacy-thumb-1.jpg": _swap(top, "gbr").resize((70, 84)),
        "legacy-thumb-2.jpg": _swap(top, "rbg").resize((70, 84)),
        "legacy-thumb-3.jpg": _swap(top, "brg").resize((70, 84)),
        "lazy-thumb.jpg": _swap(trousers, "rbg").resize((70, 110)),
        "bg-thumb-1.jpg": _swap(top, "brg").resize((70, 84)),
        "bg-thumb-2.jpg": _swap(top, "bgr").resize((70, 84)),
        "bg-feature.jpg": _scene((700, 700), 9, "Made in Porto"),
        "bg-card-1.jpg": _swap(top, "grb").resize((200, 240)),
        "bg-card-2.jpg": _swap(trousers, "rgb").resize((200, 240)),
        "paper-texture.png": _icon(64, (230, 225, 215)),
        "shadow-thumb-1.jpg": _swap(dress, "rbg").resize((70, 88)),
        "shadow-thumb-2.jpg": ImageOps.mirror(_swap(dress, "gbr")).resize((70, 88)),
        "shadow-look.jpg": _scene((640, 720), 10, "Wear it to the wedding"),
        "shadow-social.jpg": _scene((1200, 630), 11, "Share: the Wrap Dress"),
        "shadow-card-1.jpg": _swap(dress, "bgr").resize((180, 240)),
        "shadow-card-2.jpg": _swap(dress, "grb").resize((180, 240)),
    }
    sizes = {}
    for name, img in pictures.items():
        img.convert("RGB").save(folder / name, quality=92)
        sizes[name] = img.size
    return sizes


class _Handler(http.server.BaseHTTPRequestHandler):
    pictures: Path  # set on the subclass made per server

    def log_message(self, format: str, *args) -> None:  # quiet: pytest shows failures, not traffic
        pass

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _picture(self, name: str) -> None:
        path = (self.pictures / Path(unquote(name)).name)
        if not path.is_file():
            self._send(404, b"no such picture", "text/plain")
            return
        kind = "image/png" if path.suffix == ".png" else "image/jpeg"
        self._send(200, path.read_bytes(), kind)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        if path.startswith("/img/"):
            self._picture(path.removeprefix("/img/"))
        elif path == "/_next/image":
            self._picture(parse_qs(parts.query).get("url", [""])[0].removeprefix("/img/"))
        elif path.startswith("/strict/img/"):
            dest = self.headers.get("Sec-Fetch-Dest")
            if dest is not None and dest != "image":
                self._send(403, b"hotlinking is not allowed", "text/plain")
            else:
                self._picture(path.removeprefix("/strict/img/"))
        elif path.startswith("/members/img/"):
            if "member=1" in (self.headers.get("Cookie") or ""):
                self._picture(path.removeprefix("/members/img/"))
            else:
                self._send(403, b"members only", "text/plain")
        elif path.startswith("/late/product/"):
            self._send(200, (PAGES / "late.html").read_bytes(), "text/html; charset=utf-8")
        elif path.endswith(".html") and (PAGES / Path(path).name).is_file():
            # members.html: the shopper is logged in (a session cookie, as a real shop sets it)
            cookie = {"Set-Cookie": "member=1; Path=/; HttpOnly; SameSite=Lax"} if path.endswith("/members.html") else None
            self._send(200, (PAGES / Path(path).name).read_bytes(), "text/html; charset=utf-8", cookie)
        else:
            self._send(404, b"not found", "text/plain")


@dataclass
class ShopServer:
    url: str
    sizes: dict[str, tuple[int, int]]
    httpd: http.server.ThreadingHTTPServer

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def start_shop_server(pictures: Path) -> ShopServer:
    """Draw the pictures into `pictures` and serve the shop pages on a free loopback port."""
    pictures.mkdir(parents=True, exist_ok=True)
    sizes = draw_pictures(pictures)
    handler = type("ShopHandler", (_Handler,), {"pictures": pictures})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return ShopServer(url=f"http://127.0.0.1:{httpd.server_address[1]}", sizes=sizes, httpd=httpd)
