"""Who answers for a place and a kind of problem (DESIGN: Routing).

Territory (属地): the innermost zone containing the point that names a squad. A category with a
specialty goes to the specialist brigade covering the place (专综结合): zones carry
``properties.specialists``, a mapping of specialty to squad id, looked up from the innermost
zone outwards; failing that, the only specialist squad with that skill. A category may name
specialties whose squads support a joint dispatch (联合执法).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dispatcher.categories import Category
from dispatcher.incidents import Flag
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
