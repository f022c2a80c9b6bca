"""The hub: one ordered stream of events in, many subscribers out, none blocking another.

Each subscriber has a bounded queue drained by its own writer; :meth:`Hub.deliver` never
awaits. A subscriber whose queue is full is dropped (its ``on_drop`` is called) and reconnects
with ``since`` to replay what it missed from the history.

Besides the numbered events, :meth:`Hub.broadcast` hands out messages without a ``seq``
(units' positions and statuses, ``realtime.positions``): they never move ``last_seq``, are
never held for a replay nor replayed, and are shed rather than queued when a subscriber is
replaying or its queue is half full, so that they can neither reorder the ``seq`` stream nor
cause a subscriber to be dropped. A newer one follows soon; a console that must be sure reads
the units again.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

log = logging.getLogger(__name__)


def text_frame(text: str) -> bytes:
    """``text`` as one unmasked, uncompressed WebSocket text frame (RFC 6455 §5.2).

    Server frames are never masked, so one frame serves every connection: an event is framed
    once, however many consoles receive it.
    """
    payload = text.encode("utf-8")
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


@dataclass(frozen=True, order=True)
class Envelope:
    """A numbered event: its topics and its JSON text exactly as sent."""

    seq: int
    topics: tuple[str, ...]
    raw: str

    @cached_property
    def frame(self) -> bytes:
        """The event as a WebSocket frame, built on first use and shared by every receiver."""
        return text_frame(self.raw)


class Subscriber:
    """One connection's subscription. Not live until :meth:`Hub.go_live`."""

    def __init__(self, queue_size: int, on_drop: Callable[[Subscriber], None]) -> None:
        #: WebSocket frames waiting for this connection's writer
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_size)
        self.topics: frozenset[str] = frozenset()
        self.dropped = False
        self._on_drop = on_drop
        self._live = False
        self._pending: list[Envelope] = []

    def offer(self, envelope: Envelope) -> None:
        if self.dropped:
            return
        if not self._live:
            # held while the history is replayed; bounded like the queue
            self._pending.append(envelope)
            if len(self._pending) > self.queue.maxsize:
                self.drop()
            return
        self.put_frame(envelope.frame)

    def offer_unnumbered(self, frame: bytes) -> bool:
        """Queue a message without a ``seq`` if the subscriber is live and its queue less than
        half full; answer whether it was queued. Never drops the subscriber."""
        if self.dropped or not self._live or self.queue.qsize() * 2 >= self.queue.maxsize:
            return False
        self.queue.put_nowait(frame)
        return True

    def put(self, message: str) -> None:
        """Queue a message for the writer; drop the subscriber when it cannot keep up."""
        self.put_frame(text_frame(message))

    def put_frame(self, frame: bytes) -> None:
        """Queue a ready frame for the writer; drop the subscriber when it cannot keep up."""
        if self.dropped:
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.drop()

    def drop(self) -> None:
        if not self.dropped:
            self.dropped = True
            self._on_drop(self)

    def hold(self) -> None:
        """Hold live events (bounded) until :meth:`take_pending`, while history is replayed."""
        self._live = False
        self._pending = []

    def take_pending(self, after: int) -> list[Envelope]:
        """The events held during replay that come after ``after``; goes live."""
        held = [e for e in self._pending if e.seq > after]
        self._pending = []
        self._live = True
        return held


class Hub:
    """Fans out the process's ordered event stream to subscribers by topic."""

    def __init__(self, last_seq: int = 0) -> None:
        self.last_seq = last_seq
        self._by_topic: dict[str, set[Subscriber]] = {}
        self.delivered = 0
        self.dropped = 0

    @property
    def subscriber_count(self) -> int:
        return len({s for subs in self._by_topic.values() for s in subs})

    def deliver(self, envelope: Envelope) -> None:
        """Hand one event to every subscriber of any of its topics, once each."""
        self.last_seq = envelope.seq
        targets: set[Subscriber] = set()
        for topic in envelope.topics:
            subs = self._by_topic.get(topic)
            if subs:
                targets.update(subs)
        for sub in targets:
            sub.offer(envelope)
        self.delivered += len(targets)

    def broadcast(self, topics: Iterable[str], raw: str) -> int:
        """Hand a message without a ``seq`` to the live subscribers of any of ``topics``, once
        each; answer how many took it. ``last_seq`` and replays are not affected."""
        targets: set[Subscriber] = set()
        for topic in topics:
            subs = self._by_topic.get(topic)
            if subs:
                targets.update(subs)
        frame = text_frame(raw)
        taken = sum(1 for sub in targets if sub.offer_unnumbered(frame))
        self.delivered += taken
        return taken

    def subscribe(self, sub: Subscriber, topics: Iterable[str]) -> int:
        """Register ``sub`` for ``topics`` (replacing earlier ones); answer the current seq.

        Events after the answered seq are held for ``sub`` until :meth:`go_live`; the caller
        replays the history up to the answered seq first.
        """
        self.unsubscribe(sub)
        sub.hold()
        sub.topics = frozenset(topics)
        for topic in sub.topics:
            self._by_topic.setdefault(topic, set()).add(sub)
        return self.last_seq

    def go_live(self, sub: Subscriber, replayed_upto: int) -> None:
        for envelope in sub.take_pending(replayed_upto):
            sub.put_frame(envelope.frame)

    def unsubscribe(self, sub: Subscriber) -> None:
        for topic in sub.topics:
            subs = self._by_topic.get(topic)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_topic[topic]
        sub.topics = frozenset()
