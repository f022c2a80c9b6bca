"""The case life cycle (docs/API.md §5): which action may happen, by whom, and what it does.

:func:`decide` is pure: the incident as stored, a validated :class:`ActionIn`, who acts and
when, in; the changed incident and its events out (or ``InvalidTransition`` / ``Forbidden``
/ ``ValidationFailed``). The adapter (``api_actions``) locks the row, calls it, stores the
result and the events in one transaction, and reschedules the incident's timers.

States::

    reported ──register──▶ registered ──dispatch──▶ dispatched ──accept──▶ accepted
       │                        ▲                     │   ▲                    │
     reject                     └──────return─────────┘   └──verify(false)─┐ resolve
       ▼                          (回退 → 改派)             (返工)          │    ▼
    rejected                                                      closed ◀─┴ resolved
    (merge from any open state → merged; extend/suspend/resume/supervise/remind keep the state;
     review of a closed case: passed keeps it closed, failed reopens it as dispatched, 返工)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dispatcher.core.auth import ACT_ALL, SYSTEM_ACTOR, Principal, Role
from dispatcher.core.categories import Category
from dispatcher.core.clocks import ClockKind
from dispatcher.core.deadlines import (
    Rules,
    case_clock,
    enter_stage,
    start_case_clock,
    with_clock,
)
from dispatcher.core.errors import Forbidden, InvalidTransition, ValidationFailed
from dispatcher.core.events import Event, EventType
from dispatcher.core.incidents import FINAL_STATES, Incident, Source, State, evolve, revision
from dispatcher.core.progress import CaseClock, Extension, Progress, SuspensionRequest
from dispatcher.core.request_types import case_limit
from dispatcher.core.times import in_zone
from dispatcher.core.validation import Clean, validation_error


class Action(StrEnum):
    REGISTER = "register"
    REJECT = "reject"
    DISPATCH = "dispatch"
    ACCEPT = "accept"
    RETURN = "return"
    RESOLVE = "resolve"
    VERIFY = "verify"
    MERGE = "merge"
    EXTEND = "extend"
    APPROVE_EXTENSION = "approve_extension"
    SUSPEND = "suspend"
    RESUME = "resume"
    SUPERVISE = "supervise"
    REMIND = "remind"
    REVIEW = "review"  # 回访 / 案卷评查 of a closed case; a failed one reopens it (返工)


class Outcome(StrEnum):
    """How the squad disposed of the case (处置结果)."""

    CORRECTED = "corrected_on_spot"  # 当场整改
    PENALTY_CASE = "case_filed"  # 立案查处 (简易/一般程序)
    HANDED_OVER = "handed_to_department"  # 移交其他部门
    POLICE = "handed_to_police"  # 移交公安
    NO_VIOLATION = "no_violation_found"  # 现场未发现问题
    ADVISED = "advised_and_educated"  # 劝导教育
    CLEARED = "cleared"  # 清理/拆除完毕


OPEN: Final = frozenset(s for s in State if s not in FINAL_STATES)
#: action → the states it may start from
ALLOWED_FROM: Final[Mapping[Action, frozenset[State]]] = {
    Action.REGISTER: frozenset({State.REPORTED}),
    Action.REJECT: frozenset({State.REPORTED}),
    Action.DISPATCH: frozenset({State.REGISTERED, State.RETURNED}),
    Action.ACCEPT: frozenset({State.DISPATCHED}),
    Action.RETURN: frozenset({State.DISPATCHED}),
    Action.RESOLVE: frozenset({State.ACCEPTED}),
    Action.VERIFY: frozenset({State.RESOLVED}),
    Action.MERGE: OPEN,
    Action.EXTEND: frozenset({State.DISPATCHED, State.ACCEPTED}),
    Action.APPROVE_EXTENSION: frozenset({State.DISPATCHED, State.ACCEPTED}),
    Action.SUSPEND: OPEN,
    Action.RESUME: OPEN,
    Action.SUPERVISE: OPEN,
    Action.REMIND: OPEN,
    Action.REVIEW: frozenset({State.CLOSED}),
}
#: checks of the work: failing one sends the case back to its squad (返工)
_CHECKS: Final = frozenset({Action.VERIFY, Action.REVIEW})
#: actions the squad the incident is dispatched to may take (besides operators and admins)
SQUAD_ACTIONS: Final = frozenset(
    {Action.ACCEPT, Action.RETURN, Action.RESOLVE, Action.EXTEND, Action.SUSPEND}
)

Reason = Annotated[str, Field(min_length=1, max_length=2000), Clean]
Note = Annotated[str, Field(max_length=4000), Clean]
Ref = Annotated[str, Field(min_length=1, max_length=2000), Clean]


class ActionIn(BaseModel):
    """The body of ``POST /api/v1/incidents/{id}/actions``."""

    model_config = ConfigDict(allow_inf_nan=False, str_strip_whitespace=True, extra="ignore")

    action: Action
    reason: Reason | None = None
    note: Note | None = None
    squad_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    support_squad_ids: Annotated[list[str], Field(max_length=10)] = []
    unit_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    outcome: Outcome | None = None
    media: Annotated[list[Ref], Field(max_length=20)] = []
    passed: bool | None = None
    into: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    hours: float | None = Field(default=None, gt=0, le=24 * 365)
    days: float | None = Field(default=None, gt=0, le=365)
    approved: bool = True

    @model_validator(mode="after")
    def _required(self) -> ActionIn:
        needs: dict[Action, tuple[str, Any]] = {
            Action.REJECT: ("reason", self.reason),
            Action.RETURN: ("reason", self.reason),
            Action.RESOLVE: ("outcome", self.outcome),
            Action.VERIFY: ("passed", self.passed),
            Action.REVIEW: ("passed", self.passed),
            Action.MERGE: ("into", self.into),
            Action.SUSPEND: ("reason", self.reason),
            Action.SUPERVISE: ("note", self.note),
        }
        if self.action in needs and needs[self.action][1] in (None, ""):
            name = needs[self.action][0]
            raise ValueError(f"[{name}] {self.action.value} needs {name}")
        if self.action is Action.EXTEND and (self.hours is None) == (self.days is None):
            raise ValueError("[hours] extend needs either hours or days")
        return self


#: model-level errors name their field in brackets: "[reason] return needs reason"
_NAMED_FIELD: Final = re.compile(r"\[(\w+)\] ")


def parse_action(body: bytes) -> ActionIn:
    try:
        return ActionIn.model_validate_json(body)
    except ValidationError as exc:
        error = validation_error(exc)
        named = _NAMED_FIELD.search(error.message)
        if error.field is None and named is not None:
            error.field = named.group(1)
            error.message = error.message.replace(named.group(0), f"{named.group(1)}: ")
        raise error from None


@dataclass(frozen=True)
class Context:
    """What a decision may need besides the incident: its category, squads, the other incident."""

    category: Category | None
    squads: Mapping[str, Any]
    recommended_squad_id: str | None = None
    support_squad_ids: tuple[str, ...] = ()
    target: Incident | None = None  # the incident merged into
    #: a dispatch as part of a squad's trip for nearby cases (顺路处置: open items at one place)
    visit_id: str | None = None


@dataclass(frozen=True)
class Decision:
    incident: Incident
    events: tuple[Event, ...]
    target: Incident | None = None
    #: a supervision record to open (督办): (kind, note)
    supervision: tuple[str, str] | None = None


def authorise(incident: Incident, action: Action, who: Principal) -> None:
    """Raise Forbidden unless ``who`` may take ``action`` on ``incident``."""
    if who.role in ACT_ALL:
        return
    if who.role is Role.SQUAD and action in SQUAD_ACTIONS:
        if who.covers([incident.squad_id]):
            return
        raise Forbidden("a squad acts only on incidents dispatched to it or to a squad below it")
    raise Forbidden(f"a {who.role} token may not {action.value} incidents")


def _event(
    incident: Incident,
    before: State,
    action: Action,
    who: Principal,
    now: datetime,
    detail: Mapping[str, Any],
    kind: EventType = EventType.INCIDENT_UPDATED,
    topics: tuple[str, ...] | None = None,
) -> Event:
    return Event(
        type=kind,
        incident=incident,
        at=now,
        actor=who.actor,
        actor_role=who.role.value,
        action=action.value,
        state_before=before,
        detail=dict(detail),
        only_topics=topics,
    )


def _amount(cmd: ActionIn, clock_kind: ClockKind) -> timedelta:
    if cmd.days is not None:
        return timedelta(days=cmd.days)
    assert cmd.hours is not None
    if clock_kind is ClockKind.WORKING_DAYS:
        return timedelta(days=cmd.hours / 8)
    return timedelta(hours=cmd.hours)


def register(
    incident: Incident, category: Category | None, rules: Rules, now: datetime
) -> Incident:
    """立案: the incident becomes a case and its case clock starts.

    The clock and limit are the category's, or for a 12345 work order its request type's
    (``dispatcher.core.request_types.case_limit``); ``category`` None (no longer in the
    catalogue) needs the incident's request type, else ValueError.
    """
    registered = evolve(incident, state=State.REGISTERED, registered_at=now)
    kind, limit = case_limit(
        category,
        incident.request_type,
        from_hotline=incident.source is Source.HOTLINE,
        limits=rules.hotline_limits,
    )
    clocked = start_case_clock(registered, kind, limit, rules, now)
    return enter_stage(clocked, now)


def dispatch(
    incident: Incident,
    squad_id: str,
    support: tuple[str, ...],
    unit_id: str | None,
    now: datetime,
) -> Incident:
    """派遣: hand the case to a squad (and support squads for a joint dispatch)."""
    dispatched = evolve(
        incident,
        state=State.DISPATCHED,
        squad_id=squad_id,
        dispatched_at=now,
        support_squad_ids=tuple(s for s in dict.fromkeys(support) if s != squad_id),
        unit_id=unit_id,
    )
    return enter_stage(dispatched, now)


def _with(incident: Incident, **changes: Any) -> Incident:
    """The incident with these life-cycle facts changed (``Progress`` fields)."""
    return evolve(incident, progress=incident.progress.but(**changes))


def _counted(incident: Incident, name: str) -> Progress:
    """The incident's progress with one more of the count ``name`` (returns, rework, ...)."""
    counts: dict[str, Any] = {name: getattr(incident.progress, name) + 1}
    return incident.progress.but(**counts)


