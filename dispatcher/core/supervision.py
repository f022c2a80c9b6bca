"""Supervision items (督办单): opened, warned, answered, reviewed and closed.

An item is a record of its own: a leader's instruction (领导批示), a media exposure (媒体曝光),
an environmental inspection's referral (环保督察), a petition (信访), a deputies' proposal
(人大建议/政协提案), a matter assigned by a superior (上级交办) or the centre's own (internal).
It names the source document (文号 and text), the incidents it covers (none or more), the tier
that must answer (a squad; the squads form a tree, :mod:`dispatcher.core.tiers`) and a deadline
on the working calendar. Its life::

    open ──reply──▶ replied ──review: accepted──▶ accepted ──close──▶ closed
      ▲                 │
      └──── returned ◀──┘ review: returned (with a reason; a new reply is owed)

While a reply is owed (``open``, ``returned``) the item's clock runs: yellow at the
deployment's ``warn_at`` share of the working time between opening and the deadline, red at
the deadline, when the item is also escalated to the tier above the answering tier.

Pure: commands in, a :class:`Decision` (the item as it now is, and its :class:`Step`) out.
Every step is one entry of the hash-chained history whose subject is the item (its id in
place of an incident's); the store appends it through the one change path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Annotated, Any, Final, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from dispatcher.core.auth import ACT_ALL, Principal, Role
from dispatcher.core.clocks import ClockKind, Colour, WorkingCalendar
from dispatcher.core.errors import Forbidden, InvalidTransition, ValidationFailed
from dispatcher.core.routing import Squad
from dispatcher.core.tiers import ancestors
from dispatcher.core.times import format_time
from dispatcher.core.validation import Clean, validation_error


class Kind(StrEnum):
    LEADER_INSTRUCTION = "leader_instruction"
    MEDIA = "media"
    ENVIRONMENTAL_INSPECTION = "environmental_inspection"
    PETITION = "petition"
    DEPUTIES_PROPOSAL = "deputies_proposal"
    ASSIGNED_BY_SUPERIOR = "assigned_by_superior"
    INTERNAL = "internal"


KIND_LABELS: Final[Mapping[Kind, str]] = {
    Kind.LEADER_INSTRUCTION: "领导批示",
    Kind.MEDIA: "媒体曝光",
    Kind.ENVIRONMENTAL_INSPECTION: "环保督察",
    Kind.PETITION: "信访",
    Kind.DEPUTIES_PROPOSAL: "人大建议/政协提案",
    Kind.ASSIGNED_BY_SUPERIOR: "上级交办",
    Kind.INTERNAL: "内部督办",
}

#: the incident sources that open an item by themselves, and the item's kind
AUTO_KINDS: Final[Mapping[str, Kind]] = {"leader": Kind.LEADER_INSTRUCTION, "media": Kind.MEDIA}


class State(StrEnum):
    OPEN = "open"
    REPLIED = "replied"
    RETURNED = "returned"
    ACCEPTED = "accepted"
    CLOSED = "closed"


STATE_LABELS: Final[Mapping[State, str]] = {
    State.OPEN: "待答复",
    State.REPLIED: "已答复待审核",
    State.RETURNED: "退回重办",
    State.ACCEPTED: "审核通过",
    State.CLOSED: "已办结",
}
COLOUR_LABELS: Final[Mapping[Colour, str]] = {
    Colour.GREEN: "绿色",
    Colour.YELLOW: "黄色预警",
    Colour.RED: "红色超期",
}
#: the states in which a reply is owed and the clock runs
RUNNING: Final = frozenset({State.OPEN, State.RETURNED})


class StepType(StrEnum):
    OPENED = "supervision.opened"
    WARNED = "supervision.warned"
    OVERDUE = "supervision.overdue"
    REPLIED = "supervision.replied"
    RETURNED = "supervision.returned"
    ACCEPTED = "supervision.accepted"
    CLOSED = "supervision.closed"
    ASSIGNED = "supervision.assigned"


STEP_LABELS: Final[Mapping[StepType, str]] = {
    StepType.OPENED: "立单督办",
    StepType.WARNED: "黄色预警",
    StepType.OVERDUE: "超期红色预警并上报上级",
    StepType.REPLIED: "答复",
    StepType.RETURNED: "退回重办",
    StepType.ACCEPTED: "审核通过",
    StepType.CLOSED: "办结",
    StepType.ASSIGNED: "指定答复单位",
}


@dataclass(frozen=True)
class Item:
    """One supervision item as stored (``supervision_items``)."""

    id: str
    kind: Kind
    doc_no: str  # 文号
    doc_text: str
    title: str
    incident_ids: tuple[str, ...]
    tier_id: str | None  # the squad that must answer
    state: State
    colour: Colour
    opened_at: datetime
    opened_by: str
    opened_by_name: str
    deadline: datetime
    yellow_at: datetime
    escalated_to: tuple[str, ...] = ()
    round: int = 0  # replies given so far
    closed_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def due_at(self) -> datetime | None:
        """When the next warning falls due: yellow, then red; None when none is owed."""
        if self.state not in RUNNING or self.colour is Colour.RED:
            return None
        return self.yellow_at if self.colour is Colour.GREEN else self.deadline

    def to_doc(self, tz: tzinfo) -> dict[str, Any]:
        """The item as events and the API show it (the API adds names of squads)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "kind_label": KIND_LABELS[self.kind],
            "doc_no": self.doc_no,
            "title": self.title,
            "incident_ids": list(self.incident_ids),
            "tier_id": self.tier_id,
            "state": self.state.value,
            "state_label": STATE_LABELS[self.state],
            "colour": self.colour.value,
            "colour_label": COLOUR_LABELS[self.colour],
            "opened_at": format_time(self.opened_at, tz),
            "deadline": format_time(self.deadline, tz),
            "yellow_at": format_time(self.yellow_at, tz),
            "escalated_to": list(self.escalated_to),
            "round": self.round,
            "closed_at": format_time(self.closed_at, tz),
            "version": self.version,
        }


