"""Several real `dispatch serve` processes on one database and Redis; kills; replay."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from typing import Any

import aiohttp
import asyncpg

from tests.integration.support import WEST, Api, ServeProcess, open_console


async def _api(server: ServeProcess, session: aiohttp.ClientSession) -> Api:
    return Api(server.base, session)


async def test_incident_posted_to_one_process_reaches_a_console_on_another(
    serve_process: Callable[[], ServeProcess],
) -> None:
    one, two = serve_process(), serve_process()
    async with aiohttp.ClientSession() as session:
        api_one, api_two = await _api(one, session), await _api(two, session)
        await api_one.load_town()
        device = await api_one.token("device")
        west = await api_one.token("squad", "sq-west")
        screen = await open_console(api_two)
        phone = await open_console(api_two, west)
        try:
            await screen.subscribe(["all"])
            await phone.subscribe(["squad:sq-west"])
            created = []
            for n in range(5):
                # 48 m apart: each its own problem, not a duplicate of the one before
                status, incident = await api_one.report(
                    device, external_id=f"mp-{n}", lon=WEST[0] + 0.0005 * n
                )
                assert status == 201
                created.append(incident["id"])
            for incident_id in created:
                event = await screen.until(
                    lambda m, i=incident_id: (
                        m.get("type") == "incident.created" and m["incident"]["id"] == i
                    )
                )
                assert event["incident"]["squad_id"] == "sq-west"
                assigned = await phone.until(
                    lambda m, i=incident_id: (
                        m.get("type") == "dispatch.assigned" and m["incident"]["id"] == i
                    )
                )
                assert assigned["incident"]["state"] == "dispatched"
            seqs = [e["seq"] for e in screen.events]
            assert seqs == sorted(seqs)
            assert len(set(seqs)) == len(seqs)
            # zones changed on one process are used by the other at once
            _, match = await api_two.call(
                "GET", f"/api/v1/zones/match?lon={WEST[0]}&lat={WEST[1]}", expect=200
            )
            assert match["squad_id"] == "sq-west"
        finally:
            await screen.ws.close()
            await phone.ws.close()


async def test_reconnect_with_since_misses_nothing_and_repeats_nothing(
    serve_process: Callable[[], ServeProcess],
) -> None:
    """A console drops while two processes keep taking reports; it comes back with since."""
    one, two = serve_process(), serve_process()
    async with aiohttp.ClientSession() as session:
        api_one, api_two = await _api(one, session), await _api(two, session)
        await api_one.load_town()
        device = await api_one.token("device")
        stop = asyncio.Event()
        posted: list[str] = []

        async def keep_posting(api: Api, prefix: str) -> None:
            n = 0
            while not stop.is_set():
                status, incident = await api.report(device, external_id=f"{prefix}-{n}")
                assert status == 201
                posted.append(incident["id"])
                n += 1
                await asyncio.sleep(0.005)

        posters = [
            asyncio.create_task(keep_posting(api_one, "a")),
            asyncio.create_task(keep_posting(api_two, "b")),
        ]
        seen: list[dict[str, Any]] = []
        try:
            for _ in range(3):  # connect, read a while, drop: three times over
                screen = await open_console(api_two)
                since = seen[-1]["seq"] if seen else 0  # from the start: posting began first
                await screen.subscribe(["all"], since=since)
                end = asyncio.get_running_loop().time() + 0.7
                while asyncio.get_running_loop().time() < end:
                    with contextlib.suppress(TimeoutError):
                        message = await screen.next(0.2)
                        if "seq" in message and "incident" in message:
                            seen.append(message)
                await screen.ws.close()
        finally:
            stop.set()
            await asyncio.gather(*posters)
        # last reconnect: everything up to the end must arrive
        screen = await open_console(api_one)
        await screen.subscribe(["all"], since=seen[-1]["seq"])
        created_ids = set(posted)
        with contextlib.suppress(TimeoutError):
            while {
                e["incident"]["id"] for e in seen if e["type"] == "incident.created"
            } != created_ids:
                message = await screen.next(3)
                if "seq" in message and "incident" in message:
                    seen.append(message)
        await screen.ws.close()

    seqs = [e["seq"] for e in seen]
    assert len(seqs) == len(set(seqs)), "an event was delivered twice"
    assert seqs == sorted(seqs)
    created = [e["incident"]["id"] for e in seen if e["type"] == "incident.created"]
    assert sorted(created) == sorted(posted), "an incident's event is missing"
    assert len(posted) > 50


async def test_sigterm_drains_and_exits_zero(serve_process: Callable[[], ServeProcess]) -> None:
    server = serve_process()
    async with aiohttp.ClientSession() as session:
        api = await _api(server, session)
        await api.load_town()
        screen = await open_console(api)
        await screen.subscribe(["all"])
        server.proc.send_signal(signal.SIGTERM)
        closing = await screen.ws.receive(timeout=10)
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert closing.data == 1001  # going away
        await screen.ws.close()
    assert await asyncio.to_thread(server.proc.wait, 20) == 0


async def test_killed_mid_burst_loses_nothing_acknowledged(
    serve_process: Callable[[], ServeProcess], database_url: str
) -> None:
    """SIGKILL during a burst: every report answered 201/200 is stored, exactly once."""
    server = serve_process()
    acknowledged: dict[str, str] = {}
    enough = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        api = await _api(server, session)
        await api.load_town()
        device = await api.token("device")

        async def post(n: int) -> None:
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                status, incident = await api.report(device, external_id=f"crash-{n}")
                if status in (200, 201):
                    acknowledged[f"crash-{n}"] = incident["id"]
                    if len(acknowledged) >= 100:
                        enough.set()

        burst = [asyncio.create_task(post(n)) for n in range(600)]
        await asyncio.wait_for(enough.wait(), 30)
        server.proc.kill()  # SIGKILL, no chance to flush anything
        await asyncio.gather(*burst)

    assert 100 <= len(acknowledged) < 600
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT external_id, id FROM incidents WHERE source = 'hotline'")
        history = await conn.fetch(
            "SELECT incident_id, count(*) AS n FROM history WHERE type = 'incident.created' "
            "GROUP BY incident_id"
        )
    finally:
        await conn.close()
    stored = {r["external_id"]: r["id"] for r in rows}
    for external_id, incident_id in acknowledged.items():
        assert stored.get(external_id) == incident_id, f"{external_id} was answered but lost"
    assert len(stored) == len(set(stored.values()))
    assert all(h["n"] == 1 for h in history)
    assert {h["incident_id"] for h in history} == set(stored.values())

    # after a restart, replaying every acknowledged report creates nothing new
    restarted = serve_process()
    async with aiohttp.ClientSession() as session:
        api = await _api(restarted, session)
        device = await api.token("device")
        for external_id, incident_id in list(acknowledged.items())[:50]:
            status, incident = await api.report(device, external_id=external_id)
            assert (status, incident["id"]) == (200, incident_id)
