"""The NLP jobs on huey, with the real models: queued by one process and run by another,
kept while no worker runs, retried after a failure, found again by the sweep when their
job was lost, and on Redis as in production."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.db import Database
from bot.core.settings import Settings
from bot.nlp.analysis import Analyser, Analysis, NlpModels, ScoredMessage
from bot.nlp.jobs import JobQueueConfigError, NlpJobs
from bot.nlp.models import ConversationInsight, MessageSentiment
from tests.support.store import receive

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
# The brokers running on the test machine, as production would name them.
BROKERS = {"redis": "redis://127.0.0.1:6379/0", "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/%2F"}


def _settings(tmp_path: Path, database_url: str, **updates: object) -> Settings:
    return Settings(var_dir=tmp_path, database_url=database_url, **updates)  # type: ignore[arg-type]


class Recorder:
    """A listener that fails the first `failures` analyses (as a broken step would)."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.scored: list[ScoredMessage] = []
        self.analysed: list[Analysis] = []

    async def message_scored(self, scored: ScoredMessage) -> None:
        self.scored.append(scored)

    async def conversation_analysed(self, analysis: Analysis) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the queue's database went away")
        self.analysed.append(analysis)


async def _until(check: Callable[[], object], seconds: float = 60) -> None:
    for _ in range(int(seconds * 10)):
        if await check():  # type: ignore[misc]
            return
        await asyncio.sleep(0.1)
    raise AssertionError("not done in time")


async def _until_drained(jobs: NlpJobs) -> None:
    # The worker's sweep at start may have queued a message's job a second time (harmless:
    # it finds the message scored); the queue empties once that one has run too.
    async def drained() -> bool:
        return await asyncio.to_thread(jobs.pending) == 0

    await _until(drained)


async def _scored_count(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(MessageSentiment)) or 0)


@pytest.fixture
async def worker(
    tmp_path: Path, database: Database, database_url: str
) -> AsyncIterator[Callable[..., NlpJobs]]:
    """Starts workers on the test's event loop; stops them all at the end."""
    started: list[NlpJobs] = []

    def start(listener: Recorder | None = None, **updates: object) -> NlpJobs:
        settings = _settings(tmp_path, database_url, **updates)
        jobs = NlpJobs(settings)
        analyser = Analyser(database, NlpModels(settings), [listener or Recorder()])
        jobs.serve(analyser, asyncio.get_running_loop(), in_app=True)
        started.append(jobs)
        return jobs

    yield start
    for jobs in started:
        await asyncio.to_thread(jobs.stop)


async def test_the_models_load_when_the_worker_starts_not_with_the_first_job(
    tmp_path: Path, database: Database, database_url: str
) -> None:
    settings = _settings(tmp_path, database_url)
    models = NlpModels(settings)
    jobs = NlpJobs(settings)
    jobs.serve(Analyser(database, models), asyncio.get_running_loop(), in_app=True)
    try:

        async def loaded() -> bool:
            return models.loaded

        assert not models.loaded  # serving returned at once, the loading goes on behind
        await _until(loaded)
    finally:
        await asyncio.to_thread(jobs.stop)


async def test_a_job_queued_by_another_process_is_run_by_the_worker(
    tmp_path: Path, database: Database, database_url: str, worker: Callable[..., NlpJobs]
) -> None:
    worker()
    message = await receive(database, text="this is the third time my parcel hasn't come, useless")
    # The action server's side: a queue of its own on the same SQLite file.
    await asyncio.to_thread(
        NlpJobs(_settings(tmp_path, database_url)).score_message, message.message.id
    )
    await _until(lambda: _scored_count(database))
    async with database.session() as session:
        scored = await session.get_one(MessageSentiment, message.message.id)
    assert (scored.label, scored.backend) == ("negative", "minilm+vader")
    assert scored.score < -0.3


async def test_jobs_queued_while_no_worker_runs_are_run_when_one_starts(
    tmp_path: Path, database: Database, database_url: str, worker: Callable[..., NlpJobs]
) -> None:
    first = worker()
    await asyncio.to_thread(first.stop)
    texts = ["hi, where is order 40012?", "thanks, that's great", "still nothing. awful."]
    stored = [await receive(database, text=t) for t in texts]
    queue = NlpJobs(_settings(tmp_path, database_url))
    for message in stored:
        await asyncio.to_thread(queue.score_message, message.message.id)
    assert queue.pending() >= 3
    worker()
    await _until(lambda: _has(database, 3))
    await _until_drained(queue)


async def _has(database: Database, count: int) -> bool:
    return await _scored_count(database) >= count


@pytest.mark.parametrize("broker", ["sqlite", "rabbitmq"])
async def test_a_failed_analysis_is_retried(
    broker: str, database: Database, worker: Callable[..., NlpJobs]
) -> None:
    listener = Recorder(failures=1)
    queue = {"job_queue_url": BROKERS.get(broker, ""), "job_queue_name": uuid.uuid4().hex}
    jobs = worker(listener, **queue)
    message = await receive(database, text="My refund for order 40012 never arrived.")
    await asyncio.to_thread(jobs.analyse_conversation, message.conversation.id)

    async def analysed() -> bool:
        return bool(listener.analysed)

    await _until(analysed)
    async with database.session() as session:
        insight = await session.get_one(ConversationInsight, message.conversation.id)
    assert "40012" in insight.summary


async def test_the_sweep_scores_customer_messages_whose_job_was_lost(
    database: Database, worker: Callable[..., NlpJobs]
) -> None:
    # Stored, but the process died before queueing its job: nothing is in the queue.
    await receive(database, text="why has nobody called me back")
    await receive(database, text="hello?")
    worker()
    await _until(lambda: _has(database, 2))


@pytest.mark.parametrize("broker", list(BROKERS))
async def test_jobs_run_through_a_broker(
    broker: str,
    tmp_path: Path,
    database: Database,
    database_url: str,
    worker: Callable[..., NlpJobs],
) -> None:
    queue = {"job_queue_url": BROKERS[broker], "job_queue_name": uuid.uuid4().hex}
    jobs = worker(**queue)
    message = await receive(database, text="Brilliant, sorted in two minutes, thank you!")
    await asyncio.to_thread(
        NlpJobs(_settings(tmp_path, database_url, **queue)).score_message, message.message.id
    )
    await _until(lambda: _scored_count(database))
    async with database.session() as session:
        assert (await session.get_one(MessageSentiment, message.message.id)).label == "positive"
    await _until_drained(jobs)


def test_an_unknown_job_queue_url_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(JobQueueConfigError, match="JOB_QUEUE_URL must be empty"):
        NlpJobs(Settings(var_dir=tmp_path, job_queue_url="kafka://localhost:9092"))
