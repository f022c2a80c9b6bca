"""What the life cycle knows of an incident besides its state: :class:`Progress`.

The case clock (处置时限, with its extensions 延期 and pauses 挂账), whether it is suspended,
the warnings already given (三色预警) of the case clock and of the stage clock, when the
current stage began, the counts of returns, rework, supervision and reminders, how the squad
disposed of it, and what dedup and repeat complaints learnt of it. Every rule reads these
here, as typed fields; free-form ``Incident.extra`` keeps only what no rule reads (a channel's
own data).

Their JSON form is the top-level keys the API has always shown (``clock``, ``suspended``,
``colour``, ``rework_count``, ...): :meth:`Progress.to_doc` writes a key only when it says
something, :meth:`Progress.from_doc` reads them back, so stored documents read as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, tzinfo
from typing import Any, Final

from dispatcher.core.clocks import ClockKind, Colour, Pause, WorkingCalendar, colour
from dispatcher.core.handover import Handover
from dispatcher.core.times import in_zone, parse_time
from dispatcher.core.workorder import WorkOrder


@dataclass(frozen=True)
class Extension:
    """An extension (延期) asked by the squad and decided by the centre."""

    seconds: float
    asked_at: datetime
    asked_by: str
    reason: str
    status: str = "pending"  # pending | approved | rejected
    decided_at: datetime | None = None
    decided_by: str | None = None

    def to_json(self, tz: tzinfo | None = None) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "asked_at": in_zone(self.asked_at, tz),
            "asked_by": self.asked_by,
            "reason": self.reason,
            "status": self.status,
            "decided_at": in_zone(self.decided_at, tz) if self.decided_at else None,
            "decided_by": self.decided_by,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Extension:
        asked = parse_time(data["asked_at"])
        assert asked is not None
        return cls(
            seconds=float(data["seconds"]),
            asked_at=asked,
            asked_by=str(data["asked_by"]),
            reason=str(data.get("reason", "")),
            status=str(data.get("status", "pending")),
            decided_at=parse_time(data.get("decided_at")),
            decided_by=data.get("decided_by"),
        )


@dataclass(frozen=True)
class CaseClock:
    """The case limit: it starts at registration, pauses while suspended, stops when resolved."""

    kind: ClockKind
    limit: timedelta
    start: datetime
    pauses: tuple[Pause, ...] = ()
    extensions: tuple[Extension, ...] = ()
    stopped_at: datetime | None = None

    @property
    def allowed(self) -> timedelta:
        extra = sum((e.seconds for e in self.extensions if e.status == "approved"), 0.0)
        return self.limit + timedelta(seconds=extra)

    @property
    def suspended(self) -> bool:
        return any(end is None for _, end in self.pauses)

    def used(self, calendar: WorkingCalendar, now: datetime) -> timedelta:
        end = now if self.stopped_at is None else min(now, self.stopped_at)
        return calendar.elapsed_excluding(self.start, end, self.kind, self.pauses)

    def deadline(self, calendar: WorkingCalendar, now: datetime) -> datetime:
        return calendar.deadline_with_pauses(self.start, self.allowed, self.kind, self.pauses, now)

    def warning_at(self, calendar: WorkingCalendar, warn_at: float, now: datetime) -> datetime:
        return calendar.warning_instant(
            self.start, self.allowed, self.kind, self.pauses, now, warn_at=warn_at
        )

    def colour(self, calendar: WorkingCalendar, warn_at: float, now: datetime) -> Colour:
        return colour(self.used(calendar, now), self.allowed, warn_at)

    def to_json(self, tz: tzinfo | None = None) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "limit_s": self.limit.total_seconds(),
            "start": in_zone(self.start, tz),
            "pauses": [[in_zone(a, tz), in_zone(b, tz) if b else None] for a, b in self.pauses],
            "extensions": [e.to_json(tz) for e in self.extensions],
            "stopped_at": in_zone(self.stopped_at, tz) if self.stopped_at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CaseClock:
        start = parse_time(data["start"])
        assert start is not None
        pauses: list[Pause] = []
        for a, b in data.get("pauses", []):
            begin = parse_time(a)
            assert begin is not None
            pauses.append((begin, parse_time(b)))
        return cls(
            kind=ClockKind(data["kind"]),
            limit=timedelta(seconds=float(data["limit_s"])),
            start=start,
            pauses=tuple(pauses),
            extensions=tuple(Extension.from_json(e) for e in data.get("extensions", [])),
            stopped_at=parse_time(data.get("stopped_at")),
        )


@dataclass(frozen=True)
class SuspensionRequest:
    """A squad's request to suspend (挂账), waiting for the centre."""

    reason: str | None
    at: datetime
    by: str

    def to_json(self, tz: tzinfo | None = None) -> dict[str, Any]:
        return {"reason": self.reason, "at": in_zone(self.at, tz), "by": self.by}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SuspensionRequest:
        at = parse_time(data["at"])
        assert at is not None
        return cls(data.get("reason"), at, str(data["by"]))


