"""The FastAPI application: channels in, health, and the background retry worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse

from adapters import webchat
from bot.deps import ServicesDep
from bot.logs import configure_logging
from bot.models import Channel
from bot.services import Services
from bot.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; clients are created at startup, not at import."""
    settings = settings or get_settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services.build(settings)
        hub = webchat.WebchatHub()
        services.deliveries.register(Channel.WEBCHAT, hub.push)
        app.state.services = services
        app.state.webchat_hub = hub
        services.retry.start()
        try:
            yield
        finally:
            await services.aclose()

    app = FastAPI(title="Customer-service assistant", lifespan=lifespan)
    app.include_router(webchat.router)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/webchat")

    @app.get("/health")
    async def health(services: ServicesDep) -> JSONResponse:
        """Whether the database, Rasa and the action server answer (503 if any does not)."""
        checks = await services.health.check_all(fresh=True)
        body: dict[str, Any] = {
            "status": "ok" if all(c.ok for c in checks.values()) else "degraded",
            "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in checks.items()},
        }
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    return app
