"""(a) Intake throughput through the whole path, against a bare aiohttp handler.

One closed-loop client (its own process, ``--concurrency`` keep-alive connections, each posting
camera and hotline reports with unique external ids as fast as they are answered) runs for
``--seconds`` against (i) ``bench/bare_server.py``, which only parses the JSON and answers 202,
and (ii) one ``dispatch serve`` process on durable PostgreSQL and Redis, which validates, places,
plans, stores (group commit), answers 201 and publishes. The two alternate ``--repeats`` times;
the figures are medians and the target is real/bare >= 0.40::

    .venv/bin/python -m bench.bench_intake [--concurrency 64] [--seconds 10] [--repeats 3]

``--servers N`` runs N real and N bare processes side by side (client n posts to server n mod
N; CPU figures are their sums), as the production shape runs several.

``--prefill N`` first stores N incidents of the last 60 days, each with its history entry, as
a district's database holds after some months (see ``PREFILL``), so that what grows with the
tables shows: the figures of an empty database hide it.

``--profile FILE`` instead runs the real server alone under cProfile for one run and prints where
its time went (cProfile slows the server down: use it for proportions, not rates).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

if __package__ in (None, ""):  # run as a file: make `bench` and the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from bench import processes
from bench.conditions import conditions, print_conditions
from bench.cpu import CpuSampler
from bench.deployment import HOST, ROOT, another_server, running_stack, stop_server, wait_ready
from bench.figures import fmt, median, percentile, print_profile, table
from bench.load import SLOTS_PER_RUN, LoadResult, LoadSpec, closed_loop
from dispatcher.demo import embedded

TARGET_RATIO = 0.40
#: incidents stored by one statement of ``--prefill``
PREFILL_STEP: Final = 50_000
#: the client processes are started this long before they begin, together
CLIENT_START_S = 2.0
COUNT_COMMITS = """
SELECT count(*), count(DISTINCT received_at) FROM incidents WHERE external_id LIKE $1"""


@dataclass
class Run:
    repeat: int
    server: str
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_detail: str
    server_cpu: float | None
    postgres_cpu: float | None
    client_cpu: float | None
    #: the whole machine (all processes, other tenants' too), 100 = one core; and stolen
    machine_cpu: float | None
    steal: float | None
    #: incidents stored by the run and the transactions that stored them (real server only;
    #: the writer stamps every incident of one group commit with the same received_at)
    stored: int = 0
    transactions: int = 0

    @property
    def cpu_us(self) -> float:
        """Server CPU time per 2xx answer, microseconds: less sensitive to other tenants."""
        if self.server_cpu is None or not self.rate:
            return float("nan")
        return self.server_cpu / 100 / self.rate * 1e6


@dataclass
class Bare:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/api/v1/incidents"


@contextlib.contextmanager
def bare_server(folder: Path) -> Iterator[Bare]:
    """Run ``bench/bare_server.py`` on a free port until the block ends."""
    port = embedded.free_port()
    script = Path(__file__).resolve().parent / "bare_server.py"
    with (folder / "bare.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, str(script), "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(f"http://{HOST}:{port}", proc, folder / "bare.log")
        yield Bare(proc, port)
    finally:
        stop_server(proc)


#: $2 incidents (numbered from $1 + 1) received over the 60 days before now, spread over
#: the town's two streets (about 200 km²) as a district's are: 5 % still open, 40 % from the
#: 12345 hotline and citizens (the complaints that repeat counting reads), the rest from
#: cameras and grid staff; each with its ``incident.created`` history entry. Their ids and
#: external ids are their own ("P" and a number): the run's reports never collide with them.
PREFILL: Final = """
WITH n AS (
    SELECT g AS n, random() AS r1, random() AS r2, random() AS r3, random() AS r4,
           random() AS r5, random() AS r6
    FROM generate_series($1::int + 1, $1::int + $2::int) AS g
), i AS (
    SELECT 'P' || lpad(n::text, 9, '0') AS id,
           (ARRAY['hotline','hotline','hotline','citizen','camera','camera','camera','camera',
                  'grid','grid'])[1 + floor(r1 * 10)::int] AS source,
           (ARRAY['200504','200506','200502','200102','200113','200507'])[1 + floor(r2 * 6)::int]
               AS category,
           CASE WHEN r3 < 0.05 THEN 'dispatched' ELSE 'closed' END AS state,
           CASE WHEN r4 < 0.5 THEN 121.401 ELSE 121.501 END + r5 * 0.098 AS lon,
           31.201 + r6 * 0.098 AS lat,
           now() - (r4 * 60) * interval '1 day' AS received
    FROM n
), d AS (
    SELECT i.*, jsonb_build_object(
        'id', id, 'source', source, 'external_id', 'P-' || id, 'category', category,
        'state', state, 'priority', 'normal', 'lon', lon, 'lat', lat,
        'received_at', received, 'updated_at', received, 'version', 1) AS doc,
        nextval('history_seq') AS seq
    FROM i
), stored AS (
    INSERT INTO incidents (id, source, external_id, category, state, priority, lon, lat,
                           received_at, updated_at, doc)
    SELECT id, source, 'P-' || id, category, state, 'normal', lon, lat, received, received, doc
    FROM d
)
INSERT INTO history (seq, incident_id, type, action, actor, at, state_after, topics, event,
                     prev_hash, hash)
