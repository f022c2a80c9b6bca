"""The zone set: validating an uploaded set all-or-nothing, and everything callers need.

``PUT /api/v1/zones`` hands a decoded GeoJSON FeatureCollection to
:func:`parse_feature_collection`, which either returns every zone or raises
:class:`~geo.errors.InvalidZones` listing every problem, feature by feature; the caller
then builds a :class:`ZoneIndex` from the zones and swaps it in. This module also
re-exports the zone values (:mod:`geo.zone`) and the index (:mod:`geo.index`), so that
``from geo.zones import ...`` gives the whole zone API.

Hostile input is refused, never processed at length: at most :data:`MAX_FEATURES`
features, :data:`MAX_POSITIONS` positions in all and :data:`MAX_FEATURE_POSITIONS` in one
feature, and at most :data:`MAX_PROBLEMS` problems listed. Properties must be plain JSON (no
NaN, no NUL character, at most :data:`MAX_PROPERTY_DEPTH` levels deep), since they are kept
as given. Nothing but ``InvalidZones`` is raised for bad input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from geo.errors import InvalidGeometry, InvalidZones
from geo.geojson import PositionBudget, json_kind, read_polygonal, short
from geo.index import NO_MATCH, Match, ZoneIndex
from geo.repair import repair_topology
from geo.slivers import Correction, Sliver, SliverLimits
from geo.topology import DEFAULT_TOLERANCE_M, check_topology
from geo.zone import RESERVED_PROPERTIES, Zone, ZoneLevel, ZoneProblem, feature_collection

__all__ = [
    "MAX_FEATURES",
    "MAX_FEATURE_POSITIONS",
    "MAX_POSITIONS",
    "MAX_PROBLEMS",
    "NO_MATCH",
    "Correction",
    "Match",
    "Sliver",
    "SliverLimits",
    "Zone",
    "ZoneIndex",
    "ZoneLevel",
    "ZoneProblem",
    "ZoneSetReport",
    "check_zone_set",
    "feature_collection",
    "parse_feature_collection",
]

MAX_FEATURES: Final = 500_000
MAX_POSITIONS: Final = 2_000_000
MAX_FEATURE_POSITIONS: Final = 200_000
MAX_PROBLEMS: Final = 1_000
MAX_ID_LENGTH: Final = 128
MAX_NAME_LENGTH: Final = 200
#: how deep objects and arrays may nest in a feature's properties
MAX_PROPERTY_DEPTH: Final = 32

_LEVEL_VALUES: Final = frozenset(level.value for level in ZoneLevel)
_LEVELS: Final = ", ".join(level.value for level in ZoneLevel)
_T = TypeVar("_T")


class _Refused(Exception):
    """One property is unusable; private to this module, turned into a ZoneProblem."""


class _Report:
    def __init__(self) -> None:
        self.problems: list[ZoneProblem] = []
        self.unlisted = 0

    def add(self, zone_id: str | None, index: int, reason: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(ZoneProblem(zone_id, index, reason))
        else:
            self.unlisted += 1

    def listing(self) -> list[ZoneProblem]:
        """The problems by feature index, with a last line for those beyond the limit."""
        problems = sorted(self.problems, key=lambda problem: problem.index)
        if self.unlisted:
            problems.append(ZoneProblem(None, -1, f"… and {self.unlisted} more problems"))
        return problems


@dataclass
class _Draft:
    """What one feature said, once read; cross-feature checks come after all are read."""

    index: int
    id: str
    level: ZoneLevel | None
    parent_id: str | None
    zone: Zone | None


def _reference(value: object, what: str) -> str | None:
    """Read an id-like value (an id, a parent_id, a squad_id): str or int, as text."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Refused(f"{what} is {json_kind(value)}, not a string or an integer")
    if isinstance(value, int):
        if abs(value) >= 10**18:
            raise _Refused(f"{what} is too large an integer")
        return str(value)
    if not value:
        raise _Refused(f"{what} is empty")
    if "\x00" in value:
        raise _Refused(f"{what} contains the NUL character (U+0000)")
    if len(value) > MAX_ID_LENGTH:
        raise _Refused(f"{what} is longer than {MAX_ID_LENGTH} characters")
    return value


