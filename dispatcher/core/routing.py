"""Who answers for a place and a kind of problem (属地, 专综结合; docs/API.md §5).

Territory (属地): the innermost zone containing the point that names a squad. A category with a
specialty goes to the specialist brigade covering the place (专综结合): zones carry
``properties.specialists``, a mapping of specialty to squad id, looked up from the innermost
zone outwards; failing that, the only specialist squad with that skill. A category may name
specialties whose squads support a joint dispatch (联合执法).

Inside a squad (:func:`with_units`), the nearest available unit with the needed skill (the
category's specialty, or the first specialty of its joint dispatch), by live position, then
load: each open incident a unit already holds counts as ``load_penalty_m`` metres more.
Distances are straight lines in metres (geodesic), not road distances, and the reasons say
so. A unit whose position is older than ``stale_after_s`` (or that has none) is passed over:
it is ranked after every unit with a live position, without a distance. Units not
``available`` are not proposed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from dispatcher.core.categories import Category
from dispatcher.core.incidents import Flag
from dispatcher.core.units import UnitState, UnitStatus
from geo.distance import distance_m
from geo.zones import Match, Zone


@dataclass(frozen=True)
class Squad:
    id: str
    name: str
    kind: str  # centre | street | specialist
    parent_id: str | None = None
    skills: tuple[str, ...] = ()


@dataclass(frozen=True)
class Candidate:
    squad_id: str
    reasons: tuple[str, ...]
    unit_id: str | None = None
    distance_m: float | None = None


@dataclass(frozen=True)
class Recommendation:
    """The squads to send, best first, and what an operator should check before."""

    candidates: tuple[Candidate, ...]
    support_squad_ids: tuple[str, ...]
    flags: tuple[Flag, ...]

    @property
    def squad_id(self) -> str | None:
        return self.candidates[0].squad_id if self.candidates else None

    @property
    def certain(self) -> bool:
        """True when nothing needs an operator's eye: the dispatch may go out automatically."""
        blocking = {Flag.NO_ZONE, Flag.NO_SQUAD, Flag.NEAR_BORDER}
        return self.squad_id is not None and not blocking.intersection(self.flags)


def _specialist_for(
    specialty: str, zones: Sequence[Zone], squads: Mapping[str, Squad]
) -> tuple[str, str] | None:
    """The specialist squad for ``specialty`` at a place, and the zone that named it."""
    for zone in reversed(zones):  # innermost first
        named = zone.properties.get("specialists")
        if isinstance(named, Mapping):
            squad_id = named.get(specialty)
            if isinstance(squad_id, str) and squad_id in squads:
                return squad_id, zone.name
    skilled = [s.id for s in squads.values() if s.kind == "specialist" and specialty in s.skills]
    if len(skilled) == 1:
        return skilled[0], ""
    return None


def recommend(
    match: Match, category: Category, squads: Mapping[str, Squad], border_margin_m: float
) -> Recommendation:
    """Rank the squads that should take an incident of ``category`` at the matched place."""
    flags: list[Flag] = []
    if not match.zones:
        flags.append(Flag.NO_ZONE)
    if match.special:
        flags.append(Flag.SPECIAL_ZONE)
    territorial = match.squad_id if match.squad_id in squads else None
    if match.zones and territorial is None:
        flags.append(Flag.NO_SQUAD)
    if (
        territorial is not None
        and match.border_distance_m is not None
        and match.border_distance_m < border_margin_m
    ):
        flags.append(Flag.NEAR_BORDER)

    candidates: list[Candidate] = []
    if category.specialty:
        found = _specialist_for(category.specialty, match.zones, squads)
        if found is not None:
            squad_id, zone_name = found
            where = f"（{zone_name}）" if zone_name else ""
            candidates.append(
                Candidate(
                    squad_id,
                    (f"专综结合：{category.name}属专业领域 {category.specialty}{where}",),
                )
            )
    if territorial is not None:
        street = match.street.name if match.street is not None else territorial
        reason = f"属地：{street}"
        if match.border_distance_m is not None:
            reason += f"（距边界 {match.border_distance_m:.0f} 米）"
        if all(c.squad_id != territorial for c in candidates):
            candidates.append(Candidate(territorial, (reason,)))

    support: list[str] = []
    for specialty in category.joint:
        found = _specialist_for(specialty, match.zones, squads)
        if (
            found is not None
            and found[0] not in support
            and (not candidates or found[0] != candidates[0].squad_id)
        ):
            support.append(found[0])
    return Recommendation(tuple(candidates), tuple(support), tuple(flags))


