"""The demo district: valid, nested, non-overlapping zones; squads, units; determinism."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

import pytest
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from dispatcher.core.categories import load_default_catalogue
from dispatcher.demo.city import DemoCity, build_demo_city
from geo.distance import LocalFrame

STREETS = {
    "南京东路街道",
    "外滩街道",
    "半淞园路街道",
    "小东门街道",
    "豫园街道",
    "老西门街道",
    "五里桥街道",
    "打浦桥街道",
    "淮海中路街道",
    "瑞金二路街道",
}
#: the district is about 20.5 km²: about 2,050 whole cells, plus the pieces at borders
GRID_CELLS = range(1800, 2800)
#: coordinates are rounded to 1e-6° (about 0.1 m): borders may disagree by that much
TOLERANCE_M = 0.2
LEVEL_ORDER = {"district": 0, "street": 1, "community": 2, "grid": 3}


@pytest.fixture(scope="module")
def city() -> DemoCity:
    return build_demo_city()


@pytest.fixture(scope="module")
def features(city: DemoCity) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in city.zones_geojson["features"]}


@pytest.fixture(scope="module")
def metres(city: DemoCity, features: dict[str, dict[str, Any]]) -> dict[str, BaseGeometry]:
    """Every zone in a local metric projection, for areas and distances."""
    lon, lat = city.center
    frame = LocalFrame(lon, lat)
    return {zid: frame.to_metres(shape(f["geometry"])) for zid, f in features.items()}


def level(features: dict[str, dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [f for f in features.values() if f["properties"]["level"] == name]


def children(features: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Zone id → ids of its non-special children."""
    kids: dict[str, list[str]] = defaultdict(list)
    for zid, f in features.items():
        props = f["properties"]
        if props["level"] != "special" and props.get("parent_id"):
            kids[props["parent_id"]].append(zid)
    return kids


# --- zones ------------------------------------------------------------------------------


def test_the_zone_set_is_a_feature_collection(city: DemoCity) -> None:
    doc = city.zones_geojson
    assert doc["type"] == "FeatureCollection"
    for f in doc["features"]:
        assert f["type"] == "Feature"
        assert f["id"]
        assert f["geometry"]["type"] in {"Polygon", "MultiPolygon"}
        assert f["properties"]["name"]
        assert f["properties"]["level"] in {"district", "street", "community", "grid", "special"}
    # what PUT /api/v1/zones receives must survive JSON unchanged and fit a 1 MiB body, even
    # as aiohttp's ``json=`` encodes it (ASCII escapes, spaces after separators)
    text = json.dumps(doc)
    assert json.loads(text) == doc
    assert len(text.encode()) < 1024 * 1024


def test_ids_are_unique(city: DemoCity) -> None:
    ids = [f["id"] for f in city.zones_geojson["features"]]
    assert len(ids) == len(set(ids))


def test_geometries_are_valid_and_not_empty(features: dict[str, dict[str, Any]]) -> None:
    for zid, f in features.items():
        geometry = shape(f["geometry"])
        assert geometry.is_valid, (zid, shapely.is_valid_reason(geometry))
        assert not geometry.is_empty, zid


def test_counts_per_level(features: dict[str, dict[str, Any]]) -> None:
    counts = Counter(f["properties"]["level"] for f in features.values())
    assert counts["district"] == 1
    assert counts["street"] == 10
    assert 20 <= counts["community"] <= 40
    assert counts["grid"] in GRID_CELLS
    assert counts["special"] >= 1


def test_streets_are_the_district_s_real_streets(features: dict[str, dict[str, Any]]) -> None:
    assert {f["properties"]["name"] for f in level(features, "street")} == STREETS


def test_each_street_has_two_to_four_communities(features: dict[str, dict[str, Any]]) -> None:
    kids = children(features)
    for street in level(features, "street"):
        communities = kids[street["id"]]
        assert 2 <= len(communities) <= 4, street["properties"]["name"]
        for cid in communities:
            assert street["properties"]["name"] in features[cid]["properties"]["name"]


