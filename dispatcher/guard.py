"""Slowing brute force on tokens: too many failed authentications from one address → 429.

Failures are counted per client address in Redis (shared by every server process) for a
sliding minute; past the limit, that address gets 429 with ``Retry-After`` before its token
is even looked up. If Redis cannot be reached, each process counts on its own, so the guard
degrades to a per-process limit rather than to none.
"""

from __future__ import annotations

import logging
import time
from typing import Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from dispatcher.errors import RateLimited

log = logging.getLogger(__name__)

PREFIX: Final = "dispatch:authfail:"


class AuthGuard:
    def __init__(self, redis: aioredis.Redis, *, limit: int = 20, window_s: int = 60) -> None:
        self._redis = redis
        self._limit = limit
        self._window_s = window_s
        self._local: dict[str, tuple[int, float]] = {}

    async def check(self, address: str) -> None:
        """Raise RateLimited if ``address`` failed too often in the current window."""
        count = await self._count(address)
        if count >= self._limit:
            raise RateLimited(
                "too many failed authentications from this address; wait and retry",
                retry_after=self._window_s,
            )

    async def failed(self, address: str) -> None:
        """Count one failed authentication from ``address``."""
        key = PREFIX + address
        try:
            # (EXPIRE ... NX would do it in one step, but needs Redis 7)
            if await self._redis.incr(key) == 1:
                await self._redis.expire(key, self._window_s)
            return
        except (RedisError, OSError) as exc:
            log.debug("counting an auth failure locally (Redis: %s)", exc)
        count, since = self._local.get(address, (0, time.monotonic()))
        if time.monotonic() - since > self._window_s:
            count, since = 0, time.monotonic()
        if len(self._local) > 100_000:
            self._local.clear()
        self._local[address] = (count + 1, since)

    async def _count(self, address: str) -> int:
        try:
            value = await self._redis.get(PREFIX + address)
            return int(value or 0)
        except (RedisError, OSError):
            count, since = self._local.get(address, (0, 0.0))
            return count if time.monotonic() - since <= self._window_s else 0
