"""Reading one GeoJSON Polygon or MultiPolygon, defensively.

The input is an already JSON-decoded value from an outside party, so nothing is assumed:
every level of nesting is checked with a fixed-depth loop (a hostile, deeply nested list
cannot cause a RecursionError), positions are counted against a budget before they are
read (a huge geometry is refused, not processed), and no message ever quotes a raw input
value other than a short number or string.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Final

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon

from geo.errors import InvalidGeometry

Position = tuple[float, float]
Ring = list[Position]

_VALID: Final = "Valid Geometry"
_GEOS_REASON: Final = re.compile(r"^(?P<what>[^\[]+)\[(?P<x>\S+) (?P<y>\S+)\]\s*$")
_PHRASES: Final = {
    "self-intersection": "self-intersection",
    "ring self-intersection": "a ring touches itself",
    "hole lies outside shell": "a hole lies outside its exterior ring",
    "nested holes": "a hole lies inside another hole",
    "interior is disconnected": "holes split the interior into parts",
    "nested shells": "one polygon lies inside another",
    "duplicate rings": "two rings are identical",
    "too few points": "too few distinct points",
    "invalid coordinate": "an invalid coordinate",
}


def json_kind(value: object) -> str:
    """Name the JSON type of a decoded value ("object", "array", ...) for a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def short(value: str, limit: int = 40) -> str:
    """Quote a string from the input for a message, cut to ``limit`` characters."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and abs(value) < 10**12:
        return str(value)
    return "a huge number"


class PositionBudget:
    """Counts the positions read, per geometry and in all, and stops reading past a limit.

    Share one budget across every geometry of a collection; :func:`read_polygonal` calls
    :meth:`start` for each geometry.
    """

    def __init__(self, total: int, per_geometry: int) -> None:
        self.total = total
        self.per_geometry = per_geometry
        self.used = 0
        self._in_geometry = 0

    @property
    def exhausted(self) -> bool:
        """True once more than ``total`` positions were met: read nothing more."""
        return self.used > self.total

    def start(self) -> None:
        """Begin counting a new geometry."""
        self._in_geometry = 0

    def take(self, count: int) -> None:
        """Count ``count`` positions; raise InvalidGeometry (``too_large``) past a limit."""
        self.used += count
        self._in_geometry += count
        if self._in_geometry > self.per_geometry:
            raise InvalidGeometry(
                f"geometry has more than {self.per_geometry:,} positions; simplify or split it",
                too_large=True,
            )
        if self.used > self.total:
            raise InvalidGeometry(
                f"the collection holds more than {self.total:,} positions in all; this "
                "geometry and those after it were not read",
                too_large=True,
            )


def _coordinate(value: object, axis: str, limit: int, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidGeometry(f"{where}: {axis} is {json_kind(value)}, not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidGeometry(f"{where}: {axis} is not a finite number")
    if not -limit <= value <= limit:
        raise InvalidGeometry(f"{where}: {axis} {_number(value)} is outside -{limit}..{limit}")
    return float(value)


def _ring(value: object, where: str, budget: PositionBudget) -> Ring:
    if not isinstance(value, list | tuple):
        raise InvalidGeometry(f"{where} is {json_kind(value)}, not an array of positions")
    budget.take(len(value))
    if len(value) < 4:
        raise InvalidGeometry(f"{where} has {len(value)} positions; a closed ring needs at least 4")
    ring: Ring = []
    for k, position in enumerate(value):
        if not isinstance(position, list | tuple) or not 2 <= len(position) <= 3:
            raise InvalidGeometry(f"{where}, position {k}: not [lon, lat] or [lon, lat, alt]")
        here = f"{where}, position {k}"
        lon = _coordinate(position[0], "longitude", 180, here)
        lat = _coordinate(position[1], "latitude", 90, here)
        if len(position) == 3:
            _coordinate(position[2], "altitude", 10**7, here)
        ring.append((lon, lat))
    if ring[0] != ring[-1]:
        raise InvalidGeometry(f"{where} is not closed: its first and last positions differ")
    return ring


def _polygon(value: object, where: str, budget: PositionBudget) -> Polygon:
    """Read one polygon's rings; ``where`` is "" for a Polygon, "polygon 3" in a MultiPolygon."""
    if not isinstance(value, list | tuple):
        raise InvalidGeometry(f"{where or 'polygon'} is {json_kind(value)}, not an array of rings")
    if not value:
        raise InvalidGeometry(f"{where or 'polygon'} has no rings")
    prefix = f"{where}, " if where else ""
    rings = [
        _ring(ring, prefix + ("exterior ring" if j == 0 else f"ring {j} (a hole)"), budget)
        for j, ring in enumerate(value)
    ]
    return Polygon(rings[0], rings[1:])


