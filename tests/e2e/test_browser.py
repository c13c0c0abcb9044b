"""The web chat page in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from tests.support.browser import TIMEOUT_MS
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


async def _say(page: Page, text: str) -> None:
    await page.get_by_label("Message").fill(text)
    await page.get_by_role("button", name="Send").click()


async def test_complaint_in_the_browser(stack: Stack, browser: Browser) -> None:
    page = await browser.new_page()
    await page.goto(f"{stack.app_url}/")
    await expect(page.locator("#status")).to_have_text("online", timeout=TIMEOUT_MS)
    bot = page.locator(".msg.bot")

    await _say(page, "I want to file a complaint, my parcel arrived damaged")
    await expect(page.locator(".msg.me").last).to_have_text(
        "I want to file a complaint, my parcel arrived damaged"
    )
    await expect(bot.last).to_contain_text("order number", timeout=TIMEOUT_MS)

    await _say(page, "no, I don't have one")
    await expect(bot.last).to_contain_text("put this right", timeout=TIMEOUT_MS)
    # Buttons are rendered as buttons, and pressing one answers the question.
    await bot.last.get_by_role("button", name="Refund").click()
    await expect(page.locator(".msg.me").last).to_have_text("Refund")
    await expect(bot.last).to_contain_text(re.compile(r"case ID CMP-\w{5}"), timeout=TIMEOUT_MS)
    confirmation = await bot.last.inner_text()
    case_id = re.search(r"CMP-\w{5}", confirmation)
    assert case_id

    await _say(page, "what's the status of my complaint")
    await expect(bot.last).to_contain_text(case_id.group(0), timeout=TIMEOUT_MS)

    # Reloading the page shows the same conversation (the visitor id is remembered).
    await page.reload()
    await expect(page.locator("#status")).to_have_text("online", timeout=TIMEOUT_MS)
    await expect(page.locator(".msg.bot").filter(has_text=case_id.group(0)).first).to_be_visible()
    await expect(page.locator(".msg.me")).to_have_count(4)
