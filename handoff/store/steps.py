"""The steps every handoff change is made of: lock an agent's row, count their load, give a
handoff to an agent or put it back in its queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import utcnow
from bot.core.store import audit
from handoff.models import Agent, Handoff, HandoffStatus


async def locked_agent(*, session: AsyncSession, agent_id: int) -> Agent | None:
    """The agent's row, locked until the transaction ends: one capacity check at a time."""
    return await session.scalar(
        select(Agent)
        .where(Agent.id == agent_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def load_of_each_agent() -> ScalarSelect[int]:
    """How many conversations `Agent` has now, as a correlated subquery."""
    return (
        select(func.count())
        .select_from(Handoff)
        .where(Handoff.agent_id == Agent.id, Handoff.status == HandoffStatus.ASSIGNED)
        .scalar_subquery()
    )


async def agent_load(*, session: AsyncSession, agent_id: int) -> int:
    """How many conversations the agent has now."""
    count = await session.scalar(
        select(func.count())
        .select_from(Handoff)
        .where(Handoff.agent_id == agent_id, Handoff.status == HandoffStatus.ASSIGNED)
    )
    return int(count or 0)


async def has_room(*, session: AsyncSession, agent: Agent) -> bool:
    """Whether the agent can take one more conversation."""
    return await agent_load(session=session, agent_id=agent.id) < agent.capacity


def assign(handoff: Handoff, agent_id: int, *, at: datetime | None = None) -> None:
    """Give the handoff to the agent."""
    handoff.status, handoff.agent_id = HandoffStatus.ASSIGNED, agent_id
    handoff.assigned_at = at or utcnow()


def return_to_queue(handoff: Handoff) -> None:
    """Put the handoff back in its queue (at its old place in line)."""
    handoff.status, handoff.agent_id, handoff.assigned_at = HandoffStatus.QUEUED, None, None


def audit_by_agent(
    session: AsyncSession,
    agent_id: int,
    action: str,
    handoff_id: int,
    details: dict[str, Any] | None = None,
) -> None:
    """Audit what an agent did to a handoff."""
    audit.record(
        session=session,
        actor=f"agent:{agent_id}",
        action=action,
        entity_type="handoff",
        entity_id=str(handoff_id),
        details=details,
    )


async def locked_handoff(*, session: AsyncSession, handoff_id: int) -> Handoff | None:
    """The handoff's row, locked until the transaction ends."""
    # populate_existing: a handoff this session loaded before is read again under the lock.
    return await session.scalar(
        select(Handoff)
        .where(Handoff.id == handoff_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
