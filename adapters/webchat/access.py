"""What a web chat request passes before anything is stored: a session the server issued (or
the company app's token for its customer), a JSON body that parses (however deep), and the
rate limits per visitor and per address."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

import structlog
from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection, Request

from adapters.webchat.app_tokens import AppTokenRejected, AppTokenVerifier, RejectReason
from adapters.webchat.sessions import InvalidSession, SessionSigner, WebchatSession
from bot.core.deps import SettingsDep
from bot.core.messages import InvalidMessage
from bot.core.rate_limits import RateLimits, Rule
from bot.core.settings import Settings

log = structlog.get_logger("adapters.webchat")

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="WebchatSession",
    description="A web chat session token from POST /webchat/sessions, or the company app's "
    "signed token (JWT) for its signed-in customer.",
)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@dataclass(frozen=True)
class WebchatRules:
    """The web chat's rate limits, parsed from the settings."""

    visitor: Rule
    address: Rule
    new_session: Rule


@lru_cache(maxsize=4)
def _rules(visitor: str, address: str, new_session: str) -> WebchatRules:
    return WebchatRules(
        Rule.parse("webchat_visitor", visitor),
        Rule.parse("webchat_address", address),
        Rule.parse("webchat_new_session", new_session),
    )


def rules_of(settings: Settings) -> WebchatRules:
    """WEBCHAT_VISITOR_RATE, WEBCHAT_ADDRESS_RATE and WEBCHAT_NEW_SESSION_RATE."""
    return _rules(
        settings.webchat_visitor_rate,
        settings.webchat_address_rate,
        settings.webchat_new_session_rate,
    )


def unauthorized() -> HTTPException:
    """The one answer to a missing, forged or expired session token."""
    return HTTPException(
        401,
        "A valid web chat session is required: get one from POST /webchat/sessions and send "
        "it as 'Authorization: Bearer <token>'.",
        headers={"WWW-Authenticate": "Bearer"},
    )


def app_token_refused(rejected: AppTokenRejected) -> HTTPException:
    """The answer to a company app's token that is not accepted (why, never the token)."""
    return HTTPException(
        401,
        f"The app token was refused ({rejected.reason.value}): get a fresh one from the "
        "company's app.",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def is_app_token(token: str) -> bool:
    """Whether a bearer credential is a JWT (three dot-separated parts) rather than one of
    our session tokens (two parts: `<payload>.<signature>`)."""
    return token.count(".") == 2


def app_session(settings: Settings, token: str) -> WebchatSession:
    """The session of the company app's customer `token` vouches for, ending when the token
    does; AppTokenRejected (logged with its reason, never the token) if it is not accepted."""
    try:
        identity = AppTokenVerifier.from_settings(settings).verify(token)
        until = int(identity.expires_at.timestamp())
        session = SessionSigner.from_settings(settings).app_customer(
            identity.customer_ref, until=until
        )
        # The leeway let a token just past its `exp` through, but a session cannot outlive
        # the token: it would be born expired.
        if session.expires_at <= time.time():
            raise AppTokenRejected(RejectReason.EXPIRED)
    except AppTokenRejected as rejected:
        log.info("webchat_app_token_rejected", reason=rejected.reason.value)
        raise
    return session


def session_of_bearer(settings: Settings, token: str) -> WebchatSession:
    """The session a bearer credential stands for (one of our session tokens, or the company
    app's token), or 401."""
    if is_app_token(token):
        try:
            return app_session(settings, token)
        except AppTokenRejected as rejected:
            raise app_token_refused(rejected) from None
    try:
        return SessionSigner.from_settings(settings).read(token)
    except InvalidSession:
        raise unauthorized() from None


async def current_session(settings: SettingsDep, credentials: BearerDep) -> WebchatSession:
    """The session of the bearer token (ours, or the company app's), or 401."""
    if credentials is None:
        raise unauthorized()
    return session_of_bearer(settings, credentials.credentials)


CurrentSession = Annotated[WebchatSession, Depends(current_session)]


def client_address(connection: HTTPConnection) -> str:
    """The address the request came from (the proxy's, unless uvicorn is told to trust it)."""
    return connection.client.host if connection.client else "unknown"


async def limit_message(
    limits: RateLimits, settings: Settings, visitor_id: str, address: str
) -> None:
    """Count one message of `visitor_id` from `address`; RateLimited (nothing counted) if
    either is at its limit. Called before the message is stored."""
    rules = rules_of(settings)
    await limits.check(rules.visitor, visitor_id, what="messages")
    await limits.check(rules.address, address, what="messages")
    await limits.count(rules.visitor, visitor_id)
    await limits.count(rules.address, address)


def require_json(request: Request) -> None:
    """415 unless the body is declared JSON: a cross-origin form or text/plain post (which a
    browser sends without asking) is never taken."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise InvalidMessage(
            "unsupported_media_type", "Send the body as application/json.", status_code=415
        )


def parse_json(raw: str | bytes) -> Any:
    """The JSON in `raw`; 400 when it is not UTF-8 or not JSON, nested too deep included."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as error:
        raise InvalidMessage("invalid_encoding", "The body must be UTF-8 JSON.", 400) from error
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        # The C parser gives up on very deep nesting with RecursionError, not ValueError.
        raise InvalidMessage("malformed_json", "That is not valid JSON.", 400) from error


def json_body_schema(model: type[Any], *, required: bool = True) -> dict[str, Any]:
    """OpenAPI for a JSON body the route reads itself (to keep its own error codes), so the
    docs and fuzzers know its shape."""
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": schema}},
        }
    }
