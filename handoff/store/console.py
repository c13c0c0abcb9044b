"""What the agent console reads besides handoffs: a customer's earlier conversations and
who handled them, the files that came with messages, and the marker that changes whenever
the inbox may have."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Attachment, AuditEvent, Conversation, Message
from handoff.models import Agent, Handoff


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


@dataclass(frozen=True)
class FileAndHandoffs:
    """A file, and the handoffs of its customer's conversations (newest first): the
    transcripts it shows in, since a transcript spans all of the customer's conversations."""

    attachment: Attachment
    handoff_ids: list[int]


async def file_and_handoffs(*, session: AsyncSession, attachment_id: int) -> FileAndHandoffs | None:
    """The file `attachment_id` and the handoffs whose transcripts show it; None if there
    is no such file."""
    row = (
        await session.execute(
            select(Attachment, Conversation.customer_id)
            .join(Message, Message.id == Attachment.message_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Attachment.id == attachment_id)
        )
    ).first()
    if row is None:
        return None
    attachment, customer_id = row
    handoff_ids = await session.scalars(
        select(Handoff.id)
        .join(Conversation, Conversation.id == Handoff.conversation_id)
        .where(Conversation.customer_id == customer_id)
        .order_by(Handoff.id.desc())
    )
    return FileAndHandoffs(attachment, list(handoff_ids))


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
