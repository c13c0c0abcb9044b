"""The voice webhooks over real signed requests through the app: ids out of range and values
Twilio never sends are a clear 4xx (never a 500), unsigned requests a 403, and a caller over
their rate hears a busy tone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.testing.twilio_webhooks import (
    call_status_params,
    dequeue_params,
    gather_params,
    queue_wait_params,
    voice_params,
)
from tests.support.twilio_app import TWILIO_NUMBER, TwilioApp, outcome, twilio_app

CALLER = "+14155550177"
QUEUE = "QU" + "3" * 32
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BUSY = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="busy" /></Response>'


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[TwilioApp]:
    """The app with voice on, at most 2 calls a minute from one number, no recording."""
    async with twilio_app(
        tmp_path, database_url, call_sender_rate="2/minute", voice_record_calls=False
    ) as running:
        yield running


def _call() -> dict[str, str]:
    return voice_params(from_=CALLER, to=TWILIO_NUMBER)


async def test_handoff_ids_out_of_range_are_a_422(app: TwilioApp) -> None:
    hold = queue_wait_params(_call(), queue_sid=QUEUE, queue_time=5)
    left = dequeue_params(_call(), queue_sid=QUEUE, result="hangup", queue_time=5)
    answers = []
    for route, params in (("hold", hold), ("dequeued", left)):
        # 2^63 and up were a 500 (no database integer holds them), so is 2^31 on PostgreSQL.
        for handoff in (str(2**63), str(2**64), str(2**31), "0", "-1", "%C2%B2"):
            response = await app.post(f"/twilio/voice/{route}?handoff={handoff}", params)
            answers.append((route, handoff, *outcome(response)))
    assert [a for a in answers if a[2:] != (422, "invalid_request")] == []


async def test_a_handoff_id_in_range_that_does_not_exist_lets_the_caller_go(
    app: TwilioApp,
) -> None:
    params = queue_wait_params(_call(), queue_sid=QUEUE, queue_time=5)
    response = await app.post(f"/twilio/voice/hold?handoff={2**31 - 1}", params)
    assert response.status_code == 200
    assert "<Leave />" in response.text


async def test_numbers_in_the_url_out_of_range_are_a_422(app: TwilioApp) -> None:
    answers = []
    for query in (
        f"gather?turn={2**64}",
        "gather?turn=0",
        "gather?turn=%C2%B2",
        "gather?misses=-1",
        "gather?misses=99",
        "gather?offer=7",
        "gather?turn=1&offer=%C2%B2",
        f"pending?turn=1&waits={2**64}",
        "consent?choice=other",
    ):
        params = gather_params(_call(), digits="1")
        answers.append((query, *outcome(await app.post(f"/twilio/voice/{query}", params))))
    assert [a for a in answers if a[1:] != (422, "invalid_request")] == []


def _not_from_twilio() -> list[tuple[str, dict[str, str]]]:
    """Webhooks with a value Twilio never sends (a 500 before: an infinite confidence
    stored as JSON PostgreSQL refuses, a status longer than its column)."""
    call = _call()
    said = gather_params(call, speech="hi")
    status = call_status_params(call, duration=5)
    return [
        ("gather?turn=1", gather_params(call, digits="1") | {"Digits": "²"}),
        ("gather?turn=1", said | {"Confidence": "inf"}),
        ("gather?turn=1", said | {"Confidence": "nan"}),
        ("consent", gather_params(call, digits="1") | {"Digits": "1" * 40}),
        ("status", status | {"CallDuration": "²"}),
        ("status", status | {"Duration": "9" * 5000}),
        ("status", status | {"CallStatus": "x" * 40}),
        ("status", status | {"RecordingDuration": "-4"}),
        (
            "hold?handoff=1",
            queue_wait_params(call, queue_sid=QUEUE, queue_time=5) | {"QueueTime": "²"},
        ),
        ("dequeued?handoff=1", dequeue_params(call, queue_sid=QUEUE, result="no", queue_time=5)),
        ("", call | {"CallSid": "CA" + "0" * 300}),
        ("", call | {"From": "+1415\x00555"}),
        ("", call | {"From": "+1" + "5" * 40}),
        ("pending?turn=1", call | {"CallSid": "CA1%"}),
    ]


async def test_values_twilio_never_sends_are_a_400(app: TwilioApp) -> None:
    answers = []
    for path, params in _not_from_twilio():
        response = await app.post(f"/twilio/voice/{path}".rstrip("/"), params)
        answers.append((path, params, *outcome(response)))
    assert [a for a in answers if a[2:] != (400, "malformed")] == []


async def test_unsigned_requests_are_a_403(app: TwilioApp) -> None:
    answers = []
    for path in (
        "",
        "/consent?choice=nonsense",
        f"/gather?turn={2**64}",
        "/pending",
        "/status",
        f"/hold?handoff={2**64}",
        "/dequeued",
    ):
        response = await app.http.post(
            f"/twilio/voice{path}", content=b"Digits=%C2%B2&CallSid=x", headers=FORM
        )
        answers.append((path, *outcome(response)))
    assert [a for a in answers if a[1:] != (403, "forbidden")] == []


async def test_the_openapi_document_has_the_webhook_forms(app: TwilioApp) -> None:
    operations = (await app.http.get("/openapi.json")).json()["paths"]
    for path in ("", "/consent", "/gather", "/pending", "/status", "/hold", "/dequeued"):
        content = operations[f"/twilio/voice{path}"]["post"]["requestBody"]["content"]
        schema = content["application/x-www-form-urlencoded"]["schema"]
        assert {"CallSid", "From"} <= set(schema["required"]), path
    gather = operations["/twilio/voice/gather"]["post"]
    fields = gather["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert {"Digits", "SpeechResult", "Confidence"} <= set(fields["properties"])
    hold = operations["/twilio/voice/hold"]["post"]["parameters"]
    handoff = next(p for p in hold if p["name"] == "handoff")
    assert handoff["schema"]["maximum"] == 2**31 - 1


async def test_a_caller_over_the_rate_hears_busy(app: TwilioApp) -> None:
    for _ in range(2):
        response = await app.post("/twilio/voice", _call())
        assert response.status_code == 200
        assert "<Gather" in response.text
    busy = await app.post("/twilio/voice", _call())
    assert busy.status_code == 200
    assert busy.text == BUSY
    # Another caller still gets through.
    other = voice_params(from_="+14155550178", to=TWILIO_NUMBER)
    assert "<Gather" in (await app.post("/twilio/voice", other)).text
