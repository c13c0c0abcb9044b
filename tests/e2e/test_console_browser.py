"""The agent console in a real browser (Debian's Chromium, Playwright): an agent signs in,
a customer on web chat asks for a person and appears live, the agent reads the story,
takes it, answers with a canned response, sees the customer's answer arrive, notes, resolves;
and sees the photo a customer sent by MMS under its message (fetched with the token in a
header, never in a URL)."""

from __future__ import annotations

import asyncio
import re
import struct
import zlib
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import func, select

from bot.core.attachments import AttachmentStore
from bot.core.db import Database
from bot.core.documents import build_document_store
from bot.core.models import AuditEvent, Channel, Message, utcnow
from bot.core.settings import Settings
from bot.core.store import inbound
from bot.testing.ports import free_port
from handoff.auth import issue_token
from handoff.models import AgentNote, Handoff, HandoffStatus
from handoff.store.agents import agent_by_email
from tests.support.agents import PASSWORD as AGENT_PASSWORD
from tests.support.agents import add_agent, console_settings, served_app
from tests.support.browser import TIMEOUT_MS
from tests.support.chat import ChatClient
from tests.support.handoff import queued
from tests.support.lookups import handoff_of
from tests.support.stack import Stack
from tests.support.verified import customer_writes, handed_to
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

EMAIL, PASSWORD = "casey@shop.example", "console-pass-123"
# The server's event stream sends this when nothing changed for a heartbeat (15 s).
KEEP_ALIVE = ": keep-alive"
HEARTBEAT_WAIT_SECONDS = 40.0


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
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(f"{stack.app_url}/agent")
    await page.get_by_placeholder("Email").fill(EMAIL)
    await page.get_by_placeholder("Password").fill("wrong password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#login-error")).to_have_text("Wrong email or password.")
    await page.get_by_placeholder("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#me")).to_have_text("Casey", timeout=TIMEOUT_MS)

    async with ChatClient(stack.ws_url) as chat:
        replies = await chat.say("can I speak with an agent please")
        handoff = await handoff_of(db, chat.visitor_id)
        # It shows up in the console by itself (server-sent events), no reload.
        item = page.locator(f"#queued [data-handoff='{handoff.id}']")
        await expect(item).to_contain_text("General help · chat · request_human", timeout=10_000)
        # The console has caught up with the whole turn: it shows the assistant's answer.
        await expect(item).to_contain_text(replies[-1]["text"], timeout=10_000)

        await item.click()
        await expect(page.locator("#transcript")).to_contain_text(
            "can I speak with an agent please"
        )
        # What the assistant understood of the message is shown with it.
        await expect(page.locator("#transcript .msg.customer .label")).to_contain_text(
            "request_human"
        )
        await expect(page.locator("#context")).to_contain_text("Intents: request_human")
        # The background analysis arrives by itself: summary, priority and why.
        await expect(page.locator("#insight")).to_contain_text("Priority: normal", timeout=30_000)
        await expect(page.locator("#summary")).to_contain_text("handed to people")
        # An open conversation is audited when viewed, and that is not a change that makes
        # the console reload it again (and audit again, for ever). Once the background
        # results still on their way have been shown (a heartbeat without a change), and the
        # reload that showed them has finished, the stream goes another whole heartbeat
        # without a change to announce, and meanwhile no view was added.
        await _no_change_for_a_heartbeat(stack, db)
        await wait_for(
            lambda: _reload_finished(db), timeout=10, interval=0.05, what="the console's reload"
        )
        views = await _views(db)
        await _no_change_for_a_heartbeat(stack, db)
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
    await _signing_out_revokes_the_token(stack, page, requested)


async def _signing_out_revokes_the_token(stack: Stack, page: Page, requested: list[str]) -> None:
    """The page never put its token in a URL (the live stream opened with a ticket), and
    its Sign out revokes the token on the server, not only in the tab."""
    token = await page.evaluate("sessionStorage.getItem('agentToken')")
    assert token and not any(token in url for url in requested)
    assert any("/agent/events?ticket=" in url for url in requested)
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    async with httpx.AsyncClient(timeout=30) as client:
        inbox = await client.get(
            f"{stack.app_url}/agent/inbox", headers={"Authorization": f"Bearer {token}"}
        )
    assert inbox.status_code == 401


