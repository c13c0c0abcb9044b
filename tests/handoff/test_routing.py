"""Routing to people on SQLite and PostgreSQL: skills, capacity and status decide who gets
what, and two app instances dispatching at once never assign a conversation twice."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import AuditEvent
from handoff.models import AgentStatus, Handoff, HandoffStatus
from handoff.routing import Assignment, Router
from handoff.store import steps
from tests.support.handoff import QUEUES, new_agent, queued


async def test_skills_capacity_and_status_decide_who_gets_what(database: Database) -> None:
    billing = [await queued(database, queue="accounts.billing") for _ in range(3)]
    general = await queued(database, queue="support.general")
    no_skills = await new_agent(database, capacity=5)
    billing_agent = await new_agent(database, "billing", capacity=2)
    away = await new_agent(database, "billing", capacity=5, status=AgentStatus.AWAY)
    assignments = await Router(database=database, queues=QUEUES).dispatch()
    got = {(a.agent_id, a.handoff_id) for a in assignments}
    assert got == {(no_skills, general), (billing_agent, billing[0]), (billing_agent, billing[1])}
    assert all(a.agent_id != away for a in assignments)
    async with database.session() as session:
        assert await steps.agent_load(session=session, agent_id=billing_agent) == 2
        still_waiting = await session.get_one(Handoff, billing[2])
    assert still_waiting.status is HandoffStatus.QUEUED


async def _dispatch_from_two_instances(database_url: str) -> list[Assignment]:
    # Two app instances: separate engines and connection pools, dispatching at once.
    instances = [Database(database_url), Database(database_url)]
    try:
        routers = [Router(database=db, queues=QUEUES) for db in instances]
        results = await asyncio.gather(*(routers[i % 2].dispatch() for i in range(8)))
    finally:
        for db in instances:
            await db.dispose()
    return [a for result in results for a in result]


async def _audited_assignments(database_url: str) -> Counter[str]:
    check = Database(database_url)
    try:
        async with check.session() as session:
            return Counter(
                await session.scalars(
                    select(AuditEvent.entity_id).where(AuditEvent.action == "handoff.assigned")
                )
            )
    finally:
        await check.dispose()


@pytest.mark.postgres
async def test_two_instances_never_assign_a_conversation_twice(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the race is about PostgreSQL row locks; SQLite serialises writers")
    setup = Database(database_url)
    waiting = [await queued(setup, minutes_ago=i % 7) for i in range(50)]
    agents = [await new_agent(setup, capacity=4) for _ in range(10)]
    await setup.dispose()
    assignments = await _dispatch_from_two_instances(database_url)
    per_handoff = Counter(a.handoff_id for a in assignments)
    per_agent = Counter(a.agent_id for a in assignments)
    assert len(assignments) == 40  # 10 agents x 4, no more
    assert max(per_handoff.values()) == 1
    assert set(per_agent) == set(agents) and max(per_agent.values()) == 4
    assigned = await _audited_assignments(database_url)
    assert len(assigned) == 40 and max(assigned.values()) == 1
    assert set(per_handoff) <= set(waiting)
