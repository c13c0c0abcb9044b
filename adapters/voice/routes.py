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

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from adapters.twilio.params import (
    CallParams,
    CallStatusParams,
    DequeueParams,
    GatherParams,
    QueueWaitParams,
    form_body,
)
from adapters.twilio.webhook import (
    CallForm,
    CallStatusForm,
    DequeueForm,
    GatherForm,
    QueueWaitForm,
    twiml_response,
)
from adapters.voice.calls import MAX_PENDING_WAITS, VoiceCalls
from adapters.voice.render import MAX_REPROMPTS
from bot.core.deps import from_app_state
from bot.core.ids import DbId

router = APIRouter(prefix="/twilio/voice", tags=["voice"])

# The numbers our own TwiML puts in these URLs stay far below these bounds; anything above
# is not from us and gets a 422 instead of reaching the store.
MAX_TURNS = 1000
Turn = Annotated[int, Query(ge=1, le=MAX_TURNS)]
Misses = Annotated[int, Query(ge=0, le=MAX_REPROMPTS + 1)]
Waits = Annotated[int, Query(ge=0, le=MAX_PENDING_WAITS)]
Flag = Annotated[int, Query(ge=0, le=1)]

CallsDep = Annotated[VoiceCalls, from_app_state("voice")]


@router.post("", response_class=Response, openapi_extra=form_body(CallParams))
async def incoming_call(form: CallForm, calls: CallsDep) -> Response:
    """Twilio's "A call comes in" webhook; a busy tone (`<Reject>`) for a caller over
    CALL_SENDER_RATE."""
    return twiml_response(await calls.incoming(form))


@router.post("/consent", response_class=Response, openapi_extra=form_body(GatherParams))
async def recording_consent(
    form: GatherForm, calls: CallsDep, choice: Literal["default"] | None = None
) -> Response:
    """Store the caller's recording choice, start recording if allowed, greet."""
    return twiml_response(await calls.consent(form, choice))


@router.post("/gather", response_class=Response, openapi_extra=form_body(GatherParams))
async def gathered(
    form: GatherForm, calls: CallsDep, turn: Turn = 1, misses: Misses = 0, offer: Flag = 0
) -> Response:
    """The caller's answer (speech or keypad) to the last prompt."""
    return twiml_response(await calls.gathered(form, turn=turn, misses=misses, offer=bool(offer)))


@router.post("/pending", response_class=Response, openapi_extra=form_body(CallParams))
async def pending_answer(
    form: CallForm, calls: CallsDep, turn: Turn = 1, waits: Waits = 1
) -> Response:
    """The answer to a slow turn, once it is there."""
    return twiml_response(await calls.pending(form, turn=turn, waits=waits))


@router.post("/status", response_class=Response, openapi_extra=form_body(CallStatusParams))
async def call_status(form: CallStatusForm, calls: CallsDep) -> Response:
    """Twilio's call status callback; a finished call leaves nothing waiting to be said."""
    await calls.status(form)
    return Response(status_code=204)


@router.post("/hold", response_class=Response, openapi_extra=form_body(QueueWaitParams))
async def on_hold(form: QueueWaitForm, calls: CallsDep, handoff: DbId) -> Response:
    """The hold queue's waitUrl, asked again after every pause while the caller waits."""
    return twiml_response(await calls.hold(form, handoff_id=handoff))


@router.post("/dequeued", response_class=Response, openapi_extra=form_body(DequeueParams))
async def dequeued(form: DequeueForm, calls: CallsDep, handoff: DbId) -> Response:
    """The Enqueue action: the caller left the hold queue (taken, timed out or hung up)."""
    return twiml_response(await calls.dequeued(form, handoff_id=handoff))
