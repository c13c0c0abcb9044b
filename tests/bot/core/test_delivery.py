"""Pushing replies to channels: a provider that fails keeps them pending, they are resent
later, and a reply that keeps failing is given up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from bot.core.db import Database
from bot.core.delivery import MAX_PUSH_ATTEMPTS, Deliveries
from bot.core.messages import BotReply, StoredReply
from bot.core.models import Channel, Message, MessageStatus
from bot.core.store import inbound, outbound


class FlakyProvider:
    """Refuses the first `failures` pushes (the last one by raising), then takes them."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[tuple[str, list[int]]] = []

    async def push(self, address: str, replies: Sequence[StoredReply]) -> bool:
        if self.failures > 0:
            self.failures -= 1
            if self.failures == 0:
                raise ConnectionError("provider went away")
            return False
        self.sent.append((address, [r.message_id for r in replies]))
        return True


async def _replies(database: Database, address: str) -> list[StoredReply]:
    async with database.session() as session:
        stored = await inbound.record_inbound(
            session=session,
            channel=Channel.SMS,
            address=address,
            text="hello",
            external_id=f"SM-{address}",
            idle_after=timedelta(hours=1),
        )
        replies = []
        for text in ("one", "two"):
            message = await outbound.record_outbound(
                session=session, reply_to=stored.message, text=text
            )
            replies.append(StoredReply(message.id, BotReply(text=text)))
        return replies


async def _statuses(database: Database, replies: Sequence[StoredReply]) -> set[MessageStatus]:
    async with database.session() as session:
        return {(await session.get_one(Message, r.message_id)).status for r in replies}


async def test_failed_pushes_stay_pending_and_are_resent(database: Database) -> None:
    provider = FlakyProvider(failures=2)
    deliveries = Deliveries(database)
    deliveries.register(Channel.SMS, provider.push, resend_pending=True)
    replies = await _replies(database, "+14155550177")

    assert not await deliveries.deliver(Channel.SMS, "+14155550177", replies)
    assert await deliveries.resend_pending(older_than=timedelta(0)) == 1  # raises: still pending
    assert await _statuses(database, replies) == {MessageStatus.PENDING}
    assert await deliveries.resend_pending(older_than=timedelta(0)) == 1
    assert provider.sent == [("+14155550177", [r.message_id for r in replies])]
    assert await _statuses(database, replies) == {MessageStatus.DELIVERED}
    assert await deliveries.resend_pending(older_than=timedelta(0)) == 0


async def test_a_reply_that_keeps_failing_is_given_up(database: Database) -> None:
    provider = FlakyProvider(failures=MAX_PUSH_ATTEMPTS + 5)
    deliveries = Deliveries(database)
    deliveries.register(Channel.SMS, provider.push, resend_pending=True)
    replies = await _replies(database, "+14155550188")
    for _ in range(MAX_PUSH_ATTEMPTS):
        await deliveries.deliver(Channel.SMS, "+14155550188", replies)
    assert await _statuses(database, replies) == {MessageStatus.FAILED}
    assert await deliveries.resend_pending(older_than=timedelta(0)) == 0


async def test_socket_channels_are_not_resent_or_given_up(database: Database) -> None:
    provider = FlakyProvider(failures=100)
    deliveries = Deliveries(database)
    deliveries.register(Channel.SMS, provider.push)  # like web chat: waits for a reconnect
    replies = await _replies(database, "+14155550199")
    for _ in range(MAX_PUSH_ATTEMPTS + 1):
        await deliveries.deliver(Channel.SMS, "+14155550199", replies)
    assert await deliveries.resend_pending(older_than=timedelta(0)) == 0
    assert await _statuses(database, replies) == {MessageStatus.PENDING}
