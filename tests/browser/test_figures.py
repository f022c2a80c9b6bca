"""The wall and the desk show the server's rates, and "—" where a rate has no denominator.

One case dispatched today and still inside its limit is in no denominator (docs/API.md §7:
应处置数 = 派遣数 − 按时待处置数, 应结案数 = 立案数 − 按时待结案数): the API answers null for
处置率, 按期处置率, 结案率 and 按期结案率, and both pages must show "—" for them, not "0.0%"
and not a rate of their own over every dispatched case. Every wait is on the pages' state.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import OPERATOR, WALL, PageErrors, Site, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

SHANGHAI = ZoneInfo("Asia/Shanghai")
RATES = ("disposal_rate", "on_time_rate", "close_rate", "on_time_close_rate")


async def one_case_inside_its_limit(site: Site) -> dict[str, Any]:
    """Post a case an operator's report registers and dispatches (limit: hours), and read
    today's figures from the API: dispatched, but nothing due yet."""
    street = next(s for s in site.city.streets if s.zone_id.endswith("nanjingdonglu"))
    lon, lat, _ = site.city.random_point(random.Random(7), street)
    created = await site.post(source="grid", category="200504", lon=lon, lat=lat)
    assert created["state"] == "dispatched", created
    today = datetime.now(UTC).astimezone(SHANGHAI).date().isoformat()
    query = urlencode({"from": today, "to": today, "group_by": "squad"})
    _, body = await site.api.call("GET", f"/api/v1/stats?{query}", expect=200)
    total = body["total"]
    assert (total["dispatched"], total["due_disposal"], total["due_close"]) == (1, 0, 0)
    assert all(total[r] is None for r in RATES), total
    return dict(body)


async def test_the_wall_and_the_desk_show_a_dash_for_a_rate_with_no_denominator(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors
) -> None:
    figures = await one_case_inside_its_limit(site)
    squad = next(g for g in figures["groups"] if g["dispatched"] == 1)
    assert squad["on_time_rate"] is None

    wall = await open_page(f"{site.base}/", 1920, 1080, login=WALL)
    await wall.wait_for_function("window.__screen && window.__screen.ready()", timeout=15000)
    # the server's figures have arrived (today's and the month's squads) and the case is held
    await wall.wait_for_function(
        """() => { const s = window.__screen.state.stats;
        return Boolean(s.today && s.squads) && window.__screen.kpi().dispatched === 1; }""",
        timeout=15000,
    )
    kpis = await wall.evaluate(
        """() => Object.fromEntries(["dispatched", "disposal_rate", "on_time_rate"].map(
        k => [k, document.querySelector(`[data-kpi="${k}"] b`).textContent]))"""
    )
    assert kpis == {"dispatched": "1", "disposal_rate": "—", "on_time_rate": "—"}
    # the squad ranking: its 按期处置率 column is the server's, and null is "—" too
    ranking = await wall.evaluate(
        "[...document.querySelectorAll('#rank tr')].map(tr => tr.cells[3].textContent)"
    )
    assert ranking
    assert set(ranking) == {"—"}, ranking
    shot = await screenshot(wall, "figures-wall-no-denominator")
    assert shot.stat().st_size > 0

    desk = await open_page(f"{site.base}/static/desk.html", 1600, 900, login=OPERATOR)
    await desk.wait_for_function(
        "window.__desk && window.__desk.ready() && window.__desk.figures() !== undefined",
        timeout=15000,
    )
    assert await desk.evaluate("window.__desk.figures().dispatched") == 1
    shown = await desk.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#desk-figures [data-fig]')]
        .map(d => [d.dataset.fig, d.querySelector('dd').textContent]))"""
    )
    assert shown == dict.fromkeys(RATES, "—")
    labels = await desk.evaluate(
        "[...document.querySelectorAll('#desk-figures dt')].map(d => d.textContent)"
    )
    assert labels == ["处置率", "按期处置率", "结案率", "按期结案率"]
    await screenshot(desk, "figures-desk-no-denominator")
    page_errors.check()
