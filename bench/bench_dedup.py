"""Intake throughput with duplicate detection on, against 100,000 open incidents, and off.

One private deployment (PostgreSQL with fsync on, Redis) is loaded with ``--open`` open
incidents (registered or dispatched, 10 categories, spread over the town's two streets, as
the intake path would have stored them). Two ``dispatch serve`` processes run against it, one
with ``DISPATCH_DEDUP=on`` and one with ``off``; a closed-loop client (its own process,
``--concurrency`` keep-alive connections) posts camera and hotline reports to each in turn,
``--repeats`` times. Reports fall at random places over the same streets; ``--hot`` of them
at one of 200 fixed spots, as cameras re-detect the same stalls, which with detection on
join the open incident there. Figures are medians over the repeats::

    .venv/bin/python -m bench.bench_dedup [--open 100000] [--seconds 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import secrets
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg

if __package__ in (None, ""):  # run as a file: make `bench` and the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.conditions import conditions, print_conditions
from bench.deployment import HOST, another_server, running_stack
from bench.figures import fmt, median, percentile, table
from bench.processes import Child
from dispatcher.core.ids import IncidentId
from dispatcher.core.incidents import Incident, Source, State
from dispatcher.store import records as store

#: the town's two streets (lon, lat, size in degrees), as in tests/integration/support.py
AREAS = ((121.401, 31.201, 0.098), (121.501, 31.201, 0.098))
CATEGORIES = (
    "200504",
    "200506",
    "200502",
    "200507",
    "200102",
    "200601",
    "200201",
    "200110",
    "200510",
    "100302",
)
HOT_SPOTS = 200
ENV = {"DISPATCH_DEVICE_RATE": "0"}  # the bench measures intake, not the rate limiter


def place(rng: random.Random) -> tuple[float, float]:
    lon0, lat0, size = AREAS[rng.randrange(len(AREAS))]
    return lon0 + rng.random() * size, lat0 + rng.random() * size


async def preload(url: str, count: int, seed: int = 11) -> None:
    """Insert ``count`` open incidents directly, as intake would have stored them."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    tz = ZoneInfo("Asia/Shanghai")
    conn = await asyncpg.connect(url)
    try:
        number = itertools.count(1)
        for start in range(0, count, 5000):
            docs = []
            for _ in range(start, min(count, start + 5000)):
                lon, lat = place(rng)
                n = next(number)
                dispatched = n % 2 == 0
                incident = Incident(
                    id=IncidentId(f"19990101{n:08d}"),
                    source=Source.CAMERA if n % 3 else Source.HOTLINE,
                    external_id=f"preload-{n}",
                    category=CATEGORIES[n % len(CATEGORIES)],
                    state=State.DISPATCHED if dispatched else State.REGISTERED,
                    priority="normal",
                    lon=lon,
                    lat=lat,
                    received_at=now - timedelta(minutes=rng.randrange(600)),
                    updated_at=now,
                    squad_id="sq-west" if dispatched and lon < 121.5 else None,
                )
                docs.append(store.encode_doc(incident, tz))
            await store.insert_incidents(conn, docs)
        await conn.execute("ANALYZE incidents")
    finally:
        await conn.close()


@dataclass
class Spec:
    url: str
    token: str
    concurrency: int
    warmup: float
    seconds: float
    tag: str
    hot: float
    seed: int


@dataclass
class Result:
    ok: int
    seconds: float
    latencies_ms: list[float]
    duplicates: int
    errors: dict[str, int]


def load(spec: Spec) -> Result:
    return asyncio.run(_load(spec))


