"""The clocks of one incident: its case limit (处置时限) and the limit of its current stage.

The case clock starts when the incident is registered (立案) and runs on its category's clock
kind; approved extensions (延期) add to the limit, suspensions (挂账) are pauses, and it stops
when the squad reports the work done (处置完毕). Each stage (registering, dispatching,
signing for, verifying) has its own short continuous limit. Everything here is pure: the
state is kept in the incident's ``progress`` and every instant is given by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from dispatcher.core.clocks import ClockKind, Colour, WorkingCalendar, colour
from dispatcher.core.incidents import Incident, State, evolve
from dispatcher.core.progress import CaseClock
from dispatcher.core.request_types import DEFAULT_HOTLINE_LIMITS, HotlineLimits
from dispatcher.core.times import format_time


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
    #: the 12345 hotline's limit of each request type (``DISPATCH_HOTLINE_LIMITS``)
    hotline_limits: HotlineLimits = DEFAULT_HOTLINE_LIMITS


def case_clock(incident: Incident) -> CaseClock | None:
    return incident.progress.clock


def with_clock(incident: Incident, clock: CaseClock, rules: Rules, now: datetime) -> Incident:
    """The incident with ``clock`` kept and its deadline and colour brought up to date."""
    now_colour = clock.colour(rules.calendar, rules.warn_at, now)
    progress = replace(
        incident.progress,
        clock=clock,
        suspended=clock.suspended,
        colour=now_colour.value,
        # e.g. an extension gave time back: warn again later
        case_alerted=None if now_colour is Colour.GREEN else incident.progress.case_alerted,
    )
    return evolve(incident, progress=progress, deadline=clock.deadline(rules.calendar, now))


def start_case_clock(
    incident: Incident, kind: ClockKind, limit: timedelta, rules: Rules, now: datetime
) -> Incident:
    """Start the case clock at registration (立案)."""
    return with_clock(incident, CaseClock(kind, limit, now), rules, now)


def stage_since(incident: Incident) -> datetime:
    since = incident.progress.stage_since
    return since if since is not None else incident.updated_at


def enter_stage(incident: Incident, now: datetime) -> Incident:
    """Note when the incident entered its current state's stage."""
    return evolve(incident, progress=replace(incident.progress, stage_since=now))


def stage_deadline(incident: Incident, rules: Rules) -> datetime | None:
    stage = STAGE_OF_STATE.get(incident.state)
    if stage is None or incident.progress.suspended:
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
