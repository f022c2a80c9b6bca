"""Inspection plans and their tasks: what to check, where, by whom, by when, and what was found.

A plan (检查计划) names a checklist (检查事项: items per kind of place and per department), the
population to draw from (kinds of place, zones, risk classes, within the squads of its tier),
how many places to draw, the period and how many working days a task has. Drawing it
(:mod:`dispatcher.core.draw`, 双随机) gives one task per drawn place::

    plan: draft ──draw──▶ drawn          task: assigned ──result──▶ done

**综合查一次** (one combined visit): the items of every department that regulates a place are
merged into that place's one task, so a shop regulated for 市容, 燃气 and 消防 is visited once,
not three times; the plan counts the visits that would have been made department by department
and the visits saved (:func:`merge`).

A task has its own clock on the working calendar (yellow at ``warn_at`` of the working time,
red at the deadline, like a supervision item's). Its result is every item passed or failed with
a note and photos, and the place's 亮码 code scanned or typed, which must be the place's own. A
failed item becomes an incident through intake (the store's caller does that, then records the
result with the incidents' ids).

Pure: commands in, decisions and steps out. Steps are entries of the hash-chained history whose
subject is the plan (``JH…``) or the task (``XC…``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from dispatcher.core.auth import Principal
from dispatcher.core.clocks import ClockKind, Colour, WorkingCalendar
from dispatcher.core.draw import Candidate, Drawn
from dispatcher.core.errors import InvalidTransition, ValidationFailed
from dispatcher.core.places import Kind, Place, Risk, check_qr
from dispatcher.core.supervision import yellow_for
from dispatcher.core.times import format_time
from dispatcher.core.validation import Clean

_STRICT: Final = ConfigDict(allow_inf_nan=False, str_strip_whitespace=True, extra="forbid")
Short = Annotated[str, Field(min_length=1, max_length=200), Clean]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_.-]+$"), Clean]
Note = Annotated[str, Field(max_length=2000), Clean]
Url = Annotated[str, Field(min_length=1, max_length=300), Clean]


# -- the commands' bodies ---------------------------------------------------------------------


class ChecklistItemIn(BaseModel):
    """One item to check: its department, the kinds of place it applies to (none: every kind),
    what to check, and the incident category a failure becomes."""

    model_config = _STRICT

    id: Code
    department: Short
    kinds: Annotated[list[Kind], Field(max_length=6)] = []
    text: Annotated[str, Field(min_length=1, max_length=500), Clean]
    category: Code


class PopulationIn(BaseModel):
    model_config = _STRICT

    kinds: Annotated[list[Kind], Field(max_length=6)] = []
    zone_ids: Annotated[list[Short], Field(max_length=200)] = []
    risks: Annotated[list[Risk], Field(max_length=4)] = []


class PlanIn(BaseModel):
    """The body of ``POST /api/v1/inspection-plans``."""

    model_config = _STRICT

    name: Short
    tier_id: Short
    checklist: Annotated[list[ChecklistItemIn], Field(min_length=1, max_length=200)]
    population: PopulationIn = PopulationIn()
    sample_size: int = Field(ge=1, le=10_000)
    officers: int = Field(default=2, ge=1, le=5)
    days: float = Field(default=5, gt=0, le=366)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    campaign_id: Code | None = None

    @model_validator(mode="after")
    def _checked(self) -> PlanIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at: the period must end after it starts")
        ids = [item.id for item in self.checklist]
        if len(set(ids)) != len(ids):
            raise ValueError("checklist: each item needs an id of its own")
        return self


class DrawIn(BaseModel):
    """The body of ``POST /api/v1/inspection-plans/{id}/draw``: a seed, or none for a fresh
    random one (recorded and published either way)."""

    model_config = _STRICT

    seed: Annotated[str, Field(min_length=8, max_length=128), Clean] | None = None


class ItemResultIn(BaseModel):
    model_config = _STRICT

    item_id: Code
    passed: bool
    note: Note = ""
    photos: Annotated[list[Url], Field(max_length=20)] = []


class ResultIn(BaseModel):
    """The body of ``POST /api/v1/inspection-tasks/{id}/result``."""

    model_config = _STRICT

    qr_code: Annotated[str, Field(min_length=1, max_length=200), Clean]
    results: Annotated[list[ItemResultIn], Field(min_length=1, max_length=200)]
    note: Note = ""


# -- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    department: str
    kinds: tuple[Kind, ...]
    text: str
    category: str

    @classmethod
    def of(cls, item: ChecklistItemIn | Mapping[str, Any]) -> ChecklistItem:
        data = item.model_dump() if isinstance(item, BaseModel) else dict(item)
        return cls(
            data["id"],
            data["department"],
            tuple(Kind(k) for k in data["kinds"]),
            data["text"],
            data["category"],
        )

    def to_doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "department": self.department,
            "kinds": [k.value for k in self.kinds],
            "text": self.text,
            "category": self.category,
        }


@dataclass(frozen=True)
class Population:
    kinds: tuple[Kind, ...] = ()
    zone_ids: tuple[str, ...] = ()
    risks: tuple[Risk, ...] = ()

    def admits(self, place: Place) -> bool:
        """Whether the place is in this population (an empty filter admits every value)."""
        return (
            (not self.kinds or place.kind in self.kinds)
            and (not self.risks or place.risk in self.risks)
            and (not self.zone_ids or bool(set(self.zone_ids) & set(place.zone_ids)))
        )

    def to_doc(self) -> dict[str, Any]:
        return {
            "kinds": [k.value for k in self.kinds],
            "zone_ids": list(self.zone_ids),
            "risks": [r.value for r in self.risks],
        }


class PlanState(StrEnum):
    DRAFT = "draft"
    DRAWN = "drawn"


@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    tier_id: str
    checklist: tuple[ChecklistItem, ...]
    population: Population
    sample_size: int
    officers: int
    days: float
    starts_at: datetime
    ends_at: datetime
    campaign_id: str | None
    state: PlanState
    created_at: datetime
    created_by: str
    seed: str | None = None
    draw: Mapping[str, Any] | None = None
    drawn_at: datetime | None = None
    drawn_by: str | None = None
    version: int = 1

    def to_doc(self, tz: tzinfo) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "tier_id": self.tier_id,
            "checklist": [i.to_doc() for i in self.checklist],
            "population": self.population.to_doc(),
            "sample_size": self.sample_size,
            "officers": self.officers,
            "days": self.days,
            "starts_at": format_time(self.starts_at, tz),
            "ends_at": format_time(self.ends_at, tz),
            "campaign_id": self.campaign_id,
            "state": self.state.value,
            "seed": self.seed,
            "created_at": format_time(self.created_at, tz),
            "created_by": self.created_by,
            "drawn_at": format_time(self.drawn_at, tz),
            "drawn_by": self.drawn_by,
            "version": self.version,
        }


class TaskState(StrEnum):
    ASSIGNED = "assigned"
    DONE = "done"


@dataclass(frozen=True)
class ItemResult:
    item_id: str
    passed: bool
    note: str
    photos: tuple[str, ...]
    incident_id: str | None = None

    def to_doc(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "passed": self.passed,
            "note": self.note,
            "photos": list(self.photos),
            "incident_id": self.incident_id,
        }


@dataclass(frozen=True)
class Task:
    id: str
    plan_id: str
    place_id: str
    squad_id: str | None
    officer_ids: tuple[str, ...]
    departments: tuple[str, ...]
    items: tuple[ChecklistItem, ...]
    state: TaskState
    colour: Colour
    assigned_at: datetime
    deadline: datetime
    yellow_at: datetime
    results: tuple[ItemResult, ...] = ()
    qr_code: str | None = None
    findings: int = 0
    incident_ids: tuple[str, ...] = ()
    done_at: datetime | None = None
    done_by: str | None = None
    note: str = ""
    version: int = 1

    @property
    def due_at(self) -> datetime | None:
        """When the next warning falls due: yellow, then red; None when done or red."""
        if self.state is not TaskState.ASSIGNED or self.colour is Colour.RED:
            return None
        return self.yellow_at if self.colour is Colour.GREEN else self.deadline

    @property
    def on_time(self) -> bool | None:
        return None if self.done_at is None else self.done_at <= self.deadline

    def to_doc(self, tz: tzinfo) -> dict[str, Any]:
        return {
            "id": self.id,
            "plan_id": self.plan_id,
            "place_id": self.place_id,
            "squad_id": self.squad_id,
            "officer_ids": list(self.officer_ids),
            "departments": list(self.departments),
            "combined": len(self.departments) >= 2,
            "items": [i.to_doc() for i in self.items],
            "results": [r.to_doc() for r in self.results],
            "state": self.state.value,
            "state_label": "已检查" if self.state is TaskState.DONE else "待检查",
            "colour": self.colour.value,
            "assigned_at": format_time(self.assigned_at, tz),
            "deadline": format_time(self.deadline, tz),
            "yellow_at": format_time(self.yellow_at, tz),
            "qr_code": self.qr_code,
            "findings": self.findings,
            "incident_ids": list(self.incident_ids),
            "done_at": format_time(self.done_at, tz),
            "done_by": self.done_by,
            "on_time": self.on_time,
            "note": self.note,
            "version": self.version,
        }


class StepType(StrEnum):
    PLAN_CREATED = "inspection_plan.created"
    PLAN_DRAWN = "inspection_plan.drawn"
    ASSIGNED = "inspection.assigned"
    WARNED = "inspection.warned"
    OVERDUE = "inspection.overdue"
    DONE = "inspection.done"


STEP_LABELS: Final[Mapping[StepType, str]] = {
    StepType.PLAN_CREATED: "制定检查计划",
    StepType.PLAN_DRAWN: "双随机抽取",
    StepType.ASSIGNED: "派发检查任务",
    StepType.WARNED: "黄色预警",
    StepType.OVERDUE: "超期红色预警",
    StepType.DONE: "完成检查",
}


@dataclass(frozen=True)
class Step:
    """One step of a plan or a task, an entry of the history (``core.events.Entry``)."""

    type: StepType
    subject: str
    state_after: StrEnum
    at: datetime
    actor: str
    actor_role: str | None
    action: str
    state_before: StrEnum | None
    doc: Mapping[str, Any]  # the plan or task as the step left it
    squad_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def topics(self) -> tuple[str, ...]:
        """Everyone, the record's own topic, and the squad a task is for."""
        own = "inspection" if self.subject.startswith("XC") else "inspection_plan"
        topics = ["all", f"{own}:{self.subject}"]
        if self.squad_id:
            topics.append(f"squad:{self.squad_id}")
        return tuple(topics)

    def body(self, seq: int, tz: tzinfo) -> dict[str, Any]:
        # "inspection" and "plan" sort before "seq": the chain needs seq and type last
        key = "inspection" if self.subject.startswith("XC") else "plan"
        return {
            "seq": seq,
            "type": self.type.value,
            "at": format_time(self.at, tz),
            "action": self.action,
            "actor": self.actor,
            key: dict(self.doc),
            "detail": dict(self.detail),
        }