@dataclass(frozen=True)
class Progress:
    """The life-cycle facts of one incident (see the module's note)."""

    #: the case clock, from registration (立案) on
    clock: CaseClock | None = None
    #: suspended (挂账): the case and stage clocks stand still
    suspended: bool = False
    #: the case clock's colour as of the last change (the API shows it as of the request)
    colour: str | None = None
    #: the colour the timers last announced for the case clock (yellow, then red)
    case_alerted: str | None = None
    #: the stage entry (its ``stage_since``, as text) whose warning (yellow) the timers gave
    stage_warned: str | None = None
    #: the stage entry (its ``stage_since``, as text) whose overdue the timers announced
    stage_alerted: str | None = None
    #: when the incident entered its current state's stage
    stage_since: datetime | None = None
    suspension_requested: SuspensionRequest | None = None
    return_count: int = 0  # 回退
    rework_count: int = 0  # 返工
    supervision_count: int = 0  # 督办
    #: the command tiers above the squad told of the overdue case so far (逐级督办: the
    #: parent at red, one more at each further step of lateness, ``dispatcher.core.alarms``)
    escalated_tiers: int = 0
    #: how many tiers stood above the squad when the case went red: the stepping stops there
    tiers_above: int = 0
    reminder_count: int = 0  # 催办
    #: how the squad disposed of it (处置结果), its note and photos, and whether in time
    outcome: str | None = None
    resolution_note: str | None = None
    resolution_media: tuple[str, ...] = ()
    on_time: bool | None = None
    #: the incidents merged into this one (by an operator or by dedup)
    merged_ids: tuple[str, ...] = ()
    #: the squad's trip for nearby cases (顺路处置: open items at one place) it was dispatched in
    visit_id: str | None = None
    #: the incident it was merged into before an operator unmerged it
    unmerged_from: str | None = None
    #: what dedup learnt: the sources that reported it, and when first and last
    sources: tuple[str, ...] = ()
    first_report_at: datetime | None = None
    last_report_at: datetime | None = None
    #: complaints of its place and category in the repeat window (重复诉件)
    repeat_count: int = 0
    #: a 12345 work order's platform deadlines, contact, 退单 and 回访 (core/workorder.py)
    hotline: WorkOrder | None = None
    #: the last hand-over to another department (移送, core/departments.py)
    handover: Handover | None = None

    def but(self, **changes: Any) -> Progress:
        """``dataclasses.replace(self, **changes)`` at a fraction of its cost: these are made
        several times for each report on intake's path (as ``incidents.evolve``)."""
        unknown = changes.keys() - KEYS
        if unknown:
            raise TypeError(f"Progress has no field(s) {sorted(unknown)}")
        made = object.__new__(Progress)
        object.__setattr__(made, "__dict__", {**self.__dict__, **changes})
        return made

    def to_doc(self, tz: tzinfo | None = None) -> dict[str, Any]:
        """The facts as the document's top-level keys, each only when it says something;
        instants in ``tz`` (the deployment's zone, as every time the API writes)."""
        doc: dict[str, Any] = {}
        if self.clock is not None:
            doc["clock"] = self.clock.to_json(tz)
        if self.clock is not None or self.suspended:
            doc["suspended"] = self.suspended
        if self.suspension_requested is not None:
            doc["suspension_requested"] = self.suspension_requested.to_json(tz)
        if self.hotline is not None:
            doc["hotline"] = self.hotline.to_json(tz)
        if self.handover is not None:
            doc["handover"] = self.handover.to_json(tz)
        for name in _TEXTS:
            value = getattr(self, name)
            if value is not None:
                doc[name] = value
        for name in _COUNTS:
            value = getattr(self, name)
            if value:
                doc[name] = value
        for name in _LISTS:
            value = getattr(self, name)
            if value:
                doc[name] = list(value)
        for name in _TIMES:
            value = getattr(self, name)
            if value is not None:
                doc[name] = in_zone(value, tz)
        if self.on_time is not None:
            doc["on_time"] = self.on_time
        if self.outcome is not None:
            # a resolution writes all three, as it always has
            doc["resolution_note"] = self.resolution_note
            doc["resolution_media"] = list(self.resolution_media)
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Progress:
        """Read the facts back from a document (:meth:`to_doc`'s keys; others are ignored)."""
        # only the keys a document has are read (most incidents have a few); the others keep
        # their defaults. As ``but``: every stored incident read makes one of these, and the
        # generated __init__ would set each field through object.__setattr__.
        facts = {**NONE.__dict__}
        for name in KEYS.intersection(doc):
            value = doc[name]
            read = _READ.get(name)
            facts[name] = value if read is None else read(value)
        made = object.__new__(cls)
        object.__setattr__(made, "__dict__", facts)
        return made


_TEXTS: Final = (
    "colour",
    "case_alerted",
    "stage_warned",
    "stage_alerted",
    "outcome",
    "visit_id",
    "unmerged_from",
)
_COUNTS: Final = (
    "return_count",
    "rework_count",
    "supervision_count",
    "escalated_tiers",
    "tiers_above",
    "reminder_count",
    "repeat_count",
)
_LISTS: Final = ("merged_ids", "sources")
_TIMES: Final = ("stage_since", "first_report_at", "last_report_at")


def _clock(value: Any) -> CaseClock | None:
    return CaseClock.from_json(value) if isinstance(value, Mapping) else None


def _request(value: Any) -> SuspensionRequest | None:
    return SuspensionRequest.from_json(value) if isinstance(value, Mapping) else None


def _order(value: Any) -> WorkOrder | None:
    return WorkOrder.from_json(value) if isinstance(value, Mapping) else None


def _handover(value: Any) -> Handover | None:
    return Handover.from_json(value) if isinstance(value, Mapping) else None


def _count(value: Any) -> int:
    return int(value or 0)


def _list(value: Any) -> tuple[Any, ...]:
    return tuple(value or ())


#: how a document's value becomes the field's (the others are taken as they are)
_READ: Final[Mapping[str, Callable[[Any], Any]]] = {
    "clock": _clock,
    "suspension_requested": _request,
    "hotline": _order,
    "handover": _handover,
    "suspended": bool,
    "resolution_media": _list,
    **dict.fromkeys(_COUNTS, _count),
    **dict.fromkeys(_LISTS, _list),
    **dict.fromkeys(_TIMES, parse_time),
}
#: the document keys that are the life cycle's, not a channel's free-form ``extra``
KEYS: Final = frozenset(f.name for f in fields(Progress))
NONE: Final = Progress()
