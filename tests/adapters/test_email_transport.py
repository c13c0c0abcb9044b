"""The IMAP poller against a real Dovecot and the SMTP sender against a real aiosmtpd."""

from __future__ import annotations

import asyncio
import email.policy
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.email import EmailThread, render_outbound
from adapters.email_transport import (
    EmailDeliveryError,
    EmailTransportError,
    MailboxPoller,
    SmtpSender,
)
from adapters.messages import BotReply, Button
from tests.support.mail import DovecotServer, SmtpCapture, smtp_server
from tests.support.ports import free_port
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

SEEN = {"\\Seen"}
OUTLOOK_ID = "<DM6PR11MB4657E5B0B2E3D7AB21F1C8C3C9A12@DM6PR11MB4657.namprd11.prod.outlook.com>"


def mail(number: int) -> bytes:
    """A small customer mail, told apart by `number`."""
    return (
        f"From: Jose <jose@example.com>\r\nTo: support@shop.test\r\n"
        f"Subject: Order {number}\r\nMessage-ID: <m{number}@example.com>\r\n\r\n"
        f"Where is order {number}?\r\n"
    ).encode()


class Inbox:
    """Collects what the poller hands over; can be told to fail some mails."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.failing: set[bytes] = set()
        self.arrived = asyncio.Event()

    async def __call__(self, raw: bytes) -> None:
        self.received.append(raw)
        self.arrived.set()
        if raw in self.failing:
            raise RuntimeError("the store is down")

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()


def poller(
    server: DovecotServer,
    inbox: Callable[[bytes], Awaitable[None]],
    *,
    port: int | None = None,
    password: str | None = None,
    **options: Any,
) -> MailboxPoller:
    """A poller of `server`'s INBOX that neither polls nor re-IDLEs on its own in a test."""
    options = {"poll_seconds": 60.0, "idle_seconds": 60.0, **options}
    return MailboxPoller(
        host=server.host,
        port=port or server.port,
        user=server.user,
        password=password or server.password,
        on_message=inbox,
        **options,
    )


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `condition` (state of the poller or of the server) until it holds."""
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout}s")


async def test_new_mail_is_handed_over_once_then_flagged_seen(dovecot: DovecotServer) -> None:
    dovecot.append(mail(1))
    dovecot.append(mail(2))
    inbox = Inbox()
    reader = poller(dovecot, inbox)

    assert await reader.run_once() == 2
    assert inbox.received == [mail(1), mail(2)]
    assert dovecot.flags_of_all() == [SEEN, SEEN]

    assert await reader.run_once() == 0
    assert inbox.received == [mail(1), mail(2)]


async def test_mail_is_flagged_only_after_the_handler_returns(dovecot: DovecotServer) -> None:
    uid = dovecot.append(mail(1))
    flags_during_handling: list[set[str]] = []

    async def handle(raw: bytes) -> None:
        flags = await asyncio.to_thread(dovecot.flags)
        flags_during_handling.append(flags[uid])

    assert await poller(dovecot, handle).run_once() == 1
    assert flags_during_handling == [set()]
    assert dovecot.flags() == {uid: SEEN}


async def test_failed_mail_stays_unseen_and_is_offered_again(dovecot: DovecotServer) -> None:
    dovecot.append(mail(1))
    dovecot.append(mail(2))
    inbox = Inbox()
    inbox.failing.add(mail(1))
    reader = poller(dovecot, inbox)

    assert await reader.run_once() == 1
    assert inbox.received == [mail(1), mail(2)]
    assert dovecot.flags_of_all() == [set(), SEEN]

    inbox.failing.clear()
    assert await reader.run_once() == 1
    assert inbox.received == [mail(1), mail(2), mail(1)]
    assert dovecot.flags_of_all() == [SEEN, SEEN]


async def test_idle_picks_up_new_mail_at_once(dovecot: DovecotServer) -> None:
    dovecot.append(mail(1))
    inbox = Inbox()
    reader = poller(dovecot, inbox)
    reader.start()
    try:
        await inbox.wait_for(1)
        await wait_until(lambda: reader.idling)
        assert reader.uses_idle
        dovecot.append(mail(2))
        await inbox.wait_for(2, timeout=5.0)
        assert inbox.received == [mail(1), mail(2)]
        await wait_until(lambda: dovecot.flags_of_all() == [SEEN, SEEN])
    finally:
        await reader.stop()
    assert not reader.idling


async def test_polls_when_idle_is_not_wanted(dovecot: DovecotServer) -> None:
    inbox = Inbox()
    reader = poller(dovecot, inbox, prefer_idle=False, poll_seconds=0.2)
    reader.start()
    try:
        dovecot.append(mail(1))
        await inbox.wait_for(1, timeout=5.0)
        assert not reader.uses_idle
        assert not reader.idling
    finally:
        await reader.stop()


async def test_reconnects_after_the_connection_drops(dovecot: DovecotServer) -> None:
    proxy = TcpProxy(listen_port=free_port(), target_port=dovecot.port)
    proxy.start()
    inbox = Inbox()
    reader = poller(
        dovecot, inbox, port=proxy.listen_port, reconnect_seconds=0.05, max_reconnect_seconds=0.2
    )
    reader.start()
    try:
        await wait_until(lambda: reader.idling)
        proxy.stop()
        await wait_until(lambda: not reader.idling)
        dovecot.append(mail(1))
        await asyncio.sleep(0.3)  # a few refused reconnection attempts
        proxy.start()
        await inbox.wait_for(1, timeout=5.0)
        assert inbox.received == [mail(1)]
    finally:
        await reader.stop()
        proxy.stop()


async def test_wrong_password_is_a_transport_error(dovecot: DovecotServer) -> None:
    with pytest.raises(EmailTransportError, match="LOGIN refused"):
        await poller(dovecot, Inbox(), password="wrong").run_once()


async def test_unreachable_server_is_a_transport_error() -> None:
    reader = MailboxPoller(
        host="127.0.0.1", port=free_port(), user="u", password="p", on_message=Inbox()
    )
    with pytest.raises(EmailTransportError, match="cannot connect"):
        await reader.run_once()


# --- SMTP ---------------------------------------------------------------------------------


def reply_mail(to_address: str = "jose@example.com") -> email.message.EmailMessage:
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
