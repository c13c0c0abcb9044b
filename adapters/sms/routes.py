"""Twilio's SMS webhooks: `POST /twilio/sms` (a message comes in) and
`POST /twilio/sms/status` (status callbacks of the messages we sent)."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter
from fastapi.responses import Response

from adapters.sms.channel import SmsChannel
from adapters.sms.parse import parse_inbound
from adapters.twilio.params import SmsStatusParams, SmsWebhook, form_body
from adapters.twilio.webhook import SmsForm, SmsStatusForm, twiml_response
from bot.core.deps import DatabaseDep, SettingsDep, from_app_state
from bot.core.messages import InvalidMessage
from bot.core.models import Channel
from bot.core.store import deliveries

log = structlog.get_logger("adapters.sms")
router = APIRouter(prefix="/twilio/sms", tags=["sms"])


SmsChannelDep = Annotated[SmsChannel, from_app_state("sms")]


@router.post("", response_class=Response, openapi_extra=form_body(SmsWebhook))
async def inbound_sms(form: SmsForm, settings: SettingsDep, sms: SmsChannelDep) -> Response:
    """Twilio's "A message comes in" webhook; 429 (the message kept, answered later) when
    the number sends more than SMS_SENDER_RATE."""
    try:
        inbound = parse_inbound(form, max_bytes=settings.max_message_bytes)
    except InvalidMessage as error:
        log.warning("sms_malformed", reason=error.reason)
        raise
    return twiml_response(await sms.receive(inbound))


@router.post("/status", response_class=Response, openapi_extra=form_body(SmsStatusParams))
async def sms_status(form: SmsStatusForm, database: DatabaseDep) -> Response:
    """Twilio's status callback for a message we sent: queued, sent, delivered, failed..."""
    sid = form.get("MessageSid", "")
    status = form.get("MessageStatus") or form.get("SmsStatus") or ""
    if not sid or not status:
        raise InvalidMessage("malformed", "MessageSid and MessageStatus are required.", 400)
    async with database.session() as session:
        known = await deliveries.update_delivery_status(
            session=session,
            channel=Channel.SMS,
            provider_id=sid,
            status=status,
            error_code=form.get("ErrorCode") or None,
        )
    log.info("sms_status", sid=sid, status=status, known=known, error_code=form.get("ErrorCode"))
    return Response(status_code=204)
