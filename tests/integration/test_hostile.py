"""Hostile input (issue 8): each kind is refused clearly, and the server is unharmed after it.

"Refused clearly" is a 4xx with the error body of docs/API.md §10 naming the problem, never a 5xx;
"unharmed" is ``/healthz`` answering, a normal report still taken and routed, and nothing of
the refused input stored. Kinds tested elsewhere and not repeated here: broken JSON, raw
``\\xff`` bytes and bodies over 1 MiB on intake (``test_intake_flow``), WebSocket frames that
are not JSON, binary or over 64 KiB (``test_realtime``), XML entity expansion, external
entities and deep nesting on the CAP route (``test_cap``), and generated bodies on every route
(``test_fuzz``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gzip
import io
import itertools
import json
import math
from typing import Any

from yarl import URL

from tests.integration.support import ADMIN, TOWN, WEST, Api, console, square
from tests.unit.test_cap import alert, info

#: the same point as ``WEST``, as CAP writes it (lat,lon radius_km)
WEST_CIRCLE = f"<circle>{WEST[1]},{WEST[0]} 0.03</circle>"
#: where ``WEST`` lies in the town: district, street, community, grid cell
WEST_ZONES = ["d", "west", "w-c1", "w-g1"]
#: JSON literals Python's decoder takes for numbers that JSON has not got
NOT_FINITE = ("NaN", "Infinity", "-Infinity", "1e999", "-1e999")
#: points 80 m apart around WEST (none nearer to it than 60 m), inside its grid cell, one for
#: each ``unharmed`` report: no report there is a duplicate of another
SPOTS = itertools.count()
#: a number to write in a body with ``json.dumps`` and replace by a literal above
MARK = 987654.125


def with_literal(body: Any, literal: str) -> bytes:
    """``body`` as JSON with every ``MARK`` written as ``literal``."""
    text = json.dumps(body, ensure_ascii=False)
    assert str(MARK) in text
    return text.replace(str(MARK), literal).encode()


async def send(
    api: Api,
    method: str,
    path: str,
    data: bytes,
    token: str | None = ADMIN,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """Send ``data`` as it is (with ``headers``); answer the status and the decoded body."""
    sent = {**api.headers(token), **(headers or {})}
    body = io.BytesIO(data)  # (raw bytes of many MiB would be sent from the event loop)
    async with api.session.request(method, api.base + path, data=body, headers=sent) as resp:
        text = await resp.text()
        if resp.content_type == "application/json":
            return resp.status, json.loads(text)
        return resp.status, text


def refused(answer: Any, status: int, expected: int, field: str | None = None) -> dict[str, Any]:
    """Check an ``/api/v1`` refusal: the status and ``{"error": {"code", "message", ...}}``."""
    assert status == expected, answer
    error: dict[str, Any] = answer["error"]
    assert error["code"], answer
    assert error["message"], answer
    if field is not None:
        assert error.get("field") == field, answer
    return error


async def unharmed(
    api: Api, token: str, zones: list[str] = WEST_ZONES, **overrides: Any
) -> dict[str, Any]:
    """The server still answers and still takes a normal report in WEST's grid cell, routed
    as before (the zones ``zones``, the squad sq-west)."""
    assert (await api.call("GET", "/healthz", None))[0] == 200
    k = next(SPOTS)
    lon, lat = WEST[0] + (k % 8 - 3.5) * 8e-4, WEST[1] + (k // 8 % 8 - 3.5) * 8e-4
    status, incident = await api.report(token, lon=lon, lat=lat, **overrides)
    assert status == 201, incident
    assert (incident["zone_ids"], incident["squad_id"]) == (zones, "sq-west")
    return dict(incident)


async def count_incidents(api: Api) -> int:
    _, listed = await api.call("GET", "/api/v1/incidents", expect=200)
    return int(listed["count"])


# -- NaN and infinite coordinates -----------------------------------------------------------


async def test_nan_and_infinite_coordinates_are_refused_on_every_intake_route(api: Api) -> None:
    await api.load_town()
    device = await api.token("device")
    report = {"source": "camera", "category": "200504", "lon": WEST[0], "lat": WEST[1]}
    for literal in NOT_FINITE:
        for field in ("lon", "lat"):
            body = with_literal({**report, field: MARK}, literal)
            status, answer = await send(api, "POST", "/api/v1/incidents", body, device)
            assert "finite" in refused(answer, status, 422, field)["message"]

        # GeoReport: lat and long are form fields, read as text
        for name in ("lat", "long"):
            form = {
                "api_key": device,
                "service_code": "200504",
                "lat": str(WEST[1]),
                "long": str(WEST[0]),
                name: literal.lower(),
            }
            url = api.base + "/open311/v2/requests.json"
            async with api.session.post(url, data=form) as resp:
                status, answer = resp.status, await resp.json()
            assert status == 400, answer
            assert answer[0]["code"] == 400, answer
            assert "finite" in answer[0]["description"], answer

    for query, field in (("lon=nan&lat=31.2", "lon"), ("lon=121.4&lat=-inf", "lat")):
        status, answer = await api.call("GET", f"/api/v1/zones/match?{query}")
        refused(answer, status, 422, field)

    # a grid platform's file: the bad lines are answered one by one, the others taken
    def line(n: int, **fields: Any) -> str:
        body = {**report, "source": "grid", "external_id": f"g-{n}", "category": "200507"}
        return json.dumps({**body, **fields}).replace(str(MARK), NOT_FINITE[n % 5])

    lines = [line(0), line(1, lon=MARK), line(2, lat=MARK), line(3, lon=MARK), line(4)]
    status, answer = await send(api, "POST", "/api/v1/incidents:batch", "\n".join(lines).encode())
    assert (status, answer["created"], answer["failed"]) == (200, 2, 3), answer
    failed = [r for r in answer["results"] if r["result"] == "error"]
    assert [(r["line"], r["error"]["status"], r["error"]["field"]) for r in failed] == [
        (2, 422, "lon"),
        (3, 422, "lat"),
        (4, 422, "lon"),
    ]

    # CAP writes "lat,lon radius": Python's float() reads "nan" and "inf" too
    for area in ("<circle>nan,121.405 0.03</circle>", "<circle>31.205,inf 0.03</circle>"):
        body = alert(info(area=area), identifier=f"X-{area[8:11]}")
        status, answer = await send(api, "POST", "/api/v1/alerts/cap", body, device)
        assert "circle" in refused(answer, status, 422)["field"]
    body = alert(info(area="<circle>31.205,121.405 nan</circle>"), identifier="X-radius")
    status, answer = await send(api, "POST", "/api/v1/alerts/cap", body, device)
    assert "radius" in refused(answer, status, 422)["message"]

    assert await count_incidents(api) == 2  # the two good lines of the batch
    await unharmed(api, device)


async def test_nan_positions_of_units_are_refused_over_http_and_websocket(api: Api) -> None:
    await api.load_town()
    unit = {"squad_id": "sq-west", "name": "沪A-0001"}
    await api.call("PUT", "/api/v1/units/w-1", body=unit, expect=201)
    good = {"lon": WEST[0], "lat": WEST[1]}
    await api.call("POST", "/api/v1/units/w-1/position", body=good, expect=200)
    for literal in NOT_FINITE:
        for field in ("lon", "lat"):
            body = with_literal({**good, field: MARK}, literal)
            status, answer = await send(api, "POST", "/api/v1/units/w-1/position", body)
            refused(answer, status, 422, field)

    async with console(api) as phone:
        for n, literal in enumerate(NOT_FINITE):
            message = {"type": "position", "unit_id": "w-1", "ref": n, **good, "lat": MARK}
            await phone.ws.send_str(with_literal(message, literal).decode())
            answer = await phone.next()  # (not subscribed: nothing else comes)
            assert (answer["type"], answer["ref"], answer["field"]) == ("error", n, "lat"), answer
        await phone.send({"type": "position", "unit_id": "w-1", "ref": "ok", **good})
        answer = await phone.next()
        assert (answer["type"], answer["ref"], answer["kept"]) == ("ack", "ok", True), answer

    _, listed = await api.call("GET", "/api/v1/units/w-1", expect=200)
    position = listed["position"]
    assert math.dist((position["lon"], position["lat"]), WEST) < 1e-5  # the good one kept
    await unharmed(api, await api.token("device"))


async def test_nan_in_actions_and_categories_is_refused_and_changes_nothing(api: Api) -> None:
    await api.load_town()
    device = await api.token("device")
    incident = await unharmed(api, device)  # dispatched to sq-west
    path = f"/api/v1/incidents/{incident['id']}/actions"
    for literal in NOT_FINITE:
        for field in ("hours", "days"):
            body = with_literal({"action": "extend", field: MARK}, literal)
            status, answer = await send(api, "POST", path, body)
            refused(answer, status, 422, field)
    _, stored = await api.call("GET", f"/api/v1/incidents/{incident['id']}", expect=200)
    assert (stored["state"], stored["deadline"]) == ("dispatched", incident["deadline"])
    assert [h["action"] for h in stored["history"]] == ["report", "dispatch"]

    _, before = await api.call("GET", "/api/v1/categories", expect=200)
    entry = {"code": "200504", "name": "店外经营", "clock": "continuous", "limit": 2}
    for field in ("limit", "dedup_radius_m"):
        body = with_literal([{**entry, field: MARK}], "NaN")
        status, answer = await send(api, "PUT", "/api/v1/categories", body)
        error = refused(answer, status, 422)
        assert [(p["index"], p["field"]) for p in error["problems"]] == [(0, field)], error
    assert (await api.call("GET", "/api/v1/categories", expect=200))[1] == before


# -- enormous and degenerate polygons ---------------------------------------------------------


def with_feature(geometry: Any, **properties: Any) -> dict[str, Any]:
    """The town with west's squad changed and one more zone (a special one, "bad"): what must
    not take effect when the set is refused."""
    town: dict[str, Any] = copy.deepcopy(TOWN)
    town["features"][1]["properties"]["squad_id"] = "sq-east"
    town["features"].append(
        {
            "type": "Feature",
            "id": "bad",
            "properties": {"name": "坏区", "level": "special", **properties},
            "geometry": geometry,
        }
    )
    return town


def polygon(*rings: list[list[Any]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def dense_square(lon: float, lat: float, size: float, positions: int) -> list[list[float]]:
    """A closed square ring with ``positions`` positions, most of them along its edges."""
    side = (positions - 1) // 4
    steps = [k / side for k in range(side)]
    ring = [[lon + size * t, lat] for t in steps]
    ring += [[lon + size, lat + size * t] for t in steps]
    ring += [[lon + size - size * t, lat + size] for t in steps]
    ring += [[lon, lat + size - size * t] for t in steps]
    ring += [ring[0]] * (positions - len(ring))
    return ring


async def town_and_version(api: Api) -> tuple[str, int]:
    """Load the town; answer a device token and the version of the zone set in force."""
    await api.load_town()
    device = await api.token("device")
    _, zones = await api.call("GET", "/api/v1/zones", expect=200)
    return device, int(zones["version"])


async def zones_unchanged(api: Api, version: int, device: str) -> None:
    """The set in force is still the town as loaded: same version, west still sq-west's."""
    _, zones = await api.call("GET", "/api/v1/zones", expect=200)
    assert (zones["version"], len(zones["features"])) == (version, len(TOWN["features"]))
    _, match = await api.call("GET", f"/api/v1/zones/match?lon={WEST[0]}&lat={WEST[1]}")
    assert (match["squad_id"], [z["id"] for z in match["zones"]]) == ("sq-west", WEST_ZONES)
    await unharmed(api, device)


