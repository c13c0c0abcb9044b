"""The Twilio REST client against a local server speaking Twilio's wire format (the fake's
billing and status callbacks too)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from urllib.parse import parse_qsl

import httpx
import pytest
from twilio.request_validator import (  # type: ignore[import-untyped, unused-ignore]
    RequestValidator,
)

from adapters.twilio.rest import MediaTooLarge, TwilioError, TwilioRest
from bot.testing.ports import free_port
from bot.testing.twilio_api import FakeTwilio, fake_twilio
from bot.testing.twilio_webhooks import (
    DEFAULT_ACCOUNT_SID,
    SIGNATURE_HEADER,
    count_segments,
    new_sid,
)

ACCOUNT_SID = DEFAULT_ACCOUNT_SID
AUTH_TOKEN = "0f9e8d7c6b5a49382716a5b4c3d2e1f0"
SHOP = "+14155550100"
CUSTOMER = "+14155550199"
CALLBACK = "https://assistant.example.com/twilio/sms/status"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"

integration = pytest.mark.integration


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    """Twilio's REST API on a free local port."""
    with fake_twilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        yield fake


@pytest.fixture
def rest(twilio: FakeTwilio) -> Iterator[TwilioRest]:
    """Our client, pointed at the fake."""
    client = TwilioRest(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_base_url=twilio.base_url,
        timeout_seconds=2.0,
    )
    yield client
    client.close()


@integration
async def test_send_sms_posts_the_documented_request(twilio: FakeTwilio, rest: TwilioRest) -> None:
    sent = await rest.send_sms(
        to=CUSTOMER, from_=SHOP, body="Your order has shipped.", status_callback=CALLBACK
    )

    [request] = twilio.requests
    assert (request.method, request.path, request.query) == ("POST", MESSAGES_PATH, [])
    assert request.auth_user == ACCOUNT_SID
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert request.header("Accept") == "application/json"
    assert (request.header("User-Agent") or "").startswith("twilio-python/9.13.0")
    assert request.form == [
        ("To", CUSTOMER),
        ("StatusCallback", CALLBACK),
        ("From", SHOP),
        ("Body", "Your order has shipped."),
    ]
    [message] = twilio.messages
    assert sent.sid == message["sid"] and sent.sid.startswith("SM") and len(sent.sid) == 34
    assert sent.status == "queued"


@integration
async def test_mms_repeats_media_url_and_a_service_sid_goes_as_messaging_service(
    twilio: FakeTwilio, rest: TwilioRest
) -> None:
    service = new_sid("MG")
    media = ["https://cdn.example.com/receipt.png", "https://cdn.example.com/label.pdf"]

    sent = await rest.send_sms(to=CUSTOMER, from_=service, body="", media_urls=media)

    [request] = twilio.requests_to("/Messages.json")
    assert request.form == [
        ("To", CUSTOMER),
        ("MessagingServiceSid", service),
        ("MediaUrl", media[0]),
        ("MediaUrl", media[1]),
    ]
    assert sent.sid.startswith("MM") and sent.status == "accepted"
    assert twilio.message(sent.sid)["num_media"] == "2"


@integration
async def test_concurrent_sends_each_get_their_own_message(
    twilio: FakeTwilio, rest: TwilioRest
) -> None:
    bodies = [f"Update {n}" for n in range(12)]

    sent = await asyncio.gather(*(rest.send_sms(to=CUSTOMER, from_=SHOP, body=b) for b in bodies))

    assert len({s.sid for s in sent}) == len(bodies)
    assert sorted(m["body"] for m in twilio.messages) == sorted(bodies)


@integration
async def test_waiting_for_requests_a_background_task_makes(
    twilio: FakeTwilio, rest: TwilioRest
) -> None:
    task = asyncio.create_task(rest.send_sms(to=CUSTOMER, from_=SHOP, body="Later"))

    [request] = await twilio.wait_for_requests_async(1, path_suffix="/Messages.json")

    assert request.form_value("Body") == "Later"
    await task
    with pytest.raises(AssertionError, match="1 of 2 requests"):
        twilio.wait_for_requests(2, timeout=0.05)


