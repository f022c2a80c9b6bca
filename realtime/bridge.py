"""The bridge: every process sees every event, in ``seq`` order, with no gap and no repeat.

Committed events reach a process three ways: from its own commits (at once), from other
processes over Redis pub/sub, and from a periodic read of the history (which covers messages
Redis lost or could not carry). :meth:`Bridge.ingest` merges them: an event at or below the
hub's position is a repeat and skipped; one beyond the next expected seq means a gap, filled
from the history first. Because ``seq`` order is commit order, once seq N is seen every smaller
seq that will ever exist is already readable, so the fill is exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, Final

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from realtime.hub import Envelope, Hub

log = logging.getLogger(__name__)

EVENTS_CHANNEL: Final = "dispatch:events"
CONTROL_CHANNEL: Final = "dispatch:control"
MAX_SEQ: Final = 2**63 - 1

#: reads the history: events with after < seq <= upto, in order, at most ``limit``
RangeReader = Callable[[int, int, int], Awaitable[list[Envelope]]]
ControlHandler = Callable[[dict[str, Any]], Awaitable[None]]


def stop_if_cancelled() -> None:
    """Re-raise a cancellation that a client library turned into a connection error.

    Cancelling a task blocked on a Redis read can surface as a ``ConnectionError`` from the
    closed socket; a reconnect loop that catches it must not swallow the cancellation, or
    the task runs on and whoever awaits its end (shutdown) waits for ever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def messages(pubsub: PubSub, wait_s: float = 1.0) -> AsyncIterator[dict[str, Any]]:
    """The messages of a subscription, until cancelled.

    Unlike ``PubSub.listen`` it never blocks for more than ``wait_s`` at a time, and checks
    between reads whether its task was cancelled: a cancellation delivered while redis-py
    was reconnecting under a blocking read could otherwise be lost.
    """
    while True:
        stop_if_cancelled()
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait_s)
        if message is not None:
            yield message


def encode(envelopes: Iterable[Envelope]) -> str:
    """One pub/sub message for several events: a line each, ``seq<TAB>topics<TAB>json``."""
    return "\n".join(
        f"{e.seq}\t{json.dumps(list(e.topics), ensure_ascii=False)}\t{e.raw}" for e in envelopes
    )


def decode(message: str) -> list[Envelope]:
    envelopes = []
    for line in message.split("\n"):
        seq, topics, raw = line.split("\t", 2)
        envelopes.append(Envelope(int(seq), tuple(json.loads(topics)), raw))
    return envelopes


class Bridge:
    """Feeds the hub. Run :meth:`run` as a background task after :meth:`start`."""

    def __init__(
        self,
        redis: aioredis.Redis,
        hub: Hub,
        read_range: RangeReader,
        *,
        on_control: ControlHandler | None = None,
        on_state: Callable[[bool], None] | None = None,
        poll_interval_s: float = 1.0,
        page: int = 1000,
    ) -> None:
        self._redis = redis
        self._hub = hub
        self._read_range = read_range
        self._on_control = on_control
        self._poll_interval_s = poll_interval_s
        self._page = page
        self._lock = asyncio.Lock()
        self._last_ingest = time.monotonic()
        self._tasks: set[asyncio.Task[None]] = set()
        #: False while Redis cannot be reached; events then arrive by polling the history
        self._redis_ok = True
        self._on_state = on_state
        self.gap_fills = 0

    @property
    def redis_ok(self) -> bool:
        return self._redis_ok

    @redis_ok.setter
    def redis_ok(self, ok: bool) -> None:
        """Track whether the live feed is followed; tell ``on_state`` when that changes."""
        if ok != self._redis_ok:
            self._redis_ok = ok
            if self._on_state is not None:
                self._on_state(ok)

    async def ingest(self, envelopes: Sequence[Envelope]) -> None:
        """Deliver committed events to the hub in order, filling any gap from the history."""
        async with self._lock:
            self._last_ingest = time.monotonic()
            for envelope in sorted(envelopes):
                if envelope.seq <= self._hub.last_seq:
                    continue
                if envelope.seq > self._hub.last_seq + 1:
                    await self._fill(envelope.seq - 1)
                self._hub.deliver(envelope)

    async def _fill(self, upto: int) -> None:
        self.gap_fills += 1
        while self._hub.last_seq < upto:
            found = await self._read_range(self._hub.last_seq, upto, self._page)
            for envelope in found:
                self._hub.deliver(envelope)
            if len(found) < self._page:
                self._hub.last_seq = max(self._hub.last_seq, upto)  # the rest never committed

    def committed(self, envelopes: list[Envelope]) -> None:
        """This process committed ``envelopes``: deliver them here and tell the others."""
        task = asyncio.get_running_loop().create_task(self._committed(envelopes))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _committed(self, envelopes: list[Envelope]) -> None:
        await self.ingest(envelopes)
        try:
            await self._redis.publish(EVENTS_CHANNEL, encode(envelopes))
        except (RedisError, OSError) as exc:
            # the others will read these from the history on their next poll
            self.redis_ok = False
            log.warning("could not publish %d events to Redis: %s", len(envelopes), exc)

    async def control(self, message: dict[str, Any]) -> None:
        """Tell every process something (zones changed, token revoked); it comes back here too.

        Best effort: a process that misses it catches up by its own periodic checks.
        """
        try:
            await self._redis.publish(CONTROL_CHANNEL, json.dumps(message))
        except (RedisError, OSError) as exc:
            log.warning("could not publish control message %s: %s", message.get("type"), exc)

    async def run(self) -> None:
        """Follow Redis and poll the history until cancelled."""
        poller = asyncio.get_running_loop().create_task(self._poll())
        try:
            await self._follow()
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            for task in list(self._tasks):
                task.cancel()

    async def _follow(self) -> None:
        backoff = 0.2
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(EVENTS_CHANNEL, CONTROL_CHANNEL)
                if not self.redis_ok:
                    log.info("Redis is back; following the live feed again")
                self.redis_ok = True
                backoff = 0.2
                await self.catch_up()  # whatever was published while we were not listening
                async for message in messages(pubsub):
                    await self._on_message(message)
            except (RedisError, OSError) as exc:
                stop_if_cancelled()
                if self.redis_ok:
                    log.warning("lost Redis (%s); reading events from the history", exc)
                self.redis_ok = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _on_message(self, message: dict[str, Any]) -> None:
        data = message.get("data")
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        if not isinstance(data, str):
            return
        channel = message.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode()
        if channel == CONTROL_CHANNEL:
            if self._on_control is not None:
                try:
                    await self._on_control(json.loads(data))
                except Exception:
                    log.exception("control message failed: %.200s", data)
            return
        try:
            envelopes = decode(data)
        except (ValueError, json.JSONDecodeError):
            log.warning("skipping a malformed event message: %.200s", data)
            return
        await self.ingest(envelopes)

    async def catch_up(self) -> None:
        """Deliver whatever the history holds beyond the hub's position."""
        while True:
            found = await self._read_range(self._hub.last_seq, MAX_SEQ, self._page)
            if found:
                await self.ingest(found)
            if len(found) < self._page:
                return

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval_s)
            if time.monotonic() - self._last_ingest < self._poll_interval_s and self.redis_ok:
                continue
            try:
                await self.catch_up()
            except Exception as exc:
                log.warning("polling the history failed: %s", exc)
