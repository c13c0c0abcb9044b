"""Callers handed to people, end to end: put through to a free agent's phone, or on hold
in the team's queue until one is free, and what happens when they hang up or wait too long."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import AuditEvent, Conversation, ConversationStatus
from bot.core.store.customers import upsert_customer
from bot.core.texts import Text, say
from bot.testing.seed import agent_on_duty, waiting_customer
from bot.testing.twilio_webhooks import dequeue_params, queue_wait_params, signed_post
from handoff.models import Handoff, HandoffKind, HandoffStatus
from handoff.store.agent_actions import resolve_handoff
from handoff.store.assignment import take_handoff
from tests.support.agents import sign_off
from tests.support.call import SAY, XML, Call, next_action, said, unused_suffix
from tests.support.stack import TWILIO_NUMBER, Stack

pytestmark = pytest.mark.integration


@asynccontextmanager
async def _on_duty(db: Database, name: str, *, phone: str, capacity: int = 1) -> AsyncIterator[int]:
    """An available agent with a phone, who afterwards finishes their calls and signs off."""
    async with db.session() as session:
        agent_id = await agent_on_duty(
            session,
            email=f"{name.lower()}@shop.example",
            display_name=name,
            skills=["general"],
            capacity=capacity,
            phone=phone,
        )
    try:
        yield agent_id
    finally:
        await sign_off(db, agent_id)


async def test_a_caller_is_put_through_to_a_free_agents_phone(
    stack: Stack, http: httpx.AsyncClient, db: Database
) -> None:
    call = Call(stack, http)
    async with db.session() as session:
        # A VIP goes ahead of anyone other tests left waiting.
        await upsert_customer(session=session, phone=call.number, is_vip=True)
    async with _on_duty(db, "Dana", phone="+1 415 555 0123"):
        greeting = await call.post("/twilio/voice/consent?choice=default")
        put_through = await call.press(next_action(greeting), "0")
    assert put_through.endswith(
        f"{SAY}Putting you through to Dana now.</Say>"
        f'<Dial answerOnBridge="true" callerId="{TWILIO_NUMBER}">'
        "<Number>+14155550123</Number></Dial></Response>"
    ), put_through


async def _keep_busy(db: Database, agent_id: int) -> None:
    """Give the agent another customer's conversation, so a caller has to wait."""
    number = f"+1415558{unused_suffix():04d}"
    async with db.session() as session:
        handoff = await waiting_customer(
            session,
            address=number,
            queue="support.general",
            text="I need a person",
            external_id=f"SM-busy-{number}",
        )
        assert await take_handoff(session=session, handoff_id=handoff.id, agent_id=agent_id)


async def _held(call: Call) -> tuple[int, str]:
    """Press 0 and expect hold: the handoff id and the team's queue from the <Enqueue>."""
    greeting = await call.post("/twilio/voice/consent?choice=default")
    held = await call.press(next_action(greeting), "0")
    match = re.search(
        r'<Enqueue action="/twilio/voice/dequeued\?handoff=(\d+)" method="POST" '
        r'waitUrl="/twilio/voice/hold\?handoff=\1" waitUrlMethod="POST">([^<]+)</Enqueue>'
        r"</Response>$",
        held,
    )
    assert match, held
    assert "in the queue" in " ".join(said(held))
    return int(match.group(1)), match.group(2)


