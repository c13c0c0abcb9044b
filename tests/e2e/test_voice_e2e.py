"""End to end over the phone: Twilio Voice's signed webhooks in, TwiML out, the real Rasa
server and model behind, recording consent and hang-ups recorded."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from adapters.voice import CALLBACK_CONFIRMED, GREETING, HOLD_TIMED_OUT
from bot import store
from bot.db import Database
from bot.models import (
    AgentStatus,
    AuditEvent,
    Channel,
    ChannelIdentity,
    Complaint,
    Conversation,
    ConversationStatus,
    Direction,
    Handoff,
    HandoffKind,
    HandoffStatus,
    Message,
    MessageStatus,
    RecordingConsent,
)
from tests.e2e.conftest import TWILIO_NUMBER, Stack
from tests.support.agents import sign_off
from tests.support.twilio_webhooks import (
    call_status_params,
    dequeue_params,
    gather_params,
    queue_wait_params,
    signed_post,
    voice_params,
)

pytestmark = pytest.mark.integration

XML = '<?xml version="1.0" encoding="UTF-8"?>'
SAY = '<Say language="en-US" voice="Polly.Joanna-Neural">'
CASE_ID = re.compile(r"CMP-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}")
_numbers = iter(range(1000, 9999))


def _gather(turn: int, misses: int = 0) -> str:
    return (
        f'<Gather action="/twilio/voice/gather?turn={turn}&amp;misses={misses}" '
        'actionOnEmptyResult="true" input="speech dtmf" language="en-US" method="POST" '
        'speechTimeout="auto" timeout="5">'
    )


def _said(twiml: str) -> list[str]:
    return re.findall(r"<Say [^>]*>([^<]*)</Say>", twiml)


class Call:
    """One phone call to the assistant's number, driven the way Twilio drives it."""

    def __init__(
        self,
        stack: Stack,
        http: httpx.AsyncClient,
        *,
        country: str = "US",
        app_url: str | None = None,
    ) -> None:
        prefix = "+44207183" if country == "GB" else "+1415557"
        self.number = f"{prefix}{next(_numbers):04d}"
        self.params = voice_params(from_=self.number, to=TWILIO_NUMBER, from_country=country)
        self.sid = self.params["CallSid"]
        self._stack, self._http = stack, http
        self._app_url = app_url or stack.app_url

    async def post(self, path: str, params: dict[str, str] | None = None) -> str:
        """POST to a voice webhook (relative TwiML URLs resolve against the app)."""
        response = await signed_post(
            self._http,
            f"{self._app_url}{path}",
            params or self.params,
            self._stack.twilio.auth_token,
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        return response.text

    async def say(self, path: str, speech: str) -> str:
        return await self.post(path, gather_params(self.params, speech=speech))

    async def press(self, path: str, digits: str) -> str:
        return await self.post(path, gather_params(self.params, digits=digits))

    async def silence(self, path: str) -> str:
        return await self.post(path, gather_params(self.params))


def _next_action(twiml: str) -> str:
    match = re.search(r'<Gather action="([^"]+)"', twiml)
    assert match, twiml
    return match.group(1).replace("&amp;", "&")


async def _conversation(db: Database, number: str) -> Conversation:
    async with db.session() as session:
        identity = await session.scalar(
            select(ChannelIdentity).where(ChannelIdentity.address == number)
        )
        assert identity is not None
        conversation = await session.scalar(
            select(Conversation).where(Conversation.customer_id == identity.customer_id)
        )
        assert conversation is not None
        return conversation


async def test_a_complaint_by_phone_with_a_keypad_menu(
    stack: Stack, http: httpx.AsyncClient, db: Database
) -> None:
    call = Call(stack, http)
    recordings = len(stack.twilio.requests_to("/Recordings.json"))
    assert await call.post("/twilio/voice") == (
        f"{XML}<Response>{SAY}This call may be recorded for quality and training.</Say>"
        '<Redirect method="POST">/twilio/voice/consent?choice=default</Redirect></Response>'
    )
    greeting = await call.post("/twilio/voice/consent?choice=default")
    assert greeting == f"{XML}<Response>{_gather(1)}{SAY}{GREETING}</Say></Gather></Response>"

    answer = await call.say(_next_action(greeting), "I want to complain, my parcel arrived damaged")
    assert answer.startswith(f"{XML}<Response>{_gather(2)}")
    assert "order number" in _said(answer)[-1]

    menu = await call.say(_next_action(answer), "it's ORD-482913")
    assert _said(menu)[-2:] == [
        "What would you like us to do to put this right?",
        "For Refund, press 1. For Replacement, press 2. For Repair, press 3. "
        "For Just let you know, press 4.",
    ]
    done = await call.press(_next_action(menu), "1")
    assert _next_action(done) == "/twilio/voice/gather?turn=4&misses=0"
    case_id = CASE_ID.search(" ".join(_said(done)))
    assert case_id, done

    hangup = call_status_params(call.params, call_status="completed", duration=95)
    response = await signed_post(
        http, f"{stack.app_url}/twilio/voice/status", hangup, stack.twilio.auth_token
    )
    assert response.status_code == 204

    async with db.session() as session:
        complaint = await session.scalar(
            select(Complaint).where(Complaint.case_id == case_id.group(0))
        )
        messages = list(
            await session.scalars(
                select(Message)
                .where(Message.external_id.like(f"{call.sid}:%"))
                .order_by(Message.id)
            )
        )
        ended = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "call.ended", AuditEvent.entity_id == call.sid
            )
        )
    assert complaint is not None and complaint.desired_outcome == "refund"
    assert [m.external_id for m in messages] == [f"{call.sid}:{n}" for n in (1, 2, 3)]
    assert messages[2].payload["metadata"]["display_text"] == "1"
    assert ended is not None and ended.details == {"status": "completed", "unspoken_replies": 0}
    conversation = await _conversation(db, call.number)
    assert conversation.recording_consent is RecordingConsent.DEFAULT
    (recording,) = stack.twilio.requests_to("/Recordings.json")[recordings:]
    assert recording.path.endswith(f"/Calls/{call.sid}/Recordings.json")


