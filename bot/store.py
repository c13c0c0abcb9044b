"""Every write to the complaint store, and the reads that go with them.

Functions take keyword-only arguments and a session; the caller owns the transaction
(`Database.session()` commits or rolls back), so one request or action is one unit.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import (
    Attachment,
    AuditEvent,
    Channel,
    ChannelIdentity,
    Complaint,
    ComplaintStatus,
    Conversation,
    ConversationStatus,
    Customer,
    Direction,
    Message,
    MessageStatus,
    Priority,
    utcnow,
)

# No 0/O, 1/I/L or U: case IDs are read out on the phone and typed from SMS.
CASE_ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CASE_ID_PREFIX = "CMP-"
CASE_ID_LENGTH = 5


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


# --- customers and identities -------------------------------------------------------


async def resolve_identity(
    *, session: AsyncSession, channel: Channel, address: str
) -> ChannelIdentity:
    """The identity for `address` on `channel`, creating it and a new customer if unknown."""
    identity = await session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.address == address
        )
    )
    now = utcnow()
    if identity is not None:
        identity.last_seen_at = now
        return identity
    customer = Customer(
        email=address if channel is Channel.EMAIL else None,
        phone=address if channel in (Channel.SMS, Channel.VOICE) else None,
    )
    identity = ChannelIdentity(channel=channel, address=address, customer=customer)
    session.add_all([customer, identity])
    await session.flush()
    await record_audit(
        session=session,
        actor=f"{channel.value}:{address}",
        action="customer.created",
        entity_type="customer",
        entity_id=str(customer.id),
        details={"channel": channel.value},
    )
    return identity


async def get_customer(*, session: AsyncSession, customer_id: int) -> Customer | None:
    """A customer by primary key."""
    return await session.get(Customer, customer_id)


# --- conversations ------------------------------------------------------------------


def new_conversation_public_id() -> str:
    """An unguessable public id; it is also the conversation's Rasa sender id."""
    return f"conv-{uuid.uuid4().hex}"


async def resolve_conversation(
    *, session: AsyncSession, customer_id: int, channel: Channel, idle_after: timedelta
) -> Conversation:
    """The customer's current conversation on any channel, or a new one after `idle_after`."""
    now = utcnow()
    conversation = await session.scalar(
        select(Conversation)
        .where(
            Conversation.customer_id == customer_id,
            Conversation.status != ConversationStatus.CLOSED,
            Conversation.last_activity_at >= now - idle_after,
        )
        .order_by(Conversation.last_activity_at.desc())
        .limit(1)
    )
    if conversation is None:
        conversation = Conversation(
            public_id=new_conversation_public_id(),
            customer_id=customer_id,
            started_channel=channel,
            started_at=now,
            last_activity_at=now,
        )
        session.add(conversation)
        await session.flush()
    else:
        conversation.last_activity_at = now
    return conversation


async def conversation_for_sender(
    *, session: AsyncSession, sender_id: str, channel: Channel
) -> Conversation:
    """The conversation Rasa knows as `sender_id`, created for a sender we never issued."""
    conversation = await conversation_by_public_id(session=session, public_id=sender_id)
    if conversation is not None:
        return conversation
    identity = await resolve_identity(session=session, channel=channel, address=sender_id)
    now = utcnow()
    conversation = Conversation(
        public_id=sender_id,
        customer_id=identity.customer_id,
        started_channel=channel,
        started_at=now,
        last_activity_at=now,
    )
    session.add(conversation)
    await session.flush()
    return conversation


async def conversation_by_public_id(
    *, session: AsyncSession, public_id: str
) -> Conversation | None:
    """A conversation by the id Rasa knows it under."""
    return await session.scalar(select(Conversation).where(Conversation.public_id == public_id))


async def flag_for_agent(
    *, session: AsyncSession, conversation: Conversation, reason: str, actor: str
) -> None:
    """Mark a conversation as waiting for a human agent, and audit why."""
    conversation.status = ConversationStatus.AWAITING_AGENT
    await record_audit(
        session=session,
        actor=actor,
        action="conversation.agent_requested",
        entity_type="conversation",
        entity_id=conversation.public_id,
        details={"reason": reason},
    )


# --- messages -----------------------------------------------------------------------


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
) -> StoredInbound:
    """Store an inbound message before anything else happens to it.

    Idempotent on the channel's own message id: a redelivered message returns the row
    stored the first time, with `created=False`.
    """
    if external_id is not None:
        existing = await session.scalar(
            select(Message).where(Message.channel == channel, Message.external_id == external_id)
        )
        if existing is not None:
            conversation = await session.get_one(Conversation, existing.conversation_id)
            identity = await session.get_one(ChannelIdentity, existing.identity_id)
            return StoredInbound(existing, conversation, identity, created=False)
    identity = await resolve_identity(session=session, channel=channel, address=address)
    conversation = await resolve_conversation(
        session=session, customer_id=identity.customer_id, channel=channel, idle_after=idle_after
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
    for ref in attachments:
        session.add(
            Attachment(
                message_id=message.id,
                content_type=ref.content_type,
                size_bytes=ref.size_bytes,
                filename=ref.filename,
                storage_ref=ref.storage_ref,
            )
        )
    return StoredInbound(message, conversation, identity, created=True)


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
) -> None:
    """Record how processing an inbound message ended."""
    await session.execute(
        update(Message)
        .where(Message.id == message_id)
        .values(
            status=status,
            intent=intent,
            error=error[:500] if error else None,
            processed_at=utcnow() if status is MessageStatus.ANSWERED else None,
        )
        .execution_options(synchronize_session=False)
    )


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


