"""Handing conversations to people, end to end through the real Rasa server: the queue a
conversation goes to, what the customer is told, callbacks, and the public queue hours.

The stack uses tests/e2e/queues.yml: every queue open around the clock but complaints."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from bot import store
from bot.db import Database
from bot.models import (
    AgentStatus,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Handoff,
    HandoffKind,
    HandoffStatus,
)
from tests.e2e.conftest import TWILIO_NUMBER, Stack
from tests.support.chat import ChatClient
from tests.support.phone import Phone

pytestmark = pytest.mark.integration


def _phone(stack: Stack, db: Database, http: httpx.AsyncClient, number: str) -> Phone:
    return Phone(
        number=number,
        app_url=stack.app_url,
        twilio_number=TWILIO_NUMBER,
        twilio=stack.twilio,
        database=db,
        http=http,
    )


async def _handoff_of(db: Database, address: str) -> Handoff:
    async with db.session() as session:
        handoff = await session.scalar(
            select(Handoff)
            .join(Conversation, Handoff.conversation_id == Conversation.id)
            .join(ChannelIdentity, ChannelIdentity.customer_id == Conversation.customer_id)
            .where(ChannelIdentity.address == address)
            .order_by(Handoff.id.desc())
            .limit(1)
        )
        assert handoff is not None
        return handoff


async def _agent(db: Database, *skills: str, capacity: int) -> int:
    async with db.session() as session:
        agent = await store.create_agent(
            session=session,
            email=f"{'-'.join(skills)}-{capacity}-{id(db)}@shop.example",
            display_name="Test agent",
            password_hash="x",
            skills=skills,
            capacity=capacity,
        )
        await store.set_agent_status(
            session=session, agent_id=agent.id, status=AgentStatus.AVAILABLE
        )
        return agent.id


async def _off_duty(db: Database, agent_id: int) -> None:
    async with db.session() as session:
        await store.set_agent_status(session=session, agent_id=agent_id, status=AgentStatus.OFFLINE)


async def test_nobody_on_duty_keeps_the_request_and_offers_a_callback(
    stack: Stack, db: Database
) -> None:
    async with ChatClient(stack.ws_url) as chat:
        (reply,) = await chat.say("can I talk to a real person please")
        assert reply["text"].startswith("Everyone in our General help team is busy or away")
        assert [b["title"] for b in reply["buttons"]] == ["Call me back"]
        # Web chat has no number to call: the customer is told how to get one booked.
        (callback,) = await chat.click(reply, "Call me back")
        assert callback["text"].startswith("To book a call back I need your phone number")
    handoff = await _handoff_of(db, chat.user_id)
    assert (handoff.queue, handoff.status, handoff.kind, handoff.reason) == (
        "support.general",
        HandoffStatus.QUEUED,
        HandoffKind.CHAT,
        "request_human",
    )


async def test_a_closed_queue_says_so_and_keeps_the_request(stack: Stack, db: Database) -> None:
    async with ChatClient(stack.ws_url) as chat:
        await chat.say("I want to file a complaint, my parcel arrived damaged")
        await chat.say("ORD-482913")
        replies = await chat.say("can I speak to someone")
    # The complaint was not finished, so there is no case ID to give yet.
    assert replies[-1]["text"].startswith("Our Complaints team isn't available right now")
    handoff = await _handoff_of(db, chat.user_id)
    assert handoff.queue == "support.complaints"


async def test_a_callback_by_sms_is_booked_on_the_customers_number(
    stack: Stack, db: Database, http: httpx.AsyncClient
) -> None:
    phone = _phone(stack, db, http, "+14155557301")
    (reply,) = await phone.text("can someone call me back please")
    assert reply == (
        "Thank you. Our General help team will call you back on +14155557301, shortly."
    )
    handoff = await _handoff_of(db, phone.number)
    assert (handoff.kind, handoff.callback_number) == (HandoffKind.CALLBACK, "+14155557301")


async def test_with_a_busy_agent_on_duty_the_customer_gets_a_place_and_a_wait(
    stack: Stack, db: Database
) -> None:
    agent = await _agent(db, "general", capacity=0)
    try:
        async with ChatClient(stack.ws_url) as chat:
            (reply,) = await chat.say("I'd like to speak to a human")
    finally:
        await _off_duty(db, agent)
    assert re.fullmatch(
        r"I've passed this to our General help team\. You're number \d+ in the queue and the "
        r"wait is about \d+ minutes\. They'll see our conversation so far and answer you here\.",
        reply["text"],
    ), reply["text"]


async def test_a_free_agent_takes_a_vip_at_once(
    stack: Stack, db: Database, http: httpx.AsyncClient
) -> None:
    number = "+14155557302"
    async with db.session() as session:
        await store.upsert_customer(session=session, phone=number, is_vip=True)
    agent = await _agent(db, "orders", capacity=1)
    try:
        phone = _phone(stack, db, http, number)
        offer = await phone.text("where is my parcel? it should have arrived by now")
        assert "1. Yes, please" in offer[-1]
        (reply,) = await phone.text("1")
    finally:
        await _off_duty(db, agent)
    assert reply.startswith("I've passed you to our Orders and delivery team")
    handoff = await _handoff_of(db, number)
    assert (handoff.queue, handoff.status, handoff.agent_id) == (
        "sales.orders",
        HandoffStatus.ASSIGNED,
        agent,
    )
    async with db.session() as session:
        conversation = await session.get_one(Conversation, handoff.conversation_id)
    assert conversation.status is ConversationStatus.AWAITING_AGENT


async def test_the_public_queues_endpoint(stack: Stack, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{stack.app_url}/handoff/queues")
    assert response.status_code == 200
    queues = {q["key"]: q for q in response.json()["queues"]}
    assert list(queues) == ["sales.orders", "support.complaints", "support.general"]
    assert queues["sales.orders"]["open_now"] is True
    assert queues["support.complaints"] | {"hours": None} == {
        "key": "support.complaints",
        "department": "Support",
        "name": "Complaints",
        "open_now": False,
        "opens_at": None,
        "timezone": "Europe/London",
        "hours": None,
    }


async def test_a_high_priority_complaint_goes_straight_to_people(
    stack: Stack, db: Database
) -> None:
    async with ChatClient(stack.ws_url) as chat:
        replies = await chat.say(
            "I want to file a complaint, there is an unauthorised payment on my account"
        )
        assert "order number" in replies[-1]["text"]
        replies = await chat.say("no")
        replies = await chat.click(replies[-1], "Refund")
    assert "is logged with case ID" in replies[0]["text"]
    # Routed by the complaint (billing is not a queue here, so by the complaint intent).
    assert replies[1]["text"].startswith("Our Complaints team isn't available right now")
    assert re.fullmatch(
        r"Your complaint stays open in the meantime under case ID CMP-\w{5}\.",
        replies[2]["text"],
    )
    handoff = await _handoff_of(db, chat.user_id)
    assert handoff.reason == "high-priority complaint"
    assert handoff.complaint_priority is not None and handoff.complaint_priority.value == "high"
