"""Giving waiting conversations to agents, on SQLite and PostgreSQL: the order they are
taken in (VIPs, complaint priority, unhappiness, then waiting time), and taking one while
the NLP analysis updates it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.models import Priority
from handoff.models import Handoff, HandoffStatus
from handoff.store import assignment
from handoff.store.insights import reprioritise
from tests.support.handoff import new_agent, queued, taken_in_order


async def test_vips_then_priority_and_unhappiness_then_waiting_time(database: Database) -> None:
    regular_old = await queued(database, minutes_ago=25)
    regular_new = await queued(database, minutes_ago=1)
    vip = await queued(database, minutes_ago=0, vip=True)
    urgent = await queued(database, minutes_ago=0, complaint_priority=Priority.URGENT)
    unhappy = await queued(database, minutes_ago=0, sentiment=-0.9)
    starving = await queued(database, minutes_ago=90)  # waited longer than any bonus
    agent = await new_agent(database, capacity=1)
    assert await taken_in_order(database, agent, 6) == [
        starving,
        vip,
        regular_old,
        urgent,
        unhappy,
        regular_new,
    ]


def _postgresql_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the race is about PostgreSQL row locks; SQLite serialises writers")


async def _take(database: Database, handoff_id: int, agent_id: int) -> Handoff | None:
    async with database.session() as session:
        return await assignment.take_handoff(
            session=session, handoff_id=handoff_id, agent_id=agent_id
        )


@pytest.mark.postgres
async def test_taking_a_conversation_while_the_analysis_updates_it_waits_then_takes_it(
    database: Database, database_url: str
) -> None:
    _postgresql_only(database_url)
    handoff_id = await queued(database)
    agent = await new_agent(database, capacity=1)
    async with database.session() as session:
        conversation_id = (await session.get_one(Handoff, handoff_id)).conversation_id
    async with database.session() as analysis:
        # The NLP analysis holds the row (its transaction is still open) as the agent clicks.
        await reprioritise(session=analysis, conversation_id=conversation_id, sentiment_score=-0.9)
        taking = asyncio.create_task(_take(database, handoff_id, agent))
        await asyncio.sleep(0.5)
        assert not taking.done()  # waiting for the lock, not told "someone else has it"
    taken = await taking
    assert taken is not None and taken.agent_id == agent
    async with database.session() as session:
        handoff = await session.get_one(Handoff, handoff_id)
    assert (handoff.status, handoff.sentiment_score) == (HandoffStatus.ASSIGNED, -0.9)


@pytest.mark.postgres
async def test_an_analysis_arriving_after_an_agent_took_the_conversation_leaves_it_alone(
    database: Database, database_url: str
) -> None:
    _postgresql_only(database_url)
    handoff_id = await queued(database, queue="support.general")
    agent = await new_agent(database, capacity=1)
    async with database.session() as analysis:
        # The analysis read the handoff while it was waiting...
        seen = await session_handoff(analysis, handoff_id)
        assert seen.status is HandoffStatus.QUEUED
        # ...then an agent took it, before the analysis wrote its result.
        assert await _take(database, handoff_id, agent) is not None
        moved = await reprioritise(
            session=analysis,
            conversation_id=seen.conversation_id,
            sentiment_score=-0.9,
            queue="support.billing",
        )
    assert moved is None
    async with database.session() as session:
        handoff = await session.get_one(Handoff, handoff_id)
    assert (handoff.status, handoff.queue, handoff.agent_id) == (
        HandoffStatus.ASSIGNED,
        "support.general",
        agent,
    )


async def session_handoff(session: AsyncSession, handoff_id: int) -> Handoff:
    """The handoff as `session` sees it now (kept in its identity map)."""
    return await session.get_one(Handoff, handoff_id)
