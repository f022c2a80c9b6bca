"""Per-device rate limits: a token bucket per device, kept in Redis, shared by every process.

Each device (a camera, a drone, a sensor: the ``device_id`` a report names, or the ``sender``
of a CAP alert, under the token that posts it) has a bucket of ``burst`` tokens refilled at
``rate`` tokens a second. A report takes one; an empty bucket answers 429 with
``Retry-After`` the seconds until a token is back. One faulty camera re-sending its detection
in a loop is cut off at its own rate while every other device goes on.

The bucket is updated by one Lua script, atomically, on Redis's own clock (or on an injected
clock, for tests), so that many server processes share one limit per device. Reports that
name no device come from platform gateways (the hotline, grid platforms) and are not limited
here. When Redis cannot be reached the limit is not applied (logged): taking reports matters
more than refusing them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from dispatcher.auth import Principal, Role
from dispatcher.errors import RateLimited

log = logging.getLogger(__name__)

KEY_PREFIX: Final = "dispatch:rate:"
#: KEYS[1] the bucket; ARGV rate per second, burst, now in ms ('' = Redis's clock), cost.
#: Answers {1, 0} when taken, {0, ms to wait} when not.
TAKE: Final = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[4])
local now
if ARGV[3] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[3])
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate / 1000)
  at = now
end
local taken = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  taken = 1
else
  wait = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {taken, wait}
"""


def device_key(who: Principal, device: str | None) -> str | None:
    """The bucket of a report: its device under the posting token; None when not limited."""
    if who.role is not Role.DEVICE or not device:
        return None
    return f"{who.token_id}/{device}"


class RateLimiter:
    """Takes a token from a device's bucket or raises :class:`RateLimited`."""

    def __init__(
        self,
        redis: aioredis.Redis,
        rate_per_s: float,
        burst: int,
        *,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self._redis = redis
        self._rate = rate_per_s
        self._burst = max(1, burst)
        self._clock_ms = clock_ms
        self._script = redis.register_script(TAKE)

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    async def take(self, key: str | None, cost: int = 1) -> None:
        """Spend ``cost`` tokens of bucket ``key``; raise RateLimited when there are not enough.

        ``key`` None (a report naming no device, or a role not limited) always passes.
        """
        if key is None or not self.enabled:
            return
        now = "" if self._clock_ms is None else str(self._clock_ms())
        try:
            taken, wait_ms = await self._script(
                keys=[KEY_PREFIX + key], args=[self._rate, self._burst, now, cost]
            )
        except (RedisError, OSError) as exc:
            log.warning("rate limit of %s not applied: Redis: %s", key, exc)
            return
        if not int(taken):
            retry = max(1, math.ceil(int(wait_ms) / 1000))
            raise RateLimited(
                f"device {key.split('/', 1)[-1]} posts more than {self._rate:g} reports a "
                f"second (bursts of {self._burst}); retry after {retry} s",
                retry_after=retry,
            )
