"""What a web chat request passes before anything is stored: a session the server issued, a
JSON body that parses (however deep), and the rate limits per visitor and per address."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection, Request

from adapters.webchat.sessions import InvalidSession, SessionSigner, WebchatSession
from bot.core.deps import SettingsDep
from bot.core.messages import InvalidMessage
from bot.core.rate_limits import RateLimits, Rule
from bot.core.settings import Settings

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="WebchatSession",
    description="A web chat session token from POST /webchat/sessions.",
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


async def current_session(settings: SettingsDep, credentials: BearerDep) -> WebchatSession:
    """The session of the bearer token, or 401."""
    if credentials is None:
        raise unauthorized()
    try:
        return SessionSigner.from_settings(settings).read(credentials.credentials)
    except InvalidSession:
        raise unauthorized() from None


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
