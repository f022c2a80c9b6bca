"""Real boundary files for the import tests, written by geopandas from shapely geometry.

A small district in Shanghai, drawn in metres on a plane around (121.47, 31.23) and turned
into WGS84: the district, two streets side by side, three communities, four grid cells in
the first community (which therefore has a gap: a warning, not a refusal)::

    D (4 km × 3 km, squad centre)
    ├── S1 west half (squad sq-1) ── C1 south, with G1..G4 ── C2 north
    └── S2 east half (squad sq-2) ── C3

:func:`write` saves it as any format and coordinate system; :func:`broken` and
:func:`repairable` build the sets that arrive damaged.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from geo.distance import LocalFrame

FRAME: Final = LocalFrame(121.47, 31.23)
SQUADS: Final = ("centre", "sq-1", "sq-2")
#: a point (WGS84) inside G1, C1, S1 and D
IN_G1: Final = FRAME.to_wgs84(box(100, 100, 101, 101)).centroid.coords[0]
#: a point inside C3, S2 and D
IN_C3: Final = FRAME.to_wgs84(box(3000, 1500, 3001, 1501)).centroid.coords[0]


def _wgs(shape: BaseGeometry) -> BaseGeometry:
    return FRAME.to_wgs84(shape)


def rows() -> list[dict[str, Any]]:
    """The district's zones: properties and a WGS84 geometry each."""
    zones: list[dict[str, Any]] = [
        {
            "id": "D",
            "name": "示范区",
            "level": "district",
            "parent_id": None,
            "squad_id": "centre",
            "geometry": box(0, 0, 4000, 3000),
        },
        {
            "id": "S1",
            "name": "西街道",
            "level": "street",
            "parent_id": "D",
            "squad_id": "sq-1",
            "geometry": box(0, 0, 2000, 3000),
        },
        {
            "id": "S2",
            "name": "东街道",
            "level": "street",
            "parent_id": "D",
            "squad_id": "sq-2",
            "geometry": box(2000, 0, 4000, 3000),
        },
        {
            "id": "C1",
            "name": "西一社区",
            "level": "community",
            "parent_id": "S1",
            "squad_id": None,
            "geometry": box(0, 0, 2000, 1500),
        },
        {
            "id": "C2",
            "name": "西二社区",
            "level": "community",
            "parent_id": "S1",
            "squad_id": None,
            "geometry": box(0, 1500, 2000, 3000),
        },
        {
            "id": "C3",
            "name": "东一社区",
            "level": "community",
            "parent_id": "S2",
            "squad_id": None,
            "geometry": box(2000, 0, 4000, 3000),
        },
    ]
    for n, (x, y) in enumerate([(0, 0), (500, 0), (0, 500), (500, 500)], start=1):
        zones.append(
            {
                "id": f"G{n}",
                "name": f"网格{n}",
                "level": "grid",
                "parent_id": "C1",
                "squad_id": None,
                "geometry": box(x, y, x + 500, y + 500),
            }
        )
    for zone in zones:
        zone["geometry"] = _wgs(zone["geometry"])
    return zones


def frame_of(zones: list[dict[str, Any]], crs: str | int = 4326) -> gpd.GeoDataFrame:
    """A GeoDataFrame of ``zones`` (WGS84 geometry) in ``crs``."""
    frame = gpd.GeoDataFrame(zones, geometry="geometry", crs=4326)
    return frame if str(crs) in ("4326", "EPSG:4326") else frame.to_crs(crs)


def write(
    folder: Path,
    name: str,
    zones: list[dict[str, Any]] | None = None,
    *,
    crs: str | int = 4326,
    declare_crs: bool = True,
    rename: dict[str, str] | None = None,
) -> Path:
    """Write ``zones`` (default :func:`rows`) as ``name``: ``.geojson``, ``.shp``, ``.gpkg``,
    or ``.zip`` (a zipped Shapefile). ``declare_crs`` False leaves the CRS out (no .prj)."""
    frame = frame_of(zones if zones is not None else rows(), crs)
    if rename:
        frame = frame.rename(columns=rename)
    path = folder / name
    if path.suffix == ".zip":
        inner = folder / (path.stem + "_shp")
        inner.mkdir()
        shp = write(
            inner, path.stem + ".shp", zones, crs=crs, declare_crs=declare_crs, rename=rename
        )
        with zipfile.ZipFile(path, "w") as archive:
            for part in sorted(inner.iterdir()):
                archive.write(part, part.name)
        assert shp.exists()
        return path
    frame.to_file(path)
    if not declare_crs:
        path.with_suffix(".prj").unlink()
    return path


def _bowtie(zone: dict[str, Any]) -> Polygon:
    """The zone's square drawn with two corners swapped: a ring crossing itself."""
    minx, miny, maxx, maxy = zone["geometry"].bounds
    return Polygon([(minx, miny), (maxx, maxy), (maxx, miny), (minx, maxy), (minx, miny)])


def _touching_itself(zone: dict[str, Any]) -> Polygon:
    """The zone's square with a ring that touches itself (a loop pinched at one point)."""
    minx, miny, maxx, maxy = zone["geometry"].bounds
    mx, my = (minx + maxx) / 2, (miny + maxy) / 2
    return Polygon(
        [(minx, miny), (maxx, miny), (mx, my), (maxx, maxy), (minx, maxy), (mx, my), (minx, miny)]
    )


def repairable() -> list[dict[str, Any]]:
    """The district with two grid cells whose rings cross or touch themselves."""
    zones = rows()
    for zone in zones:
        if zone["id"] == "G2":
            zone["geometry"] = _bowtie(zone)
        if zone["id"] == "G3":
            zone["geometry"] = _touching_itself(zone)
    return zones


def broken() -> list[dict[str, Any]]:
    """The district arriving broken: invalid rings (G2, G3), a grid cell without an id, a
    community (C2) pushed 300 m south over its sibling C1, and a grid cell (G4) pushed 1.3 km
    east, half out of its community."""
    zones = repairable()
    zones.append(
        {
            "id": None,
            "name": "无编号网格",
            "level": "grid",
            "parent_id": "C2",
            "squad_id": None,
            "geometry": _wgs(box(0, 2000, 500, 2500)),
        }
    )
    for zone in zones:
        if zone["id"] == "C2":
            zone["geometry"] = _wgs(box(0, 1200, 2000, 2700))
        if zone["id"] == "G4":
            zone["geometry"] = _wgs(box(1800, 500, 2300, 1000))
    return zones
