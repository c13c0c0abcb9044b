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

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import (
    Agent,
    AgentNote,
    AgentStatus,
    Attachment,
    AuditEvent,
    Channel,
    ChannelIdentity,
    Complaint,
    ComplaintStatus,
    Conversation,
    ConversationStatus,
    CsatResponse,
    Customer,
    Delivery,
    Direction,
    Handoff,
    HandoffDecline,
    HandoffKind,
    HandoffStatus,
    Message,
    MessageStatus,
    Priority,
    RecordingConsent,
    utcnow,
)
from handoff.queues import QueueDirectory

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


async def identities_of(*, session: AsyncSession, customer_id: int) -> list[ChannelIdentity]:
    """A customer's addresses on every channel, oldest first."""
    rows = await session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.customer_id == customer_id)
        .order_by(ChannelIdentity.id)
    )
    return list(rows)


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


@dataclass(frozen=True)
class PastConversation:
    """One of a customer's conversations, for the agent's "previous conversations" list."""

    conversation: Conversation
    messages: int
    handoffs: list[tuple[Handoff, str | None]]


async def conversations_of_customer(
    *, session: AsyncSession, customer_id: int, limit: int = 10
) -> list[PastConversation]:
    """A customer's conversations, newest first, with their size and who handled them."""
    rows = (
        await session.execute(
            select(Conversation, func.count(Message.id))
            .outerjoin(Message, Message.conversation_id == Conversation.id)
            .where(Conversation.customer_id == customer_id)
            .group_by(Conversation.id)
            .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
            .limit(limit)
        )
    ).all()
    handoffs = (
        await session.execute(
            select(Handoff, Agent.display_name)
            .outerjoin(Agent, Handoff.agent_id == Agent.id)
            .where(Handoff.conversation_id.in_([c.id for c, _ in rows]))
            .order_by(Handoff.id)
        )
    ).all()
    return [
        PastConversation(
            conversation,
            int(count),
            [(h, name) for h, name in handoffs if h.conversation_id == conversation.id],
        )
        for conversation, count in rows
    ]


async def agents_online(*, session: AsyncSession) -> list[tuple[Agent, int]]:
    """Agents signed in (not offline), with how many conversations each has, by name."""
    load = (
        select(func.count())
        .select_from(Handoff)
        .where(Handoff.agent_id == Agent.id, Handoff.status == HandoffStatus.ASSIGNED)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Agent, load)
        .where(Agent.status != AgentStatus.OFFLINE)
        .order_by(Agent.display_name, Agent.id)
    )
    return [(agent, int(count)) for agent, count in rows]


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


# --- handoff to people ----------------------------------------------------------------

# How far a handoff is brought forward in its queue. Bounded, so waiting longer always wins
# in the end: VIPs first, then urgent complaints and unhappy customers, then waiting time.
VIP_BONUS = timedelta(minutes=30)
COMPLAINT_BONUS = {
    Priority.URGENT: timedelta(minutes=20),
    Priority.HIGH: timedelta(minutes=10),
    Priority.NORMAL: timedelta(0),
    Priority.LOW: timedelta(minutes=-5),
}
# A sentiment score of -1 (very unhappy) brings a handoff this much forward.
SENTIMENT_BONUS = timedelta(minutes=15)
OPEN_HANDOFF = (HandoffStatus.QUEUED, HandoffStatus.ASSIGNED)


class HandoffNotYours(PermissionError):
    """An agent acted on a conversation someone else (or nobody) has."""