@dataclass(frozen=True)
class Step:
    """One step of an item, an entry of the history (``dispatcher.core.events.Entry``)."""

    type: StepType
    item: Item  # as the step left it
    at: datetime
    actor: str
    actor_role: str | None
    action: str
    state_before: State | None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return self.item.id

    @property
    def state_after(self) -> State:
        return self.item.state

    @property
    def topics(self) -> tuple[str, ...]:
        """Everyone following the item, its incidents, its tier and the tiers it reached."""
        topics = ["all", f"supervision:{self.item.id}"]
        topics.extend(f"incident:{i}" for i in self.item.incident_ids)
        squads = [self.item.tier_id, *self.item.escalated_to]
        topics.extend(f"squad:{s}" for s in dict.fromkeys(squads) if s)
        return tuple(topics)

    def body(self, seq: int, tz: tzinfo) -> dict[str, Any]:
        """The step as a JSON object (``seq`` and ``type`` sort last, as the chain needs)."""
        return {
            "seq": seq,
            "type": self.type.value,
            "at": format_time(self.at, tz),
            "action": self.action,
            "actor": self.actor,
            "item": self.item.to_doc(tz),
            "detail": dict(self.detail),
        }


@dataclass(frozen=True)
class Decision:
    item: Item
    step: Step


# -- the commands' bodies ---------------------------------------------------------------------

Text = Annotated[str, Field(min_length=1, max_length=20000), Clean]
Short = Annotated[str, Field(max_length=200), Clean]
Ref = Annotated[str, Field(min_length=1, max_length=300), Clean]
_STRICT: Final = ConfigDict(allow_inf_nan=False, str_strip_whitespace=True, extra="forbid")


class ItemIn(BaseModel):
    """The body of ``POST /api/v1/supervision-items``."""

    model_config = _STRICT

    kind: Kind
    doc_no: Short = ""
    doc_text: Text
    title: Short = ""
    incident_ids: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=40), Clean]], Field(max_length=100)
    ] = []
    tier_id: Annotated[str, Field(min_length=1, max_length=100), Clean]
    deadline: AwareDatetime | None = None
    days: float | None = Field(default=None, gt=0, le=366)


class ReplyIn(BaseModel):
    """The body of ``POST /api/v1/supervision-items/{id}/reply``."""

    model_config = _STRICT

    text: Text
    attachments: Annotated[list[Ref], Field(max_length=20)] = []


class ReviewIn(BaseModel):
    """The body of ``POST /api/v1/supervision-items/{id}/review``."""

    model_config = _STRICT

    accepted: bool
    reason: Annotated[str, Field(max_length=2000), Clean] | None = None
    deadline: AwareDatetime | None = None


class AssignIn(BaseModel):
    """The body of ``POST /api/v1/supervision-items/{id}/assign``."""

    model_config = _STRICT

    tier_id: Annotated[str, Field(min_length=1, max_length=100), Clean]
    note: Annotated[str, Field(max_length=2000), Clean] = ""


class CloseIn(BaseModel):
    """The body of ``POST /api/v1/supervision-items/{id}/close``."""

    model_config = _STRICT

    note: Annotated[str, Field(max_length=2000), Clean] = ""


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], body: bytes) -> M:
    """The body as ``model``; 400 if it is not JSON, 422 naming the field if it is wrong."""
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as exc:
        raise validation_error(exc) from None


# -- who may do what ----------------------------------------------------------------------------


