"""Delivery of stored replies to channels that push them (web chat sockets, SMS, email)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

import structlog

from bot.core.db import Database
from bot.core.messages import StoredReply
from bot.core.models import Channel
from bot.core.store import outbound

log = structlog.get_logger("bot.delivery")

# Sends replies to one address; True when the channel accepted them all. A push function
# may record progress itself (replies sent, or failed for good) before returning False.
PushFn = Callable[[str, Sequence[StoredReply]], Awaitable[bool]]
# A reply a provider keeps refusing (but not for good) is given up after this many tries.
MAX_PUSH_ATTEMPTS = 10


class Deliveries:
    """Routes stored replies to the push function of their channel and records delivery."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._push: dict[Channel, PushFn] = {}
        # Channels whose pending replies are resent by the retry worker (not sockets,
        # which get theirs when the customer reconnects).
        self._resendable: set[Channel] = set()

    def register(self, channel: Channel, push: PushFn, *, resend_pending: bool = False) -> None:
        """Make `push` the way replies reach customers on `channel`."""
        self._push[channel] = push
        if resend_pending:
            self._resendable.add(channel)

    async def deliver(self, channel: Channel, address: str, replies: Sequence[StoredReply]) -> bool:
        """Push `replies` to `address`; they stay pending (and are retried) if that fails."""
        push = self._push.get(channel)
        if not replies or push is None:
            return False
        try:
            pushed = await push(address, replies)
        except Exception:  # a channel bug must not lose the replies: they stay pending
            log.exception("push_failed", channel=channel.value)
            pushed = False
        if not pushed and channel in self._resendable:
            async with self._database.session() as session:
                await outbound.note_failed_push(
                    session=session,
                    message_ids=[r.message_id for r in replies],
                    give_up_after=MAX_PUSH_ATTEMPTS,
                )
        if not pushed:
            return False
        await self.mark_delivered(replies)
        return True

    async def resend_pending(self, *, older_than: timedelta) -> int:
        """Push replies a channel did not take earlier; the number of addresses served."""
        if not self._resendable:
            return 0
        async with self._database.session() as session:
            pending = await outbound.pending_outbound(
                session=session, channels=sorted(self._resendable), older_than=older_than
            )
        for group in pending:
            replies = [outbound.stored_reply(m) for m in group.messages]
            await self.deliver(group.channel, group.address, replies)
        return len(pending)

    async def mark_delivered(self, replies: Sequence[StoredReply]) -> None:
        """Record replies handed over by a request/response channel."""
        async with self._database.session() as session:
            await outbound.mark_delivered(
                session=session, message_ids=[r.message_id for r in replies]
            )

    async def deliver_notice(self, notice: outbound.Notice) -> bool:
        """Push a message stored outside a turn (an agent's reply, a survey question)."""
        return await self.deliver(notice.channel, notice.address, [notice.reply])
