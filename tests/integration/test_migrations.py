"""Migrations on an empty database, twice, and start-up of several processes at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from dispatcher.demo.embedded import PostgresProcess
from dispatcher.store import migrate, reference


async def test_every_migration_applies_to_an_empty_database_once(
    pg_server: PostgresProcess, make_database: Callable[[], str]
) -> None:
    url = make_database()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()
    applied = await migrate.apply(url)
    assert applied == [m.name for m in migrate.discover()]
    assert await migrate.apply(url) == []
    conn = await asyncpg.connect(url)
    try:
        recorded = await conn.fetch("SELECT name FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [r["name"] for r in recorded] == applied
    del pg_server


async def test_an_installation_without_migrations_is_refused(tmp_path: Path) -> None:
    with pytest.raises(migrate.MigrationError, match="no migrations found"):
        await migrate.apply("postgresql://unused", tmp_path)


async def test_processes_starting_together_load_the_catalogue_once(database_url: str) -> None:
    pools = [await asyncpg.create_pool(database_url, min_size=1, max_size=2) for _ in range(4)]
    try:
        loaded = await asyncio.gather(*(reference.ensure_default_categories(p) for p in pools))
        assert sorted(loaded)[:3] == [0, 0, 0]
        assert max(loaded) > 40
        assert await pools[0].fetchval("SELECT count(*) FROM categories") == max(loaded)
    finally:
        for pool in pools:
            await pool.close()
