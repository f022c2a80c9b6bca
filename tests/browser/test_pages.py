"""The three pages in a real headless Chromium against a real server, PostgreSQL and Redis.

An incident posted through the API reaches the big screen's map within a second and turns
red when its category's short limit runs out; the operator registers and dispatches it from
the desk; the squad's phone receives it, signs for it and resolves it with a photo; the big
screen's figures follow. A dropped WebSocket recovers with nothing missing and nothing twice.
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import OPERATOR, WALL, PageErrors, Site, screenshot
from tests.integration.support import ADMIN

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

SHORT = "209901"  # a test category: 5.4 seconds on the continuous clock


def point_in(site: Site, street_slug: str, seed: int = 1) -> tuple[float, float, str]:
    """A point inside a street of the demo city, and the squad that answers for it."""
    street = next(s for s in site.city.streets if s.zone_id.endswith(street_slug))
    lon, lat, _ = site.city.random_point(random.Random(seed), street)
    return lon, lat, street.squad_id


async def screen(
    site: Site, open_page: Callable[..., Any], width: int = 1920, height: int = 1080
) -> Any:
    page = await open_page(f"{site.base}/", width, height, login=WALL)
    await page.wait_for_function("window.__screen && window.__screen.ready()", timeout=15000)
    return page


async def test_new_incident_reaches_the_map_within_a_second(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors
) -> None:
    page = await screen(site, open_page)
    lon, lat, _ = point_in(site, "nanjingdonglu")
    started = time.monotonic()
    created = await site.post(
        source="hotline", category="200504", lon=lon, lat=lat, description="店外经营"
    )
    await page.wait_for_function(
        "id => window.__screen.renderedColour(id) !== null",
        arg=created["id"],
        polling=20,
        timeout=3000,
    )
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"the marker appeared after {elapsed:.2f} s"
    assert await page.evaluate("id => window.__screen.renderedColour(id)", created["id"]) == "green"
    feed = await page.evaluate(
        "[...document.querySelectorAll('#feed li')].map(li => li.dataset.id)"
    )
    assert created["id"] in feed
    page_errors.check()


async def test_marker_turns_red_when_the_limit_runs_out(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors
) -> None:
    _, catalogue = await site.api.call("GET", "/api/v1/categories", expect=200)
    short = {
        "code": SHORT,
        "name": "测试短时限",
        "name_en": "Test: short limit",
        "priority": "urgent",
        "clock": "continuous",
        "limit": 0.0015,
        "dedup_radius_m": 0,
    }
    await site.api.call(
        "PUT", "/api/v1/categories", body=[*catalogue["categories"], short], expect=200
    )
    page = await screen(site, open_page)
    lon, lat, _ = point_in(site, "waitan")
    created = await site.post(source="hotline", category=SHORT, lon=lon, lat=lat)
    incident_id = created["id"]
    colour = "id => window.__screen.renderedColour(id)"
    await page.wait_for_function(f"id => ({colour})(id) === 'green'", arg=incident_id, timeout=3000)
    await page.wait_for_function(
        f"id => ({colour})(id) === 'yellow'", arg=incident_id, timeout=8000
    )
    await page.wait_for_function(f"id => ({colour})(id) === 'red'", arg=incident_id, timeout=8000)
    # the server's clock says so too: a deadline.overdue event reaches the wall
    await page.wait_for_function(
        "id => [...document.querySelectorAll('#feed li .tag.t-overdue')]"
        ".some(tag => tag.parentElement.dataset.id === id)",
        arg=incident_id,
        timeout=10000,
    )
    await page.wait_for_function("window.__screen.kpi().overdue >= 1", timeout=3000)
    await screenshot(page, "bigscreen-red")
    page_errors.check()


async def jpeg(page: Any) -> bytes:
    """A small JPEG photo drawn by the browser itself."""
    data_url = await page.evaluate(
        """() => { const c = document.createElement('canvas'); c.width = 640; c.height = 480;
        const g = c.getContext('2d'); g.fillStyle = '#3a6'; g.fillRect(0, 0, 640, 480);
        g.fillStyle = '#fff'; g.font = '48px sans-serif'; g.fillText('处置后 after', 120, 260);
        return c.toDataURL('image/jpeg', 0.9); }"""
    )
    return base64.b64decode(data_url.split(",", 1)[1])


async def test_desk_dispatches_squad_resolves_with_photo_and_figures_follow(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors
) -> None:
    lon, lat, squad_id = point_in(site, "yuyuan", seed=3)
    squad_token = await site.api.token("squad", squad_id)
    await site.person("zd.yuyuan", "squad", squad_id, name="豫园队员")
    wall = await screen(site, open_page)
    # a camera detection below the confidence threshold waits for an operator
    created = await site.post(
        site.tokens["device"],
        source="camera",
        category="200504",
        lon=lon,
        lat=lat,
        confidence=0.55,
        device_id="cam-test",
        external_id=f"cam-test-{time.time_ns()}",
        address="豫园路85号",
    )
    incident_id = created["id"]
    assert created["state"] == "reported"
    await wall.wait_for_function("id => window.__screen.incident(id) !== null", arg=incident_id)
    before = await wall.evaluate("window.__screen.kpi()")

    unit_id = "unit-test-1"
    await site.api.call(
        "PUT",
        f"/api/v1/units/{unit_id}",
        body={"squad_id": squad_id, "name": "执法车01", "skills": [], "status": "available"},
        expect=None,
    )
    phone = await open_page(
        f"{site.base}/static/squad.html", 390, 844, at=(lon, lat), login="zd.yuyuan"
    )
    await phone.wait_for_function("window.__squad && window.__squad.ready()", timeout=15000)
    assert await phone.evaluate("window.__squad.state.squadId") == squad_id
    # the unit's position comes from the browser's geolocation
    await phone.wait_for_selector(f'#unit option[value="{unit_id}"]', state="attached")
    await phone.select_option("#unit", unit_id)
    await phone.wait_for_function("document.querySelector('#pos-text').textContent.includes(',')")
    _, unit = await site.api.call("GET", f"/api/v1/units/{unit_id}", expect=200)
    assert unit["position"]["lon"] == pytest.approx(lon, abs=1e-5)  # Redis GEO keeps ~0.6 m
    assert unit["position"]["lat"] == pytest.approx(lat, abs=1e-5)

    desk = await open_page(f"{site.base}/static/desk.html", 1920, 1080, login=OPERATOR)
    await desk.wait_for_function("window.__desk && window.__desk.ready()", timeout=15000)
    await desk.click(f'.queue-item[data-id="{incident_id}"]')
    await desk.wait_for_selector(f'#detail .id:has-text("{incident_id}")')
    await desk.keyboard.press("r")  # 立案
    await desk.wait_for_function(
        "id => window.__desk.state.store.get(id).state === 'registered'", arg=incident_id
    )
    await desk.wait_for_selector("#recs .rec")  # recommendations with their reasons
    await desk.keyboard.press("d")  # 派遣
    await desk.wait_for_selector("#dlg .cand input:checked")
    await screenshot(desk, "desk-dispatch", docs=True)
    await desk.click("#dlg-ok")
    await desk.wait_for_function(
        "id => window.__desk.state.store.get(id).state === 'dispatched'", arg=incident_id
    )

    # the phone: the dispatch arrives live, with an alert, and stays until signed for
    await phone.wait_for_selector(f'.task.new[data-id="{incident_id}"]', timeout=10000)
    assert await phone.evaluate("window.__squad.chimes()") >= 1
    await screenshot(phone, "squad-new-dispatch")
    await phone.click(f'.task[data-id="{incident_id}"]')
    # signed for in a dead spot: the action waits on the phone and goes when the network is back
    await phone.context.set_offline(True)
    await phone.click('[data-act="accept"]')
    await phone.wait_for_function("window.__squad.outbox() === 1")
    await phone.wait_for_selector(".task-view .pending")
    assert (await site.incident(incident_id))["state"] == "dispatched"
    await phone.context.set_offline(False)
    await phone.wait_for_function(
        "id => window.__squad.state.store.get(id).state === 'accepted'", arg=incident_id
    )
    await phone.click('[data-act="resolve"]')
    await phone.select_option('select[name="outcome"]', "corrected_on_spot")
    await phone.fill('textarea[name="note"]', "已劝导商户收回占道物品")
    photo = await jpeg(phone)
    await phone.set_input_files(
        "#photo-after", files=[{"name": "after.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    await phone.wait_for_selector(".shots img")
    await screenshot(phone, "squad-resolve", docs=True)
    await phone.click('.form button[type="submit"]')
    await phone.wait_for_function(
        "id => window.__squad.state.store.get(id).state === 'resolved'"
        " && window.__squad.outbox() === 0",
        arg=incident_id,
        timeout=10000,
    )

    stored = await site.incident(incident_id)
    assert stored["state"] == "resolved"
    assert stored["outcome"] == "corrected_on_spot"
    assert len(stored["resolution_media"]) == 1
    for token in (squad_token, ADMIN):  # the squad and the centre may see it
        async with site.api.session.get(
            site.base + stored["resolution_media"][0], headers=site.api.headers(token)
        ) as resp:
            assert resp.status == 200
            assert resp.content_type == "image/jpeg"
            assert (await resp.read())[:3] == b"\xff\xd8\xff"

    # an inspector (an operator on the phone page) verifies it on site, with a photo
    inspector = await open_page(f"{site.base}/static/squad.html", 390, 844, login=OPERATOR)
    await inspector.wait_for_function("window.__squad && window.__squad.ready()", timeout=15000)
    await inspector.click("#tab-verify")
    await inspector.click(f'.task[data-id="{incident_id}"]')
    await inspector.click('[data-act="verify-done"]')
    await inspector.set_input_files(
        "#photo-verify", files=[{"name": "check.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    await inspector.wait_for_selector(".shots img")
    await inspector.click('.form button[type="submit"]')
    await inspector.wait_for_function(
        "id => window.__squad.state.store.get(id).state === 'closed'", arg=incident_id
    )
    history = (await site.incident(incident_id))["history"]
    verified = next(h for h in history if h["action"] == "verify")
    assert verified["detail"]["passed"] is True
    assert len(verified["detail"]["media"]) == 1

    # the wall's figures follow: one more dispatched, one more disposed of
    await wall.wait_for_function(
        """b => { const k = window.__screen.kpi();
        return k.dispatched > b.dispatched && k.disposal_rate !== b.disposal_rate; }""",
        arg=before,
        timeout=15000,
    )
    page_errors.check()


async def test_dropped_connection_recovers_with_nothing_missing_or_twice(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors
) -> None:
    page = await screen(site, open_page)
    rng = random.Random(5)
    posted: list[str] = []

    async def post_some(n: int) -> None:
        for _ in range(n):
            lon, lat, _ = site.city.random_point(rng)
            created = await site.post(source="hotline", category="200504", lon=lon, lat=lat)
            posted.append(created["id"])

    await post_some(4)
    await page.wait_for_function(
        "ids => ids.every(id => window.__screen.incident(id))", arg=posted, timeout=5000
    )
    # drop the connection, and keep the world moving while the wall is away
    await page.evaluate("window.__screen.drop()")
    await post_some(6)
    for incident_id in posted[:2]:
        await site.api.call(
            "POST",
            f"/api/v1/incidents/{incident_id}/actions",
            ADMIN,
            body={"action": "supervise", "note": "断线期间督办"},
            expect=200,
        )
    await page.wait_for_function(
        "window.__screen.liveStats().reconnects >= 1"
        " && document.querySelector('#conn').classList.contains('live')",
        timeout=10000,
    )
    await page.wait_for_function(
        "ids => ids.every(id => window.__screen.incident(id))", arg=posted, timeout=5000
    )
    # every event of these incidents on the "all" topic was applied exactly once
    # (dispatch.assigned goes to the squads' topics only)
    expected: set[int] = set()
    for incident_id in posted:
        history = (await site.incident(incident_id))["history"]
        expected.update(h["seq"] for h in history if h["type"] != "dispatch.assigned")
    await page.wait_for_function(
        "n => window.__screen.liveStats().lastSeq >= n", arg=max(expected), timeout=5000
    )
    seqs = await page.evaluate("window.__screen.seqs()")
    assert len(seqs) == len(set(seqs)), "an event was applied twice"
    assert seqs == sorted(seqs), "events were applied out of order"
    assert expected <= set(seqs), f"missing events: {sorted(expected - set(seqs))}"
    feed = [s for s in await page.evaluate("window.__screen.feedSeqs()") if s > 0]
    assert len(feed) == len(set(feed)), "the feed shows an event twice"
    for incident_id in posted[:2]:
        shown = await page.evaluate("id => window.__screen.incident(id)", incident_id)
        assert shown["supervision_count"] == 1
    page_errors.check()
