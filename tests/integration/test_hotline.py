"""12345 接诉即办 on the real server, PostgreSQL and Redis: the platform's deadlines through
Open311 and the batch, the contact (联系), 退单 through the outbox to a stand-in platform, and
回访 in the figures (docs/API.md §5.3)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.integration.support import EAST, WEST, Api

SHANGHAI = "+08:00"


@dataclass
class Platform:
    """The 12345 platform's callback: it takes every status update."""

    url: str
    updates: list[dict[str, Any]] = field(default_factory=list)


@pytest_asyncio.fixture
async def platform() -> AsyncIterator[Platform]:
    state = Platform("")

    async def take(request: web.Request) -> web.Response:
        state.updates.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/12345/status", take)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.url = str(server.make_url("/12345/status"))
    yield state
    await server.close()


def later(**delta: float) -> datetime:
    return (datetime.now(UTC) + timedelta(**delta)).replace(microsecond=0)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def file_order(api: Api, key: str, number: str, **attributes: str) -> tuple[int, Any]:
    """A work order as the platform files it through Open311 (``attribute[...]``)."""
    point = EAST if number.endswith("e") else WEST
    form = {
        "api_key": key,
        "service_code": "200504",
        "lat": str(point[1]),
        "long": str(point[0]),
        "description": "店外经营占道",
        "attribute[request_type]": "complaint",
        "external_id": number,
        **{f"attribute[{k}]": v for k, v in attributes.items()},
    }
    async with api.session.post(f"{api.base}/open311/v2/requests.json", data=form) as resp:
        return resp.status, await resp.json()


async def hotline(api: Api, token: str, incident_id: str, expect: int, **body: Any) -> Any:
    _, answer = await api.call(
        "POST", f"/api/v1/incidents/{incident_id}/hotline", token, body=body, expect=expect
    )
    return answer


async def incident(api: Api, incident_id: str) -> Any:
    return (await api.call("GET", f"/api/v1/incidents/{incident_id}", expect=200))[1]


async def test_the_platforms_deadlines_come_through_open311_and_the_batch(
    api_factory: Callable[..., Awaitable[Api]], database_url: str
) -> None:
    api = await api_factory(dedup=False)
    await api.load_town()
    key = await api.token("device")
    closure, contact = later(days=3), later(hours=20)
    status, filed = await file_order(
        api,
        key,
        "12345-0001",
        closure_deadline=closure.isoformat(),
        contact_deadline=contact.isoformat(),
    )
    assert status == 201, filed
    order = await incident(api, filed[0]["service_request_id"])
    assert order["state"] == "dispatched"
    assert instant(order["deadline"]) == closure  # the platform's, not the 13 working days
    assert instant(order["hotline"]["closure_deadline"]) == closure
    assert instant(order["hotline"]["contact_deadline"]) == contact
    assert order["hotline"]["contact_set_by_platform"] is True
    assert order["contact"]["colour"] == "green"
    assert order["contact"]["contacted"] is False
    assert "closure_deadline" not in order["open311"]
    async with api.session.get(
        f"{api.base}/open311/v2/requests/{order['id']}.json?api_key={key}"
    ) as resp:
        (shown,) = await resp.json()
    assert instant(shown["expected_datetime"]) == closure

    # without the platform's: the request type's limit, and the contact 2 working hours on
    _, plain = await file_order(api, key, "12345-0002e")
    order = await incident(api, plain[0]["service_request_id"])
    assert order["allowed_s"] == 13 * 86400
    assert order["hotline"]["closure_deadline"] is None
    assert order["hotline"]["contact_set_by_platform"] is False

    # a bad value: GeoReport's 400 naming the attribute, and nothing is filed
    conn = await asyncpg.connect(database_url)
    try:
        before = await conn.fetchval("SELECT count(*) FROM incidents")
        status, answer = await file_order(api, key, "12345-0003", closure_deadline="下周一")
        assert status == 400
        assert answer[0]["description"].startswith("closure_deadline:")
        assert await conn.fetchval("SELECT count(*) FROM incidents") == before
    finally:
        await conn.close()

    # the JSON API and the batch: 422 naming the field; the batch's other lines are taken
    status, answer = await api.report(key, external_id="j-1", contact_deadline="2026-13-01")
    assert (status, answer["error"]["field"]) == (422, "contact_deadline")
    lines = [
        {"source": "hotline", "external_id": "b-1", "category": "200504", "lon": WEST[0],
         "lat": WEST[1], "closure_deadline": closure.isoformat()},
        {"source": "hotline", "external_id": "b-2", "category": "200504", "lon": EAST[0],
         "lat": EAST[1], "closure_deadline": "tomorrow"},
        {"source": "grid", "external_id": "b-3", "category": "200504", "lon": EAST[0],
         "lat": EAST[1], "closure_deadline": closure.isoformat()},
    ]  # fmt: skip
    body = "\n".join(json.dumps(line) for line in lines).encode()
    _, result = await api.call("POST", "/api/v1/incidents:batch", key, data=body, expect=200)
    assert [r["result"] for r in result["results"]] == ["created", "error", "error"]
    assert [r["error"]["field"] for r in result["results"][1:]] == [
        "closure_deadline",
        "closure_deadline",
    ]
    batched = await incident(api, result["results"][0]["id"])
    assert instant(batched["deadline"]) == closure


