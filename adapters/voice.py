"""Phone calls through Twilio Programmable Voice: TwiML in, speech and keypad out.

Webhooks (all signed, see twilio_webhook):
  POST /twilio/voice           a call comes in: recording notice or opt-in, then the greeting
  POST /twilio/voice/consent   the caller's recording choice (press 1 where opt-in is required)
  POST /twilio/voice/gather    what the caller said (SpeechResult) or pressed (Digits)
  POST /twilio/voice/pending   polls a slow answer while the caller hears "one moment"
  POST /twilio/voice/status    call status callback: a hang-up closes the turn cleanly
  POST /twilio/voice/hold      the hold queue's waitUrl: place in line, or <Leave> once taken
  POST /twilio/voice/dequeued  the caller left the hold queue: to the agent's phone, a call
                               back, or (hung up) the request is abandoned
Every turn is a `<Gather input="speech dtmf">` around `<Say>` replies; buttons become a
keypad menu; silence is re-prompted twice, then the caller is offered a person or a callback.
A caller waiting for a person is held with `<Enqueue>` while the team is open and on duty,
and put through with `<Dial>` to the agent's phone when someone takes the conversation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.twiml.voice_response import Dial, Enqueue, Gather, VoiceResponse

from adapters.messages import BotReply, InboundMessage, InvalidMessage, clean_text
from adapters.twilio_webhook import TwilioForm, twiml_response
from bot import store
from bot.delivery import StoredReply
from bot.deps import ServicesDep
from bot.models import (
    Agent,
    Channel,
    Handoff,
    HandoffKind,
    HandoffStatus,
    MessageStatus,
    RecordingConsent,
    utcnow,
)
from bot.services import Services
from bot.settings import Settings

log = structlog.get_logger("adapters.voice")

# Amazon Polly voices Twilio offers, one natural voice per language.
VOICES = {
    "en-US": "Polly.Joanna-Neural",
    "en-GB": "Polly.Amy-Neural",
    "en-AU": "Polly.Olivia-Neural",
    "en-IN": "Polly.Kajal-Neural",
    "es-ES": "Polly.Lucia-Neural",
    "es-US": "Polly.Lupe-Neural",
    "fr-FR": "Polly.Lea-Neural",
    "de-DE": "Polly.Vicki-Neural",
    "it-IT": "Polly.Bianca-Neural",
    "pt-BR": "Polly.Camila-Neural",
    "nl-NL": "Polly.Laura-Neural",
}
GREETING = "Hello, you're through to our customer service assistant. How can I help you today?"
RECORDING_NOTICE = "This call may be recorded for quality and training."
CONSENT_PROMPT = (
    "We'd like to record this call for quality and training. To allow this, press 1. "
    "To continue without recording, stay on the line."
)
REPROMPT = "Sorry, I didn't catch that."
OFFER_HUMAN = (
    "I'm sorry, I still can't hear you. To speak to a person, press 0. "
    "To get a call back on this number, press 1."
)
CALLBACK_CONFIRMED = "Thank you. A colleague will call you back on this number. Goodbye."
NO_INPUT_GOODBYE = "I'm sorry, I couldn't hear you. Please call us again. Goodbye."
ONE_MOMENT = "One moment, please."
TOO_SLOW = "I'm sorry, this is taking longer than it should. Let me try again."
# Silence or mumbling is re-prompted this often before a person or a callback is offered.
MAX_REPROMPTS = 2
# Speech recognised with less confidence than this is treated like silence.
MIN_SPEECH_CONFIDENCE = 0.2
REQUEST_HUMAN_PAYLOAD = "/request_human"
PENDING_PAUSE_SECONDS = 2
MAX_PENDING_WAITS = 5
CALL_ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
# On hold, the waitUrl is asked again after each pause: how soon a taken call is put through.
HOLD_PAUSE_SECONDS = 10
HOLD_ANNOUNCE_EVERY_SECONDS = 60
HOLD_TIMED_OUT = (
    "I'm sorry to keep you waiting. A colleague will call you back on this number "
    "as soon as someone is free. Goodbye."
)
HOLD_ENDED = "Your request has been dealt with. Thank you for calling. Goodbye."
# Twilio's QueueResult when the caller is no longer on our line to talk to.
QUEUE_LEFT_FOR_GOOD = frozenset({"hangup", "bridged", "bridging-in-process", "redirected"})


@dataclass(frozen=True)
class Voice:
    """How the assistant sounds: the `<Say>` voice and the speech-recognition language."""

    name: str
    language: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Voice:
        """The configured voice, or the natural one for the configured language."""
        language = settings.voice_language
        return cls(settings.voice_name or VOICES.get(language, "Polly.Joanna-Neural"), language)


# --- rendering (pure) -----------------------------------------------------------------


def spoken_menu(reply: BotReply) -> str:
    """Buttons as a keypad menu: "For Refund, press 1. For Repair, press 2."."""
    return " ".join(
        f"For {button.title}, press {number}." for number, button in enumerate(reply.buttons, 1)
    )


def spoken(reply: BotReply) -> list[str]:
    """What is said for one reply: its text, a note about a picture, its keypad menu."""
    said = [reply.text] if reply.text else []
    if reply.image:
        said.append("I've got a picture for you that I can't show on a call.")
    if reply.buttons:
        said.append(spoken_menu(reply))
    return said


def gather_url(turn: int, misses: int = 0, *, offer: bool = False) -> str:
    """Where Twilio posts the caller's next answer."""
    query = {"turn": turn, "misses": misses} | ({"offer": 1} if offer else {})
    return f"/twilio/voice/gather?{urlencode(query)}"