def test_segments_are_counted_as_twilio_bills_them() -> None:
    assert count_segments("a" * 160) == 1
    assert count_segments("a" * 161) == 2
    assert count_segments("€" * 80) == 1  # extension characters take two septets
    assert count_segments("é" * 160) == 1  # é is in the GSM-7 basic set
    assert count_segments("ś" * 70) == 1
    assert count_segments("ś" * 71) == 2
    assert count_segments("👍" * 35) == 1  # two UTF-16 units each


@integration
async def test_unsubscribed_recipient_is_a_permanent_error(
    twilio: FakeTwilio, rest: TwilioRest
) -> None:
    twilio.unsubscribe(CUSTOMER)

    with pytest.raises(TwilioError) as caught:
        await rest.send_sms(to=CUSTOMER, from_=SHOP, body="Hello")

    error = caught.value
    assert (error.code, error.status, error.permanent) == (21610, 400, True)
    assert "Attempt to send to unsubscribed recipient" in str(error)
    assert "\x1b" not in str(error) and "Traceback" not in str(error)


@integration
@pytest.mark.parametrize(
    ("to", "code"), [("555-0199", 21211), ("", 21604)], ids=["invalid-to", "missing-to"]
)
async def test_refused_numbers_are_permanent(rest: TwilioRest, to: str, code: int) -> None:
    with pytest.raises(TwilioError) as caught:
        await rest.send_sms(to=to, from_=SHOP, body="Hello")

    assert (caught.value.code, caught.value.status, caught.value.permanent) == (code, 400, True)


@integration
async def test_wrong_credentials_are_permanent(twilio: FakeTwilio) -> None:
    client = TwilioRest(account_sid=ACCOUNT_SID, auth_token="wrong", api_base_url=twilio.base_url)

    with pytest.raises(TwilioError) as caught:
        await client.send_sms(to=CUSTOMER, from_=SHOP, body="Hello")

    assert (caught.value.code, caught.value.status, caught.value.permanent) == (20003, 401, True)
    client.close()


@integration
@pytest.mark.parametrize("status", [500, 503, 429])
async def test_outages_and_rate_limits_are_transient(
    twilio: FakeTwilio, rest: TwilioRest, status: int
) -> None:
    twilio.fail_next(1, status=status)

    with pytest.raises(TwilioError) as caught:
        await rest.send_sms(to=CUSTOMER, from_=SHOP, body="Hello")
    assert (caught.value.status, caught.value.permanent) == (status, False)

    retried = await rest.send_sms(to=CUSTOMER, from_=SHOP, body="Hello")
    assert retried.status == "queued"


@integration
async def test_connection_refused_is_transient() -> None:
    client = TwilioRest(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_base_url=f"http://127.0.0.1:{free_port()}",
    )

    with pytest.raises(TwilioError) as caught:
        await client.send_sms(to=CUSTOMER, from_=SHOP, body="Hello")

    assert (caught.value.status, caught.value.code, caught.value.permanent) == (None, None, False)
    assert "connection failed (Connection refused)" in str(caught.value)
    client.close()


@integration
async def test_a_slow_answer_times_out_as_transient(twilio: FakeTwilio) -> None:
    client = TwilioRest(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_base_url=twilio.base_url,
        timeout_seconds=0.2,
    )
    twilio.delay_next(1, 0.6)

    with pytest.raises(TwilioError) as caught:
        await client.send_sms(to=CUSTOMER, from_=SHOP, body="Hello")

    assert caught.value.permanent is False
    assert "no answer within 0.2 seconds" in str(caught.value)
    client.close()


@integration
async def test_start_call_recording(twilio: FakeTwilio, rest: TwilioRest) -> None:
    call_sid = new_sid("CA")
    callback = "https://assistant.example.com/twilio/voice/recording"

    recording_sid = await rest.start_call_recording(call_sid=call_sid, status_callback=callback)
    bare_sid = await rest.start_call_recording(call_sid=call_sid)

    first, second = twilio.requests
    assert first.method == "POST" and first.auth_user == ACCOUNT_SID
    assert first.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{call_sid}/Recordings.json"
    assert first.form == [("RecordingStatusCallback", callback)]
    assert second.form == []
    assert recording_sid.startswith("RE") and len(recording_sid) == 34
    assert bare_sid != recording_sid


