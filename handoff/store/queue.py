"""Conversations waiting for people: put in a queue (once), turned into a call back,
abandoned, their place in line, and how a handoff ends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Complaint, Conversation, ConversationStatus, Customer, utcnow
from bot.core.store import audit
from handoff.models import Handoff, HandoffKind, HandoffStatus
from handoff.priority import priority_at
from handoff.store.steps import locked_handoff

OPEN_HANDOFF = (HandoffStatus.QUEUED, HandoffStatus.ASSIGNED)


@dataclass(frozen=True)
class HandoffRequest:
    """What a conversation is handed to people with."""

    queue: str
    reason: str
    intent: str | None = None
    kind: HandoffKind = HandoffKind.CHAT
    callback_number: str | None = None
    complaint_id: int | None = None
    sentiment_score: float | None = None
    # What the assistant knows (e.g. messages per channel): it goes into the audit log.
    context: dict[str, Any] | None = None


async def open_handoff_of(*, session: AsyncSession, conversation_id: int) -> Handoff | None:
    """The conversation's handoff still waiting or with an agent, if any."""
    return await session.scalar(
        select(Handoff).where(
            Handoff.conversation_id == conversation_id, Handoff.status.in_(OPEN_HANDOFF)
        )
    )


async def enqueue_handoff(
    *,
    session: AsyncSession,
    conversation_id: int,
    request: HandoffRequest,
    now: datetime | None = None,
) -> Handoff:
    """Put a conversation in a queue for people (once: an open handoff is returned as is,
    turned into a call back if that is what is asked for now)."""
    existing = await open_handoff_of(session=session, conversation_id=conversation_id)
    if existing is not None:
        if request.kind is HandoffKind.CALLBACK and existing.kind is not HandoffKind.CALLBACK:
            # Asked for a person, then for a call back: same place in the queue, now a call.
            call_back_instead(
                session=session,
                handoff=existing,
                number=request.callback_number,
                reason=request.reason,
            )
        return existing
    conversation = await session.get_one(Conversation, conversation_id)
    handoff = await _new_handoff(session, conversation, request, now or utcnow())
    session.add(handoff)
    conversation.status = ConversationStatus.AWAITING_AGENT
    await session.flush()
    audit.record(
        session=session,
        actor="assistant",
        action="handoff.queued",
        entity_type="conversation",
        entity_id=conversation.public_id,
        details={
            "handoff_id": handoff.id,
            "queue": request.queue,
            "reason": request.reason,
            "kind": request.kind.value,
            **(request.context or {}),
        },
    )
    return handoff


async def _new_handoff(
    session: AsyncSession, conversation: Conversation, request: HandoffRequest, now: datetime
) -> Handoff:
    customer = await session.get_one(Customer, conversation.customer_id)
    complaint = await session.get(Complaint, request.complaint_id) if request.complaint_id else None
    priority = complaint.priority if complaint is not None else None
    return Handoff(
        conversation_id=conversation.id,
        queue=request.queue,
        kind=request.kind,
        status=HandoffStatus.QUEUED,
        reason=request.reason[:200],
        intent=request.intent,
        complaint_id=request.complaint_id,
        is_vip=customer.is_vip,
        complaint_priority=priority,
        sentiment_score=request.sentiment_score,
        callback_number=request.callback_number,
        enqueued_at=now,
        priority_at=priority_at(
            now,
            is_vip=customer.is_vip,
            complaint_priority=priority,
            sentiment_score=request.sentiment_score,
        ),
    )


def call_back_instead(
    *, session: AsyncSession, handoff: Handoff, number: str | None, reason: str
) -> None:
    """A waiting conversation becomes a call back to `number`, keeping its place in line."""
    handoff.kind, handoff.callback_number = HandoffKind.CALLBACK, number
    audit.record(
        session=session,
        actor="assistant",
        action="handoff.callback_requested",
        entity_type="handoff",
        entity_id=str(handoff.id),
        details={"callback_number": number, "reason": reason},
    )


async def end_handoff(*, session: AsyncSession, handoff: Handoff, status: HandoffStatus) -> None:
    """Over, one way or the other: the conversation is the assistant's again."""
    handoff.status, handoff.resolved_at = status, utcnow()
    conversation = await session.get_one(Conversation, handoff.conversation_id)
    conversation.status = ConversationStatus.ACTIVE


async def abandon_handoff(*, session: AsyncSession, handoff_id: int, reason: str) -> bool:
    """The customer left before anyone took the conversation (a caller hung up on hold).

    The conversation goes back to the assistant; False if it was no longer waiting.
    """
    handoff = await locked_handoff(session=session, handoff_id=handoff_id)
    if handoff is None or handoff.status is not HandoffStatus.QUEUED:
        return False
    await end_handoff(session=session, handoff=handoff, status=HandoffStatus.ABANDONED)
    audit.record(
        session=session,
        actor="customer",
        action="handoff.abandoned",
        entity_type="handoff",
        entity_id=str(handoff_id),
        details={"reason": reason},
    )
    return True


async def queue_position(*, session: AsyncSession, handoff: Handoff) -> int:
    """1 for the next to be served in its queue."""
    ahead = await session.scalar(
        select(func.count())
        .select_from(Handoff)
        .where(
            Handoff.status == HandoffStatus.QUEUED,
            Handoff.queue == handoff.queue,
            or_(
                Handoff.priority_at < handoff.priority_at,
                (Handoff.priority_at == handoff.priority_at) & (Handoff.id < handoff.id),
            ),
        )
    )
    return int(ahead or 0) + 1


async def handoffs_for_agent(
    *, session: AsyncSession, agent_id: int, queues: Sequence[str]
) -> list[Handoff]:
    """The agent's conversations, then those waiting in the queues they serve (in order)."""
    rows = await session.scalars(
        select(Handoff)
        .where(
            or_(
                (Handoff.status == HandoffStatus.ASSIGNED) & (Handoff.agent_id == agent_id),
                (Handoff.status == HandoffStatus.QUEUED) & Handoff.queue.in_(queues),
            )
        )
        .order_by(Handoff.status, Handoff.priority_at, Handoff.id)
    )
    return list(rows)
