"""Live updates for the agent console: one watcher per app instance notices any change to
handoffs or messages (made by any instance or the action server, through the database) and
wakes every open console, which then reloads its inbox."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog

from bot.core.db import Database
from handoff.store.console import inbox_version

log = structlog.get_logger("handoff.live")


class InboxWatcher:
    """Polls the store's inbox version and tells subscribers when it changes."""

    def __init__(self, database: Database, *, interval_seconds: float = 0.25) -> None:
        self._database = database
        self._interval = interval_seconds
        self._version: tuple[int, int] = (0, 0)
        self._changed = asyncio.Condition()
        # No open console, no polling: the database is not asked every quarter second for
        # nobody.
        self._watching = asyncio.Event()
        self._subscribers = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Watch in the background of the current event loop."""
        self._task = asyncio.create_task(self._watch(), name="inbox-watcher")

    async def stop(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def changes(self, *, heartbeat_seconds: float = 15.0) -> AsyncIterator[bool]:
        """Yields True when the inbox may have changed, False as a keep-alive heartbeat."""
        self._subscribers += 1
        self._watching.set()
        try:
            async for changed in self._follow(heartbeat_seconds):
                yield changed
        finally:
            self._subscribers -= 1
            if not self._subscribers:
                self._watching.clear()

    async def _follow(self, heartbeat_seconds: float) -> AsyncIterator[bool]:
        seen = self._version
        yield True  # a fresh console loads at once
        while True:
            async with self._changed:
                # Checked under the lock the watcher updates under: no change is missed.
                if self._version == seen:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), heartbeat_seconds)
            if self._version != seen:
                seen = self._version
                yield True
            else:
                yield False

    async def _watch(self) -> None:
        while True:
            await self._watching.wait()
            try:
                async with self._database.session() as session:
                    version = await inbox_version(session=session)
                if version != self._version:
                    async with self._changed:
                        self._version = version
                        self._changed.notify_all()
            except Exception:  # the database may be briefly away; keep watching
                log.exception("inbox_watch_failed")
            await asyncio.sleep(self._interval)
