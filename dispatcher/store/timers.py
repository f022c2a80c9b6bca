"""Three-colour timers (三色预警) that survive restarts and fire once across processes.

Which alerts an incident is owed is a pure function of the incident (:func:`owed`): the
yellow warning and the red overdue of its case clock, and the overdue of its current stage.
Every change of an incident rewrites its rows in ``timers`` in its own transaction
(:func:`rearm`, called by ``changes.Work``); the loop of every server process
(``timer_loop.TimerLoop``) takes due rows and asks :func:`fire` what each alert is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from dispatcher.core.auth import SYSTEM_ACTOR
from dispatcher.core.clocks import Colour
from dispatcher.core.deadlines import STAGE_OF_STATE, Rules, stage_deadline, stage_since
from dispatcher.core.events import Event, EventType, incident_topics
from dispatcher.core.incidents import Incident, State, evolve, revision
from dispatcher.core.routing import Squad
from dispatcher.store import records as store

log = logging.getLogger(__name__)

CASE_WARNING: Final = "case_warning"
CASE_OVERDUE: Final = "case_overdue"
STAGE_OVERDUE: Final = "stage_overdue"
#: states in which the case clock runs towards the squad's deadline
CLOCKED: Final = frozenset({State.REGISTERED, State.RETURNED, State.DISPATCHED, State.ACCEPTED})


def owed(incident: Incident, rules: Rules, now: datetime) -> list[tuple[str, datetime]]:
    """The alerts not yet given for the incident as it is, with when each falls due."""
    progress = incident.progress
    if progress.suspended or not incident.state.is_open:
        return []
    timers: list[tuple[str, datetime]] = []
    clock = progress.clock
    if clock is not None and incident.state in CLOCKED and clock.stopped_at is None:
        alerted = progress.case_alerted
        if alerted is None:
            timers.append((CASE_WARNING, clock.warning_at(rules.calendar, rules.warn_at, now)))
        if alerted != Colour.RED.value:
            timers.append((CASE_OVERDUE, clock.deadline(rules.calendar, now)))
    due = stage_deadline(incident, rules)
    if due is not None and progress.stage_alerted != stage_since(incident).isoformat():
        timers.append((STAGE_OVERDUE, due))
    return timers


def ancestors(squad_id: str | None, squads: Mapping[str, Squad]) -> list[str]:
    """The squad's parent, its parent's parent, ...: who hears of an overdue case (3 tiers)."""
    found: list[str] = []
    current = squads.get(squad_id) if squad_id else None
    while current is not None and current.parent_id and current.parent_id not in found:
        found.append(current.parent_id)
        current = squads.get(current.parent_id)
    return found


@dataclass(frozen=True)
class Fired:
    """What a due timer gives: the incident marked, its event, the supervision to open."""

    incident: Incident
    event: Event
    supervision: tuple[str, list[str]] | None = None  # (note, squads notified)


def fire(
    incident: Incident, kind: str, rules: Rules, now: datetime, squads: Mapping[str, Squad]
) -> Fired | None:
    """The alert a due timer gives, or None when the incident no longer owes it."""
    progress = incident.progress
    if progress.suspended or not incident.state.is_open:
        return None
    topics = incident_topics(incident)
    detail: dict[str, Any] = {}
    supervision = None
    if kind in (CASE_WARNING, CASE_OVERDUE):
        clock = progress.clock
        if clock is None or incident.state not in CLOCKED or clock.stopped_at is not None:
            return None
        colour = clock.colour(rules.calendar, rules.warn_at, now)
        wanted = Colour.YELLOW if kind == CASE_WARNING else Colour.RED
        given = progress.case_alerted
        if colour is Colour.GREEN or (wanted is Colour.RED and colour is not Colour.RED):
            return None
        if given == Colour.RED.value or (given == Colour.YELLOW.value and colour is Colour.YELLOW):
            return None
        progress = replace(progress, case_alerted=colour.value, colour=colour.value)
        detail = {
            "clock": "case",
            "deadline": incident.deadline.isoformat() if incident.deadline else None,
        }
        event_type = EventType.DEADLINE_WARNING
        if colour is Colour.RED:
            event_type = EventType.DEADLINE_OVERDUE
            escalated = ancestors(incident.squad_id, squads)
            topics = (*topics, *(f"squad:{s}" for s in escalated if f"squad:{s}" not in topics))
            detail["escalated_to"] = escalated
            supervision = (f"超期未处置（时限 {detail['deadline']}）", escalated)
    elif kind == STAGE_OVERDUE:
        due = stage_deadline(incident, rules)
        stage = STAGE_OF_STATE.get(incident.state)
        since = stage_since(incident).isoformat()
        if due is None or stage is None or now < due or progress.stage_alerted == since:
            return None
        progress = replace(progress, stage_alerted=since)
        detail = {"clock": "stage", "stage": stage.value, "deadline": due.isoformat()}
        event_type = EventType.DEADLINE_OVERDUE
    else:
        raise ValueError(f"unknown timer kind {kind!r}")
    changed = revision(incident, evolve(incident, progress=progress), now)
    event = Event(
        type=event_type,
        incident=changed,
        at=now,
        actor=SYSTEM_ACTOR,
        actor_role=None,
        action=None,
        state_before=incident.state,
        detail=detail,
        only_topics=tuple(topics),
    )
    return Fired(changed, event, supervision)


DELETE_TIMERS: Final = "DELETE FROM timers WHERE incident_id = ANY($1::text[])"
INSERT_TIMERS: Final = """
INSERT INTO timers (incident_id, kind, due_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])"""
DUE_INCIDENTS: Final = """
SELECT DISTINCT incident_id FROM (
    SELECT incident_id FROM timers WHERE fired_at IS NULL AND due_at <= $1
    ORDER BY due_at LIMIT $2) AS due"""
TAKE_TIMERS: Final = """
UPDATE timers SET fired_at = $2
WHERE incident_id = ANY($1::text[]) AND fired_at IS NULL AND due_at <= $2
RETURNING incident_id, kind"""
NEXT_DUE: Final = "SELECT min(due_at) FROM timers WHERE fired_at IS NULL"
INSERT_SUPERVISION: Final = """
INSERT INTO supervisions (incident_id, kind, opened_at, opened_by, note, notified)
VALUES ($1, $2, $3, $4, $5, $6)"""


async def rearm(
    conn: store.Connection, incidents: Sequence[Incident], rules: Rules, now: datetime
) -> None:
    """Rewrite these incidents' timers to what each is owed now, in two statements (in the
    caller's transaction; ``changes.Work`` calls it for every incident it saves)."""
    await conn.execute(DELETE_TIMERS, [i.id for i in incidents])
    rows = owed_new(incidents, rules, now)
    if rows:
        await conn.execute(INSERT_TIMERS, *(list(column) for column in zip(*rows, strict=True)))


def owed_new(
    incidents: Sequence[Incident], rules: Rules, now: datetime
) -> list[tuple[str, str, datetime]]:
    """The timers of incidents about to be inserted, as (incident id, kind, due) rows:
    intake's insert arms them in its statement (``store.insert_incidents``)."""
    return [(i.id, kind, due) for i in incidents for kind, due in owed(i, rules, now)]


def supervision_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "opened_at": row["opened_at"].isoformat(),
        "opened_by": row["opened_by"],
        "note": row["note"],
        "notified": list(row["notified"]),
        "closed_at": row["closed_at"].isoformat() if row["closed_at"] else None,
    }
