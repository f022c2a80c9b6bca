"""The ``/ws`` endpoint (docs/API.md §6): subscribe, replay from ``since``, then follow live.

Client messages: ``{"type": "subscribe", "topics": [...], "since": N?}`` (replaces the previous
subscription) and ``{"type": "ping"}``; any other type goes to the client's ``on_message`` hook
(a unit's phone sends its positions and status that way). The server answers ``{"type":
"subscribed", "topics", "seq"}``, then events, ``{"type": "error", "code", "message"}`` for
what it refuses, and ``{"type": "feed", "state": "live"|"degraded"}`` when the process loses
or regains Redis.
Messages without a ``seq`` (``unit.moved``, ``unit.updated``: ``Hub.broadcast``) may come
between events: they are not history, are never replayed and do not count for ``since``. Each
connection has its own writer draining a bounded queue; one that falls behind is closed with
1013 (try again later) and reconnects with the last ``seq`` it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import WSCloseCode, WSMsgType, web

from realtime.hub import Envelope, Hub, Subscriber

log = logging.getLogger(__name__)

MAX_TOPICS: Final = 200
MAX_MESSAGE_BYTES: Final = 64 * 1024
TRY_AGAIN_LATER: Final = 1013
#: frames a writer sends in one go, and the socket buffer above which it waits
WRITE_BATCH: Final = 512
HIGH_WATER_BYTES: Final = 256 * 1024
POLICY_VIOLATION: Final = 1008

#: reads history events of ``topics`` with after < seq <= upto, in order, at most ``limit``
TopicReader = Callable[[int, int, Sequence[str], int], Awaitable[list[Envelope]]]
#: a hook for other client messages (unit positions, ...): answers a reply or None
MessageHook = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True)
class Client:
    """Who is connected: the token's id (for revocation) and what it may follow."""

    token_id: str
    may_subscribe: Callable[[str], bool]
    on_message: MessageHook | None = None


def _error(code: str, message: str) -> str:
    return json.dumps({"type": "error", "code": code, "message": message})


async def _replay(sub: Subscriber, frame: bytes, writer: asyncio.Task[None]) -> bool:
    """Queue a replayed frame, waiting for room (a replay waits for the writer, it never drops);
    answer False, having queued nothing, if the writer ended first (the connection closed)."""
    if not sub.queue.full():
        sub.queue.put_nowait(frame)
        return True
    put = asyncio.ensure_future(sub.queue.put(frame))
    try:
        await asyncio.wait((put, writer), return_when=asyncio.FIRST_COMPLETED)
    finally:
        put.cancel()  # nothing if it is done; else it must not outlive the connection
    return put.done() and not put.cancelled()


