"""Running clocks counted again when the holidays change (a year of the calendar entered).

A deadline on the working-hours or working-days clock is counted over the holidays the
calendar knew when it was computed. When an operator enters a year's notice, every running
case clock that reaches into that year is counted again, through the one change path (a unit
of work per batch of incidents, each moved deadline with its history row, timers re-armed, the
consoles told). It runs once for the deployment, in the process that took the change, after
that process uses the new calendar.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final

from dispatcher.core.alarms import CLOCKED
from dispatcher.core.lifecycle import recalendar
from dispatcher.store import records as store
from dispatcher.store.changes import Changes

log = logging.getLogger(__name__)

#: open incidents whose case deadline is at or after $2, by id from after $3, $4 at a time
SELECT_RUNNING: Final = """
SELECT id FROM incidents
WHERE state = ANY($1::text[]) AND deadline >= $2 AND id > $3
ORDER BY id LIMIT $4"""
BATCH: Final = 200


async def count_again(
    changes: Changes, pool: store.Pool, since: datetime, reason: str, *, batch: int = BATCH
) -> int:
    """Count again every running case clock whose deadline is at or after ``since`` (the
    first instant of the changed year); answer how many deadlines moved.

    A deadline before ``since`` is counted over days the change does not touch, so it cannot
    move. A suspended clock is counted again when it resumes.
    """
    states = sorted(s.value for s in CLOCKED)
    moved, after = 0, ""
    while True:
        ids = [r["id"] for r in await pool.fetch(SELECT_RUNNING, states, since, after, batch)]
        if not ids:
            break
        async with changes.begin(ids) as work:
            for incident_id in ids:
                incident = work.incident(incident_id)
                if incident is None:
                    continue
                decision = recalendar(incident, work.rules, work.now, reason)
                if decision is not None:
                    work.save(decision.incident)
                    work.record(decision.events)
                    moved += 1
        after = ids[-1]
    log.info("the calendar changed (%s): %d running deadlines moved", reason, moved)
    return moved
