"""A soak: ten times a city's peak traffic against one server for minutes, watched as it runs.

One private deployment (``bench.deployment.running_stack``: PostgreSQL with fsync on, Redis, ONE
``dispatch serve`` with its default settings, the integration tests' town) takes, all at once:

- **intake** open-loop at ``--rate`` reports a second (camera and hotline reports shaped by
  ``bench.load.ReportMaker``, each its own place and id), from a device token;
- **actions**: every incident that arrives dispatched is signed for (``accept``) 5-20 s after
  its answer, resolved 10-40 s later and verified 5-20 s after that; one verification in 20
  fails (返工), which sends it back to be signed for again;
- **units**: ``--units`` units in the two street squads, each posting its position every
  ``--position-every`` seconds (``POST /api/v1/units/{id}/position``), walking about;
- **consoles**: ``--consoles`` WebSocket consoles on ``all`` (operator token) in
  ``--console-processes`` processes, on a minimal client that parses frame headers and each
  event's ``seq`` (strictly increasing, or it is an error), answers pings, and reconnects with
  ``since`` when the server drops it; one console in ``--sample-every`` also notes when each
  ``incident.created`` arrives, for the delivery latency.

The assumed peak: a big city's command centre taking reports from the 12345 hotline, grid
inspectors and AI cameras, about 60,000 a day of which 12% in the busiest hour: 7,200 an hour,
2 a second. Ten times that is the default ``--rate 20``. (One district's 3,000 a day would
peak at 300 an hour, 0.08 a second.)

Every ``--interval`` seconds it prints the server's RSS and CPU, the open connections, the
intake latency (p50/p95/p99), the latency from the intake's 201 to the event on the sampled
consoles (p50/p99), the actions' p99, and errors by kind: non-2xx answers, timeouts, consoles
dropped by the server, events out of order; at the end a summary, with the RSS trend over the
second half. Everything stops by itself after ``--minutes``::

    .venv/bin/python -m bench.bench_soak [--minutes 10] [--rate 20] [--consoles 2000]

On the 2-core development VM, 2,000 consoles with the rest of this load overload one server
process (docs/PERFORMANCE.md, "Soak"); the 10-minute figures there were taken with
``--consoles 500``. ``--server-log FILE`` keeps a copy of the server's log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import secrets
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp

if __package__ in (None, ""):  # run as a file: make `bench` and the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import soak_clients
from bench.conditions import conditions, print_conditions
from bench.cpu import CpuSampler
from bench.deployment import ADMIN_TOKEN, HOST, Stack, running_stack, scrape
from bench.figures import fmt, percentile, table
from bench.load import REQUEST_TIMEOUT_S
from bench.processes import receive, workers
from bench.soak_clients import ConsoleSpec, Load, LoadSpec, console_worker, load_worker, unit_ids

READY_TIMEOUT_S: Final = soak_clients.READY_TIMEOUT_S
SLOW_DROPS: Final = "dispatch_ws_slow_consumer_drops"


# -- the run ---------------------------------------------------------------------------------


def ask(conn: Any, command: str, expect: str, timeout: float) -> Any:
    conn.send(command)
    return receive(conn, expect, timeout)


async def put_units(base: str, count: int) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for uid, squad, lon, lat in unit_ids(count):
            body = {"squad_id": squad, "name": f"巡查车 {uid}", "skills": []}
            async with session.put(f"{base}/api/v1/units/{uid}", json=body) as resp:
                if resp.status >= 300:
                    raise RuntimeError(f"PUT unit {uid}: {resp.status} {await resp.text()}")
            where = {"lon": round(lon, 6), "lat": round(lat, 6)}
            async with session.post(f"{base}/api/v1/units/{uid}/position", json=where) as resp:
                if resp.status >= 300:
                    raise RuntimeError(f"position {uid}: {resp.status} {await resp.text()}")


async def explain(base: str, ids: list[str], matcher: Matcher, sampled: int, start: float) -> str:
    """For each incident: when it was answered, how many sampled consoles got it, and its
    history as the server keeps it (seq and type of each event)."""
    lines = []
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for incident_id in ids:
            async with session.get(f"{base}/api/v1/incidents/{incident_id}") as resp:
                doc = await resp.json() if resp.status == 200 else {}
            history = [
                f"{h.get('seq')}:{h.get('type')}/{h.get('action')}" for h in doc.get("history", [])
            ]
            lines.append(
                f"  {incident_id}: answered at +{matcher.answered[incident_id] - start:.1f}s, "
                f"reached {matcher.arrivals[incident_id]}/{sampled} sampled consoles; "
                f"state {doc.get('state')}; history {' '.join(history)}"
            )
    return "\n".join(lines)


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


@dataclass
class Interval:
    """One row of the report."""

    minute: float
    seconds: float
    rss_mib: float
    connections: float
    server_cpu: float | None
    machine_cpu: float | None
    intakes: int
    intake_ms: tuple[float, float, float]
    delivery_ms: tuple[float, float]
    deliveries: int
    actions: int
    action_p99_ms: float
    positions: int
    position_p99_ms: float
    late_p99_ms: float
    messages: int
    errors: dict[str, int]
    notes: dict[str, int]


HEADERS: Final = (
    "min",
    "RSS MiB",
    "conns",
    "srv CPU%",
    "busy%",
    "intake/s",
    "p50",
    "p95",
    "p99",
    "deliv p50",
    "deliv p99",
    "act/s",
    "act p99",
    "pos/s",
    "pos p99",
    "msgs/s",
    "errors",
)


def row(i: Interval) -> list[str]:
    seconds = i.seconds
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(i.errors.items())) or "none"
    return [
        f"{i.minute:.1f}",
        fmt(i.rss_mib, 0),
        fmt(i.connections, 0),
        fmt(i.server_cpu, 0),
        fmt(i.machine_cpu, 0),
        fmt(i.intakes / seconds, 1),
        *(fmt(v, 0) for v in i.intake_ms),
        *(fmt(v, 0) for v in i.delivery_ms),
        fmt(i.actions / seconds, 1),
        fmt(i.action_p99_ms, 0),
        fmt(i.positions / seconds, 1),
        fmt(i.position_p99_ms, 0),
        fmt(i.messages / seconds, 0),
        errors,
    ]


class Matcher:
    """Pairs each incident's 201 with its arrivals on the sampled consoles."""

    def __init__(self) -> None:
        self.answered: dict[str, float] = {}
        self.arrivals: Counter[str] = Counter()
        #: every latency measured, ms
        self.latencies: list[float] = []
        self._waiting: list[tuple[str, float]] = []

    def match(
        self, answered: list[tuple[str, float]], arrived: list[tuple[str, float]]
    ) -> list[float]:
        """The latencies (ms) of the pairs now complete; arrivals whose answer is not known yet
        (the event beat the load's report of its 201) wait for the next call."""
        self.answered.update(answered)
        out: list[float] = []
        waiting: list[tuple[str, float]] = []
        for incident_id, at in [*self._waiting, *arrived]:
            answer = self.answered.get(incident_id)
            if answer is None:
                waiting.append((incident_id, at))
                continue
            self.arrivals[incident_id] += 1
            out.append((at - answer) * 1000)
        self._waiting = waiting
        self.latencies += out
        return out

    def missing(self, sampled: int) -> int:
        """Arrivals the sampled consoles should have had and did not."""
        return sum(max(0, sampled - self.arrivals[i]) for i in self.answered)

    def short(self, sampled: int) -> list[str]:
        """The incidents that some sampled console did not get, in the order answered."""
        return [i for i in self.answered if self.arrivals[i] < sampled]

    def unexpected(self) -> int:
        """Arrivals of incidents that the load never saw answered (or more than once each)."""
        return len(self._waiting)