async def mark_delivered(*, session: AsyncSession, message_ids: Sequence[int]) -> None:
    """Record that these outbound messages reached the customer's channel."""
    if not message_ids:
        return
    await session.execute(
        update(Message)
        .where(Message.id.in_(message_ids), Message.status != MessageStatus.DELIVERED)
        .values(status=MessageStatus.DELIVERED, delivered_at=utcnow())
        .execution_options(synchronize_session=False)
    )


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
            ChannelIdentity.channel == channel,
            ChannelIdentity.address == address,
            Message.direction == Direction.OUTBOUND,
            Message.status == MessageStatus.PENDING,
        )
        .order_by(Message.id)
    )
    return list(rows)


async def recent_messages(
    *, session: AsyncSession, channel: Channel, address: str, limit: int = 50
) -> list[Message]:
    """The latest messages of this address's customer across all channels, oldest first."""
    identity = await session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.address == address
        )
    )
    if identity is None:
        return []
    rows = await session.scalars(
        select(Message)
        .join(Conversation, Message.conversation_id == Conversation.id)
        .where(Conversation.customer_id == identity.customer_id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))


# --- complaints ---------------------------------------------------------------------


def new_case_id() -> str:
    """A short, human-friendly case ID such as CMP-7K3Q9."""
    return CASE_ID_PREFIX + "".join(secrets.choice(CASE_ID_ALPHABET) for _ in range(CASE_ID_LENGTH))


async def open_complaint(
    *,
    session: AsyncSession,
    customer_id: int,
    conversation_id: int | None,
    channel: Channel,
    category: str,
    description: str,
    order_ref: str | None = None,
    desired_outcome: str | None = None,
    priority: Priority = Priority.NORMAL,
    actor: str = "assistant",
) -> Complaint:
    """File a new complaint with a fresh case ID, status pending, and audit it."""
    case_id = new_case_id()
    while await session.scalar(select(Complaint.id).where(Complaint.case_id == case_id)):
        case_id = new_case_id()
    complaint = Complaint(
        case_id=case_id,
        customer_id=customer_id,
        conversation_id=conversation_id,
        channel=channel,
        category=category,
        description=description,
        order_ref=order_ref,
        desired_outcome=desired_outcome,
        status=ComplaintStatus.PENDING,
        priority=priority,
    )
    session.add(complaint)
    await session.flush()
    await record_audit(
        session=session,
        actor=actor,
        action="complaint.opened",
        entity_type="complaint",
        entity_id=case_id,
        details={"category": category, "priority": priority.value, "customer_id": customer_id},
    )
    return complaint


async def set_complaint_status(
    *, session: AsyncSession, complaint: Complaint, status: ComplaintStatus, actor: str
) -> None:
    """Move a complaint to `status` and audit the change."""
    previous = complaint.status
    complaint.status = status
    complaint.resolved_at = utcnow() if status is ComplaintStatus.RESOLVED else None
    await record_audit(
        session=session,
        actor=actor,
        action="complaint.status_changed",
        entity_type="complaint",
        entity_id=complaint.case_id,
        details={"from": previous.value, "to": status.value},
    )


async def find_complaint(*, session: AsyncSession, case_id: str) -> Complaint | None:
    """A complaint by its case ID (case-insensitive, dash optional)."""
    return await session.scalar(
        select(Complaint).where(Complaint.case_id == normalise_case_id(case_id))
    )


def normalise_case_id(raw: str) -> str:
    """`cmp7k3q9`, `CMP 7K3Q9` and `CMP-7K3Q9` are the same case ID."""
    compact = "".join(ch for ch in raw.upper() if ch.isalnum())
    if compact.startswith("CMP"):
        compact = compact[3:]
    return CASE_ID_PREFIX + compact


async def complaints_for_customer(
    *, session: AsyncSession, customer_id: int, limit: int = 5
) -> list[Complaint]:
    """A customer's complaints, newest first."""
    rows = await session.scalars(
        select(Complaint)
        .where(Complaint.customer_id == customer_id)
        .order_by(Complaint.created_at.desc(), Complaint.id.desc())
        .limit(limit)
    )
    return list(rows)


# --- audit --------------------------------------------------------------------------


async def record_audit(
    *,
    session: AsyncSession,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    details: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Append one entry to the audit log."""
    entry = AuditEvent(
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        details=details or {},
        occurred_at=occurred_at or utcnow(),
    )
    session.add(entry)
    return entry
