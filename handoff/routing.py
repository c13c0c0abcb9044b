"""Routing conversations to people: which queue, which agent, in which order.

Every assignment is its own short transaction (see `store.assign_next`), so any number of
app instances can dispatch at once without assigning a conversation twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import store
from bot.db import Database
from bot.models import Handoff
from handoff.queues import QueueDirectory


@dataclass(frozen=True)
class Assignment:
    """A conversation given to an agent."""

    handoff_id: int
    agent_id: int
    queue: str


class Router:
    """Matches waiting conversations with available agents who have the skills."""

    def __init__(self, *, database: Database, queues: QueueDirectory) -> None:
        self._database = database
        self._queues = queues

    async def dispatch(self) -> list[Assignment]:
        """Assign waiting conversations to agents with room, best first, until none fits."""
        async with self._database.session() as session:
            agents = [(a.id, list(a.skills)) for a in await store.agents_with_room(session=session)]
        assigned: list[Assignment] = []
        for agent_id, skills in agents:
            queues = self._queues.served_by(skills)
            while (handoff := await self._assign_one(agent_id, queues)) is not None:
                assigned.append(Assignment(handoff.id, agent_id, handoff.queue))
        return assigned

    async def take_next(self, agent_id: int, skills: list[str]) -> Handoff | None:
        """An agent picks the next conversation themselves."""
        return await self._assign_one(agent_id, self._queues.served_by(skills))

    async def _assign_one(self, agent_id: int, queues: list[str]) -> Handoff | None:
        async with self._database.session() as session:
            return await store.assign_next(session=session, agent_id=agent_id, queues=queues)
