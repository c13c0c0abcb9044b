"""Web chat's WebSocket over a real connection: the first frame must carry a session the server
issued (or the company app's signed token, which verifies its customer until it expires);
only the visitor's own tabs get their history and replies; rate limits and hard inputs get
error frames and the socket stays open."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from adapters.webchat import socket as webchat_socket
from adapters.webchat.sessions import SessionSigner
from tests.support.app_tokens import (
    APP_SECRET,
    CUSTOMER,
    GUESSED_SECRET,
    VERIFIED,
    app_token,
    app_visitor,
    refused_app_tokens,
    stored_rows,
)
from tests.support.chat import ChatClient, ChatSession, stored_messages, token_claims
from tests.support.webchat_app import WebchatApp, WebchatAppFactory

SAVED_NOTICE = "Your message is saved"


async def _refusal(app: WebchatApp, first_frame: str | None, *, query: str = "") -> str:
    """How the server closes a socket that opens with `first_frame` (None: says nothing)."""
    async with websockets.connect(app.ws_url + query) as socket:
        if first_frame is not None:
            await socket.send(first_frame)
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 10)
    assert closed.value.rcvd is not None
    return f"{closed.value.rcvd.code} {closed.value.rcvd.reason}"


def _auth(token: str) -> str:
    return json.dumps({"type": "auth", "token": token})


async def test_a_socket_without_a_valid_session_is_closed(
    webchat_app: WebchatAppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webchat_socket, "AUTH_SECONDS", 0.5)
    async with webchat_app(webchat_session_days=1) as app:
        victim = await app.session()
        ours = SessionSigner.from_settings(app.settings)
        expired = ours.token(ours.anonymous(now=time.time() - 2 * 86400))
        forged = SessionSigner("guessed", timedelta(days=1)).token(ours.anonymous())
        refused = "1008 invalid_session"
        # The old way in: the visitor id in the URL, then a message.
        message = json.dumps({"type": "message", "text": "hi"})
        assert await _refusal(app, message, query=f"?user_id={victim.visitor_id}") == refused
        assert await _refusal(app, _auth(expired)) == refused
        assert await _refusal(app, _auth(forged)) == refused
        assert await _refusal(app, _auth(victim.token[:-1])) == refused
        assert await _refusal(app, "[" * 5000) == refused
        assert await _refusal(app, json.dumps({"type": "auth"})) == refused
        assert await _refusal(app, None) == "1008 auth_required"


async def test_an_outsider_socket_gets_none_of_the_visitors_replies(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app() as app:
        async with ChatClient(app.ws_url) as victim, ChatClient(app.ws_url) as outsider:
            assert outsider.visitor_id != victim.visitor_id
            replies = await victim.say("my order ORD-482913 is late")
            assert SAVED_NOTICE in replies[0]["text"]
            # The replies reached the visitor's tab; the outsider's socket got nothing.
            with pytest.raises(TimeoutError):
                await outsider.frame(timeout=0.5)
            assert outsider.history == []
        async with ChatClient(app.ws_url, victim.session) as again:
            assert again.history[0]["text"] == "my order ORD-482913 is late"


async def test_two_tabs_of_one_visitor_both_get_the_replies(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app() as app, ChatClient(app.ws_url) as first:
        second = ChatClient(app.ws_url, first.session)
        async with second:
            replies = await first.say("hello from the first tab")
            assert SAVED_NOTICE in replies[0]["text"]
            assert await second.replies() == replies
            # The same visitor: the notice is not repeated for the second tab's message.
            assert await second.say("and from the second") == []
    inbound = await stored_messages(app.database, first.visitor_id)
    assert inbound[0].payload == {"metadata": {"session_kind": "anonymous"}}


async def test_too_many_messages_get_an_error_frame_and_are_not_stored(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app(webchat_visitor_rate="2/minute") as app, ChatClient(app.ws_url) as chat:
        await chat.say("one")
        await chat.say("two")
        await chat.send("three", client_id="c3")
        frame = await chat.frame()
        assert frame["type"] == "error" and frame["code"] == "rate_limited"
        assert frame["id"] == "c3" and 0 < frame["retry_after"] <= 60
    texts = [m.text for m in await stored_messages(app.database, chat.visitor_id)]
    assert "three" not in texts and "two" in texts


async def test_deep_json_gets_an_error_frame_and_the_socket_stays_open(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app() as app, ChatClient(app.ws_url) as chat:
        for deep in ["[" * 5000, '{"text": ' + "[" * 4000 + "]" * 4000 + "}"]:
            await chat.socket.send(deep)
            frame = await chat.frame()
            assert (frame["type"], frame["code"]) == ("error", "malformed_json")
        replies = await chat.say("still here?")
        assert SAVED_NOTICE in replies[0]["text"]


class _Records(logging.Handler):
    """Every log record, formatted as its handlers would see it."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.exc_text or ''}")


@contextmanager
def _all_logs() -> Iterator[_Records]:
    """Every line logged at the app's level (INFO), uvicorn's access lines included (which
    the app keeps quiet, but a deployment may not)."""
    records = _Records()
    root, access = logging.getLogger(), logging.getLogger("uvicorn.access")
    access_level = access.level
    root.addHandler(records)
    access.setLevel(logging.INFO)
    try:
        yield records
    finally:
        root.removeHandler(records)
        access.setLevel(access_level)


