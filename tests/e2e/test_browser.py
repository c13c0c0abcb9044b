"""The web chat page in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.async_api import Browser, Page, WebSocket, expect

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

    # Reloading the page shows the same conversation (the session is remembered).
    await page.reload()
    await expect(page.locator("#status")).to_have_text("online", timeout=TIMEOUT_MS)
    await expect(page.locator(".msg.bot").filter(has_text=case_id.group(0)).first).to_be_visible()
    await expect(page.locator(".msg.me")).to_have_count(4)


async def test_two_tabs_share_the_visitor_and_the_replies(stack: Stack, browser: Browser) -> None:
    context = await browser.new_context()
    first, second = await context.new_page(), await context.new_page()
    sockets: list[WebSocket] = []
    # Playwright takes Python functions as handlers, not built-in methods such as list.append.
    first.on("websocket", lambda socket: sockets.append(socket))
    for page in (first, second):
        await page.goto(f"{stack.app_url}/webchat")
        await expect(page.locator("#status")).to_have_text("online", timeout=TIMEOUT_MS)
    await _say(first, "what are your opening hours?")
    await expect(first.locator(".msg.bot").last).to_contain_text("Monday", timeout=TIMEOUT_MS)
    await expect(second.locator(".msg.bot").last).to_contain_text("Monday", timeout=TIMEOUT_MS)
    # The credential never goes in a URL (URLs are logged).
    assert [s.url for s in sockets] == [stack.ws_url]
    await context.close()


async def test_a_refused_session_is_replaced(stack: Stack, browser: Browser) -> None:
    context = await browser.new_context()
    forged = {"token": "eyJzdWIiOiJ4In0.forged", "expires_at": "2099-01-01T00:00:00+00:00"}
    await context.add_init_script(
        f"localStorage.setItem('assistant.session', {json.dumps(json.dumps(forged))})"
    )
    page = await context.new_page()
    await page.goto(f"{stack.app_url}/webchat")
    await expect(page.locator("#status")).to_have_text("online", timeout=TIMEOUT_MS)
    await _say(page, "are you a bot?")
    await expect(page.locator(".msg.bot").last).to_contain_text("virtual", timeout=TIMEOUT_MS)
    stored = json.loads(await page.evaluate("localStorage.getItem('assistant.session')"))
    assert stored["token"] != forged["token"]
    await context.close()


async def test_a_rate_limited_message_is_sent_again_later(stack: Stack, browser: Browser) -> None:
    with stack.extra_app("slow-visitor", webchat_visitor_rate="1/4 seconds") as url:
        page = await browser.new_page()
        frames: list[str | bytes] = []

        def watch(socket: WebSocket) -> None:
            socket.on("framereceived", lambda frame: frames.append(frame))

        page.on("websocket", watch)
        await page.goto(f"{url}/webchat")
        await expect(page.locator("#status")).to_have_text("online", timeout=TIMEOUT_MS)
        await _say(page, "hello")
        await _say(page, "what are your opening hours?")
        # The second waits for its turn instead of being dropped, then is answered.
        await expect(page.locator(".msg.me.sending")).to_have_count(0, timeout=TIMEOUT_MS)
        await expect(page.locator(".msg.me")).to_have_count(2)
        assert any('"rate_limited"' in str(frame) for frame in frames)
        await expect(page.locator(".msg.bot").last).to_contain_text("Monday", timeout=TIMEOUT_MS)
        await page.close()
