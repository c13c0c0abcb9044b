"""What the agent who has a conversation can do with it: reply, decline, transfer, resolve."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.store import outbound
from handoff.models import Agent, AgentStatus, Handoff, HandoffDecline, HandoffStatus
from handoff.store.queue import end_handoff
from handoff.store.steps import (
    assign,
    audit_by_agent,
    has_room,
    locked_agent,
    locked_handoff,
    return_to_queue,
)


class HandoffNotYours(PermissionError):
    """An agent acted on a conversation someone else (or nobody) has."""


class AgentUnavailable(ValueError):
    """A transfer to an agent who is offline or already has as many conversations as allowed."""


async def owned_handoff(*, session: AsyncSession, handoff_id: int, agent_id: int) -> Handoff:
    """The handoff, locked, if the agent has it now; HandoffNotYours otherwise."""
    handoff = await locked_handoff(session=session, handoff_id=handoff_id)
    if (
        handoff is None
        or handoff.status is not HandoffStatus.ASSIGNED
        or (handoff.agent_id != agent_id)
    ):
        raise HandoffNotYours(f"conversation {handoff_id} is not assigned to agent {agent_id}")
    return handoff


async def record_agent_reply(
    *, session: AsyncSession, handoff_id: int, agent_id: int, text: str
) -> outbound.Notice:
    """Store an agent's reply, to go out on the channel the customer last wrote on."""
    handoff = await owned_handoff(session=session, handoff_id=handoff_id, agent_id=agent_id)
    agent = await session.get_one(Agent, agent_id)
    try:
        notice = await outbound.record_notice(
            session=session,
            conversation_id=handoff.conversation_id,
            text=text,
            payload={"custom": {"agent": {"id": agent.id, "name": agent.display_name}}},
        )
    except outbound.NothingToAnswer as error:
        raise HandoffNotYours(str(error)) from error
    audit_by_agent(
        session, agent_id, "agent.replied", handoff_id, {"message_id": notice.reply.message_id}
    )
    return notice


async def decline_handoff(*, session: AsyncSession, handoff_id: int, agent_id: int) -> Handoff:
    """The agent passes: the conversation goes back to its queue, never offered to them again."""
    handoff = await owned_handoff(session=session, handoff_id=handoff_id, agent_id=agent_id)
    return_to_queue(handoff)
    session.add(HandoffDecline(handoff_id=handoff_id, agent_id=agent_id))
    audit_by_agent(session, agent_id, "handoff.declined", handoff_id)
    return handoff


async def transfer_handoff(
    *,
    session: AsyncSession,
    handoff_id: int,
    agent_id: int,
    note: str,
    to_queue: str | None = None,
    to_agent_id: int | None = None,
) -> Handoff:
    """Pass the conversation to another queue (it waits there) or straight to an agent.

    An agent receiving it must be signed in (not offline), and have room for it; their row
    is locked like in assignment, so a transfer and a dispatch cannot both fill the last seat.
    """
    if (to_queue is None) == (to_agent_id is None):
        raise ValueError("transfer to a queue or to an agent")
    handoff = await owned_handoff(session=session, handoff_id=handoff_id, agent_id=agent_id)
    handoff.note = note
    if to_agent_id is not None:
        await _check_can_receive(session=session, agent_id=to_agent_id, sender_id=agent_id)
        assign(handoff, to_agent_id)
    elif to_queue is not None:
        handoff.queue = to_queue
        return_to_queue(handoff)
    audit_by_agent(
        session,
        agent_id,
        "handoff.transferred",
        handoff_id,
        {"to_queue": to_queue, "to_agent_id": to_agent_id, "note": note},
    )
    return handoff


async def _check_can_receive(*, session: AsyncSession, agent_id: int, sender_id: int) -> None:
    if agent_id == sender_id:
        raise ValueError("the conversation is already yours")
    target = await locked_agent(session=session, agent_id=agent_id)
    if target is None:
        raise ValueError(f"no agent {agent_id}")
    if target.status is AgentStatus.OFFLINE:
        raise AgentUnavailable(f"{target.display_name} is offline")
    if not await has_room(session=session, agent=target):
        raise AgentUnavailable(f"{target.display_name} has no room for another conversation")


async def resolve_handoff(*, session: AsyncSession, handoff_id: int, agent_id: int) -> Handoff:
    """The agent is done: the conversation goes back to the assistant."""
    handoff = await owned_handoff(session=session, handoff_id=handoff_id, agent_id=agent_id)
    await end_handoff(session=session, handoff=handoff, status=HandoffStatus.RESOLVED)
    audit_by_agent(session, agent_id, "handoff.resolved", handoff_id)
    return handoff
