"""The NLP package's writes and reads: sentiments of messages, insights of conversations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Complaint, Direction, Message
from bot.nlp.models import ConversationInsight, MessageSentiment
from bot.nlp.results import Sentiment


async def record_sentiment(
    *, session: AsyncSession, message: Message, sentiment: Sentiment, backend: str
) -> bool:
    """Keep a message's sentiment; False if it was already scored (a job run twice)."""
    if await session.get(MessageSentiment, message.id) is not None:
        return False
    session.add(
        MessageSentiment(
            message_id=message.id,
            conversation_id=message.conversation_id,
            label=sentiment.label,
            score=sentiment.score,
            backend=backend,
        )
    )
    await session.flush()
    return True


async def sentiments_in(*, session: AsyncSession, conversation_id: int) -> list[MessageSentiment]:
    """A conversation's scored customer messages, oldest first."""
    rows = await session.scalars(
        select(MessageSentiment)
        .where(MessageSentiment.conversation_id == conversation_id)
        .order_by(MessageSentiment.message_id)
    )
    return list(rows)


async def sentiments_of(
    *, session: AsyncSession, message_ids: Sequence[int]
) -> dict[int, MessageSentiment]:
    """The sentiments of these messages that have been scored, by message id."""
    if not message_ids:
        return {}
    rows = await session.scalars(
        select(MessageSentiment).where(MessageSentiment.message_id.in_(message_ids))
    )
    return {row.message_id: row for row in rows}


async def save_insight(
    *, session: AsyncSession, conversation_id: int, **fields: Any
) -> ConversationInsight:
    """Replace what is known about a conversation with a new analysis."""
    insight = await session.get(ConversationInsight, conversation_id)
    if insight is None:
        insight = ConversationInsight(conversation_id=conversation_id)
        session.add(insight)
    for name, value in fields.items():
        setattr(insight, name, value)
    await session.flush()
    return insight


async def insight_of(*, session: AsyncSession, conversation_id: int) -> ConversationInsight | None:
    """The latest analysis of a conversation, if there is one."""
    return await session.get(ConversationInsight, conversation_id)


async def unscored_customer_messages(
    *, session: AsyncSession, since: datetime, limit: int = 500
) -> list[int]:
    """Customer messages with text since `since` that have no sentiment yet (jobs lost)."""
    rows = await session.scalars(
        select(Message.id)
        .outerjoin(MessageSentiment, MessageSentiment.message_id == Message.id)
        .where(
            Message.direction == Direction.INBOUND,
            Message.created_at >= since,
            Message.text != "",
            # A button's payload ("/inform{...}") is never scored.
            Message.text.not_like("/%"),
            MessageSentiment.message_id.is_(None),
        )
        .order_by(Message.id)
        .limit(limit)
    )
    return list(rows)


async def complaints_without_summary(
    *, session: AsyncSession, since: datetime, limit: int = 200
) -> list[int]:
    """Conversations of complaints filed since `since` that were never analysed."""
    rows = await session.scalars(
        select(Complaint.conversation_id)
        .where(
            Complaint.created_at >= since,
            Complaint.summary.is_(None),
            Complaint.conversation_id.is_not(None),
        )
        .distinct()
        .limit(limit)
    )
    return [row for row in rows if row is not None]


async def current_score(*, session: AsyncSession, conversation_id: int) -> float | None:
    """The mean of the customer's latest scores (up to three), or None if none is scored."""
    rows = await session.scalars(
        select(MessageSentiment.score)
        .where(MessageSentiment.conversation_id == conversation_id)
        .order_by(MessageSentiment.message_id.desc())
        .limit(3)
    )
    scores = list(rows)
    return sum(scores) / len(scores) if scores else None
