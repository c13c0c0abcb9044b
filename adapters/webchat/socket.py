"""Web chat's WebSocket: one browser tab's live connection.

The URL carries nothing (no id, no token: proxies and uvicorn log URLs). The tab's first frame
must be `{"type": "auth", "token": "<session token>"}` within AUTH_SECONDS; a missing, forged
or expired token closes the socket with 1008 (reason "invalid_session"), and the page gets a
new session. The company's app may instead open with `{"type": "auth", "app_token": "<JWT>"}`
for its signed-in customer (see `app_tokens`); a token it refuses closes the socket with 1008
(reason "invalid_app_token"). Once the session has ended (an app customer's ends with their
token), the next frame closes the socket with 1008 (reason "session_expired"), unread. Then:

Frames from the page (JSON text frames):
    {"type": "message", "id": "<client uuid>", "text": "...", "payload": "/intent" (optional)}
Frames to the page:
    {"type": "history", "messages": [...]}       once authenticated, the recent messages
    {"type": "ack", "id": "<client uuid>"}        the message is stored
    {"type": "replies", "messages": [...]}        the assistant's replies
    {"type": "error", "code": "...", "detail": "...", "id": ...}
    {"type": "error", "code": "rate_limited", "retry_after": N, ...}  not stored: send it
                                                  again after N seconds
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from adapters.webchat.access import app_session, client_address, limit_message, parse_json
from adapters.webchat.app_tokens import MAX_APP_TOKEN_CHARS, AppTokenRejected
from adapters.webchat.files import with_files
from adapters.webchat.frames import (
    FRAME_OVERHEAD_BYTES,
    parse_inbound,
    render_history,
    render_stored,
)
from adapters.webchat.hub import WebchatHub
from adapters.webchat.sessions import InvalidSession, SessionSigner, WebchatSession
from bot.core.db import Database
from bot.core.deps import DatabaseDep, PipelineDep, RateLimitsDep, SettingsDep, from_app_state
from bot.core.messages import InvalidMessage
from bot.core.models import Channel
from bot.core.pipeline import MessagePipeline
from bot.core.rate_limits import RateLimited, RateLimits
from bot.core.settings import Settings
from bot.core.store import history as history_store
from bot.core.store import outbound
from bot.core.store.inbound import attachments_of
from bot.core.texts import Text, say

log = structlog.get_logger("adapters.webchat")

# How long a new socket may take to send its token before it is closed.
AUTH_SECONDS = 5.0
# Room for the company app's token (a JWT) and the frame around it.
MAX_AUTH_FRAME_CHARS = MAX_APP_TOKEN_CHARS + 256
# The policy-violation close code: what a refused session gets.
POLICY_VIOLATION = 1008

router = APIRouter()
HubDep = Annotated[WebchatHub, from_app_state("webchat_hub")]


@router.websocket("/ws")
async def chat_socket(
    websocket: WebSocket,
    settings: SettingsDep,
    database: DatabaseDep,
    pipeline: PipelineDep,
    rate_limits: RateLimitsDep,
    hub: HubDep,
) -> None:
    """One browser tab's chat connection."""
    await websocket.accept()
    session = await _authenticate(websocket, settings)
    if session is None:
        return
    visitor_id = session.visitor_id
    hub.add(visitor_id, websocket)
    try:
        await _send_history_and_pending(websocket, database, pipeline, visitor_id)
        while True:
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                break
            if time.time() >= session.expires_at:
                # Whatever it says is not taken: the tab sends it again on a new session.
                await websocket.close(POLICY_VIOLATION, "session_expired")
                break
            await _handle_frame(websocket, pipeline, rate_limits, settings, session, event)
    except WebSocketDisconnect:
        pass
    finally:
        hub.remove(visitor_id, websocket)


async def _authenticate(websocket: WebSocket, settings: Settings) -> WebchatSession | None:
    """The session in the tab's first frame (our session token, or the company app's token);
    None (and the socket closed) without one."""
    try:
        event = await asyncio.wait_for(websocket.receive(), AUTH_SECONDS)
    except TimeoutError:
        await websocket.close(POLICY_VIOLATION, "auth_required")
        return None
    if event["type"] == "websocket.disconnect":
        return None
    raw = event.get("text") or ""
    try:
        frame = parse_json(raw) if len(raw) <= MAX_AUTH_FRAME_CHARS else None
        if not isinstance(frame, dict) or frame.get("type") != "auth":
            raise InvalidSession("no auth frame")
        # Told apart by the key, not by guessing from the token's shape; both is neither.
        if "app_token" in frame and "token" not in frame:
            # Not a string (a number, an object) is refused by the verifier as malformed.
            return app_session(settings, frame["app_token"])
        return SessionSigner.from_settings(settings).read(str(frame.get("token")))
    except (InvalidMessage, InvalidSession):
        await websocket.close(POLICY_VIOLATION, "invalid_session")
    except AppTokenRejected:
        await websocket.close(POLICY_VIOLATION, "invalid_app_token")
    return None


async def _send_history_and_pending(
    websocket: WebSocket, database: Database, pipeline: MessagePipeline, visitor_id: str
) -> None:
    async with database.session() as session:
        messages = await history_store.recent_messages(
            session=session, channel=Channel.WEBCHAT, address=visitor_id
        )
        pending = await outbound.undelivered_outbound(
            session=session, channel=Channel.WEBCHAT, address=visitor_id
        )
        files = await attachments_of(session=session, message_ids=[m.id for m in messages])
    await websocket.send_json(
        {"type": "history", "messages": with_files(render_history(messages), files)}
    )
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
    return parse_json(raw)


async def _handle_frame(
    websocket: WebSocket,
    pipeline: MessagePipeline,
    rate_limits: RateLimits,
    settings: Settings,
    session: WebchatSession,
    event: Mapping[str, Any],
) -> None:
    max_bytes = settings.max_message_bytes
    client_id = None  # the id the page gave its message, echoed with the answer about it
    try:
        frame = _decode_frame(event.get("text"), max_bytes=max_bytes)
        client_id = frame.get("id") if isinstance(frame, dict) else None
        inbound = parse_inbound(frame, session=session, max_bytes=max_bytes)
        await limit_message(rate_limits, settings, session.visitor_id, client_address(websocket))
    except InvalidMessage as error:
        await _send_error(websocket, error.code, error.reason, client_id)
        return
    except RateLimited as limited:
        await _send_error(
            websocket, "rate_limited", str(limited), client_id, retry_after=limited.retry_after
        )
        return
    try:
        accepted = await pipeline.accept(inbound)
    except Exception:
        log.exception("webchat_store_failed")
        await _send_error(websocket, "unavailable", say(Text.WEBCHAT_NOT_TAKEN), client_id)
        return
    await websocket.send_json({"type": "ack", "id": client_id})
    try:
        turn = await pipeline.respond(accepted)
        if not turn.replies:
            # Nothing to say (yet): the tab still learns the turn is over.
            await websocket.send_json({"type": "replies", "messages": []})
    except Exception:
        log.exception("webchat_turn_failed")
        await _send_error(websocket, "delayed", say(Text.WEBCHAT_DELAYED), client_id)


async def _send_error(
    websocket: WebSocket, code: str, detail: str, client_id: Any, **extra: Any
) -> None:
    frame = {"type": "error", "code": code, "detail": detail, "id": client_id, **extra}
    await websocket.send_json(frame)