def run(args: argparse.Namespace) -> int:
    intervals: list[Interval] = []
    totals = Load()
    matcher = Matcher()
    counters: dict[str, float] = {}
    per = [args.consoles // args.console_processes] * args.console_processes
    per[0] += args.consoles - sum(per)
    sampled = sum(1 for k in range(args.consoles) if k % args.sample_every == 0)
    with running_stack() as stack, CpuSampler(interval=0.5) as cpu:
        cpu.watch("server", stack.server.pid)
        cpu.watch("postgres", stack.postgres.pid, tree=True)
        cpu.watch("redis", stack.redis.pid)
        found = conditions(stack)
        found["load"] = (
            f"{args.rate:g} reports/s open-loop (10x an assumed city peak of "
            f"{args.rate / 10:g}/s); actions on every incident that arrives dispatched (accept, "
            f"resolve, verify; 5% reworked); {args.units} units each posting a position every "
            f"{args.position_every:g}s; {args.consoles} consoles on `all` in "
            f"{args.console_processes} processes ({sampled} sampled for delivery latency); "
            f"{args.minutes:g} min, a row every {args.interval:g}s"
        )
        print("Soak: mixed traffic against one server")
        print_conditions(found)
        asyncio.run(put_units(stack.base, args.units))
        specs = [
            (
                console_worker,
                ConsoleSpec(
                    HOST,
                    stack.port,
                    stack.operator_token,
                    n,
                    args.sample_every,
                    first=sum(per[:i]),
                ),
            )
            for i, n in enumerate(per)
        ]
        with workers(specs, join_s=10) as fleet:
            began = time.monotonic()
            for i, (process, conn) in enumerate(fleet):
                receive(conn, "ready", READY_TIMEOUT_S)
                cpu.watch(f"consoles{i}", process.pid)
            print(f"  {args.consoles} consoles subscribed in {time.monotonic() - began:.1f}s")
            spec = LoadSpec(
                stack.base,
                stack.device_token,
                stack.operator_token,
                args.rate,
                args.units,
                args.position_every,
                tag=f"soak-{secrets.token_hex(3)}",
            )
            with workers([(load_worker, spec)], join_s=10) as loaders:
                process, loader = loaders[0]
                receive(loader, "ready", READY_TIMEOUT_S)
                cpu.watch("load", process.pid)
                print()
                print(table(HEADERS, []))
                start = time.time()
                end = start + args.minutes * 60
                tick = start
                while tick < end:
                    t0, tick = tick, min(tick + args.interval, end)
                    time.sleep(max(0.0, tick - time.time()))
                    load = ask(loader, "report", "report", 60)
                    seen = [ask(conn, "report", "report", 60) for _, conn in fleet]
                    interval = figures(stack, cpu, (t0, tick, start), load, seen, matcher, counters)
                    intervals.append(interval)
                    accumulate(totals, load)
                    print(table(HEADERS, [row(interval)]).splitlines()[-1], flush=True)
                load = ask(loader, "stop", "report", REQUEST_TIMEOUT_S + 30)
            time.sleep(3)  # the last events reach the consoles
            seen = [ask(conn, "stop", "report", 60) for _, conn in fleet]
        tail = figures(stack, cpu, (end, time.time(), start), load, seen, matcher, counters)
        accumulate(totals, load)
        cpu_use = {
            name: cpu.percent(name, start, end)
            for name in (
                "server",
                "postgres",
                "redis",
                "load",
                *(f"consoles{i}" for i in range(len(per))),
            )
        }
        whole = cpu.machine(start, end)
        cpu_use["machine"], cpu_use["stolen"] = whole.get("busy"), whole.get("steal")
        if args.server_log:
            shutil.copyfile(stack.folder / "serve.log", args.server_log)
        short = matcher.short(sampled)
        if short:
            print(f"\n{len(short)} incidents answered 201 did not reach every sampled console:")
            print(asyncio.run(explain(stack.base, short[:10], matcher, sampled, start)))
    summarize(intervals, tail, totals, matcher, sampled, cpu_use)
    return 0


def accumulate(totals: Load, load: Load) -> None:
    totals.intake_ms += load.intake_ms
    totals.action_ms += load.action_ms
    totals.position_ms += load.position_ms
    totals.late_ms += load.late_ms
    totals.errors.update(load.errors)


def figures(
    stack: Stack,
    cpu: CpuSampler,
    times: tuple[float, float, float],
    load: Load,
    seen: list[dict[str, Any]],
    matcher: Matcher,
    counters: dict[str, float],
) -> Interval:
    """One interval's row: (its start, its end, the run's start) and what the workers saw.

    ``counters`` holds the server's counters as last read, and is updated.
    """
    t0, t1, start = times
    delivered = matcher.match(load.answered, [a for s in seen for a in s["arrivals"]])
    errors: Counter[str] = Counter(load.errors)
    for s in seen:
        errors.update(s["errors"])
    metrics: dict[str, float] = {}
    with contextlib.suppress(OSError):
        metrics = scrape(stack.base)
    drops = metrics.get(SLOW_DROPS)
    if drops is not None:
        if drops > counters.get(SLOW_DROPS, 0.0):
            errors["server dropped a slow console"] += round(drops - counters.get(SLOW_DROPS, 0))
        counters[SLOW_DROPS] = drops
    p = percentile
    return Interval(
        minute=(t1 - start) / 60,
        seconds=t1 - t0,
        rss_mib=rss_mib(stack.server.pid),
        connections=metrics.get("dispatch_ws_connections", math.nan),
        server_cpu=cpu.percent("server", t0, t1),
        machine_cpu=cpu.machine(t0, t1).get("busy"),
        intakes=len(load.intake_ms),
        intake_ms=(p(load.intake_ms, 50), p(load.intake_ms, 95), p(load.intake_ms, 99)),
        delivery_ms=(p(delivered, 50), p(delivered, 99)),
        deliveries=len(delivered),
        actions=len(load.action_ms),
        action_p99_ms=p(load.action_ms, 99),
        positions=len(load.position_ms),
        position_p99_ms=p(load.position_ms, 99),
        late_p99_ms=p(load.late_ms, 99),
        messages=sum(s["messages"] for s in seen),
        errors=dict(errors),
        notes=dict(sum((Counter(s["notes"]) for s in seen), Counter())),
    )


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points; NaN for fewer than two."""
    if len(points) < 2:
        return math.nan
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else math.nan


def summarize(
    intervals: list[Interval],
    tail: Interval,
    totals: Load,
    matcher: Matcher,
    sampled: int,
    cpu_use: dict[str, float | None],
) -> None:
    p = percentile
    errors: Counter[str] = Counter()
    for i in [*intervals, tail]:
        errors.update(i.errors)
    missing, unexpected = matcher.missing(sampled), matcher.unexpected()
    if missing:
        errors["console missed an incident.created"] += missing
    if unexpected:
        errors["console got an incident.created never answered"] += unexpected
    seconds = sum(i.seconds for i in intervals)
    second_half = [(i.minute, i.rss_mib) for i in intervals if i.minute > intervals[-1].minute / 2]
    rss = [i.rss_mib for i in intervals]
    lat = matcher.latencies
    print()
    print("Summary")
    print(
        table(
            ("what", "count", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms"),
            [
                [name, f"{len(v):,}", fmt(len(v) / seconds, 1)]
                + [fmt(p(v, q), 1) for q in (50, 95, 99)]
                + [fmt(max(v, default=math.nan), 1)]
                for name, v in (
                    ("intake (201)", totals.intake_ms),
                    ("intake 201 -> console", lat),
                    ("action", totals.action_ms),
                    ("position", totals.position_ms),
                    ("intake send lateness", totals.late_ms),
                )
            ],
        )
    )
    print()
    print(
        f"server RSS: {rss[0]:.0f} MiB at the first row, {rss[-1]:.0f} at the last, "
        f"max {max(rss):.0f}; trend over the second half "
        + (f"{trend:+.2f} MiB/min" if not math.isnan(trend := slope(second_half)) else "-")
    )
    connections = [i.connections for i in intervals]
    print(f"open connections: {min(connections):.0f} to {max(connections):.0f}")
    print(
        "CPU % of one core over the run: "
        + ", ".join(f"{k} {fmt(v, 0)}" for k, v in cpu_use.items())
    )
    print(f"console messages received: {sum(i.messages for i in intervals) / seconds:,.0f}/s")
    print(
        "errors: "
        + (", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) if errors else "none")
    )
    notes: Counter[str] = Counter()
    for i in [*intervals, tail]:
        notes.update(i.notes)
    if notes:
        print("notes: " + ", ".join(f"{k}: {v}" for k, v in sorted(notes.items())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="reports a second")
    parser.add_argument("--consoles", type=int, default=2000)
    parser.add_argument("--console-processes", type=int, default=2)
    parser.add_argument(
        "--sample-every", type=int, default=40, help="one console in N notes each arrival"
    )
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--position-every", type=float, default=10.0, help="seconds")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between rows")
    parser.add_argument("--server-log", help="keep a copy of the server's log in this file")
    args = parser.parse_args()
    if args.minutes <= 0 or args.rate <= 0 or args.consoles < 1 or args.units < 1:
        parser.error("--minutes, --rate, --consoles and --units must be positive")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
