"""Live positions of units: kept in Redis, fanned out to the consoles of every process.

Positions are ephemeral. They are not history: no row, no ``seq``, no replay. Redis keeps the
last one of each unit with its time, in a GEO set (``GEOADD``; Redis keeps about 0.6 m of
precision) and a sorted set of times in milliseconds, written by one script that also refuses
a position older than the one kept (phones resend late) and publishes the news on
:data:`UNITS_CHANNEL`. Every process follows that channel and hands messages to its hub with
:meth:`~realtime.hub.Hub.broadcast`, which never touches the ``seq`` stream.

Throttling: ``unit.moved`` messages pass a :class:`Throttle` in each process: per unit at
most one every ``interval_s`` (the latest wins, so where a unit stopped always arrives), and
at most ``max_per_s`` in all, so that a thousand units reporting every few seconds cannot
flood a big screen. Throttling where messages are received, not where positions are posted,
holds whichever process took each position. Messages that must not be thinned (a status
changed: ``unit.updated``) are published with ``throttle`` false and pass at once.

This module knows nothing of units beyond an id and the topics a message goes to: the
caller builds the messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Final, Generic, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from realtime.bridge import messages, stop_if_cancelled
from realtime.hub import Hub

log = logging.getLogger(__name__)

UNITS_CHANNEL: Final = "dispatch:units"
#: one hash tag, so that the two keys sit in one slot of a Redis Cluster
GEO_KEY: Final = "dispatch:{units}:geo"
TIMES_KEY: Final = "dispatch:{units}:at"

# KEYS: geo set, times; ARGV: unit id, lon, lat, time in ms, channel, message.
# Keeps the position unless it is older than the one kept; then publishes the message. One of
# the same millisecond is kept: positions the server stamps (sent without a time) may share
# one, and the later to arrive is the later fix.
_RECORD: Final = """
local kept = redis.call('ZSCORE', KEYS[2], ARGV[1])
if kept and tonumber(kept) > tonumber(ARGV[4]) then return 0 end
redis.call('GEOADD', KEYS[1], ARGV[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
"""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Throttle(Generic[K, V]):
    """Per key at most one item every ``interval_s``, the latest offered winning; at most
    ``max_per_s`` items in all (a token bucket holding one second's worth).

    Pure: the caller gives the time. Call :meth:`offer` for each item and :meth:`take`
    regularly; items held back wait, oldest first, and are never lost but replaced.
    """

    def __init__(self, interval_s: float, max_per_s: float) -> None:
        self.interval_s = interval_s
        self.max_per_s = max_per_s
        self._pending: dict[K, V] = {}
        self._sent: dict[K, float] = {}
        self._tokens = max_per_s
        self._refilled: float | None = None
        self.offered = 0
        self.replaced = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def offer(self, key: K, item: V) -> None:
        self.offered += 1
        if key in self._pending:
            self.replaced += 1
        self._pending[key] = item  # a replaced item keeps its place in the queue

    def take(self, now: float) -> list[V]:
        """The items that may go now, oldest first."""
        if self._refilled is not None:
            elapsed = max(0.0, now - self._refilled)
            self._tokens = min(self.max_per_s, self._tokens + elapsed * self.max_per_s)
        self._refilled = now
        out: list[V] = []
        for key in list(self._pending):
            if self._tokens < 1:
                break
            sent = self._sent.get(key)
            if sent is not None and now - sent < self.interval_s:
                continue
            out.append(self._pending.pop(key))
            self._sent[key] = now
            self._tokens -= 1
        if len(self._sent) > 4 * (len(self._pending) + 1024):
            self._sent = {k: t for k, t in self._sent.items() if now - t < self.interval_s}
        return out


def _message(key: str, topics: Sequence[str], throttle: bool, body: dict[str, Any]) -> str:
    return json.dumps(
        {"key": key, "topics": list(topics), "throttle": throttle, "body": body},
        ensure_ascii=False,
        separators=(",", ":"),
    )


class Positions:
    """Positions in Redis and the fan-out of unit messages. Run :meth:`run` as a task."""

    def __init__(
        self,
        redis: aioredis.Redis,
        hub: Hub,
        *,
        interval_s: float = 2.0,
        max_per_s: float = 200.0,
        tick_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._hub = hub
        self._record = redis.register_script(_RECORD)
        self._clock = clock
        self._tick_s = tick_s
        self.throttle: Throttle[str, tuple[tuple[str, ...], str]] = Throttle(interval_s, max_per_s)
        self.sent = 0

    async def record(
        self,
        key: str,
        lon: float,
        lat: float,
        at_ms: int,
        topics: Sequence[str],
        body: dict[str, Any],
    ) -> bool:
        """Keep a position (WGS84) taken at ``at_ms`` and publish ``body`` (throttled).

        Answers False, keeping and publishing nothing, when a newer position is already
        kept. Raises RedisError or OSError when Redis cannot be reached.
        """
        message = _message(key, topics, True, body)
        kept = await self._record(
            keys=[GEO_KEY, TIMES_KEY],
            args=[key, repr(lon), repr(lat), at_ms, UNITS_CHANNEL, message],
        )
        return bool(kept)

    async def read(self, keys: Sequence[str]) -> dict[str, tuple[float, float, int]]:
        """The kept positions of ``keys``: (lon, lat, time in ms) each; absent when none."""
        if not keys:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.geopos(GEO_KEY, *keys)
            pipe.zmscore(TIMES_KEY, list(keys))
            places, times = await pipe.execute()
        found: dict[str, tuple[float, float, int]] = {}
        for key, place, at_ms in zip(keys, places, times, strict=True):
            if place is not None and at_ms is not None:
                found[key] = (float(place[0]), float(place[1]), int(at_ms))
        return found

    async def announce(self, key: str, topics: Sequence[str], body: dict[str, Any]) -> None:
        """Publish ``body`` to every process at once, unthrottled (a status changed).

        Best effort: a console that misses it reads the units again when it reconnects.
        """
        try:
            await self._redis.publish(UNITS_CHANNEL, _message(key, topics, False, body))
        except (RedisError, OSError) as exc:
            log.warning("could not publish a message about unit %s: %s", key, exc)

    def receive(self, data: str | bytes) -> None:
        """Handle one message of the channel: broadcast it now, or through the throttle."""
        try:
            message = json.loads(data)
            key = str(message["key"])
            topics = tuple(str(t) for t in message["topics"])
            raw = json.dumps(message["body"], ensure_ascii=False, separators=(",", ":"))
        except (ValueError, KeyError, TypeError):
            log.warning("skipping a malformed unit message: %.200r", data)
            return
        if message.get("throttle"):
            self.throttle.offer(key, (topics, raw))
        else:
            self.sent += self._hub.broadcast(topics, raw)

    def flush(self) -> int:
        """Broadcast what the throttle lets go now; answer how many messages."""
        released = self.throttle.take(self._clock())
        for topics, raw in released:
            self.sent += self._hub.broadcast(topics, raw)
        return len(released)

    async def run(self) -> None:
        """Follow the channel and flush the throttle until cancelled."""
        flusher = asyncio.get_running_loop().create_task(self._flush_forever())
        try:
            await self._follow()
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            self.flush()

    async def _follow(self) -> None:
        backoff = 0.2
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(UNITS_CHANNEL)
                backoff = 0.2
                async for message in messages(pubsub):
                    data = message.get("data")
                    if isinstance(data, str | bytes):
                        self.receive(data)
            except (RedisError, OSError) as exc:
                stop_if_cancelled()
                log.warning("lost the unit channel (%s); retrying in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
