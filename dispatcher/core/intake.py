"""Intake (docs/API.md §4): validating a report and deciding what it becomes.

:func:`parse_report` turns a request body into an :class:`IncidentIn` or raises
``BadRequest``/``ValidationFailed`` naming the field. :func:`plan_intake` is pure: given the
matched zones, the category and the squads, it answers the new incident and its events; the
caller stores them (in one transaction) and only then answers the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from dispatcher.core.auth import ACT_ALL, Principal
from dispatcher.core.categories import Category
from dispatcher.core.clocks import ClockKind, WorkingCalendar
from dispatcher.core.deadlines import Rules
from dispatcher.core.events import Event, EventType
from dispatcher.core.ids import IncidentId
from dispatcher.core.incidents import (
    MACHINE_SOURCES,
    TRUSTED_SOURCES,
    Flag,
    Incident,
    Source,
    State,
    revision,
)
from dispatcher.core.lifecycle import dispatch as lifecycle_dispatch
from dispatcher.core.lifecycle import register as lifecycle_register
from dispatcher.core.progress import Progress
from dispatcher.core.request_types import ASSUMED, RequestType
from dispatcher.core.routing import Recommendation
from dispatcher.core.validation import Clean, validation_error
from dispatcher.core.workorder import WorkOrder
from geo.zones import Match

Text = Annotated[str, Field(max_length=4000), Clean]
ShortText = Annotated[str, Field(min_length=1, max_length=200), Clean]
MediaRef = Annotated[str, Field(min_length=1, max_length=2000), Clean]


class IncidentIn(BaseModel):
    """The body of ``POST /api/v1/incidents``."""

    model_config = ConfigDict(allow_inf_nan=False, str_strip_whitespace=True, extra="ignore")

    source: Source
    external_id: ShortText | None = None
    category: ShortText
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: Annotated[str, Field(max_length=20)] | None = None
    description: Text = ""
    occurred_at: AwareDatetime | None = None
    media: Annotated[list[MediaRef], Field(max_length=50)] = []
    confidence: float | None = Field(default=None, ge=0, le=1)
    device_id: ShortText | None = None
    address: Annotated[str, Field(max_length=500), Clean] | None = None
    #: the 12345 request type (诉求类型); a hotline report without one is taken as a
    #: complaint and flagged ``request_type_assumed`` (see :func:`request_type_of`)
    request_type: RequestType | None = None
    #: a 12345 work order's deadlines as its platform set them: closure (办结时限), which
    #: becomes the case deadline, and contact (联系时限); hotline reports only
    closure_deadline: AwareDatetime | None = None
    contact_deadline: AwareDatetime | None = None

    @field_validator("closure_deadline", "contact_deadline")
    @classmethod
    def _hotline_only(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is not None and info.data.get("source") is not Source.HOTLINE:
            raise ValueError("only a 12345 work order (source hotline) has a platform deadline")
        return value


def request_type_of(report: IncidentIn) -> tuple[RequestType | None, bool]:
    """The report's request type, and whether it was assumed.

    The 12345 platform classifies every work order, so a hotline report is expected to name
    its type; one that does not (a client of the interface before the type existed) is taken
    as a complaint (投诉), the commonest type of the hotline's urban-management work orders,
    whose limit is the longest (as 建议's and 举报's), and the incident is flagged for the
    operator. Other sources keep what they sent, or none.
    """
    if report.request_type is None and report.source is Source.HOTLINE:
        return ASSUMED, True
    return report.request_type, False


def parse_report(body: bytes | str) -> IncidentIn:
    """Validate a report; raise BadRequest (not JSON) or ValidationFailed (names the field)."""
    try:
        return IncidentIn.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(exc) from None


def parse_report_object(data: Mapping[str, Any]) -> IncidentIn:
    """Like :func:`parse_report` for an already decoded object (batch lines, CAP, Open311)."""
    try:
        return IncidentIn.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


@dataclass(frozen=True)
class IntakePolicy:
    rules: Rules
    auto_confidence: float = 0.85

    @property
    def calendar(self) -> WorkingCalendar:
        return self.rules.calendar


@dataclass(frozen=True)
class Admission:
    """What admitting an incident needs: who reported it, its category, where it should go.

    Kept with the plan so that a later step (dedup, see :mod:`dispatcher.core.dedup`) can admit
    another incident on the strength of this report (a trusted call corroborating a camera).
    """

    actor: Principal
    category: Category
    recommendation: Recommendation
    policy: IntakePolicy
    #: whether the report is registered (and maybe dispatched) without an operator
    auto: bool


@dataclass(frozen=True)
class IntakePlan:
    """What one report becomes: the incident to insert and its events.

    ``base`` is the incident as reported, before it was admitted (registered, dispatched):
    dedup turns it into a duplicate record instead when it joins an open incident.
    """

    incident: Incident
    events: tuple[Event, ...]
    base: Incident | None = None
    admission: Admission | None = None


def _auto(report: IncidentIn, category: Category, actor: Principal, policy: IntakePolicy) -> bool:
    if report.source in TRUSTED_SOURCES or actor.role in ACT_ALL:
        return True
    if report.source in MACHINE_SOURCES:
        threshold = category.auto_confidence or policy.auto_confidence
        return report.confidence is not None and report.confidence >= threshold
    return False


def admit(incident: Incident, admission: Admission, now: datetime) -> tuple[Incident, list[str]]:
    """Register ``incident`` and, when the recommendation is certain, dispatch it.

    Answers the admitted incident and the steps taken (``register``, ``dispatch``); the
    caller checks ``admission.auto`` first.
    """
    rec = admission.recommendation
    steps = ["register"]
    incident = lifecycle_register(incident, admission.category, admission.policy.rules, now)
    if rec.certain and rec.squad_id is not None:
        incident = lifecycle_dispatch(incident, rec.squad_id, rec.support_squad_ids, None, now)
        steps.append("dispatch")
    return incident, steps


def _assigned(incident: Incident, actor: Principal, now: datetime) -> Event:
    return Event(
        type=EventType.DISPATCH_ASSIGNED,
        incident=incident,
        at=now,
        actor=actor.actor,
        actor_role=actor.role.value,
        action="dispatch",
        state_before=State.REGISTERED,
        detail={"auto": True},
        only_topics=tuple(f"squad:{s}" for s in incident.squad_ids),
    )


def promote(
    target: Incident, admission: Admission, now: datetime, because: str
) -> tuple[Incident, tuple[Event, ...]]:
    """Admit a waiting (``reported``) incident because a report ``because`` corroborates it.

    A trusted report (a hotline call, a confident detection) that joins an incident still
    waiting for an operator makes it go out as the report itself would have.
    """
    if target.state is not State.REPORTED or not admission.auto:
        return target, ()
    admitted, steps = admit(target, admission, now)
    admitted = revision(target, admitted, now)
    actor = admission.actor
    events = [
        Event(
            type=EventType.INCIDENT_UPDATED,
            incident=admitted,
            at=now,
            actor=actor.actor,
            actor_role=actor.role.value,
            action="register",
            state_before=State.REPORTED,
            detail={"auto": steps, "corroborated_by": because},
        )
    ]
    if admitted.state is State.DISPATCHED:
        events.append(_assigned(admitted, actor, now))
    return admitted, tuple(events)


def work_order(report: IncidentIn, now: datetime, rules: Rules) -> WorkOrder | None:
    """The 12345 facts a hotline report starts with: the platform's deadlines, and the
    contact deadline (联系时限) the platform's or ``rules.hotline.contact_hours`` working hours
    from receipt. None for any other source."""
    if report.source is not Source.HOTLINE:
        return None
    contact = report.contact_deadline
    if contact is None:
        contact = rules.calendar.add(now, rules.hotline.contact_limit, ClockKind.WORKING_HOURS)
    return WorkOrder(
        closure_deadline=report.closure_deadline,
        contact_deadline=contact,
        contact_set_by_platform=report.contact_deadline is not None,
    )


def plan_intake(
    report: IncidentIn,
    *,
    incident_id: IncidentId,
    lon: float,
    lat: float,
    now: datetime,
    actor: Principal,
    match: Match,
    category: Category,
    recommendation: Recommendation,
    policy: IntakePolicy,
    extra: Mapping[str, Any] | None = None,
) -> IntakePlan:
    """The incident a report becomes and the events that say so.

    ``lon``/``lat`` are the report's point in WGS84. Trusted sources and confident machine
    detections are registered at once and, when the recommendation is certain, dispatched;
    the rest wait in ``reported`` for an operator. ``extra`` adds fields to the incident
    (what a channel knows beyond the common report: a CAP alert's identifier, a business
    name).
    """
    flags = list(recommendation.flags)
    priority = category.priority.value
    if any(z.properties.get("priority") == "urgent" for z in match.special):
        priority = "urgent"
    auto = _auto(report, category, actor, policy)
    if report.source in MACHINE_SOURCES and not auto:
        flags.append(Flag.LOW_CONFIDENCE)
    request_type, assumed = request_type_of(report)
    if assumed:
        flags.append(Flag.REQUEST_TYPE_ASSUMED)

    base = Incident(
        id=incident_id,
        source=report.source,
        external_id=report.external_id,
        category=category.code,
        state=State.REPORTED,
        priority=priority,
        lon=lon,
        lat=lat,
        received_at=now,
        updated_at=now,
        zone_ids=match.zone_ids,
        description=report.description,
        address=report.address,
        media=tuple(report.media),
        confidence=report.confidence,
        device_id=report.device_id,
        occurred_at=report.occurred_at,
        flags=tuple(dict.fromkeys(flags)),
        reported_by=actor.actor,
        request_type=request_type,
        progress=Progress(stage_since=now, hotline=work_order(report, now, policy.rules)),
        extra={**(extra or {}), "recommended_squad_id": recommendation.squad_id},
    )
    admission = Admission(actor, category, recommendation, policy, auto)
    incident = base
    steps: list[str] = []
    if auto:
        incident, steps = admit(base, admission, now)

    detail: dict[str, Any] = {"reasons": [r for c in recommendation.candidates for r in c.reasons]}
    if steps:
        detail["auto"] = steps
    events = [
        Event(
            type=EventType.INCIDENT_CREATED,
            incident=incident,
            at=now,
            actor=actor.actor,
            actor_role=actor.role.value,
            action="report",
            detail=detail,
        )
    ]
    if incident.state is State.DISPATCHED:
        events.append(_assigned(incident, actor, now))
    return IntakePlan(incident, tuple(events), base, admission)
