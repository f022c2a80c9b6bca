"""Faults: Redis down, PostgreSQL down. Each test runs its own private server so it can stop it.

What each asserts: what was acknowledged, what was stored, and what each console received.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest_asyncio
from aiohttp.test_utils import TestServer

from dispatcher.app import create_app
from dispatcher.demo.embedded import start_postgres, start_redis
from dispatcher.store import migrate
from tests.integration.support import Api, Console, settings_for
from tests.integration.support import open_console as connect


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def start(
    database_url: str, redis_url: str, session: aiohttp.ClientSession
) -> tuple[Api, TestServer]:
    server = TestServer(create_app(settings_for(database_url, redis_url)), host="127.0.0.1")
    await server.start_server()
    return Api(str(server.make_url("")).rstrip("/"), session), server


async def open_console(api: Api) -> Console:
    screen = await connect(api)
    await screen.subscribe(["all"])
    return screen


async def test_redis_down_intake_keeps_storing_and_consoles_catch_up(
    database_url: str, open_tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    redis = start_redis(open_tmp_path / "redis")
    a, server_a = await start(database_url, redis.url, session)
    b, server_b = await start(database_url, redis.url, session)
    try:
        await a.load_town()
        device = await a.token("device")
        screen = await open_console(b)
        _, first = await a.report(device, external_id="before")
        await screen.until(lambda m: m.get("incident", {}).get("id") == first["id"])

        redis.stop()
        await screen.until(lambda m: m == {"type": "feed", "state": "degraded"}, wait_s=10)
        during = []
        for n in range(10):
            status, incident = await a.report(device, external_id=f"during-{n}")
            assert status == 201  # PostgreSQL is the truth: intake goes on
            during.append(incident["id"])
        # the console on the other process still gets them, read from the history
        for incident_id in during:
            await screen.until(
                lambda m, i=incident_id: m.get("incident", {}).get("id") == i, wait_s=10
            )

        redis = start_redis(open_tmp_path / "redis", port=redis.port)
        await screen.until(lambda m: m == {"type": "feed", "state": "live"}, wait_s=15)
        _, after = await a.report(device, external_id="after")
        await screen.until(lambda m: m.get("incident", {}).get("id") == after["id"])
        created = [e["incident"]["id"] for e in screen.events if e["type"] == "incident.created"]
        assert created == [first["id"], *during, after["id"]]  # all, in order, once each
        seqs = [e["seq"] for e in screen.events]
        assert seqs == sorted(set(seqs))
        await screen.ws.close()
    finally:
        await server_a.close()
        await server_b.close()
        redis.stop()


async def test_postgres_down_answers_503_keeps_sockets_and_recovers(
    redis_url: str, open_tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    pg = start_postgres(open_tmp_path / "pg", fsync=False)
    await migrate.apply(pg.url)
    api, server = await start(pg.url, redis_url, session)
    try:
        await api.load_town()
        device = await api.token("device")
        screen = await open_console(api)
        status, before = await api.report(device, external_id="before")
        assert status == 201

        pg.stop()
        async with session.post(
            api.base + "/api/v1/incidents",
            headers=api.headers(device),
            json={
                "source": "hotline",
                "category": "200504",
                "lon": 121.405,
                "lat": 31.205,
                "external_id": "while-down",
            },
        ) as resp:
            # the token is cached, so this reaches intake, which cannot store it
            assert resp.status == 503
            assert int(resp.headers["Retry-After"]) >= 1
            assert (await resp.json())["error"]["code"] == "unavailable"
        status, ready = await api.call("GET", "/readyz", None)
        assert (status, ready["redis"]) == (503, "ok")
        assert ready["postgres"].startswith("down")
        await screen.send({"type": "ping"})
        assert (await screen.until(lambda m: m.get("type") == "pong"))["type"] == "pong"

        pg = start_postgres(open_tmp_path / "pg", fsync=False, port=pg.port)
        recovered = None
        for _ in range(50):
            status, body = await api.call(
                "POST",
                "/api/v1/incidents",
                device,
                body={
                    "source": "hotline",
                    "category": "200504",
                    "lon": 121.405,
                    "lat": 31.205,
                    "external_id": "while-down",
                },
            )
            if status in (200, 201):
                recovered = body
                break
            assert status == 503, body
            await asyncio.sleep(0.2)
        assert recovered is not None, "intake did not recover without a restart"
        await screen.until(lambda m: m.get("incident", {}).get("id") == recovered["id"], wait_s=10)
        assert (await api.call("GET", "/readyz", None))[0] == 200
        conn = await asyncpg.connect(pg.url)
        try:
            stored = await conn.fetch("SELECT external_id FROM incidents ORDER BY id")
        finally:
            await conn.close()
        assert [r["external_id"] for r in stored] == ["before", "while-down"]
        await screen.ws.close()
        del before
    finally:
        await server.close()
        pg.stop()