async def test_a_caller_waits_on_hold_and_is_put_through_when_the_agent_is_free(
    stack: Stack, http: httpx.AsyncClient, db: Database
) -> None:
    call = Call(stack, http)
    async with _on_duty(db, "Lee", phone="+1 415 555 0177") as lee:
        await _keep_busy(db, lee)
        handoff_id, queue = await _held(call)
        assert queue == "support.general"
        hold = f"/twilio/voice/hold?handoff={handoff_id}"
        queue_sid = "QU" + "1" * 32
        first = await call.post(
            hold, queue_wait_params(call.params, queue_sid=queue_sid, queue_time=0)
        )
        assert re.fullmatch(
            rf"{re.escape(XML)}<Response>{SAY}You are number \d+ in line\. Thank you for "
            r'holding\.</Say><Pause length="10" /></Response>',
            first,
        ), first
        quiet = await call.post(
            hold, queue_wait_params(call.params, queue_sid=queue_sid, queue_time=25)
        )
        assert quiet == f'{XML}<Response><Pause length="10" /></Response>'

        # Lee finishes with the other customer and takes the caller.
        async with db.session() as session:
            await resolve_handoff(
                session=session, handoff_id=await _assigned_to(db, lee), agent_id=lee
            )
            assert await take_handoff(session=session, handoff_id=handoff_id, agent_id=lee)
        left = await call.post(
            hold, queue_wait_params(call.params, queue_sid=queue_sid, queue_time=35)
        )
        assert left == f"{XML}<Response><Leave /></Response>"
        dequeued = f"/twilio/voice/dequeued?handoff={handoff_id}"
        put_through = await call.post(
            dequeued,
            dequeue_params(call.params, queue_sid=queue_sid, result="leave", queue_time=36),
        )
    assert put_through == (
        f"{XML}<Response>{SAY}Putting you through to Lee now.</Say>"
        f'<Dial answerOnBridge="true" callerId="{TWILIO_NUMBER}">'
        "<Number>+14155550177</Number></Dial></Response>"
    )


async def test_hanging_up_on_hold_abandons_and_waiting_too_long_books_a_call_back(
    stack: Stack, http: httpx.AsyncClient, db: Database
) -> None:
    queue_sid = "QU" + "2" * 32
    async with _on_duty(db, "Kim", phone="+1 415 555 0178") as kim:
        await _keep_busy(db, kim)
        impatient, patient = Call(stack, http), Call(stack, http)
        gone_id, _ = await _held(impatient)
        waiting_id, _ = await _held(patient)

        hung_up = await impatient.post(
            f"/twilio/voice/dequeued?handoff={gone_id}",
            dequeue_params(impatient.params, queue_sid=queue_sid, result="hangup", queue_time=42),
        )
        assert hung_up == f"{XML}<Response />"

        too_long = await patient.post(
            f"/twilio/voice/hold?handoff={waiting_id}",
            queue_wait_params(patient.params, queue_sid=queue_sid, queue_time=600),
        )
        assert too_long == f"{XML}<Response><Leave /></Response>"
        goodbye = await patient.post(
            f"/twilio/voice/dequeued?handoff={waiting_id}",
            dequeue_params(patient.params, queue_sid=queue_sid, result="leave", queue_time=601),
        )
    assert said(goodbye) == [say(Text.CALL_HOLD_TIMED_OUT)] and goodbye.endswith(
        "<Hangup /></Response>"
    )
    async with db.session() as session:
        gone = await session.get_one(Handoff, gone_id)
        gone_conversation = await session.get_one(Conversation, gone.conversation_id)
        callback = await session.get_one(Handoff, waiting_id)
        reason = await session.scalar(
            select(AuditEvent.details).where(
                AuditEvent.action == "handoff.abandoned", AuditEvent.entity_id == str(gone_id)
            )
        )
    assert gone.status is HandoffStatus.ABANDONED
    assert gone_conversation.status is ConversationStatus.ACTIVE
    assert reason == {"reason": "caller hung up after 42 s on hold"}
    assert (callback.status, callback.kind, callback.callback_number) == (
        HandoffStatus.QUEUED,
        HandoffKind.CALLBACK,
        patient.number,
    )


async def _assigned_to(db: Database, agent_id: int) -> int:
    async with db.session() as session:
        handoff_id = await session.scalar(
            select(Handoff.id).where(
                Handoff.agent_id == agent_id, Handoff.status == HandoffStatus.ASSIGNED
            )
        )
    assert handoff_id is not None
    return handoff_id


async def test_hold_and_dequeue_refuse_handoff_ids_no_database_holds(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    call = Call(stack, http)
    queue_sid = "QU" + "4" * 32
    waiting = queue_wait_params(call.params, queue_sid=queue_sid, queue_time=5)
    left = dequeue_params(call.params, queue_sid=queue_sid, result="hangup", queue_time=5)
    answers = []
    for handoff in (2**63, 2**64, 2**31, 0, -1):
        for route, params in (("hold", waiting), ("dequeued", left)):
            url = f"{stack.app_url}/twilio/voice/{route}?handoff={handoff}"
            response = await signed_post(http, url, params, stack.twilio.auth_token)
            answers.append((route, handoff, response.status_code, response.json()["code"]))
    assert {answer[2:] for answer in answers} == {(422, "invalid_request")}
