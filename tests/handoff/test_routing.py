"""Routing to people on SQLite and PostgreSQL: priority order, skills, capacity, decline,
transfer, resolve, and two app instances dispatching at once."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot import store
from bot.db import Database
from bot.models import (
    AgentStatus,
    AuditEvent,
    Channel,
    Conversation,
    ConversationStatus,
    Handoff,
    HandoffKind,
    HandoffStatus,
    Priority,
    utcnow,
)
from handoff.queues import load_queues
from handoff.routing import Router

QUEUES = load_queues()
_numbers = itertools.count(1000)


async def _conversation(db: Database, *, vip: bool = False) -> int:
    number = f"+1415555{next(_numbers):04d}"
    async with db.session() as session:
        if vip:
            await store.upsert_customer(session=session, phone=number, is_vip=True)
        stored = await store.record_inbound(
            session=session,
            channel=Channel.SMS,
            address=number,
            text="I need a person",
            external_id=f"SM{number}",
            idle_after=timedelta(hours=1),
        )
        return stored.conversation.id


async def _queued(
    db: Database,
    *,
    queue: str = "support.general",
    minutes_ago: float = 0,
    vip: bool = False,
    complaint_priority: Priority | None = None,
    sentiment: float | None = None,
) -> int:
    conversation_id = await _conversation(db, vip=vip)
    async with db.session() as session:
        complaint_id = None
        if complaint_priority is not None:
            conversation = await session.get_one(Conversation, conversation_id)
            complaint = await store.open_complaint(
                session=session,
                customer_id=conversation.customer_id,
                conversation_id=conversation_id,
                channel=Channel.SMS,
                category="damaged_item",
                description="broken",
                priority=complaint_priority,
            )
            complaint_id = complaint.id
        handoff = await store.enqueue_handoff(
            session=session,
            conversation_id=conversation_id,
            queue=queue,
            reason="request_human",
            complaint_id=complaint_id,
            sentiment_score=sentiment,
            now=utcnow() - timedelta(minutes=minutes_ago),
        )
        return handoff.id


async def _agent(
    db: Database, *skills: str, capacity: int = 3, status: AgentStatus = AgentStatus.AVAILABLE
) -> int:
    async with db.session() as session:
        agent = await store.create_agent(
            session=session,
            email=f"agent{next(_numbers)}@shop.example",
            display_name="Agent",
            password_hash="x",
            skills=skills,
            capacity=capacity,
        )
        await store.set_agent_status(session=session, agent_id=agent.id, status=status)
        return agent.id


async def _taken_in_order(db: Database, agent_id: int, count: int) -> list[int]:
    router = Router(database=db, queues=QUEUES)
    taken = []
    for _ in range(count):
        handoff = await router.take_next(agent_id, [])
        assert handoff is not None
        taken.append(handoff.id)
        async with db.session() as session:
            await store.resolve_handoff(session=session, handoff_id=handoff.id, agent_id=agent_id)
    return taken


async def test_vips_then_priority_and_unhappiness_then_waiting_time(database: Database) -> None:
    regular_old = await _queued(database, minutes_ago=25)
    regular_new = await _queued(database, minutes_ago=1)
    vip = await _queued(database, minutes_ago=0, vip=True)
    urgent = await _queued(database, minutes_ago=0, complaint_priority=Priority.URGENT)
    unhappy = await _queued(database, minutes_ago=0, sentiment=-0.9)
    starving = await _queued(database, minutes_ago=90)  # waited longer than any bonus
    agent = await _agent(database, capacity=1)
    assert await _taken_in_order(database, agent, 6) == [
        starving,
        vip,
        regular_old,
        urgent,
        unhappy,
        regular_new,
    ]


async def test_position_in_queue(database: Database) -> None:
    first = await _queued(database, queue="sales.orders", minutes_ago=5)
    second = await _queued(database, queue="sales.orders", minutes_ago=1)
    other_queue = await _queued(database, queue="accounts.billing", minutes_ago=9)
    async with database.session() as session:
        positions = [
            await store.queue_position(session=session, handoff=await session.get_one(Handoff, h))
            for h in (first, second, other_queue)
        ]
    assert positions == [1, 2, 1]


async def test_skills_capacity_and_status_decide_who_gets_what(database: Database) -> None:
    billing = [await _queued(database, queue="accounts.billing") for _ in range(3)]
    general = await _queued(database, queue="support.general")
    no_skills = await _agent(database, capacity=5)
    billing_agent = await _agent(database, "billing", capacity=2)
    away = await _agent(database, "billing", capacity=5, status=AgentStatus.AWAY)
    assignments = await Router(database=database, queues=QUEUES).dispatch()
    got = {(a.agent_id, a.handoff_id) for a in assignments}
    assert got == {(no_skills, general), (billing_agent, billing[0]), (billing_agent, billing[1])}
    assert all(a.agent_id != away for a in assignments)
    async with database.session() as session:
        assert await store.agent_load(session=session, agent_id=billing_agent) == 2
        still_waiting = await session.get_one(Handoff, billing[2])
    assert still_waiting.status is HandoffStatus.QUEUED


async def test_decline_transfer_and_resolve(database: Database) -> None:
    handoff_id = await _queued(database, queue="support.general")
    first = await _agent(database)
    second = await _agent(database, "billing")
    router = Router(database=database, queues=QUEUES)
    taken = await router.take_next(first, [])
    assert taken is not None and taken.id == handoff_id
    with pytest.raises(store.HandoffNotYours):
        async with database.session() as session:
            await store.resolve_handoff(session=session, handoff_id=handoff_id, agent_id=second)
    async with database.session() as session:
        await store.decline_handoff(session=session, handoff_id=handoff_id, agent_id=first)
    # Declined: never offered to the same agent again, but to the next one.
    assert await router.take_next(first, []) is None
    assert (await router.take_next(second, ["billing"])) is not None
    async with database.session() as session:
        moved = await store.transfer_handoff(
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
    assert (await router.take_next(second, ["billing"])) is not None
    async with database.session() as session:
        done = await store.resolve_handoff(session=session, handoff_id=handoff_id, agent_id=second)
        conversation = await session.get_one(Conversation, done.conversation_id)
        actions = list(
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.entity_id == str(handoff_id), AuditEvent.entity_type == "handoff")
                .order_by(AuditEvent.id)
            )
        )
    assert conversation.status is ConversationStatus.ACTIVE
    assert actions == [
        "handoff.assigned",
        "handoff.declined",
        "handoff.assigned",
        "handoff.transferred",
        "handoff.assigned",
        "handoff.resolved",
    ]


async def test_a_conversation_is_queued_once(database: Database) -> None:
    conversation_id = await _conversation(database)
    async with database.session() as session:
        first = await store.enqueue_handoff(
            session=session, conversation_id=conversation_id, queue="support.general", reason="a"
        )
    async with database.session() as session:
        again = await store.enqueue_handoff(
            session=session, conversation_id=conversation_id, queue="sales.orders", reason="b"
        )
        conversation = await session.get_one(Conversation, conversation_id)
    assert again.id == first.id and again.queue == "support.general"
    assert conversation.status is ConversationStatus.AWAITING_AGENT


async def test_going_offline_gives_conversations_back_in_their_place(database: Database) -> None:
    older = await _queued(database, minutes_ago=10)
    newer = await _queued(database, minutes_ago=5)
    later = await _queued(database, minutes_ago=1)
    leaving = await _agent(database, capacity=2)
    router = Router(database=database, queues=QUEUES)
    assert {a.handoff_id for a in await router.dispatch()} == {older, newer}
    async with database.session() as session:
        requeued = await store.set_agent_status(
            session=session, agent_id=leaving, status=AgentStatus.OFFLINE
        )
        assert sorted(requeued) == [older, newer]
        assert await store.agent_load(session=session, agent_id=leaving) == 0
        audited = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "handoff.requeued")
        )
    assert audited == 2
    # Back at the front of the line, ahead of the one queued after them.
    assert await _taken_in_order(database, await _agent(database, capacity=1), 3) == [
        older,
        newer,
        later,
    ]
    # Away (a short break) keeps what the agent has.
    kept = await _agent(database, capacity=1)
    await _queued(database)
    assert await router.take_next(kept, []) is not None
    async with database.session() as session:
        assert (
            await store.set_agent_status(session=session, agent_id=kept, status=AgentStatus.AWAY)
            == []
        )
        assert await store.agent_load(session=session, agent_id=kept) == 1


async def test_a_transfer_to_a_colleague_needs_them_signed_in_with_room(
    database: Database,
) -> None:
    handoff_id = await _queued(database)
    sender = await _agent(database)
    offline = await _agent(database, status=AgentStatus.OFFLINE)
    full = await _agent(database, capacity=1, status=AgentStatus.BUSY)
    busy_with_room = await _agent(database, capacity=2, status=AgentStatus.BUSY)
    router = Router(database=database, queues=QUEUES)
    assert (await router.take_next(sender, [])) is not None
    async with database.session() as session:
        await store.take_handoff(session=session, handoff_id=await _queued(database), agent_id=full)
    for target, problem in ((offline, "is offline"), (full, "has no room")):
        with pytest.raises(store.AgentUnavailable, match=problem):
            async with database.session() as session:
                await store.transfer_handoff(
                    session=session,
                    handoff_id=handoff_id,
                    agent_id=sender,
                    note="",
                    to_agent_id=target,
                )
    with pytest.raises(ValueError, match="already yours"):
        async with database.session() as session:
            await store.transfer_handoff(
                session=session, handoff_id=handoff_id, agent_id=sender, note="", to_agent_id=sender
            )
    async with database.session() as session:
        moved = await store.transfer_handoff(
            session=session,
            handoff_id=handoff_id,
            agent_id=sender,
            note="you know this customer",
            to_agent_id=busy_with_room,
        )
        assert (moved.status, moved.agent_id) == (HandoffStatus.ASSIGNED, busy_with_room)


async def test_a_caller_hanging_up_on_hold_abandons_and_a_timeout_becomes_a_call_back(
    database: Database,
) -> None:
    abandoned = await _queued(database)
    held = await _queued(database)
    async with database.session() as session:
        assert await store.abandon_handoff(
            session=session, handoff_id=abandoned, reason="caller hung up after 42 s on hold"
        )
        # Only a waiting conversation can be abandoned, and only once.
        assert not await store.abandon_handoff(session=session, handoff_id=abandoned, reason="")
        handoff = await session.get_one(Handoff, held)
        await store.call_back_instead(
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


async def test_agents_looking_is_audited_but_is_not_an_inbox_change(database: Database) -> None:
    async with database.session() as session:
        before = await store.inbox_version(session=session)
        await store.record_audit(
            session=session,
            actor="agent:1",
            action=f"{store.VIEW_ACTION_PREFIX}customer",
            entity_type="customer",
            entity_id="1",
        )
    async with database.session() as session:
        # Otherwise an open console, reloading on change, would audit and reload forever.
        assert await store.inbox_version(session=session) == before
    await _queued(database)
    async with database.session() as session:
        after = await store.inbox_version(session=session)
    assert after[0] > before[0] and after[1] > before[1]


async def test_a_customers_conversations_with_who_handled_them(database: Database) -> None:
    handoff_id = await _queued(database)
    agent = await _agent(database)
    await Router(database=database, queues=QUEUES).dispatch()
    async with database.session() as session:
        handoff = await session.get_one(Handoff, handoff_id)
        conversation = await session.get_one(Conversation, handoff.conversation_id)
        (past,) = await store.conversations_of_customer(
            session=session, customer_id=conversation.customer_id
        )
        online = await store.agents_online(session=session)
    assert past.conversation.id == conversation.id and past.messages == 1
    assert [(h.id, name) for h, name in past.handoffs] == [(handoff_id, "Agent")]
    assert (agent, 1) in [(a.id, load) for a, load in online]


async def test_a_customer_on_web_chat_is_told_who_joined(database: Database) -> None:
    async with database.session() as session:
        chatting = await store.record_inbound(
            session=session,
            channel=Channel.WEBCHAT,
            address="visitor-joined",
            text="a person please",
            external_id=None,
            idle_after=timedelta(hours=1),
        )
        on_web = await store.enqueue_handoff(
            session=session,
            conversation_id=chatting.conversation.id,
            queue="support.general",
            reason="request_human",
        )
    by_text = await _queued(database)
    agent = await _agent(database, capacity=3)
    async with database.session() as session:
        # Not before someone has it.
        assert (
            await store.announce_agent(session=session, handoff_id=on_web.id, team="General")
            is None
        )
        for handoff_id in (on_web.id, by_text):
            await store.take_handoff(session=session, handoff_id=handoff_id, agent_id=agent)
    async with database.session() as session:
        announced = await store.announce_agent(
            session=session, handoff_id=on_web.id, team="General help"
        )
        # A text message or an email says nothing until the agent writes.
        assert (
            await store.announce_agent(session=session, handoff_id=by_text, team="General") is None
        )
    assert announced is not None
    notice, identity = announced
    assert notice.text == "Agent from our General help team has joined the conversation."
    assert notice.payload["custom"] == {
        "notice": "agent_joined",
        "agent": {"id": agent, "name": "Agent"},
    }
    assert (identity.channel, identity.address) == (Channel.WEBCHAT, "visitor-joined")


@pytest.mark.postgres
async def test_two_instances_never_assign_a_conversation_twice(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the race is about PostgreSQL row locks; SQLite serialises writers")
    setup = Database(database_url)
    waiting = [await _queued(setup, minutes_ago=i % 7) for i in range(50)]
    agents = [await _agent(setup, capacity=4) for _ in range(10)]
    await setup.dispose()
    # Two app instances: separate engines and connection pools, dispatching at once.
    instances = [Database(database_url), Database(database_url)]
    try:
        routers = [Router(database=db, queues=QUEUES) for db in instances]
        results = await asyncio.gather(*(routers[i % 2].dispatch() for i in range(8)))
    finally:
        for db in instances:
            await db.dispose()
    assignments = [a for result in results for a in result]
    per_handoff = Counter(a.handoff_id for a in assignments)
    per_agent = Counter(a.agent_id for a in assignments)
    assert len(assignments) == 40  # 10 agents x 4, no more
    assert max(per_handoff.values()) == 1
    assert set(per_agent) == set(agents) and max(per_agent.values()) == 4
    check = Database(database_url)
    try:
        async with check.session() as session:
            assigned = Counter(
                await session.scalars(
                    select(AuditEvent.entity_id).where(AuditEvent.action == "handoff.assigned")
                )
            )
    finally:
        await check.dispose()
    assert len(assigned) == 40 and max(assigned.values()) == 1
    assert set(per_handoff) <= set(waiting)
