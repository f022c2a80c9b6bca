"""Events: what happened to an incident, as appended to the history and sent to consoles.

The core returns :class:`Event` values without a ``seq``; the journal numbers them when it
appends them (``seq`` order is commit order) and only then are they published (docs/API.md §6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any, Protocol

from dispatcher.core import jsontext
from dispatcher.core.incidents import Incident, State
from dispatcher.core.times import format_time


class EventType(StrEnum):
    INCIDENT_CREATED = "incident.created"
    INCIDENT_UPDATED = "incident.updated"
    DISPATCH_ASSIGNED = "dispatch.assigned"
    DEADLINE_WARNING = "deadline.warning"
    DEADLINE_OVERDUE = "deadline.overdue"


def incident_topics(incident: Incident) -> tuple[str, ...]:
    """The topics an event about ``incident`` goes to: all, the incident, its zones, its squads."""
    topics = ["all", f"incident:{incident.id}"]
    topics.extend(f"zone:{z}" for z in incident.zone_ids)
    topics.extend(f"squad:{s}" for s in incident.squad_ids)
    return tuple(topics)


class Entry(Protocol):
    """What the history appends (``dispatcher.store.journal.append``): an incident's
    :class:`Event`, or a step of another subject of the history (a supervision item,
    ``dispatcher.core.supervision.Step``). ``subject`` is kept in the history's
    ``incident_id`` column: an incident's id, or the other subject's (never one of both)."""

    @property
    def subject(self) -> str: ...
    @property
    def type(self) -> StrEnum: ...
    @property
    def action(self) -> str | None: ...
    @property
    def actor(self) -> str: ...
    @property
    def actor_role(self) -> str | None: ...
    @property
    def at(self) -> datetime: ...
    @property
    def state_before(self) -> StrEnum | None: ...
    @property
    def state_after(self) -> StrEnum: ...
    @property
    def detail(self) -> Mapping[str, Any]: ...
    @property
    def topics(self) -> tuple[str, ...]: ...

    def body(self, seq: int, tz: tzinfo) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Event:
    type: EventType
    incident: Incident
    at: datetime
    actor: str
    actor_role: str | None
    action: str | None = None
    state_before: State | None = None
    #: reason, note, outcome, automatic steps taken, ...: kept in the history entry
    detail: Mapping[str, Any] = field(default_factory=dict)
    #: None means :func:`incident_topics` of the incident
    only_topics: tuple[str, ...] | None = None

    @property
    def topics(self) -> tuple[str, ...]:
        return self.only_topics if self.only_topics is not None else incident_topics(self.incident)

    @property
    def state_after(self) -> State:
        return self.incident.state

    @property
    def subject(self) -> str:
        """The history's subject: the incident (``Entry``)."""
        return self.incident.id

    def to_json(self, seq: int, tz: tzinfo) -> str:
        """The event as sent on the WebSocket and kept in ``history.event``."""
        return jsontext.compact(self.body(seq, tz))

    def body(self, seq: int, tz: tzinfo) -> dict[str, Any]:
        """The event as a JSON object."""
        body: dict[str, Any] = {
            "seq": seq,
            "type": self.type.value,
            "at": format_time(self.at, tz),
            "incident": self.incident.to_doc(tz),
        }
        if self.action is not None:
            body["action"] = self.action
            body["actor"] = self.actor
        if self.detail:
            body["detail"] = dict(self.detail)
        return body