def decide(
    incident: Incident, cmd: ActionIn, who: Principal, now: datetime, ctx: Context, rules: Rules
) -> Decision:
    """What ``cmd`` does to ``incident``; raises when its state or the actor forbids it."""
    action = cmd.action
    if incident.state not in ALLOWED_FROM[action]:
        raise InvalidTransition(
            f"{action.value} is not allowed while the incident is {incident.state.value}",
            details={"state": incident.state.value, "action": action.value},
        )
    authorise(incident, action, who)
    before = incident.state
    detail: dict[str, Any] = {}
    extra_events: list[Event] = []
    supervision: tuple[str, str] | None = None
    target: Incident | None = None
    changed = incident
    clock = case_clock(incident)

    if action is Action.REGISTER:
        if ctx.category is None and incident.request_type is None:
            raise ValidationFailed("the incident's category is no longer in the catalogue")
        changed = register(incident, ctx.category, rules, now)
    elif action is Action.REJECT:
        changed = replace(incident, state=State.REJECTED, closed_at=now)
        detail["reason"] = cmd.reason
    elif action is Action.DISPATCH:
        squad_id = cmd.squad_id or ctx.recommended_squad_id
        if squad_id is None:
            raise ValidationFailed(
                "squad_id: no squad could be recommended for this place; name one",
                field="squad_id",
            )
        for sid in (squad_id, *cmd.support_squad_ids):
            if sid not in ctx.squads:
                raise ValidationFailed(f"squad_id: no squad {sid}", field="squad_id")
        support = tuple(cmd.support_squad_ids) or ctx.support_squad_ids
        changed = dispatch(incident, squad_id, support, cmd.unit_id, now)
        if ctx.visit_id is not None:
            changed = _with(changed, visit_id=ctx.visit_id)
        detail.update(squad_id=squad_id, support_squad_ids=list(changed.support_squad_ids))
        if before is State.RETURNED:
            detail["redispatch"] = True  # 改派
    elif action is Action.ACCEPT:
        changed = enter_stage(replace(incident, state=State.ACCEPTED, accepted_at=now), now)
    elif action is Action.RETURN:
        changed = enter_stage(
            replace(
                incident,
                state=State.RETURNED,
                squad_id=None,
                support_squad_ids=(),
                unit_id=None,
                progress=_counted(incident, "return_count"),
            ),
            now,
        )
        detail.update(reason=cmd.reason, returned_by=incident.squad_id)
    elif action is Action.RESOLVE:
        changed = enter_stage(replace(incident, state=State.RESOLVED, resolved_at=now), now)
        if clock is not None:
            clock = replace(clock, stopped_at=now)
        outcome = cmd.outcome.value if cmd.outcome else None
        changed = _with(
            changed,
            outcome=outcome,
            resolution_note=cmd.note,
            resolution_media=tuple(cmd.media),
            on_time=incident.deadline is None or now <= incident.deadline,
        )
        detail.update(outcome=outcome, note=cmd.note, media=list(cmd.media))
    elif action is Action.VERIFY:
        detail.update(passed=cmd.passed, note=cmd.note, media=list(cmd.media))
        if cmd.passed:
            changed = replace(incident, state=State.CLOSED, closed_at=now)
        else:  # 返工: back to the same squad; the case clock runs again
            if clock is not None:
                clock = replace(clock, stopped_at=None)
            changed = enter_stage(
                replace(
                    incident,
                    state=State.DISPATCHED,
                    dispatched_at=now,
                    resolved_at=None,
                    progress=_counted(incident, "rework_count"),
                ),
                now,
            )
            detail["rework"] = True
    elif action is Action.REVIEW:
        detail.update(passed=cmd.passed, note=cmd.note, media=list(cmd.media))
        if not cmd.passed:
            changed, clock = _reopen(incident, clock, now)
            detail["rework"] = True
    elif action is Action.MERGE:
        changed, target = _merge(incident, cmd, ctx, now)
        detail["into"] = target.id
    elif action is Action.EXTEND:
        changed, clock, extension_detail = _extend(incident, cmd, who, now, clock, rules)
        detail.update(extension_detail)
    elif action is Action.APPROVE_EXTENSION:
        if clock is None or not any(e.status == "pending" for e in clock.extensions):
            raise InvalidTransition("there is no extension waiting for approval")
        status = "approved" if cmd.approved else "rejected"
        clock = replace(
            clock,
            extensions=tuple(
                replace(e, status=status, decided_at=now, decided_by=who.actor)
                if e.status == "pending"
                else e
                for e in clock.extensions
            ),
        )
        detail.update(approved=cmd.approved, reason=cmd.reason)
    elif action in (Action.SUSPEND, Action.RESUME):
        changed, clock, pause_detail = _suspend_or_resume(incident, cmd, who, now, clock)
        detail.update(pause_detail)
    elif action in (Action.SUPERVISE, Action.REMIND):
        key = "supervision_count" if action is Action.SUPERVISE else "reminder_count"
        changed = replace(incident, progress=_counted(incident, key))
        detail["note"] = cmd.note
        if action is Action.SUPERVISE:
            supervision = ("manual", cmd.note or "")

    if clock is not None:
        changed = with_clock(changed, clock, rules, now)
    changed = revision(incident, changed, now)
    events = [_event(changed, before, action, who, now, detail)]
    if action is Action.DISPATCH or (action in _CHECKS and not cmd.passed):
        events.append(
            _event(
                changed,
                before,
                action,
                who,
                now,
                detail,
                EventType.DISPATCH_ASSIGNED,
                tuple(f"squad:{s}" for s in changed.squad_ids),
            )
        )
    if target is not None:
        events.append(_event(target, target.state, action, who, now, {"merged": incident.id}))
    events.extend(extra_events)
    return Decision(changed, tuple(events), target, supervision)


