"""Supervision items (督办单) in PostgreSQL: their rows, replies, the intake hook, the warnings.

Every step of an item goes through the one change path (``dispatcher.store.changes``)::

    async with changes.begin() as work:          # BEGIN
        item = await lock(work.conn, item_id)    # FOR UPDATE
        decision = core.reply(item, ...)         # the pure core decides
        await save(work.conn, decision.item)     # the row (and reply / review rows)
        work.record([decision.step])             # the step, appended to the history last
    # committed, then published to the item's, its incidents' and its tiers' topics

An item changes no incident, so no incident is locked; the step is appended to the
hash-chained history with the item as its subject (``dispatcher.core.events.Entry``).

:class:`Opener` is intake's ``follow`` hook (``journal.IntakeWriter``): in the batch's own
transaction, after its incidents are inserted, it opens an item for each new incident from a
``leader`` or ``media`` source (two statements, only for batches that hold one) and answers the
opening steps, which the batch appends with its own events.

:class:`WarningLoop` fires the items' yellow and red warnings when due, like the timer loop:
due rows taken with ``FOR UPDATE SKIP LOCKED``, so that each fires once across processes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

from dispatcher.core import supervision as core
from dispatcher.core.clocks import Colour
from dispatcher.core.deadlines import Rules
from dispatcher.core.events import Entry
from dispatcher.core.intake import IntakePlan
from dispatcher.core.routing import Squad
from dispatcher.store import records as store
from dispatcher.store.changes import Changes
from dispatcher.store.due_loop import DueLoop

log = logging.getLogger(__name__)

COLUMNS: Final = """id, kind, doc_no, doc_text, title, incident_ids, tier_id, state, colour,
opened_at, opened_by, opened_by_name, deadline, yellow_at, escalated_to, round, closed_at,
updated_at, version"""
NEXT_NUMBERS: Final = "SELECT nextval('supervision_item_no') FROM generate_series(1, $1)"
INSERT_ITEMS: Final = f"""
INSERT INTO supervision_items ({COLUMNS}, due_at)
SELECT t.id, t.kind, t.doc_no, t.doc_text, t.title,
       ARRAY(SELECT jsonb_array_elements_text(t.incident_ids)), t.tier_id, t.state, t.colour,
       t.opened_at, t.opened_by, t.opened_by_name, t.deadline, t.yellow_at,
       ARRAY(SELECT jsonb_array_elements_text(t.escalated_to)), t.round, t.closed_at,
       t.updated_at, t.version, t.due_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[],
            $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::text[], $12::text[],
            $13::timestamptz[], $14::timestamptz[], $15::jsonb[], $16::int[],
            $17::timestamptz[], $18::timestamptz[], $19::int[], $20::timestamptz[])
    AS t(id, kind, doc_no, doc_text, title, incident_ids, tier_id, state, colour, opened_at,
         opened_by, opened_by_name, deadline, yellow_at, escalated_to, round, closed_at,
         updated_at, version, due_at)"""
UPDATE_ITEM: Final = """
UPDATE supervision_items SET state = $2, colour = $3, deadline = $4, yellow_at = $5,
    escalated_to = $6, round = $7, closed_at = $8, updated_at = $9, version = $10, due_at = $11,
    tier_id = $12
WHERE id = $1"""
SELECT_ITEM: Final = f"SELECT {COLUMNS} FROM supervision_items WHERE id = $1"
LOCK_ITEM: Final = f"SELECT {COLUMNS} FROM supervision_items WHERE id = $1 FOR UPDATE"
INSERT_REPLY: Final = """
INSERT INTO supervision_replies (item_id, round, text, attachments, replied_at, replied_by,
                                 replied_by_name)
VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)"""
REVIEW_REPLY: Final = """
UPDATE supervision_replies SET verdict = $3, reason = $4, reviewed_at = $5, reviewed_by = $6,
    reviewed_by_name = $7
WHERE item_id = $1 AND round = $2"""
SELECT_REPLIES: Final = """
SELECT round, text, attachments, replied_at, replied_by, replied_by_name, verdict, reason,
       reviewed_at, reviewed_by, reviewed_by_name