async def test_the_console_reopens_its_live_stream_with_a_new_ticket(
    browser: Browser, database: Database, database_url: str, tmp_path: Path
) -> None:
    await add_agent(database, "kim@shop.example")
    port, tickets = free_port(), []
    settings = console_settings(tmp_path, database_url)
    page = await browser.new_page()
    page.on("request", lambda r: tickets.append(r.url) if "events?ticket=" in r.url else None)
    async with served_app(settings, port=port) as url:
        await page.goto(f"{url}/agent")
        await page.get_by_placeholder("Email").fill("kim@shop.example")
        await page.get_by_placeholder("Password").fill(AGENT_PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#me")).to_have_text("kim", timeout=TIMEOUT_MS)
    # The app restarts (a deploy): the stream breaks, and the page comes back with a new
    # ticket (the browser's own reconnect would present the used one) and is live again.
    async with served_app(settings, port=port):
        waiting = await queued(database)
        item = page.locator(f"#queued [data-handoff='{waiting}']")
        await expect(item).to_be_visible(timeout=30_000)
    assert len(tickets) >= 2 and len(set(tickets)) == len(tickets)


def _png(width: int, height: int) -> bytes:
    """A real PNG picture of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress((b"\x00" + b"\xd0\x40\x30" * width) * height)
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        chunk(kind, data) for kind, data in ((b"IHDR", header), (b"IDAT", pixels), (b"IEND", b""))
    )


async def _mms_with_files(
    database: Database, settings: Settings, files: list[tuple[bytes, str, str]]
) -> int:
    """An MMS from a customer with `files` in the app's document store; its conversation."""
    store = AttachmentStore(
        build_document_store(settings),
        max_bytes=settings.attachment_max_bytes,
        allowed_types=settings.attachment_types,
    )
    refs = [await store.save(data, content_type=kind, filename=name) for data, kind, name in files]
    await store.aclose()
    text = "My parcel arrived crushed, photo attached"
    conversation_id = await customer_writes(database, Channel.SMS, "+447700900777", text)
    async with database.session() as session:
        message_id = await session.scalar(
            select(Message.id).where(Message.conversation_id == conversation_id)
        )
        assert message_id is not None
        inbound.add_attachments(session=session, message_id=message_id, refs=refs)
    return conversation_id


async def test_the_agent_sees_the_customers_photo_under_its_message(
    browser: Browser, database: Database, database_url: str, tmp_path: Path
) -> None:
    agent_id = await add_agent(database, "lee@shop.example")
    settings = console_settings(tmp_path, database_url)
    page = await browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    async with served_app(settings) as url:
        files = [
            (_png(160, 120), "image/png", "crushed box.png"),
            (b"%PDF-1.4\n%%EOF\n", "application/pdf", "receipt.pdf"),
        ]
        conversation_id = await _mms_with_files(database, settings, files)
        handoff_id = await handed_to(database, conversation_id, agent_id)
        await page.goto(f"{url}/agent")
        await page.get_by_placeholder("Email").fill("lee@shop.example")
        await page.get_by_placeholder("Password").fill(AGENT_PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.locator(f"#assigned [data-handoff='{handoff_id}']").click()
        message = page.locator("#transcript .msg.customer", has_text="photo attached")
        thumb = message.locator("img.thumb")
        await expect(thumb).to_have_attribute("src", re.compile(r"^blob:"), timeout=TIMEOUT_MS)
        assert await thumb.evaluate("img => img.decode().then(() => img.naturalWidth)") == 160
        await expect(thumb).to_be_visible()
        # Clicked, it opens full size.
        await thumb.click()
        full = page.locator("#file-viewer img")
        await expect(full).to_be_visible()
        assert await full.evaluate("img => img.decode().then(() => img.naturalWidth)") == 160
        await page.get_by_role("button", name="Close").click()
        await expect(page.locator("#file-viewer")).to_be_hidden()
        # Any other file is a link with its name and size, and downloads under its name.
        link = message.locator("a.file")
        await expect(link).to_have_text("receipt.pdf (15 B)")
        async with page.expect_download() as downloading:
            await link.click()
        assert (await downloading.value).suggested_filename == "receipt.pdf"
        token = await page.evaluate("sessionStorage.getItem('agentToken')")
    assert token and not any(token in address for address in requested)
    assert any(re.search(r"/agent/attachments/\d+$", address) for address in requested)


async def _reload_finished(db: Database) -> bool:
    """Whether the console's last reload of the open conversation finished: it views the
    conversation, then the inbox (a reload on the server's event starts with the inbox)."""
    async with db.session() as session:
        latest = list(
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.action.like("agent.viewed_%"))
                .order_by(AuditEvent.id.desc())
                .limit(2)
            )
        )
    return latest == ["agent.viewed_inbox", "agent.viewed_customer"]


async def _no_change_for_a_heartbeat(stack: Stack, db: Database) -> None:
    """Wait until the console's event stream (as the page follows it) goes a whole
    heartbeat without announcing a change: the server's keep-alive comes only then."""
    async with db.session() as session:
        agent = await agent_by_email(session=session, email=EMAIL)
    assert agent is not None
    secret = stack.settings.agent_token_secret.get_secret_value()
    token = issue_token(
        agent.id,
        secret=secret,
        now=utcnow(),
        lifetime=timedelta(hours=1),
        generation=agent.token_generation,
    )
    async with httpx.AsyncClient(timeout=HEARTBEAT_WAIT_SECONDS) as client:
        # As the page does: a single-use ticket bought with the token opens the stream.
        bought = await client.post(
            f"{stack.app_url}/agent/events/ticket", headers={"Authorization": f"Bearer {token}"}
        )
        ticket = bought.json()["ticket"]
        async with client.stream(
            "GET", f"{stack.app_url}/agent/events", params={"ticket": ticket}
        ) as events:
            try:
                async with asyncio.timeout(HEARTBEAT_WAIT_SECONDS):
                    async for line in events.aiter_lines():
                        if line == KEEP_ALIVE:
                            return
            except TimeoutError:
                pass
    raise AssertionError(f"the console was told of changes for {HEARTBEAT_WAIT_SECONDS}s")


async def _views(db: Database) -> int:
    async with db.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action.like("agent.viewed_%"))
        )
    return int(count or 0)
