"""Planned enforcement end to end on real PostgreSQL and Redis: a bureau's sheet of a few hundred
places imported (bad rows reported by number), a plan drawn (双随机, reproducible, conflicts
excluded), tasks live on the squad's topic, a result with a photo and the place's 亮码 code, a
failed item becoming an incident linked both ways, the place's history, the figures, a
campaign's progress and the published export."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from openpyxl import load_workbook

from dispatcher.app import create_app
from dispatcher.core import audit
from dispatcher.core.clocks import SHANGHAI
from dispatcher.core.places import default_qr_code
from dispatcher.core.times import parse_time
from dispatcher.store.inspections import WarningLoop
from dispatcher.web.context import RUNTIME
from tests.integration.support import ADMIN, Api, console, settings_for

PASSWORD = "Xq7-城管-2026"
PHONE = "13800138000"
ROADS = ["中山东一路", "南京东路", "福州路", "九江路", "汉口路", "河南中路", "四川中路", "江西中路"]
SHOPS = ["老王面馆", "张记水果", "福满楼酒家", "阿强烟杂店", "美佳发廊", "便民早餐", "兴旺五金"]
KINDS = ["门店", "门店", "摊点", "工地", "渣土运输企业", "车辆", "广告牌"]
DEPARTMENTS = ["城管", "城管;市场监管", "城管;燃气;消防", "城管;消防"]
HEADER = [
    "监管对象编码",
    "名称",
    "对象类型",
    "地址",
    "经度",
    "纬度",
    "证照编号",
    "监管部门",
    "风险等级",
    "经营者",
]
#: the rows (by the sheet's numbering, the header being row 1) made bad on purpose
BAD_ROWS = {7: "name", 50: "lat", 120: "kind"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def bureau_sheet(count: int) -> bytes:
    """A 监管对象台账 as a bureau exports it: UTF-8 with a BOM, Chinese headers, places spread
    over the town's two streets (one outside every zone)."""
    rng = random.Random(17)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for n in range(count):
        row_number = n + 2
        west = n % 3 != 0
        lon = rng.uniform(121.401, 121.499) if west else rng.uniform(121.501, 121.599)
        lat = rng.uniform(31.201, 31.299) if west else rng.uniform(31.201, 31.399)
        if n == count - 1:
            lon, lat = 121.70, 31.50  # in no zone: imported, reported without a squad
        road = ROADS[n % len(ROADS)]
        row = [
            f"HP{n:05d}",
            f"{SHOPS[n % len(SHOPS)]}（{road}店）",
            KINDS[n % len(KINDS)],
            f"黄浦区{road}{n + 1}号",
            f"{lon:.6f}",
            f"{lat:.6f}",
            f"JY3101010{n:05d}",
            DEPARTMENTS[n % len(DEPARTMENTS)],
            "ABCD"[n % 4],
            f"上海{SHOPS[n % len(SHOPS)]}有限公司",
        ]
        if BAD_ROWS.get(row_number) == "name":
            row[1] = ""
        elif BAD_ROWS.get(row_number) == "lat":
            row[5] = "北纬31度"
        elif BAD_ROWS.get(row_number) == "kind":
            row[2] = "菜市场"
        writer.writerow(row)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


async def post_sheet(api: Api, body: bytes) -> Any:
    async with api.session.post(
        api.base + "/api/v1/places:import",
        data=body,
        headers={**api.headers("test-admin-secret"), "Content-Type": "text/csv"},
    ) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def officers(api: Api) -> dict[str, str]:
    """Four officers in the west, three in the east (执法证号, phones), one without a badge."""
    made = {}
    people = [(f"west.{n}", "sq-west", f"31010{n:03d}") for n in range(4)]
    people += [(f"east.{n}", "sq-east", f"31020{n:03d}") for n in range(3)]
    people.append(("clerk.0", "sq-west", None))
    for login, squad, badge in people:
        body: dict[str, Any] = {
            "login": login,
            "name": f"队员{login}",
            "role": "squad",
            "password": PASSWORD,
            "squad_id": squad,
            "phone": PHONE,
        }
        if badge:
            body["badge_no"] = badge
        _, answer = await api.call("POST", "/api/v1/people", body=body, expect=201)
        made[login] = answer["id"]
    return made


CHECKLIST = [
    {"id": "cg-1", "department": "城管", "kinds": ["shop"], "text": "门前三包",
     "category": "200512"},
    {"id": "cg-2", "department": "城管", "kinds": ["shop", "stall_spot"], "text": "店外经营",
     "category": "200504"},
    {"id": "sj-1", "department": "市场监管", "kinds": ["shop"], "text": "亮照经营",
     "category": "200501"},
    {"id": "xf-1", "department": "消防", "kinds": [], "text": "灭火器在有效期内",
     "category": "200512"},
    {"id": "rq-1", "department": "燃气", "kinds": ["shop"], "text": "燃气报警器",
     "category": "200512"},
]  # fmt: skip


