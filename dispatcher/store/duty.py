"""Duty (勤务) in PostgreSQL: posts, shifts, rosters and check-ins (migration 0023).

The rows are read whole (a deployment's posts, shifts and rosters are a few hundred rows); who
is on duty is computed from them by ``dispatcher.core.duty``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from dispatcher.core import duty as core
from dispatcher.store import records as store

UPSERT_POST: Final = """
INSERT INTO duty_posts (id, squad_id, name, place, joint_police, police_unit, updated_at,
                        updated_by)
VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8)
ON CONFLICT (id) DO UPDATE SET squad_id = $2, name = $3, place = $4::jsonb, joint_police = $5,
    police_unit = $6, updated_at = $7, updated_by = $8
RETURNING (xmax = 0) AS created"""
UPSERT_SHIFT: Final = """
INSERT INTO duty_shifts (id, squad_id, name, starts, ends, updated_at, updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (id) DO UPDATE SET squad_id = $2, name = $3, starts = $4, ends = $5,
    updated_at = $6, updated_by = $7
RETURNING (xmax = 0) AS created"""
UPSERT_ROSTER: Final = """
INSERT INTO duty_rosters (id, squad_id, name, starts_on, ends_on, cycle_days, pattern, members,
                          updated_at, updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10)
ON CONFLICT (id) DO UPDATE SET squad_id = $2, name = $3, starts_on = $4, ends_on = $5,
    cycle_days = $6, pattern = $7::jsonb, members = $8::jsonb, updated_at = $9, updated_by = $10
RETURNING (xmax = 0) AS created"""
#: $1 squads (NULL: all)
SELECT_POSTS: Final = """
SELECT id, squad_id, name, place, joint_police, police_unit FROM duty_posts
WHERE ($1::text[] IS NULL OR squad_id = ANY($1)) ORDER BY squad_id, id"""
SELECT_POST: Final = """
SELECT id, squad_id, name, place, joint_police, police_unit FROM duty_posts WHERE id = $1"""
SELECT_SHIFTS: Final = """
SELECT id, squad_id, name, starts, ends FROM duty_shifts
WHERE ($1::text[] IS NULL OR squad_id = ANY($1)) ORDER BY squad_id, starts, id"""
SELECT_ROSTERS: Final = """
SELECT id, squad_id, name, starts_on, ends_on, cycle_days, pattern, members FROM duty_rosters
WHERE ($1::text[] IS NULL OR squad_id = ANY($1)) ORDER BY squad_id, id"""
ROSTERED_SQUADS: Final = "SELECT DISTINCT squad_id FROM duty_rosters WHERE squad_id = ANY($1)"
INSERT_CHECK_IN: Final = """
INSERT INTO duty_check_ins (person_id, post_id, squad_id, shift_id, shift_starts_at, at, lon,
                            lat, distance_m, accepted, late, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id"""
#: accepted check-ins since $1 (the earliest start of the stints running), of people $2
SELECT_CHECKED_IN: Final = """
SELECT DISTINCT person_id, post_id, shift_starts_at FROM duty_check_ins
WHERE accepted AND at >= $1 AND person_id = ANY($2::text[])"""


def _post(row: Any) -> core.Post:
    return core.Post(
        row["id"],
        row["squad_id"],
        row["name"],
        json.loads(row["place"]),
        row["joint_police"],
        row["police_unit"],
    )


def _roster(row: Any) -> core.Roster:
    pattern = json.loads(row["pattern"])
    members = json.loads(row["members"])
    return core.Roster(
        id=row["id"],
        squad_id=row["squad_id"],
        name=row["name"],
        starts_on=row["starts_on"],
        ends_on=row["ends_on"],
        cycle_days=row["cycle_days"],
        pattern={str(t): tuple(d) for t, d in pattern.items()},
        members=tuple(core.Member(m["person_id"], m["team"], m["post_id"]) for m in members),
    )


async def put_post(pool: store.Pool, post: core.Post, by: str, now: datetime) -> bool:
    """Create or replace a post; answer whether it was created."""
    return bool(
        await pool.fetchval(
            UPSERT_POST,
            post.id,
            post.squad_id,
            post.name,
            json.dumps(dict(post.place)),
            post.joint_police,
            post.police_unit,
            now,
            by,
        )
    )


async def put_shift(pool: store.Pool, shift: core.Shift, by: str, now: datetime) -> bool:
    return bool(
        await pool.fetchval(
            UPSERT_SHIFT, shift.id, shift.squad_id, shift.name, shift.starts, shift.ends, now, by
        )
    )


async def put_roster(pool: store.Pool, roster: core.Roster, by: str, now: datetime) -> bool:
    doc = roster.to_json()
    return bool(
        await pool.fetchval(
            UPSERT_ROSTER,
            roster.id,
            roster.squad_id,
            roster.name,
            roster.starts_on,
            roster.ends_on,
            roster.cycle_days,
            json.dumps(doc["pattern"]),
            json.dumps(doc["members"], ensure_ascii=False),
            now,
            by,
        )
    )


def _squads(squad_ids: Iterable[str] | None) -> list[str] | None:
    return None if squad_ids is None else sorted(squad_ids)


async def posts(pool: store.Pool, squad_ids: Iterable[str] | None = None) -> list[core.Post]:
    return [_post(r) for r in await pool.fetch(SELECT_POSTS, _squads(squad_ids))]


async def post(pool: store.Pool, post_id: str) -> core.Post | None:
    row = await pool.fetchrow(SELECT_POST, post_id)
    return None if row is None else _post(row)


async def shifts(pool: store.Pool, squad_ids: Iterable[str] | None = None) -> dict[str, core.Shift]:
    rows = await pool.fetch(SELECT_SHIFTS, _squads(squad_ids))
    return {
        r["id"]: core.Shift(r["id"], r["squad_id"], r["name"], r["starts"], r["ends"]) for r in rows
    }


async def rosters(pool: store.Pool, squad_ids: Iterable[str] | None = None) -> list[core.Roster]:
    return [_roster(r) for r in await pool.fetch(SELECT_ROSTERS, _squads(squad_ids))]


async def rostered_squads(pool: store.Pool, squad_ids: Sequence[str]) -> set[str]:
    """Those of ``squad_ids`` that keep at least one roster."""
    return {r["squad_id"] for r in await pool.fetch(ROSTERED_SQUADS, list(squad_ids))}


async def record_check_in(pool: store.Pool, c: core.CheckIn) -> int:
    """Keep a check-in, accepted or refused; answer its number."""
    stint = c.stint
    number = await pool.fetchval(
        INSERT_CHECK_IN,
        c.person_id,
        c.post.id,
        c.post.squad_id,
        stint.shift_id if stint else None,
        stint.starts_at if stint else None,
        c.at,
        c.lon,
        c.lat,
        c.distance_m,
        c.accepted,
        c.late,
        c.reason,
    )
    return int(number)


async def checked_in(pool: store.Pool, stints: Sequence[core.Stint]) -> set[tuple[str, str]]:
    """(person, post) of ``stints`` with an accepted check-in in that very stint."""
    if not stints:
        return set()
    since = min(s.starts_at for s in stints) - core.EARLY
    rows = await pool.fetch(SELECT_CHECKED_IN, since, sorted({s.person_id for s in stints}))
    kept = {(r["person_id"], r["post_id"], r["shift_starts_at"]) for r in rows}
    return {
        (s.person_id, s.post_id) for s in stints if (s.person_id, s.post_id, s.starts_at) in kept
    }
