"""People sign in to the pages (docs/API.md §2a), in a real headless Chromium.

A wrong password shows the error and the right one the person's name, role and tier in the
header; signing out brings the form back. An admin creates a person and disables them from the
desk's people admin, and the disabled person's open page returns to the sign-in form at once
(its WebSocket closed with 1008). Too many failed sign-ins say so. Every wait is on the pages'
state; the ``open_page`` fixture checks that no request carried a secret in its URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from dispatcher.demo.run import create_people
from tests.browser.conftest import (
    ADMIN_PERSON,
    OPERATOR,
    PASSWORD,
    PageErrors,
    Site,
    screenshot,
    sign_in,
)
from tests.integration.support import ADMIN

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_a_wrong_password_is_refused_and_the_right_one_names_the_person(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors
) -> None:
    squad_id = next(s.squad_id for s in site.city.streets if s.zone_id.endswith("waitan"))
    await site.person("li.na", "squad", squad_id, name="李娜")
    desk = await open_page(f"{site.base}/static/desk.html", 1600, 900)
    await desk.wait_for_selector("#login-name", state="visible")
    assert await desk.locator("#main").is_hidden()
    await desk.fill("#login-name", OPERATOR)
    await desk.fill("#login-password", "wrong-pass-1")
    await desk.click("#login-go")
    await desk.wait_for_selector("#login-error:not([hidden])")
    assert await desk.text_content("#login-error") == "登录名或密码错误"
    await screenshot(desk, "sign-in-refused")
    await desk.fill("#login-password", PASSWORD)
    await desk.click("#login-go")
    await desk.wait_for_selector("#who .who-name")
    assert await desk.text_content("#who .who-name") == "王值班"
    assert await desk.text_content("#who .who-role") == "指挥中心值班员"
    await desk.wait_for_function("window.__desk && window.__desk.ready()", timeout=15000)

    # the squad's phone names the officer, the role and the squad with its tier
    phone = await open_page(f"{site.base}/static/squad.html", 390, 844, login="li.na")
    assert await phone.text_content("#who .who-name") == "李娜"
    assert await phone.text_content("#who .who-role") == "执法队员"
    assert await phone.text_content("#who .who-squad") == "外滩街道城管执法中队（中队）"
    await phone.wait_for_function("window.__squad && window.__squad.ready()", timeout=15000)
    # signing out ends the session: the form again, and a reload does not sign back in
    await phone.click("#signout")
    await phone.wait_for_selector("#login-name", state="visible")
    await phone.reload()
    await phone.wait_for_selector("#login-name", state="visible")
    assert await phone.locator("#app").is_hidden()
    page_errors.check()


async def test_too_many_failed_sign_ins_say_so(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors
) -> None:
    wall = await open_page(f"{site.base}/", 1920, 1080)
    await wall.wait_for_selector("#login-name", state="visible")
    await wall.fill("#login-name", "nobody.here")
    shown = ""
    for attempt in range(40):  # the limit is per address and name; it is reached well before
        await wall.fill("#login-password", f"wrong-pass-{attempt}")
        await wall.click("#login-go")
        await wall.wait_for_selector(f'#login[data-refused="{attempt + 1}"]', state="attached")
        shown = str(await wall.text_content("#login-error"))
        if "过多" in shown:
            break
    assert shown == "登录失败次数过多，请一分钟后再试"
    page_errors.check()


async def test_people_admin_creates_and_disables_and_the_page_returns_to_sign_in(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors
) -> None:
    squad_id = next(s.squad_id for s in site.city.streets if s.zone_id.endswith("yuyuan"))
    desk = await open_page(f"{site.base}/static/desk.html", 1600, 900, login=ADMIN_PERSON)
    await desk.wait_for_function("window.__desk && window.__desk.ready()", timeout=15000)
    await desk.click('#desk-views [data-view="people"]')
    await desk.wait_for_selector(f'#people-rows tr[data-login="{OPERATOR}"]')
    await desk.click("#ppl-new")
    await desk.fill('#ppl-dlg input[name="login"]', "zhao.lei")
    await desk.fill('#ppl-dlg input[name="name"]', "赵磊")
    await desk.select_option('#ppl-dlg select[name="role"]', "squad")
    await desk.select_option('#ppl-dlg select[name="squad_id"]', squad_id)
    await desk.fill('#ppl-dlg input[name="badge_no"]', "31010120001")
    await desk.fill('#ppl-dlg input[name="password"]', PASSWORD)
    await desk.click('#ppl-dlg button[type="submit"]')
    row = '#people-rows tr[data-login="zhao.lei"]'
    await desk.wait_for_selector(row)
    assert await desk.text_content(f"{row} .ppl-role") == "执法队员"
    assert await desk.text_content(f"{row} .ppl-squad") == "豫园街道城管执法中队（中队）"
    _, listed = await site.api.call("GET", "/api/v1/people", expect=200)
    made = next(p for p in listed["people"] if p["login"] == "zhao.lei")
    assert (made["name"], made["squad_id"], made["badge_no"]) == ("赵磊", squad_id, "31010120001")
    await screenshot(desk, "desk-people-created")

    # the new person signs in on the phone; the admin disables them; the phone signs out
    phone = await open_page(f"{site.base}/static/squad.html", 390, 844, login="zhao.lei")
    await phone.wait_for_function("window.__squad && window.__squad.ready()", timeout=15000)
    await phone.wait_for_selector("#conn.live", timeout=10000)
    await desk.click(f'{row} [data-ppl="disable"]')
    await desk.wait_for_selector(f'{row}.disabled [data-ppl="enable"]')
    await phone.wait_for_selector("#login-name", state="visible", timeout=10000)
    assert await phone.text_content("#login-error") == "会话已结束，请重新登录"
    # and cannot sign in again until enabled
    await phone.fill("#login-name", "zhao.lei")
    await phone.fill("#login-password", PASSWORD)
    await phone.click("#login-go")
    await phone.wait_for_function(
        "document.querySelector('#login-error').textContent === '登录名或密码错误'"
    )
    await desk.click(f'{row} [data-ppl="enable"]')
    await desk.wait_for_selector(f'{row}:not(.disabled) [data-ppl="disable"]')
    await sign_in(phone, "zhao.lei")
    assert await phone.text_content("#who .who-name") == "赵磊"
    page_errors.check()


async def test_the_demo_makes_its_people_with_new_passwords_on_each_run(site: Site) -> None:
    first = await create_people(site.base, ADMIN)
    again = await create_people(site.base, ADMIN)  # a second run on the same data folder
    assert [login for login, _, _ in first] == ["admin", "zhiban", "dadui", "zhongdui", "dapin"]
    assert all(a[2] != b[2] for a, b in zip(first, again, strict=True))
    for login, name, password in again:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            body = {"login": login, "password": password}
            async with session.post(f"{site.base}/api/v1/session", json=body) as resp:
                assert resp.status == 200, login
            async with session.get(f"{site.base}/api/v1/session") as resp:
                me = await resp.json()
        assert me["name"] == name
        if login == "dadui":
            assert (me["tier_name"], len(me["scope"])) == ("大队", 6)
        if login == "dapin":
            assert me["role"] == "auditor"
