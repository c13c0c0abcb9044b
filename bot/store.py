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

from sqlalchemy import func, or_, select, update
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
    Delivery,
    Direction,
    Message,
    MessageStatus,
    Priority,
    RecordingConsent,
    utcnow,
)

# No 0/O, 1/I/L or U: case IDs are read out on the phone and typed from SMS.
CASE_ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CASE_ID_PREFIX = "CMP-"
CASE_ID_LENGTH = 5
PHONE_CHANNELS = (Channel.SMS, Channel.VOICE)
# Provider statuses that mean the message did not reach the customer.
FAILED_PROVIDER_STATUSES = frozenset({"failed", "undelivered", "canceled"})


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


def normalise_address(channel: Channel, address: str) -> str:
    """One spelling per address: emails lower-cased, phone numbers without spaces or dashes."""
    address = address.strip()
    if channel is Channel.EMAIL:
        return address.lower()
    if channel in PHONE_CHANNELS:
        return "".join(ch for ch in address if ch.isdigit() or ch == "+")
    return address


async def resolve_identity(
    *, session: AsyncSession, channel: Channel, address: str
) -> ChannelIdentity:
    """The identity for `address` on `channel`; a new one joins the customer the store already
    knows by that email or phone, else a new customer."""
    address = normalise_address(channel, address)
    identity = await session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.address == address
        )
    )
    now = utcnow()
    if identity is not None:
        identity.last_seen_at = now
        return identity
    customer = await _customer_by_contact(session=session, channel=channel, address=address)
    created = customer is None
    if customer is None:
        customer = Customer(
            email=address if channel is Channel.EMAIL else None,
            phone=address if channel in PHONE_CHANNELS else None,
        )
        session.add(customer)
    identity = ChannelIdentity(channel=channel, address=address, customer=customer)
    session.add(identity)
    await session.flush()
    await record_audit(
        session=session,
        actor=f"{channel.value}:{address}",
        action="customer.created" if created else "identity.linked",
        entity_type="customer",
        entity_id=str(customer.id),
        details={"channel": channel.value, "identity_id": identity.id},
    )
    return identity


async def _customer_by_contact(
    *, session: AsyncSession, channel: Channel, address: str
) -> Customer | None:
    # Until customers verify themselves (OTP), an address is linked only to a customer
    # whose record already holds it, and only when exactly one does.
    if channel is Channel.EMAIL:
        condition = func.lower(Customer.email) == address
    elif channel in PHONE_CHANNELS:
        condition = Customer.phone == address
    else:
        return None
    rows = list(await session.scalars(select(Customer).where(condition).limit(2)))
    return rows[0] if len(rows) == 1 else None


async def upsert_customer(
    *,
    session: AsyncSession,
    email: str | None = None,
    phone: str | None = None,
    display_name: str | None = None,
    is_vip: bool | None = None,
    actor: str = "admin",
) -> Customer:
    """Create or update a customer record (e.g. from the company's CRM), found by email or
    phone; channel identities with those addresses are linked to it from then on."""
    email = normalise_address(Channel.EMAIL, email) if email else None
    phone = normalise_address(Channel.SMS, phone) if phone else None
    if not email and not phone:
        raise ValueError("a customer needs an email address or a phone number")
    conditions = []
    if email:
        conditions.append(func.lower(Customer.email) == email)
    if phone:
        conditions.append(Customer.phone == phone)
    customer = await session.scalar(
        select(Customer).where(or_(*conditions)).order_by(Customer.id).limit(1)
    )
    if customer is None:
        customer = Customer()
        session.add(customer)
    customer.email = email or customer.email
    customer.phone = phone or customer.phone
    customer.display_name = display_name or customer.display_name
    if is_vip is not None:
        customer.is_vip = is_vip
    await session.flush()
    await record_audit(
        session=session,
        actor=actor,
        action="customer.updated",
        entity_type="customer",
        entity_id=str(customer.id),
        details={"email": email, "phone": phone},
    )
    return customer


async def set_opt_out(
    *, session: AsyncSession, channel: Channel, address: str, opted_out: bool
) -> ChannelIdentity:
    """Record that an address asked to receive nothing more (STOP), or asked again (START)."""
    identity = await resolve_identity(session=session, channel=channel, address=address)
    identity.opted_out_at = utcnow() if opted_out else None
    await record_audit(
        session=session,
        actor=f"{channel.value}:{identity.address}",
        action="identity.opted_out" if opted_out else "identity.opted_in",
        entity_type="channel_identity",
        entity_id=str(identity.id),
    )
    return identity


async def is_opted_out(*, session: AsyncSession, channel: Channel, address: str) -> bool:
    """Whether nothing may be sent to this address."""
    opted_out_at = await session.scalar(
        select(ChannelIdentity.opted_out_at).where(
            ChannelIdentity.channel == channel,
            ChannelIdentity.address == normalise_address(channel, address),
        )
    )
    return opted_out_at is not None


