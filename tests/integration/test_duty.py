"""Duty (勤务) on real PostgreSQL and Redis: posts, shifts and a roster; check-ins at a post
refused off-post and off-duty and accepted on post (kept either way, announced on the wall);
the strength per squad rolled up by tier; and a dispatch recommendation that changes when the
shift changes (the server's clock moved by the test)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest_asyncio
from aiohttp.test_utils import TestServer

from dispatcher.app import create_app
from tests.integration.support import ADMIN, EAST, Api, console, settings_for, square

PASSWORD = "Xq7-城管-2026"
# Monday 2026-12-07, 07:05 in Shanghai
MONDAY_0705 = datetime(2026, 12, 6, 23, 5, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Person:
    """A signed-in officer's phone: the session cookie and the CSRF token."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base = base
        self.session = session
        self.csrf = ""

    async def sign_in(self, login: str) -> None:
        status, body = await self.call(
            "POST", "/api/v1/session", {"login": login, "password": PASSWORD}
        )
        assert status == 200, body
        self.csrf = body["csrf_token"]

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf} if self.csrf else {}
        async with self.session.request(method, self.base + path, json=body, headers=headers) as r:
            text = await r.text()
            return r.status, json.loads(text) if text else None


@pytest_asyncio.fixture
async def town(
    database_url: str, redis_url: str
) -> AsyncIterator[tuple[Api, Clock, Callable[[str], Awaitable[Person]]]]:
    """A server whose clock the test moves, the town with duty planned, and phones."""
    clock = Clock(MONDAY_0705)
    app = create_app(settings_for(database_url, redis_url), clock=clock)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    sessions: list[aiohttp.ClientSession] = []
    async with aiohttp.ClientSession() as session:
        api = Api(str(server.make_url("")).rstrip("/"), session)
        await plan(api)

        async def phone(login: str) -> Person:
            own = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            sessions.append(own)
            person = Person(api.base, own)
            await person.sign_in(login)
            return person

        yield api, clock, phone
    for own in sessions:
        await own.close()
    await server.close()


async def check_in(phone: Person, post_id: str, lon: float, lat: float) -> tuple[int, Any]:
    return await phone.call(
        "POST", "/api/v1/duty/check-ins", {"post_id": post_id, "lon": lon, "lat": lat}
    )


async def plan(api: Api) -> None:
    await api.load_town()
    for login, squad in (("wang", "sq-west"), ("li", "sq-east")):
        await api.call(
            "POST",
            "/api/v1/people",
            body={"login": login, "name": login, "role": "squad", "password": PASSWORD,
                  "squad_id": squad, "badge_no": f"31000{login}"},
            expect=201,
        )  # fmt: skip
    # sq-west staffs a joint post with the police at the east street's station square
    post_w = {
        "squad_id": "sq-west",
        "name": "东站广场联勤岗",
        "place": {"type": "Polygon", "coordinates": square(EAST[0] - 0.005, EAST[1] - 0.005, 0.01)},
        "joint_police": True,
        "police_unit": "东站派出所",
    }
    status, body = await api.call("PUT", "/api/v1/duty/posts/post-w", body=post_w)
    assert status == 201, body
    post_e = {
        "squad_id": "sq-east",
        "name": "东街岗",
        "place": {"type": "Point", "coordinates": [121.58, 31.35]},
    }
    await api.call("PUT", "/api/v1/duty/posts/post-e", body=post_e, expect=201)
    for shift_id, squad, name, starts, ends in (
        ("w-day", "sq-west", "白班", "07:00", "15:00"),
        ("e-night", "sq-east", "夜班", "15:00", "07:00"),
    ):
        body = {"squad_id": squad, "name": name, "starts": starts, "ends": ends}
        await api.call("PUT", f"/api/v1/duty/shifts/{shift_id}", body=body, expect=201)
    people = {p["login"]: p["id"] for p in (await api.call("GET", "/api/v1/people"))[1]["people"]}
    # a week's plan: sq-west's day shift Monday to Friday; sq-east's night shift every night
    west = {
        "squad_id": "sq-west",
        "name": "西中队周计划",
        "starts_on": "2026-12-07",
        "cycle_days": 7,
        "pattern": {"A": ["w-day"] * 5 + [None, None]},
        "members": [{"person_id": people["wang"], "team": "A", "post_id": "post-w"}],
    }
    await api.call("PUT", "/api/v1/duty/rosters/r-west", body=west, expect=201)
    east = {
        "squad_id": "sq-east",
        "name": "东中队夜班",
        "starts_on": "2026-12-01",
        "cycle_days": 1,
        "pattern": {"N": ["e-night"]},
        "members": [{"person_id": people["li"], "team": "N", "post_id": "post-e"}],
    }
    await api.call("PUT", "/api/v1/duty/rosters/r-east", body=east, expect=201)