def _gather(voice: Voice, action: str, *, num_digits: int | None = None) -> Gather:
    return Gather(
        input="speech dtmf",
        action=action,
        method="POST",
        language=voice.language,
        speech_timeout="auto",
        timeout=5,
        action_on_empty_result=True,
        **({"num_digits": num_digits} if num_digits else {}),
    )


def render_turn(texts: Sequence[str], *, voice: Voice, turn: int, misses: int = 0) -> str:
    """Say `texts` inside a Gather waiting for the caller's answer to turn `turn`."""
    response = VoiceResponse()
    gather = _gather(voice, gather_url(turn, misses))
    for text in texts:
        gather.say(text, voice=voice.name, language=voice.language)
    response.append(gather)
    return str(response)


def render_outbound(replies: Sequence[BotReply], *, voice: Voice, turn: int) -> str:
    """The assistant's replies spoken, then listening for the next turn."""
    texts = [text for reply in replies for text in spoken(reply)]
    return render_turn(texts or [REPROMPT], voice=voice, turn=turn)


def _say_all(response: VoiceResponse, replies: Sequence[BotReply], voice: Voice) -> None:
    for text in [text for reply in replies for text in spoken(reply)]:
        response.say(text, voice=voice.name, language=voice.language)


def render_dial(
    replies: Sequence[BotReply], *, agent_name: str, agent_phone: str, caller_id: str, voice: Voice
) -> str:
    """Say the replies, then put the caller through to the agent's phone."""
    response = VoiceResponse()
    _say_all(response, replies, voice)
    response.say(
        f"Putting you through to {agent_name} now.", voice=voice.name, language=voice.language
    )
    dial = Dial(caller_id=caller_id or None, answer_on_bridge=True)
    dial.number(agent_phone)
    response.append(dial)
    return str(response)


def render_enqueue(
    replies: Sequence[BotReply], *, queue: str, handoff_id: int, voice: Voice
) -> str:
    """Say the replies, then hold the caller in the team's queue until someone takes it."""
    response = VoiceResponse()
    _say_all(response, replies, voice)
    enqueue = Enqueue(
        name=queue[:64],
        wait_url=f"/twilio/voice/hold?handoff={handoff_id}",
        wait_url_method="POST",
        action=f"/twilio/voice/dequeued?handoff={handoff_id}",
        method="POST",
    )
    response.append(enqueue)
    return str(response)


def render_hold(position: int | None, *, voice: Voice) -> str:
    """What a caller on hold hears until Twilio asks again: now and then their place."""
    response = VoiceResponse()
    if position is not None:
        response.say(
            f"You are number {position} in line. Thank you for holding.",
            voice=voice.name,
            language=voice.language,
        )
    response.pause(length=HOLD_PAUSE_SECONDS)
    return str(response)


def render_leave() -> str:
    """Take the caller out of the hold queue (Twilio then asks the Enqueue action)."""
    response = VoiceResponse()
    response.leave()
    return str(response)


