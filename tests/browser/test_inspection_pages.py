"""Inspection tasks on the squad's phone (双随机 检查, 综合查一次, 亮码; docs/API.md §13), in a real
headless Chromium against a real server, PostgreSQL and Redis.

A plan is drawn through the API while an officer's phone is open: the task appears live on the
phone's 检查任务 tab; the officer fills in the checklist (one item failed, with a note and a
photo), types a wrong 亮码 code (refused beside the field), then the place's own, and the task
is done: the failed item became an incident linked to the task.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dispatcher.core.places import default_qr_code
from tests.browser.conftest import OPERATOR, PASSWORD, PageErrors, Site, screenshot
from tests.browser.test_pages import jpeg

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_a_drawn_task_reaches_the_phone_and_is_completed_there(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors
) -> None:
    waitan = next(s for s in site.city.streets if s.zone_id.endswith("waitan"))
    lon, lat, _ = site.city.random_point(random.Random(17), waitan)
    api = site.api
    for login, name, badge in (("li.na", "李娜", "31010001"), ("wang.qiang", "王强", "31010002")):
        body = {
            "login": login,
            "name": name,
            "role": "squad",
            "password": PASSWORD,
            "squad_id": waitan.squad_id,
            "badge_no": badge,
        }
        await api.call("POST", "/api/v1/people", body=body, expect=201)
    _, place = await api.call(
        "PUT",
        "/api/v1/places/HP-SH-0001",
        body={
            "name": "福满楼酒家",
            "kind": "shop",
            "address": "黄浦区中山东一路18号",
            "lon": lon,
            "lat": lat,
            "departments": ["城管", "消防"],
            "risk": "C",
        },
        expect=201,
    )
    assert place["squad_id"] == waitan.squad_id
    now = datetime.now(UTC)
    _, plan = await api.call(
        "POST",
        "/api/v1/inspection-plans",
        body={
            "name": "外滩沿街商铺双随机检查",
            "tier_id": waitan.squad_id,
            "checklist": [
                {"id": "cg-1", "department": "城管", "text": "店外经营", "category": "200504"},
                {"id": "xf-1", "department": "消防", "text": "灭火器", "category": "200512"},
            ],
            "population": {"kinds": ["shop"]},
            "sample_size": 1,
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=30)).isoformat(),
        },
        expect=201,
    )

    phone = await open_page(f"{site.base}/static/squad.html", 390, 844, login="li.na")
    await phone.wait_for_function("window.__squad && window.__squad.ready()", timeout=15000)
    await phone.click("#tab-insp")
    await phone.wait_for_selector(".insp-none")
    _, drawn = await api.call(
        "POST", f"/api/v1/inspection-plans/{plan['id']}/draw", body={}, expect=200
    )
    (task,) = drawn["tasks"]
    card = f'.insp-task[data-task="{task["id"]}"]'
    await phone.wait_for_selector(card, timeout=10000)  # live, from /ws
    assert await phone.text_content("#n-insp") == "1"
    assert "综合查一次" in (await phone.text_content(card) or "")
    await phone.click(f"{card} .insp-open")
    await phone.check(f'{card} [data-item="cg-1"] input[value="fail"]')
    await phone.fill(f'{card} [data-item="cg-1"] .insp-note', "门口堆放餐桌占道经营")
    photo = await jpeg(phone)
    await phone.set_input_files(
        f'{card} [data-item="cg-1"] input[type="file"]',
        files=[{"name": "site.jpg", "mimeType": "image/jpeg", "buffer": photo}],
    )
    await phone.check(f'{card} [data-item="xf-1"] input[value="pass"]')
    await phone.fill(f"{card} .insp-qr", "LM-NOT-THIS-ONE")
    await screenshot(phone, "squad-inspection")
    await phone.click(f"{card} .insp-submit")
    await phone.wait_for_selector(f'{card} .insp-error[data-field="qr_code"]')
    await phone.fill(f"{card} .insp-qr", default_qr_code("HP-SH-0001"))
    await phone.click(f"{card} .insp-submit")
    await phone.wait_for_selector(card, state="detached", timeout=10000)
    assert await phone.text_content("#n-insp") == "0"

    _, done = await api.call("GET", f"/api/v1/inspection-tasks/{task['id']}", expect=200)
    assert done["state"] == "done"
    assert done["findings"] == 1
    (incident_id,) = done["incident_ids"]
    failed = next(r for r in done["results"] if not r["passed"])
    assert failed["incident_id"] == incident_id
    assert len(failed["photos"]) == 1
    assert failed["note"] == "门口堆放餐桌占道经营"
    incident = await site.incident(incident_id)
    assert incident["inspection_task_id"] == task["id"]
    assert incident["category"] == "200504"
    # the one console error: the refused code (422), shown to the officer beside the field
    assert len(page_errors.errors) == 1
    assert "422" in page_errors.errors[0]
    assert "/result" in page_errors.errors[0]


async def test_the_desk_draws_a_plan_with_a_published_seed(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors
) -> None:
    waitan = next(s for s in site.city.streets if s.zone_id.endswith("waitan"))
    rng = random.Random(5)
    for n in range(6):
        lon, lat, _ = site.city.random_point(rng, waitan)
        body = {"name": f"沿街商铺{n}", "kind": "shop", "lon": lon, "lat": lat}
        await site.api.call("PUT", f"/api/v1/places/HP-{n}", body=body, expect=201)
    now = datetime.now(UTC)
    _, plan = await site.api.call(
        "POST",
        "/api/v1/inspection-plans",
        body={
            "name": "外滩门店双随机抽查",
            "tier_id": waitan.squad_id,
            "checklist": [
                {"id": "cg-1", "department": "城管", "text": "门责", "category": "200512"}
            ],
            "sample_size": 3,
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=30)).isoformat(),
        },
        expect=201,
    )
    _, campaign = await site.api.call(
        "POST",
        "/api/v1/campaigns",
        body={
            "name": "外滩沿街商铺专项整治",
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(days=30)).isoformat(),
            "place_kinds": ["shop"],
            "targets": {"inspections": 3},
        },
        expect=201,
    )
    desk = await open_page(f"{site.base}/static/desk.html", 1600, 1000, login=OPERATOR)
    await desk.wait_for_function("window.__desk && window.__desk.ready()", timeout=15000)
    await desk.click('#desk-views [data-view="plans"]')
    row = f'.jh-plan[data-plan="{plan["id"]}"]'
    await desk.wait_for_selector(f'{row}[data-state="draft"]')
    assert await desk.is_hidden("#main")
    await desk.fill(f"{row} .jh-seed-in", "外滩-2026-公示种子")
    await desk.click(f"{row} .jh-draw")
    await desk.wait_for_selector(f'{row}[data-state="drawn"]', timeout=10000)
    assert await desk.text_content(f"{row} .jh-seed") == "外滩-2026-公示种子"
    target = f'.jh-campaign[data-campaign="{campaign["id"]}"] [data-target="inspections"]'
    assert await desk.text_content(target) == "检查数 0/3 (0%)"
    await screenshot(desk, "desk-plans")
    _, drawn = await site.api.call("GET", f"/api/v1/inspection-plans/{plan['id']}", expect=200)
    assert len(drawn["tasks"]) == 3
    assert drawn["seed"] == "外滩-2026-公示种子"
    await desk.click('#desk-views [data-view="supervision"]')
    assert await desk.is_hidden("#jh-view")
    page_errors.check()
