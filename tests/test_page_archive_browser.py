"""The demo page's archive in Debian's Chromium against the real server and the real `classic`
engine: each tile shows the garment beside the result, the product's title, shop and price the
extension sent, and a safe link back to the shop's page; two to four try-ons are compared side by
side at one scale, on a phone (two a row) and on a desktop (one row).

Screenshots of the archive and of the side-by-side view at 390 and 1440 px go to test-artifacts/.
"""

from __future__ import annotations

import json

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from . import test_page_browser
from .browser import artifact
from .conftest import FIXTURES, image_bytes, wait_terminal
from .doubles import InstantEngine
from .garments import draw_dress, draw_top
from .test_page_browser import DESKTOP, PHONE, add_profile, open_page, token_of

pytestmark = pytest.mark.browser
browser = test_page_browser.browser  # the same Chromium fixture as the rest of the page's tests

BRETON = {"title": "Striped Breton Tee", "shop": "NORD atelier", "price": "39.00", "currency": "EUR",
          "brand": "NORD atelier"}


def try_on(api: httpx.Client, profile_id: str, garment: bytes, *, category: str = "upper",
           page_url: str | None = None, metadata: dict | None = None) -> dict:
    """One small try-on made over HTTP the way the extension sends it; returns the finished session."""
    data = {"profile_id": profile_id, "category": category, "options": '{"output_size": 256}'}
    if page_url:
        data["page_url"] = page_url
    if metadata:
        data["metadata"] = json.dumps(metadata)
    accepted = api.post("/api/tryon/sessions", data=data, files={"garment": ("g.png", garment, "image/png")})
    assert accepted.status_code == 202, accepted.text
    session = wait_terminal(api, accepted.json()["session_id"])
    assert session["status"] == "completed", (session["error"], session["error_code"], category)
    return session


def tile_of(page: Page, session: dict) -> Locator:
    return page.locator(f'.tile[data-session-id="{session["session_id"]}"]')


def loaded(img: Locator) -> bool:
    return bool(img.evaluate("img => img.complete && img.naturalWidth > 0"))


def test_archive_tiles_show_the_garment_the_product_and_a_safe_link_back(server_factory, browser: Browser) -> None:
    live = server_factory()
    problems: list[str] = []
    page = open_page(browser, live, problems)
    add_profile(page, FIXTURES / "grace_hopper.jpg", "Grace")
    profile_id = page.locator(".profile").get_attribute("data-profile-id")
    with live.client(token_of(page)) as api:
        breton = try_on(api, profile_id, image_bytes(draw_top()), page_url="https://shop.example/p/breton-tee",
                        metadata=BRETON)
        # no shop name stated: the page's host stands in for it; a price already written as text stays so
        # (a top on Grace Hopper's upper-body photo: a dress or trousers would need her legs too)
        dress = try_on(api, profile_id, image_bytes(draw_dress()),
                       page_url="https://www.lune.example/p/linen?colour=plum",
                       metadata={"title": "Linen Dress", "price": "€49,95"})
        plain = try_on(api, profile_id, image_bytes(draw_top()))  # from the demo page: no product known
    page.reload()
    expect(page.locator(".tile")).to_have_count(3)

    tile = tile_of(page, breton)
    garment = tile.locator(".tile-garment")
    expect(garment).to_have_attribute("src", breton["garment_image_url"])  # the signed link, as every image
    assert "sig=" in breton["garment_image_url"]
    assert loaded(garment) and loaded(tile.get_by_alt_text("You in Striped Breton Tee"))
    link = tile.get_by_role("link", name="Striped Breton Tee")
    expect(link).to_have_attribute("href", "https://shop.example/p/breton-tee")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(tile.locator(".tile-shop")).to_have_text("NORD atelier · €39.00")
    expect(tile.locator(".chip")).to_have_text("Top")
    # every control names the product, not only a time
    expect(tile.get_by_role("button", name="Open Striped Breton Tee")).to_be_visible()

    tile = tile_of(page, dress)
    expect(tile.get_by_role("link", name="Linen Dress")).to_have_attribute(
        "href", "https://www.lune.example/p/linen?colour=plum")
    expect(tile.locator(".tile-shop")).to_have_text("lune.example · €49,95")
    expect(tile.locator(".chip")).to_have_text("Top")
    assert loaded(tile.locator(".tile-garment"))

    tile = tile_of(page, plain)
    expect(tile.locator("a")).to_have_count(0)  # nothing to link back to
    expect(tile.locator(".tile-shop")).to_have_count(0)
    assert loaded(tile.locator(".tile-garment"))

    page.locator("#archive-section").scroll_into_view_if_needed()
    for name, viewport in (("page-archive-1440.png", DESKTOP), ("page-archive-390.png", PHONE)):
        page.set_viewport_size(viewport)
        page.wait_for_timeout(150)
        page.locator("#archive-section").screenshot(path=str(artifact(name)))
    assert problems == []


