"""Per-device rate limits: a token bucket per device, kept in Redis, shared by every process.

Each device (a camera, a drone, a sensor: the ``device_id`` a report names, or the ``sender``
of a CAP alert, under the token that posts it) has a bucket of ``burst`` tokens refilled at
``rate`` tokens a second. A report takes one; an empty bucket answers 429 with
``Retry-After`` the seconds until a token is back. One faulty camera re-sending its detection
in a loop is cut off at its own rate while every other device goes on.

The bucket is updated by one Lua script, atomically, on Redis's own clock (or on an injected
clock, for tests), so that many server processes share one limit per device. The takes asked
for in one pass of the event loop go to Redis together, in one pipelined round trip (a busy
intake asks for dozens at once): each is still its own script call on its own key, in order,
so a cluster can route them and the buckets behave exactly as if asked one by one. Reports that
name no device come from platform gateways (the hotline, grid platforms) and are not limited
here. When Redis cannot be reached the limit is not applied (logged): taking reports matters
more than refusing them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Callable
from typing import Final

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from dispatcher.core.auth import Principal, Role
from dispatcher.core.errors import RateLimited

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
        self._sha = hashlib.sha1(TAKE.encode()).hexdigest()
        #: takes asked for since the last round trip: (bucket key, cost, answer)
        self._asked: list[tuple[str, int, asyncio.Future[tuple[int, int]]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    @property
    def script_sha(self) -> str:
        """The SHA-1 under which Redis keeps the bucket script."""
        return self._sha

    async def take(self, key: str | None, cost: int = 1) -> None:
        """Spend ``cost`` tokens of bucket ``key``; raise RateLimited when there are not enough.

        ``key`` None (a report naming no device, or a role not limited) always passes.
        """
        if key is None or not self.enabled:
            return
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[int, int]] = loop.create_future()
        self._asked.append((KEY_PREFIX + key, cost, answer))
        if len(self._asked) == 1:  # the first of this pass: send them all once the pass ends
            loop.call_soon(self._send)
        taken, wait_ms = await answer
        if not taken:
            retry = max(1, math.ceil(wait_ms / 1000))
            raise RateLimited(
                f"device {key.split('/', 1)[-1]} posts more than {self._rate:g} reports a "
                f"second (bursts of {self._burst}); retry after {retry} s",
                retry_after=retry,
            )

    def _send(self) -> None:
        asked, self._asked = self._asked, []
        task = asyncio.create_task(self._ask(asked))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _ask(self, asked: list[tuple[str, int, asyncio.Future[tuple[int, int]]]]) -> None:
        """One round trip for ``asked``; when Redis cannot answer, every take passes (logged)."""
        now = "" if self._clock_ms is None else str(self._clock_ms())
        try:
            try:
                answers = await self._run(asked, now)
            except NoScriptError:  # Redis restarted or its scripts were flushed
                await self._redis.script_load(TAKE)
                answers = await self._run(asked, now)
        except (RedisError, OSError) as exc:
            log.warning("rate limits of %d reports not applied: Redis: %s", len(asked), exc)
            answers = [(1, 0)] * len(asked)
        for (_, _, answer), result in zip(asked, answers, strict=True):
            if not answer.done():
                answer.set_result(result)

    async def _run(
        self, asked: list[tuple[str, int, asyncio.Future[tuple[int, int]]]], now: str
    ) -> list[tuple[int, int]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, cost, _ in asked:
                pipe.evalsha(self._sha, 1, key, self._rate, self._burst, now, cost)
            results = await pipe.execute()
        return [(int(taken), int(wait)) for taken, wait in results]
