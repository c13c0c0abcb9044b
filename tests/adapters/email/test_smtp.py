"""The SMTP sender against a real aiosmtpd."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from adapters.email.errors import EmailDeliveryError
from adapters.email.render import render_outbound
from adapters.email.smtp import SmtpSender
from adapters.email.thread import EmailThread
from bot.core.messages import BotReply, Button
from bot.testing.ports import free_port
from tests.support.mail import SmtpCapture, smtp_server

pytestmark = pytest.mark.integration

OUTLOOK_ID = "<DM6PR11MB4657E5B0B2E3D7AB21F1C8C3C9A12@DM6PR11MB4657.namprd11.prod.outlook.com>"


def reply_mail(to_address: str = "jose@example.com") -> EmailMessage:
    """A rendered reply to `to_address` with a button, in an Outlook thread."""
    return render_outbound(
        [BotReply(text="Your parcel left today.", buttons=(Button(title="Track", payload="/t"),))],
        thread=EmailThread("Où est ma commande ?", OUTLOOK_ID, ("<root@example.com>",)),
        from_address="support@shop.test",
        to_address=to_address,
        message_id="<reply-1@shop.test>",
        from_name="Shop Support",
        date=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
    )


async def test_smtp_sender_delivers_a_rendered_reply_intact(smtp: SmtpCapture) -> None:
    await SmtpSender(host=smtp.host, port=smtp.port, user=None, password=None).send(reply_mail())

    [received] = smtp.wait_for(1)
    assert received.envelope_from == "support@shop.test"
    assert received.envelope_to == ("jose@example.com",)
    message = received.message
    assert {
        name: str(message[name])
        for name in ("From", "To", "Subject", "Message-ID", "In-Reply-To", "References", "Date")
    } == {
        "From": "Shop Support <support@shop.test>",
        "To": "jose@example.com",
        "Subject": "Re: Où est ma commande ?",
        "Message-ID": "<reply-1@shop.test>",
        "In-Reply-To": OUTLOOK_ID,
        "References": f"<root@example.com> {OUTLOOK_ID}",
        "Date": "Mon, 06 May 2024 07:08:09 +0000",
    }
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    assert plain.get_content().replace("\r\n", "\n") == (
        "Your parcel left today.\n\n1. Track\n\nReply with the number of your choice.\n"
    )
    assert message.get_body(preferencelist=("html",)) is not None


async def test_refused_recipient_is_a_permanent_failure() -> None:
    with smtp_server(refuse={"gone@example.com"}) as capture:
        sender = SmtpSender(host=capture.host, port=capture.port)
        with pytest.raises(EmailDeliveryError) as caught:
            await sender.send(reply_mail("gone@example.com"))
    assert caught.value.permanent
    assert caught.value.code == 550


async def test_unreachable_smtp_server_is_a_temporary_failure() -> None:
    sender = SmtpSender(host="127.0.0.1", port=free_port(), timeout=5.0)
    with pytest.raises(EmailDeliveryError) as caught:
        await sender.send(reply_mail())
    assert not caught.value.permanent


async def test_smtp_login() -> None:
    with smtp_server(credentials=("bot", "s3cret")) as capture:
        await SmtpSender(host=capture.host, port=capture.port, user="bot", password="s3cret").send(
            reply_mail()
        )
        assert len(capture.wait_for(1)) == 1
        wrong = SmtpSender(
            host=capture.host, port=capture.port, user="bot", password="nope", timeout=5.0
        )
        with pytest.raises(EmailDeliveryError) as caught:
            await wrong.send(reply_mail())
    assert caught.value.code == 535
    assert not caught.value.permanent
