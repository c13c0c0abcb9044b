"""The Twilio REST client of this app process, for routes that send or fetch through it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from adapters.twilio.rest import TwilioRest


def twilio_rest(connection: HTTPConnection) -> TwilioRest | None:
    """The client, or None when Twilio is not configured (the composition root sets it)."""
    client: TwilioRest | None = connection.app.state.twilio
    return client


TwilioRestDep = Annotated[TwilioRest | None, Depends(twilio_rest)]
