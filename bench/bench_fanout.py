"""(b) Latency from the intake answer to the event on every subscribed console.

``--consoles`` WebSocket consoles (operator token, topic ``all``; in ``--workers`` processes)
follow one ``dispatch serve`` process while a poster (its own process) posts reports open-loop
at ``--rate`` a second for ``--seconds``. For every incident the poster notes when its 201
arrived; every console notes when the ``incident.created`` event with that id arrived. The
latency of a pair (incident, console) is arrival - answer: negative when the event came first.
Each console must receive every incident exactly once: missing, duplicated or unexpected events
are errors. A baseline with ``--baseline`` (1) console at the same rate runs in the same run,
alternating with it, ``--repeats`` times; the figures are medians. Target: p99 < 50 ms at 200
consoles and 500 incidents/s::

    .venv/bin/python -m bench.bench_fanout [--consoles 200] [--rate 500] [--seconds 10]

``--deflate`` offers permessage-deflate as browsers do; ``--source DIR`` runs another tree's
server; ``--profile FILE`` runs one phase with the server under cProfile.
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a file: make `bench` and the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import consoles, processes
from bench.conditions import conditions, print_conditions
from bench.cpu import CpuSampler
from bench.deployment import HOST, ROOT, Stack, running_stack, scrape
from bench.figures import fmt, median, percentile, print_profile, table

TARGET_P99_MS = 50.0
READY_TIMEOUT_S = 60.0
#: a send this much behind its schedule means the open loop could not be kept
LATE_MS = 20.0


@dataclass
class Phase:
    repeat: int
    consoles: int
    planned: int
    created: int
    send_rate: float
    late_p99_ms: float
    answer_p50_ms: float
    answer_p99_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    min_ms: float
    negative_share: float
    pairs: int
    missing: int
    duplicates: int
    unexpected: int
    seq_errors: int
    check_mismatches: int
    poster_errors: str
    closed_by_server: dict[str, int]
    server_drops: float
    compressed: bool
    cpu: dict[str, float | None] = field(default_factory=dict)

    @property
    def cpu_ms_per_incident(self) -> float:
        """Server CPU per incident taken in and fanned out, ms: less sensitive to other
        tenants than the latencies (the server is busy for it whenever it gets the CPU)."""
        server = self.cpu.get("server")
        if server is None or not self.send_rate or math.isnan(self.send_rate):
            return math.nan
        return server / 100 / self.send_rate * 1000

    @property
    def errors(self) -> int:
        return (
            self.missing
            + self.duplicates
            + self.unexpected
            + self.seq_errors
            + self.check_mismatches
            + (0 if self.poster_errors == "none" else 1)
        )


def receive(conn: Any, expect: str, timeout: float) -> Any:
    return processes.receive(conn, expect, timeout, who="a console process")


def run_phase(
    args: argparse.Namespace,
    stack: Stack,
    cpu: CpuSampler,
    repeat: int,
    count: int,
    *,
    first: int = 0,
) -> Phase:
    """One phase: ``count`` consoles follow while the poster posts (report slots from
    ``first`` on, disjoint from other phases')."""
    specs = [
        consoles.ConsoleSpec(HOST, stack.port, stack.operator_token, n, deflate=args.deflate)
        for n in processes.split(count, args.workers)
    ]
    with processes.workers([(consoles.console_worker, spec) for spec in specs]) as started:
        for i, (process, conn) in enumerate(started):
            receive(conn, "ready", READY_TIMEOUT_S)
            cpu.watch(f"consoles{i}", process.pid)
        before = scrape(stack.base)
        pace = consoles.PaceSpec(
            stack.intake_url,
            stack.device_token,
            args.rate,
            args.seconds,
            args.max_inflight,
            tag=f"fan{repeat}c{count}-{secrets.token_hex(3)}",
            first=first,
        )
        poster = processes.Child(consoles.paced_poster, pace)
        cpu.watch("poster", poster.pid)
        posted: consoles.PosterResult = poster.result(args.seconds + 90)
        for _, conn in started:
            conn.send(("finish", posted.ids, args.drain))
        reports: list[consoles.ConsoleReport] = []
        for _, conn in started:
            reports.extend(receive(conn, "done", args.drain + 60))
        after = scrape(stack.base)
    start, end = posted.first_sent, posted.last_sent
    names = [f"consoles{i}" for i in range(len(specs))]
    console_cpu = [cpu.percent(n, start, end) for n in names]
    usage = {
        "server": cpu.percent("server", start, end),
        "postgres": cpu.percent("postgres", start, end),
        "redis": cpu.percent("redis", start, end),
        "poster": cpu.percent("poster", start, end),
        "consoles": None if None in console_cpu else sum(c or 0.0 for c in console_cpu),
        **cpu.machine(start, end),
    }
    return figures(repeat, count, posted, reports, before, after, usage)


def figures(
    repeat: int,
    count: int,
    posted: consoles.PosterResult,
    reports: list[consoles.ConsoleReport],
    before: dict[str, float],
    after: dict[str, float],
    usage: dict[str, float | None],
) -> Phase:
    answers = np.array(posted.answered_at, dtype=float)
    if reports and len(answers):
        arrivals = np.vstack([np.frombuffer(r.arrivals, dtype=float) for r in reports])
        latency = (arrivals - answers) * 1000
        seen = latency[~np.isnan(latency)]
    else:
        seen = np.array([], dtype=float)

    def q(p: float) -> float:
        return float(np.percentile(seen, p)) if len(seen) else math.nan

    closes = Counter(str(r.close_code) for r in reports if r.close_code not in (None, 1000))
    drops = "dispatch_ws_slow_consumer_drops"
    return Phase(
        repeat=repeat,
        consoles=count,
        planned=posted.planned,
        created=len(posted.ids),
        send_rate=posted.send_rate,
        late_p99_ms=percentile(posted.late_ms, 99),
        answer_p50_ms=percentile(posted.answer_ms, 50),
        answer_p99_ms=percentile(posted.answer_ms, 99),
        p50_ms=q(50),
        p90_ms=q(90),
        p99_ms=q(99),
        max_ms=float(seen.max()) if len(seen) else math.nan,
        min_ms=float(seen.min()) if len(seen) else math.nan,
        negative_share=float((seen < 0).mean()) if len(seen) else math.nan,
        pairs=len(seen),
        missing=sum(r.missing for r in reports),
        duplicates=sum(r.duplicates for r in reports),
        unexpected=sum(r.unexpected for r in reports),
        seq_errors=sum(r.seq_errors for r in reports),
        check_mismatches=sum(r.check_mismatches for r in reports),
        poster_errors=", ".join(
            [f"HTTP {s}: {n}" for s, n in sorted(posted.statuses.items())]
            + [f"{k}: {n}" for k, n in sorted(posted.errors.items())]
        )
        or "none",
        closed_by_server=dict(closes),
        server_drops=after.get(drops, 0.0) - before.get(drops, 0.0),
        compressed=any(r.compressed for r in reports),
        cpu=usage,
    )


HEADERS = (
    "run",
    "consoles",
    "incidents",
    "posted/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "min ms",
    "<0",
    "missing",
    "dup",
    "server CPU%",
    "pg CPU%",
    "consoles CPU%",
    "poster CPU%",
    "machine CPU%",
)


def row(phase: Phase) -> list[str]:
    return [
        str(phase.repeat),
        str(phase.consoles),
        str(phase.created),
        fmt(phase.send_rate, 0),
        fmt(phase.p50_ms, 1),
        fmt(phase.p90_ms, 1),
        fmt(phase.p99_ms, 1),
        fmt(phase.max_ms, 1),
        fmt(phase.min_ms, 1),
        f"{phase.negative_share:.0%}" if not math.isnan(phase.negative_share) else "-",
        str(phase.missing),
        str(phase.duplicates),
        fmt(phase.cpu.get("server"), 0),
        fmt(phase.cpu.get("postgres"), 0),
        fmt(phase.cpu.get("consoles"), 0),
        fmt(phase.cpu.get("poster"), 0),
        fmt(phase.cpu.get("busy"), 0),
    ]


def problems(phase: Phase) -> list[str]:
    found = []
    if phase.poster_errors != "none":
        found.append(f"poster errors: {phase.poster_errors}")
    for name in ("missing", "duplicates", "unexpected", "seq_errors", "check_mismatches"):
        if getattr(phase, name):
            found.append(f"{name}: {getattr(phase, name)}")
    if phase.closed_by_server:
        found.append(f"closed by the server (code: consoles): {phase.closed_by_server}")
    if phase.server_drops:
        found.append(f"server's slow-consumer drops: {phase.server_drops:.0f}")
    if phase.late_p99_ms > LATE_MS:
        found.append(
            f"the poster fell behind its schedule (p99 {phase.late_p99_ms:.0f} ms late; "
            f"{phase.send_rate:.0f}/s sent): the server held --max-inflight posts unanswered"
        )
    if phase.created < phase.planned:
        found.append(f"created {phase.created} of {phase.planned} planned")
    return found


def summarize(phases: list[Phase], counts: list[int]) -> dict[str, dict[str, float]]:
    keys = (
        "send_rate",
        "answer_p50_ms",
        "answer_p99_ms",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms",
        "cpu_ms_per_incident",
    )
    out: dict[str, dict[str, float]] = {}
    for count in counts:
        mine = [p for p in phases if p.consoles == count]
        out[str(count)] = {k: median([getattr(p, k) for p in mine]) for k in keys}
        for name in ("server", "postgres", "consoles", "poster", "busy", "steal"):
            values = [p.cpu.get(name) for p in mine]
            out[str(count)][f"cpu_{name}"] = median(
                [v if v is not None else math.nan for v in values]
            )
    return out


def run_profile(args: argparse.Namespace) -> int:
    """One phase at ``--consoles`` with the server under cProfile; print where its time went.

    cProfile slows the server: read the proportions, not the latencies.
    """
    out = Path(args.profile).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        running_stack(source=args.source, profile_to=out) as stack,
        CpuSampler() as cpu,
    ):
        cpu.watch("server", stack.server.pid)
        cpu.watch("postgres", stack.postgres.pid, tree=True)
        cpu.watch("redis", stack.redis.pid)
        phase = run_phase(args, stack, cpu, 1, args.consoles)
        print(table(HEADERS, [row(phase)]))
        for problem in problems(phase):
            print(f"    {problem}")
    print_profile(out)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consoles", type=int, default=200)
    parser.add_argument("--baseline", type=int, default=1, help="consoles of the baseline")
    parser.add_argument("--rate", type=float, default=500.0, help="incidents a second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="processes the consoles run in")
    parser.add_argument("--max-inflight", type=int, default=256, help="unanswered posts at most")
    parser.add_argument("--drain", type=float, default=10.0, help="seconds to wait for stragglers")
    parser.add_argument(
        "--deflate", action="store_true", help="offer permessage-deflate, as browsers do"
    )
    parser.add_argument(
        "--source",
        type=lambda text: Path(text).resolve(),
        default=ROOT,
        help="the source tree whose server runs (default: this checkout)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--profile", help="one phase with the server under cProfile, statistics into this file"
    )
    args = parser.parse_args()

    if args.profile:
        return run_profile(args)
    counts = [args.consoles, args.baseline]
    phases: list[Phase] = []
    with running_stack(source=args.source) as stack, CpuSampler() as cpu:
        cpu.watch("server", stack.server.pid)
        cpu.watch("postgres", stack.postgres.pid, tree=True)
        cpu.watch("redis", stack.redis.pid)
        found = conditions(stack, args.source)
        found["load"] = (
            f"{args.rate:g} incidents/s open-loop for {args.seconds:g}s, consoles "
            f"{args.consoles} vs {args.baseline} (in {args.workers} processes), topic all, "
            f"{args.repeats} repeats alternating; permessage-deflate "
            + ("offered" if args.deflate else "not offered")
        )
        print("Fan-out latency: intake answer -> incident.created on every console")
        print_conditions(found)
        print()
        print(table(HEADERS, []))
        for repeat in range(1, args.repeats + 1):
            for count in counts:
                first = len(phases) * round(args.rate * args.seconds)
                phase = run_phase(args, stack, cpu, repeat, count, first=first)
                phases.append(phase)
                print(table(HEADERS, [row(phase)]).splitlines()[-1], flush=True)
                for problem in problems(phase):
                    print(f"    {problem}")

    summary = summarize(phases, counts)
    print()
    print(table(HEADERS, [row(p) for p in phases]))
    print()
    print(
        "answer = the poster's 201 latency (send -> answer); latency = event arrival - 201 answer"
    )
    med_headers = (
        "median",
        "posted/s",
        "answer p50",
        "answer p99",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "server CPU%",
        "pg CPU%",
        "consoles CPU%",
        "machine CPU%",
    )
    print(
        table(
            med_headers,
            [
                [
                    f"{count} consoles",
                    fmt(s["send_rate"], 0),
                    fmt(s["answer_p50_ms"], 1),
                    fmt(s["answer_p99_ms"], 1),
                    fmt(s["p50_ms"], 1),
                    fmt(s["p90_ms"], 1),
                    fmt(s["p99_ms"], 1),
                    fmt(s["max_ms"], 1),
                    fmt(s["cpu_server"], 0),
                    fmt(s["cpu_postgres"], 0),
                    fmt(s["cpu_consoles"], 0),
                    fmt(s["cpu_busy"], 0),
                ]
                for count, s in summary.items()
            ],
        )
    )
    main_p99 = summary[str(args.consoles)]["p99_ms"]
    base_p99 = summary[str(args.baseline)]["p99_ms"]
    met = main_p99 < TARGET_P99_MS
    print(
        f"\np99 at {args.consoles} consoles = {main_p99:.1f} ms "
        f"({main_p99 / base_p99:.1f}x the {args.baseline}-console baseline's {base_p99:.1f} ms); "
        f"target < {TARGET_P99_MS:.0f} ms: " + ("MET" if met else "NOT MET")
    )
    main_cost = summary[str(args.consoles)]["cpu_ms_per_incident"]
    base_cost = summary[str(args.baseline)]["cpu_ms_per_incident"]
    per_delivery_us = (main_cost - base_cost) / (args.consoles - args.baseline) * 1000
    print(
        f"server CPU per incident: {main_cost:.2f} ms with {args.consoles} consoles, "
        f"{base_cost:.2f} ms with {args.baseline}: {per_delivery_us:.1f} us per extra console "
        f"and incident; one core of its own would sustain about {1000 / main_cost:.0f} "
        f"incidents/s with {args.consoles} consoles (background work weighs more at low rates)"
    )
    negotiated = any(p.compressed for p in phases)
    print(f"permessage-deflate negotiated: {'yes' if negotiated else 'no'}")
    errors = sum(p.errors for p in phases)
    print(
        "correctness: "
        + (
            "every console received every incident exactly once"
            if errors == 0
            else f"{errors} problems (see above)"
        )
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"conditions": found, "phases": [asdict(p) for p in phases], "summary": summary},
                indent=2,
                ensure_ascii=False,
            )
        )
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
