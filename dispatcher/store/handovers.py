"""Hand-overs (移送) in PostgreSQL: the rows of ``handovers`` (migration 0023).

A row is a projection of the incident's history: every step changes the incident through the
one change path (``dispatcher.store.changes``) and writes the row in the same transaction::

    async with rt.changes.begin([incident_id]) as work:   # the incident locked
        h = await lock(work.conn, handover_id)            # FOR UPDATE
        decision = departments.act(incident, h, ...)      # the pure core decides
        work.save(decision.incident)
        await save(work.conn, decision.handover)          # the row
        work.record([decision.event])                     # the incident's history
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any, Final

from dispatcher.core.handover import Handover, HandoverState
from dispatcher.store import records as store

COLUMNS: Final = """id, incident_id, department, squad_id, reason, state, handed_at, handed_by,
decided_at, decided_by, receipt_no, refusal_reason, reported_at, result, ended_at, ended_by,
department_held_s, centre_held_s, updated_at"""
NEXT_NUMBER: Final = "SELECT nextval('handover_no')"
UPSERT: Final = f"""
INSERT INTO handovers ({COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
ON CONFLICT (id) DO UPDATE SET state = $6, decided_at = $9, decided_by = $10, receipt_no = $11,
    refusal_reason = $12, reported_at = $13, result = $14, ended_at = $15, ended_by = $16,
    department_held_s = $17, centre_held_s = $18, updated_at = $19"""
SELECT_ONE: Final = f"SELECT {COLUMNS} FROM handovers WHERE id = $1"
LOCK_ONE: Final = f"SELECT {COLUMNS} FROM handovers WHERE id = $1 FOR UPDATE"
#: $1 departments (NULL: all), $2 states (NULL: all), $3 incident (NULL: all), $4 limit
SELECT_LIST: Final = f"""
SELECT {COLUMNS} FROM handovers
WHERE ($1::text[] IS NULL OR department = ANY($1))
  AND ($2::text[] IS NULL OR state = ANY($2))
  AND ($3::text IS NULL OR incident_id = $3)
ORDER BY handed_at DESC, id DESC LIMIT $4"""
#: the hand-overs of a period (handed over in [$1, $2))
SELECT_PERIOD: Final = f"""
SELECT {COLUMNS} FROM handovers WHERE handed_at >= $1 AND handed_at < $2 ORDER BY handed_at"""
DEPARTMENT_OF_TOKEN: Final = "SELECT department FROM tokens WHERE id = $1 AND revoked_at IS NULL"
SET_TOKEN_DEPARTMENT: Final = "UPDATE tokens SET department = $2 WHERE id = $1"


def handover_id(number: int, now: datetime, tz: tzinfo) -> str:
    """移送单号: YS, the local date and a deployment-wide number (never an incident's id)."""
    return f"YS{now.astimezone(tz):%Y%m%d}{number:06d}"


async def next_id(conn: store.Connection, now: datetime, tz: tzinfo) -> str:
    return handover_id(int(await conn.fetchval(NEXT_NUMBER)), now, tz)


def _decode(row: Any, support: Sequence[str] = ()) -> Handover:
    return Handover(
        id=row["id"],
        incident_id=row["incident_id"],
        department=row["department"],
        reason=row["reason"],
        state=HandoverState(row["state"]),
        handed_at=row["handed_at"],
        handed_by=row["handed_by"],
        squad_id=row["squad_id"],
        support_squad_ids=tuple(support),
        decided_at=row["decided_at"],
        decided_by=row["decided_by"],
        receipt_no=row["receipt_no"],
        refusal_reason=row["refusal_reason"],
        reported_at=row["reported_at"],
        result=row["result"],
        ended_at=row["ended_at"],
        ended_by=row["ended_by"],
        department_held_s=row["department_held_s"],
        centre_held_s=row["centre_held_s"],
        updated_at=row["updated_at"],
    )


async def save(conn: store.Connection, h: Handover) -> None:
    """Write the row of ``h`` (insert or update), in the caller's transaction."""
    await conn.execute(
        UPSERT,
        h.id,
        h.incident_id,
        h.department,
        h.squad_id,
        h.reason,
        h.state.value,
        h.handed_at,
        h.handed_by,
        h.decided_at,
        h.decided_by,
        h.receipt_no,
        h.refusal_reason,
        h.reported_at,
        h.result,
        h.ended_at,
        h.ended_by,
        h.department_held_s,
        h.centre_held_s,
        h.updated_at or h.handed_at,
    )


async def get(conn: store.Connection | store.Pool, handover_id: str) -> Handover | None:
    row = await conn.fetchrow(SELECT_ONE, handover_id)
    return None if row is None else _decode(row)


async def incident_of(pool: store.Pool, handover_id: str) -> str | None:
    found = await get(pool, handover_id)
    return None if found is None else found.incident_id


async def listed(
    pool: store.Pool,
    departments: Sequence[str] | None,
    states: Sequence[str] | None,
    incident_id: str | None,
    limit: int,
) -> list[Handover]:
    rows = await pool.fetch(
        SELECT_LIST,
        None if departments is None else list(departments),
        None if states is None else list(states),
        incident_id,
        limit,
    )
    return [_decode(r) for r in rows]


async def of_period(pool: store.Pool, start: datetime, end: datetime) -> list[Handover]:
    return [_decode(r) for r in await pool.fetch(SELECT_PERIOD, start, end)]


async def token_department(pool: store.Pool, token_id: str) -> str | None:
    """The department a token speaks for (None: none, or not a token)."""
    value = await pool.fetchval(DEPARTMENT_OF_TOKEN, token_id)
    return str(value) if value else None


async def set_token_department(pool: store.Pool, token_id: str, department: str) -> None:
    await pool.execute(SET_TOKEN_DEPARTMENT, token_id, department)
