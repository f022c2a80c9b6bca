"""Supervision items (督办单) on real PostgreSQL and Redis: a leader's instruction through its
deadline, yellow, reply, return, second reply, acceptance and closure, each step in the
hash-chained history (which still verifies); red escalated to the tier above; an incident from
a leader's source opening an item by itself; a squad outside the tier refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest_asyncio
from aiohttp.test_utils import TestServer

from dispatcher.app import create_app
from dispatcher.core import audit
from dispatcher.core.clocks import ClockKind
from dispatcher.core.times import parse_time
from dispatcher.store.changes import Changes
from dispatcher.store.supervision import WarningLoop
from dispatcher.web.context import RUNTIME, Runtime
from realtime.hub import Envelope
from tests.integration.support import WEST, Api, settings_for

ITEMS = "/api/v1/supervision-items"
#: the smallest PNG: its magic bytes are what the upload checks
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@dataclass
class Served:
    api: Api
    rt: Runtime
    published: list[Envelope] = field(default_factory=list)


@pytest_asyncio.fixture
async def served(database_url: str, redis_url: str, tmp_path: Any) -> AsyncIterator[Served]:
    app = create_app(settings_for(database_url, redis_url, media_dir=tmp_path))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    rt = app[RUNTIME]
    async with aiohttp.ClientSession() as session:
        watched = Served(Api(str(server.make_url("")).rstrip("/"), session), rt)

        def publish(stored: list[Envelope]) -> None:
            watched.published.extend(stored)
            rt.bridge.committed(stored)

        rt.changes = Changes(rt.pool, lambda: rt.policy.rules, publish, rt.timer_loop.wake.set)
        try:
            yield watched
        finally:
            await server.close()


def at(text: str) -> datetime:
    found = parse_time(text)
    assert found is not None
    return found


def loop_at(served: Served, now: datetime) -> WarningLoop:
    """The items' warning loop with a clock that reads ``now``."""
    squads = served.rt.ref.squads
    return WarningLoop(served.rt.pool, served.rt.changes, lambda: squads, clock=lambda: now)


async def verify_chain(served: Served) -> int:
    async with served.rt.pool.acquire() as conn, conn.transaction(readonly=True):
        checked, finding = await audit.verify(conn.cursor(audit.SELECT_CHAIN))
    assert finding is None, finding
    return checked


async def read(api: Api, item_id: str, token: str | None = None) -> dict[str, Any]:
    _, found = await api.call("GET", f"{ITEMS}/{item_id}", token, expect=200)
    assert isinstance(found, dict)
    return found


