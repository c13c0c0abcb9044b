"""Twilio's side of the SMS benchmark (bench/sms.py): the local Twilio REST API reporting
each message it is asked to send as it arrives, and Rasa's own `twilio` connector pointed at
that API instead of https://api.twilio.com."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import yaml

from bot.core.settings import Settings
from bot.processes import ProcessSpec, rasa_spec
from bot.testing.twilio_api import FakeTwilio
from bot.testing.twilio_http import ApiReply, RecordedRequest

SITECUSTOMIZE = '''\
"""Benchmark only (bench/sms.py): the twilio package talks to a local fake Twilio API."""

import os

try:
    from twilio.http.http_client import TwilioHttpClient
except ImportError:
    pass
else:
    _BASE_URL = os.environ["BENCH_TWILIO_API_BASE_URL"].rstrip("/")
    _ORIGIN = "https://api.twilio.com"
    _request = TwilioHttpClient.request

    def _rebased_request(self, method, url, *args, **kwargs):
        if url == _ORIGIN or url.startswith(_ORIGIN + "/"):
            url = _BASE_URL + url[len(_ORIGIN):]
        return _request(self, method, url, *args, **kwargs)

    TwilioHttpClient.request = _rebased_request
'''


class ReplyLog:
    """The messages the fake Twilio API was asked to send, per recipient, as they arrive."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrivals: dict[str, list[tuple[float, str]]] = defaultdict(list)
        self._changed: dict[str, asyncio.Event] = {}

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver arrivals to `loop` (the benchmark's) from now on."""
        self._loop = loop

    def record(self, to: str, body: str, at: float) -> None:
        """Note a message to `to` (called from the fake's server threads)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._add, to, body, at)

    def _add(self, to: str, body: str, at: float) -> None:
        self._arrivals[to].append((at, body))
        event = self._changed.pop(to, None)
        if event is not None:
            event.set()

    def count(self, to: str) -> int:
        """How many messages to `to` arrived so far."""
        return len(self._arrivals[to])

    def bodies(self, to: str, start: int = 0) -> list[str]:
        """The bodies of the messages to `to`, from the `start`-th on."""
        return [body for _, body in self._arrivals[to][start:]]

    async def wait_for(self, to: str, count: int, seconds: float) -> float | None:
        """When the last of the first `count` messages to `to` arrived; None after `seconds`."""
        deadline = time.perf_counter() + seconds
        while len(self._arrivals[to]) < count:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return None
            event = self._changed.setdefault(to, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return None
        return max(at for at, _ in self._arrivals[to][:count]) if count else None

    async def settle(self, to: str, *, after: int, first_within: float, quiet: float) -> None:
        """Wait until more than `after` messages to `to` arrived (at most `first_within` s),
        then until none came for `quiet` s."""
        await self.wait_for(to, after + 1, first_within)
        while True:
            seen = self.count(to)
            await asyncio.sleep(quiet)
            if self.count(to) == seen:
                return


class ObservedTwilio(FakeTwilio):
    """The fake Twilio REST API, reporting each message it is asked to send."""

    def __init__(
        self, account_sid: str, auth_token: str, on_message: Callable[[str, str, float], None]
    ) -> None:
        super().__init__(account_sid, auth_token)
        self._on_message = on_message

    def respond(self, request: RecordedRequest, password: str | None) -> ApiReply:
        """Report a new message (recipient, body, arrival time), then answer as Twilio."""
        if request.method == "POST" and request.path.endswith("/Messages.json"):
            to, body = request.form_value("To") or "", request.form_value("Body") or ""
            self._on_message(to, body, time.perf_counter())
        return super().respond(request, password)


def twilio_rasa_spec(settings: Settings, *, model: Path, directory: Path) -> ProcessSpec:
    """A second Rasa server on the same model with Rasa's `twilio` channel, reaching the fake
    Twilio API through a `sitecustomize.py` on its PYTHONPATH."""
    spec = rasa_spec(settings, model=model, config_dir=directory / "rasa")
    credentials = {
        "rest": None,
        "twilio": {
            "account_sid": settings.twilio_account_sid,
            "auth_token": settings.twilio_auth_token.get_secret_value(),
            "twilio_number": settings.twilio_phone_number,
        },
    }
    (directory / "rasa" / "credentials.yml").write_text(yaml.safe_dump(credentials))
    hook = directory / "twilio-hook"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    python_path = [str(hook), *filter(None, [spec.env.get("PYTHONPATH")])]
    env = spec.env | {
        "PYTHONPATH": ":".join(python_path),
        "BENCH_TWILIO_API_BASE_URL": settings.twilio_api_base_url,
    }
    return dataclasses.replace(
        spec, name="rasa-twilio", env=env, log_path=directory / "log" / "rasa-twilio.log"
    )


def rasa_send_errors(log_path: Path) -> int:
    """How often Rasa's twilio connector logged a failed send."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return 0
    return text.count("Something went wrong") + text.count("Failed to send message")
