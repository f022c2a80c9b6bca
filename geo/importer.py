"""Zone sets from boundary files: GeoJSON, Shapefile (zipped or not) and GeoPackage.

:func:`read_zone_file` reads a file through geopandas (pyogrio), brings it to WGS84, maps its
fields to a zone's ``id``, ``name``, ``level``, ``parent_id`` and ``squad_id``, optionally
repairs invalid geometry with shapely's ``make_valid``, and checks the result exactly as
``PUT /api/v1/zones`` does (:func:`geo.zones.check_zone_set`). It answers a
:class:`ZoneFile`: the FeatureCollection ready for the zone store, and a report naming every
problem, repair and warning. It changes nothing; ``dispatch zones import`` loads the
collection through the same path as ``PUT /api/v1/zones`` when the report allows.

Coordinate systems: the file's own (a ``.prj``, a GeoPackage's SRS, GeoJSON's WGS84) unless
``crs`` overrides it, as it must when the file is silent or wrong. ``crs`` is anything pyproj
knows (``EPSG:4549``, ``EPSG:32651``, a WKT) or one of the Chinese web-map systems
(``GCJ02``, ``BD09``), which no EPSG code describes and which are converted point by point.

This is the one module of ``geo`` that reads files; it is imported only by the command that
needs it (geopandas takes a while to import).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyproj import CRS as ProjCRS
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon, Polygon, mapping

from geo.coords import CRS, parse_crs, to_wgs84
from geo.distance import LocalFrame
from geo.errors import InvalidCoordinates
from geo.geojson import explain_invalid
from geo.slivers import SliverLimits
from geo.topology import DEFAULT_TOLERANCE_M
from geo.zone import RESERVED_PROPERTIES, ZoneProblem, feature_collection
from geo.zones import ZoneSetReport, check_zone_set

WGS84: Final = ProjCRS.from_epsg(4326)
CRS_EXAMPLES: Final = "EPSG:4326, EPSG:4490 (CGCS2000), EPSG:4549, EPSG:32651, GCJ02, BD09"


@dataclass(frozen=True)
class FieldMap:
    """Which field of the file holds what. ``level`` (when given) is the level of every
    feature, instead of reading ``level_field``."""

    id: str = "id"
    name: str = "name"
    level: str | None = None
    level_field: str = "level"
    parent: str = "parent_id"
    squad: str = "squad_id"


@dataclass(frozen=True)
class Repair:
    """One geometry fixed by ``make_valid``: what was wrong, and what it became."""

    id: str | None
    index: int
    was: str
    now: str


@dataclass
class ZoneFile:
    """What was read from a file, and whether it may become the zone set."""

    path: Path
    features: int = 0
    layer: str | None = None
    crs_note: str = ""
    notes: list[str] = field(default_factory=list)
    repairs: list[Repair] = field(default_factory=list)
    #: problems with the file as a whole (unreadable, no coordinate system)
    file_problems: list[ZoneProblem] = field(default_factory=list)
    collection: dict[str, Any] | None = None
    report: ZoneSetReport | None = None

    @property
    def problems(self) -> list[ZoneProblem]:
        return self.file_problems + (self.report.problems if self.report else [])

    @property
    def warnings(self) -> list[ZoneProblem]:
        return self.report.warnings if self.report else []

    @property
    def ok(self) -> bool:
        return self.collection is not None and not self.problems


def read_zone_file(
    path: Path,
    *,
    crs: str | None = None,
    fields: FieldMap = FieldMap(),
    repair: bool = False,
    known_squads: Collection[str] | None = None,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    limits: SliverLimits | None = None,
) -> ZoneFile:
    """Read, convert and check a boundary file; never raises for a bad file, reports it.

    ``known_squads`` as for ``check_zone_set`` (None: squad ids are not checked); ``limits``
    says which overlaps and gaps between siblings are slivers, accepted and reported. With
    ``repair``, invalid geometry is made valid and ``check_zone_set`` resolves overlaps and
    closes sliver gaps: :attr:`ZoneFile.collection` is then the repaired set. The caller
    loads :attr:`ZoneFile.collection` only when :attr:`ZoneFile.ok`.
    """
    result = ZoneFile(path)
    try:
        frame = _read(path, result)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        result.file_problems.append(ZoneProblem(None, -1, f"cannot read {path.name}: {exc}"))
        return result
    result.features = len(frame)
    frame = _to_wgs84(frame, crs, result)
    if frame is None:
        return result
    missing = [
        f"{what} field {name!r}"
        for what, name in (("id", fields.id), ("name", fields.name))
        if name not in frame.columns
    ]
    if fields.level is None and fields.level_field not in frame.columns:
        missing.append(f"level field {fields.level_field!r} (or give --level)")
    if missing:
        shown = ", ".join(str(c) for c in frame.columns if c != "geometry") or "none"
        result.notes.append(f"the file has no {'; no '.join(missing)}; its fields: {shown}")
    features = _features(frame, fields, repair, result)
    result.collection = {"type": "FeatureCollection", "features": features}
    result.report = check_zone_set(
        result.collection, known_squads, tolerance_m=tolerance_m, limits=limits, repair=repair
    )
    if repair and result.report.ok:
        result.collection = feature_collection(result.report.zones)
    if not repair and any(p.reason.startswith("invalid geometry") for p in result.problems):
        result.notes.append("some geometry is invalid; --repair fixes what make_valid can")
    return result


def _read(path: Path, result: ZoneFile) -> gpd.GeoDataFrame:
    if not path.exists():
        raise OSError(f"no such file: {path}")
    layers = pyogrio.list_layers(path)
    if len(layers) > 1:
        result.notes.append(
            f"{len(layers)} layers; the first, {layers[0][0]!r}, was read"
            f" (others: {', '.join(str(name) for name, _ in layers[1:6])})"
        )
    result.layer = str(layers[0][0]) if len(layers) else None
    frame: gpd.GeoDataFrame = gpd.read_file(path, engine="pyogrio")
    return frame


def _crs_name(crs: ProjCRS) -> str:
    code = crs.to_epsg()
    return f"EPSG:{code} ({crs.name})" if code else crs.name


def _to_wgs84(frame: gpd.GeoDataFrame, given: str | None, result: ZoneFile) -> Any:
    """The frame in WGS84 degrees, or None (with a file problem) when its CRS is unknown."""
    declared: ProjCRS | None = frame.crs
    web: CRS | None = None
    chosen = declared
    if given:
        try:
            web = parse_crs(given)
            chosen = WGS84
        except InvalidCoordinates:
            try:
                chosen = ProjCRS.from_user_input(given)
            except CRSError:
                reason = f"--crs {given!r} is not a coordinate system (e.g. {CRS_EXAMPLES})"
                result.file_problems.append(ZoneProblem(None, -1, reason))
                return None
        if declared is not None and (not declared.equals(chosen) or web not in (None, CRS.WGS84)):
            result.notes.append(f"the file declares {_crs_name(declared)}; --crs overrides it")
    if chosen is None:
        reason = f"the file declares no coordinate system; name it with --crs ({CRS_EXAMPLES})"
        result.file_problems.append(ZoneProblem(None, -1, reason))
        return None
    frame = frame.set_crs(chosen, allow_override=True)
    steps = [_crs_name(chosen)]
    if not chosen.equals(WGS84):
        frame = frame.to_crs(WGS84)
        steps.append("WGS84")
    if web in (CRS.GCJ02, CRS.BD09):
        frame = frame.set_geometry(_unshift(frame.geometry.values, web))
        steps = [web.value, "WGS84 (point by point)"]
    result.crs_note = " → ".join(steps)
    return frame


def _unshift(geometries: Any, web: CRS) -> Any:
    """Convert GCJ-02 or BD-09 geometry to WGS84, vertex by vertex."""

    def convert(coords: Any) -> Any:
        out = np.array(coords, dtype=np.float64, copy=True)
        for row in out:
            lon, lat = float(row[0]), float(row[1])
            if math.isfinite(lon) and math.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90:
                row[0], row[1] = to_wgs84(lon, lat, web)
        return out

    return shapely.transform(geometries, convert)


def _plain(value: Any) -> Any:
    """A file's value as JSON: numpy scalars unwrapped, NaN and NaT as null, times as text."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, str | int | bool):
        return value
    if hasattr(value, "isoformat"):
        try:
            return value.isoformat()
        except ValueError:  # NaT
            return None
    if isinstance(value, bytes):
        return None
    return str(value)


