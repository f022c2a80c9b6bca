"""Duty (勤务): posts, shifts, rosters with rotations, who is on duty, check-ins at a post.

A squad keeps **posts** (岗点): a place (a point or a polygon), some of them joint posts with
the police (城警联勤, the police unit named). Its **shifts** (班次) have a local start and end
time; an end at or before the start falls on the next day (a night shift). A **roster** (排班)
is a cycle of days from its first day: each team's shift on each day of the cycle (``None``: the
team rests), and its members, each in a team at a post. A week's plan is a cycle of 7 days
repeated week after week; 四班三运转 is four teams on an 8-day cycle (two early, two middle, two
night, two off); 早/中/晚 three teams on a 3-day cycle. A rotation runs on the calendar's days as
they come: holidays change nothing (duty never stops).

Who is on duty at an instant (:func:`on_duty`) is a pure function of the rosters, the shifts
and the instant, in the deployment's local time: a shift that began the day before and has not
ended yet counts. An officer checks in at a post (:func:`check_in`) when on duty there (or up
to :data:`EARLY` before the shift) and within a radius of the post; after the shift's start
plus a grace the check-in is late.

The recommendation of a dispatch (:func:`on_duty_first`) sends an incident inside a post's
place to that post's squad first when someone is on duty there, and ranks squads with nobody
on duty after those with officers on duty. Pure: no I/O, every instant is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from shapely.geometry import Point, Polygon, shape
from shapely.geometry.base import BaseGeometry

from dispatcher.core.routing import Candidate, Recommendation
from dispatcher.core.times import format_time
from dispatcher.core.validation import Clean, validation_error
from geo.distance import LocalFrame, distance_m
from geo.errors import InvalidGeometry
from geo.geojson import PositionBudget, read_point, read_polygonal

#: how long before a shift an officer may check in already
EARLY: Final = timedelta(minutes=30)
#: the radius of a post that is a point, for the recommendation (an incident "at" the post)
POINT_POST_RADIUS_M: Final = 100.0
#: the most positions a post's polygon may have (a post is a street corner or a square)
POST_POSITIONS: Final = 10_000

Id = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S+$")]
Name = Annotated[str, Field(min_length=1, max_length=200), Clean]


class PostPlaceIn(BaseModel):
    """A post's place as GeoJSON: a Point or a Polygon in WGS84."""

    model_config = ConfigDict(allow_inf_nan=False, extra="ignore")

    type: Literal["Point", "Polygon"]
    coordinates: Any

    @model_validator(mode="after")
    def _shape(self) -> PostPlaceIn:
        # read as the zones are (geo.geojson): every shape of input gets its reason, none a 500
        try:
            if self.type == "Polygon":
                read_polygonal(
                    {"type": "Polygon", "coordinates": self.coordinates},
                    PositionBudget(POST_POSITIONS, POST_POSITIONS),
                )
            else:
                read_point(self.coordinates)
        except InvalidGeometry as exc:
            raise ValueError(f"not a usable GeoJSON {self.type}: {exc.reason}") from None
        return self


class PostIn(BaseModel):
    """The body of ``PUT /api/v1/duty/posts/{id}``."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    squad_id: Id
    name: Name
    place: PostPlaceIn
    joint_police: bool = False  # 城警联勤
    police_unit: Annotated[str, Field(max_length=200), Clean] = ""

    @model_validator(mode="after")
    def _police(self) -> PostIn:
        if self.joint_police and not self.police_unit:
            raise ValueError("police_unit: a joint post (城警联勤) names the police unit")
        return self


class ShiftIn(BaseModel):
    """The body of ``PUT /api/v1/duty/shifts/{id}``: local times ``HH:MM``."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    squad_id: Id
    name: Name
    starts: time
    ends: time


class RosterMemberIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    person_id: Id
    team: Annotated[str, Field(min_length=1, max_length=20)]
    post_id: Id


