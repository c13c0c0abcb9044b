"""A web chat client speaking the page's protocol (a session first, then the WebSocket with the
token in its first frame), for end-to-end tests."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
import websockets
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection

from bot.core.db import Database
from bot.core.models import Channel, ChannelIdentity, Message
from tests.support.credentials import remember

REPLY_TIMEOUT = 60.0


@dataclass(frozen=True)
class ChatSession:
    """A web chat session as the server issued it, and the visitor it names."""

    token: str
    expires_at: str

    @property
    def visitor_id(self) -> str:
        """The store's address of the visitor (read from the token, not checked)."""
        return str(token_claims(self.token)["sub"])

    @property
    def headers(self) -> dict[str, str]:
        """The REST headers that carry the session."""
        return {"Authorization": f"Bearer {self.token}"}


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a session token (its signature not checked)."""
    payload = token.partition(".")[0]
    padded = payload + "=" * (-len(payload) % 4)
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return claims


def app_url_of(ws_url: str) -> str:
    """`ws://host:port/webchat/ws` -> `http://host:port`."""
    return ws_url.replace("ws://", "http://", 1).removesuffix("/webchat/ws")


async def open_session(
    app_url: str, *, user: str | None = None, bearer: str | None = None
) -> ChatSession:
    """A new session from `POST /webchat/sessions` (it must succeed): an anonymous visitor,
    or with `user` and the embed secret as `bearer`, the embedding app's user."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{app_url}/webchat/sessions", json={"user": user} if user else {}, headers=headers
        )
    assert response.status_code == 201, response.text
    body = response.json()
    remember("web chat session token", body["token"])  # the log test looks for it
    return ChatSession(body["token"], body["expires_at"])


async def stored_messages(db: Database, visitor_id: str) -> list[Message]:
    """Every message stored for the web chat visitor `visitor_id`, oldest first."""
    async with db.session() as session:
        rows = await session.scalars(
            select(Message)
            .join(ChannelIdentity, Message.identity_id == ChannelIdentity.id)
            .where(ChannelIdentity.channel == Channel.WEBCHAT)
            .where(ChannelIdentity.address == visitor_id)
            .order_by(Message.id)
        )
        return list(rows)


class ChatClient:
    """One browser tab: gets a session (or uses `session`, as another tab of the same
    visitor does), connects, sends messages, collects frames."""

    def __init__(self, ws_url: str, session: ChatSession | None = None) -> None:
        self._url = ws_url
        self._session = session
        self._socket: ClientConnection | None = None
        self.history: list[dict[str, Any]] = []

    async def __aenter__(self) -> ChatClient:
        if self._session is None:
            self._session = await open_session(app_url_of(self._url))
        self._socket = await websockets.connect(self._url)
        await self._socket.send(json.dumps({"type": "auth", "token": self._session.token}))
        first = await self.frame()
        assert first["type"] == "history", first
        self.history = first["messages"]
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._socket is not None:
            await self._socket.close()

    @property
    def session(self) -> ChatSession:
        """This tab's session."""
        assert self._session is not None, "not connected"
        return self._session

    @property
    def visitor_id(self) -> str:
        """The visitor's address in the store."""
        return self.session.visitor_id

    @property
    def socket(self) -> ClientConnection:
        assert self._socket is not None, "not connected"
        return self._socket

    async def frame(self, timeout: float = REPLY_TIMEOUT) -> dict[str, Any]:
        """The next frame from the server."""
        raw = await asyncio.wait_for(self.socket.recv(), timeout)
        frame: dict[str, Any] = json.loads(raw)
        return frame

    async def send(
        self, text: str, *, payload: str | None = None, client_id: str | None = None
    ) -> str:
        """Send a message frame; its client id."""
        client_id = client_id or uuid.uuid4().hex
        frame: dict[str, Any] = {"type": "message", "id": client_id, "text": text}
        if payload is not None:
            frame["payload"] = payload
        await self.socket.send(json.dumps(frame))
        return client_id

    async def say(
        self, text: str, *, payload: str | None = None, client_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Send a message and return the replies to it (after its ack)."""
        sent = await self.send(text, payload=payload, client_id=client_id)
        ack = await self.frame()
        assert ack == {"type": "ack", "id": sent}, ack
        return await self.replies()

    async def replies(self, timeout: float = REPLY_TIMEOUT) -> list[dict[str, Any]]:
        """The messages of the next `replies` frame."""
        frame = await self.frame(timeout)
        assert frame["type"] == "replies", frame
        messages: list[dict[str, Any]] = frame["messages"]
        return messages

    async def click(self, reply: dict[str, Any], title: str) -> list[dict[str, Any]]:
        """Press the button titled `title` on `reply`."""
        button = next(b for b in reply.get("buttons", []) if b["title"] == title)
        return await self.say(button["title"], payload=button["payload"])