def _step(
    kind: StepType,
    subject: str,
    after: StrEnum,
    before: StrEnum | None,
    doc: Mapping[str, Any],
    who: Principal | None,
    now: datetime,
    action: str,
    squad_id: str | None = None,
    **detail: Any,
) -> Step:
    actor, role, name = (who.actor, who.role.value, who.name) if who else ("system", None, "系统")
    return Step(
        kind,
        subject,
        after,
        now,
        actor,
        role,
        action,
        before,
        doc,
        squad_id,
        {"actor_name": name, "label": STEP_LABELS[kind], **detail},
    )


# -- plans --------------------------------------------------------------------------------------


def new_plan(
    plan_id: str, cmd: PlanIn, who: Principal, now: datetime, tz: tzinfo
) -> tuple[Plan, Step]:
    plan = Plan(
        id=plan_id,
        name=cmd.name,
        tier_id=cmd.tier_id,
        checklist=tuple(ChecklistItem.of(i) for i in cmd.checklist),
        population=Population(
            tuple(dict.fromkeys(cmd.population.kinds)),
            tuple(dict.fromkeys(cmd.population.zone_ids)),
            tuple(dict.fromkeys(cmd.population.risks)),
        ),
        sample_size=cmd.sample_size,
        officers=cmd.officers,
        days=cmd.days,
        starts_at=cmd.starts_at,
        ends_at=cmd.ends_at,
        campaign_id=cmd.campaign_id,
        state=PlanState.DRAFT,
        created_at=now,
        created_by=who.actor,
    )
    step = _step(
        StepType.PLAN_CREATED, plan.id, plan.state, None, plan.to_doc(tz), who, now, "create"
    )
    return plan, step


