"""Waiting in end-to-end tests for something the assistant does in its own time (a retry,
a mail, a text after an outage): poll until it shows, fail with a message if it never does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

POLL_SECONDS = 0.25


async def wait_for(
    probe: Callable[[], Awaitable[T]],
    *,
    timeout: float = 30.0,
    what: str = "condition",
    interval: float = POLL_SECONDS,
) -> T:
    """Call `probe` every `interval` seconds until it returns something truthy; that value.

    Raises AssertionError naming `what` if it is still falsy after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        await asyncio.sleep(interval)
