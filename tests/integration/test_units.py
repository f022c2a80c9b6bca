"""Units on real PostgreSQL and Redis: moving and changing status live on consoles, across
processes; who should go; a dispatch naming a unit; stale positions; border flags."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from shapely.geometry import Point

from geo.coords import CRS, from_wgs84
from geo.distance import LocalFrame, distance_m
from tests.integration.support import ADMIN, EAST, WEST, Api, Console, console

FRAME = LocalFrame(*WEST)
ADS = "200205"  # 违法设置户外广告设施: specialty advertising, no such brigade in the town
STALLS = "200504"  # 店外经营: no specialty


def east_of_west(metres: float) -> tuple[float, float]:
    """The WGS84 point ``metres`` east of WEST (inside the west street up to ~9 km)."""
    point = FRAME.to_wgs84(Point(metres, 0.0))
    return float(point.x), float(point.y)


async def put_unit(api: Api, unit_id: str, squad: str = "sq-west", **body: Any) -> Any:
    body = {"squad_id": squad, "name": unit_id, **body}
    _, unit = await api.call("PUT", f"/api/v1/units/{unit_id}", body=body)
    return unit


async def place(
    api: Api, unit_id: str, metres: float, token: str = ADMIN, **extra: Any
) -> tuple[int, Any]:
    """Report ``unit_id`` at ``metres`` east of WEST (WGS84)."""
    lon, lat = east_of_west(metres)
    body = {"lon": lon, "lat": lat, **extra}
    return await api.call("POST", f"/api/v1/units/{unit_id}/position", token, body=body)


def _lon_lat(moved: dict[str, Any]) -> tuple[float, float]:
    position = moved["unit"]["position"]
    return position["lon"], position["lat"]


async def collect(screen: Console, seconds: float) -> list[dict[str, Any]]:
    """Every message that arrives within ``seconds``."""
    got: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + seconds
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            got.append(await screen.next(left))
        except TimeoutError:
            break
    return got


@pytest.fixture
async def town(api_factory: Callable[..., Awaitable[Api]]) -> Api:
    api = await api_factory(unit_moved_interval_s=0.3, position_stale_s=120)
    await api.load_town()
    api.tokens["operator"] = await api.token("operator")
    api.tokens["west"] = await api.token("squad", "sq-west")
    api.tokens["east"] = await api.token("squad", "sq-east")
    return api


async def test_units_move_and_change_status_live_on_a_console(town: Api) -> None:
    api = town
    await put_unit(api, "w-1", skills=["advertising"])
    await put_unit(api, "w-2")
    async with (
        console(api, api.tokens["operator"]) as screen,
        console(api, api.tokens["west"]) as phone_screen,
        console(api, api.tokens["east"]) as other_squad,
    ):
        assert (await screen.subscribe(["units"]))["type"] == "subscribed"
        assert (await phone_screen.subscribe(["squad:sq-west"]))["type"] == "subscribed"
        assert (await other_squad.subscribe(["squad:sq-east"]))["type"] == "subscribed"
        assert (await other_squad.subscribe(["units"]))["code"] == "forbidden"
        await other_squad.subscribe(["squad:sq-east"])

        status, answer = await place(api, "w-1", 100, api.tokens["west"])
        assert (status, answer["kept"]) == (200, True)
        moved = await screen.until(lambda m: m.get("type") == "unit.moved")
        assert "seq" not in moved
        assert moved["unit"]["id"] == "w-1"
        assert moved["unit"]["status"] == "available"
        lon, lat = east_of_west(100)
        assert (
            distance_m(moved["unit"]["position"]["lon"], moved["unit"]["position"]["lat"], lon, lat)
            < 0.01
        )
        await phone_screen.until(lambda m: m.get("type") == "unit.moved")

        # a burst of ten positions: at most one message per interval (0.3 s), and the last
        # position arrives (waited for: a busy machine may hold it past a fixed window)
        loop = asyncio.get_running_loop()
        began = loop.time()
        for n in range(10):
            status, answer = await place(api, "w-1", 200 + 10 * n, api.tokens["operator"])
            assert (status, answer["kept"]) == (200, True)
        sent_for = loop.time() - began
        burst: list[dict[str, Any]] = []
        while not burst or (
            distance_m(*_lon_lat(burst[-1]), *east_of_west(290)) >= 0.01  # not the last yet
        ):
            message = await screen.next(10.0)
            if message.get("type") == "unit.moved":
                burst.append(message)
        assert 1 <= len(burst) <= 2 + sent_for / 0.3, (sent_for, burst)

        status, changed = await api.call(
            "POST", "/api/v1/units/w-1/status", api.tokens["west"], body={"status": "busy"}
        )
        assert (status, changed["status"]) == (200, "busy")
        updated = await screen.until(lambda m: m.get("type") == "unit.updated")
        assert updated["unit"]["status"] == "busy"
        assert updated["unit"]["position"]["stale"] is False
        assert not [
            m for m in await collect(other_squad, 0.5) if m.get("type", "").startswith("unit.")
        ]

        # the phone of the squad reports over its own WebSocket, in GCJ-02
        gcj = from_wgs84(*east_of_west(700), CRS.GCJ02)
        await phone_screen.send(
            {
                "type": "position",
                "unit_id": "w-2",
                "lon": gcj[0],
                "lat": gcj[1],
                "crs": "GCJ02",
                "ref": 1,
            }
        )
        ack = await phone_screen.until(lambda m: m.get("type") == "ack")
        assert (ack["ref"], ack["unit_id"], ack["kept"]) == (1, "w-2", True)
        moved = await screen.until(
            lambda m: m.get("type") == "unit.moved" and m["unit"]["id"] == "w-2"
        )
        where = moved["unit"]["position"]
        assert where["crs"] == "WGS84"
        assert distance_m(where["lon"], where["lat"], *east_of_west(700)) < 0.05
        await phone_screen.send(
            {"type": "status", "unit_id": "w-2", "status": "on_scene", "ref": 2}
        )
        assert (await phone_screen.until(lambda m: m.get("ref") == 2))["status"] == "on_scene"
        await screen.until(
            lambda m: m.get("type") == "unit.updated" and m["unit"]["status"] == "on_scene"
        )

        # refusals name themselves, on the socket as over HTTP
        await other_squad.send(
            {"type": "position", "unit_id": "w-2", "lon": 121.4, "lat": 31.2, "ref": 3}
        )
        refused = await other_squad.until(lambda m: m.get("ref") == 3)
        assert (refused["type"], refused["code"]) == ("error", "forbidden")
        await phone_screen.send(
            {"type": "position", "unit_id": "w-2", "lon": 500, "lat": 31.2, "ref": 4}
        )
        refused = await phone_screen.until(lambda m: m.get("ref") == 4)
        assert (refused["code"], refused["field"]) == ("invalid", "lon")
        await phone_screen.send({"type": "teleport", "ref": 5})
        assert (await phone_screen.until(lambda m: m.get("ref") == 5))["field"] == "type"

    assert (await place(api, "w-1", 0, api.tokens["east"]))[0] == 403
    assert (await place(api, "w-1", 0, await api.token("device")))[0] == 403
    assert (await place(api, "w-1", 0, await api.token("auditor")))[0] == 403
    assert (await place(api, "nobody", 0))[0] == 404


async def test_the_unit_list_shows_status_position_and_age_to_whom_it_may(town: Api) -> None:
    api = town
    await put_unit(api, "w-1", skills=["advertising"])
    await put_unit(api, "e-1", squad="sq-east", status="off_duty")
    earlier = datetime.now(UTC) - timedelta(seconds=30)
    await place(api, "w-1", 100, at=earlier.isoformat())
    # a late resend of an older position changes nothing
    status, late = await place(api, "w-1", 900, at=(earlier - timedelta(seconds=5)).isoformat())
    assert (status, late["kept"]) == (200, False)

    _, listed = await api.call("GET", "/api/v1/units?squad_id=sq-west", api.tokens["operator"])
    (unit,) = listed["units"]
    assert (unit["id"], unit["status"], unit["load"], unit["skills"]) == (
        "w-1",
        "available",
        0,
        ["advertising"],
    )
    position = unit["position"]
    assert distance_m(position["lon"], position["lat"], *east_of_west(100)) < 1.0  # Redis GEO
    assert 29 <= position["age_s"] < 60
    assert position["stale"] is False
    assert position["at"].endswith("+08:00")
    _, everything = await api.call("GET", "/api/v1/units", api.tokens["operator"])
    assert [u["id"] for u in everything["units"]] == ["e-1", "w-1"]
    assert everything["units"][0]["position"] is None

    _, own = await api.call("GET", "/api/v1/units", api.tokens["west"])
    assert [u["id"] for u in own["units"]] == ["w-1"]
    assert (await api.call("GET", "/api/v1/units?squad_id=sq-east", api.tokens["west"]))[0] == 403
    assert (await api.call("GET", "/api/v1/units/e-1", api.tokens["west"]))[0] == 403
    assert (await api.call("GET", "/api/v1/units", await api.token("device")))[0] == 403
    assert (await api.call("PUT", "/api/v1/units/x", api.tokens["operator"], body={}))[0] == 403
    status, bad = await api.call("PUT", "/api/v1/units/x", body={"squad_id": "nope", "name": "x"})
    assert (status, bad["error"]["field"]) == (422, "squad_id")
    status, bad = await api.call(
        "POST", "/api/v1/units/w-1/status", api.tokens["west"], body={"status": "asleep"}
    )
    assert (status, bad["error"]["field"]) == (422, "status")


async def test_unit_messages_reach_consoles_of_another_process(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    first = await api_factory(unit_moved_interval_s=0.3)
    second = await api_factory(unit_moved_interval_s=0.3)
    await first.load_town()
    await put_unit(first, "w-1")
    async with console(second) as screen:
        await screen.subscribe(["all"])
        await place(first, "w-1", 300)
        moved = await screen.until(lambda m: m.get("type") == "unit.moved", wait_s=5)
        assert moved["unit"]["id"] == "w-1"
        await first.call("POST", "/api/v1/units/w-1/status", body={"status": "off_duty"})
        updated = await screen.until(lambda m: m.get("type") == "unit.updated", wait_s=5)
        assert updated["unit"]["status"] == "off_duty"


async def test_positions_do_not_disturb_replay_from_since(town: Api) -> None:
    api = town
    await put_unit(api, "w-1")
    device = await api.token("device")
    first = (await api.report(device, external_id="a"))[1]
    async with console(api) as screen:
        subscribed = await screen.subscribe(["all"], since=0)
        for n in range(20):
            await place(api, "w-1", 10 * n)
        second = (await api.report(device, external_id="b", lon=EAST[0], lat=EAST[1]))[1]
        await screen.until(lambda m: m.get("incident", {}).get("id") == second["id"])
        if not any(m.get("type") == "unit.moved" for m in screen.messages):
            # positions are throttled per unit (one per 2 s): the latest may still be held
            await screen.until(lambda m: m.get("type") == "unit.moved", wait_s=5)
    seqs = [e["seq"] for e in screen.events]
    assert seqs == sorted(set(seqs))  # in order, no repeat
    assert seqs[0] == 1  # replayed from the start
    assert subscribed["seq"] >= 1
    assert {e["incident"]["id"] for e in screen.events} == {first["id"], second["id"]}
    assert any(m.get("type") == "unit.moved" for m in screen.messages)


async def citizen_report(api: Api, category: str, lon: float, lat: float) -> dict[str, Any]:
    """A citizen's report (not trusted: it waits), registered by the operator."""
    device = await api.token("device")
    body = {"source": "citizen", "category": category, "lon": lon, "lat": lat, "description": "x"}
    _, incident = await api.call("POST", "/api/v1/incidents", device, body=body, expect=201)
    assert incident["state"] == "reported"
    await api.call(
        "POST", f"/api/v1/incidents/{incident['id']}/actions", api.tokens["operator"],
        body={"action": "register"}, expect=200,
    )  # fmt: skip
    return dict(incident)


