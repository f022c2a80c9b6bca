"""Units in PostgreSQL: their records and statuses, and their load (migration 0004).

Positions are not here (they live in Redis, ``realtime.positions``). Every function takes a
connection or the pool; the caller owns transactions. :func:`assign` is called by the
``dispatch`` action inside its transaction, so that the incident and the unit change together.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from dispatcher.core.units import Unit, UnitIn, UnitStatus, check_assignment
from dispatcher.store import records as store

_FIELDS: Final = "id, squad_id, name, skills, status, status_at, status_by"
SELECT_UNIT: Final = f"SELECT {_FIELDS} FROM units WHERE id = $1"
SELECT_UNIT_FOR_UPDATE: Final = f"SELECT {_FIELDS} FROM units WHERE id = $1 FOR UPDATE"
SELECT_ALL_UNITS: Final = f"SELECT {_FIELDS} FROM units ORDER BY squad_id, id"
SELECT_SQUAD_UNITS: Final = (
    f"SELECT {_FIELDS} FROM units WHERE squad_id = ANY($1::text[]) ORDER BY squad_id, id"
)
UPSERT_UNIT: Final = f"""
INSERT INTO units (id, squad_id, name, skills, status, status_at, status_by, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $6)
ON CONFLICT (id) DO UPDATE SET squad_id = excluded.squad_id, name = excluded.name,
    skills = excluded.skills, status = excluded.status,
    status_at = CASE WHEN units.status = excluded.status THEN units.status_at
                     ELSE excluded.status_at END,
    status_by = CASE WHEN units.status = excluded.status THEN units.status_by
                     ELSE excluded.status_by END,
    updated_at = excluded.updated_at
RETURNING (xmax = 0) AS created, {_FIELDS}"""
SET_STATUS: Final = f"""
UPDATE units SET status = $2, status_at = $3, status_by = $4, updated_at = $3
WHERE id = $1 RETURNING {_FIELDS}"""
# the predicate is the one of the partial index incidents_unit_load (migration 0004)
SELECT_LOADS: Final = """
SELECT doc->>'unit_id' AS unit_id, count(*) AS load FROM incidents
WHERE state IN ('dispatched', 'accepted') AND doc->>'unit_id' = ANY($1::text[])
GROUP BY 1"""


def _unit(row: Any) -> Unit:
    return Unit(
        id=row["id"],
        squad_id=row["squad_id"],
        name=row["name"],
        skills=tuple(row["skills"]),
        status=UnitStatus(row["status"]),
        status_at=row["status_at"],
        status_by=row["status_by"],
    )


async def get_unit(
    conn: store.Connection | store.Pool, unit_id: str, *, for_update: bool = False
) -> Unit | None:
    row = await conn.fetchrow(SELECT_UNIT_FOR_UPDATE if for_update else SELECT_UNIT, unit_id)
    return None if row is None else _unit(row)


async def list_units(
    conn: store.Connection | store.Pool, squad_ids: Sequence[str] | None = None
) -> list[Unit]:
    """Every unit, or those of ``squad_ids``, by squad and id."""
    if squad_ids is None:
        rows = await conn.fetch(SELECT_ALL_UNITS)
    else:
        rows = await conn.fetch(SELECT_SQUAD_UNITS, list(squad_ids))
    return [_unit(r) for r in rows]


async def put_unit(
    conn: store.Connection | store.Pool, unit_id: str, body: UnitIn, actor: str, now: datetime
) -> tuple[Unit, bool]:
    """Create or replace a unit; answer it and whether it was created. The status time
    changes only when the status does."""
    row = await conn.fetchrow(
        UPSERT_UNIT,
        unit_id,
        body.squad_id,
        body.name,
        list(dict.fromkeys(body.skills)),
        body.status.value,
        now,
        actor,
    )
    assert row is not None
    return _unit(row), bool(row["created"])


async def set_status(
    conn: store.Connection | store.Pool,
    unit_id: str,
    status: UnitStatus,
    actor: str,
    now: datetime,
) -> Unit | None:
    """Change a unit's status; answer the unit, or None when there is no such unit."""
    row = await conn.fetchrow(SET_STATUS, unit_id, status.value, now, actor)
    return None if row is None else _unit(row)


async def loads(conn: store.Connection | store.Pool, unit_ids: Sequence[str]) -> dict[str, int]:
    """Open incidents (dispatched or accepted) held by each unit; absent means none."""
    if not unit_ids:
        return {}
    rows = await conn.fetch(SELECT_LOADS, list(unit_ids))
    return {r["unit_id"]: int(r["load"]) for r in rows}


async def assign(
    conn: store.Connection, unit_id: str, squad_ids: Sequence[str], actor: str, now: datetime
) -> Unit:
    """Give a dispatched incident to a unit, inside the dispatch's transaction: lock the unit,
    check it may take it (``units.check_assignment``, 422 naming ``unit_id``), and mark it
    en route. The caller announces the changed unit once the transaction has committed."""
    unit = check_assignment(await get_unit(conn, unit_id, for_update=True), unit_id, squad_ids)
    changed = await set_status(conn, unit.id, UnitStatus.EN_ROUTE, actor, now)
    assert changed is not None
    return changed