def _feature_id(feature: Mapping[str, Any], properties: Mapping[str, Any]) -> str:
    given = _reference(feature.get("id"), "id")
    inner = _reference(properties.get("id"), "properties.id")
    if given is not None and inner is not None and given != inner:
        raise _Refused(f"id {short(given)} and properties.id {short(inner)} differ")
    zone_id = given if given is not None else inner
    if zone_id is None:
        raise _Refused("feature has no id (give the feature an id, or properties.id)")
    return zone_id


def _name(properties: Mapping[str, Any]) -> str:
    name = properties.get("name")
    if name is None:
        raise _Refused("properties.name is missing")
    if not isinstance(name, str) or not name.strip():
        shown = "an empty string" if isinstance(name, str) else json_kind(name)
        raise _Refused(f"properties.name must be a non-empty string, not {shown}")
    if len(name) > MAX_NAME_LENGTH:
        raise _Refused(f"properties.name is longer than {MAX_NAME_LENGTH} characters")
    return name


def _level(properties: Mapping[str, Any]) -> ZoneLevel:
    level = properties.get("level")
    if level is None:
        raise _Refused(f"properties.level is missing; expected one of {_LEVELS}")
    if not isinstance(level, str) or level not in _LEVEL_VALUES:
        shown = short(level) if isinstance(level, str) else json_kind(level)
        raise _Refused(f"properties.level {shown} is not one of {_LEVELS}")
    return ZoneLevel(level)


def _plain(properties: Mapping[str, Any]) -> None:
    """Refuse what JSON cannot say and a database cannot keep, anywhere in the properties:
    NaN or infinite numbers (Python's decoder accepts them), the NUL character, and nesting
    deeper than :data:`MAX_PROPERTY_DEPTH`. Walked with a stack, not by recursion."""
    stack: list[tuple[str, object, int]] = [("properties", properties, 0)]
    while stack:
        where, value, depth = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise _Refused(f"{where} is {value}, not a finite number")
        if isinstance(value, str) and "\x00" in value:
            raise _Refused(f"{where} contains the NUL character (U+0000)")
        if isinstance(value, dict | list | tuple) and depth > MAX_PROPERTY_DEPTH:
            raise _Refused(f"{where} is nested more than {MAX_PROPERTY_DEPTH} levels deep")
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in str(key):
                    raise _Refused(f"{where} has a key with the NUL character (U+0000)")
                stack.append((f"{where}.{str(key)[:40]}", item, depth + 1))
        elif isinstance(value, list | tuple):
            stack.extend((f"{where}[{k}]", item, depth + 1) for k, item in enumerate(value))


def _attempt(read: Callable[[], _T], reasons: list[str]) -> _T | None:
    try:
        return read()
    except _Refused as refused:
        reasons.append(str(refused))
        return None