async def test_degenerate_polygons_are_refused_naming_the_feature_and_change_nothing(
    api: Api,
) -> None:
    device, version = await town_and_version(api)
    x, y = 121.45, 31.25  # inside the district
    box = square(x, y, 0.01)[0]
    tiny = [square(x + k * 1e-5, y, 5e-4) for k in range(3000)]  # each overlaps the next
    deep: Any = [x, y]
    for _ in range(500):  # deep, yet within what the JSON decoder takes
        deep = [deep]
    cases: list[tuple[str, Any, str]] = [
        ("zero area", polygon([[x, y], [x + 0.01, y], [x, y], [x, y]]), "too few points"),
        (
            "collinear",
            polygon([[x, y], [x + 0.01, y], [x + 0.02, y], [x + 0.03, y], [x, y]]),
            "self-intersection",
        ),
        ("repeated point", polygon([[x, y]] * 6), "too few points"),
        (
            "bow-tie",
            polygon([[x, y], [x + 0.01, y + 0.01], [x + 0.01, y], [x, y + 0.01], [x, y]]),
            "self-intersection",
        ),
        (
            "hole outside",
            polygon(box, square(x + 0.02, y, 0.005)[0]),
            "a hole lies outside its exterior ring",
        ),
        ("beyond lon", polygon([[x, y], [181.0, y], [x, y + 0.01], [x, y]]), "longitude 181"),
        ("beyond lat", polygon([[x, y], [x, -90.5], [x + 0.01, y], [x, y]]), "latitude -90.5"),
        ("huge number", polygon([[x, y], [10**400, y], [x, y + 0.01], [x, y]]), "huge number"),
        ("text", polygon([[x, y], ["121.5", y], [x, y + 0.01], [x, y]]), "is string"),
        ("unclosed", polygon(box[:-1]), "not closed"),
        ("tiny parts", {"type": "MultiPolygon", "coordinates": tiny}, "self-intersection"),
        ("point", {"type": "Point", "coordinates": [x, y]}, "'Point' is not allowed"),
        (
            "collection",
            {"type": "GeometryCollection", "geometries": [polygon(box)]},
            "'GeometryCollection' is not allowed",
        ),
        ("nested", polygon([deep, *box[1:]]), "position 0: not [lon, lat]"),
    ]
    for name, geometry, reason in cases:
        status, answer = await api.call("PUT", "/api/v1/zones", body=with_feature(geometry))
        error = refused(answer, status, 422)
        assert error["code"] == "invalid_zones", (name, error)
        assert [p["id"] for p in error["features"]] == ["bad"], (name, error)
        assert reason in error["features"][0]["reason"], (name, error)

    # what Python's decoder reads as numbers: in a position, and in the properties
    for literal in NOT_FINITE:
        body = with_literal(
            with_feature(polygon([[x, y], [x, MARK], [x + 0.01, y], [x, y]])), literal
        )
        status, answer = await send(api, "PUT", "/api/v1/zones", body)
        assert "not a finite number" in refused(answer, status, 422)["features"][0]["reason"]
        body = with_literal(with_feature(polygon(box), capacity={"people": [1, MARK]}), literal)
        status, answer = await send(api, "PUT", "/api/v1/zones", body)
        error = refused(answer, status, 422)
        assert error["features"] == [
            {
                "id": "bad",
                "index": 6,
                "reason": f"properties.capacity.people[1] is {float(literal)}, not a finite number",
            }
        ], error
    # PostgreSQL keeps no NUL character: refused with the feature, not by the database
    for properties in ({"name": "坏\x00区"}, {"note": ["a\x00"]}, {"parent_id": "d\x00"}):
        status, answer = await api.call(
            "PUT", "/api/v1/zones", body=with_feature(polygon(box), **properties)
        )
        error = refused(answer, status, 422)
        assert error["code"] == "invalid_zones", error
        assert error["features"][0]["id"] == "bad", error
        assert "NUL" in error["features"][0]["reason"], error

    # nested deeper than any decoder goes: not JSON at all
    body = b'{"type": "FeatureCollection", "features": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, answer = await send(api, "PUT", "/api/v1/zones", body)
    assert "nested too deep" in refused(answer, status, 400)["message"]

    await zones_unchanged(api, version, device)


