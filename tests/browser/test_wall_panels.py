"""The wall's own panels (frontend/js/wallpanels.js), in a real headless Chromium against a
real server, PostgreSQL and Redis, signed in as the wall's auditor account:

- 督办与指标预警 (issue 16): a supervision item opened while the wall runs appears with its
  colour, kind, tier name and deadline; an internal item of the breach watch (文号 考核预警…) is
  marked 指标预警; a case that runs out of time unresolved shows as this month's breach;
- 专项整治进度 (issue 17): a running campaign with an incident in its scope, per squad;
- 在岗力量 (issue 18): on-duty strength per street, and the check-in at the post counted as
  soon as it is made.

Every wait is on what the page shows, never on time.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from tests.browser.conftest import PASSWORD, WALL, PageErrors, Site, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

SHORT = {
    "code": "209901",
    "name": "测试短时限",
    "priority": "urgent",
    "clock": "continuous",
    "limit": 0.0015,  # 5.4 seconds
    "dedup_radius_m": 0,
}


def street(site: Site, slug: str) -> Any:
    return next(s for s in site.city.streets if s.zone_id.endswith(slug))


async def plan_duty(
    site: Site, squad_id: str, place: tuple[float, float], name: str, people: list[tuple[str, str]]
) -> str:
    """A post of the squad at ``place``, a shift running now and a daily roster with ``people``
    (login, name) on it; answers the post's id."""
    post_id = f"post-{squad_id}"
    post = {"squad_id": squad_id, "name": name, "place": {"type": "Point", "coordinates": place}}
    await site.api.call("PUT", f"/api/v1/duty/posts/{post_id}", body=post, expect=201)
    local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    shift = {
        "squad_id": squad_id,
        "name": "白班",
        "starts": (local - timedelta(minutes=5)).strftime("%H:%M"),
        "ends": (local + timedelta(hours=3)).strftime("%H:%M"),
    }
    await site.api.call("PUT", f"/api/v1/duty/shifts/day-{squad_id}", body=shift, expect=201)
    members = []
    for login, full_name in people:
        person = await site.person(login, "squad", squad_id, name=full_name)
        members.append({"person_id": person["id"], "team": "A", "post_id": post_id})
    roster = {
        "squad_id": squad_id,
        "name": "每日排班",
        "starts_on": (local.date() - timedelta(days=7)).isoformat(),
        "cycle_days": 1,
        "pattern": {"A": [f"day-{squad_id}"]},
        "members": members,
    }
    await site.api.call("PUT", f"/api/v1/duty/rosters/daily-{squad_id}", body=roster, expect=201)
    return post_id


