"""One zone: its level in the nesting, its value, and its GeoJSON form.

Zones nest district → street (or town) → community → grid cell (万米单元网格); special
zones (a venue during a major event, a demonstration area) stand outside the nesting and
raise priority. A zone's geometry is a WGS84 Polygon or MultiPolygon; every other property
of the GeoJSON feature is kept as given in :attr:`Zone.properties`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from shapely.geometry import MultiPolygon, Polygon, mapping


class ZoneLevel(enum.StrEnum):
    """The level of a zone; :attr:`rank` orders them largest first."""

    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"
    SPECIAL = "special"

    @property
    def rank(self) -> int:
        """0 for a district, 1 street, 2 community, 3 grid; 4 for special zones, which sit
        outside the nesting and sort after it."""
        return _RANKS[self]

    @property
    def nested(self) -> bool:
        """True for the territorial levels (district to grid), False for special zones."""
        return self is not ZoneLevel.SPECIAL


_RANKS: Final[Mapping[ZoneLevel, int]] = {
    ZoneLevel.DISTRICT: 0,
    ZoneLevel.STREET: 1,
    ZoneLevel.COMMUNITY: 2,
    ZoneLevel.GRID: 3,
    ZoneLevel.SPECIAL: 4,
}

#: Property names that are fields of :class:`Zone` rather than kept in ``properties``.
RESERVED_PROPERTIES: Final = frozenset({"id", "name", "level", "parent_id", "squad_id"})


@dataclass(frozen=True)
class Zone:
    """A validated zone. Build zones with ``parse_feature_collection``; their geometry is
    valid, non-empty and WGS84.

    ``properties`` holds every other GeoJSON property (e.g. ``specialists``, ``priority``);
    treat it as read-only. Zones are hashed by id.
    """

    id: str
    name: str
    level: ZoneLevel
    parent_id: str | None
    squad_id: str | None
    geometry: Polygon | MultiPolygon
    properties: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A copy, so that the zone does not change with the document it was read from.
        object.__setattr__(self, "properties", dict(self.properties))

    def __hash__(self) -> int:
        return hash(self.id)

    def to_feature(self) -> dict[str, Any]:
        """Return the zone as a GeoJSON Feature (a dict ready for ``json.dumps``)."""
        properties: dict[str, Any] = {
            "name": self.name,
            "level": self.level.value,
            "parent_id": self.parent_id,
            "squad_id": self.squad_id,
        }
        properties.update(
            (key, value) for key, value in self.properties.items() if key not in RESERVED_PROPERTIES
        )
        return {
            "type": "Feature",
            "id": self.id,
            "geometry": mapping(self.geometry),
            "properties": properties,
        }


@dataclass(frozen=True)
class ZoneProblem:
    """One reason a zone set was refused.

    ``id`` is the feature's id when it has a usable one; ``index`` is the feature's position
    in the collection, or -1 for a problem with the collection as a whole; ``reason`` is an
    English sentence precise enough to fix the feature.
    """

    id: str | None
    index: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return the problem as it appears in the ``invalid_zones`` answer."""
        return {"id": self.id, "index": self.index, "reason": self.reason}


def feature_collection(zones: Iterable[Zone]) -> dict[str, Any]:
    """Return zones as a GeoJSON FeatureCollection, in the order given (``GET /zones``)."""
    return {"type": "FeatureCollection", "features": [zone.to_feature() for zone in zones]}
