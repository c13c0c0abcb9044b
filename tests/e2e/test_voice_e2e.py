"""End to end over the phone: Twilio Voice's signed webhooks in, TwiML out, the real Rasa
server and model behind, recording consent and hang-ups recorded."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import (
    AuditEvent,
    ChannelIdentity,
    Complaint,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    MessageStatus,
    RecordingConsent,
)
from bot.core.texts import Text, say
from bot.testing.twilio_webhooks import (
    call_status_params,
    gather_params,
    signed_post,
    voice_params,
)
from tests.support.call import SAY, XML, Call, gather_tag, next_action, said
from tests.support.stack import TWILIO_NUMBER, Stack
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

CASE_ID = re.compile(r"CMP-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}")
GREETING = say(Text.CALL_GREETING)
CALLBACK_CONFIRMED = say(Text.CALL_CALLBACK_CONFIRMED)


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
    assert greeting == f"{XML}<Response>{gather_tag(1)}{SAY}{GREETING}</Say></Gather></Response>"

    answer = await call.say(next_action(greeting), "I want to complain, my parcel arrived damaged")
    assert answer.startswith(f"{XML}<Response>{gather_tag(2)}")
    assert "order number" in said(answer)[-1]

    menu = await call.say(next_action(answer), "it's ORD-482913")
    assert said(menu)[-2:] == [
        "What would you like us to do to put this right?",
        "For Refund, press 1. For Replacement, press 2. For Repair, press 3. "
        "For Just let you know, press 4.",
    ]
    done = await call.press(next_action(menu), "1")
    assert next_action(done) == "/twilio/voice/gather?turn=4&misses=0"
    case_id = CASE_ID.search(" ".join(said(done)))
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
    first = await call.silence(next_action(greeting))
    assert first == (
        f"{XML}<Response>{gather_tag(1, 1)}{SAY}Sorry, I didn't catch that.</Say>"
        f"{SAY}{GREETING}</Say></Gather></Response>"
    )
    mumbled = await call.post(
        next_action(first), gather_params(call.params, speech="uh", confidence=0.05)
    )
    assert next_action(mumbled) == "/twilio/voice/gather?turn=1&misses=2"
    offer = await call.silence(next_action(mumbled))
    assert next_action(offer) == "/twilio/voice/gather?turn=1&misses=3&offer=1"
    assert "press 0" in said(offer)[0] and "press 1" in said(offer)[0]
    goodbye = await call.press(next_action(offer), "1")
    assert goodbye == f"{XML}<Response>{SAY}{CALLBACK_CONFIRMED}</Say><Hangup /></Response>"
    conversation = await _conversation(db, call.number)
    assert conversation.status is ConversationStatus.AWAITING_AGENT


async def test_speaking_when_offered_a_person_carries_on(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    call = Call(stack, http)
    twiml = await call.post("/twilio/voice/consent?choice=default")
    for _ in range(3):
        twiml = await call.silence(next_action(twiml))
    assert "offer=1" in next_action(twiml)
    answer = await call.say(next_action(twiml), "what are your opening hours?")
    assert "Monday to Friday" in said(answer)[0]
    assert next_action(answer) == "/twilio/voice/gather?turn=2&misses=0"


async def test_a_caller_can_ask_for_a_person_with_zero(
    stack: Stack, http: httpx.AsyncClient, db: Database
) -> None:
    call = Call(stack, http)
    greeting = await call.post("/twilio/voice/consent?choice=default")
    answer = await call.press(next_action(greeting), "0")
    assert any("team" in said or "person" in said for said in said(answer)), answer
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
    assert said(greeting) == [GREETING]
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
    await call.say(next_action(greeting), "hello")
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
        answer = await call.say(next_action(greeting), "what are your opening hours?")
        assert "Your message is saved" in said(answer)[0]
        hangup = call_status_params(call.params, call_status="completed", duration=20)
        await signed_post(
            http, f"{stack.app_url}/twilio/voice/status", hangup, stack.twilio.auth_token
        )
    finally:
        stack.rasa_proxy.start()

    async def texted() -> list[str]:
        return [m["body"] for m in stack.twilio.messages if m["to"] == call.number]

    answers = await wait_for(texted, timeout=60, what=f"a text to {call.number}")
    assert answers and "Monday to Friday" in answers[0], answers


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
    waiting = await call.say(next_action(greeting), "hello")
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
    assert next_action(twiml) == "/twilio/voice/gather?turn=2&misses=0"
    assert "virtual assistant" in said(twiml)[0]


async def test_forged_voice_webhooks_are_refused(stack: Stack, http: httpx.AsyncClient) -> None:
    call = Call(stack, http)
    response = await signed_post(
        http, f"{stack.app_url}/twilio/voice", call.params, auth_token="f" * 32
    )
    assert response.status_code == 403


@pytest.fixture(scope="module")
def one_call_app(stack: Stack) -> Iterator[str]:
    """A second app instance taking one call a minute from a number."""
    with stack.extra_app("calls-limited", call_sender_rate="1/minute") as url:
        yield url


async def test_a_caller_over_the_rate_hears_a_busy_tone(
    stack: Stack, http: httpx.AsyncClient, one_call_app: str
) -> None:
    call = Call(stack, http, app_url=one_call_app)
    assert "Redirect" in await call.post("/twilio/voice")
    again = voice_params(from_=call.number, to=TWILIO_NUMBER)
    # Refused before it is answered: the caller hears busy, nobody is billed for the call.
    busy = await call.post("/twilio/voice", again)
    assert busy == f'{XML}<Response><Reject reason="busy" /></Response>'
    other = Call(stack, http, app_url=one_call_app)
    assert "Redirect" in await other.post("/twilio/voice")
