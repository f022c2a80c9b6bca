"""The one path for every change of an incident's state: a unit of work.

Every handler, the timer loop, CAP updates, sampling, unmerge and visits (顺路处置) change
incidents through :meth:`Changes.begin`::

    async with changes.begin([incident_id]) as work:     # BEGIN; lock the rows in id order
        incident = work.incident(incident_id)             # as locked
        decision = decide(incident, ...)                  # the pure core decides
        work.save(decision.incident)                      # the row and its timers
        work.supervise(incident.id, "manual", note, who)  # supervision records, if any
        work.record(decision.events)                      # the history entries
    # here: written, history appended last, committed; then published and the timers woken
    answer(work.stored)

On leaving the block without an error, :meth:`Work.write` writes every saved incident in one
statement, rewrites their timers (two statements), inserts the supervision records and appends
the events to the hash-chained history as the last statement before the commit; after the
commit the events are published to every process and this process's timer loop is woken. An
error inside the block rolls everything back and publishes nothing.

Versions. The core's :func:`dispatcher.core.incidents.revise` is the one place that stamps a
changed incident (``updated_at``, ``version`` + 1, once per change); the unit of work refuses
to save an incident it did not lock or that was not revised from the row it locked.

Intake's group commit (``journal.IntakeWriter``) writes the stored incidents a batch joins
through :meth:`Changes.within` on its own connection (:meth:`Work.write_rows`) and appends
their events with the batch's.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from dispatcher.core.deadlines import Rules
from dispatcher.core.events import Entry
from dispatcher.core.incidents import Incident
from dispatcher.store import journal, timers
from dispatcher.store import records as store
from realtime.hub import Envelope

log = logging.getLogger(__name__)

LOCK_INCIDENTS: Final = (
    "SELECT doc FROM incidents WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE"
)
LOCK_INCIDENTS_SKIP_LOCKED: Final = (
    "SELECT doc FROM incidents WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE SKIP LOCKED"
)


class NotLocked(Exception):
    """A unit of work was asked to save an incident it did not lock, or one not revised from
    the locked row (a programming error: decide from what the unit locked)."""


@dataclass(frozen=True)
class Supervision:
    """A supervision record (督办) to open with the change."""

    incident_id: str
    kind: str
    note: str
    by: str
    notified: tuple[str, ...] = ()


class Work:
    """One open transaction: the incidents locked, and what is to change."""

    def __init__(self, conn: store.Connection, rules: Rules, now: datetime) -> None:
        self.conn = conn
        self.rules = rules
        self.now = now
        #: the events appended by :meth:`write`, as stored (seq, text): empty before it
        self.stored: list[Envelope] = []
        self._locked: dict[str, Incident] = {}
        self._saved: dict[str, Incident] = {}
        self._events: list[Entry] = []
        self._supervisions: list[Supervision] = []
        self._written = False

    # -- reading and locking -------------------------------------------------------------

    async def lock(self, ids: Iterable[str], *, skip_locked: bool = False) -> dict[str, Incident]:
        """Lock these incidents (in id order) for the rest of the transaction; answer those
        found (with ``skip_locked``, those no other transaction holds)."""
        ids = list(ids)
        wanted = sorted(set(ids) - self._locked.keys())
        if wanted:
            query = LOCK_INCIDENTS_SKIP_LOCKED if skip_locked else LOCK_INCIDENTS
            self._take(await self.conn.fetch(query, wanted))
        return {i: self._locked[i] for i in ids if i in self._locked}

    async def lock_where(self, query: str, *args: Any) -> list[Incident]:
        """Lock the incidents a query of the caller's finds (it selects ``doc`` ``FOR UPDATE``,
        in id order); answer them in the query's order."""
        return self._take(await self.conn.fetch(query, *args))

    def _take(self, rows: Sequence[Any]) -> list[Incident]:
        found = [store.decode_doc(r["doc"]) for r in rows]
        for incident in found:
            self._locked.setdefault(incident.id, incident)
        return found

    def incident(self, incident_id: str) -> Incident | None:
        """The incident as this unit has it: saved here, else as locked; None if not locked."""
        return self._saved.get(incident_id) or self._locked.get(incident_id)

    # -- changing ------------------------------------------------------------------------

    def save(self, incident: Incident) -> Incident:
        """Write this incident (and rewrite its timers) with the unit. It must have been
        revised (``core.incidents.revise``) from the row this unit locked."""
        self._check_open()
        before = self._locked.get(incident.id)
        if before is None:
            raise NotLocked(f"incident {incident.id} was not locked by this unit of work")
        if incident.version <= before.version:
            raise NotLocked(
                f"incident {incident.id} v{incident.version} was not revised from the locked "
                f"v{before.version} (dispatcher.core.incidents.revise)"
            )
        self._saved[incident.id] = incident
        return incident

    def record(self, events: Iterable[Entry]) -> None:
        """Append these events to the history with the unit (in this order): an incident's
        events, or the steps of a supervision item (``dispatcher.store.supervision``)."""
        self._check_open()
        self._events.extend(events)

    def supervise(
        self, incident_id: str, kind: str, note: str, by: str, notified: Sequence[str] = ()
    ) -> None:
        """Open a supervision record (督办) on the incident with the unit."""
        self._check_open()
        self._supervisions.append(Supervision(incident_id, kind, note, by, tuple(notified)))

    @property
    def saved(self) -> dict[str, Incident]:
        return dict(self._saved)

    def _check_open(self) -> None:
        if self._written:
            raise RuntimeError("this unit of work is already written")

    # -- writing -------------------------------------------------------------------------

    async def write(self) -> list[Envelope]:
        """Write the rows, timers and supervision records, then append the history: call it
        only to read the history's seq before the commit (the unit calls it otherwise)."""
        if not self._written:
            await self.write_rows()
            self.stored = await journal.append(self.conn, self._events, self.rules.calendar.tz)
        return self.stored

    async def write_rows(self) -> None:
        """Write the rows, timers and supervision records, not the history: for intake's group
        commit, which appends the events of the whole batch itself."""
        self._check_open()
        self._written = True
        saved = [self._saved[i] for i in sorted(self._saved)]
        if saved:
            tz = self.rules.calendar.tz
            await store.update_incidents(self.conn, [store.encode_doc(i, tz) for i in saved])
            await timers.rearm(self.conn, saved, self.rules, self.now)
        if self._supervisions:
            await insert_supervisions(self.conn, self._supervisions, self.now)


