"""Regulated places (监管对象) in PostgreSQL: written, found by name, code or point, and their
history (the inspection tasks of each, with the findings and the incidents they became).

A place's id is the bureau's code; writing a place again (a sheet sent again) updates it and
keeps when it was first written.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any, Final

from dispatcher.core.places import Kind, Place, Risk
from dispatcher.store import records as store

COLUMNS: Final = """id, name, kind, address, lon, lat, zone_ids, squad_id, licences, departments,
risk, qr_code, owner, created_at, updated_at"""
UPSERT: Final = f"""
INSERT INTO places ({COLUMNS})
SELECT t.id, t.name, t.kind, t.address, t.lon, t.lat,
       ARRAY(SELECT jsonb_array_elements_text(t.zone_ids)), t.squad_id,
       ARRAY(SELECT jsonb_array_elements_text(t.licences)),
       ARRAY(SELECT jsonb_array_elements_text(t.departments)),
       t.risk, t.qr_code, t.owner, t.created_at, t.updated_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[],
            $7::jsonb[], $8::text[], $9::jsonb[], $10::jsonb[], $11::text[], $12::text[],
            $13::text[], $14::timestamptz[], $15::timestamptz[])
    AS t(id, name, kind, address, lon, lat, zone_ids, squad_id, licences, departments, risk,
         qr_code, owner, created_at, updated_at)
ON CONFLICT (id) DO UPDATE SET
    name = EXCLUDED.name, kind = EXCLUDED.kind, address = EXCLUDED.address,
    lon = EXCLUDED.lon, lat = EXCLUDED.lat, zone_ids = EXCLUDED.zone_ids,
    squad_id = EXCLUDED.squad_id, licences = EXCLUDED.licences,
    departments = EXCLUDED.departments, risk = EXCLUDED.risk, qr_code = EXCLUDED.qr_code,
    owner = EXCLUDED.owner, updated_at = EXCLUDED.updated_at
RETURNING (xmax = 0) AS inserted"""
SELECT_PLACE: Final = f"SELECT {COLUMNS} FROM places WHERE id = $1"
SELECT_PLACES: Final = f"SELECT {COLUMNS} FROM places WHERE id = ANY($1::text[]) ORDER BY id"
#: the places of these squads (NULL: every place), for a plan's population
SELECT_OF_SQUADS: Final = f"""
SELECT {COLUMNS} FROM places WHERE ($1::text[] IS NULL OR squad_id = ANY($1)) ORDER BY id"""
#: $1 text (name, code, licence or 亮码 code; NULL: any), $2 kind, $3 squads (NULL: all),
#: $4 lon, $5 lat, $6 radius in metres (NULL: anywhere), $7 limit. Distances are
#: equirectangular, within a metre at a few kilometres.
SEARCH: Final = f"""
SELECT {COLUMNS}, d.metres FROM places,
LATERAL (SELECT CASE WHEN $4::float8 IS NULL THEN NULL ELSE 6371008.8 * sqrt(
    power(radians(lat - $5::float8), 2)
    + power(radians(lon - $4::float8) * cos(radians(($5::float8 + lat) / 2)), 2)) END
    AS metres) d
WHERE ($1::text IS NULL OR strpos(lower(name), lower($1)) > 0 OR id = $1 OR qr_code = upper($1)
       OR $1 = ANY(licences))
  AND ($2::text IS NULL OR kind = $2)
  AND ($3::text[] IS NULL OR squad_id = ANY($3))
  AND ($6::float8 IS NULL OR d.metres <= $6)
ORDER BY d.metres NULLS LAST, id
LIMIT $7"""


def _decode(row: Any) -> Place:
    return Place(
        id=row["id"],
        name=row["name"],
        kind=Kind(row["kind"]),
        address=row["address"],
        lon=row["lon"],
        lat=row["lat"],
        zone_ids=tuple(row["zone_ids"]),
        squad_id=row["squad_id"],
        licences=tuple(row["licences"]),
        departments=tuple(row["departments"]),
        risk=Risk(row["risk"]),
        qr_code=row["qr_code"],
        owner=row["owner"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def upsert(conn: store.Connection | store.Pool, places: Sequence[Place]) -> int:
    """Write these places (one statement); answer how many were new."""
    columns: list[list[Any]] = [[] for _ in range(15)]
    for p in places:
        values = (
            p.id,
            p.name,
            p.kind.value,
            p.address,
            p.lon,
            p.lat,
            json.dumps(list(p.zone_ids)),
            p.squad_id,
            json.dumps(list(p.licences)),
            json.dumps(list(p.departments)),
            p.risk.value,
            p.qr_code,
            p.owner,
            p.created_at,
            p.updated_at,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    rows = await conn.fetch(UPSERT, *columns)
    return sum(1 for r in rows if r["inserted"])


async def get(conn: store.Connection | store.Pool, place_id: str) -> Place | None:
    row = await conn.fetchrow(SELECT_PLACE, place_id)
    return _decode(row) if row is not None else None


async def many(conn: store.Connection | store.Pool, ids: Collection[str]) -> dict[str, Place]:
    return {r["id"]: _decode(r) for r in await conn.fetch(SELECT_PLACES, list(ids))}


async def of_squads(
    conn: store.Connection | store.Pool, squads: Collection[str] | None
) -> list[Place]:
    rows = await conn.fetch(SELECT_OF_SQUADS, sorted(squads) if squads is not None else None)
    return [_decode(r) for r in rows]


async def search(
    conn: store.Connection | store.Pool,
    *,
    text: str | None,
    kind: str | None,
    squads: Collection[str] | None,
    near: tuple[float, float] | None,
    radius_m: float | None,
    limit: int,
) -> list[tuple[Place, float | None]]:
    """Places by name, code, licence or 亮码 code, kind, squads, and distance from a point
    (nearest first when a point is given); each with its distance in metres."""
    lon, lat = near if near is not None else (None, None)
    rows = await conn.fetch(
        SEARCH,
        text,
        kind,
        sorted(squads) if squads is not None else None,
        lon,
        lat,
        radius_m if near is not None else None,
        limit,
    )
    return [(_decode(r), r["metres"]) for r in rows]