def _reference(value: Any) -> Any:
    """An id-like value: integral numbers as integers, empty text as missing."""
    value = _plain(value)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _polygonal(geometry: Any) -> Polygon | MultiPolygon | None:
    parts = [
        part
        for part in shapely.get_parts(geometry).tolist()
        if isinstance(part, Polygon | MultiPolygon) and not part.is_empty
    ]
    polygons = [p for part in parts for p in shapely.get_parts(part).tolist()]
    if not polygons:
        return None
    return polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)


def _repaired(geometry: Any, index: int, zone_id: Any, result: ZoneFile) -> Any:
    """``geometry`` made valid (and recorded), or unchanged when it cannot be."""
    was = explain_invalid(str(shapely.is_valid_reason(geometry)))
    fixed = _polygonal(shapely.make_valid(geometry))
    shown = None if zone_id is None else str(zone_id)
    if fixed is None or not fixed.is_valid:
        result.repairs.append(Repair(shown, index, was, "not repaired: nothing of it is an area"))
        return geometry
    frame = LocalFrame.around(*fixed.bounds)
    area = float(shapely.area(frame.to_metres(fixed)))
    parts = len(shapely.get_parts(fixed))
    what = f"{fixed.geom_type} of {parts} part(s), {area:,.0f} m²"
    result.repairs.append(Repair(shown, index, was, f"repaired by make_valid: now a {what}"))
    return fixed