def result_boxes(page: Page) -> list[dict]:
    figures = page.locator("#sidebyside-dialog .sbs-result")
    page.wait_for_function("""() => [...document.querySelectorAll('#sidebyside-dialog .sbs-result')]
        .every((img) => img.complete && img.naturalWidth > 0)""")
    page.wait_for_timeout(50)  # the last load's re-fit is synchronous; one frame for the layout
    return [img.bounding_box() for img in figures.all()]


def same_height(boxes: list[dict]) -> None:
    heights = [b["height"] for b in boxes]
    assert max(heights) - min(heights) <= 1, f"the results are not at one scale: heights {heights}"


def test_compare_two_to_four_tryons_side_by_side_at_one_scale(server_factory, browser: Browser) -> None:
    live = server_factory()
    problems: list[str] = []
    page = open_page(browser, live, problems)
    add_profile(page, FIXTURES / "grace_hopper.jpg", "Grace")
    token = token_of(page)
    with live.client(token) as api:
        grace = api.get("/api/profiles").json()["items"][0]["profile_id"]
        square = api.post("/api/profiles", files={"photo": ("a.png", (FIXTURES / "astronaut.png").read_bytes(),
                                                            "image/png")}, data={"name": "Astro"}).json()["profile_id"]
        made = [
            try_on(api, grace, image_bytes(draw_top()), page_url="https://shop.example/p/breton-tee", metadata=BRETON),
            try_on(api, grace, image_bytes(draw_dress()), metadata={"title": "Polka Dot Dress"}),
            try_on(api, grace, image_bytes(draw_top())),  # no product known
            # a square photo: a result of other proportions, still drawn at the same height
            try_on(api, square, image_bytes(draw_top()), metadata={"title": "Red Tee"}),
            try_on(api, grace, image_bytes(draw_top()), metadata={"title": "Fifth"}),
        ]
    page.reload()
    expect(page.locator(".tile")).to_have_count(5)
    bar = page.locator("#compare-bar")
    compare = page.get_by_role("button", name="Compare side by side")
    expect(bar).to_contain_text("Tick 2 to 4 try-ons")
    expect(compare).to_be_disabled()
    # on a phone too each of the bar's buttons is one line, not a pill folded onto three
    page.set_viewport_size(PHONE)
    expect(page.get_by_role("button", name="Latest of Grace")).to_be_visible()
    folded = page.evaluate("""() => [...document.querySelectorAll('#compare-bar button')]
        .filter((b) => b.offsetParent && b.getBoundingClientRect().height > 40).map((b) => b.textContent)""")
    assert folded == [], f"folded onto more than one line at 390 px: {folded}"
    page.set_viewport_size(DESKTOP)

    # two, ticked from the keyboard: the bar counts them and the view shows exactly those two
    page.get_by_role("checkbox", name="Compare Striped Breton Tee").focus()
    page.keyboard.press("Space")
    expect(bar).to_contain_text("1 chosen")
    expect(compare).to_be_disabled()
    page.get_by_role("checkbox", name="Compare Polka Dot Dress").check()
    expect(bar).to_contain_text("2 chosen")
    for name, viewport in (("page-archive-chosen-390.png", PHONE), ("page-archive-chosen-1440.png", DESKTOP)):
        page.set_viewport_size(viewport)
        page.evaluate("document.getElementById('archive-section').scrollIntoView()")
        page.wait_for_timeout(150)
        page.screenshot(path=str(artifact(name)))  # the screen as seen: the bar sticks under the top bar
    compare.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="2 try-ons side by side")
    expect(dialog).to_be_visible()
    expect(page.get_by_role("button", name="Close")).to_be_focused()
    figures = dialog.locator(".sbs-item")
    assert [f.get_attribute("data-session-id") for f in figures.all()] == [made[0]["session_id"], made[1]["session_id"]]
    expect(figures.nth(0)).to_contain_text("Striped Breton Tee")
    expect(figures.nth(0)).to_contain_text("NORD atelier · €39.00")
    expect(figures.nth(0).get_by_role("link", name="Striped Breton Tee")).to_have_attribute("rel", "noopener noreferrer")
    expect(figures.nth(1)).to_contain_text("Polka Dot Dress")
    expect(figures.nth(1)).to_contain_text("Top")
    boxes = result_boxes(page)
    same_height(boxes)
    assert boxes[0]["y"] == boxes[1]["y"] and boxes[0]["x"] + boxes[0]["width"] <= boxes[1]["x"]
    page.screenshot(path=str(artifact("page-compare-2-1440.png")))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(compare).to_be_focused()

    # four, one of them of other proportions; a fifth cannot be ticked
    page.get_by_role("checkbox", name="Compare the try-on of").first.check()  # the one with no title
    page.get_by_role("checkbox", name="Compare Red Tee").check()
    expect(bar).to_contain_text("4 chosen")
    expect(page.get_by_role("checkbox", name="Compare Fifth")).to_be_disabled()
    compare.click()
    dialog = page.get_by_role("dialog", name="4 try-ons side by side")
    expect(dialog.locator(".sbs-item")).to_have_count(4)
    boxes = result_boxes(page)
    same_height(boxes)
    widths = sorted(round(b["width"] / b["height"], 2) for b in boxes)
    assert widths[0] < widths[-1], f"the square result should be drawn wider at the same height: {widths}"
    assert len({round(b["y"]) for b in boxes}) == 1, "on a desktop the four lie in one row"
    assert all(b["x"] >= 0 and b["x"] + b["width"] <= DESKTOP["width"] for b in boxes)
    page.screenshot(path=str(artifact("page-compare-4-1440.png")))

    # on a phone, two a row at one scale, nothing off the side
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(150)
    boxes = result_boxes(page)
    same_height(boxes)
    rows = [round(b["y"]) for b in boxes]
    assert rows[0] == rows[1] < rows[2] == rows[3], f"expected two a row: {rows}"
    assert all(b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"] for b in boxes)
    page.screenshot(path=str(artifact("page-compare-4-390.png")))
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    # "Clear" unticks them all; two again, on the phone
    page.get_by_role("button", name="Clear").click()
    expect(bar).to_contain_text("Tick 2 to 4")
    expect(page.locator(".tile-pick input:checked")).to_have_count(0)
    page.get_by_role("checkbox", name="Compare Red Tee").check()
    page.get_by_role("checkbox", name="Compare Striped Breton Tee").check()
    compare.click()
    boxes = result_boxes(page)
    same_height(boxes)
    assert round(boxes[0]["y"]) == round(boxes[1]["y"])
    page.screenshot(path=str(artifact("page-compare-2-390.png")))
    page.get_by_role("button", name="Close").click()

    # a ticked try-on deleted elsewhere (here: over the API) is left out, with a word why
    with live.client(token) as api:
        assert api.delete(f"/api/tryon/sessions/{made[3]['session_id']}").status_code == 204
    page.get_by_role("checkbox", name="Compare Polka Dot Dress").check()
    compare.click()
    expect(page.get_by_role("dialog", name="2 try-ons side by side")).to_be_visible()
    expect(page.locator("#toast")).to_contain_text("1 of the try-ons you ticked was deleted meanwhile")
    page.get_by_role("button", name="Close").click()

    # no ticking: the latest four of the photo chosen in step 1 (Grace's, not the astronaut's)
    page.get_by_role("button", name="Clear").click()
    page.get_by_role("button", name="Latest of Grace").click()
    dialog = page.get_by_role("dialog", name="4 try-ons side by side")
    expect(dialog).to_be_visible()
    newest_first = [made[i]["session_id"] for i in (4, 2, 1, 0)]
    assert [f.get_attribute("data-session-id") for f in dialog.locator(".sbs-item").all()] == newest_first
    page.keyboard.press("Escape")

    # a ticked try-on deleted from its tile is no longer counted
    page.get_by_role("checkbox", name="Compare Fifth").check()
    expect(bar).to_contain_text("1 chosen")
    page.get_by_role("button", name="Delete Fifth").click()
    page.get_by_role("button", name="Delete try-on").click()
    expect(tile_of(page, made[4])).to_have_count(0)
    expect(bar).to_contain_text("Tick 2 to 4")
    assert [p for p in problems if "Failed to load resource" not in p] == []


def test_chosen_tryons_deleted_with_their_profile_leave_the_count_those_on_another_page_stay(
        server_factory, browser: Browser) -> None:
    live = server_factory()
    problems: list[str] = []
    page = open_page(browser, live, problems)
    add_profile(page, FIXTURES / "grace_hopper.jpg", "Grace")
    token = token_of(page)
    top = image_bytes(draw_top())
    with live.client(token) as api:
        grace = api.get("/api/profiles").json()["items"][0]["profile_id"]

        def profile(name: str) -> str:
            created = api.post("/api/profiles", data={"name": name},
                               files={"photo": ("p.jpg", (FIXTURES / "grace_hopper.jpg").read_bytes(), "image/jpeg")})
            assert created.status_code == 201, created.text
            return str(created.json()["profile_id"])

        bob, ann = profile("Bob"), profile("Ann")
        # oldest first: Grace's and Bob's land on the archive's second page (8 a page), Ann's eight on the first
        kept_elsewhere = try_on(api, grace, top, metadata={"title": "Grace Tee"})
        doomed = try_on(api, bob, top, metadata={"title": "Bob Tee"})
        anns = [try_on(api, ann, top, metadata={"title": f"Ann Tee {i}"}) for i in range(8)]
    page.reload()
    bar = page.locator("#compare-bar")
    page.get_by_role("button", name="Older →").click()
    page.get_by_role("checkbox", name="Compare Grace Tee").check()
    page.get_by_role("checkbox", name="Compare Bob Tee").check()
    page.get_by_role("button", name="← Newer").click()
    page.get_by_role("checkbox", name="Compare Ann Tee 7").check()
    expect(bar).to_contain_text("3 chosen")

    # Bob's photo goes, and his try-on with it: two remain chosen, Grace's among them though it is
    # not on the page shown
    page.locator(".profile", has_text="Bob").get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Delete photo and try-on").click()
    expect(page.locator(".profile", has_text="Bob")).to_have_count(0)
    expect(bar).to_contain_text("2 chosen")
    expect(page.locator(".tile")).to_have_count(8)
    page.get_by_role("button", name="Compare side by side").click()
    dialog = page.get_by_role("dialog", name="2 try-ons side by side")
    expect(dialog).to_be_visible()
    assert [f.get_attribute("data-session-id") for f in dialog.locator(".sbs-item").all()] == [
        kept_elsewhere["session_id"], anns[7]["session_id"]]
    expect(page.locator("#toast")).not_to_contain_text("deleted meanwhile")
    page.keyboard.press("Escape")
    with live.client(token) as api:
        assert api.get(f"/api/tryon/sessions/{doomed['session_id']}").status_code == 404

    # all data deleted: nothing stays chosen
    page.get_by_role("button", name="Delete all my data").click()
    page.get_by_role("button", name="Delete everything").click()
    expect(page.locator(".tile")).to_have_count(0)
    expect(bar).to_be_hidden()
    expect(page.locator("#compare-count")).not_to_contain_text("chosen")
    assert [p for p in problems if "Failed to load resource" not in p] == []


def test_latest_of_a_photo_finds_its_tryons_behind_a_hundred_newer_ones_of_another(server_factory,
                                                                                     browser: Browser) -> None:
    # the engine does not matter here, only how many try-ons the archive holds: an instant one
    live = server_factory(InstantEngine)
    problems: list[str] = []
    page = open_page(browser, live, problems)
    add_profile(page, FIXTURES / "grace_hopper.jpg", "Grace")
    top = image_bytes(draw_top())
    with live.client(token_of(page)) as api:
        grace = api.get("/api/profiles").json()["items"][0]["profile_id"]
        other = api.post("/api/profiles", data={"name": "Other"},
                         files={"photo": ("o.png", (FIXTURES / "astronaut.png").read_bytes(), "image/png")})
        graces = [try_on(api, grace, top, metadata={"title": f"Grace Tee {i}"}) for i in range(2)]
        # more newer ones of another photo than one archive read of 100 holds
        accepted = [api.post("/api/tryon/sessions", data={
            "profile_id": other.json()["profile_id"], "category": "upper", "options": '{"output_size": 128}',
        }, files={"garment": ("g.png", top, "image/png")}) for _ in range(100)]
        assert {r.status_code for r in accepted} == {202}
        for r in accepted:
            assert wait_terminal(api, r.json()["session_id"])["status"] == "completed"
    page.reload()
    expect(page.locator(".profile", has_text="Grace")).to_have_attribute("data-selected", "true")
    page.get_by_role("button", name="Latest of Grace").click()
    dialog = page.get_by_role("dialog", name="2 try-ons side by side")
    expect(dialog).to_be_visible()
    assert [f.get_attribute("data-session-id") for f in dialog.locator(".sbs-item").all()] == [
        graces[1]["session_id"], graces[0]["session_id"]]
    assert [p for p in problems if "Failed to load resource" not in p] == []