async def test_an_enormous_polygon_is_refused_and_a_huge_set_does_not_hold_up_intake(
    api: Api,
) -> None:
    device, version = await town_and_version(api)

    # 200,000 vertices and the closing position: one more than a geometry may have
    enormous = with_feature(polygon(dense_square(121.45, 31.25, 0.01, 200_001)))
    status, answer = await send(api, "PUT", "/api/v1/zones", json.dumps(enormous).encode())
    error = refused(answer, status, 422)
    assert [(p["id"], p["reason"]) for p in error["features"]] == [
        ("bad", "geometry has more than 200,000 positions; simplify or split it")
    ]
    await zones_unchanged(api, version, device)

    # the largest geometries allowed, three of them (the district itself among them): taken,
    # while reports keep being answered at once
    town: dict[str, Any] = copy.deepcopy(TOWN)
    district = dense_square(121.40, 31.20, 0.2, 199_999)
    town["features"][0]["geometry"]["coordinates"] = [district]
    for k in range(2):
        town["features"].append(
            {
                "type": "Feature",
                "id": f"venue-{k}",
                "properties": {"name": f"会场{k}", "level": "special", "parent_id": "d"},
                "geometry": polygon(district),
            }
        )
    body = json.dumps(town).encode()
    put = asyncio.create_task(send(api, "PUT", "/api/v1/zones", body))
    waits: list[float] = []
    loop = asyncio.get_running_loop()
    while not put.done():
        started = loop.time()
        status, incident = await api.report(device, external_id=f"during-{len(waits)}")
        waits.append(loop.time() - started)
        assert status == 201, incident
        await asyncio.sleep(0.02)
    status, answer = await put
    assert (status, answer["features"]) == (200, len(town["features"])), answer
    assert len(waits) >= 5, waits
    # decoded and checked on the event loop, this set held intake up for 3 s; decoded and
    # checked in a worker thread, for half a second at worst
    assert max(waits) < 1.5, f"intake waited {max(waits):.2f} s for the zone set: {waits}"
    await unharmed(api, device, [*WEST_ZONES, "venue-0", "venue-1"], external_id="after")


