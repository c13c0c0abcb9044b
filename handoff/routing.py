"""Routing conversations to people: which agent, in which order, and who is told.

Every assignment is its own short transaction (see `store.assignment.assign_next`), so any
number of app instances can dispatch at once without assigning a conversation twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.db import Database
from handoff.announce import Announcer
from handoff.models import Handoff
from handoff.queues import QueueDirectory
from handoff.store import agents, assignment


@dataclass(frozen=True)
class Assignment:
    """A conversation given to an agent."""

    handoff_id: int
    agent_id: int
    queue: str


class Router:
    """Matches waiting conversations with available agents who have the skills.

    With an `announcer` (in the app), each customer whose conversation was assigned is
    told who has joined; the action server has none and leaves that to the app.
    """

    def __init__(
        self, *, database: Database, queues: QueueDirectory, announcer: Announcer | None = None
    ) -> None:
        self._database = database
        self._queues = queues
        self._announcer = announcer

    async def dispatch(self) -> list[Assignment]:
        """Assign waiting conversations to agents with room, best first, until none fits."""
        async with self._database.session() as session:
            with_room = await agents.agents_with_room(session=session)
            candidates = [(a.id, list(a.skills)) for a in with_room]
        assigned: list[Assignment] = []
        for agent_id, skills in candidates:
            queues = self._queues.served_by(skills)
            while (handoff := await self._assign_one(agent_id, queues)) is not None:
                assigned.append(Assignment(handoff.id, agent_id, handoff.queue))
        await self.announce([a.handoff_id for a in assigned])
        return assigned

    async def announce(self, handoff_ids: list[int]) -> None:
        """Tell the customers of these just-assigned conversations who has joined."""
        if self._announcer is not None and handoff_ids:
            await self._announcer.joined(handoff_ids)

    async def _assign_one(self, agent_id: int, queues: list[str]) -> Handoff | None:
        async with self._database.session() as session:
            return await assignment.assign_next(session=session, agent_id=agent_id, queues=queues)