async def test_a_contact_in_time_and_a_contact_late(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await api_factory(dedup=False)
    await api.load_town()
    key, west = await api.token("device"), await api.token("squad", "sq-west")
    _, in_time = await file_order(api, key, "c-1", contact_deadline=later(days=1).isoformat())
    # the platform passed the order on after its contact deadline had gone by
    _, late = await file_order(api, key, "c-2", contact_deadline=later(hours=-1).isoformat())
    in_time_id, late_id = in_time[0]["service_request_id"], late[0]["service_request_id"]

    before = await incident(api, late_id)
    assert before["contact"] == {**before["contact"], "colour": "red", "late": True}

    done = await hotline(
        api, west, in_time_id, 200, action="contact", method="phone", note="已致电"
    )
    assert done["hotline"]["contacted_late"] is False
    assert done["hotline"]["contact_method"] == "phone"
    assert done["contact"]["colour"] == "green"
    assert done["contact"]["late"] is False

    done = await hotline(api, west, late_id, 200, action="contact", method="visit")
    assert done["hotline"]["contacted_late"] is True
    assert done["contact"]["colour"] == "red"
    entry = (await incident(api, late_id))["history"][-1]
    assert (entry["action"], entry["detail"]["late"]) == ("contact", True)

    # once only; not another squad's; not in the future
    answer = await hotline(api, west, late_id, 409, action="contact", method="phone")
    assert answer["error"]["code"] == "invalid_transition"
    east = await api.token("squad", "sq-east")
    await hotline(api, east, in_time_id, 403, action="contact", method="phone")
    _, third = await file_order(api, key, "c-3")
    answer = await hotline(
        api,
        west,
        third[0]["service_request_id"],
        422,
        action="contact",
        method="phone",
        contacted_at=later(hours=2).isoformat(),
    )
    assert answer["error"]["field"] == "contacted_at"


async def test_a_sendback_approved_reaches_the_platform_through_the_outbox(
    api_factory: Callable[..., Awaitable[Api]], platform: Platform, database_url: str
) -> None:
    api = await api_factory(
        dedup=False,
        hotline_callback_url=platform.url,
        outbox_poll_s=0.05,
        outbox_retry_base_s=0.05,
        outbox_retry_max_s=0.2,
    )
    await api.load_town()
    key, operator = await api.token("device"), await api.token("operator")
    west = await api.token("squad", "sq-west")
    _, filed = await file_order(api, key, "12345-0100")
    order_id = filed[0]["service_request_id"]

    asked = await hotline(
        api,
        west,
        order_id,
        200,
        action="ask_sendback",
        reason_code="not_competent",
        reason="商场红线内经营，属物业管理，非本部门职责",
    )
    assert asked["state"] == "dispatched"
    assert asked["hotline"]["sendbacks"][0]["status"] == "pending"
    await hotline(api, west, order_id, 403, action="decide_sendback", approved=True)
    gone = await hotline(api, operator, order_id, 200, action="decide_sendback", approved=True)
    assert gone["state"] == "rejected"
    assert gone["hotline"]["sendbacks"][0]["status"] == "approved"

    # out of every queue of the centre, and nothing more may be done with it
    _, queue = await api.call(
        "GET", "/api/v1/incidents?state=registered,dispatched,accepted,resolved,returned"
    )
    assert order_id not in {i["id"] for i in queue["incidents"]}
    _, mine = await api.call("GET", "/api/v1/incidents?state=dispatched", west)
    assert order_id not in {i["id"] for i in mine["incidents"]}
    await api.call(
        "POST", f"/api/v1/incidents/{order_id}/actions", west, body={"action": "accept"},
        expect=409,
    )  # fmt: skip
    history = (await incident(api, order_id))["history"]
    assert [e["action"] for e in history[-2:]] == ["ask_sendback", "decide_sendback"]

    # the platform is told, through the outbox
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(200):
            if await conn.fetchval("SELECT count(*) FROM outbox WHERE delivered_at IS NULL") == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    states = [u["state"] for u in platform.updates if u["service_request_id"] == order_id]
    assert states == ["dispatched", "rejected"]
    update = platform.updates[-1]
    assert update["status"] == "closed"
    assert update["external_id"] == "12345-0100"
    assert update["status_notes"].startswith("已退单（非本部门职责）")
    assert update["sendback"]["reason_code"] == "not_competent"
    assert update["sendback"]["reason"] == "商场红线内经营，属物业管理，非本部门职责"


async def test_a_refused_sendback_and_one_outside_the_window(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await api_factory(dedup=False)
    await api.load_town()
    key, operator = await api.token("device"), await api.token("operator")
    _, filed = await file_order(api, key, "s-1")
    order_id = filed[0]["service_request_id"]
    await hotline(
        api, operator, order_id, 200, action="ask_sendback", reason_code="outside_area", reason="x"
    )
    kept = await hotline(
        api, operator, order_id, 200, action="decide_sendback", approved=False, note="属本辖区"
    )
    assert kept["state"] == "dispatched"
    assert kept["hotline"]["sendbacks"][0]["status"] == "refused"
    answer = await hotline(api, operator, order_id, 409, action="decide_sendback", approved=True)
    assert "no 退单 waiting" in answer["error"]["message"]

    # a platform whose window has closed at receipt (0 working hours)
    shut = await api_factory(dedup=False, hotline_sendback_hours=0)
    _, filed = await file_order(shut, key, "s-2e")
    answer = await hotline(
        shut,
        operator,
        filed[0]["service_request_id"],
        409,
        action="ask_sendback",
        reason_code="not_competent",
        reason="x",
    )
    assert "退单 window closed" in answer["error"]["message"]
    # not a work order at all
    _, grid = await api.report(key, source="grid", external_id="g-1", lon=EAST[0], lat=EAST[1])
    answer = await hotline(api, operator, grid["id"], 409, action="contact", method="phone")
    assert "not a 12345 work order" in answer["error"]["message"]


async def close(api: Api, token: str, incident_id: str) -> None:
    for body in (
        {"action": "accept"},
        {"action": "resolve", "outcome": "advised_and_educated"},
        {"action": "verify", "passed": True},
    ):
        await api.call(
            "POST", f"/api/v1/incidents/{incident_id}/actions", token, body=body, expect=200
        )


async def test_visits_count_in_the_satisfaction_rate_and_dissatisfied_is_handled_again(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await api_factory(dedup=False)
    await api.load_town()
    key, operator = await api.token("device"), await api.token("operator")
    _, one = await file_order(api, key, "v-1")
    _, two = await file_order(api, key, "v-2e")
    first, second = one[0]["service_request_id"], two[0]["service_request_id"]
    await hotline(api, operator, first, 409, action="visit", satisfaction="satisfied")  # open
    await close(api, operator, first)
    await close(api, operator, second)

    pleased = await hotline(api, operator, first, 200, action="visit", satisfaction="satisfied")
    assert (pleased["state"], pleased["hotline"]["satisfaction"]) == ("closed", "satisfied")
    # the platform records its own 回访 with its token; another device may not
    camera = await api.token("device")
    await hotline(api, camera, second, 403, action="visit", satisfaction="dissatisfied")
    again = await hotline(api, key, second, 200, action="visit", satisfaction="dissatisfied")
    assert (again["state"], again["squad_id"]) == ("dispatched", "sq-east")
    assert again["hotline"]["rehandled"] == 1
    assert again["rework_count"] == 1
    assert (await incident(api, second))["history"][-2]["detail"]["rehandle"] is True

    _, figures = await api.call("GET", "/api/v1/stats/hotline", expect=200)
    counts, rates = figures["counts"], figures["rates"]
    assert (counts["orders"], counts["visited"], counts["satisfied"]) == (2, 2, 1)
    assert (counts["dissatisfied"], counts["rehandled"], counts["closed"]) == (1, 1, 1)
    assert rates["satisfaction_rate"] == 0.5
    assert rates["rehandle_rate"] == 0.5
    assert figures["labels"]["satisfaction_rate"] == "满意率"
    assert figures["basically_satisfied_counts"] is True

    # handled again, closed, visited again: 基本满意 counts as 满意 by default
    await close(api, operator, second)
    await hotline(api, operator, second, 200, action="visit", satisfaction="basically_satisfied")
    _, figures = await api.call("GET", "/api/v1/stats/hotline", expect=200)
    assert figures["rates"]["satisfaction_rate"] == 1.0
    assert figures["counts"]["rehandled"] == 1
    assert figures["rates"]["close_reply_rate"] == 1.0
    # a squad reads its own tier's figures only
    west = await api.token("squad", "sq-west")
    _, own = await api.call("GET", "/api/v1/stats/hotline", west, expect=200)
    assert own["counts"]["orders"] == 1
    await api.call("GET", "/api/v1/stats/hotline", key, expect=403)


async def test_a_bureaus_sheet_of_orders_is_imported_with_its_deadlines(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await api_factory(dedup=False)
    await api.load_town()
    key = await api.token("device")
    header = "工单编号,问题类别,诉求类型,经度,纬度,诉求地址,诉求内容,办结时限,联系时限\n"
    rows = (
        f"X-1,200504,投诉,{WEST[0]},{WEST[1]},幸福路 1 号,店外经营,2026-12-31 18:00,\n"
        f"X-2,200504,求助,{EAST[0]},{EAST[1]},,占道,下周一,\n"
        f"X-3,200504,咨询,{EAST[0] + 0.01},{EAST[1]},,咨询,,2026-12-30T09:00:00+08:00\n"
    )
    async with api.session.post(
        f"{api.base}/api/v1/incidents:batch",
        data=(header + rows).encode("utf-8-sig"),
        headers={**api.headers(key), "Content-Type": "text/csv; charset=utf-8"},
    ) as resp:
        assert resp.status == 200, await resp.text()
        result = await resp.json()
    assert [r["result"] for r in result["results"]] == ["created", "error", "created"]
    assert [r["line"] for r in result["results"]] == [2, 3, 4]
    assert result["results"][1]["error"]["field"] == "closure_deadline"
    assert "办结时限" in result["results"][1]["error"]["message"]
    first = await incident(api, result["results"][0]["id"])
    assert (first["source"], first["external_id"], first["request_type"]) == (
        "hotline",
        "X-1",
        "complaint",
    )
    # a spreadsheet's time is the deployment's local time
    assert instant(first["deadline"]) == datetime.fromisoformat(f"2026-12-31T18:00:00{SHANGHAI}")
    third = await incident(api, result["results"][2]["id"])
    assert third["hotline"]["contact_set_by_platform"] is True
    assert third["request_type"] == "consult"


async def test_an_order_not_contacted_in_time_goes_red_and_its_parent_tier_is_told(
    api_factory: Callable[..., Awaitable[Api]], database_url: str
) -> None:
    api = await api_factory(dedup=False)
    await api.load_town()
    key = await api.token("device")
    # passed on after its contact deadline: the server's own timer loop gives the red at once
    _, late = await file_order(api, key, "c-9", contact_deadline=later(hours=-1).isoformat())
    _, fresh = await file_order(api, key, "c-10", contact_deadline=later(days=2).isoformat())
    late_id, fresh_id = late[0]["service_request_id"], fresh[0]["service_request_id"]

    async def overdue() -> dict[str, Any] | None:
        history = (await incident(api, late_id))["history"]
        return next(
            (e for e in history if e["type"] == "deadline.overdue"
             and e["detail"].get("clock") == "contact"),
            None,
        )  # fmt: skip

    found = None
    for _ in range(100):  # the loop fires within moments; a bounded wait on the state
        found = await overdue()
        if found is not None:
            break
        await asyncio.sleep(0.1)
    assert found is not None
    assert found["detail"]["escalated_to"] == ["centre"]
    conn = await asyncpg.connect(database_url)
    try:
        notes = await conn.fetch("SELECT note FROM supervisions WHERE incident_id = $1", late_id)
        armed = await conn.fetch(
            "SELECT kind FROM timers WHERE incident_id = $1 AND fired_at IS NULL", fresh_id
        )
    finally:
        await conn.close()
    assert any("未按时联系诉求人" in r["note"] for r in notes)
    assert {"contact_warning", "contact_overdue"} <= {r["kind"] for r in armed}
    # contacted, the order owes no contact warning any more
    west = await api.token("squad", "sq-west")
    await hotline(api, west, fresh_id, 200, action="contact", method="phone")
    conn = await asyncpg.connect(database_url)
    try:
        kinds = {
            r["kind"]
            for r in await conn.fetch(
                "SELECT kind FROM timers WHERE incident_id = $1 AND fired_at IS NULL", fresh_id
            )
        }
    finally:
        await conn.close()
    assert not kinds & {"contact_warning", "contact_overdue"}
