"""Hot spots: where problems cluster, and the places complained of again and again.

Computed with geopandas over the incidents received in a period (one category, or all):

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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from dispatcher.core.incidents import COMPLAINT_SOURCES
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
_COLUMNS: Final = ["id", "lon", "lat", "category", "received_at", "squad_id", "address"]


@dataclass(frozen=True)
class Query:
    start: datetime
    end: datetime
    category: str | None = None
    #: a tier's squads (None: every squad's incidents)
    squad_ids: Sequence[str] | None = None


async def read_points(pool: store.Pool, query: Query, *, complaints: bool) -> gpd.GeoDataFrame:
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
    return points_frame([tuple(r) for r in rows])


def points_frame(rows: Sequence[Sequence[Any]]) -> gpd.GeoDataFrame:
    """Rows of (id, lon, lat, category, received_at, squad_id, address) as a GeoDataFrame."""
    frame = pd.DataFrame(list(rows), columns=_COLUMNS)
    geometry = gpd.points_from_xy(frame["lon"].astype(float), frame["lat"].astype(float))
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=WGS84)


def local_crs(lon0: float, lat0: float) -> CRS:
    """A transverse Mercator in metres centred on ``(lon0, lat0)`` (as geo.distance)."""
    return CRS.from_proj4(
        f"+proj=tmerc +lat_0={lat0!r} +lon_0={lon0!r} +k=1 +x_0=0 +y_0=0"
        " +datum=WGS84 +units=m +no_defs +type=crs"
    )


def _collection(features: list[dict[str, Any]], **members: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, **members}


def zone_heat(points: gpd.GeoDataFrame, zones: Sequence[Zone], level: str) -> dict[str, Any]:
    """Counts per zone of ``level`` (zones without incidents left out), most first."""
    chosen = [z for z in zones if z.level.value == level]
    if points.empty or not chosen:
        return _collection([], level=level, total=len(points), outside=len(points))
    frame = gpd.GeoDataFrame(
        {"zone_id": [z.id for z in chosen]}, geometry=[z.geometry for z in chosen], crs=WGS84
    )
    joined = gpd.sjoin(points[["id", "geometry"]], frame, how="inner", predicate="within")
    counts = joined.groupby("zone_id")["id"].nunique().sort_values(ascending=False)
    by_id = {z.id: z for z in chosen}
    features = []
    for zone_id, count in counts.items():
        zone = by_id[str(zone_id)]
        feature = zone.to_feature()
        feature["properties"] = {
            "zone_id": zone.id,
            "name": zone.name,
            "level": level,
            "squad_id": zone.squad_id,
            "count": int(count),
        }
        features.append(feature)
    inside = int(joined["id"].nunique())
    return _collection(features, level=level, total=len(points), outside=len(points) - inside)


def cell_heat(
    points: gpd.GeoDataFrame, cell_m: float, origin: tuple[float, float]
) -> dict[str, Any]:
    """Counts per ``cell_m`` square of the local projection centred on ``origin``."""
    if points.empty:
        return _collection([], cell_m=cell_m, total=0)
    crs = local_crs(*origin)
    metric = points.to_crs(crs)
    ix = np.floor(metric.geometry.x.to_numpy() / cell_m).astype(np.int64)
    iy = np.floor(metric.geometry.y.to_numpy() / cell_m).astype(np.int64)
    counts = pd.Series(1, index=pd.MultiIndex.from_arrays([ix, iy])).groupby(level=[0, 1]).sum()
    counts = counts.sort_values(ascending=False)
    cells = gpd.GeoSeries(
        [
            shapely.box(x * cell_m, y * cell_m, (x + 1) * cell_m, (y + 1) * cell_m)
            for x, y in counts.index
        ],
        crs=crs,
    ).to_crs(WGS84)
    features = [
        {
            "type": "Feature",
            "id": f"{x}:{y}",
            "geometry": shapely.geometry.mapping(cell),
            "properties": {"cell": f"{x}:{y}", "count": int(n)},
        }
        for (x, y), n, cell in zip(counts.index, counts.to_numpy(), cells, strict=True)
    ]
    return _collection(features, cell_m=cell_m, origin=list(origin), total=len(points))


def repeat_places(
    points: gpd.GeoDataFrame, radius_m: float, min_count: int, top: int
) -> dict[str, Any]:
    """Places with at least ``min_count`` complaints of one category, most complaints first."""
    if points.empty:
        return _collection([], radius_m=radius_m, min_count=min_count, total=0)
    origin = (float(points.geometry.x.mean()), float(points.geometry.y.mean()))
    crs = local_crs(*origin)
    metric = points.to_crs(crs)
    places: list[dict[str, Any]] = []
    for category, group in metric.groupby("category"):
        merged = shapely.union_all(group.geometry.buffer(radius_m / 2).to_numpy())
        blobs = gpd.GeoDataFrame(geometry=list(getattr(merged, "geoms", [merged])), crs=crs)
        joined = gpd.sjoin(group, blobs, how="inner", predicate="within")
        for _, members in joined.groupby("index_right"):
            if len(members) >= min_count:
                places.append(_place(str(category), members, crs))
    places.sort(key=lambda p: (-p["properties"]["count"], p["properties"]["last_at"]))
    return _collection(places[:top], radius_m=radius_m, min_count=min_count, total=len(points))


def _place(category: str, members: gpd.GeoDataFrame, crs: CRS) -> dict[str, Any]:
    centre = gpd.GeoSeries(
        [shapely.Point(members.geometry.x.mean(), members.geometry.y.mean())], crs=crs
    ).to_crs(WGS84)[0]
    newest = members.sort_values("received_at", ascending=False)
    addresses = newest["address"].dropna()
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [round(centre.x, 7), round(centre.y, 7)]},
        "properties": {
            "category": category,
            "count": len(members),
            "incident_ids": [str(i) for i in newest["id"].head(MAX_LISTED)],
            "first_at": members["received_at"].min().isoformat(),
            "last_at": members["received_at"].max().isoformat(),
            "address": str(addresses.mode().iloc[0]) if not addresses.empty else None,
            "squad_ids": sorted({str(s) for s in members["squad_id"].dropna()}),
        },
    }
