"""Escalation one command tier at a time (逐级督办) through the timer loop, and the breaches of
the thresholds (考核指标阈值) on real figures, on real PostgreSQL and Redis.

The squads are three tiers: the district's 区指挥中心 (支队), a 西片大队 (大队) and the west
street's 中队. The timer loop is driven with an injected clock (as in test_stage_clocks)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest_asyncio
from aiohttp.test_utils import TestServer

from dispatcher.app import create_app
from dispatcher.core.categories import load_default_catalogue
from dispatcher.core.clocks import ClockKind
from dispatcher.core.times import parse_time
from dispatcher.setting_kinds import Thresholds
from dispatcher.store.changes import Changes
from dispatcher.store.timer_loop import TimerLoop
from dispatcher.web.context import RUNTIME, Runtime
from realtime.hub import Envelope
from tests.integration.support import EAST, WEST, Api, settings_for

#: a category on the working-hours clock: 2 working hours to handle
WORKING = {
    "code": "299803",
    "name": "测试：逐级督办（2 工作小时）",
    "priority": "normal",
    "clock": "working_hours",
    "limit": 2,
    "dedup_radius_m": 0,
}
#: the 大队 between the centre (支队) and the west street's 中队
BRIGADE = {"name": "西片大队", "kind": "specialist", "parent_id": "centre"}
WEST_SQUAD = {"name": "西街道中队", "kind": "street", "parent_id": "dd-west"}


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


async def three_tiers(api: Api) -> None:
    """The test town with a 大队 put between the centre and the west street's 中队."""
    await api.load_town()
    await api.call("PUT", "/api/v1/squads/dd-west", body=BRIGADE, expect=201)
    await api.call("PUT", "/api/v1/squads/sq-west", body=WEST_SQUAD, expect=200)
    catalogue = [c.to_json() for c in load_default_catalogue()] + [WORKING]
    await api.call("PUT", "/api/v1/categories", body=catalogue, expect=200)


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


async def read(api: Api, incident_id: str) -> dict[str, Any]:
    _, found = await api.call("GET", f"/api/v1/incidents/{incident_id}", expect=200)
    assert isinstance(found, dict)
    return found


async def supervisions(api: Api, incident_id: str) -> list[dict[str, Any]]:
    _, body = await api.call("GET", f"/api/v1/incidents/{incident_id}/supervisions", expect=200)
    return list(body["supervisions"])


async def pending(served: Served, incident_id: str) -> dict[str, datetime]:
    rows = await served.rt.pool.fetch(
        "SELECT kind, due_at FROM timers WHERE incident_id = $1 AND fired_at IS NULL",
        incident_id,
    )
    return {r["kind"]: r["due_at"] for r in rows}


def sent_for(served: Served, since: int, incident_id: str) -> list[Envelope]:
    return [e for e in served.published[since:] if f"incident:{incident_id}" in e.topics]


