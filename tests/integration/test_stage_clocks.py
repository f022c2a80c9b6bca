"""Stage limits on their clock kinds, through the API and the timer loop on real PostgreSQL and
Redis: a category's own limit, the 12345 hotline's sign-for in a working day, the stage's
yellow and red, the supervision record and the escalation to the parent tier's topic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest_asyncio
from aiohttp.test_utils import TestServer

from dispatcher.app import create_app
from dispatcher.core.categories import load_default_catalogue
from dispatcher.core.clocks import ClockKind
from dispatcher.core.times import parse_time
from dispatcher.store.changes import Changes
from dispatcher.store.timer_loop import TimerLoop
from dispatcher.web.context import RUNTIME, Runtime
from realtime.hub import Envelope
from tests.integration.support import WEST, Api, settings_for

#: a category whose squad signs for within 15 continuous minutes (a camera's urgent kind)
URGENT = {
    "code": "299802",
    "name": "测试：紧急占道（签收 15 分钟）",
    "priority": "urgent",
    "clock": "working_days",
    "limit": 5,
    "dedup_radius_m": 0,
    "stage_limits": {"accept": {"clock": "continuous", "limit": 0.25}},
}


@dataclass
class Served:
    api: Api
    rt: Runtime
    published: list[Envelope] = field(default_factory=list)


@pytest_asyncio.fixture
async def served(database_url: str, redis_url: str) -> AsyncIterator[Served]:
    app = create_app(settings_for(database_url, redis_url))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    rt = app[RUNTIME]
    async with aiohttp.ClientSession() as session:
        watched = Served(Api(str(server.make_url("")).rstrip("/"), session), rt)

        def publish(stored: list[Envelope]) -> None:
            watched.published.extend(stored)
            rt.bridge.committed(stored)

        # the same path, with what it publishes after the commit observed
        rt.changes = Changes(rt.pool, lambda: rt.policy.rules, publish, rt.timer_loop.wake.set)
        try:
            yield watched
        finally:
            await server.close()


async def read(api: Api, incident_id: str) -> dict[str, Any]:
    _, found = await api.call("GET", f"/api/v1/incidents/{incident_id}", expect=200)
    assert isinstance(found, dict)
    return found


def at(text: str) -> datetime:
    found = parse_time(text)
    assert found is not None
    return found


def near(a: datetime, b: datetime) -> bool:
    """Equal to the millisecond (the API writes times to the millisecond)."""
    return abs(a - b) < timedelta(milliseconds=1)


def loop_at(served: Served, now: datetime) -> TimerLoop:
    """A timer loop whose clock reads ``now`` (ahead of the wall clock)."""
    rt = served.rt
    squads = rt.ref.squads
    return TimerLoop(rt.pool, rt.changes, lambda: squads, asyncio.Event(), clock=lambda: now)


async def test_a_categorys_stage_goes_yellow_then_red_once_escalated(served: Served) -> None:
    api, rt = served.api, served.rt
    await api.load_town()
    catalogue = [c.to_json() for c in load_default_catalogue()] + [URGENT]
    await api.call("PUT", "/api/v1/categories", body=catalogue, expect=200)
    _, listed = await api.call("GET", "/api/v1/categories", expect=200)
    (entry,) = [c for c in listed["categories"] if c["code"] == URGENT["code"]]
    assert entry["stage_limits"] == {"accept": {"clock": "continuous", "limit": 0.25}}
    assert all("stage_limits" not in c for c in listed["categories"] if c is not entry)

    op = await api.token("operator")
    _, made = await api.report(
        await api.token("device"), source="citizen", category=URGENT["code"], lon=WEST[0]
    )
    iid = made["id"]
    await api.call("POST", f"/api/v1/incidents/{iid}/actions", op, body={"action": "register"})
    _, sent = await api.call(
        "POST",
        f"/api/v1/incidents/{iid}/actions",
        op,
        body={"action": "dispatch", "squad_id": "sq-west"},
        expect=200,
    )
    stage = sent["stage"]
    assert (stage["name"], stage["clock"], stage["limit"]) == ("accept", "continuous", 0.25)
    since = at(stage["since"])
    assert near(at(stage["deadline"]), since + timedelta(minutes=15))
    assert stage["colour"] == "green"
    kinds = {
        r["kind"]: r["due_at"]
        for r in await rt.pool.fetch(
            "SELECT kind, due_at FROM timers WHERE incident_id = $1 AND fired_at IS NULL", iid
        )
    }
    assert near(kinds["stage_warning"], since + timedelta(minutes=12))
    assert near(kinds["stage_overdue"], since + timedelta(minutes=15))

    # yellow: 80% of the stage's 15 minutes
    assert await loop_at(served, since + timedelta(minutes=13)).run_once() >= 1
    yellow = await read(api, iid)
    warning = yellow["history"][-1]
    assert warning["type"] == "deadline.warning"
    assert warning["detail"]["clock"] == "stage"
    assert warning["detail"]["stage"] == "accept"
    _, none_yet = await api.call("GET", f"/api/v1/incidents/{iid}/supervisions", op, expect=200)
    assert none_yet["supervisions"] == []

    # red: one overdue, a supervision record, the parent squad told on its topic
    published = len(served.published)
    await loop_at(served, since + timedelta(minutes=16)).run_once()
    red = await read(api, iid)
    overdue = red["history"][-1]
    assert overdue["type"] == "deadline.overdue"
    assert overdue["detail"]["clock"] == "stage"
    assert overdue["detail"]["escalated_to"] == ["centre"]
    sent_now = [e for e in served.published[published:] if f"incident:{iid}" in e.topics]
    assert len(sent_now) == 1
    assert {"squad:sq-west", "squad:centre", "all"} <= set(sent_now[0].topics)
    _, records = await api.call("GET", f"/api/v1/incidents/{iid}/supervisions", op, expect=200)
    (record,) = records["supervisions"]
    assert record["kind"] == "overdue"
    assert record["note"].startswith("签收超时")
    assert record["notified"] == ["centre"]

    # once across loops: a later loop gives nothing more for this stage entry
    versions = red["version"]
    await loop_at(served, since + timedelta(minutes=40)).run_once()
    again = await read(api, iid)
    assert again["version"] == versions
    assert len(again["history"]) == len(red["history"])


async def test_a_hotline_order_is_signed_for_within_a_working_day(served: Served) -> None:
    api, rt = served.api, served.rt
    await api.load_town()
    # the hotline is trusted: registered and dispatched to the street's squad at once
    _, order = await api.report(await api.token("device"), source="hotline")
    assert order["state"] == "dispatched", order
    stage = order["stage"]
    assert (stage["name"], stage["clock"], stage["limit"]) == ("accept", "working_days", 1)
    calendar = rt.policy.rules.calendar
    since = at(stage["since"])
    assert near(
        at(stage["deadline"]), calendar.add(since, timedelta(days=1), ClockKind.WORKING_DAYS)
    )
    assert at(stage["deadline"]) - since >= timedelta(hours=8)
    # a citizen's report of the same category keeps the 30 continuous minutes
    op = await api.token("operator")
    _, made = await api.report(await api.token("device"), source="citizen", lon=WEST[0] + 0.002)
    for body in ({"action": "register"}, {"action": "dispatch", "squad_id": "sq-west"}):
        _, made = await api.call(
            "POST", f"/api/v1/incidents/{made['id']}/actions", op, body=body, expect=200
        )
    assert made["stage"]["clock"] == "continuous"
    assert near(at(made["stage"]["deadline"]), at(made["stage"]["since"]) + timedelta(minutes=30))


async def test_a_timer_armed_before_the_catalogue_lengthened_the_stage_is_armed_again(
    served: Served,
) -> None:
    api, rt = served.api, served.rt
    await api.load_town()
    catalogue = [c.to_json() for c in load_default_catalogue()] + [URGENT]
    await api.call("PUT", "/api/v1/categories", body=catalogue, expect=200)
    op = await api.token("operator")
    _, made = await api.report(
        await api.token("device"), source="citizen", category=URGENT["code"], lon=WEST[0]
    )
    iid = made["id"]
    for body in ({"action": "register"}, {"action": "dispatch", "squad_id": "sq-west"}):
        _, made = await api.call(
            "POST", f"/api/v1/incidents/{iid}/actions", op, body=body, expect=200
        )
    since = at(made["stage"]["since"])
    # the catalogue now gives the stage an hour: the timers armed for 15 minutes are early
    longer = {**URGENT, "stage_limits": {"accept": {"clock": "continuous", "limit": 1}}}
    catalogue[-1] = longer
    await api.call("PUT", "/api/v1/categories", body=catalogue, expect=200)
    assert (await read(api, iid))["stage"]["deadline"] is not None
    await loop_at(served, since + timedelta(minutes=20)).run_once()
    unchanged = await read(api, iid)
    assert unchanged["version"] == made["version"]  # nothing given early
    due = {
        r["kind"]: r["due_at"]
        for r in await rt.pool.fetch(
            "SELECT kind, due_at FROM timers WHERE incident_id = $1 AND fired_at IS NULL", iid
        )
    }
    assert near(due["stage_warning"], since + timedelta(minutes=48))
    assert near(due["stage_overdue"], since + timedelta(hours=1))