def items_for(place: Place, checklist: Sequence[ChecklistItem]) -> tuple[ChecklistItem, ...]:
    """The items a place gets: those for its kind, of the departments that regulate it (of
    every department when the place names none)."""
    return tuple(
        item
        for item in checklist
        if (not item.kinds or place.kind in item.kinds)
        and (not place.departments or item.department in place.departments)
    )


@dataclass(frozen=True)
class Merge:
    """综合查一次 over a draw: visits made, the visits department by department, and saved."""

    visits: int
    separate_visits: int
    combined_visits: int  # visits covering two departments or more

    @property
    def saved(self) -> int:
        return self.separate_visits - self.visits


def departments_of(items: Sequence[ChecklistItem]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item.department for item in items))


def merge(item_sets: Sequence[Sequence[ChecklistItem]]) -> Merge:
    """Count the one visit a place gets against the one visit per department it would have
    had (a place with no item is not visited)."""
    departments = [len(departments_of(items)) for items in item_sets if items]
    return Merge(len(departments), sum(departments), sum(1 for d in departments if d >= 2))


def candidates(
    places: Sequence[Place], population: Population, tier: Collection[str]
) -> list[Candidate]:
    """The plan's population: places it admits whose squad is in the plan's tier."""
    return [
        Candidate(p.id, p.squad_id) for p in places if p.squad_id in tier and population.admits(p)
    ]


