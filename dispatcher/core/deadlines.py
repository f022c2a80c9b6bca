"""The clocks of one incident: its case limit (处置时限) and the limit of its current stage.

The case clock starts when the incident is registered (立案) and runs on its category's clock
kind; approved extensions (延期) add to the limit, suspensions (挂账) are pauses, and it stops
when the squad reports the work done (处置完毕). Each stage (registering, dispatching,
signing for, verifying) has its own short continuous limit. Everything here is pure: the
state is kept in the incident's ``extra`` and every instant is given by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from dispatcher.core.clocks import ClockKind, Colour, Pause, WorkingCalendar, colour
from dispatcher.core.incidents import Incident, State, evolve, format_time, parse_time


class Stage(StrEnum):
    REGISTER = "register"  # 受理: reported, waiting to be registered or rejected
    DISPATCH = "dispatch"  # 派遣: registered or returned, waiting to be dispatched
    ACCEPT = "accept"  # 签收: dispatched, waiting for the squad to sign for it
    VERIFY = "verify"  # 核查: resolved, waiting for verification


STAGE_OF_STATE: Final = {
    State.REPORTED: Stage.REGISTER,
    State.REGISTERED: Stage.DISPATCH,
    State.RETURNED: Stage.DISPATCH,
    State.DISPATCHED: Stage.ACCEPT,
    State.RESOLVED: Stage.VERIFY,
}


@dataclass(frozen=True)
class StageLimits:
    """Continuous limits of the stages (CJ/T 315 practice: 受理, 派遣 15 min, 核查 30 min)."""

    register: timedelta = timedelta(minutes=15)
    dispatch: timedelta = timedelta(minutes=15)
    accept: timedelta = timedelta(minutes=30)
    verify: timedelta = timedelta(minutes=30)

    def of(self, stage: Stage) -> timedelta:
        limit: timedelta = getattr(self, stage.value)
        return limit


@dataclass(frozen=True)
class Rules:
    """The deployment's clock rules."""

    calendar: WorkingCalendar
    stages: StageLimits = field(default_factory=StageLimits)
    warn_at: float = 0.8
    max_extensions: int = 2


@dataclass(frozen=True)
class Extension:
    seconds: float
    asked_at: datetime
    asked_by: str
    reason: str
    status: str = "pending"  # pending | approved | rejected
    decided_at: datetime | None = None
    decided_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "asked_at": self.asked_at.isoformat(),
            "asked_by": self.asked_by,
            "reason": self.reason,
            "status": self.status,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "decided_by": self.decided_by,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Extension:
        asked = parse_time(data["asked_at"])
        assert asked is not None
        return cls(
            seconds=float(data["seconds"]),
            asked_at=asked,
            asked_by=str(data["asked_by"]),
            reason=str(data.get("reason", "")),
            status=str(data.get("status", "pending")),
            decided_at=parse_time(data.get("decided_at")),
            decided_by=data.get("decided_by"),
        )


