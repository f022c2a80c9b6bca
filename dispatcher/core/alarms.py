"""The three-colour warnings (三色预警) an incident is owed, and what a due one gives.

Pure. Which alerts an incident is owed is a function of the incident (:func:`owed`): the
yellow warning and the red overdue of its case clock, and the same two of its current stage's
clock (each stage entry warned and announced once). When one falls due, :func:`fire` says what
the alert is (nothing, if the incident moved on). A 12345 order's contact clock (联系时限) warns
and goes red the same way until the caller is contacted. A red of any clock opens a supervision
record (督办) and tells the squad's parent tier (:func:`escalation`, one function for both
clocks). An overdue case then climbs the command tiers one at a time (逐级督办): at each further
step of lateness (``Rules.escalation_step`` of the case's limit, counted on the case's own
clock, pauses excluded) a ``case_escalation`` timer tells the next tier up, with a supervision
record naming it, until the top tier is told (:func:`escalation_due`, :func:`escalate`). The
stage clock's red tells the parent tier only: a stage is minutes long, the case clock is what
the tiers above answer for. The store keeps the due instants in ``timers``
(``dispatcher.store.timers``) and every server process's loop fires them once
(``dispatcher.store.timer_loop``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from dispatcher.core.auth import SYSTEM_ACTOR
from dispatcher.core.clocks import Colour
from dispatcher.core.deadlines import (
    STAGE_OF_STATE,
    Rules,
    contact_colour,
    contact_warning_at,
    stage_colour,
    stage_deadline,
    stage_since,
    stage_warning_at,
)
from dispatcher.core.events import Event, EventType, incident_topics
from dispatcher.core.incidents import Incident, State, evolve, revision
from dispatcher.core.progress import CaseClock, Progress
from dispatcher.core.routing import Squad
from dispatcher.core.stages import STAGE_NAMES
from dispatcher.core.tiers import ancestors, tier_name
from dispatcher.core.times import in_zone, parse_time

CASE_WARNING: Final = "case_warning"
CASE_OVERDUE: Final = "case_overdue"
STAGE_WARNING: Final = "stage_warning"
STAGE_OVERDUE: Final = "stage_overdue"
#: the next command tier up told of an overdue case (one step of lateness further)
CASE_ESCALATION: Final = "case_escalation"
#: a 12345 order's contact clock (联系时限): yellow, then red if the caller is not contacted
CONTACT_WARNING: Final = "contact_warning"
CONTACT_OVERDUE: Final = "contact_overdue"
#: the yellow timers: fired before a red one of the same incident that is due as well
WARNINGS: Final = frozenset({CASE_WARNING, STAGE_WARNING, CONTACT_WARNING})
#: states in which the case clock runs towards the squad's deadline
CLOCKED: Final = frozenset({State.REGISTERED, State.RETURNED, State.DISPATCHED, State.ACCEPTED})


def _stage_given(incident: Incident) -> str | None:
    """The colour the timers gave the current stage entry: red, yellow or None."""
    since = stage_since(incident)
    if _marks(incident.progress.stage_alerted, since):
        return Colour.RED.value
    if _marks(incident.progress.stage_warned, since):
        return Colour.YELLOW.value
    return None


def _marks(marker: str | None, since: datetime) -> bool:
    """Whether a stage marker names the stage entry ``since``: the same instant, whatever
    offset the marker was written in (UTC before every time was written in the zone)."""
    return marker is not None and parse_time(marker) == since


def owed(incident: Incident, rules: Rules, now: datetime) -> list[tuple[str, datetime]]:
    """The alerts not yet given for the incident as it is, with when each falls due."""
    progress = incident.progress
    if progress.suspended or not incident.state.is_open:
        return []
    timers: list[tuple[str, datetime]] = []
    clock = progress.clock
    if clock is not None and incident.state in CLOCKED and clock.stopped_at is None:
        alerted = progress.case_alerted
        if alerted is None:
            timers.append((CASE_WARNING, clock.warning_at(rules.calendar, rules.warn_at, now)))
        if alerted != Colour.RED.value:
            timers.append((CASE_OVERDUE, clock.deadline(rules.calendar, now)))
        step = escalation_due(incident, rules, now)
        if step is not None:
            timers.append((CASE_ESCALATION, step))
    due = stage_deadline(incident, rules)
    warning = stage_warning_at(incident, rules)
    if due is not None and warning is not None:
        given = _stage_given(incident)
        if given is None:
            timers.append((STAGE_WARNING, warning))
        if given != Colour.RED.value:
            timers.append((STAGE_OVERDUE, due))
    order = progress.hotline
    contact_warning = contact_warning_at(incident, rules)
    if order is not None and order.contact_deadline is not None and order.contacted_at is None:
        if order.contact_alerted is None and contact_warning is not None:
            timers.append((CONTACT_WARNING, contact_warning))
        if order.contact_alerted != Colour.RED.value:
            timers.append((CONTACT_OVERDUE, order.contact_deadline))
    return timers


@dataclass(frozen=True)
class Escalation:
    """What a red of either clock, or a further step of lateness, raises: the tier told
    (its topic added to the event's) and the supervision record (督办) opened with the alert."""

    escalated_to: tuple[str, ...]
    topics: tuple[str, ...]
    note: str


def escalation(
    incident: Incident, squads: Mapping[str, Squad], note: str, tier: int = 0
) -> Escalation:
    """The escalation of an overdue incident to the ``tier``-th command tier above its squad
    (0: the parent, at red; :func:`ancestors`): its topics and that tier's, and a supervision
    record with ``note``. Nobody more is told when there is no such tier."""
    topics = incident_topics(incident)
    above = ancestors(incident.squad_id, squads)
    escalated = above[tier : tier + 1]
    added = tuple(f"squad:{s}" for s in escalated if f"squad:{s}" not in topics)
    return Escalation(tuple(escalated), (*topics, *added), note)


def _escalating(incident: Incident) -> CaseClock | None:
    """The running case clock of an incident whose red was given; None otherwise."""
    clock = incident.progress.clock
    if clock is None or incident.state not in CLOCKED or clock.stopped_at is not None:
        return None
    if incident.progress.suspended or incident.progress.case_alerted != Colour.RED.value:
        return None
    return clock


def step_at(clock: CaseClock, rules: Rules, told: int, now: datetime) -> datetime:
    """When the case clock has used ``1 + told × escalation_step`` of its allowed time: the
    instant the tier after the ``told`` ones is told (on the case's clock kind, pauses
    excluded, approved extensions included in the limit)."""
    used = clock.allowed * (1 + told * rules.escalation_step)
    return rules.calendar.deadline_with_pauses(clock.start, used, clock.kind, clock.pauses, now)


def escalation_due(incident: Incident, rules: Rules, now: datetime) -> datetime | None:
    """When the next tier up is owed the overdue case; None when the case is not red, has
    nobody told yet (no tier above it) or its top tier was told."""
    clock = _escalating(incident)
    told = incident.progress.escalated_tiers
    if clock is None or not 0 < told < incident.progress.tiers_above:
        return None
    return step_at(clock, rules, told, now)


@dataclass(frozen=True)
class Fired:
    """What a due timer gives: the incident marked, its event, the supervision to open."""

    incident: Incident
    event: Event
    supervision: tuple[str, list[str]] | None = None  # (note, squads notified)


@dataclass(frozen=True)
class _Reading:
    """One clock of an incident as of a timer: its colour, what was given, how to mark it."""

    colour: Colour
    given: str | None
    detail: dict[str, Any]
    overdue_note: str
    mark: Callable[[Colour], Progress]


def _case_reading(incident: Incident, rules: Rules, now: datetime) -> _Reading | None:
    progress = incident.progress
    clock = progress.clock
    if clock is None or incident.state not in CLOCKED or clock.stopped_at is not None:
        return None
    deadline = in_zone(incident.deadline, rules.calendar.tz) if incident.deadline else None
    return _Reading(
        colour=clock.colour(rules.calendar, rules.warn_at, now),
        given=progress.case_alerted,
        detail={"clock": "case", "deadline": deadline},
        overdue_note=f"超期未处置（时限 {deadline}）",
        mark=lambda c: replace(progress, case_alerted=c.value, colour=c.value),
    )


def _stage_reading(incident: Incident, rules: Rules, now: datetime) -> _Reading | None:
    progress = incident.progress
    stage = STAGE_OF_STATE.get(incident.state)
    due = stage_deadline(incident, rules)
    now_colour = stage_colour(incident, rules, now)
    if stage is None or due is None or now_colour is None:
        return None
    since = in_zone(stage_since(incident), rules.calendar.tz)

    def mark(c: Colour) -> Progress:
        if c is Colour.RED:
            return replace(progress, stage_alerted=since)
        return replace(progress, stage_warned=since)

    return _Reading(
        colour=now_colour,
        given=_stage_given(incident),
        detail={
            "clock": "stage",
            "stage": stage.value,
            "deadline": in_zone(due, rules.calendar.tz),
        },
        overdue_note=f"{STAGE_NAMES[stage]}超时（时限 {in_zone(due, rules.calendar.tz)}）",
        mark=mark,
    )


def _contact_reading(incident: Incident, rules: Rules, now: datetime) -> _Reading | None:
    progress = incident.progress
    order = progress.hotline
    now_colour = contact_colour(incident, rules, now)
    if order is None or order.contacted_at is not None or now_colour is None:
        return None
    tz = rules.calendar.tz
    deadline = in_zone(order.contact_deadline, tz) if order.contact_deadline else None
    return _Reading(
        colour=now_colour,
        given=order.contact_alerted,
        detail={"clock": "contact", "deadline": deadline},
        overdue_note=f"未按时联系诉求人（联系时限 {deadline}）",
        mark=lambda c: progress.but(hotline=order.but(contact_alerted=c.value)),
    )


def fire(
    incident: Incident, kind: str, rules: Rules, now: datetime, squads: Mapping[str, Squad]
) -> Fired | None:
    """The alert a due timer gives, or None when the incident no longer owes it.

    Every clock alike (the case's, the stage's, a 12345 order's contact clock): yellow once
    its ``warn_at`` is used, red once it is over; a timer that
    finds its clock already further (a yellow one at red) gives the further alert, and a red
    one escalates (:func:`escalation`).
    """
    if incident.progress.suspended or not incident.state.is_open:
        return None
    if kind == CASE_ESCALATION:
        return escalate(incident, rules, now, squads)
    if kind in (CASE_WARNING, CASE_OVERDUE):
        reading = _case_reading(incident, rules, now)
    elif kind in (STAGE_WARNING, STAGE_OVERDUE):
        reading = _stage_reading(incident, rules, now)
    elif kind in (CONTACT_WARNING, CONTACT_OVERDUE):
        reading = _contact_reading(incident, rules, now)
    else:
        raise ValueError(f"unknown timer kind {kind!r}")
    if reading is None:
        return None
    colour, given = reading.colour, reading.given
    wanted = Colour.YELLOW if kind in WARNINGS else Colour.RED
    if colour is Colour.GREEN or (wanted is Colour.RED and colour is not Colour.RED):
        return None
    if given == Colour.RED.value or (given == Colour.YELLOW.value and colour is Colour.YELLOW):
        return None
    detail = dict(reading.detail)
    topics = incident_topics(incident)
    supervision = None
    event_type = EventType.DEADLINE_WARNING
    progress = reading.mark(colour)
    if colour is Colour.RED:
        event_type = EventType.DEADLINE_OVERDUE
        raised = escalation(incident, squads, reading.overdue_note)
        topics = raised.topics
        detail["escalated_to"] = list(raised.escalated_to)
        supervision = (raised.note, list(raised.escalated_to))
        if kind in (CASE_WARNING, CASE_OVERDUE):
            # the parent told; the tiers above it wait for their steps of lateness
            progress = progress.but(
                escalated_tiers=len(raised.escalated_to),
                tiers_above=len(ancestors(incident.squad_id, squads)),
            )
    changed = revision(incident, evolve(incident, progress=progress), now)
    event = Event(
        type=event_type,
        incident=changed,
        at=now,
        actor=SYSTEM_ACTOR,
        actor_role=None,
        action=None,
        state_before=incident.state,
        detail=detail,
        only_topics=tuple(topics),
    )
    return Fired(changed, event, supervision)


def escalate(
    incident: Incident, rules: Rules, now: datetime, squads: Mapping[str, Squad]
) -> Fired | None:
    """The next tier up told of an overdue case, once its step of lateness is reached: a
    ``deadline.overdue`` to that tier's topic (``detail.escalation`` says which step and
    tier) and a supervision record naming it. None when the step is not reached yet (a limit
    that moved), the case is no longer red, or no tier is left above the ones told."""
    clock = _escalating(incident)
    if clock is None:
        return None
    progress = incident.progress
    told = progress.escalated_tiers
    if told < 1 or now < step_at(clock, rules, told, now):
        return None
    above = ancestors(incident.squad_id, squads)
    if told >= len(above):
        return None
    tier = above[told]
    level = tier_name(tier, squads)
    late = round(told * rules.escalation_step * 100)
    deadline = in_zone(incident.deadline, rules.calendar.tz) if incident.deadline else None
    name = squads[tier].name if tier in squads else tier
    note = f"超期未处置，逐级督办至{level}{name}（超时限 {late}%，时限 {deadline}）"
    raised = escalation(incident, squads, note, told)
    marked = progress.but(escalated_tiers=told + 1, tiers_above=len(above))
    changed = revision(incident, evolve(incident, progress=marked), now)
    detail = {
        "clock": "case",
        "deadline": deadline,
        "escalated_to": list(raised.escalated_to),
        "escalation": {"step": told + 1, "tier": level, "late_pct": late},
    }
    event = Event(
        type=EventType.DEADLINE_OVERDUE,
        incident=changed,
        at=now,
        actor=SYSTEM_ACTOR,
        actor_role=None,
        action=None,
        state_before=incident.state,
        detail=detail,
        only_topics=raised.topics,
    )
    return Fired(changed, event, (raised.note, list(raised.escalated_to)))


def owed_new(
    incidents: Sequence[Incident], rules: Rules, now: datetime
) -> list[tuple[str, str, datetime]]:
    """The timers of incidents about to be inserted, as (incident id, kind, due) rows:
    intake's insert arms them in its statement (``store.insert_incidents``)."""
    return [(i.id, kind, due) for i in incidents for kind, due in owed(i, rules, now)]
