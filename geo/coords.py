"""Coordinate systems of incoming positions, and their conversion to WGS84.

Chinese phone maps give GCJ-02 (AMap, Tencent) or BD-09 (Baidu) coordinates, GPS gives
WGS84, and official boundaries are CGCS2000, which is within centimetres of WGS84 and is
treated as WGS84. Intake converts every position to WGS84 once, with :func:`to_wgs84`;
everything inside the system is WGS84 ``(lon, lat)``.

The obfuscations themselves come from ``prcoords`` (public domain, by Artoria2e5), whose
"bored" inverses iterate to well under a millimetre. ``prcoords`` works in ``(lat, lon)``
order; this module speaks ``(lon, lat)`` like GeoJSON.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Final

import prcoords

from geo.errors import InvalidCoordinates


class CRS(enum.StrEnum):
    """A coordinate system a position may arrive in."""

    WGS84 = "WGS84"
    GCJ02 = "GCJ02"
    BD09 = "BD09"


# Names accepted by parse_crs, upper-cased; CGCS2000 (EPSG:4490) is within centimetres of
# WGS84, far below the accuracy of any phone.
_ALIASES: Final[Mapping[str, CRS]] = {
    "WGS84": CRS.WGS84,
    "WGS-84": CRS.WGS84,
    "EPSG:4326": CRS.WGS84,
    "CGCS2000": CRS.WGS84,
    "EPSG:4490": CRS.WGS84,
    "GCJ02": CRS.GCJ02,
    "GCJ-02": CRS.GCJ02,
    "BD09": CRS.BD09,
    "BD-09": CRS.BD09,
    "BD09LL": CRS.BD09,
}

ACCEPTED_CRS_NAMES: Final[tuple[str, ...]] = tuple(_ALIASES)


def parse_crs(value: str | None) -> CRS:
    """Return the coordinate system named by ``value`` (case-insensitive).

    None or "" mean WGS84. Raises :class:`InvalidCoordinates` with ``field="crs"`` for any
    other unknown name; the message lists the accepted names.
    """
    if value is None or value == "":
        return CRS.WGS84
    if not isinstance(value, str):
        raise InvalidCoordinates(f"crs must be a string, not {type(value).__name__}", field="crs")
    crs = _ALIASES.get(value.strip().upper())
    if crs is None:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise InvalidCoordinates(
            f"unknown crs {shown!r}; accepted (case-insensitive): {', '.join(ACCEPTED_CRS_NAMES)}",
            field="crs",
        )
    return crs


def _checked(value: object, field: str, limit: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidCoordinates(
            f"{field} must be a number, not {type(value).__name__}", field=field
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidCoordinates(f"{field} must be a finite number, not {value}", field=field)
    # Compared before float(): a huge int would overflow the conversion.
    if not -limit <= value <= limit:
        raise InvalidCoordinates(f"{field} {value} is outside -{limit}..{limit}", field=field)
    return float(value)


def check_lon_lat(lon: object, lat: object) -> tuple[float, float]:
    """Return ``(lon, lat)`` as floats after checking they are finite and in range.

    Raises :class:`InvalidCoordinates` naming "lon" or "lat" otherwise. Bools are refused.
    """
    return _checked(lon, "lon", 180), _checked(lat, "lat", 90)


def _in_china(lat: float, lon: float) -> bool:
    # prcoords' own box; outside it GCJ-02 is WGS84 unchanged. Checked here because its
    # iterating inverses do not check, and its forward functions warn instead.
    return bool(prcoords.sanity_in_china_p(prcoords.Coords(lat, lon)))


def to_wgs84(lon: float, lat: float, crs: CRS) -> tuple[float, float]:
    """Convert a position given in ``crs`` to WGS84 and return ``(lon, lat)``.

    Validates the input first (raises :class:`InvalidCoordinates` naming the field). GCJ-02
    outside China is returned unchanged; BD-09 outside China loses only Baidu's own shift.
    The caller stores and compares the returned WGS84 position only.
    """
    lon, lat = check_lon_lat(lon, lat)
    if crs == CRS.WGS84:
        return lon, lat
    given = prcoords.Coords(lat, lon)
    if crs == CRS.GCJ02:
        if not _in_china(lat, lon):
            return lon, lat
        wgs = prcoords.gcj_wgs_bored(given)
    elif crs == CRS.BD09:
        gcj = prcoords.bd_gcj(given)
        if _in_china(gcj.lat, gcj.lon):
            wgs = prcoords.bd_wgs_bored(given)
        else:
            wgs = prcoords.bd_gcj_bored(given)
    else:
        raise InvalidCoordinates(f"unsupported crs {crs!r}", field="crs")
    return float(wgs.lon), float(wgs.lat)


def from_wgs84(lon: float, lat: float, crs: CRS) -> tuple[float, float]:
    """Convert a WGS84 position to ``crs`` and return ``(lon, lat)``, the reverse of
    :func:`to_wgs84`.

    Used to show positions on Chinese base maps, by tests and by the demo simulator.
    Raises :class:`InvalidCoordinates` for an invalid input.
    """
    lon, lat = check_lon_lat(lon, lat)
    if crs == CRS.WGS84:
        return lon, lat
    if crs not in (CRS.GCJ02, CRS.BD09):
        raise InvalidCoordinates(f"unsupported crs {crs!r}", field="crs")
    wgs = prcoords.Coords(lat, lon)
    gcj = prcoords.wgs_gcj(wgs, False) if _in_china(lat, lon) else wgs
    out = gcj if crs == CRS.GCJ02 else prcoords.gcj_bd(gcj)
    return float(out.lon), float(out.lat)
