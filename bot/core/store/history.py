"""A customer's history across channels and conversations."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Channel, Conversation, Direction, Message
from bot.core.store import customers


async def recent_messages(
    *, session: AsyncSession, channel: Channel, address: str, limit: int = 50
) -> list[Message]:
    """The latest messages of this address's customer across all channels, oldest first."""
    identity = await customers.identity_of(session=session, channel=channel, address=address)
    if identity is None:
        return []
    newest_first = await customer_history(
        session=session, customer_id=identity.customer_id, limit=limit
    )
    return newest_first[::-1]


async def customer_history(
    *, session: AsyncSession, customer_id: int, limit: int = 100
) -> list[Message]:
    """A customer's messages on every channel and in every conversation, newest first."""
    rows = await session.scalars(
        select(Message)
        .join(Conversation, Message.conversation_id == Conversation.id)
        .where(Conversation.customer_id == customer_id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    )
    return list(rows)


async def channels_used(*, session: AsyncSession, customer_id: int) -> dict[Channel, int]:
    """How many messages a customer sent on each channel, in the order they first used them."""
    rows = await session.execute(
        select(Message.channel, func.count(), func.min(Message.id))
        .join(Conversation, Message.conversation_id == Conversation.id)
        .where(Conversation.customer_id == customer_id, Message.direction == Direction.INBOUND)
        .group_by(Message.channel)
        .order_by(func.min(Message.id))
    )
    return {channel: count for channel, count, _ in rows}