# -- units within a squad ---------------------------------------------------------------


@dataclass(frozen=True)
class UnitPolicy:
    """How units are weighed (from the settings)."""

    #: a position older than this (seconds) is not used
    stale_after_s: float = 300.0
    #: each open incident a unit holds counts as this many metres of extra distance
    load_penalty_m: float = 300.0
    #: units proposed per squad
    per_squad: int = 3


@dataclass(frozen=True)
class RankedUnit:
    state: UnitState
    distance_m: float | None
    reasons: tuple[str, ...]


def needed_skill(category: Category) -> str | None:
    """The skill a unit should have for ``category``: its specialty, else the first
    specialty of its joint dispatch, else none."""
    if category.specialty:
        return category.specialty
    return category.joint[0] if category.joint else None


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} 秒前"
    if seconds < 5400:
        return f"{seconds / 60:.0f} 分钟前"
    return f"{seconds / 3600:.1f} 小时前"


def _reasons(
    state: UnitState, skill: str | None, metres: float | None, now: datetime
) -> tuple[str, ...]:
    """Why a unit stands where it does: distance (or why none), skill, load."""
    reasons: list[str] = []
    if metres is not None and state.position is not None:
        age = _age(state.position.age_s(now))
        reasons.append(f"直线距离 {metres:.0f} 米（按直线计算，未按道路；位置{age}）")
    elif state.position is None:
        reasons.append("无位置上报：不参与距离排序")
    else:
        reasons.append(f"位置已过时（{_age(state.position.age_s(now))}）：不参与距离排序")
    if skill is not None:
        reasons.append(
            f"具备所需专业 {skill}（专业执法联络员）"
            if skill in state.unit.skills
            else f"不具备所需专业 {skill}：中队内无可用的该专业联络员时就近派员"
        )
    reasons.append(f"负载：在办 {state.load} 件")
    return tuple(reasons)


def rank_units(
    states: Sequence[UnitState],
    lon: float,
    lat: float,
    skill: str | None,
    now: datetime,
    policy: UnitPolicy,
    limit: int | None = None,
) -> list[RankedUnit]:
    """The available units of ``states``, best first (the first ``limit`` of them), each with
    its reasons.

    Order: units with a live position before the others; among them, those with ``skill``
    (when one is needed) first, then by distance plus ``load_penalty_m`` per open incident,
    then by distance and id. Units without a live position follow, skilled first, then by
    load and id.
    """
    keyed: list[tuple[tuple[int, bool, float, float, str], UnitState, float | None]] = []
    for state in states:
        unit = state.unit
        if unit.status is not UnitStatus.AVAILABLE:
            continue
        unskilled = skill is not None and skill not in unit.skills
        position = state.fresh_position(now, policy.stale_after_s)
        if position is not None:
            metres = distance_m(position.lon, position.lat, lon, lat)
            effective = metres + state.load * policy.load_penalty_m
            keyed.append(((0, unskilled, effective, metres, unit.id), state, metres))
        else:
            keyed.append(((1, unskilled, float(state.load), 0.0, unit.id), state, None))
    keyed.sort(key=lambda entry: entry[0])
    return [
        RankedUnit(state, metres, _reasons(state, skill, metres, now))
        for _, state, metres in keyed[:limit]
    ]


def with_units(
    recommendation: Recommendation,
    lon: float,
    lat: float,
    category: Category,
    units: Mapping[str, Sequence[UnitState]],
    now: datetime,
    policy: UnitPolicy,
) -> Recommendation:
    """Expand each squad candidate into its best units (``units`` by squad id).

    Each unit candidate carries the squad's reasons followed by the unit's, its id and its
    straight-line distance; a squad with no available unit stays a squad candidate and
    says so. The squad order, support squads and flags are unchanged.
    """
    skill = needed_skill(category)
    candidates: list[Candidate] = []
    for candidate in recommendation.candidates:
        squad_units = units.get(candidate.squad_id, ())
        ranked = rank_units(squad_units, lon, lat, skill, now, policy, policy.per_squad)
        if not ranked:
            reasons = (*candidate.reasons, "中队内暂无待命执法单元")
            candidates.append(replace(candidate, reasons=reasons))
        candidates.extend(
            Candidate(
                candidate.squad_id,
                (*candidate.reasons, *best.reasons),
                best.state.unit.id,
                None if best.distance_m is None else round(best.distance_m, 1),
            )
            for best in ranked
        )
    return replace(recommendation, candidates=tuple(candidates))