class Endpoint:
    """Serves WebSocket connections against one hub."""

    def __init__(
        self,
        hub: Hub,
        read_topics: TopicReader,
        *,
        queue_size: int = 2048,
        heartbeat_s: float = 20.0,
        page: int = 500,
    ) -> None:
        self._hub = hub
        self._read_topics = read_topics
        self._queue_size = queue_size
        self._heartbeat_s = heartbeat_s
        self._page = page
        self._sockets: dict[web.WebSocketResponse, str] = {}
        self._subscribers: set[Subscriber] = set()
        self._shedding: set[asyncio.Task[None]] = set()
        self.slow_drops = 0
        self.live = True

    @property
    def connections(self) -> int:
        return len(self._sockets)

    async def serve(self, request: web.Request, client: Client) -> web.WebSocketResponse:
        """Run one connection until it closes."""
        # No per-message compression: frames are built once per event and shared by every
        # connection, which a per-connection deflate context would forbid.
        ws = web.WebSocketResponse(
            heartbeat=self._heartbeat_s, max_msg_size=MAX_MESSAGE_BYTES, compress=False
        )
        await ws.prepare(request)
        transport = request.transport
        assert transport is not None
        self._sockets[ws] = client.token_id
        loop = asyncio.get_running_loop()

        def on_drop(_: Subscriber) -> None:
            self.slow_drops += 1
            self._hub.dropped += 1
            # cannot await here: the hub is delivering
            shedding = loop.create_task(self._shed(ws, transport))
            self._shedding.add(shedding)
            shedding.add_done_callback(self._shedding.discard)

        sub = Subscriber(self._queue_size, on_drop)
        self._subscribers.add(sub)
        writer = loop.create_task(self._write(sub, transport))
        if not self.live:
            sub.put(json.dumps({"type": "feed", "state": "degraded"}))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_text(msg.data, sub, client, writer)
                elif msg.type is WSMsgType.BINARY:
                    sub.put(_error("bad_request", "send JSON text frames"))
                elif msg.type is WSMsgType.ERROR:
                    break
                if sub.dropped:
                    break
        finally:
            self._hub.unsubscribe(sub)
            self._subscribers.discard(sub)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            self._sockets.pop(ws, None)
            if sub.dropped and not ws.closed:
                await ws.close(code=TRY_AGAIN_LATER, message=b"too slow; reconnect with since")
            elif not ws.closed:
                await ws.close()
        return ws

    async def _write(self, sub: Subscriber, transport: asyncio.BaseTransport) -> None:
        """Send the connection's frames: all that are waiting in one write, then wait while
        the socket's buffer is full (the queue fills meanwhile; past it, the hub drops us)."""
        assert isinstance(transport, asyncio.WriteTransport)
        queue = sub.queue
        while True:
            frames = [await queue.get()]
            while not queue.empty() and len(frames) < WRITE_BATCH:
                frames.append(queue.get_nowait())
            if sub.dropped or transport.is_closing():
                return
            transport.write(b"".join(frames))
            while transport.get_write_buffer_size() > HIGH_WATER_BYTES:
                if transport.is_closing():
                    return
                await asyncio.sleep(0.005)

    async def _shed(self, ws: web.WebSocketResponse, transport: asyncio.BaseTransport) -> None:
        """Close a connection that fell behind: politely if it still reads, else abort it."""
        with contextlib.suppress(TimeoutError, ConnectionError, RuntimeError):
            await asyncio.wait_for(
                ws.close(code=TRY_AGAIN_LATER, message=b"too slow; reconnect with since"), 2.0
            )
        if not transport.is_closing():
            transport.abort()  # type: ignore[attr-defined]

    async def _on_text(
        self, data: str, sub: Subscriber, client: Client, writer: asyncio.Task[None]
    ) -> None:
        try:
            message = json.loads(data)
        except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
            sub.put(_error("bad_request", "messages are JSON objects"))
            return
        if not isinstance(message, dict):
            sub.put(_error("bad_request", "messages are JSON objects"))
            return
        kind = message.get("type")
        if kind == "subscribe":
            await self._subscribe(message, sub, client, writer)
        elif kind == "ping":
            sub.put(json.dumps({"type": "pong", "seq": self._hub.last_seq}))
        elif client.on_message is not None:
            reply = await client.on_message(message)
            if reply is not None:
                sub.put(json.dumps(reply, ensure_ascii=False))
        else:
            sub.put(_error("bad_request", f"unknown message type {kind!r}"))

    async def _subscribe(
        self, message: dict[str, Any], sub: Subscriber, client: Client, writer: asyncio.Task[None]
    ) -> None:
        topics = message.get("topics")
        since = message.get("since")
        if (
            not isinstance(topics, list)
            or not topics
            or len(topics) > MAX_TOPICS
            or not all(isinstance(t, str) and 0 < len(t) <= 200 for t in topics)
        ):
            sub.put(_error("bad_request", f"topics: a list of 1 to {MAX_TOPICS} topic names"))
            return
        if since is not None and (
            isinstance(since, bool) or not isinstance(since, int) or since < 0
        ):
            sub.put(_error("bad_request", "since: a non-negative integer seq"))
            return
        refused = [t for t in topics if not client.may_subscribe(t)]
        if refused:
            sub.put(
                json.dumps(
                    {
                        "type": "error",
                        "code": "forbidden",
                        "message": "this token may not follow these topics",
                        "topics": refused,
                    },
                    ensure_ascii=False,
                )
            )
            return
        upto = self._hub.subscribe(sub, topics)
        sub.put(json.dumps({"type": "subscribed", "topics": topics, "seq": upto}))
        after = since if since is not None else upto
        while after < upto and not sub.dropped:
            page = await self._read_topics(after, upto, topics, self._page)
            for envelope in page:
                if not await _replay(sub, envelope.frame, writer):
                    return  # the connection is gone: its handler must end, not wait here
            if len(page) < self._page:
                break
            after = page[-1].seq
        self._hub.go_live(sub, upto)

    def feed_state(self, live: bool) -> None:
        """Tell every connection whether the live feed is followed (Redis) or degraded.

        While degraded, events still arrive, read from the history about once a second.
        """
        self.live = live
        notice = json.dumps({"type": "feed", "state": "live" if live else "degraded"})
        for sub in list(self._subscribers):
            sub.put(notice)

    async def close_token(self, token_id: str) -> int:
        """Close every connection of a revoked token; answer how many."""
        doomed = [ws for ws, tid in self._sockets.items() if tid == token_id]
        for ws in doomed:
            await ws.close(code=POLICY_VIOLATION, message=b"token revoked")
        return len(doomed)

    async def close_all(self) -> None:
        """Close every connection with 1001 (going away): the server is stopping."""
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