# -- broken UTF-8 and wrong content types -----------------------------------------------------

FORM = "application/x-www-form-urlencoded"
#: a sequence cut short, a byte UTF-8 never uses, an encoded surrogate, an overlong "/"
BAD_UTF8 = (b"\xe5\x9d", b"\xff", b"\xed\xa0\x80", b"\xc0\xaf")


async def test_broken_utf8_and_wrong_content_types_are_refused_on_every_json_route(
    api: Api,
) -> None:
    await api.load_town()
    device = await api.token("device")
    incident = await unharmed(api, device)
    await api.call("PUT", "/api/v1/units/w-1", body={"squad_id": "sq-west", "name": "一"})
    #: (method, path, a good body whose "BROKEN" text becomes bytes that are not UTF-8)
    routes: list[tuple[str, str, Any]] = [
        (
            "POST",
            "/api/v1/incidents",
            {
                "source": "hotline",
                "category": "200504",
                "lon": 1,
                "lat": 1,
                "description": "BROKEN",
            },
        ),
        (
            "POST",
            f"/api/v1/incidents/{incident['id']}/actions",
            {"action": "supervise", "note": "BROKEN"},
        ),
        ("POST", f"/api/v1/incidents/{incident['id']}/unmerge", {"reason": "BROKEN"}),
        (
            "PUT",
            "/api/v1/zones",
            with_feature(polygon(square(121.45, 31.25, 0.01)[0]), note="BROKEN"),
        ),
        ("PUT", "/api/v1/squads/sq-new", {"name": "BROKEN", "kind": "street"}),
        (
            "PUT",
            "/api/v1/categories",
            [{"code": "200504", "name": "BROKEN", "clock": "continuous", "limit": 2}],
        ),
        ("POST", "/api/v1/tokens", {"role": "operator", "name": "BROKEN"}),
        ("PUT", "/api/v1/units/w-2", {"squad_id": "sq-west", "name": "BROKEN"}),
        ("POST", "/api/v1/units/w-1/position", {"lon": WEST[0], "lat": WEST[1], "crs": "BROKEN"}),
        ("POST", "/api/v1/units/w-1/status", {"status": "BROKEN"}),
    ]
    before = {
        path: (await api.call("GET", path, expect=200))[1]
        for path in ("/api/v1/squads", "/api/v1/categories", "/api/v1/tokens", "/api/v1/units")
    }
    for method, path, good in routes:
        text = json.dumps(good, ensure_ascii=False)
        assert "BROKEN" in text
        bodies: list[tuple[bytes, str | None]] = [
            *((text.encode().replace(b"BROKEN", bad), None) for bad in BAD_UTF8),
            (text.replace("BROKEN", "x").encode("utf-16"), None),  # good, but not UTF-8
            (b"name=x&kind=street&role=operator", FORM),
            (b'<?xml version="1.0"?><squad><name>x</name></squad>', "application/xml"),
        ]
        for body, content_type in bodies:
            headers = {"Content-Type": content_type} if content_type else None
            status, answer = await send(api, method, path, body, headers=headers)
            assert refused(answer, status, 400)["code"] == "bad_request", (path, body[:40])

    for path, seen in before.items():
        assert (await api.call("GET", path, expect=200))[1] == seen, path
    _, stored = await api.call("GET", f"/api/v1/incidents/{incident['id']}", expect=200)
    assert [h["action"] for h in stored["history"]] == ["report", "dispatch"]
    assert await count_incidents(api) == 1
    await unharmed(api, device, external_id="after")


