"""Health of the parts a turn depends on: database, Rasa server, action server."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.core.db import Database
from bot.core.rasa_client import RasaClient

# How recent a real answer must be for a probe timeout to mean "busy" rather than "down".
BUSY_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class Check:
    """One dependency's state at `checked_at` (monotonic seconds)."""

    ok: bool
    detail: str
    checked_at: float
    busy: bool = False


class ServiceHealth:
    """Probes each dependency, caching answers for a moment so the message path can ask often."""

    def __init__(
        self, *, database: Database, rasa: RasaClient, action_server_url: str, cache_seconds: float
    ) -> None:
        self._database = database
        self._rasa = rasa
        self._action_health_url = action_server_url.rstrip("/") + "/health"
        self._cache_seconds = cache_seconds
        self._cache: dict[str, Check] = {}
        self._answered_at: dict[str, float] = {}
        self._http = httpx.AsyncClient(timeout=3.0)

    async def check_all(self, *, fresh: bool = False) -> dict[str, Check]:
        """Every dependency's state, probed concurrently."""
        names = ("database", "rasa", "action_server")
        results = await asyncio.gather(*(self.check(name, fresh=fresh) for name in names))
        return dict(zip(names, results, strict=True))

    async def check(self, name: str, *, fresh: bool = False) -> Check:
        """One dependency's state; from the cache unless `fresh` or the entry is old."""
        cached = self._cache.get(name)
        now = time.monotonic()
        if cached and not fresh and now - cached.checked_at < self._cache_seconds:
            return cached
        probe = {
            "database": self._probe_database,
            "rasa": self._probe_rasa,
            "action_server": self._probe_action_server,
        }[name]
        try:
            detail = await probe()
            result = Check(ok=True, detail=detail, checked_at=now)
        except Exception as error:  # any failure means "not healthy", with its reason
            if self._busy(name, now) and _is_timeout(error):
                result = Check(ok=True, detail="busy", checked_at=now, busy=True)
            else:
                detail = str(error) or type(error).__name__
                result = Check(ok=False, detail=detail, checked_at=now)
        self._cache[name] = result
        return result

    def forget(self, name: str) -> None:
        """Drop a cached answer (after a failure seen on the message path)."""
        self._cache.pop(name, None)

    def saw_answer(self, name: str) -> None:
        """Note that `name` just did real work for a customer (it is up, maybe busy)."""
        self._answered_at[name] = time.monotonic()

    def _busy(self, name: str, now: float) -> bool:
        # A probe that times out while real answers keep coming means busy, not down.
        answered = self._answered_at.get(name)
        return answered is not None and now - answered < BUSY_GRACE_SECONDS

    async def _probe_database(self) -> str:
        await self._database.ping()
        return "ok"

    async def _probe_rasa(self) -> str:
        status = await self._rasa.status()
        return f"model {Path(str(status['model_file'])).name}"

    async def _probe_action_server(self) -> str:
        response = await self._http.get(self._action_health_url)
        if response.status_code != 200:
            raise RuntimeError(f"action server /health answered HTTP {response.status_code}")
        return "ok"

    async def aclose(self) -> None:
        """Close the probe connections."""
        await self._http.aclose()


def _is_timeout(error: BaseException) -> bool:
    while error is not None:
        if isinstance(error, (httpx.TimeoutException, TimeoutError)):
            return True
        error = error.__cause__  # type: ignore[assignment]
    return False
