"""The signed-in agent behind a console request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException
from starlette.requests import Request

from bot.core.deps import DatabaseDep, SettingsDep
from bot.core.models import utcnow
from handoff.auth import InvalidToken, read_token
from handoff.models import Agent


def _bearer_token(request: Request) -> str:
    # The live event stream passes it as `?token=`: browsers' EventSource sets no headers.
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if request.url.path.endswith("/events") and not token:
        scheme, token = "bearer", request.query_params.get("token", "")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "Sign in first.", headers={"WWW-Authenticate": "Bearer"})
    return token


async def current_agent(request: Request, settings: SettingsDep, database: DatabaseDep) -> Agent:
    """The signed-in agent behind the request's bearer token (401 otherwise)."""
    token = _bearer_token(request)
    try:
        agent_id = read_token(
            token, secret=settings.agent_token_secret.get_secret_value(), now=utcnow()
        )
    except InvalidToken as error:
        raise HTTPException(401, f"{error}; sign in again.") from error
    async with database.session() as session:
        agent = await session.get(Agent, agent_id)
    if agent is None:
        raise HTTPException(401, "Unknown agent; sign in again.")
    return agent


CurrentAgent = Annotated[Agent, Depends(current_agent)]