def _features(
    frame: gpd.GeoDataFrame, fields: FieldMap, repair: bool, result: ZoneFile
) -> list[dict[str, Any]]:
    mapped = {fields.id, fields.name, fields.level_field, fields.parent, fields.squad, "geometry"}
    extra = [c for c in frame.columns if c not in mapped and c not in RESERVED_PROPERTIES]
    records = frame.drop(columns="geometry").to_dict("records")
    features: list[dict[str, Any]] = []
    for index, (row, read) in enumerate(zip(records, frame.geometry.values, strict=True)):
        zone_id = _reference(row.get(fields.id))
        properties: dict[str, Any] = {c: _plain(row.get(c)) for c in extra}
        properties.update(
            name=_plain(row.get(fields.name)),
            level=fields.level if fields.level is not None else _plain(row.get(fields.level_field)),
            parent_id=_reference(row.get(fields.parent)),
            squad_id=_reference(row.get(fields.squad)),
        )
        feature: dict[str, Any] = {"type": "Feature", "properties": properties, "geometry": None}
        if zone_id is not None:
            feature["id"] = zone_id
        if read is not None and not shapely.is_empty(read):
            valid = read if not repair or shapely.is_valid(read) else None
            geometry = valid if valid is not None else _repaired(read, index, zone_id, result)
            feature["geometry"] = mapping(geometry)
        features.append(feature)
    return features


def _line(problem: ZoneProblem) -> str:
    if problem.index < 0:
        return f"  {problem.reason}"
    name = f"{problem.id!r}" if problem.id is not None else "(no id)"
    return f"  feature {problem.index} {name}: {problem.reason}"


def format_report(result: ZoneFile, *, dry_run: bool, loaded: str | None = None) -> str:
    """The report ``dispatch zones import`` prints: every problem, repair and warning."""
    layer = f", layer {result.layer!r}" if result.layer else ""
    lines = [f"zones import: {result.path}{layer}: {result.features} feature(s)"]
    if result.crs_note:
        lines.append(f"coordinate system: {result.crs_note}")
    lines.extend(f"note: {note}" for note in result.notes)
    if result.repairs:
        lines.append(f"repairs ({len(result.repairs)}):")
        for r in result.repairs:
            name = f"{r.id!r}" if r.id is not None else "(no id)"
            lines.append(f"  feature {r.index} {name}: {r.was}; {r.now}")
    problems = result.problems
    if problems:
        lines.append(f"problems ({len(problems)}):")
        lines.extend(_line(p) for p in problems)
    corrections = result.report.corrections if result.report else []
    if corrections:
        lines.append(f"corrections ({len(corrections)}):")
        lines.extend(f"  {c.describe()}" for c in corrections)
    slivers = result.report.slivers if result.report else []
    if slivers:
        lines.append(
            f"slivers ({len(slivers)}), accepted; points in them are flagged near a border:"
        )
        lines.extend(f"  {s.describe()}" for s in slivers)
    if result.warnings:
        lines.append(f"warnings ({len(result.warnings)}), accepted:")
        lines.extend(_line(w) for w in result.warnings)
    if problems:
        lines.append(f"REFUSED: {len(problems)} problem(s); nothing was changed")
    elif dry_run:
        count = len(result.report.zones) if result.report else 0
        lines.append(f"dry run: {count} zone(s) are valid; nothing was changed")
    elif loaded:
        lines.append(loaded)
    return "\n".join(lines)
