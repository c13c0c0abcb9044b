"""Rate limits on what outsiders can send: per visitor, per phone number, per address, per
account. Counted with the `limits` library, in Redis when REDIS_URL is set (shared by every
app instance), otherwise in this process."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter


class RateLimited(Exception):
    """Over a limit: try again after `retry_after` seconds."""

    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(f"too many {what}; try again in {retry_after} s")
        self.what = what
        self.retry_after = retry_after


@dataclass(frozen=True)
class Rule:
    """A named limit such as "webchat_visitor": "30/10 seconds;120/minute"."""

    name: str
    items: tuple[RateLimitItem, ...]

    @classmethod
    def parse(cls, name: str, spec: str) -> Rule:
        """A rule from the `limits` notation; several limits are separated by ";"."""
        return cls(name, tuple(parse_many(spec)))


def storage_for(redis_url: str) -> Storage:
    """Redis (shared by every instance) when configured, else this process's memory."""
    if not redis_url:
        return MemoryStorage()
    return RedisStorage("async+" + redis_url, implementation="redispy")


class RateLimits:
    """Counts hits per rule and key; `hit` raises RateLimited once a limit is reached."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, rule: Rule, *key: str, what: str = "requests") -> None:
        """Count one hit for `key`; RateLimited (and nothing counted) if any limit is full."""
        for item in rule.items:
            if not await self._limiter.test(item, rule.name, *key):
                raise RateLimited(what, await self._retry_after(item, rule, key))
        for item in rule.items:
            await self._limiter.hit(item, rule.name, *key)

    async def check(self, rule: Rule, *key: str, what: str = "requests") -> None:
        """RateLimited if `key` is already at a limit of `rule` (counts nothing)."""
        for item in rule.items:
            if not await self._limiter.test(item, rule.name, *key):
                raise RateLimited(what, await self._retry_after(item, rule, key))

    async def count(self, rule: Rule, *key: str) -> None:
        """Count one hit without checking (e.g. a failed sign-in, checked before the next)."""
        for item in rule.items:
            await self._limiter.hit(item, rule.name, *key)

    async def clear(self, rule: Rule, *key: str) -> None:
        """Forget the hits of `key` (e.g. after a successful sign-in)."""
        for item in rule.items:
            await self._limiter.clear(item, rule.name, *key)

    async def _retry_after(self, item: RateLimitItem, rule: Rule, key: Sequence[str]) -> int:
        reset_at, _ = await self._limiter.get_window_stats(item, rule.name, *key)
        return max(1, math.ceil(reset_at - time.time()))
