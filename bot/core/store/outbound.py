"""Replies to customers: stored pending before they are sent, then delivered or failed; and
what is still waiting to go out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.messages import BotReply, StoredReply
from bot.core.models import (
    Channel,
    ChannelIdentity,
    Direction,
    Message,
    MessageStatus,
    utcnow,
)
from bot.core.store import customers, inbound


class NothingToAnswer(LookupError):
    """A conversation without a customer message: there is no channel to say anything on."""


@dataclass(frozen=True)
class Notice:
    """A message to the customer stored outside a turn, and where it goes."""

    reply: StoredReply
    channel: Channel
    address: str


async def record_outbound(
    *,
    session: AsyncSession,
    reply_to: Message,
    text: str,
    payload: dict[str, Any] | None = None,
) -> Message:
    """Store a reply to `reply_to`, pending delivery on the same channel."""
    message = Message(
        conversation_id=reply_to.conversation_id,
        identity_id=reply_to.identity_id,
        channel=reply_to.channel,
        direction=Direction.OUTBOUND,
        in_reply_to_id=reply_to.id,
        text=text,
        payload=payload or {},
        status=MessageStatus.PENDING,
    )
    session.add(message)
    await session.flush()
    return message


async def record_notice(
    *,
    session: AsyncSession,
    conversation_id: int,
    text: str,
    payload: dict[str, Any],
    only_on: frozenset[Channel] | None = None,
) -> Notice:
    """Store a message to the customer (from an agent, or a survey) on the channel they
    last wrote on; NothingToAnswer if they never wrote (or not on one of `only_on`)."""
    latest = await inbound.latest_inbound(session=session, conversation_id=conversation_id)
    if latest is None or (only_on is not None and latest.channel not in only_on):
        raise NothingToAnswer(f"conversation {conversation_id} has no customer message to answer")
    reply = await record_outbound(session=session, reply_to=latest, text=text, payload=payload)
    identity = await session.get_one(ChannelIdentity, latest.identity_id)
    return Notice(stored_reply(reply), identity.channel, identity.address)


def stored_reply(message: Message) -> StoredReply:
    """A stored outbound message as the reply it carries."""
    return StoredReply(message.id, BotReply.from_stored(message.text, message.payload))


async def mark_delivered(*, session: AsyncSession, message_ids: Sequence[int]) -> None:
    """Record that these outbound messages reached the customer's channel."""
    if not message_ids:
        return
    await session.execute(
        update(Message)
        # Only pending ones: a reply that failed for good stays failed.
        .where(Message.id.in_(message_ids), Message.status == MessageStatus.PENDING)
        .values(status=MessageStatus.DELIVERED, delivered_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def mark_failed(*, session: AsyncSession, message_ids: Sequence[int], error: str) -> None:
    """Record that these outbound messages will never reach the customer, and why."""
    if not message_ids:
        return
    await session.execute(
        update(Message)
        .where(Message.id.in_(message_ids))
        .values(status=MessageStatus.FAILED, error=error[:500])
        .execution_options(synchronize_session=False)
    )


async def note_failed_push(
    *, session: AsyncSession, message_ids: Sequence[int], give_up_after: int
) -> None:
    """Count a failed attempt to send these replies; after `give_up_after` they fail."""
    if not message_ids:
        return
    await session.execute(
        update(Message)
        .where(Message.id.in_(message_ids), Message.status == MessageStatus.PENDING)
        .values(attempts=Message.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Message)
        .where(
            Message.id.in_(message_ids),
            Message.status == MessageStatus.PENDING,
            Message.attempts >= give_up_after,
        )
        .values(status=MessageStatus.FAILED, error="gave up sending")
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class PendingOutbound:
    """Replies to one address still waiting to be sent."""

    channel: Channel
    address: str
    messages: tuple[Message, ...]


async def pending_outbound(
    *, session: AsyncSession, channels: Sequence[Channel], older_than: timedelta, limit: int = 200
) -> list[PendingOutbound]:
    """Replies on push channels not sent yet (the provider was down), grouped by address."""
    rows = await session.execute(
        select(Message, ChannelIdentity.address)
        .join(ChannelIdentity, Message.identity_id == ChannelIdentity.id)
        .where(
            Message.direction == Direction.OUTBOUND,
            Message.status == MessageStatus.PENDING,
            Message.channel.in_(channels),
            Message.created_at < utcnow() - older_than,
        )
        .order_by(Message.id)
        .limit(limit)
    )
    grouped: dict[tuple[Channel, str], list[Message]] = {}
    for message, address in rows:
        grouped.setdefault((message.channel, address), []).append(message)
    return [
        PendingOutbound(channel, address, tuple(messages))
        for (channel, address), messages in grouped.items()
    ]


async def last_reply_to(*, session: AsyncSession, channel: Channel, address: str) -> Message | None:
    """The latest reply sent (or waiting to be sent) to this address."""
    return await session.scalar(
        select(Message)
        .join(ChannelIdentity, Message.identity_id == ChannelIdentity.id)
        .where(
            customers.identity_is(channel, customers.normalise_address(channel, address)),
            Message.direction == Direction.OUTBOUND,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )


async def last_offered_buttons(
    *, session: AsyncSession, channel: Channel, address: str
) -> list[dict[str, str]]:
    """The choices in the latest reply sent to this address (empty if it offered none)."""
    message = await last_reply_to(session=session, channel=channel, address=address)
    buttons = (message.payload if message is not None else {}).get("buttons") or []
    return [b for b in buttons if isinstance(b, dict)]


async def replies_to(*, session: AsyncSession, message_id: int) -> list[Message]:
    """The outbound replies stored for one inbound message, in order."""
    rows = await session.scalars(
        select(Message)
        .where(Message.in_reply_to_id == message_id, Message.direction == Direction.OUTBOUND)
        .order_by(Message.id)
    )
    return list(rows)


async def undelivered_outbound(
    *, session: AsyncSession, channel: Channel, address: str
) -> list[Message]:
    """Replies to this channel address that have not reached it yet, oldest first."""
    rows = await session.scalars(
        select(Message)
        .join(ChannelIdentity, Message.identity_id == ChannelIdentity.id)
        .where(
            customers.identity_is(channel, address),
            Message.direction == Direction.OUTBOUND,
            Message.status == MessageStatus.PENDING,
        )
        .order_by(Message.id)
    )
    return list(rows)
