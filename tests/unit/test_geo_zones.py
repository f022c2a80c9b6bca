"""Zone sets: validation all-or-nothing, hostile input, and matching points to zones."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from geo.errors import GeoError, InvalidZones
from geo.zones import (
    MAX_FEATURE_POSITIONS,
    MAX_FEATURES,
    MAX_POSITIONS,
    MAX_PROBLEMS,
    NO_MATCH,
    Zone,
    ZoneIndex,
    ZoneLevel,
    ZoneProblem,
    feature_collection,
    parse_feature_collection,
)

A = 6378137.0  # WGS84 semi-major axis
E2 = 0.0066943799901413165  # WGS84 first eccentricity squared


def metres_per_degree(lat: float) -> tuple[float, float]:
    """(east, north) metres in one degree at ``lat``, from the WGS84 radii of curvature."""
    w = math.sqrt(1 - E2 * math.sin(math.radians(lat)) ** 2)
    return (
        math.radians(1) * A * math.cos(math.radians(lat)) / w,
        math.radians(1) * A * (1 - E2) / w**3,
    )


def ring(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def square(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring(x0, y0, x1, y1)]}


def feature(
    zone_id: object, level: str, geometry: object, name: str = "zone", **properties: Any
) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": zone_id,
        "geometry": geometry,
        "properties": {"name": name, "level": level, **properties},
    }


def collection(*features: object) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def problems_of(fc: object, squads: list[str] | None = None) -> list[ZoneProblem]:
    with pytest.raises(InvalidZones) as caught:
        parse_feature_collection(fc, squads)
    assert isinstance(caught.value, GeoError)
    return caught.value.problems


# A small district near the Bund: streets split it at 121.48; S2 is the smaller street.
DISTRICT = feature("D", "district", square(121.40, 31.20, 121.52, 31.28), squad_id="district")
STREET_1 = feature(
    "S1", "street", square(121.40, 31.20, 121.48, 31.28), parent_id="D", squad_id="sq1"
)
STREET_2 = feature(
    "S2", "street", square(121.48, 31.22, 121.52, 31.26), parent_id="D", squad_id="sq2"
)
COMMUNITY = feature("C1", "community", square(121.42, 31.22, 121.46, 31.26), parent_id="S1")
GRID = feature("G1", "grid", square(121.43, 31.23, 121.44, 31.24), parent_id="C1")
GRID_NAMING = feature(
    "G2", "grid", square(121.44, 31.23, 121.45, 31.24), parent_id="C1", squad_id="grid-sq"
)
EVENT = feature(
    "X1", "special", square(121.435, 31.235, 121.50, 31.25), squad_id="event", priority="urgent"
)
EVENT_SMALL = feature("X2", "special", square(121.436, 31.236, 121.438, 31.238))
SQUADS = ["district", "sq1", "sq2", "grid-sq", "event", "multi"]


@pytest.fixture(scope="module")
def index() -> ZoneIndex:
    fc = collection(DISTRICT, STREET_1, STREET_2, COMMUNITY, GRID, GRID_NAMING, EVENT, EVENT_SMALL)
    return ZoneIndex(parse_feature_collection(fc, SQUADS), version=7)


# Validation ---------------------------------------------------------------------------


def test_a_good_set_parses_with_every_field() -> None:
    zones = parse_feature_collection(
        collection(
            DISTRICT,
            STREET_1,
            {
                "type": "Feature",
                "geometry": square(121.41, 31.21, 121.42, 31.22),
                "properties": {
                    "id": 17,
                    "name": "网格17",
                    "level": "grid",
                    "parent_id": "S1",
                    "specialists": {"construction": "brigade-3"},
                },
            },
        ),
        SQUADS,
    )
    assert [zone.id for zone in zones] == ["D", "S1", "17"]
    district, street, grid = zones
    assert district.level is ZoneLevel.DISTRICT
    assert district.parent_id is None
    assert street.parent_id == "D"
    assert street.squad_id == "sq1"
    assert grid.name == "网格17"
    assert grid.squad_id is None
    assert dict(grid.properties) == {"specialists": {"construction": "brigade-3"}}
    assert grid.geometry.equals(box(121.41, 31.21, 121.42, 31.22))


def test_parse_accepts_altitudes_tuples_and_an_empty_set() -> None:
    with_z = {"type": "Polygon", "coordinates": [[[x, y, 4.5] for x, y in ring(121, 31, 122, 32)]]}
    (zone,) = parse_feature_collection(collection(feature("z", "district", with_z)), None)
    assert not zone.geometry.has_z
    assert parse_feature_collection(collection(), None) == []


def test_features_round_trip_through_json() -> None:
    fc = collection(DISTRICT, STREET_1, COMMUNITY, GRID, EVENT)
    zones = parse_feature_collection(fc, SQUADS)
    text = json.dumps(feature_collection(zones))
    again = parse_feature_collection(json.loads(text), SQUADS)
    assert again == zones
    event = json.loads(text)["features"][-1]
    assert event["id"] == "X1"
    assert event["properties"] == {
        "name": "zone",
        "level": "special",
        "parent_id": None,
        "squad_id": "event",
        "priority": "urgent",
    }
    assert {hash(zone) for zone in zones} == {hash(zone) for zone in again}


def test_every_bad_feature_is_named_in_one_report() -> None:
    good = square(121.0, 31.0, 121.1, 31.1)
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [[121.4, 31.2], [121.6, 31.3], [121.6, 31.2], [121.4, 31.3], [121.4, 31.2]]
        ],
    }
    hole_outside = {
        "type": "Polygon",
        "coordinates": [ring(121, 31, 121.1, 31.1), ring(121.2, 31.2, 121.3, 31.3)],
    }
    overlapping = {
        "type": "MultiPolygon",
        "coordinates": [[ring(121, 31, 121.2, 31.2)], [ring(121.1, 31.1, 121.3, 31.3)]],
    }
    bad: list[tuple[dict[str, Any], str | None, str]] = [
        (feature(None, "grid", good), None, "no id"),
        (feature("dup", "district", good), None, ""),  # the first "dup" is fine
        (feature("dup", "district", good), "dup", "duplicate id 'dup': feature 1"),
        (feature("nogeom", "grid", None), "nogeom", "geometry is missing"),
        (
            feature("point", "grid", {"type": "Point", "coordinates": [121, 31]}),
            "point",
            "geometry type 'Point' is not allowed",
        ),
        (
            feature("empty", "grid", {"type": "Polygon", "coordinates": []}),
            "empty",
            "geometry is empty",
        ),
        (
            feature(
                "text",
                "grid",
                {
                    "type": "Polygon",
                    "coordinates": [[[121, "31"], [121.1, 31], [121.1, 31.1], [121, 31]]],
                },
            ),
            "text",
            "exterior ring, position 0: latitude is string, not a number",
        ),
        (
            feature(
                "nan",
                "grid",
                {
                    "type": "Polygon",
                    "coordinates": [[[121, 31], [math.nan, 31], [121.1, 31.1], [121, 31]]],
                },
            ),
            "nan",
            "position 1: longitude is not a finite number",
        ),
        (
            feature("lon", "grid", square(179.5, 31, 180.5, 31.1)),
            "lon",
            "longitude 180.5 is outside -180..180",
        ),
        (
            feature("lat", "grid", square(121, 89.5, 121.1, 90.5)),
            "lat",
            "latitude 90.5 is outside -90..90",
        ),
        (
            feature(
                "open",
                "grid",
                {
                    "type": "Polygon",
                    "coordinates": [[*ring(121, 31, 121.1, 31.1)[:4], [121.05, 31.0]]],
                },
            ),
            "open",
            "exterior ring is not closed",
        ),
        (
            feature(
                "short",
                "grid",
                {"type": "Polygon", "coordinates": [[[121, 31], [121.1, 31], [121, 31]]]},
            ),
            "short",
            "exterior ring has 3 positions; a closed ring needs at least 4",
        ),
        (
            feature("bowtie", "grid", bowtie),
            "bowtie",
            "invalid geometry: self-intersection at (121.500000, 31.250000)",
        ),
        (
            feature("hole", "grid", hole_outside),
            "hole",
            "invalid geometry: a hole lies outside its exterior ring at (121.200000, 31.200000)",
        ),
        (feature("overlap", "grid", overlapping), "overlap", "invalid geometry: self-intersection"),
        (feature("noname", "grid", good, name=""), "noname", "properties.name must be a non-empty"),
        (
            feature("level", "county", good),
            "level",
            "properties.level 'county' is not one of district, street, community, grid, special",
        ),
        (
            feature("orphan", "grid", good, parent_id="nowhere"),
            "orphan",
            "parent_id 'nowhere' names no feature",
        ),
        (feature("self", "grid", good, parent_id="self"), "self", "names the feature itself"),
        (
            feature("upside", "district", good, parent_id="dup"),
            "upside",
            "parent 'dup' is a district zone; a district must lie in a larger territorial level",
        ),
        (
            feature("squadless", "grid", good, squad_id="ghost"),
            "squadless",
            "squad_id 'ghost' names no known squad",
        ),
        (
            feature("loop-a", "special", good, parent_id="loop-b"),
            "loop-a",
            "parent_id forms a cycle: 'loop-a' → 'loop-b' → 'loop-a'",
        ),
        (
            feature("loop-b", "special", good, parent_id="loop-a"),
            "loop-b",
            "parent_id forms a cycle",
        ),
        (feature(7, "grid", good, id="8"), None, "id '7' and properties.id '8' differ"),
    ]
    problems = problems_of(collection(*(f for f, _, _ in bad)), SQUADS)
    expected = [
        (index, zone_id, reason) for index, (_, zone_id, reason) in enumerate(bad) if reason
    ]
    assert len(problems) == len(expected), [p.reason for p in problems]
    for index, zone_id, reason in expected:
        found = [p for p in problems if p.index == index]
        assert len(found) == 1, (index, [p.reason for p in found])
        assert found[0].id == zone_id
        assert reason in found[0].reason, found[0].reason
    assert [p.index for p in problems] == sorted(p.index for p in problems)
    assert problems[0].to_dict() == {"id": None, "index": 0, "reason": problems[0].reason}


def test_one_feature_can_have_several_problems() -> None:
    bare = {"type": "Feature", "id": "bare"}
    problems = problems_of(collection(bare))
    assert [p.id for p in problems] == ["bare", "bare", "bare"]
    reasons = " | ".join(p.reason for p in problems)
    assert "properties.name is missing" in reasons
    assert "properties.level is missing" in reasons
    assert "geometry is missing" in reasons


def test_unknown_squads_are_accepted_when_squads_are_not_checked() -> None:
    fc = collection(feature("a", "grid", square(121, 31, 121.1, 31.1), squad_id="anyone"))
    assert parse_feature_collection(fc, None)[0].squad_id == "anyone"
    assert "names no known squad" in problems_of(fc, [])[0].reason


@pytest.mark.parametrize(
    ("fc", "reason"),
    [
        ([], "expected a GeoJSON FeatureCollection object, got array"),
        ({"type": "Feature"}, "got type 'Feature'"),
        ({"features": []}, "an object without a type"),
        ({"type": "FeatureCollection"}, "features is null, not an array"),
        ({"type": "FeatureCollection", "features": {"a": 1}}, "features is object"),
    ],
)
def test_a_bad_collection_is_one_problem(fc: object, reason: str) -> None:
    (problem,) = problems_of(fc)
    assert problem.index == -1
    assert problem.id is None
    assert reason in problem.reason


def test_features_that_are_not_objects() -> None:
    odd = {"type": "Feature", "id": "p", "properties": 3, "geometry": square(121, 31, 122, 32)}
    problems = problems_of(collection("zone", None, odd))
    assert [(p.index, p.id, p.reason) for p in problems] == [
        (0, None, "feature is string, not an object"),
        (1, None, "feature is null, not an object"),
        (2, "p", "properties is number, not an object"),
    ]


# Hostile input -------------------------------------------------------------------------


def deep_list(depth: int) -> list[Any]:
    nested: list[Any] = []
    for _ in range(depth):
        nested = [nested]
    return nested


def test_deeply_nested_geometry_is_a_problem_not_a_recursion_error() -> None:
    deep = deep_list(200_000)
    fc = collection(
        feature("a", "grid", deep),
        feature("b", "grid", {"type": "Polygon", "coordinates": deep}),
        feature("c", "grid", {"type": "MultiPolygon", "coordinates": [deep, deep]}),
        feature("d", "grid", {"type": "Polygon", "coordinates": [[deep, deep, deep, deep]]}),
        feature(deep, "grid", square(121, 31, 121.1, 31.1)),
    )
    problems = problems_of(fc)
    assert [(p.id, p.index) for p in problems] == [
        ("a", 0),
        ("b", 1),
        ("c", 2),
        ("d", 3),
        (None, 4),
    ]
    assert problems[0].reason == "geometry is array, not an object"
    assert problems[3].reason.startswith("exterior ring, position 0: not [lon, lat]")
    assert problems[4].reason.startswith("id is array")


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ({"capacity": math.nan}, "properties.capacity is nan, not a finite number"),
        ({"x": {"y": [1, {"z": -math.inf}]}}, "properties.x.y[1].z is -inf, not a finite number"),
        ({"name": "a\x00b"}, "properties.name contains the NUL character (U+0000)"),
        ({"note": ["ok", "a\x00"]}, "properties.note[1] contains the NUL character (U+0000)"),
        ({"x": {"k\x00": 1}}, "properties.x has a key with the NUL character (U+0000)"),
        ({"x": deep_list(32)}, "levels deep"),
        ({"x": deep_list(100_000)}, "is nested more than 32 levels deep"),
    ],
)
def test_properties_that_json_or_the_database_cannot_keep_are_problems(
    properties: dict[str, Any], reason: str
) -> None:
    good = feature("a", "grid", square(121, 31, 121.1, 31.1))
    good["properties"].update(properties)
    (problem,) = problems_of(collection(good))
    assert problem.id == "a"
    assert reason in problem.reason
    good["properties"] = {"name": "a", "level": "grid", "x": {"y": [1.5, deep_list(20)]}}
    assert parse_feature_collection(collection(good), None)[0].properties["x"]["y"][0] == 1.5


def test_a_nul_character_in_an_id_is_a_problem() -> None:
    zone = feature("a\x00", "grid", square(121, 31, 121.1, 31.1))
    child = feature("b", "grid", square(121, 31, 121.1, 31.1), parent_id="a\x00")
    reasons = [p.reason for p in problems_of(collection(zone, child))]
    assert "id contains the NUL character (U+0000)" in reasons
    assert "parent_id contains the NUL character (U+0000)" in reasons


def test_a_huge_feature_is_refused_quickly() -> None:
    corner = [121.0, 31.0]
    huge = {"type": "Polygon", "coordinates": [[corner] * (MAX_FEATURE_POSITIONS + 1)]}
    started = time.perf_counter()
    (problem,) = problems_of(collection(feature("huge", "grid", huge)))
    assert time.perf_counter() - started < 1.0
    assert problem.id == "huge"
    assert f"more than {MAX_FEATURE_POSITIONS:,} positions" in problem.reason


def test_a_huge_collection_stops_being_read() -> None:
    # Each ring fails at its first position, but its length is counted before it is read.
    rows = [["x", 31.0]] * (MAX_FEATURE_POSITIONS - 1)
    count = MAX_POSITIONS // len(rows) + 3
    features = [
        feature(f"f{i}", "grid", {"type": "Polygon", "coordinates": [rows]}) for i in range(count)
    ]
    started = time.perf_counter()
    problems = problems_of(collection(*features))
    assert time.perf_counter() - started < 2.0
    overflow = [p for p in problems if "positions in all" in p.reason]
    assert len(overflow) == 1
    assert overflow[0].index == MAX_POSITIONS // len(rows)
    assert f"more than {MAX_POSITIONS:,} positions in all" in overflow[0].reason
    # Nothing after the overflow was read.
    assert all(p.index <= overflow[0].index for p in problems)


def test_too_many_features_are_refused_at_once() -> None:
    (problem,) = problems_of({"type": "FeatureCollection", "features": [{}] * (MAX_FEATURES + 1)})
    assert f"at most {MAX_FEATURES:,} are allowed" in problem.reason


def test_the_list_of_problems_is_capped() -> None:
    problems = problems_of(collection(*([5] * (MAX_PROBLEMS + 250))))
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1].reason == "… and 250 more problems"


WEIRD: list[object] = [
    None,
    True,
    0,
    -1,
    10**400,
    1e308,
    math.nan,
    math.inf,
    "",
    "x" * 100_000,
    [],
    {},
    [[]],
    [None],
    {"type": None},
    {"type": "Polygon"},
    {"type": "Polygon", "coordinates": [[[]]]},
    {"type": "MultiPolygon", "coordinates": [[]]},
    {"type": "MultiPolygon", "coordinates": [1]},
    {"type": "Polygon", "coordinates": [[[1, 2, 3, 4]] * 4]},
    deep_list(50_000),
    {"type": "Polygon", "coordinates": [[[10**400, 0], [0, 0], [0, 1], [10**400, 0]]]},
]


@pytest.mark.parametrize("value", WEIRD, ids=range(len(WEIRD)))
@pytest.mark.parametrize(
    "key", ["id", "geometry", "properties", "name", "level", "parent_id", "squad_id", "type"]
)
def test_weird_values_anywhere_give_invalid_zones(key: str, value: object) -> None:
    good = feature("a", "grid", square(121, 31, 121.1, 31.1))
    if key in ("name", "level", "parent_id", "squad_id"):
        good["properties"][key] = value
    else:
        good[key] = value
    # Only an absent optional reference, or an integer id, is acceptable.
    acceptable = (key in ("parent_id", "squad_id") and value is None) or (
        key == "id" and type(value) is int and value in (0, -1)
    )
    if acceptable:
        (zone,) = parse_feature_collection(collection(good), [])
        assert zone.id == str(good["id"])
        return
    with pytest.raises(InvalidZones) as caught:
        parse_feature_collection(collection(good), [])
    assert caught.value.problems
    assert all(len(p.reason) < 400 for p in caught.value.problems)


# Matching ------------------------------------------------------------------------------


def test_nested_zones_largest_first_with_the_innermost_squad(index: ZoneIndex) -> None:
    match = index.match(121.4365, 31.2365)  # in the grid, the community, both events
    assert match.zone_ids == ("D", "S1", "C1", "G1", "X1", "X2")
    assert match.squad_id == "sq1"  # G1 and C1 name none; the events never give the squad
    assert match.street is not None
    assert match.street.id == "S1"
    assert [zone.id for zone in match.special] == ["X1", "X2"]


def test_a_grid_that_names_a_squad_wins(index: ZoneIndex) -> None:
    match = index.match(121.445, 31.2305)
    assert match.zone_ids == ("D", "S1", "C1", "G2")
    assert match.squad_id == "grid-sq"
    # 0.0005° north of the grid's south edge, 0.005° from its east and west edges.
    _, north = metres_per_degree(31.23025)
    assert match.border_distance_m == pytest.approx(0.0005 * north, abs=0.05)


def test_special_zones_come_last_even_when_larger(index: ZoneIndex) -> None:
    match = index.match(121.49, 31.24)  # in S2 and in X1, which is larger than S2 here
    assert match.zone_ids == ("D", "S2", "X1")
    assert match.squad_id == "sq2"
    assert [zone.id for zone in match.special] == ["X1"]


def test_a_point_on_the_border_of_two_streets_is_in_both(index: ZoneIndex) -> None:
    match = index.match(121.48, 31.23)
    assert match.zone_ids == ("D", "S1", "S2")  # the larger street first
    assert match.squad_id == "sq2"  # the innermost (smaller) of the two
    assert match.street is not None
    assert match.street.id == "S2"
    # Within a millimetre: a projected edge is the chord of a slightly curved meridian.
    assert match.border_distance_m == pytest.approx(0.0, abs=1e-3)


def test_a_point_in_the_district_only(index: ZoneIndex) -> None:
    match = index.match(121.50, 31.21)
    assert match.zone_ids == ("D",)
    assert match.squad_id == "district"
    assert match.street is None
    east, _ = metres_per_degree(31.21)
    _, north = metres_per_degree(31.205)
    assert match.border_distance_m == pytest.approx(min(0.02 * east, 0.01 * north), rel=1e-3)


def test_a_point_in_no_zone(index: ZoneIndex) -> None:
    for lon, lat in [(121.39, 31.24), (0.0, 0.0), (121.46, 31.281)]:
        match = index.match(lon, lat)
        assert match == NO_MATCH
        assert match.zones == ()
        assert match.zone_ids == ()
        assert match.special == ()
        assert match.squad_id is None
        assert match.street is None
        assert match.border_distance_m is None


def test_border_distance_in_metres_in_a_square_of_one_kilometre() -> None:
    lon0, lat0 = 121.47, 31.23
    east, north = metres_per_degree(lat0)
    side_lon, side_lat = 1000 / east, 1000 / north
    sq = square(lon0, lat0 - side_lat / 2, lon0 + side_lon, lat0 + side_lat / 2)
    index = ZoneIndex(
        parse_feature_collection(collection(feature("k", "street", sq, squad_id="s")), None)
    )
    # 100 m west of the east edge, on the middle line.
    assert index.match(lon0 + 900 / east, lat0).border_distance_m == pytest.approx(100, abs=0.5)
    # 30 m south of the north edge, 250 m from the sides.
    match = index.match(lon0 + 250 / east, lat0 + 470 / north)
    assert match.border_distance_m == pytest.approx(30, abs=0.5)
    # The centre is 500 m from every side.
    assert index.match(lon0 + 500 / east, lat0).border_distance_m == pytest.approx(500, abs=1.0)


def test_a_hole_is_a_border_and_is_not_inside() -> None:
    with_hole = {
        "type": "Polygon",
        "coordinates": [ring(121.40, 31.20, 121.50, 31.30), ring(121.44, 31.24, 121.46, 31.26)],
    }
    index = ZoneIndex(
        parse_feature_collection(collection(feature("h", "street", with_hole, squad_id="s")), None)
    )
    assert index.match(121.45, 31.25) == NO_MATCH
    east, _ = metres_per_degree(31.25)
    match = index.match(121.462, 31.25)
    assert match.border_distance_m == pytest.approx(0.002 * east, rel=1e-3)


def test_a_multipolygon_zone_matches_in_each_part_only() -> None:
    parts = {
        "type": "MultiPolygon",
        "coordinates": [[ring(121.40, 31.20, 121.41, 31.21)], [ring(121.45, 31.20, 121.46, 31.21)]],
    }
    index = ZoneIndex(
        parse_feature_collection(collection(feature("m", "street", parts, squad_id="multi")), None)
    )
    assert isinstance(index.zones[0].geometry, MultiPolygon)
    assert index.match(121.405, 31.205).squad_id == "multi"
    assert index.match(121.455, 31.205).squad_id == "multi"
    assert index.match(121.43, 31.205) == NO_MATCH


def test_a_long_boundary_gives_the_same_distance_as_a_plain_one() -> None:
    angles = np.linspace(0, 2 * np.pi, 3000, endpoint=False)
    outline = [
        (
            121.47 + 0.02 * math.cos(a) * (1 + 0.2 * math.sin(5 * a)),
            31.23 + 0.015 * math.sin(a) * (1 + 0.2 * math.sin(5 * a)),
        )
        for a in angles
    ]
    geometry = Polygon(outline, [[(121.465, 31.225), (121.475, 31.225), (121.47, 31.232)]])
    zone = Zone("long", "long", ZoneLevel.STREET, None, "s", geometry, {})
    index = ZoneIndex([zone])
    boundary = index.frame.to_metres(geometry).boundary
    rng = np.random.default_rng(5)
    checked = 0
    for lon, lat in zip(
        rng.uniform(121.44, 121.50, 400), rng.uniform(31.21, 31.25, 400), strict=True
    ):
        match = index.match(float(lon), float(lat))
        if match.squad_id is None:
            continue
        checked += 1
        plain = boundary.distance(index.frame.point(float(lon), float(lat)))
        assert match.border_distance_m == pytest.approx(plain, abs=1e-6)
    assert checked > 100


def test_match_many_equals_match_one_by_one(index: ZoneIndex) -> None:
    rng = np.random.default_rng(11)
    lons = [*rng.uniform(121.38, 121.54, 3000).tolist(), 121.48, 121.43, 121.4, 0.0]
    lats = [*rng.uniform(31.18, 31.3, 3000).tolist(), 31.23, 31.235, 31.2, 0.0]
    many = index.match_many(lons, lats)
    assert many == [index.match(lon, lat) for lon, lat in zip(lons, lats, strict=True)]
    assert sum(1 for m in many if m.zones) > 1000
    assert sum(1 for m in many if not m.zones) > 100
    assert index.match_many([], []) == []
    with pytest.raises(ValueError, match="2 longitudes but 1 latitudes"):
        index.match_many([121.4, 121.5], [31.2])


def test_index_lookups(index: ZoneIndex) -> None:
    assert index.version == 7
    assert len(index) == 8
    assert [zone.id for zone in index.zones] == ["D", "S1", "S2", "C1", "G1", "G2", "X1", "X2"]
    street = index.get("S1")
    assert street is not None
    assert street.squad_id == "sq1"
    assert index.get("nope") is None
    assert [zone.id for zone in index.children("D")] == ["S1", "S2"]
    assert [zone.id for zone in index.children("C1")] == ["G1", "G2"]
    assert index.children("G1") == ()
    assert index.children("nope") == ()


def test_an_index_refuses_duplicate_ids_and_may_be_empty() -> None:
    zone = Zone("a", "a", ZoneLevel.GRID, None, None, box(121, 31, 121.1, 31.1), {})
    with pytest.raises(InvalidZones) as caught:
        ZoneIndex([zone, zone])
    assert caught.value.problems == [ZoneProblem("a", 1, "duplicate id 'a'")]
    empty = ZoneIndex([])
    assert empty.match(121.0, 31.0) == NO_MATCH
    assert empty.match_many([121.0], [31.0]) == [NO_MATCH]


def test_zone_levels_rank_largest_first() -> None:
    assert [level.rank for level in ZoneLevel] == [0, 1, 2, 3, 4]
    assert [level.nested for level in ZoneLevel] == [True, True, True, True, False]
    assert ZoneLevel("street") is ZoneLevel.STREET


def test_matching_a_generated_grid_is_consistent() -> None:
    # 30 x 30 cells of 0.001°, sharing edges: every interior point is in exactly one cell.
    cells = [
        feature(
            f"g{i}-{j}",
            "grid",
            square(
                121.4 + i * 0.001, 31.2 + j * 0.001, 121.4 + (i + 1) * 0.001, 31.2 + (j + 1) * 0.001
            ),
            squad_id=f"s{i // 10}",
        )
        for i in range(30)
        for j in range(30)
    ]
    index = ZoneIndex(parse_feature_collection(collection(*cells), None))
    match = index.match(121.4125, 31.2055)
    assert match.zone_ids == ("g12-5",)
    assert match.squad_id == "s1"
    corner = index.match(121.402, 31.203)  # the corner of four cells
    assert len(corner.zones) == 4
    assert corner.border_distance_m == pytest.approx(0.0, abs=1e-6)
    assert shapely.area(np.array([z.geometry for z in corner.zones])).sum() > 0
