"""The huey storage on the real RabbitMQ of the test machine: jobs in priority order, kept
by the broker between connections, retries held until due and handed back by the broker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.nlp.rabbitmq_queue import RabbitMQStorage

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


@pytest.fixture
def storage() -> Iterator[RabbitMQStorage]:
    """A storage on queues of its own, deleted afterwards."""
    queue = RabbitMQStorage(f"test-{uuid.uuid4().hex}", url=URL)
    yield queue
    queue._call(lambda channel: channel.queue_delete(queue.queue_name))
    queue._call(lambda channel: channel.queue_delete(queue.delayed_name))
    queue.close()


def test_jobs_come_out_by_priority_then_in_order(storage: RabbitMQStorage) -> None:
    storage.enqueue(b"first")
    storage.enqueue(b"urgent", priority=5)
    storage.enqueue(b"second")
    assert storage.queue_size() == 3
    assert [storage.dequeue() for _ in range(4)] == [b"urgent", b"first", b"second", None]


def test_queued_jobs_outlive_the_connection_that_queued_them(storage: RabbitMQStorage) -> None:
    storage.enqueue(b"job")
    storage.close()
    other = RabbitMQStorage(storage.queue_name, url=URL)
    try:
        assert other.dequeue() == b"job"
    finally:
        other.close()


def test_a_connection_the_broker_dropped_is_opened_again(storage: RabbitMQStorage) -> None:
    storage.enqueue(b"before")
    assert storage._connection is not None
    storage._connection.close()  # as a broker restart or an idle timeout would
    storage.enqueue(b"after")
    assert [storage.dequeue(), storage.dequeue()] == [b"before", b"after"]


def test_a_scheduled_job_is_moved_to_the_queue_by_the_broker_when_due(
    storage: RabbitMQStorage,
) -> None:
    due = datetime.now(UTC).replace(tzinfo=None) + timedelta(milliseconds=500)
    storage.add_to_schedule(b"retry", due)
    assert storage.schedule_size() == 1
    assert storage.dequeue() is None  # not yet due
    deadline = time.monotonic() + 10
    while (job := storage.dequeue()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job == b"retry"
    assert time.monotonic() < deadline
    assert storage.schedule_size() == 0


def test_flushing_empties_the_queue_and_the_schedule(storage: RabbitMQStorage) -> None:
    storage.enqueue(b"job")
    storage.add_to_schedule(b"later", datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1))
    storage.flush_queue()
    storage.flush_schedule()
    assert (storage.queue_size(), storage.schedule_size()) == (0, 0)
