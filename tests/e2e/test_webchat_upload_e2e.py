"""End to end, a web chat customer's photo as a refund's evidence, through the real Rasa
server: the company app's customer (verified by its signed token) asks for a refund, says
why, sends a photo when asked (POST /webchat/uploads, no caption) and is told a person will
decide, with a case ID; the photo is kept, linked to a message of that conversation and
counted as the refund's evidence. Then the same through the chat page in a real browser,
picking the photo with the attach button."""

from __future__ import annotations

import json
import re
import struct
import time
import zlib
from typing import Any

import httpx
import jwt
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import Attachment, AuditEvent, Complaint, Message
from tests.support.browser import TIMEOUT_MS
from tests.support.chat import ChatClient, ChatSession
from tests.support.credentials import remember
from tests.support.stack import APP_TOKEN_SECRET, Stack

pytestmark = pytest.mark.integration

CASE_ID = re.compile(r"CMP-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}")
ASK_REASON = "What went wrong? Tell me in your own words."
ASK_PHOTO = "If you have a photo of the problem, send it now. Otherwise just say no."
REFERRED = "I've passed your refund request to our team"


def _png(width: int = 12, height: int = 8) -> bytes:
    """A real (decodable) red PNG, so the browser can show its thumbnail."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xcc\x22\x22" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def _app_session(stack: Stack, http: httpx.AsyncClient, customer_ref: str) -> ChatSession:
    """A web chat session of the company app's signed-in customer `customer_ref`."""
    now = int(time.time())
    claims = {"sub": customer_ref, "aud": "customer-assistant", "iat": now, "exp": now + 600}
    token = jwt.encode(claims, APP_TOKEN_SECRET, algorithm="HS256")
    remember("company app token", token)
    response = await http.post(f"{stack.app_url}/webchat/sessions", json={"app_token": token})
    assert response.status_code == 201, response.text
    session = ChatSession(response.json()["token"], response.json()["expires_at"])
    remember("web chat session token", session.token)
    return session


async def _texts(chat: ChatClient, text: str) -> list[str]:
    return [str(reply.get("text", "")) for reply in await chat.say(text)]


async def _referral_of(db: Database, case_id: str) -> tuple[Complaint, list[Attachment], Any]:
    """The complaint `case_id`, the files of its conversation's messages, and the audit of
    the policy's decision for that conversation."""
    async with db.session() as session:
        complaint = await session.scalar(select(Complaint).where(Complaint.case_id == case_id))
        assert complaint is not None
        files = list(
            await session.scalars(
                select(Attachment)
                .join(Message, Message.id == Attachment.message_id)
                .where(Message.conversation_id == complaint.conversation_id)
            )
        )
        decisions = list(
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "refund.referred"))
        )
    audit = next(
        (
            a
            for a in reversed(decisions)
            if a.details["conversation_id"] == complaint.conversation_id
        ),
        None,
    )
    return complaint, files, audit


async def test_an_in_app_customer_sends_a_photo_for_a_refund_that_goes_to_a_person(
    stack: Stack, db: Database, http: httpx.AsyncClient
) -> None:
    session = await _app_session(stack, http, "C-10002")  # Bilal: £649.00, over the limit
    photo = _png()
    async with ChatClient(stack.ws_url, session) as chat:
        assert await _texts(chat, "I want a refund for ORD-100003") == [ASK_REASON]
        asked = await _texts(chat, "the screen was cracked when I opened the box")
        assert asked == [ASK_PHOTO]
        response = await http.post(
            f"{stack.app_url}/webchat/uploads",
            files={"file": ("screen.png", photo, "image/png")},
            data={"id": "refund-photo-1"},
            headers=session.headers,
        )
        assert response.status_code == 200, response.text
        result = response.json()
        replies = [m["text"] for m in result["messages"]]
        if result["status"] != "answered":  # Rasa slower than ANSWER_WAIT_SECONDS
            replies = [m.get("text", "") for m in await chat.replies()]
    case = CASE_ID.search(" ".join(replies))
    assert case, replies
    assert replies[0].startswith(REFERRED), replies
    sent = result["message"]
    assert sent["text"] == ""
    assert [(a["filename"], a["size_bytes"]) for a in sent["attachments"]] == [
        ("screen.png", len(photo))
    ]
    complaint, files, audit = await _referral_of(db, case[0])
    assert (complaint.category, complaint.order_ref) == ("refund", "ORD-100003")
    ours = [f for f in files if f.id == sent["attachments"][0]["id"]]
    assert [(f.message_id, f.content_type) for f in ours] == [(sent["id"], "image/png")]
    # The policy's decision counted the photo as the refund's evidence.
    assert audit is not None and audit.details["evidence"] >= 1
    async with db.session() as db_session:
        message = await db_session.get_one(Message, sent["id"])
    assert message.text == "[photo]"  # what Rasa read; the customer's caption was none
    # Kept as sent, and served back to this customer only.
    served = await http.get(
        f"{stack.app_url}{sent['attachments'][0]['url']}", headers=session.headers
    )
    assert served.content == photo


async def test_a_photo_picked_with_the_pages_attach_button(
    stack: Stack, db: Database, http: httpx.AsyncClient, browser: Browser
) -> None:
    # Chloe: already two refunds in 90 days, so any refund of hers goes to a person.
    session = await _app_session(stack, http, "C-10003")
    stored = {"token": session.token, "expires_at": session.expires_at}
    context = await browser.new_context()
    await context.add_init_script(
        f"localStorage.setItem('assistant.session', {json.dumps(json.dumps(stored))})"
    )
    page = await context.new_page()
    await page.goto(f"{stack.app_url}/webchat")
    await expect(page.locator("#status")).to_have_text("online", timeout=TIMEOUT_MS)
    bot = page.locator(".msg.bot")
    for text, expected in (
        ("I want a refund for ORD-100004", ASK_REASON),
        ("the handle snapped off the first time I used it", ASK_PHOTO),
    ):
        await page.get_by_label("Message").fill(text)
        await page.get_by_role("button", name="Send").click()
        await expect(bot.last).to_have_text(expected, timeout=TIMEOUT_MS)

    referrals = bot.filter(has_text=REFERRED)
    before = await referrals.count()  # the transcript shows the customer's whole history
    async with page.expect_file_chooser() as chosen:
        await page.get_by_role("button", name="Attach a photo or PDF").click()
    await (await chosen.value).set_files(
        {"name": "handle.png", "mimeType": "image/png", "buffer": _png()}
    )
    # The photo shows at once, from the browser's own copy (an object URL, allowed by the
    # page's policy), and the assistant answers it.
    thumbnail = page.locator(".msg.me img[alt='handle.png']").last
    await expect(thumbnail).to_have_attribute("src", re.compile(r"^blob:"))
    await expect(referrals).to_have_count(before + 1, timeout=TIMEOUT_MS)
    await expect(page.locator(".msg.me.sending")).to_have_count(0)
    case = CASE_ID.search(await referrals.last.inner_text())
    assert case
    _, files, _ = await _referral_of(db, case[0])
    assert "handle.png" in [f.filename for f in files]

    # After a reload the transcript shows the photo again, fetched with the session.
    await page.reload()
    await expect(page.locator("#status")).to_have_text("online", timeout=TIMEOUT_MS)
    shown = page.locator(".msg.me img[alt='handle.png']").last
    await expect(shown).to_have_attribute("src", re.compile(r"^blob:"), timeout=TIMEOUT_MS)
    await page.wait_for_function(
        "img => img.complete && img.naturalWidth === 12",
        arg=await shown.element_handle(),
        timeout=TIMEOUT_MS,
    )
    await context.close()
