"""Repeat complaints (重复诉件): the same problem complained of again and again.

Three or more complaints (hotline calls, citizens' reports) of one category at one place
within thirty days, both configurable, make the open incident they concern a repeat
complaint: it is flagged, a supervision record (督办) is opened, and an event tells the
centre. "One place" is the category's dedup radius, in metres; every complaint counts,
whether it opened an incident, joined one as a duplicate, or was closed long ago.

Pure: :func:`count` and :func:`mark` take what the store found and answer what to write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from dispatcher.core.events import Event, EventType
from dispatcher.core.incidents import COMPLAINT_SOURCES, Flag, Incident, revision
from geo.distance import distance_m

SUPERVISION_KIND: Final = "repeat"


@dataclass(frozen=True)
class RepeatRule:
    threshold: int = 3
    window: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class Complaint:
    """One complaint as the store keeps it: enough to tell where, what and when."""

    incident_id: str
    category: str
    lon: float
    lat: float
    received_at: datetime

    @classmethod
    def of(cls, incident: Incident) -> Complaint:
        return cls(incident.id, incident.category, incident.lon, incident.lat, incident.received_at)


def is_complaint(incident: Incident) -> bool:
    return incident.source in COMPLAINT_SOURCES


def count(
    report: Incident,
    radius_m: float,
    complaints: Iterable[Complaint],
    rule: RepeatRule,
    now: datetime,
) -> int:
    """How many complaints about ``report``'s problem came within the window, it included.

    ``complaints`` may hold ``report`` itself and repeats of one id: each id counts once.
    """
    since = now - rule.window
    seen: set[str] = {report.id}
    for c in complaints:
        if c.incident_id in seen or c.category != report.category or c.received_at < since:
            continue
        if distance_m(report.lon, report.lat, c.lon, c.lat) <= radius_m:
            seen.add(c.incident_id)
    return len(seen)


def mark(
    incident: Incident,
    complaints: int,
    rule: RepeatRule,
    now: datetime,
    actor: str,
    actor_role: str | None,
) -> tuple[Incident, Event | None, str | None]:
    """Flag an open incident as a repeat complaint once ``complaints`` reaches the threshold.

    Answers the incident (its ``repeat_count`` kept up to date), and, the first time only,
    the event for the centre and the note of the supervision record to open. Below the
    threshold, or for a closed incident, nothing changes.
    """
    if complaints < rule.threshold or not incident.state.is_open:
        return incident, None, None
    already = Flag.REPEAT_COMPLAINT.value in incident.flags
    changed = replace(incident, progress=incident.progress.but(repeat_count=complaints))
    if already:
        return changed, None, None
    days = rule.window.days
    note = f"重复诉件：{days} 天内同一地点同类诉件 {complaints} 件"
    changed = replace(
        changed,
        flags=(*incident.flags, Flag.REPEAT_COMPLAINT.value),
    )
    changed = revision(incident, changed, now)
    event = Event(
        type=EventType.INCIDENT_UPDATED,
        incident=changed,
        at=now,
        actor=actor,
        actor_role=actor_role,
        action="repeat_complaint",
        state_before=incident.state,
        detail={"complaints": complaints, "window_days": days, "supervision": note},
    )
    return changed, event, note
