"""Web chat's page, sessions and REST endpoints (the WebSocket is in `socket`).

Every visitor first gets a session (`POST /webchat/sessions`): a signed token that names the
visitor the server chose. History and posting take it as `Authorization: Bearer <token>`,
the WebSocket as its first frame. An embedding app's server binds its signed-in user with
`Authorization: Bearer <WEBCHAT_EMBED_SECRET>` and `{"user": "<its user id>"}`. The company's
app vouches for its signed-in customer with a signed token (see `app_tokens`): exchanged for a
session with `{"app_token": "<JWT>"}`, or sent itself as the bearer on every call.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from adapters.request_body import read_body
from adapters.webchat import socket, uploads
from adapters.webchat.access import (
    BearerDep,
    CurrentSession,
    app_session,
    app_token_refused,
    client_address,
    json_body_schema,
    limit_message,
    parse_json,
    require_json,
    rules_of,
    session_of_bearer,
    unauthorized,
)
from adapters.webchat.app_tokens import MAX_APP_TOKEN_CHARS, AppTokenRejected
from adapters.webchat.files import MAX_FILES, with_files
from adapters.webchat.frames import (
    FRAME_OVERHEAD_BYTES,
    MessageFrame,
    parse_inbound,
    render_history,
    render_stored,
)
from adapters.webchat.sessions import SessionSigner, WebchatSession
from bot.core.deps import DatabaseDep, PipelineDep, RateLimitsDep, SettingsDep
from bot.core.messages import InvalidMessage
from bot.core.models import Channel
from bot.core.rate_limits import RateLimits
from bot.core.settings import Settings
from bot.core.store import history as history_store
from bot.core.store.inbound import attachments_of

PAGE = Path(__file__).resolve().parent / "page" / "index.html"
# A session request is at most a user id or an app token in a small JSON object.
MAX_SESSION_BODY_BYTES = MAX_APP_TOKEN_CHARS + 1024
MAX_APP_USER_CHARS = 256

router = APIRouter(prefix="/webchat", tags=["webchat"])
router.include_router(socket.router)
router.include_router(uploads.router)


class SessionRequest(BaseModel):
    """The body of POST /webchat/sessions (none for an anonymous visitor)."""

    user: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_APP_USER_CHARS,
        description="The embedding app's id of its signed-in user (needs the embed secret).",
    )
    app_token: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_APP_TOKEN_CHARS,
        description="The company app's signed token (JWT) for its signed-in customer: a "
        "verified session that ends when the token does.",
    )


@dataclass(frozen=True)
class _Asked:
    """What a session request asks for (at most one of the two)."""

    user: str | None = None
    app_token: str | None = None


@router.get("", response_class=HTMLResponse, include_in_schema=False)
async def chat_page(settings: SettingsDep) -> HTMLResponse:
    """The web chat page."""
    page = PAGE.read_text(encoding="utf-8")
    limits = {
        "__MAX_BYTES__": settings.max_message_bytes,
        "__MAX_FILE_BYTES__": settings.attachment_max_bytes,
        "__MAX_FILES__": MAX_FILES,
    }
    for placeholder, value in limits.items():
        page = page.replace(placeholder, str(value))
    return HTMLResponse(page)


@router.post(
    "/sessions", status_code=201, openapi_extra=json_body_schema(SessionRequest, required=False)
)
async def open_session(
    request: Request, settings: SettingsDep, rate_limits: RateLimitsDep, credentials: BearerDep
) -> dict[str, Any]:
    """A session token: for a new visitor (no credentials), the same visitor renewed (their
    current token, or the company app's token as the bearer), the embedding app's user (the
    embed secret and `{"user": ...}`) or the company app's customer (`{"app_token": ...}`)."""
    signer = SessionSigner.from_settings(settings)
    asked = await _asked(request)
    bearer = credentials.credentials if credentials else None
    if asked.app_token is not None:
        # The token is the credential here: a bearer sent along adds nothing.
        try:
            session = app_session(settings, asked.app_token)
        except AppTokenRejected as rejected:
            raise app_token_refused(rejected) from None
    elif asked.user is not None:
        _check_embed_secret(settings, bearer)
        session = signer.app_user(asked.user)
    elif bearer is not None:
        session = signer.renewed(session_of_bearer(settings, bearer))
    else:
        session = await _new_visitor(signer, rate_limits, settings, client_address(request))
    return {"token": signer.token(session), "expires_at": session.expires_at_iso()}


async def _asked(request: Request) -> _Asked:
    """The `user` or `app_token` of the request body, if it has one."""
    body = await read_body(request, limit=MAX_SESSION_BODY_BYTES)
    if not body.strip():
        return _Asked()
    require_json(request)
    parsed = parse_json(body)
    if not isinstance(parsed, dict):
        raise InvalidMessage("malformed", "Expected a JSON object.", 400)
    user, app_token = parsed.get("user"), parsed.get("app_token")
    if user is not None and app_token is not None:
        raise InvalidMessage("malformed", "Send either 'user' or 'app_token', not both.", 400)
    if app_token is not None:
        if not (isinstance(app_token, str) and 0 < len(app_token) <= MAX_APP_TOKEN_CHARS):
            raise InvalidMessage(
                "invalid_app_token", f"'app_token' must be 1-{MAX_APP_TOKEN_CHARS} characters.", 400
            )
        return _Asked(app_token=app_token)
    if user is None:
        return _Asked()
    if not (isinstance(user, str) and 0 < len(user) <= MAX_APP_USER_CHARS and user.isprintable()):
        raise InvalidMessage(
            "invalid_user", f"'user' must be 1-{MAX_APP_USER_CHARS} printable characters.", 400
        )
    return _Asked(user=user)


def _check_embed_secret(settings: Settings, bearer: str | None) -> None:
    """Only the embedding app's server, holding WEBCHAT_EMBED_SECRET, may name a user."""
    secret = settings.webchat_embed_secret.get_secret_value()
    if not secret:
        raise InvalidMessage(
            "embedding_disabled", "Binding an app's users is off (no WEBCHAT_EMBED_SECRET).", 403
        )
    if bearer is None or not hmac.compare_digest(bearer.encode(), secret.encode()):
        raise unauthorized()


async def _new_visitor(
    signer: SessionSigner, rate_limits: RateLimits, settings: Settings, address: str
) -> WebchatSession:
    await rate_limits.hit(rules_of(settings).new_session, address, what="new sessions")
    return signer.anonymous()


@router.post("/messages", openapi_extra=json_body_schema(MessageFrame))
async def post_message(
    request: Request,
    session: CurrentSession,
    settings: SettingsDep,
    pipeline: PipelineDep,
    rate_limits: RateLimitsDep,
) -> dict[str, Any]:
    """Plain REST: send one message, get the assistant's replies in the response (or, when
    they take longer than ANSWER_WAIT_SECONDS, a notice that they will follow)."""
    require_json(request)
    max_bytes = settings.max_message_bytes
    body = parse_json(await read_body(request, limit=2 * max_bytes + FRAME_OVERHEAD_BYTES))
    inbound = parse_inbound(body, session=session, max_bytes=max_bytes)
    # Over a limit: 429 with Retry-After, and nothing stored (the page sends it again).
    await limit_message(rate_limits, settings, session.visitor_id, client_address(request))
    # A slow turn (Rasa busy) answers "saved, answering shortly" in time; its replies are
    # pushed to the visitor's open tabs (and kept in the history) when they come.
    accepted = await pipeline.accept(inbound)
    turn = await pipeline.respond_within(accepted, settings.answer_wait_seconds)
    await pipeline.deliveries.mark_delivered(turn.replies)
    return {
        "status": turn.status.value,
        "duplicate": turn.duplicate,
        "messages": render_stored(turn.replies),
    }


@router.get("/history")
async def history(database: DatabaseDep, session: CurrentSession) -> dict[str, Any]:
    """The visitor's recent messages across channels, oldest first."""
    async with database.session() as db_session:
        messages = await history_store.recent_messages(
            session=db_session, channel=Channel.WEBCHAT, address=session.visitor_id
        )
        files = await attachments_of(session=db_session, message_ids=[m.id for m in messages])
    return {"messages": with_files(render_history(messages), files)}
