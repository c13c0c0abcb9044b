"""Our outbound Twilio REST client: send SMS/MMS, start call recordings, download MMS media.

Built on the official `twilio` package, which is synchronous and hard-codes
https://api.twilio.com; every call runs off the event loop, and a custom HTTP client moves
requests to `api_base_url` so the same code talks to Twilio and to the tests' fake.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

# twilio ships no type information; the ignores stay quiet once pyproject lists it as untyped.
from twilio.base.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http.http_client import (  # type: ignore[import-untyped, unused-ignore]
    TwilioHttpClient,
)
from twilio.rest import Client  # type: ignore[import-untyped, unused-ignore]

TWILIO_API_BASE_URL = "https://api.twilio.com"
_MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
# Retrying these can succeed; every other 4xx means the request itself must change.
_TRANSIENT_STATUSES = frozenset({408, 429})

T = TypeVar("T")


class TwilioError(Exception):
    """A Twilio request that failed.

    `code` is Twilio's own error code (21610, 21211, ...) when it sent one, `status` the HTTP
    status when there was a response; `permanent` says that retrying the same request cannot
    succeed (a 4xx), as opposed to an outage, a rate limit or a network failure.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: int | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.permanent = permanent


class MediaTooLarge(TwilioError):
    """MMS media larger than the caller accepts."""


@dataclass(frozen=True)
class SentMessage:
    """What Twilio answered to a new outbound message."""

    sid: str
    status: str


def rebase_url(url: str, base_url: str) -> str:
    """`url` moved from Twilio's API origin to `base_url`; other URLs are left alone."""
    if url == TWILIO_API_BASE_URL or url.startswith(TWILIO_API_BASE_URL + "/"):
        return base_url.rstrip("/") + url[len(TWILIO_API_BASE_URL) :]
    return url


