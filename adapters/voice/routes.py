"""Twilio's voice webhooks (all signed, see `adapters.twilio.webhook`):
POST /twilio/voice           a call comes in: recording notice or opt-in, then the greeting
POST /twilio/voice/consent   the caller's recording choice (press 1 where opt-in is required)
POST /twilio/voice/gather    what the caller said (SpeechResult) or pressed (Digits)
POST /twilio/voice/pending   polls a slow answer while the caller hears "one moment"
POST /twilio/voice/status    call status callback: a hang-up closes the turn cleanly
POST /twilio/voice/hold      the hold queue's waitUrl: place in line, or <Leave> once taken
POST /twilio/voice/dequeued  the caller left the hold queue: to the agent's phone, a call
                             back, or (hung up) the request is abandoned
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import Response

from adapters.twilio.webhook import TwilioForm, twiml_response
from adapters.voice.calls import VoiceCalls
from bot.core.deps import from_app_state

router = APIRouter(prefix="/twilio/voice", tags=["voice"])


CallsDep = Annotated[VoiceCalls, from_app_state("voice")]


@router.post("", response_class=Response)
async def incoming_call(form: TwilioForm, calls: CallsDep) -> Response:
    """Twilio's "A call comes in" webhook."""
    return twiml_response(calls.incoming(form))


@router.post("/consent", response_class=Response)
async def recording_consent(
    form: TwilioForm, calls: CallsDep, choice: str | None = None
) -> Response:
    """Store the caller's recording choice, start recording if allowed, greet."""
    return twiml_response(await calls.consent(form, choice))


@router.post("/gather", response_class=Response)
async def gathered(
    form: TwilioForm, calls: CallsDep, turn: int = 1, misses: int = 0, offer: int = 0
) -> Response:
    """The caller's answer (speech or keypad) to the last prompt."""
    return twiml_response(await calls.gathered(form, turn=turn, misses=misses, offer=bool(offer)))


@router.post("/pending", response_class=Response)
async def pending_answer(
    form: TwilioForm, calls: CallsDep, turn: int = 1, waits: int = 1
) -> Response:
    """The answer to a slow turn, once it is there."""
    return twiml_response(await calls.pending(form, turn=turn, waits=waits))


@router.post("/status", response_class=Response)
async def call_status(form: TwilioForm, calls: CallsDep) -> Response:
    """Twilio's call status callback; a finished call leaves nothing waiting to be said."""
    await calls.status(form)
    return Response(status_code=204)


@router.post("/hold", response_class=Response)
async def on_hold(form: TwilioForm, calls: CallsDep, handoff: int) -> Response:
    """The hold queue's waitUrl, asked again after every pause while the caller waits."""
    return twiml_response(await calls.hold(form, handoff_id=handoff))


@router.post("/dequeued", response_class=Response)
async def dequeued(form: TwilioForm, calls: CallsDep, handoff: int) -> Response:
    """The Enqueue action: the caller left the hold queue (taken, timed out or hung up)."""
    return twiml_response(await calls.dequeued(form, handoff_id=handoff))
