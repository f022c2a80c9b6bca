"""Incidents: their states, sources and the record the API shows (docs/API.md §4, §5).

An :class:`Incident` is an immutable value; every change makes a new one with
:func:`dataclasses.replace`, or with :func:`evolve`, its equal at a fifth of the cost
(2.7 against 13 µs), on intake's path. Its JSON form (:meth:`Incident.to_doc`) is what the
API answers, what events carry and what the store keeps in ``incidents.doc``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any, Final

from dispatcher.core.ids import IncidentId
from dispatcher.core.progress import KEYS as PROGRESS_KEYS
from dispatcher.core.progress import NONE as NO_PROGRESS
from dispatcher.core.progress import Progress
from dispatcher.core.request_types import RequestType
from dispatcher.core.times import format_time, parse_time


class State(StrEnum):
    REPORTED = "reported"  # 上报
    REGISTERED = "registered"  # 立案, waiting to be dispatched
    DISPATCHED = "dispatched"  # 派遣, waiting for the squad to sign for it
    ACCEPTED = "accepted"  # 签收, being handled
    RESOLVED = "resolved"  # 处置完毕, waiting for verification
    CLOSED = "closed"  # 结案
    RETURNED = "returned"  # 回退, waiting to be re-dispatched
    REJECTED = "rejected"  # 不予立案
    MERGED = "merged"  # 并案

    @property
    def is_open(self) -> bool:
        return self not in FINAL_STATES


FINAL_STATES: Final = frozenset({State.CLOSED, State.REJECTED, State.MERGED})


class Source(StrEnum):
    CAMERA = "camera"
    DRONE = "drone"
    SENSOR = "sensor"
    HOTLINE = "hotline"
    GRID = "grid"
    CITIZEN = "citizen"
    LEADER = "leader"
    MEDIA = "media"
    PLATFORM = "platform"


#: sources registered and dispatched without an operator (docs/API.md §5)
TRUSTED_SOURCES: Final = frozenset({Source.HOTLINE, Source.GRID, Source.LEADER})
#: machine detections, dispatched automatically only above a confidence threshold
MACHINE_SOURCES: Final = frozenset({Source.CAMERA, Source.DRONE, Source.SENSOR})
#: sources whose reports are citizens' complaints (诉件), counted for repeat complaints
COMPLAINT_SOURCES: Final = frozenset({Source.HOTLINE, Source.CITIZEN})


class Flag(StrEnum):
    """Why an operator should look at an incident before it goes out."""

    NO_ZONE = "no_zone"  # the point lies in no zone
    NEAR_BORDER = "near_border"  # close to the edge of its street zone
    NO_SQUAD = "no_squad"  # no zone containing it names a squad
    SPECIAL_ZONE = "special_zone"  # inside a special zone (event venue, ...)
    LOW_CONFIDENCE = "low_confidence"  # a machine detection below the threshold
    REPEAT_COMPLAINT = "repeat_complaint"  # 重复诉件: complained of again and again
    #: a hotline report that named no request type, taken as a complaint (投诉)
    REQUEST_TYPE_ASSUMED = "request_type_assumed"


_TIME_FIELDS: Final = (
    "occurred_at",
    "received_at",
    "updated_at",
    "registered_at",
    "dispatched_at",
    "accepted_at",
    "resolved_at",
    "closed_at",
    "deadline",
)


@dataclass(frozen=True)
class Incident:
    id: IncidentId
    source: Source
    external_id: str | None
    category: str
    state: State
    priority: str
    lon: float
    lat: float
    received_at: datetime
    updated_at: datetime
    zone_ids: tuple[str, ...] = ()
    squad_id: str | None = None
    support_squad_ids: tuple[str, ...] = ()
    unit_id: str | None = None
    description: str = ""
    address: str | None = None
    media: tuple[str, ...] = ()
    confidence: float | None = None
    device_id: str | None = None
    occurred_at: datetime | None = None
    registered_at: datetime | None = None
    dispatched_at: datetime | None = None
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    deadline: datetime | None = None
    duplicate_of: IncidentId | None = None
    flags: tuple[str, ...] = ()
    report_count: int = 1
    reported_by: str | None = None
    #: the 12345 request type (诉求类型: 咨询, 求助, 投诉, 建议, 举报), beside the category
    request_type: RequestType | None = None
    version: int = 1
    #: what the life cycle knows besides the state: the case clock, suspension, warnings
    #: given, counts, the outcome (every rule reads these; see ``dispatcher.core.progress``)
    progress: Progress = NO_PROGRESS
    #: what a channel adds that no rule reads (CAP's details, Open311 attributes, ...)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def squad_ids(self) -> tuple[str, ...]:
        """Every squad the incident is assigned to: the main one first, then support."""
        main = (self.squad_id,) if self.squad_id else ()
        return main + self.support_squad_ids

    def to_doc(self, tz: tzinfo) -> dict[str, Any]:
        """The incident as the API shows it (times in ``tz``): a fresh dict the caller may
        change at its top level (the document is built once per incident and copied)."""
        cached = self.__dict__.get("_doc")
        if cached is None or cached[0] is not tz:
            cached = (tz, self._build_doc(tz))
            # an immutable value's document never changes: keep it beside the value
            object.__setattr__(self, "_doc", cached)
        return dict(cached[1])

    def _build_doc(self, tz: tzinfo) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "source": self.source.value,
            "external_id": self.external_id,
            "category": self.category,
            "request_type": self.request_type.value if self.request_type else None,
            "state": self.state.value,
            "priority": self.priority,
            "lon": self.lon,
            "lat": self.lat,
            "zone_ids": list(self.zone_ids),
            "squad_id": self.squad_id,
            "support_squad_ids": list(self.support_squad_ids),
            "unit_id": self.unit_id,
            "description": self.description,
            "address": self.address,
            "media": list(self.media),
            "confidence": self.confidence,
            "device_id": self.device_id,
            "duplicate_of": self.duplicate_of,
            "flags": list(self.flags),
            "report_count": self.report_count,
            "reported_by": self.reported_by,
            "version": self.version,
        }
        for name in _TIME_FIELDS:
            doc[name] = format_time(getattr(self, name), tz)
        doc.update(self.extra)
        doc.update(self.progress.to_doc(tz))
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Incident:
        """Rebuild an incident from :meth:`to_doc`'s output (as stored)."""
        extra = {k: v for k, v in doc.items() if k not in _NOT_EXTRA}
        times = {name: parse_time(doc.get(name)) for name in _TIME_FIELDS}
        received = times.pop("received_at")
        updated = times.pop("updated_at")
        if received is None or updated is None:
            raise ValueError("a stored incident has received_at and updated_at")
        return cls(
            id=IncidentId(doc["id"]),
            source=Source(doc["source"]),
            external_id=doc.get("external_id"),
            category=doc["category"],
            state=State(doc["state"]),
            priority=doc["priority"],
            lon=float(doc["lon"]),
            lat=float(doc["lat"]),
            received_at=received,
            updated_at=updated,
            zone_ids=tuple(doc.get("zone_ids") or ()),
            squad_id=doc.get("squad_id"),
            support_squad_ids=tuple(doc.get("support_squad_ids") or ()),
            unit_id=doc.get("unit_id"),
            description=doc.get("description") or "",
            address=doc.get("address"),
            media=tuple(doc.get("media") or ()),
            confidence=doc.get("confidence"),
            device_id=doc.get("device_id"),
            duplicate_of=doc.get("duplicate_of"),
            flags=tuple(doc.get("flags") or ()),
            report_count=int(doc.get("report_count", 1)),
            reported_by=doc.get("reported_by"),
            request_type=RequestType(doc["request_type"]) if doc.get("request_type") else None,
            version=int(doc.get("version", 1)),
            progress=Progress.from_doc(doc),
            extra=extra,
            **times,
        )


