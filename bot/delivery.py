"""Delivery of stored replies to channels that push them (web chat sockets; later SMS, email)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from adapters.messages import BotReply
from bot import store
from bot.db import Database
from bot.models import Channel


@dataclass(frozen=True)
class StoredReply:
    """A reply together with the id of its stored outbound message."""

    message_id: int
    reply: BotReply


# Sends replies to one address; True when the channel accepted them.
PushFn = Callable[[str, Sequence[StoredReply]], Awaitable[bool]]


class Deliveries:
    """Routes stored replies to the push function of their channel and records delivery."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._push: dict[Channel, PushFn] = {}

    def register(self, channel: Channel, push: PushFn) -> None:
        """Make `push` the way replies reach customers on `channel`."""
        self._push[channel] = push

    async def deliver(self, channel: Channel, address: str, replies: Sequence[StoredReply]) -> bool:
        """Push `replies` to `address`; they stay pending (and are retried) if that fails."""
        push = self._push.get(channel)
        if not replies or push is None:
            return False
        if not await push(address, replies):
            return False
        await self.mark_delivered(replies)
        return True

    async def mark_delivered(self, replies: Sequence[StoredReply]) -> None:
        """Record replies handed over by a request/response channel."""
        async with self._database.session() as session:
            await store.mark_delivered(session=session, message_ids=[r.message_id for r in replies])
