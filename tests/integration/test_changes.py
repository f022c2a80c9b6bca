"""Every kind of change goes through the one change path (``dispatcher.store.changes``).

A table of changes, each made through the real server on real PostgreSQL and Redis; for each,
the incidents it changes are read before and after, and the test checks that the change:
bumped each one's version exactly once, appended its history rows (hash-chained: the audit
verifies at the end), published exactly those rows after the commit, and woke the timer loop
once.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from dispatcher.app import create_app
from dispatcher.core.incidents import revision
from dispatcher.store import records
from dispatcher.store.changes import Changes, NotLocked
from dispatcher.store.timer_loop import TimerLoop
from dispatcher.web.context import RUNTIME, Runtime
from realtime.hub import Envelope
from tests.integration.support import EAST, WEST, Api, settings_for
from tests.unit.test_cap import alert, info

WEST_CIRCLE = "<circle>31.2050,121.4050 0.03</circle>"
CAP_REF = "drone-07@huangpu.cgzf.gov.cn,{},2026-11-23T10:15:00+08:00"


@dataclass
class Watch:
    """What the application's unit of work published and how often it woke the timers."""

    published: list[Envelope] = field(default_factory=list)
    wakes: int = 0


@dataclass
class Served:
    api: Api
    rt: Runtime
    watch: Watch


@pytest_asyncio.fixture
async def served(database_url: str, redis_url: str) -> AsyncIterator[Served]:
    app = create_app(settings_for(database_url, redis_url))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    rt = app[RUNTIME]
    watch = Watch()

    def publish(stored: list[Envelope]) -> None:
        watch.published.extend(stored)
        rt.bridge.committed(stored)

    def wake() -> None:
        watch.wakes += 1
        rt.timer_loop.wake.set()

    # the same path, with its two after-commit callbacks observed
    rt.changes = Changes(rt.pool, lambda: rt.policy.rules, publish, wake)
    try:
        async with aiohttp.ClientSession() as session:
            yield Served(Api(str(server.make_url("")).rstrip("/"), session), rt, watch)
    finally:
        await server.close()


async def read(api: Api, incident_id: str) -> dict[str, Any]:
    _, found = await api.call("GET", f"/api/v1/incidents/{incident_id}", expect=200)
    assert isinstance(found, dict)
    return found


async def changed(
    served: Served,
    ids: list[str],
    change: Callable[[], Awaitable[object]],
    bumps: int | None = 1,
) -> list[dict[str, Any]]:
    """Make ``change`` and check what the one path promises for the incidents ``ids``: each
    one's version moves by ``bumps`` (None: by one for each history row it gained)."""
    api, watch = served.api, served.watch
    before = {i: await read(api, i) for i in ids}
    published, wakes = len(watch.published), watch.wakes
    await change()
    after = {i: await read(api, i) for i in ids}
    new_rows = []
    for i in ids:
        added = after[i]["history"][len(before[i]["history"]) :]
        assert added, f"{i}: no history row"
        moved = len(added) if bumps is None else bumps
        assert after[i]["version"] == before[i]["version"] + moved, (i, after[i]["version"])
        assert after[i]["history"][: len(before[i]["history"])] == before[i]["history"]
        new_rows.extend(added)
    sent = watch.published[published:]
    if bumps is None:  # the timer loop also fires the other incidents' timers
        sent = [e for e in sent if any(f"incident:{i}" in e.topics for i in ids)]
    assert sorted(e.seq for e in sent) == sorted(h["seq"] for h in new_rows)
    assert watch.wakes == wakes + 1
    return [after[i] for i in ids]


async def act(api: Api, incident_id: str, token: str, **body: Any) -> Any:
    _, answer = await api.call(
        "POST", f"/api/v1/incidents/{incident_id}/actions", token, body=body, expect=200
    )
    return answer


