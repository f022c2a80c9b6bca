"""Enforcement cases (行政处罚案件): opened from a 案源, stepped in order, timed by law.

A case is a record of its own, opened from an incident, an inspection's finding or a camera's
detection (非现场执法). It has a number in the bureau's format (``{机关简称}罚〔2026〕12号``), a
procedure (简易 / 普通), a party (:mod:`dispatcher.core.parties`), at least two officers who hold
a 执法证 (《行政处罚法》 第42条: 执法人员不得少于两人, the law making no exception for 城管,
not even for the 简易程序 of 第51–52条, which lets them decide on the spot), and its steps::

    pending ─立案→ filed ─调查取证→ investigated ─告知→ notified ─决定→ decided ─送达→ served
        ─执行→ executed ─结案→ closed ─评查不合格→ correcting ─补正→ closed

A 简易 case skips 调查取证 (the facts are clear on the spot, 第51条). Each step carries the day
it happened (not before the step before it, not in the future). After 告知 the party has its
period to state its case and ask for a hearing (陈述申辩, 第44–45条; 听证 asked for within 5
days, 第64条, working days by 第85条): a decision before it ends is refused unless the party
waived it. A 简易 decision fines at most 200 yuan (a person) or 3000 (others), 第51条.

Two clocks (the "两超期"), each green, yellow at ``warn_at`` of its time, red over it:
- 立案期限, from the discovery of the 案源 to 立案 (``filing_days`` natural days);
- 结案期限 of a 普通 case, from 立案 to the decision (``decision_days``, 第60条: 90 days from
  立案, natural days; an extension adds ``extension_days`` with the head's approval).

Pure: commands in, a :class:`Decision` (the case as it now is, and its :class:`Step`) out. Every
step is one entry of the hash-chained history whose subject is the case (its id, ``AJ…``);
documents named by a step are in its detail with their SHA-256, so the record proves the files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from dispatcher.core.auth import ACT_ALL, Principal, Role
from dispatcher.core.case_clocks import CLOCK_LABELS, Clock, Limits, start_clock
from dispatcher.core.case_files import Document
from dispatcher.core.clocks import ClockKind, Colour, WorkingCalendar
from dispatcher.core.errors import Forbidden, InvalidTransition, ValidationFailed
from dispatcher.core.parties import IdType, Party, PartyKind
from dispatcher.core.times import format_time
from dispatcher.core.validation import Clean

#: 《行政处罚法》 第42条
MIN_OFFICERS: Final = 2
#: 《行政处罚法》 第51条: the largest fine decided on the spot, in yuan
SUMMARY_FINE_PERSON: Final = 200
SUMMARY_FINE_OTHERS: Final = 3000


class Procedure(StrEnum):
    SUMMARY = "summary"  # 简易程序
    GENERAL = "general"  # 普通程序


class SourceKind(StrEnum):
    INCIDENT = "incident"  # 案卷 (an incident of the centre)
    INSPECTION = "inspection"  # 检查发现 (a task of the planned inspections)
    CAMERA = "camera"  # 非现场执法: a camera's detection with its evidence


class CaseState(StrEnum):
    PENDING = "pending"
    FILED = "filed"
    INVESTIGATED = "investigated"
    NOTIFIED = "notified"
    DECIDED = "decided"
    SERVED = "served"
    EXECUTED = "executed"
    CLOSED = "closed"
    CORRECTING = "correcting"


class CaseAction(StrEnum):
    """The steps posted by officers (``POST /api/v1/cases/{id}/steps``)."""

    FILE = "file"  # 立案
    INVESTIGATE = "investigate"  # 调查取证
    NOTIFY = "notify"  # 告知
    DECIDE = "decide"  # 决定
    SERVE = "serve"  # 送达
    EXECUTE = "execute"  # 执行
    CLOSE = "close"  # 结案
    CORRECT = "correct"  # 补正 (after a failed case-file review)
    EXTEND = "extend"  # 延期 (of the 结案期限, approved by the head)


class StepType(StrEnum):
    OPENED = "case.opened"
    FILED = "case.filed"
    INVESTIGATED = "case.investigated"
    NOTIFIED = "case.notified"
    DECIDED = "case.decided"
    SERVED = "case.served"
    EXECUTED = "case.executed"
    CLOSED = "case.closed"
    EXTENDED = "case.extended"
    WARNED = "case.warned"
    OVERDUE = "case.overdue"
    REVIEWED = "case.reviewed"
    CORRECTION_ASKED = "case.correction_asked"
    CORRECTED = "case.corrected"


PROCEDURE_LABELS: Final = {Procedure.SUMMARY: "简易程序", Procedure.GENERAL: "普通程序"}
SOURCE_LABELS: Final = {
    SourceKind.INCIDENT: "案卷",
    SourceKind.INSPECTION: "检查发现",
    SourceKind.CAMERA: "非现场执法",
}
STATE_LABELS: Final = {
    CaseState.PENDING: "待立案",
    CaseState.FILED: "已立案",
    CaseState.INVESTIGATED: "调查取证",
    CaseState.NOTIFIED: "已告知",
    CaseState.DECIDED: "已决定",
    CaseState.SERVED: "已送达",
    CaseState.EXECUTED: "已执行",
    CaseState.CLOSED: "已结案",
    CaseState.CORRECTING: "补正中",
}
COLOUR_LABELS: Final = {Colour.GREEN: "绿色", Colour.YELLOW: "黄色预警", Colour.RED: "红色超期"}
STEP_LABELS: Final = {
    StepType.OPENED: "案源登记",
    StepType.FILED: "立案",
    StepType.INVESTIGATED: "调查取证",
    StepType.NOTIFIED: "告知",
    StepType.DECIDED: "决定",
    StepType.SERVED: "送达",
    StepType.EXECUTED: "执行",
    StepType.CLOSED: "结案",
    StepType.EXTENDED: "延期",
    StepType.WARNED: "黄色预警",
    StepType.OVERDUE: "红色超期",
    StepType.REVIEWED: "案卷评查合格",
    StepType.CORRECTION_ASKED: "案卷评查不合格，责令补正",
    StepType.CORRECTED: "补正",
}

#: each procedure's steps in their order, and the state each leaves
ORDER: Final[Mapping[Procedure, tuple[CaseAction, ...]]] = {
    Procedure.GENERAL: (
        CaseAction.FILE,
        CaseAction.INVESTIGATE,
        CaseAction.NOTIFY,
        CaseAction.DECIDE,
        CaseAction.SERVE,
        CaseAction.EXECUTE,
        CaseAction.CLOSE,
    ),
    Procedure.SUMMARY: (
        CaseAction.FILE,
        CaseAction.NOTIFY,
        CaseAction.DECIDE,
        CaseAction.SERVE,
        CaseAction.EXECUTE,
        CaseAction.CLOSE,
    ),
}
AFTER: Final[Mapping[CaseAction, tuple[CaseState, StepType]]] = {
    CaseAction.FILE: (CaseState.FILED, StepType.FILED),
    CaseAction.INVESTIGATE: (CaseState.INVESTIGATED, StepType.INVESTIGATED),
    CaseAction.NOTIFY: (CaseState.NOTIFIED, StepType.NOTIFIED),
    CaseAction.DECIDE: (CaseState.DECIDED, StepType.DECIDED),
    CaseAction.SERVE: (CaseState.SERVED, StepType.SERVED),
    CaseAction.EXECUTE: (CaseState.EXECUTED, StepType.EXECUTED),
    CaseAction.CLOSE: (CaseState.CLOSED, StepType.CLOSED),
}
#: the states each step may follow (the one before it in the procedure's order)
BEFORE: Final[Mapping[Procedure, Mapping[CaseAction, CaseState]]] = {
    p: {a: (CaseState.PENDING if n == 0 else AFTER[order[n - 1]][0]) for n, a in enumerate(order)}
    for p, order in ORDER.items()
}


@dataclass(frozen=True)
class Officer:
    person_id: str
    name: str
    badge_no: str

    def to_doc(self) -> dict[str, str]:
        return {"person_id": self.person_id, "name": self.name, "badge_no": self.badge_no}


@dataclass(frozen=True)
class Case:
    """One case as stored (``enforcement_cases``)."""

    id: str
    number: str  # 案件编号, the bureau's format
    procedure: Procedure
    state: CaseState
    source_kind: SourceKind
    source_ref: str  # the incident's id or the inspection task's id
    incident_id: str | None
    squad_id: str | None  # the squad (tier) that handles it
    title: str  # 案由
    facts: str
    party: Party
    officers: tuple[Officer, ...]
    discovered_at: datetime
    opened_at: datetime
    opened_by: str
    opened_by_name: str
    filing: Clock
    decision: Clock | None = None
    dates: Mapping[str, datetime] = field(default_factory=dict)  # step → its day
    statement_until: datetime | None = None
    fine_yuan: float | None = None
    corrections: int = 0
    extensions: int = 0
    updated_at: datetime | None = None
    version: int = 1

    @property
    def clocks(self) -> dict[str, Clock]:
        found = {"filing": self.filing}
        if self.decision is not None:
            found["decision"] = self.decision
        return found

    @property
    def colour(self) -> Colour:
        """The worst colour of the running clocks (green when none runs)."""
        running = [c.colour for c in self.clocks.values() if c.running]
        for colour in (Colour.RED, Colour.YELLOW):
            if colour in running:
                return colour
        return Colour.GREEN

    @property
    def due_at(self) -> datetime | None:
        dues = [d for c in self.clocks.values() if (d := c.due_at) is not None]
        return min(dues) if dues else None

    def to_doc(self, tz: tzinfo) -> dict[str, Any]:
        """The case as answers and the history show it (the party's number masked)."""
        return {
            "id": self.id,
            "number": self.number,
            "procedure": self.procedure.value,
            "procedure_label": PROCEDURE_LABELS[self.procedure],
            "state": self.state.value,
            "state_label": STATE_LABELS[self.state],
            "colour": self.colour.value,
            "colour_label": COLOUR_LABELS[self.colour],
            "source": {
                "kind": self.source_kind.value,
                "label": SOURCE_LABELS[self.source_kind],
                "ref": self.source_ref,
            },
            "incident_id": self.incident_id,
            "squad_id": self.squad_id,
            "title": self.title,
            "party": self.party.to_doc(),
            "officers": [o.to_doc() for o in self.officers],
            "discovered_at": format_time(self.discovered_at, tz),
            "opened_at": format_time(self.opened_at, tz),
            "clocks": {
                name: {**c.to_doc(tz), "label": CLOCK_LABELS[name]}
                for name, c in self.clocks.items()
            },
            "dates": {k: format_time(v, tz) for k, v in self.dates.items()},
            "statement_until": format_time(self.statement_until, tz),
            "fine_yuan": self.fine_yuan,
            "corrections": self.corrections,
            "extensions": self.extensions,
            "next_steps": [a.value for a in next_actions(self)],
            "version": self.version,
        }


@dataclass(frozen=True)
class Step:
    """One step of a case, an entry of the history (``dispatcher.core.events.Entry``)."""

    type: StepType
    case: Case  # as the step left it
    at: datetime
    actor: str
    actor_role: str | None
    action: str
    state_before: CaseState | None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return self.case.id

    @property
    def state_after(self) -> CaseState:
        return self.case.state

    @property
    def topics(self) -> tuple[str, ...]:
        topics = ["all", f"case:{self.case.id}"]
        if self.case.incident_id:
            topics.append(f"incident:{self.case.incident_id}")
        if self.case.squad_id:
            topics.append(f"squad:{self.case.squad_id}")
        return tuple(topics)

    def body(self, seq: int, tz: tzinfo) -> dict[str, Any]:
        """The step as a JSON object (``seq`` and ``type`` sort last, as the chain needs)."""
        return {
            "seq": seq,
            "type": self.type.value,
            "at": format_time(self.at, tz),
            "action": self.action,
            "actor": self.actor,
            "case": self.case.to_doc(tz),
            "detail": dict(self.detail),
        }


@dataclass(frozen=True)
class Decision:
    case: Case
    step: Step


# -- the commands' bodies ---------------------------------------------------------------------

Short = Annotated[str, Field(min_length=1, max_length=200), Clean]
Text = Annotated[str, Field(max_length=20000), Clean]
Ref = Annotated[str, Field(min_length=1, max_length=100), Clean]
_STRICT: Final = ConfigDict(allow_inf_nan=False, str_strip_whitespace=True, extra="forbid")


class PartyIn(BaseModel):
    model_config = _STRICT

    kind: PartyKind
    name: Short
    id_type: IdType | None = None
    id_number: Annotated[str, Field(max_length=40), Clean] | None = None
    place_id: Ref | None = None
    credit_code: Annotated[str, Field(max_length=18), Clean] | None = None


class SourceIn(BaseModel):
    model_config = _STRICT

    kind: SourceKind
    ref: Ref  # the incident's id (incident, camera) or the inspection task's id


class CaseIn(BaseModel):
    """The body of ``POST /api/v1/cases``."""

    model_config = _STRICT

    source: SourceIn
    procedure: Procedure = Procedure.GENERAL
    title: Short
    facts: Text = ""
    party: PartyIn
    officers: Annotated[list[Ref], Field(min_length=1, max_length=10)]
    squad_id: Ref | None = None
    discovered_at: AwareDatetime | None = None


class StepIn(BaseModel):
    """The body of ``POST /api/v1/cases/{id}/steps``."""

    model_config = _STRICT

    step: CaseAction
    date: AwareDatetime | None = None  # the day the step was taken; now when left out
    note: Text = ""
    documents: Annotated[list[Ref], Field(max_length=50)] = []
    fine_yuan: float | None = Field(default=None, ge=0, le=1e12)  # 决定: 罚款
    waived: bool = False  # 决定: the party waived its 陈述申辩 period
    days: float | None = Field(default=None, gt=0, le=366)  # 延期: days added


class ReviewOutcome(BaseModel):
    """What a case-file review (案卷评查) of a sample found."""

    model_config = _STRICT

    passed: bool
    note: Text = ""
    sample_id: int


# -- who may do what ----------------------------------------------------------------------------


def may_read(who: Principal, case: Case) -> bool:
    if who.role in (Role.ADMIN, Role.OPERATOR, Role.AUDITOR):
        return True
    return who.role is Role.SQUAD and who.covers([case.squad_id])


def may_act(who: Principal, squad_id: str | None) -> bool:
    """The centre, and the holder of the squad (or a tier above it) that handles the case."""
    if who.role in ACT_ALL:
        return True
    return who.role is Role.SQUAD and who.covers([squad_id])


# -- the commands ------------------------------------------------------------------------------


def _revise(case: Case, now: datetime, **changes: Any) -> Case:
    return replace(case, updated_at=now, version=case.version + 1, **changes)


def _step(
    kind: StepType,
    before: Case | None,
    after: Case,
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


def case_number(prefix: str, year: int, serial: int) -> str:
    """案件编号: ``{机关简称}罚〔{year}〕{serial}号`` (the serial counts from 1 each year)."""
    return f"{prefix}罚〔{year}〕{serial}号"


def check_officers(officers: Sequence[Officer]) -> None:
    """At least two different officers, each with a 执法证号 (《行政处罚法》 第42条)."""
    ids = {o.person_id for o in officers}
    if len(ids) < MIN_OFFICERS:
        raise ValidationFailed(
            f"officers: at least {MIN_OFFICERS} law-enforcement officers (《行政处罚法》 第42条)",
            field="officers",
        )
    for n, officer in enumerate(officers):
        if not officer.badge_no:
            raise ValidationFailed(
                f"officers.{n}: {officer.name} holds no 执法证号", field=f"officers.{n}"
            )


def open_case(
    case_id: str,
    number: str,
    cmd: CaseIn,
    party: Party,
    officers: Sequence[Officer],
    squad_id: str | None,
    incident_id: str | None,
    documents: Sequence[Document],
    who: Principal,
    now: datetime,
    limits: Limits,
    warn_at: float,
    *,
    evidence_urls: Sequence[str] = (),
) -> Decision:
    """Register a case from its 案源 (pending 立案); the 立案 clock runs from its discovery."""
    check_officers(officers)
    discovered = cmd.discovered_at or now
    if discovered > now:
        raise ValidationFailed("discovered_at: must not be in the future", field="discovered_at")
    case = Case(
        id=case_id,
        number=number,
        procedure=cmd.procedure,
        state=CaseState.PENDING,
        source_kind=cmd.source.kind,
        source_ref=cmd.source.ref,
        incident_id=incident_id,
        squad_id=squad_id,
        title=cmd.title,
        facts=cmd.facts,
        party=party,
        officers=tuple(officers),
        discovered_at=discovered,
        opened_at=now,
        opened_by=who.actor,
        opened_by_name=who.name,
        filing=start_clock(discovered, limits.filing_days, now, warn_at),
        updated_at=now,
    )
    detail: dict[str, Any] = {"documents": [d.to_doc() for d in documents]}
    if evidence_urls:
        detail["evidence_urls"] = list(evidence_urls)
    return Decision(case, _step(StepType.OPENED, None, case, who, now, "open", **detail))


def next_actions(case: Case) -> list[CaseAction]:
    """The step (or steps) a case may take next."""
    if case.state is CaseState.CORRECTING:
        return [CaseAction.CORRECT]
    found = [a for a, s in BEFORE[case.procedure].items() if s is case.state]
    if case.decision is not None and case.decision.running:
        found.append(CaseAction.EXTEND)
    return found


def _out_of_order(case: Case, action: CaseAction) -> InvalidTransition:
    allowed = ", ".join(a.value for a in next_actions(case)) or "none"
    return InvalidTransition(
        f"cannot {action.value} a case that is {case.state.value} ({STATE_LABELS[case.state]});"
        f" next: {allowed}",
        details={"state": case.state.value, "next": [a.value for a in next_actions(case)]},
    )


def take_step(
    case: Case,
    cmd: StepIn,
    documents: Sequence[Document],
    who: Principal,
    now: datetime,
    calendar: WorkingCalendar,
    limits: Limits,
    warn_at: float,
) -> Decision:
    """The case's next step on its day (``cmd.date``, now when left out); 409 out of order."""
    if not may_act(who, case.squad_id):
        raise Forbidden("only the centre or the squad handling the case may take its steps")
    if cmd.step is CaseAction.EXTEND:
        return _extend(case, cmd, who, now, calendar.tz, limits, warn_at)
    if cmd.step is CaseAction.CORRECT:
        if case.state is not CaseState.CORRECTING:
            raise _out_of_order(case, cmd.step)
        after = _revise(case, now, state=CaseState.CLOSED)
        return Decision(
            after,
            _step(
                StepType.CORRECTED,
                case,
                after,
                who,
                now,
                "correct",
                note=cmd.note,
                documents=[d.to_doc() for d in documents],
                round=case.corrections,
            ),
        )
    if BEFORE[case.procedure].get(cmd.step) is not case.state:
        raise _out_of_order(case, cmd.step)
    day = cmd.date or now
    if day > now:
        raise ValidationFailed("date: a step is not taken in the future", field="date")
    last = max(case.dates.values(), default=case.discovered_at)
    if day < last:
        raise ValidationFailed(
            f"date: not before the step before it ({format_time(last, calendar.tz)})",
            field="date",
        )
    state, kind = AFTER[cmd.step]
    changes: dict[str, Any] = {"state": state, "dates": {**case.dates, cmd.step.value: day}}
    detail: dict[str, Any] = {
        "date": format_time(day, calendar.tz),
        "note": cmd.note,
        "documents": [d.to_doc() for d in documents],
    }
    if cmd.step is CaseAction.FILE:
        changes["filing"] = replace(case.filing, stopped_at=day, colour=case.filing.colour_at(day))
        if case.procedure is Procedure.GENERAL:
            changes["decision"] = start_clock(day, limits.decision_days, now, warn_at)
        detail["late"] = day > case.filing.deadline
    elif cmd.step is CaseAction.NOTIFY:
        until = calendar.add(day, timedelta(days=limits.statement_days), ClockKind.WORKING_DAYS)
        changes["statement_until"] = until
        detail["statement_until"] = format_time(until, calendar.tz)
    elif cmd.step is CaseAction.DECIDE:
        _check_decision(case, cmd, day, calendar.tz)
        changes["fine_yuan"] = cmd.fine_yuan
        detail["fine_yuan"] = cmd.fine_yuan
        detail["waived"] = cmd.waived
        if case.decision is not None:
            changes["decision"] = replace(
                case.decision, stopped_at=day, colour=case.decision.colour_at(day)
            )
            detail["late"] = day > case.decision.deadline
    after = _revise(case, now, **changes)
    return Decision(after, _step(kind, case, after, who, now, cmd.step.value, **detail))


def _check_decision(case: Case, cmd: StepIn, day: datetime, tz: tzinfo) -> None:
    if case.statement_until is not None and day < case.statement_until and not cmd.waived:
        raise InvalidTransition(
            "the party's period to state its case (陈述申辩) runs until "
            f"{format_time(case.statement_until, tz)}; decide after it, or say it was waived",
            details={"statement_until": format_time(case.statement_until, tz)},
        )
    if case.procedure is Procedure.SUMMARY and cmd.fine_yuan is not None:
        cap = SUMMARY_FINE_PERSON if case.party.kind is PartyKind.PERSON else SUMMARY_FINE_OTHERS
        if cmd.fine_yuan > cap:
            raise ValidationFailed(
                f"fine_yuan: on the spot (简易程序) at most {cap} yuan (《行政处罚法》 第51条);"
                " use the general procedure",
                field="fine_yuan",
            )


def _extend(
    case: Case,
    cmd: StepIn,
    who: Principal,
    now: datetime,
    tz: tzinfo,
    limits: Limits,
    warn_at: float,
) -> Decision:
    """Extend the 结案期限 (approved by the head: the note names the approval)."""
    if case.decision is None or not case.decision.running:
        raise _out_of_order(case, cmd.step)
    if not cmd.note:
        raise ValidationFailed("note: an extension names its approval (负责人批准)", field="note")
    days = cmd.days or limits.extension_days
    start = case.dates[CaseAction.FILE.value]
    allowed = case.decision.deadline - start + timedelta(days=days)
    clock = start_clock(start, allowed / timedelta(days=1), now, warn_at)
    after = _revise(case, now, decision=clock, extensions=case.extensions + 1)
    step = _step(
        StepType.EXTENDED,
        case,
        after,
        who,
        now,
        "extend",
        days=days,
        note=cmd.note,
        deadline=format_time(clock.deadline, tz),
    )
    return Decision(after, step)


def review(case: Case, outcome: ReviewOutcome, who: Principal, now: datetime) -> Decision:
    """A case-file review's result: passed (recorded), or failed: the officers owe a 补正."""
    if case.state is not CaseState.CLOSED:
        raise _out_of_order(case, CaseAction.CORRECT)
    if outcome.passed:
        after = _revise(case, now)
        return Decision(
            after,
            _step(
                StepType.REVIEWED,
                case,
                after,
                who,
                now,
                "review",
                sample_id=outcome.sample_id,
                note=outcome.note,
            ),
        )
    after = _revise(case, now, state=CaseState.CORRECTING, corrections=case.corrections + 1)
    return Decision(
        after,
        _step(
            StepType.CORRECTION_ASKED,
            case,
            after,
            who,
            now,
            "ask_correction",
            sample_id=outcome.sample_id,
            note=outcome.note,
            officers=[o.person_id for o in case.officers],
        ),
    )


def fire(case: Case, now: datetime) -> Decision | None:
    """What a due clock gives: yellow, or red (立案超期 / 结案超期); None if nothing is owed."""
    for name, clock in case.clocks.items():
        if not clock.running:
            continue
        colour = clock.colour_at(now)
        if colour is clock.colour or colour is Colour.GREEN:
            continue
        after = _revise(case, now, **{name: replace(clock, colour=colour)})
        kind = StepType.WARNED if colour is Colour.YELLOW else StepType.OVERDUE
        step = _step(
            kind,
            case,
            after,
            None,
            now,
            "warn",
            clock=name,
            clock_label=CLOCK_LABELS[name],
            colour=colour.value,
        )
        return Decision(after, step)
    return None


# -- the record in the row -------------------------------------------------------------------


def to_record(case: Case, tz: tzinfo) -> dict[str, Any]:
    """The case as its row's ``doc`` keeps it (the party whole)."""
    return {
        **case.to_doc(tz),
        "party": case.party.to_record(),
        "facts": case.facts,
        "opened_by": case.opened_by,
        "opened_by_name": case.opened_by_name,
        "updated_at": format_time(case.updated_at, tz),
    }


def from_record(doc: Mapping[str, Any], parse: Any) -> Case:
    """The case from its row's ``doc`` (``parse`` reads a time)."""
    clocks = doc["clocks"]
    return Case(
        id=doc["id"],
        number=doc["number"],
        procedure=Procedure(doc["procedure"]),
        state=CaseState(doc["state"]),
        source_kind=SourceKind(doc["source"]["kind"]),
        source_ref=doc["source"]["ref"],
        incident_id=doc.get("incident_id"),
        squad_id=doc.get("squad_id"),
        title=doc["title"],
        facts=doc.get("facts", ""),
        party=Party.from_record(doc["party"]),
        officers=tuple(Officer(o["person_id"], o["name"], o["badge_no"]) for o in doc["officers"]),
        discovered_at=parse(doc["discovered_at"]),
        opened_at=parse(doc["opened_at"]),
        opened_by=doc["opened_by"],
        opened_by_name=doc["opened_by_name"],
        filing=Clock.from_doc(clocks["filing"], parse),
        decision=Clock.from_doc(clocks["decision"], parse) if "decision" in clocks else None,
        dates={k: parse(v) for k, v in doc.get("dates", {}).items()},
        statement_until=parse(doc["statement_until"]) if doc.get("statement_until") else None,
        fine_yuan=doc.get("fine_yuan"),
        corrections=doc.get("corrections", 0),
        extensions=doc.get("extensions", 0),
        updated_at=parse(doc["updated_at"]) if doc.get("updated_at") else None,
        version=doc["version"],
    )