async def check_in(site: Site, login: str, post_id: str, place: tuple[float, float]) -> None:
    """The officer checks in at the post, signed in as a person (a phone's session)."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as phone:
        sign_in = {"login": login, "password": PASSWORD}
        async with phone.post(f"{site.base}/api/v1/session", json=sign_in) as r:
            assert r.status == 200, await r.text()
            csrf = (await r.json())["csrf_token"]
        body = {"post_id": post_id, "lon": place[0], "lat": place[1]}
        headers = {"X-CSRF-Token": csrf}
        async with phone.post(
            f"{site.base}/api/v1/duty/check-ins", json=body, headers=headers
        ) as r:
            assert r.status == 201, await r.text()


async def test_the_wall_shows_supervision_campaigns_and_duty(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors
) -> None:
    waitan = street(site, "waitan")
    rng = random.Random(16)
    lon, lat, _ = site.city.random_point(rng, waitan)
    post = await plan_duty(
        site, waitan.squad_id, (lon, lat), "中山东一路岗", [("zhou.min", "周敏")]
    )
    _, catalogue = await site.api.call("GET", "/api/v1/categories", expect=200)
    await site.api.call(
        "PUT", "/api/v1/categories", body=[*catalogue["categories"], SHORT], expect=200
    )

    page = await open_page(f"{site.base}/", 1920, 1080, login=WALL)
    await page.wait_for_function("window.__screen && window.__screen.ready()", timeout=15000)
    await page.wait_for_function(
        "(() => { const p = window.__screen.panels(); return p.items && p.duty && p.campaigns; })()"
    )
    assert await page.text_content("#h-sup > span") == "督办与指标预警"
    assert "暂无待答复督办件" in str(await page.text_content("#wall-sup"))
    assert "暂无进行中的专项整治" in str(await page.text_content("#wall-campaigns"))

    # 在岗力量: the 外滩 street has its officer on duty, not yet checked in; its brigade counts it
    cell = f'#duty-streets li[data-squad="{waitan.squad_id}"]'
    await page.wait_for_selector(cell)
    assert await page.text_content(f"{cell} .name") == "外滩街道"
    assert await page.text_content(f"{cell} b") == "1"
    assert await page.text_content(f"{cell} small") == "签到 0"
    brigade = '#duty-streets li.tier[data-squad="hp-dd-east"]'
    assert await page.text_content(f"{brigade} b") == "1"
    assert await page.text_content(f"{brigade} .name") == "东片大队"
    await check_in(site, "zhou.min", post, (lon, lat))
    await page.wait_for_function(
        "sel => document.querySelector(sel + ' small').textContent === '签到 1'",
        arg=cell,
        timeout=10000,
    )
    assert await page.text_content("#duty-total") == "在岗 1 · 签到 1"

    # 督办: an item opened now appears, green, by kind, tier name and deadline
    deadline = datetime.now(UTC) + timedelta(days=3)
    _, item = await site.api.call(
        "POST",
        "/api/v1/supervision-items",
        body={
            "kind": "leader_instruction",
            "doc_no": "黄城管督〔2026〕12号",
            "title": "外滩沿线占道经营整治",
            "doc_text": "请外滩中队整治中山东一路沿线占道经营。",
            "tier_id": waitan.squad_id,
            "deadline": deadline.isoformat(),
        },
        expect=201,
    )
    row = f'#wall-sup li[data-item="{item["id"]}"]'
    await page.wait_for_selector(row, timeout=10000)
    assert await page.get_attribute(row, "data-colour") == "green"
    assert await page.text_content(f"{row} .kind") == "领导批示"
    assert await page.text_content(f"{row} .what") == "外滩沿线占道经营整治"
    assert await page.text_content(f"{row} .tier") == "外滩街道中队"
    shown = deadline.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%m/%d %H:%M")
    assert str(await page.text_content(f"{row} time")).replace("-", "/") == shown

    # the breach watch's item (an internal item, 文号 考核预警…) is marked 指标预警, by name
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    _, warned = await site.api.call(
        "POST",
        "/api/v1/supervision-items",
        body={
            "kind": "internal",
            "doc_no": f"考核预警〔{month}〕{waitan.squad_id}/disposal_rate",
            "title": "考核预警：外滩街道城管执法中队处置率未达标",
            "doc_text": f"{month} 月度处置率 50.0% 未达 处置率 ≥ 98%（10/20），请整改答复。",
            "tier_id": waitan.squad_id,
        },
        expect=201,
    )
    breach_row = f'#wall-sup li.breach[data-item="{warned["id"]}"]'
    await page.wait_for_selector(breach_row, timeout=10000)
    assert await page.text_content(f"{breach_row} .kind") == "指标预警"
    assert await page.text_content(f"{breach_row} .what") == "外滩街道城管执法中队处置率未达标"
    assert waitan.squad_id not in str(await page.text_content("#wall-sup"))

    # 专项整治: a running campaign; a case of its category in 外滩 counts for the 外滩 squad
    now = datetime.now(UTC)
    _, campaign = await site.api.call(
        "POST",
        "/api/v1/campaigns",
        body={
            "name": "外滩沿线占道经营专项整治",
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(days=30)).isoformat(),
            "categories": [SHORT["code"]],
            "targets": {"incidents_closed": 5},
        },
        expect=201,
    )
    # the case runs out of time undealt with: 处置率 0%, this month's breach, on the wall too
    lon, lat, _ = site.city.random_point(rng, waitan)
    late = await site.post(source="hotline", category=SHORT["code"], lon=lon, lat=lat)
    path = f"/api/v1/incidents/{late['id']}/actions"
    if late["state"] == "reported":
        await site.api.call("POST", path, body={"action": "register"}, expect=200)
    if late["state"] != "dispatched":
        dispatch = {"action": "dispatch", "squad_id": waitan.squad_id}
        await site.api.call("POST", path, body=dispatch, expect=200)
    squad_row = (
        f'#wall-campaigns [data-campaign="{campaign["id"]}"] tr[data-squad="{waitan.squad_id}"]'
    )
    await page.wait_for_selector(squad_row, timeout=15000)
    cells = await page.eval_on_selector_all(f"{squad_row} td", "d => d.map(x => x.textContent)")
    assert cells == ["外滩街道中队", "0/0", "0/1"]
    assert await page.text_content("#wall-campaigns .camp-name") == "外滩沿线占道经营专项整治"
    assert "0/5" in str(await page.text_content("#wall-campaigns .targets"))

    chip = f'#wall-breaches .breach-chip[data-squad="{waitan.squad_id}"]'
    chip += '[data-indicator="disposal_rate"]'
    await page.wait_for_selector(chip, timeout=25000)
    assert "外滩街道中队 处置率 0.0%" in str(await page.text_content(chip))
    await screenshot(page, "bigscreen-panels")

    # English, names still
    await page.click("#lang")
    assert await page.text_content("#h-sup > span") == "Supervision and warnings"
    assert await page.text_content(f"{breach_row} .kind") == "Threshold"
    assert await page.text_content(f"{row} .kind") == "Leader's instruction"
    assert await page.text_content("#h-duty > span") == "On duty"
    assert await page.text_content("#duty-total") == "1 on duty · 1 in"
    await page.click("#lang")
    page_errors.check()