class _RebasingHttpClient(TwilioHttpClient):  # type: ignore[misc, unused-ignore]
    """The twilio package's own HTTP client, sending to `base_url` instead of api.twilio.com."""

    def __init__(self, *, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Any:
        """Send the request the twilio package built, to our base URL."""
        return super().request(
            method,
            rebase_url(url, self.base_url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


class TwilioRest:
    """Twilio's REST API for one account, as coroutines that raise `TwilioError`."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        api_base_url: str = TWILIO_API_BASE_URL,
        timeout_seconds: float = 10.0,
    ) -> None:
        _check_configuration(account_sid, auth_token, api_base_url, timeout_seconds)
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._base_url = api_base_url.rstrip("/")
        self._timeout = timeout_seconds
        self._http = _RebasingHttpClient(base_url=self._base_url, timeout=timeout_seconds)
        self._client = Client(
            username=account_sid,
            password=auth_token,
            account_sid=account_sid,
            http_client=self._http,
        )
        # TWILIO_EDGE / TWILIO_REGION in the environment would rewrite the host before our
        # HTTP client sees it; api_base_url alone decides where requests go.
        self._client.edge = None
        self._client.region = None

    async def send_sms(
        self,
        *,
        to: str,
        from_: str,
        body: str,
        status_callback: str | None = None,
        media_urls: Sequence[str] = (),
    ) -> SentMessage:
        """Send an SMS (an MMS with `media_urls`); `from_` may be a Messaging Service SID."""
        arguments: dict[str, Any] = {"to": to}
        if status_callback is not None:
            arguments["status_callback"] = status_callback
        if _MESSAGING_SERVICE_SID.fullmatch(from_):
            arguments["messaging_service_sid"] = from_
        else:
            arguments["from_"] = from_
        if body:
            arguments["body"] = body
        if media_urls:
            arguments["media_url"] = list(media_urls)
        message = await self._call(lambda: self._client.messages.create(**arguments))
        return SentMessage(sid=_required(message.sid, "sid"), status=str(message.status))

    async def start_call_recording(
        self, *, call_sid: str, status_callback: str | None = None
    ) -> str:
        """Start recording a live call; the recording's SID."""
        arguments: dict[str, Any] = {}
        if status_callback is not None:
            arguments["recording_status_callback"] = status_callback
        recording = await self._call(
            lambda: self._client.calls(call_sid).recordings.create(**arguments)
        )
        return _required(recording.sid, "sid")

    async def download_media(self, url: str, *, max_bytes: int) -> tuple[bytes, str]:
        """The bytes and content type of an MMS media URL, refused past `max_bytes`."""
        target = self._media_url(url)
        try:
            async with (
                httpx.AsyncClient(
                    auth=(self._account_sid, self._auth_token),
                    follow_redirects=True,
                    timeout=self._timeout,
                ) as client,
                client.stream("GET", target) as response,
            ):
                if response.is_error:
                    await response.aread()
                    raise _response_error(response)
                content = await _read_capped(response, max_bytes)
                content_type = response.headers.get("content-type", "application/octet-stream")
                return content, content_type
        except httpx.TransportError as error:
            raise TwilioError(
                f"Could not download media from Twilio: {_describe(error)}", permanent=False
            ) from error
        except httpx.HTTPError as error:
            raise TwilioError(
                f"Could not download media from Twilio: {_describe(error)}", permanent=True
            ) from error

    def close(self) -> None:
        """Close pooled connections."""
        if self._http.session is not None:
            self._http.session.close()

    async def _call(self, request: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(request)
        except TwilioRestException as error:
            raise _rest_error(error) from error
        except TwilioServiceException as error:
            raise _service_error(error) from error
        except OSError as error:
            # requests' ConnectionError and Timeout are OSErrors: Twilio was not reached.
            raise TwilioError(
                f"Could not reach Twilio at {self._base_url}: {self._transport_problem(error)}.",
                permanent=False,
            ) from error
        except json.JSONDecodeError as error:
            raise TwilioError(
                f"Twilio answered with something that is not JSON: {error}", permanent=False
            ) from error

    def _transport_problem(self, error: OSError) -> str:
        if "Timeout" in type(error).__name__:
            return f"no answer within {self._timeout:g} seconds"
        return f"connection failed ({_root_cause(error)})"

    def _media_url(self, url: str) -> str:
        target = rebase_url(url, self._base_url)
        if not target.startswith(self._base_url + "/"):
            # The account's credentials go with the request, so only Twilio may receive it.
            raise TwilioError(
                f"Refusing to download {url!r}: media URLs must be on {TWILIO_API_BASE_URL}.",
                permanent=True,
            )
        return target


def _check_configuration(
    account_sid: str, auth_token: str, api_base_url: str, timeout_seconds: float
) -> None:
    problems = []
    if not account_sid.startswith("AC"):
        problems.append("the account SID must start with 'AC' (see the Twilio console)")
    if not auth_token:
        problems.append("the auth token is empty (see the Twilio console)")
    if not api_base_url.startswith(("https://", "http://")):
        problems.append(f"the API base URL {api_base_url!r} must start with https://")
    if timeout_seconds <= 0:
        problems.append(f"the timeout must be positive, not {timeout_seconds}")
    if problems:
        raise ValueError("Twilio is misconfigured: " + "; ".join(problems) + ".")


def _required(value: object, name: str) -> str:
    if not value:
        raise TwilioError(f"Twilio's answer has no {name}.", permanent=False)
    return str(value)


def _is_permanent(status: int) -> bool:
    return 400 <= status < 500 and status not in _TRANSIENT_STATUSES


def _twilio_code(code: object, status: int) -> int | None:
    # Without an error body the twilio package uses the HTTP status as the code.
    if isinstance(code, int) and code != status:
        return code
    return None


def _rest_error(error: Any) -> TwilioError:
    status = int(error.status)
    code = _twilio_code(error.code, status)
    return _error(status, code, str(error.msg))


def _service_error(error: Any) -> TwilioError:
    status = int(error.status)
    detail = f"{error.title}: {error.detail}" if error.detail else str(error.title)
    return _error(status, _twilio_code(error.code, status), detail)


def _error(status: int, code: int | None, detail: str) -> TwilioError:
    # str() of the twilio exceptions draws ANSI colours on a terminal; build our own text.
    label = f"HTTP {status}" + (f", error {code}" if code is not None else "")
    more = f" (https://www.twilio.com/docs/errors/{code})" if code is not None else ""
    return TwilioError(
        f"Twilio answered {label}: {detail}{more}",
        permanent=_is_permanent(status),
        code=code,
        status=status,
    )


def _response_error(response: httpx.Response) -> TwilioError:
    detail = response.reason_phrase or "error"
    code = None
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        detail = str(payload.get("message") or detail)
        code = _twilio_code(payload.get("code"), response.status_code)
    return _error(response.status_code, code, detail)


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(int(declared), max_bytes)
    content = bytearray()
    async for chunk in response.aiter_bytes():
        content.extend(chunk)
        if len(content) > max_bytes:
            raise _too_large(None, max_bytes)
    return bytes(content)


def _too_large(size: int | None, max_bytes: int) -> MediaTooLarge:
    actual = f"{size} bytes" if size is not None else f"more than {max_bytes} bytes"
    return MediaTooLarge(
        f"The media file is {actual}; at most {max_bytes} bytes are accepted.", permanent=True
    )


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _root_cause(error: BaseException) -> str:
    # requests wraps the socket error in urllib3 errors whose text embeds object reprs.
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    return type(error).__name__