async def test_silence_is_reprompted_twice_then_a_callback_is_offered(
    stack: Stack, http: httpx.AsyncClient, db: Database
) -> None:
    call = Call(stack, http)
    greeting = await call.post("/twilio/voice/consent?choice=default")
    first = await call.silence(_next_action(greeting))
    assert first == (
        f"{XML}<Response>{_gather(1, 1)}{SAY}Sorry, I didn't catch that.</Say>"
        f"{SAY}{GREETING}</Say></Gather></Response>"
    )
    mumbled = await call.post(
        _next_action(first), gather_params(call.params, speech="uh", confidence=0.05)
    )
    assert _next_action(mumbled) == "/twilio/voice/gather?turn=1&misses=2"
    offer = await call.silence(_next_action(mumbled))
    assert _next_action(offer) == "/twilio/voice/gather?turn=1&misses=3&offer=1"
    assert "press 0" in _said(offer)[0] and "press 1" in _said(offer)[0]
    goodbye = await call.press(_next_action(offer), "1")
    assert goodbye == f"{XML}<Response>{SAY}{CALLBACK_CONFIRMED}</Say><Hangup /></Response>"
    conversation = await _conversation(db, call.number)
    assert conversation.status is ConversationStatus.AWAITING_AGENT


async def test_speaking_when_offered_a_person_carries_on(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    call = Call(stack, http)
    twiml = await call.post("/twilio/voice/consent?choice=default")
    for _ in range(3):
        twiml = await call.silence(_next_action(twiml))
    assert "offer=1" in _next_action(twiml)
    answer = await call.say(_next_action(twiml), "what are your opening hours?")
    assert "Monday to Friday" in _said(answer)[0]
    assert _next_action(answer) == "/twilio/voice/gather?turn=2&misses=0"


async def test_a_caller_can_ask_for_a_person_with_zero(
    stack: Stack, http: httpx.AsyncClient, db: Database
) -> None:
    call = Call(stack, http)
    greeting = await call.post("/twilio/voice/consent?choice=default")
    answer = await call.press(_next_action(greeting), "0")
    assert any("team" in said or "person" in said for said in _said(answer)), answer
    conversation = await _conversation(db, call.number)
    assert conversation.status is ConversationStatus.AWAITING_AGENT


@pytest.mark.parametrize(("digits", "consent"), [("1", "opted_in"), (None, "declined")])
async def test_emea_callers_opt_in_to_recording(
    stack: Stack, http: httpx.AsyncClient, db: Database, digits: str | None, consent: str
) -> None:
    call = Call(stack, http, country="GB")
    recordings = len(stack.twilio.requests_to("/Recordings.json"))
    prompt = await call.post("/twilio/voice")
    assert prompt.startswith(
        f'{XML}<Response><Gather action="/twilio/voice/consent" input="dtmf" numDigits="1"'
    )
    params = gather_params(call.params, digits=digits) if digits else call.params
    greeting = await call.post("/twilio/voice/consent", params)
    assert _said(greeting) == [GREETING]
    conversation = await _conversation(db, call.number)
    assert conversation.recording_consent == consent
    if digits == "1":
        await stack.twilio.wait_for_requests_async(recordings + 1, path_suffix="/Recordings.json")
    else:
        assert len(stack.twilio.requests_to("/Recordings.json")) == recordings


async def test_hanging_up_mid_turn_leaves_nothing_pending(
    stack: Stack, http: httpx.AsyncClient, db: Database
) -> None:
    call = Call(stack, http)
    greeting = await call.post("/twilio/voice/consent?choice=default")
    await call.say(_next_action(greeting), "hello")
    # Pretend the caller hung up before the last reply was said.
    async with db.session() as session:
        reply = await session.scalar(
            select(Message)
            .where(Message.direction == Direction.OUTBOUND)
            .order_by(Message.id.desc())
            .limit(1)
        )
        assert reply is not None
        reply.status = MessageStatus.PENDING
    hangup = call_status_params(call.params, call_status="completed", duration=12)
    await signed_post(http, f"{stack.app_url}/twilio/voice/status", hangup, stack.twilio.auth_token)
    async with db.session() as session:
        again = await session.get_one(Message, reply.id)
    assert again.status is MessageStatus.FAILED
    assert again.error == "call ended before it was said"


async def test_an_answer_after_an_outage_is_texted_to_the_caller(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    call = Call(stack, http)
    greeting = await call.post("/twilio/voice/consent?choice=default")
    stack.rasa_proxy.stop()
    try:
        answer = await call.say(_next_action(greeting), "what are your opening hours?")
        assert "Your message is saved" in _said(answer)[0]
        hangup = call_status_params(call.params, call_status="completed", duration=20)
        await signed_post(
            http, f"{stack.app_url}/twilio/voice/status", hangup, stack.twilio.auth_token
        )
    finally:
        stack.rasa_proxy.start()
    for _ in range(240):
        texted = [m["body"] for m in stack.twilio.messages if m["to"] == call.number]
        if texted:
            break
        await asyncio.sleep(0.25)
    assert texted and "Monday to Friday" in texted[0], texted


@pytest.fixture(scope="module")
def impatient_app(stack: Stack) -> Iterator[str]:
    """A second app instance that never waits for an answer within the webhook."""
    with stack.extra_app("impatient", voice_answer_timeout_seconds=0.001) as url:
        yield url


async def test_a_slow_answer_keeps_the_caller_company(
    stack: Stack, http: httpx.AsyncClient, impatient_app: str
) -> None:
    call = Call(stack, http, app_url=impatient_app)
    greeting = await call.post("/twilio/voice/consent?choice=default")
    waiting = await call.say(_next_action(greeting), "hello")
    assert waiting == (
        f'{XML}<Response>{SAY}One moment, please.</Say><Pause length="2" />'
        '<Redirect method="POST">/twilio/voice/pending?turn=1&amp;waits=1</Redirect></Response>'
    )
    twiml = waiting
    for _ in range(10):
        redirect = re.search(r"<Redirect[^>]*>([^<]+)</Redirect>", twiml)
        if redirect is None:
            break
        await asyncio.sleep(2)  # the <Pause length="2"> Twilio plays first
        twiml = await call.post(redirect.group(1).replace("&amp;", "&"))
    assert _next_action(twiml) == "/twilio/voice/gather?turn=2&misses=0"
    assert "virtual assistant" in _said(twiml)[0]


@asynccontextmanager
async def _on_duty(db: Database, name: str, *, phone: str, capacity: int = 1) -> AsyncIterator[int]:
    """An available agent with a phone, who afterwards finishes their calls and signs off."""
    async with db.session() as session:
        agent = await store.create_agent(
            session=session,
            email=f"{name.lower()}@shop.example",
            display_name=name,
            password_hash="x",
            skills=["general"],
            capacity=capacity,
            phone=phone,
        )
        await store.set_agent_status(
            session=session, agent_id=agent.id, status=AgentStatus.AVAILABLE
        )
    try:
        yield agent.id
    finally:
        await sign_off(db, agent.id)


async def test_a_caller_is_put_through_to_a_free_agents_phone(
    stack: Stack, http: httpx.AsyncClient, db: Database
) -> None:
    call = Call(stack, http)
    async with db.session() as session:
        # A VIP goes ahead of anyone other tests left waiting.
        await store.upsert_customer(session=session, phone=call.number, is_vip=True)
    async with _on_duty(db, "Dana", phone="+1 415 555 0123"):
        greeting = await call.post("/twilio/voice/consent?choice=default")
        put_through = await call.press(_next_action(greeting), "0")
    assert put_through.endswith(
        f"{SAY}Putting you through to Dana now.</Say>"
        f'<Dial answerOnBridge="true" callerId="{TWILIO_NUMBER}">'
        "<Number>+14155550123</Number></Dial></Response>"
    ), put_through


async def _keep_busy(db: Database, agent_id: int) -> None:
    """Give the agent another customer's conversation, so a caller has to wait."""
    number = f"+1415558{next(_numbers):04d}"
    async with db.session() as session:
        stored = await store.record_inbound(
            session=session,
            channel=Channel.SMS,
            address=number,
            text="I need a person",
            external_id=f"SM-busy-{number}",
            idle_after=timedelta(hours=1),
        )
        handoff = await store.enqueue_handoff(
            session=session,
            conversation_id=stored.conversation.id,
            queue="support.general",
            reason="request_human",
        )
        assert await store.take_handoff(session=session, handoff_id=handoff.id, agent_id=agent_id)


async def _held(call: Call) -> tuple[int, str]:
    """Press 0 and expect hold: the handoff id and the team's queue from the <Enqueue>."""
    greeting = await call.post("/twilio/voice/consent?choice=default")
    held = await call.press(_next_action(greeting), "0")
    match = re.search(
        r'<Enqueue action="/twilio/voice/dequeued\?handoff=(\d+)" method="POST" '
        r'waitUrl="/twilio/voice/hold\?handoff=\1" waitUrlMethod="POST">([^<]+)</Enqueue>'
        r"</Response>$",
        held,
    )
    assert match, held
    assert "in the queue" in " ".join(_said(held))
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
            await store.resolve_handoff(
                session=session, handoff_id=await _assigned_to(db, lee), agent_id=lee
            )
            assert await store.take_handoff(session=session, handoff_id=handoff_id, agent_id=lee)
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
    assert _said(goodbye) == [HOLD_TIMED_OUT] and goodbye.endswith("<Hangup /></Response>")
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


async def test_forged_voice_webhooks_are_refused(stack: Stack, http: httpx.AsyncClient) -> None:
    call = Call(stack, http)
    response = await signed_post(
        http, f"{stack.app_url}/twilio/voice", call.params, auth_token="f" * 32
    )
    assert response.status_code == 403
