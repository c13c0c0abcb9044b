"""The customer's messages: stored before anything else happens to them (idempotent on the
channel's own id), claimed for processing, finished, and found again for retries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import (
    Attachment,
    Channel,
    ChannelIdentity,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    utcnow,
)
from bot.core.store import conversations, customers


@dataclass(frozen=True)
class AttachmentRef:
    """Where an inbound file's bytes are kept, and what they are."""

    content_type: str
    size_bytes: int
    storage_ref: str
    filename: str | None = None


@dataclass(frozen=True)
class StoredInbound:
    """The result of storing an inbound message; `created` is False for a redelivery."""

    message: Message
    conversation: Conversation
    identity: ChannelIdentity
    created: bool


async def record_inbound(
    *,
    session: AsyncSession,
    channel: Channel,
    address: str,
    text: str,
    external_id: str | None,
    payload: dict[str, Any] | None = None,
    attachments: Sequence[AttachmentRef] = (),
    idle_after: timedelta,
    thread_refs: Sequence[str] | None = None,
) -> StoredInbound:
    """Store an inbound message before anything else happens to it.

    Idempotent on the channel's own message id: a redelivered message returns the row
    stored the first time, with `created=False`. Channels with threads (email) give
    `thread_refs`, the ids of earlier messages it answers: the message joins their
    conversation, or starts a new one.
    """
    if external_id is not None:
        existing = await inbound_by_external_id(
            session=session, channel=channel, external_id=external_id
        )
        if existing is not None:
            return await _stored(session, existing, created=False)
    identity = await customers.resolve_identity(session=session, channel=channel, address=address)
    if thread_refs is None:
        conversation = await conversations.resolve_conversation(
            session=session,
            customer_id=identity.customer_id,
            channel=channel,
            idle_after=idle_after,
        )
    else:
        conversation = await conversations.thread_conversation(
            session=session, identity=identity, channel=channel, thread_refs=thread_refs
        )
    message = Message(
        conversation_id=conversation.id,
        identity_id=identity.id,
        channel=channel,
        direction=Direction.INBOUND,
        external_id=external_id,
        text=text,
        payload=payload or {},
        status=MessageStatus.RECEIVED,
    )
    session.add(message)
    await session.flush()
    add_attachments(session=session, message_id=message.id, refs=attachments)
    return StoredInbound(message, conversation, identity, created=True)


async def _stored(session: AsyncSession, message: Message, *, created: bool) -> StoredInbound:
    conversation = await session.get_one(Conversation, message.conversation_id)
    identity = await session.get_one(ChannelIdentity, message.identity_id)
    return StoredInbound(message, conversation, identity, created=created)


def add_attachments(
    *, session: AsyncSession, message_id: int, refs: Sequence[AttachmentRef]
) -> None:
    """Attach stored files to a message."""
    for ref in refs:
        session.add(
            Attachment(
                message_id=message_id,
                content_type=ref.content_type,
                size_bytes=ref.size_bytes,
                filename=ref.filename,
                storage_ref=ref.storage_ref,
            )
        )


async def attachments_of(
    *, session: AsyncSession, message_ids: Sequence[int]
) -> dict[int, list[Attachment]]:
    """The files of each of `message_ids` that has any, in the order they were kept."""
    if not message_ids:
        return {}
    rows = await session.scalars(
        select(Attachment)
        .where(Attachment.message_id.in_(list(message_ids)))
        .order_by(Attachment.id)
    )
    found: dict[int, list[Attachment]] = {}
    for row in rows:
        found.setdefault(row.message_id, []).append(row)
    return found


def claim_new_inbound(*, message: Message) -> None:
    """Take a message just stored in this transaction for processing (no race possible)."""
    message.status = MessageStatus.PROCESSING
    message.processing_started_at = utcnow()
    message.attempts = 1


async def claim_inbound(*, session: AsyncSession, message_id: int, stale_after: timedelta) -> bool:
    """Atomically take an inbound message for processing; False if someone else has it.

    A claim older than `stale_after` belongs to a process that died mid-turn and expires.
    """
    now = utcnow()
    result = await session.execute(
        update(Message)
        .where(
            Message.id == message_id,
            or_(
                Message.status.in_([MessageStatus.RECEIVED, MessageStatus.AWAITING_RETRY]),
                (Message.status == MessageStatus.PROCESSING)
                & (Message.processing_started_at < now - stale_after),
            ),
        )
        .values(
            status=MessageStatus.PROCESSING,
            processing_started_at=now,
            attempts=Message.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def finish_inbound(
    *,
    session: AsyncSession,
    message_id: int,
    status: MessageStatus,
    intent: str | None = None,
    error: str | None = None,
    attempt: int | None = None,
) -> bool:
    """Record how processing an inbound message ended; False (nothing recorded) if `attempt`
    is given and the message is no longer that attempt's (a retry took it over)."""
    condition = Message.id == message_id
    if attempt is not None:
        condition &= (Message.status == MessageStatus.PROCESSING) & (Message.attempts == attempt)
    result = await session.execute(
        update(Message)
        .where(condition)
        .values(
            status=status,
            intent=intent,
            error=error[:500] if error else None,
            processed_at=utcnow() if status is MessageStatus.ANSWERED else None,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def inbound_due_for_retry(
    *, session: AsyncSession, stale_after: timedelta, limit: int = 50
) -> list[int]:
    """Inbound messages that were not answered: waiting for retry, or left by a dead process."""
    cutoff = utcnow() - stale_after
    rows = await session.scalars(
        select(Message.id)
        .where(
            Message.direction == Direction.INBOUND,
            or_(
                Message.status == MessageStatus.AWAITING_RETRY,
                (Message.status == MessageStatus.RECEIVED) & (Message.created_at < cutoff),
                (Message.status == MessageStatus.PROCESSING)
                & (Message.processing_started_at < cutoff),
            ),
        )
        .order_by(Message.created_at, Message.id)
        .limit(limit)
    )
    return list(rows)


async def unanswered_before(
    *, session: AsyncSession, conversation_id: int, message_id: int
) -> list[int]:
    """Earlier inbound messages of the conversation still waiting for an answer, oldest first."""
    rows = await session.scalars(
        select(Message.id)
        .where(
            Message.conversation_id == conversation_id,
            Message.direction == Direction.INBOUND,
            Message.id < message_id,
            Message.status.in_([MessageStatus.RECEIVED, MessageStatus.AWAITING_RETRY]),
        )
        .order_by(Message.id)
    )
    return list(rows)


async def others_awaiting_retry(
    *, session: AsyncSession, conversation_id: int, message_id: int
) -> bool:
    """Whether another inbound message of the conversation already waits for a retry."""
    found = await session.scalar(
        select(Message.id)
        .where(
            Message.conversation_id == conversation_id,
            Message.direction == Direction.INBOUND,
            Message.id != message_id,
            Message.status == MessageStatus.AWAITING_RETRY,
        )
        .limit(1)
    )
    return found is not None


async def inbound_by_external_id(
    *, session: AsyncSession, channel: Channel, external_id: str
) -> Message | None:
    """A stored customer message by the channel's own id."""
    return await session.scalar(
        select(Message).where(Message.channel == channel, Message.external_id == external_id)
    )


async def latest_inbound(*, session: AsyncSession, conversation_id: int) -> Message | None:
    """The customer's last message in the conversation: where anything said to them now goes."""
    return await session.scalar(
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.direction == Direction.INBOUND)
        .order_by(Message.id.desc())
        .limit(1)
    )
