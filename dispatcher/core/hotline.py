"""12345 接诉即办 as practised: contact, 退单 and 回访 of a work order (docs/API.md §5.3).

:func:`decide` is pure, as :func:`dispatcher.core.lifecycle.decide`: the incident as locked, a
validated :class:`HotlineIn`, who acts and when, in; the changed incident and its history
event out, or ``InvalidTransition`` (409), ``Forbidden`` (403), ``ValidationFailed`` (422).
The adapter (``api_hotline``) takes it through the one change path (``rt.changes``).

Actions (``POST /api/v1/incidents/{id}/hotline``):

- ``contact`` (联系诉求人): the squad of the order or an operator records that the caller was
  contacted, when (at most now, not before receipt) and how; contacting after the contact
  deadline (联系时限) is recorded as late. Once per order.
- ``ask_sendback`` (退单申请): the squad or an operator asks to send the order back to the
  platform (e.g. 非本部门职责), with a reason, only within the platform's window
  (:attr:`HotlineRules.sendback_hours` working hours from receipt).
- ``decide_sendback`` (退单审核): the centre (operator, admin) approves or refuses it. Approved
  (within the window), the order ends here: its state becomes ``rejected`` with the approved
  退单 kept in ``hotline.sendbacks``, its case clock stops, it leaves every queue of the
  centre, and the state change goes to the platform through the outbox.
- ``visit`` (回访): an operator, or the platform with its own token, records the caller's
  satisfaction with the closed order (办结): 满意, 基本满意 or 不满意. 不满意 sends the order
  back to its squad to be handled again (重办, as a failed review): dispatched, the case clock
  running again from where it stopped, counted in ``hotline.rehandled``. One 回访 each time
  the order is closed.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from dispatcher.core.auth import ACT_ALL, Principal, Role
from dispatcher.core.clocks import ClockKind
from dispatcher.core.deadlines import Rules, enter_stage, with_clock
from dispatcher.core.errors import Forbidden, InvalidTransition, ValidationFailed
from dispatcher.core.events import Event, EventType
from dispatcher.core.incidents import FINAL_STATES, Incident, State, revision
from dispatcher.core.lifecycle import Decision
from dispatcher.core.stats import OrderStanding
from dispatcher.core.times import in_zone
from dispatcher.core.validation import Clean, validation_error
from dispatcher.core.workorder import (
    ContactMethod,
    Satisfaction,
    SendBack,
    SendBackReason,
    Visit,
    WorkOrder,
)


class HotlineAction(StrEnum):
    CONTACT = "contact"  # 联系诉求人
    ASK_SENDBACK = "ask_sendback"  # 退单申请
    DECIDE_SENDBACK = "decide_sendback"  # 退单审核
    VISIT = "visit"  # 回访


OPEN: Final = frozenset(s for s in State if s not in FINAL_STATES)
ALLOWED_FROM: Final = {
    HotlineAction.CONTACT: OPEN,
    HotlineAction.ASK_SENDBACK: OPEN,
    HotlineAction.DECIDE_SENDBACK: OPEN,
    HotlineAction.VISIT: frozenset({State.CLOSED}),
}
#: who may take each action: the roles that act on any order; the order's squad (its own
#: or one above it) for SQUAD_ACTIONS; the platform's device token for PLATFORM_ACTIONS
SQUAD_ACTIONS: Final = frozenset({HotlineAction.CONTACT, HotlineAction.ASK_SENDBACK})
PLATFORM_ACTIONS: Final = frozenset({HotlineAction.VISIT})

Reason = Annotated[str, Field(min_length=1, max_length=2000), Clean]
Note = Annotated[str, Field(max_length=4000), Clean]


class HotlineIn(BaseModel):
    """The body of ``POST /api/v1/incidents/{id}/hotline``."""

    model_config = ConfigDict(allow_inf_nan=False, str_strip_whitespace=True, extra="ignore")

    action: HotlineAction
    method: ContactMethod | None = None
    contacted_at: AwareDatetime | None = None
    reason_code: SendBackReason | None = None
    reason: Reason | None = None
    approved: bool | None = None
    satisfaction: Satisfaction | None = None
    note: Note | None = None

    @model_validator(mode="after")
    def _required(self) -> HotlineIn:
        needs: dict[HotlineAction, tuple[tuple[str, Any], ...]] = {
            HotlineAction.CONTACT: (("method", self.method),),
            HotlineAction.ASK_SENDBACK: (
                ("reason_code", self.reason_code),
                ("reason", self.reason),
            ),
            HotlineAction.DECIDE_SENDBACK: (("approved", self.approved),),
            HotlineAction.VISIT: (("satisfaction", self.satisfaction),),
        }
        for name, value in needs[self.action]:
            if value in (None, ""):
                raise ValueError(f"[{name}] {self.action.value} needs {name}")
        return self


_NAMED_FIELD: Final = re.compile(r"\[(\w+)\] ")


def parse_hotline(body: bytes) -> HotlineIn:
    """Validate a body; raise BadRequest (not JSON) or ValidationFailed naming the field."""
    try:
        return HotlineIn.model_validate_json(body)
    except ValidationError as exc:
        error = validation_error(exc)
        named = _NAMED_FIELD.search(error.message)
        if error.field is None and named is not None:
            error.field = named.group(1)
            error.message = error.message.replace(named.group(0), f"{named.group(1)}: ")
        raise error from None


def authorise(incident: Incident, action: HotlineAction, who: Principal) -> None:
    """Raise Forbidden unless ``who`` may take ``action`` on the order."""
    if who.role in ACT_ALL:
        return
    if who.role is Role.SQUAD and action in SQUAD_ACTIONS:
        if who.covers([incident.squad_id]):
            return
        raise Forbidden("a squad acts only on work orders dispatched to it or to a squad below it")
    if who.role is Role.DEVICE and action in PLATFORM_ACTIONS:
        if incident.reported_by == who.actor:  # the platform that sent the order
            return
        raise Forbidden("a device token acts only on the work orders it sent")
    raise Forbidden(f"a {who.role} token may not {action.value} work orders")


def sendback_closes_at(incident: Incident, rules: Rules) -> datetime:
    """The end of the 退单 window: ``sendback_hours`` working hours from receipt."""
    limit = rules.hotline.sendback_limit
    return rules.calendar.add(incident.received_at, limit, ClockKind.WORKING_HOURS)


def order_of(incident: Incident) -> WorkOrder:
    """The incident's 12345 facts; InvalidTransition when it is no work order."""
    order = incident.progress.hotline
    if order is None:
        raise InvalidTransition(
            f"incident {incident.id} is not a 12345 work order",
            details={"source": incident.source.value},
        )
    return order