def assign(
    task_id: str,
    plan: Plan,
    place: Place,
    drawn: Drawn,
    who: Principal,
    now: datetime,
    calendar: WorkingCalendar,
    warn_at: float,
    tz: tzinfo,
) -> tuple[Task, Step]:
    """The task of one drawn place: every department's items in one visit, its clock."""
    items = items_for(place, plan.checklist)
    deadline = calendar.add(now, timedelta(days=plan.days), ClockKind.WORKING_DAYS)
    task = Task(
        id=task_id,
        plan_id=plan.id,
        place_id=place.id,
        squad_id=drawn.squad_id,
        officer_ids=drawn.officer_ids,
        departments=departments_of(items),
        items=items,
        state=TaskState.ASSIGNED,
        colour=Colour.GREEN,
        assigned_at=now,
        deadline=deadline,
        yellow_at=yellow_for(now, deadline, calendar, warn_at),
    )
    doc = {**task.to_doc(tz), "place": place.to_doc(tz)}
    step = _step(
        StepType.ASSIGNED, task.id, task.state, None, doc, who, now, "assign", task.squad_id
    )
    return task, step


def drawn_plan(
    plan: Plan, seed: str, record: Mapping[str, Any], who: Principal, now: datetime, tz: tzinfo
) -> tuple[Plan, Step]:
    if plan.state is not PlanState.DRAFT:
        raise InvalidTransition(f"plan {plan.id} is already drawn (seed {plan.seed})")
    after = replace(
        plan,
        state=PlanState.DRAWN,
        seed=seed,
        draw=dict(record),
        drawn_at=now,
        drawn_by=who.actor,
        version=plan.version + 1,
    )
    step = _step(
        StepType.PLAN_DRAWN,
        plan.id,
        after.state,
        plan.state,
        after.to_doc(tz),
        who,
        now,
        "draw",
        seed=seed,
        places=len(record["result"]),
        visits_saved=record.get("visits_saved", 0),
    )
    return after, step


# -- tasks --------------------------------------------------------------------------------------


def check_result(task: Task, place: Place, cmd: ResultIn) -> None:
    """Refuse a result that is not for this open task: every item once, the place's code."""
    if task.state is not TaskState.ASSIGNED:
        raise InvalidTransition(f"task {task.id} is already done")
    check_qr(place, cmd.qr_code)
    known = {i.id for i in task.items}
    given = [r.item_id for r in cmd.results]
    for n, item_id in enumerate(given):
        if item_id not in known:
            raise ValidationFailed(
                f"results.{n}.item_id: {item_id} is not an item of this task",
                field=f"results.{n}.item_id",
            )
    if len(set(given)) != len(given):
        raise ValidationFailed("results: each item once", field="results")
    missing = sorted(known - set(given))
    if missing:
        raise ValidationFailed(f"results: item {missing[0]} is not answered", field="results")


def record_result(
    task: Task,
    place: Place,
    cmd: ResultIn,
    incidents: Mapping[str, str],
    who: Principal,
    now: datetime,
    tz: tzinfo,
) -> tuple[Task, Step]:
    """The task done: each item's result, the incident each failed item became
    (``incidents``: item id → incident id)."""
    check_result(task, place, cmd)
    results = tuple(
        ItemResult(r.item_id, r.passed, r.note, tuple(r.photos), incidents.get(r.item_id))
        for r in cmd.results
    )
    after = replace(
        task,
        state=TaskState.DONE,
        results=results,
        qr_code=cmd.qr_code.strip(),
        findings=sum(1 for r in results if not r.passed),
        incident_ids=tuple(dict.fromkeys(i for i in incidents.values())),
        done_at=now,
        done_by=who.actor,
        note=cmd.note,
        version=task.version + 1,
    )
    step = _step(
        StepType.DONE,
        task.id,
        after.state,
        task.state,
        after.to_doc(tz),
        who,
        now,
        "result",
        task.squad_id,
        on_time=after.on_time,
        findings=after.findings,
    )
    return after, step


def colour_at(task: Task, now: datetime) -> Colour:
    if now >= task.deadline:
        return Colour.RED
    return Colour.YELLOW if now >= task.yellow_at else Colour.GREEN


def fire(task: Task, now: datetime, tz: tzinfo) -> tuple[Task, Step] | None:
    """The warning due now (yellow, or red at the deadline); None if none is owed."""
    if task.state is not TaskState.ASSIGNED:
        return None
    colour = colour_at(task, now)
    if colour is task.colour or colour is Colour.GREEN:
        return None
    after = replace(task, colour=colour, version=task.version + 1)
    kind = StepType.OVERDUE if colour is Colour.RED else StepType.WARNED
    step = _step(
        kind, task.id, after.state, task.state, after.to_doc(tz), None, now, "warn", task.squad_id
    )
    return after, step
