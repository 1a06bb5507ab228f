"""How the dashboard's browser tests drive Debian's Chromium: headless and quiet on a closed network (no
background connections, updates or sync), each test in a tab of its own whose page errors fail it."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from tests.support.services import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NEEDS_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (scripts/setup --test)"
)
SCREENSHOTS = ROOT / "test-output" / "screenshots"
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
"""A phone-sized context: the pages must not scroll sideways at 390 px."""


class Tab:
    """A browser tab that records uncaught errors and CSP violations, which fail the test."""

    def __init__(self, context: BrowserContext, base_url: str, password: str) -> None:
        self.context = context
        self.page: Page = context.new_page()
        self.base_url = base_url
        self.password = password
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.on("console", self._console)

    def _console(self, msg: ConsoleMessage) -> None:
        text = msg.text
        if msg.type == "error" and "Failed to load resource" not in text:
            self.errors.append(f"console: {text}")
        if "Content Security Policy" in text:
            self.errors.append(f"CSP: {text}")

    def login(self, user: str, hash_: str = "") -> Page:
        page = self.page
        page.goto(f"{self.base_url}/{hash_}")
        page.fill("#login input[name=username]", user)
        page.fill("#login input[name=password]", self.password)
        page.click("#login button[type=submit]")
        expect(page.locator("#who")).to_contain_text(user)
        return page

    def shot(self, name: str) -> None:
        self.page.evaluate("window.scrollTo(0, 0)")
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@contextmanager
def open_tab(browser: Browser, base_url: str, password: str, **context: Any) -> Iterator[Tab]:
    """A tab in a context of its own (fresh storage, `context` as Playwright's new_context takes it),
    closed afterwards; errors the page reported fail the test once the test itself has passed."""
    ctx = browser.new_context(**context)
    try:
        tab = Tab(ctx, base_url, password)
        yield tab
    finally:
        ctx.close()
    assert tab.errors == [], "\n".join(tab.errors)


def switch_user(tab: Tab, user: str, hash_: str) -> Page:
    """Log out, then in again as `user` on `hash_`, in the same tab."""
    tab.page.click("#logout")
    expect(tab.page.locator("#login")).to_be_visible()
    return tab.login(user, hash_)
