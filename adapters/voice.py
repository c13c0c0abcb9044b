"""Phone calls through Twilio Programmable Voice: TwiML in, speech and keypad out.

Webhooks (all signed, see twilio_webhook):
  POST /twilio/voice           a call comes in: recording notice or opt-in, then the greeting
  POST /twilio/voice/consent   the caller's recording choice (press 1 where opt-in is required)
  POST /twilio/voice/gather    what the caller said (SpeechResult) or pressed (Digits)
  POST /twilio/voice/pending   polls a slow answer while the caller hears "one moment"
  POST /twilio/voice/status    call status callback: a hang-up closes the turn cleanly
Every turn is a `<Gather input="speech dtmf">` around `<Say>` replies; buttons become a
keypad menu; silence is re-prompted twice, then the caller is offered a person or a callback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter
from fastapi.responses import Response
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from adapters.messages import BotReply, InboundMessage, InvalidMessage, clean_text
from adapters.twilio_webhook import TwilioForm, twiml_response
from bot import store
from bot.delivery import StoredReply
from bot.deps import ServicesDep
from bot.models import Channel, HandoffKind, MessageStatus, RecordingConsent
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


def render_dial(
    replies: Sequence[BotReply], *, agent_name: str, agent_phone: str, caller_id: str, voice: Voice
) -> str:
    """Say the replies, then put the caller through to the agent's phone."""
    response = VoiceResponse()
    for text in [text for reply in replies for text in spoken(reply)]:
        response.say(text, voice=voice.name, language=voice.language)
    response.say(
        f"Putting you through to {agent_name} now.", voice=voice.name, language=voice.language
    )
    dial = Dial(caller_id=caller_id or None, answer_on_bridge=True)
    dial.number(agent_phone)
    response.append(dial)
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
        async with services.database.session() as session:
            agent = await store.agent_to_dial(session=session, conversation_id=conversation_id)
        if agent is not None and agent.phone:
            # A person from the team has this conversation: put the caller through.
            twiml = render_dial(
                said,
                agent_name=agent.display_name,
                agent_phone=agent.phone,
                caller_id=services.settings.twilio_phone_number,
                voice=voice,
            )
            return twiml_response(twiml)
    return twiml_response(render_outbound(said, voice=voice, turn=turn))


async def _start_recording(services: Services, call_sid: str) -> None:
    assert services.twilio is not None
    recording_sid = await services.twilio.start_call_recording(call_sid=call_sid)
    log.info("call_recording_started", call_sid=call_sid, recording_sid=recording_sid)