async def _load(spec: Spec) -> Result:
    rng = random.Random(spec.seed)
    hot = [place(random.Random(n)) for n in range(HOT_SPOTS)]
    numbers = itertools.count()
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    duplicates = 0
    headers = {"Authorization": f"Bearer {spec.token}"}
    connector = aiohttp.TCPConnector(limit=spec.concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        started = time.perf_counter()
        measure_from, stop_at = started + spec.warmup, started + spec.warmup + spec.seconds

        async def worker() -> None:
            nonlocal duplicates
            while time.perf_counter() < stop_at:
                n = next(numbers)
                spot = rng.random() < spec.hot
                lon, lat = hot[n % HOT_SPOTS] if spot else place(rng)
                body: dict[str, Any] = {
                    "source": "camera" if n % 3 else "hotline",
                    "external_id": f"{spec.tag}-{n}",
                    "category": CATEGORIES[(n % HOT_SPOTS) % len(CATEGORIES)]
                    if spot
                    else CATEGORIES[n % len(CATEGORIES)],
                    "lon": round(lon, 6),
                    "lat": round(lat, 6),
                    "description": "AI识别" if n % 3 else "市民来电",
                    "confidence": 0.93,
                    "device_id": f"cam-{n % 500}",
                }
                began = time.perf_counter()
                try:
                    async with session.post(spec.url, json=body) as resp:
                        answer = await resp.json()
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    errors[type(exc).__name__] += 1
                    continue
                done = time.perf_counter()
                if not measure_from <= done < stop_at:
                    continue
                if status == 201:
                    latencies.append((done - began) * 1000)
                    duplicates += answer.get("duplicate_of") is not None
                else:
                    errors[f"HTTP {status}"] += 1

        await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
    return Result(len(latencies), spec.seconds, latencies, duplicates, dict(errors))


@dataclass
class Run:
    repeat: int
    dedup: str
    rate: float
    p50_ms: float
    p99_ms: float
    duplicates_pct: float
    errors: str


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=100_000, help="open incidents preloaded")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hot", type=float, default=0.2, help="share of reports at hot spots")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    runs: list[Run] = []
    with running_stack(env={**ENV, "DISPATCH_DEDUP": "on"}) as stack:
        began = time.perf_counter()
        asyncio.run(preload(stack.postgres.url, args.open))
        print(f"preloaded {args.open} open incidents in {time.perf_counter() - began:.1f}s")
        with another_server(stack, env={**ENV, "DISPATCH_DEDUP": "off"}) as (_, port):
            found = conditions(stack)
            found["load"] = (
                f"{args.concurrency} connections, {args.warmup:g}s warm-up + {args.seconds:g}s "
                f"measured, {args.repeats} repeats alternating on/off, {args.hot:.0%} of reports "
                f"at {HOT_SPOTS} hot spots, {args.open} open incidents preloaded"
            )
            print_conditions(found)
            urls = {"on": stack.intake_url, "off": f"http://{HOST}:{port}/api/v1/incidents"}
            for repeat in range(1, args.repeats + 1):
                for mode in ("on", "off"):
                    tag = f"{mode}{repeat}-{secrets.token_hex(3)}"
                    spec = Spec(
                        urls[mode],
                        stack.device_token,
                        args.concurrency,
                        args.warmup,
                        args.seconds,
                        tag,
                        args.hot,
                        seed=repeat,
                    )
                    result: Result = Child(load, spec).result(args.warmup + args.seconds + 90)
                    run = Run(
                        repeat,
                        mode,
                        result.ok / result.seconds,
                        percentile(result.latencies_ms, 50),
                        percentile(result.latencies_ms, 99),
                        100 * result.duplicates / max(1, result.ok),
                        ", ".join(f"{k}: {v}" for k, v in result.errors.items()) or "none",
                    )
                    runs.append(run)
                    print(
                        f"  repeat {repeat} dedup {mode}: {run.rate:.0f}/s p50 {run.p50_ms:.1f} ms "
                        f"p99 {run.p99_ms:.1f} ms duplicates {run.duplicates_pct:.1f}% "
                        f"errors {run.errors}",
                        flush=True,
                    )
    headers = ("dedup", "201/s", "p50 ms", "p99 ms", "joined as duplicates")
    rows = []
    medians: dict[str, float] = {}
    for mode in ("on", "off"):
        mine = [r for r in runs if r.dedup == mode]
        medians[mode] = median([r.rate for r in mine])
        rows.append(
            [
                mode,
                fmt(medians[mode], 0),
                fmt(median([r.p50_ms for r in mine]), 1),
                fmt(median([r.p99_ms for r in mine]), 1),
                fmt(median([r.duplicates_pct for r in mine]), 1) + "%",
            ]
        )
    print()
    print(table(headers, rows))
    print(f"\non/off = {medians['on'] / medians['off']:.2f}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"conditions": found, "runs": [asdict(r) for r in runs]},
                indent=2,
                ensure_ascii=False,
            )
        )
    return 0 if all(r.errors == "none" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
