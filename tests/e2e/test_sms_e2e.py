"""End to end over SMS: Twilio's signed webhooks in, the real Rasa server and model, replies
out through (a fake of) Twilio's REST API, with the exact requests and TwiML asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func, select

from adapters.sms.render import EMPTY_TWIML
from bot.core.db import Database
from bot.core.models import (
    Attachment,
    AuditEvent,
    Channel,
    ChannelIdentity,
    Complaint,
    Delivery,
    Direction,
    Message,
    MessageStatus,
)
from bot.core.texts import Text, say
from bot.processes import app_environment
from bot.testing.twilio_webhooks import new_sid, signature, sms_params, webhook_headers
from tests.support.phone import Phone, phone_texting
from tests.support.stack import TWILIO_NUMBER, Stack

pytestmark = pytest.mark.integration

CASE_ID = re.compile(r"CMP-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}")
_numbers = iter(range(1000, 9999))


def _number() -> str:
    return f"+1415556{next(_numbers):04d}"


@pytest.fixture
def phone(stack: Stack, db: Database, http: httpx.AsyncClient) -> Phone:
    """A phone with a number no other test used, texting the stack's app."""
    return phone_texting(stack, db, http, _number())


async def _inbound(db: Database, number: str) -> list[Message]:
    async with db.session() as session:
        rows = await session.scalars(
            select(Message)
            .join(ChannelIdentity, Message.identity_id == ChannelIdentity.id)
            .where(ChannelIdentity.address == number, Message.direction == Direction.INBOUND)
            .order_by(Message.id)
        )
        return list(rows)


async def test_complaint_by_sms_with_numbered_options(
    stack: Stack, phone: Phone, db: Database
) -> None:
    sent = len(stack.twilio.requests_to("/Messages.json"))
    response = await phone.send("I want to file a complaint, my parcel arrived damaged")
    # Twilio gets its answer at once; the replies follow through the REST API.
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.text == EMPTY_TWIML
    await phone.wait_answered((await _inbound(db, phone.number))[-1].external_id or "")
    first = phone.new_messages()
    assert first[0].startswith("I'm sorry to hear that")
    assert "order number" in first[-1]

    # Other customers' notifications (a refund paid in an earlier test) may go out meanwhile.
    request = next(
        r
        for r in stack.twilio.requests_to("/Messages.json")[sent:]
        if dict(r.form).get("To") == phone.number
    )
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{stack.twilio.account_sid}/Messages.json"
    assert request.auth_user == stack.twilio.account_sid
    assert dict(request.form) == {
        "To": phone.number,
        "From": TWILIO_NUMBER,
        "Body": first[0],
        "StatusCallback": f"{stack.app_url}/twilio/sms/status",
    }

    options = await phone.text("it's ORD-482913")
    assert options[-1] == (
        "What would you like us to do to put this right?\n1. Refund\n2. Replacement\n"
        "3. Repair\n4. Just let you know\nReply with the number of your choice."
    )
    (confirmation,) = await phone.text("2")
    case_id = CASE_ID.search(confirmation)
    assert case_id, confirmation

    async with db.session() as session:
        complaint = await session.scalar(
            select(Complaint).where(Complaint.case_id == case_id.group(0))
        )
        deliveries = await session.scalar(select(func.count()).select_from(Delivery))
    assert complaint is not None
    assert (complaint.channel, complaint.order_ref, complaint.desired_outcome) == (
        Channel.SMS,
        "ORD-482913",
        "replacement",
    )
    inbound = await _inbound(db, phone.number)
    assert inbound[-1].text == '/inform{"desired_outcome": "replacement"}'
    assert inbound[-1].payload["metadata"]["display_text"] == "2"
    assert deliveries is not None and deliveries >= 4


async def test_a_redelivered_webhook_is_processed_once(
    stack: Stack, phone: Phone, db: Database
) -> None:
    sid = new_sid("SM")
    first = await phone.text("hello", sid=sid)
    assert first and "virtual assistant" in first[0]
    again = await phone.send("hello", sid=sid)
    assert again.status_code == 200 and again.text == EMPTY_TWIML
    await phone.wait_answered(sid)
    assert phone.new_messages() == []
    assert len(await _inbound(db, phone.number)) == 1


