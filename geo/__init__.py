"""Geography of the command centre: coordinates, distances, zones and their index.

Pure code, no I/O: nothing here touches the network, the database or files.

- :mod:`geo.coords`: coordinate systems (WGS84, GCJ-02, BD-09) and conversion to WGS84,
  done once at intake; everything inside the system is WGS84 ``(lon, lat)``.
- :mod:`geo.distance`: geodesic distances in metres and :class:`LocalFrame`, a plane in
  metres around a place, so that buffers and border distances are never in degrees.
- :mod:`geo.zones`: validation of an uploaded zone set (all or nothing), the zone values
  (:mod:`geo.zone`) and the spatial index answering "which zones, which squad"
  (:mod:`geo.index`); :mod:`geo.geojson` reads one geometry defensively.
- :mod:`geo.errors`: :class:`GeoError`, the base of every error raised here.

Typical use: ``zones = parse_feature_collection(body, known_squads)``, then
``index = ZoneIndex(zones, version=n)``, then for each report
``index.match(*to_wgs84(lon, lat, parse_crs(crs)))``.
"""

from geo.coords import CRS, check_lon_lat, from_wgs84, parse_crs, to_wgs84
from geo.distance import LocalFrame, distance_m
from geo.errors import GeoError, InvalidCoordinates, InvalidGeometry, InvalidZones
from geo.zones import (
    NO_MATCH,
    Match,
    Zone,
    ZoneIndex,
    ZoneLevel,
    ZoneProblem,
    feature_collection,
    parse_feature_collection,
)

__all__ = [
    "CRS",
    "NO_MATCH",
    "GeoError",
    "InvalidCoordinates",
    "InvalidGeometry",
    "InvalidZones",
    "LocalFrame",
    "Match",
    "Zone",
    "ZoneIndex",
    "ZoneLevel",
    "ZoneProblem",
    "check_lon_lat",
    "distance_m",
    "feature_collection",
    "from_wgs84",
    "parse_crs",
    "parse_feature_collection",
    "to_wgs84",
]
