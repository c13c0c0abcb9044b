"""Answers stored messages that were not answered: during an outage, or when a process died."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog

from bot.core.db import Database
from bot.core.health import ServiceHealth
from bot.core.models import MessageStatus
from bot.core.pipeline import MessagePipeline
from bot.core.store import inbound as inbound_store

log = structlog.get_logger("bot.retry")
RESEND_AFTER_SECONDS = 60.0


class RetryWorker:
    """Every few seconds, while Rasa is up, re-answers messages waiting for a retry."""

    def __init__(
        self,
        *,
        database: Database,
        pipeline: MessagePipeline,
        health: ServiceHealth,
        interval_seconds: float,
        stale_after: timedelta,
    ) -> None:
        self._database = database
        self._pipeline = pipeline
        self._health = health
        self._interval = interval_seconds
        self._stale_after = stale_after
        # Long enough that a send still in flight (a slow provider) is not sent twice.
        self._resend_after = timedelta(seconds=max(RESEND_AFTER_SECONDS, interval_seconds))
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run in the background of the current event loop."""
        self._task = asyncio.create_task(self._loop(), name="retry-worker")

    async def stop(self) -> None:
        """Stop the background loop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> int:
        """Retry what is due now; the number of messages answered."""
        # Replies a provider did not take (SMS, email) are resent whatever Rasa's state.
        await self._pipeline.deliveries.resend_pending(older_than=self._resend_after)
        async with self._database.session() as session:
            due = await inbound_store.inbound_due_for_retry(
                session=session, stale_after=self._stale_after
            )
        if not due:
            return 0
        checks = await self._health.check_all(fresh=True)
        if not (checks["rasa"].ok and checks["action_server"].ok):
            return 0
        answered = 0
        for message_id in due:
            turn = await self._pipeline.retry(message_id)
            if turn is not None and turn.status is MessageStatus.ANSWERED:
                answered += 1
        return answered

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.run_once()
            except Exception:  # keep retrying on the next tick; the reason is logged
                log.exception("retry_failed")
