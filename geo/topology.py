"""Checks across the shapes of a zone set: how zones sit against their siblings and parent.

:func:`check_topology` takes zones that each passed the per-feature checks and answers
:class:`Findings`, two lists of :class:`~geo.zone.ZoneProblem`:

- **errors** refuse the set, because they make routing ambiguous:

  - two territorial siblings (the same parent, or both without one) overlap: a point in the
    overlap belongs to both, so which squad answers for it would be a guess;
  - a territorial zone lies partly outside its parent: a point there matches the child but
    not the parent, so the nesting no longer says what contains what.

- **slivers** (:class:`geo.slivers.Sliver`) are reported and accepted: an overlap of two
  siblings, or a gap between a parent's children, that is small in area or narrow
  (:class:`geo.slivers.SliverLimits`; every real boundary file has them). An overlap larger
  than that is an error, unless :mod:`geo.repair` resolved it first.

- **warnings** are reported and accepted:

  - a gap larger than a sliver, part of a parent covered by none of its territorial
    children. Real sets leave
    such parts on purpose (a river, a park, a grid drawn only where inspectors walk), and
    the small test town of the integration tests has a street whose single community covers
    a quarter of it. A point in a gap still matches the parent and the parent's squad, so
    nothing is routed wrongly, but the operator should know;
  - a special zone (an event venue) reaching outside the parent it names: special zones
    stand outside the nesting and never decide the squad.

Shapes are compared in degrees, where GeoJSON's edges are straight and where the index
matches points, so that what is checked is what routing will see; each piece found (an
overlap, an excess, a gap) is then measured in metres on one :class:`~geo.distance.LocalFrame`
around the set. Boundaries drawn by different hands, or rounded (the demo city rounds to
1e-6°, about 0.1 m), never meet exactly, so a piece counts only where it is wider than
``tolerance_m``: it is eroded by half the tolerance from each side and counted only if
something is left.

Cost: exact geometry is computed only where a cheap test fails. Sibling pairs come from an
STRtree; a pair whose bounding boxes overlap by less than the tolerance in either direction
cannot overlap by more, which removes neighbouring grid cells without a geometric test. A
child is first tested with a prepared ``covers`` of its parent; a parent's gap first by
areas (the children's areas add up to the parent's, give or take ``MIN_GAP_SHARE``), unless
some of those children overlap (then their areas no longer tell). A city
of 40,000 grid cells is checked in a few tenths of a second (``bench/bench_zones.py``).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import shapely

from geo.distance import LocalFrame
from geo.slivers import Piece, Sliver, SliverLimits, pieces
from geo.zone import Zone, ZoneProblem

#: overlaps, excesses and gaps nowhere wider than this (metres) are drawing noise
DEFAULT_TOLERANCE_M: Final = 1.0
#: a parent is searched for gaps only when its children's areas fall short of its own by more
#: than this share (a thousandth of a percent: 10 m² of a 1 km² community, so that slivers
#: are found; the demo city's rounding to 1e-6° stays below it)
MIN_GAP_SHARE: Final = 0.00001
#: DE-9IM: the interiors meet in an area, i.e. the zones overlap rather than touch
_INTERIORS_MEET: Final = "2********"
#: more metres than any degree of longitude or latitude spans: dividing a length in metres
#: by it gives a length in degrees that is at most that long in every direction
_MAX_M_PER_DEGREE: Final = 111_700.0


@dataclass
class Findings:
    """What :func:`check_topology` found: errors refuse the set, warnings do not."""

    errors: list[ZoneProblem] = field(default_factory=list)
    warnings: list[ZoneProblem] = field(default_factory=list)
    slivers: list[Sliver] = field(default_factory=list)
    #: ids of the parents (None: no parent) some of whose territorial children overlap
    overlapping_parents: set[str | None] = field(default_factory=set)


class _Frame:
    """The zones of one check, in degrees and in metres, and how to word what was found."""

    def __init__(
        self,
        zones: Sequence[Zone],
        indices: Sequence[int],
        tolerance_m: float,
        limits: SliverLimits,
    ):
        self.limits = limits
        self.zones = zones
        self.indices = indices
        self.tolerance_m = tolerance_m
        self.degrees = np.array([zone.geometry for zone in zones], dtype=object)
        minx, miny, maxx, maxy = (float(v) for v in shapely.total_bounds(self.degrees))
        # rounded to about 1 km so that checking the same city again reuses the projection
        self.frame = _frame_at(round((minx + maxx) / 2, 2), round((miny + maxy) / 2, 2))
        self.position = {zone.id: k for k, zone in enumerate(zones)}
        #: half the tolerance, in degrees, at most half the tolerance in metres anywhere
        self.half_tolerance_deg = tolerance_m / 2 / _MAX_M_PER_DEGREE

    def problem(self, k: int, reason: str) -> ZoneProblem:
        return ZoneProblem(self.zones[k].id, self.indices[k], reason)

    def measure(self, piece: Any) -> tuple[float, str] | None:
        """A piece in degrees that is wider than the tolerance somewhere: its area in square
        metres and where it lies (for a message); None for a narrower one."""
        if piece is None or shapely.is_empty(piece) or shapely.area(piece) <= 0:
            return None
        metric = self.frame.to_metres(piece)
        core = shapely.buffer(metric, -self.tolerance_m / 2)
        if shapely.is_empty(core):
            return None
        # shown where the piece is widest, not on a sliver of it
        largest = max(shapely.get_parts(core).tolist(), key=lambda part: part.area)
        point = self.frame.to_wgs84(shapely.point_on_surface(largest))
        return float(shapely.area(metric)), f"({point.x:.6f}, {point.y:.6f})"

    def pieces(self, piece: Any) -> list[Piece]:
        """The parts of a piece in degrees wider than the tolerance, measured in metres."""
        return pieces(piece, self.frame, self.tolerance_m)


@functools.lru_cache(maxsize=8)
def _frame_at(lon: float, lat: float) -> LocalFrame:
    return LocalFrame(lon, lat)


def _m2(area: float) -> str:
    return f"{area:,.0f} m²" if area >= 10 else f"{area:.1f} m²"


def check_topology(
    zones: Sequence[Zone],
    indices: Sequence[int],
    *,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    limits: SliverLimits | None = None,
) -> Findings:
    """Check how ``zones`` sit against their siblings and parents.

    ``indices[k]`` is the position of ``zones[k]`` in the uploaded collection, for the
    report. A ``parent_id`` that names no zone given here is left to the caller's own checks
    (the zone is then compared with its siblings only). The caller refuses the set when
    :attr:`Findings.errors` is not empty, and shows the warnings and slivers either way.
    ``limits`` says which overlaps and gaps are slivers (the defaults when None).
    """
    findings = Findings()
    if not zones:
        return findings
    frame = _Frame(zones, indices, tolerance_m, limits or SliverLimits())
    nested = [k for k, zone in enumerate(zones) if zone.level.nested]
    _sibling_overlaps(frame, nested, findings)
    _outside_parent(frame, findings)
    _gaps(frame, nested, findings)
    return findings


def _sibling_overlaps(frame: _Frame, nested: list[int], findings: Findings) -> None:
    """Report territorial siblings overlapping by more than the tolerance (errors)."""
    if len(nested) < 2:
        return
    chosen = np.array(nested, dtype=np.intp)
    shapes = frame.degrees[chosen]
    left, right = shapely.STRtree(shapes).query(shapes)
    keep = left < right
    left, right = left[keep], right[keep]
    # boxes overlapping by less than the tolerance in x or in y cannot hold a wide overlap
    least = 2 * frame.half_tolerance_deg
    bounds = shapely.bounds(shapes)
    width = np.minimum(bounds[left, 2], bounds[right, 2]) - np.maximum(
        bounds[left, 0], bounds[right, 0]
    )
    height = np.minimum(bounds[left, 3], bounds[right, 3]) - np.maximum(
        bounds[left, 1], bounds[right, 1]
    )
    keep = (width > least) & (height > least)
    parents = [frame.zones[k].parent_id for k in nested]
    pairs = [
        (a, b)
        for a, b in zip(left[keep].tolist(), right[keep].tolist(), strict=True)
        if parents[a] == parents[b]
    ]
    if not pairs:
        return
    lefts = np.array([a for a, _ in pairs], dtype=np.intp)
    rights = np.array([b for _, b in pairs], dtype=np.intp)
    meet = shapely.relate_pattern(shapes[lefts], shapes[rights], _INTERIORS_MEET)
    limits = frame.limits
    for a, b in zip(lefts[meet].tolist(), rights[meet].tolist(), strict=True):
        found = frame.pieces(shapely.intersection(shapes[a], shapes[b]))
        if not found:
            continue
        ids = (frame.zones[nested[a]].id, frame.zones[nested[b]].id)
        findings.overlapping_parents.add(parents[a])
        large = [p for p in found if not limits.small(p.area_m2, p.width_m)]
        findings.slivers.extend(
            Sliver("overlap", ids, p.area_m2, p.width_m, p.where)
            for p in found
            if limits.small(p.area_m2, p.width_m)
        )
        if not large:
            continue
        biggest = max(large, key=lambda p: p.area_m2)
        area = _m2(sum(p.area_m2 for p in large))
        where = f"({biggest.where[0]:.6f}, {biggest.where[1]:.6f})"
        for one, other in ((nested[a], nested[b]), (nested[b], nested[a])):
            findings.errors.append(
                frame.problem(
                    one,
                    f"overlaps its sibling {frame.zones[other].id!r} by {area} near {where}"
                    f" ({biggest.width_m:.0f} m wide), more than a sliver"
                    f" ({limits.describe()}); --repair (or ?repair=true) resolves it",
                )
            )


def _outside_parent(frame: _Frame, findings: Findings) -> None:
    """Report zones reaching outside their parent: an error for territorial zones, a warning
    for special ones."""
    children = [
        (k, frame.position[zone.parent_id])
        for k, zone in enumerate(frame.zones)
        if zone.parent_id is not None and zone.parent_id in frame.position
    ]
    if not children:
        return
    kids = np.array([k for k, _ in children], dtype=np.intp)
    parents = np.array([p for _, p in children], dtype=np.intp)
    # A child inside its parent grown by half the tolerance sticks out nowhere by more than
    # the tolerance: only the others are cut exactly.
    unique = np.unique(parents)
    grown = np.empty(len(frame.zones), dtype=object)
    grown[unique] = shapely.buffer(frame.degrees[unique], frame.half_tolerance_deg)
    shapely.prepare(grown[unique])
    inside = shapely.covers(grown[parents], frame.degrees[kids])
    for k, p in zip(kids[~inside].tolist(), parents[~inside].tolist(), strict=True):
        measured = frame.measure(shapely.difference(frame.degrees[k], frame.degrees[p]))
        if measured is None:
            continue
        zone, parent = frame.zones[k], frame.zones[p]
        area, where = _m2(measured[0]), measured[1]
        if zone.level.nested:
            findings.errors.append(
                frame.problem(
                    k,
                    f"lies partly outside its parent {parent.id!r}: {area} beyond it near"
                    f" {where}, wider than the {frame.tolerance_m:g} m tolerance",
                )
            )
        else:
            findings.warnings.append(
                frame.problem(
                    k,
                    f"special zone reaches outside its parent {parent.id!r}: {area} beyond it"
                    f" near {where}",
                )
            )


def _gaps(frame: _Frame, nested: list[int], findings: Findings) -> None:
    """Warn about parents that their territorial children do not cover."""
    children: dict[int, list[int]] = defaultdict(list)
    for k in nested:
        parent_id = frame.zones[k].parent_id
        if parent_id is not None and parent_id in frame.position:
            children[frame.position[parent_id]].append(k)
    if not children:
        return
    involved = np.array(sorted({*children, *(k for ks in children.values() for k in ks)}))
    areas = np.zeros(len(frame.zones))
    areas[involved] = shapely.area(frame.frame.to_metres(frame.degrees[involved]))
    for p, kids in children.items():
        parent_area = float(areas[p])
        if parent_area <= 0:
            continue
        shortfall = parent_area - float(areas[kids].sum())
        masked = frame.zones[p].id in findings.overlapping_parents
        if shortfall <= MIN_GAP_SHARE * parent_area and not masked:
            continue
        gap = shapely.difference(frame.degrees[p], shapely.union_all(frame.degrees[kids]))
        large: list[Piece] = []
        for piece in frame.pieces(gap):
            if not frame.limits.small(piece.area_m2, piece.width_m):
                large.append(piece)
                continue
            near = shapely.dwithin(frame.degrees[kids], piece.geometry, frame.half_tolerance_deg)
            beside = tuple(frame.zones[k].id for k, hit in zip(kids, near, strict=True) if hit)
            findings.slivers.append(
                Sliver(
                    "gap",
                    (frame.zones[p].id, *beside),
                    piece.area_m2,
                    piece.width_m,
                    piece.where,
                )
            )
        if not large:
            continue
        area = sum(piece.area_m2 for piece in large)
        widest = max(large, key=lambda piece: piece.area_m2)
        where = f"({widest.where[0]:.6f}, {widest.where[1]:.6f})"
        findings.warnings.append(
            frame.problem(
                p,
                f"{area / parent_area:.0%} of it ({_m2(area)}) is covered by none of its"
                f" {len(kids)} territorial child zone(s), e.g. near {where}; points there"
                " match it and its squad only",
            )
        )
