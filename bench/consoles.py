"""Clients of ``bench_fanout``: WebSocket consoles that time each event, and a paced poster.

A console is a :class:`realtime.client.RawConsole` (RFC 6455: handshake, masked client frames,
ping/pong, close) that also inflates permessage-deflate. aiohttp's client costs several times
more CPU per message, and 200 consoles at 500 events/s are 100,000 messages a second on a
machine the server shares: the cheaper the client, the less the measurement measures itself.
Every frame of one read is stamped with the wall-clock time of that read (``time.time()``, so
that times from different processes of the machine compare).

Events are recognised without decoding the whole JSON: the server writes ``{"seq":N,
"type":"...",...,"incident":{"id":"..."`` (``Event.to_json``); one message in 50 is also
decoded with ``json.loads`` and compared, and any other shape falls back to ``json.loads``.

:func:`console_worker` runs many consoles in one process and talks to its parent over a pipe;
:func:`paced_poster` posts reports open-loop at a fixed rate.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import json
import math
import re
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp

from bench.load import REQUEST_TIMEOUT_S, ReportMaker
from bench.processes import serve_pipe
from realtime.client import (
    NORMAL_CLOSURE,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    RawConsole,
    subscribe,
    upgrade_request,
)

_HEAD: Final = re.compile(rb'\{"seq":(\d+),"type":"([^"]+)"')
_INCIDENT_ID: Final = b'"incident":{"id":"'
_DEFLATE_TAIL: Final = b"\x00\x00\xff\xff"
CHECK_EVERY: Final = 50
CONNECT_BATCH: Final = 25
SUBSCRIBE_TIMEOUT_S: Final = 30.0


class Console(RawConsole):
    """One console: connects to ``/ws``, subscribes to ``topics``, records incident events."""

    def __init__(self, host: str, port: int, token: str, topics: list[str], deflate: bool) -> None:
        super().__init__(upgrade_request(host, port, token, deflate=deflate))
        self._subscribe = subscribe(topics)
        self._inflater: Any = None
        self._fragments: list[bytes] = []
        self._fragment_compressed = False
        #: incident id -> wall-clock time its first incident.created arrived
        self.arrivals: dict[str, float] = {}
        self.duplicates = 0
        self.seq_errors = 0
        self.check_mismatches = 0
        self.messages = 0
        self.last_seq = 0
        self.other: Counter[str] = Counter()
        self.compressed = False

    def handshake(self, head: str) -> bool:
        status = head.split("\r\n", 1)[0]
        if " 101 " not in status + " ":
            self.other[f"handshake {status}"] += 1
            if not self.subscribed.done():
                self.subscribed.set_exception(ConnectionError(f"handshake refused: {status}"))
            assert self.transport is not None
            self.transport.close()
            return False
        if "permessage-deflate" in head.lower():
            self.compressed = True
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self.send(OP_TEXT, self._subscribe)
        return True

    def close(self) -> None:
        """Start a normal close (1000); :attr:`closed` resolves when the connection is gone."""
        self.send(OP_CLOSE, NORMAL_CLOSURE.to_bytes(2, "big"))
        if self.transport is not None:
            loop = asyncio.get_running_loop()
            loop.call_later(2.0, self.transport.close)

    def on_frame(self, first: int, buffer: bytearray, start: int, end: int, now: float) -> None:
        payload = bytes(buffer[start:end])
        opcode = first & 0x0F
        if opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
            if opcode != OP_CONTINUATION:
                self._fragment_compressed = bool(first & 0x40)
            self._fragments.append(payload)
            if not first & 0x80:
                return
            message = b"".join(self._fragments)
            self._fragments = []
            if self._fragment_compressed and self._inflater is not None:
                message = self._inflater.decompress(message + _DEFLATE_TAIL)
            self._on_message(message, now)
        elif opcode == OP_PING:
            self.send(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            self.closed_by_server(payload, answer=True)

    def _on_message(self, message: bytes, now: float) -> None:
        self.messages += 1
        head = _HEAD.match(message)
        if head is None:
            self._on_decoded(json.loads(message), now)
            return
        seq = int(head[1])
        kind = head[2].decode()
        incident_id = None
        if kind == "incident.created":
            at = message.find(_INCIDENT_ID, head.end())
            if at < 0:
                self._on_decoded(json.loads(message), now)
                return
            at += len(_INCIDENT_ID)
            incident_id = message[at : message.index(b'"', at)].decode()
        if self.messages % CHECK_EVERY == 0:
            decoded = json.loads(message)
            found = (decoded.get("incident") or {}).get("id") if incident_id else None
            if decoded.get("seq") != seq or decoded.get("type") != kind or found != incident_id:
                self.check_mismatches += 1
        self._on_event(seq, kind, incident_id, now)

    def _on_decoded(self, message: Any, now: float) -> None:
        kind = str(message.get("type")) if isinstance(message, dict) else "?"
        if isinstance(message, dict) and "seq" in message and "incident" in message:
            incident_id = message["incident"].get("id") if kind == "incident.created" else None
            self._on_event(int(message["seq"]), kind, incident_id, now)
            return
        self.other[kind] += 1
        if kind == "subscribed" and not self.subscribed.done():
            self.subscribed.set_result(None)
        elif kind == "error" and not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError(f"subscription refused: {message}"))

    def _on_event(self, seq: int, kind: str, incident_id: str | None, now: float) -> None:
        if seq <= self.last_seq:
            self.seq_errors += 1
        self.last_seq = max(self.last_seq, seq)
        if incident_id is None:
            self.other[kind] += 1
        elif incident_id in self.arrivals:
            self.duplicates += 1
        else:
            self.arrivals[incident_id] = now


@dataclass
class ConsoleReport:
    """What one console saw, against the incidents the poster created."""

    #: arrival time of each expected incident, in the order given; NaN when it never came
    arrivals: array.array[float]
    unexpected: int
    duplicates: int
    seq_errors: int
    check_mismatches: int
    close_code: int | None
    compressed: bool
    other: dict[str, int] = field(default_factory=dict)

    @property
    def missing(self) -> int:
        return sum(1 for t in self.arrivals if math.isnan(t))


@dataclass(frozen=True)
class ConsoleSpec:
    host: str
    port: int
    token: str
    count: int
    deflate: bool = False
    topics: tuple[str, ...] = ("all",)


def console_worker(conn: Any, spec: ConsoleSpec) -> None:
    """Run ``spec.count`` consoles in this process, steered over the pipe ``conn``.

    Sends ``("ready", n)`` once all are subscribed; then waits for ``("finish", ids, drain_s)``,
    gives the consoles up to ``drain_s`` seconds to receive every id, closes them and sends
    ``("done", [ConsoleReport, ...])``. Any failure is sent as ``("error", text)``.
    """
    serve_pipe(conn, _console_worker(conn, spec))


async def _console_worker(conn: Any, spec: ConsoleSpec) -> None:
    loop = asyncio.get_running_loop()
    consoles: list[Console] = []
    for first in range(0, spec.count, CONNECT_BATCH):
        batch = range(first, min(first + CONNECT_BATCH, spec.count))
        made = await asyncio.gather(
            *(
                loop.create_connection(
                    lambda: Console(
                        spec.host, spec.port, spec.token, list(spec.topics), spec.deflate
                    ),
                    spec.host,
                    spec.port,
                )
                for _ in batch
            )
        )
        consoles.extend(protocol for _, protocol in made)
    async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
        await asyncio.gather(*(c.subscribed for c in consoles))
    conn.send(("ready", len(consoles)))
    command, expected, drain_s = await loop.run_in_executor(None, conn.recv)
    assert command == "finish"
    deadline = loop.time() + drain_s
    wanted = set(expected)
    while loop.time() < deadline:
        pending = [
            c for c in consoles if not c.closed.done() and not wanted.issubset(c.arrivals.keys())
        ]
        if not pending:
            break
        await asyncio.sleep(0.1)
    for console in consoles:
        console.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(c.closed for c in consoles)), 5.0)
    reports = []
    for console in consoles:
        nan = float("nan")
        times = array.array("d", (console.arrivals.get(i, nan) for i in expected))
        reports.append(
            ConsoleReport(
                arrivals=times,
                unexpected=sum(1 for i in console.arrivals if i not in wanted),
                duplicates=console.duplicates,
                seq_errors=console.seq_errors,
                check_mismatches=console.check_mismatches,
                close_code=console.close_code,
                compressed=console.compressed,
                other=dict(console.other),
            )
        )
    conn.send(("done", reports))


# -- the paced poster --------------------------------------------------------------------------


@dataclass(frozen=True)
class PaceSpec:
    """Post ``rate`` reports a second for ``seconds``, at most ``max_inflight`` unanswered."""

    url: str
    token: str
    rate: float
    seconds: float
    max_inflight: int
    tag: str
    #: the first report slot (see ``bench.load.ReportMaker``)
    first: int = 0


@dataclass
class PosterResult:
    planned: int
    #: per created incident: its id and when its 201 arrived (time.time())
    ids: list[str]
    answered_at: list[float]
    answer_ms: list[float]
    first_sent: float
    last_sent: float
    last_answered: float
    #: how late each send was against its schedule, ms
    late_ms: list[float]
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return len(self.late_ms)

    @property
    def send_rate(self) -> float:
        span = self.last_sent - self.first_sent
        return (self.sent - 1) / span if span > 0 else float("nan")

    @property
    def error_count(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())


def paced_poster(spec: PaceSpec) -> PosterResult:
    """Post open-loop: request n leaves at start + n/rate whether or not earlier ones were
    answered (unless ``max_inflight`` are outstanding, which shows as lateness)."""
    return asyncio.run(_paced_poster(spec))


async def _paced_poster(spec: PaceSpec) -> PosterResult:
    maker = ReportMaker(spec.tag, spec.first)
    headers = {"Authorization": f"Bearer {spec.token}", "Content-Type": "application/json"}
    planned = round(spec.rate * spec.seconds)
    slots = asyncio.Semaphore(spec.max_inflight)
    created: list[tuple[int, str, float, float]] = []
    late_ms: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    sent_at: list[float] = []
    connector = aiohttp.TCPConnector(limit=spec.max_inflight, limit_per_host=spec.max_inflight)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def post(n: int, sent: float) -> None:
            try:
                async with session.post(spec.url, data=maker.make(n), headers=headers) as resp:
                    body = await resp.read()
                    answered = time.time()
                    if resp.status == 201:
                        created.append((n, json.loads(body)["id"], answered, sent))
                    else:
                        statuses[resp.status] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                errors[type(exc).__name__] += 1
            finally:
                slots.release()

        tasks: list[asyncio.Task[None]] = []
        start = time.time() + 0.2
        for n in range(planned):
            due = start + n / spec.rate
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            sent = time.time()
            late_ms.append((sent - due) * 1000)
            sent_at.append(sent)
            tasks.append(asyncio.create_task(post(n, sent)))
        await asyncio.gather(*tasks)
    created.sort()
    return PosterResult(
        planned=planned,
        ids=[c[1] for c in created],
        answered_at=[c[2] for c in created],
        answer_ms=[(c[2] - c[3]) * 1000 for c in created],
        first_sent=sent_at[0] if sent_at else float("nan"),
        last_sent=sent_at[-1] if sent_at else float("nan"),
        last_answered=max((c[2] for c in created), default=float("nan")),
        late_ms=late_ms,
        statuses=dict(statuses),
        errors=dict(errors),
    )
