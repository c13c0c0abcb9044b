"""The long-lived objects of one app process, built at startup and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from adapters.twilio_rest import TwilioRest
from bot.attachments import AttachmentStore
from bot.background import BackgroundTasks
from bot.db import Database
from bot.delivery import Deliveries
from bot.health import ServiceHealth
from bot.pipeline import MessagePipeline
from bot.rasa_client import RasaClient
from bot.retry import RetryWorker
from bot.settings import Settings
from handoff.queues import QueueDirectory, load_queues
from handoff.routing import Router


@dataclass
class Services:
    """Everything a request handler may need, shared by the whole process."""

    settings: Settings
    database: Database
    rasa: RasaClient
    health: ServiceHealth
    deliveries: Deliveries
    pipeline: MessagePipeline
    retry: RetryWorker
    background: BackgroundTasks
    attachments: AttachmentStore
    twilio: TwilioRest | None
    queues: QueueDirectory
    router: Router

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Create the clients (nothing connects until first use)."""
        database = Database(settings.effective_database_url)
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
            rasa=rasa,
            health=health,
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
            settings.var_dir / "attachments",
            max_bytes=settings.attachment_max_bytes,
            allowed_types=settings.attachment_types,
        )
        queues = load_queues(settings.queues_file)
        twilio = None
        if settings.twilio_enabled:
            twilio = TwilioRest(
                account_sid=settings.twilio_account_sid,
                auth_token=settings.twilio_auth_token.get_secret_value(),
                api_base_url=settings.twilio_api_base_url,
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
            twilio,
            queues,
            Router(database=database, queues=queues),
        )

    async def aclose(self) -> None:
        """Stop background work and close every client."""
        await self.retry.stop()
        await self.background.aclose()
        if self.twilio is not None:
            self.twilio.close()
        await self.health.aclose()
        await self.rasa.aclose()
        await self.database.dispose()
