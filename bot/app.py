"""The FastAPI application: channels in, health, and the background retry worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse

from adapters import sms, voice, webchat
from adapters.email_channel import build_email_channel
from adapters.email_transport import MailboxPoller
from adapters.messages import InvalidMessage
from adapters.sms import SmsSender
from bot.deps import ServicesDep
from bot.logs import configure_logging
from bot.models import Channel
from bot.services import Services
from bot.settings import Settings, get_settings
from handoff import agent_api
from handoff import api as handoff_api
from handoff.live import InboxWatcher


def channel_states(settings: Settings, poller: MailboxPoller | None) -> dict[str, Any]:
    """Which channels are on, and whether the mailbox is being watched."""
    email: dict[str, Any] = {"enabled": poller is not None}
    if poller is not None:
        email["ok"] = poller.connected
        email["detail"] = (
            ("watching with IMAP IDLE" if poller.uses_idle else "polling")
            if poller.connected
            else f"not connected: {poller.last_error or 'connecting'}"
        )
    return {
        "webchat": {"enabled": True},
        "sms": {"enabled": settings.twilio_enabled, "reply_mode": settings.sms_reply_mode},
        "voice": {"enabled": settings.twilio_enabled},
        "email": email,
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; clients are created at startup, not at import."""
    settings = settings or get_settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services.build(settings)
        hub = webchat.WebchatHub()
        services.deliveries.register(Channel.WEBCHAT, hub.push)
        if services.twilio is not None:
            sender = SmsSender(
                database=services.database,
                twilio=services.twilio,
                from_number=settings.twilio_phone_number,
                status_callback=f"{settings.app_url}/twilio/sms/status",
            )
            services.deliveries.register(Channel.SMS, sender.push, resend_pending=True)
            # A call cannot be spoken to after it ends: an answer that comes later (after
            # an outage) is texted to the caller's number instead.
            services.deliveries.register(Channel.VOICE, sender.push, resend_pending=True)
        poller = None
        if settings.email_enabled:
            email_channel, poller = build_email_channel(services)
            services.deliveries.register(Channel.EMAIL, email_channel.push, resend_pending=True)
        app.state.services = services
        app.state.webchat_hub = hub
        app.state.mailbox_poller = poller
        watcher = InboxWatcher(services.database)
        app.state.inbox_watcher = watcher
        watcher.start()
        services.retry.start()
        if poller is not None:
            poller.start()
        try:
            yield
        finally:
            if poller is not None:
                await poller.stop()
            await watcher.stop()
            await services.aclose()

    app = FastAPI(title="Customer-service assistant", lifespan=lifespan)
    app.include_router(webchat.router)
    app.include_router(sms.router)
    app.include_router(voice.router)
    app.include_router(handoff_api.router)
    app.include_router(agent_api.router)

    @app.exception_handler(InvalidMessage)
    async def invalid_message(request: Request, error: InvalidMessage) -> JSONResponse:
        """A request we cannot use: a clear 4xx, never a 500."""
        return JSONResponse(
            {"code": error.code, "detail": error.reason}, status_code=error.status_code
        )

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/webchat")

    @app.get("/health")
    async def health(request: Request, services: ServicesDep) -> JSONResponse:
        """Whether the database, Rasa and the action server answer (503 if any does not),
        and the state of each channel (reported, but a channel alone does not make it 503:
        the others still work)."""
        checks = await services.health.check_all(fresh=True)
        body: dict[str, Any] = {
            "status": "ok" if all(c.ok for c in checks.values()) else "degraded",
            "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in checks.items()},
            "channels": channel_states(services.settings, request.app.state.mailbox_poller),
        }
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    return app
