"""Enforcement cases (处罚案件, docs/API.md §14) on the desk, in a real headless Chromium against a
real server, PostgreSQL and Redis: a case opened through the API appears on the desk's tab of
cases with its colour; the operator opens it and files it (立案) with a photo from the page;
the step and the document, with its hash, are shown."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import OPERATOR, PASSWORD, PageErrors, Site
from tests.browser.test_pages import jpeg

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_a_case_is_filed_from_the_desk(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors, tmp_path: Any
) -> None:
    street = site.city.streets[0]
    lon, lat, _ = site.city.random_point(random.Random(7), street)
    incident = await site.post(source="hotline", category="200504", lon=lon, lat=lat)
    officers = []
    for n, name in enumerate(("周执法", "吴执法")):
        _, person = await site.api.call(
            "POST",
            "/api/v1/people",
            body={
                "login": f"aj.{n}",
                "name": name,
                "role": "squad",
                "squad_id": street.squad_id,
                "badge_no": f"3101{n:04d}",
                "password": PASSWORD,
            },
            expect=201,
        )
        officers.append(person["id"])
    _, case = await site.api.call(
        "POST",
        "/api/v1/cases",
        body={
            "source": {"kind": "incident", "ref": incident["id"]},
            "title": "擅自占道经营",
            "party": {"kind": "company", "name": "某某餐饮", "credit_code": "91350100M000100Y43"},
            "officers": officers,
        },
        expect=201,
    )
    desk = await open_page(f"{site.base}/static/desk.html", 1920, 1080, login=OPERATOR)
    await desk.wait_for_function("window.__desk && window.__desk.ready()", timeout=15000)
    await desk.wait_for_selector('#desk-views [data-view="enforcement"]', timeout=10000)
    await desk.click('#desk-views [data-view="enforcement"]')
    row = f'.aj-row:has-text("{case["number"]}")'
    await desk.wait_for_selector(row, timeout=10000)
    assert await desk.is_hidden("#main")
    assert "绿色" in (await desk.text_content(row) or "")
    await desk.click(row)
    await desk.wait_for_selector(".aj-form select[name=step]")
    assert await desk.input_value(".aj-form select[name=step]") == "file"
    photo = tmp_path / "现场.jpg"
    photo.write_bytes(await jpeg(desk))
    await desk.set_input_files(".aj-form input[type=file]", str(photo))
    await desk.fill(".aj-form textarea[name=note]", "经审查符合立案条件")
    await desk.click(".aj-form button[type=submit]")
    await desk.wait_for_selector('.aj-steps li:has-text("立案")', timeout=10000)
    assert await desk.text_content(".aj-docs li a") == "现场.jpg"
    _, whole = await site.api.call("GET", f"/api/v1/cases/{case['id']}", expect=200)
    assert whole["state"] == "filed"
    (doc,) = whole["documents"]
    assert whole["steps"][-1]["detail"]["documents"][0]["sha256"] == doc["sha256"]
    page_errors.check()
