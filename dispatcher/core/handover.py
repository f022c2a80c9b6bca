"""A hand-over (移送) of an incident to another department, as kept: :class:`Handover`.

The centre hands an incident that belongs to another department (市场监管, 生态环境, 住建,
公安, ...) over with a reason; the department accepts it with its receipt number (回执号) or
refuses it with a reason; having accepted it, it reports back what it did (办理结果); the centre
then closes the incident or takes it back. A refusal gives it back to the centre, which may
hand it over again (a new hand-over)::

    pending ──accept──▶ accepted ──report──▶ reported ──close──▶ closed
       │                                        │
     refuse ──▶ refused                       take back ──▶ taken_back
    (the centre may take back a pending or accepted one too)

The department holds the incident from handing over until it refuses or reports back; the
centre holds it before (since the incident was reported, or since the last hand-over was
answered) and after (until it closes or takes it back). Both are measured on the working
calendar (working hours) and kept in seconds.

The value is the row of ``handovers`` and, while the incident is with a department or
waiting for the centre's decision, the typed fact ``Progress.handover`` (the document key
``handover``). Its rules are :mod:`dispatcher.core.departments`'. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any, Final

from dispatcher.core.times import format_time, in_zone, parse_time


class HandoverState(StrEnum):
    PENDING = "pending"  # 待接收
    ACCEPTED = "accepted"  # 已接收
    REFUSED = "refused"  # 拒收退回
    REPORTED = "reported"  # 已反馈办理结果
    CLOSED = "closed"  # 办结
    TAKEN_BACK = "taken_back"  # 收回


STATE_LABELS: Final[Mapping[HandoverState, str]] = {
    HandoverState.PENDING: "待接收",
    HandoverState.ACCEPTED: "已接收办理",
    HandoverState.REFUSED: "拒收退回",
    HandoverState.REPORTED: "已反馈办理结果",
    HandoverState.CLOSED: "办结",
    HandoverState.TAKEN_BACK: "中心收回",
}
#: while the department holds the incident
WITH_DEPARTMENT: Final = frozenset({HandoverState.PENDING, HandoverState.ACCEPTED})
#: while the incident is out of the squads' queues (the department's, then the centre's decision)
OPEN: Final = frozenset({*WITH_DEPARTMENT, HandoverState.REPORTED})


@dataclass(frozen=True)
class Handover:
    """One hand-over of one incident (移送单)."""

    id: str  # 移送单号, YS…
    incident_id: str
    department: str  # the department's code
    reason: str
    state: HandoverState
    handed_at: datetime
    handed_by: str
    #: the squad (and support squads) the incident was with; it goes back to them
    squad_id: str | None = None
    support_squad_ids: tuple[str, ...] = ()
    #: since when the centre held it before this hand-over
    centre_since: datetime | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    receipt_no: str | None = None
    refusal_reason: str | None = None
    reported_at: datetime | None = None
    result: str | None = None
    ended_at: datetime | None = None
    ended_by: str | None = None
    department_held_s: float | None = None
    centre_held_s: float | None = None
    updated_at: datetime | None = None

    @property
    def answered_at(self) -> datetime | None:
        """When the department gave it back: refused, or reported its result."""
        if self.state is HandoverState.REFUSED:
            return self.decided_at
        return self.reported_at

    def to_json(self, tz: tzinfo | None = None) -> dict[str, Any]:
        """As kept in the incident's document (instants in ISO 8601, in ``tz`` when given)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = in_zone(value, tz)
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, HandoverState):
                value = value.value
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Handover:
        facts: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name == "state":
                value = HandoverState(value)
            elif f.name == "support_squad_ids":
                value = tuple(value or ())
            elif f.name.endswith("_at") or f.name == "centre_since":
                value = parse_time(value)
            facts[f.name] = value
        return cls(**facts)

    def to_doc(self, tz: tzinfo, department_name: str | None = None) -> dict[str, Any]:
        """As the API shows it (local times, labels)."""
        doc = self.to_json()
        for name in ("handed_at", "centre_since", "decided_at", "reported_at", "ended_at"):
            doc[name] = format_time(getattr(self, name), tz)
        doc.pop("updated_at", None)
        doc["state_label"] = STATE_LABELS[self.state]
        doc["department_name"] = department_name or self.department
        return doc