async def test_a_leaders_instruction_from_opening_to_closure(served: Served) -> None:
    api, rt = served.api, served.rt
    await api.load_town()
    op = await api.token("operator")
    west = await api.token("squad", "sq-west")
    east = await api.token("squad", "sq-east")
    _, case = await api.report(await api.token("device"), source="hotline")
    body = {
        "kind": "leader_instruction",
        "doc_no": "区领导批示〔2026〕7号",
        "doc_text": "请西街道中队速查店外经营并报结果。",
        "title": "店外经营整治",
        "incident_ids": [case["id"]],
        "tier_id": "sq-west",
    }
    await api.call("POST", ITEMS, west, body=body, expect=403)
    await api.call("POST", ITEMS, op, body={**body, "tier_id": "nowhere"}, expect=422)
    status, bad = await api.call("POST", ITEMS, op, body={**body, "incident_ids": ["nope"]})
    assert status == 422
    assert bad["error"]["field"] == "incident_ids"
    _, item = await api.call("POST", ITEMS, op, body=body, expect=201)
    iid = item["id"]
    assert iid.startswith("DB")
    assert (item["kind_label"], item["state"], item["colour"]) == ("领导批示", "open", "green")
    assert item["tier"] == {"id": "sq-west", "name": "西街道中队", "tier": "大队"}
    # the deadline: 5 working days on the working calendar (the kind's default)
    calendar = rt.policy.rules.calendar
    opened = at(item["opened_at"])
    deadline = at(item["deadline"])
    assert abs(deadline - calendar.add(opened, timedelta(days=5), ClockKind.WORKING_DAYS)) < (
        timedelta(milliseconds=1)
    )
    yellow_at = at(item["yellow_at"])
    assert opened < yellow_at < deadline

    # a squad outside the tier: 403 on reading, replying and the tier's queue
    await api.call("GET", f"{ITEMS}/{iid}", east, expect=403)
    await api.call("POST", f"{ITEMS}/{iid}/reply", east, body={"text": "x"}, expect=403)
    await api.call("GET", f"{ITEMS}?tier=sq-west", east, expect=403)
    _, theirs = await api.call("GET", ITEMS, east, expect=200)
    assert theirs["items"] == []
    _, ours = await api.call("GET", f"{ITEMS}?colour=green", west, expect=200)
    assert [i["id"] for i in ours["items"]] == [iid]

    # yellow, once
    assert await loop_at(served, yellow_at - timedelta(seconds=1)).run_once() == 0
    assert await loop_at(served, yellow_at + timedelta(seconds=1)).run_once() == 1
    assert await loop_at(served, yellow_at + timedelta(seconds=2)).run_once() == 0
    assert (await read(api, iid, op))["colour"] == "yellow"

    # review before any reply: 409
    status, early = await api.call("POST", f"{ITEMS}/{iid}/review", op, body={"accepted": True})
    assert status == 409
    assert early["error"]["code"] == "invalid_transition"

    # the squad replies with a photo; the centre returns it with a reason
    _, photo = await api.call("POST", f"{ITEMS}/{iid}/attachments", west, data=PNG, expect=201)
    status, bad = await api.call(
        "POST", f"{ITEMS}/{iid}/reply", west, body={"text": "已整改", "attachments": ["/x.png"]}
    )
    assert status == 422
    assert bad["error"]["field"] == "attachments.0"
    _, replied = await api.call(
        "POST",
        f"{ITEMS}/{iid}/reply",
        west,
        body={"text": "已整改，商户已入店经营。", "attachments": [photo["url"]]},
        expect=200,
    )
    assert replied["state"] == "replied"
    assert replied["round"] == 1
    await api.call("POST", f"{ITEMS}/{iid}/review", west, body={"accepted": True}, expect=403)
    status, bad = await api.call("POST", f"{ITEMS}/{iid}/review", op, body={"accepted": False})
    assert status == 422
    assert bad["error"]["field"] == "reason"
    _, returned = await api.call(
        "POST",
        f"{ITEMS}/{iid}/review",
        op,
        body={"accepted": False, "reason": "照片未显示整改后现场"},
        expect=200,
    )
    assert returned["state"] == "returned"
    _, again = await api.call(
        "POST", f"{ITEMS}/{iid}/reply", west, body={"text": "补充整改后照片。"}, expect=200
    )
    assert again["round"] == 2
    await api.call("POST", f"{ITEMS}/{iid}/close", op, body={}, expect=409)
    await api.call("POST", f"{ITEMS}/{iid}/review", op, body={"accepted": True}, expect=200)
    _, closed = await api.call(
        "POST", f"{ITEMS}/{iid}/close", op, body={"note": "办结"}, expect=200
    )
    assert closed["state"] == "closed"
    assert closed["state_label"] == "已办结"

    whole = await read(api, iid, west)
    assert [s["type"] for s in whole["steps"]] == [
        "supervision.opened",
        "supervision.warned",
        "supervision.replied",
        "supervision.returned",
        "supervision.replied",
        "supervision.accepted",
        "supervision.closed",
    ]
    assert [s["actor_name"] for s in whole["steps"]] == [
        "test operator",
        "系统",
        "test squad",
        "test operator",
        "test squad",
        "test operator",
        "test operator",
    ]
    (first, second) = whole["replies"]
    assert first["verdict"] == "returned"
    assert first["reason"] == "照片未显示整改后现场"
    assert first["attachments"] == [photo["url"]]
    assert second["verdict"] == "accepted"
    assert second["reviewed_by_name"] == "test operator"
    async with api.session.get(api.base + photo["url"], headers=api.headers(west)) as resp:
        assert resp.status == 200
        assert await resp.read() == PNG
    async with api.session.get(api.base + photo["url"], headers=api.headers(east)) as resp:
        assert resp.status == 403
    # each step is a history entry with the item as subject, and the chain holds
    rows = await rt.pool.fetch(
        "SELECT seq, type, hash FROM history WHERE incident_id = $1 ORDER BY seq", iid
    )
    assert [r["type"] for r in rows] == [s["type"] for s in whole["steps"]]
    assert all(r["hash"] is not None for r in rows)
    assert await verify_chain(served) >= len(rows) + 1
    # every step went to the item's incident's followers too
    told = [e for e in served.published if f"incident:{case['id']}" in e.topics]
    assert len([e for e in told if "supervision." in e.raw]) == len(rows)


async def test_red_escalates_to_the_tier_above(served: Served) -> None:
    api, rt = served.api, served.rt
    await api.load_town()
    op = await api.token("operator")
    deadline = datetime.now(rt.settings.zone) + timedelta(hours=3)
    _, item = await api.call(
        "POST",
        ITEMS,
        op,
        body={
            "kind": "media",
            "doc_text": "某报报道：西街道占道经营。",
            "tier_id": "sq-west",
            "deadline": deadline.isoformat(),
        },
        expect=201,
    )
    published = len(served.published)
    assert await loop_at(served, deadline + timedelta(seconds=1)).run_once() == 1
    red = await read(api, item["id"], op)
    assert red["colour"] == "red"
    assert red["due_at"] is None
    assert red["escalated"] == [{"id": "centre", "name": "区指挥中心", "tier": "支队"}]
    (sent,) = served.published[published:]
    assert {"squad:sq-west", "squad:centre", "all"} <= set(sent.topics)
    assert red["steps"][-1]["type"] == "supervision.overdue"
    _, queue = await api.call("GET", f"{ITEMS}?colour=red&state=open", op, expect=200)
    assert [i["id"] for i in queue["items"]] == [item["id"]]
    await verify_chain(served)


