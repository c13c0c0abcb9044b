"""Giving waiting conversations to agents, on SQLite and PostgreSQL: the order they are
taken in (VIPs, complaint priority, unhappiness, then waiting time)."""

from __future__ import annotations

from bot.core.db import Database
from bot.core.models import Priority
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