def _read_feature(
    feature: object,
    index: int,
    squads: frozenset[str] | None,
    budget: PositionBudget,
    report: _Report,
    fixes: list[Correction] | None = None,
) -> _Draft | None:
    """Check one feature on its own and report its problems; return what the checks across
    features need, or None when it has no usable id."""
    if not isinstance(feature, dict):
        report.add(None, index, f"feature is {json_kind(feature)}, not an object")
        return None
    reasons: list[str] = []
    properties = feature.get("properties")
    if properties is None:
        properties = {}
    usable = isinstance(properties, dict)
    if not usable:
        reasons.append(f"properties is {json_kind(properties)}, not an object")
        properties = {}
    zone_id = _attempt(lambda: _feature_id(feature, properties), reasons)
    kind = feature.get("type")
    if kind != "Feature":
        shown = short(kind) if isinstance(kind, str) else json_kind(kind)
        reasons.append(f"type is {shown}, expected 'Feature'")
    if usable:
        _attempt(lambda: _plain(properties), reasons)
    name = _attempt(lambda: _name(properties), reasons) if usable else None
    level = _attempt(lambda: _level(properties), reasons) if usable else None
    parent_id = _attempt(lambda: _reference(properties.get("parent_id"), "parent_id"), reasons)
    squad_id = _attempt(lambda: _reference(properties.get("squad_id"), "squad_id"), reasons)
    if squad_id is not None and squads is not None and squad_id not in squads:
        reasons.append(f"squad_id {short(squad_id)} names no known squad")
    geometry = None
    fixed: list[str] | None = [] if fixes is not None else None
    if not budget.exhausted:
        try:
            geometry = read_polygonal(feature.get("geometry"), budget, fixes=fixed)
        except InvalidGeometry as invalid:
            reasons.append(invalid.reason)
    if fixed and fixes is not None and zone_id is not None and geometry is not None:
        at = geometry.representative_point()
        fixes.extend(
            Correction("geometry", zone_id, (), None, 0.0, (at.x, at.y), f"{why}; made valid")
            for why in fixed
        )
    for reason in reasons:
        report.add(zone_id, index, reason)
    if zone_id is None:
        return None
    zone = None
    if not reasons and name is not None and level is not None and geometry is not None:
        extra = {key: value for key, value in properties.items() if key not in RESERVED_PROPERTIES}
        zone = Zone(zone_id, name, level, parent_id, squad_id, geometry, extra)
    return _Draft(index, zone_id, level, parent_id, zone)


def _misplaced(child: ZoneLevel | None, parent: ZoneLevel | None) -> bool:
    """True when a territorial zone's parent is special or not a larger level."""
    if child is None or parent is None or not child.nested:
        return False
    return not parent.nested or parent.rank >= child.rank


def _check_parents(drafts: list[_Draft], report: _Report) -> None:
    """Report parents that are missing, the feature itself, of the wrong level, or cyclic."""
    first: dict[str, _Draft] = {}
    for draft in drafts:
        first.setdefault(draft.id, draft)
    parents: dict[str, str] = {}
    for draft in drafts:
        parent_id = draft.parent_id
        if parent_id is None:
            continue
        parent = first.get(parent_id)
        if parent_id == draft.id:
            report.add(draft.id, draft.index, "parent_id names the feature itself")
        elif parent is None:
            report.add(draft.id, draft.index, f"parent_id {short(parent_id)} names no feature")
        else:
            parents.setdefault(draft.id, parent_id)
            if _misplaced(draft.level, parent.level):
                report.add(
                    draft.id,
                    draft.index,
                    f"parent {short(parent_id)} is a {parent.level} zone; a {draft.level}"
                    " must lie in a larger territorial level",
                )
    done: set[str] = set()
    for start in parents:
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        while node is not None and node not in done and node not in on_path:
            path.append(node)
            on_path.add(node)
            node = parents.get(node)
        if node is not None and node in on_path:
            cycle = path[path.index(node) :]
            shown = [short(member) for member in cycle[:6]]
            if len(cycle) > 6:
                shown.append("…")
            chain = " → ".join([*shown, short(cycle[0])])
            for member in cycle:
                report.add(member, first[member].index, f"parent_id forms a cycle: {chain}")
        done.update(path)


@dataclass(frozen=True)
class ZoneSetReport:
    """What :func:`check_zone_set` found: the valid zones, the problems that refuse the set
    (sorted by feature), and the warnings that do not (:mod:`geo.topology` explains which)."""

    zones: list[Zone]
    problems: list[ZoneProblem]
    warnings: list[ZoneProblem]
    #: overlaps and gaps accepted as slivers (:mod:`geo.slivers`)
    slivers: list[Sliver] = field(default_factory=list)
    #: what a repair changed, in order (geometry made valid, overlaps resolved, gaps closed)
    corrections: list[Correction] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_invalid(self) -> None:
        """Raise :class:`InvalidZones` listing every problem, if there is any."""
        if self.problems:
            raise InvalidZones(self.problems)


