"""What recommending a unit costs with 2,000 live units, and what positions cost in Redis.

Run: ``.venv/bin/python -m bench.bench_recommend [--units 2000] [--requests 200] [--no-http]``

(a) ranking, pure (``routing.with_units``): one recommendation whose squad has 100 units
    (2,000 units in 20 squads) and, the worst case, 2,000 units in one squad;
(b) Redis (a private ``redis-server``): keeping positions (``Positions.record``: the script
    that refuses older positions, ``GEOADD``, ``ZADD``, ``PUBLISH``), one at a time and 50 in
    flight; reading them back (``GEOPOS`` + ``ZMSCORE``) for 100 and for 2,000 units; the
    throttle of ``unit.moved`` handling 2,000 messages;
(c) end to end (``bench.deployment.running_stack``: PostgreSQL with fsync, Redis, one ``dispatch
    serve`` process): 2,000 units put and placed over HTTP in 20 squads, 100 of them in the
    squad that answers for the incident, then 1,000; ``GET
    /api/v1/incidents/{id}/recommendations`` one request at a time: the squad's units from
    PostgreSQL, their load, their positions from Redis, ranking.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bench.deployment import ADMIN_TOKEN, SCRATCH_PREFIX, running_stack
from bench.figures import percentile, table
from dispatcher.core.categories import Category, Priority
from dispatcher.core.routing import Candidate, Recommendation, UnitPolicy, with_units
from dispatcher.core.units import Position, Unit, UnitState, UnitStatus
from dispatcher.demo import embedded
from realtime.hub import Hub
from realtime.positions import Positions

CENTRE = (121.47, 31.23)
ADS = Category("200205", "违法设置户外广告设施", Priority.NORMAL, "working_hours", 4,
               specialty="advertising")  # fmt: skip
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def live_units(count: int, squads: int, rng: random.Random) -> dict[str, list[UnitState]]:
    """``count`` available units spread over ``squads`` squads, within 5 km of CENTRE, a third
    with the skill, positions up to 10 minutes old (some stale), loads 0–3."""
    by_squad: dict[str, list[UnitState]] = {}
    for n in range(count):
        squad = f"sq-{n % squads}"
        skills = ("advertising",) if n % 3 == 0 else ()
        unit = Unit(f"u-{n}", squad, f"unit {n}", skills, UnitStatus.AVAILABLE)
        lon = CENTRE[0] + rng.uniform(-0.05, 0.05)
        lat = CENTRE[1] + rng.uniform(-0.045, 0.045)
        at = NOW - timedelta(seconds=rng.uniform(0, 600))
        by_squad.setdefault(squad, []).append(UnitState(unit, Position(lon, lat, at), n % 4))
    return by_squad


def ranking(count: int) -> list[list[str]]:
    rng = random.Random(1)
    rows = []
    for squads in (20, 1):
        units = live_units(count, squads, rng)
        base = Recommendation((Candidate("sq-0", ("属地",)),), (), ())
        times = []
        for _ in range(200):
            started = time.perf_counter()
            with_units(base, *CENTRE, ADS, units, NOW, UnitPolicy())
            times.append((time.perf_counter() - started) * 1000)
        per_squad = count // squads
        rows.append(
            [
                f"rank {per_squad:,} units of the squad ({count:,} live)",
                f"{statistics.mean(times):.2f}",
                f"{percentile(times, 50):.2f}",
                f"{percentile(times, 99):.2f}",
            ]
        )
    return rows


async def redis_figures(url: str, count: int) -> list[list[str]]:
    client = aioredis.from_url(url)
    positions = Positions(client, Hub())
    rows = []
    try:
        rng = random.Random(2)
        places = [
            (f"u-{n}", CENTRE[0] + rng.uniform(-0.05, 0.05), CENTRE[1] + rng.uniform(-0.05, 0.05))
            for n in range(count)
        ]
        body = {"type": "unit.moved", "unit": {"id": "u", "position": {}}}
        base_ms = int(time.time() * 1000)
        started = time.perf_counter()
        for k, (key, lon, lat) in enumerate(places):
            await positions.record(key, lon, lat, base_ms + k, ("all", "units"), body)
        one = count / (time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(0, count, 50):
            await asyncio.gather(
                *(
                    positions.record(key, lon, lat, base_ms + count + k, ("all",), body)
                    for k, (key, lon, lat) in enumerate(places[i : i + 50], start=i)
                )
            )
        flight = count / (time.perf_counter() - started)
        rows.append(["keep a position, one at a time", f"{1000 / one:.2f}", f"{one:,.0f}/s", ""])
        rows.append(
            ["keep a position, 50 in flight", f"{1000 / flight:.2f}", f"{flight:,.0f}/s", ""]
        )
        for size in (100, count):
            keys = [k for k, _, _ in places[:size]]
            times = []
            for _ in range(50):
                t0 = time.perf_counter()
                found = await positions.read(keys)
                times.append((time.perf_counter() - t0) * 1000)
            assert len(found) == size
            rows.append(
                [
                    f"read {size:,} positions",
                    f"{statistics.mean(times):.2f}",
                    f"{percentile(times, 50):.2f}",
                    f"{percentile(times, 99):.2f}",
                ]
            )
        message = (
            '{"key":"u-%d","topics":["all","units"],"throttle":true,"body":{"type":"unit.moved"}}'
        )
        started = time.perf_counter()
        for n in range(count):
            positions.receive(message % n)
        positions.flush()
        took = (time.perf_counter() - started) * 1e6 / count
        rows.append(
            [f"throttle {count:,} unit.moved (receive + flush)", f"{took / 1000:.4f}", "", ""]
        )
    finally:
        await client.aclose()
    return rows


async def http_figures(base: str, count: int, requests: int) -> list[list[str]]:
    """GET recommendations with ``count`` live units: first 100 of them in the squad that
    answers for the incident (the others in 19 more squads), then half of them."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    rng = random.Random(3)
    rows = []
    async with aiohttp.ClientSession(headers=headers) as session:

        async def call(method: str, path: str, body: Any) -> Any:
            async with session.request(method, base + path, json=body) as resp:
                answer = await resp.json()
                assert resp.status < 300, (path, resp.status, answer)
                return answer

        async def put(n: int, squad: str, place: bool) -> None:
            skills = ["advertising"] if n % 3 == 0 else []
            body = {"squad_id": squad, "name": f"u{n}", "skills": skills}
            await call("PUT", f"/api/v1/units/u-{n}", body)
            if place:
                where = {"lon": 121.40 + rng.uniform(0, 0.1), "lat": 31.20 + rng.uniform(0, 0.1)}
                await call("POST", f"/api/v1/units/u-{n}/position", where)

        async def put_all(squad_of: Any, place: bool) -> None:
            for i in range(0, count, 20):
                batch = range(i, min(count, i + 20))
                await asyncio.gather(*(put(n, squad_of(n), place) for n in batch))

        for k in range(19):
            await call("PUT", f"/api/v1/squads/sq-x{k}", {"name": f"x{k}", "kind": "street"})
        report = {"source": "citizen", "category": "200205", "lon": 121.405, "lat": 31.205}
        incident = await call("POST", "/api/v1/incidents", report)
        path = f"/api/v1/incidents/{incident['id']}/recommendations"
        layouts = [
            (100, lambda n: "sq-west" if n < 100 else f"sq-x{n % 19}", True),
            (count // 2, lambda n: "sq-west" if n % 2 == 0 else f"sq-x{n % 19}", False),
        ]
        for in_squad, squad_of, place in layouts:
            await put_all(squad_of, place)
            for _ in range(10):
                await call("GET", path, None)
            times = []
            for _ in range(requests):
                t0 = time.perf_counter()
                answer = await call("GET", path, None)
                times.append((time.perf_counter() - t0) * 1000)
            assert answer["candidates"][0]["unit_id"] is not None
            rows.append(
                [
                    f"GET recommendations, {in_squad:,} units in the squad ({count:,} live)",
                    f"{statistics.mean(times):.2f}",
                    f"{percentile(times, 50):.2f}",
                    f"{percentile(times, 99):.2f}",
                ]
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--no-http", action="store_true", help="skip (c), the whole stack")
    args = parser.parse_args()
    rows = ranking(args.units)
    with (
        embedded.scratch_folder(SCRATCH_PREFIX) as folder,
        embedded.start_redis(folder / "redis") as redis,
    ):
        rows += asyncio.run(redis_figures(redis.url, args.units))
    if not args.no_http:
        with running_stack() as stack:
            rows += asyncio.run(http_figures(stack.base, args.units, args.requests))
    print(table(["what", "mean ms", "p50 ms (or rate)", "p99 ms"], rows))


if __name__ == "__main__":
    main()
