"""The action server as an outsider meets it: listening on loopback only, answering only
callers with the shared secret, and running actions only for conversations the app started."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.core.db import Database
from bot.core.models import Channel, Complaint
from bot.core.settings import Settings
from bot.core.store.conversations import start_conversation
from bot.core.store.customers import resolve_identity
from bot.processes import Supervisor, action_server_spec
from bot.schema import migrate
from bot.testing.ports import free_port
from tests.support.databases import sqlite_url

pytestmark = pytest.mark.integration
SECRET = "the-shared-action-secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    tmp = tmp_path_factory.mktemp("action-server")
    settings = Settings(
        var_dir=tmp / "var",
        database_url=sqlite_url(tmp),
        action_server_url=f"http://127.0.0.1:{free_port()}",
        action_server_secret=SecretStr(SECRET),
    )
    migrate(settings.effective_database_url)
    supervisor = Supervisor()
    spec = action_server_spec(settings)
    supervisor.start(spec)
    try:
        supervisor.wait_healthy(spec)
        yield settings
    finally:
        supervisor.stop_all()


def _outward_address() -> str | None:
    # The address this machine uses towards other machines (no packet is sent).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def test_listens_on_loopback_only(server: Settings) -> None:
    address = _outward_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    port = int(server.action_server_url.rsplit(":", 1)[1])
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection((address, port), timeout=2),
    ):
        pass


def test_refuses_callers_without_the_secret(server: Settings) -> None:
    url = server.action_server_url
    assert httpx.get(f"{url}/actions").status_code == 401
    assert httpx.get(f"{url}/actions", headers={"X-Action-Secret": "guess"}).status_code == 401
    call = _action_call("action_complaint_status", "any-sender")
    assert httpx.post(f"{url}/webhook", json=call).status_code == 401
    listed = httpx.get(f"{url}/actions", headers={"X-Action-Secret": SECRET})
    assert listed.status_code == 200
    assert {"name": "action_submit_complaint"} in listed.json()


def test_refuses_sender_ids_the_app_did_not_issue(server: Settings) -> None:
    call = _action_call("action_submit_complaint", "invented-sender", fraud=True)
    response = httpx.post(
        f"{server.action_server_url}/webhook", json=call, headers={"X-Action-Secret": SECRET}
    )
    assert response.status_code == 403
    assert asyncio.run(_complaints(server)) == 0


def test_runs_actions_for_the_apps_conversations(server: Settings) -> None:
    sender = asyncio.run(_conversation(server))
    response = httpx.post(
        f"{server.action_server_url}/webhook",
        json=_action_call("action_complaint_status", sender),
        headers={"X-Action-Secret": SECRET},
    )
    assert response.status_code == 200, response.text
    assert response.json()["responses"]  # it told the customer something


def _action_call(action: str, sender: str, *, fraud: bool = False) -> dict[str, Any]:
    slots = {"complaint_category": "fraud", "complaint_story": "someone used my card"}
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.6.21",
        "domain": {"slots": {}, "responses": {}, "intents": [], "entities": [], "forms": {}},
        "tracker": {
            "sender_id": sender,
            "slots": slots if fraud else {},
            "latest_message": {"text": "status please", "intent": {"name": "complaint_status"}},
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


async def _conversation(settings: Settings) -> str:
    database = Database(settings.effective_database_url)
    try:
        async with database.session() as session:
            identity = await resolve_identity(
                session=session, channel=Channel.SMS, address="+14155550123"
            )
            conversation = await start_conversation(
                session=session, customer_id=identity.customer_id, channel=Channel.SMS
            )
            return conversation.public_id
    finally:
        await database.dispose()


async def _complaints(settings: Settings) -> int:
    database = Database(settings.effective_database_url)
    try:
        async with database.session() as session:
            return int(await session.scalar(select(func.count()).select_from(Complaint)) or 0)
    finally:
        await database.dispose()
