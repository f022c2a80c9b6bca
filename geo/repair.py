"""Repairing how siblings sit against each other: overlaps resolved, small gaps closed.

Asked for by ``dispatch zones import --repair`` and ``PUT /api/v1/zones?repair=true``, after
each geometry on its own was made valid. Every change is reported as a
:class:`~geo.slivers.Correction` (which zones, how many m², where, by which rule).

**Overlaps** between territorial siblings (the same parent, or both without one): each
connected piece of an overlap wider than the noise tolerance, slivers included, goes to one of
the two, and is cut out of the other. The rule: the piece goes to the sibling that
*surrounds* more of it, measured as the area each sibling holds on its own (outside the
other) within a band around the piece as wide as the piece itself (at least 1 m). A chunk of
B that bulges into A is mostly surrounded by A and goes to A; a strip along the shared edge is
split between them about evenly, and its owner hardly matters. A near tie (within 1 %) goes to
the larger zone, then to the smaller id, so the result never depends on the file's order.

**Gaps** inside a parent that are slivers (:class:`~geo.slivers.SliverLimits`) are given to
the child that surrounds more of them, by the same band. Larger gaps stay: real sets leave
rivers and parks to the parent on purpose (a warning says so).

Children lying partly outside their parent, and gaps between zones without a parent, are not
changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from geo.distance import LocalFrame
from geo.slivers import Correction, SliverLimits, pieces
from geo.zone import Zone

#: DE-9IM: the interiors meet in an area
_INTERIORS_MEET: Final = "2********"
_OVERLAP_RULE: Final = "the sibling that surrounds more of it"
_GAP_RULE: Final = "the child that surrounds more of it"


def polygonal(geometry: Any) -> Polygon | MultiPolygon | None:
    """The areal parts of a geometry (made valid), or None when nothing of it is an area."""
    if geometry is None or shapely.is_empty(geometry):
        return None
    if not shapely.is_valid(geometry):
        geometry = shapely.make_valid(geometry)
    polygons = [
        part
        for part in shapely.get_parts(geometry).tolist()
        for part in shapely.get_parts(part).tolist()
        if isinstance(part, Polygon) and not part.is_empty and part.area > 0
    ]
    if not polygons:
        return None
    return polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)


def _surrounding(
    piece: Any, owners: Sequence[Any], frame: LocalFrame, width_m: float
) -> list[float]:
    """Metres² each owner holds within a band ``width_m`` wide around ``piece`` (metric)."""
    metric = polygonal(frame.to_metres(piece))
    if metric is None:
        return [0.0 for _ in owners]
    band = shapely.difference(shapely.buffer(metric, max(width_m, 1.0)), metric)
    held = [polygonal(frame.to_metres(owner)) for owner in owners]
    return [0.0 if h is None else float(shapely.area(shapely.intersection(band, h))) for h in held]


def _choose(held: list[float], candidates: list[Zone], areas: dict[str, float]) -> int:
    best = max(held)
    close = [k for k, h in enumerate(held) if h >= best * 0.99]
    return min(close, key=lambda k: (-areas[candidates[k].id], candidates[k].id))


def repair_topology(
    zones: Sequence[Zone], limits: SliverLimits, tolerance_m: float
) -> tuple[list[Zone], list[Correction]]:
    """Return the zones with overlaps between siblings resolved and sliver gaps closed, in the
    order given, and every correction made. Zones not involved are returned unchanged."""
    if not zones:
        return list(zones), []
    bounds = shapely.total_bounds(np.array([z.geometry for z in zones], dtype=object))
    frame = LocalFrame.around(*(float(v) for v in bounds))
    current: dict[str, Any] = {z.id: z.geometry for z in zones}
    by_id = {z.id: z for z in zones}
    areas = {z.id: float(shapely.area(frame.to_metres(z.geometry))) for z in zones}
    corrections: list[Correction] = []
    siblings: dict[str | None, list[Zone]] = defaultdict(list)
    for zone in zones:
        if zone.level.nested:
            siblings[zone.parent_id].append(zone)
    for parent_id in sorted(siblings, key=lambda p: (p is not None, p or "")):
        group = sorted(siblings[parent_id], key=lambda z: z.id)
        _resolve_overlaps(group, parent_id, current, areas, frame, tolerance_m, corrections)
        if parent_id is not None and parent_id in by_id:
            _close_gaps(
                group, by_id[parent_id], current, areas, frame, limits, tolerance_m, corrections
            )
    repaired = []
    for zone in zones:
        geometry = current[zone.id]
        repaired.append(zone if geometry is zone.geometry else replace(zone, geometry=geometry))
    return repaired, corrections


def _resolve_overlaps(
    group: list[Zone],
    parent_id: str | None,
    current: dict[str, Any],
    areas: dict[str, float],
    frame: LocalFrame,
    tolerance_m: float,
    corrections: list[Correction],
) -> None:
    if len(group) < 2:
        return
    shapes = np.array([current[z.id] for z in group], dtype=object)
    left, right = shapely.STRtree(shapes).query(shapes)
    pairs = sorted({(a, b) for a, b in zip(left.tolist(), right.tolist(), strict=True) if a < b})
    for a, b in pairs:
        one, other = group[a], group[b]
        ga, gb = current[one.id], current[other.id]
        if not shapely.relate_pattern(ga, gb, _INTERIORS_MEET):
            continue
        for piece in pieces(shapely.intersection(ga, gb), frame, tolerance_m):
            ga, gb = current[one.id], current[other.id]
            own = [shapely.difference(ga, gb), shapely.difference(gb, ga)]
            held = _surrounding(piece.geometry, own, frame, piece.width_m)
            pair = [one, other]
            k = _choose(held, pair, areas)
            winner, loser = pair[k], pair[1 - k]
            cut = polygonal(shapely.difference(current[loser.id], piece.geometry))
            if cut is None:
                continue  # the piece is all of the loser: leave it to the checks to report
            current[loser.id] = cut
            corrections.append(
                Correction(
                    "overlap",
                    winner.id,
                    (loser.id,),
                    parent_id,
                    piece.area_m2,
                    piece.where,
                    _OVERLAP_RULE,
                )
            )


def _close_gaps(
    group: list[Zone],
    parent: Zone,
    current: dict[str, Any],
    areas: dict[str, float],
    frame: LocalFrame,
    limits: SliverLimits,
    tolerance_m: float,
    corrections: list[Correction],
) -> None:
    kids = np.array([current[z.id] for z in group], dtype=object)
    gap = shapely.difference(current[parent.id], shapely.union_all(kids))
    for piece in pieces(gap, frame, tolerance_m):
        if not limits.small(piece.area_m2, piece.width_m):
            continue
        reach = max(piece.width_m, 1.0)
        metric = frame.to_metres(piece.geometry)
        near = [z for z in group if frame.to_metres(current[z.id]).distance(metric) <= reach]
        if not near:
            continue
        held = _surrounding(piece.geometry, [current[z.id] for z in near], frame, piece.width_m)
        if max(held) <= 0:
            continue
        winner = near[_choose(held, near, areas)]
        grown = polygonal(shapely.union(current[winner.id], piece.geometry))
        if grown is None:
            continue
        current[winner.id] = grown
        corrections.append(
            Correction("gap", winner.id, (), parent.id, piece.area_m2, piece.where, _GAP_RULE)
        )
