"""Handing a conversation to people, on SQLite and PostgreSQL: which queue it goes to, what
is recorded with it, dispatching, and how a caller's time on hold goes and ends."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import AuditEvent, Channel, Conversation, Priority
from bot.core.store import complaints
from handoff.escalation import CallerHandover, Escalations, HoldEnd
from handoff.models import AgentStatus, Handoff, HandoffKind, HandoffStatus
from handoff.queues import Queue, QueueDirectory
from handoff.routing import Router
from handoff.store import agent_actions, assignment, queue
from tests.support.handoff import QUEUES, new_agent, new_conversation, queued


def _desk_queue(key: str, hours: dict[int, tuple[tuple[int, int], ...]]) -> Queue:
    return Queue(
        key=key,
        department="Desk",
        name=key,
        skills=frozenset(),
        intents=frozenset(),
        complaint_categories=frozenset(),
        timezone=ZoneInfo("UTC"),
        hours=hours,
    )


# Queues whose opening hours do not depend on when the tests run.
DESK = QueueDirectory(
    (
        _desk_queue("desk.open", {day: ((0, 24 * 60),) for day in range(7)}),
        _desk_queue("desk.closed", {}),
    ),
    "desk.open",
)


def _escalations(database: Database, queues: QueueDirectory = QUEUES) -> Escalations:
    return Escalations(
        database=database, queues=queues, router=Router(database=database, queues=queues)
    )


async def _customer_of(database: Database, conversation_id: int) -> int:
    async with database.session() as session:
        return (await session.get_one(Conversation, conversation_id)).customer_id


async def _complaint_in(database: Database, conversation_id: int, category: str) -> str:
    """The customer filed a complaint in the conversation; its case id."""
    async with database.session() as session:
        complaint = await complaints.open_complaint(
            session=session,
            customer_id=(await session.get_one(Conversation, conversation_id)).customer_id,
            conversation_id=conversation_id,
            channel=Channel.SMS,
            category=category,
            description="payments I never made",
            priority=Priority.HIGH,
        )
        return complaint.case_id


async def _handoff_of(database: Database, conversation_id: int) -> Handoff:
    async with database.session() as session:
        found = await queue.open_handoff_of(session=session, conversation_id=conversation_id)
        assert found is not None
        return found


async def _queued_details(database: Database) -> dict[str, object]:
    async with database.session() as session:
        (details,) = await session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "handoff.queued")
        )
        return dict(details)


async def test_a_complaint_routes_the_conversation_before_the_intent(database: Database) -> None:
    conversation_id = await new_conversation(database)
    case_id = await _complaint_in(database, conversation_id, "fraud")
    escalation = await _escalations(database).escalate(
        conversation_id=conversation_id,
        customer_id=await _customer_of(database, conversation_id),
        reason="urgent complaint",
        intent="track_shipment",
    )
    assert escalation.queue.key == "accounts.fraud"
    assert (escalation.status, escalation.position, escalation.agents_on_duty) == (
        HandoffStatus.QUEUED,
        1,
        0,
    )
    assert (escalation.channels, escalation.case_id) == ({Channel.SMS: 1}, case_id)
    handoff = await _handoff_of(database, conversation_id)
    assert (handoff.queue, handoff.reason, handoff.intent) == (
        "accounts.fraud",
        "urgent complaint",
        "track_shipment",
    )
    assert handoff.complaint_id is not None and handoff.complaint_priority is Priority.HIGH
    details = await _queued_details(database)
    assert details["queue"] == "accounts.fraud"
    assert details["messages_by_channel"] == {"sms": 1}


async def test_without_a_complaint_the_intent_routes_and_a_free_agent_gets_it(
    database: Database,
) -> None:
    conversation_id = await new_conversation(database)
    agent = await new_agent(database, "orders")
    escalation = await _escalations(database).escalate(
        conversation_id=conversation_id,
        customer_id=await _customer_of(database, conversation_id),
        reason="request_human",
        intent="track_shipment",
    )
    assert escalation.queue.key == "sales.orders" and escalation.case_id is None
    assert (escalation.status, escalation.agents_on_duty) == (HandoffStatus.ASSIGNED, 1)
    handoff = await _handoff_of(database, conversation_id)
    assert (handoff.agent_id, handoff.complaint_id) == (agent, None)


async def test_a_call_back_with_no_intent_goes_to_the_default_queue(database: Database) -> None:
    conversation_id = await new_conversation(database)
    escalation = await _escalations(database).escalate(
        conversation_id=conversation_id,
        customer_id=await _customer_of(database, conversation_id),
        reason="call me",
        kind=HandoffKind.CALLBACK,
        callback_number="+14155550100",
    )
    assert escalation.queue.key == "support.general"
    handoff = await _handoff_of(database, conversation_id)
    assert (handoff.kind, handoff.callback_number) == (HandoffKind.CALLBACK, "+14155550100")


async def test_a_held_caller_hears_their_place_while_the_queue_is_open_and_staffed(
    database: Database,
) -> None:
    held = _escalations(database, DESK)
    first = await queued(database, queue="desk.open", minutes_ago=2)
    second = await queued(database, queue="desk.open", minutes_ago=1)
    closed = await queued(database, queue="desk.closed")
    # Nobody available to serve the queue: no point holding.
    assert await held.hold_position(second) is None
    await new_agent(database, status=AgentStatus.AVAILABLE)
    assert [await held.hold_position(h) for h in (first, second, closed)] == [1, 2, None]
    assert await held.hold_position(999_999) is None
    async with database.session() as session:
        queue.call_back_instead(
            session=session,
            handoff=await session.get_one(Handoff, second),
            number="+14155550100",
            reason="asked",
        )
    assert await held.hold_position(second) is None


async def test_a_taken_conversation_is_no_longer_held(database: Database) -> None:
    held = _escalations(database, DESK)
    handoff_id = await queued(database, queue="desk.open")
    agent = await new_agent(database)
    async with database.session() as session:
        await assignment.take_handoff(session=session, handoff_id=handoff_id, agent_id=agent)
    assert await held.hold_position(handoff_id) is None


async def test_where_a_caller_goes_when_people_have_their_conversation(
    database: Database,
) -> None:
    held = _escalations(database, DESK)
    assert await held.caller_handover(await new_conversation(database)) is None
    waiting = await queued(database, queue="desk.open")
    closed = await queued(database, queue="desk.closed")
    agent = await new_agent(database, capacity=1)
    waiting_handoff = await _by_id(database, waiting)
    handover = await held.caller_handover(waiting_handoff.conversation_id)
    assert handover is not None and handover.waiting is not None
    assert (handover.agent, handover.waiting.id) == (None, waiting)
    closed_handoff = await _by_id(database, closed)
    assert await held.caller_handover(closed_handoff.conversation_id) is None
    async with database.session() as session:
        await assignment.take_handoff(session=session, handoff_id=waiting, agent_id=agent)
    put_through = await held.caller_handover(waiting_handoff.conversation_id)
    assert isinstance(put_through, CallerHandover) and put_through.agent is not None
    assert put_through.agent.id == agent


async def _by_id(database: Database, handoff_id: int) -> Handoff:
    async with database.session() as session:
        return await session.get_one(Handoff, handoff_id)


async def _callback_reasons(database: Database) -> list[object]:
    async with database.session() as session:
        rows = await session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "handoff.callback_requested")
        )
        return [details["reason"] for details in rows]


async def test_a_caller_who_hangs_up_abandons_and_one_put_through_is_gone(
    database: Database,
) -> None:
    held = _escalations(database, DESK)
    hung_up = await queued(database, queue="desk.open")
    bridged = await queued(database, queue="desk.open")
    caller = "+14155550100"
    assert await held.leave_hold(hung_up, caller=caller, result="hangup", waited=42) == (
        HoldEnd.GONE,
        None,
    )
    assert await held.leave_hold(bridged, caller=caller, result="bridged", waited=5) == (
        HoldEnd.GONE,
        None,
    )
    assert (await _by_id(database, hung_up)).status is HandoffStatus.ABANDONED
    assert (await _by_id(database, bridged)).status is HandoffStatus.QUEUED
    assert await _callback_reasons(database) == []


async def test_a_caller_still_waiting_gets_a_call_back(database: Database) -> None:
    held = _escalations(database, DESK)
    left = await queued(database, queue="desk.open")
    unknown = await queued(database, queue="desk.open")
    for handoff_id, result in ((left, "leave"), (unknown, "")):
        assert await held.leave_hold(
            handoff_id, caller="+14155550100", result=result, waited=300
        ) == (HoldEnd.CALL_BACK, None)
        called_back = await _by_id(database, handoff_id)
        assert (called_back.status, called_back.kind, called_back.callback_number) == (
            HandoffStatus.QUEUED,
            HandoffKind.CALLBACK,
            "+14155550100",
        )
    assert await _callback_reasons(database) == [
        "left the hold queue (leave) after 300 s",
        "left the hold queue (unknown) after 300 s",
    ]


async def test_a_caller_whose_conversation_an_agent_took_or_closed_meanwhile(
    database: Database,
) -> None:
    held = _escalations(database, DESK)
    taken = await queued(database, queue="desk.open")
    resolved = await queued(database, queue="desk.open")
    agent = await new_agent(database)
    async with database.session() as session:
        for handoff_id in (taken, resolved):
            await assignment.take_handoff(session=session, handoff_id=handoff_id, agent_id=agent)
    async with database.session() as session:
        await agent_actions.resolve_handoff(session=session, handoff_id=resolved, agent_id=agent)
    to_agent, who = await held.leave_hold(taken, caller="+1", result="leave", waited=9)
    assert to_agent is HoldEnd.TO_AGENT and who is not None and who.id == agent
    assert await held.leave_hold(resolved, caller="+1", result="leave", waited=9) == (
        HoldEnd.DEALT_WITH,
        None,
    )
    assert await held.leave_hold(999_999, caller="+1", result="leave", waited=9) == (
        HoldEnd.DEALT_WITH,
        None,
    )
    assert await _callback_reasons(database) == []
