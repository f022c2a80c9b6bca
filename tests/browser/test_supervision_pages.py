"""The supervision queue (督办, docs/API.md §12) and a leader's page for a tier (§2a, §7), in a
real headless Chromium against a real server, PostgreSQL and Redis.

An item opened through the API appears on the desk with its colour; the 中队's officer replies
from the phone with a photo; the desk accepts it, each step named by the person who took it.
An item whose deadline passes turns red on the desk. A 大队 leader's page shows its tier's
figures and the thresholds they breach, and offers no squad outside the tier.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser.conftest import OPERATOR, PageErrors, Site, screenshot
from tests.browser.test_pages import jpeg

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


async def open_item(site: Site, **body: Any) -> dict[str, Any]:
    _, item = await site.api.call("POST", "/api/v1/supervision-items", body=body, expect=201)
    return dict(item)


async def test_an_item_is_answered_from_the_phone_and_accepted_on_the_desk(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors
) -> None:
    waitan = street(site, "waitan")
    lon, lat, _ = site.city.random_point(random.Random(4), waitan)
    incident = await site.post(source="hotline", category="200504", lon=lon, lat=lat)
    await site.person("li.na", "squad", waitan.squad_id, name="李娜")
    desk = await open_page(f"{site.base}/static/desk.html", 1920, 1080, login=OPERATOR)
    await desk.wait_for_function("window.__desk && window.__desk.ready()", timeout=15000)
    await desk.click('#desk-views [data-view="supervision"]')
    await desk.wait_for_function("window.__desk.state.sup.loaded")

    item = await open_item(
        site,
        kind="leader_instruction",
        doc_no="黄城管督〔2026〕12号",
        title="外滩沿线占道经营整治",
        doc_text="请外滩中队于期限内整治中山东一路沿线占道经营，并报送整改照片。",
        tier_id=waitan.squad_id,
        incident_ids=[incident["id"]],
    )
    row = f'.sup-item[data-id="{item["id"]}"]'
    await desk.wait_for_selector(row, timeout=10000)  # live, from /ws
    assert await desk.get_attribute(row, "data-colour") == item["colour"] == "green"
    assert await desk.text_content(f"{row} .sup-colour") == "绿色"
    assert await desk.text_content(f"{row} .sup-kind") == "领导批示"
    assert await desk.text_content(f"{row} .sup-tier") == "外滩街道城管执法中队（中队）"

    # an item whose deadline passes turns red on the desk by itself
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    late = await open_item(
        site, kind="media", doc_text="媒体反映：外滩夜间噪声扰民", tier_id=waitan.squad_id,
        deadline=soon,
    )  # fmt: skip
    await desk.wait_for_selector(
        f'.sup-item[data-id="{late["id"]}"][data-colour="red"]', timeout=15000
    )
    assert await desk.text_content(f'.sup-item[data-id="{late["id"]}"] .sup-colour') == "红色超期"

    # the squad's phone: the tier's items, a reply with a photo
    phone = await open_page(f"{site.base}/static/squad.html", 390, 844, login="li.na")
    await phone.wait_for_function("window.__squad && window.__squad.ready()", timeout=15000)
    await phone.click("#tab-sup")
    await phone.wait_for_selector(row)
    await phone.click(row)
    await phone.wait_for_selector('[data-sup-act="reply"]')
    await phone.click('[data-sup-act="reply"]')
    await phone.fill('.sup-form textarea[name="reply"]', "已组织整治，沿线占道经营已清理。")
    photo = await jpeg(phone)
    await phone.set_input_files(
        '.sup-form input[name="photo"]',
        files=[{"name": "done.jpg", "mimeType": "image/jpeg", "buffer": photo}],
    )
    await phone.click('.sup-form button[type="submit"]')
    await phone.wait_for_selector(".sup-reply .sup-reply-head .who")
    assert await phone.text_content(".sup-reply .sup-reply-head .who") == "李娜"
    await phone.evaluate("window.scrollTo(0, 0)")
    await screenshot(phone, "squad-supervision-reply")

    # the desk: replied (live); returned with a reason; the phone replies again
    await desk.wait_for_selector(f'{row}[data-state="replied"]', timeout=10000)
    await desk.click(row)
    await desk.wait_for_selector('[data-sup-act="return"]')
    await desk.wait_for_selector(".sup-reply .photos img")
    await desk.click('[data-sup-act="return"]')
    await desk.fill('.sup-form textarea[name="return"]', "请补充整治前后对比照片")
    await desk.click('.sup-form button[type="submit"]')
    await desk.wait_for_selector(f'{row}[data-state="returned"]')
    await phone.wait_for_selector('[data-sup-act="reply"]', timeout=10000)  # live, by /ws
    assert "请补充整治前后对比照片" in str(await phone.text_content(".sup-verdict.returned"))
    await phone.click('[data-sup-act="reply"]')
    await phone.fill('.sup-form textarea[name="reply"]', "已补充整治前后对比照片。")
    await phone.click('.sup-form button[type="submit"]')
    await phone.wait_for_function("document.querySelectorAll('.sup-reply').length === 2")

    # accepted and closed (办结) by the operator, each step by name
    await desk.wait_for_selector(f'{row}[data-state="replied"]', timeout=10000)
    await desk.wait_for_selector('[data-sup-act="accept"]')
    await desk.click('[data-sup-act="accept"]')
    await desk.wait_for_selector(f'{row}[data-state="accepted"]')
    await desk.wait_for_selector(".sup-verdict.accepted")
    assert "王值班" in str(await desk.text_content(".sup-verdict.accepted"))
    await desk.click('[data-sup-act="close"]')
    await desk.fill('.sup-form textarea[name="close"]', "整改到位，予以办结")
    await desk.click('.sup-form button[type="submit"]')
    await desk.wait_for_selector(f'{row}[data-state="closed"]')
    await desk.wait_for_function("document.querySelectorAll('.sup-steps li').length >= 6")
    steps = await desk.eval_on_selector_all(
        ".sup-steps li", "lis => lis.map(li => li.querySelector('.who').textContent)"
    )
    assert steps[-5:] == ["李娜", "王值班", "李娜", "王值班", "王值班"], steps
    assert not [s for s in steps if s.startswith(("psn_", "tok_"))], steps
    stored = (await site.api.call("GET", f"/api/v1/supervision-items/{item['id']}"))[1]
    assert stored["state"] == "closed"
    assert len(stored["replies"][0]["attachments"]) == 1
    assert [r["verdict"] for r in stored["replies"]] == ["returned", "accepted"]
    await screenshot(desk, "desk-supervision-closed")

    # a new item from the desk's own form: kind, 文号, text, tier, incidents
    await desk.click("#sup-new")
    await desk.select_option('#sup-dlg select[name="kind"]', "assigned_by_superior")
    await desk.fill('#sup-dlg input[name="doc_no"]', "沪城管执法〔2026〕交办46号")
    await desk.fill('#sup-dlg textarea[name="doc_text"]', "市局交办：外滩沿线夜间噪声专项整治")
    await desk.select_option('#sup-dlg select[name="tier_id"]', waitan.squad_id)
    await desk.fill('#sup-dlg input[name="incident_ids"]', incident["id"])
    await desk.click('#sup-dlg button[type="submit"]')
    await desk.wait_for_selector('.sup-item[aria-selected="true"] .sup-kind:text("上级交办")')
    _, queue = await site.api.call("GET", f"/api/v1/supervision-items?incident_id={incident['id']}")
    made = next(i for i in queue["items"] if i["kind"] == "assigned_by_superior")
    assert made["doc_no"] == "沪城管执法〔2026〕交办46号"
    assert made["opened_by"]["name"] == "王值班"
    page_errors.check()


async def test_a_brigade_leaders_page_shows_its_tiers_figures_and_breaches(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors
) -> None:
    waitan = street(site, "waitan")
    brigade = next(s for s in site.city.squads if s["id"] == "hp-dd-east")
    other = next(s for s in site.city.squads if s["id"] == "hp-dd-west")
    assert (
        next(s for s in site.city.squads if s["id"] == waitan.squad_id)["parent_id"]
        == (brigade["id"])
    )
    await site.person("dd.east", "squad", brigade["id"], name="东片大队长")
    _, catalogue = await site.api.call("GET", "/api/v1/categories", expect=200)
    await site.api.call(
        "PUT", "/api/v1/categories", body=[*catalogue["categories"], SHORT], expect=200
    )
    # a case of the 外滩 squad runs out of time unresolved: 处置率 0% < 98% in its tier
    lon, lat, _ = site.city.random_point(random.Random(8), waitan)
    late = await site.post(source="hotline", category=SHORT["code"], lon=lon, lat=lat)
    path = f"/api/v1/incidents/{late['id']}/actions"
    if late["state"] == "reported":
        await site.api.call("POST", path, body={"action": "register"}, expect=200)
    if late["state"] != "dispatched":
        dispatch = {"action": "dispatch", "squad_id": waitan.squad_id}
        await site.api.call("POST", path, body=dispatch, expect=200)
    assert (await site.incident(late["id"]))["squad_id"] == waitan.squad_id

    page = await open_page(f"{site.base}/static/leader.html", 1920, 1080, login="dd.east")
    await page.wait_for_function("window.__leader && window.__leader.ready()", timeout=15000)
    tiers = await page.evaluate("window.__leader.tiers()")
    assert tiers[0] == brigade["id"]  # its own tier first, and chosen
    assert await page.input_value("#tier") == brigade["id"]
    assert waitan.squad_id in tiers
    assert other["id"] not in tiers  # nothing outside its tier is offered
    assert not [t for t in tiers if t.startswith("hp-sq-") and t not in brigade_squads(site)]
    assert await page.text_content("#who .who-squad") == "黄浦区城管执法局东片大队（大队）"
    # the figures of the tier, by their Chinese names; the breach once the case is overdue
    labels = await page.eval_on_selector_all("#rates dt", "d => d.map(x => x.textContent)")
    assert labels[:4] == ["处置率", "按期处置率", "结案率", "按期结案率"]
    await page.wait_for_function(
        "id => window.__leader.breaches().includes(id + ':disposal_rate')",
        arg=waitan.squad_id,
        timeout=20000,
    )
    assert await page.text_content('#rates [data-rate="disposal_rate"] dd') == "0.0%"
    await page.wait_for_selector(f'#cases .ld-case[data-id="{late["id"]}"][data-colour="red"]')
    await page.wait_for_selector(f'#breaches .breach[data-squad="{waitan.squad_id}"]')
    # the tier's supervision items with their colours
    await open_item(
        site, kind="petition", doc_text="信访件：外滩商户反映执法态度", tier_id=waitan.squad_id
    )
    await page.wait_for_selector(".ld-sup-board .sup-item.c-green", timeout=10000)
    await screenshot(page, "leader-brigade")
    page_errors.check()


def brigade_squads(site: Site) -> set[str]:
    return {s["id"] for s in site.city.squads if s.get("parent_id") == "hp-dd-east"}