def render_agent_will_text(replies: Sequence[BotReply], *, agent_name: str, voice: Voice) -> str:
    """An agent without a phone has the call's conversation: they answer by text."""
    response = VoiceResponse()
    _say_all(response, replies, voice)
    response.say(
        f"{agent_name} from our team has your request, and will reply by text message to "
        "this number or call you back. Goodbye.",
        voice=voice.name,
        language=voice.language,
    )
    response.hangup()
    return str(response)


def render_consent_prompt(voice: Voice) -> str:
    """Ask for recording consent: press 1 to opt in; no key press means no recording."""
    response = VoiceResponse()
    gather = Gather(input="dtmf", num_digits=1, timeout=5, action="/twilio/voice/consent")
    gather.say(CONSENT_PROMPT, voice=voice.name, language=voice.language)
    response.append(gather)
    response.redirect("/twilio/voice/consent", method="POST")
    return str(response)


def render_recording_notice(voice: Voice) -> str:
    """Tell the caller the call is recorded, then carry on to the greeting."""
    response = VoiceResponse()
    response.say(RECORDING_NOTICE, voice=voice.name, language=voice.language)
    response.redirect("/twilio/voice/consent?choice=default", method="POST")
    return str(response)


def render_offer_human(voice: Voice, *, turn: int) -> str:
    """After repeated silence: press 0 for a person, 1 for a callback; else goodbye."""
    response = VoiceResponse()
    gather = _gather(voice, gather_url(turn, MAX_REPROMPTS + 1, offer=True), num_digits=1)
    gather.say(OFFER_HUMAN, voice=voice.name, language=voice.language)
    response.append(gather)
    return str(response)


def render_goodbye(text: str, *, voice: Voice) -> str:
    """Say `text` and hang up."""
    response = VoiceResponse()
    response.say(text, voice=voice.name, language=voice.language)
    response.hangup()
    return str(response)


def render_wait(voice: Voice, *, turn: int, waits: int) -> str:
    """Keep the caller company while a slow answer is being prepared."""
    response = VoiceResponse()
    if waits == 0:
        response.say(ONE_MOMENT, voice=voice.name, language=voice.language)
    response.pause(length=PENDING_PAUSE_SECONDS)
    query = urlencode({"turn": turn, "waits": waits + 1})
    response.redirect(f"/twilio/voice/pending?{query}", method="POST")
    return str(response)


# --- parsing (pure) -------------------------------------------------------------------


def call_of(form: Mapping[str, str]) -> tuple[str, str]:
    """The CallSid and the caller's number, which every voice webhook carries."""
    call_sid, caller = form.get("CallSid", "").strip(), form.get("From", "").strip()
    if not call_sid or not caller:
        raise InvalidMessage("malformed", "CallSid and From are required.", status_code=400)
    return call_sid, caller


def parse_inbound(form: Mapping[str, str], *, turn: int, max_bytes: int) -> InboundMessage | None:
    """What the caller said or pressed on turn `turn`; None for silence or mumbling."""
    call_sid, caller = call_of(form)
    digits = form.get("Digits", "").strip()
    speech = form.get("SpeechResult", "").strip()
    metadata: dict[str, str | float] = {"call_sid": call_sid, "to": form.get("To", "")}
    if digits:
        text, metadata["input"] = digits, "dtmf"
    elif speech and _confidence(form) >= MIN_SPEECH_CONFIDENCE:
        text, metadata["input"] = speech, "speech"
        metadata["confidence"] = _confidence(form)
    else:
        return None
    return InboundMessage(
        text=clean_text(text, max_bytes=max_bytes),
        sender_id=caller,
        channel=Channel.VOICE,
        message_id=f"{call_sid}:{turn}",
        metadata=metadata,
    )


def _confidence(form: Mapping[str, str]) -> float:
    try:
        return float(form.get("Confidence", "1"))
    except ValueError:
        return 0.0


def consent_for(form: Mapping[str, str], choice: str | None) -> RecordingConsent:
    """The caller's recording choice: told (default), pressed 1 (opted in), or neither."""
    if choice == "default":
        return RecordingConsent.DEFAULT
    return RecordingConsent.OPTED_IN if form.get("Digits") == "1" else RecordingConsent.DECLINED


def needs_opt_in(form: Mapping[str, str], opt_in_countries: set[str]) -> bool:
    """Whether this caller must opt in to recording (their country's rules)."""
    country = (form.get("FromCountry") or form.get("CallerCountry") or "").upper()
    return country in opt_in_countries


