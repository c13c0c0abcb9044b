"""The agents' API over real HTTP, on SQLite and PostgreSQL: signing out (or a new password)
revokes the token on every app instance and every route; the live stream opens with a
single-use ticket, never with the token in the URL, and ends when its agent signs out; ids
out of range get a clear 422, never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute

from bot.core.db import Database
from handoff.auth import hash_password
from handoff.console import routes
from handoff.models import AgentStatus
from handoff.store import agents
from tests.support.agents import add_agent, console_settings, served_app, sign_in

SAM = "sam@shop.example"
# Every route that needs a signed-in agent, with an id where it takes one.
AGENT_ROUTES = [
    (method, route.path)
    for route in routes.router.routes
    if isinstance(route, APIRoute) and route.path not in ("/agent", "/agent/login")
    for method in sorted(route.methods or ())
]
ID_ROUTES = [(method, path) for method, path in AGENT_ROUTES if "_id}" in path]


def _path(path: str, row_id: object = 1) -> str:
    return path.replace("{handoff_id}", str(row_id)).replace("{attachment_id}", str(row_id))


async def _refusals(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[str]:
    """The agent routes that did not answer 401 with these headers."""
    wrong = []
    for method, path in AGENT_ROUTES:
        response = await http.request(method, f"{url}{_path(path)}", headers=headers, json={})
        if response.status_code != 401 or set(response.json()) != {"code", "detail"}:
            wrong.append(f"{method} {path}: {response.status_code}")
    return wrong


@pytest.fixture
async def two_instances(
    database: Database, database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[str, str]]:
    """Two app instances on one database, with the agent Sam."""
    await add_agent(database, SAM)
    settings = console_settings(tmp_path, database_url)
    async with served_app(settings) as first, served_app(settings) as second:
        yield first, second


async def test_signing_out_revokes_the_token_on_every_instance_and_route(
    two_instances: tuple[str, str],
) -> None:
    first, second = two_instances
    async with httpx.AsyncClient(timeout=30) as http:
        headers = await sign_in(http, first, SAM)
        other_tab = await sign_in(http, second, SAM)
        assert (await http.get(f"{second}/agent/inbox", headers=headers)).status_code == 200
        ticket = (await http.post(f"{first}/agent/events/ticket", headers=headers)).json()
        assert (await http.post(f"{first}/agent/logout", headers=headers)).status_code == 204
        for url in (first, second):
            assert await _refusals(http, url, headers) == []
            assert await _refusals(http, url, other_tab) == []
        stream = await http.get(f"{second}/agent/events", params={"ticket": ticket["ticket"]})
        assert stream.status_code == 401
        # Signing in again works, on either instance.
        fresh = await sign_in(http, second, SAM)
        assert (await http.get(f"{first}/agent/inbox", headers=fresh)).status_code == 200


async def test_signing_out_sets_the_agent_offline(
    database: Database, two_instances: tuple[str, str]
) -> None:
    first, _ = two_instances
    async with httpx.AsyncClient(timeout=30) as http:
        headers = await sign_in(http, first, SAM)
        available = {"status": "available"}
        response = await http.post(f"{first}/agent/status", headers=headers, json=available)
        assert response.status_code == 200
        assert (await http.post(f"{first}/agent/logout", headers=headers)).status_code == 204
    async with database.session() as session:
        agent = await agents.agent_by_email(session=session, email=SAM)
    assert agent is not None
    assert agent.status is AgentStatus.OFFLINE


async def test_a_new_password_revokes_the_old_tokens(
    database: Database, two_instances: tuple[str, str]
) -> None:
    first, _ = two_instances
    async with httpx.AsyncClient(timeout=30) as http:
        headers = await sign_in(http, first, SAM)
        async with database.session() as session:
            await agents.set_password(
                session=session, email=SAM, password_hash=hash_password("a new passphrase")
            )
        assert await _refusals(http, first, headers) == []
        await sign_in(http, first, SAM, "a new passphrase")


async def _next_lines(stream: AsyncIterator[str], count: int) -> list[str]:
    """The next `count` lines of an event stream that are not blank."""
    lines: list[str] = []
    async with asyncio.timeout(10):
        while len(lines) < count:
            if line := await anext(stream):
                lines.append(line)
    return lines


async def test_the_live_stream_opens_with_a_single_use_ticket_only(
    two_instances: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes, "RECHECK_SECONDS", 0.3)
    first, second = two_instances
    async with httpx.AsyncClient(timeout=30) as http:
        headers = await sign_in(http, first, SAM)
        token = headers["Authorization"].removeprefix("Bearer ")
        # The long-lived token is not taken from the URL, here or anywhere.
        for path in ("/agent/events", "/agent/inbox"):
            in_url = await http.get(f"{first}{path}", params={"token": token})
            assert in_url.status_code == 401
        assert (await http.get(f"{first}/agent/events", headers=headers)).status_code == 401
        ticket = (await http.post(f"{first}/agent/events/ticket", headers=headers)).json()
        assert 0 < ticket["expires_in"] <= 60
        events = f"{second}/agent/events"
        async with http.stream("GET", events, params={"ticket": ticket["ticket"]}) as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            assert await _next_lines(lines, 2) == ["event: inbox", "data: {}"]
            again = await http.get(events, params={"ticket": ticket["ticket"]})
            assert again.status_code == 401
            # Signing out elsewhere ends the open stream, with a word to the page.
            await http.post(f"{first}/agent/logout", headers=headers)
            async with asyncio.timeout(10):
                rest = [line async for line in lines if line]
        assert rest[-2:] == ["event: signed_out", "data: {}"]


async def test_ids_out_of_range_get_422_on_every_route(two_instances: tuple[str, str]) -> None:
    first, _ = two_instances
    body = {"text": "hello", "note": "", "to_queue": "support.general"}
    async with httpx.AsyncClient(timeout=30) as http:
        headers = await sign_in(http, first, SAM)
        for bad_id in (0, -1, 2**31, 2**63 - 1, 2**63, 2**64, 10**40):
            for method, path in ID_ROUTES:
                url = f"{first}{_path(path, bad_id)}"
                response = await http.request(method, url, headers=headers, json=body)
                assert response.status_code == 422, (method, path, bad_id, response.text)
                assert response.json()["code"] == "invalid_request"
            transfer = await http.post(
                f"{first}/agent/conversations/1/transfer",
                headers=headers,
                json={"to_agent_id": bad_id},
            )
            assert transfer.status_code == 422, (bad_id, transfer.text)
        # The largest id there can be is simply not found.
        largest = await http.get(f"{first}/agent/conversations/{2**31 - 1}", headers=headers)
        assert largest.status_code == 404