def plan_body(**more: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "name": "2026年12月沿街商铺双随机检查",
        "tier_id": "centre",
        "checklist": CHECKLIST,
        "population": {"kinds": ["shop", "stall_spot"], "risks": ["B", "C", "D"]},
        "sample_size": 24,
        "days": 3,
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(days=30)).isoformat(),
        **more,
    }


async def test_planned_enforcement_end_to_end(
    api_factory: Callable[..., Awaitable[Api]], tmp_path: Path
) -> None:
    api = await api_factory(media_dir=tmp_path)
    await api.load_town()
    people = await officers(api)
    report = await post_sheet(api, bureau_sheet(300))
    assert report["rows"] == 300
    assert report["imported"] == 297
    assert report["created"] == 297
    assert {(e["row"], e["field"]) for e in report["errors"]} == set(BAD_ROWS.items())
    assert all("监管对象" not in e["message"] or e["row"] for e in report["errors"])
    assert report["without_squad"] == ["HP00299"]
    again = await post_sheet(api, bureau_sheet(300))  # a sheet sent again updates, loses nothing
    assert again["created"] == 0
    assert again["updated"] == 297

    # found by name, by code and near a point
    _, named = await api.call("GET", "/api/v1/places?q=老王面馆&limit=500", expect=200)
    assert named["places"]
    assert all("老王面馆" in p["name"] for p in named["places"])
    _, coded = await api.call("GET", "/api/v1/places?q=HP00001", expect=200)
    assert [p["id"] for p in coded["places"]] == ["HP00001"]
    assert coded["places"][0]["squad_id"] == "sq-west"
    assert "west" in coded["places"][0]["zone_ids"]
    first = coded["places"][0]
    _, near = await api.call(
        "GET", f"/api/v1/places?lon={first['lon']}&lat={first['lat']}&radius_m=50", expect=200
    )
    assert near["places"][0]["id"] == "HP00001"
    assert near["places"][0]["distance_m"] < 1

    # a plan, drawn with a published seed; the tasks reach the squad's topic live
    _, plan = await api.call("POST", "/api/v1/inspection-plans", body=plan_body(), expect=201)
    assert plan["state"] == "draft"
    west_token = await api.token("squad", "sq-west")
    async with console(api, west_token) as screen:
        assert (await screen.subscribe(["squad:sq-west"]))["type"] == "subscribed"
        _, drawn = await api.call(
            "POST",
            f"/api/v1/inspection-plans/{plan['id']}/draw",
            body={"seed": "黄浦-2026-12-公开种子"},
            expect=200,
        )
        live = await screen.until(lambda m: m.get("type") == "inspection.assigned")
    assert live["inspection"]["squad_id"] == "sq-west"
    assert live["inspection"]["items"]
    assert drawn["state"] == "drawn"
    assert drawn["seed"] == "黄浦-2026-12-公开种子"
    tasks = drawn["tasks"]
    assert len(tasks) == 24
    assert drawn["draw"]["algorithm"] == "sha256-rank-v1"
    assert drawn["draw"]["visits_saved"] == sum(len(t["departments"]) - 1 for t in tasks) > 0
    badges = set(people.values()) - {people["clerk.0"]}
    for task in tasks:
        assert len(task["officer_ids"]) == 2
        assert set(task["officer_ids"]) <= badges
    await api.call(
        "POST", f"/api/v1/inspection-plans/{plan['id']}/draw", body={"seed": "x" * 10}, expect=409
    )

    # the same seed over the same population: the same draw
    _, twin = await api.call("POST", "/api/v1/inspection-plans", body=plan_body(), expect=201)
    _, twin = await api.call(
        "POST",
        f"/api/v1/inspection-plans/{twin['id']}/draw",
        body={"seed": "黄浦-2026-12-公开种子"},
        expect=200,
    )
    assert twin["draw"]["result"] == drawn["draw"]["result"]

    # the west squad's officers do one task on the phone: 亮码, a photo, one failed item
    _, mine = await api.call("GET", "/api/v1/inspection-tasks?state=assigned", west_token)
    task = next(t for t in mine["tasks"] if t["plan_id"] == plan["id"] and len(t["items"]) >= 2)
    assert all(t["squad_id"] == "sq-west" for t in mine["tasks"])
    async with api.session.post(
        f"{api.base}/api/v1/inspection-tasks/{task['id']}/photos",
        data=PNG,
        headers={**api.headers(west_token), "Content-Type": "image/png"},
    ) as resp:
        assert resp.status == 201
        photo = (await resp.json())["url"]
    failed_item = task["items"][1]
    results = [
        {
            "item_id": item["id"],
            "passed": item["id"] != failed_item["id"],
            "note": "门口堆放货物占道约3平方米" if item["id"] == failed_item["id"] else "",
            "photos": [photo] if item["id"] == failed_item["id"] else [],
        }
        for item in task["items"]
    ]
    path = f"/api/v1/inspection-tasks/{task['id']}/result"
    status, wrong = await api.call(
        "POST", path, west_token, body={"qr_code": "LM0000", "results": results}
    )
    assert status == 422
    assert wrong["error"]["field"] == "qr_code"
    code = default_qr_code(task["place_id"])
    _, done = await api.call(
        "POST", path, west_token, body={"qr_code": code, "results": results}, expect=200
    )
    assert done["state"] == "done"
    assert done["findings"] == 1
    assert done["on_time"] is True
    (incident_id,) = done["incident_ids"]
    assert done["results"][1]["photos"] == [photo]
    _, incident = await api.call("GET", f"/api/v1/incidents/{incident_id}", expect=200)
    assert incident["category"] == failed_item["category"]
    assert incident["source"] == "grid"
    assert task["id"] in incident["description"]
    assert incident["inspection_task_id"] == task["id"]
    assert incident["squad_id"] == "sq-west"
    await api.call("POST", path, west_token, body={"qr_code": code, "results": results}, expect=409)
    _, steps = await api.call("GET", f"/api/v1/inspection-tasks/{task['id']}", expect=200)
    assert [s["type"] for s in steps["steps"]] == ["inspection.assigned", "inspection.done"]

    # the place's history: the inspection, its finding and the incident
    _, place = await api.call("GET", f"/api/v1/places/{task['place_id']}", expect=200)
    seen = {i["id"]: i for i in place["inspections"]}
    assert set(seen) == {
        task["id"],
        next(t["id"] for t in twin["tasks"] if t["place_id"] == task["place_id"]),
    }
    assert seen[task["id"]]["failed"][0]["incident_id"] == incident_id
    assert incident_id in place["incident_ids"]

    # the next draw never sends last time's inspectors to that place (回避)
    _, third = await api.call(
        "POST",
        "/api/v1/inspection-plans",
        body=plan_body(population={"kinds": [place["kind"]]}, sample_size=300),
        expect=201,
    )
    _, third = await api.call(
        "POST", f"/api/v1/inspection-plans/{third['id']}/draw", body={}, expect=200
    )
    again_there = next(t for t in third["tasks"] if t["place_id"] == task["place_id"])
    assert not set(again_there["officer_ids"]) & set(task["officer_ids"])
    assert third["draw"]["excluded"][task["place_id"]] == sorted(task["officer_ids"])
    assert len(third["seed"]) == 32  # a fresh random seed, recorded

    # the figures
    _, stats = await api.call("GET", "/api/v1/stats/inspections?rolled_up=true", expect=200)
    total = stats["total"]
    assert total["planned"] == 24 + 24 + len(third["tasks"])
    assert total["done"] == 1
    assert total["on_time"] == 1
    assert total["places_inspected"] == 1
    assert total["findings_per_100"] == 100.0
    assert total["combined_share"] == (1.0 if len(task["departments"]) >= 2 else 0.0)
    centre = next(g for g in stats["groups"] if g["key"] == "centre")
    assert centre["planned"] == total["planned"]
    _, own = await api.call("GET", "/api/v1/stats/inspections", west_token, expect=200)
    month = datetime.now(SHANGHAI).strftime("%Y-%m")
    async with api.session.get(
        f"{api.base}/api/v1/reports/monthly?format=xlsx&month={month}", headers=api.headers(ADMIN)
    ) as resp:
        assert resp.status == 200
        book = load_workbook(io.BytesIO(await resp.read()), read_only=True)
    sheet = book["双随机检查"]
    header, *rows = list(sheet.iter_rows(min_row=3, values_only=True))
    assert header[:4] == ("中队编号", "名称", "计划检查数", "已检查数")
    month_total = next(r for r in rows if r[0] == "合计")
    assert month_total[2:4] == (total["planned"], 1)
    assert {g["key"] for g in own["groups"]} == {"sq-west"}

    # a campaign over shops and 店外经营: its progress per squad
    now = datetime.now(UTC)
    _, campaign = await api.call(
        "POST",
        "/api/v1/campaigns",
        body={
            "name": "沿街商铺专项整治",
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(days=30)).isoformat(),
            "place_kinds": [place["kind"]],
            "categories": [failed_item["category"]],
            "targets": {"inspections": 10, "incidents_closed": 5},
        },
        expect=201,
    )
    _, progress = await api.call(
        "GET", f"/api/v1/campaigns/{campaign['id']}/progress", west_token, expect=200
    )
    west = next(r for r in progress["squads"] if r["squad_id"] == "sq-west")
    assert west["done"] == 1
    assert west["incidents"] >= 1
    assert progress["targets"]["inspections"] == {"target": 10, "reached": 1, "share": 0.1}

    # the published export: the draw and results, officers by name and badge, no phones
    status, published = await api.call(
        "GET", f"/api/v1/inspection-plans/{plan['id']}/export", "test-admin-secret"
    )
    assert status == 200
    assert published["draw"]["seed"] == "黄浦-2026-12-公开种子"
    assert len(published["draw"]["population"]) > 24
    row = next(r for r in published["inspections"] if r["task_id"] == task["id"])
    assert row["findings"] == 1
    assert all(o["badge_no"] for o in row["officers"])
    assert PHONE not in json.dumps(published, ensure_ascii=False)
    async with api.session.get(
        f"{api.base}/api/v1/inspection-plans/{plan['id']}/export?format=csv",
        headers=api.headers("test-admin-secret"),
    ) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/csv"
        text = (await resp.read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:5] == ["计划编号", "计划名称", "抽取种子", "抽取规则", "监管对象编码"]
    assert len(rows) == 25
    assert PHONE not in text
    assert any(r[11] == task["id"] and r[12] == "已检查" for r in rows[1:])