def check_zone_set(
    fc: object,
    known_squads: Collection[str] | None,
    *,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    limits: SliverLimits | None = None,
    repair: bool = False,
) -> ZoneSetReport:
    """Check a decoded GeoJSON FeatureCollection of zones and report, without raising.

    Every feature is checked on its own (id, name, level, squad, geometry), then across
    features (duplicate ids, parents), then their shapes against each other
    (:func:`geo.topology.check_topology`: sibling overlaps and children outside their parent
    are problems, gaps are warnings). ``squad_id`` must be one of ``known_squads`` unless
    that is None. The set may take effect only when :attr:`ZoneSetReport.ok`.

    Overlaps and gaps between siblings that are slivers under ``limits`` (the defaults when
    None) are accepted and listed in :attr:`ZoneSetReport.slivers`. With ``repair``, invalid
    geometry is made valid, larger overlaps between siblings are resolved and sliver gaps
    closed (:func:`geo.repair.repair_topology`) before the check; :attr:`ZoneSetReport.zones`
    are then the repaired zones and :attr:`ZoneSetReport.corrections` lists every change.
    """
    limits = limits or SliverLimits()
    if not isinstance(fc, dict) or fc.get("type") != "FeatureCollection":
        reason = f"expected a GeoJSON FeatureCollection object, got {_what(fc)}"
        return ZoneSetReport([], [ZoneProblem(None, -1, reason)], [])
    features = fc.get("features")
    if not isinstance(features, list | tuple):
        reason = f"features is {json_kind(features)}, not an array"
        return ZoneSetReport([], [ZoneProblem(None, -1, reason)], [])
    if len(features) > MAX_FEATURES:
        reason = f"{len(features):,} features; at most {MAX_FEATURES:,} are allowed"
        return ZoneSetReport([], [ZoneProblem(None, -1, reason)], [])
    report = _Report()
    squads = frozenset(known_squads) if known_squads is not None else None
    budget = PositionBudget(MAX_POSITIONS, MAX_FEATURE_POSITIONS)
    drafts: list[_Draft] = []
    seen: dict[str, int] = {}
    corrections: list[Correction] | None = [] if repair else None
    for index, feature in enumerate(features):
        draft = _read_feature(feature, index, squads, budget, report, corrections)
        if draft is None:
            continue
        if draft.id in seen:
            report.add(
                draft.id, index, f"duplicate id {short(draft.id)}: feature {seen[draft.id]} has it"
            )
        seen.setdefault(draft.id, index)
        drafts.append(draft)
    _check_parents(drafts, report)
    valid = [draft for draft in drafts if draft.zone is not None and seen[draft.id] == draft.index]
    if corrections is not None and not report.problems:
        repaired, changes = repair_topology(
            [draft.zone for draft in valid if draft.zone is not None], limits, tolerance_m
        )
        corrections.extend(changes)
        for draft, zone in zip(valid, repaired, strict=True):
            draft.zone = zone
    findings = check_topology(
        [draft.zone for draft in valid if draft.zone is not None],
        [draft.index for draft in valid],
        tolerance_m=tolerance_m,
        limits=limits,
    )
    for problem in findings.errors:
        report.add(problem.id, problem.index, problem.reason)
    zones = [draft.zone for draft in drafts if draft.zone is not None]
    return ZoneSetReport(
        zones, report.listing(), findings.warnings, findings.slivers, corrections or []
    )


def parse_feature_collection(
    fc: object,
    known_squads: Collection[str] | None,
    *,
    limits: SliverLimits | None = None,
) -> list[Zone]:
    """Validate a decoded GeoJSON FeatureCollection of zones, all or nothing.

    Returns the zones in the order of the features. Raises :class:`InvalidZones` listing
    every problem found (each with the feature's id when it has one, and its index) if any
    feature is unusable or the shapes do not nest (see :func:`check_zone_set`); then nothing
    may take effect. ``squad_id`` must be one of ``known_squads`` unless that is None. The
    caller builds a :class:`ZoneIndex` from the result and replaces the current set with it.
    """
    report = check_zone_set(fc, known_squads, limits=limits)
    report.raise_if_invalid()
    return report.zones


def _what(value: object) -> str:
    if isinstance(value, dict):
        kind = value.get("type")
        return f"type {short(kind)}" if isinstance(kind, str) else "an object without a type"
    return json_kind(value)