# --- the webhooks ---------------------------------------------------------------------

router = APIRouter(prefix="/twilio/voice", tags=["voice"])


@router.post("", response_class=Response)
async def incoming_call(form: TwilioForm, services: ServicesDep) -> Response:
    """Twilio's "A call comes in" webhook."""
    call_sid, _ = call_of(form)
    settings = services.settings
    voice = Voice.from_settings(settings)
    log.info("call_started", call_sid=call_sid, country=form.get("FromCountry"))
    if not settings.voice_record_calls:
        return twiml_response(render_turn([GREETING], voice=voice, turn=1))
    if needs_opt_in(form, settings.voice_recording_opt_in_countries):
        return twiml_response(render_consent_prompt(voice))
    return twiml_response(render_recording_notice(voice))


@router.post("/consent", response_class=Response)
async def recording_consent(
    form: TwilioForm, services: ServicesDep, choice: str | None = None
) -> Response:
    """Store the caller's recording choice, start recording if allowed, greet."""
    call_sid, caller = call_of(form)
    consent = consent_for(form, choice)
    async with services.database.session() as session:
        identity = await store.resolve_identity(
            session=session, channel=Channel.VOICE, address=caller
        )
        conversation = await store.resolve_conversation(
            session=session,
            customer_id=identity.customer_id,
            channel=Channel.VOICE,
            idle_after=services.pipeline.idle_after,
        )
        await store.set_recording_consent(
            session=session, conversation_id=conversation.id, consent=consent, call_sid=call_sid
        )
    if consent is not RecordingConsent.DECLINED and services.twilio is not None:
        services.background.spawn(_start_recording(services, call_sid), name="call-recording")
    voice = Voice.from_settings(services.settings)
    return twiml_response(render_turn([GREETING], voice=voice, turn=1))


@router.post("/gather", response_class=Response)
async def gathered(
    form: TwilioForm, services: ServicesDep, turn: int = 1, misses: int = 0, offer: int = 0
) -> Response:
    """The caller's answer (speech or keypad) to the last prompt."""
    voice = Voice.from_settings(services.settings)
    try:
        inbound = parse_inbound(form, turn=turn, max_bytes=services.settings.max_message_bytes)
    except InvalidMessage as error:
        if error.code == "malformed":
            return Response(error.reason, status_code=400)
        inbound = None  # speech we cannot use is like speech we did not hear
    if offer:
        return await _after_offer(services, form, inbound, voice=voice, turn=turn)
    if inbound is None:
        return twiml_response(await _reprompt(services, form, voice, turn=turn, misses=misses + 1))
    inbound = await _with_keypad_choice(services, inbound)
    return await _answer(services, inbound, voice=voice, turn=turn)


@router.post("/pending", response_class=Response)
async def pending_answer(
    form: TwilioForm, services: ServicesDep, turn: int = 1, waits: int = 1
) -> Response:
    """The answer to a slow turn, once it is there."""
    call_sid, _ = call_of(form)
    voice = Voice.from_settings(services.settings)
    async with services.database.session() as session:
        message = await store.inbound_by_external_id(
            session=session, channel=Channel.VOICE, external_id=f"{call_sid}:{turn}"
        )
        replies = (
            await store.replies_to(session=session, message_id=message.id)
            if message is not None and message.status is not MessageStatus.PROCESSING
            else None
        )
    if replies is not None and message is not None:
        stored = [StoredReply(r.id, BotReply.from_stored(r.text, r.payload)) for r in replies]
        return await _speak(
            services, stored, voice=voice, turn=turn + 1, conversation_id=message.conversation_id
        )
    if waits < MAX_PENDING_WAITS:
        return twiml_response(render_wait(voice, turn=turn, waits=waits))
    return twiml_response(render_turn([TOO_SLOW, GREETING], voice=voice, turn=turn + 1))


@router.post("/status", response_class=Response)
async def call_status(form: TwilioForm, services: ServicesDep) -> Response:
    """Twilio's call status callback; a finished call leaves nothing waiting to be said."""
    call_sid, _ = call_of(form)
    status = form.get("CallStatus", "")
    if status in CALL_ENDED:
        async with services.database.session() as session:
            unspoken = await store.end_call(session=session, call_sid=call_sid, status=status)
        log.info(
            "call_ended",
            call_sid=call_sid,
            status=status,
            duration=form.get("CallDuration"),
            unspoken=unspoken,
        )
    return Response(status_code=204)


