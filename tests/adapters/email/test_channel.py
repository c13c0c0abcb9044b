"""The email channel on the message path, on SQLite and PostgreSQL, replies through a real
SMTP server (Rasa is down: a mail for the assistant is saved and the customer told so):
text a database cannot store is made storable the same on both, and a sender over their
rate has the mail kept and answered later."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from adapters.contract import ChannelContext
from adapters.email.channel import EmailChannel
from adapters.email.smtp import SmtpSender
from bot.core.db import Database
from bot.core.models import Channel, Direction, Message, MessageStatus
from bot.core.services import CoreServices
from bot.core.settings import Settings
from bot.core.texts import Text, say
from bot.testing.ports import free_port
from tests.support.mail import SmtpCapture

SHOP = "support@shop.test"


@pytest.fixture
async def channel(
    tmp_path: Path, database_url: str, smtp: SmtpCapture
) -> AsyncIterator[EmailChannel]:
    """The email channel over a real SMTP server, at most 2 mails a minute from a sender;
    Rasa is unreachable."""
    settings = Settings(
        var_dir=tmp_path / "var",
        database_url=database_url,
        rasa_url=f"http://127.0.0.1:{free_port()}",
        action_server_url=f"http://127.0.0.1:{free_port()}",
        rasa_token=SecretStr("t"),
        email_from_address=SHOP,
        email_sender_rate="2/minute",
    )
    core = CoreServices.build(settings, database=Database(settings.effective_database_url))
    context = ChannelContext(
        settings, core.database, core.pipeline, core.background, core.attachments, core.rate_limits
    )
    email = EmailChannel(context, sender=SmtpSender(host=smtp.host, port=smtp.port))
    core.deliveries.register(Channel.EMAIL, email.push, resend_pending=True)
    try:
        yield email
    finally:
        await core.aclose()


def _mail(number: int, body: bytes, *, headers: bytes = b"") -> bytes:
    return (
        b"From: Ann Lee <ann@example.com>\r\n"
        b"To: " + SHOP.encode() + b"\r\n"
        b"Subject: My order\r\n"
        b"Message-ID: <m" + str(number).encode() + b"@example.com>\r\n" + headers + b"\r\n" + body
    )


async def _inbound(database: Database) -> list[Message]:
    async with database.session() as session:
        rows = await session.scalars(
            select(Message).where(Message.direction == Direction.INBOUND).order_by(Message.id)
        )
        return list(rows)


async def test_nul_and_lone_surrogates_are_stored_and_answered(
    channel: EmailChannel, database: Database, smtp: SmtpCapture
) -> None:
    # unicode-escape and utf-7 are charsets a mail may declare; both decode to lone
    # surrogates and NUL, which neither PostgreSQL nor a UTF-8 driver stores.
    await channel.on_message(
        _mail(
            1,
            b"where is my \\ud800 order \\x00 please",
            headers=b"Subject: =?utf-8?q?Order=00status?=\r\n"
            b"Content-Type: text/plain; charset=unicode-escape\r\n",
        ).replace(b"Subject: My order\r\n", b"")
    )
    await channel.on_message(
        _mail(2, b"hi +2AA- there", headers=b"Content-Type: text/plain; charset=utf-7\r\n")
    )
    first, second = await _inbound(database)
    assert first.text == "where is my \ufffd order  please"
    assert first.payload["metadata"]["subject"] == "Orderstatus"
    assert second.text == "hi \ufffd there"
    assert {first.status, second.status} == {MessageStatus.AWAITING_RETRY}
    # Each is a new thread: each is told it is saved, in its thread, subject intact.
    told = smtp.wait_for(2)
    assert sorted(str(mail.message["Subject"]) for mail in told) == [
        "Re: My order",
        "Re: Orderstatus",
    ]
    plain = told[0].message.get_body(("plain",))
    assert plain is not None
    assert say(Text.SERVICE_TROUBLE) in " ".join(plain.get_content().split())


async def test_over_the_rate_a_mail_is_kept_for_later(
    channel: EmailChannel, database: Database, smtp: SmtpCapture
) -> None:
    for number in (1, 2, 3):
        await channel.on_message(_mail(number, b"Where is my parcel?"))
    # Only text, nothing to read: over the rate it is closed without the usual reply.
    await channel.on_message(_mail(4, b"", headers=b"Content-Type: image/png\r\n"))
    first, second, third, picture = await _inbound(database)
    assert {first.status, second.status} == {MessageStatus.AWAITING_RETRY}
    assert third.status is MessageStatus.RECEIVED  # the retry worker answers it
    assert third.text == "Where is my parcel?"
    assert (picture.status, picture.intent) == (MessageStatus.ANSWERED, "email_no_text")
    async with database.session() as session:
        replies = list(
            await session.scalars(
                select(Message).where(Message.in_reply_to_id.in_([third.id, picture.id]))
            )
        )
    assert replies == []
    # "Your message is saved" for each of the first two (each its own thread), nothing for
    # the mails over the rate.
    smtp.wait_for(2)
    assert len(smtp.received) == 2
