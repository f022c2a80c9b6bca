"""The demo's day against the real server: the synthetic history is written through intake's and
the life cycle's decisions, and a short compressed run of the simulated people closes cases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest_asyncio
from aiohttp.test_utils import TestServer

from dispatcher.app import create_app
from dispatcher.demo import history
from dispatcher.demo.city import DemoCity, build_demo_city
from dispatcher.demo.run import load_city, make_crew
from dispatcher.demo.simulator import run_simulator
from dispatcher.demo.workday import Workday
from dispatcher.web.context import RUNTIME
from tests.integration.support import ADMIN, settings_for


@pytest_asyncio.fixture
async def demo(database_url: str, redis_url: str) -> AsyncIterator[tuple[TestServer, DemoCity]]:
    app = create_app(settings_for(database_url, redis_url))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    city = build_demo_city()
    await load_city(str(server.make_url("")).rstrip("/"), ADMIN, city)
    yield server, city
    await server.close()


async def _stats(base: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {ADMIN}"}
        async with session.get(f"{base}/api/v1/stats", headers=headers) as resp:
            assert resp.status == 200
            total: dict[str, float] = (await resp.json())["total"]
            return total


async def test_history_and_a_compressed_run_close_cases(
    demo: tuple[TestServer, DemoCity],
) -> None:
    server, city = demo
    base = str(server.make_url("")).rstrip("/")
    crew, who = await make_crew(base, ADMIN, city)
    rt = server.app[RUNTIME]
    now = datetime.now(UTC)
    written = await history.backfill(rt, city, who, days=3, per_day=300, now=now)
    assert 700 < written < 1100
    assert await history.backfill(rt, city, who, days=3, per_day=300, now=now) == 0  # kept
    states = dict(await rt.pool.fetch("SELECT doc->>'state', count(*) FROM incidents GROUP BY 1"))
    assert states["closed"] > written / 2
    assert states.get("accepted", 0) + states.get("dispatched", 0) > 0  # today's, still open
    before = await _stats(base)  # today's figures: the history's last hours

    stop = asyncio.Event()
    workday = Workday(base, crew, speed=3600, seed=3)
    tasks = [
        asyncio.create_task(
            run_simulator(base, crew.device, city, rate_per_min=120, stop=stop, seed=4)
        ),
        asyncio.create_task(workday.run(stop, poll_s=0.2)),
    ]
    # the simulated people's own loop: nothing to wait on but what they have done so far
    for _ in range(300):  # at most a minute
        # done when today's figures show a case closed, not only a verify taken: a verify of
        # a backfilled case received on an earlier day closes nothing of today's
        if (
            workday.taken.get("verify", 0) >= 3
            and workday.taken.get("visit")
            and (await _stats(base))["closed"] > before["closed"]
        ):
            break
        await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*tasks)

    for action in ("register", "dispatch", "accept", "resolve", "verify", "visit"):
        assert workday.taken.get(action, 0) > 0, (action, workday.taken)
    photos = await rt.pool.fetchval(
        "SELECT count(*) FROM incidents WHERE doc->>'state' IN ('resolved', 'closed')"
        " AND doc::text LIKE '%/media/%'"
    )
    assert photos > 0
    after = await _stats(base)
    assert after["closed"] > before["closed"]
    assert after["closed"] > 0
    assert after["disposal_rate"] > 0
