"""The journal: numbering events as they are committed, and intake's group commit.

:func:`append` must be the last statement of a transaction before its commit: it takes the
history lock, numbers the events and inserts them, so ``seq`` order is commit order (a reader
that sees seq N knows every smaller seq that will ever exist is already visible). The lock is
held only while the new entries are hashed onto the chain, inserted and committed.

:class:`IntakeWriter` gathers reports arriving within a few milliseconds into one transaction
and answers each only after that transaction has committed. Its ``collate`` hook (dedup and
repeat complaints, ``dispatcher.store.vicinity``) runs in that same transaction between planning and
inserting, under place locks, so that no two reports of one problem both open an incident,
whether they arrive in one batch or in two processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from dispatcher.core import audit, jsontext
from dispatcher.core.events import Entry
from dispatcher.core.ids import IncidentId
from dispatcher.core.incidents import Incident
from dispatcher.core.intake import IntakePlan
from dispatcher.store import records as store
from realtime.hub import Envelope

log = logging.getLogger(__name__)


async def append(conn: store.Connection, events: Sequence[Entry], tz: tzinfo) -> list[Envelope]:
    """Number, chain and insert ``events``; the caller commits right after.

    Everything is made before the history lock is taken, in one call with the insert
    (``history_append``): each entry's canonical text around its seq, which the database
    hashes onto the chain once it has numbered the entry, and each event's text after its
    seq, which leads the text stored and sent.
    """
    if not events:
        return []
    bodies = [e.body(0, tz) for e in events]
    # a detail is stored as its JSON text, and hashed as what that text reads back as
    detail_texts = [jsontext.loose(dict(e.detail)) for e in events]
    parts = [
        audit.around_seq(
            incident_id=e.subject,
            type=e.type.value,
            action=e.action,
            actor=e.actor,
            actor_role=e.actor_role,
            at=e.at,
            state_before=e.state_before.value if e.state_before else None,
            state_after=e.state_after.value,
            detail=jsontext.read(detail),
            event=body,
        )
        for e, detail, body in zip(events, detail_texts, bodies, strict=True)
    ]
    rests = []
    for body in bodies:
        del body["seq"]
        rests.append(jsontext.compact(body)[1:])  # what follows '{"seq":N,'
    seqs: list[int] = await conn.fetchval(
        store.APPEND_HISTORY,
        [e.subject for e in events],
        [e.type.value for e in events],
        [e.action for e in events],
        [e.actor for e in events],
        [e.actor_role for e in events],
        [e.at for e in events],
        [e.state_before.value if e.state_before else None for e in events],
        [e.state_after.value for e in events],
        detail_texts,
        [jsontext.compact(e.topics) for e in events],
        rests,
        [middle for middle, _ in parts],
        [tail for _, tail in parts],
    )
    return [
        Envelope(seq, e.topics, f'{{"seq":{seq},{rest}')
        for seq, e, rest in zip(seqs, events, rests, strict=True)
    ]


def incident_id(number: int, now: datetime, tz: tzinfo) -> IncidentId:
    """案卷号: the local date and a deployment-wide number, sortable as text."""
    return IncidentId(f"{now.astimezone(tz):%Y%m%d}{number:08d}")


#: builds the plan of one report once its incident id and the time are known
Planner = Callable[[IncidentId, datetime], IntakePlan]
#: the timers new incidents are owed, as (incident id, kind, due) rows: armed by the insert
TimersOwed = Callable[[list[Incident], datetime], list[tuple[str, str, datetime]]]
#: runs in the intake transaction between planning and inserting: may turn plans into
#: duplicates of open incidents and change those (see ``dispatcher.store.vicinity.Collator``)
CollateHook = Callable[
    ["store.Connection", list[IntakePlan], datetime], Awaitable[list[IntakePlan]]
]
#: runs in the intake transaction after the batch's incidents are inserted: may write rows of
#: its own and answers further history entries to append with the batch's events (the
#: supervision items that leader and media reports open, ``dispatcher.store.supervision``)
FollowHook = Callable[["store.Connection", list[IntakePlan], datetime], Awaitable[list[Entry]]]
#: how many times a batch is written again when another process won a race for one of its keys
_WRITE_ATTEMPTS = 3


class _Raced(Exception):
    """Another process inserted a report of this batch first: write the batch again."""


@dataclass
class _Pending:
    key: tuple[str, str] | None
    planner: Planner
    future: asyncio.Future[tuple[Incident, bool]] = field(repr=False)


class IntakeWriter:
    """Group commit for intake. Start with :meth:`run` as a background task."""

    def __init__(
        self,
        pool: store.Pool,
        tz: tzinfo,
        on_commit: Callable[[list[Envelope]], None],
        *,
        window_s: float = 0.002,
        max_batch: int = 256,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timers: TimersOwed | None = None,
        collate: CollateHook | None = None,
        follow: FollowHook | None = None,
        concurrency: int = 3,
    ) -> None:
        self._follow = follow
        self._concurrency = concurrency
        self._timers = timers
        self._collate = collate
        self._pool = pool
        self._tz = tz
        self._on_commit = on_commit
        self._window_s = window_s
        self._max_batch = max_batch
        self._clock = clock
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()

    async def submit(self, key: tuple[str, str] | None, planner: Planner) -> tuple[Incident, bool]:
        """Store a report; answer (incident, created). Raises what the store raised."""
        future: asyncio.Future[tuple[Incident, bool]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(key, planner, future))
        self._wakeup.set()
        return await future

    async def run(self) -> None:
        """Flush batches until cancelled; what is queued when cancelled is flushed first.

        One loop forms the batches; up to ``concurrency`` of them are written at once, each
        doing its reads and inserts while another waits for its commit (the history lock
        still numbers and commits them one at a time, so ``seq`` stays commit order). While
        all are busy the queue grows, so batches grow with the load.
        """
        slots = asyncio.Semaphore(self._concurrency)
        writing: set[asyncio.Task[None]] = set()

        async def write(batch: list[_Pending]) -> None:
            try:
                await self._flush(batch)
            finally:
                slots.release()

        try:
            while True:
                await self._wakeup.wait()
                if len(self._queue) < self._max_batch and self._window_s > 0:
                    await asyncio.sleep(self._window_s)
                await slots.acquire()
                batch = self._take()
                if not batch:
                    slots.release()
                    continue
                task = asyncio.create_task(write(batch))
                writing.add(task)
                task.add_done_callback(writing.discard)
        except asyncio.CancelledError:
            if writing:
                await asyncio.gather(*writing, return_exceptions=True)
            while self._queue:
                with contextlib.suppress(Exception):
                    await self._flush(self._take())
            raise

    def _take(self) -> list[_Pending]:
        batch = self._queue[: self._max_batch]
        del self._queue[: self._max_batch]
        if not self._queue:
            self._wakeup.clear()
        return batch

    async def _flush(self, batch: list[_Pending]) -> None:
        if not batch:
            return
        try:
            results, stored = await self._write(batch)
        except Exception as exc:  # every caller gets the store's error; nothing was answered
            log.warning("intake batch of %d failed: %s", len(batch), exc)
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)
        if stored:
            self._on_commit(stored)

    async def _write(
        self, batch: list[_Pending]
    ) -> tuple[list[tuple[Incident, bool]], list[Envelope]]:
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                return await self._write_once(batch)
            except _Raced:
                log.info(
                    "intake batch raced another process (attempt %d); writing it again", attempt
                )
        raise RuntimeError("intake batch kept racing other processes")

    async def _write_once(
        self, batch: list[_Pending]
    ) -> tuple[list[tuple[Incident, bool]], list[Envelope]]:
        now = self._clock()
        async with self._pool.acquire() as conn, conn.transaction():
            opened = await store.open_batch(conn, [item.key for item in batch])
            existing: dict[tuple[str, str], Incident] = {}
            # The first of several reports with one key in a batch is created; the rest replay it.
            leaders: dict[tuple[str, str], int] = {}
            planned: dict[int, IntakePlan] = {}
            for i, (item, found) in enumerate(zip(batch, opened, strict=True)):
                key = item.key
                if isinstance(found, Incident):
                    assert key is not None
                    existing[key] = found
                    continue
                if key is not None and key in leaders:
                    continue
                if key is not None:
                    leaders[key] = i
                planned[i] = item.planner(incident_id(found, now, self._tz), now)
            if self._collate is not None and planned:
                collated = await self._collate(conn, list(planned.values()), now)
                planned = dict(zip(planned, collated, strict=True))
            incidents = [p.incident for p in planned.values()]
            docs = [store.encode_doc(i, self._tz) for i in incidents]
            owed = self._timers(incidents, now) if self._timers is not None else []
            inserted = await store.insert_incidents(conn, docs, owed) if docs else set()
            lost = [i for i, p in planned.items() if p.incident.id not in inserted]
            if lost and self._collate is not None:
                raise _Raced  # what the batch decided may rest on a report that is not ours
            if lost:  # another process created them between our check and our insert
                existing.update(
                    await store.by_external_ids(conn, [k for i in lost if (k := batch[i].key)])
                )
                for i in lost:
                    del planned[i]
            events: list[Entry] = [e for p in planned.values() for e in p.events]
            if self._follow is not None and planned:
                events.extend(await self._follow(conn, list(planned.values()), now))
            stored = await append(conn, events, self._tz)
        results: list[tuple[Incident, bool]] = []
        for i, item in enumerate(batch):
            if i in planned:
                results.append((planned[i].incident, True))
            elif item.key is not None and item.key in existing:
                results.append((existing[item.key], False))
            else:
                assert item.key is not None
                results.append((planned[leaders[item.key]].incident, False))
        return results, stored
