"""Agents' presence, on SQLite and PostgreSQL: going offline hands their conversations back
(in their place in line); away keeps them."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.core.db import Database
from bot.core.models import AuditEvent
from handoff.models import AgentStatus
from handoff.routing import Router
from handoff.store import agents, steps
from tests.support.handoff import QUEUES, new_agent, queued, take_next, taken_in_order


async def test_going_offline_gives_conversations_back_in_their_place(database: Database) -> None:
    older = await queued(database, minutes_ago=10)
    newer = await queued(database, minutes_ago=5)
    later = await queued(database, minutes_ago=1)
    leaving = await new_agent(database, capacity=2)
    router = Router(database=database, queues=QUEUES)
    assert {a.handoff_id for a in await router.dispatch()} == {older, newer}
    async with database.session() as session:
        requeued = await agents.set_agent_status(
            session=session, agent_id=leaving, status=AgentStatus.OFFLINE
        )
        assert sorted(requeued) == [older, newer]
        assert await steps.agent_load(session=session, agent_id=leaving) == 0
        audited = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "handoff.requeued")
        )
    assert audited == 2
    # Back at the front of the line, ahead of the one queued after them.
    assert await taken_in_order(database, await new_agent(database, capacity=1), 3) == [
        older,
        newer,
        later,
    ]
    # Away (a short break) keeps what the agent has.
    kept = await new_agent(database, capacity=1)
    await queued(database)
    assert await take_next(database, QUEUES, kept, []) is not None
    async with database.session() as session:
        assert (
            await agents.set_agent_status(session=session, agent_id=kept, status=AgentStatus.AWAY)
            == []
        )
        assert await steps.agent_load(session=session, agent_id=kept) == 1