async def test_no_visitor_id_or_token_is_logged(webchat_app: WebchatAppFactory) -> None:
    async with webchat_app() as app:
        with _all_logs() as logs:
            async with ChatClient(app.ws_url) as chat:
                await chat.say("hello")
                await chat.socket.send("{not json")
                await chat.frame()
            session: ChatSession = chat.session
            async with app.http() as http:
                await http.get("/webchat/history", headers=session.headers)
                await http.post("/webchat/messages", json={"text": "hi"}, headers=session.headers)
                await http.post("/webchat/sessions", headers=session.headers)
            await _refusal(app, _auth(session.token + "x"))
    text = "\n".join(logs.lines)
    assert "webchat" in text  # uvicorn's lines about these requests are there
    assert session.visitor_id not in text
    assert session.token.partition(".")[2] not in text


async def _app_socket(app: WebchatApp, app_token: str) -> ClientConnection:
    """A socket opened with the company app's token, past its history frame."""
    socket = await websockets.connect(app.ws_url)
    await socket.send(json.dumps({"type": "auth", "app_token": app_token}))
    first = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert first["type"] == "history", first
    return socket


async def _say(socket: ClientConnection, text: str, **extra: Any) -> None:
    """Send a message; wait for its ack and its replies."""
    await socket.send(json.dumps({"type": "message", "id": "m1", "text": text, **extra}))
    assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == {"type": "ack", "id": "m1"}
    assert json.loads(await asyncio.wait_for(socket.recv(), 30))["type"] == "replies"


async def test_an_app_token_in_the_first_frame_verifies_the_socket(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app(app_token_secret=APP_SECRET) as app:
        socket = await _app_socket(app, app_token())
        await _say(socket, "my transactions please")
        await socket.close()
        # The session the app exchanged its token for: the same customer, the same visitor.
        async with app.http() as http:
            opened = await http.post("/webchat/sessions", json={"app_token": app_token()})
        async with ChatClient(app.ws_url, ChatSession(**opened.json())) as chat:
            assert chat.history[0]["text"] == "my transactions please"
            await chat.say("and my balance")
    stored = await stored_messages(app.database, app_visitor(app))
    inbound = [m for m in stored if m.text in {"my transactions please", "and my balance"}]
    assert [m.payload for m in inbound] == [{"metadata": VERIFIED}] * 2


async def test_refused_app_tokens_close_the_socket_and_nothing_is_stored(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app(app_token_secret=APP_SECRET) as app:
        for token in [*refused_app_tokens(), 42]:
            frame = json.dumps({"type": "auth", "app_token": token})
            assert await _refusal(app, frame) == "1008 invalid_app_token"
        # Both kinds of credential at once is neither.
        both = json.dumps({"type": "auth", "app_token": app_token(), "token": "x.y"})
        assert await _refusal(app, both) == "1008 invalid_session"
    assert await stored_rows(app) == (0, 0)


async def test_a_visitor_cannot_set_the_verification_metadata(
    webchat_app: WebchatAppFactory,
) -> None:
    forged = {"verified_customer_ref": CUSTOMER, "verification": "app_token"}
    async with webchat_app(app_token_secret=APP_SECRET) as app, ChatClient(app.ws_url) as chat:
        await _say(chat.socket, "I am CUST-000482", session_kind="app", metadata=forged, **forged)
    stored = await stored_messages(app.database, chat.visitor_id)
    assert stored[0].payload == {"metadata": {"session_kind": "anonymous"}}


async def test_the_socket_closes_when_the_app_token_expires(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app(app_token_secret=APP_SECRET, app_token_leeway_seconds=0) as app:
        token = app_token(exp=int(time.time()) + 3)
        socket = await _app_socket(app, token)
        async with app.http() as http:
            opened = await http.post("/webchat/sessions", json={"app_token": token})
            session = ChatSession(**opened.json())
            await asyncio.sleep(token_claims(session.token)["exp"] - time.time() + 0.2)
            for headers in (session.headers, {"Authorization": f"Bearer {token}"}):
                late = await http.post("/webchat/messages", json={"text": "hi"}, headers=headers)
                assert late.status_code == 401
        await socket.send(json.dumps({"type": "message", "text": "still me?"}))
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "session_expired")
    assert await stored_rows(app) == (0, 0)


async def test_no_app_token_is_logged(webchat_app: WebchatAppFactory) -> None:
    good = app_token()
    forged, unsigned = app_token(key=GUESSED_SECRET), app_token(key="", algorithm="none")
    async with webchat_app(app_token_secret=APP_SECRET) as app:
        with _all_logs() as logs:
            async with app.http() as http:
                for token in (good, forged, unsigned, app_token(aud="x")):
                    headers = {"Authorization": f"Bearer {token}"}
                    await http.post("/webchat/messages", json={"text": "hi"}, headers=headers)
                    await http.post("/webchat/sessions", json={"app_token": token})
            socket = await _app_socket(app, good)
            await _say(socket, "hello")
            await socket.close()
            await _refusal(app, json.dumps({"type": "auth", "app_token": forged}))
    text = "\n".join(logs.lines)
    assert "webchat_app_token_rejected" in text and "bad_signature" in text
    for token in (good, forged, unsigned):
        for part in filter(None, token.split(".")):
            assert part not in text
