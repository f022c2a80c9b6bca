"""Screenshots of every page at its sizes, of a district with a working day's mix in it: the
wall (with its supervision items, a running campaign and officers on duty), the desk (its
cases, its supervision queue, its people), the squad's phone (a task, the tier's supervision
items), a 大队 leader's page and the sign-in form.

Saved under artifacts/screenshots/ on every run; ``DISPATCH_UPDATE_SCREENSHOTS=1`` also
copies them to docs/screenshots/ (downscaled so that each stays small enough to commit).
The test also checks what a screenshot cannot: that the 4K wall is the same layout at twice
the size, with nothing cut off or scrolled.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dispatcher.demo.simulator import make_report
from tests.browser.conftest import ADMIN_PERSON, OPERATOR, WALL, PageErrors, Site, screenshot
from tests.browser.test_wall_panels import check_in, plan_duty

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

RED = {
    "code": "209901",
    "name": "测试短时限",
    "priority": "urgent",
    "clock": "continuous",
    "limit": 0.0015,
    "dedup_radius_m": 0,
}
YELLOW = {
    "code": "209902",
    "name": "测试中时限",
    "priority": "normal",
    "clock": "continuous",
    "limit": 0.0045,
    "dedup_radius_m": 0,
}


async def populate(site: Site) -> list[str]:
    """About 90 incidents from every source, a few on short clocks, some worked on."""
    _, catalogue = await site.api.call("GET", "/api/v1/categories", expect=200)
    await site.api.call(
        "PUT", "/api/v1/categories", body=[*catalogue["categories"], RED, YELLOW], expect=200
    )
    rng = random.Random(2026)
    ids: list[str] = []
    for code, n in ((YELLOW["code"], 4), (RED["code"], 5)):
        for _ in range(n):
            lon, lat, _ = site.city.random_point(rng)
            ids.append((await site.post(source="hotline", category=code, lon=lon, lat=lat))["id"])
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    for _ in range(60):
        body = make_report(rng, site.city, now)
        status, answer = await site.api.call(
            "POST", "/api/v1/incidents", site.tokens["device"], body=body
        )
        if status in (200, 201):
            ids.append(answer["id"])
    # some of the day's work: signed for, resolved and closed
    for incident_id in ids[9:34]:
        inc = await site.incident(incident_id)
        steps: list[dict[str, Any]] = []
        if inc["state"] == "reported":
            steps += [{"action": "register"}, {"action": "dispatch"}]
        if rng.random() < 0.7:
            steps.append({"action": "accept"})
            if rng.random() < 0.6:
                steps.append({"action": "resolve", "outcome": "corrected_on_spot"})
                if rng.random() < 0.6:
                    steps.append({"action": "verify", "passed": True})
        for step in steps:
            status, _ = await site.api.call(
                "POST", f"/api/v1/incidents/{incident_id}/actions", body=step
            )
            if status != 200:
                break
    return ids


async def supervision_items(site: Site, ids: list[str]) -> None:
    """Items of every kind and state: green ones, one replied, one accepted; the caller has
    opened the yellow and red ones (their clocks run out while the district fills)."""

    async def item(**body: Any) -> dict[str, Any]:
        _, made = await site.api.call("POST", "/api/v1/supervision-items", body=body, expect=201)
        return dict(made)

    waitan, yuyuan = "hp-sq-waitan", "hp-sq-yuyuan"
    await item(
        kind="environmental_inspection",
        doc_no="沪环督办〔2026〕37号",
        title="豫园商城周边餐饮油烟整改",
        doc_text="中央生态环境保护督察交办：豫园商城周边餐饮油烟扰民，请核查整改并报送结果。",
        tier_id=yuyuan,
        incident_ids=ids[:1],
    )
    replied = await item(
        kind="petition",
        doc_no="黄信访〔2026〕118号",
        doc_text="市民来信反映南京东路步行街夜间占道摆摊，请核查处理。",
        tier_id="hp-sq-nanjingdonglu",
    )
    reply = {"text": "已联合街道开展夜间巡查，摆摊已清理，建立长效巡查机制。"}
    path = f"/api/v1/supervision-items/{replied['id']}"
    await site.api.call("POST", f"{path}/reply", body=reply, expect=200)
    accepted = await item(
        kind="deputies_proposal",
        doc_no="黄人大建议〔2026〕第021号",
        doc_text="关于加强外滩滨江沿线共享单车停放管理的建议。",
        tier_id=waitan,
    )
    path = f"/api/v1/supervision-items/{accepted['id']}"
    await site.api.call("POST", f"{path}/reply", body={"text": "已划设停放区并加强巡查。"})
    await site.api.call("POST", f"{path}/review", body={"accepted": True}, expect=200)
    await item(
        kind="assigned_by_superior",
        doc_no="沪城管执法〔2026〕交办45号",
        doc_text="市局交办：老西门地区违法建设专项整治，请于期限内报送整治进展。",
        tier_id="hp-sq-laoximen",
    )


OFFICERS = [
    "周敏",
    "陈刚",
    "刘洋",
    "张婷",
    "王磊",
    "孙悦",
    "马骏",
    "朱丽",
    "胡斌",
    "郭峰",
    "何静",
    "高翔",
]


async def campaign_and_duty(site: Site) -> None:
    """A running campaign (专项整治) of two categories, and officers on duty at the posts of six
    streets, most of them checked in."""
    now = datetime.now(UTC)
    campaign = {
        "name": "占道经营专项整治",
        "starts_at": (now - timedelta(days=3)).isoformat(),
        "ends_at": (now + timedelta(days=27)).isoformat(),
        "categories": ["200502", "200504"],
        "targets": {"incidents_closed": 20, "inspections": 30},
    }
    await site.api.call("POST", "/api/v1/campaigns", body=campaign, expect=201)
    rng = random.Random(18)
    names = iter(OFFICERS)
    for n, street in enumerate(site.city.streets[:6]):
        place = site.city.random_point(rng, street)[:2]
        slug = street.squad_id.removeprefix("hp-sq-")
        people = [(f"duty.{slug}.{k}", next(names)) for k in range(1 + n % 3)]
        post = await plan_duty(site, street.squad_id, place, f"{street.name}岗", people)
        for login, _ in people[: max(1, len(people) - n % 2)]:
            await check_in(site, login, post, place)


async def wall(
    open_page: Callable[..., Any], url: str, width: int, height: int, units: list[Any]
) -> Any:
    page = await open_page(url, width, height, login=WALL)
    await page.wait_for_function("window.__screen && window.__screen.ready()", timeout=15000)
    await page.wait_for_function(
        "Object.values(window.__screen.panels()).every(Boolean)", timeout=15000
    )
    await page.evaluate("units => units.forEach(u => window.__screen.onUnit(u))", units)
    return page


async def test_screenshots_of_every_page(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors
) -> None:
    # a red item first: its deadline passes while the district fills
    red = {
        "kind": "media",
        "doc_no": "新民晚报 12月3日",
        "doc_text": "媒体曝光：豫园地区店外经营占道，请核查整改。",
        "tier_id": "hp-sq-yuyuan",
        "deadline": (datetime.now(UTC) + timedelta(seconds=3)).isoformat(),
    }
    await site.api.call("POST", "/api/v1/supervision-items", body=red, expect=201)
    await campaign_and_duty(site)
    ids = await populate(site)
    await supervision_items(site, ids)
    await site.person("dd.east", "squad", "hp-dd-east", name="东片大队长 张强")
    first = await site.incident(ids[0])
    await site.person("zd.officer", "squad", first["squad_id"], name="李娜")
    units = [
        {
            "id": u["id"],
            "squad_id": u["squad_id"],
            "lon": u["lon"],
            "lat": u["lat"],
            "status": u["status"],
        }
        for u in site.city.units
    ]
    url = f"{site.base}/"
    sizes = [("bigscreen-1920x1080", 1920, 1080, 1.0), ("bigscreen-3840x2160", 3840, 2160, 0.5)]
    walls = await asyncio.gather(*(wall(open_page, url, w, h, units) for _, w, h, _ in sizes))
    for page, (name, width, height, doc_scale) in zip(walls, sizes, strict=True):
        # all three colours on the map: the yellow ones turn red seconds later, so the first
        # wall is taken as soon as they show
        colours = "Number(document.querySelector('#n-red').textContent) > 0"
        if page is walls[0]:
            colours += " && Number(document.querySelector('#n-yellow').textContent) > 0"
        await page.wait_for_function(
            f"window.__screen.state.map.units.size > 0 && {colours}", timeout=25000
        )
        await page.evaluate("window.__screen.flush()")
        await asyncio.sleep(0.3)  # the flushed markers drawn
        layout = await page.evaluate(
            """() => { const d = document.documentElement;
            return {root: parseFloat(getComputedStyle(d).fontSize), scrollW: d.scrollWidth,
            scrollH: d.scrollHeight, mapW: document.querySelector('#map').clientWidth}; }"""
        )
        assert layout["root"] == pytest.approx(16 * width / 1920, rel=0.01)
        assert layout["scrollW"] <= width, layout
        assert layout["scrollH"] <= height, layout
        assert layout["mapW"] > width * 0.4
        await screenshot(page, name, docs=True, doc_scale=doc_scale)
        await page.context.close()

    signin = await open_page(f"{site.base}/static/desk.html", 1600, 900)
    await signin.wait_for_selector("#login-name", state="visible")
    await signin.fill("#login-name", OPERATOR)
    await screenshot(signin, "sign-in", docs=True)
    await signin.context.close()

    desk = await open_page(f"{site.base}/static/desk.html", 1920, 1080, login=OPERATOR)
    await desk.wait_for_function("window.__desk && window.__desk.ready()", timeout=15000)
    await desk.keyboard.press("2")
    await desk.keyboard.press("j")
    await desk.wait_for_selector("#detail .history li")
    await screenshot(desk, "desk", docs=True)
    # the supervision queue: three colours; the yellow item, with its text and steps
    await desk.click('#desk-views [data-view="supervision"]')
    await desk.wait_for_selector('.sup-item[data-colour="red"]', timeout=15000)
    # this month's threshold breaches, as warnings over the queue
    await desk.wait_for_selector(".sup-breaches .sup-breach", timeout=15000)
    # a yellow one: 80% of its 12 seconds gone, the desk told by /ws; shown before it is red
    yellow = {
        "kind": "leader_instruction",
        "doc_no": "黄府督〔2026〕9号",
        "title": "外滩沿线夜间施工噪声扰民",
        "doc_text": "区领导批示：外滩沿线夜间施工噪声扰民，请立即核查处置，按时报送结果。",
        "tier_id": "hp-sq-waitan",
        "deadline": (datetime.now(UTC) + timedelta(seconds=12)).isoformat(),
    }
    _, made = await site.api.call("POST", "/api/v1/supervision-items", body=yellow, expect=201)
    row = f'.sup-item[data-id="{made["id"]}"]'
    await desk.wait_for_selector(f'{row}:is([data-colour="yellow"], [data-colour="red"])')
    await desk.click(row)
    await desk.wait_for_selector(".sup-steps li .who")
    await screenshot(desk, "desk-supervision", docs=True)
    await desk.context.close()

    admin = await open_page(f"{site.base}/static/desk.html", 1920, 1080, login=ADMIN_PERSON)
    await admin.wait_for_function("window.__desk && window.__desk.ready()", timeout=15000)
    await admin.click('#desk-views [data-view="people"]')
    await admin.wait_for_selector('#people-rows tr[data-login="dd.east"]')
    await screenshot(admin, "desk-people", docs=True)
    await admin.context.close()

    leader = await open_page(f"{site.base}/static/leader.html", 1920, 1080, login="dd.east")
    await leader.wait_for_function(
        "window.__leader && window.__leader.ready() && window.__leader.breaches().length > 0",
        timeout=15000,
    )
    await leader.wait_for_selector(".ld-sup-board .sup-item")
    await screenshot(leader, "leader", docs=True)
    await leader.context.close()

    incident = await site.incident(ids[0])
    phone = await open_page(f"{site.base}/static/squad.html", 390, 844, scale=2, login="zd.officer")
    await phone.wait_for_function("window.__squad && window.__squad.ready()", timeout=15000)
    await phone.wait_for_selector(".task")
    await screenshot(phone, "squad", docs=True)
    await phone.click(".task")
    await phone.wait_for_selector(".history li")
    await screenshot(phone, "squad-task", docs=True)
    await phone.click("#back")
    await phone.click("#tab-sup")
    await phone.wait_for_selector(".sup-item")
    await screenshot(phone, "squad-supervision", docs=True)
    await phone.context.close()
    assert incident["squad_id"]
    page_errors.check()
