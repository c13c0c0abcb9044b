"""The core's long-lived objects in one app process, built at startup and closed at shutdown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.core.attachments import AttachmentStore
from bot.core.background import BackgroundTasks
from bot.core.db import Database
from bot.core.delivery import Deliveries
from bot.core.documents import build_document_store
from bot.core.health import ServiceHealth
from bot.core.pipeline import MessagePipeline
from bot.core.rasa_client import RasaClient
from bot.core.rate_limits import RateLimits, storage_for
from bot.core.responders import RasaResponder, Responder
from bot.core.retry import RetryWorker
from bot.core.settings import Settings


@dataclass
class CoreServices:
    """What the message path needs, shared by the whole process."""

    settings: Settings
    database: Database
    rasa: RasaClient
    health: ServiceHealth
    deliveries: Deliveries
    pipeline: MessagePipeline
    retry: RetryWorker
    background: BackgroundTasks
    attachments: AttachmentStore
    rate_limits: RateLimits

    @classmethod
    def build(
        cls, settings: Settings, *, database: Database, responders: Sequence[Responder] = ()
    ) -> CoreServices:
        """Create the clients (nothing connects until first use); `responders` answer
        before Rasa (see `MessagePipeline`)."""
        rasa = RasaClient(
            base_url=settings.rasa_url,
            token=settings.rasa_token.get_secret_value(),
            timeout_seconds=settings.rasa_timeout_seconds,
        )
        health = ServiceHealth(
            database=database,
            rasa=rasa,
            action_server_url=settings.action_server_url,
            cache_seconds=settings.health_cache_seconds,
        )
        deliveries = Deliveries(database)
        stale_after = timedelta(seconds=settings.stale_processing_seconds)
        pipeline = MessagePipeline(
            database=database,
            assistant=RasaResponder(rasa=rasa, health=health),
            responders=responders,
            deliveries=deliveries,
            idle_after=timedelta(minutes=settings.conversation_idle_minutes),
            stale_after=stale_after,
        )
        retry = RetryWorker(
            database=database,
            pipeline=pipeline,
            health=health,
            interval_seconds=settings.retry_interval_seconds,
            stale_after=stale_after,
        )
        attachments = AttachmentStore(
            build_document_store(settings),
            max_bytes=settings.attachment_max_bytes,
            allowed_types=settings.attachment_types,
        )
        return cls(
            settings,
            database,
            rasa,
            health,
            deliveries,
            pipeline,
            retry,
            BackgroundTasks(),
            attachments,
            RateLimits(storage_for(settings.redis_url)),
        )

    async def aclose(self) -> None:
        """Stop background work and close every client."""
        await self.retry.stop()
        await self.background.aclose()
        await self.health.aclose()
        await self.rasa.aclose()
        await self.attachments.aclose()
        await self.database.dispose()
