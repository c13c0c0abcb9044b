"""Conversations: the customer's current one on any channel, an email thread's, or the one
Rasa knows by a sender id."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Delivery,
    Direction,
    Message,
    utcnow,
)


def new_conversation_public_id() -> str:
    """An unguessable public id; it is also the conversation's Rasa sender id."""
    return f"conv-{uuid.uuid4().hex}"


async def start_conversation(
    *, session: AsyncSession, customer_id: int, channel: Channel, public_id: str | None = None
) -> Conversation:
    """A new conversation of the customer, started now on `channel`."""
    now = utcnow()
    conversation = Conversation(
        public_id=public_id or new_conversation_public_id(),
        customer_id=customer_id,
        started_channel=channel,
        started_at=now,
        last_activity_at=now,
    )
    session.add(conversation)
    await session.flush()
    return conversation


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
        return await start_conversation(session=session, customer_id=customer_id, channel=channel)
    conversation.last_activity_at = now
    return conversation


async def conversation_by_public_id(
    *, session: AsyncSession, public_id: str
) -> Conversation | None:
    """A conversation by the id Rasa knows it under."""
    return await session.scalar(select(Conversation).where(Conversation.public_id == public_id))


async def thread_conversation(
    *,
    session: AsyncSession,
    identity: ChannelIdentity,
    channel: Channel,
    thread_refs: Sequence[str],
) -> Conversation:
    """The conversation of the thread a message answers, or a new one: a thread belongs to
    the customer who started it, anyone else quoting it starts their own."""
    conversation = await _conversation_for_thread(
        session=session, channel=channel, thread_refs=thread_refs
    )
    if conversation is not None and conversation.customer_id == identity.customer_id:
        conversation.last_activity_at = utcnow()
        return conversation
    return await start_conversation(
        session=session, customer_id=identity.customer_id, channel=channel
    )


async def _conversation_for_thread(
    *, session: AsyncSession, channel: Channel, thread_refs: Sequence[str]
) -> Conversation | None:
    # The conversation of the newest message (ours or the customer's) among the refs.
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


async def latest_address(*, session: AsyncSession, conversation_id: int) -> str | None:
    """The address (phone number, email, visitor id) the customer last wrote from."""
    return await session.scalar(
        select(ChannelIdentity.address)
        .join(Message, Message.identity_id == ChannelIdentity.id)
        .where(Message.conversation_id == conversation_id, Message.direction == Direction.INBOUND)
        .order_by(Message.id.desc())
        .limit(1)
    )
