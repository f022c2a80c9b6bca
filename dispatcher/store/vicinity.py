"""What is near a report in the store, read under place locks inside intake's transaction.

:class:`Collator` is the hook the intake writer calls once per batch, between planning and
inserting, on the batch's connection:

1. it takes the place locks of every report of the batch (transaction-scoped advisory locks,
   in ascending order so that two batches never wait on each other in a circle);
2. it reads the open incidents and the recent complaints around the reports (a GiST index on
   the point of open incidents, another on complaints, both from ``0003_channels.sql``);
   1 and 2 are one call, ``intake_vicinity`` (migrations 0009, 0011), whose statements each see
   what committed before they began;
3. :func:`dispatcher.core.collation.collate` decides (pure);
4. it locks the stored incidents that changed (``FOR UPDATE``, in id order), re-deciding if
   an action changed one meanwhile, and writes them, their timers and supervision records
   through the one change path (``dispatcher.store.changes``, inside the batch's transaction).

Why locks on places and not on rows: the row a report must join may not exist yet, it may be
being inserted by another batch in another process. Two reports that could be duplicates of
each other lie within one radius, so they lock at least one common cell (see
:func:`dispatcher.core.dedup.lock_keys`) and their transactions run one after the other; the second
reads the first's incident (READ COMMITTED reads what committed before each statement). Reports
far apart, or of other categories, do not wait for each other. The locks are released at
commit; they are taken before any row lock or the history lock, as everywhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from dispatcher.core import collation, dedup, repeats
from dispatcher.core.auth import SYSTEM_ACTOR
from dispatcher.core.incidents import COMPLAINT_SOURCES, Incident
from dispatcher.core.intake import IntakePlan
from dispatcher.settings import Settings
from dispatcher.store import records as store
from dispatcher.store.changes import Changes, Work

log = logging.getLogger(__name__)

#: the first key of intake's place locks (``pg_advisory_xact_lock(int, int)``): "dedu"
LOCK_SPACE: Final = 0x64656475
#: the place locks, then the open incidents and the complaints in the boxes (migrations 0009, 0011)
VICINITY: Final = """
SELECT doc, id, category, lon, lat, received_at
FROM intake_vicinity($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"""
#: how often a batch is re-decided when actions keep changing the incidents it joins
_ATTEMPTS: Final = 5

assert {s.value for s in COMPLAINT_SOURCES} == {"hotline", "citizen"}, "see migration 0011"


def _boxes(
    plans: Sequence[IntakePlan],
) -> tuple[list[int], list[tuple[float, ...]], list[tuple[str, float, float, float, float]]]:
    """The place lock keys (sorted), the boxes to read open incidents in, and complaints in."""
    keys: set[int] = set()
    near: list[tuple[float, ...]] = []
    complaints: list[tuple[str, float, float, float, float]] = []
    for plan in plans:
        if plan.base is None or plan.admission is None:
            continue
        report = plan.base
        rule = dedup.Rule.of(plan.admission.category)
        near.append(dedup.box(report.lon, report.lat, rule.near_m))
        if rule.enabled:
            keys.update(dedup.lock_keys(report.category, report.lon, report.lat, rule.radius_m))
            if repeats.is_complaint(report):
                complaints.append(
                    (report.category, *dedup.box(report.lon, report.lat, rule.radius_m))
                )
    return sorted(keys), near, complaints


async def vicinity(
    conn: store.Connection,
    keys: Sequence[int],
    near: Sequence[tuple[float, ...]],
    complaint_boxes: Sequence[tuple[str, float, float, float, float]],
    since: datetime,
) -> tuple[list[Incident], list[repeats.Complaint]]:
    """Take the place locks (``keys``, ascending; held until the transaction ends), then read
    the open incidents in the boxes ``near`` and the complaints since ``since`` in theirs."""
    if not keys and not near and not complaint_boxes:
        return [], []
    near_columns = [list(c) for c in zip(*near, strict=True)] if near else [[]] * 4
    complaint_columns = (
        [list(c) for c in zip(*complaint_boxes, strict=True)] if complaint_boxes else [[]] * 5
    )
    rows = await conn.fetch(
        VICINITY, LOCK_SPACE, list(keys), *near_columns, *complaint_columns, since
    )
    nearby = [store.decode_doc(r["doc"]) for r in rows if r["doc"] is not None]
    complaints = [
        repeats.Complaint(r["id"], r["category"], r["lon"], r["lat"], r["received_at"])
        for r in rows
        if r["doc"] is None
    ]
    return nearby, complaints


class Collator:
    """Intake's dedup and repeat step; give it to :class:`dispatcher.store.journal.IntakeWriter`."""

    def __init__(self, changes: Changes, repeat_rule: repeats.RepeatRule) -> None:
        self._changes = changes
        self._repeat_rule = repeat_rule

    async def __call__(
        self, conn: store.Connection, plans: list[IntakePlan], now: datetime
    ) -> list[IntakePlan]:
        """Collate ``plans``; write the stored incidents that changed; answer what to insert."""
        keys, near_boxes, complaint_boxes = _boxes(plans)
        nearby, complaints = await vicinity(
            conn, keys, near_boxes, complaint_boxes, now - self._repeat_rule.window
        )
        work = self._changes.within(conn, now)
        for _ in range(_ATTEMPTS):
            result = collation.collate(plans, nearby, complaints, self._repeat_rule, now)
            fresh = await self._lock(work, result.changed, nearby)
            if fresh is None:
                break
            nearby = fresh  # an action changed an incident between our read and our lock
        else:
            raise RuntimeError("incidents near the batch kept changing; giving up this batch")
        for incident in result.changed.values():
            work.save(incident)
        for incident_id, note in result.supervisions:
            work.supervise(incident_id, repeats.SUPERVISION_KIND, note, SYSTEM_ACTOR)
        # the rows, their timers and the supervision records; the batch appends the events
        await work.write_rows()
        return result.plans

    async def _lock(
        self, work: Work, changed: dict[str, Incident], nearby: list[Incident]
    ) -> list[Incident] | None:
        """Lock the stored incidents about to change; None if they are as read, else a re-read."""
        if not changed:
            return None
        locked = await work.lock(changed)
        read: dict[str, Incident] = {i.id: i for i in nearby}
        stale = [
            i for i in changed if locked.get(i) is None or locked[i].version != read[i].version
        ]
        if not stale:
            return None
        log.info("incidents %s changed while a batch joined them; deciding again", stale)
        return [
            locked.get(i.id, i) for i in nearby if i.id not in locked or locked[i.id].state.is_open
        ]


def collator(settings: Settings, changes: Changes) -> Collator | None:
    """The collation step intake runs, or None when dedup is switched off."""
    if not settings.dedup:
        return None
    window = timedelta(days=settings.repeat_window_days)
    return Collator(changes, repeats.RepeatRule(settings.repeat_threshold, window))
