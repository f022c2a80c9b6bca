"""Screenshots of every page at its sizes, of a district with a working day's mix in it.

Saved under artifacts/screenshots/ on every run; ``DISPATCH_UPDATE_SCREENSHOTS=1`` also
copies them to docs/screenshots/ (downscaled so that each stays small enough to commit).
The test also checks what a screenshot cannot: that the 4K wall is the same layout at twice
the size, with nothing cut off or scrolled.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dispatcher.demo.simulator import make_report
from tests.browser.conftest import PageErrors, Site, screenshot

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


async def wall(
    open_page: Callable[..., Any], url: str, width: int, height: int, units: list[Any]
) -> Any:
    page = await open_page(url, width, height)
    await page.wait_for_function("window.__screen && window.__screen.ready()", timeout=15000)
    await page.evaluate("units => units.forEach(u => window.__screen.onUnit(u))", units)
    return page


async def test_screenshots_of_every_page(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors
) -> None:
    ids = await populate(site)
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
    token = site.tokens["operator"]
    url = f"{site.base}/#token={token}"
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

    desk = await open_page(f"{site.base}/static/desk.html#token={token}", 1920, 1080)
    await desk.wait_for_function("window.__desk && window.__desk.ready()", timeout=15000)
    await desk.keyboard.press("2")
    await desk.keyboard.press("j")
    await desk.wait_for_selector("#detail .history li")
    await screenshot(desk, "desk", docs=True)
    await desk.context.close()

    incident = await site.incident(ids[0])
    squad_token = await site.api.token("squad", incident["squad_id"])
    phone = await open_page(f"{site.base}/static/squad.html#token={squad_token}", 390, 844, scale=2)
    await phone.wait_for_function("window.__squad && window.__squad.ready()", timeout=15000)
    await phone.wait_for_selector(".task")
    await screenshot(phone, "squad", docs=True)
    await phone.click(".task")
    await phone.wait_for_selector(".history li")
    await screenshot(phone, "squad-task", docs=True)
    await phone.context.close()
    page_errors.check()
