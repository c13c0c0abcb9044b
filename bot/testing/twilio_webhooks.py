"""Twilio's webhook requests as Twilio sends them: parameters, signature, headers.

Parameter names, order and value shapes follow requests captured from Twilio (messaging
webhook, voice webhook, <Gather> action, call status callback), so the adapters are tested
against what arrives in production rather than against a tidied-up subset.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlencode

import httpx
from twilio.request_validator import (  # type: ignore[import-untyped, unused-ignore]
    RequestValidator,
)

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC4f1b2d3c5e6a7b8c9d0e1f2a3b4c5d6e"
SIGNATURE_HEADER = "X-Twilio-Signature"

# GSM 03.38: the basic set costs one septet a character, the extension set two.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")


@dataclass(frozen=True)
class _Place:
    country: str
    state: str = ""
    city: str = ""
    zip: str = ""


# Twilio looks numbers up; a few fixed answers keep the values realistic and deterministic.
_US_AREA_CODES = {
    "415": _Place("US", "CA", "SAN FRANCISCO", "94105"),
    "212": _Place("US", "NY", "NEW YORK", "10004"),
    "312": _Place("US", "IL", "CHICAGO", "60601"),
    "512": _Place("US", "TX", "AUSTIN", "78701"),
}
_COUNTRY_PREFIXES = {"+44": "GB", "+49": "DE", "+33": "FR", "+61": "AU", "+91": "IN", "+1": "US"}


def new_sid(prefix: str) -> str:
    """A fresh Twilio SID: two letters and 32 hex digits (SM, MM, CA, RE, ME, MG, ...)."""
    return prefix + uuid.uuid4().hex


def rfc2822_now() -> str:
    """The current time as Twilio writes dates (`Thu, 24 Aug 2023 05:01:45 +0000`)."""
    return format_datetime(datetime.now(UTC).replace(microsecond=0))


def count_segments(body: str) -> int:
    """How many SMS segments Twilio bills for `body` (GSM-7 160/153, UCS-2 70/67)."""
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in body):
        units = sum(2 if ch in _GSM7_EXTENSION else 1 for ch in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    return 1 if units <= single else math.ceil(units / multi)


def sms_params(
    *,
    from_: str,
    to: str,
    body: str,
    message_sid: str | None = None,
    media: Sequence[tuple[str, str]] = (),
    account_sid: str = DEFAULT_ACCOUNT_SID,
    messaging_service_sid: str | None = None,
) -> dict[str, str]:
    """The form of Twilio's incoming-message webhook; `media` is (url, content type) pairs."""
    sid = message_sid or new_sid("MM" if media else "SM")
    sender, recipient = _place(from_), _place(to)
    params = {
        "ToCountry": recipient.country,
        "ToState": recipient.state,
        "SmsMessageSid": sid,
        "NumMedia": str(len(media)),
    }
    for index, (url, content_type) in enumerate(media):
        params[f"MediaContentType{index}"] = content_type
        params[f"MediaUrl{index}"] = url
    params |= {
        "ToCity": recipient.city,
        "FromZip": sender.zip,
        "SmsSid": sid,
        "FromState": sender.state,
        "SmsStatus": "received",
        "FromCity": sender.city,
        "Body": body,
        "FromCountry": sender.country,
        "To": to,
    }
    if messaging_service_sid is not None:
        params["MessagingServiceSid"] = messaging_service_sid
    return params | {
        "ToZip": recipient.zip,
        "NumSegments": str(count_segments(body)),
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }


def voice_params(
    *,
    from_: str,
    to: str,
    call_sid: str | None = None,
    call_status: str = "ringing",
    from_country: str = "US",
    account_sid: str = DEFAULT_ACCOUNT_SID,
) -> dict[str, str]:
    """The form of Twilio's incoming-call webhook (Caller/Called repeat From/To, as Twilio does)."""
    caller = _place(from_)
    if caller.country != from_country:
        caller = _Place(from_country)
    called = _place(to)
    return {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call_sid or new_sid("CA"),
        "CallStatus": call_status,
        "Called": to,
        "CalledCity": called.city,
        "CalledCountry": called.country,
        "CalledState": called.state,
        "CalledZip": called.zip,
        "Caller": from_,
        "CallerCity": caller.city,
        "CallerCountry": caller.country,
        "CallerState": caller.state,
        "CallerZip": caller.zip,
        "Direction": "inbound",
        "From": from_,
        "FromCity": caller.city,
        "FromCountry": caller.country,
        "FromState": caller.state,
        "FromZip": caller.zip,
        "To": to,
        "ToCity": called.city,
        "ToCountry": called.country,
        "ToState": called.state,
        "ToZip": called.zip,
    }


