"""Handing conversations to people, end to end through the real Rasa server: the queue a
conversation goes to, what the customer is told, callbacks, and the public queue hours.

The stack uses tests/e2e/queues.yml: every queue open around the clock but complaints."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import AuditEvent, Conversation, ConversationStatus, utcnow
from bot.core.store.customers import upsert_customer
from bot.testing.seed import agent_on_duty, waiting_customer
from handoff.auth import issue_token
from handoff.models import HandoffKind, HandoffStatus
from handoff.store.agents import create_agent
from handoff.store.queue import abandon_handoff
from handoff.store.steps import agent_load
from tests.support.agents import sign_off
from tests.support.chat import ChatClient
from tests.support.lookups import handoff_of
from tests.support.phone import phone_texting
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


async def _agent(db: Database, *skills: str, capacity: int) -> int:
    async with db.session() as session:
        return await agent_on_duty(
            session,
            email=f"{'-'.join(skills)}-{capacity}-{id(db)}@shop.example",
            display_name="Test agent",
            skills=skills,
            capacity=capacity,
        )


async def test_nobody_on_duty_keeps_the_request_and_offers_a_callback(
    stack: Stack, db: Database
) -> None:
    async with ChatClient(stack.ws_url) as chat:
        (reply,) = await chat.say("can I talk to a real person please")
        assert reply["text"].startswith("Everyone in our General help team is busy or away")
        assert [b["title"] for b in reply["buttons"]] == ["Call me back"]
        # Web chat has no number to call: the assistant asks for one, until it is one.
        (ask,) = await chat.click(reply, "Call me back")
        assert ask["text"] == "What number should we call you back on?"
        again = await chat.say("my usual one")
        assert again[0]["text"].startswith("Sorry, that doesn't look like a phone number.")
        assert again[-1]["text"] == "What number should we call you back on?"
        (booked,) = await chat.say("it's +44 20 7946 0018")
    assert booked["text"] == (
        "Thank you. Our General help team will call you back on +442079460018, shortly."
    )
    handoff = await handoff_of(db, chat.visitor_id)
    # The same request, now a call back, in the same place in the queue.
    assert (handoff.queue, handoff.status, handoff.kind, handoff.reason) == (
        "support.general",
        HandoffStatus.QUEUED,
        HandoffKind.CALLBACK,
        "request_human",
    )
    assert handoff.callback_number == "+442079460018"


async def test_a_closed_queue_says_so_and_keeps_the_request(stack: Stack, db: Database) -> None:
    async with ChatClient(stack.ws_url) as chat:
        await chat.say("I want to file a complaint, my parcel arrived damaged")
        await chat.say("ORD-482913")
        replies = await chat.say("can I speak to someone")
    # The complaint was not finished, so there is no case ID to give yet.
    assert replies[-1]["text"].startswith("Our Complaints team isn't available right now")
    handoff = await handoff_of(db, chat.visitor_id)
    assert handoff.queue == "support.complaints"


async def test_a_callback_by_sms_is_booked_on_the_customers_number(
    stack: Stack, db: Database, http: httpx.AsyncClient
) -> None:
    phone = phone_texting(stack, db, http, "+14155557301")
    (reply,) = await phone.text("can someone call me back please")
    assert reply == (
        "Thank you. Our General help team will call you back on +14155557301, shortly."
    )
    handoff = await handoff_of(db, phone.number)
    assert (handoff.kind, handoff.callback_number) == (HandoffKind.CALLBACK, "+14155557301")


async def test_with_a_busy_agent_on_duty_the_customer_gets_a_place_and_a_wait(
    stack: Stack, db: Database
) -> None:
    agent = await _agent(db, "general", capacity=0)
    try:
        async with ChatClient(stack.ws_url) as chat:
            (reply,) = await chat.say("I'd like to speak to a human")
    finally:
        await sign_off(db, agent)
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
        await upsert_customer(session=session, phone=number, is_vip=True)
    agent = await _agent(db, "orders", capacity=1)
    try:
        phone = phone_texting(stack, db, http, number)
        asked = await phone.text("where is my parcel? it should have arrived by now")
        assert "check it's you" in asked[0]
        (reply,) = await phone.text("I'd rather talk to a person")
        handoff = await handoff_of(db, number)
        async with db.session() as session:
            conversation = await session.get_one(Conversation, handoff.conversation_id)
    finally:
        await sign_off(db, agent)
    assert reply.startswith("I've passed you to our Orders and delivery team")
    assert (handoff.queue, handoff.status, handoff.agent_id) == (
        "sales.orders",
        HandoffStatus.ASSIGNED,
        agent,
    )
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
    handoff = await handoff_of(db, chat.visitor_id)
    assert handoff.reason == "high-priority complaint"
    assert handoff.complaint_priority is not None and handoff.complaint_priority.value == "high"


async def test_two_app_instances_assign_each_conversation_once(
    stack: Stack, db: Database, http: httpx.AsyncClient
) -> None:
    if not stack.database_url.startswith("postgresql"):
        pytest.skip("instances share queue state through PostgreSQL row locks")
    waiting = []
    async with db.session() as session:
        for n in range(24):
            handoff = await waiting_customer(
                session,
                address=f"+1415559{n:04d}",
                queue="sales.orders",
                text="where is my order?",
                external_id=f"SM-race-{n}",
            )
            waiting.append(handoff.id)
        agents = [
            (
                await create_agent(
                    session=session,
                    email=f"racer{n}@shop.example",
                    display_name=f"Racer {n}",
                    password_hash="x",
                    skills=["orders"],
                    capacity=3,
                )
            ).id
            for n in range(6)
        ]
    secret = stack.settings.agent_token_secret.get_secret_value()

    async def becomes_available(app_url: str, agent_id: int) -> None:
        token = issue_token(agent_id, secret=secret, now=utcnow(), lifetime=timedelta(hours=1))
        response = await http.post(
            f"{app_url}/agent/status",
            json={"status": "available"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text

    try:
        with stack.extra_app("second") as second_app:
            # Each sign-in dispatches on its own instance, all at once.
            await asyncio.gather(
                *(
                    becomes_available((stack.app_url, second_app)[n % 2], agent_id)
                    for n, agent_id in enumerate(agents)
                )
            )
        async with db.session() as session:
            loads = [await agent_load(session=session, agent_id=a) for a in agents]
            assignments = Counter(
                await session.scalars(
                    select(AuditEvent.entity_id).where(
                        AuditEvent.action == "handoff.assigned",
                        AuditEvent.entity_id.in_([str(h) for h in waiting]),
                    )
                )
            )
    finally:
        for agent_id in agents:
            await sign_off(db, agent_id)
        async with db.session() as session:
            for handoff_id in waiting:
                await abandon_handoff(session=session, handoff_id=handoff_id, reason="test")
    # 6 agents x 3 seats, filled from the 24 waiting (and any other test left in the queue),
    # and no conversation assigned twice.
    assert loads == [3] * 6
    assert set(assignments.values()) <= {1}
    assert sum(assignments.values()) <= 18
