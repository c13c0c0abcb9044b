"""A customer's phone for end-to-end tests: texts the app's SMS webhook the way Twilio does
and reads the answers where Twilio would get them (the fake REST API)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import Direction, Message, MessageStatus
from bot.testing.twilio_api import FakeTwilio
from bot.testing.twilio_webhooks import new_sid, signed_post, sms_params
from tests.support.stack import TWILIO_NUMBER, Stack

ANSWER_TIMEOUT = 60.0


class Phone:
    """One mobile number texting the assistant's Twilio number."""

    def __init__(
        self,
        *,
        number: str,
        app_url: str,
        twilio_number: str,
        twilio: FakeTwilio,
        database: Database,
        http: httpx.AsyncClient,
    ) -> None:
        self.number = number
        self._webhook = f"{app_url}/twilio/sms"
        self._twilio_number = twilio_number
        self._twilio = twilio
        self._database = database
        self._http = http
        self._seen = 0

    async def send(self, body: str, *, sid: str | None = None, **extra: Any) -> httpx.Response:
        """Deliver one SMS to the webhook, signed like Twilio; the webhook's response."""
        params = sms_params(
            from_=self.number,
            to=self._twilio_number,
            body=body,
            message_sid=sid or new_sid("SM"),
            **extra,
        )
        return await signed_post(self._http, self._webhook, params, self._twilio.auth_token)

    async def text(self, body: str, *, sid: str | None = None, **extra: Any) -> list[str]:
        """Send an SMS and wait for the assistant's answer; the SMS bodies received."""
        sid = sid or new_sid("SM")
        response = await self.send(body, sid=sid, **extra)
        assert response.status_code == 200, response.text
        await self.wait_answered(sid)
        return self.new_messages()

    async def wait_answered(self, sid: str, timeout: float = ANSWER_TIMEOUT) -> None:
        """Wait until the message is answered and none of its replies is still pending."""
        for _ in range(int(timeout * 10)):
            async with self._database.session() as session:
                inbound = await session.scalar(select(Message).where(Message.external_id == sid))
                pending = await session.scalar(
                    select(Message.id).where(
                        Message.direction == Direction.OUTBOUND,
                        Message.in_reply_to_id == (inbound.id if inbound else -1),
                        Message.status == MessageStatus.PENDING,
                    )
                )
            if inbound is not None and inbound.status is MessageStatus.ANSWERED and not pending:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{sid} was not answered within {timeout}s")

    def received(self) -> list[str]:
        """Every SMS body Twilio was asked to send to this phone, oldest first."""
        return [m["body"] for m in self._twilio.messages if m["to"] == self.number]

    def new_messages(self) -> list[str]:
        """The SMS bodies received since the last call."""
        bodies = self.received()
        fresh, self._seen = bodies[self._seen :], len(bodies)
        return fresh


def phone_texting(
    stack: Stack, db: Database, http: httpx.AsyncClient, number: str, *, app_url: str = ""
) -> Phone:
    """The phone with `number`, texting the stack's Twilio number; the webhook it reaches is
    the stack's app, or another app instance at `app_url`."""
    return Phone(
        number=number,
        app_url=app_url or stack.app_url,
        twilio_number=TWILIO_NUMBER,
        twilio=stack.twilio,
        database=db,
        http=http,
    )
