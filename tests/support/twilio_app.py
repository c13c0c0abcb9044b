"""The app in this process with Twilio's channels on, for tests of the webhooks over real
HTTP requests (httpx through the ASGI app, startup and shutdown run): signed as Twilio
signs them, Twilio's REST API a local fake, Rasa nowhere (a closed port), so a message
for the assistant waits for a retry and nothing leaves the machine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from bot.app import create_app
from bot.core.db import Database
from bot.core.models import Direction, Message, MessageStatus
from bot.core.settings import Settings
from bot.testing.ports import free_port
from bot.testing.twilio_api import FakeTwilio, fake_twilio
from bot.testing.twilio_webhooks import DEFAULT_ACCOUNT_SID, signed_post

AUTH_TOKEN = "5b0c2a9e4d1f47e3a8c6b2d9e0f1a3c4"
TWILIO_NUMBER = "+14155550199"
BASE_URL = "http://testserver"


@dataclass
class TwilioApp:
    """A running app, an HTTP client to it, its database and its fake Twilio."""

    settings: Settings
    http: httpx.AsyncClient
    database: Database
    twilio: FakeTwilio

    async def post(self, path: str, params: Mapping[str, str]) -> httpx.Response:
        """POST `params` to `path` signed as Twilio signs webhooks."""
        return await signed_post(self.http, f"{BASE_URL}{path}", params, AUTH_TOKEN)

    async def inbound(self, external_id: str) -> Message | None:
        """The stored customer message with the channel's id `external_id`."""
        async with self.database.session() as session:
            return await session.scalar(
                select(Message).where(
                    Message.direction == Direction.INBOUND, Message.external_id == external_id
                )
            )

    async def settled(self, external_id: str, timeout: float = 20.0) -> Message:
        """The stored customer message once its turn is over (answered, or waiting for a
        retry): the webhook may answer Twilio before the turn ends."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            message = await self.inbound(external_id)
            done = message is not None and message.status not in (
                MessageStatus.RECEIVED,
                MessageStatus.PROCESSING,
            )
            if done or asyncio.get_running_loop().time() > deadline:
                assert message is not None, f"no message {external_id}"
                return message
            await asyncio.sleep(0.05)

    async def replies_to(self, message_id: int) -> list[Message]:
        """The replies stored to one customer message."""
        async with self.database.session() as session:
            rows = await session.scalars(
                select(Message).where(Message.in_reply_to_id == message_id).order_by(Message.id)
            )
            return list(rows)


def outcome(response: httpx.Response) -> tuple[int, str]:
    """The status and error code of an answer (the start of the body if it is not the one
    error shape, such as a 500's plain text)."""
    try:
        return response.status_code, str(response.json()["code"])
    except (ValueError, KeyError, TypeError):
        return response.status_code, response.text[:60]


def app_settings(tmp: Path, database_url: str, twilio: FakeTwilio, **updates: Any) -> Settings:
    """Settings for an app under `tmp`: Twilio on (REST API at `twilio`), Rasa unreachable,
    the retry worker idle unless `updates` say otherwise."""
    values: dict[str, Any] = {
        "var_dir": tmp / "var",
        "database_url": database_url,
        "rasa_url": f"http://127.0.0.1:{free_port()}",
        "action_server_url": f"http://127.0.0.1:{free_port()}",
        "twilio_account_sid": DEFAULT_ACCOUNT_SID,
        "twilio_auth_token": SecretStr(AUTH_TOKEN),
        "twilio_phone_number": TWILIO_NUMBER,
        "twilio_api_base_url": twilio.base_url,
        "imap_host": "",
        "public_url": "",
        "retry_interval_seconds": 3600.0,
        "log_level": "WARNING",
        # The NLP models would load in this process as the app starts: off unless asked.
        "nlp_enabled": False,
    }
    return Settings(**(values | updates))


@asynccontextmanager
async def twilio_app(tmp: Path, database_url: str, **updates: Any) -> AsyncIterator[TwilioApp]:
    """The app on `database_url` (a migrated database), started, for the duration of the
    block."""
    with fake_twilio(DEFAULT_ACCOUNT_SID, AUTH_TOKEN) as twilio:
        settings = app_settings(tmp, database_url, twilio, **updates)
        app = create_app(settings)
        database = Database(settings.effective_database_url)
        # A server error is a 500 response to look at, as a client would get it.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url=BASE_URL, timeout=30) as http,
            ):
                yield TwilioApp(settings, http, database, twilio)
        finally:
            await database.dispose()
