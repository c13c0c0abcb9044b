"""A phone call to the assistant for end-to-end tests: Twilio Voice's signed webhooks posted
the way Twilio drives a call, and the TwiML answers read the way Twilio reads them."""

from __future__ import annotations

import itertools
import re

import httpx

from bot.testing.twilio_webhooks import gather_params, signed_post, voice_params
from tests.support.stack import TWILIO_NUMBER, Stack

XML = '<?xml version="1.0" encoding="UTF-8"?>'
SAY = '<Say language="en-US" voice="Polly.Joanna-Neural">'
_numbers = itertools.count(1000)


def unused_suffix() -> int:
    """Four digits no call of this test run used yet, to make a caller's number from."""
    return next(_numbers)


def gather_tag(turn: int, misses: int = 0) -> str:
    """The opening <Gather> tag of the given turn, after `misses` silent or unclear ones."""
    return (
        f'<Gather action="/twilio/voice/gather?turn={turn}&amp;misses={misses}" '
        'actionOnEmptyResult="true" input="speech dtmf" language="en-US" method="POST" '
        'speechTimeout="auto" timeout="5">'
    )


def said(twiml: str) -> list[str]:
    """What the TwiML has said to the caller, in order."""
    return re.findall(r"<Say [^>]*>([^<]*)</Say>", twiml)


def next_action(twiml: str) -> str:
    """Where Twilio posts what the caller says or presses next (the <Gather> action)."""
    match = re.search(r'<Gather action="([^"]+)"', twiml)
    assert match, twiml
    return match.group(1).replace("&amp;", "&")


class Call:
    """One phone call to the assistant's number, driven the way Twilio drives it."""

    def __init__(
        self,
        stack: Stack,
        http: httpx.AsyncClient,
        *,
        country: str = "US",
        app_url: str | None = None,
    ) -> None:
        prefix = "+44207183" if country == "GB" else "+1415557"
        self.number = f"{prefix}{unused_suffix():04d}"
        self.params = voice_params(from_=self.number, to=TWILIO_NUMBER, from_country=country)
        self.sid = self.params["CallSid"]
        self._stack, self._http = stack, http
        self._app_url = app_url or stack.app_url

    async def post(self, path: str, params: dict[str, str] | None = None) -> str:
        """POST to a voice webhook (relative TwiML URLs resolve against the app)."""
        response = await signed_post(
            self._http,
            f"{self._app_url}{path}",
            params or self.params,
            self._stack.twilio.auth_token,
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        return response.text

    async def say(self, path: str, speech: str) -> str:
        """The caller says `speech` at the <Gather> posting to `path`."""
        return await self.post(path, gather_params(self.params, speech=speech))

    async def press(self, path: str, digits: str) -> str:
        """The caller presses `digits` at the <Gather> posting to `path`."""
        return await self.post(path, gather_params(self.params, digits=digits))

    async def silence(self, path: str) -> str:
        """The caller says nothing at the <Gather> posting to `path`."""
        return await self.post(path, gather_params(self.params))