@dataclass(frozen=True)
class CaseClock:
    kind: ClockKind
    limit: timedelta
    start: datetime
    pauses: tuple[Pause, ...] = ()
    extensions: tuple[Extension, ...] = ()
    stopped_at: datetime | None = None

    @property
    def allowed(self) -> timedelta:
        extra = sum((e.seconds for e in self.extensions if e.status == "approved"), 0.0)
        return self.limit + timedelta(seconds=extra)

    @property
    def suspended(self) -> bool:
        return any(end is None for _, end in self.pauses)

    def used(self, calendar: WorkingCalendar, now: datetime) -> timedelta:
        end = now if self.stopped_at is None else min(now, self.stopped_at)
        return calendar.elapsed_excluding(self.start, end, self.kind, self.pauses)

    def deadline(self, calendar: WorkingCalendar, now: datetime) -> datetime:
        return calendar.deadline_with_pauses(self.start, self.allowed, self.kind, self.pauses, now)

    def warning_at(self, rules: Rules, now: datetime) -> datetime:
        return rules.calendar.warning_instant(
            self.start, self.allowed, self.kind, self.pauses, now, warn_at=rules.warn_at
        )

    def colour(self, rules: Rules, now: datetime) -> Colour:
        return colour(self.used(rules.calendar, now), self.allowed, rules.warn_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "limit_s": self.limit.total_seconds(),
            "start": self.start.isoformat(),
            "pauses": [[a.isoformat(), b.isoformat() if b else None] for a, b in self.pauses],
            "extensions": [e.to_json() for e in self.extensions],
            "stopped_at": self.stopped_at.isoformat() if self.stopped_at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CaseClock:
        start = parse_time(data["start"])
        assert start is not None
        pauses: list[Pause] = []
        for a, b in data.get("pauses", []):
            begin = parse_time(a)
            assert begin is not None
            pauses.append((begin, parse_time(b)))
        return cls(
            kind=ClockKind(data["kind"]),
            limit=timedelta(seconds=float(data["limit_s"])),
            start=start,
            pauses=tuple(pauses),
            extensions=tuple(Extension.from_json(e) for e in data.get("extensions", [])),
            stopped_at=parse_time(data.get("stopped_at")),
        )


def case_clock(incident: Incident) -> CaseClock | None:
    data = incident.extra.get("clock")
    return CaseClock.from_json(data) if isinstance(data, Mapping) else None


def with_clock(incident: Incident, clock: CaseClock, rules: Rules, now: datetime) -> Incident:
    """The incident with ``clock`` kept and its deadline and colour brought up to date."""
    extra = dict(incident.extra)
    extra["clock"] = clock.to_json()
    extra["suspended"] = clock.suspended
    extra["colour"] = clock.colour(rules, now).value
    if extra["colour"] == Colour.GREEN.value:
        extra.pop("case_alerted", None)  # e.g. an extension gave time back: warn again later
    return evolve(incident, extra=extra, deadline=clock.deadline(rules.calendar, now))


def start_case_clock(
    incident: Incident, kind: ClockKind, limit: timedelta, rules: Rules, now: datetime
) -> Incident:
    """Start the case clock at registration (立案)."""
    return with_clock(incident, CaseClock(kind, limit, now), rules, now)


def stage_since(incident: Incident) -> datetime:
    since = parse_time(incident.extra.get("stage_since"))
    return since if since is not None else incident.updated_at


def enter_stage(incident: Incident, now: datetime) -> Incident:
    """Note when the incident entered its current state's stage."""
    return evolve(incident, extra={**incident.extra, "stage_since": now.isoformat()})


def stage_deadline(incident: Incident, rules: Rules) -> datetime | None:
    stage = STAGE_OF_STATE.get(incident.state)
    if stage is None or incident.extra.get("suspended"):
        return None
    return stage_since(incident) + rules.stages.of(stage)


def live_view(incident: Incident, rules: Rules, now: datetime) -> dict[str, Any]:
    """What the API adds to an incident as of ``now``: remaining time, colour, stage."""
    tz = rules.calendar.tz
    view: dict[str, Any] = {"remaining_s": None, "colour": None, "stage": None}
    clock = case_clock(incident)
    if clock is not None:
        used = clock.used(rules.calendar, now)
        view["remaining_s"] = round((clock.allowed - used).total_seconds(), 3)
        view["colour"] = colour(used, clock.allowed, rules.warn_at).value
        view["allowed_s"] = clock.allowed.total_seconds()
    stage = STAGE_OF_STATE.get(incident.state)
    if stage is not None:
        due = stage_deadline(incident, rules)
        view["stage"] = {
            "name": stage.value,
            "since": format_time(stage_since(incident), tz),
            "deadline": format_time(due, tz),
            "overdue": due is not None and now >= due,
        }
        if view["colour"] is None and due is not None:
            view["colour"] = Colour.RED.value if now >= due else Colour.GREEN.value
    return view
