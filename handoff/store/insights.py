"""What the NLP analysis changes about a conversation waiting for people: its sentiment and
complaint priority (so its place in the queue), and its queue when the predicted complaint
category names a better one."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Conversation, Priority
from bot.core.store import audit
from handoff.models import Handoff, HandoffStatus
from handoff.priority import priority_at
from handoff.store.queue import open_handoff_of
from handoff.store.steps import locked_handoff


async def reprioritise(
    *,
    session: AsyncSession,
    conversation_id: int,
    sentiment_score: float | None,
    complaint_priority: Priority | None = None,
    queue: str | None = None,
    reason: str = "",
) -> Handoff | None:
    """Update the conversation's waiting handoff (None if none waits); audited, which also
    refreshes the agents' consoles."""
    found = await open_handoff_of(session=session, conversation_id=conversation_id)
    # Locked, and its status read again under the lock: an agent taking it meanwhile keeps
    # it where it is.
    handoff = None if found is None else await locked_handoff(session=session, handoff_id=found.id)
    if handoff is None or handoff.status is not HandoffStatus.QUEUED:
        return None
    before = (handoff.sentiment_score, handoff.complaint_priority, handoff.queue)
    if sentiment_score is not None:
        handoff.sentiment_score = sentiment_score
    if complaint_priority is not None:
        handoff.complaint_priority = complaint_priority
    if queue is not None:
        handoff.queue = queue
    if before == (handoff.sentiment_score, handoff.complaint_priority, handoff.queue):
        return handoff
    handoff.priority_at = priority_at(
        handoff.enqueued_at,
        is_vip=handoff.is_vip,
        complaint_priority=handoff.complaint_priority,
        sentiment_score=handoff.sentiment_score,
    )
    conversation = await session.get_one(Conversation, conversation_id)
    audit.record(
        session=session,
        actor="nlp",
        action="handoff.reprioritised",
        entity_type="conversation",
        entity_id=conversation.public_id,
        details={
            "handoff_id": handoff.id,
            "queue": handoff.queue,
            "moved_from": before[2] if before[2] != handoff.queue else None,
            "sentiment_score": handoff.sentiment_score,
            "complaint_priority": handoff.complaint_priority.value
            if handoff.complaint_priority
            else None,
            "reason": reason,
        },
    )
    await session.flush()
    return handoff
