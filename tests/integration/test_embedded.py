"""The private servers and the fixtures built on them, against the real processes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import asyncpg
import redis
import redis.asyncio as aioredis

from dispatcher.demo.embedded import PostgresProcess, RedisProcess, running_services
from dispatcher.store import migrate

INSERT_SQUAD = "INSERT INTO squads (id, name, kind) VALUES ($1, $2, 'street')"
COUNT_SQUADS = "SELECT count(*) FROM squads"


async def test_template_has_every_migration(migrated_template: str) -> None:
    conn = await asyncpg.connect(migrated_template)
    try:
        assert await conn.fetchval("SELECT to_regclass('history') IS NOT NULL")
        applied = await conn.fetch("SELECT name FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [row["name"] for row in applied] == [m.name for m in migrate.discover()]
    assert migrated_template.endswith("/dispatch_template")


async def test_databases_are_distinct_and_isolated(make_database: Callable[[], str]) -> None:
    first, second = make_database(), make_database()
    assert first != second
    one = await asyncpg.connect(first)
    other = await asyncpg.connect(second)
    try:
        await one.execute(INSERT_SQUAD, "s1", "第一中队")
        assert await one.fetchval(COUNT_SQUADS) == 1
        assert await other.fetchval(COUNT_SQUADS) == 0
        assert await other.fetchval("SELECT to_regclass('history') IS NOT NULL")
    finally:
        await one.close()
        await other.close()


async def test_migrations_are_applied_once(database_url: str, pg_server: PostgresProcess) -> None:
    assert await migrate.apply(database_url) == []
    conn = await asyncpg.connect(pg_server.url)
    try:
        clones = await conn.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'test\\_%'"
        )
    finally:
        await conn.close()
    assert clones == 1, "the databases of earlier tests are dropped"


async def test_servers_listen_on_loopback(
    pg_server: PostgresProcess, redis_server: RedisProcess
) -> None:
    assert pg_server.url.startswith(f"postgresql://dispatch@127.0.0.1:{pg_server.port}/")
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert pg_server.running
    assert redis_server.running


async def test_redis_set_and_get(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        await client.set("dispatch:left-behind", "1")
        assert await client.get("dispatch:left-behind") == b"1"
    finally:
        await client.aclose()


async def test_redis_is_flushed_before_each_test(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        assert await client.dbsize() == 0  # the test above left a key behind
    finally:
        await client.aclose()


def test_running_services_keep_their_data_and_stop(open_tmp_path: Path) -> None:
    with running_services(open_tmp_path) as (postgres, cache):
        postgres.create_database("kept")
        with redis.Redis.from_url(cache.url) as client:
            client.set("dispatch:kept", "yes")
    assert not postgres.running
    assert not cache.running
    postgres.stop()  # a second stop does nothing
    cache.stop()
    assert not _alive(postgres.pid)
    assert not _alive(cache.pid)

    with running_services(open_tmp_path) as (postgres, cache):
        assert asyncio.run(_databases(postgres.url)) >= {"dispatch", "kept"}
        with redis.Redis.from_url(cache.url) as client:
            assert client.get("dispatch:kept") == b"yes"


async def _databases(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        return {row["datname"] for row in await conn.fetch("SELECT datname FROM pg_database")}
    finally:
        await conn.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