def decide(
    incident: Incident, cmd: HotlineIn, who: Principal, now: datetime, rules: Rules
) -> Decision:
    """What ``cmd`` does to the order ``incident`` (the module's note)."""
    action = cmd.action
    order = order_of(incident)
    if incident.state not in ALLOWED_FROM[action]:
        raise InvalidTransition(
            f"{action.value} is not allowed while the incident is {incident.state.value}",
            details={"state": incident.state.value, "action": action.value},
        )
    authorise(incident, action, who)
    if action is HotlineAction.CONTACT:
        changed, detail = _contact(incident, order, cmd, who, now, rules.calendar.tz)
    elif action is HotlineAction.ASK_SENDBACK:
        changed, detail = _ask_sendback(incident, order, cmd, who, now, rules)
    elif action is HotlineAction.DECIDE_SENDBACK:
        changed, detail = _decide_sendback(incident, order, cmd, who, now, rules)
    else:
        changed, detail = _visit(incident, order, cmd, who, now, rules)
    changed = revision(incident, changed, now)
    event = Event(
        type=EventType.INCIDENT_UPDATED,
        incident=changed,
        at=now,
        actor=who.actor,
        actor_role=who.role.value,
        action=action.value,
        state_before=incident.state,
        detail=detail,
    )
    events = [event]
    if changed.state is State.DISPATCHED and incident.state is not State.DISPATCHED:
        events.append(
            replace(
                event,
                type=EventType.DISPATCH_ASSIGNED,
                only_topics=tuple(f"squad:{s}" for s in changed.squad_ids),
            )
        )
    return Decision(changed, tuple(events))


def _with(incident: Incident, order: WorkOrder, **progress: Any) -> Incident:
    return replace(incident, progress=incident.progress.but(hotline=order, **progress))


def _contact(
    incident: Incident,
    order: WorkOrder,
    cmd: HotlineIn,
    who: Principal,
    now: datetime,
    tz: tzinfo,
) -> tuple[Incident, dict[str, Any]]:
    if order.contacted_at is not None:
        raise InvalidTransition(
            "the caller was already contacted",
            details={"contacted_at": in_zone(order.contacted_at, tz)},
        )
    at = cmd.contacted_at or now
    if at > now:
        raise ValidationFailed("contacted_at: may not be in the future", field="contacted_at")
    if at < incident.received_at:
        raise ValidationFailed(
            "contacted_at: may not be before the order was received", field="contacted_at"
        )
    assert cmd.method is not None
    late = order.contact_deadline is not None and at > order.contact_deadline
    contacted = order.but(
        contacted_at=at,
        contact_method=cmd.method,
        contacted_by=who.actor,
        contact_note=cmd.note,
        contacted_late=late,
    )
    detail = {
        "method": cmd.method.value,
        "contacted_at": in_zone(at, tz),
        "contact_deadline": _iso(order.contact_deadline, tz),
        "late": late,
        "note": cmd.note,
    }
    return _with(incident, contacted), detail


def _ask_sendback(
    incident: Incident,
    order: WorkOrder,
    cmd: HotlineIn,
    who: Principal,
    now: datetime,
    rules: Rules,
) -> tuple[Incident, dict[str, Any]]:
    if order.pending_sendback is not None:
        raise InvalidTransition("a 退单 of this order is already waiting for the centre")
    closes = _window_open(incident, now, rules)
    assert cmd.reason_code is not None
    assert cmd.reason is not None
    ask = SendBack(cmd.reason_code, cmd.reason, now, who.actor)
    detail = {
        "reason_code": ask.reason_code.value,
        "reason": ask.reason,
        "window_closes_at": in_zone(closes, rules.calendar.tz),
        "pending": True,
    }
    return _with(incident, order.but(sendbacks=(*order.sendbacks, ask))), detail