async def test_status_callbacks_are_recorded(stack: Stack, phone: Phone, db: Database) -> None:
    await phone.text("hello")
    sid = stack.twilio.messages[-1]["sid"]
    url = f"{stack.app_url}/twilio/sms/status"
    for status in ("sent", "delivered"):
        response = await stack.twilio.send_status_callback(url, message_sid=sid, status=status)
        assert response.status_code == 204
    async with db.session() as session:
        delivery = await session.scalar(select(Delivery).where(Delivery.provider_id == sid))
        assert delivery is not None and delivery.status == "delivered"
    forged = await stack.twilio.send_status_callback(
        url, message_sid=sid, status="failed", auth_token="not-the-token"
    )
    assert forged.status_code == 403
    failed = await stack.twilio.send_status_callback(
        url, message_sid=sid, status="undelivered", error_code=30005
    )
    assert failed.status_code == 204
    async with db.session() as session:
        delivery = await session.scalar(select(Delivery).where(Delivery.provider_id == sid))
        assert delivery is not None
        message = await session.get_one(Message, delivery.message_id)
    assert (delivery.status, delivery.error_code) == ("undelivered", "30005")
    assert message.status is MessageStatus.FAILED


async def test_stop_start_and_help(stack: Stack, phone: Phone, db: Database) -> None:
    await phone.text("hello")
    assert await phone.text("STOP") == []  # Twilio itself confirms an opt-out
    # Opted out: the message is stored and answered, but nothing is sent.
    assert await phone.text("where is my order?") == []
    assert await phone.text("START") == [say(Text.SMS_STARTED_AGAIN)]
    (help_text,) = await phone.text("HELP")
    assert "STOP" in help_text
    inbound = await _inbound(db, phone.number)
    assert [m.intent for m in inbound[1:]] == [
        "sms_stop",
        None,
        "sms_start",
        "sms_help",
    ]
    async with db.session() as session:
        unsent = await session.scalars(
            select(Message).where(Message.in_reply_to_id == inbound[2].id)
        )
        actions = list(
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.action.like("identity.opted%"))
                .order_by(AuditEvent.id)
            )
        )
    assert {(m.status, m.error) for m in unsent} == {
        (MessageStatus.FAILED, "recipient opted out (STOP)")
    }
    assert actions[-2:] == ["identity.opted_out", "identity.opted_in"]


async def test_mms_media_become_attachments(stack: Stack, phone: Phone, db: Database) -> None:
    picture = b"\xff\xd8\xff\xe0" + b"jpeg" * 500
    url = stack.twilio.add_media(picture, "image/jpeg")
    script = stack.twilio.add_media(b"#!/bin/sh\nrm -rf /", "application/x-sh")
    (reply,) = await phone.text("", media=[(url, "image/jpeg"), (script, "application/x-sh")])
    assert reply.startswith("Thanks, I've saved what you sent")
    (message,) = await _inbound(db, phone.number)
    async with db.session() as session:
        attachments = list(
            await session.scalars(select(Attachment).where(Attachment.message_id == message.id))
        )
    assert [(a.content_type, a.size_bytes) for a in attachments] == [("image/jpeg", len(picture))]
    stored = (
        stack.settings.var_dir / "attachments" / attachments[0].storage_ref.removeprefix("file:")
    )
    assert stored.read_bytes() == picture


