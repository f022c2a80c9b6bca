"""Intake through the whole path on real PostgreSQL and Redis: stored, answered, pushed live."""

from __future__ import annotations

import asyncio
import json

import asyncpg

from geo.coords import CRS, from_wgs84
from tests.integration.support import ADMIN, EAST, Api, console, without_clock


async def test_report_is_stored_dispatched_and_pushed(api: Api, database_url: str) -> None:
    await api.load_town()
    device = await api.token("device")
    async with console(api) as screen:
        assert (await screen.subscribe(["all"]))["type"] == "subscribed"
        status, incident = await api.report(device, external_id="12345-0001")
        assert status == 201
        assert incident["state"] == "dispatched"
        assert incident["squad_id"] == "sq-west"
        assert incident["zone_ids"] == ["d", "west", "w-c1", "w-g1"]
        assert incident["deadline"].endswith("+08:00")
        event = await screen.until(lambda m: m.get("type") == "incident.created")
        assert event["incident"]["id"] == incident["id"]
        assert event["seq"] >= 1

    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT state, squad_id FROM incidents WHERE id = $1", incident["id"]
        )
        kinds = await conn.fetch(
            "SELECT type FROM history WHERE incident_id = $1 ORDER BY seq", incident["id"]
        )
    finally:
        await conn.close()
    assert tuple(row) == ("dispatched", "sq-west")
    assert [k["type"] for k in kinds] == ["incident.created", "dispatch.assigned"]

    _, stored = await api.call("GET", f"/api/v1/incidents/{incident['id']}", expect=200)
    assert [h["type"] for h in stored["history"]] == ["incident.created", "dispatch.assigned"]
    assert stored["history"][0]["actor_role"] == "device"


async def test_same_external_id_is_one_incident(api: Api) -> None:
    await api.load_town()
    device = await api.token("device")
    first = await api.report(device, source="camera", external_id="cam-7-1", confidence=0.99)
    again = await api.report(device, source="camera", external_id="cam-7-1", confidence=0.99)
    other_source = await api.report(device, source="grid", external_id="cam-7-1")
    assert first[0] == 201
    assert without_clock(again) == (200, without_clock(first[1]))
    assert other_source[0] == 201
    assert other_source[1]["id"] != first[1]["id"]
    # a burst of the same report at once: one incident, every answer the same
    answers = await asyncio.gather(
        *(
            api.report(device, source="camera", external_id="cam-7-2", confidence=0.99)
            for _ in range(20)
        )
    )
    assert sorted(s for s, _ in answers) == [200] * 19 + [201]
    assert len({a["id"] for _, a in answers}) == 1
    _, listed = await api.call("GET", "/api/v1/incidents?limit=100", expect=200)
    assert listed["count"] == 3


async def test_gcj02_point_lands_where_its_wgs84_original_does(api: Api) -> None:
    await api.load_town()
    device = await api.token("device")
    lon, lat = from_wgs84(EAST[0], EAST[1], CRS.GCJ02)
    status, incident = await api.report(device, lon=lon, lat=lat, crs="GCJ02")
    assert status == 201
    assert incident["squad_id"] == "sq-east"
    assert abs(incident["lon"] - EAST[0]) < 1e-5
    assert abs(incident["lat"] - EAST[1]) < 1e-5


async def test_bad_input_is_refused_clearly_and_nothing_is_stored(api: Api) -> None:
    await api.load_town()
    device = await api.token("device")
    cases = [
        (b"{broken", 400, None),
        (b"\xff\xfe not utf-8", 400, None),
        (
            json.dumps({"source": "camera", "category": "999999", "lon": 1, "lat": 1}).encode(),
            422,
            "category",
        ),
        (
            json.dumps(
                {"source": "camera", "category": "200504", "lon": 1, "lat": 1, "crs": "MARS"}
            ).encode(),
            422,
            "crs",
        ),
        (json.dumps({"source": "camera", "category": "200504", "lon": 1}).encode(), 422, "lat"),
        (b"x" * (1024 * 1024 + 1), 413, None),
    ]
    for body, status, field in cases:
        code, answer = await api.call("POST", "/api/v1/incidents", device, data=body)
        assert code == status, (body[:60], answer)
        assert answer["error"]["code"]
        assert answer["error"].get("field") == field
    _, listed = await api.call("GET", "/api/v1/incidents", expect=200)
    assert listed["count"] == 0


async def test_every_role_is_refused_where_it_must_be(api: Api) -> None:
    await api.load_town()
    device = await api.token("device")
    auditor = await api.token("auditor")
    west = await api.token("squad", "sq-west")
    east = await api.token("squad", "sq-east")
    _, incident = await api.report(device)  # dispatched to sq-west
    path = f"/api/v1/incidents/{incident['id']}"

    assert (await api.call("GET", path, None))[0] == 401
    assert (await api.call("GET", path, "no-such-token"))[0] == 401
    assert (await api.call("GET", path, device))[0] == 403
    assert (await api.call("GET", path, auditor))[0] == 200
    assert (await api.call("GET", path, west))[0] == 200
    assert (await api.call("GET", path, east))[0] == 403
    assert (await api.call("GET", "/api/v1/incidents?squad_id=sq-west", east))[0] == 403
    _, own = await api.call("GET", "/api/v1/incidents", east, expect=200)
    assert own["count"] == 0
    assert (await api.report(auditor))[0] == 403
    assert (await api.report(west))[0] == 403
    assert (await api.call("PUT", "/api/v1/zones", await api.token("operator"), body={}))[0] == 403
    assert (await api.call("POST", "/api/v1/tokens", auditor, body={"role": "admin", "name": "x"}))[
        0
    ] == 403

    async with console(api, east) as screen:
        refused = await screen.subscribe(["all"])
        assert refused == {**refused, "type": "error", "code": "forbidden"}
        assert (await screen.subscribe(["squad:sq-west"]))["code"] == "forbidden"
        assert (await screen.subscribe(["squad:sq-east"]))["type"] == "subscribed"
    async with console(api, device) as screen:
        assert (await screen.subscribe(["squad:sq-west"]))["code"] == "forbidden"


async def test_revoked_token_is_refused_and_its_socket_closed(api: Api) -> None:
    await api.load_town()
    _, made = await api.call(
        "POST", "/api/v1/tokens", body={"role": "operator", "name": "x"}, expect=201
    )
    async with console(api, made["token"]) as screen:
        await screen.subscribe(["all"])
        await api.call("DELETE", f"/api/v1/tokens/{made['id']}", expect=204)
        closing = await screen.ws.receive(timeout=5)
        assert closing.type.name in {"CLOSE", "CLOSED", "CLOSING"}
    assert (await api.call("GET", "/api/v1/incidents", made["token"]))[0] == 401
    _, listed = await api.call("GET", "/api/v1/tokens", ADMIN, expect=200)
    assert all("token" not in t for t in listed["tokens"])
    assert [t["revoked_at"] is not None for t in listed["tokens"]] == [True]
