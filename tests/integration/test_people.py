"""People who sign in, their sessions, and command tiers, on real PostgreSQL and Redis.

The town's squads are put in three tiers for these tests: the centre (支队) over two brigades
(大队), each over one street squad (中队): brigade-a → sq-west, brigade-b → sq-east.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest
import pytest_asyncio

from tests.integration.support import ADMIN, EAST, Api

PASSWORD = "Xq7-城管-2026"
TIERS = {
    "brigade-a": {"name": "东片大队", "kind": "street", "parent_id": "centre"},
    "brigade-b": {"name": "西片大队", "kind": "street", "parent_id": "centre"},
    "sq-west": {"name": "西街道中队", "kind": "street", "parent_id": "brigade-a"},
    "sq-east": {"name": "东街道中队", "kind": "street", "parent_id": "brigade-b"},
}


class Browser:
    """A client with its own cookie jar, as a page in a browser: signs in, then calls with
    the session cookie and the CSRF token."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base = base
        self.session = session
        self.csrf: str | None = None

    async def sign_in(self, login: str, password: str = PASSWORD) -> tuple[int, Any]:
        status, body = await self.call(
            "POST", "/api/v1/session", {"login": login, "password": password}
        )
        if status == 200:
            self.csrf = body["csrf_token"]
        return status, body

    async def call(
        self, method: str, path: str, body: Any = None, *, csrf: bool = True
    ) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf} if csrf and self.csrf else {}
        async with self.session.request(
            method, self.base + path, json=body, headers=headers
        ) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text else None

    async def socket(self) -> aiohttp.ClientWebSocketResponse:
        return await self.session.ws_connect(self.base.replace("http", "ws", 1) + "/ws")


@pytest_asyncio.fixture
async def browsers(api: Api) -> AsyncIterator[Callable[[], Awaitable[Browser]]]:
    opened: list[aiohttp.ClientSession] = []

    async def open_one() -> Browser:
        # aiohttp keeps no cookie of an IP address unless told to; a browser does
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        opened.append(session)
        return Browser(api.base, session)

    yield open_one
    for session in opened:
        await session.close()


async def tiered_town(api: Api) -> None:
    await api.load_town()
    for sid, body in TIERS.items():
        await api.call(
            "PUT", f"/api/v1/squads/{sid}", body=body, expect=200 if sid.startswith("sq") else None
        )


async def person(api: Api, login: str, role: str, squad_id: str | None, **more: Any) -> Any:
    body = {"login": login, "name": more.pop("name", login), "role": role, "password": PASSWORD}
    if squad_id:
        body["squad_id"] = squad_id
    _, answer = await api.call("POST", "/api/v1/people", body={**body, **more}, expect=201)
    return answer


