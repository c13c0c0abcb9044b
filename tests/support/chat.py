"""A web chat client speaking the page's WebSocket protocol, for end-to-end tests."""

from __future__ import annotations

import asyncio
import json
import uuid
from types import TracebackType
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

REPLY_TIMEOUT = 60.0


class ChatClient:
    """One browser tab: connects as `user_id`, sends messages, collects frames."""

    def __init__(self, ws_url: str, user_id: str | None = None) -> None:
        self.user_id = user_id or f"e2e-{uuid.uuid4().hex[:12]}"
        self._url = f"{ws_url}?user_id={self.user_id}"
        self._socket: ClientConnection | None = None
        self.history: list[dict[str, Any]] = []

    async def __aenter__(self) -> ChatClient:
        self._socket = await websockets.connect(self._url)
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