async def test_check_ins_refused_off_post_and_off_duty_and_accepted_on_post(
    town: tuple[Api, Clock, Callable[[str], Awaitable[Person]]], database_url: str
) -> None:
    api, clock, phone = town
    wang, li = await phone("wang"), await phone("li")
    async with console(api, ADMIN) as wall:
        await wall.subscribe(["squad:sq-west"])
        # 2 km from the post: refused, and kept
        status, body = await check_in(wang, "post-w", 121.53, 31.30)
        assert status == 409, body
        assert "超出签到范围" in body["error"]["message"]
        # li's night shift ended at 07:00: off duty
        status, body = await check_in(li, "post-e", 121.58, 31.35)
        assert status == 409, body
        assert "不在班" in body["error"]["message"]
        # wang at the post, five minutes into the shift: accepted, not late
        status, body = await check_in(wang, "post-w", EAST[0], EAST[1])
        assert status == 201, body
        assert (body["accepted"], body["late"], body["distance_m"]) == (True, False, 0.0)
        assert body["shift"]["shift_id"] == "w-day"
        message = await wall.until(lambda m: m.get("type") == "duty.checked_in")
        assert message["check_in"]["post_id"] == "post-w"
    # an hour later someone checking in is late (wang again, in the same stint)
    clock.now = MONDAY_0705 + timedelta(hours=1)
    status, body = await check_in(wang, "post-w", EAST[0], EAST[1])
    assert (status, body["late"]) == (201, True)
    # a token is not an officer
    squad_token = await api.token("squad", "sq-west")
    at_post = {"post_id": "post-w", "lon": EAST[0], "lat": EAST[1]}
    status, _ = await api.call("POST", "/api/v1/duty/check-ins", squad_token, body=at_post)
    assert status == 403
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT accepted, late, reason FROM duty_check_ins ORDER BY id")
    finally:
        await conn.close()
    assert [(r["accepted"], r["late"]) for r in rows] == [
        (False, False), (False, False), (True, False), (True, True)
    ]  # fmt: skip
    assert rows[0]["reason"]


async def test_on_duty_strength_per_squad_rolled_up_by_tier(
    town: tuple[Api, Clock, Callable[[str], Awaitable[Person]]],
) -> None:
    api, _, phone = town
    wang = await phone("wang")
    await check_in(wang, "post-w", EAST[0], EAST[1])
    _, now = await api.call("GET", "/api/v1/duty/now?squad_id=centre", expect=200)
    squads = {s["squad_id"]: s for s in now["squads"]}
    assert (squads["sq-west"]["on_duty"], squads["sq-west"]["checked_in"]) == (1, 1)
    assert squads["sq-east"]["on_duty"] == 0
    assert squads["centre"]["tier"] == {"on_duty": 1, "checked_in": 1}
    post = squads["sq-west"]["posts"][0]
    assert (post["post_id"], post["joint_police"], post["people"][0]["name"]) == (
        "post-w",
        True,
        "wang",
    )
    # at 02:00 on Tuesday: east's night shift (begun Monday 15:00) still runs; nobody checked in
    _, night = await api.call("GET", "/api/v1/duty/now?at=2026-12-08T02:00:00%2B08:00", expect=200)
    squads = {s["squad_id"]: s for s in night["squads"]}
    assert (squads["sq-west"]["on_duty"], squads["sq-east"]["on_duty"]) == (0, 1)
    assert night["total"] == {"on_duty": 1, "checked_in": 0}
    # a squad's holder reads its own tier only
    token = await api.token("squad", "sq-west")
    status, _ = await api.call("GET", "/api/v1/duty/now?squad_id=sq-east", token)
    assert status == 403
    _, own = await api.call("GET", "/api/v1/duty/now", token, expect=200)
    assert [s["squad_id"] for s in own["squads"]] == ["sq-west"]


async def test_the_recommendation_follows_the_shift(
    town: tuple[Api, Clock, Callable[[str], Awaitable[Person]]],
) -> None:
    api, clock, _ = town
    device = await api.token("device")
    status, incident = await api.report(device, lon=EAST[0], lat=EAST[1], external_id="duty-1")
    assert status in (200, 201), incident
    path = f"/api/v1/incidents/{incident['id']}/recommendations"

    # Monday 08:00: sq-west's officer holds the post the incident is at; sq-east has nobody
    clock.now = MONDAY_0705 + timedelta(minutes=55)
    _, morning = await api.call("GET", path, expect=200)
    squads = [c["squad_id"] for c in morning["candidates"]]
    assert squads[:2] == ["sq-west", "sq-east"]
    assert (
        "岗点：东站广场联勤岗在岗 1 人，城警联勤（东站派出所）"
        in morning["candidates"][0]["reasons"]
    )
    east = next(c for c in morning["candidates"] if c["squad_id"] == "sq-east")
    assert "当前无人在岗：排在有人在岗的中队之后" in east["reasons"]

    # 16:00: the day shift is over, the night shift on: the territorial squad, with its count
    clock.now = MONDAY_0705 + timedelta(hours=8, minutes=55)
    _, evening = await api.call("GET", path, expect=200)
    assert [c["squad_id"] for c in evening["candidates"]] == ["sq-east"]
    assert "当前在岗 1 人" in evening["candidates"][0]["reasons"]

    # Tuesday 02:00: the night shift crosses midnight
    clock.now = MONDAY_0705 + timedelta(hours=18, minutes=55)
    _, night = await api.call("GET", path, expect=200)
    assert [c["squad_id"] for c in night["candidates"]] == ["sq-east"]