async def test_dispatch_to_the_nearest_available_unit_with_the_right_skill(town: Api) -> None:
    api = town
    for unit_id, metres, skills, initially in [
        ("near-generalist", 100, [], "available"),
        ("nearest-busy", 20, ["advertising"], "busy"),
        ("ad-liaison-far", 1500, ["advertising"], "available"),
        ("ad-liaison", 800, ["advertising"], "available"),
        ("off", 10, ["advertising"], "off_duty"),
    ]:
        await put_unit(api, unit_id, skills=skills, status=initially)
        await place(api, unit_id, metres)
    await put_unit(api, "east-liaison", squad="sq-east", skills=["advertising"])
    incident = await citizen_report(api, ADS, *WEST)
    path = f"/api/v1/incidents/{incident['id']}"

    _, rec = await api.call("GET", f"{path}/recommendations", api.tokens["operator"])
    units = [(c["squad_id"], c["unit_id"]) for c in rec["candidates"]]
    assert units == [
        ("sq-west", "ad-liaison"),
        ("sq-west", "ad-liaison-far"),
        ("sq-west", "near-generalist"),
    ]
    best = rec["candidates"][0]
    assert best["distance_m"] == pytest.approx(800, abs=1.5)
    assert best["reasons"][0].startswith("属地：west")
    assert any(r.startswith("直线距离 800 米（按直线计算，未按道路") for r in best["reasons"])
    assert "具备所需专业 advertising（专业执法联络员）" in best["reasons"]
    assert "负载：在办 0 件" in best["reasons"]

    async with console(api, api.tokens["operator"]) as screen:
        await screen.subscribe(["units"])
        for bad_unit, words in [
            ("off", "off duty"),
            ("east-liaison", "belongs to squad sq-east"),
            ("ghost", "no unit"),
        ]:
            status, refused = await api.call(
                "POST", f"{path}/actions", api.tokens["operator"],
                body={"action": "dispatch", "unit_id": bad_unit},
            )  # fmt: skip
            assert (status, refused["error"]["field"]) == (422, "unit_id"), refused
            assert words in refused["error"]["message"]
        _, still = await api.call("GET", path, api.tokens["operator"])
        assert (still["state"], still["unit_id"]) == ("registered", None)  # nothing changed

        status, dispatched = await api.call(
            "POST", f"{path}/actions", api.tokens["operator"],
            body={"action": "dispatch", "unit_id": best["unit_id"]},
        )  # fmt: skip
        assert status == 200, dispatched
        assert (dispatched["state"], dispatched["squad_id"], dispatched["unit_id"]) == (
            "dispatched", "sq-west", "ad-liaison",
        )  # fmt: skip
        updated = await screen.until(lambda m: m.get("type") == "unit.updated")
        assert (updated["unit"]["id"], updated["unit"]["status"]) == ("ad-liaison", "en_route")
        assert updated["unit"]["load"] == 1

    _, unit = await api.call("GET", "/api/v1/units/ad-liaison", api.tokens["west"])
    assert (unit["status"], unit["load"]) == ("en_route", 1)
    # the next incident there: the liaison is on its way, the far one goes
    second = await citizen_report(api, ADS, *east_of_west(300))  # apart: not a duplicate
    _, rec = await api.call("GET", f"/api/v1/incidents/{second['id']}/recommendations")
    assert rec["candidates"][0]["unit_id"] == "ad-liaison-far"


