"""What telling a customer something outside a turn needs from the store: the customer a
business-systems reference belongs to, their latest conversation, an address to write to,
the message stored pending (so the retry worker resends it), a complaint's new status, and
whether an update was already sent (so a repeated event tells the customer once)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import (
    AuditEvent,
    Channel,
    ChannelIdentity,
    Complaint,
    ComplaintStatus,
    Conversation,
    Customer,
    Direction,
    Message,
    MessageStatus,
    utcnow,
)
from bot.core.store import audit, customers, inbound, outbound
from bot.core.store.inbound import AttachmentRef


async def customer_with_ref(*, session: AsyncSession, customer_ref: str) -> Customer | None:
    """The customer linked to this business-systems reference (set when they verified)."""
    return await session.scalar(select(Customer).where(Customer.external_ref == customer_ref))


async def latest_conversation(*, session: AsyncSession, customer_id: int) -> Conversation | None:
    """The customer's most recently active conversation, if they ever wrote."""
    return await session.scalar(
        select(Conversation)
        .where(Conversation.customer_id == customer_id)
        .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
        .limit(1)
    )


async def last_channel_of(
    *, session: AsyncSession, conversation_id: int
) -> tuple[Channel, str] | None:
    """The channel and address the customer last wrote from in this conversation."""
    latest = await inbound.latest_inbound(session=session, conversation_id=conversation_id)
    if latest is None:
        return None
    identity = await session.get_one(ChannelIdentity, latest.identity_id)
    return identity.channel, identity.address


async def webchat_address(*, session: AsyncSession, customer_id: int) -> str | None:
    """The customer's most recently seen web chat identity, if any."""
    return await session.scalar(
        select(ChannelIdentity.address)
        .where(
            ChannelIdentity.customer_id == customer_id,
            ChannelIdentity.channel == Channel.WEBCHAT,
        )
        .order_by(ChannelIdentity.last_seen_at.desc(), ChannelIdentity.id.desc())
        .limit(1)
    )


async def identity_for(
    *, session: AsyncSession, customer_id: int, channel: Channel, address: str
) -> ChannelIdentity:
    """The identity of `address` on `channel`; an address the store has not seen yet (one
    from the customer's business record) becomes one of this customer's identities."""
    existing = await customers.identity_of(session=session, channel=channel, address=address)
    if existing is not None:
        return existing
    identity = ChannelIdentity(
        customer_id=customer_id,
        channel=channel,
        address=customers.normalise_address(channel, address),
    )
    session.add(identity)
    await session.flush()
    audit.record(
        session=session,
        actor="business_record",
        action="identity.linked",
        entity_type="customer",
        entity_id=str(customer_id),
        details={"channel": channel.value, "identity_id": identity.id},
    )
    return identity


async def record_update(
    *,
    session: AsyncSession,
    conversation_id: int,
    identity: ChannelIdentity,
    text: str,
    payload: dict[str, Any],
    attachments: Sequence[AttachmentRef] = (),
) -> outbound.Notice:
    """Store a message to the customer at `identity`, pending delivery like every reply (the
    retry worker resends it if the channel is down), with files attached."""
    message = Message(
        conversation_id=conversation_id,
        identity_id=identity.id,
        channel=identity.channel,
        direction=Direction.OUTBOUND,
        text=text,
        payload=payload,
        status=MessageStatus.PENDING,
    )
    session.add(message)
    await session.flush()
    inbound.add_attachments(session=session, message_id=message.id, refs=attachments)
    return outbound.Notice(outbound.stored_reply(message), identity.channel, identity.address)


async def already_told(*, session: AsyncSession, action: str, entity_id: str) -> bool:
    """Whether the audit log holds this update already (the customer was told once)."""
    found = await session.scalar(
        select(AuditEvent.id)
        .where(AuditEvent.action == action, AuditEvent.entity_id == entity_id)
        .limit(1)
    )
    return found is not None


async def set_complaint_status(
    *, session: AsyncSession, complaint: Complaint, status: ComplaintStatus, actor: str
) -> bool:
    """Move a complaint to `status` (audited); False when it already was."""
    if complaint.status is status:
        return False
    before = complaint.status
    complaint.status = status
    complaint.resolved_at = utcnow() if status is ComplaintStatus.RESOLVED else None
    audit.record(
        session=session,
        actor=actor,
        action="complaint.status_changed",
        entity_type="complaint",
        entity_id=complaint.case_id,
        details={"from": before.value, "to": status.value},
    )
    return True