def _reopen(
    incident: Incident, clock: CaseClock | None, now: datetime
) -> tuple[Incident, CaseClock | None]:
    """A failed review of a closed case: back to its squad as rework (返工).

    The case clock runs again from where it stopped; the time the case sat closed is a
    pause, so it does not count against the squad.
    """
    if clock is not None and clock.stopped_at is not None:
        clock = replace(clock, pauses=(*clock.pauses, (clock.stopped_at, now)), stopped_at=None)
    reopened = replace(
        incident,
        state=State.DISPATCHED,
        dispatched_at=now,
        resolved_at=None,
        closed_at=None,
        progress=_counted(incident, "rework_count"),
    )
    return enter_stage(reopened, now), clock


def _merge(
    incident: Incident, cmd: ActionIn, ctx: Context, now: datetime
) -> tuple[Incident, Incident]:
    target = ctx.target
    if target is None or target.id != cmd.into:
        raise ValidationFailed(f"into: no incident {cmd.into}", field="into")
    if target.id == incident.id:
        raise ValidationFailed("into: an incident cannot be merged into itself", field="into")
    if target.state in FINAL_STATES:
        raise InvalidTransition(f"into: incident {target.id} is {target.state.value}")
    merged = replace(incident, state=State.MERGED, duplicate_of=target.id, closed_at=now)
    grown = replace(
        target,
        report_count=target.report_count + incident.report_count,
        media=target.media + tuple(m for m in incident.media if m not in target.media),
        progress=target.progress.but(merged_ids=(*target.progress.merged_ids, incident.id)),
    )
    return merged, revision(target, grown, now)