@integration
async def test_download_media_follows_the_redirect_to_storage(
    twilio: FakeTwilio, rest: TwilioRest
) -> None:
    photo = bytes(range(256)) * 40
    url = twilio.add_media(photo, "image/jpeg")

    content, content_type = await rest.download_media(url, max_bytes=len(photo))

    assert (content, content_type) == (photo, "image/jpeg")
    api, storage = twilio.requests
    assert (api.method, api.auth_user) == ("GET", ACCOUNT_SID)
    assert url.endswith(api.path)
    # Storage is another origin: the account's credentials must not follow the redirect.
    assert storage.path.startswith("/storage/") and storage.header("Authorization") is None


@integration
async def test_download_media_is_rebased_from_twilios_origin(
    twilio: FakeTwilio, rest: TwilioRest
) -> None:
    url = twilio.add_media(b"BEGIN:VCARD", "text/vcard")
    production_url = url.replace(twilio.base_url, "https://api.twilio.com")

    assert await rest.download_media(production_url, max_bytes=100) == (
        b"BEGIN:VCARD",
        "text/vcard",
    )


@integration
@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "chunked"])
async def test_download_media_refuses_oversize(
    twilio: FakeTwilio, rest: TwilioRest, declare_length: bool
) -> None:
    url = twilio.add_media(b"x" * 20_000, "video/mp4", declare_length=declare_length)

    with pytest.raises(MediaTooLarge) as caught:
        await rest.download_media(url, max_bytes=10_000)

    assert caught.value.permanent is True
    assert "at most 10000 bytes" in str(caught.value)


@integration
async def test_download_media_needs_the_accounts_credentials(twilio: FakeTwilio) -> None:
    url = twilio.add_media(b"\x89PNG", "image/png")
    client = TwilioRest(account_sid=ACCOUNT_SID, auth_token="wrong", api_base_url=twilio.base_url)

    with pytest.raises(TwilioError) as caught:
        await client.download_media(url, max_bytes=1000)

    assert (caught.value.code, caught.value.status, caught.value.permanent) == (20003, 401, True)
    assert len(twilio.requests) == 1
    client.close()


@integration
async def test_download_media_of_an_unknown_item_is_permanent(
    twilio: FakeTwilio, rest: TwilioRest
) -> None:
    url = twilio.add_media(b"\x89PNG", "image/png").rsplit("/", 1)[0] + "/" + new_sid("ME")

    with pytest.raises(TwilioError) as caught:
        await rest.download_media(url, max_bytes=1000)

    assert (caught.value.code, caught.value.status, caught.value.permanent) == (20404, 404, True)


async def test_download_media_never_sends_credentials_elsewhere(rest: TwilioRest) -> None:
    with pytest.raises(TwilioError) as caught:
        await rest.download_media("https://attacker.example/steal.png", max_bytes=1000)

    assert caught.value.permanent is True


def test_configuration_is_checked_eagerly() -> None:
    with pytest.raises(ValueError, match=r"account SID must start with 'AC'.*auth token is empty"):
        TwilioRest(account_sid="SK123", auth_token="")


@integration
async def test_status_callback_is_signed_like_twilios(twilio: FakeTwilio, rest: TwilioRest) -> None:
    sent = await rest.send_sms(to=CUSTOMER, from_=SHOP, body="Hello", status_callback=CALLBACK)
    received: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(app)) as client:
        await twilio.send_status_callback(
            CALLBACK, message_sid=sent.sid, status="undelivered", error_code=30005, client=client
        )

    [request] = received
    form = parse_qsl(request.content.decode())
    assert form == [
        ("SmsSid", sent.sid),
        ("SmsStatus", "undelivered"),
        ("MessageStatus", "undelivered"),
        ("To", CUSTOMER),
        ("MessageSid", sent.sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", SHOP),
        ("ApiVersion", "2010-04-01"),
        ("ErrorCode", "30005"),
    ]
    assert RequestValidator(AUTH_TOKEN).validate(
        CALLBACK, dict(form), request.headers[SIGNATURE_HEADER]
    )
    assert twilio.message(sent.sid)["status"] == "undelivered"
