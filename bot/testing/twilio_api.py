"""A local stand-in for Twilio's REST API (2010-04-01): a real HTTP server on a free port.

It speaks Twilio's wire format (HTTP basic auth with AccountSid:AuthToken, form-encoded
bodies, JSON resources and error objects, media behind a redirect to storage), records every
request for exact assertions, and can be told to refuse numbers, fail or stall.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.testing.ports import free_port
from bot.testing.twilio_http import (
    ApiReply,
    ApiServer,
    RecordedRequest,
    error_reply,
    json_reply,
    not_found,
)
from bot.testing.twilio_webhooks import (
    API_VERSION,
    count_segments,
    new_sid,
    rfc2822_now,
    signed_post,
)

_ACCOUNT = r"/2010-04-01/Accounts/(?P<account>[^/]+)"
_MESSAGES = re.compile(_ACCOUNT + r"/Messages\.json")
_RECORDINGS = re.compile(_ACCOUNT + r"/Calls/(?P<call>[^/]+)/Recordings\.json")
_MEDIA = re.compile(_ACCOUNT + r"/Messages/(?P<message>[^/]+)/Media/(?P<media>[^/.]+)")
_STORAGE = re.compile(r"/storage/(?P<token>[0-9a-f]{32})")
_PHONE = re.compile(r"(?:whatsapp:)?\+[1-9]\d{6,14}")
_CALL_SID = re.compile(r"CA[0-9a-f]{32}")
_SERVER_ERRORS = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}
# Messages sent through a Messaging Service leave from a number of its pool.
SERVICE_POOL_NUMBER = "+15005550006"


@dataclass
class _Media:
    content: bytes
    content_type: str
    declare_length: bool
    token: str = field(default_factory=lambda: uuid.uuid4().hex)


class FakeTwilio:
    """Twilio's REST API for one account; start it with `fake_twilio()`."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._port = free_port()
        self._server: ApiServer | None = None
        self._lock = threading.Lock()
        self._received = threading.Condition(self._lock)
        self._requests: list[RecordedRequest] = []
        self._messages: dict[str, dict[str, Any]] = {}
        self._rejections: dict[str, tuple[int, int, str]] = {}
        self._failures: list[int] = []
        self._delays: list[float] = []
        self._media: dict[str, _Media] = {}
        self._storage: dict[str, _Media] = {}

    @property
    def base_url(self) -> str:
        """Where the API is served, in place of https://api.twilio.com."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def storage_url(self) -> str:
        """Where media is redirected to: another origin, as Twilio's storage is."""
        return f"http://localhost:{self._port}"

    def start(self) -> None:
        """Listen and serve in a background thread."""
        server = ApiServer(("127.0.0.1", self._port), self)
        self._server = server
        # A short poll interval: shutdown() waits for the loop to notice it.
        threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.02), daemon=True
        ).start()

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- what the test sets up ------------------------------------------------------------

    def unsubscribe(self, number: str) -> None:
        """Messages to `number` fail as after the recipient texted STOP (error 21610)."""
        self.reject(number, code=21610, message="Attempt to send to unsubscribed recipient")

    def reject(self, number: str, *, code: int, message: str, status: int = 400) -> None:
        """Messages to `number` fail with Twilio error `code` (21211, 21614, ...)."""
        with self._lock:
            self._rejections[number] = (status, code, message)

    def fail_next(self, count: int, *, status: int = 503) -> None:
        """Answer the next `count` API requests with `status` (500, 503, 429) instead."""
        with self._lock:
            self._failures.extend([status] * count)

    def delay_next(self, count: int, seconds: float) -> None:
        """Hold the next `count` API requests for `seconds` before answering."""
        with self._lock:
            self._delays.extend([seconds] * count)

    def add_media(
        self,
        content: bytes,
        content_type: str,
        *,
        message_sid: str | None = None,
        declare_length: bool = True,
    ) -> str:
        """Serve `content` as an MMS media item; its URL, as in a MediaUrl{N} parameter.

        Without `declare_length` the bytes are sent chunked, with no Content-Length.
        """
        media_sid = new_sid("ME")
        media = _Media(content, content_type, declare_length)
        with self._lock:
            self._media[media_sid] = media
            self._storage[media.token] = media
        message = message_sid or new_sid("MM")
        return f"{self._account_url}/Messages/{message}/Media/{media_sid}"

    # -- what the test observes -----------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path_suffix: str) -> list[RecordedRequest]:
        """The requests whose path ends with `path_suffix`."""
        return [r for r in self.requests if r.path.endswith(path_suffix)]

    def wait_for_requests(
        self, count: int, timeout: float = 5.0, *, path_suffix: str = ""
    ) -> list[RecordedRequest]:
        """Block until `count` requests (ending with `path_suffix`) arrived; they are returned."""
        deadline = time.monotonic() + timeout
        with self._received:
            while len(matching := self._matching(path_suffix)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{len(matching)} of {count} requests to ...{path_suffix} "
                        f"after {timeout} s: {[(r.method, r.path) for r in self._requests]}"
                    )
                self._received.wait(remaining)
            return matching

    async def wait_for_requests_async(
        self, count: int, timeout: float = 5.0, *, path_suffix: str = ""
    ) -> list[RecordedRequest]:
        """`wait_for_requests` without blocking the event loop (for in-process apps)."""
        return await asyncio.to_thread(
            self.wait_for_requests, count, timeout, path_suffix=path_suffix
        )

    def message(self, sid: str) -> dict[str, Any]:
        """The Message resource as Twilio holds it now."""
        with self._lock:
            return dict(self._messages[sid])

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every message created, oldest first."""
        with self._lock:
            return [dict(m) for m in self._messages.values()]

    async def send_status_callback(
        self,
        url: str,
        *,
        message_sid: str,
        status: str,
        auth_token: str | None = None,
        error_code: int | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> httpx.Response:
        """POST Twilio's status callback for a message to `url`, signed like Twilio.

        `auth_token` other than the account's forges the signature; failed and undelivered
        messages carry an ErrorCode (30008, "unknown error", unless given).
        """
        params = self.status_callback_params(message_sid, status=status, error_code=error_code)
        token = auth_token if auth_token is not None else self.auth_token
        if client is not None:
            return await signed_post(client, url, params, token)
        async with httpx.AsyncClient() as own_client:
            return await signed_post(own_client, url, params, token)

    def status_callback_params(
        self, message_sid: str, *, status: str, error_code: int | None = None
    ) -> dict[str, str]:
        """The form of a message status callback, in Twilio's order; updates the message."""
        with self._lock:
            message = self._messages[message_sid]
            message["status"] = status
            message["date_updated"] = rfc2822_now()
            if status in ("failed", "undelivered"):
                message["error_code"] = error_code or 30008
            params = {"SmsSid": message_sid, "SmsStatus": status, "MessageStatus": status}
            params["To"] = message["to"]
            if message["messaging_service_sid"] is not None:
                params["MessagingServiceSid"] = message["messaging_service_sid"]
            params |= {
                "MessageSid": message_sid,
                "AccountSid": self.account_sid,
                "From": message["from"] or SERVICE_POOL_NUMBER,
                "ApiVersion": API_VERSION,
            }
            if message["error_code"] is not None:
                params["ErrorCode"] = str(message["error_code"])
            return params

    # -- serving ----------------------------------------------------------------------------

    def respond(self, request: RecordedRequest, password: str | None) -> ApiReply:
        """Record `request` and answer it as Twilio would."""
        with self._received:
            self._requests.append(request)
            self._received.notify_all()
        if storage := _STORAGE.fullmatch(request.path):
            return self._serve_storage(request.method, storage["token"])
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
            delay = self._delays.pop(0) if self._delays else 0.0
        if delay:
            time.sleep(delay)
        if failure is not None:
            return error_reply(failure, *_SERVER_ERRORS.get(failure, _SERVER_ERRORS[500]))
        return self._serve_api(request, password)

    def _serve_api(self, request: RecordedRequest, password: str | None) -> ApiReply:
        route = _MESSAGES.fullmatch(request.path) or _RECORDINGS.fullmatch(request.path)
        route = route or _MEDIA.fullmatch(request.path)
        if route is None:
            return not_found(request.path)
        credentials = (request.auth_user, password)
        if (
            credentials != (self.account_sid, self.auth_token)
            or route["account"] != self.account_sid
        ):
            return error_reply(401, 20003, "Authenticate")
        expected = "GET" if route.re is _MEDIA else "POST"
        if request.method != expected:
            return error_reply(405, 20004, "Method not allowed")
        if route.re is _MESSAGES:
            return self._create_message(request)
        if route.re is _RECORDINGS:
            return self._create_recording(route["call"])
        return self._redirect_to_media(request.path, route["media"])

    def _create_message(self, request: RecordedRequest) -> ApiReply:
        to = request.form_value("To") or ""
        sender = request.form_value("From")
        service = request.form_value("MessagingServiceSid")
        body = request.form_value("Body") or ""
        media = [v for k, v in request.form if k == "MediaUrl"]
        problem = _message_problem(to, sender or service, body, media)
        if problem is not None:
            return error_reply(400, *problem)
        with self._lock:
            rejection = self._rejections.get(to)
        if rejection is not None:
            return error_reply(*rejection)
        message = self._message_resource(to, sender, service, body, len(media))
        with self._lock:
            self._messages[message["sid"]] = message
        return json_reply(201, message)

    def _message_resource(
        self, to: str, sender: str | None, service: str | None, body: str, num_media: int
    ) -> dict[str, Any]:
        sid = new_sid("MM" if num_media else "SM")
        uri = f"{self._account_path}/Messages/{sid}"
        now = rfc2822_now()
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": service,
            "num_media": str(num_media),
            "num_segments": str(count_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            # A Messaging Service first accepts the message, then picks a sender and queues it.
            "status": "queued" if sender else "accepted",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": to,
            "uri": f"{uri}.json",
        }

    def _create_recording(self, call_sid: str) -> ApiReply:
        call_path = f"{self._account_path}/Calls/{call_sid}"
        if not _CALL_SID.fullmatch(call_sid):
            return not_found(f"{call_path}.json")
        sid = new_sid("RE")
        now = rfc2822_now()
        return json_reply(
            201,
            {
                "account_sid": self.account_sid,
                "api_version": API_VERSION,
                "call_sid": call_sid,
                "conference_sid": None,
                "channels": 2,
                "date_created": now,
                "date_updated": now,
                "start_time": now,
                "duration": None,
                "encryption_details": None,
                "error_code": None,
                "price": None,
                "price_unit": None,
                "sid": sid,
                "source": "StartCallRecordingAPI",
                "status": "in-progress",
                "track": "both",
                "uri": f"{call_path}/Recordings/{sid}.json",
            },
        )

    def _redirect_to_media(self, path: str, media_sid: str) -> ApiReply:
        with self._lock:
            media = self._media.get(media_sid)
        if media is None:
            return not_found(path)
        location = f"{self.storage_url}/storage/{media.token}"
        return ApiReply(307, headers=(("Location", location),))

    def _serve_storage(self, method: str, token: str) -> ApiReply:
        with self._lock:
            media = self._storage.get(token)
        if media is None or method != "GET":
            return ApiReply(404, b"NoSuchKey", (("Content-Type", "text/plain"),))
        headers = (("Content-Type", media.content_type),)
        return ApiReply(200, media.content, headers, chunked=not media.declare_length)

    @property
    def _account_path(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}"

    @property
    def _account_url(self) -> str:
        return self.base_url + self._account_path

    def _matching(self, path_suffix: str) -> list[RecordedRequest]:
        return [r for r in self._requests if r.path.endswith(path_suffix)]


@contextmanager
def fake_twilio(account_sid: str, auth_token: str) -> Iterator[FakeTwilio]:
    """A started `FakeTwilio` for the duration of the block."""
    fake = FakeTwilio(account_sid, auth_token)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def _message_problem(
    to: str, sender: str | None, body: str, media: list[str]
) -> tuple[int, str] | None:
    if not to:
        return 21604, "A 'To' phone number is required."
    if not sender:
        return 21603, "A 'From' phone number is required."
    if not body and not media:
        return 21602, "Message body is required."
    if len(body) > 1600:
        return 21617, "The concatenated message body exceeds the 1600 character limit."
    if not _PHONE.fullmatch(to):
        return 21211, f"Invalid 'To' Phone Number: {to}"
    return None
