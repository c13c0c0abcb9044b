"""FastAPI dependencies, as narrow `Annotated` aliases for the routes.

The composition root puts each long-lived object on `app.state` under its name
(`bot.components.Components.app_state`); a route asks for exactly the ones it uses. They work
for HTTP requests and WebSockets alike (both are an `HTTPConnection`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from bot.core.db import Database
from bot.core.pipeline import MessagePipeline
from bot.core.rate_limits import RateLimits
from bot.core.settings import Settings


def from_app_state(name: str) -> Any:
    """A dependency on the object the composition root put on `app.state.<name>`."""

    def dependency(connection: HTTPConnection) -> Any:
        return getattr(connection.app.state, name)

    dependency.__name__ = f"app_state_{name}"
    return Depends(dependency)


SettingsDep = Annotated[Settings, from_app_state("settings")]
DatabaseDep = Annotated[Database, from_app_state("database")]
PipelineDep = Annotated[MessagePipeline, from_app_state("pipeline")]
RateLimitsDep = Annotated[RateLimits, from_app_state("rate_limits")]