async def find_customer(
    *, session: AsyncSession, channel: Channel, address: str
) -> Customer | None:
    """The customer an address belongs to: by its channel identity, else by the record."""
    address = normalise_address(channel, address)
    identity = await session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel.in_(
                PHONE_CHANNELS if channel in PHONE_CHANNELS else (channel,)
            ),
            ChannelIdentity.address == address,
        )
    )
    if identity is not None:
        return await session.get(Customer, identity.customer_id)
    return await _customer_by_contact(session=session, channel=channel, address=address)


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
    *,
    session: AsyncSession,
    conversation: Conversation,
    reason: str,
    actor: str,
    context: dict[str, Any] | None = None,
) -> None:
    """Mark a conversation as waiting for a human agent, and audit why (with `context`)."""
    conversation.status = ConversationStatus.AWAITING_AGENT
    await record_audit(
        session=session,
        actor=actor,
        action="conversation.agent_requested",
        entity_type="conversation",
        entity_id=conversation.public_id,
        details={"reason": reason, **(context or {})},
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
    thread_refs: Sequence[str] | None = None,
) -> StoredInbound:
    """Store an inbound message before anything else happens to it.

    Idempotent on the channel's own message id: a redelivered message returns the row
    stored the first time, with `created=False`. Channels with threads (email) give
    `thread_refs`, the ids of earlier messages it answers: the message joins their
    conversation, or starts a new one.
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
    if thread_refs is None:
        conversation = await resolve_conversation(
            session=session,
            customer_id=identity.customer_id,
            channel=channel,
            idle_after=idle_after,
        )
    else:
        conversation = await _thread_conversation(
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


async def _thread_conversation(
    *,
    session: AsyncSession,
    identity: ChannelIdentity,
    channel: Channel,
    thread_refs: Sequence[str],
) -> Conversation:
    conversation = await conversation_for_thread(
        session=session, channel=channel, thread_refs=thread_refs
    )
    # A thread belongs to the customer who started it; anyone else starts their own.
    if conversation is not None and conversation.customer_id == identity.customer_id:
        conversation.last_activity_at = utcnow()
        return conversation
    now = utcnow()
    conversation = Conversation(
        public_id=new_conversation_public_id(),
        customer_id=identity.customer_id,
        started_channel=channel,
        started_at=now,
        last_activity_at=now,
    )
    session.add(conversation)
    await session.flush()
    return conversation


async def conversation_for_thread(
    *, session: AsyncSession, channel: Channel, thread_refs: Sequence[str]
) -> Conversation | None:
    """The conversation of the newest message (ours or the customer's) among `thread_refs`."""
    refs = [ref for ref in thread_refs if ref][-50:]
    if not refs:
        return None
    inbound = select(Message.conversation_id, Message.id).where(
        Message.channel == channel, Message.external_id.in_(refs)
    )
    outbound = (
        select(Message.conversation_id, Message.id)
        .join(Delivery, Delivery.message_id == Message.id)
        .where(Delivery.channel == channel, Delivery.provider_id.in_(refs))
    )
    found = (await session.execute(inbound.union_all(outbound).order_by(Message.id.desc()))).first()
    return None if found is None else await session.get(Conversation, found[0])


async def set_recording_consent(
    *, session: AsyncSession, conversation_id: int, consent: RecordingConsent, call_sid: str
) -> None:
    """Store a caller's choice about call recording on the conversation, and audit it."""
    conversation = await session.get_one(Conversation, conversation_id)
    conversation.recording_consent = consent
    await record_audit(
        session=session,
        actor="voice",
        action="call.recording_consent",
        entity_type="conversation",
        entity_id=conversation.public_id,
        details={"consent": consent.value, "call_sid": call_sid},
    )


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


def record_delivery(
    *,
    session: AsyncSession,
    message_id: int,
    channel: Channel,
    provider_id: str,
    status: str,
    part: int = 0,
) -> None:
    """Remember the provider's id for (part of) an outbound message sent through it."""
    session.add(
        Delivery(
            message_id=message_id,
            channel=channel,
            provider_id=provider_id,
            part=part,
            status=status,
        )
    )


async def update_delivery_status(
    *,
    session: AsyncSession,
    channel: Channel,
    provider_id: str,
    status: str,
    error_code: str | None = None,
) -> bool:
    """Record a provider's status callback; a failed part fails its message. False if unknown."""
    deliveries = list(
        await session.scalars(
            select(Delivery).where(Delivery.channel == channel, Delivery.provider_id == provider_id)
        )
    )
    for delivery in deliveries:
        delivery.status = status[:20]
        delivery.error_code = error_code[:20] if error_code else None
    if status in FAILED_PROVIDER_STATUSES:
        reason = f"{channel.value} provider: {status}"
        await mark_failed(
            session=session,
            message_ids=[d.message_id for d in deliveries],
            error=f"{reason} ({error_code})" if error_code else reason,
        )
    return bool(deliveries)


async def deliveries_of(*, session: AsyncSession, message_id: int) -> list[Delivery]:
    """The provider hand-overs of one outbound message, in order."""
    rows = await session.scalars(
        select(Delivery).where(Delivery.message_id == message_id).order_by(Delivery.id)
    )
    return list(rows)


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
            ChannelIdentity.channel == channel,
            ChannelIdentity.address == normalise_address(channel, address),
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


async def inbound_by_external_id(
    *, session: AsyncSession, channel: Channel, external_id: str
) -> Message | None:
    """A stored customer message by the channel's own id."""
    return await session.scalar(
        select(Message).where(Message.channel == channel, Message.external_id == external_id)
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
    await record_audit(
        session=session,
        actor="voice",
        action="call.ended",
        entity_type="call",
        entity_id=call_sid,
        details={"status": status, "unspoken_replies": len(unspoken)},
    )
    return len(unspoken)


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