def priority_bonus(
    *, is_vip: bool, complaint_priority: Priority | None, sentiment_score: float | None
) -> timedelta:
    """How much earlier than its arrival a handoff is served."""
    bonus = VIP_BONUS if is_vip else timedelta(0)
    if complaint_priority is not None:
        bonus += COMPLAINT_BONUS[complaint_priority]
    if sentiment_score is not None and sentiment_score < 0:
        bonus += SENTIMENT_BONUS * min(1.0, -sentiment_score)
    return bonus


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
    queue: str,
    reason: str,
    intent: str | None = None,
    kind: HandoffKind = HandoffKind.CHAT,
    callback_number: str | None = None,
    complaint_id: int | None = None,
    sentiment_score: float | None = None,
    context: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Handoff:
    """Put a conversation in a queue for people (once: an open handoff is returned as is).

    `context` (what the assistant knows, e.g. messages per channel) goes into the audit log.
    """
    existing = await open_handoff_of(session=session, conversation_id=conversation_id)
    if existing is not None:
        if kind is HandoffKind.CALLBACK and existing.kind is not HandoffKind.CALLBACK:
            # Asked for a person, then for a call back: same place in the queue, now a call.
            await call_back_instead(
                session=session, handoff=existing, number=callback_number, reason=reason
            )
        return existing
    now = now or utcnow()
    conversation = await session.get_one(Conversation, conversation_id)
    customer = await session.get_one(Customer, conversation.customer_id)
    complaint = await session.get(Complaint, complaint_id) if complaint_id else None
    priority = complaint.priority if complaint is not None else None
    handoff = Handoff(
        conversation_id=conversation_id,
        queue=queue,
        kind=kind,
        status=HandoffStatus.QUEUED,
        reason=reason[:200],
        intent=intent,
        complaint_id=complaint_id,
        is_vip=customer.is_vip,
        complaint_priority=priority,
        sentiment_score=sentiment_score,
        callback_number=callback_number,
        enqueued_at=now,
        priority_at=now
        - priority_bonus(
            is_vip=customer.is_vip, complaint_priority=priority, sentiment_score=sentiment_score
        ),
    )
    session.add(handoff)
    conversation.status = ConversationStatus.AWAITING_AGENT
    await session.flush()
    await record_audit(
        session=session,
        actor="assistant",
        action="handoff.queued",
        entity_type="conversation",
        entity_id=conversation.public_id,
        details={
            "handoff_id": handoff.id,
            "queue": queue,
            "reason": reason,
            "kind": kind.value,
            **(context or {}),
        },
    )
    return handoff


async def call_back_instead(
    *, session: AsyncSession, handoff: Handoff, number: str | None, reason: str
) -> None:
    """A waiting conversation becomes a call back to `number`, keeping its place in line."""
    handoff.kind, handoff.callback_number = HandoffKind.CALLBACK, number
    await record_audit(
        session=session,
        actor="assistant",
        action="handoff.callback_requested",
        entity_type="handoff",
        entity_id=str(handoff.id),
        details={"callback_number": number, "reason": reason},
    )


async def _end_handoff(*, session: AsyncSession, handoff: Handoff, status: HandoffStatus) -> None:
    # Over, one way or the other: the conversation is the assistant's again.
    handoff.status, handoff.resolved_at = status, utcnow()
    conversation = await session.get_one(Conversation, handoff.conversation_id)
    conversation.status = ConversationStatus.ACTIVE


async def abandon_handoff(*, session: AsyncSession, handoff_id: int, reason: str) -> bool:
    """The customer left before anyone took the conversation (a caller hung up on hold).

    The conversation goes back to the assistant; False if it was no longer waiting.
    """
    handoff = await session.scalar(
        select(Handoff).where(Handoff.id == handoff_id).with_for_update()
    )
    if handoff is None or handoff.status is not HandoffStatus.QUEUED:
        return False
    await _end_handoff(session=session, handoff=handoff, status=HandoffStatus.ABANDONED)
    await record_audit(
        session=session,
        actor="customer",
        action="handoff.abandoned",
        entity_type="handoff",
        entity_id=str(handoff_id),
        details={"reason": reason},
    )
    return True


async def latest_complaint_in(*, session: AsyncSession, conversation_id: int) -> Complaint | None:
    """The complaint filed last in a conversation, if any."""
    return await session.scalar(
        select(Complaint)
        .where(Complaint.conversation_id == conversation_id)
        .order_by(Complaint.id.desc())
        .limit(1)
    )


async def agents_serving(*, session: AsyncSession, queues: QueueDirectory, queue: str) -> int:
    """How many available agents have the skills for `queue`."""
    needed = queues.get(queue)
    agents = await session.scalars(select(Agent).where(Agent.status == AgentStatus.AVAILABLE))
    return sum(1 for agent in agents if needed.serves(agent.skills))


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