def test_the_district_is_the_real_outline(
    city: DemoCity, metres: dict[str, BaseGeometry], features: dict[str, dict[str, Any]]
) -> None:
    (district,) = level(features, "district")
    assert district["properties"]["name"] == "黄浦区"
    assert city.district_name == "上海市黄浦区"
    assert 19e6 < metres[district["id"]].area < 22e6  # 黄浦区 is 20.5 km²
    lon, lat = city.center
    assert shape(district["geometry"]).contains(shapely.Point(lon, lat))
    minx, miny, maxx, maxy = city.bbox
    assert 121.4 < minx < maxx < 121.55
    assert 31.15 < miny < maxy < 31.3


def test_parents_exist_and_are_one_level_up(features: dict[str, dict[str, Any]]) -> None:
    for zid, f in features.items():
        props = f["properties"]
        if props["level"] == "district":
            assert "parent_id" not in props
            continue
        parent = features[props["parent_id"]]["properties"]
        if props["level"] == "special":
            assert parent["level"] == "district"
        else:
            assert LEVEL_ORDER[parent["level"]] == LEVEL_ORDER[props["level"]] - 1, zid


def test_children_lie_inside_their_parents(
    features: dict[str, dict[str, Any]], metres: dict[str, BaseGeometry]
) -> None:
    for zid, f in features.items():
        parent_id = f["properties"].get("parent_id")
        if parent_id is not None:
            assert metres[zid].within(metres[parent_id].buffer(TOLERANCE_M)), zid


def test_children_cover_their_parents(
    features: dict[str, dict[str, Any]], metres: dict[str, BaseGeometry]
) -> None:
    for parent_id, kids in children(features).items():
        union = shapely.union_all([metres[k] for k in kids])
        gap = metres[parent_id].difference(union.buffer(TOLERANCE_M))
        assert gap.area < 1.0, (parent_id, gap.area)


def test_siblings_do_not_overlap(
    features: dict[str, dict[str, Any]], metres: dict[str, BaseGeometry]
) -> None:
    for parent_id, kids in children(features).items():
        shapes = [metres[k] for k in kids]
        tree = shapely.STRtree(shapes)
        left, right = tree.query(shapes, predicate="intersects")
        for a, b in zip(left, right, strict=True):
            if a < b:
                overlap = shapes[a].intersection(shapes[b]).area
                assert overlap < 1.0, (parent_id, kids[a], kids[b], overlap)


