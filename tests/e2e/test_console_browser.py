"""The agent console in a real browser (Debian's Chromium, Playwright): an agent signs in,
a customer on web chat asks for a person and appears live, the agent reads the story,
takes it, answers with a canned response, sees the customer's answer arrive, notes, resolves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright, expect
from sqlalchemy import func, select

from bot.db import Database
from bot.models import AgentNote, AuditEvent, Handoff, HandoffStatus
from tests.e2e.conftest import Stack
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS
from tests.e2e.test_handoff_e2e import _handoff_of
from tests.support.chat import ChatClient

pytestmark = pytest.mark.integration

EMAIL, PASSWORD = "casey@shop.example", "console-pass-123"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        await browser.close()


def _add_agent(stack: Stack) -> None:
    stack.cli(
        "agent",
        *("--email", EMAIL, "--name", "Casey", "--skills", "general,orders"),
        extra_env={"AGENT_PASSWORD": PASSWORD},
    )


async def test_an_agent_handles_a_conversation_in_the_console(
    stack: Stack, browser: Browser, db: Database
) -> None:
    _add_agent(stack)
    page = await browser.new_page()
    await page.goto(f"{stack.app_url}/agent")
    await page.get_by_placeholder("Email").fill(EMAIL)
    await page.get_by_placeholder("Password").fill("wrong password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#login-error")).to_have_text("Wrong email or password.")
    await page.get_by_placeholder("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#me")).to_have_text("Casey", timeout=TIMEOUT_MS)

    async with ChatClient(stack.ws_url) as chat:
        await chat.say("can I speak with an agent please")
        handoff = await _handoff_of(db, chat.user_id)
        # It shows up in the console by itself (server-sent events), no reload.
        item = page.locator(f"#queued [data-handoff='{handoff.id}']")
        await expect(item).to_contain_text("General help · chat · request_human", timeout=10_000)

        await item.click()
        await expect(page.locator("#transcript")).to_contain_text(
            "can I speak with an agent please"
        )
        # What the assistant understood of the message is shown with it.
        await expect(page.locator("#transcript .msg.customer .label")).to_contain_text(
            "request_human"
        )
        await expect(page.locator("#context")).to_contain_text("Intents: request_human")
        # An open conversation is audited when viewed, and that is not a change that makes
        # the console reload it again (and audit again, for ever). Changes still on their
        # way settle first.
        await asyncio.sleep(1)
        views = await _views(db)
        await asyncio.sleep(2)
        assert await _views(db) == views
        await page.get_by_role("button", name="Take").click()
        (joined,) = await chat.replies()
        assert joined["text"] == "Casey from our General help team has joined the conversation."
        await page.get_by_label("Canned response").select_option(label="Greeting")
        await page.get_by_role("button", name="Send").click()
        (greeting,) = await chat.replies()
        assert greeting["text"].startswith("Hi, thanks for waiting.")

        # The agent is typing a note when the customer writes: the message appears live,
        # and the note box keeps its text and the focus, so typing simply carries on.
        note = page.get_by_placeholder("Internal note")
        await note.fill("Check courier")
        await note.focus()
        await chat.say("thanks, my parcel never came")
        await expect(page.locator("#transcript")).to_contain_text(
            "thanks, my parcel never came", timeout=10_000
        )
        await page.keyboard.type(" claim")
        await page.get_by_role("button", name="Add note").click()
        await expect(page.locator(".note")).to_contain_text("Casey: Check courier claim")
        await page.get_by_role("button", name="Resolve").click()
        await expect(page.locator("#view")).to_have_text("Done.")

    async with db.session() as session:
        done = await session.get_one(Handoff, handoff.id)
        note = await session.scalar(select(AgentNote).where(AgentNote.handoff_id == handoff.id))
    assert done.status is HandoffStatus.RESOLVED
    assert note is not None and note.text == "Check courier claim"


async def _views(db: Database) -> int:
    async with db.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action.like("agent.viewed_%"))
        )
    return int(count or 0)