def may_read(who: Principal, item: Item) -> bool:
    """Operators, admins and auditors see every item; a squad's holder, its tier's and below."""
    if who.role in (Role.ADMIN, Role.OPERATOR, Role.AUDITOR):
        return True
    return who.role is Role.SQUAD and who.covers([item.tier_id])


def may_reply(who: Principal, item: Item) -> bool:
    """The answering tier's holder or a tier above it, and the centre (operators, admins)."""
    if who.role in ACT_ALL:
        return True
    return who.role is Role.SQUAD and who.covers([item.tier_id])


def require_centre(who: Principal, doing: str) -> None:
    if who.role not in ACT_ALL:
        raise Forbidden(f"only the centre (operator, admin) may {doing}")


# -- deadlines ----------------------------------------------------------------------------------


def deadline_for(opened_at: datetime, days: float, calendar: WorkingCalendar) -> datetime:
    """``days`` working days after ``opened_at`` on the working calendar."""
    return calendar.add(opened_at, timedelta(days=days), ClockKind.WORKING_DAYS)


def yellow_for(
    opened_at: datetime, deadline: datetime, calendar: WorkingCalendar, warn_at: float
) -> datetime:
    """When ``warn_at`` of the working time between opening and the deadline has run (of the
    wall-clock time, when no working time lies between them)."""
    allowed = calendar.elapsed(opened_at, deadline, ClockKind.WORKING_HOURS)
    if allowed > timedelta(0):
        return calendar.add(opened_at, allowed * warn_at, ClockKind.WORKING_HOURS)
    return opened_at + max(deadline - opened_at, timedelta(0)) * warn_at


def colour_at(item: Item, now: datetime) -> Colour:
    if now >= item.deadline:
        return Colour.RED
    return Colour.YELLOW if now >= item.yellow_at else Colour.GREEN


# -- the commands ------------------------------------------------------------------------------


def _revise(item: Item, now: datetime, **changes: Any) -> Item:
    return replace(item, updated_at=now, version=item.version + 1, **changes)


def _step(
    kind: StepType,
    before: Item | None,
    after: Item,
    who: Principal | None,
    now: datetime,
    action: str,
    **detail: Any,
) -> Step:
    actor, role, name = (who.actor, who.role.value, who.name) if who else ("system", None, "系统")
    return Step(
        kind,
        after,
        now,
        actor,
        role,
        action,
        before.state if before else None,
        {"actor_name": name, "label": STEP_LABELS[kind], **detail},
    )


def open_item(
    item_id: str,
    cmd: ItemIn,
    who: Principal | None,
    now: datetime,
    calendar: WorkingCalendar,
    warn_at: float,
    days_by_kind: Mapping[Kind, float],
) -> Decision:
    """Open an item: the deadline given, or the kind's working days from now (``days`` of the
    body overrides the kind's). ``who`` None: opened by the system (an incident's source)."""
    if cmd.deadline is not None and cmd.days is not None:
        raise ValidationFailed("deadline: give a deadline or days, not both", field="deadline")
    if cmd.deadline is not None:
        if cmd.deadline <= now:
            raise ValidationFailed("deadline: must be in the future", field="deadline")
        deadline = cmd.deadline
    else:
        deadline = deadline_for(now, cmd.days or days_by_kind[cmd.kind], calendar)
    item = Item(
        id=item_id,
        kind=cmd.kind,
        doc_no=cmd.doc_no,
        doc_text=cmd.doc_text,
        title=cmd.title,
        incident_ids=tuple(dict.fromkeys(cmd.incident_ids)),
        tier_id=cmd.tier_id,
        state=State.OPEN,
        colour=Colour.GREEN,
        opened_at=now,
        opened_by=who.actor if who else "system",
        opened_by_name=who.name if who else "系统",
        deadline=deadline,
        yellow_at=yellow_for(now, deadline, calendar, warn_at),
        updated_at=now,
    )
    item = replace(item, colour=colour_at(item, now))
    return Decision(item, _step(StepType.OPENED, None, item, who, now, "open"))


def open_for_incident(
    item_id: str,
    incident_id: str,
    source: str,
    tier_id: str | None,
    summary: str,
    now: datetime,
    calendar: WorkingCalendar,
    warn_at: float,
    days_by_kind: Mapping[Kind, float],
) -> Decision:
    """The item an incident from a ``leader`` or ``media`` source opens by itself."""
    kind = AUTO_KINDS[source]
    cmd = ItemIn.model_construct(
        kind=kind,
        doc_no="",
        doc_text=summary or KIND_LABELS[kind],
        title=f"{KIND_LABELS[kind]}：案卷 {incident_id}",
        incident_ids=[incident_id],
        tier_id=tier_id,  # type: ignore[arg-type]  # None: the centre has to name a tier
        deadline=None,
        days=None,
    )
    return open_item(item_id, cmd, None, now, calendar, warn_at, days_by_kind)