async def test_forms_cap_and_batches_that_cannot_be_read_are_refused_in_their_own_format(
    api: Api,
) -> None:
    await api.load_town()
    device = await api.token("device")
    fields = f"api_key={device}&service_code=200504&lat={WEST[1]}&long={WEST[0]}".encode()
    multipart = "multipart/form-data; boundary=XYZ"
    part = b'--XYZ\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
    forms = [
        (fields + b"&description=\xff\xfe", FORM),
        (fields + b"&description=x", FORM + "; charset=no-such-charset"),
        (fields, "multipart/form-data"),  # no boundary
        (
            part % (b"api_key", device.encode())
            + part % (b"description", b"\xe5\x9d")
            + b"--XYZ--",
            multipart,
        ),
        (
            b'--XYZ\r\nContent-Disposition: form-data; name="a"\r\n'
            b"Content-Transfer-Encoding: rot13\r\n\r\nx\r\n--XYZ--\r\n",
            multipart,
        ),
    ]
    url = "/open311/v2/requests.json"
    for body, content_type in forms:
        status, answer = await send(api, "POST", url, body, None, {"Content-Type": content_type})
        assert status == 400, (body[:60], answer)
        assert answer[0]["code"] == 400, answer
        assert answer[0]["description"], answer
    status, answer = await send(api, "POST", url, b"{}", None, {"Content-Type": "application/json"})
    assert (status, answer[0]["code"]) == (403, 403), answer  # no api_key in a JSON body

    # a CAP alert whose text is not UTF-8, or that is not XML at all
    good = alert(info(area=WEST_CIRCLE))
    for body in (
        good.replace("遗撒".encode(), b"\xe9\x81"),
        good.replace(b'encoding="UTF-8"', b'encoding="no-such-encoding"'),
        json.dumps({"alert": "x"}).encode(),
    ):
        status, answer = await send(api, "POST", "/api/v1/alerts/cap", body, device)
        assert "XML" in refused(answer, status, 400)["message"], answer

    # a batch: each line that cannot be read is answered on its own line, the others taken
    def line(n: int) -> bytes:
        body = {
            "source": "grid",
            "external_id": f"g-{n}",
            "category": "200507",
            "lon": WEST[0] + n * 1e-3,
            "lat": WEST[1],
            "description": "网格上报",
        }
        return json.dumps(body, ensure_ascii=False).encode()

    lines = [line(1), line(2)[:-5] + b'\xff"}', b"{not json", b"[" * 50_000, line(5)]
    status, answer = await send(api, "POST", "/api/v1/incidents:batch", b"\n".join(lines), device)
    assert (status, answer["created"], answer["failed"]) == (200, 2, 3), answer
    assert [
        (r["line"], r["result"], r.get("error", {}).get("status")) for r in answer["results"]
    ] == [
        (1, "created", None),
        (2, "error", 400),
        (3, "error", 400),
        (4, "error", 400),
        (5, "created", None),
    ]

    # a body that does not follow its Content-Encoding, and one that inflates beyond the limit
    for path, token in (("/api/v1/incidents", device), ("/api/v1/zones", ADMIN)):
        headers = {"Content-Encoding": "gzip"}
        method = "PUT" if path.endswith("zones") else "POST"
        status, answer = await send(api, method, path, b"not gzip", token, headers)
        assert "content-encoding" in refused(answer, status, 400)["message"]
    bomb = gzip.compress(b" " * (8 * 1024 * 1024), 9)  # 8 KiB that inflate to 8 MiB
    status, answer = await send(
        api, "POST", "/api/v1/incidents", bomb, device, {"Content-Encoding": "gzip"}
    )
    assert refused(answer, status, 413)["code"] == "payload_too_large"

    assert await count_incidents(api) == 2
    await unharmed(api, device)