async def test_every_kind_of_change_takes_the_one_path(served: Served, database_url: str) -> None:
    api = served.api
    await api.load_town()
    op = await api.token("operator")
    west = await api.token("squad", "sq-west")
    device = await api.token("device")

    async def report(n: int, **overrides: Any) -> str:
        body = {"source": "citizen", "lon": WEST[0] + 0.001 * n, **overrides}
        _, made = await api.report(device, external_id=f"change-{n}", **body)
        return str(made["id"])

    a = await report(1)
    steps: list[tuple[str, dict[str, Any], str]] = [
        ("register", {}, op),
        ("dispatch", {"squad_id": "sq-west"}, op),
        ("accept", {}, west),
        ("extend", {"hours": 4, "reason": "需要协调物业"}, west),
        ("approve_extension", {}, op),
        ("suspend", {"reason": "工程类挂账"}, op),
        ("resume", {"reason": "恢复"}, op),
        ("supervise", {"note": "请加快处置"}, op),
        ("resolve", {"outcome": "corrected_on_spot"}, west),
        ("verify", {"passed": False, "note": "现场复发"}, op),  # 返工
        ("accept", {}, west),
        ("resolve", {"outcome": "corrected_on_spot"}, west),
        ("verify", {"passed": True}, op),
    ]
    for action, body, token in steps:
        await changed(served, [a], lambda: act(api, a, token, action=action, **body))  # noqa: B023
    assert (await read(api, a))["state"] == "closed"

    b = await report(2)
    (shown,) = await changed(served, [b], lambda: act(api, b, op, action="reject", reason="重复"))
    assert shown["state"] == "rejected"

    c = await report(3)
    await act(api, c, op, action="register")
    await act(api, c, op, action="dispatch", squad_id="sq-west")
    await changed(served, [c], lambda: act(api, c, west, action="return", reason="非本辖区"))

    d, e = await report(4), await report(5)
    merged, grown = await changed(served, [d, e], lambda: act(api, d, op, action="merge", into=e))
    assert (merged["state"], merged["duplicate_of"], grown["report_count"]) == ("merged", e, 2)
    restored, shrunk = await changed(
        served, [d, e], lambda: api.call("POST", f"/api/v1/incidents/{d}/unmerge", op, expect=200)
    )
    assert (restored["state"], shrunk["report_count"]) == ("reported", 1)

    # a squad's joint visit: two open items at one shop dispatched together
    shop = {"address": "东街道 幸福路 12 号", "lat": EAST[1], "source": "citizen"}
    f = await report(6, lon=EAST[0], **shop)
    g = await report(7, category="200202", **{**shop, "lon": EAST[0] + 0.0002})
    for i in (f, g):
        await act(api, i, op, action="register")
    _, listed = await api.call("GET", "/api/v1/visits?squad_id=sq-east", op, expect=200)
    (visit,) = listed["visits"]
    path = f"/api/v1/visits/{visit['id']}/dispatch?squad_id=sq-east"
    sent = await changed(served, [f, g], lambda: api.call("POST", path, op, expect=200))
    assert {s["visit_id"] for s in sent} == {visit["id"]}

    # CAP: an update, then a cancel, of an alert taken before
    low = "<parameter><valueName>confidence</valueName><value>0.3</value></parameter>"
    cap_path = "/api/v1/alerts/cap"
    _, first = await api.call(
        "POST", cap_path, device, data=alert(info(area=WEST_CIRCLE, extra=low), identifier="C-1")
    )
    (taken,) = first["incidents"]
    update = alert(
        info(area=WEST_CIRCLE, headline="范围扩大", extra=low),
        msg_type="Update",
        identifier="C-2",
        references=CAP_REF.format("C-1"),
    )
    cancel = alert(msg_type="Cancel", identifier="C-3", references=CAP_REF.format("C-1"))
    for body in (update, cancel):
        await changed(
            served,
            [taken["id"]],
            lambda: api.call("POST", cap_path, device, data=body, expect=200),  # noqa: B023
        )

    # a sampling check that orders rework of a closed case
    _, sample = await api.call(
        "POST",
        "/api/v1/samples",
        op,
        body={
            "from": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "to": datetime.now(UTC).isoformat(),
            "seed": 1,
            "strata": [{"name": "all", "rate": 1.0}],
        },
        expect=201,
    )
    assert [i["incident_id"] for i in sample["items"]] == [a]
    check = f"/api/v1/samples/{sample['id']}/items/{a}/check"
    (reopened,) = await changed(
        served,
        [a],
        lambda: api.call("POST", check, op, body={"result": "rework_ordered"}, expect=200),
    )
    assert reopened["state"] == "dispatched"

    # the timer loop: the case clock runs out (a loop whose clock is a day ahead)
    rt = served.rt
    later = datetime.now(UTC) + timedelta(days=30)
    squads = rt.ref.squads
    loop = TimerLoop(rt.pool, rt.changes, lambda: squads, asyncio.Event(), clock=lambda: later)
    # each alert the loop gives is a change of its own: one version for each
    (alerted,) = await changed(served, [c], loop.run_once, bumps=None)
    assert alerted["history"][-1]["type"] in ("deadline.warning", "deadline.overdue")

    # the whole history, written by every kind of change above, is one unbroken chain
    env = {**os.environ, "DISPATCH_DATABASE_URL": database_url}
    verified = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "dispatcher.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def test_a_unit_saves_only_what_it_locked_and_revised(served: Served) -> None:
    api, changes = served.api, served.rt.changes
    await api.load_town()
    _, made = await api.report(await api.token("device"), source="citizen")
    incident_id = made["id"]
    published = len(served.watch.published)

    async def save_as_locked() -> None:
        async with changes.begin([incident_id]) as work:
            incident = work.incident(incident_id)
            assert incident is not None
            work.save(incident)  # the same version: nothing was decided

    async def save_unlocked() -> None:
        async with changes.begin() as work:
            found = await records.get_incident(work.conn, incident_id)
            assert found is not None
            work.save(revision(found, found, datetime.now(UTC)))

    with pytest.raises(NotLocked, match="not revised"):
        await save_as_locked()
    with pytest.raises(NotLocked, match="not locked"):
        await save_unlocked()
    # nothing was written or published by the refused units
    assert (await read(api, incident_id))["version"] == 1
    assert len(served.watch.published) == published
