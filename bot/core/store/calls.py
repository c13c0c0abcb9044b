"""Phone calls: the caller's recording choice, and what a call's end leaves unsaid."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import (
    Channel,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    RecordingConsent,
)
from bot.core.store import audit
from bot.core.store.outbound import mark_failed


async def set_recording_consent(
    *, session: AsyncSession, conversation_id: int, consent: RecordingConsent, call_sid: str
) -> None:
    """Store a caller's choice about call recording on the conversation, and audit it."""
    conversation = await session.get_one(Conversation, conversation_id)
    conversation.recording_consent = consent
    audit.record(
        session=session,
        actor="voice",
        action="call.recording_consent",
        entity_type="conversation",
        entity_id=conversation.public_id,
        details={"consent": consent.value, "call_sid": call_sid},
    )


async def end_call(*, session: AsyncSession, call_sid: str, status: str) -> int:
    """A call ended: replies that were never spoken fail; the number of them."""
    unspoken = list(
        await session.scalars(
            select(Message.id).where(
                Message.channel == Channel.VOICE,
                Message.direction == Direction.OUTBOUND,
                Message.status == MessageStatus.PENDING,
                Message.in_reply_to_id.in_(
                    select(Message.id).where(
                        Message.channel == Channel.VOICE,
                        Message.external_id.like(f"{call_sid}:%"),
                    )
                ),
            )
        )
    )
    await mark_failed(session=session, message_ids=unspoken, error="call ended before it was said")
    audit.record(
        session=session,
        actor="voice",
        action="call.ended",
        entity_type="call",
        entity_id=call_sid,
        details={"status": status, "unspoken_replies": len(unspoken)},
    )
    return len(unspoken)
