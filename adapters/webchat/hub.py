"""The open chat sockets of each web chat visitor: replies are pushed to all of their tabs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from fastapi import WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from adapters.webchat.frames import render_stored
from bot.core.messages import StoredReply
from bot.core.models import Channel


class WebchatHub:
    """The open chat sockets of each web chat visitor; pushes replies to all of them.

    Replies it could not push (no tab open) are not resent: the visitor gets them when a
    tab connects again.
    """

    channel = Channel.WEBCHAT
    resends_pending = False

    def __init__(self) -> None:
        self._sockets: dict[str, set[WebSocket]] = defaultdict(set)

    def add(self, visitor_id: str, websocket: WebSocket) -> None:
        """Track a newly opened socket."""
        self._sockets[visitor_id].add(websocket)

    def remove(self, visitor_id: str, websocket: WebSocket) -> None:
        """Forget a closed socket."""
        sockets = self._sockets.get(visitor_id)
        if sockets is not None:
            sockets.discard(websocket)
            if not sockets:
                del self._sockets[visitor_id]

    async def push(self, visitor_id: str, replies: Sequence[StoredReply]) -> bool:
        """Send replies to every open socket of `visitor_id`; True if at least one took them."""
        frame = {"type": "replies", "messages": render_stored(replies)}
        delivered = False
        for websocket in list(self._sockets.get(visitor_id, ())):
            try:
                if websocket.client_state is WebSocketState.CONNECTED:
                    await websocket.send_json(frame)
                    delivered = True
            except (WebSocketDisconnect, RuntimeError):
                self.remove(visitor_id, websocket)
        return delivered
