"""End to end over email: mail delivered into Dovecot, picked up by the app's IMAP poller,
answered by the real Rasa server and model, replies through SMTP in the customer's thread."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import (
    Attachment,
    Channel,
    ChannelIdentity,
    Complaint,
    Direction,
    Message,
    MessageStatus,
)
from bot.core.texts import Text, say
from tests.support.mail_client import (
    answer_to,
    answers_to,
    customer_mail,
    text_of,
    wait_until_all_seen,
    wait_until_handled,
)
from tests.support.stack import SUPPORT_ADDRESS, Stack

pytestmark = pytest.mark.integration

CASE_ID = re.compile(r"CMP-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}")


def _address() -> str:
    return f"ana.{uuid.uuid4().hex[:8]}@mail.example.net"


async def test_an_email_complaint_in_one_thread(stack: Stack, db: Database) -> None:
    sender = _address()
    first = customer_mail(
        sender,
        "Damaged parcel",
        "Hello,\n\nI want to file a complaint, my parcel arrived damaged.\n\n-- \nAna Lima\n",
    )
    stack.imap.append(first.as_bytes())
    answer = await answer_to(stack.smtp, sender, 1)
    headers = answer.message
    assert headers["Subject"] == "Re: Damaged parcel"
    assert headers["In-Reply-To"] == first["Message-ID"]
    assert headers["References"] == first["Message-ID"]
    assert headers["From"] == f"Shop Support <{SUPPORT_ADDRESS}>"
    assert headers["To"] == sender
    assert headers.get_content_type() == "multipart/alternative"
    assert headers.get_body(preferencelist=("html",)) is not None
    text = text_of(answer)
    # One mail carries every reply of the turn.
    assert "I'm sorry to hear that" in text and "order number" in text
    # The mail is marked processed in the mailbox once it is stored (the flag may land just
    # after the answer went out: the poller flags when the whole callback returns).
    await wait_until_all_seen(stack.imap)

    reply = customer_mail(
        sender,
        "Re: Damaged parcel",
        "It's ORD-482913\n\nOn Mon, 23 Nov 2026 at 10:02, Shop Support "
        f"<{SUPPORT_ADDRESS}> wrote:\n> {text.splitlines()[0]}\n",
        in_reply_to=headers["Message-ID"],
        references=f"{first['Message-ID']} {headers['Message-ID']}",
    )
    stack.imap.append(reply.as_bytes())
    options = await answer_to(stack.smtp, sender, 2)
    assert options.message["In-Reply-To"] == reply["Message-ID"]
    assert options.message["References"].split() == [
        first["Message-ID"],
        headers["Message-ID"],
        reply["Message-ID"],
    ]
    assert "2. Replacement" in text_of(options)

    choice = customer_mail(
        sender, "Re: Damaged parcel", "2", in_reply_to=options.message["Message-ID"]
    )
    stack.imap.append(choice.as_bytes())
    confirmation = await answer_to(stack.smtp, sender, 3)
    case_id = CASE_ID.search(text_of(confirmation))
    assert case_id, text_of(confirmation)

    async with db.session() as session:
        complaint = await session.scalar(
            select(Complaint).where(Complaint.case_id == case_id.group(0))
        )
        inbound = list(
            await session.scalars(
                select(Message)
                .join(ChannelIdentity, Message.identity_id == ChannelIdentity.id)
                .where(ChannelIdentity.address == sender, Message.direction == Direction.INBOUND)
                .order_by(Message.id)
            )
        )
    assert complaint is not None
    assert (complaint.channel, complaint.order_ref, complaint.desired_outcome) == (
        Channel.EMAIL,
        "ORD-482913",
        "replacement",
    )
    # Signature and quoted text are gone; one conversation for the whole thread.
    assert [m.text for m in inbound] == [
        "Hello,\n\nI want to file a complaint, my parcel arrived damaged.",
        "It's ORD-482913",
        '/inform{"desired_outcome": "replacement"}',
    ]
    assert len({m.conversation_id for m in inbound}) == 1
    assert {m.status for m in inbound} == {MessageStatus.ANSWERED}


async def test_a_new_thread_is_a_new_conversation_of_the_same_customer(
    stack: Stack, db: Database
) -> None:
    sender = _address()
    stack.imap.append(customer_mail(sender, "Opening hours", "When are you open?").as_bytes())
    await answer_to(stack.smtp, sender, 1)
    stack.imap.append(customer_mail(sender, "Returns", "How do I return an item?").as_bytes())
    second = await answer_to(stack.smtp, sender, 2)
    assert second.message["Subject"] == "Re: Returns"
    async with db.session() as session:
        rows = list(
            await session.execute(
                select(Message.conversation_id, ChannelIdentity.customer_id)
                .join(ChannelIdentity, Message.identity_id == ChannelIdentity.id)
                .where(ChannelIdentity.address == sender, Message.direction == Direction.INBOUND)
            )
        )
    assert len({conversation for conversation, _ in rows}) == 2
    assert len({customer for _, customer in rows}) == 1


async def test_a_mail_without_text_gets_a_polite_answer_and_a_duplicate_none(
    stack: Stack, db: Database
) -> None:
    sender = _address()
    empty = customer_mail(sender, "", "")
    empty.clear_content()
    empty.add_attachment(
        b"%PDF-1.4 invoice", maintype="application", subtype="pdf", filename="invoice.pdf"
    )
    raw = empty.as_bytes()
    first = stack.imap.append(raw)
    answer = await answer_to(stack.smtp, sender, 1)
    assert text_of(answer).strip().startswith(say(Text.EMAIL_NO_TEXT))
    assert answer.message["Subject"] == "Re: Your message"
    # The same mail delivered again (same Message-ID) is not answered twice: once the app
    # is done with the copy, there is still the one answer.
    again = stack.imap.append(raw)
    await wait_until_handled(stack.imap, first, again)
    assert len(answers_to(stack.smtp, sender)) == 1


async def test_attachments_are_kept_or_refused_with_a_reason(stack: Stack, db: Database) -> None:
    sender = _address()
    mail = customer_mail(sender, "Broken lamp", "I want to complain, my lamp arrived broken.")
    photo = b"\x89PNG\r\n\x1a\n" + b"p" * 2000
    mail.add_attachment(photo, maintype="image", subtype="png", filename="lamp.png")
    huge = b"\x00" * (stack.settings.attachment_max_bytes + 1)
    mail.add_attachment(huge, maintype="application", subtype="pdf", filename="scan.pdf")
    mail.add_attachment(
        b"MZ\x90\x00", maintype="application", subtype="x-msdownload", filename="setup.exe"
    )
    stack.imap.append(mail.as_bytes())
    answer = text_of(await answer_to(stack.smtp, sender, 1))
    assert "order number" in answer
    assert "I couldn't keep some of your attachments (scan.pdf: " in answer
    assert "setup.exe: " in answer
    async with db.session() as session:
        message = await session.scalar(
            select(Message)
            .join(ChannelIdentity, Message.identity_id == ChannelIdentity.id)
            .where(ChannelIdentity.address == sender, Message.direction == Direction.INBOUND)
        )
        assert message is not None
        kept = list(
            await session.scalars(select(Attachment).where(Attachment.message_id == message.id))
        )
    assert [(a.filename, a.content_type, a.size_bytes) for a in kept] == [
        ("lamp.png", "image/png", len(photo))
    ]


async def test_health_shows_the_mailbox_watched_with_idle(stack: Stack) -> None:
    async with httpx.AsyncClient() as http:
        body = (await http.get(f"{stack.app_url}/health")).json()
    assert body["channels"]["email"] == {
        "enabled": True,
        "ok": True,
        "detail": "watching with IMAP IDLE",
    }
    assert body["channels"]["sms"] == {"enabled": True, "reply_mode": "rest"}


async def test_a_mail_with_nul_and_broken_characters_is_stored_and_answered(
    stack: Stack, db: Database
) -> None:
    # A charset a mail may declare (unicode-escape) decodes to NUL and a lone surrogate:
    # neither PostgreSQL nor a UTF-8 driver stores them, so the mail was never answered.
    sender = _address()
    message_id = f"<{uuid.uuid4().hex}@mail.example.net>"
    raw = (
        f"From: Ana Lima <{sender}>\r\n"
        f"To: {SUPPORT_ADDRESS}\r\n"
        "Subject: =?utf-8?q?Opening=00hours?=\r\n"
        f"Message-ID: {message_id}\r\n"
        "Content-Type: text/plain; charset=unicode-escape\r\n"
        "\r\n"
        "what are your opening hours? \\ud800\\x00\r\n"
    ).encode("ascii")
    stack.imap.append(raw)
    answer = await answer_to(stack.smtp, sender, 1)
    assert answer.message["Subject"] == "Re: Openinghours"
    assert answer.message["In-Reply-To"] == message_id
    assert "Monday to Friday" in text_of(answer)
    async with db.session() as session:
        stored = await session.scalar(select(Message).where(Message.external_id == message_id))
    assert stored is not None
    assert stored.text == "what are your opening hours? \ufffd"
    assert stored.status is MessageStatus.ANSWERED
