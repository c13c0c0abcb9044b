"""Twilio webhooks: form bodies read strictly, and the test webhooks we post signed as
Twilio signs them (checked with the twilio package's own validator)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx
import pytest
from twilio.request_validator import (  # type: ignore[import-untyped, unused-ignore]
    RequestValidator,
)

from adapters.twilio.webhook import parse_form
from bot.testing.twilio_webhooks import (
    DEFAULT_ACCOUNT_SID,
    SIGNATURE_HEADER,
    call_status_params,
    gather_params,
    signature,
    signed_post,
    sms_params,
    voice_params,
)

ACCOUNT_SID = DEFAULT_ACCOUNT_SID
AUTH_TOKEN = "0f9e8d7c6b5a49382716a5b4c3d2e1f0"
SHOP = "+14155550100"
CUSTOMER = "+14155550199"


@pytest.mark.parametrize(
    "body",
    [b"Body=%FF%FE&From=x", b"Body=caf\xc3\xa9", b"no-equals-sign&&", b"From=a&From=b"],
)
def test_malformed_form_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(ValueError, match=r"malformed|twice"):
        parse_form(body)


def test_form_bodies_decode_percent_escaped_utf8() -> None:
    assert parse_form(b"Body=caf%C3%A9+ol%C3%A9&From=%2B4415") == {
        "Body": "café olé",
        "From": "+4415",
    }
    assert parse_form(b"") == {}


URL = "https://assistant.example.com/twilio/sms"


@pytest.mark.parametrize(
    "params",
    [
        sms_params(from_=CUSTOMER, to=SHOP, body="Where is my order?"),
        sms_params(
            from_=CUSTOMER,
            to=SHOP,
            body="",
            media=[
                ("https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME", "image/png")
            ],
        ),
        voice_params(from_=CUSTOMER, to=SHOP),
        gather_params(voice_params(from_=CUSTOMER, to=SHOP), speech="I want a refund"),
        gather_params(voice_params(from_=CUSTOMER, to=SHOP), digits="2"),
        call_status_params(voice_params(from_=CUSTOMER, to=SHOP), duration=75),
    ],
    ids=["sms", "mms", "voice", "speech", "digits", "call-status"],
)
def test_webhook_signatures_validate_and_tampering_fails(params: dict[str, str]) -> None:
    validator = RequestValidator(AUTH_TOKEN)
    signed = signature(URL, params, AUTH_TOKEN)

    assert validator.validate(URL, params, signed)
    assert not validator.validate(URL, params | {"From": "+14155550666"}, signed)
    assert not validator.validate(URL, params, signature(URL, params, "another-token"))


def test_webhook_params_look_like_twilios() -> None:
    sms = sms_params(from_=CUSTOMER, to=SHOP, body="Hi", media=[("u", "image/jpeg")])
    call = voice_params(from_="+442071838750", to=SHOP, from_country="GB")
    gather = gather_params(call, speech="billing", confidence=0.87)
    status = call_status_params(call, duration=61)

    assert sms["MessageSid"] == sms["SmsSid"] == sms["SmsMessageSid"]
    assert sms["MessageSid"].startswith("MM") and sms["AccountSid"] == ACCOUNT_SID
    assert (sms["NumMedia"], sms["MediaUrl0"], sms["MediaContentType0"]) == ("1", "u", "image/jpeg")
    assert (sms["SmsStatus"], sms["ApiVersion"], sms["FromCity"]) == (
        "received",
        "2010-04-01",
        "SAN FRANCISCO",
    )
    assert (call["CallerCountry"], call["FromCountry"], call["FromCity"]) == ("GB", "GB", "")
    assert call["CallSid"].startswith("CA") and call["Direction"] == "inbound"
    assert (gather["SpeechResult"], gather["Confidence"], gather["CallStatus"]) == (
        "billing",
        "0.87",
        "in-progress",
    )
    assert (status["CallStatus"], status["CallDuration"], status["Duration"]) == (
        "completed",
        "61",
        "2",
    )


async def test_signed_post_signs_the_public_url() -> None:
    received: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200, text="<Response/>")

    params = sms_params(from_=CUSTOMER, to=SHOP, body="Ship to 1 Main St & co")
    public = "https://assistant.example.com/twilio/sms"
    async with httpx.AsyncClient(transport=httpx.MockTransport(app)) as client:
        await signed_post(
            client, "http://10.0.0.5:8000/twilio/sms", params, AUTH_TOKEN, public_url=public
        )

    [request] = received
    form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
    assert form == params
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    validator = RequestValidator(AUTH_TOKEN)
    assert validator.validate(public, form, request.headers[SIGNATURE_HEADER])
    assert not validator.validate(str(request.url), form, request.headers[SIGNATURE_HEADER])
