"""`python -m bot worker` as a process of its own, on the machine's RabbitMQ (as a deployment
with JOBS_IN_APP=false runs it): jobs queued while it is stopped, or lost when it is killed,
are all done once it runs again."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.db import Database
from bot.core.settings import PROJECT_ROOT, Settings
from bot.nlp.jobs import NlpJobs
from bot.nlp.models import MessageSentiment
from bot.processes import app_environment
from tests.support.store import receive

pytestmark = pytest.mark.integration
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/%2F"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """A worker's settings: the test's database, a RabbitMQ queue of its own."""
    return Settings(
        var_dir=tmp_path / "var",
        database_url=database_url,
        job_queue_url=RABBITMQ,
        job_queue_name=f"test-worker-{uuid.uuid4().hex}",
        jobs_in_app=False,
        log_level="WARNING",
    )


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    """Starts and stops the worker process; kills it if a test left it running."""
    process = WorkerProcess(settings, tmp_path / "worker.log")
    yield process
    process.kill()


class WorkerProcess:
    """`python -m bot worker` with the test's settings."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings = settings
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the worker (it loads its models, then takes jobs)."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "worker"],
                cwd=PROJECT_ROOT,
                env=app_environment(self.settings),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> int:
        """SIGTERM, as a deployment stops it: the job in hand is finished first."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def kill(self) -> None:
        """SIGKILL, as a crash would: whatever it held is lost with it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


async def _scored(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(MessageSentiment)) or 0)


async def _until_scored(database: Database, count: int, worker: WorkerProcess) -> None:
    for _ in range(1200):
        if await _scored(database) >= count:
            return
        assert worker.process is None or worker.process.poll() is None, worker.log.read_text()
        await asyncio.sleep(0.1)
    raise AssertionError(f"not {count} scored in time:\n{worker.log.read_text()}")


async def test_jobs_queued_while_the_worker_is_stopped_are_done_when_it_starts_again(
    settings: Settings, database: Database, worker: WorkerProcess
) -> None:
    queue = NlpJobs(settings)  # the app's and the action server's side
    worker.start()
    first = await receive(database, text="Where is my refund? It's been three weeks.")
    await asyncio.to_thread(queue.score_message, first.message.id)
    await _until_scored(database, 1, worker)
    assert worker.stop() == 0

    later = [
        await receive(database, text=text)
        for text in ("Still no reply. This is ridiculous.", "Thanks, all sorted now!")
    ]
    for message in later:
        await asyncio.to_thread(queue.score_message, message.message.id)
    assert queue.pending() == 2  # kept by the broker while no worker runs

    worker.start()
    await _until_scored(database, 3, worker)
    # Its sweep at start may have queued those two again (harmless): the queue still empties.
    for _ in range(600):
        if await asyncio.to_thread(queue.pending) == 0:
            break
        await asyncio.sleep(0.1)
    assert queue.pending() == 0
    async with database.session() as session:
        labels = [(await session.get_one(MessageSentiment, m.message.id)).label for m in later]
    assert labels == ["negative", "positive"]


async def test_a_message_whose_job_died_with_a_killed_worker_is_scored_after_a_restart(
    settings: Settings, database: Database, worker: WorkerProcess
) -> None:
    # The job was taken by a worker that was then killed: the queue no longer has it.
    queue = NlpJobs(settings)
    message = await receive(database, text="This is the worst service I have ever had.")
    await asyncio.to_thread(queue.score_message, message.message.id)
    assert await asyncio.to_thread(queue.huey.storage.dequeue) is not None
    assert queue.pending() == 0

    worker.start()  # its sweep at start finds the stored message without a score
    await _until_scored(database, 1, worker)
