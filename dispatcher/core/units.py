"""Units of the squads: who they are, what they can do, where they are (docs/API.md §3).

A unit is a vehicle or a pair of officers (enforcement needs two) of one squad, with skills
(the squad's liaison for a specialty, 专业执法联络员) and a status that its squad changes from
the phone. Its status is durable (PostgreSQL); its position is ephemeral (Redis, with the time
it was taken): positions have no history rows and no ``seq``, and reach consoles as
``unit.moved`` messages that a console may miss (it reads ``GET /api/v1/units`` again).

Pure: bodies in (validated here, 422 naming the field), values and JSON out. The adapters are
``units_store`` (SQL), ``realtime.positions`` (Redis) and ``api_units`` (HTTP, WebSocket).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from dispatcher.core.errors import Forbidden, ValidationFailed
from dispatcher.core.times import format_time
from dispatcher.core.validation import Clean, validation_error
from geo.coords import parse_crs, to_wgs84
from geo.errors import InvalidCoordinates


class UnitStatus(StrEnum):
    AVAILABLE = "available"  # 待命: may be sent
    EN_ROUTE = "en_route"  # 在途: going to an incident
    ON_SCENE = "on_scene"  # 到场: handling it
    BUSY = "busy"  # 忙碌: otherwise occupied
    OFF_DUTY = "off_duty"  # 下班 / 不在岗


#: a position dated this far ahead of the server's clock is refused; less is taken as now
MAX_CLOCK_SKEW: Final = timedelta(seconds=60)
#: the topics a unit's messages go to, besides its squad's
UNIT_TOPICS: Final = ("all", "units")
UNIT_MOVED: Final = "unit.moved"
UNIT_UPDATED: Final = "unit.updated"

Skill = Annotated[str, Field(min_length=1, max_length=64), Clean]


@dataclass(frozen=True)
class Unit:
    id: str
    squad_id: str
    name: str
    skills: tuple[str, ...]
    status: UnitStatus
    status_at: datetime | None = None
    status_by: str | None = None


@dataclass(frozen=True)
class Position:
    """Where a unit was (WGS84) and when."""

    lon: float
    lat: float
    at: datetime

    def age_s(self, now: datetime) -> float:
        return max(0.0, (now - self.at).total_seconds())


@dataclass(frozen=True)
class UnitState:
    """A unit as ranking and the API see it: its record, last position and load (the
    incidents dispatched to it that it has not finished)."""

    unit: Unit
    position: Position | None = None
    load: int = 0

    def fresh_position(self, now: datetime, stale_after_s: float) -> Position | None:
        """The position if it is younger than ``stale_after_s``, else None."""
        if self.position is None or self.position.age_s(now) > stale_after_s:
            return None
        return self.position


class UnitIn(BaseModel):
    """The body of ``PUT /api/v1/units/{id}``."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    squad_id: Annotated[str, Field(min_length=1, max_length=100), Clean]
    name: Annotated[str, Field(min_length=1, max_length=200), Clean]
    skills: Annotated[list[Skill], Field(max_length=50)] = []
    status: UnitStatus = UnitStatus.AVAILABLE


class PositionIn(BaseModel):
    """A position report: the body of ``POST /api/v1/units/{id}/position``, or a
    ``{"type": "position", "unit_id": ...}`` message on the unit's WebSocket."""

    model_config = ConfigDict(allow_inf_nan=False, extra="ignore")

    lon: float
    lat: float
    crs: str | None = None
    at: AwareDatetime | None = None


class StatusIn(BaseModel):
    """The body of ``POST /api/v1/units/{id}/status``."""

    model_config = ConfigDict(extra="ignore")

    status: UnitStatus


def _parse(model: type[BaseModel], body: bytes | str | Mapping[str, Any]) -> Any:
    try:
        if isinstance(body, Mapping):
            return model.model_validate(body)
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(exc) from None


def parse_unit(body: bytes | str) -> UnitIn:
    result: UnitIn = _parse(UnitIn, body)
    return result


def parse_status(body: bytes | str | Mapping[str, Any]) -> UnitStatus:
    result: StatusIn = _parse(StatusIn, body)
    return result.status


