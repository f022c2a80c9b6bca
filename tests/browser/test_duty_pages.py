"""Duty (勤务, docs/API.md §15) on the squad's phone, in a real headless Chromium against a
real server, PostgreSQL and Redis: the officer on duty sees the shift and the post, a check-in
from too far away is refused with its reason, and one at the post (the browser's geolocation
set on the context) is accepted and counted on duty by the wall's figures."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import PageErrors, Site, screenshot
from tests.integration.support import square

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_an_officer_checks_in_at_the_post_from_the_phone(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors
) -> None:
    street = site.city.streets[0]
    squad_id = street.squad_id
    lon, lat, _ = site.city.random_point(random.Random(18), street)
    person = await site.person("zhao.gang", "squad", squad_id, name="赵刚")
    post = {
        "squad_id": squad_id,
        "name": "南京路步行街岗",
        "place": {"type": "Polygon", "coordinates": square(lon - 0.001, lat - 0.001, 0.002)},
        "joint_police": True,
        "police_unit": "南京东路派出所",
    }
    await site.api.call("PUT", "/api/v1/duty/posts/post-njl", body=post, expect=201)
    # a shift running now (begun five minutes ago; it may cross midnight) and a daily roster
    local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    shift = {
        "squad_id": squad_id,
        "name": "白班",
        "starts": (local - timedelta(minutes=5)).strftime("%H:%M"),
        "ends": (local + timedelta(hours=3)).strftime("%H:%M"),
    }
    await site.api.call("PUT", "/api/v1/duty/shifts/day", body=shift, expect=201)
    roster = {
        "squad_id": squad_id,
        "name": "每日排班",
        "starts_on": (local.date() - timedelta(days=7)).isoformat(),
        "cycle_days": 1,
        "pattern": {"A": ["day"]},
        "members": [{"person_id": person["id"], "team": "A", "post_id": "post-njl"}],
    }
    await site.api.call("PUT", "/api/v1/duty/rosters/daily", body=roster, expect=201)

    # the phone is 1 km away from the post: refused, with the reason
    phone = await open_page(
        f"{site.base}/static/squad.html", 390, 844, at=(lon + 0.0105, lat), login="zhao.gang"
    )
    await phone.wait_for_function("window.__squad && window.__squad.ready()", timeout=15000)
    button = '.duty-check-in[data-post="post-njl"]'
    await phone.wait_for_selector(button, timeout=10000)
    assert await phone.text_content("#duty .duty-post") == "南京路步行街岗"
    assert "城警联勤" in str(await phone.text_content("#duty .duty-joint"))
    assert await phone.text_content(button) == "到岗签到"
    await phone.click(button)
    await phone.wait_for_selector("#toast.error", timeout=10000)
    assert "超出签到范围" in str(await phone.text_content("#toast"))

    # at the post: accepted
    await phone.context.set_geolocation({"longitude": lon, "latitude": lat})
    await phone.click(button)
    await phone.wait_for_function(
        f"document.querySelector('{button}').textContent.startsWith('已签到')", timeout=10000
    )
    assert await phone.is_disabled(button)
    await screenshot(phone, "squad-duty-check-in")
    _, now = await site.api.call("GET", f"/api/v1/duty/now?squad_id={squad_id}", expect=200)
    row = next(s for s in now["squads"] if s["squad_id"] == squad_id)
    assert (row["on_duty"], row["checked_in"]) == (1, 1)
    # the only errors the page reported: the refused check-in's 409, which the browser logs
    assert all("409" in e and "/api/v1/duty/check-ins" in e for e in page_errors.errors)