class RosterIn(BaseModel):
    """The body of ``PUT /api/v1/duty/rosters/{id}``."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    squad_id: Id
    name: Name
    starts_on: date
    ends_on: date | None = None
    cycle_days: int = Field(ge=1, le=366)
    #: team → the shift id of each day of the cycle (null: the team rests that day)
    pattern: Annotated[dict[str, list[Id | None]], Field(min_length=1, max_length=50)]
    members: Annotated[list[RosterMemberIn], Field(max_length=2000)]

    @model_validator(mode="after")
    def _cycle(self) -> RosterIn:
        for team, days in self.pattern.items():
            if len(days) != self.cycle_days:
                raise ValueError(f"pattern.{team}: one entry per day of the cycle")
        for m in self.members:
            if m.team not in self.pattern:
                raise ValueError(f"members: team {m.team} is not in the pattern")
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise ValueError("ends_on: before starts_on")
        return self


class CheckInIn(BaseModel):
    """The body of ``POST /api/v1/duty/check-ins``: where the phone is (WGS84)."""

    model_config = ConfigDict(allow_inf_nan=False, extra="ignore")

    post_id: Id
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], body: bytes | str | Mapping[str, Any]) -> M:
    """Validate a request body as ``model``; raise ValidationFailed / BadRequest."""
    try:
        if isinstance(body, bytes | str):
            return model.model_validate_json(body or b"{}")
        return model.model_validate(body)
    except ValidationError as exc:
        raise validation_error(exc) from None


# -- values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    id: str
    squad_id: str
    name: str
    place: Mapping[str, Any]  # GeoJSON
    joint_police: bool = False
    police_unit: str = ""

    @property
    def geometry(self) -> BaseGeometry:
        return shape(dict(self.place))

    def distance_m(self, lon: float, lat: float) -> float:
        """Metres from ``(lon, lat)`` to the post: 0 inside its polygon."""
        geom = self.geometry
        if isinstance(geom, Point):
            return distance_m(geom.x, geom.y, lon, lat)
        if geom.covers(Point(lon, lat)):
            return 0.0
        frame = LocalFrame(lon, lat)
        return float(frame.to_metres(geom).distance(frame.point(lon, lat)))

    def holds(self, lon: float, lat: float) -> bool:
        """Whether ``(lon, lat)`` is at the post: inside its polygon, or near its point."""
        geom = self.geometry
        if isinstance(geom, Polygon):
            return bool(geom.covers(Point(lon, lat)))
        return self.distance_m(lon, lat) <= POINT_POST_RADIUS_M

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "squad_id": self.squad_id,
            "name": self.name,
            "place": dict(self.place),
            "joint_police": self.joint_police,
            "police_unit": self.police_unit,
        }


@dataclass(frozen=True)
class Shift:
    id: str
    squad_id: str
    name: str
    starts: time
    ends: time

    @property
    def overnight(self) -> bool:
        return self.ends <= self.starts

    def span(self, day: date, tz: tzinfo) -> tuple[datetime, datetime]:
        """The instants of this shift begun on local ``day`` (its end may be the next day)."""
        start = datetime.combine(day, self.starts, tz)
        end_day = day + timedelta(days=1) if self.overnight else day
        return start, datetime.combine(end_day, self.ends, tz)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "squad_id": self.squad_id,
            "name": self.name,
            "starts": self.starts.strftime("%H:%M"),
            "ends": self.ends.strftime("%H:%M"),
            "overnight": self.overnight,
        }


@dataclass(frozen=True)
class Member:
    person_id: str
    team: str
    post_id: str


@dataclass(frozen=True)
class Roster:
    id: str
    squad_id: str
    name: str
    starts_on: date
    ends_on: date | None
    cycle_days: int
    pattern: Mapping[str, tuple[str | None, ...]]
    members: tuple[Member, ...]

    def shift_of(self, team: str, day: date) -> str | None:
        """The shift ``team`` begins on local ``day`` (None: rest, or outside the roster)."""
        if day < self.starts_on or (self.ends_on is not None and day > self.ends_on):
            return None
        days = self.pattern.get(team, ())
        if not days:
            return None
        return days[(day - self.starts_on).days % self.cycle_days]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "squad_id": self.squad_id,
            "name": self.name,
            "starts_on": self.starts_on.isoformat(),
            "ends_on": self.ends_on.isoformat() if self.ends_on else None,
            "cycle_days": self.cycle_days,
            "pattern": {t: list(d) for t, d in self.pattern.items()},
            "members": [
                {"person_id": m.person_id, "team": m.team, "post_id": m.post_id}
                for m in self.members
            ],
        }


def roster_of(roster_id: str, body: RosterIn) -> Roster:
    return Roster(
        id=roster_id,
        squad_id=body.squad_id,
        name=body.name,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        cycle_days=body.cycle_days,
        pattern={t: tuple(d) for t, d in body.pattern.items()},
        members=tuple(Member(m.person_id, m.team, m.post_id) for m in body.members),
    )


@dataclass(frozen=True)
class Stint:
    """One person's shift at a post: from ``starts_at`` to ``ends_at``."""

    person_id: str
    squad_id: str
    post_id: str
    shift_id: str
    roster_id: str
    team: str
    starts_at: datetime
    ends_at: datetime

    def to_json(self, tz: tzinfo) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "squad_id": self.squad_id,
            "post_id": self.post_id,
            "shift_id": self.shift_id,
            "roster_id": self.roster_id,
            "team": self.team,
            "starts_at": format_time(self.starts_at, tz),
            "ends_at": format_time(self.ends_at, tz),
        }


