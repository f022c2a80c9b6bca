"""How zones sit against their siblings and parents (``geo.topology``), also for PUT /zones."""

from __future__ import annotations

from typing import Any

import pytest
import shapely
from shapely.geometry import box, mapping

from dispatcher.demo.city import build_demo_city
from geo.distance import LocalFrame
from geo.errors import InvalidZones
from geo.zones import SliverLimits, check_zone_set, parse_feature_collection
from tests.integration.support import TOWN

FRAME = LocalFrame(121.47, 31.23)


def zone(zid: str, level: str, x0: float, y0: float, x1: float, y1: float, **props: Any) -> Any:
    """A feature whose square is given in metres on FRAME."""
    return {
        "type": "Feature",
        "id": zid,
        "properties": {"name": zid, "level": level, **props},
        "geometry": mapping(FRAME.to_wgs84(box(x0, y0, x1, y1))),
    }


def fc(*features: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


DISTRICT = zone("D", "district", 0, 0, 2000, 1000)
WEST = zone("W", "street", 0, 0, 1000, 1000, parent_id="D")
EAST = zone("E", "street", 1000, 0, 2000, 1000, parent_id="D")


def test_a_clean_nesting_has_no_findings() -> None:
    report = check_zone_set(fc(DISTRICT, WEST, EAST), None)
    assert report.ok
    assert report.warnings == []


def test_siblings_overlapping_are_refused_naming_both() -> None:
    wider_east = zone("E", "street", 990, 0, 2000, 1000, parent_id="D")  # 10 m over W
    report = check_zone_set(fc(DISTRICT, WEST, wider_east), None)
    assert [(p.id, p.index) for p in report.problems] == [("W", 1), ("E", 2)]
    assert "overlaps its sibling 'E' by 10,000 m²" in report.problems[0].reason
    assert "overlaps its sibling 'W'" in report.problems[1].reason
    with pytest.raises(InvalidZones):
        parse_feature_collection(fc(DISTRICT, WEST, wider_east), None)  # PUT /zones refuses


def test_an_overlap_narrower_than_the_tolerance_is_drawing_noise() -> None:
    sliver = zone("E", "street", 999.6, 0, 2000, 1000, parent_id="D")  # 0.4 m over W
    assert check_zone_set(fc(DISTRICT, WEST, sliver), None).ok
    # wider than a 0.1 m tolerance: a sliver (accepted and reported), unless slivers are off
    assert len(check_zone_set(fc(DISTRICT, WEST, sliver), None, tolerance_m=0.1).slivers) == 1
    strict = check_zone_set(
        fc(DISTRICT, WEST, sliver), None, tolerance_m=0.1, limits=SliverLimits(0, 0)
    )
    assert not strict.ok


def test_zones_of_different_parents_may_overlap() -> None:
    other = zone("D2", "district", 1500, 0, 3000, 1000)
    inside_other = zone("X", "street", 1500, 0, 3000, 1000, parent_id="D2")
    report = check_zone_set(fc(DISTRICT, WEST, EAST, other, inside_other), None)
    # the two districts are siblings (no parent) and overlap; their streets do not compare
    assert {p.id for p in report.problems} == {"D", "D2"}


def test_a_child_reaching_outside_its_parent_is_refused() -> None:
    child = zone("G", "grid", 900, 100, 1100, 200, parent_id="W")  # 100 m into E
    report = check_zone_set(fc(DISTRICT, WEST, EAST, child), None)
    assert [p.id for p in report.problems] == ["G"]
    reason = report.problems[0].reason
    assert reason.startswith("lies partly outside its parent 'W': 10,000 m² beyond it near (121.")


def test_a_special_zone_outside_its_parent_is_only_a_warning() -> None:
    venue = zone("V", "special", 1900, 0, 2100, 1000, parent_id="D", priority="urgent")
    report = check_zone_set(fc(DISTRICT, WEST, EAST, venue), None)
    assert report.ok  # special zones overlap streets by design and decide no squad
    assert [w.id for w in report.warnings] == ["V"]
    assert "special zone reaches outside its parent 'D'" in report.warnings[0].reason


def test_a_gap_in_a_parent_is_a_warning_with_its_size_and_place() -> None:
    short_east = zone("E", "street", 1000, 0, 2000, 600, parent_id="D")
    report = check_zone_set(fc(DISTRICT, WEST, short_east), None)
    assert report.ok
    assert [w.id for w in report.warnings] == ["D"]
    reason = report.warnings[0].reason
    assert reason.startswith("20% of it (")
    assert "is covered by none of its 2 territorial child zone(s)" in reason
    area = float(reason.split("(")[1].split(" m²")[0].replace(",", ""))
    assert area == pytest.approx(400_000, rel=1e-3)
    lon, lat = (float(v) for v in reason.split("near (")[1].split(")")[0].split(", "))
    x, y = FRAME.xy(lon, lat)
    assert 1000 < x < 2000
    assert 600 < y < 1000  # in the gap, not on a sliver along an edge


def test_long_straight_edges_in_degrees_are_not_taken_for_overlaps() -> None:
    # a street boundary of 12 km along a parallel, with children sharing it in pieces: in a
    # metric projection the parent's edge bends away from the children's vertices by ~1 m
    def square(zid: str, x0: float, y0: float, x1: float, y1: float, **p: Any) -> Any:
        ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
        return {
            "type": "Feature",
            "id": zid,
            "properties": {"name": zid, "level": p.pop("level"), **p},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }

    parts = [
        square("D", 121.40, 31.20, 121.52, 31.28, level="district"),
        square("S1", 121.40, 31.20, 121.48, 31.28, level="street", parent_id="D"),
        square("S2", 121.48, 31.20, 121.52, 31.28, level="street", parent_id="D"),
    ]
    report = check_zone_set(fc(*parts), None)
    assert report.ok, report.problems
    assert report.warnings == []


def test_the_demo_city_and_the_test_town_pass() -> None:
    city = check_zone_set(build_demo_city().zones_geojson, None)
    assert city.ok, city.problems[:3]
    assert city.warnings == []
    town = check_zone_set(TOWN, None)
    assert town.ok
    # one community covers a quarter of 'west', one grid cell 4% of it: warnings only
    assert [w.id for w in town.warnings] == ["west", "w-c1"]


def test_invalid_features_do_not_hide_the_topology_of_the_others() -> None:
    broken = {**zone("B", "street", 0, 0, 10, 10, parent_id="D"), "geometry": None}
    wider_east = zone("E", "street", 900, 0, 2000, 1000, parent_id="D")
    report = check_zone_set(fc(DISTRICT, WEST, wider_east, broken), None)
    assert [p.id for p in report.problems] == ["W", "E", "B"]


def test_many_cells_are_checked_quickly() -> None:
    cells = [
        zone(f"g{i}-{j}", "grid", i * 100, j * 100, (i + 1) * 100, (j + 1) * 100, parent_id="D")
        for i in range(20)
        for j in range(10)
    ]
    report = check_zone_set(fc(DISTRICT, *cells), None)
    assert report.ok, report.problems[:2]
    assert report.warnings == []
    assert shapely.__version__ >= "2"
