"""The clocks of one incident: its case limit (处置时限) and the limit of its current stage.

The case clock starts when the incident is registered (立案) and runs on its category's clock
kind; approved extensions (延期) add to the limit, suspensions (挂账) are pauses, and it stops
when the squad reports the work done (处置完毕).

Each stage has a limit on a clock kind of its own (:class:`StageLimit`): 受理 (register) and
派遣 (dispatch) 15 minutes, 签收 (accept) and 核查 (verify) 30 minutes, continuous, as CJ/T 315
practice sets them (:data:`DEFAULT_STAGE_LIMITS`); 处置 is the case clock itself (the
category's ``clock`` and ``limit``). A deployment may set other limits for a source (the 12345
hotline's work orders are signed for within 1 working day) and a category its own
(``stage_limits`` in its catalogue entry); :meth:`StageLimits.of` chooses: the category's, else
the source's, else the default. A stage's clock starts when the incident enters the stage and
starts again when a suspension (挂账) ends; a suspended incident has no stage deadline.

Everything here is pure: the state is kept in the incident's ``progress`` and every instant is
given by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from dispatcher.core.clocks import ClockKind, Colour, WorkingCalendar, colour
from dispatcher.core.incidents import Incident, State, evolve
from dispatcher.core.progress import CaseClock
from dispatcher.core.request_types import DEFAULT_HOTLINE_LIMITS, HotlineLimits
from dispatcher.core.stages import Stage, StageLimit, StageLimits
from dispatcher.core.times import format_time
from dispatcher.core.workorder import DEFAULT_HOTLINE_RULES, HotlineRules

STAGE_OF_STATE: Final = {
    State.REPORTED: Stage.REGISTER,
    State.REGISTERED: Stage.DISPATCH,
    State.RETURNED: Stage.DISPATCH,
    State.DISPATCHED: Stage.ACCEPT,
    State.RESOLVED: Stage.VERIFY,
}


@dataclass(frozen=True)
class Rules:
    """The deployment's clock rules."""

    calendar: WorkingCalendar
    stages: StageLimits = field(default_factory=StageLimits)
    warn_at: float = 0.8
    max_extensions: int = 2
    #: the further lateness, as a share of the case's limit, after which an overdue case is
    #: told to the next command tier up (``DISPATCH_ESCALATION_STEP``; ``core.alarms``)
    escalation_step: float = 0.5
    #: the 12345 hotline's limit of each request type (``DISPATCH_HOTLINE_LIMITS``)
    hotline_limits: HotlineLimits = DEFAULT_HOTLINE_LIMITS
    #: the 12345 接诉即办 rules: contact hours, 退单 window, 满意率 (``DISPATCH_HOTLINE_*``)
    hotline: HotlineRules = DEFAULT_HOTLINE_RULES


def case_clock(incident: Incident) -> CaseClock | None:
    return incident.progress.clock