def test_grid_cells_are_about_ten_thousand_square_metres(
    features: dict[str, dict[str, Any]], metres: dict[str, BaseGeometry]
) -> None:
    areas = sorted(metres[f["id"]].area for f in level(features, "grid"))
    median = areas[len(areas) // 2]
    assert 9_000 < median < 10_500
    assert areas[-1] < 2.5 * 10_000  # a cell with the slivers merged into it
    assert sum(a < 3_000 for a in areas) < 0.02 * len(areas)  # only whole small communities


def test_special_zones_raise_priority(
    features: dict[str, dict[str, Any]], metres: dict[str, BaseGeometry]
) -> None:
    specials = level(features, "special")
    assert any("外滩" in f["properties"]["name"] for f in specials)
    for f in specials:
        assert f["properties"]["priority"] == "urgent"
        assert 10_000 < metres[f["id"]].area < 1_000_000


# --- squads and routing data ------------------------------------------------------------


def test_squads(city: DemoCity) -> None:
    kinds = Counter(s["kind"] for s in city.squads)
    assert kinds["centre"] == 1
    assert kinds["street"] == 10 + 2  # the street squads (中队) and two area brigades (大队)
    assert kinds["specialist"] >= 2
    ids = [s["id"] for s in city.squads]
    assert len(ids) == len(set(ids))
    (centre,) = [s for s in city.squads if s["kind"] == "centre"]
    assert centre["id"] == "hp-centre"
    assert centre["name"] == "黄浦区城管执法指挥中心"
    brigades = {s["id"] for s in city.squads if s["id"].startswith("hp-dd-")}
    assert len(brigades) == 2
    for n, squad in enumerate(city.squads):
        assert set(squad) >= {"id", "name", "kind", "skills"}
        if squad["kind"] == "centre":
            continue
        # three tiers: 支队 (the centre) → 大队 → 中队; a parent comes before its children
        parent = centre["id"] if squad["id"] in brigades or squad["kind"] == "specialist" else None
        assert squad["parent_id"] == parent or squad["parent_id"] in brigades
        assert squad["parent_id"] in ids[:n]
    squads = [s for s in city.squads if s["kind"] == "street" and s["id"] not in brigades]
    assert {s["name"] for s in squads} == {f"{street}城管执法中队" for street in STREETS}
    assert {s["parent_id"] for s in squads} == brigades


def test_zones_name_their_squads(city: DemoCity, features: dict[str, dict[str, Any]]) -> None:
    squads = {s["id"]: s for s in city.squads}
    (district,) = level(features, "district")
    assert squads[district["properties"]["squad_id"]]["kind"] == "centre"
    for street in level(features, "street"):
        squad = squads[street["properties"]["squad_id"]]
        assert squad["kind"] == "street"
        assert squad["name"] == street["properties"]["name"] + "城管执法中队"
    for f in level(features, "community") + level(features, "grid"):
        assert "squad_id" not in f["properties"]


def test_every_specialty_of_the_catalogue_has_a_brigade(
    city: DemoCity, features: dict[str, dict[str, Any]]
) -> None:
    squads = {s["id"]: s for s in city.squads}
    (district,) = level(features, "district")
    specialists: dict[str, str] = district["properties"]["specialists"]
    needed = set()
    for category in load_default_catalogue():
        needed.update(category.joint)
        if category.specialty:
            needed.add(category.specialty)
    assert needed <= set(specialists)
    for specialty, squad_id in specialists.items():
        assert squads[squad_id]["kind"] == "specialist"
        assert specialty in squads[squad_id]["skills"]


# --- units --------------------------------------------------------------------------------


def test_units(city: DemoCity, features: dict[str, dict[str, Any]]) -> None:
    ids = [u["id"] for u in city.units]
    assert len(ids) == len(set(ids))
    squads = {s["id"]: s for s in city.squads}
    per_squad = Counter(u["squad_id"] for u in city.units)
    streets = {f["properties"]["squad_id"]: f for f in level(features, "street")}
    for squad_id in streets:
        assert 3 <= per_squad[squad_id] <= 6, squad_id
    for unit in city.units:
        assert unit["status"] == "available"
        assert unit["name"]
        assert isinstance(unit["skills"], list)
        point = shapely.Point(unit["lon"], unit["lat"])
        squad = squads[unit["squad_id"]]
        if squad["kind"] == "street":
            assert shape(streets[squad["id"]]["geometry"]).contains(point), unit["id"]
            assert set(unit["skills"]) <= set(squad["skills"])


def test_cameras_stand_inside_their_streets(city: DemoCity) -> None:
    assert len(city.cameras) >= 50
    assert len({c.device_id for c in city.cameras}) == len(city.cameras)
    for camera in city.cameras:
        street = city.street(camera.street_id)
        assert street.geometry.contains(shapely.Point(camera.lon, camera.lat))
        assert camera.address.startswith("上海市黄浦区")


# --- determinism ----------------------------------------------------------------------------


def test_the_same_seed_builds_the_same_city(city: DemoCity) -> None:
    again = build_demo_city(7)
    assert again.zones_geojson == city.zones_geojson
    assert again.squads == city.squads
    assert again.units == city.units
    assert again.cameras == city.cameras


def test_another_seed_builds_another_city(city: DemoCity) -> None:
    other = build_demo_city(8)
    assert other.units != city.units
    assert other.zones_geojson != city.zones_geojson  # the communities move with the seed