SELECT seq, id, 'incident.created', 'report', 'prefill', received, state, ARRAY['incidents'],
       jsonb_build_object('seq', seq, 'type', 'incident.created', 'incident', doc),
       sha256(convert_to((seq - 1)::text, 'UTF8')), sha256(convert_to(seq::text, 'UTF8'))
FROM d ORDER BY seq
"""


async def prefill(database_url: str, count: int) -> None:
    """Store ``count`` incidents of the last 60 days with their history (``PREFILL``)."""
    conn = await asyncpg.connect(database_url)
    try:
        for done in range(0, count, PREFILL_STEP):
            await conn.execute(PREFILL, done, min(PREFILL_STEP, count - done))
        await conn.execute("ANALYZE")  # as autovacuum would have, some time since
    finally:
        await conn.close()


async def group_commits(database_url: str, tag: str) -> tuple[int, int]:
    """(incidents, distinct received_at) among the incidents whose external id has ``tag``."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(COUNT_COMMITS, f"%{tag}-%")
    finally:
        await conn.close()
    assert row is not None
    return int(row[0]), int(row[1])


def measure(
    args: argparse.Namespace,
    cpu: CpuSampler,
    repeat: int,
    server: str,
    *,
    urls: list[str],
    token: str,
    database_url: str | None = None,
) -> Run:
    """One run of the client(s), client n posting to ``urls[n % len(urls)]``; ``server``
    names the servers' CPU sample too."""
    tag = f"{server}{repeat}-{secrets.token_hex(3)}"
    start_at = time.time() + CLIENT_START_S
    children = []
    for n, concurrency in enumerate(processes.split(args.concurrency, args.clients)):
        first = ((repeat - 1) * args.clients + n) * SLOTS_PER_RUN
        url = urls[n % len(urls)]
        spec = LoadSpec(
            url, token, concurrency, args.warmup, args.seconds, f"{tag}-{n}", start_at, first
        )
        children.append(processes.Child(closed_loop, spec))
        cpu.watch(f"client{n}", children[-1].pid)
    timeout = CLIENT_START_S + args.warmup + args.seconds + 90
    results: list[LoadResult] = [child.result(timeout) for child in children]
    start = max(r.window[0] for r in results)
    end = min(r.window[1] for r in results)
    latencies = [ms for r in results for ms in r.latencies_ms]
    client_cpu = [cpu.percent(f"client{n}", start, end) for n in range(len(children))]
    whole = cpu.machine(start, end)
    stored, transactions = asyncio.run(group_commits(database_url, tag)) if database_url else (0, 0)
    return Run(
        repeat=repeat,
        server=server,
        stored=stored,
        transactions=transactions,
        rate=sum(r.rate for r in results),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        errors=sum(r.error_count for r in results),
        error_detail="; ".join(r.describe_errors() for r in results if r.error_count),
        server_cpu=cpu.percent(server, start, end),
        postgres_cpu=cpu.percent("postgres", start, end),
        client_cpu=None if None in client_cpu else sum(c or 0.0 for c in client_cpu),
        machine_cpu=whole.get("busy"),
        steal=whole.get("steal"),
    )


