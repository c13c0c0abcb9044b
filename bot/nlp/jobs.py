"""The NLP background jobs, on huey: a SQLite file under var/ by default (no server; the app
and the action server share it), Redis or RabbitMQ in production (JOB_QUEUE_URL=redis://...
or amqp://...).

Jobs are triggers, not the record: the message or complaint is stored before its job is
queued, and a sweep (at start and every five minutes) queues again whatever has no result
yet, so a job lost with a killed worker is done later, never lost. Running a job twice is
harmless (a scored message is not scored again; an analysis replaces the last one).

Job bodies are coroutines run on an event loop that the process provides (the app's own
loop when the app runs the worker, or the worker's loop); the models' CPU work runs in
threads, off that loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import structlog
from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer

from bot.core.models import utcnow
from bot.core.settings import Settings
from bot.nlp import store
from bot.nlp.analysis import Analyser
from bot.nlp.embeddings import limit_cpu_threads

log = structlog.get_logger("bot.nlp.jobs")
T = TypeVar("T")
SWEEP_WINDOW = timedelta(hours=24)
RETRIES = 5
RETRY_DELAY_SECONDS = 2


class JobQueueConfigError(ValueError):
    """JOB_QUEUE_URL names something we cannot queue jobs in."""


def build_huey(settings: Settings) -> Huey:
    """The huey queue JOB_QUEUE_URL names (empty: `var/jobs.db`)."""
    url = settings.job_queue_url.strip()
    name = settings.job_queue_name
    if not url:
        path: Path = settings.var_dir / "jobs.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=str(path), results=False)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, url=url, results=False)
    if url.startswith(("amqp://", "amqps://")):
        from bot.nlp.rabbitmq_queue import RabbitMQHuey

        return RabbitMQHuey(name, url=url, results=False)
    raise JobQueueConfigError(
        "JOB_QUEUE_URL must be empty (a SQLite file under var/), a Redis URL such as "
        "redis://localhost:6379/0 or a RabbitMQ URL such as amqp://user:password@host:5672/%2F; "
        f"got {url.split(':', 1)[0]}:..."
    )


class _InAppConsumer(Consumer):  # type: ignore[misc]
    """huey's consumer without its signal handlers: the app server owns the signals."""

    def _set_signal_handlers(self) -> None:
        return None


class NlpJobs:
    """Queues the NLP jobs and, in a process that serves them, runs them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.huey = build_huey(settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._analyser: Analyser | None = None
        self._consumer: Consumer | None = None
        task = self.huey.task
        self._score = task(
            retries=RETRIES, retry_delay=RETRY_DELAY_SECONDS, name="nlp.score_message"
        )(self._score_message)
        self._analyse = task(
            retries=RETRIES, retry_delay=RETRY_DELAY_SECONDS, name="nlp.analyse_conversation"
        )(self._analyse_conversation)
        self.huey.periodic_task(crontab(minute="*/5"), name="nlp.sweep")(self._sweep)
        self._sweep_now = task(name="nlp.sweep_now")(self._sweep)

    @property
    def enabled(self) -> bool:
        """NLP_ENABLED: whether jobs are queued at all."""
        return self.settings.nlp_enabled

    def score_message(self, message_id: int) -> None:
        """Queue the scoring of a customer message."""
        if self.enabled:
            self._score(message_id)

    def analyse_conversation(self, conversation_id: int) -> None:
        """Queue the analysis of a conversation (summary, trend, category, priority)."""
        if self.enabled:
            self._analyse(conversation_id)

    def kick_message(self, message_id: int) -> None:
        """Queue a message's scoring from an event loop, without waiting for the queue."""
        self._off_loop(self.score_message, message_id)

    async def kick_conversation(self, conversation_id: int) -> None:
        """Queue a conversation's analysis from an event loop (the queue's write is off it)."""
        await asyncio.to_thread(self._safely, self.analyse_conversation, conversation_id)

    def pending(self) -> int:
        """Jobs waiting in the queue."""
        return int(self.huey.pending_count())

    def serve(self, analyser: Analyser, loop: asyncio.AbstractEventLoop, *, in_app: bool) -> None:
        """Run jobs in worker threads, their coroutines on `loop` with `analyser`; in the app
        this returns at once, in a worker process it blocks until a signal stops it."""
        self._analyser, self._loop = analyser, loop
        consumer_class = _InAppConsumer if in_app else Consumer
        self._consumer = consumer_class(
            self.huey,
            workers=self.settings.job_workers,
            worker_type="thread",
            periodic=True,
            check_worker_health=False,
            backoff=1.5,
            max_delay=2.0,
            initial_delay=0.1,
        )
        self._safely(self._sweep_now)
        if in_app:
            limit_cpu_threads(1)
            self._consumer.start()
            # Loading in the background at start, not with the first job: that job would
            # otherwise take seconds, and importing torch holds the interpreter meanwhile.
            threading.Thread(
                target=_warm_up, args=(analyser,), name="nlp-warm-up", daemon=True
            ).start()
        else:
            _warm_up(analyser)
            self._consumer.run()  # blocks; huey handles SIGINT/SIGTERM (finish, then stop)

    def stop(self) -> None:
        """Stop the worker threads after the jobs they are running (blocking)."""
        if self._consumer is not None:
            self._consumer.stop(graceful=True)
            self._consumer = None

    async def sweep(self) -> int:
        """Queue again whatever has no result yet; the number of jobs queued."""
        assert self._analyser is not None
        since = utcnow() - SWEEP_WINDOW
        async with self._analyser.database.session() as session:
            messages = await store.unscored_customer_messages(session=session, since=since)
            conversations = await store.complaints_without_summary(session=session, since=since)
        for message_id in messages:
            self.score_message(message_id)
        for conversation_id in conversations:
            self.analyse_conversation(conversation_id)
        if messages or conversations:
            log.info("nlp_sweep", messages=len(messages), conversations=len(conversations))
        return len(messages) + len(conversations)

    def _score_message(self, message_id: int) -> None:
        assert self._analyser is not None
        self._run(self._analyser.score_message(message_id))

    def _analyse_conversation(self, conversation_id: int) -> None:
        assert self._analyser is not None
        self._run(self._analyser.analyse(conversation_id))

    def _sweep(self) -> None:
        if self._analyser is not None:
            self._run(self.sweep())

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            work.close()
            raise RuntimeError("this process queues jobs but does not run them")
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def _off_loop(self, function: Any, *args: Any) -> None:
        asyncio.get_running_loop().run_in_executor(None, self._safely, function, *args)

    @staticmethod
    def _safely(function: Any, *args: Any) -> None:
        # A queue that is down must not fail the customer's message: the sweep queues the
        # job again later.
        try:
            function(*args)
        except Exception as error:
            log.warning(
                "nlp_job_not_queued", job=getattr(function, "__name__", "?"), error=str(error)
            )


def _warm_up(analyser: Analyser) -> None:
    # A model that cannot load now fails its jobs later, with retries and a clear log there.
    try:
        analyser.warm_up()
    except Exception as error:
        log.warning("nlp_models_not_loaded", error=str(error))