def stints_begun(
    rosters: Iterable[Roster], shifts: Mapping[str, Shift], day: date, tz: tzinfo
) -> list[Stint]:
    """Every stint that begins on local ``day``, by roster order and member order."""
    found: list[Stint] = []
    for roster in rosters:
        for member in roster.members:
            shift_id = roster.shift_of(member.team, day)
            shift = shifts.get(shift_id) if shift_id else None
            if shift is None:
                continue
            start, end = shift.span(day, tz)
            found.append(
                Stint(
                    member.person_id,
                    roster.squad_id,
                    member.post_id,
                    shift.id,
                    roster.id,
                    member.team,
                    start,
                    end,
                )
            )
    return found


def on_duty(
    rosters: Iterable[Roster],
    shifts: Mapping[str, Shift],
    at: datetime,
    tz: tzinfo,
    *,
    early: timedelta = timedelta(0),
) -> list[Stint]:
    """The stints running at ``at`` (from ``early`` before their start to their end): those
    begun on the local day of ``at`` and the day before (a night shift crossing midnight)."""
    rosters = list(rosters)
    today = at.astimezone(tz).date()
    found: list[Stint] = []
    for day in (today - timedelta(days=1), today):
        for stint in stints_begun(rosters, shifts, day, tz):
            if stint.starts_at - early <= at < stint.ends_at:
                found.append(stint)
    return found


# -- check-in ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckIn:
    """A check-in as decided: accepted (perhaps late) or refused with a reason."""

    person_id: str
    post: Post
    at: datetime
    lon: float
    lat: float
    distance_m: float
    stint: Stint | None
    accepted: bool
    late: bool = False
    reason: str = ""

    def to_json(self, tz: tzinfo) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "post_id": self.post.id,
            "post_name": self.post.name,
            "squad_id": self.post.squad_id,
            "at": format_time(self.at, tz),
            "lon": self.lon,
            "lat": self.lat,
            "distance_m": round(self.distance_m, 1),
            "accepted": self.accepted,
            "late": self.late,
            "reason": self.reason,
            "shift": None if self.stint is None else self.stint.to_json(tz),
        }


def check_in(
    person_id: str,
    post: Post,
    stints: Sequence[Stint],
    lon: float,
    lat: float,
    at: datetime,
    *,
    radius_m: float,
    late_after: timedelta,
) -> CheckIn:
    """Judge a check-in at ``post``: ``stints`` are the stints running at ``at`` (with
    :data:`EARLY`). Accepted when one of them is ``person_id``'s at this post and the phone
    is within ``radius_m`` of the post; late after the shift's start plus ``late_after``.
    The caller records it either way and refuses a refused one."""
    metres = post.distance_m(lon, lat)
    mine = [s for s in stints if s.person_id == person_id]
    here = [s for s in mine if s.post_id == post.id]
    if not here:
        reason = (
            f"当前不在该岗点的班次上（在岗岗点：{'、'.join(s.post_id for s in mine)}）"
            if mine
            else "当前不在班（排班中无此时段的班次）"
        )
        return CheckIn(person_id, post, at, lon, lat, metres, None, False, reason=reason)
    stint = min(here, key=lambda s: s.starts_at)
    if metres > radius_m:
        reason = f"距岗点 {metres:.0f} 米，超出签到范围 {radius_m:.0f} 米"
        return CheckIn(person_id, post, at, lon, lat, metres, stint, False, reason=reason)
    late = at > stint.starts_at + late_after
    return CheckIn(person_id, post, at, lon, lat, metres, stint, True, late=late)