HEADERS = (
    "run",
    "server",
    "2xx/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "server CPU%",
    "postgres CPU%",
    "client CPU%",
    "machine CPU%",
    "steal%",
    "CPU us/2xx",
    "per commit",
)


def row(run: Run) -> list[str]:
    return [
        str(run.repeat),
        run.server,
        fmt(run.rate, 0),
        fmt(run.p50_ms, 2),
        fmt(run.p99_ms, 2),
        str(run.errors),
        fmt(run.server_cpu, 0),
        fmt(run.postgres_cpu, 0) if run.server == "real" else "-",
        fmt(run.client_cpu, 0),
        fmt(run.machine_cpu, 0),
        fmt(run.steal, 0),
        fmt(run.cpu_us, 0),
        fmt(run.stored / run.transactions, 1) if run.transactions else "-",
    ]


def summary(runs: list[Run]) -> dict[str, float]:
    def med(server: str, attr: str) -> float:
        return median([getattr(r, attr) or float("nan") for r in runs if r.server == server])

    figures = {
        f"{server}_{attr}": med(server, attr)
        for server in ("bare", "real")
        for attr in ("rate", "p50_ms", "p99_ms", "server_cpu", "client_cpu", "cpu_us")
    }
    figures["real_postgres_cpu"] = med("real", "postgres_cpu")
    figures["ratio"] = figures["real_rate"] / figures["bare_rate"]
    pairs = [
        real.rate / bare.rate
        for bare in runs
        if bare.server == "bare"
        for real in runs
        if real.server == "real" and real.repeat == bare.repeat
    ]
    figures["ratio_min"] = min(pairs)
    figures["ratio_max"] = max(pairs)
    figures["cpu_ratio"] = figures["bare_cpu_us"] / figures["real_cpu_us"]
    return figures


def server_env(args: argparse.Namespace) -> dict[str, str]:
    pairs = [item.split("=", 1) for item in args.server_env]
    if any(len(pair) != 2 for pair in pairs):
        raise SystemExit("--server-env takes NAME=VALUE")
    return dict(pairs)  # type: ignore[arg-type]


