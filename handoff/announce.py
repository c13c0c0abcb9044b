"""Telling customers what people are doing with their conversation: who has joined it, what
the agent replied, the survey's first question. Delivered on the customer's channel when
this process can deliver (the app); the action server stores nothing of this kind."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.db import Database
from bot.core.delivery import Deliveries
from bot.core.store.outbound import Notice
from handoff.models import Handoff
from handoff.queues import QueueDirectory
from handoff.store import notices


class Announcer:
    """Stores and delivers the notices that go with a change of a handoff."""

    def __init__(self, *, database: Database, queues: QueueDirectory, deliveries: Deliveries):
        self._database = database
        self._queues = queues
        self._deliveries = deliveries

    async def joined(self, handoff_ids: Sequence[int]) -> None:
        """Customers on a live channel see who has just joined their conversation."""
        for handoff_id in handoff_ids:
            async with self._database.session() as session:
                handoff = await session.get_one(Handoff, handoff_id)
                team = self._queues.get(handoff.queue).name
                notice = await notices.announce_agent(
                    session=session, handoff_id=handoff_id, team=team
                )
            if notice is not None:
                await self.deliver(notice)

    async def deliver(self, notice: Notice) -> bool:
        """Push a stored notice to the customer; whether their channel took it."""
        return await self._deliveries.deliver_notice(notice)
