"""The soak's clients: consoles that follow ``all``, and the mixed load, each in its processes.

:func:`console_worker` runs many :class:`SoakConsole` (a :class:`realtime.client.RawConsole`:
it parses frame headers and each event's ``seq``, answers pings, notes how it ended; one in N
also notes when each ``incident.created`` arrives), bringing back with ``since`` any the server
drops, as a console does. :func:`load_worker` posts reports open-loop, takes actions on the
dispatched incidents and moves units. Both answer their parent's ``report`` with what they saw
since the last one, and stop on ``stop``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import time
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp

from bench.load import REQUEST_TIMEOUT_S, ReportMaker
from bench.processes import serve_pipe
from realtime.client import (
    NORMAL_CLOSURE,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    RawConsole,
    subscribe,
    upgrade_request,
)

READY_TIMEOUT_S: Final = 120.0
CONNECT_BATCH: Final = 50
RECONNECT_AFTER_S: Final = 1.0
MAX_INFLIGHT: Final = 256
SQUADS: Final = (("sq-west", 121.401, 31.201), ("sq-east", 121.501, 31.201))
STREET_SIZE: Final = 0.098
OUTCOMES: Final = ("corrected_on_spot", "advised_and_educated", "cleared", "no_violation_found")
_SEQ: Final = re.compile(rb'\{"seq":(\d+),"type":"([a-z.]+)"')
_CREATED_ID: Final = re.compile(rb'"incident":\{"id":"([^"]+)"')

# -- the consoles (their own processes) ------------------------------------------------------


@dataclass(frozen=True)
class ConsoleSpec:
    host: str
    port: int
    token: str
    count: int
    #: console k notes the arrival of every incident.created when k % sample_every == 0
    sample_every: int
    #: the first console's number, so that sampling spreads over processes
    first: int = 0


class SoakConsole(RawConsole):
    """A console on ``all``: checks that ``seq`` grows, answers pings, notes how it ended."""

    def __init__(self, owner: ConsoleFleet, number: int, sampled: bool, since: int | None) -> None:
        spec = owner.spec
        super().__init__(upgrade_request(spec.host, spec.port, spec.token))
        self._owner = owner
        self.number = number
        self._sampled = sampled
        self._since = since
        self.last_seq = since or 0
        self.closing = False

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._owner.lost(self)

    def handshake(self, head: str) -> bool:
        if not head.startswith("HTTP/1.1 101"):
            self._owner.errors["console handshake refused"] += 1
            self.close()
            return False
        self.send(OP_TEXT, subscribe(["all"], self._since))
        return True

    def on_frame(self, first: int, buffer: bytearray, start: int, end: int, now: float) -> None:
        owner = self._owner
        opcode = first & 0x0F
        if opcode == OP_TEXT:
            owner.messages += 1
            head = _SEQ.match(buffer, start, min(end, start + 64))
            if head is not None:
                seq, kind = int(head[1]), head[2].decode()
                found = _CREATED_ID.search(buffer, head.end(), end) if self._sampled else None
                incident_id = found[1].decode() if found else None
            elif buffer.find(b'"seq"', start, end) < 0:
                return  # unit.moved, unit.updated, feed: no seq, not events
            else:
                message = json.loads(buffer[start:end])
                if "incident" not in message:
                    # subscribed, pong: not events
                    if message.get("type") == "subscribed" and not self.subscribed.done():
                        self.subscribed.set_result(None)
                    return
                # an event read back from PostgreSQL (a replay, or the server filling a gap
                # between commits published out of order): jsonb's own text, keys reordered
                owner.notes["events in PostgreSQL's jsonb text"] += 1
                seq, kind = int(message["seq"]), str(message["type"])
                incident_id = str(message["incident"]["id"])
            if seq <= self.last_seq:
                owner.errors["console seq out of order"] += 1
            self.last_seq = seq
            if self._sampled and kind == "incident.created" and incident_id is not None:
                owner.arrivals.append((incident_id, now))
        elif opcode == OP_PING:
            self.send(OP_PONG, bytes(buffer[start:end]))
        elif opcode == OP_CLOSE:
            self.closed_by_server(buffer[start:end], answer=True)

    def close(self) -> None:
        self.closing = True
        self.send(OP_CLOSE, NORMAL_CLOSURE.to_bytes(2, "big"))
        if self.transport is not None:
            self.transport.close()


class ConsoleFleet:
    """The consoles of one process; a console the server closes comes back with ``since``."""

    def __init__(self, spec: ConsoleSpec) -> None:
        self.spec = spec
        self.open: set[SoakConsole] = set()
        self.arrivals: list[tuple[str, float]] = []
        self.errors: Counter[str] = Counter()
        #: what is worth knowing and is not an error
        self.notes: Counter[str] = Counter()
        self.messages = 0
        self.stopping = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def connect(self, number: int, since: int | None = None) -> SoakConsole:
        loop = asyncio.get_running_loop()
        sampled = (self.spec.first + number) % self.spec.sample_every == 0
        _, console = await loop.create_connection(
            lambda: SoakConsole(self, number, sampled, since), self.spec.host, self.spec.port
        )
        # a console brought back is not awaited: a failure to subscribe shows as its loss
        console.subscribed.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.open.add(console)
        return console

    def lost(self, console: SoakConsole) -> None:
        self.open.discard(console)
        if console.closing or self.stopping:
            return
        # the server ended it: count why, and come back where it stopped, as a console does
        code = console.close_code
        self.errors[f"console dropped ({code if code is not None else 'no close frame'})"] += 1
        task = asyncio.get_running_loop().create_task(self._reconnect(console))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reconnect(self, console: SoakConsole) -> None:
        await asyncio.sleep(RECONNECT_AFTER_S)
        if self.stopping:
            return
        try:
            await self.connect(console.number, since=console.last_seq)
        except OSError as exc:
            self.errors[f"console reconnect {type(exc).__name__}"] += 1

    def report(self) -> dict[str, Any]:
        """What happened since the last report; starts over."""
        out = {
            "open": len(self.open),
            "messages": self.messages,
            "arrivals": self.arrivals,
            "errors": dict(self.errors),
            "notes": dict(self.notes),
        }
        self.arrivals, self.errors, self.notes, self.messages = [], Counter(), Counter(), 0
        return out


def console_worker(conn: Any, spec: ConsoleSpec) -> None:
    """Run ``spec.count`` consoles; answer ``report`` with :meth:`ConsoleFleet.report`, stop
    on ``stop`` (with a last report). Failures are sent as ``("error", text)``."""
    serve_pipe(conn, _console_worker(conn, spec))


async def _console_worker(conn: Any, spec: ConsoleSpec) -> None:
    loop = asyncio.get_running_loop()
    fleet = ConsoleFleet(spec)
    made: list[SoakConsole] = []
    for first in range(0, spec.count, CONNECT_BATCH):
        batch = range(first, min(first + CONNECT_BATCH, spec.count))
        made += await asyncio.gather(*(fleet.connect(n) for n in batch))
    async with asyncio.timeout(READY_TIMEOUT_S):
        await asyncio.gather(*(c.subscribed for c in made))
    conn.send(("ready", len(made)))
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command == "stop":
            fleet.stopping = True
            for console in list(fleet.open):
                console.close()
            conn.send(("report", fleet.report()))
            return
        conn.send(("report", fleet.report()))


# -- the load: intake, actions, positions (its own process) ---------------------------------


@dataclass(frozen=True)
class LoadSpec:
    base: str
    device_token: str
    operator_token: str
    rate: float
    units: int
    position_every_s: float
    tag: str


@dataclass
class Load:
    """What the load saw since the last report."""

    intake_ms: list[float] = field(default_factory=list)
    #: (incident id, when its 201 arrived), for the delivery latency
    answered: list[tuple[str, float]] = field(default_factory=list)
    action_ms: list[float] = field(default_factory=list)
    position_ms: list[float] = field(default_factory=list)
    late_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


def unit_ids(count: int) -> Iterator[tuple[str, str, float, float]]:
    """(unit id, squad, lon, lat of its first place) of ``count`` units, half in each street."""
    rng = random.Random(11)
    for n in range(count):
        squad, lon, lat = SQUADS[n % len(SQUADS)]
        yield (
            f"soak-{n:04d}",
            squad,
            lon + rng.random() * STREET_SIZE,
            lat + rng.random() * STREET_SIZE,
        )


class Loader:
    def __init__(self, spec: LoadSpec, session: aiohttp.ClientSession) -> None:
        self.spec = spec
        self.session = session
        self.now = Load()
        self.stopping = False
        self.rng = random.Random(5)
        #: requests in flight, awaited at the end
        self.tasks: set[asyncio.Task[None]] = set()
        #: actions not due yet, dropped at the end
        self.timers: dict[int, asyncio.TimerHandle] = {}
        self._keys = itertools.count()
        self.slots = asyncio.Semaphore(MAX_INFLIGHT)

    def spawn(self, request: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(request)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def later(self, delay_s: float, incident_id: str, steps: tuple[str, ...]) -> None:
        """Take the first of ``steps`` on the incident in ``delay_s``, then the rest."""
        key = next(self._keys)
        self.timers[key] = asyncio.get_running_loop().call_later(
            delay_s, self._due, key, incident_id, steps
        )

    def _due(self, key: int, incident_id: str, steps: tuple[str, ...]) -> None:
        del self.timers[key]
        if not self.stopping:
            self.spawn(self._act(incident_id, steps))

    def stop(self) -> None:
        self.stopping = True
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()

    async def _request(self, kind: str, path: str, body: Any, token: str) -> tuple[int, Any]:
        """POST; answer (status, JSON body or None); count what went wrong under ``kind``."""
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        began = time.perf_counter()  # waiting for a free connection counts: the load is open
        async with self.slots:
            try:
                async with self.session.post(
                    self.spec.base + path, data=data, headers=headers
                ) as resp:
                    text = await resp.read()
                    status = resp.status
            except TimeoutError:
                self.now.errors[f"{kind} timeout"] += 1
                return 0, None
            except aiohttp.ClientError as exc:
                self.now.errors[f"{kind} {type(exc).__name__}"] += 1
                return 0, None
        took = (time.perf_counter() - began) * 1000
        if not 200 <= status < 300:
            self.now.errors[f"{kind} HTTP {status}"] += 1
            return status, None
        {"intake": self.now.intake_ms, "action": self.now.action_ms}.get(
            kind, self.now.position_ms
        ).append(took)
        return status, json.loads(text) if text else None

    async def intake(self, n: int, maker: ReportMaker) -> None:
        status, body = await self._request(
            "intake", "/api/v1/incidents", maker.make(n), self.spec.device_token
        )
        if status == 201 and body is not None:
            self.now.answered.append((str(body["id"]), time.time()))
            if body.get("state") == "dispatched":
                self.later(
                    self.rng.uniform(5, 20), str(body["id"]), ("accept", "resolve", "verify")
                )

    async def _act(self, incident_id: str, steps: tuple[str, ...]) -> None:
        action, rest = steps[0], steps[1:]
        body: dict[str, Any] = {"action": action}
        if action == "resolve":
            body["outcome"] = self.rng.choice(OUTCOMES)
        elif action == "verify":
            body["passed"] = self.rng.random() >= 0.05
            if not body["passed"]:
                body["note"] = "现场复核未整改到位，返工"
                rest = ("accept", "resolve", "verify")
        status, _ = await self._request(
            "action", f"/api/v1/incidents/{incident_id}/actions", body, self.spec.operator_token
        )
        if status == 200 and rest:
            wait = {"accept": (5, 20), "resolve": (10, 40), "verify": (5, 20)}[rest[0]]
            self.later(self.rng.uniform(*wait), incident_id, rest)

    async def run_intake(self) -> None:
        maker = ReportMaker(self.spec.tag)
        start = time.time() + 0.2
        for n in itertools.count():
            if self.stopping:
                return
            due = start + n / self.spec.rate
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.now.late_ms.append(max(0.0, time.time() - due) * 1000)
            self.spawn(self.intake(n, maker))

    async def run_units(self) -> None:
        units = list(unit_ids(self.spec.units))
        places = {uid: [lon, lat] for uid, _, lon, lat in units}
        period = self.spec.position_every_s
        start = time.time()
        for n in itertools.count():
            if self.stopping:
                return
            uid = units[n % len(units)][0]
            due = start + n * period / len(units)
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            place = places[uid]  # about 1.5 m/s: 15 m in 10 s, a car in town or an officer
            place[0] += self.rng.uniform(-0.00015, 0.00015)
            place[1] += self.rng.uniform(-0.00015, 0.00015)
            body = {"lon": round(place[0], 6), "lat": round(place[1], 6)}
            self.spawn(self._position(uid, body))

    async def _position(self, uid: str, body: dict[str, Any]) -> None:
        path = f"/api/v1/units/{uid}/position"
        await self._request("position", path, body, self.spec.operator_token)

    def report(self) -> Load:
        out, self.now = self.now, Load()
        return out


def load_worker(conn: Any, spec: LoadSpec) -> None:
    """Run the load until ``stop``; answer each ``report`` with a :class:`Load`."""
    serve_pipe(conn, _load_worker(conn, spec))


async def _load_worker(conn: Any, spec: LoadSpec) -> None:
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=MAX_INFLIGHT, limit_per_host=MAX_INFLIGHT)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        loader = Loader(spec, session)
        drivers = [loop.create_task(loader.run_intake()), loop.create_task(loader.run_units())]
        conn.send(("ready", 0))
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command == "stop":
                break
            conn.send(("report", loader.report()))
        loader.stop()
        await asyncio.gather(*drivers)
        # requests in flight end by themselves (answered, or timed out and counted)
        await asyncio.gather(*list(loader.tasks))
        conn.send(("report", loader.report()))
