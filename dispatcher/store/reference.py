"""Reference data: squads, zones and categories, kept in PostgreSQL and cached per process.

Each server process holds a :class:`Reference` snapshot (the zone index, squads, categories)
and swaps in a new one when another process announces a change (a control message over
Redis) or when a periodic check of the zone version sees one. The database is the only
authority; the snapshot is a cache rebuilt from it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

import shapely

from dispatcher.core import tiers
from dispatcher.core.categories import Category, load_default_catalogue, parse_catalogue
from dispatcher.core.routing import Squad
from dispatcher.store import records as store
from geo.zones import SliverLimits, Zone, ZoneIndex, ZoneLevel, ZoneSetReport, check_zone_set

log = logging.getLogger(__name__)

SELECT_SQUADS: Final = "SELECT id, name, kind, parent_id, skills FROM squads ORDER BY id"
UPSERT_SQUAD: Final = """
INSERT INTO squads (id, name, kind, parent_id, skills, updated_at)
VALUES ($1, $2, $3, $4, $5, now())
ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind,
    parent_id = excluded.parent_id, skills = excluded.skills, updated_at = now()
RETURNING (xmax = 0) AS created"""
SELECT_ZONES: Final = """
SELECT id, name, level, parent_id, squad_id, properties, geometry FROM zones ORDER BY id"""
ZONE_VERSION: Final = "SELECT coalesce(max(version), 0) FROM zone_versions"
DELETE_ZONES: Final = "DELETE FROM zones"
INSERT_ZONES: Final = """
INSERT INTO zones (id, name, level, parent_id, squad_id, properties, geometry)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::jsonb[], $7::jsonb[])"""
NEW_ZONE_VERSION: Final = """
INSERT INTO zone_versions (loaded_by, features) VALUES ($1, $2) RETURNING version"""
LOCK_ZONES: Final = "LOCK TABLE zones IN EXCLUSIVE MODE"
SELECT_CATEGORIES: Final = "SELECT spec FROM categories ORDER BY code"
DELETE_CATEGORIES: Final = "DELETE FROM categories"
INSERT_CATEGORIES: Final = """
INSERT INTO categories (code, name, spec)
SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])"""
COUNT_CATEGORIES: Final = "SELECT count(*) FROM categories"

_CATALOGUE_LOCK: Final = 0x63617473  # "cats"
_BASE_PROPERTIES: Final = frozenset({"id", "name", "level", "parent_id", "squad_id"})


@dataclass(frozen=True)
class Reference:
    """One consistent snapshot of the reference data, as every request of a process sees it."""

    zones: ZoneIndex
    squads: Mapping[str, Squad] = field(default_factory=dict)
    categories: Mapping[str, Category] = field(default_factory=dict)

    @property
    def zone_version(self) -> int:
        return self.zones.version

    @cached_property
    def scopes(self) -> Mapping[str, frozenset[str]]:
        """Each squad with every squad below it in the command tiers (computed once)."""
        return tiers.subtrees(self.squads)

    def scope(self, squad_id: str) -> frozenset[str]:
        """The squad and every squad below it (just the squad, if it is not known)."""
        return self.scopes.get(squad_id) or frozenset({squad_id})


async def load_squads(conn: store.Connection | store.Pool) -> dict[str, Squad]:
    rows = await conn.fetch(SELECT_SQUADS)
    return {
        r["id"]: Squad(r["id"], r["name"], r["kind"], r["parent_id"], tuple(r["skills"]))
        for r in rows
    }


async def put_squad(conn: store.Connection | store.Pool, squad: Squad) -> bool:
    """Create or replace a squad; answer True when it was created."""
    created = await conn.fetchval(
        UPSERT_SQUAD, squad.id, squad.name, squad.kind, squad.parent_id, list(squad.skills)
    )
    return bool(created)


def zones_from_rows(rows: Sequence[Any]) -> list[Zone]:
    """Rebuild zones as stored. They were validated when they were put, so they are trusted
    here: re-validating 40,000 zones on every reload would cost seconds for nothing."""
    zones = []
    for r in rows:
        geometry = shapely.from_geojson(str(r["geometry"]))
        zones.append(
            Zone(
                id=r["id"],
                name=r["name"],
                level=ZoneLevel(r["level"]),
                parent_id=r["parent_id"],
                squad_id=r["squad_id"],
                geometry=geometry,
                properties=json.loads(str(r["properties"])),
            )
        )
    return zones


def _build_index(rows: Sequence[Any], version: int) -> ZoneIndex:
    return ZoneIndex(zones_from_rows(rows), version=version)


async def load_zones(conn: store.Connection | store.Pool) -> ZoneIndex:
    """The stored zone set as an index, built off the event loop (a city's set takes a while)."""
    version = int(await conn.fetchval(ZONE_VERSION))
    rows = await conn.fetch(SELECT_ZONES)
    return await asyncio.to_thread(_build_index, rows, version)


def _rows_of(
    collection: object, known_squads: Sequence[str], limits: SliverLimits | None, repair: bool
) -> tuple[ZoneSetReport, list[str], list[str]]:
    """Validate (and with ``repair``, repair) a zone set, raising InvalidZones, and encode each
    zone's extra properties and geometry for INSERT_ZONES."""
    report = check_zone_set(collection, known_squads, limits=limits, repair=repair)
    report.raise_if_invalid()
    zones = report.zones
    extra = [{k: v for k, v in z.properties.items() if k not in _BASE_PROPERTIES} for z in zones]
    return (
        report,
        [json.dumps(e, ensure_ascii=False) for e in extra],
        [json.dumps(z.to_feature()["geometry"]) for z in zones],
    )


async def replace_zones(
    pool: store.Pool,
    collection: object,
    known_squads: Sequence[str],
    loaded_by: str,
    *,
    limits: SliverLimits | None = None,
    repair: bool = False,
) -> tuple[list[Zone], int, ZoneSetReport]:
    """Validate a whole FeatureCollection and make it the zone set, all or nothing.

    Raises ``geo.errors.InvalidZones`` naming every bad feature; answers the zones, the new
    version and the report (slivers accepted under ``limits``; with ``repair``, every
    correction made: ``geo.zones.check_zone_set``). The caller announces the version so every
    process rebuilds its index.
    """
    # seconds of work for a large set: in a worker thread, so that intake goes on meanwhile
    report, extra, geometries = await asyncio.to_thread(
        _rows_of, collection, known_squads, limits, repair
    )
    zones = report.zones
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(LOCK_ZONES)
        await conn.execute(DELETE_ZONES)
        await conn.execute(
            INSERT_ZONES,
            [z.id for z in zones],
            [z.name for z in zones],
            [ZoneLevel(z.level).value for z in zones],
            [z.parent_id for z in zones],
            [z.squad_id for z in zones],
            extra,
            geometries,
        )
        version = int(await conn.fetchval(NEW_ZONE_VERSION, loaded_by, len(zones)))
    return zones, version, report


async def load_categories(conn: store.Connection | store.Pool) -> dict[str, Category]:
    rows = await conn.fetch(SELECT_CATEGORIES)
    if not rows:
        return {}
    return {c.code: c for c in parse_catalogue([json.loads(r["spec"]) for r in rows])}


async def _insert_categories(conn: store.Connection, categories: Sequence[Category]) -> None:
    await conn.execute(
        INSERT_CATEGORIES,
        [c.code for c in categories],
        [c.name for c in categories],
        [json.dumps(c.to_json(), ensure_ascii=False) for c in categories],
    )


async def replace_categories(pool: store.Pool, categories: Sequence[Category]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(DELETE_CATEGORIES)
        await _insert_categories(conn, categories)


async def ensure_default_categories(pool: store.Pool) -> int:
    """Load the shipped catalogue when the table is empty; answer how many were loaded.

    Several processes starting together on a fresh database all call this: the check and
    the insert run under one advisory lock, so exactly one of them loads it.
    """
    catalogue = load_default_catalogue()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _CATALOGUE_LOCK)
        if int(await conn.fetchval(COUNT_CATEGORIES)) > 0:
            return 0
        await _insert_categories(conn, catalogue)
    log.info("loaded the default catalogue: %d categories", len(catalogue))
    return len(catalogue)


async def load(pool: store.Pool) -> Reference:
    """A fresh snapshot from the database."""
    async with pool.acquire() as conn:
        return Reference(
            zones=await load_zones(conn),
            squads=await load_squads(conn),
            categories=await load_categories(conn),
        )
