"""The checks on Twilio's webhook fields, and the request-body schemas they give the OpenAPI."""

from __future__ import annotations

import pytest

from adapters.twilio.params import (
    CallParams,
    CallStatusParams,
    DequeueParams,
    GatherParams,
    QueueWaitParams,
    SmsStatusParams,
    SmsWebhook,
    TwilioParams,
    check_params,
    form_body,
)
from bot.core.messages import InvalidMessage
from bot.testing.twilio_webhooks import call_status_params, gather_params, sms_params, voice_params

CALL = voice_params(from_="+14155550100", to="+14155550199")
MODELS = [
    SmsWebhook,
    SmsStatusParams,
    CallParams,
    GatherParams,
    CallStatusParams,
    QueueWaitParams,
    DequeueParams,
]


@pytest.mark.parametrize(
    ("model", "form"),
    [
        (SmsWebhook, sms_params(from_="+14155550100", to="+14155550199", body="hi")),
        (
            SmsWebhook,
            sms_params(
                from_="whatsapp:+447700900123",
                to="+14155550199",
                body="",
                media=[("https://api.twilio.com/2010-04-01/Media/ME1", "image/jpeg")] * 10,
            ),
        ),
        (CallParams, CALL),
        (GatherParams, gather_params(CALL, speech="a refund please", confidence=0.43)),
        (GatherParams, gather_params(CALL, digits="12#")),
        (CallStatusParams, call_status_params(CALL, call_status="no-answer", duration=0)),
    ],
)
def test_what_twilio_sends_passes(model: type[TwilioParams], form: dict[str, str]) -> None:
    check_params(model, form)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("NumMedia", "²"),  # "²".isdigit() is True; int("²") raises
        ("NumMedia", "1_0"),  # int() and pydantic take underscores
        ("NumMedia", " 1"),
        ("NumMedia", "1" * 5000),
        ("MessageSid", "SM" + "a" * 31),
        ("From", ""),
    ],
)
def test_what_twilio_never_sends_is_a_400_naming_the_field_not_the_value(
    field: str, value: str
) -> None:
    form = sms_params(from_="+14155550100", to="+14155550199", body="secret words")
    with pytest.raises(InvalidMessage) as refused:
        check_params(SmsWebhook, form | {field: value})
    assert (refused.value.status_code, refused.value.code) == (400, "malformed")
    assert refused.value.reason.startswith(f"{field}: ")
    assert "input" not in refused.value.reason


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_each_schema_stands_alone_for_the_openapi(model: type[TwilioParams]) -> None:
    extra = form_body(model)
    schema = extra["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert "$defs" not in str(schema) and "$ref" not in str(schema)
    assert schema["type"] == "object"
    assert extra["parameters"][0]["name"] == "X-Twilio-Signature"
