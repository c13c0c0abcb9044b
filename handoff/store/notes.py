"""Internal notes on handed-over conversations, for agents only."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff.models import Agent, AgentNote, Handoff
from handoff.store.steps import audit_by_agent


async def add_agent_note(
    *, session: AsyncSession, handoff_id: int, agent_id: int, text: str
) -> AgentNote:
    """An internal note on a conversation (customers never see it)."""
    note = AgentNote(handoff_id=handoff_id, agent_id=agent_id, text=text)
    session.add(note)
    await session.flush()
    audit_by_agent(session, agent_id, "agent.noted", handoff_id, {"note_id": note.id})
    return note


async def notes_on(*, session: AsyncSession, conversation_id: int) -> list[tuple[AgentNote, str]]:
    """Every note on any handoff of the conversation, oldest first, with its author's name."""
    rows = await session.execute(
        select(AgentNote, Agent.display_name)
        .join(Handoff, AgentNote.handoff_id == Handoff.id)
        .join(Agent, AgentNote.agent_id == Agent.id)
        .where(Handoff.conversation_id == conversation_id)
        .order_by(AgentNote.id)
    )
    return [(note, name) for note, name in rows]
