"""Agents in tests: accounts with a password, the app served in the test's own event loop
(real HTTP, so the console's event stream streams), signing in, and signing off without
leaving work behind for other tests."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr
from sqlalchemy import select

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from bot.testing.ports import free_port
from handoff.auth import hash_password
from handoff.models import AgentStatus, Handoff, HandoffStatus
from handoff.store import agent_actions, agents
from tests.support.credentials import remember

PASSWORD = "s3cure-enough-pass"


def console_settings(tmp_path: Path, database_url: str, **updates: Any) -> Settings:
    """Settings for an app on loopback with `database_url` (Rasa is not running: the
    console's sign-in and routes do not need it), with `updates` on top."""
    defaults: dict[str, Any] = {
        "var_dir": tmp_path / "var",
        "database_url": database_url,
        "rasa_url": f"http://127.0.0.1:{free_port()}",
        "action_server_url": f"http://127.0.0.1:{free_port()}",
        "rasa_token": SecretStr(secrets.token_hex(8)),
        "agent_token_secret": SecretStr("console-test-secret"),
        "log_level": "WARNING",
        # The NLP models would load in this process as the app starts: off unless asked.
        "nlp_enabled": False,
    }
    return Settings(**(defaults | updates))


@asynccontextmanager
async def served_app(settings: Settings, *, port: int | None = None) -> AsyncIterator[str]:
    """The app served by uvicorn on loopback (a free port unless told) in this event loop;
    its base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        lifespan="on",
        # Open event streams never end by themselves: they are cut on the way out.
        timeout_graceful_shutdown=1,
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(30):
        while not server.started:
            if task.done():
                task.result()  # it failed to start: say why
            await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def add_agent(
    db: Database, email: str, password: str = PASSWORD, *, skills: Sequence[str] = ("general",)
) -> int:
    """An agent account with `password`; its id."""
    async with db.session() as session:
        agent = await agents.create_agent(
            session=session,
            email=email,
            display_name=email.split("@")[0],
            password_hash=hash_password(password),
            skills=skills,
        )
    return agent.id


async def sign_in(
    http: httpx.AsyncClient, app_url: str, email: str, password: str = PASSWORD
) -> dict[str, str]:
    """The Authorization header of a fresh sign-in (which must succeed)."""
    response = await http.post(
        f"{app_url}/agent/login", json={"email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    remember("agent token", response.json()["token"])  # the log test looks for it
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def sign_off(db: Database, agent_id: int) -> None:
    """The agent finishes what they have and goes offline.

    Going offline alone would hand their conversations back to the queue, where the next
    test would meet them.
    """
    async with db.session() as session:
        assigned = await session.scalars(
            select(Handoff.id).where(
                Handoff.agent_id == agent_id, Handoff.status == HandoffStatus.ASSIGNED
            )
        )
        for handoff_id in list(assigned):
            await agent_actions.resolve_handoff(
                session=session, handoff_id=handoff_id, agent_id=agent_id
            )
        await agents.set_agent_status(
            session=session, agent_id=agent_id, status=AgentStatus.OFFLINE
        )