def read_point(value: object) -> Point:
    """Read a GeoJSON Point's coordinates, ``[lon, lat]`` or ``[lon, lat, alt]`` (WGS84);
    raise :class:`InvalidGeometry` with the first problem found."""
    if not isinstance(value, list | tuple) or not 2 <= len(value) <= 3:
        raise InvalidGeometry(f"point is {json_kind(value)}, not [lon, lat] or [lon, lat, alt]")
    lon = _coordinate(value[0], "longitude", 180, "point")
    lat = _coordinate(value[1], "latitude", 90, "point")
    if len(value) == 3:
        _coordinate(value[2], "altitude", 10**7, "point")
    return Point(lon, lat)


def explain_invalid(reason: str) -> str:
    """Turn a GEOS validity reason ("Self-intersection[121.5 31.24]") into English."""
    match = _GEOS_REASON.match(reason)
    if match is None:
        return f"invalid geometry: {reason.lower()}"
    what = match["what"].strip().lower()
    phrase = _PHRASES.get(what, what)
    try:
        x, y = float(match["x"]), float(match["y"])
    except ValueError:
        return f"invalid geometry: {phrase}"
    return f"invalid geometry: {phrase} at ({x:.6f}, {y:.6f})"


def read_polygonal(
    value: object, budget: PositionBudget, *, fixes: list[str] | None = None
) -> Polygon | MultiPolygon:
    """Read a decoded GeoJSON geometry that must be a Polygon or MultiPolygon.

    Returns a valid, non-empty shapely geometry (altitudes dropped). Raises
    :class:`InvalidGeometry` with the first problem found; ``too_large`` is set when the
    budget ran out, and reading stopped there. With ``fixes`` given, an invalid geometry
    (a self-intersection, a bow-tie) is made valid by shapely's ``make_valid`` instead, and
    what was wrong is appended to ``fixes``.
    """
    budget.start()
    if value is None:
        raise InvalidGeometry("geometry is missing")
    if not isinstance(value, dict):
        raise InvalidGeometry(f"geometry is {json_kind(value)}, not an object")
    kind = value.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        shown = short(kind) if isinstance(kind, str) else json_kind(kind)
        raise InvalidGeometry(
            f"geometry type {shown} is not allowed; expected Polygon or MultiPolygon"
        )
    coordinates = value.get("coordinates")
    if not isinstance(coordinates, list | tuple):
        raise InvalidGeometry(f"{kind} coordinates are {json_kind(coordinates)}, not an array")
    if not coordinates:
        raise InvalidGeometry(f"geometry is empty: the {kind} has no coordinates")
    geometry: Polygon | MultiPolygon
    if kind == "Polygon":
        geometry = _polygon(coordinates, "", budget)
    else:
        parts: Sequence[object] = coordinates
        geometry = MultiPolygon(
            [_polygon(part, f"polygon {i}", budget) for i, part in enumerate(parts)]
        )
    if not shapely.is_valid(geometry):
        reason = explain_invalid(str(shapely.is_valid_reason(geometry)))
        if fixes is None:
            raise InvalidGeometry(reason)
        from geo.repair import polygonal  # noqa: PLC0415 (geo.repair imports this module's users)

        fixed = polygonal(geometry)
        if fixed is None or not shapely.is_valid(fixed):
            raise InvalidGeometry(f"{reason}; make_valid leaves no area")
        fixes.append(reason)
        return fixed
    return geometry