def _window_open(incident: Incident, now: datetime, rules: Rules) -> datetime:
    closes = sendback_closes_at(incident, rules)
    if now > closes:
        raise InvalidTransition(
            f"the 退单 window closed at {in_zone(closes, rules.calendar.tz)} "
            f"({rules.hotline.sendback_hours:g} working hours from receipt)",
            details={"window_closed_at": in_zone(closes, rules.calendar.tz)},
        )
    return closes


def _decide_sendback(
    incident: Incident,
    order: WorkOrder,
    cmd: HotlineIn,
    who: Principal,
    now: datetime,
    rules: Rules,
) -> tuple[Incident, dict[str, Any]]:
    pending = order.pending_sendback
    if pending is None:
        raise InvalidTransition("there is no 退单 waiting for the centre")
    if cmd.approved:
        _window_open(incident, now, rules)
    status = "approved" if cmd.approved else "refused"
    decided = replace(pending, status=status, decided_at=now, decided_by=who.actor)
    decided = replace(decided, decision_note=cmd.note)
    order = order.but(sendbacks=(*order.sendbacks[:-1], decided))
    detail: dict[str, Any] = {
        "approved": bool(cmd.approved),
        "reason_code": pending.reason_code.value,
        "reason": pending.reason,
        "note": cmd.note,
    }
    if not cmd.approved:
        return _with(incident, order), detail
    # 退单: the order goes back to the platform and ends here
    changed = _with(incident, order)
    clock = changed.progress.clock
    if clock is not None and clock.stopped_at is None:
        changed = with_clock(changed, replace(clock, stopped_at=now), rules, now)
    detail["sent_back"] = True
    return replace(changed, state=State.REJECTED, closed_at=now), detail


def _visit(
    incident: Incident,
    order: WorkOrder,
    cmd: HotlineIn,
    who: Principal,
    now: datetime,
    rules: Rules,
) -> tuple[Incident, dict[str, Any]]:
    last = order.visits[-1] if order.visits else None
    if last is not None and incident.closed_at is not None and last.at >= incident.closed_at:
        raise InvalidTransition(
            "the order was already visited since it was closed",
            details={"satisfaction": last.satisfaction.value},
        )
    assert cmd.satisfaction is not None
    visit = Visit(cmd.satisfaction, now, who.actor, cmd.note)
    order = order.but(visits=(*order.visits, visit))
    detail: dict[str, Any] = {
        "satisfaction": visit.satisfaction.value,
        "satisfaction_zh": visit.satisfaction.name_zh,
        "note": cmd.note,
    }
    if visit.satisfaction is not Satisfaction.DISSATISFIED:
        return _with(incident, order), detail
    # 不满意: handled again by its squad (重办), as a failed review (返工)
    order = order.but(rehandled=order.rehandled + 1)
    reopened = _with(incident, order, rework_count=incident.progress.rework_count + 1)
    clock = reopened.progress.clock
    if clock is not None and clock.stopped_at is not None:
        pauses = (*clock.pauses, (clock.stopped_at, now))
        reopened = with_clock(reopened, replace(clock, pauses=pauses, stopped_at=None), rules, now)
    reopened = replace(
        reopened,
        state=State.DISPATCHED,
        dispatched_at=now,
        resolved_at=None,
        closed_at=None,
    )
    detail["rehandle"] = True
    return enter_stage(reopened, now), detail


def _iso(moment: datetime | None, tz: tzinfo) -> str | None:
    return in_zone(moment, tz) if moment is not None else None


def standing(incident: Incident, as_of: datetime) -> OrderStanding:
    """How the order ``incident`` (as stored) stood at ``as_of`` for the 12345 figures: what
    its recorded instants (contact, 退单, 回访, closure) say of that moment."""
    order = incident.progress.hotline or WorkOrder()
    sent = order.sent_back
    sent_back = sent is not None and sent.decided_at is not None and sent.decided_at <= as_of
    closed = (
        incident.state is State.CLOSED
        and incident.closed_at is not None
        and incident.closed_at <= as_of
    )
    contacted = order.contacted_at is not None and order.contacted_at <= as_of
    due = order.contact_deadline
    visits = [v for v in order.visits if v.at <= as_of]
    return OrderStanding(
        merged=incident.state is State.MERGED,
        sent_back=sent_back,
        closed=closed,
        open_inside_limit=not closed and (incident.deadline is None or incident.deadline > as_of),
        contacted=contacted,
        contacted_late=contacted and bool(order.contacted_late),
        contact_overdue=not contacted and due is not None and due <= as_of,
        satisfaction=visits[-1].satisfaction.value if visits else None,
        rehandled=any(v.satisfaction is Satisfaction.DISSATISFIED for v in visits),
    )