def _require(item: Item, allowed: Sequence[State], doing: str) -> None:
    if item.state not in allowed:
        raise InvalidTransition(
            f"cannot {doing} an item that is {item.state.value} ({STATE_LABELS[item.state]})",
            details={"state": item.state.value},
        )


def reply(item: Item, cmd: ReplyIn, who: Principal, now: datetime) -> Decision:
    """The answering tier replies (a first reply, or again after a return)."""
    if not may_reply(who, item):
        raise Forbidden("only the answering tier, a tier above it or the centre may reply")
    _require(item, tuple(RUNNING), "reply to")
    after = _revise(item, now, state=State.REPLIED, round=item.round + 1)
    step = _step(
        StepType.REPLIED,
        item,
        after,
        who,
        now,
        "reply",
        round=after.round,
        text=cmd.text,
        attachments=list(cmd.attachments),
    )
    return Decision(after, step)


def review(
    item: Item,
    cmd: ReviewIn,
    who: Principal,
    now: datetime,
    calendar: WorkingCalendar,
    warn_at: float,
) -> Decision:
    """The centre accepts the reply, or returns it with a reason (a new deadline may be given;
    the clock runs again, on the old deadline otherwise)."""
    require_centre(who, "review a reply")
    _require(item, (State.REPLIED,), "review")
    if cmd.accepted:
        after = _revise(item, now, state=State.ACCEPTED)
        return Decision(
            after, _step(StepType.ACCEPTED, item, after, who, now, "accept", round=item.round)
        )
    if not cmd.reason:
        raise ValidationFailed("reason: a returned reply needs a reason", field="reason")
    deadline, yellow = item.deadline, item.yellow_at
    if cmd.deadline is not None:
        if cmd.deadline <= now:
            raise ValidationFailed("deadline: must be in the future", field="deadline")
        deadline, yellow = cmd.deadline, yellow_for(now, cmd.deadline, calendar, warn_at)
    after = _revise(item, now, state=State.RETURNED, deadline=deadline, yellow_at=yellow)
    after = replace(after, colour=colour_at(after, now))
    detail: dict[str, Any] = {"round": item.round, "reason": cmd.reason}
    if cmd.deadline is not None:
        detail["deadline"] = format_time(deadline, calendar.tz)
    return Decision(after, _step(StepType.RETURNED, item, after, who, now, "return", **detail))


def assign(item: Item, cmd: AssignIn, who: Principal, now: datetime) -> Decision:
    """The centre names the tier that must answer: an item opened without one (a leader's or
    media report not dispatched yet), or handed to another tier while a reply is owed."""
    require_centre(who, "assign a supervision item")
    _require(item, tuple(RUNNING), "assign")
    if cmd.tier_id == item.tier_id:
        raise ValidationFailed("tier_id: the item is already that tier's", field="tier_id")
    after = _revise(item, now, tier_id=cmd.tier_id)
    step = _step(
        StepType.ASSIGNED,
        item,
        after,
        who,
        now,
        "assign",
        tier_id=cmd.tier_id,
        from_tier_id=item.tier_id,
        note=cmd.note,
    )
    return Decision(after, step)


def close(item: Item, cmd: CloseIn, who: Principal, now: datetime) -> Decision:
    """The centre closes an accepted item (办结)."""
    require_centre(who, "close an item")
    _require(item, (State.ACCEPTED,), "close")
    after = _revise(item, now, state=State.CLOSED, closed_at=now)
    return Decision(after, _step(StepType.CLOSED, item, after, who, now, "close", note=cmd.note))


def fire(item: Item, now: datetime, squads: Mapping[str, Squad]) -> Decision | None:
    """What a due warning gives: yellow, or red with the item escalated to the tier above the
    answering tier; None if nothing is owed now (replied meanwhile, or not yet due)."""
    if item.state not in RUNNING:
        return None
    colour = colour_at(item, now)
    if colour is item.colour or colour is Colour.GREEN:
        return None
    if colour is Colour.YELLOW:
        after = _revise(item, now, colour=Colour.YELLOW)
        step = _step(StepType.WARNED, item, after, None, now, "warn", colour="yellow")
        return Decision(after, step)
    above = ancestors(item.tier_id, squads)[:1]
    reached = tuple(dict.fromkeys((*item.escalated_to, *above)))
    after = _revise(item, now, colour=Colour.RED, escalated_to=reached)
    step = _step(
        StepType.OVERDUE, item, after, None, now, "escalate", colour="red", escalated_to=above
    )
    return Decision(after, step)