async def insert_supervisions(
    conn: store.Connection, records: Sequence[Supervision], now: datetime
) -> None:
    await conn.executemany(
        timers.INSERT_SUPERVISION,
        [(s.incident_id, s.kind, now, s.by, s.note, list(s.notified)) for s in records],
    )


class Changes:
    """Begins units of work; one per application."""

    def __init__(
        self,
        pool: store.Pool,
        rules: Callable[[], Rules],
        publish: Callable[[list[Envelope]], None],
        wake: Callable[[], None],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._pool = pool
        self._rules = rules
        self._publish = publish
        self._wake = wake
        self._clock = clock

    @asynccontextmanager
    async def begin(
        self,
        ids: Iterable[str] = (),
        *,
        now: datetime | None = None,
        skip_locked: bool = False,
    ) -> AsyncIterator[Work]:
        """A transaction with ``ids`` locked in id order; on a clean exit it writes, appends
        the history, commits, publishes and wakes the timers (see the module's note)."""
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                work = Work(conn, self._rules(), now or self._clock())
                if ids:
                    await work.lock(ids, skip_locked=skip_locked)
                yield work
                await work.write()
            self.committed(work)

    def within(self, conn: store.Connection, now: datetime) -> Work:
        """A unit inside a transaction the caller owns (intake's group commit): the caller
        calls :meth:`Work.write`, commits, and then :meth:`committed`."""
        return Work(conn, self._rules(), now)

    def committed(self, work: Work) -> None:
        """After the commit: publish what the unit appended, wake the timers if it rewrote any."""
        if work.stored:
            self._publish(work.stored)
        if work.saved:
            self._wake()