async def test_an_overdue_case_tells_the_brigade_at_once_then_the_detachment_at_half_again(
    served: Served,
) -> None:
    api, rt = served.api, served.rt
    await three_tiers(api)
    op, west = await api.token("operator"), await api.token("squad", "sq-west")
    _, made = await api.report(
        await api.token("device"), source="citizen", category=WORKING["code"], lon=WEST[0]
    )
    iid = made["id"]
    for token, body in (
        (op, {"action": "register"}),
        (op, {"action": "dispatch", "squad_id": "sq-west"}),
        (west, {"action": "accept"}),  # signed for: only the case clock runs
    ):
        await api.call("POST", f"/api/v1/incidents/{iid}/actions", token, body=body, expect=200)
    case = await read(api, iid)
    assert case["squad_id"] == "sq-west"
    clock = case["clock"]
    assert (clock["kind"], clock["limit_s"]) == ("working_hours", 7200)
    deadline = at(case["deadline"])
    assert "case_escalation" not in await pending(served, iid)

    # red: the 大队 is told at once, and only the 大队
    published = len(served.published)
    await loop_at(served, deadline + timedelta(seconds=1)).run_once()
    red = await read(api, iid)
    overdue = red["history"][-1]
    assert overdue["type"] == "deadline.overdue"
    assert overdue["detail"]["clock"] == "case"
    assert overdue["detail"]["escalated_to"] == ["dd-west"]
    (sent,) = sent_for(served, published, iid)
    assert {"squad:sq-west", "squad:dd-west", "all"} <= set(sent.topics)
    assert "squad:centre" not in sent.topics
    (first,) = await supervisions(api, iid)
    assert (first["kind"], first["notified"]) == ("overdue", ["dd-west"])
    assert first["note"].startswith("超期未处置")
    assert (red["escalated_tiers"], red["tiers_above"]) == (1, 2)

    # the next step is armed at +50% of the limit, on the working-hours clock
    calendar = rt.policy.rules.calendar
    step = calendar.add(at(clock["start"]), timedelta(hours=3), ClockKind.WORKING_HOURS)
    assert step > deadline
    assert near((await pending(served, iid))["case_escalation"], step)

    # a loop before the step gives nothing
    await loop_at(served, step - timedelta(seconds=1)).run_once()
    assert (await read(api, iid))["version"] == red["version"]

    # +50%: the 支队 (the centre) is told, with a supervision record naming it
    published = len(served.published)
    await loop_at(served, step + timedelta(seconds=1)).run_once()
    climbed = await read(api, iid)
    stepped = climbed["history"][-1]
    assert stepped["type"] == "deadline.overdue"
    assert stepped["detail"]["escalated_to"] == ["centre"]
    assert stepped["detail"]["escalation"] == {"step": 2, "tier": "支队", "late_pct": 50}
    (sent,) = sent_for(served, published, iid)
    assert {"squad:centre", "squad:sq-west", "all"} <= set(sent.topics)
    records = await supervisions(api, iid)
    assert [r["notified"] for r in records] == [["dd-west"], ["centre"]]
    assert "逐级督办至支队区指挥中心" in records[1]["note"]
    assert (climbed["escalated_tiers"], climbed["tiers_above"]) == (2, 2)
    # each step in the history, in order
    overdue_entries = [h for h in climbed["history"] if h["type"] == "deadline.overdue"]
    told = [h["detail"]["escalated_to"] for h in overdue_entries]
    assert told == [["dd-west"], ["centre"]]

    # the top is told: nothing more armed, nothing more given
    assert "case_escalation" not in await pending(served, iid)
    await loop_at(served, step + timedelta(days=30)).run_once()
    assert (await read(api, iid))["version"] == climbed["version"]


# --- the thresholds' breaches on real figures ---------------------------------------------------


async def handle(api: Api, tokens: dict[str, str], squad: str, *, reworked: bool = False) -> str:
    """A hotline call handled by ``squad`` and closed (after one failed verification when
    ``reworked``)."""
    place = WEST if squad == "sq-west" else EAST
    _, made = await api.report(tokens["device"], lon=place[0] + 0.003 * len(tokens), lat=place[1])
    iid = str(made["id"])
    tokens[f"case-{iid}"] = iid  # moves the next call's place: no duplicates
    steps: list[tuple[str, dict[str, Any]]] = [
        (squad, {"action": "accept"}),
        (squad, {"action": "resolve", "outcome": "corrected_on_spot"}),
    ]
    if reworked:
        steps += [
            ("op", {"action": "verify", "passed": False, "note": "仍在经营"}),
            (squad, {"action": "accept"}),
            (squad, {"action": "resolve", "outcome": "cleared"}),
        ]
    steps.append(("op", {"action": "verify", "passed": True}))
    for who, body in steps:
        await api.call(
            "POST", f"/api/v1/incidents/{iid}/actions", tokens[who], body=body, expect=200
        )
    return iid


