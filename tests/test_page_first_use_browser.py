"""What a first-time user stumbled on in the demo page (issue 18, points 1-5), driven in Debian's
Chromium against the real server and the real `classic` engine: deleting a profile says what goes
with it and the archive follows; the result and errors are brought into view on a desktop; a
garment photo is refused as "your photo" when it is saved; the advice on what photo to take is the
server's one definition everywhere; a height can be added later; profile cards stay compact; the
API docs fit a phone.

Screenshots of each state go to test-artifacts/ (page-first-use-*.png).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tryon_server.photo_needs import PHOTO_NEEDS

from .browser import artifact
from .conftest import FIXTURES, LiveServer, image_bytes, wait_terminal
from .garments import draw_top
from .test_page_browser import DESKTOP, PHONE, add_profile, open_page, screenshot, token_of
from .test_page_browser import browser as browser  # the fixtures, shared (re-exported so pytest finds them)
from .test_page_browser import garment_png as garment_png

pytestmark = pytest.mark.browser

STATIC = Path(__file__).resolve().parent.parent / "static"


def make_tryons(live: LiveServer, token: str, profile_id: str, count: int) -> list[str]:
    """Small try-ons over HTTP from one profile, each waited for: their ids, oldest first."""
    shirt = image_bytes(draw_top())
    ids = []
    with live.client(token) as api:
        for _ in range(count):
            accepted = api.post("/api/tryon/sessions", data={
                "profile_id": profile_id, "category": "upper", "options": '{"output_size": 256}',
            }, files={"garment": ("shirt.png", shirt, "image/png")}).json()
            assert wait_terminal(api, accepted["session_id"])["status"] == "completed"
            ids.append(accepted["session_id"])
    return ids


def profile_id_of(page: Page, name: str) -> str:
    pid = page.locator(".profile", has_text=name).get_attribute("data-profile-id")
    assert pid
    return pid


def open_add_form(page: Page) -> None:
    """Unfolds "Add another photo of yourself" unless it is open."""
    if page.locator("#add-profile").get_attribute("open") is None:
        page.get_by_text("Add another photo of yourself").click()
    expect(page.get_by_label("Your photo")).to_be_attached()


def shoot(page: Page, name: str) -> None:
    """The page as it is now at both widths (the viewport is put back to the desktop's)."""
    for label, viewport in (("1440", DESKTOP), ("390", PHONE)):
        page.set_viewport_size(viewport)
        page.wait_for_timeout(150)
        page.screenshot(path=artifact(f"page-first-use-{name}-{label}.png"), full_page=False)
    page.set_viewport_size(DESKTOP)


def test_deleting_a_profile_says_its_tryons_go_too_with_the_count_and_the_archive_follows(
        server_factory, browser: Browser) -> None:
    live = server_factory()
    problems: list[str] = []
    page = open_page(browser, live, problems)
    add_profile(page, FIXTURES / "grace_hopper.jpg", "Grace")
    open_add_form(page)
    add_profile(page, FIXTURES / "astronaut.png", "Astronaut")
    token = token_of(page)
    assert token
    grace = make_tryons(live, token, profile_id_of(page, "Grace"), 3)
    others = make_tryons(live, token, profile_id_of(page, "Astronaut"), 1)
    with live.client(token) as api:  # one of Grace's is kept: the server deletes kept ones too
        assert api.post(f"/api/tryon/sessions/{grace[0]}/keep", json={"keep": True}).status_code == 200
    page.reload()
    expect(page.locator(".tile")).to_have_count(4)
    page.locator(f'.tile[data-session-id="{grace[1]}"]').get_by_role("button", name="Open").click()
    expect(page.get_by_alt_text("Try-on result")).to_be_visible()

    # the dialog says truthfully what goes: the photo and its 3 try-ons, the kept one too
    page.locator(".profile", has_text="Grace").get_by_role("button", name="Delete").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(page.get_by_role("dialog", name="Delete the photo “Grace”?")).to_be_visible()  # which of the two
    expect(dialog.locator("#confirm-text")).to_have_text(
        "The photo and all 3 try-ons made with it (1 of them kept) are deleted from this computer. "
        "This cannot be undone.")
    expect(dialog).not_to_contain_text("stay")
    # on a phone each button is one line (the long one was a two-line pill)
    page.set_viewport_size(PHONE)
    folded = dialog.locator(".button").evaluate_all(
        "buttons => buttons.filter((b) => b.getBoundingClientRect().height > 44).map((b) => b.textContent)")
    assert folded == [], f"folded onto two lines at 390 px: {folded}"
    page.set_viewport_size(DESKTOP)
    shoot(page, "delete-profile-dialog")
    dialog.get_by_role("button", name="Delete photo and 3 try-ons").click()

    # no dead tiles: the archive holds the other profile's try-on only; the stage let go of the result
    expect(page.locator(".tile")).to_have_count(1)
    assert page.locator(".tile").get_attribute("data-session-id") == others[0]
    expect(page.locator("#stage-empty")).to_be_visible()
    expect(page.get_by_alt_text("Try-on result")).to_be_hidden()
    with live.client(token) as api:
        assert [s["session_id"] for s in api.get("/api/tryon/archive").json()["items"]] == others
        for session_id in grace:
            assert api.get(f"/api/tryon/sessions/{session_id}").status_code == 404

    # a profile no try-on was made with says so
    page.locator(".profile", has_text="Astronaut").get_by_role("button", name="Delete").click()
    expect(page.locator("#confirm-text")).to_have_text(
        "The photo and the try-on made with it are deleted from this computer. This cannot be undone.")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#confirm-dialog")).to_be_hidden()
    open_add_form(page)
    add_profile(page, FIXTURES / "grace_hopper.jpg", "Unused")
    page.locator(".profile", has_text="Unused").get_by_role("button", name="Delete").click()
    expect(page.locator("#confirm-text")).to_have_text(
        "The photo is deleted from this computer. No try-ons were made with it.")
    page.get_by_role("button", name="Delete photo", exact=True).click()
    expect(page.locator(".profile")).to_have_count(1)
    assert [p for p in problems if "Failed to load resource" not in p] == []


# Scrolls so that "Try it on" sits at 60% of the window's height: where a shopper who scrolled down
# the form to press it has it (the stage column then ends a little below it).
BUTTON_AT_60_PERCENT = """() => { const b = document.getElementById('tryon-button').getBoundingClientRect();
    window.scrollTo({ top: scrollY + b.top - innerHeight * 0.6, behavior: 'instant' }); }"""

# The stage's top is below the sticky top bar and the element's top is in the window (with `whole`,
# all of it): true once a scroll that brings it there has ended, false on a page that leaves it.
IN_VIEW = """([id, whole]) => { const bar = document.querySelector('.topbar').getBoundingClientRect().bottom;
    const stage = document.getElementById('stage').getBoundingClientRect();
    const r = document.getElementById(id).getBoundingClientRect();
    return stage.top >= bar - 1 && r.top >= bar - 1 && r.top < innerHeight && (!whole || r.bottom <= innerHeight); }"""


def wait_in_view(page: Page, element_id: str, whole: bool = False) -> None:
    # a smooth scroll takes a moment: this waits for where it ends, not for how long it takes
    try:
        page.wait_for_function(IN_VIEW, arg=[element_id, whole], timeout=10_000)
    except PlaywrightTimeout:
        where = page.evaluate("""(id) => [document.querySelector('.topbar').getBoundingClientRect().bottom,
            document.getElementById('stage').getBoundingClientRect().top,
            document.getElementById(id).getBoundingClientRect().top,
            document.getElementById(id).getBoundingClientRect().bottom, innerHeight]""", element_id)
        raise AssertionError(f"#{element_id} not brought into view: [top bar's bottom, stage's top, its top, "
                             f"its bottom, window height] = {where}") from None


def test_on_a_desktop_the_result_and_a_new_error_come_into_view_and_the_error_replaces_the_result(
        server_factory, browser: Browser, garment_png: Path) -> None:
    live = server_factory()
    problems: list[str] = []
    page = open_page(browser, live, problems)  # 1440 x 900
    for name, photo in (("Grace", "grace_hopper.jpg"), ("Astro", "astronaut.png"), ("Grace 2", "grace_hopper.jpg"),
                        ("Astro 2", "astronaut.png")):
        open_add_form(page)
        add_profile(page, FIXTURES / photo, name)
    page.locator(".profile", has_text="Grace").first.locator(".profile-pick").click()
    # a long form, as a first-time user has it: the "add another photo" fold-out and the options open
    open_add_form(page)
    page.locator("details.options summary").click()
    page.get_by_label("Garment", exact=True).set_input_files(garment_png)
    button = page.get_by_role("button", name="Try it on")
    page.evaluate(BUTTON_AT_60_PERCENT)
    button.click()
    expect(page.get_by_alt_text("Try-on result")).to_be_visible(timeout=45_000)
    page.wait_for_function("() => document.getElementById('result-image').naturalWidth > 0")
    wait_in_view(page, "stage-result")
    page.screenshot(path=artifact("page-first-use-result-in-view-1440.png"))

    # a bottom on a waist-up photo: the error is in view, the earlier result is gone from the stage,
    # and what to do names what a bottom needs (the server's words), not a dress's
    page.get_by_role("radio", name="Bottom").check()
    page.evaluate(BUTTON_AT_60_PERCENT)
    button.click()
    error = page.locator("#stage-error")
    expect(error).to_be_visible(timeout=45_000)
    wait_in_view(page, "stage-error", whole=True)
    expect(page.locator("#stage-result")).to_be_hidden()
    expect(page.locator("#error-message")).to_contain_text(PHOTO_NEEDS["lower"])
    expect(page.locator("#error-next")).to_contain_text(f"with your {PHOTO_NEEDS['lower']} in the picture")
    expect(page.locator("#error-next")).not_to_contain_text(PHOTO_NEEDS["dress"])
    page.screenshot(path=artifact("page-first-use-error-in-view-1440.png"))
    page.set_viewport_size(PHONE)
    page.locator("#stage").scroll_into_view_if_needed()
    page.screenshot(path=artifact("page-first-use-error-in-view-390.png"))
    page.set_viewport_size(DESKTOP)
    page.get_by_role("button", name="OK").click()
    expect(page.locator("#stage-empty")).to_be_visible()  # not the earlier result, perhaps of another person
    assert [p for p in problems if "Failed to load resource" not in p] == []


def test_a_garment_photo_saved_as_your_photo_is_refused_at_once_saying_what_photo_to_take(
        server_factory, browser: Browser, garment_png: Path) -> None:
    live = server_factory()
    problems: list[str] = []
    page = open_page(browser, live, problems)
    page.get_by_label("Your photo").set_input_files(garment_png)
    page.get_by_label("Name").fill("Not me")
    with page.expect_response(lambda r: r.url.endswith("/api/profiles") and r.request.method == "POST") as saved:
        page.get_by_role("button", name="Save this photo").click()
    assert saved.value.status == 422
    sentence = saved.value.json()["error"]["message"]
    assert saved.value.json()["error"]["code"] == "no_person"
    assert "No person was found in this photo" in sentence and PHOTO_NEEDS["size"] in sentence
    expect(page.locator("#profile-message")).to_have_text(sentence)  # as the server says it, nothing added
    expect(page.locator(".profile")).to_have_count(0)
    with live.client(token_of(page)) as api:
        assert api.get("/api/profiles").json()["items"] == []
    shoot(page, "garment-refused")
    # the form keeps the chosen file: the next photo replaces it, and the message goes on success
    add_profile(page, FIXTURES / "grace_hopper.jpg", "Grace")
    expect(page.locator("#profile-message")).to_be_empty()
    assert [p for p in problems if "Failed to load resource" not in p] == []


def test_the_photo_advice_is_the_servers_one_definition_shown_on_the_category_buttons(
        server_factory, browser: Browser) -> None:
    live = server_factory()
    health = live.client().get("/api/health").json()
    assert health["photo_needs"] == PHOTO_NEEDS
    problems: list[str] = []
    page = open_page(browser, live, problems)
    for category, name in (("upper", "Top"), ("lower", "Bottom"), ("dress", "Dress")):
        expect(page.locator(f"#need-{category}")).to_have_text(PHOTO_NEEDS[category])
        expect(page.get_by_role("radio", name=f"{name} {PHOTO_NEEDS[category]}")).to_be_visible()
    expect(page.locator(".tips")).to_contain_text(f"Your {PHOTO_NEEDS['size']} in the picture")
    expect(page.locator("#profile-height + .field-hint")).to_contain_text(PHOTO_NEEDS["size"])
    page.locator("fieldset.categories").screenshot(path=artifact("page-first-use-categories-1440.png"))
    page.set_viewport_size(PHONE)
    page.locator("fieldset.categories").screenshot(path=artifact("page-first-use-categories-390.png"))
    # the page holds no copy of its own that could contradict the server's
    for path in sorted(STATIC.glob("*.js")) + sorted(STATIC.glob("*.html")):
        text = path.read_text().lower()
        for words in PHOTO_NEEDS.values():
            assert words not in text, f"{path.name} says {words!r} itself: take it from /api/health's photo_needs"
    assert problems == []


def test_height_added_later_a_stale_message_cleared_and_compact_profile_cards(
        server_factory, browser: Browser) -> None:
    live = server_factory()
    problems: list[str] = []
    page = open_page(browser, live, problems)
    # "Try it on" before any photo: the message says to add one; saving one clears it
    page.get_by_role("button", name="Try it on").click()
    expect(page.locator("#tryon-message")).to_have_text("Add a photo of yourself first (step 1), then press Try it on.")
    add_profile(page, FIXTURES / "grace_hopper.jpg", "Grace")
    expect(page.locator("#tryon-message")).to_be_empty()

    # a height added to the saved profile: stored, shown, and the size estimate offered
    card = page.locator(".profile", has_text="Grace")
    expect(card.get_by_role("button", name="Estimate my size")).to_have_count(0)
    card.get_by_role("button", name="Add the height of Grace").click()
    card.get_by_label("Height of Grace in centimetres").fill("20")
    card.get_by_role("button", name="Save height").click()
    expect(card.locator(".profile-error")).to_have_text("Give your height in centimetres, between 50 and 250.")
    card.get_by_label("Height of Grace in centimetres").fill("168")
    card.get_by_role("button", name="Save height").click()
    expect(card.get_by_role("button", name="Change the height of Grace")).to_have_text("168 cm")
    expect(card.get_by_role("button", name="Estimate my size")).to_be_visible()
    with live.client(token_of(page)) as api:
        assert api.get("/api/profiles").json()["items"][0]["height_cm"] == 168

    # five photos: every card a compact row, so step 2 stays near
    for name, photo in (("Astronaut", "astronaut.png"), ("Grace again", "grace_hopper.jpg"),
                        ("Astronaut 2", "astronaut.png"), ("Summer", "grace_hopper.jpg")):
        open_add_form(page)
        add_profile(page, FIXTURES / photo, name)
    expect(page.locator(".profile")).to_have_count(5)
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        page.wait_for_timeout(150)
        heights = [round(c.bounding_box()["height"]) for c in page.locator(".profile").all()]
        assert max(heights) <= 100, f"profile cards at {viewport['width']} px are {heights} px tall"
        # the name has room: "Use this photo" is one line, neither folded nor cut beside the buttons (one
        # card has three)
        folded = page.evaluate("""() => [...document.querySelectorAll('.profile-meta > :nth-child(2)')]
            .filter((el) => el.getBoundingClientRect().height > 1.5 * parseFloat(getComputedStyle(el).lineHeight)
                || el.scrollWidth > el.clientWidth + 1)
            .map((el) => el.closest('.profile').querySelector('.profile-name').textContent)""")
        assert folded == [], f"at {viewport['width']} px the second line folds on {folded}"
        top = page.locator("#profiles-section").bounding_box()["y"]
        garment = page.locator("#tryon-section").bounding_box()["y"]
        assert garment - top < 700, f"step 2 starts {garment - top:.0f} px below step 1 with five photos"
    screenshot(page, "page-first-use-profiles-1440.png", DESKTOP)
    screenshot(page, "page-first-use-profiles-390.png", PHONE)
    assert problems == []


def test_the_api_docs_fit_a_phone(server_factory, browser: Browser) -> None:
    live = server_factory()
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(live.url + "/api/docs")
    path = page.locator(".opblock-summary-path", has_text="/api/tryon/sessions/{session_id}/events")
    expect(path).to_be_visible()
    # laid out for the phone's width (not a 980 px desktop shrunk), and nothing wider than it
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert path.bounding_box()["width"] > 150, "the path is squeezed into a narrow column"
    assert page.locator(".opblock-summary-path").first.evaluate("el => parseFloat(getComputedStyle(el).fontSize)") >= 13
    page.locator('.opblock-summary-path[data-path="/api/tryon/sessions"]').first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=artifact("page-first-use-api-docs-390.png"))
    context.close()