async def create_agent(
    *,
    session: AsyncSession,
    email: str,
    display_name: str,
    password_hash: str,
    skills: Sequence[str] = (),
    capacity: int = 3,
    phone: str | None = None,
) -> Agent:
    """Add a member of the support team (offline until they sign in)."""
    agent = Agent(
        email=email.strip().lower(),
        display_name=display_name,
        password_hash=password_hash,
        phone=normalise_address(Channel.VOICE, phone) if phone else None,
        skills=sorted(set(skills)),
        capacity=capacity,
        status=AgentStatus.OFFLINE,
    )
    session.add(agent)
    await session.flush()
    await record_audit(
        session=session,
        actor="admin",
        action="agent.created",
        entity_type="agent",
        entity_id=str(agent.id),
        details={"skills": agent.skills, "capacity": capacity},
    )
    return agent


async def set_agent_status(
    *, session: AsyncSession, agent_id: int, status: AgentStatus
) -> list[int]:
    """An agent became available, busy, away or went offline.

    Going offline gives the agent's open conversations back to their queues (at their place
    in line), so nobody waits on someone who has left; the ids of those are returned.
    """
    agent = await session.scalar(select(Agent).where(Agent.id == agent_id).with_for_update())
    if agent is None:
        raise LookupError(f"no agent {agent_id}")
    agent.status = status
    agent.last_seen_at = utcnow()
    await record_audit(
        session=session,
        actor=f"agent:{agent_id}",
        action="agent.status",
        entity_type="agent",
        entity_id=str(agent_id),
        details={"status": status.value},
    )
    if status is not AgentStatus.OFFLINE:
        return []
    handoffs = (
        await session.scalars(
            select(Handoff)
            .where(Handoff.agent_id == agent_id, Handoff.status == HandoffStatus.ASSIGNED)
            .with_for_update()
        )
    ).all()
    for handoff in handoffs:
        handoff.status, handoff.agent_id, handoff.assigned_at = HandoffStatus.QUEUED, None, None
        await record_audit(
            session=session,
            actor=f"agent:{agent_id}",
            action="handoff.requeued",
            entity_type="handoff",
            entity_id=str(handoff.id),
            details={"reason": "agent went offline", "queue": handoff.queue},
        )
    return [h.id for h in handoffs]


async def agent_load(*, session: AsyncSession, agent_id: int) -> int:
    """How many conversations the agent has now."""
    count = await session.scalar(
        select(func.count())
        .select_from(Handoff)
        .where(Handoff.agent_id == agent_id, Handoff.status == HandoffStatus.ASSIGNED)
    )
    return int(count or 0)


async def agents_with_room(*, session: AsyncSession) -> list[Agent]:
    """Available agents below their capacity, least loaded first."""
    load = (
        select(func.count())
        .select_from(Handoff)
        .where(Handoff.agent_id == Agent.id, Handoff.status == HandoffStatus.ASSIGNED)
        .scalar_subquery()
    )
    rows = await session.scalars(
        select(Agent)
        .where(Agent.status == AgentStatus.AVAILABLE, load < Agent.capacity)
        .order_by(load, Agent.id)
    )
    return list(rows)


