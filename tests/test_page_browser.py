"""The demo page at `/`, driven in Debian's Chromium against the real server and the real
`classic` engine, with real fixture photos: what a person does, checked on screen and on the server.

Screenshots of the first visit and of a result, at 390 px and 1440 px wide, go to test-artifacts/.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tryon_server.photo_needs import PHOTO_NEEDS

from .browser import CHROMIUM_ARGS, artifact, launch_with_extension, require_chromium
from .conftest import FIXTURES, LiveServer, image_bytes, wait_terminal
from .doubles import InstantEngine
from .garments import draw_top
from .loopback_http import LoopbackServer, serve_bytes

pytestmark = pytest.mark.browser

EXTENSION_DIR = Path(__file__).resolve().parent.parent / "static" / "extension"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}

# Records every value the progress bar takes, as the page sets it (the test reads it afterwards,
# so a run faster than Playwright's polling still leaves its trace).
RECORD_PROGRESS = """() => {
  window.progressSeen = [];
  const bar = document.getElementById("progress");
  new MutationObserver(() => window.progressSeen.push(Number(bar.value)))
    .observe(bar, { attributes: true, attributeFilter: ["value"] });
}"""


@pytest.fixture
def browser() -> Iterator[Browser]:
    path = require_chromium()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def garment_png(tmp_path: Path) -> Path:
    path = tmp_path / "striped-top.png"
    draw_top().save(path)
    return path


def open_page(browser: Browser, live: LiveServer, problems: list[str]) -> Page:
    page = browser.new_page(viewport=DESKTOP)

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            problems.append(msg.text)

    page.on("console", on_console)  # CSP violations show up here too
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.goto(live.url + "/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return page


def token_of(page: Page) -> str | None:
    return page.evaluate("localStorage.getItem('tryon.token')")


def screenshot(page: Page, name: str, viewport: dict[str, int]) -> None:
    page.set_viewport_size(viewport)
    page.evaluate("() => { window.scrollTo(0, 0); document.getElementById('toast').hidden = true; }")
    page.wait_for_timeout(150)  # let the layout settle at the new width
    page.screenshot(path=artifact(name), full_page=True)


def add_profile(page: Page, photo: Path, name: str, height: str = "") -> None:
    page.get_by_label("Your photo").set_input_files(photo)
    expect(page.locator("#photo-preview")).to_be_visible()
    page.get_by_label("Name").fill(name)
    if height:
        page.get_by_label("Height (cm)").fill(height)
    page.get_by_role("button", name="Save this photo").click()
    expect(page.locator(".profile", has_text=name)).to_be_visible()


def test_whole_flow_profile_tryon_progress_result_archive_delete(server_factory, browser: Browser,
                                                                  garment_png: Path) -> None:
    live = server_factory()  # the real classic engine (the settings fixture's default)
    assert live.state.runner.engine_name == "classic"
    problems: list[str] = []
    page = open_page(browser, live, problems)

    # first visit: a token is fetched and kept, and it is one the server knows
    token = token_of(page)
    assert token
    with live.client(token) as api:
        assert api.get("/api/profiles").json() == {"items": []}
    expect(page.get_by_text("What makes a good photo")).to_be_visible()
    expect(page.get_by_text("No try-ons yet")).to_be_visible()
    expect(page.locator("#extension-status")).to_have_text("Browser extension not installed")
    screenshot(page, "page-first-visit-1440.png", DESKTOP)
    screenshot(page, "page-first-visit-390.png", PHONE)
    page.set_viewport_size(DESKTOP)

    # a fitting profile from a real photo: shown as a thumbnail, chosen, stored on the server
    add_profile(page, FIXTURES / "grace_hopper.jpg", "Grace", height="170")
    card = page.locator(".profile", has_text="Grace")
    expect(card.locator(".profile-pick")).to_have_attribute("aria-pressed", "true")
    assert card.locator("img").evaluate("img => img.complete && img.naturalWidth") > 0
    with live.client(token) as api:
        profiles = api.get("/api/profiles").json()["items"]
    assert [p["name"] for p in profiles] == ["Grace"]

    # "Estimate my size" shows exactly what the server answered: a size, or its sentence
    with page.expect_response(lambda r: r.url.endswith("/api/estimate-body")) as estimate:
        card.get_by_role("button", name="Estimate my size").click()
    answer = estimate.value.json()
    if estimate.value.ok:
        expect(page.locator(".profile", has_text="Grace")).to_contain_text(f"Your size: {answer['size']}")
    else:
        expect(card.locator(".profile-error")).to_have_text(answer["error"]["message"])
        problems[:] = [p for p in problems if "Failed to load resource" not in p]  # the error answer itself

    # try on a garment file as a top; the bar moves while the SSE stream reports progress
    page.get_by_label("Garment", exact=True).set_input_files(garment_png)
    page.get_by_role("radio", name="Top").check()
    page.evaluate(RECORD_PROGRESS)
    page.get_by_role("button", name="Try it on").click()
    result = page.get_by_alt_text("Try-on result")
    expect(result).to_be_visible(timeout=45_000)
    page.wait_for_function("() => document.getElementById('result-image').naturalWidth > 0")
    seen = page.evaluate("window.progressSeen")
    assert any(0 < v < 100 for v in seen), f"the progress bar never showed a value between 0 and 100: {seen}"
    assert seen[-1] == 100 and seen == sorted(seen), f"the progress bar did not move forward to 100: {seen}"
    assert page.locator("#before-image").evaluate("img => img.naturalWidth") > 0
    expect(page.get_by_role("button", name="Try it on")).to_be_enabled()

    with live.client(token) as api:
        sessions = api.get("/api/tryon/archive").json()["items"]
    assert len(sessions) == 1 and sessions[0]["status"] == "completed"
    session_id = sessions[0]["session_id"]

    # download: a PNG from this server
    download = page.get_by_role("link", name="Download")
    assert download.get_attribute("download", timeout=1000)
    fetched = page.evaluate("""async (href) => { const r = await fetch(href);
        return [r.status, r.headers.get('content-type')]; }""", download.get_attribute("href"))
    assert fetched == [200, "image/png"]

    # the before/after slider moves the split
    page.get_by_label("Before/after slider").fill("20")
    assert page.locator("#compare").evaluate("el => el.style.getPropertyValue('--split')") == "20%"

    # Keep: exempt from auto-delete, on the server and on screen
    expect(page.locator("#result-expiry")).to_contain_text("Deletes itself")
    page.get_by_role("button", name="Keep", exact=True).click()
    expect(page.get_by_role("button", name="✓ Kept")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#result-expiry")).to_contain_text("Kept")
    with live.client(token) as api:
        kept = api.get(f"/api/tryon/sessions/{session_id}").json()
    assert kept["kept"] is True and kept["expires_at"] is None

    screenshot(page, "page-result-1440.png", DESKTOP)
    screenshot(page, "page-result-390.png", PHONE)
    page.set_viewport_size(DESKTOP)

    # the archive holds it: openable, its picture loaded, its keep state shown; then delete it
    tile = page.locator(f'.tile[data-session-id="{session_id}"]')
    expect(tile).to_be_visible()
    expect(tile).to_contain_text("Kept")
    assert tile.locator(".tile-open img").evaluate("img => img.complete && img.naturalWidth") > 0
    tile.get_by_role("button", name="Unkeep").click()  # un-keep from the archive: an expiry time shows again
    expect(tile.locator(".tile-expiry")).to_contain_text("Deletes")
    tile.get_by_role("button", name="Open").click()
    expect(result).to_be_visible()
    tile.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Delete try-on").click()
    expect(tile).to_have_count(0)
    expect(page.get_by_text("No try-ons yet")).to_be_visible()
    with live.client(token) as api:
        assert api.get(f"/api/tryon/sessions/{session_id}").status_code == 404

    # Delete all my data: the server forgets the token and everything of it; so does the page
    page.get_by_role("button", name="Delete all my data").click()
    page.get_by_role("button", name="Delete everything").click()
    expect(page.get_by_text("All your data was deleted.")).to_be_visible()
    assert token_of(page) is None
    expect(page.locator(".profile")).to_have_count(0)
    assert httpx.get(f"{live.url}/api/profiles", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert problems == []


def test_failed_tryon_shows_server_sentence_next_step_and_keeps_the_form(server_factory, browser: Browser,
                                                                          garment_png: Path) -> None:
    live = server_factory()
    problems: list[str] = []
    page = open_page(browser, live, problems)
    # a waist-up photo tried with a dress: the classic engine fails the session with its sentence, and
    # what to do names what a dress needs (the server's one definition of it)
    add_profile(page, FIXTURES / "grace_hopper.jpg", "Waist up")
    page.get_by_label("Garment", exact=True).set_input_files(garment_png)
    page.get_by_role("radio", name="Dress").check()
    page.get_by_role("button", name="Try it on").click()
    error = page.locator("#stage-error")
    expect(error).to_be_visible(timeout=30_000)
    expect(error).to_contain_text(f"Dresses need a photo of you standing, facing the camera, with your "
                                  f"{PHOTO_NEEDS['dress']} in the picture.")
    expect(page.locator("#error-next")).to_contain_text(PHOTO_NEEDS["dress"])
    screenshot(page, "page-error-390.png", PHONE)
    page.set_viewport_size(DESKTOP)
    # the form keeps what the user chose, ready for another go
    assert page.get_by_label("Garment", exact=True).evaluate("input => input.files[0].name") == garment_png.name
    expect(page.get_by_role("radio", name="Dress")).to_be_checked()
    expect(page.get_by_role("button", name="Try it on")).to_be_enabled()

    # a garment that is not an image: refused at upload, the server's sentence is shown as is
    not_image = garment_png.with_name("not-an-image.png")
    not_image.write_text("this is text, not a picture")
    page.get_by_label("Garment", exact=True).set_input_files(not_image)
    with page.expect_response(lambda r: r.url.endswith("/api/tryon/sessions")) as refused:
        page.get_by_role("button", name="Try it on").click()
    assert refused.value.status in (415, 422)
    expect(page.locator("#error-message")).to_have_text(refused.value.json()["error"]["message"])
    expect(page.locator("#error-next")).to_have_text("Use a JPEG, PNG or WebP image.")
    expect(page.get_by_role("radio", name="Dress")).to_be_checked()
    assert [p for p in problems if "Failed to load resource" not in p] == []


def test_progress_falls_back_to_polling_when_the_event_stream_drops(server_factory, browser: Browser,
                                                                     garment_png: Path) -> None:
    live = server_factory()
    problems: list[str] = []
    page = open_page(browser, live, problems)
    add_profile(page, FIXTURES / "grace_hopper.jpg", "Grace")
    # the SSE stream fails at the network level, as when a proxy or a server restart cuts it
    page.route("**/events", lambda route: route.abort("connectionreset"))
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/api/tryon/sessions/" in r.url
            and not r.url.endswith("/events") and r.method == "GET" else None)
    page.get_by_label("Garment", exact=True).set_input_files(garment_png)
    page.get_by_role("button", name="Try it on").click()
    expect(page.get_by_alt_text("Try-on result")).to_be_visible(timeout=30_000)
    page.wait_for_function("() => document.getElementById('result-image').naturalWidth > 0")
    assert polls, "the page never polled the session after its event stream dropped"
    expect(page.locator("#progress")).to_have_attribute("value", "100")


def test_connect_the_browser_extension_pairs_it_with_this_pages_token_server_and_profile(
        server_factory, tmp_path: Path) -> None:
    require_chromium()
    live = server_factory()
    with sync_playwright() as p:
        context, worker, _ = launch_with_extension(p, EXTENSION_DIR, tmp_path / "chromium-profile", viewport=DESKTOP)
        try:
            page = context.new_page()
            page.goto(live.url + "/")
            status = page.locator("#extension-status")
            expect(status).to_have_text("Browser extension installed, not connected")
            add_profile(page, FIXTURES / "grace_hopper.jpg", "Grace")
            profile_id = page.locator(".profile").get_attribute("data-profile-id")

            page.get_by_role("button", name="Connect the browser extension").click()
            expect(status).to_have_text("Browser extension connected")
            expect(page.get_by_role("button", name="Connect the browser extension")).to_be_hidden()
            stored = worker.evaluate("() => chrome.storage.local.get(null)")
            assert stored["token"] == token_of(page)
            assert stored["serverUrl"] == live.url
            assert stored["profileId"] == profile_id

            # choosing another profile while connected tells the extension
            page.get_by_text("Add another photo of yourself").click()
            add_profile(page, FIXTURES / "astronaut.png", "Astronaut")
            astronaut = page.locator(".profile", has_text="Astronaut").get_attribute("data-profile-id")
            expect(status).to_have_text("Browser extension connected")
            stored_profile = "() => chrome.storage.local.get('profileId').then((s) => s.profileId)"
            deadline = time.monotonic() + 5
            while worker.evaluate(stored_profile) != astronaut and time.monotonic() < deadline:
                page.wait_for_timeout(100)
            assert worker.evaluate(stored_profile) == astronaut

            # a fresh visit still shows it connected
            page.reload()
            expect(status).to_have_text("Browser extension connected")

            # after "Delete all my data" the extension's token is dead: the page says to connect again
            page.get_by_role("button", name="Delete all my data").click()
            page.get_by_role("button", name="Delete everything").click()
            expect(status).to_have_text("Browser extension installed, not connected")
            expect(page.get_by_role("button", name="Connect the browser extension")).to_be_visible()
        finally:
            context.close()


def test_garment_by_link_and_archive_pages_newest_first(server_factory, browser: Browser) -> None:
    # the shop is a real HTTP server on loopback, which this server is told to accept for the test
    live = server_factory(allow_loopback_downloads=True)
    shirt = image_bytes(draw_top())
    with LoopbackServer(routes={"/images/shirt.png": serve_bytes(shirt)}) as shop:
        problems: list[str] = []
        page = open_page(browser, live, problems)
        add_profile(page, FIXTURES / "grace_hopper.jpg", "Grace")
        page.get_by_role("radio", name="From a link").check()
        page.get_by_label("Link to the garment picture (URL)").fill(shop.url("/images/shirt.png"))
        page.get_by_role("button", name="Try it on").click()
        expect(page.get_by_alt_text("Try-on result")).to_be_visible(timeout=30_000)
        assert shop.hits.requests and shop.hits.requests[0][0] == "/images/shirt.png"

    # eight more try-ons (small ones, made over HTTP): the archive shows 8 a page, newest first
    token = token_of(page)
    profile_id = page.locator(".profile").get_attribute("data-profile-id")
    with live.client(token) as api:
        for _ in range(8):
            accepted = api.post("/api/tryon/sessions", data={
                "profile_id": profile_id, "category": "upper", "options": '{"output_size": 256}',
            }, files={"garment": ("shirt.png", shirt, "image/png")}).json()
            assert wait_terminal(api, accepted["session_id"])["status"] == "completed"
        newest_first = [s["session_id"] for s in api.get("/api/tryon/archive?limit=100").json()["items"]]
    assert len(newest_first) == 9
    page.reload()
    tiles = page.locator(".tile")
    expect(tiles).to_have_count(8)
    assert [t.get_attribute("data-session-id") for t in tiles.all()] == newest_first[:8]
    expect(page.get_by_text("Page 1")).to_be_visible()
    expect(page.get_by_role("button", name="← Newer")).to_be_disabled()
    page.get_by_role("button", name="Older →").click()
    expect(tiles).to_have_count(1)
    assert tiles.first.get_attribute("data-session-id") == newest_first[8]  # the first one, by link
    expect(page.get_by_role("button", name="Older →")).to_be_disabled()
    page.get_by_role("button", name="← Newer").click()
    expect(tiles).to_have_count(8)
    assert problems == []


def test_profile_photo_by_drag_and_drop_and_by_camera(server_factory, tmp_path: Path) -> None:
    path = require_chromium()
    live = server_factory()
    with sync_playwright() as p:
        # Chromium's own fake camera: a real getUserMedia stream, filming a person (a motion-JPEG file
        # of a fixture photo), so the snapshot passes the server's check of a profile photo
        video = tmp_path / "person.mjpeg"
        video.write_bytes((FIXTURES / "grace_hopper.jpg").read_bytes() * 3)
        chromium = p.chromium.launch(executable_path=path, args=[
            *CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"])
        try:
            problems: list[str] = []
            page = open_page(chromium, live, problems)
            # drag and drop: a photo file dropped on the "Your photo" box becomes the chosen photo
            photo = base64.b64encode((FIXTURES / "grace_hopper.jpg").read_bytes()).decode()
            transfer = page.evaluate_handle("""(b64) => {
                const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                const dt = new DataTransfer();
                dt.items.add(new File([bytes], "dropped.jpg", { type: "image/jpeg" }));
                return dt; }""", photo)
            page.dispatch_event("#photo-drop", "drop", {"dataTransfer": transfer})
            expect(page.locator("#photo-file-name")).to_have_text("dropped.jpg")
            page.get_by_label("Name").fill("Dropped")
            page.get_by_role("button", name="Save this photo").click()
            expect(page.locator(".profile", has_text="Dropped")).to_be_visible()

            # the camera: offered because the device has one; the snapshot is saved as a profile
            page.get_by_text("Add another photo of yourself").click()
            page.get_by_role("button", name="Use the camera").click()
            page.wait_for_function("() => document.getElementById('camera-video').videoWidth > 0")
            page.get_by_role("button", name="Take photo").click()
            expect(page.locator("#photo-file-name")).to_have_text("camera.jpg")
            page.get_by_label("Name").fill("From the camera")
            with page.expect_response(lambda r: r.url.endswith("/api/profiles")) as saved:
                page.get_by_role("button", name="Save this photo").click()
            assert saved.value.status == 201, saved.value.text()  # checked: a person is in it
            expect(page.locator(".profile", has_text="From the camera")).to_be_visible()
            with live.client(token_of(page)) as api:
                profiles = {p["name"]: p for p in api.get("/api/profiles").json()["items"]}
                assert sorted(profiles) == ["Dropped", "From the camera"]
                # the snapshot of the camera's frame, not some other picture
                snapshot = Image.open(io.BytesIO(api.get(profiles["From the camera"]["photo_url"]).content))
                assert snapshot.size == Image.open(FIXTURES / "grace_hopper.jpg").size

            # pick one, delete the other
            dropped = page.locator(".profile", has_text="Dropped")
            dropped.get_by_role("button", name="Dropped Use this photo").click()
            expect(dropped.locator(".profile-pick")).to_have_attribute("aria-pressed", "true")
            page.locator(".profile", has_text="From the camera").get_by_role("button", name="Delete").click()
            page.get_by_role("button", name="Delete photo").click()
            expect(page.locator(".profile")).to_have_count(1)
            with live.client(token_of(page)) as api:
                assert [p["name"] for p in api.get("/api/profiles").json()["items"]] == ["Dropped"]
            assert problems == []
        finally:
            chromium.close()


def test_queue_position_then_reload_resumes_the_running_tryon_and_cancel_deletes_it(
        server_factory, browser: Browser, garment_png: Path) -> None:
    # the engine is not the subject here: a slow stand-in keeps sessions in line long enough to look at
    live = server_factory(lambda: InstantEngine(delay_s=2.0))
    problems: list[str] = []
    page = open_page(browser, live, problems)
    add_profile(page, FIXTURES / "grace_hopper.jpg", "Grace")
    token = token_of(page)
    profile_id = page.locator(".profile").get_attribute("data-profile-id")
    with live.client(token) as api:  # someone else's try-on (the extension, say) is running first
        ahead = api.post("/api/tryon/sessions", data={"profile_id": profile_id},
                         files={"garment": ("top.png", garment_png.read_bytes(), "image/png")}).json()
    page.get_by_label("Garment", exact=True).set_input_files(garment_png)
    page.get_by_role("button", name="Try it on").click()
    expect(page.locator("#progress-label")).to_have_text("Next in line…")
    expect(page.locator("#progress-label")).to_have_text("Fitting the garment…", timeout=10_000)
    running = page.evaluate("localStorage.getItem('tryon.runningSession')")
    assert running and running != ahead["session_id"]

    page.reload()  # mid-run: the page picks the same try-on up again
    expect(page.locator("#stage-progress")).to_be_visible()
    expect(page.get_by_role("button", name="Trying it on…")).to_be_disabled()
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("Try-on cancelled.")).to_be_visible()
    expect(page.locator("#stage-empty")).to_be_visible()
    expect(page.get_by_role("button", name="Try it on")).to_be_enabled()
    with live.client(token) as api:
        assert api.get(f"/api/tryon/sessions/{running}").status_code == 404
    assert page.evaluate("localStorage.getItem('tryon.runningSession')") is None
    assert problems == []