async def test_a_leader_source_incident_opens_an_item_by_itself(served: Served) -> None:
    api, rt = served.api, served.rt
    await api.load_town()
    op = await api.token("operator")
    device = await api.token("device")
    _, plain = await api.report(device, source="hotline", external_id="h-1")
    _, led = await api.report(
        device,
        source="leader",
        external_id="l-1",
        description="区长批示：请整治店外经营",
        lon=WEST[0] + 0.01,
    )
    _, plain_items = await api.call("GET", f"{ITEMS}?incident_id={plain['id']}", op, expect=200)
    assert plain_items["items"] == []
    _, found = await api.call("GET", f"{ITEMS}?incident_id={led['id']}", op, expect=200)
    (item,) = found["items"]
    assert item["kind"] == "leader_instruction"
    assert item["incident_ids"] == [led["id"]]
    assert item["tier_id"] == led["squad_id"]
    assert item["opened_by"] == {"actor": "system", "name": "系统"}
    # the incident names the item that covers it
    _, shown = await api.call("GET", f"/api/v1/incidents/{led['id']}", op, expect=200)
    (listed,) = shown["supervision_items"]
    assert (listed["id"], listed["kind_label"], listed["state_label"]) == (
        item["id"],
        "领导批示",
        "待答复",
    )
    whole = await read(api, item["id"], op)
    assert whole["doc_text"] == "区长批示：请整治店外经营"
    (step,) = whole["steps"]
    assert step["type"] == "supervision.opened"
    # appended in intake's own batch, right after the incident's entries
    seqs = await rt.pool.fetch(
        "SELECT seq, incident_id FROM history WHERE incident_id = ANY($1::text[]) ORDER BY seq",
        [led["id"], item["id"]],
    )
    assert seqs[-1]["incident_id"] == item["id"]
    # a replay of the same report opens nothing more
    await api.report(device, source="leader", external_id="l-1")
    _, still = await api.call("GET", f"{ITEMS}?incident_id={led['id']}", op, expect=200)
    assert len(still["items"]) == 1
    # a leader's report of a problem already open puts that incident under supervision
    _, joined = await api.report(
        device, source="leader", external_id="l-2", description="区领导：此处占道请速处理"
    )
    assert joined["duplicate_of"] == plain["id"]
    _, on_plain = await api.call("GET", f"{ITEMS}?incident_id={plain['id']}", op, expect=200)
    (covering,) = on_plain["items"]
    assert covering["tier_id"] == plain["squad_id"] == "sq-west"
    await verify_chain(served)


async def test_the_centre_assigns_the_tier_that_must_answer(served: Served) -> None:
    api = served.api
    await api.load_town()
    op = await api.token("operator")
    west, east = await api.token("squad", "sq-west"), await api.token("squad", "sq-east")
    _, item = await api.call(
        "POST",
        ITEMS,
        op,
        body={"kind": "media", "doc_text": "晚报曝光：东街夜市油烟扰民", "tier_id": "sq-west"},
        expect=201,
    )
    path = f"{ITEMS}/{item['id']}/assign"
    # only the centre assigns, to a known squad, and not to the tier it already is
    await api.call("POST", path, west, body={"tier_id": "sq-east"}, expect=403)
    status, unknown = await api.call("POST", path, op, body={"tier_id": "nope"})
    assert (status, unknown["error"]["field"]) == (422, "tier_id")
    await api.call("POST", path, op, body={"tier_id": "sq-west"}, expect=422)
    _, moved = await api.call(
        "POST", path, op, body={"tier_id": "sq-east", "note": "属东街辖区"}, expect=200
    )
    assert moved["tier_id"] == "sq-east"
    # the new tier answers; the old one no longer may
    await api.call(
        "POST", f"{ITEMS}/{item['id']}/reply", west, body={"text": "不属本辖区"}, expect=403
    )
    await api.call(
        "POST",
        f"{ITEMS}/{item['id']}/reply",
        east,
        body={"text": "已督促商户安装油烟净化设施"},
        expect=200,
    )
    # replied: no reply is owed, so the tier is not handed on now
    await api.call("POST", path, op, body={"tier_id": "sq-west"}, expect=409)
    steps = (await read(api, item["id"], op))["steps"]
    assigned = next(s for s in steps if s["type"] == "supervision.assigned")
    assert (assigned["detail"]["tier_id"], assigned["detail"]["from_tier_id"]) == (
        "sq-east",
        "sq-west",
    )
    assert assigned["label"] == "指定答复单位"
    await verify_chain(served)