async def test_a_person_signs_in_with_a_cookie_the_page_cannot_read(
    api: Api,
    browsers: Callable[[], Awaitable[Browser]],
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await tiered_town(api)
    caplog.set_level(logging.DEBUG)
    created = await person(
        api, "zhang.wei", "squad", "sq-west", name="张伟", badge_no="31011520001"
    )
    assert created["squad_name"] == "西街道中队"
    assert created["role_name"] == "执法队员"
    assert "password" not in created
    assert "password_hash" not in created

    page = await browsers()
    async with page.session.post(
        api.base + "/api/v1/session", json={"login": "zhang.wei", "password": PASSWORD}
    ) as resp:
        assert resp.status == 200
        cookie = resp.headers["Set-Cookie"]
        body = await resp.json()
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over HTTPS it is Secure
    page.csrf = body["csrf_token"]

    status, me = await page.call("GET", "/api/v1/session")
    assert status == 200
    assert (me["kind"], me["name"], me["squad_name"], me["tier_name"]) == (
        "person",
        "张伟",
        "西街道中队",
        "中队",
    )
    assert me["csrf_token"] == page.csrf

    # the password is kept only as an Argon2id hash, and no log line carries it
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT password_hash FROM people WHERE login = 'zhang.wei'")
        sessions = await conn.fetch("SELECT secret_hash FROM sessions")
    finally:
        await conn.close()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert all(len(s["secret_hash"]) == 32 for s in sessions)
    assert not [r for r in caplog.records if PASSWORD in r.getMessage()]

    # wrong passwords and unknown names are refused alike
    other = await browsers()
    assert (await other.sign_in("zhang.wei", "wrong-pass-1"))[0] == 401
    assert (await other.sign_in("nobody.here"))[0] == 401
    # signed out, the cookie lets nobody in
    assert (await page.call("DELETE", "/api/v1/session"))[0] == 204
    assert (await page.call("GET", "/api/v1/session"))[0] == 401


async def test_a_changing_request_with_the_cookie_needs_the_csrf_token(
    api: Api, browsers: Callable[[], Awaitable[Browser]]
) -> None:
    await tiered_town(api)
    await person(api, "duty.op", "operator", None)
    page = await browsers()
    assert (await page.sign_in("duty.op"))[0] == 200
    report = {"source": "citizen", "category": "200504", "lon": EAST[0], "lat": EAST[1]}
    status, refused = await page.call("POST", "/api/v1/incidents", report, csrf=False)
    assert status == 403
    assert refused["error"]["code"] == "csrf"
    page.csrf = "forged"
    assert (await page.call("POST", "/api/v1/incidents", report))[0] == 403
    assert (await page.sign_in("duty.op"))[0] == 200
    status, made = await page.call("POST", "/api/v1/incidents", report)
    assert status == 201
    # the history names the person, and the pages read the name
    status, incident = await page.call("GET", f"/api/v1/incidents/{made['id']}")
    assert status == 200
    created = incident["history"][0]
    assert created["actor"].startswith("psn_")
    assert created["actor_name"] == "duty.op"
    # the bootstrap admin token's and the system's steps are named too
    _, by_admin = await api.report(ADMIN, external_id="named-by-admin", source="citizen")
    _, shown = await api.call("GET", f"/api/v1/incidents/{by_admin['id']}")
    assert shown["history"][0]["actor_name"] == "DISPATCH_ADMIN_TOKEN"
    # reading needs no CSRF token
    assert (await page.call("GET", "/api/v1/incidents", csrf=False))[0] == 200


async def test_a_brigade_sees_and_acts_on_its_squads_cases_and_not_another_brigades(
    api: Api, browsers: Callable[[], Awaitable[Browser]]
) -> None:
    await tiered_town(api)
    operator = await api.token("operator")
    await person(api, "dd.a", "squad", "brigade-a", name="东片大队长")
    await person(api, "dd.b", "squad", "brigade-b", name="西片大队长")
    await person(api, "zd.west", "squad", "sq-west")
    _, west = await api.report(operator, external_id="tier-west", source="citizen")
    _, east = await api.report(
        operator, external_id="tier-east", source="citizen", lon=EAST[0], lat=EAST[1]
    )
    # an operator's report is registered and dispatched to the place's squad at once
    assert (west["state"], west["squad_id"]) == ("dispatched", "sq-west")
    assert (east["state"], east["squad_id"]) == ("dispatched", "sq-east")

    brigade_a = await browsers()
    await brigade_a.sign_in("dd.a")
    assert (await brigade_a.call("GET", f"/api/v1/incidents/{west['id']}"))[0] == 200
    assert (await brigade_a.call("GET", f"/api/v1/incidents/{east['id']}"))[0] == 403
    _, listed = await brigade_a.call("GET", "/api/v1/incidents")
    assert [i["id"] for i in listed["incidents"]] == [west["id"]]
    status, accepted = await brigade_a.call(
        "POST", f"/api/v1/incidents/{west['id']}/actions", {"action": "accept"}
    )
    assert status == 200, accepted
    assert accepted["state"] == "accepted"
    assert (
        await brigade_a.call(
            "POST", f"/api/v1/incidents/{east['id']}/actions", {"action": "accept"}
        )
    )[0] == 403
    # figures roll up: the brigade's are its squad's
    status, figures = await brigade_a.call("GET", "/api/v1/stats?group_by=squad")
    assert status == 200, figures
    keys = {row["key"] for row in figures["groups"]}
    assert keys == {"brigade-a", "sq-west"}
    assert (await brigade_a.call("GET", "/api/v1/stats?squad_id=brigade-b"))[0] == 403

    brigade_b = await browsers()
    await brigade_b.sign_in("dd.b")
    assert (await brigade_b.call("GET", f"/api/v1/incidents/{west['id']}"))[0] == 403


async def test_a_squad_cannot_subscribe_above_itself_and_a_brigade_can_below(
    api: Api, browsers: Callable[[], Awaitable[Browser]]
) -> None:
    await tiered_town(api)
    await person(api, "dd.a", "squad", "brigade-a")
    await person(api, "zd.west", "squad", "sq-west")
    squad = await browsers()
    await squad.sign_in("zd.west")
    ws = await squad.socket()  # the cookie, no ticket and no token
    await ws.send_json({"type": "subscribe", "topics": ["squad:brigade-a"]})
    refused = await ws.receive_json(timeout=5)
    assert refused["type"] == "error"
    await ws.send_json({"type": "subscribe", "topics": ["squad:sq-west"]})
    assert (await ws.receive_json(timeout=5))["type"] == "subscribed"
    await ws.close()

    brigade = await browsers()
    await brigade.sign_in("dd.a")
    ws = await brigade.socket()
    await ws.send_json({"type": "subscribe", "topics": ["squad:sq-west", "squad:brigade-a"]})
    assert (await ws.receive_json(timeout=5))["type"] == "subscribed"
    await ws.send_json({"type": "subscribe", "topics": ["squad:sq-east"]})
    assert (await ws.receive_json(timeout=5))["type"] == "error"
    await ws.close()


async def test_a_websocket_with_the_cookie_from_another_site_is_refused(
    api: Api, browsers: Callable[[], Awaitable[Browser]]
) -> None:
    await tiered_town(api)
    await person(api, "duty.op", "operator", None)
    page = await browsers()
    await page.sign_in("duty.op")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await page.session.ws_connect(
            api.base.replace("http", "ws", 1) + "/ws", origin="https://evil.example"
        )
    assert refused.value.status == 403


async def test_a_disabled_persons_session_ends_at_once_websocket_included(
    api: Api, browsers: Callable[[], Awaitable[Browser]]
) -> None:
    await tiered_town(api)
    officer = await person(api, "li.na", "squad", "sq-west", name="李娜")
    page = await browsers()
    await page.sign_in("li.na")
    ws = await page.socket()
    await ws.send_json({"type": "subscribe", "topics": ["squad:sq-west"]})
    assert (await ws.receive_json(timeout=5))["type"] == "subscribed"
    _, ticket = await page.call("POST", "/api/v1/ws-tickets")

    status, changed = await api.call(
        "PATCH", f"/api/v1/people/{officer['id']}", body={"disabled": True}
    )
    assert status == 200
    assert changed["disabled_at"] is not None
    closed = await ws.receive(timeout=5)
    assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert (await page.call("GET", "/api/v1/session"))[0] == 401
    # the ticket asked before is worth nothing now
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await api.session.ws_connect(
            api.base.replace("http", "ws", 1) + "/ws?ticket=" + ticket["ticket"]
        )
    assert (await (await browsers()).sign_in("li.na"))[0] == 401
    # enabled again, they sign in anew
    await api.call("PATCH", f"/api/v1/people/{officer['id']}", body={"disabled": False}, expect=200)
    assert (await (await browsers()).sign_in("li.na"))[0] == 200


async def test_sign_in_attempts_are_limited_per_name(
    api_factory: Callable[..., Awaitable[Api]], browsers: Callable[[], Awaitable[Browser]]
) -> None:
    api = await api_factory(auth_failures_per_minute=3)
    await tiered_town(api)
    await person(api, "wang.fang", "operator", None)
    page = await browsers()
    page.base = api.base
    statuses = [(await page.sign_in("wang.fang", f"guess-{n}x"))[0] for n in range(4)]
    assert statuses == [401, 401, 401, 429]
    # the right password is refused too while the name is locked: guessing gains nothing
    assert (await page.sign_in("wang.fang"))[0] == 429


async def test_people_are_validated_and_kept_apart(api: Api) -> None:
    await tiered_town(api)
    base = {"login": "a.b", "name": "甲", "role": "squad", "squad_id": "sq-west"}
    weak = await api.call("POST", "/api/v1/people", body={**base, "password": "short1"})
    assert (weak[0], weak[1]["error"]["field"]) == (422, "password")
    letters = await api.call("POST", "/api/v1/people", body={**base, "password": "onlyletters"})
    assert letters[0] == 422
    no_squad = {**base, "password": PASSWORD}
    del no_squad["squad_id"]
    assert (await api.call("POST", "/api/v1/people", body=no_squad))[1]["error"][
        "field"
    ] == "squad_id"
    unknown = await api.call(
        "POST", "/api/v1/people", body={**base, "squad_id": "nope", "password": PASSWORD}
    )
    assert unknown[0] == 422
    device = await api.call(
        "POST", "/api/v1/people", body={**base, "role": "device", "password": PASSWORD}
    )
    assert device[0] == 422
    await person(api, "a.b", "squad", "sq-west", badge_no="31011520002")
    again = await api.call("POST", "/api/v1/people", body={**base, "password": PASSWORD})
    assert again[0] == 409
    # a squad token may not create people; an operator lists them, names and tiers with them
    squad = await api.token("squad", "sq-west")
    assert (
        await api.call(
            "POST", "/api/v1/people", squad, body={**base, "login": "c.d", "password": PASSWORD}
        )
    )[0] == 403
    _, listed = await api.call("GET", "/api/v1/people", await api.token("operator"))
    assert [p["login"] for p in listed["people"]] == ["a.b"]
    _, names = await api.call("GET", "/api/v1/directory", ADMIN)
    assert names["squads"]["brigade-a"]["tier_name"] == "大队"
    assert names["squads"]["sq-west"]["tier_name"] == "中队"
    assert [p["name"] for p in names["people"].values()] == ["a.b"]