async def test_a_stale_unit_is_passed_over(town: Api) -> None:
    api = town
    await put_unit(api, "stale-near")
    await put_unit(api, "fresh-far")
    old = datetime.now(UTC) - timedelta(seconds=600)  # the town's limit is 120 s
    await place(api, "stale-near", 50, at=old.isoformat())
    await place(api, "fresh-far", 2500)
    incident = await citizen_report(api, STALLS, *WEST)
    _, rec = await api.call("GET", f"/api/v1/incidents/{incident['id']}/recommendations")
    first, second = rec["candidates"]
    assert (first["unit_id"], second["unit_id"]) == ("fresh-far", "stale-near")
    assert first["distance_m"] == pytest.approx(2500, abs=3)
    assert second["distance_m"] is None
    assert any(r.startswith("位置已过时（10 分钟前）") for r in second["reasons"])
    _, listed = await api.call("GET", "/api/v1/units?squad_id=sq-west")
    stale = {u["id"]: u["position"]["stale"] for u in listed["units"]}
    assert stale == {"fresh-far": False, "stale-near": True}


async def test_an_incident_near_a_border_is_flagged_for_the_operator(town: Api) -> None:
    api = town
    await put_unit(api, "w-1")
    await place(api, "w-1", 100)
    # 121.4999 is about 10 m west of the line between the west and east streets
    _, incident = await api.report(await api.token("device"), lon=121.4999, lat=31.25)
    assert "near_border" in incident["flags"]
    assert incident["state"] == "registered"  # trusted, but not dispatched by itself
    _, rec = await api.call("GET", f"/api/v1/incidents/{incident['id']}/recommendations")
    assert rec["flags"] == ["near_border"]
    assert rec["candidates"][0]["squad_id"] == "sq-west"
    assert any("距边界 10 米" in r for r in rec["candidates"][0]["reasons"])
    _, nowhere = await api.report(await api.token("device"), lon=120.0, lat=30.0)
    assert "no_zone" in nowhere["flags"]
    _, rec = await api.call("GET", f"/api/v1/incidents/{nowhere['id']}/recommendations")
    assert rec == {"candidates": [], "support_squad_ids": [], "flags": ["no_zone"]}


