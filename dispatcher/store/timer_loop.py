"""The timer loop: every server process fires due timers, each exactly once across them.

It takes due rows of ``timers``, locks their incidents with ``FOR UPDATE SKIP LOCKED`` (so
that two processes never fire one incident's timers), decides with the core's
``alarms.fire`` what each alert is (nothing, if the incident moved on), and writes the alerts
through the one change path (``dispatcher.store.changes``), which publishes them after the
commit. Rows that fell due while every process was down are simply due: the next loop catches
up. An incident whose due rows gave nothing has its timers armed again at what it is owed
now (a limit that moved since they were armed: a stage limit of the catalogue, a holiday
entered).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from dispatcher.core import alarms
from dispatcher.core.auth import SYSTEM_ACTOR
from dispatcher.core.routing import Squad
from dispatcher.store import records as store
from dispatcher.store import timers
from dispatcher.store.changes import Changes
from dispatcher.store.due_loop import DueLoop

log = logging.getLogger(__name__)


class TimerLoop(DueLoop):
    """Fires due timers until cancelled. One per server process; they share the work."""

    name = "timer loop"
    next_due_query = timers.NEXT_DUE

    def __init__(
        self,
        pool: store.Pool,
        changes: Changes,
        squads: Callable[[], Mapping[str, Squad]],
        wake: asyncio.Event,
        *,
        batch: int = 200,
        idle_s: float = 0.5,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(pool, batch=batch, idle_s=idle_s, clock=clock, wake=wake)
        self._changes = changes
        self._squads = squads
        self.fired = 0

    async def run_once(self) -> int:
        """Fire what is due now; answer how many timers were taken."""
        now = self._clock()
        ids = [
            r["incident_id"] for r in await self._pool.fetch(timers.DUE_INCIDENTS, now, self._batch)
        ]
        if not ids:
            return 0
        squads = self._squads()
        async with self._changes.begin(now=now) as work:
            locked = await work.lock(ids, skip_locked=True)
            if not locked:
                return 0
            taken = await work.conn.fetch(timers.TAKE_TIMERS, list(locked), now)
            # a clock's yellow before its red (one alert, the further, when both are due)
            for row in sorted(
                taken, key=lambda r: (r["incident_id"], r["kind"] not in alarms.WARNINGS)
            ):
                incident = work.incident(row["incident_id"])
                assert incident is not None  # taken only for the incidents locked
                alert = alarms.fire(incident, row["kind"], work.rules, now, squads)
                if alert is None:
                    continue
                work.save(alert.incident)
                work.record([alert.event])
                if alert.supervision is not None:
                    note, notified = alert.supervision
                    work.supervise(incident.id, "overdue", note, SYSTEM_ACTOR, notified)
            # a timer that fell due before its limit ran out (the limit moved since it was
            # armed) gave nothing: arm the incident's again at what it is owed now
            early = {r["incident_id"] for r in taken} - work.saved.keys()
            if early:
                stale = [i for i in (work.incident(j) for j in sorted(early)) if i is not None]
                await timers.rearm(work.conn, stale, work.rules, now, later_only=True)
        self.fired += len(taken)
        return len(taken)
