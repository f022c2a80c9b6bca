"""The PostgreSQL store: incidents, their history, and reference data.

Queries are named constants beside the functions that run them. JSON columns travel as text
(asyncpg's default for ``jsonb``): documents are encoded once in Python and events are sent to
consoles exactly as stored. Every function takes a connection or the pool; the caller owns
transactions.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import asyncpg

from dispatcher.core import jsontext
from dispatcher.core.incidents import Incident
from realtime.hub import Envelope

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

# -- incidents ---------------------------------------------------------------------------

# The columns an incident document is projected onto (the doc itself is kept whole).
_PROJECTION: Final = """
    d->>'id', d->>'source', d->>'external_id', d->>'category', d->>'state', d->>'priority',
    (d->>'lon')::float8, (d->>'lat')::float8,
    ARRAY(SELECT jsonb_array_elements_text(d->'zone_ids')),
    d->>'squad_id', ARRAY(SELECT jsonb_array_elements_text(d->'support_squad_ids')),
    (d->>'received_at')::timestamptz, (d->>'updated_at')::timestamptz,
    (d->>'deadline')::timestamptz, d->>'duplicate_of', (d->>'version')::int, d"""
_COLUMNS: Final = """id, source, external_id, category, state, priority, lon, lat, zone_ids,
    squad_id, support_squad_ids, received_at, updated_at, deadline, duplicate_of, version, doc"""

#: the incidents of $1 whose key is new, and the timers ($2-$4) of those inserted
INSERT_INCIDENTS: Final = f"""
WITH new AS (
    INSERT INTO incidents ({_COLUMNS})
    SELECT {_PROJECTION} FROM jsonb_array_elements($1::jsonb) AS d
    ON CONFLICT (source, external_id) DO NOTHING
    RETURNING id
), armed AS (
    INSERT INTO timers (incident_id, kind, due_at)
    SELECT t.incident_id, t.kind, t.due_at
    FROM unnest($2::text[], $3::text[], $4::timestamptz[]) AS t(incident_id, kind, due_at)
    WHERE t.incident_id IN (SELECT id FROM new)
)
SELECT id FROM new"""

#: the rows to change are found by their ids through the primary key: joined to the
#: documents alone (a function's rows, which the planner takes for a hundred), a young table
#: was read whole to change a few rows (see test_lifecycle)
UPDATE_INCIDENTS: Final = f"""
UPDATE incidents AS i SET ({_COLUMNS}) = (SELECT {_PROJECTION})
FROM jsonb_array_elements($1::jsonb) AS d
WHERE i.id = ANY(ARRAY(SELECT e->>'id' FROM jsonb_array_elements($1::jsonb) AS e))
  AND i.id = d->>'id'"""

SELECT_INCIDENT: Final = "SELECT doc FROM incidents WHERE id = $1"
SELECT_INCIDENT_FOR_UPDATE: Final = "SELECT doc FROM incidents WHERE id = $1 FOR UPDATE"
SELECT_BY_EXTERNAL: Final = """
SELECT i.doc FROM incidents i
JOIN unnest($1::text[], $2::text[]) AS k(source, external_id)
  ON i.source = k.source AND i.external_id = k.external_id"""
#: per report of a batch, in order: its stored incident, or a new number (migration 0012)
OPEN_BATCH: Final = "SELECT n, doc, number FROM intake_open($1::text[], $2::text[])"


def encode_doc(incident: Incident, tz: Any) -> str:
    return jsontext.compact(incident.to_doc(tz))


#: how many decoded documents :func:`decode_doc` keeps
DECODED_KEPT: Final = 2048


@functools.lru_cache(maxsize=DECODED_KEPT)
def decode_doc(text: str) -> Incident:
    """The incident a stored document holds.

    Intake reads the same open incidents around report after report; an incident is an
    immutable value and a changed one has another text, so the value decoded from a text
    serves every later read of that text (the recent ones are kept).
    """
    return Incident.from_doc(jsontext.read(text))


async def open_batch(
    conn: Connection, keys: Sequence[tuple[str, str] | None]
) -> list[Incident | int]:
    """Per report of a batch (its key, or None): the incident stored under its key, or a
    new incident number when there is none."""
    rows = await conn.fetch(
        OPEN_BATCH, [k[0] if k else None for k in keys], [k[1] if k else None for k in keys]
    )
    if [r["n"] for r in rows] != list(range(1, len(keys) + 1)):
        raise RuntimeError("intake_open answered other rows than the batch's")
    return [decode_doc(r["doc"]) if r["doc"] is not None else int(r["number"]) for r in rows]


async def insert_incidents(
    conn: Connection,
    docs: Sequence[str],
    timers: Sequence[tuple[str, str, datetime]] = (),
) -> set[str]:
    """Insert encoded incidents and arm ``timers`` (incident id, kind, due) of those inserted;
    answer the ids inserted (the others were replays). One statement."""
    ids, kinds, dues = [list(c) for c in zip(*timers, strict=True)] if timers else [[], [], []]
    rows = await conn.fetch(INSERT_INCIDENTS, "[" + ",".join(docs) + "]", ids, kinds, dues)
    return {r["id"] for r in rows}


async def update_incident(conn: Connection, doc: str) -> None:
    await update_incidents(conn, [doc])


async def update_incidents(conn: Connection, docs: Sequence[str]) -> None:
    """Write several changed incidents in one statement."""
    if docs:
        await conn.execute(UPDATE_INCIDENTS, "[" + ",".join(docs) + "]")


async def by_external_ids(
    conn: Connection | Pool, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Incident]:
    rows = await conn.fetch(SELECT_BY_EXTERNAL, [k[0] for k in keys], [k[1] for k in keys])
    found = {}
    for row in rows:
        incident = decode_doc(row["doc"])
        found[(incident.source.value, incident.external_id or "")] = incident
    return found


async def get_incident(
    conn: Connection | Pool, incident_id: str, *, for_update: bool = False
) -> Incident | None:
    query = SELECT_INCIDENT_FOR_UPDATE if for_update else SELECT_INCIDENT
    doc = await conn.fetchval(query, incident_id)
    return None if doc is None else decode_doc(doc)


@dataclass(frozen=True)
class IncidentFilter:
    states: tuple[str, ...] = ()
    #: incidents of any of these squads, main or support (None: of any squad)
    squad_ids: frozenset[str] | None = None
    zone_id: str | None = None
    since: datetime | None = None
    category: str | None = None
    limit: int = 200
    before_id: str | None = None


async def list_incidents(pool: Pool, f: IncidentFilter) -> list[str]:
    """Incident documents (encoded) matching ``f``, newest first."""
    clauses: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if f.states:
        clauses.append(f"state = ANY({arg(list(f.states))}::text[])")
    if f.squad_ids is not None:
        p = arg(sorted(f.squad_ids))
        clauses.append(f"(squad_id = ANY({p}::text[]) OR support_squad_ids && {p}::text[])")
    if f.zone_id is not None:
        clauses.append(f"zone_ids @> ARRAY[{arg(f.zone_id)}]::text[]")
    if f.since is not None:
        clauses.append(f"updated_at >= {arg(f.since)}")
    if f.category is not None:
        clauses.append(f"category = {arg(f.category)}")
    if f.before_id is not None:
        clauses.append(f"id < {arg(f.before_id)}")
    where = " AND ".join(clauses) or "TRUE"
    query = (
        f"SELECT doc FROM incidents WHERE {where} "
        # by id, which grows with creation: paging with `before` then never skips an incident
        f"ORDER BY id DESC LIMIT {arg(f.limit)}"
    )
    return [r["doc"] for r in await pool.fetch(query, *args)]


# -- history ---------------------------------------------------------------------------

#: take the history lock, number, hash onto the chain and insert (migration 0008); answers
#: the seqs
APPEND_HISTORY: Final = """
SELECT history_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"""
SELECT_HISTORY_OF: Final = """
SELECT seq, type, action, actor, actor_role, at, state_before, state_after, detail
FROM history WHERE incident_id = $1 ORDER BY seq"""
MAX_SEQ: Final = "SELECT coalesce(max(seq), 0) FROM history"
SELECT_RANGE_ALL: Final = """
SELECT seq, topics, event FROM history WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"""
SELECT_RANGE_TOPICS: Final = """
SELECT seq, topics, event FROM history
WHERE seq > $1 AND seq <= $2 AND topics && $4::text[] ORDER BY seq LIMIT $3"""


async def max_seq(conn: Connection | Pool) -> int:
    value = await conn.fetchval(MAX_SEQ)
    return int(value)


async def read_range(
    conn: Connection | Pool,
    after: int,
    upto: int,
    *,
    topics: Sequence[str] | None = None,
    limit: int = 1000,
) -> list[Envelope]:
    """Events with ``after < seq <= upto`` (of ``topics`` if given), in order, ``limit`` at most.

    With ``topics``, exactly the events a live subscriber of them gets: ``all`` is a topic like
    the others (an event for a squad only, ``dispatch.assigned``, does not carry it).
    """
    if topics is None:
        rows = await conn.fetch(SELECT_RANGE_ALL, after, upto, limit)
    else:
        rows = await conn.fetch(SELECT_RANGE_TOPICS, after, upto, limit, list(topics))
    return [Envelope(r["seq"], tuple(r["topics"]), r["event"]) for r in rows]


async def history_of(conn: Connection | Pool, incident_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(SELECT_HISTORY_OF, incident_id)
    return [
        {
            "seq": r["seq"],
            "type": r["type"],
            "action": r["action"],
            "actor": r["actor"],
            "actor_role": r["actor_role"],
            "at": r["at"],
            "state_before": r["state_before"],
            "state_after": r["state_after"],
            "detail": json.loads(r["detail"]),
        }
        for r in rows
    ]
