"""The timers table: the due instants of the warnings an incident is owed.

What an incident is owed and what a due timer gives are the core's
(``dispatcher.core.alarms``). Every change of an incident rewrites its rows here in its own
transaction (:func:`rearm`, called by ``changes.Work``); the loop of every server process
(``timer_loop.TimerLoop``) takes due rows and fires each once across processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any, Final

from dispatcher.core.alarms import owed_new
from dispatcher.core.deadlines import Rules
from dispatcher.core.incidents import Incident
from dispatcher.core.times import format_time
from dispatcher.store import records as store

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
    conn: store.Connection,
    incidents: Sequence[Incident],
    rules: Rules,
    now: datetime,
    *,
    later_only: bool = False,
) -> None:
    """Rewrite these incidents' timers to what each is owed now, in two statements (in the
    caller's transaction; ``changes.Work`` calls it for every incident it saves). With
    ``later_only``, only those not yet due are written (the timer loop re-arms a timer that
    fell due before its limit ran out, e.g. after the catalogue lengthened a stage limit)."""
    await conn.execute(DELETE_TIMERS, [i.id for i in incidents])
    rows = owed_new(incidents, rules, now)
    if later_only:
        rows = [row for row in rows if row[2] > now]
    if rows:
        await conn.execute(INSERT_TIMERS, *(list(column) for column in zip(*rows, strict=True)))


def supervision_json(row: Any, tz: tzinfo) -> dict[str, Any]:
    """A supervision record as the API answers it, its times in ``tz``."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "opened_at": format_time(row["opened_at"], tz),
        "opened_by": row["opened_by"],
        "note": row["note"],
        "notified": list(row["notified"]),
        "closed_at": format_time(row["closed_at"], tz),
    }