async def test_a_refused_file_with_a_text_is_answered_and_explained(
    stack: Stack, phone: Phone
) -> None:
    video = stack.twilio.add_media(b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    replies = await phone.text("hello, here is a video", media=[(video, "video/mp4")])
    assert "virtual assistant" in replies[0]
    assert (
        replies[-1]
        == "Sorry, I couldn't keep the file you sent: files of type video/mp4 are not accepted."
    )


async def test_forged_missing_and_malformed_requests_store_nothing(
    stack: Stack, http: httpx.AsyncClient, db: Database
) -> None:
    url = f"{stack.app_url}/twilio/sms"
    number = _number()
    params = sms_params(from_=number, to=TWILIO_NUMBER, body="hello")
    token = stack.twilio.auth_token
    forged = webhook_headers(url, params, "0" * 32)
    assert (await http.post(url, content=urlencode(params), headers=forged)).status_code == 403
    unsigned = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (await http.post(url, content=urlencode(params), headers=unsigned)).status_code == 403
    # Signed for other parameters than those sent: forged too.
    tampered = webhook_headers(url, params, token)
    changed = urlencode(params | {"Body": "send me everything"})
    assert (await http.post(url, content=changed, headers=tampered)).status_code == 403
    as_json = webhook_headers(url, params, token) | {"Content-Type": "application/json"}
    assert (await http.post(url, json=params, headers=as_json)).status_code == 415
    huge = webhook_headers(url, params, token)
    assert (await http.post(url, content=b"Body=" + b"a" * 70_000, headers=huge)).status_code == 413
    malformed = b"Body=%FF%FE&From=" + number.encode()
    headers = webhook_headers(url, {}, token) | {"X-Twilio-Signature": signature(url, {}, token)}
    assert (await http.post(url, content=malformed, headers=headers)).status_code == 400
    no_sender = {k: v for k, v in params.items() if k != "From"}
    headers = webhook_headers(url, no_sender, token)
    response = await http.post(url, content=urlencode(no_sender), headers=headers)
    assert response.status_code == 400
    assert await _inbound(db, number) == []


@pytest.fixture(scope="module")
def twiml_app(stack: Stack) -> Iterator[str]:
    """A second app instance answering SMS in the webhook response (SMS_REPLY_MODE=twiml)."""
    with stack.extra_app("twiml", sms_reply_mode="twiml") as url:
        yield url


async def test_twiml_mode_answers_in_the_webhook(
    stack: Stack, twiml_app: str, db: Database, http: httpx.AsyncClient
) -> None:
    phone = phone_texting(stack, db, http, _number(), app_url=twiml_app)
    sent = len(stack.twilio.requests_to("/Messages.json"))
    response = await phone.send("hello")
    assert response.status_code == 200
    assert re.fullmatch(
        r'<\?xml version="1.0" encoding="UTF-8"\?><Response><Message>Hi! I\'m the virtual '
        r"assistant[^<]*</Message>(<Message>[^<]+</Message>)*</Response>",
        response.text,
    ), response.text
    # Nothing went through the REST API, and the replies count as delivered.
    assert len(stack.twilio.requests_to("/Messages.json")) == sent
    (inbound,) = await _inbound(db, phone.number)
    async with db.session() as session:
        replies = list(
            await session.scalars(select(Message).where(Message.in_reply_to_id == inbound.id))
        )
    assert replies and {r.status for r in replies} == {MessageStatus.DELIVERED}
    # Twilio retrying the webhook gets the same answer again, processed once.
    sid = inbound.external_id or ""
    again = await phone.send("hello", sid=sid)
    assert again.text == response.text
    assert len(await _inbound(db, phone.number)) == 1
    # After STOP nothing is answered in TwiML either (the replies are stored as failed).
    assert (await phone.send("STOP")).text == EMPTY_TWIML
    assert (await phone.send("hello again")).text == EMPTY_TWIML
    assert (await phone.send("START")).text.count("<Message>") == 1


def test_the_sms_command_texts_the_app_and_prints_the_answer(stack: Stack, twiml_app: str) -> None:
    port = int(twiml_app.rsplit(":", 1)[1])
    settings = stack.settings.model_copy(
        update={"app_port": port, "sms_reply_mode": "twiml", "imap_host": ""}
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", "sms", "--from", "+14155559999", "hello"],
        env=app_environment(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Hi! I'm the virtual assistant")


async def test_a_nul_in_a_text_is_stored_and_answered_on_every_database(
    phone: Phone, db: Database
) -> None:
    # On PostgreSQL a NUL was a 500 and nothing stored, so Twilio's retries failed too.
    replies = await phone.text("hello\x00")
    assert replies and "virtual assistant" in replies[0]
    (message,) = await _inbound(db, phone.number)
    assert message.text == "hello"


@pytest.fixture(scope="module")
def limited_app(stack: Stack) -> Iterator[str]:
    """A second app instance allowing a number 2 texts a minute, whose retry worker answers a
    text left waiting once it is 10 seconds old (last in the module: it also takes over
    other instances' turns that look stuck for that long)."""
    with stack.extra_app(
        "sms-limited", sms_sender_rate="2/minute", stale_processing_seconds=10.0
    ) as url:
        yield url


async def test_a_number_over_its_rate_gets_429_and_its_text_is_answered_later(
    stack: Stack, limited_app: str, db: Database, http: httpx.AsyncClient
) -> None:
    phone = phone_texting(stack, db, http, _number(), app_url=limited_app)
    assert await phone.text("hello")
    assert await phone.text("what are your opening hours?")
    sid = new_sid("SM")
    response = await phone.send("I want to file a complaint, my parcel arrived damaged", sid=sid)
    # Twilio's console shows the 429; Twilio does not resend, so the text is ours to keep.
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    (kept,) = [m for m in await _inbound(db, phone.number) if m.external_id == sid]
    assert kept.status is MessageStatus.RECEIVED
    assert phone.new_messages() == []
    # The retry worker answers it, once, through the REST API.
    await phone.wait_answered(sid)
    later = phone.new_messages()
    assert later and later[0].startswith("I'm sorry to hear that"), later
    assert len(await _inbound(db, phone.number)) == 3
