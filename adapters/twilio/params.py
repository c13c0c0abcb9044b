"""What each field of Twilio's webhooks may be, as pydantic models.

A webhook's form is checked against its model after the signature (a request Twilio did not
sign is refused before any of this) and before anything is stored: a value Twilio never
sends (`NumMedia=²`, a 40-digit `QueueTime`, a status longer than its column, a control
character in a phone number) is a 400 in the one error shape, not a 500 further down. The
same models are the request-body schemas in the OpenAPI document, so a fuzzer can reach
the routes. Models stay flat (no nested models, Literal rather than Enum) so their JSON
schema has no `$defs` to resolve.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from bot.core.errors import describe_validation
from bot.core.messages import InvalidMessage

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_MEDIA = 10  # Twilio's own limit for one MMS
_ASCII_NUMBER = re.compile(r"[0-9]{1,9}")


def _ascii_number(value: object) -> object:
    # int() and pydantic also take "²"-like digits, "+5", " 5" and "1_000"; Twilio writes
    # numbers in plain ASCII digits, and nine of them are more than any count it sends.
    if isinstance(value, str) and not _ASCII_NUMBER.fullmatch(value):
        raise ValueError("must be a whole number written in digits 0-9")
    return value


Count = Annotated[int, Ge(0), Le(999_999_999), BeforeValidator(_ascii_number)]
"""A count or a number of seconds: 0 to 999,999,999 in ASCII digits."""
MediaCount = Annotated[int, Ge(0), Le(MAX_MEDIA), BeforeValidator(_ascii_number)]

Sid = Annotated[str, Field(pattern=r"^[A-Z]{2}[0-9a-fA-F]{32}$")]
"""A Twilio SID: two capitals and 32 hex digits (SM..., CA..., QU...)."""

# A phone number or another caller id (client:alice, whatsapp:+44..., Anonymous); at most
# the 32 characters a customer's phone is stored in, no control characters.
Address = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[^\x00-\x1f\x7f]+$")]
# Our own number (or a SIP address, which can be longer); kept in the message's metadata.
OwnAddress = Annotated[str, Field(max_length=320, pattern=r"^[^\x00-\x1f\x7f]*$")]
Country = Annotated[str, Field(pattern=r"^([A-Za-z]{2})?$")]
# A status word such as "delivered" or "no-answer", at most the 20 characters it is stored in.
Status = Annotated[str, Field(pattern=r"^[a-z][a-z_-]{0,19}$")]
TwilioErrorCode = Annotated[str, Field(pattern=r"^[0-9]{0,10}$")]
MediaUrl = Annotated[str, Field(max_length=1000, pattern=r"^https?://[^\x00-\x20\x7f]+$")]
MediaType = Annotated[str, Field(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
KeyPresses = Annotated[str, Field(max_length=32, pattern=r"^[0-9*#w]*$")]
SpeechConfidence = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class TwilioParams(BaseModel):
    """The fields a webhook needs; Twilio's other parameters are allowed and unchecked."""

    model_config = ConfigDict(extra="allow", frozen=True)


class SmsParams(TwilioParams):
    """Twilio's "A message comes in" webhook (`POST /twilio/sms`)."""

    MessageSid: Sid
    From: Address
    To: OwnAddress = ""
    Body: str = ""
    NumMedia: MediaCount = 0
    FromCountry: Country = ""


# MediaUrl0..9 and MediaContentType0..9, spelt out so the schema shows them.
SmsWebhook: type[SmsParams] = create_model(  # type: ignore[call-overload]
    "SmsWebhook",
    __base__=SmsParams,
    __doc__=SmsParams.__doc__,
    **{f"MediaUrl{i}": (MediaUrl | None, None) for i in range(MAX_MEDIA)},
    **{f"MediaContentType{i}": (MediaType | None, None) for i in range(MAX_MEDIA)},
)


class SmsStatusParams(TwilioParams):
    """Twilio's status callback for a message we sent (`POST /twilio/sms/status`)."""

    MessageSid: Sid
    MessageStatus: Status | None = None
    SmsStatus: Status | None = None
    ErrorCode: TwilioErrorCode | None = None


class CallParams(TwilioParams):
    """What every voice webhook carries: the call and the caller."""

    CallSid: Sid
    From: Address
    To: OwnAddress = ""
    CallStatus: Status | None = None
    FromCountry: Country = ""
    CallerCountry: Country = ""


class GatherParams(CallParams):
    """A <Gather> action: what the caller said (SpeechResult) or pressed (Digits)."""

    Digits: KeyPresses = ""
    SpeechResult: str = ""
    Confidence: SpeechConfidence | None = None


class CallStatusParams(CallParams):
    """Twilio's call status callback."""

    CallDuration: Count | None = None
    Duration: Count | None = None
    RecordingDuration: Count | None = None
    SequenceNumber: Count | None = None


class QueueWaitParams(CallParams):
    """An <Enqueue> waitUrl request while the caller is on hold."""

    QueueSid: Sid | None = None
    QueueTime: Count = 0
    QueuePosition: Count | None = None
    AvgQueueTime: Count | None = None
    CurrentQueueSize: Count | None = None
    MaxQueueSize: Count | None = None


class DequeueParams(CallParams):
    """An <Enqueue> action: the caller left the hold queue."""

    QueueSid: Sid | None = None
    QueueResult: (
        Literal[
            "bridged",
            "bridging-in-process",
            "error",
            "hangup",
            "leave",
            "redirected",
            "redirect-failure",
            "queue-full",
            "system-shutdown",
            "system-error",
        ]
        | None
    ) = None
    QueueTime: Count = 0


def check_params(model: type[TwilioParams], form: Mapping[str, str]) -> None:
    """InvalidMessage (400, "malformed") if `form` has a value Twilio would not send."""
    try:
        model.model_validate(form)
    except ValidationError as error:
        # The messages name the field and the rule, never the value.
        detail = describe_validation(list(error.errors(include_input=False)))
        raise InvalidMessage("malformed", detail, status_code=400) from error


def form_body(model: type[TwilioParams]) -> dict[str, Any]:
    """The OpenAPI of a webhook route: its form body, and the signature header it needs."""
    schema = model.model_json_schema()
    return {
        "parameters": [
            {
                "name": "X-Twilio-Signature",
                "in": "header",
                "required": False,
                "description": "Twilio's signature of the URL and the parameters; 403 "
                "without it or when it does not match.",
                "schema": {"type": "string"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {FORM_CONTENT_TYPE: {"schema": schema}},
        },
    }
