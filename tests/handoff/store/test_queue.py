"""Conversations waiting for people, on SQLite and PostgreSQL: their place in line, queued
once, abandoned by a caller who hung up, or turned into a call back."""

from __future__ import annotations

from bot.core.db import Database
from bot.core.models import Conversation, ConversationStatus
from handoff.models import Handoff, HandoffKind, HandoffStatus
from handoff.store import queue
from handoff.store.queue import HandoffRequest
from tests.support.handoff import new_conversation, queued


async def test_position_in_queue(database: Database) -> None:
    first = await queued(database, queue="sales.orders", minutes_ago=5)
    second = await queued(database, queue="sales.orders", minutes_ago=1)
    other_queue = await queued(database, queue="accounts.billing", minutes_ago=9)
    async with database.session() as session:
        positions = [
            await queue.queue_position(session=session, handoff=await session.get_one(Handoff, h))
            for h in (first, second, other_queue)
        ]
    assert positions == [1, 2, 1]


async def test_a_conversation_is_queued_once(database: Database) -> None:
    conversation_id = await new_conversation(database)
    async with database.session() as session:
        first = await queue.enqueue_handoff(
            session=session,
            conversation_id=conversation_id,
            request=HandoffRequest(queue="support.general", reason="a"),
        )
    async with database.session() as session:
        again = await queue.enqueue_handoff(
            session=session,
            conversation_id=conversation_id,
            request=HandoffRequest(queue="sales.orders", reason="b"),
        )
        conversation = await session.get_one(Conversation, conversation_id)
    assert again.id == first.id and again.queue == "support.general"
    assert conversation.status is ConversationStatus.AWAITING_AGENT


async def test_a_caller_hanging_up_on_hold_abandons_and_a_timeout_becomes_a_call_back(
    database: Database,
) -> None:
    abandoned = await queued(database)
    held = await queued(database)
    async with database.session() as session:
        assert await queue.abandon_handoff(
            session=session, handoff_id=abandoned, reason="caller hung up after 42 s on hold"
        )
        # Only a waiting conversation can be abandoned, and only once.
        assert not await queue.abandon_handoff(session=session, handoff_id=abandoned, reason="")
        handoff = await session.get_one(Handoff, held)
        queue.call_back_instead(
            session=session, handoff=handoff, number="+14155550100", reason="held too long"
        )
    async with database.session() as session:
        gone = await session.get_one(Handoff, abandoned)
        conversation = await session.get_one(Conversation, gone.conversation_id)
        callback = await session.get_one(Handoff, held)
    assert gone.status is HandoffStatus.ABANDONED and gone.resolved_at is not None
    assert conversation.status is ConversationStatus.ACTIVE
    assert (callback.status, callback.kind, callback.callback_number) == (
        HandoffStatus.QUEUED,
        HandoffKind.CALLBACK,
        "+14155550100",
    )