async def assign_next(
    *, session: AsyncSession, agent_id: int, queues: Sequence[str], now: datetime | None = None
) -> Handoff | None:
    """Give the agent the first waiting conversation of `queues` they have not declined.

    Safe with several app instances: the agent's row is locked (its capacity is checked by
    one transaction at a time) and the conversation is taken with SKIP LOCKED, so no
    conversation is assigned twice. On SQLite, transactions are serialised anyway.
    """
    agent = await session.scalar(select(Agent).where(Agent.id == agent_id).with_for_update())
    if agent is None or agent.status is not AgentStatus.AVAILABLE or not queues:
        return None
    if await agent_load(session=session, agent_id=agent_id) >= agent.capacity:
        return None
    declined = exists().where(
        HandoffDecline.handoff_id == Handoff.id, HandoffDecline.agent_id == agent_id
    )
    handoff = await session.scalar(
        select(Handoff)
        .where(Handoff.status == HandoffStatus.QUEUED, Handoff.queue.in_(queues), ~declined)
        .order_by(Handoff.priority_at, Handoff.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if handoff is None:
        return None
    handoff.status = HandoffStatus.ASSIGNED
    handoff.agent_id = agent_id
    handoff.assigned_at = now or utcnow()
    await record_audit(
        session=session,
        actor=f"agent:{agent_id}",
        action="handoff.assigned",
        entity_type="handoff",
        entity_id=str(handoff.id),
        details={"queue": handoff.queue},
    )
    return handoff


async def agent_by_email(*, session: AsyncSession, email: str) -> Agent | None:
    """An agent by sign-in email (case-insensitive)."""
    return await session.scalar(select(Agent).where(Agent.email == email.strip().lower()))


async def take_handoff(*, session: AsyncSession, handoff_id: int, agent_id: int) -> Handoff | None:
    """An agent picks a waiting conversation; None if it is gone or they have no room."""
    agent = await session.scalar(select(Agent).where(Agent.id == agent_id).with_for_update())
    if agent is None or await agent_load(session=session, agent_id=agent_id) >= agent.capacity:
        return None
    handoff = await session.scalar(
        select(Handoff)
        .where(Handoff.id == handoff_id, Handoff.status == HandoffStatus.QUEUED)
        .with_for_update(skip_locked=True)
    )
    if handoff is None:
        return None
    handoff.status, handoff.agent_id, handoff.assigned_at = (
        HandoffStatus.ASSIGNED,
        agent_id,
        utcnow(),
    )
    await record_audit(
        session=session,
        actor=f"agent:{agent_id}",
        action="handoff.taken",
        entity_type="handoff",
        entity_id=str(handoff_id),
    )
    return handoff


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


async def agent_with(*, session: AsyncSession, conversation_id: int) -> Agent | None:
    """The agent who has the conversation now, if anyone."""
    return await session.scalar(
        select(Agent)
        .join(Handoff, Handoff.agent_id == Agent.id)
        .where(
            Handoff.conversation_id == conversation_id,
            Handoff.status == HandoffStatus.ASSIGNED,
        )
        .limit(1)
    )


async def with_agent(*, session: AsyncSession, conversation_id: int) -> bool:
    """Whether an agent has the conversation now (the assistant then stays quiet)."""
    found = await session.scalar(
        select(Handoff.id).where(
            Handoff.conversation_id == conversation_id, Handoff.status == HandoffStatus.ASSIGNED
        )
    )
    return found is not None


async def record_notice(
    *, session: AsyncSession, conversation_id: int, text: str, payload: dict[str, Any]
) -> tuple[Message, ChannelIdentity]:
    """Store a message to the customer (from an agent, or a survey) on the channel they
    last wrote on; the message and where it goes."""
    latest = await _latest_inbound(session=session, conversation_id=conversation_id)
    if latest is None:
        raise HandoffNotYours(f"conversation {conversation_id} has no customer message to answer")
    reply = await record_outbound(session=session, reply_to=latest, text=text, payload=payload)
    return reply, await session.get_one(ChannelIdentity, latest.identity_id)


async def _latest_inbound(*, session: AsyncSession, conversation_id: int) -> Message | None:
    # The customer's last message: where anything we say to them now goes.
    return await session.scalar(
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.direction == Direction.INBOUND)
        .order_by(Message.id.desc())
        .limit(1)
    )


# Channels where a customer sees, live, that a person has joined; elsewhere (a text, an
# email) the agent's first reply says so without a message of its own.
LIVE_CHANNELS = frozenset({Channel.WEBCHAT})


async def announce_agent(
    *, session: AsyncSession, handoff_id: int, team: str
) -> tuple[Message, ChannelIdentity] | None:
    """Tell a customer on a live channel that the agent who now has it has joined; the
    notice and where it goes, or None (not assigned, or not a live channel)."""
    handoff = await session.get_one(Handoff, handoff_id)
    if handoff.status is not HandoffStatus.ASSIGNED or handoff.agent_id is None:
        return None
    latest = await _latest_inbound(session=session, conversation_id=handoff.conversation_id)
    if latest is None or latest.channel not in LIVE_CHANNELS:
        return None
    agent = await session.get_one(Agent, handoff.agent_id)
    notice = await record_outbound(
        session=session,
        reply_to=latest,
        text=f"{agent.display_name} from our {team} team has joined the conversation.",
        payload={
            "custom": {
                "notice": "agent_joined",
                "agent": {"id": agent.id, "name": agent.display_name},
            }
        },
    )
    return notice, await session.get_one(ChannelIdentity, latest.identity_id)


async def record_agent_reply(
    *, session: AsyncSession, handoff_id: int, agent_id: int, text: str
) -> tuple[Message, ChannelIdentity]:
    """Store an agent's reply, to go out on the channel the customer last wrote on."""
    handoff = await _owned_handoff(session=session, handoff_id=handoff_id, agent_id=agent_id)
    agent = await session.get_one(Agent, agent_id)
    reply, identity = await record_notice(
        session=session,
        conversation_id=handoff.conversation_id,
        text=text,
        payload={"custom": {"agent": {"id": agent.id, "name": agent.display_name}}},
    )
    await record_audit(
        session=session,
        actor=f"agent:{agent_id}",
        action="agent.replied",
        entity_type="handoff",
        entity_id=str(handoff_id),
        details={"message_id": reply.id},
    )
    return reply, identity


async def start_survey(*, session: AsyncSession, handoff_id: int) -> None:
    """The customer's next messages answer the satisfaction survey of this handoff."""
    handoff = await session.get_one(Handoff, handoff_id)
    handoff.survey_step = 0
    conversation = await session.get_one(Conversation, handoff.conversation_id)
    conversation.survey_handoff_id = handoff_id


async def answer_survey(
    *, session: AsyncSession, conversation_id: int, score: int, statements: int
) -> int | None:
    """Record the answer to the current statement; the next one, or None when done."""
    conversation = await session.get_one(Conversation, conversation_id)
    if conversation.survey_handoff_id is None:
        return None
    handoff = await session.get_one(Handoff, conversation.survey_handoff_id)
    step = handoff.survey_step or 0
    session.add(
        CsatResponse(
            handoff_id=handoff.id,
            conversation_id=conversation_id,
            agent_id=handoff.agent_id,
            statement=step,
            score=score,
        )
    )
    handoff.survey_step = step + 1
    if handoff.survey_step >= statements:
        conversation.survey_handoff_id = None
        return None
    return handoff.survey_step


async def end_survey(*, session: AsyncSession, conversation_id: int) -> None:
    """The customer moved on: no more survey questions."""
    conversation = await session.get_one(Conversation, conversation_id)
    conversation.survey_handoff_id = None


async def add_agent_note(
    *, session: AsyncSession, handoff_id: int, agent_id: int, text: str
) -> AgentNote:
    """An internal note on a conversation (customers never see it)."""
    note = AgentNote(handoff_id=handoff_id, agent_id=agent_id, text=text)
    session.add(note)
    await session.flush()
    await record_audit(
        session=session,
        actor=f"agent:{agent_id}",
        action="agent.noted",
        entity_type="handoff",
        entity_id=str(handoff_id),
        details={"note_id": note.id},
    )
    return note


async def notes_on(*, session: AsyncSession, conversation_id: int) -> list[tuple[AgentNote, str]]:
    """Every note on any handoff of the conversation, oldest first, with its author's name."""
    rows = await session.execute(
        select(AgentNote, Agent.display_name)
        .join(Handoff, AgentNote.handoff_id == Handoff.id)
        .join(Agent, AgentNote.agent_id == Agent.id)
        .where(Handoff.conversation_id == conversation_id)
        .order_by(AgentNote.id)
    )
    return [(note, name) for note, name in rows]


# Audited reads: an agent looking at customer data. They must not count as inbox changes, or
# a console that reloads on change and audits the reload would never stop reloading.
VIEW_ACTION_PREFIX = "agent.viewed_"


async def inbox_version(*, session: AsyncSession) -> tuple[int, int]:
    """Changes when any handoff changes or any message arrives: the console refreshes then.

    Every handoff change is audited, so the newest audit entry that is not a view marks it
    (read backwards along the primary key, so it costs only the views since the last
    change); other audited events only cause a harmless refresh.
    """
    latest_audit = await session.scalar(
        select(AuditEvent.id)
        .where(AuditEvent.action.not_like(f"{VIEW_ACTION_PREFIX}%"))
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    latest_message = await session.scalar(select(func.max(Message.id)))
    return int(latest_audit or 0), int(latest_message or 0)


async def _owned_handoff(*, session: AsyncSession, handoff_id: int, agent_id: int) -> Handoff:
    handoff = await session.scalar(
        select(Handoff).where(Handoff.id == handoff_id).with_for_update()
    )
    if (
        handoff is None
        or handoff.status is not HandoffStatus.ASSIGNED
        or (handoff.agent_id != agent_id)
    ):
        raise HandoffNotYours(f"conversation {handoff_id} is not assigned to agent {agent_id}")
    return handoff


async def decline_handoff(*, session: AsyncSession, handoff_id: int, agent_id: int) -> Handoff:
    """The agent passes: the conversation goes back to its queue, never offered to them again."""
    handoff = await _owned_handoff(session=session, handoff_id=handoff_id, agent_id=agent_id)
    handoff.status, handoff.agent_id, handoff.assigned_at = HandoffStatus.QUEUED, None, None
    session.add(HandoffDecline(handoff_id=handoff_id, agent_id=agent_id))
    await record_audit(
        session=session,
        actor=f"agent:{agent_id}",
        action="handoff.declined",
        entity_type="handoff",
        entity_id=str(handoff_id),
    )
    return handoff


class AgentUnavailable(ValueError):
    """A transfer to an agent who is offline or already has as many conversations as allowed."""


async def transfer_handoff(
    *,
    session: AsyncSession,
    handoff_id: int,
    agent_id: int,
    note: str,
    to_queue: str | None = None,
    to_agent_id: int | None = None,
) -> Handoff:
    """Pass the conversation to another queue (it waits there) or straight to an agent.

    An agent receiving it must be signed in (not offline), and have room for it; their row
    is locked like in assignment, so a transfer and a dispatch cannot both fill the last seat.
    """
    if (to_queue is None) == (to_agent_id is None):
        raise ValueError("transfer to a queue or to an agent")
    handoff = await _owned_handoff(session=session, handoff_id=handoff_id, agent_id=agent_id)
    handoff.note = note
    if to_agent_id is not None:
        await _check_can_receive(session=session, agent_id=to_agent_id, sender_id=agent_id)
        handoff.agent_id, handoff.assigned_at = to_agent_id, utcnow()
    else:
        assert to_queue is not None
        handoff.queue, handoff.status = to_queue, HandoffStatus.QUEUED
        handoff.agent_id, handoff.assigned_at = None, None
    await record_audit(
        session=session,
        actor=f"agent:{agent_id}",
        action="handoff.transferred",
        entity_type="handoff",
        entity_id=str(handoff_id),
        details={"to_queue": to_queue, "to_agent_id": to_agent_id, "note": note},
    )
    return handoff


async def _check_can_receive(*, session: AsyncSession, agent_id: int, sender_id: int) -> None:
    if agent_id == sender_id:
        raise ValueError("the conversation is already yours")
    target = await session.scalar(select(Agent).where(Agent.id == agent_id).with_for_update())
    if target is None:
        raise ValueError(f"no agent {agent_id}")
    if target.status is AgentStatus.OFFLINE:
        raise AgentUnavailable(f"{target.display_name} is offline")
    if await agent_load(session=session, agent_id=agent_id) >= target.capacity:
        raise AgentUnavailable(f"{target.display_name} has no room for another conversation")


async def resolve_handoff(*, session: AsyncSession, handoff_id: int, agent_id: int) -> Handoff:
    """The agent is done: the conversation goes back to the assistant."""
    handoff = await _owned_handoff(session=session, handoff_id=handoff_id, agent_id=agent_id)
    await _end_handoff(session=session, handoff=handoff, status=HandoffStatus.RESOLVED)
    await record_audit(
        session=session,
        actor=f"agent:{agent_id}",
        action="handoff.resolved",
        entity_type="handoff",
        entity_id=str(handoff_id),
    )
    return handoff


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
