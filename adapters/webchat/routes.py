"""Web chat's page, WebSocket and REST endpoints.

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
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse

from adapters.request_body import read_body
from adapters.webchat.frames import (
    FRAME_OVERHEAD_BYTES,
    USER_ID_PATTERN,
    parse_inbound,
    render_history,
    render_stored,
)
from adapters.webchat.hub import WebchatHub
from bot.core.db import Database
from bot.core.deps import DatabaseDep, PipelineDep, SettingsDep, from_app_state
from bot.core.messages import InvalidMessage
from bot.core.models import Channel
from bot.core.pipeline import MessagePipeline
from bot.core.store import history as history_store
from bot.core.store import outbound
from bot.core.texts import Text, say

log = structlog.get_logger("adapters.webchat")

PAGE = Path(__file__).resolve().parent / "page" / "index.html"
router = APIRouter(prefix="/webchat", tags=["webchat"])


HubDep = Annotated[WebchatHub, from_app_state("webchat_hub")]


@router.get("", response_class=HTMLResponse, include_in_schema=False)
async def chat_page(settings: SettingsDep) -> HTMLResponse:
    """The web chat page."""
    page = PAGE.read_text(encoding="utf-8")
    return HTMLResponse(page.replace("__MAX_BYTES__", str(settings.max_message_bytes)))


@router.websocket("/ws")
async def chat_socket(
    websocket: WebSocket,
    settings: SettingsDep,
    database: DatabaseDep,
    pipeline: PipelineDep,
    hub: HubDep,
    user_id: Annotated[str, Query()] = "",
) -> None:
    """One browser tab's chat connection."""
    if not USER_ID_PATTERN.match(user_id):
        await websocket.close(code=1008, reason="user_id must be 8-64 letters, digits, - or _")
        return
    await websocket.accept()
    hub.add(user_id, websocket)
    try:
        await _send_history_and_pending(websocket, database, pipeline, user_id)
        while True:
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                break
            await _handle_frame(websocket, pipeline, settings.max_message_bytes, user_id, event)
    except WebSocketDisconnect:
        pass
    finally:
        hub.remove(user_id, websocket)


async def _send_history_and_pending(
    websocket: WebSocket, database: Database, pipeline: MessagePipeline, user_id: str
) -> None:
    async with database.session() as session:
        messages = await history_store.recent_messages(
            session=session, channel=Channel.WEBCHAT, address=user_id
        )
        pending = await outbound.undelivered_outbound(
            session=session, channel=Channel.WEBCHAT, address=user_id
        )
    await websocket.send_json({"type": "history", "messages": render_history(messages)})
    if pending:
        # Replies that were stored while no tab was open (e.g. answered after an outage).
        replies = [outbound.stored_reply(m) for m in pending]
        await websocket.send_json({"type": "replies", "messages": render_stored(replies)})
        await pipeline.deliveries.mark_delivered(replies)


def _decode_frame(raw: str | None, *, max_bytes: int) -> Any:
    """The JSON of one text frame from the page (refused when binary, too big or not JSON)."""
    if raw is None:
        raise InvalidMessage("binary_not_supported", "Send text frames with JSON, not binary.")
    # JSON framing around a maximal text (escapes can double it) must still fit.
    if len(raw.encode("utf-8", "surrogatepass")) > 2 * max_bytes + FRAME_OVERHEAD_BYTES:
        raise InvalidMessage("message_too_long", f"Messages can be at most {max_bytes} bytes.", 413)
    try:
        return json.loads(raw)
    except ValueError as error:
        raise InvalidMessage("malformed_json", "The frame is not valid JSON.", 400) from error


async def _handle_frame(
    websocket: WebSocket,
    pipeline: MessagePipeline,
    max_bytes: int,
    user_id: str,
    event: Mapping[str, Any],
) -> None:
    raw = event.get("text")
    client_id = None  # the id the page gave its message, echoed with the answer about it
    try:
        frame = _decode_frame(raw, max_bytes=max_bytes)
        client_id = frame.get("id") if isinstance(frame, dict) else None
        inbound = parse_inbound(frame, user_id=user_id, max_bytes=max_bytes)
    except InvalidMessage as error:
        await _send_error(websocket, error.code, error.reason, client_id)
        return
    try:
        accepted = await pipeline.accept(inbound)
    except Exception:
        log.exception("webchat_store_failed", user_id=user_id)
        await _send_error(websocket, "unavailable", say(Text.WEBCHAT_NOT_TAKEN), client_id)
        return
    await websocket.send_json({"type": "ack", "id": client_id})
    try:
        turn = await pipeline.respond(accepted)
        if not turn.replies:
            # Nothing to say (yet): the tab still learns the turn is over.
            await websocket.send_json({"type": "replies", "messages": []})
    except Exception:
        log.exception("webchat_turn_failed", user_id=user_id)
        await _send_error(websocket, "delayed", say(Text.WEBCHAT_DELAYED), client_id)


async def _send_error(websocket: WebSocket, code: str, detail: str, client_id: Any) -> None:
    await websocket.send_json({"type": "error", "code": code, "detail": detail, "id": client_id})


@router.post("/messages")
async def post_message(
    request: Request, settings: SettingsDep, pipeline: PipelineDep
) -> dict[str, Any]:
    """Plain REST: send one message, get the assistant's replies in the response."""
    max_bytes = settings.max_message_bytes
    body = _json(await read_body(request, limit=2 * max_bytes + FRAME_OVERHEAD_BYTES))
    user_id = body.get("user_id") if isinstance(body, dict) else None
    if not isinstance(user_id, str) or not USER_ID_PATTERN.match(user_id):
        raise InvalidMessage(
            "invalid_user_id", "'user_id' must be 8-64 letters, digits, - or _.", 400
        )
    inbound = parse_inbound(body, user_id=user_id, max_bytes=max_bytes)
    turn = await pipeline.handle(inbound, push=False)
    await pipeline.deliveries.mark_delivered(turn.replies)
    return {
        "status": turn.status.value,
        "duplicate": turn.duplicate,
        "messages": render_stored(turn.replies),
    }


@router.get("/history")
async def history(
    database: DatabaseDep, user_id: Annotated[str, Query(pattern=USER_ID_PATTERN.pattern)]
) -> dict[str, Any]:
    """The customer's recent messages across channels, oldest first."""
    async with database.session() as session:
        messages = await history_store.recent_messages(
            session=session, channel=Channel.WEBCHAT, address=user_id
        )
    return {"messages": render_history(messages)}


def _json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidMessage("invalid_encoding", "The body must be UTF-8 JSON.", 400) from error
    except ValueError as error:
        raise InvalidMessage("malformed_json", "The body is not valid JSON.", 400) from error
