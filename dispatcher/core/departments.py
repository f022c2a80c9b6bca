"""Other departments and hand-overs to them (移送 / 联勤联动): the actions and their rules.

The deployment lists the departments an incident may be handed over to, each with a code
(``DISPATCH_DEPARTMENTS``: 市场监管, 生态环境, 住建, 公安, 交通, 水务, ...). A hand-over
(:class:`~dispatcher.core.handover.Handover`) is decided here; every step changes the incident
and is one event of its history (the action ``handover.<step>``), written through the one
change path:

- **hand over** (admin, operator): an open incident that is registered (立案) and not yet
  resolved leaves its squad's queue: it stands registered without a squad while a department
  holds it, and its case clock pauses (the department's time is not the squad's);
- **accept** with the department's receipt number (回执号), or **refuse** with a reason (the
  department's token, or the centre entering a paper answer): a refusal gives the incident
  back to the centre with its squad, and its clock runs again;
- **report** what was done (办理结果, the department): the centre holds it again, its clock
  runs, and it waits for the centre's decision;
- **close** (the centre, after a report): the incident is closed as handed over
  (``handed_to_department``, ``handed_to_police`` for 公安);
- **take back** (the centre, any time before closing): the incident returns to its squad's
  dispatch queue (registered, its squad restored).

Pure: commands in, the changed incident, the hand-over and the event out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dispatcher.core.auth import ACT_ALL, Principal
from dispatcher.core.clocks import ClockKind, WorkingCalendar
from dispatcher.core.deadlines import Rules, enter_stage, with_clock
from dispatcher.core.errors import Forbidden, InvalidTransition, ValidationFailed
from dispatcher.core.events import Event, EventType, incident_topics
from dispatcher.core.handover import OPEN, WITH_DEPARTMENT, Handover, HandoverState
from dispatcher.core.incidents import Incident, State, evolve, revision
from dispatcher.core.validation import Clean

#: the states an incident may be handed over from: registered and not yet resolved
HANDABLE: Final = frozenset({State.REGISTERED, State.RETURNED, State.DISPATCHED, State.ACCEPTED})
#: the department codes whose hand-over closes as ``handed_to_police``
POLICE: Final = frozenset({"police", "ga"})
#: the clock the time each side held a hand-over is measured on
HELD_CLOCK: Final = ClockKind.WORKING_HOURS

Text = Annotated[str, Field(min_length=1, max_length=2000), Clean]


@dataclass(frozen=True)
class Department:
    code: str
    name: str


def parse_departments(text: str) -> tuple[Department, ...]:
    """``code:名称,code:名称`` (the setting's form) as departments; raise ValueError."""
    found: list[Department] = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        code, sep, name = part.partition(":")
        code, name = code.strip(), name.strip()
        if not sep or not code or not name or any(c.isspace() for c in code):
            raise ValueError(f"{part!r}: each department is code:名称")
        if any(d.code == code for d in found):
            raise ValueError(f"{code}: named twice")
        found.append(Department(code, name))
    return tuple(found)


class HandoverStep(StrEnum):
    HAND_OVER = "hand_over"
    ACCEPT = "accept"
    REFUSE = "refuse"
    REPORT = "report"
    CLOSE = "close"
    TAKE_BACK = "take_back"


#: the steps the department takes (the centre may enter them for it)
DEPARTMENT_STEPS: Final = frozenset({HandoverStep.ACCEPT, HandoverStep.REFUSE, HandoverStep.REPORT})
STEP_LABELS: Final[Mapping[HandoverStep, str]] = {
    HandoverStep.HAND_OVER: "移送",
    HandoverStep.ACCEPT: "接收",
    HandoverStep.REFUSE: "拒收退回",
    HandoverStep.REPORT: "反馈办理结果",
    HandoverStep.CLOSE: "办结",
    HandoverStep.TAKE_BACK: "收回",
}
_FROM: Final[Mapping[HandoverStep, frozenset[HandoverState]]] = {
    HandoverStep.ACCEPT: frozenset({HandoverState.PENDING}),
    HandoverStep.REFUSE: frozenset({HandoverState.PENDING}),
    HandoverStep.REPORT: frozenset({HandoverState.ACCEPTED}),
    HandoverStep.CLOSE: frozenset({HandoverState.REPORTED}),
    HandoverStep.TAKE_BACK: OPEN,
}


class HandOverIn(BaseModel):
    """The body of ``POST /api/v1/incidents/{id}/handovers``."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    department: Annotated[str, Field(min_length=1, max_length=40)]
    reason: Text


class HandoverActionIn(BaseModel):
    """The body of ``POST /api/v1/handovers/{id}/actions``."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    action: HandoverStep
    receipt_no: Annotated[str, Field(min_length=1, max_length=100), Clean] | None = None
    reason: Text | None = None
    result: Text | None = None
    note: Annotated[str, Field(max_length=2000), Clean] | None = None

    @model_validator(mode="after")
    def _needed(self) -> HandoverActionIn:
        needs = {
            HandoverStep.ACCEPT: ("receipt_no", self.receipt_no),
            HandoverStep.REFUSE: ("reason", self.reason),
            HandoverStep.REPORT: ("result", self.result),
            HandoverStep.TAKE_BACK: ("reason", self.reason),
        }
        if self.action is HandoverStep.HAND_OVER:
            raise ValueError("action: hand over with POST /api/v1/incidents/{id}/handovers")
        if self.action in needs and not needs[self.action][1]:
            raise ValueError(f"{needs[self.action][0]}: required for {self.action.value}")
        return self


@dataclass(frozen=True)
class Decision:
    incident: Incident
    handover: Handover
    event: Event


def held_s(calendar: WorkingCalendar, start: datetime | None, end: datetime | None) -> float:
    """Working seconds from ``start`` to ``end`` (0 when either is missing)."""
    if start is None or end is None or end <= start:
        return 0.0
    return calendar.elapsed(start, end, HELD_CLOCK).total_seconds()


def _pause(incident: Incident, rules: Rules, now: datetime) -> Incident:
    clock = incident.progress.clock
    if clock is None or clock.suspended or clock.stopped_at is not None:
        return incident
    return with_clock(incident, replace(clock, pauses=(*clock.pauses, (now, None))), rules, now)


def _resume(incident: Incident, rules: Rules, now: datetime) -> Incident:
    clock = incident.progress.clock
    if clock is None or not clock.suspended:
        return incident
    pauses = tuple((a, now if b is None else b) for a, b in clock.pauses)
    return enter_stage(with_clock(incident, replace(clock, pauses=pauses), rules, now), now)


def _event(
    before: Incident,
    after: Incident,
    step: HandoverStep,
    who: Principal,
    now: datetime,
    h: Handover,
) -> Event:
    topics = dict.fromkeys((*incident_topics(before), *incident_topics(after)))
    detail: dict[str, Any] = {
        "handover_id": h.id,
        "department": h.department,
        "handover_state": h.state.value,
        "label": STEP_LABELS[step],
    }
    for name in ("reason", "receipt_no", "refusal_reason", "result"):
        value = getattr(h, name)
        if value and (name != "reason" or step is HandoverStep.HAND_OVER):
            detail[name] = value
    if h.department_held_s is not None:
        detail["department_held_s"] = h.department_held_s
    if h.centre_held_s is not None:
        detail["centre_held_s"] = h.centre_held_s
    return Event(
        type=EventType.INCIDENT_UPDATED,
        incident=after,
        at=now,
        actor=who.actor,
        actor_role=who.role.value,
        action=f"handover.{step.value}",
        state_before=before.state,
        detail=detail,
        only_topics=tuple(topics),
    )


def hand_over(
    incident: Incident,
    department: Department,
    reason: str,
    handover_id: str,
    who: Principal,
    now: datetime,
    rules: Rules,
) -> Decision:
    """Hand ``incident`` over to ``department``: it leaves its squad, its clock pauses."""
    if who.role not in ACT_ALL:
        raise Forbidden("only the centre hands incidents over to other departments")
    if incident.state not in HANDABLE:
        raise InvalidTransition(
            f"an incident that is {incident.state.value} cannot be handed over "
            "(registered and not yet resolved only)",
            details={"state": incident.state.value},
        )
    last = incident.progress.handover
    if last is not None and last.state in OPEN:
        raise InvalidTransition(f"the incident is already handed over ({last.id})")
    since = incident.received_at
    if last is not None:
        since = last.ended_at or last.answered_at or since
    h = Handover(
        id=handover_id,
        incident_id=incident.id,
        department=department.code,
        reason=reason,
        state=HandoverState.PENDING,
        handed_at=now,
        handed_by=who.actor,
        squad_id=incident.squad_id,
        support_squad_ids=incident.support_squad_ids,
        centre_since=since,
        updated_at=now,
    )
    changed = _pause(incident, rules, now)
    changed = evolve(
        changed,
        state=State.REGISTERED,
        squad_id=None,
        support_squad_ids=(),
        unit_id=None,
        progress=changed.progress.but(handover=h),
    )
    changed = revision(incident, changed, now)
    return Decision(changed, h, _event(incident, changed, HandoverStep.HAND_OVER, who, now, h))


def act(
    incident: Incident,
    h: Handover,
    cmd: HandoverActionIn,
    who: Principal,
    department: str | None,
    now: datetime,
    rules: Rules,
) -> Decision:
    """One step of hand-over ``h`` of ``incident`` by ``who`` (``department``: the caller's
    department, for a department's token)."""
    step = cmd.action
    if step in DEPARTMENT_STEPS:
        if who.role not in ACT_ALL and department != h.department:
            raise Forbidden("only the department it was handed over to answers it")
    elif who.role not in ACT_ALL:
        raise Forbidden("only the centre closes or takes back a hand-over")
    if h.state not in _FROM[step]:
        raise InvalidTransition(
            f"{step.value} is not allowed while the hand-over is {h.state.value}",
            details={"state": h.state.value, "action": step.value},
        )
    current = incident.progress.handover
    if current is None or current.id != h.id:
        raise InvalidTransition(f"hand-over {h.id} is not the incident's current one")
    calendar = rules.calendar
    changed = incident
    if step is HandoverStep.ACCEPT:
        accepted = HandoverState.ACCEPTED
        h = replace(
            h, state=accepted, decided_at=now, decided_by=who.actor, receipt_no=cmd.receipt_no
        )
    elif step is HandoverStep.REFUSE:
        h = replace(
            h,
            state=HandoverState.REFUSED,
            decided_at=now,
            decided_by=who.actor,
            refusal_reason=cmd.reason,
            department_held_s=held_s(calendar, h.handed_at, now),
            centre_held_s=held_s(calendar, h.centre_since, h.handed_at),
        )
        changed = _back_to_squad(_resume(incident, rules, now), h)
    elif step is HandoverStep.REPORT:
        h = replace(
            h,
            state=HandoverState.REPORTED,
            reported_at=now,
            result=cmd.result,
            department_held_s=held_s(calendar, h.handed_at, now),
        )
        changed = _resume(incident, rules, now)
    elif step is HandoverStep.CLOSE:
        h = _ended(h, HandoverState.CLOSED, who, now, calendar)
        changed = _closed(_resume(incident, rules, now), h, cmd.note, now, rules)
    else:  # take back
        held = h.department_held_s
        if h.state in WITH_DEPARTMENT:
            held = held_s(calendar, h.handed_at, now)
        h = _ended(replace(h, department_held_s=held), HandoverState.TAKEN_BACK, who, now, calendar)
        changed = _back_to_squad(_resume(incident, rules, now), h)
    h = replace(h, updated_at=now)
    changed = evolve(changed, progress=changed.progress.but(handover=h))
    changed = revision(incident, changed, now)
    event = _event(incident, changed, step, who, now, h)
    if step is HandoverStep.TAKE_BACK and cmd.reason:
        event = replace(event, detail={**event.detail, "reason": cmd.reason})
    return Decision(changed, h, event)


def _ended(
    h: Handover, state: HandoverState, who: Principal, now: datetime, calendar: WorkingCalendar
) -> Handover:
    before = held_s(calendar, h.centre_since, h.handed_at)
    after = held_s(calendar, h.reported_at, now)
    return replace(h, state=state, ended_at=now, ended_by=who.actor, centre_held_s=before + after)


def _back_to_squad(incident: Incident, h: Handover) -> Incident:
    return evolve(
        incident,
        state=State.REGISTERED,
        squad_id=h.squad_id,
        support_squad_ids=h.support_squad_ids,
    )


def _closed(
    incident: Incident, h: Handover, note: str | None, now: datetime, rules: Rules
) -> Incident:
    clock = incident.progress.clock
    if clock is not None:
        incident = with_clock(incident, replace(clock, stopped_at=now), rules, now)
    outcome = "handed_to_police" if h.department in POLICE else "handed_to_department"
    closed = evolve(
        incident,
        state=State.CLOSED,
        closed_at=now,
        resolved_at=incident.resolved_at or now,
        squad_id=h.squad_id,
        support_squad_ids=h.support_squad_ids,
    )
    return evolve(
        closed,
        progress=closed.progress.but(
            outcome=outcome,
            resolution_note=note or h.result,
            on_time=incident.deadline is None or now <= incident.deadline,
        ),
    )


def department_of(code: str, departments: Mapping[str, Department]) -> Department:
    found = departments.get(code)
    if found is None:
        raise ValidationFailed(f"department: no department {code}", field="department")
    return found


# -- figures -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HandoverFigures:
    """Hand-overs of a period (handed over in it) to one department, or all of them."""

    key: str | None
    name: str
    handed_over: int = 0  # 移送
    accepted: int = 0  # 接收 (including those later reported, closed or taken back)
    refused: int = 0  # 拒收退回
    reported: int = 0  # 反馈办理结果
    closed: int = 0  # 办结
    taken_back: int = 0  # 中心收回
    open: int = 0  # not yet closed, refused or taken back
    department_held_s: float = 0.0  # summed over the answered ones
    centre_held_s: float = 0.0  # summed over the ended ones (refused, closed, taken back)

    def to_json(self) -> dict[str, Any]:
        answered = self.refused + self.reported
        ended = self.refused + self.closed + self.taken_back
        return {
            "key": self.key,
            "name": self.name,
            "handed_over": self.handed_over,
            "accepted": self.accepted,
            "refused": self.refused,
            "reported": self.reported,
            "closed": self.closed,
            "taken_back": self.taken_back,
            "open": self.open,
            "acceptance_rate": round(self.accepted / self.handed_over, 4)
            if self.handed_over
            else None,
            "department_held_hours": round(self.department_held_s / 3600, 2),
            "centre_held_hours": round(self.centre_held_s / 3600, 2),
            "department_held_hours_mean": round(self.department_held_s / 3600 / answered, 2)
            if answered
            else None,
            "centre_held_hours_mean": round(self.centre_held_s / 3600 / ended, 2)
            if ended
            else None,
        }


def handover_figures(
    handovers: Sequence[Handover], departments: Mapping[str, Department]
) -> tuple[list[HandoverFigures], HandoverFigures]:
    """The figures by department (in the deployment's order, then others) and the total.

    A hand-over counts as accepted once the department accepted it, whatever came after;
    reported once it reported back; the time the department held it once it answered
    (refused or reported), the centre's once it ended (refused, closed or taken back), both
    in working hours (:data:`HELD_CLOCK`)."""
    counts: dict[str, dict[str, float]] = {}
    for h in handovers:
        row = counts.setdefault(h.department, {})

        def add(name: str, amount: float = 1, into: dict[str, float] = row) -> None:
            into[name] = into.get(name, 0) + amount

        add("handed_over")
        if h.receipt_no is not None and h.state is not HandoverState.REFUSED:
            add("accepted")
        if h.reported_at is not None:
            add("reported")
        if h.state is HandoverState.REFUSED:
            add("refused")
        elif h.state is HandoverState.CLOSED:
            add("closed")
        elif h.state is HandoverState.TAKEN_BACK:
            add("taken_back")
        else:
            add("open")
        add("department_held_s", h.department_held_s or 0.0)
        add("centre_held_s", h.centre_held_s or 0.0)
    order = [*departments, *sorted(set(counts) - set(departments))]
    groups = []
    for code in order:
        if code not in counts:
            continue
        c = counts[code]
        name = departments[code].name if code in departments else code
        groups.append(_figures(code, name, c))
    total: dict[str, float] = {}
    for c in counts.values():
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
    return groups, _figures(None, "合计", total)


def _figures(key: str | None, name: str, c: Mapping[str, float]) -> HandoverFigures:
    def whole(k: str) -> int:
        return int(c.get(k, 0))

    return HandoverFigures(
        key,
        name,
        handed_over=whole("handed_over"),
        accepted=whole("accepted"),
        refused=whole("refused"),
        reported=whole("reported"),
        closed=whole("closed"),
        taken_back=whole("taken_back"),
        open=whole("open"),
        department_held_s=float(c.get("department_held_s", 0.0)),
        centre_held_s=float(c.get("centre_held_s", 0.0)),
    )