# -- strength and recommendation ----------------------------------------------------------


@dataclass(frozen=True)
class Strength:
    """Officers on duty and checked in, at a post or in a squad."""

    on_duty: int = 0
    checked_in: int = 0

    def __add__(self, other: Strength) -> Strength:
        return Strength(self.on_duty + other.on_duty, self.checked_in + other.checked_in)

    def to_json(self) -> dict[str, int]:
        return {"on_duty": self.on_duty, "checked_in": self.checked_in}


def strength(
    stints: Sequence[Stint], checked_in: Iterable[tuple[str, str]]
) -> tuple[dict[str, Strength], dict[str, Strength]]:
    """(by post, by squad): the people on duty, and of them those checked in at their post
    in their current stint (``checked_in``: pairs of person and post)."""
    present = set(checked_in)
    by_post: dict[str, Strength] = {}
    by_squad: dict[str, Strength] = {}
    seen: set[tuple[str, str]] = set()
    for s in stints:
        if (s.person_id, s.post_id) in seen:
            continue
        seen.add((s.person_id, s.post_id))
        one = Strength(1, 1 if (s.person_id, s.post_id) in present else 0)
        by_post[s.post_id] = by_post.get(s.post_id, Strength()) + one
        by_squad[s.squad_id] = by_squad.get(s.squad_id, Strength()) + one
    return by_post, by_squad


def on_duty_first(
    recommendation: Recommendation,
    lon: float,
    lat: float,
    posts: Sequence[Post],
    stints: Sequence[Stint],
    rostered_squads: Iterable[str],
) -> Recommendation:
    """``recommendation`` with who is on duty and where taken into account.

    An incident at a post's place whose post has officers on duty now goes to that post's
    squad first (added if it was not a candidate), with the post and the count in its
    reasons. Among the other candidates, a squad that keeps rosters (``rostered_squads``)
    with nobody on duty now ranks after the squads with officers on duty, and says so;
    squads without rosters are left as they were (nothing is known of their duty).
    """
    rostered = set(rostered_squads)
    if not rostered:
        return recommendation
    staffed: dict[str, int] = {}
    at_post: dict[str, set[str]] = {}
    for s in stints:
        staffed[s.squad_id] = staffed.get(s.squad_id, 0) + 1
        at_post.setdefault(s.post_id, set()).add(s.person_id)
    here = [p for p in posts if at_post.get(p.id) and p.holds(lon, lat)]
    first: dict[str, str] = {}
    for post in sorted(here, key=lambda p: p.id):
        joint = f"，城警联勤（{post.police_unit}）" if post.joint_police else ""
        first.setdefault(post.squad_id, f"岗点：{post.name}在岗 {len(at_post[post.id])} 人{joint}")

    def note(candidate: Candidate) -> Candidate:
        squad = candidate.squad_id
        extra: tuple[str, ...] = ()
        if squad in first:
            extra = (first[squad],)
        elif squad in rostered:
            count = staffed.get(squad, 0)
            extra = (
                (f"当前在岗 {count} 人",) if count else ("当前无人在岗：排在有人在岗的中队之后",)
            )
        if not extra:
            return candidate
        return replace(candidate, reasons=(*candidate.reasons[:1], *extra, *candidate.reasons[1:]))

    candidates = [note(c) for c in recommendation.candidates]
    known = {c.squad_id for c in candidates}
    added = [Candidate(s, (r,)) for s, r in first.items() if s not in known]

    def rank(candidate: Candidate) -> int:
        if candidate.squad_id in first:
            return 0
        if candidate.squad_id in rostered and not staffed.get(candidate.squad_id):
            return 2
        return 1

    ordered = sorted([*added, *candidates], key=rank)  # stable: the base order within a rank
    return replace(recommendation, candidates=tuple(ordered))
