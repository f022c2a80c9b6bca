"""Thresholds watched on real PostgreSQL and Redis: a tier's breach in the month so far opens
an internal supervision item (督办单) for it, once, and the wall hears of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest_asyncio
from aiohttp.test_utils import TestServer

from dispatcher.app import create_app
from dispatcher.core.categories import load_default_catalogue
from dispatcher.core.thresholds import Thresholds
from dispatcher.setting_kinds import Thresholds as ThresholdsSetting
from dispatcher.store.breach_watch import BreachWatch
from dispatcher.web.context import RUNTIME, Runtime
from tests.integration.support import Api, console, settings_for

#: a category whose limit runs out in seconds: a minute later every case of it is overdue
FAST = {
    "code": "299901",
    "name": "测试：极短时限",
    "priority": "urgent",
    "clock": "continuous",
    "limit": 0.0015,
    "dedup_radius_m": 0,
}


@pytest_asyncio.fixture
async def served(database_url: str, redis_url: str) -> AsyncIterator[tuple[Api, Runtime]]:
    app = create_app(settings_for(database_url, redis_url))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        try:
            yield Api(str(server.make_url("")).rstrip("/"), session), app[RUNTIME]
        finally:
            await server.close()


def watch(rt: Runtime, now: datetime, min_cases: int) -> BreachWatch:
    thresholds = ThresholdsSetting.parse("disposal_rate>=98%,中队:disposal_rate>=90%")
    return BreachWatch(
        rt.pool,
        rt.changes,
        lambda: rt.ref,
        Thresholds.from_entries(thresholds.entries),
        rt.settings.supervision_days.as_dict(),
        rt.settings.zone,
        min_cases=min_cases,
        interval_s=3600,
        weights=rt.settings.score_weights.as_dict(),
        clock=lambda: now,
    )


async def test_a_breach_opens_one_item_for_the_squad_and_the_wall_hears(
    served: tuple[Api, Runtime],
) -> None:
    api, rt = served
    await api.load_town()
    catalogue = [c.to_json() for c in load_default_catalogue()] + [FAST]
    await api.call("PUT", "/api/v1/categories", body=catalogue, expect=200)
    operator = await api.token("operator")
    for n in range(3):
        _, made = await api.report(operator, external_id=f"late-{n}", category="299901")
        assert made["squad_id"] == "sq-west"
        assert made["state"] == "dispatched"
    later = datetime.now(UTC) + timedelta(minutes=1)  # every case past its 5.4 s limit

    # too few cases to judge a squad by: nothing opens
    assert await watch(rt, later, min_cases=4).run_once() == []

    async with console(api) as wall:
        await wall.subscribe(["all"])
        opened = await watch(rt, later, min_cases=3).run_once()
        # the west squad (中队, below 90%) and the centre above it (支队, below 98%)
        assert len(opened) == 2
        step = await wall.until(lambda m: m.get("type") == "supervision.opened")
        assert step["item"]["kind"] == "internal"

    _, queue = await api.call("GET", "/api/v1/supervision-items?kind=internal")
    by_tier = {i["tier_id"]: i for i in queue["items"]}
    assert set(by_tier) == {"sq-west", "centre"}
    west = by_tier["sq-west"]
    assert (
        west["doc_no"]
        == f"考核预警〔{later.astimezone(rt.settings.zone):%Y-%m}〕sq-west/disposal_rate"
    )
    assert "处置率" in west["title"]
    assert "0/3" in west["doc_text"]
    assert west["state"] == "open"

    # judged again, the same breaches open nothing more
    assert await watch(rt, later + timedelta(minutes=5), min_cases=3).run_once() == []
    _, again = await api.call("GET", "/api/v1/supervision-items?kind=internal")
    assert len(again["items"]) == 2
