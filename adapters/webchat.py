"""Web chat: a WebSocket and a plain REST endpoint, and the chat page that uses them.

Frames from the page (JSON text frames):
    {"type": "message", "id": "<client uuid>", "text": "...", "payload": "/intent" (optional)}
Frames to the page:
    {"type": "history", "messages": [...]}       on connect, the customer's recent messages
    {"type": "ack", "id": "<client uuid>"}        the message is stored
    {"type": "replies", "messages": [...]}        the assistant's replies
    {"type": "error", "code": "...", "detail": "...", "id": ...}
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.websockets import WebSocketState

from adapters.messages import BotReply, InboundMessage, InvalidMessage, clean_text
from bot import store
from bot.delivery import StoredReply
from bot.deps import ServicesDep, SocketServicesDep
from bot.models import Channel, Direction, Message
from bot.services import Services

log = structlog.get_logger("adapters.webchat")

PAGE = Path(__file__).resolve().parent / "webchat_page" / "index.html"
USER_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# JSON framing around a maximal text (escapes can double it) must still fit.
FRAME_OVERHEAD_BYTES = 1024


def parse_inbound(frame: Any, *, user_id: str, max_bytes: int) -> InboundMessage:
    """The customer message in one frame from the page (or one REST body)."""
    if not isinstance(frame, dict):
        raise InvalidMessage("malformed", "Expected a JSON object.", status_code=400)
    if frame.get("type", "message") != "message":
        raise InvalidMessage("unknown_type", f"Unknown frame type {frame.get('type')!r}.", 400)
    text, payload = frame.get("text"), frame.get("payload")
    client_id = frame.get("id")
    if not isinstance(text, str) or (payload is not None and not isinstance(payload, str)):
        raise InvalidMessage("malformed", "'text' (and 'payload', if given) must be strings.", 400)
    if client_id is not None and not (
        isinstance(client_id, str) and CLIENT_ID_PATTERN.match(client_id)
    ):
        raise InvalidMessage("malformed", "'id' must be 1-64 letters, digits, '-' or '_'.", 400)
    shown = clean_text(text, max_bytes=max_bytes)
    metadata: dict[str, Any] = {}
    if payload:
        # A button: Rasa gets the button's payload, the transcript shows its title.
        metadata["display_text"] = shown
        shown = clean_text(payload, max_bytes=max_bytes)
    return InboundMessage(
        text=shown,
        sender_id=user_id,
        channel=Channel.WEBCHAT,
        message_id=f"{user_id}:{client_id}" if client_id else None,
        metadata=metadata,
    )


def render_outbound(replies: Sequence[BotReply]) -> list[dict[str, Any]]:
    """The replies as the page shows them: text, buttons as buttons, images."""
    rendered = []
    for reply in replies:
        item: dict[str, Any] = {"text": reply.text}
        if reply.buttons:
            item["buttons"] = [{"title": b.title, "payload": b.payload} for b in reply.buttons]
        if reply.image:
            item["image"] = reply.image
        agent = (reply.custom or {}).get("agent")
        if isinstance(agent, dict) and agent.get("name"):
            item["agent"] = str(agent["name"])  # a person from the team wrote this one
        rendered.append(item)
    return rendered


def render_stored(replies: Sequence[StoredReply]) -> list[dict[str, Any]]:
    """Rendered replies, each with the id of its stored message."""
    rendered = render_outbound([r.reply for r in replies])
    return [{"id": r.message_id, **item} for r, item in zip(replies, rendered, strict=True)]


def render_history(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Stored messages as the page shows a transcript, labelled with their channel."""
    items = []
    for message in messages:
        outbound = message.direction is Direction.OUTBOUND
        reply = BotReply.from_stored(message.text, message.payload) if outbound else None
        shown = message.payload.get("metadata", {}).get("display_text") if not outbound else None
        item: dict[str, Any] = {
            "id": message.id,
            "direction": message.direction.value,
            "channel": message.channel.value,
            "at": message.created_at.isoformat(),
            **(render_outbound([reply])[0] if reply else {"text": shown or message.text}),
        }
        items.append(item)
    return items


class WebchatHub:
    """The open chat sockets of each web chat user; pushes replies to all of them."""

    def __init__(self) -> None:
        self._sockets: dict[str, set[WebSocket]] = defaultdict(set)

    def add(self, user_id: str, websocket: WebSocket) -> None:
        """Track a newly opened socket."""
        self._sockets[user_id].add(websocket)

    def remove(self, user_id: str, websocket: WebSocket) -> None:
        """Forget a closed socket."""
        sockets = self._sockets.get(user_id)
        if sockets is not None:
            sockets.discard(websocket)
            if not sockets:
                del self._sockets[user_id]

    async def push(self, user_id: str, replies: Sequence[StoredReply]) -> bool:
        """Send replies to every open socket of `user_id`; True if at least one took them."""
        frame = {"type": "replies", "messages": render_stored(replies)}
        delivered = False
        for websocket in list(self._sockets.get(user_id, ())):
            try:
                if websocket.client_state is WebSocketState.CONNECTED:
                    await websocket.send_json(frame)
                    delivered = True
            except (WebSocketDisconnect, RuntimeError):
                self.remove(user_id, websocket)
        return delivered


router = APIRouter(prefix="/webchat", tags=["webchat"])


def _hub(websocket: WebSocket) -> WebchatHub:
    hub: WebchatHub = websocket.app.state.webchat_hub
    return hub