def _extend(
    incident: Incident,
    cmd: ActionIn,
    who: Principal,
    now: datetime,
    clock: CaseClock | None,
    rules: Rules,
) -> tuple[Incident, CaseClock, dict[str, Any]]:
    """延期: asked before the deadline, at most twice, each at most one original limit."""
    if clock is None:
        raise InvalidTransition("the incident has no case clock to extend")
    if incident.deadline is not None and now >= incident.deadline:
        raise InvalidTransition("an extension must be asked before the deadline")
    if any(e.status == "pending" for e in clock.extensions):
        raise InvalidTransition("an extension is already waiting for approval")
    granted = [e for e in clock.extensions if e.status != "rejected"]
    if len(granted) >= rules.max_extensions:
        raise InvalidTransition(f"at most {rules.max_extensions} extensions")
    amount = _amount(cmd, clock.kind)
    if amount > clock.limit:
        raise ValidationFailed("hours: an extension adds at most one original limit", field="hours")
    ask = Extension(amount.total_seconds(), now, who.actor, cmd.reason or "")
    clock = replace(clock, extensions=(*clock.extensions, ask))
    return incident, clock, {"seconds": ask.seconds, "reason": cmd.reason, "pending": True}


def _suspend_or_resume(
    incident: Incident, cmd: ActionIn, who: Principal, now: datetime, clock: CaseClock | None
) -> tuple[Incident, CaseClock | None, dict[str, Any]]:
    """挂账 stops the clock. A squad asks; an operator's suspend (or approval) takes effect."""
    detail: dict[str, Any] = {"reason": cmd.reason}
    if cmd.action is Action.SUSPEND:
        if who.role is Role.SQUAD:
            request = SuspensionRequest(cmd.reason, now, who.actor)
            asked = _with(incident, suspension_requested=request)
            return asked, clock, {**detail, "requested": True}
        if incident.progress.suspended:
            raise InvalidTransition("the incident is already suspended")
        if clock is not None:
            clock = replace(clock, pauses=(*clock.pauses, (now, None)))
        return _with(incident, suspended=True, suspension_requested=None), clock, detail
    if not incident.progress.suspended:
        raise InvalidTransition("the incident is not suspended")
    if clock is not None:
        clock = replace(clock, pauses=tuple((a, now if b is None else b) for a, b in clock.pauses))
    # the stage clock starts again too: time suspended does not count against the stage
    return enter_stage(_with(incident, suspended=False), now), clock, detail


def recalendar(incident: Incident, rules: Rules, now: datetime, reason: str) -> Decision | None:
    """The incident's case clock counted again on ``rules``' calendar (a year's holidays were
    entered or changed): its deadline moves and its timers with it. None when nothing moves:
    no running clock, a suspended one (its deadline is counted again when it resumes), or a
    deadline the change does not reach. The history says why the deadline moved.
    """
    clock = incident.progress.clock
    if clock is None or clock.stopped_at is not None or not incident.state.is_open:
        return None
    if incident.progress.suspended:
        return None
    moved = with_clock(incident, clock, rules, now)
    if moved.deadline == incident.deadline:
        return None
    changed = revision(incident, moved, now)
    tz = rules.calendar.tz
    detail = {
        "reason": reason,
        "deadline_before": in_zone(incident.deadline, tz) if incident.deadline else None,
        "deadline_after": in_zone(changed.deadline, tz) if changed.deadline else None,
    }
    event = Event(
        type=EventType.INCIDENT_UPDATED,
        incident=changed,
        at=now,
        actor=SYSTEM_ACTOR,
        actor_role=None,
        action="recalendar",
        state_before=incident.state,
        detail=detail,
    )
    return Decision(changed, (event,))
