"""Slowing brute force on tokens: too many failed authentications from one address → 429.

Failures are counted per client address in Redis (shared by every server process) for a
minute; past the limit, that address gets 429 with ``Retry-After`` before its token is even
looked up. An address this process has not seen fail costs nothing: Redis is asked only about
addresses that failed here in the last minute, so honest traffic makes no extra round trip
(a guesser spreading its tries over N processes gets at most N times the limit). If Redis
cannot be reached, each process counts on its own.
"""

from __future__ import annotations

import logging
import time
from typing import Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from dispatcher.core.errors import RateLimited

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
        seen = self._local.get(address)
        if seen is None or time.monotonic() - seen[1] > self._window_s:
            return  # no failure from here lately: the common case, no round trip
        count = await self._count(address)
        if count >= self._limit:
            raise RateLimited(
                "too many failed authentications from this address; wait and retry",
                retry_after=self._window_s,
            )

    async def failed(self, address: str) -> None:
        """Count one failed authentication from ``address``."""
        count, since = self._local.get(address, (0, time.monotonic()))
        if time.monotonic() - since > self._window_s:
            count, since = 0, time.monotonic()
        if len(self._local) > 100_000:
            self._local.clear()
        # the local count also marks the address as one to ask Redis about in check()
        self._local[address] = (count + 1, since)
        try:
            # (EXPIRE ... NX would do it in one step, but needs Redis 7)
            if await self._redis.incr(PREFIX + address) == 1:
                await self._redis.expire(PREFIX + address, self._window_s)
        except (RedisError, OSError) as exc:
            log.debug("counted an auth failure locally only (Redis: %s)", exc)

    async def _count(self, address: str) -> int:
        try:
            value = await self._redis.get(PREFIX + address)
            return int(value or 0)
        except (RedisError, OSError):
            count, since = self._local.get(address, (0, 0.0))
            return count if time.monotonic() - since <= self._window_s else 0
