"""A huey storage on RabbitMQ, so that the NLP jobs can run through the broker a company
already has (JOB_QUEUE_URL=amqp://user:password@host:5672/vhost).

huey ships storages for Redis and SQLite, not for an AMQP broker. This one keeps what huey
needs of a queue in RabbitMQ:
- the job queue: a durable queue with priorities; a job is published persistent and
  confirmed by the broker, so it survives a broker restart, and taken with `basic.get`
  (huey's consumer polls, as it does with Redis);
- the schedule (a failed job's retry after its delay): a second durable queue whose messages
  expire at their due time and are dead-lettered into the job queue by the broker itself,
  so a retry survives the worker that scheduled it. Messages expire in order, so a retry
  waits at most for the retries scheduled before it (they all use the same delay).

Results, locks and revocations are kept in the process (huey's memory storage): the NLP jobs
keep their results in the database and use none of those.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pika
from huey import Huey
from huey.storage import MemoryStorage
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError

T = TypeVar("T")
MAX_PRIORITY = 10
PERSISTENT = pika.DeliveryMode.Persistent


class RabbitMQStorage(MemoryStorage):  # type: ignore[misc]
    """huey's job queue and schedule in RabbitMQ; results in the process."""

    def __init__(self, name: str = "huey", url: str = "", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.queue_name = name
        self.delayed_name = f"{name}.delayed"
        self._parameters = pika.URLParameters(url)
        # No heartbeats: a process that only queues jobs may not touch the connection for
        # minutes, and pika's blocking connection answers heartbeats only when it is used.
        self._parameters.heartbeat = 0
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._amqp_lock = threading.RLock()

    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        """Publish a job, persistent, with huey's priority (0-10 in RabbitMQ)."""
        level = max(0, min(MAX_PRIORITY, int(priority or 0)))
        properties = pika.BasicProperties(delivery_mode=PERSISTENT, priority=level)
        self._call(lambda ch: ch.basic_publish("", self.queue_name, data, properties))

    def dequeue(self) -> bytes | None:
        """The next job, or None when the queue is empty."""

        def take(channel: BlockingChannel) -> bytes | None:
            _, _, body = channel.basic_get(self.queue_name, auto_ack=True)
            return bytes(body) if body is not None else None

        return self._call(take)

    def queue_size(self) -> int:
        """Jobs waiting in the queue."""
        return self._count(self.queue_name)

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        """Always empty: RabbitMQ cannot list a queue without taking its messages."""
        return []

    def flush_queue(self) -> None:
        """Drop every waiting job."""
        self._call(lambda ch: ch.queue_purge(self.queue_name))

    def add_to_schedule(self, data: bytes, ts: datetime) -> None:
        """Hold a job in the delay queue until `ts` (naive UTC, as huey gives it)."""
        now = datetime.now(UTC).replace(tzinfo=None)
        milliseconds = max(0, int((ts - now).total_seconds() * 1000))
        properties = pika.BasicProperties(delivery_mode=PERSISTENT, expiration=str(milliseconds))
        self._call(lambda ch: ch.basic_publish("", self.delayed_name, data, properties))

    def read_schedule(self, ts: datetime) -> list[bytes]:
        """Nothing to read: the broker moves due jobs into the job queue itself."""
        return []

    def schedule_size(self) -> int:
        """Jobs waiting for their time."""
        return self._count(self.delayed_name)

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        """Always empty (see `enqueued_items`)."""
        return []

    def flush_schedule(self) -> None:
        """Drop every job waiting for its time."""
        self._call(lambda ch: ch.queue_purge(self.delayed_name))

    def close(self) -> None:
        """Close the connection to the broker."""
        with self._amqp_lock:
            if self._connection is not None and self._connection.is_open:
                self._connection.close()
            self._connection = self._channel = None

    def _count(self, queue: str) -> int:
        return int(
            self._call(lambda ch: ch.queue_declare(queue, passive=True)).method.message_count
        )

    def _call(self, operation: Callable[[BlockingChannel], T]) -> T:
        # One connection per process, used by one thread at a time (pika's blocking
        # connection is not thread-safe). A connection the broker closed is opened again
        # once; a broker that stays down raises, and the caller's sweep queues the job later.
        with self._amqp_lock:
            try:
                return operation(self._open_channel())
            except (AMQPError, OSError):
                self.close()
                return operation(self._open_channel())

    def _open_channel(self) -> BlockingChannel:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self.close()
        self._connection = pika.BlockingConnection(self._parameters)
        channel = self._connection.channel()
        # Publisher confirms: a publish returns once the broker has the job (on disk, for a
        # persistent message in a durable queue), not when it left this process.
        channel.confirm_delivery()
        channel.queue_declare(
            self.queue_name, durable=True, arguments={"x-max-priority": MAX_PRIORITY}
        )
        channel.queue_declare(
            self.delayed_name,
            durable=True,
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.queue_name},
        )
        self._channel = channel
        return channel


class RabbitMQHuey(Huey):  # type: ignore[misc]
    """huey with its jobs in RabbitMQ."""

    storage_class = RabbitMQStorage
