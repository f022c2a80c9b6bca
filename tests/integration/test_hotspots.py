"""Hot spots on the real server: counts per grid cell, street and square cell; repeat places."""

from __future__ import annotations

from typing import Any

from tests.integration.support import ADMIN, EAST, Api

#: inside the grid cell w-g1 (121.40–121.41, 31.20–31.21), about 190 m apart
IN_CELL = [(121.401, 31.205), (121.403, 31.205), (121.405, 31.205)]
#: in the west street, outside the cell
WEST_STREET = [(121.45, 31.25), (121.46, 31.25)]


async def hot(api: Api, query: str, token: str = ADMIN, expect: int = 200) -> Any:
    _, body = await api.call("GET", f"/api/v1/hotspots{query}", token, expect=expect)
    return body


async def report_all(api: Api, points: list[tuple[float, float]], **body: Any) -> list[str]:
    device = await api.token("device")
    ids = []
    for lon, lat in points:
        status, answer = await api.report(device, lon=lon, lat=lat, **body)
        assert status == 201, answer
        ids.append(str(answer["id"]))
    return ids


async def test_counts_per_grid_cell_street_and_square(api: Api) -> None:
    await api.load_town()
    await report_all(api, [*IN_CELL, *WEST_STREET, EAST])
    grid = await hot(api, "?level=grid")
    assert grid["type"] == "FeatureCollection"
    assert [(f["id"], f["properties"]["count"]) for f in grid["features"]] == [("w-g1", 3)]
    assert (grid["total"], grid["outside"]) == (6, 3)
    assert grid["features"][0]["geometry"]["type"] == "Polygon"
    streets = await hot(api, "?level=street")
    assert [(f["id"], f["properties"]["count"]) for f in streets["features"]] == [
        ("west", 5),
        ("east", 1),
    ]
    cells = await hot(api, "?level=cells&cell_m=500")
    assert sum(f["properties"]["count"] for f in cells["features"]) == 6
    assert cells["features"][0]["properties"]["count"] >= 2
    ring = cells["features"][0]["geometry"]["coordinates"][0]
    assert len(ring) == 5
    assert (await hot(api, "?level=grid&category=200201"))["features"] == []
    own = await hot(api, "?level=street", await api.token("squad", "sq-east"))
    assert [(f["id"], f["properties"]["count"]) for f in own["features"]] == [("east", 1)]


async def test_repeat_complaints_of_one_place(api: Api) -> None:
    await api.load_town()
    # three calls about one stall, metres apart: two of them join the first as duplicates
    place = [(121.4300, 31.2500), (121.43005, 31.2500), (121.4300, 31.25005)]
    ids = await report_all(api, place)
    await report_all(api, [(121.47, 31.27), (121.4703, 31.27)])  # two calls, 30 m apart
    await report_all(api, [(121.48, 31.28)], source="camera", confidence=0.9)  # no complaint
    body = await hot(api, "/repeats")
    assert body["total"] == 5
    assert len(body["features"]) == 1
    top = body["features"][0]["properties"]
    assert (top["category"], top["count"]) == ("200504", 3)
    assert sorted(top["incident_ids"]) == sorted(ids)
    assert top["squad_ids"] == ["sq-west"]
    lon, lat = body["features"][0]["geometry"]["coordinates"]
    assert abs(lon - 121.43002) < 1e-4
    assert abs(lat - 31.25002) < 1e-4
    pairs = await hot(api, "/repeats?min_count=2&radius_m=40")
    assert [f["properties"]["count"] for f in pairs["features"]] == [3, 2]


async def test_bad_hotspot_queries_name_the_field(api: Api) -> None:
    await api.load_town()
    for query, field in [
        ("?level=planet", "level"),
        ("?level=cells&cell_m=1", "cell_m"),
        ("?category=999999", "category"),
        ("?from=2026-01-01&to=2026-12-31", "to"),
        ("/repeats?radius_m=abc", "radius_m"),
    ]:
        body = await hot(api, query, expect=422)
        assert body["error"]["field"] == field, query
    await hot(api, "", await api.token("device"), expect=403)
