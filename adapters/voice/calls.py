"""Phone calls on the message path: each webhook of a call answered with the TwiML that
carries the call on (greeting, the assistant's answer, a wait, hold, an agent's phone)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import structlog

from adapters.contract import ChannelContext
from adapters.twilio.rest import TwilioRest
from adapters.voice.parse import call_of, consent_for, needs_opt_in, parse_inbound
from adapters.voice.render import (
    HOLD_PAUSE_SECONDS,
    MAX_REPROMPTS,
    Voice,
    render_agent_will_text,
    render_busy,
    render_consent_prompt,
    render_dial,
    render_enqueue,
    render_goodbye,
    render_hang_up_quietly,
    render_hold,
    render_leave,
    render_offer_human,
    render_outbound,
    render_recording_notice,
    render_turn,
    render_wait,
    spoken,
)
from bot.core.intents import LocalIntent
from bot.core.messages import BotReply, InboundMessage, InvalidMessage, StoredReply
from bot.core.models import Channel, MessageStatus, RecordingConsent
from bot.core.rate_limits import RateLimited, Rule
from bot.core.store import calls, conversations, customers, outbound
from bot.core.store import inbound as inbound_store
from bot.core.texts import Text, say
from handoff.escalation import Escalations, HoldEnd
from handoff.models import Agent, HandoffKind

log = structlog.get_logger("adapters.voice")

REQUEST_HUMAN_PAYLOAD = "/request_human"
MAX_PENDING_WAITS = 5
CALL_ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
HOLD_ANNOUNCE_EVERY_SECONDS = 60


class VoiceCalls:
    """Answers Twilio's voice webhooks for every call."""

    def __init__(
        self, context: ChannelContext, *, escalations: Escalations, twilio: TwilioRest | None
    ) -> None:
        self._context = context
        self._escalations = escalations
        self._twilio = twilio
        self._voice = Voice.from_settings(context.settings)
        self._rate = Rule.parse("call_sender", context.settings.call_sender_rate)

    async def incoming(self, form: Mapping[str, str]) -> str:
        """A call comes in: recording notice or opt-in (by country), then the greeting; a
        busy tone for a caller over CALL_SENDER_RATE."""
        call_sid, caller = call_of(form)
        try:
            await self._context.rate_limits.hit(self._rate, caller, what="calls from this number")
        except RateLimited as limited:
            log.warning("call_rate_limited", call_sid=call_sid, retry_after=limited.retry_after)
            return render_busy()
        log.info("call_started", call_sid=call_sid, country=form.get("FromCountry"))
        if not self._context.settings.voice_record_calls:
            return self._greeting()
        if needs_opt_in(form, self._context.settings.voice_recording_opt_in_countries):
            return render_consent_prompt(self._voice)
        return render_recording_notice(self._voice)

    async def consent(self, form: Mapping[str, str], choice: str | None) -> str:
        """Store the caller's recording choice, start recording if allowed, greet."""
        call_sid, caller = call_of(form)
        consent = consent_for(form, choice)
        async with self._context.database.session() as session:
            identity = await customers.resolve_identity(
                session=session, channel=Channel.VOICE, address=caller
            )
            conversation = await conversations.resolve_conversation(
                session=session,
                customer_id=identity.customer_id,
                channel=Channel.VOICE,
                idle_after=self._context.pipeline.idle_after,
            )
            await calls.set_recording_consent(
                session=session, conversation_id=conversation.id, consent=consent, call_sid=call_sid
            )
        if consent is not RecordingConsent.DECLINED and self._twilio is not None:
            self._context.background.spawn(self._start_recording(call_sid), name="call-recording")
        return self._greeting()

    async def gathered(
        self, form: Mapping[str, str], *, turn: int, misses: int, offer: bool
    ) -> str:
        """The caller's answer (speech or keypad) to the last prompt."""
        try:
            inbound = parse_inbound(
                form, turn=turn, max_bytes=self._context.settings.max_message_bytes
            )
        except InvalidMessage as error:
            if error.code == "malformed":
                raise
            inbound = None  # speech we cannot use is like speech we did not hear
        if offer:
            return await self._after_offer(form, inbound, turn=turn)
        if inbound is None:
            return await self._reprompt(form, turn=turn, misses=misses + 1)
        return await self._answer(await self._with_keypad_choice(inbound), turn=turn)

    async def pending(self, form: Mapping[str, str], *, turn: int, waits: int) -> str:
        """The answer to a slow turn, once it is there."""
        call_sid, _ = call_of(form)
        async with self._context.database.session() as session:
            message = await inbound_store.inbound_by_external_id(
                session=session, channel=Channel.VOICE, external_id=f"{call_sid}:{turn}"
            )
            replies = (
                await outbound.replies_to(session=session, message_id=message.id)
                if message is not None and message.status is not MessageStatus.PROCESSING
                else None
            )
        if replies is not None and message is not None:
            stored = [outbound.stored_reply(r) for r in replies]
            return await self._speak(stored, turn=turn + 1, conversation_id=message.conversation_id)
        if waits < MAX_PENDING_WAITS:
            return render_wait(self._voice, turn=turn, waits=waits)
        texts = [say(Text.CALL_TOO_SLOW), say(Text.CALL_GREETING)]
        return render_turn(texts, voice=self._voice, turn=turn + 1)

    async def status(self, form: Mapping[str, str]) -> None:
        """A call status callback; a finished call leaves nothing waiting to be said."""
        call_sid, _ = call_of(form)
        status = form.get("CallStatus", "")
        if status not in CALL_ENDED:
            return
        async with self._context.database.session() as session:
            unspoken = await calls.end_call(session=session, call_sid=call_sid, status=status)
        log.info(
            "call_ended",
            call_sid=call_sid,
            status=status,
            duration=form.get("CallDuration"),
            unspoken=unspoken,
        )

    async def hold(self, form: Mapping[str, str], *, handoff_id: int) -> str:
        """The hold queue's waitUrl, asked again after every pause while the caller waits."""
        call_of(form)
        waited = seconds(form.get("QueueTime"))
        position = await self._escalations.hold_position(handoff_id)
        # Taken, gone, waited too long, or nobody left to take it: out of the hold queue.
        if position is None or waited >= self._context.settings.voice_max_hold_seconds:
            return render_leave()
        announce = waited % HOLD_ANNOUNCE_EVERY_SECONDS < HOLD_PAUSE_SECONDS
        return render_hold(position if announce else None, voice=self._voice)

    async def dequeued(self, form: Mapping[str, str], *, handoff_id: int) -> str:
        """The Enqueue action: the caller left the hold queue (taken, timed out or hung up)."""
        call_sid, caller = call_of(form)
        result, waited = form.get("QueueResult", ""), seconds(form.get("QueueTime"))
        log.info(
            "call_dequeued", call_sid=call_sid, handoff_id=handoff_id, result=result, waited=waited
        )
        end, agent = await self._escalations.leave_hold(
            handoff_id, caller=caller, result=result, waited=waited
        )
        if end is HoldEnd.GONE:
            return render_hang_up_quietly()
        if end is HoldEnd.TO_AGENT and agent is not None:
            return self._to_agent([], agent)
        if end is HoldEnd.DEALT_WITH:
            return render_goodbye(say(Text.CALL_HOLD_ENDED), voice=self._voice)
        return render_goodbye(say(Text.CALL_HOLD_TIMED_OUT), voice=self._voice)

    def _greeting(self) -> str:
        return render_turn([say(Text.CALL_GREETING)], voice=self._voice, turn=1)

    async def _reprompt(self, form: Mapping[str, str], *, turn: int, misses: int) -> str:
        if misses > MAX_REPROMPTS:
            return render_offer_human(self._voice, turn=turn)
        # Say again what the caller did not answer: the greeting, or the last reply.
        last: list[str] = [say(Text.CALL_GREETING)]
        if turn > 1:
            async with self._context.database.session() as session:
                message = await outbound.last_reply_to(
                    session=session, channel=Channel.VOICE, address=call_of(form)[1]
                )
            if message is not None:
                last = spoken(BotReply.from_stored(message.text, message.payload)) or last
        texts = [say(Text.CALL_REPROMPT), *last]
        return render_turn(texts, voice=self._voice, turn=turn, misses=misses)

    async def _after_offer(
        self, form: Mapping[str, str], inbound: InboundMessage | None, *, turn: int
    ) -> str:
        digits = form.get("Digits", "")
        if inbound is not None and digits == "0":
            return await self._answer(_as_request_human(inbound), turn=turn)
        if inbound is not None and digits == "1":
            await self._request_callback(inbound)
            return render_goodbye(say(Text.CALL_CALLBACK_CONFIRMED), voice=self._voice)
        if inbound is not None and not digits:  # the caller spoke after all: carry on
            return await self._answer(inbound, turn=turn)
        return render_goodbye(say(Text.CALL_NO_INPUT_GOODBYE), voice=self._voice)

    async def _request_callback(self, inbound: InboundMessage) -> None:
        accepted = await self._context.pipeline.accept(inbound)
        if not accepted.stored.created:
            return
        await self._escalations.escalate(
            conversation_id=accepted.stored.conversation.id,
            customer_id=accepted.stored.conversation.customer_id,
            reason="callback requested after silence on a call",
            kind=HandoffKind.CALLBACK,
            callback_number=inbound.sender_id,
        )
        reply = BotReply(
            text=say(Text.CALL_CALLBACK_CONFIRMED), custom={"callback": inbound.sender_id}
        )
        turn = await self._context.pipeline.answer_without_rasa(
            accepted, [reply], intent=LocalIntent.CALLBACK
        )
        await self._context.pipeline.deliveries.mark_delivered(turn.replies)

    async def _with_keypad_choice(self, inbound: InboundMessage) -> InboundMessage:
        if inbound.metadata.get("input") != "dtmf":
            return inbound
        if inbound.text == "0":  # 0 is a person, on any menu
            return _as_request_human(inbound)
        return await self._context.pipeline.with_chosen_option(inbound)

    async def _answer(self, inbound: InboundMessage, *, turn: int) -> str:
        accepted = await self._context.pipeline.accept(inbound)
        work = asyncio.shield(
            self._context.background.spawn(
                self._context.pipeline.respond(accepted, push=False), name="voice-turn"
            )
        )
        try:
            # Twilio hangs up on a webhook after 15 s: a slow answer is fetched by /pending.
            answered = await asyncio.wait_for(
                work, timeout=self._context.settings.voice_answer_timeout_seconds
            )
        except TimeoutError:
            return render_wait(self._voice, turn=turn, waits=0)
        return await self._speak(
            list(answered.replies), turn=turn + 1, conversation_id=accepted.stored.conversation.id
        )

    async def _speak(
        self, replies: Sequence[StoredReply], *, turn: int, conversation_id: int
    ) -> str:
        """Say the replies; then carry on with the assistant, or pass the caller to people
        (put through to the agent who has it, or on hold while the team is open and on duty;
        closed, nobody on duty or a call back booked: the assistant carries on)."""
        await self._context.pipeline.deliveries.mark_delivered(replies)
        said = [r.reply for r in replies]
        handover = await self._escalations.caller_handover(conversation_id)
        if handover is not None and handover.agent is not None:
            return self._to_agent(said, handover.agent)
        if handover is not None and handover.waiting is not None:
            waiting = handover.waiting
            return render_enqueue(
                said, queue=waiting.queue, handoff_id=waiting.id, voice=self._voice
            )
        return render_outbound(said, voice=self._voice, turn=turn)

    def _to_agent(self, said: Sequence[BotReply], agent: Agent) -> str:
        if not agent.phone:
            return render_agent_will_text(said, agent_name=agent.display_name, voice=self._voice)
        return render_dial(
            said,
            agent_name=agent.display_name,
            agent_phone=agent.phone,
            caller_id=self._context.settings.twilio_phone_number,
            voice=self._voice,
        )

    async def _start_recording(self, call_sid: str) -> None:
        assert self._twilio is not None
        recording_sid = await self._twilio.start_call_recording(call_sid=call_sid)
        log.info("call_recording_started", call_sid=call_sid, recording_sid=recording_sid)


def _as_request_human(inbound: InboundMessage) -> InboundMessage:
    metadata = {**inbound.metadata, "display_text": inbound.text}
    return inbound.model_copy(update={"text": REQUEST_HUMAN_PAYLOAD, "metadata": metadata})


def seconds(value: str | None) -> int:
    """A whole number of seconds from a Twilio parameter (0 if missing or not a number)."""
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0
