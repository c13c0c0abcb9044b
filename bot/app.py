"""The composition root of the app process: the FastAPI app with every channel's routes,
handoff's, the health check and one error shape, over the `Components` built at startup."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.requests import Request

from adapters.sms import routes as sms_routes
from adapters.voice import routes as voice_routes
from adapters.webchat import routes as webchat_routes
from adapters.webchat.app_tokens import AppTokenVerifier
from adapters.webchat.files import UPLOAD_PATH, upload_body_limit
from bot import receipt_routes
from bot.components import Components
from bot.core.errors import install_error_handlers
from bot.core.logs import configure_logging
from bot.core.settings import Settings, get_settings
from bot.http_guards import install_http_guards
from handoff import business_events, queue_routes
from handoff.console import routes as console_routes


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; clients are created at startup, not at import."""
    settings = settings or get_settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    # A misconfigured APP_TOKEN_* fails here, saying how to fix it, not on a customer's turn.
    AppTokenVerifier.from_settings(settings)
    app = FastAPI(title="Customer-service assistant", lifespan=_lifespan(settings))
    for module in (
        webchat_routes,
        sms_routes,
        voice_routes,
        queue_routes,
        console_routes,
        business_events,
        receipt_routes,
    ):
        app.include_router(module.router)
    install_error_handlers(app)
    # The app's pages, with the other sites that may show each in a frame.
    pages = {
        webchat_routes.router.prefix: settings.frame_ancestors,
        console_routes.router.prefix: [],
    }
    # Web chat's uploads carry files: a larger body limit on that one path.
    body_limits = {UPLOAD_PATH: upload_body_limit(settings)}
    install_http_guards(app, settings, pages=pages, body_limits=body_limits)
    app.add_api_route("/", _root, include_in_schema=False)
    app.add_api_route("/health", _health)
    app.add_api_route("/health/ready", _health)
    app.add_api_route("/health/live", _live)
    return app


def _lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        components = Components.build(settings)
        for name, service in components.app_state().items():
            setattr(app.state, name, service)
        components.start()
        try:
            yield
        finally:
            await components.aclose()

    return lifespan


async def _root() -> RedirectResponse:
    return RedirectResponse("/webchat")


async def _live() -> dict[str, str]:
    """Liveness: the app process serves requests (a load balancer keeps it while busy)."""
    return {"status": "ok"}


async def _health(request: Request) -> JSONResponse:
    """Readiness: whether the database, Rasa and the action server answer (503 if one is
    down; a dependency that is slow only because it is busy answering customers counts as
    up, marked "busy"), and the state of each channel (reported, but a channel alone does
    not make it 503: the others still work)."""
    components: Components = request.app.state.components
    checks = await components.core.health.check_all(fresh=True)
    body: dict[str, Any] = {
        "status": "ok" if all(c.ok for c in checks.values()) else "degraded",
        "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in checks.items()},
        "channels": components.channel_states(),
    }
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)
