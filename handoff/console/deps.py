"""The signed-in agent behind a console request: a bearer token in the Authorization header
(never in the URL), or, for the live event stream only, a single-use stream ticket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Query
from starlette.requests import Request

from bot.core.deps import DatabaseDep, SettingsDep
from bot.core.models import utcnow
from handoff.auth import InvalidToken, TokenClaims, read_token
from handoff.console.signin import NotSignedIn, StreamGrant
from handoff.deps import SignInDep
from handoff.models import Agent

# Longer than any token or ticket we issue; a longer header is not read at all.
MAX_TOKEN_CHARS = 1000


@dataclass(frozen=True)
class AgentSession:
    """The agent and what their token says."""

    agent: Agent
    claims: TokenClaims


def _refused(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def _bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
        raise _refused("Sign in first.")
    return token.strip()


async def current_session(
    request: Request, settings: SettingsDep, database: DatabaseDep
) -> AgentSession:
    """The signed-in agent behind the request's bearer token (401 otherwise: missing,
    forged, expired, or revoked by signing out or a new password)."""
    token = _bearer_token(request)
    try:
        claims = read_token(
            token, secret=settings.agent_token_secret.get_secret_value(), now=utcnow()
        )
    except InvalidToken as error:
        raise _refused(f"{error}; sign in again.") from error
    async with database.session() as session:
        agent = await session.get(Agent, claims.agent_id)
    if agent is None:
        raise _refused("Unknown agent; sign in again.")
    if agent.token_generation != claims.generation:
        raise _refused("Signed out; sign in again.")
    return AgentSession(agent, claims)


async def current_agent(signed_in: Annotated[AgentSession, Depends(current_session)]) -> Agent:
    """The signed-in agent (see `current_session`)."""
    return signed_in.agent


async def stream_grant(
    sign_in: SignInDep, ticket: Annotated[str, Query(max_length=100)] = ""
) -> StreamGrant:
    """Who may open the live stream: the agent whose ticket this is (401 otherwise)."""
    if not ticket:
        raise _refused("Get a stream ticket first (POST /agent/events/ticket).")
    try:
        return await sign_in.redeem(ticket)
    except NotSignedIn as error:
        raise _refused("This stream ticket is used, expired or unknown.") from error


CurrentSession = Annotated[AgentSession, Depends(current_session)]
CurrentAgent = Annotated[Agent, Depends(current_agent)]
StreamAgent = Annotated[StreamGrant, Depends(stream_grant)]