async def test_a_squad_sees_only_its_tier_s_tasks_and_may_not_draw(api: Api) -> None:
    await api.load_town()
    await officers(api)
    await post_sheet(api, bureau_sheet(40))
    _, plan = await api.call(
        "POST", "/api/v1/inspection-plans", body=plan_body(sample_size=10), expect=201
    )
    east = await api.token("squad", "sq-east")
    await api.call("POST", f"/api/v1/inspection-plans/{plan['id']}/draw", east, body={}, expect=403)
    _, drawn = await api.call(
        "POST", f"/api/v1/inspection-plans/{plan['id']}/draw", body={}, expect=200
    )
    west_task = next(t for t in drawn["tasks"] if t["squad_id"] == "sq-west")
    await api.call("GET", f"/api/v1/inspection-tasks/{west_task['id']}", east, expect=403)
    _, listed = await api.call("GET", "/api/v1/inspection-tasks", east, expect=200)
    assert listed["tasks"]
    assert {t["squad_id"] for t in listed["tasks"]} == {"sq-east"}
    await api.call("GET", f"/api/v1/places/{west_task['place_id']}", east, expect=403)
    bad = dict(plan_body(), checklist=[dict(CHECKLIST[0], category="999999")])
    status, answer = await api.call("POST", "/api/v1/inspection-plans", body=bad)
    assert status == 422
    assert answer["error"]["field"] == "checklist.0.category"


