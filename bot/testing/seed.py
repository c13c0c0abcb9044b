"""Data tests and benchmarks put straight into the store, written as the assistant or an
admin writes it: a customer waiting in a queue for a person, an agent on duty."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Channel
from bot.core.store.inbound import record_inbound
from handoff.models import AgentStatus, Handoff
from handoff.store.agents import create_agent, set_agent_status
from handoff.store.queue import HandoffRequest, enqueue_handoff

# A conversation this quiet for longer is over; seeded ones stay open for the run.
IDLE_AFTER = timedelta(hours=1)


async def waiting_customer(
    session: AsyncSession,
    *,
    address: str,
    queue: str,
    text: str,
    external_id: str,
    channel: Channel = Channel.SMS,
) -> Handoff:
    """A customer's message and its handoff to `queue`, as the assistant stores them when
    someone asks for a person (in the caller's transaction)."""
    stored = await record_inbound(
        session=session,
        channel=channel,
        address=address,
        text=text,
        external_id=external_id,
        idle_after=IDLE_AFTER,
    )
    return await enqueue_handoff(
        session=session,
        conversation_id=stored.conversation.id,
        request=HandoffRequest(queue=queue, reason="request_human"),
    )


async def agent_on_duty(
    session: AsyncSession,
    *,
    email: str,
    display_name: str,
    skills: Sequence[str],
    capacity: int,
    phone: str | None = None,
) -> int:
    """A new agent who is available now (no password to sign in with); their id."""
    agent = await create_agent(
        session=session,
        email=email,
        display_name=display_name,
        password_hash="x",
        skills=skills,
        capacity=capacity,
        phone=phone,
    )
    await set_agent_status(session=session, agent_id=agent.id, status=AgentStatus.AVAILABLE)
    return agent.id