def parse_position(body: bytes | str | Mapping[str, Any], now: datetime) -> Position:
    """A validated position in WGS84; raises ValidationFailed naming lon, lat, crs or at.

    ``at`` defaults to ``now``; a time up to :data:`MAX_CLOCK_SKEW` ahead (a phone's clock) is
    taken as ``now``, further ahead is refused.
    """
    given: PositionIn = _parse(PositionIn, body)
    try:
        lon, lat = to_wgs84(given.lon, given.lat, parse_crs(given.crs))
    except InvalidCoordinates as exc:
        raise ValidationFailed(str(exc), field=exc.field) from None
    at = given.at or now
    if at > now + MAX_CLOCK_SKEW:
        raise ValidationFailed("at: the time is in the future", field="at")
    return Position(lon, lat, min(at, now))


def require_own_unit(role_reads_all: bool, squad_ids: AbstractSet[str], unit: Unit) -> None:
    """Raise Forbidden unless the caller reads all, or answers for the unit's squad
    (``squad_ids``: the caller's squad and those below it)."""
    if not role_reads_all and unit.squad_id not in squad_ids:
        raise Forbidden("a squad sees and moves only its own tier's units")


def check_assignment(unit: Unit | None, unit_id: str, squad_ids: Sequence[str]) -> Unit:
    """The unit an incident dispatched to ``squad_ids`` may be given to; raises
    ValidationFailed (field ``unit_id``) when there is none, it belongs to another squad, or
    it is off duty. A unit busy elsewhere may be named: the operator decides."""
    if unit is None:
        raise ValidationFailed(f"unit_id: no unit {unit_id}", field="unit_id")
    if unit.squad_id not in squad_ids:
        raise ValidationFailed(
            f"unit_id: unit {unit.id} belongs to squad {unit.squad_id}, which the incident"
            " is not dispatched to",
            field="unit_id",
        )
    if unit.status is UnitStatus.OFF_DUTY:
        raise ValidationFailed(f"unit_id: unit {unit.id} is off duty", field="unit_id")
    return unit


def topics_of(unit: Unit) -> tuple[str, ...]:
    return (*UNIT_TOPICS, f"squad:{unit.squad_id}")


def position_json(
    position: Position | None, now: datetime, tz: tzinfo, stale_after_s: float
) -> dict[str, Any] | None:
    if position is None:
        return None
    age = position.age_s(now)
    return {
        "lon": position.lon,
        "lat": position.lat,
        "crs": "WGS84",
        "at": format_time(position.at, tz),
        "age_s": round(age, 1),
        "stale": age > stale_after_s,
    }


def unit_json(state: UnitState, now: datetime, tz: tzinfo, stale_after_s: float) -> dict[str, Any]:
    """A unit as the API answers it: record, status, load, and position with its age."""
    unit = state.unit
    return {
        "id": unit.id,
        "squad_id": unit.squad_id,
        "name": unit.name,
        "skills": list(unit.skills),
        "status": unit.status.value,
        "status_at": format_time(unit.status_at, tz),
        "load": state.load,
        "position": position_json(state.position, now, tz, stale_after_s),
    }


def moved_message(unit: Unit, position: Position, tz: tzinfo) -> dict[str, Any]:
    """The ``unit.moved`` message consoles get (no ``seq``: positions are not history)."""
    return {
        "type": UNIT_MOVED,
        "unit": {
            "id": unit.id,
            "squad_id": unit.squad_id,
            "status": unit.status.value,
            "position": {
                "lon": position.lon,
                "lat": position.lat,
                "crs": "WGS84",
                "at": format_time(position.at, tz),
            },
        },
    }


def updated_message(
    state: UnitState, now: datetime, tz: tzinfo, stale_after_s: float
) -> dict[str, Any]:
    """The ``unit.updated`` message (a status or record changed); no ``seq`` either."""
    return {
        "type": UNIT_UPDATED,
        "at": format_time(now, tz),
        "unit": unit_json(state, now, tz, stale_after_s),
    }