# -- oversize headers and URLs; WebSocket messages -------------------------------------------


async def raw_status(api: Api, request: bytes) -> int:
    """Send ``request`` as it is on a connection of its own; answer the status it gets."""
    url = URL(api.base)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(request)
        with contextlib.suppress(ConnectionError):  # it may answer before reading it all
            await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return int(status_line.split()[1])


async def test_oversize_headers_and_urls_are_refused_and_the_server_goes_on(api: Api) -> None:
    await api.load_town()
    device = await api.token("device")
    auth = f"Authorization: Bearer {device}\r\n".encode()
    requests = {
        "a 100 KB header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000,
        "5,000 headers": b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: v\r\n" % k for k in range(5000)),
        "a 100 KB URL": b"GET /api/v1/incidents?q=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n",
        "a 100 KB token": b"GET /api/v1/incidents HTTP/1.1\r\nHost: x\r\n"
        + b"Authorization: Bearer "
        + b"t" * 100_000
        + b"\r\n",
    }
    for what, request in requests.items():
        status = await raw_status(api, request + b"\r\n\r\n")
        assert status in (400, 414, 431), (what, status)
    assert await raw_status(api, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n") == 200
    await unharmed(api, device)


async def test_websocket_messages_nested_thousands_deep_are_answered_not_fatal(
    api: Api,
) -> None:
    await api.load_town()
    async with console(api) as screen:
        for text in ("[" * 60_000, '{"type": "subscribe", "topics": ' + "[" * 30_000):
            await screen.ws.send_str(text)
            answer = await screen.next()
            assert (answer["type"], answer["code"]) == ("error", "bad_request"), answer
        assert (await screen.subscribe(["all"]))["type"] == "subscribed"
        incident = await unharmed(api, await api.token("device"))
        event = await screen.until(lambda m: m.get("type") == "incident.created")
        assert event["incident"]["id"] == incident["id"]
