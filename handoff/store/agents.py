"""Agents: accounts, passwords and sign-out (which revoke their tokens), presence (going
offline hands their conversations back), who is online and who has room."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Channel, utcnow
from bot.core.store import audit
from bot.core.store.customers import normalise_address
from handoff.models import Agent, AgentStatus, AgentStreamTicket, Handoff, HandoffStatus
from handoff.queues import QueueDirectory
from handoff.store.steps import audit_by_agent, load_of_each_agent, locked_agent, return_to_queue


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
    audit.record(
        session=session,
        actor="admin",
        action="agent.created",
        entity_type="agent",
        entity_id=str(agent.id),
        details={"skills": agent.skills, "capacity": capacity},
    )
    return agent


async def revoke_tokens(*, session: AsyncSession, agent_id: int, why: str) -> None:
    """Refuse every token and stream ticket the agent has (signing out, a new password):
    their generation is raised, in the database every app instance reads."""
    await session.execute(
        update(Agent)
        .where(Agent.id == agent_id)
        .values(token_generation=Agent.token_generation + 1)
    )
    await session.execute(delete(AgentStreamTicket).where(AgentStreamTicket.agent_id == agent_id))
    audit.record(
        session=session,
        actor=f"agent:{agent_id}" if why == "signed out" else "admin",
        action="agent.tokens_revoked",
        entity_type="agent",
        entity_id=str(agent_id),
        details={"why": why},
    )


async def set_password(*, session: AsyncSession, email: str, password_hash: str) -> Agent | None:
    """Give the agent with `email` a new password (None if there is none); their tokens
    stop working."""
    agent = await agent_by_email(session=session, email=email)
    if agent is None:
        return None
    agent.password_hash = password_hash
    await session.flush()
    await revoke_tokens(session=session, agent_id=agent.id, why="new password")
    return agent


async def token_generation(*, session: AsyncSession, agent_id: int) -> int | None:
    """The agent's current token generation (None if there is no such agent)."""
    return await session.scalar(select(Agent.token_generation).where(Agent.id == agent_id))


async def set_agent_status(
    *, session: AsyncSession, agent_id: int, status: AgentStatus
) -> list[int]:
    """An agent became available, busy, away or went offline.

    Going offline gives the agent's open conversations back to their queues (at their place
    in line), so nobody waits on someone who has left; the ids of those are returned.
    """
    agent = await locked_agent(session=session, agent_id=agent_id)
    if agent is None:
        raise LookupError(f"no agent {agent_id}")
    agent.status = status
    agent.last_seen_at = utcnow()
    audit.record(
        session=session,
        actor=f"agent:{agent_id}",
        action="agent.status",
        entity_type="agent",
        entity_id=str(agent_id),
        details={"status": status.value},
    )
    if status is not AgentStatus.OFFLINE:
        return []
    return await _requeue_all_of(session=session, agent_id=agent_id)


async def _requeue_all_of(*, session: AsyncSession, agent_id: int) -> list[int]:
    handoffs = (
        await session.scalars(
            select(Handoff)
            .where(Handoff.agent_id == agent_id, Handoff.status == HandoffStatus.ASSIGNED)
            .with_for_update()
        )
    ).all()
    for handoff in handoffs:
        return_to_queue(handoff)
        audit_by_agent(
            session,
            agent_id,
            "handoff.requeued",
            handoff.id,
            {"reason": "agent went offline", "queue": handoff.queue},
        )
    return [h.id for h in handoffs]


async def agents_with_room(*, session: AsyncSession) -> list[Agent]:
    """Available agents below their capacity, least loaded first."""
    load = load_of_each_agent()
    rows = await session.scalars(
        select(Agent)
        .where(Agent.status == AgentStatus.AVAILABLE, load < Agent.capacity)
        .order_by(load, Agent.id)
    )
    return list(rows)


async def agent_by_email(*, session: AsyncSession, email: str) -> Agent | None:
    """An agent by sign-in email (case-insensitive)."""
    return await session.scalar(select(Agent).where(Agent.email == email.strip().lower()))


async def agents_online(*, session: AsyncSession) -> list[tuple[Agent, int]]:
    """Agents signed in (not offline), with how many conversations each has, by name."""
    rows = await session.execute(
        select(Agent, load_of_each_agent())
        .where(Agent.status != AgentStatus.OFFLINE)
        .order_by(Agent.display_name, Agent.id)
    )
    return [(agent, int(count)) for agent, count in rows]


async def agents_serving(*, session: AsyncSession, queues: QueueDirectory, queue: str) -> int:
    """How many available agents have the skills for `queue`."""
    needed = queues.get(queue)
    agents = await session.scalars(select(Agent).where(Agent.status == AgentStatus.AVAILABLE))
    return sum(1 for agent in agents if needed.serves(agent.skills))
