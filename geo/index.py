"""The spatial index of a zone set: which zones contain a point, and which squad answers.

A :class:`ZoneIndex` is built once from a validated zone set and never mutated; a new set
means a new index (its ``version`` tells them apart). Building it sorts the zones largest
first (level rank, then area in square metres, then id) and loads them in that order into a
shapely ``STRtree``, so that tree positions sorted ascending are already the answer's
order. Geometries are prepared, and their boundaries projected to metres on a
:class:`~geo.distance.LocalFrame` centred on the set, at build time; a single
:meth:`ZoneIndex.match` then costs a tree query, one vectorised point-in-polygon test on
the few candidates, and one planar distance (to a long boundary, through an STRtree of
its segments, so that a finely drawn street costs little more than a grid square).

Points on a boundary count as inside: containment is shapely's ``intersects``, so a point
on the line between two grid cells is in both, and its border distance is 0.

Slivers (:mod:`geo.slivers`) accepted in a set are flagged the same way: a point inside two
territorial siblings (an accepted overlap) is on their border, distance 0; a point in a
parent but in none of its territorial children (a gap) is as far from a border as the
nearest of those children, when that is nearer than the parent's own boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely
from shapely import LineString, Point, STRtree

from geo.distance import LocalFrame
from geo.errors import InvalidZones
from geo.zone import Zone, ZoneLevel, ZoneProblem


@dataclass(frozen=True)
class Match:
    """The zones containing one point, and what follows for routing.

    ``zones``: every containing zone, largest first (level rank, then area descending).
    ``squad_id``: the squad of the innermost territorial zone (grid, community, street,
    district) that names one; special zones never name it. ``street``: the innermost
    containing street zone. ``border_distance_m``: metres from the point to the boundary
    of the zone that gave ``squad_id``, None when no containing zone names a squad; the
    caller flags small values (and points in no zone) for the operator. ``special``: the
    containing special zones.
    """

    zones: tuple[Zone, ...]
    squad_id: str | None
    street: Zone | None
    border_distance_m: float | None
    special: tuple[Zone, ...]

    @property
    def zone_ids(self) -> tuple[str, ...]:
        """Ids of :attr:`zones`, in the same order."""
        return tuple(zone.id for zone in self.zones)


# A boundary with more vertices than this is cut into chunks of _CHUNK segments under an
# STRtree, so that its distance costs a nearest-neighbour search rather than a pass over
# every segment (about 10 ns each: a 2,000-vertex street boundary would cost 20 µs).
_INDEXED_ABOVE: Final = 1_000
_CHUNK: Final = 16


def _chunked(boundary: Any) -> STRtree:
    """Index a metric boundary (LineString or MultiLineString) by chunks of segments."""
    chunks = []
    for line in shapely.get_parts(boundary).tolist():
        coordinates = shapely.get_coordinates(line)
        for start in range(0, len(coordinates) - 1, _CHUNK):
            chunks.append(LineString(coordinates[start : start + _CHUNK + 1]))
    return STRtree(np.array(chunks, dtype=object))


NO_MATCH: Final = Match(zones=(), squad_id=None, street=None, border_distance_m=None, special=())


class ZoneIndex:
    """An immutable spatial index over one zone set: a new set means a new index.

    Nothing is changed after construction, but GEOS completes prepared geometries lazily,
    so no thread safety is promised: use an index from one thread (the event loop's).
    Building one for 40,000 grid cells takes a fraction of a second.

    Raises :class:`~geo.errors.InvalidZones` if two zones share an id. The coordinates given
    to :meth:`match` and :meth:`match_many` must be WGS84 (see ``coords.to_wgs84``).
    """

    def __init__(self, zones: Sequence[Zone], version: int = 0) -> None:
        self.version: Final = version
        self._zones = tuple(zones)
        self._by_id: dict[str, Zone] = {}
        problems: list[ZoneProblem] = []
        for position, zone in enumerate(self._zones):
            if zone.id in self._by_id:
                problems.append(ZoneProblem(zone.id, position, f"duplicate id {zone.id!r}"))
            self._by_id[zone.id] = zone
        if problems:
            raise InvalidZones(problems)
        children: dict[str, list[Zone]] = {}
        for zone in self._zones:
            if zone.parent_id is not None:
                children.setdefault(zone.parent_id, []).append(zone)
        self._children = {key: tuple(value) for key, value in children.items()}

        geometries = np.array([zone.geometry for zone in self._zones], dtype=object)
        if self._zones:
            self.frame = LocalFrame.around(*(float(v) for v in shapely.total_bounds(geometries)))
        else:
            self.frame = LocalFrame(0.0, 0.0)
        metric = self.frame.to_metres(geometries)
        areas = shapely.area(metric).tolist()
        order = sorted(
            range(len(self._zones)),
            key=lambda i: (self._zones[i].level.rank, -areas[i], self._zones[i].id),
        )
        # From here on, a zone is known by its position in this largest-first order.
        self._ordered = tuple(self._zones[i] for i in order)
        self._geometries = geometries[order] if order else geometries
        shapely.prepare(self._geometries)
        boundaries = shapely.boundary(metric[order]).tolist() if order else []
        # Per zone position: its metric boundary, or an index of it when it is long.
        self._borders: list[Any] = [
            _chunked(line) if shapely.get_num_coordinates(line) > _INDEXED_ABOVE else line
            for line in boundaries
        ]
        self._tree = STRtree(self._geometries)
        self._gives_squad = [z.level.nested and z.squad_id is not None for z in self._ordered]
        self._is_street = [z.level is ZoneLevel.STREET for z in self._ordered]
        self._is_special = [z.level is ZoneLevel.SPECIAL for z in self._ordered]
        self._parent_of = [z.parent_id if z.level.nested else "\x00special" for z in self._ordered]
        self._has_children = [
            any(c.level.nested for c in self._children.get(z.id, ())) for z in self._ordered
        ]
        self._metric = metric[order] if order else metric
        self._position = {z.id: k for k, z in enumerate(self._ordered)}
        #: per parent position, an STRtree of its territorial children in metres (built lazily)
        self._child_trees: dict[int, STRtree] = {}

    @property
    def zones(self) -> tuple[Zone, ...]:
        """The zones, in the order they were given."""
        return self._zones

    def __len__(self) -> int:
        return len(self._zones)

    def get(self, zone_id: str) -> Zone | None:
        """Return the zone with this id, or None."""
        return self._by_id.get(zone_id)

    def children(self, zone_id: str) -> tuple[Zone, ...]:
        """Return the zones whose ``parent_id`` is ``zone_id``, in the order given; () if
        none or if the id is unknown."""
        return self._children.get(zone_id, ())

    def match(self, lon: float, lat: float) -> Match:
        """Return the zones containing one WGS84 point and the squad that answers for it.

        A point in no zone gives :data:`NO_MATCH` (no zones, no squad); the caller flags it
        for the operator rather than guessing.
        """
        candidates = self._tree.query(Point(lon, lat))
        if candidates.size == 0:
            return NO_MATCH
        inside = candidates[shapely.intersects_xy(self._geometries[candidates], lon, lat)]
        return self._build(sorted(inside.tolist()), lon, lat, None)

    def match_many(self, lons: Sequence[float], lats: Sequence[float]) -> list[Match]:
        """Return one :class:`Match` per point, equal to calling :meth:`match` on each.

        The tree is queried for all points at once by bounding box, then the candidates are
        tested with one vectorised ``shapely.intersects`` on the prepared zone geometries
        (the same boundary-inclusive rule as :meth:`match`). This is much faster than
        ``STRtree.query(points, predicate="intersects")``, which tests an unprepared polygon
        for every pair. Raises ValueError if the two sequences differ in length.
        """
        xs = np.asarray(lons, dtype=np.float64).reshape(-1)
        ys = np.asarray(lats, dtype=np.float64).reshape(-1)
        if xs.shape != ys.shape:
            raise ValueError(f"{xs.size} longitudes but {ys.size} latitudes")
        if xs.size == 0:
            return []
        points = shapely.points(xs, ys)
        which, hit = self._tree.query(points)
        keep = shapely.intersects(self._geometries[hit], points[which])
        which, hit = which[keep], hit[keep]
        order = np.lexsort((hit, which))
        which, hit = which[order], hit[order]
        starts: npt.NDArray[np.intp] = np.searchsorted(which, np.arange(xs.size + 1))
        mxs, mys = self.frame.xy_many(xs, ys)
        bounds = starts.tolist()
        hits = hit.tolist()
        return [
            self._build(
                hits[bounds[k] : bounds[k + 1]],
                float(xs[k]),
                float(ys[k]),
                (float(mxs[k]), float(mys[k])),
            )
            for k in range(xs.size)
        ]

    def _build(
        self, inside: list[int], lon: float, lat: float, xy: tuple[float, float] | None
    ) -> Match:
        """Make the Match for zone positions ``inside``, sorted ascending (largest first)."""
        if not inside:
            return NO_MATCH
        ordered = self._ordered
        giver = next((i for i in reversed(inside) if self._gives_squad[i]), None)
        street = next((ordered[i] for i in reversed(inside) if self._is_street[i]), None)
        border: float | None = None
        if giver is not None:
            x, y = xy if xy is not None else self.frame.xy(lon, lat)
            border = self._border_distance(giver, x, y)
            nested = [i for i in inside if not self._is_special[i]]
            parents = [self._parent_of[i] for i in nested]
            if len(set(parents)) < len(parents):
                border = 0.0  # in two siblings: on their border, or in an accepted overlap
            elif nested and self._has_children[nested[-1]]:
                border = min(border, self._gap_distance(nested[-1], x, y))
        return Match(
            zones=tuple(ordered[i] for i in inside),
            squad_id=ordered[giver].squad_id if giver is not None else None,
            street=street,
            border_distance_m=border,
            special=tuple(ordered[i] for i in inside if self._is_special[i]),
        )

    def _gap_distance(self, position: int, x: float, y: float) -> float:
        """Metres from (x, y), in the zone at ``position`` but in none of its territorial
        children, to the nearest of those children."""
        tree = self._child_trees.get(position)
        if tree is None:
            zone = self._ordered[position]
            kids = [self._position[c.id] for c in self._children[zone.id] if c.level.nested]
            tree = STRtree(np.array([self._metric[k] for k in kids], dtype=object))
            self._child_trees[position] = tree
        _, distances = tree.query_nearest(Point(x, y), return_distance=True, all_matches=False)
        return float(distances[0])

    def _border_distance(self, position: int, x: float, y: float) -> float:
        """Metres from the metric point (x, y) to the boundary of the zone at ``position``."""
        border = self._borders[position]
        if isinstance(border, STRtree):
            _, distances = border.query_nearest(
                Point(x, y), return_distance=True, all_matches=False
            )
            return float(distances[0])
        return float(border.distance(Point(x, y)))
