"""Telling a customer on a live channel that the agent who now has their conversation has
joined it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Channel
from bot.core.store import outbound
from bot.core.texts import Text, say
from handoff.models import Agent, Handoff, HandoffStatus

# Channels where a customer sees, live, that a person has joined; elsewhere (a text, an
# email) the agent's first reply says so without a message of its own.
LIVE_CHANNELS = frozenset({Channel.WEBCHAT})


async def announce_agent(
    *, session: AsyncSession, handoff_id: int, team: str
) -> outbound.Notice | None:
    """The "has joined" notice stored for the customer, or None (not assigned, or the
    customer is not on a live channel)."""
    handoff = await session.get_one(Handoff, handoff_id)
    if handoff.status is not HandoffStatus.ASSIGNED or handoff.agent_id is None:
        return None
    agent = await session.get_one(Agent, handoff.agent_id)
    try:
        return await outbound.record_notice(
            session=session,
            conversation_id=handoff.conversation_id,
            text=say(Text.AGENT_JOINED, agent=agent.display_name, team=team),
            payload={
                "custom": {
                    "notice": "agent_joined",
                    "agent": {"id": agent.id, "name": agent.display_name},
                }
            },
            only_on=LIVE_CHANNELS,
        )
    except outbound.NothingToAnswer:
        return None