def gather_params(
    base_voice_params: Mapping[str, str],
    *,
    speech: str | None = None,
    confidence: float = 0.92,
    digits: str | None = None,
) -> dict[str, str]:
    """The form Twilio posts to a <Gather> action: the call's parameters plus what was heard.

    With neither `speech` nor `digits` it is the empty result (`actionOnEmptyResult`).
    """
    if speech is not None and digits is not None:
        raise ValueError("A <Gather> ends on speech or on digits, not both.")
    params = dict(base_voice_params) | {"CallStatus": "in-progress"}
    if digits is not None:
        params |= {"Digits": digits, "FinishedOnKey": ""}
    if speech is not None:
        params |= {"SpeechResult": speech, "Confidence": f"{confidence:g}"}
    return params | {"msg": "Gather End"}


def call_status_params(
    base_voice_params: Mapping[str, str],
    *,
    call_status: str = "completed",
    duration: int,
    sequence_number: int = 3,
) -> dict[str, str]:
    """The form of Twilio's call status callback; `duration` is the call's length in seconds."""
    params = dict(base_voice_params) | {
        "CallStatus": call_status,
        "Timestamp": rfc2822_now(),
        "CallbackSource": "call-progress-events",
        "SequenceNumber": str(sequence_number),
        "CallDuration": str(duration),
        # Twilio bills whole minutes and reports them alongside the seconds.
        "Duration": str(math.ceil(duration / 60)),
    }
    sip_code = {"busy": "486", "no-answer": "487"}.get(call_status)
    if sip_code is not None:
        params["SipResponseCode"] = sip_code
    return params


def queue_wait_params(
    base_voice_params: Mapping[str, str], *, queue_sid: str, queue_time: int, position: int = 1
) -> dict[str, str]:
    """The form Twilio posts to an <Enqueue> waitUrl while the caller is on hold."""
    return dict(base_voice_params) | {
        "CallStatus": "in-progress",
        "QueueSid": queue_sid,
        "QueuePosition": str(position),
        "QueueTime": str(queue_time),
        "AvgQueueTime": str(queue_time),
        "CurrentQueueSize": str(position),
        "MaxQueueSize": "1000",
    }


def dequeue_params(
    base_voice_params: Mapping[str, str], *, queue_sid: str, result: str, queue_time: int
) -> dict[str, str]:
    """The form Twilio posts to an <Enqueue> action when the caller leaves the queue."""
    status = "completed" if result == "hangup" else "in-progress"
    return dict(base_voice_params) | {
        "CallStatus": status,
        "QueueResult": result,
        "QueueSid": queue_sid,
        "QueueTime": str(queue_time),
    }


def signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    """The `X-Twilio-Signature` Twilio computes for a POST of `params` to `url`."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


def webhook_headers(
    url: str, params: Mapping[str, str], auth_token: str, *, public_url: str | None = None
) -> dict[str, str]:
    """The headers Twilio sends with a webhook, signed over `public_url` when given."""
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "TwilioProxy/1.1",
        "Accept": "*/*",
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        SIGNATURE_HEADER: signature(public_url or url, params, auth_token),
    }


async def signed_post(
    client: httpx.AsyncClient,
    url: str,
    params: Mapping[str, str],
    auth_token: str,
    *,
    public_url: str | None = None,
) -> httpx.Response:
    """POST `params` form-encoded to `url` as Twilio would.

    Behind a proxy Twilio signs the public URL it called, not the one the app sees, so
    the signature is computed over `public_url` when given.
    """
    headers = webhook_headers(url, params, auth_token, public_url=public_url)
    return await client.post(url, content=urlencode(params), headers=headers)


def _place(number: str) -> _Place:
    bare = number.removeprefix("whatsapp:")
    if bare.startswith("+1") and bare[2:5] in _US_AREA_CODES:
        return _US_AREA_CODES[bare[2:5]]
    for prefix, country in _COUNTRY_PREFIXES.items():
        if bare.startswith(prefix):
            return _Place(country)
    return _Place("")
