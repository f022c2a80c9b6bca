"""Hot spots: where problems cluster, and the places complained of again and again.

Computed with shapely, numpy and pyproj over the incidents received in a period (one category,
or all):

- :func:`zone_heat` counts them per zone of one level (grid cells 万米单元网格, communities,
  streets) with a spatial join of the points on the zones' polygons;
- :func:`cell_heat` counts them per square cell of ``cell_m`` metres of a local metric
  projection anchored at a fixed origin (cells stay put from one query to the next), for a
  heat layer where no grid zones are loaded;
- :func:`repeat_places` finds the places with repeat complaints (重复诉件): complaints of one
  category linked when within ``radius_m`` metres of one another (single linkage: the union of
  ``radius_m / 2`` buffers), kept with at least ``min_count`` complaints, most first.

Each answers a GeoJSON FeatureCollection for the big screen's map. Merged duplicates are left
out of the heat (one problem, one count) but counted as complaints (each is a call).

No pandas or geopandas: they are the zone import's extra (``dispatcher[import]``), which a
server need not carry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import CRS, Transformer

from dispatcher.core.incidents import COMPLAINT_SOURCES
from dispatcher.core.times import in_zone
from dispatcher.store import records as store
from geo.zones import Zone

WGS84: Final = "EPSG:4326"
MAX_LISTED: Final = 20

SELECT_POINTS: Final = """
SELECT id, lon, lat, category, received_at, squad_id,
       CASE WHEN $5 THEN doc->>'address' END AS address
FROM incidents
WHERE received_at >= $1 AND received_at < $2
  AND ($3::text IS NULL OR category = $3)
  AND ($4::text[] IS NULL OR squad_id = ANY($4::text[]) OR support_squad_ids && $4::text[])
  AND (CASE WHEN $5 THEN source = ANY($6::text[]) ELSE state <> 'merged' END)"""

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Query:
    start: datetime
    end: datetime
    category: str | None = None
    #: a tier's squads (None: every squad's incidents)
    squad_ids: Sequence[str] | None = None


@dataclass(frozen=True)
class Row:
    id: str
    lon: float
    lat: float
    category: str
    received_at: datetime
    squad_id: str | None
    address: str | None


@dataclass(frozen=True)
class Points:
    """The incidents of a query, in the order read, and their coordinates as arrays."""

    rows: list[Row]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def lon(self) -> Floats:
        return np.array([r.lon for r in self.rows], dtype=np.float64)

    @property
    def lat(self) -> Floats:
        return np.array([r.lat for r in self.rows], dtype=np.float64)


async def read_points(pool: store.Pool, query: Query, *, complaints: bool) -> Points:
    """The incidents of ``query`` as points (complaints only, merged included, if asked)."""
    rows = await pool.fetch(
        SELECT_POINTS,
        query.start,
        query.end,
        query.category,
        None if query.squad_ids is None else list(query.squad_ids),
        complaints,
        sorted(s.value for s in COMPLAINT_SOURCES),
    )
    return points_of([tuple(r) for r in rows])


def points_of(rows: Sequence[Sequence[Any]]) -> Points:
    """Rows of (id, lon, lat, category, received_at, squad_id, address) as Points."""
    return Points(
        [
            Row(str(i), float(lon), float(lat), str(cat), at, squad, address)
            for i, lon, lat, cat, at, squad, address in rows
        ]
    )


def local_crs(lon0: float, lat0: float) -> CRS:
    """A transverse Mercator in metres centred on ``(lon0, lat0)`` (as geo.distance)."""
    return CRS.from_proj4(
        f"+proj=tmerc +lat_0={lat0!r} +lon_0={lon0!r} +k=1 +x_0=0 +y_0=0"
        " +datum=WGS84 +units=m +no_defs +type=crs"
    )


def _transformers(crs: CRS) -> tuple[Transformer, Transformer]:
    """WGS84 to ``crs`` and back, x before y (longitude first)."""
    return (
        Transformer.from_crs(WGS84, crs, always_xy=True),
        Transformer.from_crs(crs, WGS84, always_xy=True),
    )


def _reproject(geometry: Any, transformer: Transformer) -> Any:
    """``geometry`` with each vertex transformed (as geopandas' to_crs: no densifying)."""

    def move(xy: Floats) -> Floats:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geometry, move)


def _collection(features: list[dict[str, Any]], **members: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, **members}