_FIELDS: Final = frozenset(f.name for f in fields(Incident))
#: the document keys that are not a channel's free-form extra
_NOT_EXTRA: Final = (_FIELDS - {"extra", "progress"}) | PROGRESS_KEYS


def revision(before: Incident, after: Incident, now: datetime) -> Incident:
    """``after`` as the next revision of ``before``: changed at ``now``, version + 1.

    The one place an incident's version moves: every change of a stored incident (an action,
    a timer, dedup, a CAP update) makes its new value with this, once per change, and the
    store's unit of work (``dispatcher.store.changes``) refuses to save one that was not.
    """
    return evolve(after, updated_at=now, version=before.version + 1)


def evolve(incident: Incident, **changes: Any) -> Incident:
    """``dataclasses.replace(incident, **changes)`` without its cost.

    ``replace`` reads every field and calls the generated ``__init__``, which sets each of
    the thirty-odd fields through ``object.__setattr__``; intake makes several new incidents
    per report. An incident has no ``__post_init__`` and no slots, so a copy of its
    attributes with the changes is the same value. Unknown names raise TypeError, as they
    do for ``replace``.
    """
    unknown = changes.keys() - _FIELDS
    if unknown:
        raise TypeError(f"Incident has no field(s) {sorted(unknown)}")
    state = {**incident.__dict__, **changes}
    state.pop("_doc", None)  # the cached document of the old value (see to_doc)
    made = object.__new__(Incident)
    object.__setattr__(made, "__dict__", state)
    return made
