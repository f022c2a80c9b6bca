"""Slivers: the small overlaps and gaps that every real boundary file has between neighbours.

Boundaries drawn by different hands, simplified for a web map, or shifted by a coordinate
system never meet exactly: neighbouring streets overlap by a few square metres along their
shared edge, and thin gaps open between them. Refusing such a file would refuse every real
one; routing a point in one of them is a guess between two neighbours, which is exactly what
the near-border flag already asks the operator to confirm.

So each piece (one connected part of the overlap of two siblings, or of a parent's area that
none of its children covers) is measured on a plane in metres:

- its **area** in m²;
- its **width**, the diameter of the largest circle that fits inside it
  (``shapely.maximum_inscribed_circle``): a strip 3 m wide and 2 km long is 3 m wide, however
  large its area.

A piece nowhere wider than the noise tolerance (:data:`geo.topology.DEFAULT_TOLERANCE_M`) is
ignored. Otherwise it is a **sliver** when it is small in area *or* narrow
(:meth:`SliverLimits.small`): slivers are accepted and reported (:class:`Sliver`), and points
in them are flagged near a border (:mod:`geo.index`). A larger overlap refuses the set unless
the caller asks for a repair (:mod:`geo.repair`).

Defaults, for street-level data (街道/乡镇, a few km² each): 1,000 m² is about one building
plot (30 m × 30 m), less than 0.1 % of a street; 5 m is the width of a lane, and more than
the error of any survey-grade boundary, of GCJ-02's conversion back to WGS84 (under a metre)
and of 1:10,000 maps (about 1 m). A piece larger than both is no drawing noise: one
neighbour's boundary really takes in land of the other, and a person must decide, or
``--repair`` does by its rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import shapely

#: default largest area (m²) of an accepted sliver
DEFAULT_SLIVER_M2: Final = 1_000.0
#: default largest width (m) of an accepted sliver
DEFAULT_SLIVER_WIDTH_M: Final = 5.0


@dataclass(frozen=True)
class SliverLimits:
    """What counts as a sliver: a piece at most ``area_m2`` in area or ``width_m`` wide."""

    area_m2: float = DEFAULT_SLIVER_M2
    width_m: float = DEFAULT_SLIVER_WIDTH_M

    def small(self, area_m2: float, width_m: float) -> bool:
        """True for a piece that is accepted as a sliver."""
        return area_m2 <= self.area_m2 or width_m <= self.width_m

    def describe(self) -> str:
        return f"{self.area_m2:,.0f} m² or {self.width_m:g} m wide"


@dataclass(frozen=True)
class Piece:
    """One connected part of an overlap or a gap, measured in metres."""

    area_m2: float
    width_m: float
    #: a WGS84 point inside it (lon, lat)
    where: tuple[float, float]
    #: the part itself, in WGS84 degrees
    geometry: Any


@dataclass(frozen=True)
class Sliver:
    """An overlap or gap accepted as a sliver: reported, and flagged at routing time.

    ``kind`` is ``"overlap"`` (``zone_ids`` are the two siblings) or ``"gap"`` (``zone_ids``
    are the parent, then the children the gap touches).
    """

    kind: str
    zone_ids: tuple[str, ...]
    area_m2: float
    width_m: float
    where: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "zones": list(self.zone_ids),
            "area_m2": round(self.area_m2, 1),
            "width_m": round(self.width_m, 2),
            "where": [round(self.where[0], 6), round(self.where[1], 6)],
        }

    def describe(self) -> str:
        what = (
            f"overlap of {self.zone_ids[0]!r} and {self.zone_ids[1]!r}"
            if self.kind == "overlap"
            else f"gap in {self.zone_ids[0]!r} beside {', '.join(map(repr, self.zone_ids[1:]))}"
        )
        return (
            f"{what}: {m2(self.area_m2)}, {self.width_m:.1f} m wide, near"
            f" ({self.where[0]:.6f}, {self.where[1]:.6f})"
        )


@dataclass(frozen=True)
class Correction:
    """One change made by a repair: ``area_m2`` of land near ``where`` given to ``to``.

    ``kind`` is ``"geometry"`` (the geometry of ``to`` was invalid and made valid; ``rule``
    says what was wrong), ``"overlap"`` (taken from ``taken_from``, which overlapped ``to``
    there) or ``"gap"`` (covered by no child of ``parent``; ``taken_from`` is empty).
    """

    kind: str
    to: str
    taken_from: tuple[str, ...]
    parent: str | None
    area_m2: float
    where: tuple[float, float]
    rule: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "to": self.to,
            "taken_from": list(self.taken_from),
            "parent": self.parent,
            "area_m2": round(self.area_m2, 1),
            "where": [round(self.where[0], 6), round(self.where[1], 6)],
            "rule": self.rule,
        }

    def describe(self) -> str:
        where = f"({self.where[0]:.6f}, {self.where[1]:.6f})"
        if self.kind == "geometry":
            return f"{self.to!r}: {self.rule}"
        if self.kind == "overlap":
            losers = ", ".join(map(repr, self.taken_from))
            return (
                f"overlap of {m2(self.area_m2)} near {where} given to {self.to!r},"
                f" taken from {losers} ({self.rule})"
            )
        return (
            f"gap of {m2(self.area_m2)} in {self.parent!r} near {where} given to"
            f" {self.to!r} ({self.rule})"
        )


def m2(area: float) -> str:
    return f"{area:,.0f} m²" if area >= 10 else f"{area:.1f} m²"


def pieces(piece: Any, frame: Any, tolerance_m: float) -> list[Piece]:
    """The connected parts of ``piece`` (WGS84 degrees) that are wider than ``tolerance_m``
    somewhere, measured on ``frame`` (a :class:`~geo.distance.LocalFrame`)."""
    if piece is None or shapely.is_empty(piece):
        return []
    found: list[Piece] = []
    for part in shapely.get_parts(piece).tolist():
        if part.geom_type != "Polygon" or part.area <= 0:
            continue
        metric = frame.to_metres(part)
        area = float(metric.area)
        if area <= 0:
            continue
        circle = shapely.maximum_inscribed_circle(metric, max(tolerance_m / 10, 0.01))
        width = 2.0 * float(circle.length)
        if width <= tolerance_m:
            continue
        centre = frame.to_wgs84(shapely.get_point(circle, 0))
        found.append(Piece(area, width, (float(centre.x), float(centre.y)), part))
    return found