async def test_tasks_turn_yellow_then_red_in_the_chained_history(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    app = create_app(settings_for(database_url, redis_url, media_dir=tmp_path))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(str(server.make_url("")).rstrip("/"), session)
            rt = app[RUNTIME]
            await api.load_town()
            await officers(api)
            await post_sheet(api, bureau_sheet(30))
            _, plan = await api.call(
                "POST", "/api/v1/inspection-plans", body=plan_body(sample_size=3), expect=201
            )
            _, drawn = await api.call(
                "POST", f"/api/v1/inspection-plans/{plan['id']}/draw", body={}, expect=200
            )
            first = drawn["tasks"][0]
            yellow, deadline = at(first["yellow_at"]), at(first["deadline"])

            def loop(now: datetime) -> WarningLoop:
                return WarningLoop(rt.pool, rt.changes, lambda: rt.settings.zone, clock=lambda: now)

            assert await loop(yellow - timedelta(seconds=1)).run_once() == 0
            assert await loop(yellow).run_once() == 3  # drawn together, due together
            assert await loop(yellow).run_once() == 0  # each fires once
            assert await loop(deadline).run_once() == 3
            _, task = await api.call("GET", f"/api/v1/inspection-tasks/{first['id']}", expect=200)
            assert task["colour"] == "red"
            assert [s["type"] for s in task["steps"]] == [
                "inspection.assigned",
                "inspection.warned",
                "inspection.overdue",
            ]
            async with rt.pool.acquire() as conn, conn.transaction(readonly=True):
                checked, finding = await audit.verify(conn.cursor(audit.SELECT_CHAIN))
            assert finding is None
            assert checked >= 1 + 1 + 3 * 3  # the plan's two steps, the tasks' three each
    finally:
        await server.close()


def at(text: str) -> datetime:
    found = parse_time(text)
    assert found is not None
    return found