def run_benchmark(args: argparse.Namespace) -> int:
    runs: list[Run] = []
    with (
        running_stack(source=args.source, env=server_env(args)) as stack,
        contextlib.ExitStack() as more,
        CpuSampler() as cpu,
    ):
        bares = [more.enter_context(bare_server(stack.folder)) for _ in range(args.servers)]
        reals = [(stack.server, stack.port)]
        reals += [
            more.enter_context(another_server(stack, source=args.source, env=server_env(args)))
            for _ in range(args.servers - 1)
        ]
        cpu.watch("postgres", stack.postgres.pid, tree=True)
        for proc, _ in reals:
            cpu.watch_also("real", proc.pid)
        for bare in bares:
            cpu.watch_also("bare", bare.proc.pid)
        if args.prefill:
            started = time.monotonic()
            asyncio.run(prefill(stack.postgres.url, args.prefill))
            print(f"prefilled {args.prefill:,} incidents in {time.monotonic() - started:.0f} s")
        found = conditions(stack, args.source)
        if args.prefill:
            found["stored before"] = f"{args.prefill:,} incidents of 60 days (--prefill)"
        if args.server_env:
            found["server environment"] = " ".join(args.server_env)
        if args.servers > 1:
            found["servers"] = (
                f"{args.servers} real and {args.servers} bare processes; client n posts to "
                "server n mod servers; CPU figures are the sum over the processes"
            )
        found["load"] = (
            f"{args.concurrency} keep-alive connections from {args.clients} client process(es), "
            f"{args.warmup:g}s warm-up + "
            f"{args.seconds:g}s measured, {args.repeats} repeats alternating bare/real"
        )
        print("Intake throughput: whole path vs a bare aiohttp handler")
        print_conditions(found)
        print()
        print(table(HEADERS, []))
        targets = [
            ("bare", [b.url for b in bares]),
            ("real", [f"http://{HOST}:{port}/api/v1/incidents" for _, port in reals]),
        ]
        for repeat in range(1, args.repeats + 1):
            for server, urls in targets:
                run = measure(
                    args,
                    cpu,
                    repeat,
                    server,
                    urls=urls,
                    token=stack.device_token,
                    database_url=stack.postgres.url if server == "real" else None,
                )
                runs.append(run)
                print(table(HEADERS, [row(run)]).splitlines()[-1], flush=True)
                if run.errors:
                    print(f"    errors: {run.error_detail}")
    figures = summary(runs)
    print()
    print(table(HEADERS, [row(r) for r in runs]))
    print()
    print(
        table(
            ("median", "2xx/s", "p50 ms", "p99 ms", "server CPU%", "client CPU%", "CPU us/2xx"),
            [
                [
                    server,
                    fmt(figures[f"{server}_rate"], 0),
                    fmt(figures[f"{server}_p50_ms"], 2),
                    fmt(figures[f"{server}_p99_ms"], 2),
                    fmt(figures[f"{server}_server_cpu"], 0),
                    fmt(figures[f"{server}_client_cpu"], 0),
                    fmt(figures[f"{server}_cpu_us"], 0),
                ]
                for server in ("bare", "real")
            ],
        )
    )
    met = figures["ratio"] >= TARGET_RATIO
    print(
        f"\nreal/bare = {figures['ratio']:.2f} (medians; per repeat "
        f"{figures['ratio_min']:.2f}-{figures['ratio_max']:.2f}); target >= {TARGET_RATIO:.2f}: "
        + ("MET" if met else "NOT MET")
    )
    print(
        f"server CPU per answer: bare {figures['bare_cpu_us']:.0f} us, real "
        f"{figures['real_cpu_us']:.0f} us; the rate ratio if each had a core of its own: "
        f"{figures['cpu_ratio']:.2f}"
    )
    errors = sum(r.errors for r in runs)
    print(f"errors: {errors}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"conditions": found, "runs": [asdict(r) for r in runs], "summary": figures},
                indent=2,
                ensure_ascii=False,
            )
        )
    return 0 if errors == 0 else 1


def run_profile(args: argparse.Namespace) -> int:
    out = Path(args.profile).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        running_stack(source=args.source, profile_to=out, env=server_env(args)) as stack,
        CpuSampler() as cpu,
    ):
        cpu.watch("real", stack.server.pid)
        cpu.watch("postgres", stack.postgres.pid, tree=True)
        run = measure(args, cpu, 1, "real", urls=[stack.intake_url], token=stack.device_token)
        print(table(HEADERS, [row(run)]))
    print_profile(out)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--clients", type=int, default=1, help="load generator processes sharing the connections"
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a variable of the real server (e.g. DISPATCH_GROUP_COMMIT_MS=5); repeatable",
    )
    parser.add_argument(
        "--source",
        type=lambda text: Path(text).resolve(),
        default=ROOT,
        help="the source tree whose server runs (default: this checkout)",
    )
    parser.add_argument(
        "--prefill", type=int, default=0, help="store this many incidents before measuring"
    )
    parser.add_argument(
        "--servers",
        type=int,
        default=1,
        help="real (and bare) server processes; at least as many client processes run",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--profile", help="profile the real server (cProfile) into this file")
    args = parser.parse_args()
    args.clients = max(args.clients, args.servers)
    if args.profile:
        return run_profile(args)
    return run_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
