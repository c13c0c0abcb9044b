"""Twilio webhooks (SMS and Voice): read the form body and check `X-Twilio-Signature`.

Every Twilio request is authenticated with the account's auth token before anything is
stored or processed; a forged or unsigned request gets 403 and leaves no trace but a log
line. Behind a proxy, Twilio signs the public URL it called: set PUBLIC_URL. Then each
route's form is checked against its model in `params` (400 for what Twilio never sends).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

import structlog
from fastapi import Depends, HTTPException, Request
from fastapi.responses import Response
from twilio.request_validator import RequestValidator

from adapters.request_body import read_body
from adapters.twilio.params import (
    FORM_CONTENT_TYPE,
    CallParams,
    CallStatusParams,
    DequeueParams,
    GatherParams,
    QueueWaitParams,
    SmsStatusParams,
    SmsWebhook,
    TwilioParams,
    check_params,
)
from bot.core.deps import SettingsDep

log = structlog.get_logger("adapters.twilio")

# Twilio's largest webhooks (an MMS with ten media, a long SMS) are a few kilobytes.
MAX_FORM_BYTES = 64 * 1024
TWIML_MEDIA_TYPE = "application/xml"


def twiml_response(twiml: str) -> Response:
    """A webhook answer Twilio reads as TwiML."""
    return Response(content=twiml, media_type=TWIML_MEDIA_TYPE)


def signed_url(request: Request, public_url: str) -> str:
    """The URL Twilio signed: the public one when the app runs behind a proxy."""
    if not public_url:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{public_url.rstrip('/')}{request.url.path}{query}"


def parse_form(body: bytes) -> dict[str, str]:
    """A Twilio form body as a dict; ValueError for anything Twilio would not send."""
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"malformed form body: {error}") from error
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise ValueError(f"parameter {key!r} given twice")
        form[key] = value
    return form


async def twilio_form(request: Request, settings: SettingsDep) -> dict[str, str]:
    """The parameters of an authentic Twilio webhook request (403/413/415/400/503 otherwise)."""
    # Unsigned first: whatever the configuration, nobody but Twilio gets past a 403.
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        log.warning("twilio_unsigned", path=request.url.path)
        raise HTTPException(403, "Missing X-Twilio-Signature.")
    if not settings.twilio_enabled:
        raise HTTPException(
            503, "Twilio is not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN."
        )
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != FORM_CONTENT_TYPE:
        raise HTTPException(415, f"Expected {FORM_CONTENT_TYPE}, got {content_type or 'none'}.")
    body = await read_body(request, limit=MAX_FORM_BYTES)
    try:
        form = parse_form(body)
    except ValueError as error:
        log.warning("twilio_malformed", path=request.url.path, reason=str(error))
        raise HTTPException(400, str(error)) from error
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    if not validator.validate(signed_url(request, settings.public_url), form, signature):
        log.warning("twilio_forged", path=request.url.path)
        raise HTTPException(403, "Invalid X-Twilio-Signature.")
    return form


TwilioForm = Annotated[dict[str, str], Depends(twilio_form)]


def webhook_form(model: type[TwilioParams]) -> Any:
    """A dependency: the authentic form (as `twilio_form`), its values checked against
    `model` (400 for anything Twilio would not send); pair it with `form_body(model)`."""

    async def checked_form(form: TwilioForm) -> dict[str, str]:
        check_params(model, form)
        return form

    return Depends(checked_form)


SmsForm = Annotated[dict[str, str], webhook_form(SmsWebhook)]
SmsStatusForm = Annotated[dict[str, str], webhook_form(SmsStatusParams)]
CallForm = Annotated[dict[str, str], webhook_form(CallParams)]
GatherForm = Annotated[dict[str, str], webhook_form(GatherParams)]
CallStatusForm = Annotated[dict[str, str], webhook_form(CallStatusParams)]
QueueWaitForm = Annotated[dict[str, str], webhook_form(QueueWaitParams)]
DequeueForm = Annotated[dict[str, str], webhook_form(DequeueParams)]