def zone_heat(points: Points, zones: Sequence[Zone], level: str) -> dict[str, Any]:
    """Counts per zone of ``level`` (zones without incidents left out), most first."""
    chosen = [z for z in zones if z.level.value == level]
    if not len(points) or not chosen:
        return _collection([], level=level, total=len(points), outside=len(points))
    tree = shapely.STRtree([z.geometry for z in chosen])
    inside, within = tree.query(shapely.points(points.lon, points.lat), predicate="within")
    members: dict[int, set[str]] = {}
    for p, z in zip(inside.tolist(), within.tolist(), strict=True):
        members.setdefault(z, set()).add(points.rows[p].id)
    ranked = sorted(members.items(), key=lambda item: (-len(item[1]), item[0]))
    features = []
    for index, ids in ranked:
        zone = chosen[index]
        feature = zone.to_feature()
        feature["properties"] = {
            "zone_id": zone.id,
            "name": zone.name,
            "level": level,
            "squad_id": zone.squad_id,
            "count": len(ids),
        }
        features.append(feature)
    counted = len({points.rows[p].id for p in inside.tolist()})
    return _collection(features, level=level, total=len(points), outside=len(points) - counted)


def cell_heat(points: Points, cell_m: float, origin: tuple[float, float]) -> dict[str, Any]:
    """Counts per ``cell_m`` square of the local projection centred on ``origin``."""
    if not len(points):
        return _collection([], cell_m=cell_m, total=0)
    forward, back = _transformers(local_crs(*origin))
    x, y = forward.transform(points.lon, points.lat)
    ix = np.floor(np.asarray(x) / cell_m).astype(np.int64).tolist()
    iy = np.floor(np.asarray(y) / cell_m).astype(np.int64).tolist()
    counts = Counter(zip(ix, iy, strict=True))
    features = []
    for (cx, cy), n in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        square = shapely.box(cx * cell_m, cy * cell_m, (cx + 1) * cell_m, (cy + 1) * cell_m)
        features.append(
            {
                "type": "Feature",
                "id": f"{cx}:{cy}",
                "geometry": shapely.geometry.mapping(_reproject(square, back)),
                "properties": {"cell": f"{cx}:{cy}", "count": n},
            }
        )
    return _collection(features, cell_m=cell_m, origin=list(origin), total=len(points))


def repeat_places(
    points: Points, radius_m: float, min_count: int, top: int, tz: tzinfo | None = None
) -> dict[str, Any]:
    """Places with at least ``min_count`` complaints of one category, most complaints first;
    their first and last times in ``tz`` (the deployment's zone) when given."""
    if not len(points):
        return _collection([], radius_m=radius_m, min_count=min_count, total=0)
    lon, lat = points.lon, points.lat
    forward, back = _transformers(local_crs(float(lon.mean()), float(lat.mean())))
    x, y = (np.asarray(a) for a in forward.transform(lon, lat))
    by_category: dict[str, list[int]] = {}
    for i, row in enumerate(points.rows):
        by_category.setdefault(row.category, []).append(i)
    places: list[dict[str, Any]] = []
    for category, group in sorted(by_category.items()):
        spots = shapely.points(x[group], y[group])
        merged = shapely.union_all(shapely.buffer(spots, radius_m / 2))
        blobs = list(getattr(merged, "geoms", [merged]))
        inside, blob = shapely.STRtree(blobs).query(spots, predicate="within")
        members: dict[int, list[int]] = {}
        for p, b in zip(inside.tolist(), blob.tolist(), strict=True):
            members.setdefault(b, []).append(group[p])
        for _, chosen in sorted(members.items()):
            if len(chosen) >= min_count:
                places.append(
                    _place(category, [points.rows[i] for i in chosen], x, y, chosen, back, tz)
                )
    places.sort(key=lambda p: (-p["properties"]["count"], p["properties"]["last_at"]))
    return _collection(places[:top], radius_m=radius_m, min_count=min_count, total=len(points))


def _place(
    category: str,
    rows: list[Row],
    x: Floats,
    y: Floats,
    chosen: list[int],
    back: Transformer,
    tz: tzinfo | None = None,
) -> dict[str, Any]:
    lon, lat = back.transform(float(x[chosen].mean()), float(y[chosen].mean()))
    newest = sorted(rows, key=lambda r: r.received_at, reverse=True)
    addresses = Counter(r.address for r in rows if r.address is not None)
    # the most frequent address; of equally frequent ones, the first in order (as pandas' mode)
    address = min(addresses, key=lambda a: (-addresses[a], a)) if addresses else None
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]},
        "properties": {
            "category": category,
            "count": len(rows),
            "incident_ids": [r.id for r in newest[:MAX_LISTED]],
            "first_at": in_zone(min(r.received_at for r in rows), tz),
            "last_at": in_zone(max(r.received_at for r in rows), tz),
            "address": address,
            "squad_ids": sorted({r.squad_id for r in rows if r.squad_id is not None}),
        },
    }