FROM supervision_replies WHERE item_id = $1 ORDER BY round"""
#: the queue: $1 states (NULL: all), $2 colours, $3 tiers (NULL: all), $4 limit, $5 incident
SELECT_QUEUE: Final = f"""
SELECT {COLUMNS} FROM supervision_items
WHERE ($1::text[] IS NULL OR state = ANY($1))
  AND ($2::text[] IS NULL OR colour = ANY($2))
  AND ($3::text[] IS NULL OR tier_id = ANY($3))
  AND ($5::text IS NULL OR incident_ids @> ARRAY[$5::text])
ORDER BY (state IN ('accepted', 'closed')), deadline, id
LIMIT $4"""
DUE_ITEMS: Final = """
SELECT id FROM supervision_items WHERE due_at <= $1 ORDER BY due_at LIMIT $2"""
TAKE_DUE: Final = f"""
SELECT {COLUMNS} FROM supervision_items
WHERE id = ANY($1::text[]) AND due_at <= $2 ORDER BY id FOR UPDATE SKIP LOCKED"""
SQUADS_OF: Final = "SELECT id, squad_id FROM incidents WHERE id = ANY($1::text[])"
NEXT_DUE: Final = "SELECT min(due_at) FROM supervision_items WHERE due_at IS NOT NULL"


def item_id(number: int, now: datetime, tz: tzinfo) -> str:
    """督办编号: DB, the local date and a deployment-wide number (never an incident's id)."""
    return f"DB{now.astimezone(tz):%Y%m%d}{number:06d}"


def _decode(row: Any) -> core.Item:
    return core.Item(
        id=row["id"],
        kind=core.Kind(row["kind"]),
        doc_no=row["doc_no"],
        doc_text=row["doc_text"],
        title=row["title"],
        incident_ids=tuple(row["incident_ids"]),
        tier_id=row["tier_id"],
        state=core.State(row["state"]),
        colour=Colour(row["colour"]),
        opened_at=row["opened_at"],
        opened_by=row["opened_by"],
        opened_by_name=row["opened_by_name"],
        deadline=row["deadline"],
        yellow_at=row["yellow_at"],
        escalated_to=tuple(row["escalated_to"]),
        round=row["round"],
        closed_at=row["closed_at"],
        updated_at=row["updated_at"],
        version=row["version"],
    )


async def next_ids(conn: store.Connection, count: int, now: datetime, tz: tzinfo) -> list[str]:
    numbers = await conn.fetch(NEXT_NUMBERS, count)
    return [item_id(r[0], now, tz) for r in numbers]


async def insert(conn: store.Connection, items: Sequence[core.Item]) -> None:
    """Insert new items (one statement)."""
    columns: list[list[Any]] = [[] for _ in range(20)]
    for item in items:
        values = (
            item.id,
            item.kind.value,
            item.doc_no,
            item.doc_text,
            item.title,
            json.dumps(list(item.incident_ids)),
            item.tier_id,
            item.state.value,
            item.colour.value,
            item.opened_at,
            item.opened_by,
            item.opened_by_name,
            item.deadline,
            item.yellow_at,
            json.dumps(list(item.escalated_to)),
            item.round,
            item.closed_at,
            item.updated_at or item.opened_at,
            item.version,
            item.due_at,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    await conn.execute(INSERT_ITEMS, *columns)


async def save(conn: store.Connection, item: core.Item) -> None:
    """Write a changed item's row (its state, colour, clock, escalation, answering tier and
    next due)."""
    await conn.execute(
        UPDATE_ITEM,
        item.id,
        item.state.value,
        item.colour.value,
        item.deadline,
        item.yellow_at,
        list(item.escalated_to),
        item.round,
        item.closed_at,
        item.updated_at,
        item.version,
        item.due_at,
        item.tier_id,
    )


async def get(conn: store.Connection | store.Pool, item_id: str) -> core.Item | None:
    row = await conn.fetchrow(SELECT_ITEM, item_id)
    return _decode(row) if row is not None else None


async def lock(conn: store.Connection, item_id: str) -> core.Item | None:
    """The item, locked for the rest of the transaction; None if there is none."""
    row = await conn.fetchrow(LOCK_ITEM, item_id)
    return _decode(row) if row is not None else None


async def queue(
    conn: store.Connection | store.Pool,
    *,
    states: Sequence[str] | None,
    colours: Sequence[str] | None,
    tiers: Sequence[str] | None,
    incident_id: str | None,
    limit: int,
) -> list[core.Item]:
    rows = await conn.fetch(
        SELECT_QUEUE,
        list(states) if states is not None else None,
        list(colours) if colours is not None else None,
        list(tiers) if tiers is not None else None,
        limit,
        incident_id,
    )
    return [_decode(r) for r in rows]


async def add_reply(conn: store.Connection, step: core.Step) -> None:
    """The reply a ``supervision.replied`` step gave, as its row."""
    detail = step.detail
    await conn.execute(
        INSERT_REPLY,
        step.item.id,
        step.item.round,
        detail["text"],
        json.dumps(detail["attachments"]),
        step.at,
        step.actor,
        detail["actor_name"],
    )


async def add_review(conn: store.Connection, step: core.Step) -> None:
    """The verdict an accepted or returned step gave on the reply it reviewed."""
    verdict = "accepted" if step.type is core.StepType.ACCEPTED else "returned"
    await conn.execute(
        REVIEW_REPLY,
        step.item.id,
        step.detail["round"],
        verdict,
        step.detail.get("reason"),
        step.at,
        step.actor,
        step.detail["actor_name"],
    )


async def replies(conn: store.Connection | store.Pool, item_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(SELECT_REPLIES, item_id)
    return [{**dict(r), "attachments": json.loads(r["attachments"])} for r in rows]


class Opener:
    """Intake's ``follow`` hook: an item for each new incident from a leader or media source."""

    def __init__(self, rules: Callable[[], Rules], days: Mapping[str, float]) -> None:
        """``days``: the working days of each kind (``Settings.supervision_days``)."""
        self._rules = rules
        self._days = {core.Kind(kind): n for kind, n in days.items()}

    async def __call__(
        self, conn: store.Connection, plans: list[IntakePlan], now: datetime
    ) -> list[Entry]:
        opening = [p.incident for p in plans if p.incident.source.value in core.AUTO_KINDS]
        if not opening:
            return []  # the common case costs one pass over the batch, no statement
        # a report that joined an open incident (dedup) puts that incident under supervision
        joined = [i.duplicate_of for i in opening if i.duplicate_of]
        squads: dict[str, str | None] = {}
        if joined:
            rows = await conn.fetch(SQUADS_OF, joined)
            squads = {r["id"]: r["squad_id"] for r in rows}
        rules = self._rules()
        ids = await next_ids(conn, len(opening), now, rules.calendar.tz)
        decisions = [
            core.open_for_incident(
                new_id,
                incident.duplicate_of or incident.id,
                incident.source.value,
                squads.get(incident.duplicate_of) if incident.duplicate_of else incident.squad_id,
                incident.description,
                now,
                rules.calendar,
                rules.warn_at,
                self._days,
            )
            for new_id, incident in zip(ids, opening, strict=True)
        ]
        await insert(conn, [d.item for d in decisions])
        return [d.step for d in decisions]


class WarningLoop(DueLoop):
    """Fires the items' due warnings until cancelled; one per process, sharing the work."""

    name = "supervision warning loop"
    next_due_query = NEXT_DUE

    def __init__(
        self,
        pool: store.Pool,
        changes: Changes,
        squads: Callable[[], Mapping[str, Squad]],
        *,
        batch: int = 100,
        idle_s: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(pool, batch=batch, idle_s=idle_s, clock=clock)
        self._changes = changes
        self._squads = squads

    async def run_once(self) -> int:
        """Fire what is due now; answer how many items gave a warning."""
        now = self._clock()
        ids = [r["id"] for r in await self._pool.fetch(DUE_ITEMS, now, self._batch)]
        if not ids:
            return 0
        squads = self._squads()
        fired = 0
        async with self._changes.begin(now=now) as work:
            for row in await work.conn.fetch(TAKE_DUE, ids, now):
                item = _decode(row)
                decision = core.fire(item, now, squads)
                if decision is None:
                    # not owed (a deadline moved since it was armed): arm it at what it is now
                    await save(work.conn, item)
                    continue
                await save(work.conn, decision.item)
                work.record([decision.step])
                fired += 1
        return fired