async def breaches_of(api: Api, token: str, expect: int = 200, **params: Any) -> Any:
    path = f"/api/v1/thresholds/breaches?{urlencode(params)}"
    _, body = await api.call("GET", path, token, expect=expect)
    return body


async def test_the_breaches_of_each_tier_on_the_periods_figures(served: Served) -> None:
    api = served.api
    await three_tiers(api)
    start = datetime.now(UTC)
    tokens = {
        "device": await api.token("device"),
        "op": await api.token("operator"),
        "sq-west": await api.token("squad", "sq-west"),
        "sq-east": await api.token("squad", "sq-east"),
    }
    await handle(api, tokens, "sq-west")
    await handle(api, tokens, "sq-west", reworked=True)
    await handle(api, tokens, "sq-east")
    span = {"from": start.isoformat()}

    # every tier judged: 返工率 1/2 in the west (中队 and its 大队), 1/3 at the centre (支队);
    # 处置率, 按期处置率 and 结案率 are 100% everywhere; the east street (a 大队 here) is clean
    body = await breaches_of(api, tokens["op"], **span)
    found = [(b["squad_id"], b["tier"], b["indicator"], b["value"]) for b in body["breaches"]]
    assert found == [
        ("centre", "支队", "rework_rate", 0.333333),
        ("dd-west", "大队", "rework_rate", 0.5),
        ("sq-west", "中队", "rework_rate", 0.5),
    ]
    west = body["breaches"][-1]
    assert west["threshold"] == {"op": "<=", "value": 0.05, "text": "返工率 ≤ 5%"}
    assert (west["numerator"], west["denominator"]) == (1, 2)
    assert west["squad_name"] == "西街道中队"
    assert west["period"]["from"] == body["from"]
    assert body["thresholds"]["every"]["disposal_rate"]["text"] == "处置率 ≥ 98%"

    # the 大队's holder reads its own tier's: itself and its 中队
    brigade = await api.token("squad", "dd-west")
    own = await breaches_of(api, brigade, **span)
    assert own["squad_id"] == "dd-west"
    assert [b["squad_id"] for b in own["breaches"]] == ["dd-west", "sq-west"]
    # and a 中队 cannot read above its squad, nor a device any figures
    await breaches_of(api, tokens["sq-east"], 403, squad_id="dd-west", **span)
    await breaches_of(api, tokens["device"], 403, **span)

    # a month: the same figures (the test's cases are all received this month)
    month = datetime.now(served.rt.settings.zone).strftime("%Y-%m")
    monthly = await breaches_of(api, tokens["op"], period=month, squad_id="dd-west")
    assert monthly["period"] == month
    assert [b["value"] for b in monthly["breaches"]] == [0.5, 0.5]
    assert monthly["breaches"][0]["period"]["label"] == month
    bad = await breaches_of(api, tokens["op"], 422, period="2026-13")
    assert bad["error"]["field"] == "period"


async def test_a_tiers_own_threshold_overrides_the_others(
    database_url: str, redis_url: str
) -> None:
    lenient = Thresholds.parse(
        "disposal_rate>=98%,on_time_rate>=95%,close_rate>=95%,rework_rate<=5%,中队:rework_rate<=60%"
    )
    app = create_app(settings_for(database_url, redis_url, thresholds=lenient))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(str(server.make_url("")).rstrip("/"), session)
            await three_tiers(api)
            start = datetime.now(UTC)
            tokens = {
                "device": await api.token("device"),
                "op": await api.token("operator"),
                "sq-west": await api.token("squad", "sq-west"),
            }
            await handle(api, tokens, "sq-west")
            await handle(api, tokens, "sq-west", reworked=True)
            body = await breaches_of(api, tokens["op"], **{"from": start.isoformat()})
            # the 中队 is held to 60%: only the tiers above it breach
            assert [b["squad_id"] for b in body["breaches"]] == ["centre", "dd-west"]
            assert body["thresholds"]["by_tier"]["中队"]["rework_rate"]["value"] == 0.6
    finally:
        await server.close()
