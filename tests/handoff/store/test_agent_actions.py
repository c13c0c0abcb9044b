"""What the agent who has a conversation does with it, on SQLite and PostgreSQL: decline,
transfer (to a queue or a colleague) and resolve."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.models import AuditEvent, Conversation, ConversationStatus
from handoff.models import AgentStatus, HandoffStatus
from handoff.store import agent_actions, assignment
from tests.support.handoff import QUEUES, new_agent, queued, take_next


async def _audited_actions(session: AsyncSession, handoff_id: int) -> list[str]:
    rows = await session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.entity_id == str(handoff_id), AuditEvent.entity_type == "handoff")
        .order_by(AuditEvent.id)
    )
    return list(rows)


async def test_decline_transfer_and_resolve(database: Database) -> None:
    handoff_id = await queued(database, queue="support.general")
    first = await new_agent(database)
    second = await new_agent(database, "billing")
    taken = await take_next(database, QUEUES, first, [])
    assert taken is not None and taken.id == handoff_id
    with pytest.raises(agent_actions.HandoffNotYours):
        async with database.session() as session:
            await agent_actions.resolve_handoff(
                session=session, handoff_id=handoff_id, agent_id=second
            )
    async with database.session() as session:
        await agent_actions.decline_handoff(session=session, handoff_id=handoff_id, agent_id=first)
    # Declined: never offered to the same agent again, but to the next one.
    assert await take_next(database, QUEUES, first, []) is None
    assert (await take_next(database, QUEUES, second, ["billing"])) is not None
    async with database.session() as session:
        moved = await agent_actions.transfer_handoff(
            session=session,
            handoff_id=handoff_id,
            agent_id=second,
            note="needs billing",
            to_queue="accounts.billing",
        )
        assert (moved.status, moved.queue, moved.agent_id) == (
            HandoffStatus.QUEUED,
            "accounts.billing",
            None,
        )
    assert (await take_next(database, QUEUES, second, ["billing"])) is not None
    async with database.session() as session:
        done = await agent_actions.resolve_handoff(
            session=session, handoff_id=handoff_id, agent_id=second
        )
        conversation = await session.get_one(Conversation, done.conversation_id)
        actions = await _audited_actions(session, handoff_id)
    assert conversation.status is ConversationStatus.ACTIVE
    assert actions == [
        "handoff.assigned",
        "handoff.declined",
        "handoff.assigned",
        "handoff.transferred",
        "handoff.assigned",
        "handoff.resolved",
    ]


async def _transfer_to(database: Database, handoff_id: int, sender: int, target: int) -> None:
    async with database.session() as session:
        await agent_actions.transfer_handoff(
            session=session, handoff_id=handoff_id, agent_id=sender, note="", to_agent_id=target
        )


async def test_a_transfer_to_a_colleague_needs_them_signed_in_with_room(
    database: Database,
) -> None:
    handoff_id = await queued(database)
    sender = await new_agent(database)
    offline = await new_agent(database, status=AgentStatus.OFFLINE)
    full = await new_agent(database, capacity=1, status=AgentStatus.BUSY)
    busy_with_room = await new_agent(database, capacity=2, status=AgentStatus.BUSY)
    assert (await take_next(database, QUEUES, sender, [])) is not None
    async with database.session() as session:
        await assignment.take_handoff(
            session=session, handoff_id=await queued(database), agent_id=full
        )
    for target, problem in ((offline, "is offline"), (full, "has no room")):
        with pytest.raises(agent_actions.AgentUnavailable, match=problem):
            await _transfer_to(database, handoff_id, sender, target)
    with pytest.raises(ValueError, match="already yours"):
        await _transfer_to(database, handoff_id, sender, sender)
    async with database.session() as session:
        moved = await agent_actions.transfer_handoff(
            session=session,
            handoff_id=handoff_id,
            agent_id=sender,
            note="you know this customer",
            to_agent_id=busy_with_room,
        )
        assert (moved.status, moved.agent_id) == (HandoffStatus.ASSIGNED, busy_with_room)