def with_clock(incident: Incident, clock: CaseClock, rules: Rules, now: datetime) -> Incident:
    """The incident with ``clock`` kept and its deadline and colour brought up to date."""
    now_colour = clock.colour(rules.calendar, rules.warn_at, now)
    progress = incident.progress.but(
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
    """Start the case clock at registration (立案).

    A 12345 work order whose platform set its closure deadline (办结时限) runs to that
    deadline instead: a continuous clock whose limit is the time left until it (none when it
    has passed), so the case deadline is the platform's to the second.
    """
    order = incident.progress.hotline
    if order is not None and order.closure_deadline is not None:
        kind = ClockKind.CONTINUOUS
        limit = max(order.closure_deadline - now, timedelta(0))
    return with_clock(incident, CaseClock(kind, limit, now), rules, now)


def stage_since(incident: Incident) -> datetime:
    since = incident.progress.stage_since
    return since if since is not None else incident.updated_at


def enter_stage(incident: Incident, now: datetime) -> Incident:
    """Note when the incident entered its current state's stage."""
    return evolve(incident, progress=incident.progress.but(stage_since=now))


def stage_limit(incident: Incident, rules: Rules) -> tuple[Stage, StageLimit] | None:
    """The incident's current stage and its limit; None when its state has no stage clock
    (accepted: the case clock runs; final states) or it is suspended (挂账)."""
    stage = STAGE_OF_STATE.get(incident.state)
    if stage is None or incident.progress.suspended:
        return None
    return stage, rules.stages.of(stage, incident.source, incident.category)


def stage_deadline(incident: Incident, rules: Rules) -> datetime | None:
    """When the current stage's limit runs out, counted on its clock kind from the stage's
    start; None without a running stage clock (see :func:`stage_limit`)."""
    found = stage_limit(incident, rules)
    if found is None:
        return None
    limit = found[1]
    return rules.calendar.add(stage_since(incident), limit.amount, limit.clock)


def stage_warning_at(incident: Incident, rules: Rules) -> datetime | None:
    """When the current stage turns yellow (``warn_at`` of its limit used); None as for
    :func:`stage_deadline`."""
    found = stage_limit(incident, rules)
    if found is None:
        return None
    limit = found[1]
    return rules.calendar.add(stage_since(incident), limit.amount * rules.warn_at, limit.clock)


def stage_colour(incident: Incident, rules: Rules, now: datetime) -> Colour | None:
    """The current stage's colour as of ``now`` (三色预警, as the case clock's); None as for
    :func:`stage_deadline`."""
    found = stage_limit(incident, rules)
    if found is None:
        return None
    limit = found[1]
    used = rules.calendar.elapsed(stage_since(incident), now, limit.clock)
    return colour(used, limit.amount, rules.warn_at)


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
        found = stage_limit(incident, rules)
        due = stage_deadline(incident, rules)
        now_colour = stage_colour(incident, rules, now)
        view["stage"] = {
            "name": stage.value,
            "since": format_time(stage_since(incident), tz),
            "deadline": format_time(due, tz),
            "overdue": now_colour is Colour.RED,
            "colour": now_colour.value if now_colour is not None else None,
            "clock": found[1].clock.value if found is not None else None,
            "limit": found[1].limit if found is not None else None,
        }
        if view["colour"] is None and now_colour is not None:
            view["colour"] = now_colour.value
    contact = contact_view(incident, rules, now)
    if contact is not None:
        view["contact"] = contact
    return view


def contact_colour(incident: Incident, rules: Rules, now: datetime) -> Colour | None:
    """The colour of a 12345 order's contact clock (联系时限) as of ``now``, on the working
    hours from receipt to the contact deadline; once contacted, the colour it stood at then.
    None for an incident that is no work order, or has no contact deadline."""
    order = incident.progress.hotline
    if order is None or order.contact_deadline is None:
        return None
    at = order.contacted_at or now
    if at >= order.contact_deadline:
        return Colour.RED
    kind = ClockKind.WORKING_HOURS
    allowed = rules.calendar.elapsed(incident.received_at, order.contact_deadline, kind)
    used = rules.calendar.elapsed(incident.received_at, at, kind)
    return colour(used, allowed, rules.warn_at) if allowed > timedelta(0) else Colour.GREEN


def contact_warning_at(incident: Incident, rules: Rules) -> datetime | None:
    """When a 12345 order's contact clock turns yellow: ``warn_at`` of the working hours from
    receipt to the contact deadline used. None for an incident that is no work order."""
    order = incident.progress.hotline
    if order is None or order.contact_deadline is None:
        return None
    kind = ClockKind.WORKING_HOURS
    allowed = rules.calendar.elapsed(incident.received_at, order.contact_deadline, kind)
    return rules.calendar.add(incident.received_at, allowed * rules.warn_at, kind)


def contact_view(incident: Incident, rules: Rules, now: datetime) -> dict[str, Any] | None:
    """The contact clock as the API shows it: deadline, colour, whether done, whether late."""
    order = incident.progress.hotline
    if order is None or order.contact_deadline is None:
        return None
    shown = contact_colour(incident, rules, now)
    return {
        "deadline": format_time(order.contact_deadline, rules.calendar.tz),
        "colour": shown.value if shown is not None else None,
        "contacted": order.contacted_at is not None,
        "late": order.contacted_late
        if order.contacted_at is not None
        else (now > order.contact_deadline if incident.state.is_open else None),
    }
