"""Giving waiting conversations to agents (automatically or when they take one), and who
has a conversation now."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff.models import Agent, AgentStatus, Handoff, HandoffDecline, HandoffStatus
from handoff.store.steps import assign, audit_by_agent, has_room, locked_agent


async def assign_next(
    *, session: AsyncSession, agent_id: int, queues: Sequence[str], now: datetime | None = None
) -> Handoff | None:
    """Give the agent the first waiting conversation of `queues` they have not declined.

    Safe with several app instances: the agent's row is locked (its capacity is checked by
    one transaction at a time) and the conversation is taken with SKIP LOCKED, so no
    conversation is assigned twice. On SQLite, transactions are serialised anyway.
    """
    agent = await locked_agent(session=session, agent_id=agent_id)
    if agent is None or agent.status is not AgentStatus.AVAILABLE or not queues:
        return None
    if not await has_room(session=session, agent=agent):
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
    assign(handoff, agent_id, at=now)
    audit_by_agent(session, agent_id, "handoff.assigned", handoff.id, {"queue": handoff.queue})
    return handoff


async def take_handoff(*, session: AsyncSession, handoff_id: int, agent_id: int) -> Handoff | None:
    """An agent picks a waiting conversation; None if it is gone or they have no room."""
    agent = await locked_agent(session=session, agent_id=agent_id)
    if agent is None or not await has_room(session=session, agent=agent):
        return None
    # Waits for a moment if another transaction holds the row (the NLP analysis updating
    # its priority): skipping it would tell the agent it is gone when it is not. Once the
    # lock is free the status is read again, so a conversation another agent took meanwhile
    # is still refused.
    handoff = await session.scalar(
        select(Handoff)
        .where(Handoff.id == handoff_id, Handoff.status == HandoffStatus.QUEUED)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if handoff is None:
        return None
    assign(handoff, agent_id)
    audit_by_agent(session, agent_id, "handoff.taken", handoff_id)
    return handoff


async def with_agent(*, session: AsyncSession, conversation_id: int) -> bool:
    """Whether an agent has the conversation now (the assistant then stays quiet)."""
    found = await session.scalar(
        select(Handoff.id).where(
            Handoff.conversation_id == conversation_id, Handoff.status == HandoffStatus.ASSIGNED
        )
    )
    return found is not None


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
