"""Only the shopper can press the extension's **Try it on** button: a shop page's script that
clicks it (the button lives in an open shadow root) sends nothing. Real Chromium, the real
extension, a fixture shop and the real server.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import new_token
from tests.doubles import InstantEngine
from tests.shops.shop_server import ShopServer
from tests.test_extension_browser import (  # noqa: F401  (fixtures, used by name)
    HOST,
    ExtensionBrowser,
    browser,
    make_profile,
    page,
    pair_from_server_page,
    shop,
    wait_for_button,
)

pytestmark = [pytest.mark.browser]

SCRIPTED_CLICKS = f"""() => {{
  const button = document.querySelector('{HOST}').shadowRoot.querySelector('button');
  button.click();
  button.dispatchEvent(new MouseEvent('click', {{bubbles: true, composed: true}}));
  button.dispatchEvent(new PointerEvent('click', {{bubbles: true}}));
  return button.textContent.replace(/\\s+/g, ' ').trim();
}}"""


def test_a_click_made_by_the_pages_script_sends_nothing(page, browser: ExtensionBrowser, shop: ShopServer,  # noqa: F811
                                                        server_factory) -> None:
    live = server_factory(InstantEngine)
    token = new_token(live)
    assert pair_from_server_page(page, live, token, make_profile(live, token))["ok"] is True
    page.goto(f"{shop.url}/og-only.html")
    wait_for_button(page, f"{shop.url}/img/og-top.jpg")

    assert page.evaluate(SCRIPTED_CLICKS).startswith("Try it on")
    page.wait_for_timeout(1500)  # time enough for a download and an upload, had one started
    with live.client(token) as client:
        assert client.get("/api/tryon/archive").json()["items"] == []
    assert len(live.state.storage.all_keys()) == 1  # the profile photo only: no garment arrived

    # the shopper's own click still works
    page.get_by_role("button", name=re.compile(r"^Try")).click()
    page.wait_for_function(
        f"() => document.querySelector('{HOST}').shadowRoot.querySelector('button').textContent.includes('ready')",
        timeout=60000)
    with live.client(token) as client:
        [item] = client.get("/api/tryon/archive").json()["items"]
        assert item["status"] == "completed"