@router.post("/hold", response_class=Response)
async def on_hold(form: TwilioForm, services: ServicesDep, handoff: int) -> Response:
    """The hold queue's waitUrl, asked again after every pause while the caller waits."""
    call_of(form)
    waited = _seconds(form.get("QueueTime"))
    position = None
    async with services.database.session() as session:
        waiting = await session.get(Handoff, handoff)
        if waiting is not None and await _worth_holding(services, session, waiting):
            position = await store.queue_position(session=session, handoff=waiting)
    # Taken, gone, waited too long, or nobody left to take it: out of the hold queue.
    if position is None or waited >= services.settings.voice_max_hold_seconds:
        return twiml_response(render_leave())
    announce = waited % HOLD_ANNOUNCE_EVERY_SECONDS < HOLD_PAUSE_SECONDS
    voice = Voice.from_settings(services.settings)
    return twiml_response(render_hold(position if announce else None, voice=voice))


@router.post("/dequeued", response_class=Response)
async def dequeued(form: TwilioForm, services: ServicesDep, handoff: int) -> Response:
    """The Enqueue action: the caller left the hold queue (taken, timed out or hung up)."""
    call_sid, caller = call_of(form)
    result, waited = form.get("QueueResult", ""), _seconds(form.get("QueueTime"))
    log.info("call_dequeued", call_sid=call_sid, handoff_id=handoff, result=result, waited=waited)
    if result == "hangup":
        async with services.database.session() as session:
            await store.abandon_handoff(
                session=session,
                handoff_id=handoff,
                reason=f"caller hung up after {waited} s on hold",
            )
    if result in QUEUE_LEFT_FOR_GOOD:
        return twiml_response(str(VoiceResponse()))
    voice = Voice.from_settings(services.settings)
    async with services.database.session() as session:
        held = await session.get(Handoff, handoff)
        if held is not None and held.status is HandoffStatus.ASSIGNED:
            agent = await store.agent_with(session=session, conversation_id=held.conversation_id)
            if agent is not None:
                return twiml_response(_to_agent(services, [], agent, voice=voice))
        if held is None or held.status is not HandoffStatus.QUEUED:
            return twiml_response(render_goodbye(HOLD_ENDED, voice=voice))
        await store.call_back_instead(
            session=session,
            handoff=held,
            number=caller,
            reason=f"left the hold queue ({result or 'unknown'}) after {waited} s",
        )
    return twiml_response(render_goodbye(HOLD_TIMED_OUT, voice=voice))