async def test_a_unit_s_message_has_no_seq_and_replays_nothing(town: Api) -> None:
    api = town
    await put_unit(api, "w-1")
    async with console(api) as screen:
        await screen.subscribe(["units"])
        await place(api, "w-1", 10)
        moved = await screen.until(lambda m: m.get("type") == "unit.moved")
    async with console(api) as later:
        subscribed = await later.subscribe(["units", "all"], since=0)
        assert not [m for m in await collect(later, 0.5) if m.get("type") == "unit.moved"]
    assert json.dumps(moved).count('"seq"') == 0
    assert subscribed["type"] == "subscribed"


async def test_positions_of_one_millisecond_keep_the_later(town: Api) -> None:
    """Positions the server stamps may share a millisecond: the later to arrive is kept (only
    an older one is refused)."""
    api = town
    await put_unit(api, "w-1")
    at = datetime.now(UTC).isoformat(timespec="milliseconds")
    assert (await place(api, "w-1", 100, at=at))[1]["kept"] is True
    assert (await place(api, "w-1", 400, at=at))[1]["kept"] is True
    _, shown = await api.call("GET", "/api/v1/units/w-1", api.tokens["operator"])
    position = shown["position"]
    assert distance_m(position["lon"], position["lat"], *east_of_west(400)) < 1.0
