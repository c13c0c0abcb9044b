"""The whole app served by uvicorn in this process on a free port, spoken to over real HTTP
and WebSockets, for the web chat's tests. Rasa and the action server are not running: every
message is stored and answered with the "your message is saved" notice, which is all the
web chat's own checks need."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from bot.testing.ports import free_port
from tests.support.chat import ChatSession, open_session

STARTUP_SECONDS = 20.0


@dataclass(frozen=True)
class WebchatApp:
    """A running app: its settings, base URL and database."""

    settings: Settings
    database: Database

    @property
    def url(self) -> str:
        """The app's base URL."""
        return f"http://127.0.0.1:{self.settings.app_port}"

    @property
    def ws_url(self) -> str:
        """The web chat's WebSocket URL."""
        return f"ws://127.0.0.1:{self.settings.app_port}/webchat/ws"

    async def session(self, **options: Any) -> ChatSession:
        """A new session (see `open_session`)."""
        return await open_session(self.url, **options)

    def http(self) -> httpx.AsyncClient:
        """An HTTP client on the app."""
        return httpx.AsyncClient(base_url=self.url, timeout=30)


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[None]:
    """The app on `settings.app_port` for the length of the block."""
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=settings.app_port,
        log_config=None,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(STARTUP_SECONDS):
            while not server.started:
                if task.done():
                    task.result()  # startup failed: raise why
                await asyncio.sleep(0.02)
        yield
    finally:
        server.should_exit = True
        await task


WebchatAppFactory = Callable[..., AbstractAsyncContextManager[WebchatApp]]


@asynccontextmanager
async def webchat_app(
    tmp: Path, database_url: str, database: Database, **updates: Any
) -> AsyncIterator[WebchatApp]:
    """The app under `tmp` on `database_url`, with `updates` to its settings."""
    settings = Settings(
        var_dir=tmp / "var",
        database_url=database_url,
        app_port=free_port(),
        # Nothing listens there: every turn waits for Rasa, with the saved-notice.
        rasa_url=f"http://127.0.0.1:{free_port()}",
        action_server_url=f"http://127.0.0.1:{free_port()}",
        retry_interval_seconds=60.0,
        # The NLP models would load in this process as the app starts: off unless asked.
        **({"nlp_enabled": False} | updates),
    )
    async with serving(settings):
        yield WebchatApp(settings, database)