@router.get("", response_class=HTMLResponse, include_in_schema=False)
async def chat_page(services: ServicesDep) -> HTMLResponse:
    """The web chat page."""
    page = PAGE.read_text(encoding="utf-8")
    return HTMLResponse(page.replace("__MAX_BYTES__", str(services.settings.max_message_bytes)))


@router.websocket("/ws")
async def chat_socket(
    websocket: WebSocket,
    services: SocketServicesDep,
    user_id: Annotated[str, Query()] = "",
) -> None:
    """One browser tab's chat connection."""
    if not USER_ID_PATTERN.match(user_id):
        await websocket.close(code=1008, reason="user_id must be 8-64 letters, digits, - or _")
        return
    await websocket.accept()
    hub = _hub(websocket)
    hub.add(user_id, websocket)
    try:
        await _send_history_and_pending(websocket, services, user_id)
        while True:
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                break
            await _handle_frame(websocket, services, user_id, event)
    except WebSocketDisconnect:
        pass
    finally:
        hub.remove(user_id, websocket)


async def _send_history_and_pending(websocket: WebSocket, services: Services, user_id: str) -> None:
    async with services.database.session() as session:
        history = await store.recent_messages(
            session=session, channel=Channel.WEBCHAT, address=user_id
        )
        pending = await store.undelivered_outbound(
            session=session, channel=Channel.WEBCHAT, address=user_id
        )
    await websocket.send_json({"type": "history", "messages": render_history(history)})
    if pending:
        # Replies that were stored while no tab was open (e.g. answered after an outage).
        replies = [StoredReply(m.id, BotReply.from_stored(m.text, m.payload)) for m in pending]
        await websocket.send_json({"type": "replies", "messages": render_stored(replies)})
        await services.deliveries.mark_delivered(replies)


async def _handle_frame(
    websocket: WebSocket, services: Services, user_id: str, event: Mapping[str, Any]
) -> None:
    max_bytes = services.settings.max_message_bytes
    raw = event.get("text")
    client_id = None
    try:
        if raw is None:
            raise InvalidMessage("binary_not_supported", "Send text frames with JSON, not binary.")
        if len(raw.encode("utf-8", "surrogatepass")) > 2 * max_bytes + FRAME_OVERHEAD_BYTES:
            raise InvalidMessage(
                "message_too_long", f"Messages can be at most {max_bytes} bytes.", 413
            )
        try:
            frame = json.loads(raw)
        except ValueError as error:
            raise InvalidMessage("malformed_json", "The frame is not valid JSON.", 400) from error
        client_id = frame.get("id") if isinstance(frame, dict) else None
        inbound = parse_inbound(frame, user_id=user_id, max_bytes=max_bytes)
    except InvalidMessage as error:
        await _send_error(websocket, error.code, error.reason, client_id)
        return
    try:
        accepted = await services.pipeline.accept(inbound)
    except Exception:
        log.exception("webchat_store_failed", user_id=user_id)
        await _send_error(
            websocket,
            "unavailable",
            "We couldn't take your message; please send it again.",
            client_id,
        )
        return
    await websocket.send_json({"type": "ack", "id": client_id})
    try:
        turn = await services.pipeline.respond(accepted)
        if not turn.replies:
            # Nothing to say (yet): the tab still learns the turn is over.
            await websocket.send_json({"type": "replies", "messages": []})
    except Exception:
        log.exception("webchat_turn_failed", user_id=user_id)
        await _send_error(
            websocket, "delayed", "Your message is saved; we'll answer it shortly.", client_id
        )


async def _send_error(websocket: WebSocket, code: str, detail: str, client_id: Any) -> None:
    await websocket.send_json({"type": "error", "code": code, "detail": detail, "id": client_id})


@router.post("/messages")
async def post_message(request: Request, services: ServicesDep) -> JSONResponse:
    """Plain REST: send one message, get the assistant's replies in the response."""
    max_bytes = services.settings.max_message_bytes
    try:
        body = await _read_json_body(request, limit=2 * max_bytes + FRAME_OVERHEAD_BYTES)
        user_id = body.get("user_id") if isinstance(body, dict) else None
        if not isinstance(user_id, str) or not USER_ID_PATTERN.match(user_id):
            raise InvalidMessage(
                "invalid_user_id", "'user_id' must be 8-64 letters, digits, - or _.", 400
            )
        inbound = parse_inbound(body, user_id=user_id, max_bytes=max_bytes)
    except InvalidMessage as error:
        return JSONResponse(
            {"error": error.code, "detail": error.reason}, status_code=error.status_code
        )
    turn = await services.pipeline.handle(inbound, push=False)
    await services.deliveries.mark_delivered(turn.replies)
    return JSONResponse(
        {
            "status": turn.status.value,
            "duplicate": turn.duplicate,
            "messages": render_stored(turn.replies),
        }
    )


@router.get("/history")
async def history(
    services: ServicesDep, user_id: Annotated[str, Query(pattern=USER_ID_PATTERN.pattern)]
) -> dict[str, Any]:
    """The customer's recent messages across channels, oldest first."""
    async with services.database.session() as session:
        messages = await store.recent_messages(
            session=session, channel=Channel.WEBCHAT, address=user_id
        )
    return {"messages": render_history(messages)}


async def _read_json_body(request: Request, *, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise InvalidMessage("message_too_long", f"The body is over {limit} bytes.", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InvalidMessage("message_too_long", f"The body is over {limit} bytes.", 413)
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks).decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidMessage("invalid_encoding", "The body must be UTF-8 JSON.", 400) from error
    except ValueError as error:
        raise InvalidMessage("malformed_json", "The body is not valid JSON.", 400) from error