def _seconds(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


async def _reprompt(
    services: Services, form: Mapping[str, str], voice: Voice, *, turn: int, misses: int
) -> str:
    if misses > MAX_REPROMPTS:
        return render_offer_human(voice, turn=turn)
    # Say again what the caller did not answer: the greeting, or the last reply.
    last: list[str] = [GREETING]
    if turn > 1:
        async with services.database.session() as session:
            message = await store.last_reply_to(
                session=session, channel=Channel.VOICE, address=call_of(form)[1]
            )
        if message is not None:
            last = spoken(BotReply.from_stored(message.text, message.payload)) or last
    return render_turn([REPROMPT, *last], voice=voice, turn=turn, misses=misses)


async def _after_offer(
    services: Services,
    form: Mapping[str, str],
    inbound: InboundMessage | None,
    *,
    voice: Voice,
    turn: int,
) -> Response:
    digits = form.get("Digits", "")
    if inbound is not None and digits == "0":
        return await _answer(services, _as_request_human(inbound), voice=voice, turn=turn)
    if inbound is not None and digits == "1":
        await _request_callback(services, inbound)
        return twiml_response(render_goodbye(CALLBACK_CONFIRMED, voice=voice))
    if inbound is not None and not digits:  # the caller spoke after all: carry on
        return await _answer(services, inbound, voice=voice, turn=turn)
    return twiml_response(render_goodbye(NO_INPUT_GOODBYE, voice=voice))


def _as_request_human(inbound: InboundMessage) -> InboundMessage:
    metadata = {**inbound.metadata, "display_text": inbound.text}
    return inbound.model_copy(update={"text": REQUEST_HUMAN_PAYLOAD, "metadata": metadata})


async def _request_callback(services: Services, inbound: InboundMessage) -> None:
    accepted = await services.pipeline.accept(inbound)
    if not accepted.stored.created:
        return
    async with services.database.session() as session:
        await store.enqueue_handoff(
            session=session,
            conversation_id=accepted.stored.conversation.id,
            queue=services.queues.route().key,
            reason="callback requested after silence on a call",
            kind=HandoffKind.CALLBACK,
            callback_number=inbound.sender_id,
        )
    await services.router.dispatch()
    reply = BotReply(text=CALLBACK_CONFIRMED, custom={"callback": inbound.sender_id})
    turn = await services.pipeline.answer_without_rasa(accepted, [reply], intent="callback")
    await services.deliveries.mark_delivered(turn.replies)


async def _with_keypad_choice(services: Services, inbound: InboundMessage) -> InboundMessage:
    if inbound.metadata.get("input") != "dtmf":
        return inbound
    if inbound.text == "0":  # 0 is a person, on any menu
        return _as_request_human(inbound)
    return await services.pipeline.with_chosen_option(inbound)


async def _answer(
    services: Services, inbound: InboundMessage, *, voice: Voice, turn: int
) -> Response:
    accepted = await services.pipeline.accept(inbound)
    work = asyncio.shield(
        services.background.spawn(
            services.pipeline.respond(accepted, push=False), name="voice-turn"
        )
    )
    try:
        # Twilio hangs up on a webhook after 15 s: a slow answer is fetched by /pending.
        turn_result = await asyncio.wait_for(
            work, timeout=services.settings.voice_answer_timeout_seconds
        )
    except TimeoutError:
        return twiml_response(render_wait(voice, turn=turn, waits=0))
    return await _speak(
        services,
        list(turn_result.replies),
        voice=voice,
        turn=turn + 1,
        conversation_id=accepted.stored.conversation.id,
    )


async def _speak(
    services: Services,
    replies: Sequence[StoredReply],
    *,
    voice: Voice,
    turn: int,
    conversation_id: int | None = None,
) -> Response:
    await services.deliveries.mark_delivered(replies)
    said = [r.reply for r in replies]
    if conversation_id is not None:
        handover = await _handover(services, said, voice=voice, conversation_id=conversation_id)
        if handover is not None:
            return twiml_response(handover)
    return twiml_response(render_outbound(said, voice=voice, turn=turn))


async def _handover(
    services: Services, said: Sequence[BotReply], *, voice: Voice, conversation_id: int
) -> str | None:
    """TwiML that passes the caller to people, if the conversation is theirs or waiting.

    With an agent: put through to their phone, or told they'll get a text. Waiting while
    the team is open and on duty: held in the queue. Otherwise (closed, nobody on duty, a
    call back booked) the assistant carries on, and its keypad menu offers a call back.
    """
    async with services.database.session() as session:
        handoff = await store.open_handoff_of(session=session, conversation_id=conversation_id)
        if handoff is None:
            return None
        if handoff.status is HandoffStatus.ASSIGNED:
            agent = await store.agent_with(session=session, conversation_id=conversation_id)
            return None if agent is None else _to_agent(services, said, agent, voice=voice)
        if not await _worth_holding(services, session, handoff):
            return None
    return render_enqueue(said, queue=handoff.queue, handoff_id=handoff.id, voice=voice)


async def _worth_holding(services: Services, session: AsyncSession, handoff: Handoff) -> bool:
    """A caller waits on hold only for a chat in an open queue that someone is serving."""
    if handoff.status is not HandoffStatus.QUEUED or handoff.kind is HandoffKind.CALLBACK:
        return False
    if not services.queues.get(handoff.queue).is_open(utcnow()):
        return False
    return bool(
        await store.agents_serving(session=session, queues=services.queues, queue=handoff.queue)
    )


def _to_agent(services: Services, said: Sequence[BotReply], agent: Agent, *, voice: Voice) -> str:
    if not agent.phone:
        return render_agent_will_text(said, agent_name=agent.display_name, voice=voice)
    return render_dial(
        said,
        agent_name=agent.display_name,
        agent_phone=agent.phone,
        caller_id=services.settings.twilio_phone_number,
        voice=voice,
    )


async def _start_recording(services: Services, call_sid: str) -> None:
    assert services.twilio is not None
    recording_sid = await services.twilio.start_call_recording(call_sid=call_sid)
    log.info("call_recording_started", call_sid=call_sid, recording_sid=recording_sid)
