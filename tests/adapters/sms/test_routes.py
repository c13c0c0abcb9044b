"""The SMS webhooks over real signed requests through the app: values Twilio never sends are
a 400 in the one error shape (never a 500), unsigned requests a 403, a NUL is stored the
same on SQLite and PostgreSQL, and a number over its rate gets 429 with its message kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.core.models import MessageStatus
from bot.core.texts import Text, say
from bot.testing.twilio_webhooks import DEFAULT_ACCOUNT_SID, new_sid, sms_params
from tests.support.twilio_app import TWILIO_NUMBER, TwilioApp, outcome, twilio_app

CUSTOMER = "+14155550142"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[TwilioApp]:
    """The app with SMS on, at most 2 messages a minute from one number."""
    async with twilio_app(tmp_path, database_url, sms_sender_rate="2/minute") as running:
        yield running


def _sms(body: str = "hello", **overrides: str) -> dict[str, str]:
    return sms_params(from_=CUSTOMER, to=TWILIO_NUMBER, body=body) | overrides


# Values Twilio never sends; each was a 500 (int("²") raises though "²".isdigit(), a SID or
# status longer than its column fails on PostgreSQL) or would be stored as is.
NOT_FROM_TWILIO = [
    {"NumMedia": "²"},
    {"NumMedia": "٣"},
    {"NumMedia": "9" * 5000},  # over int()'s 4300-digit limit
    {"NumMedia": "-1"},
    {"NumMedia": "+1"},
    {"NumMedia": "11"},
    {"NumMedia": "1", "MediaUrl0": "file:///etc/passwd"},
    {"NumMedia": "1", "MediaUrl0": "https://api.twilio.com/x\x00y"},
    {"From": "+1" + "4" * 40},  # longer than the 32 characters a phone is stored in
    {"From": "+1415\x00555"},
    {"To": "+1415\n555"},
    {"MessageSid": "SM" + "f" * 300},
    {"MessageSid": "not-a-sid"},
    {"FromCountry": "USA\x00"},
]
STATUS_NOT_FROM_TWILIO = [
    {"MessageStatus": "x" * 30},
    {"MessageStatus": "delivered\x00"},
    {"ErrorCode": "9" * 25},
    {"ErrorCode": "²"},
    {"MessageSid": "SM" + "0" * 500},
]


async def test_values_twilio_never_sends_are_a_400(app: TwilioApp) -> None:
    answers = []
    for overrides in NOT_FROM_TWILIO:
        params = _sms(**overrides)
        response = await app.post("/twilio/sms", params)
        stored = await app.inbound(params["MessageSid"])
        answers.append((overrides, *outcome(response), stored))
    assert [a for a in answers if a[1:] != (400, "malformed", None)] == []


async def test_status_callbacks_with_values_twilio_never_sends_are_a_400(app: TwilioApp) -> None:
    answers = []
    for overrides in STATUS_NOT_FROM_TWILIO:
        sid = new_sid("SM")
        params = {
            "SmsSid": sid,
            "SmsStatus": "delivered",
            "MessageStatus": "delivered",
            "To": CUSTOMER,
            "MessageSid": sid,
            "AccountSid": DEFAULT_ACCOUNT_SID,
            "From": TWILIO_NUMBER,
            "ApiVersion": "2010-04-01",
        } | overrides
        response = await app.post("/twilio/sms/status", params)
        answers.append((overrides, *outcome(response)))
    assert [a for a in answers if a[1:] != (400, "malformed")] == []


async def test_unsigned_requests_are_a_403_whatever_they_carry(app: TwilioApp) -> None:
    for path in ("/twilio/sms", "/twilio/sms/status"):
        for body in (b"NumMedia=%C2%B2", b"\xff\xfe", b"a" * 60_000, b""):
            response = await app.http.post(
                path, content=body, headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 403, (path, body[:10], response.text)
            assert response.json()["code"] == "forbidden"


async def test_the_openapi_document_has_the_webhook_forms(app: TwilioApp) -> None:
    operations = (await app.http.get("/openapi.json")).json()["paths"]
    for path, required in (
        ("/twilio/sms", {"MessageSid", "From"}),
        ("/twilio/sms/status", {"MessageSid"}),
    ):
        body = operations[path]["post"]["requestBody"]["content"]
        schema = body["application/x-www-form-urlencoded"]["schema"]
        assert set(schema["required"]) == required
        assert "$defs" not in str(schema)
    sms = operations["/twilio/sms"]["post"]["requestBody"]["content"]
    fields = sms["application/x-www-form-urlencoded"]["schema"]["properties"]
    assert fields["NumMedia"]["type"] == "integer"
    assert fields["NumMedia"]["maximum"] == 10
    assert {"Body", "To", "MediaUrl0", "MediaContentType9"} <= set(fields)


async def test_a_nul_in_a_text_is_dropped_and_the_text_answered(app: TwilioApp) -> None:
    params = _sms("where is my \x00 order")
    response = await app.post("/twilio/sms", params)
    assert response.status_code == 200, response.text
    message = await app.settled(params["MessageSid"])
    assert message.text == "where is my  order"
    # Rasa is down: the text waits for it, and the customer is told it is saved.
    assert message.status is MessageStatus.AWAITING_RETRY
    (notice,) = await app.replies_to(message.id)
    assert notice.text == say(Text.SERVICE_TROUBLE)
    # Twilio redelivering it finds it stored: processed once.
    assert (await app.post("/twilio/sms", params)).status_code == 200
    assert len(await app.replies_to(message.id)) == 1


async def test_a_binary_body_is_stored_and_answered(app: TwilioApp) -> None:
    params = _sms("\x00\x01\x02\x03binary")
    response = await app.post("/twilio/sms", params)
    assert response.status_code == 200, response.text
    message = await app.inbound(params["MessageSid"])
    assert message is not None
    assert message.text == "\ufffd\x01\x02\x03binary"
    assert message.status is MessageStatus.ANSWERED
    assert message.payload["metadata"]["unreadable"] == "binary_content"
    (reply,) = await app.replies_to(message.id)
    assert reply.text == say(Text.SMS_UNREADABLE)


async def test_over_the_rate_the_message_is_kept_for_later_and_twilio_told_429(
    app: TwilioApp,
) -> None:
    for _ in range(2):
        assert (await app.post("/twilio/sms", _sms())).status_code == 200
    over = _sms("where is my order?")
    response = await app.post("/twilio/sms", over)
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    # Stored, unclaimed, unanswered: waiting for the retry worker (Twilio will not resend).
    kept = await app.inbound(over["MessageSid"])
    assert kept is not None and kept.text == "where is my order?"
    assert kept.status is MessageStatus.RECEIVED
    assert await app.replies_to(kept.id) == []
    # Twilio's redelivery of it is not refused again, and not answered twice.
    assert (await app.post("/twilio/sms", over)).status_code == 200


async def test_over_the_rate_a_local_answer_is_skipped_and_stop_still_honoured(
    app: TwilioApp,
) -> None:
    for _ in range(2):
        assert (await app.post("/twilio/sms", _sms("HELP"))).status_code == 200
    help_request = _sms("HELP")
    assert (await app.post("/twilio/sms", help_request)).status_code == 429
    kept = await app.inbound(help_request["MessageSid"])
    assert kept is not None and kept.status is MessageStatus.ANSWERED
    assert kept.intent == "sms_help"
    assert await app.replies_to(kept.id) == []
    stop = _sms("STOP")
    assert (await app.post("/twilio/sms", stop)).status_code == 200
    stopped = await app.inbound(stop["MessageSid"])
    assert stopped is not None and stopped.intent == "sms_stop"


async def test_unsigned_requests_are_a_403_even_with_twilio_not_configured(
    tmp_path: Path, database_url: str
) -> None:
    # A 503 ("set TWILIO_ACCOUNT_SID") was for anyone before: a server error to a fuzzer.
    unconfigured = {"twilio_account_sid": "", "twilio_auth_token": SecretStr("")}
    async with twilio_app(tmp_path, database_url, **unconfigured) as app:
        unsigned = await app.http.post("/twilio/sms", content=b"Body=hi", headers=FORM)
        assert outcome(unsigned) == (403, "forbidden")
        signed = await app.post("/twilio/sms", _sms())
        assert outcome(signed)[0] == 503
