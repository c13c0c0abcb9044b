"""The IMAP poller against a real Dovecot."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from adapters.email.errors import EmailTransportError
from adapters.email.imap import MailboxPoller
from bot.testing.ports import free_port
from tests.support.mail import DovecotServer
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

SEEN = {"\\Seen"}


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
