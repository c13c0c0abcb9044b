"""Agents in end-to-end tests: signing off without leaving work behind for other tests."""

from __future__ import annotations

from sqlalchemy import select

from bot.core.db import Database
from handoff.models import AgentStatus, Handoff, HandoffStatus
from handoff.store import agent_actions, agents


async def sign_off(db: Database, agent_id: int) -> None:
    """The agent finishes what they have and goes offline.

    Going offline alone would hand their conversations back to the queue, where the next
    test would meet them.
    """
    async with db.session() as session:
        assigned = await session.scalars(
            select(Handoff.id).where(
                Handoff.agent_id == agent_id, Handoff.status == HandoffStatus.ASSIGNED
            )
        )
        for handoff_id in list(assigned):
            await agent_actions.resolve_handoff(
                session=session, handoff_id=handoff_id, agent_id=agent_id
            )
        await agents.set_agent_status(
            session=session, agent_id=agent_id, status=AgentStatus.OFFLINE
        )
