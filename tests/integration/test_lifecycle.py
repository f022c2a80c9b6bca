"""The case life cycle on real PostgreSQL and Redis: actions, clocks, timers, the audit chain."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest

from dispatcher.core.categories import load_default_catalogue
from dispatcher.core.incidents import Incident, Source, State, evolve
from dispatcher.store import records as store
from tests.integration.support import (
    ADMIN,
    WEST,
    Api,
    Console,
    ServeProcess,
    console,
    stored_incident,
)

#: a test category whose limit runs out in seconds (0.0015 h = 5.4 s; yellow at 80%: 4.3 s)
FAST = {
    "code": "299901",
    "name": "测试：极短时限",
    "priority": "urgent",
    "clock": "continuous",
    "limit": 0.0015,
    "dedup_radius_m": 0,
}


async def load_with_fast_category(api: Api) -> None:
    await api.load_town()
    catalogue = [c.to_json() for c in load_default_catalogue()] + [FAST]
    await api.call("PUT", "/api/v1/categories", body=catalogue, expect=200)


async def do(api: Api, incident_id: str, token: str, expect: int = 200, **body: Any) -> Any:
    _, answer = await api.call(
        "POST", f"/api/v1/incidents/{incident_id}/actions", token, body=body, expect=expect
    )
    return answer


async def test_full_path_with_rework_return_and_redispatch(api: Api) -> None:
    await api.load_town()
    operator = await api.token("operator")
    west = await api.token("squad", "sq-west")
    east = await api.token("squad", "sq-east")
    _, inc = await api.report(await api.token("device"), source="citizen")
    assert inc["state"] == "reported"
    assert inc["stage"]["name"] == "register"
    iid = inc["id"]

    registered = await do(api, iid, operator, action="register")
    assert registered["deadline"] is not None
    assert registered["colour"] == "green"
    assert 0 < registered["remaining_s"] <= 4 * 3600
    recs = (await api.call("GET", f"/api/v1/incidents/{iid}/recommendations", operator))[1]
    assert recs["candidates"][0]["squad_id"] == "sq-west"
    dispatched = await do(api, iid, operator, action="dispatch")  # to the recommended squad
    assert dispatched["squad_id"] == "sq-west"
    await do(api, iid, east, expect=403, action="accept")
    await do(api, iid, west, action="return", reason="属东街道辖区")
    redispatched = await do(api, iid, operator, action="dispatch", squad_id="sq-east")
    assert redispatched["squad_id"] == "sq-east"
    await do(api, iid, west, expect=403, action="accept")
    await do(api, iid, east, action="accept")
    await do(api, iid, east, action="accept", expect=409)
    await do(
        api,
        iid,
        east,
        action="resolve",
        outcome="corrected_on_spot",
        note="已劝离",
        media=["https://media.example/1.jpg"],
    )
    await do(api, iid, east, action="verify", passed=True, expect=403)  # the centre verifies
    reworked = await do(api, iid, operator, action="verify", passed=False, note="仍在经营")
    assert (reworked["state"], reworked["squad_id"], reworked["rework_count"]) == (
        "dispatched",
        "sq-east",
        1,
    )
    await do(api, iid, east, action="accept")
    await do(api, iid, east, action="resolve", outcome="case_filed")
    closed = await do(api, iid, operator, action="verify", passed=True)
    assert closed["state"] == "closed"
    await do(api, iid, operator, action="supervise", note="x", expect=409)

    _, full = await api.call("GET", f"/api/v1/incidents/{iid}", operator, expect=200)
    actions = [h["action"] for h in full["history"] if h["type"] == "incident.updated"]
    assert actions == [
        "register",
        "dispatch",
        "return",
        "dispatch",
        "accept",
        "resolve",
        "verify",
        "accept",
        "resolve",
        "verify",
    ]
    returned = next(h for h in full["history"] if h["action"] == "return")
    assert returned["detail"]["reason"] == "属东街道辖区"
    assert returned["state_before"] == "dispatched"
    assert returned["state_after"] == "returned"
    assert returned["actor_role"] == "squad"


async def test_extension_and_suspension_move_the_deadline(api: Api) -> None:
    await api.load_town()
    operator = await api.token("operator")
    west = await api.token("squad", "sq-west")
    # grid: dispatched at once, on its category's 4 working hours
    _, inc = await api.report(await api.token("device"), source="grid")
    iid = inc["id"]
    await do(api, iid, west, action="accept")
    asked = await do(api, iid, west, action="extend", hours=4, reason="需要协调物业")
    assert asked["deadline"] == inc["deadline"]
    await do(api, iid, west, action="approve_extension", expect=403)
    approved = await do(api, iid, operator, action="approve_extension")
    assert approved["deadline"] > inc["deadline"]
    assert approved["allowed_s"] == 8 * 3600
    suspended = await do(api, iid, operator, action="suspend", reason="工程类挂账")
    assert suspended["suspended"] is True
    await asyncio.sleep(0.3)
    resumed = await do(api, iid, operator, action="resume", reason="恢复")
    assert resumed["suspended"] is False
    assert resumed["deadline"] >= approved["deadline"]


async def test_racing_actions_on_two_processes_never_both_succeed(
    serve_process: Callable[[], ServeProcess],
) -> None:
    one, two = serve_process(), serve_process()
    async with aiohttp.ClientSession() as session:
        a, b = Api(one.base, session), Api(two.base, session)
        await a.load_town()
        west = await a.token("squad", "sq-west")
        device = await a.token("device")
        for n in range(10):
            # 48 m apart: each its own problem, not a duplicate of the one before
            _, inc = await a.report(device, external_id=f"race-{n}", lon=WEST[0] + 0.0005 * n)
            results = await asyncio.gather(
                a.call(
                    "POST",
                    f"/api/v1/incidents/{inc['id']}/actions",
                    west,
                    body={"action": "accept"},
                ),
                b.call(
                    "POST",
                    f"/api/v1/incidents/{inc['id']}/actions",
                    west,
                    body={"action": "return", "reason": "不是我们的"},
                ),
            )
            statuses = sorted(s for s, _ in results)
            # the loser sees the winner's result: 409, or 403 once a return took it away
            assert statuses[0] == 200, results
            assert statuses[1] in (403, 409), results
            _, full = await a.call("GET", f"/api/v1/incidents/{inc['id']}", ADMIN)
            assert len([h for h in full["history"] if h["type"] == "incident.updated"]) == 1


async def wait_for(screen: Console, kind: str, incident_id: str, wait_s: float) -> dict[str, Any]:
    return await screen.until(
        lambda m: m.get("type") == kind and m.get("incident", {}).get("id") == incident_id,
        wait_s=wait_s,
    )


async def test_short_limit_turns_yellow_then_red_with_supervision_and_escalation(
    api: Api,
) -> None:
    await load_with_fast_category(api)
    west = await api.token("squad", "sq-west")
    centre = await api.token("squad", "centre")
    async with console(api) as wall, console(api, west) as phone, console(api, centre) as boss:
        await wall.subscribe(["all"])
        await phone.subscribe(["squad:sq-west"])
        await boss.subscribe(["squad:centre"])
        _, inc = await api.report(await api.token("device"), category="299901")
        assert inc["state"] == "dispatched"
        await do(api, inc["id"], west, action="accept")
        yellow = await wait_for(wall, "deadline.warning", inc["id"], 10)
        assert yellow["incident"]["colour"] == "yellow"
        red = await wait_for(wall, "deadline.overdue", inc["id"], 10)
        assert red["incident"]["colour"] == "red"
        assert red["detail"]["escalated_to"] == ["centre"]
        await wait_for(phone, "deadline.overdue", inc["id"], 5)
        await wait_for(boss, "deadline.overdue", inc["id"], 5)
    _, sup = await api.call("GET", f"/api/v1/incidents/{inc['id']}/supervisions", expect=200)
    assert [s["kind"] for s in sup["supervisions"]] == ["overdue"]
    assert sup["supervisions"][0]["notified"] == ["centre"]
    _, now = await api.call("GET", f"/api/v1/incidents/{inc['id']}", expect=200)
    assert now["colour"] == "red"
    assert now["remaining_s"] < 0


async def test_the_insert_arms_the_timers_of_the_incidents_it_inserted_only(
    database_url: str,
) -> None:
    now = datetime.now(UTC)

    def incident(iid: str, key: str) -> Incident:
        return stored_incident(
            iid, Source.CAMERA, now, key=key, category="200504", state=State.DISPATCHED
        )

    stored, replay, new = incident("T1", "k-1"), incident("T2", "k-1"), incident("T3", "k-3")
    due = now + timedelta(hours=4)
    conn = await asyncpg.connect(database_url)
    try:
        assert await store.insert_incidents(conn, [store.encode_doc(stored, UTC)]) == {"T1"}
        inserted = await store.insert_incidents(
            conn,
            [store.encode_doc(i, UTC) for i in (replay, new)],
            [("T2", "case_overdue", due), ("T3", "case_warning", due), ("T3", "case_overdue", due)],
        )
        armed = await conn.fetch("SELECT incident_id, kind, due_at FROM timers ORDER BY kind")
    finally:
        await conn.close()
    assert inserted == {"T3"}  # T2 has T1's key: not inserted, so not armed
    assert [(r["incident_id"], r["kind"], r["due_at"]) for r in armed] == [
        ("T3", "case_overdue", due),
        ("T3", "case_warning", due),
    ]


async def test_writing_changed_incidents_reads_only_their_rows(database_url: str) -> None:
    """An action writes its incident through the primary key, however few rows the planner
    believes the table holds (before, a join to the documents read the whole table)."""
    now = datetime.now(UTC)
    stored = [stored_incident(f"W{n:04d}", Source.HOTLINE, now) for n in range(3005)]
    changed = [evolve(i, state=State.CLOSED, version=2) for i in stored[7:10]]
    setup = await asyncpg.connect(database_url)
    try:
        await store.insert_incidents(setup, [store.encode_doc(i, UTC) for i in stored[:5]])
        await setup.execute("ANALYZE incidents")
        await store.insert_incidents(setup, [store.encode_doc(i, UTC) for i in stored[5:]])
    finally:
        await setup.close()
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await store.update_incidents(conn, [store.encode_doc(i, UTC) for i in changed])
            read = await conn.fetchrow(
                "SELECT coalesce(seq_tup_read, 0) AS scanned, coalesce(idx_tup_fetch, 0) AS fetched"
                " FROM pg_stat_xact_user_tables WHERE relname = 'incidents'"
            )
        rows = await conn.fetch(
            "SELECT id, state, version FROM incidents WHERE id = ANY($1) ORDER BY id",
            ["W0006", "W0007", "W0008", "W0009", "W0010"],
        )
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [
        ("W0006", "reported", 1),
        ("W0007", "closed", 2),
        ("W0008", "closed", 2),
        ("W0009", "closed", 2),
        ("W0010", "reported", 1),
    ]
    assert read["scanned"] == 0, f"writing 3 incidents read {read['scanned']} rows"
    assert read["fetched"] <= 3


async def test_a_timer_survives_a_restart_and_fires_once_across_processes(
    serve_process: Callable[[], ServeProcess], database_url: str
) -> None:
    first = serve_process()
    async with aiohttp.ClientSession() as session:
        api = Api(first.base, session)
        await load_with_fast_category(api)
        _, inc = await api.report(await api.token("device"), category="299901")
    first.kill()  # nothing runs while the deadline passes
    await asyncio.sleep(6)
    a, b = serve_process(), serve_process()  # both catch up; only one may fire
    async with aiohttp.ClientSession() as session:
        api = Api(a.base, session)
        for _ in range(100):
            _, full = await api.call("GET", f"/api/v1/incidents/{inc['id']}")
            if any(
                h["type"] == "deadline.overdue" and h["detail"]["clock"] == "case"
                for h in full["history"]
            ):
                break
            await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # give the other process every chance to fire it again
    conn = await asyncpg.connect(database_url)
    try:
        kinds = await conn.fetch(
            "SELECT type, detail->>'clock' AS clock FROM history "
            "WHERE incident_id = $1 AND type LIKE 'deadline.%' ORDER BY seq",
            inc["id"],
        )
        supervisions = await conn.fetchval(
            "SELECT count(*) FROM supervisions WHERE incident_id = $1", inc["id"]
        )
    finally:
        await conn.close()
    case = [k["type"] for k in kinds if k["clock"] == "case"]
    # all fell due while nothing ran: the catch-up gives red once (yellow is overtaken)
    assert case == ["deadline.overdue"], kinds
    assert supervisions == 1
    del b


async def test_history_is_append_only_and_tampering_is_caught(api: Api, database_url: str) -> None:
    await api.load_town()
    operator = await api.token("operator")
    device = await api.token("device")
    for n in range(5):
        _, inc = await api.report(
            device, source="citizen", external_id=f"audit-{n}", lon=WEST[0] + 0.0005 * n
        )
        await do(api, inc["id"], operator, action="register")

    def verify() -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DISPATCH_DATABASE_URL": database_url}
        return subprocess.run(
            [sys.executable, "-m", "dispatcher.cli", "audit", "verify"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    intact = await asyncio.to_thread(verify)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "10 entries checked" in intact.stdout

    conn = await asyncpg.connect(database_url)
    try:
        for statement in (
            "UPDATE history SET actor = 'x'",
            "DELETE FROM history",
            "TRUNCATE history",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
        seqs = [r["seq"] for r in await conn.fetch("SELECT seq FROM history ORDER BY seq")]
        # a superuser can switch the triggers off: the chain still tells
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(
            'UPDATE history SET detail = \'{"reason": "forged"}\' WHERE seq = $1', seqs[3]
        )
        altered = await asyncio.to_thread(verify)
        assert altered.returncode == 1
        assert f"seq {seqs[3]} (altered)" in altered.stdout
        await conn.execute("UPDATE history SET detail = '{}' WHERE seq = $1", seqs[3])
        restored = await asyncio.to_thread(verify)
        assert restored.returncode == 0, restored.stdout
        await conn.execute("DELETE FROM history WHERE seq = $1", seqs[6])
        removed = await asyncio.to_thread(verify)
        assert removed.returncode == 1
        assert f"seq {seqs[7]} (chain_broken)" in removed.stdout
    finally:
        await conn.close()
