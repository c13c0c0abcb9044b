"""Handoff test data: customers' conversations waiting for people, agents, and an agent
taking the next waiting conversation themselves (what the removed `Router.take_next` did)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.models import Channel, Conversation, Priority, utcnow
from bot.core.store import complaints, customers, inbound
from handoff.models import AgentStatus, Handoff
from handoff.queues import QueueDirectory, load_queues
from handoff.store import agent_actions, agents, assignment
from handoff.store.queue import HandoffRequest, enqueue_handoff

# The shipped queues file (what the app routes with).
QUEUES = load_queues()
IDLE_AFTER = timedelta(hours=1)
_numbers = itertools.count(1000)


def unique_number() -> int:
    """A number no other call in this test run returned (for phone numbers, emails)."""
    return next(_numbers)


async def new_conversation(db: Database, *, vip: bool = False) -> int:
    """A new customer (a VIP if asked) who sent one SMS; their conversation's id."""
    number = f"+1415555{unique_number():04d}"
    async with db.session() as session:
        if vip:
            await customers.upsert_customer(session=session, phone=number, is_vip=True)
        stored = await inbound.record_inbound(
            session=session,
            channel=Channel.SMS,
            address=number,
            text="I need a person",
            external_id=f"SM{number}",
            idle_after=IDLE_AFTER,
        )
        return stored.conversation.id


async def queued(
    db: Database,
    *,
    queue: str = "support.general",
    minutes_ago: float = 0,
    vip: bool = False,
    complaint_priority: Priority | None = None,
    sentiment: float | None = None,
) -> int:
    """A new conversation waiting in `queue` since `minutes_ago`; the handoff's id.

    With `complaint_priority`, the customer filed a complaint of that priority first.
    """
    conversation_id = await new_conversation(db, vip=vip)
    async with db.session() as session:
        complaint_id = None
        if complaint_priority is not None:
            complaint_id = await _complaint(session, conversation_id, complaint_priority)
        handoff = await enqueue_handoff(
            session=session,
            conversation_id=conversation_id,
            request=HandoffRequest(
                queue=queue,
                reason="request_human",
                complaint_id=complaint_id,
                sentiment_score=sentiment,
            ),
            now=utcnow() - timedelta(minutes=minutes_ago),
        )
        return handoff.id


async def _complaint(session: AsyncSession, conversation_id: int, priority: Priority) -> int:
    owner = await session.get_one(Conversation, conversation_id)
    complaint = await complaints.open_complaint(
        session=session,
        customer_id=owner.customer_id,
        conversation_id=conversation_id,
        channel=Channel.SMS,
        category="damaged_item",
        description="broken",
        priority=priority,
    )
    return complaint.id


async def new_agent(
    db: Database, *skills: str, capacity: int = 3, status: AgentStatus = AgentStatus.AVAILABLE
) -> int:
    """A new agent named "Agent" with `skills`, in `status`; their id."""
    async with db.session() as session:
        created = await agents.create_agent(
            session=session,
            email=f"agent{unique_number()}@shop.example",
            display_name="Agent",
            password_hash="x",
            skills=skills,
            capacity=capacity,
        )
        await agents.set_agent_status(session=session, agent_id=created.id, status=status)
        return created.id


async def take_next(
    db: Database, queues: QueueDirectory, agent_id: int, skills: Sequence[str]
) -> Handoff | None:
    """The agent takes the next conversation of the queues their `skills` serve, in its own
    transaction (like one step of `Router.dispatch`); None if nothing is for them."""
    async with db.session() as session:
        return await assignment.assign_next(
            session=session, agent_id=agent_id, queues=queues.served_by(skills)
        )


async def taken_in_order(db: Database, agent_id: int, count: int) -> list[int]:
    """The agent (with no skills) takes and resolves `count` conversations; their ids in
    the order they came."""
    taken = []
    for _ in range(count):
        handoff = await take_next(db, QUEUES, agent_id, [])
        assert handoff is not None
        taken.append(handoff.id)
        async with db.session() as session:
            await agent_actions.resolve_handoff(
                session=session, handoff_id=handoff.id, agent_id=agent_id
            )
    return taken
