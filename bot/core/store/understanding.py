"""What the assistant understood of the customer's messages (intent, confidence, entities,
slots), read from Rasa's tracker when someone needs it and kept with the messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Direction, Message, MessageStatus


async def not_yet_understood(*, session: AsyncSession, conversation_ids: Sequence[int]) -> set[int]:
    """Those of the conversations with messages Rasa answered whose understanding is not
    stored yet.

    Every answer that does not come from Rasa names its own intent (a keyword, for the
    agent, the survey), so an answered message without one was Rasa's.
    """
    rows = await session.scalars(
        select(Message.conversation_id)
        .where(
            Message.conversation_id.in_(list(conversation_ids)),
            Message.direction == Direction.INBOUND,
            Message.status == MessageStatus.ANSWERED,
            Message.intent.is_(None),
        )
        .distinct()
    )
    return set(rows)


async def record_understanding(
    *, session: AsyncSession, conversation_id: int, understood: dict[int, dict[str, Any]]
) -> int:
    """Store what the assistant understood of the conversation's messages (by message id):
    the intent on the message, the rest (confidence, entities, slots) in its payload."""
    messages = await session.scalars(
        select(Message).where(
            Message.conversation_id == conversation_id,
            Message.direction == Direction.INBOUND,
            Message.intent.is_(None),
            Message.id.in_(list(understood)),
        )
    )
    count = 0
    for message in messages:
        understanding = understood[message.id]
        message.intent = (understanding.get("intent") or "")[:100] or None
        message.payload = {**message.payload, "understanding": understanding}
        count += 1
    return count
