"""What every request and response passes, tried on the whole app with real HTTP requests
(httpx through the ASGI app, startup run; uvicorn over TCP where the server matters): bodies
over the limit are refused without being read, 422s never echo what was sent, security
headers and a nonce'd Content-Security-Policy on the pages, cross-origin browser requests
only from the allowed origins, and NUL or lone surrogates stored and answered on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
import websockets
from sqlalchemy import select
from websockets.typing import Origin

from bot.app import create_app
from bot.core.models import Channel, Direction, Message, MessageStatus
from bot.schema import migrate
from bot.testing.ports import free_port
from bot.testing.twilio_api import fake_twilio
from bot.testing.twilio_webhooks import DEFAULT_ACCOUNT_SID, sms_params
from handoff.models import AgentNote
from tests.support.agents import PASSWORD as AGENT_PASSWORD
from tests.support.agents import add_agent, sign_in
from tests.support.databases import sqlite_url
from tests.support.handoff import queued
from tests.support.twilio_app import (
    AUTH_TOKEN,
    BASE_URL,
    TWILIO_NUMBER,
    TwilioApp,
    app_settings,
    twilio_app,
)

LIMIT = 8192
SHOP = "https://shop.example.com"
EVIL = "https://evil.example"
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def sqlite(tmp_path: Path) -> str:
    """A migrated SQLite database (for the checks that do not depend on the database)."""
    url = sqlite_url(tmp_path)
    migrate(url)
    return url


@pytest.fixture
async def app(tmp_path: Path, sqlite: str) -> AsyncIterator[TwilioApp]:
    """The app with an 8 KB body limit, the shop allowed to call it and to frame the chat."""
    async with twilio_app(
        tmp_path,
        sqlite,
        max_request_bytes=LIMIT,
        allowed_origins=[SHOP],
        frame_ancestors=[SHOP],
    ) as running:
        yield running


async def _token(app: TwilioApp) -> str:
    response = await app.http.post("/webchat/sessions")
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


ROUTES = ["/agent/login", "/webchat/sessions", "/webchat/messages", "/twilio/sms", "/nowhere"]


@pytest.mark.parametrize("path", ROUTES)
async def test_a_body_declared_over_the_limit_is_a_413_on_every_route(
    app: TwilioApp, path: str
) -> None:
    response = await app.http.post(
        path, content=b"{" + b" " * LIMIT + b"}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {
        "code": "request_too_large",
        "detail": f"The request body is over {LIMIT} bytes.",
    }
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", [path for path in ROUTES if path != "/nowhere"])
async def test_a_streamed_body_is_cut_off_at_the_limit_not_read_whole(
    app: TwilioApp, path: str
) -> None:
    sent = 0

    async def fifty_megabytes() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(50 * 1024):
            sent += 1024
            yield b" " * 1024

    # Past every check made before the body is read (a session, a signature, the type).
    headers = {
        "Content-Type": "application/x-www-form-urlencoded"
        if path.startswith("/twilio")
        else "application/json",
        "Authorization": f"Bearer {await _token(app)}",
        "X-Twilio-Signature": "checked-after-reading",
    }
    response = await app.http.post(path, content=fifty_megabytes(), headers=headers)
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert sent <= LIMIT + 1024


async def test_a_body_within_the_limit_still_reaches_the_route(app: TwilioApp) -> None:
    response = await app.http.post(
        "/agent/login",
        content=json.dumps({"email": "a@example.com", "password": "p" * 1000}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"email": "agent@example.com", "password": [PASSWORD]},
        {"email": "agent@example.com", "password": {"value": PASSWORD}},
        {"email": [PASSWORD], "password": PASSWORD, PASSWORD * 100: PASSWORD * 100},
        {"email": "agent@example.com", "password": PASSWORD * 100},
    ],
)
async def test_a_refused_login_never_echoes_the_password(
    app: TwilioApp, body: dict[str, object]
) -> None:
    response = await app.http.post("/agent/login", json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"
    assert "body." in response.json()["detail"]
    assert PASSWORD not in response.text


async def test_every_answer_has_nosniff_and_no_referrer(app: TwilioApp) -> None:
    answers = [
        await app.http.get("/health/live"),
        await app.http.get("/openapi.json"),
        await app.http.get("/nowhere"),
        await app.http.get("/webchat/history"),
        await app.http.post("/twilio/sms", data={"Body": "unsigned"}),
        await app.http.post("/webchat/sessions", headers={"Origin": EVIL}),
    ]
    for response in answers:
        assert response.headers["x-content-type-options"] == "nosniff", response.url
        assert response.headers["referrer-policy"] == "no-referrer", response.url
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (directive.split() for directive in policy.split(";") if directive.strip())
    return {name: values for name, *values in parts}


@pytest.mark.parametrize(
    ("path", "framers"), [("/webchat", ["'self'", SHOP]), ("/agent", ["'self'"])]
)
async def test_the_pages_allow_only_their_own_scripts_and_styles(
    app: TwilioApp, path: str, framers: list[str]
) -> None:
    first, second = await app.http.get(path), await app.http.get(path)
    assert first.status_code == 200
    policy = _directives(first.headers["content-security-policy"])
    nonce = policy["script-src"][0]
    assert re.fullmatch(r"'nonce-[A-Za-z0-9_-]{22,}'", nonce)
    assert policy["script-src"] == [nonce] and policy["style-src"] == [nonce]
    assert policy["default-src"] == ["'none'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == framers
    assert "ws://testserver" in policy["connect-src"]
    assert "unsafe" not in first.headers["content-security-policy"]
    # Every script and style tag of the page carries this response's nonce, and only this one.
    tags = re.findall(r"<(?:script|style)\b[^>]*>", first.text)
    assert tags and all(f'nonce="{nonce[7:-1]}"' in tag for tag in tags)
    assert int(first.headers["content-length"]) == len(first.content)
    assert _directives(second.headers["content-security-policy"])["script-src"] != [nonce]


async def test_cors_answers_only_the_allowed_origins(app: TwilioApp) -> None:
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    allowed = await app.http.options("/webchat/messages", headers={"Origin": SHOP, **ask})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == SHOP
    refused = await app.http.options("/webchat/messages", headers={"Origin": EVIL, **ask})
    assert refused.status_code == 403
    assert refused.json()["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in refused.headers
    read = await app.http.get("/handoff/queues", headers={"Origin": EVIL})
    assert "access-control-allow-origin" not in read.headers


async def test_posts_from_other_sites_are_refused_before_anything_happens(app: TwilioApp) -> None:
    token = await _token(app)
    for path, headers in (
        ("/webchat/sessions", {}),
        ("/webchat/messages", {"Authorization": f"Bearer {token}"}),
        ("/agent/login", {}),
    ):
        for origin in (EVIL, "null", "http://testserver.evil.example", "http://testserver:81"):
            response = await app.http.post(
                path,
                content=b'{"text": "hello", "email": "a@example.com", "password": "x"}',
                headers={"Origin": origin, "Content-Type": "text/plain", **headers},
            )
            assert response.status_code == 403, (path, origin, response.text)
            assert response.json()["code"] == "origin_not_allowed"
    async with app.database.session() as session:
        assert await session.scalar(select(Message.id)) is None


async def test_posts_from_the_app_itself_an_allowed_site_or_no_browser_pass(
    app: TwilioApp,
) -> None:
    for origin in ("http://testserver", "HTTP://TESTSERVER:80", SHOP, f"{SHOP}/"):
        response = await app.http.post("/webchat/sessions", headers={"Origin": origin})
        assert response.status_code == 201, (origin, response.text)
    from_shop = await app.http.post("/webchat/sessions", headers={"Origin": SHOP})
    assert from_shop.headers["access-control-allow-origin"] == SHOP
    # Twilio sends no Origin: its signed webhooks are untouched.
    sms = sms_params(from_="+14155550142", to=TWILIO_NUMBER, body="hello")
    assert (await app.post("/twilio/sms", sms)).status_code == 200


async def test_behind_a_proxy_the_public_urls_origin_is_the_apps_own(
    tmp_path: Path, sqlite: str
) -> None:
    # A proxy that sends its own Host: the browser's Origin is the public one.
    async with twilio_app(tmp_path, sqlite, public_url="https://help.example.com/chat") as app:
        for origin, status in (("https://help.example.com", 201), (EVIL, 403)):
            response = await app.http.post("/webchat/sessions", headers={"Origin": origin})
            assert response.status_code == status, (origin, response.text)


@asynccontextmanager
async def _served(tmp_path: Path, database_url: str) -> AsyncIterator[str]:
    """The app under uvicorn on a free port (its base URL), for what only a server shows."""
    with fake_twilio(DEFAULT_ACCOUNT_SID, AUTH_TOKEN) as twilio:
        settings = app_settings(
            tmp_path, database_url, twilio, app_port=free_port(), max_request_bytes=LIMIT
        )
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
            async with asyncio.timeout(20):
                while not server.started:
                    if task.done():
                        task.result()  # startup failed: raise why
                    await asyncio.sleep(0.02)
            yield f"127.0.0.1:{settings.app_port}"
        finally:
            server.should_exit = True
            await task


async def test_over_tcp_50_mb_bodies_get_413_without_being_held_in_memory(
    tmp_path: Path, sqlite: str
) -> None:
    chunk = b" " * 65536

    async def fifty_megabytes() -> AsyncIterator[bytes]:
        for _ in range(800):
            yield chunk

    async with _served(tmp_path, sqlite) as address, httpx.AsyncClient() as client:
        tracemalloc.start()
        try:
            for body, length in ((fifty_megabytes(), None), (fifty_megabytes(), 800 * 65536)):
                headers = {"Content-Type": "application/json"}
                if length is not None:
                    headers["Content-Length"] = str(length)  # declared: refused up front
                response = await client.post(
                    f"http://{address}/agent/login", content=body, headers=headers
                )
                assert response.status_code == 413
                assert response.json()["code"] == "request_too_large"
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # Server and client share this process: together they never held more than a few MB.
    assert peak < 8 * 1024 * 1024


async def test_over_tcp_a_websocket_from_another_site_is_refused(
    tmp_path: Path, sqlite: str
) -> None:
    async with _served(tmp_path, sqlite) as address:
        url = f"ws://{address}/webchat/ws"
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url, origin=Origin(EVIL)):
                pass
        assert refused.value.response.status_code == 403
        # The page's own origin gets through the handshake (the session is checked after).
        async with websockets.connect(url, origin=Origin(f"http://{address}")) as same_site:
            assert same_site.response is not None
            assert same_site.response.status_code == 101


async def test_nul_and_lone_surrogates_are_stored_and_answered(
    tmp_path: Path, database_url: str
) -> None:
    async with twilio_app(tmp_path, database_url) as app:
        token = await _token(app)
        response = await app.http.post(
            "/webchat/messages",
            # json.dumps writes both as \\u escapes, as a browser's JSON.stringify does.
            content=json.dumps({"id": "m1", "text": "where is my \x00 order \ud800?"}),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["messages"], "answered (Rasa is down: the saved-notice)"
        sms = sms_params(from_="+14155550142", to=TWILIO_NUMBER, body="my order\x00 is late")
        assert (await app.post("/twilio/sms", sms)).status_code == 200
        async with app.database.session() as session:
            stored = {
                m.channel: m
                for m in await session.scalars(
                    select(Message).where(Message.direction == Direction.INBOUND)
                )
            }
    assert stored[Channel.WEBCHAT].text == "where is my  order \ufffd?"
    assert stored[Channel.WEBCHAT].status is not MessageStatus.RECEIVED
    assert "\x00" not in stored[Channel.SMS].text
    assert "order" in stored[Channel.SMS].text


async def test_nul_from_agents_is_stored_the_same_on_both_databases(
    tmp_path: Path, database_url: str
) -> None:
    async with twilio_app(tmp_path, database_url) as app:
        await add_agent(app.database, "casey@shop.example")
        handoff_id = await queued(app.database)
        # An email with a NUL is looked up (and audited) like any other unknown one.
        wrong = {"email": "casey\x00@shop.example", "password": AGENT_PASSWORD}
        assert (await app.http.post("/agent/login", json=wrong)).status_code == 401
        agent = await sign_in(app.http, BASE_URL, "casey@shop.example")
        await app.http.post("/agent/status", json={"status": "available"}, headers=agent)
        await app.http.post(f"/agent/conversations/{handoff_id}/take", headers=agent)
        conversation = f"/agent/conversations/{handoff_id}"
        reply = await app.http.post(f"{conversation}/reply", json={"text": "a\x00b"}, headers=agent)
        assert reply.status_code == 200, reply.text
        note = await app.http.post(f"{conversation}/notes", json={"text": "c\x00d"}, headers=agent)
        assert note.status_code == 200, note.text
        async with app.database.session() as session:
            sent = await session.get_one(Message, reply.json()["message_id"])
            noted = await session.scalar(select(AgentNote.text))
    assert (sent.text, noted) == ("a\ufffdb", "c\ufffdd")
