"""The 12345 hotline through Open311 GeoReport v2, and its status updates through the outbox.

A small aiohttp app stands in for the hotline platform: it refuses updates (503) while it is
"down", then takes them. Nothing may be lost, each state change arrives once, and a work
order's states arrive in the order they happened.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from dispatcher.core.events import EventType
from dispatcher.core.ids import IncidentId
from dispatcher.core.incidents import Incident, Source, State
from dispatcher.store import journal
from dispatcher.store import records as store
from tests.integration.support import WEST, Api, event, stored_incident

JURISDICTION = "huangpu.sh.gov.cn"
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "request_type",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}


@dataclass
class Hotline:
    url: str
    down: bool = True
    refused: int = 0
    updates: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


@pytest_asyncio.fixture
async def hotline() -> AsyncIterator[Hotline]:
    state = Hotline("")

    async def take(request: web.Request) -> web.Response:
        if state.down:
            state.refused += 1
            return web.Response(status=503, text="维护中")
        state.updates.append(await request.json())
        state.keys.append(request.headers["Idempotency-Key"])
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/12345/status", take)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.url = str(server.make_url("/12345/status"))
    yield state
    await server.close()


async def open311(
    api: Api, method: str, path: str, form: dict[str, str] | None = None
) -> tuple[int, Any]:
    url = f"{api.base}/open311/v2/{path}"
    async with api.session.request(method, url, data=form) as resp:
        text = await resp.text()
        if path.split("?", maxsplit=1)[0].endswith(".xml"):
            assert resp.content_type == "text/xml"
            return resp.status, ET.fromstring(text)
        assert resp.content_type == "application/json", text
        return resp.status, await resp.json()


async def test_a_georeport_client_files_and_follows_work_orders(
    api_factory: Callable[..., Awaitable[Api]], hotline: Hotline, database_url: str
) -> None:
    api = await api_factory(
        hotline_callback_url=hotline.url,
        outbox_poll_s=0.05,
        outbox_retry_base_s=0.05,
        outbox_retry_max_s=0.2,
        open311_jurisdiction_id=JURISDICTION,
    )
    await api.load_town()
    key, operator = await api.token("device"), await api.token("operator")

    # services and their definitions, both formats
    status, services = await open311(api, "GET", "services.json")
    assert status == 200
    noise = next(s for s in services if s["service_code"] == "200601")
    assert noise["metadata"] is True
    assert set(noise) == {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    status, xml = await open311(api, "GET", f"services.xml?jurisdiction_id={JURISDICTION}")
    assert xml.tag == "services"
    assert len(xml.findall("service")) == len(services)
    _, definition = await open311(api, "GET", "services/200601.json")
    assert [a["code"] for a in definition["attributes"]] == [
        "target_name",
        "time_of_day",
        "request_type",
        "closure_deadline",
        "contact_deadline",
    ]
    _, definition_xml = await open311(api, "GET", "services/200601.xml")
    assert definition_xml.find("attributes/attribute/code").text == "target_name"

    # two calls about one noisy bar: the second joins the first
    form = {
        "api_key": key,
        "jurisdiction_id": JURISDICTION,
        "service_code": "200601",
        "lat": str(WEST[1]),
        "long": str(WEST[0]),
        "address_string": "幸福路 88 号",
        "description": "楼下酒吧夜间噪声扰民",
        "attribute[time_of_day]": "night",
        "attribute[target_name]": "夜色酒吧",
        "external_id": "12345-20261123-0001",
    }
    status, filed = await open311(api, "POST", "requests.json", form)
    assert status == 201, filed
    assert set(filed[0]) == {"service_request_id", "service_notice", "account_id"}
    first = filed[0]["service_request_id"]
    assert await open311(api, "POST", "requests.json", form) == (200, filed)  # the same call
    status, xml = await open311(
        api, "POST", "requests.xml", {**form, "external_id": "12345-20261123-0002"}
    )
    assert status == 201
    second = xml.find("request/service_request_id").text
    assert first in xml.find("request/service_notice").text

    # reading them back
    _, listed = await open311(api, "GET", f"requests.json?api_key={key}&status=open")
    assert {r["service_request_id"] for r in listed} == {first, second}
    assert all(set(r) == REQUEST_FIELDS for r in listed)
    _, one = await open311(api, "GET", f"requests/{second}.json?api_key={key}")
    assert one[0]["status"] == "open"
    assert one[0]["agency_responsible"] == "西街道中队"
    assert one[0]["status_notes"].startswith(f"重复诉件，已并入 {first}")
    _, one_xml = await open311(api, "GET", f"requests/{first}.xml?api_key={key}")
    assert one_xml.find("request/long").text == str(WEST[0])

    # the spec's errors and statuses
    errors = [
        ("POST", "requests.json", {**form, "api_key": ""}, 403),
        ("POST", "requests.json", {**form, "api_key": "wrong"}, 403),
        ("POST", "requests.json", {**form, "service_code": ""}, 400),
        ("POST", "requests.json", {**form, "lat": ""}, 400),
        ("POST", "requests.json", {**form, "jurisdiction_id": "elsewhere"}, 404),
        ("GET", "services/999999.json", None, 404),
        ("GET", f"requests/nope.json?api_key={key}", None, 404),
        ("GET", "requests.json", None, 403),
        ("GET", "nothing.json", None, 404),
    ]
    for method, path, body, code in errors:
        status, answer = await open311(api, method, path, body)
        assert status == code, (path, answer)
        assert answer[0]["code"] == code
        assert answer[0]["description"]
    status, xml = await open311(api, "GET", "services/999999.xml")
    assert (status, xml.tag, xml.find("error/code").text) == (404, "errors", "404")

    # the squad deals with it while the hotline platform is down
    for action in ({"action": "accept"}, {"action": "resolve", "outcome": "advised_and_educated"}):
        await api.call(
            "POST", f"/api/v1/incidents/{first}/actions", operator, body=action, expect=200
        )
    await asyncio.sleep(0.3)
    assert hotline.refused >= 2  # tried, refused, tried again
    assert hotline.updates == []
    await api.call(
        "POST",
        f"/api/v1/incidents/{first}/actions",
        operator,
        body={"action": "verify", "passed": True},
        expect=200,
    )
    hotline.down = False
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(100):
            if await conn.fetchval("SELECT count(*) FROM outbox WHERE delivered_at IS NULL") == 0:
                break
            await asyncio.sleep(0.05)
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE delivered_at IS NULL") == 0
    finally:
        await conn.close()

    states: dict[str, list[str]] = {}
    for update in hotline.updates:
        states.setdefault(update["service_request_id"], []).append(update["state"])
    assert states == {
        first: ["dispatched", "accepted", "resolved", "closed"],
        second: ["merged", "accepted", "resolved", "closed"],
    }
    assert len(set(hotline.keys)) == len(hotline.keys) == 8  # once each
    last = hotline.updates[-1]
    assert last["status"] == "closed"
    seqs = [u["seq"] for u in hotline.updates if u["service_request_id"] == first]
    assert seqs == sorted(seqs)
    _, done = await open311(api, "GET", f"requests/{second}.json?api_key={key}")
    assert done[0]["status"] == "closed"


async def test_without_a_callback_url_updates_wait_in_the_outbox(
    api: Api, database_url: str
) -> None:
    await api.load_town()
    key = await api.token("device")
    async with aiohttp.ClientSession() as session:
        form = {"api_key": key, "service_code": "200102", "lat": str(WEST[1]), "long": str(WEST[0])}
        async with session.post(f"{api.base}/open311/v2/requests.json", data=form) as resp:
            assert resp.status == 201
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE delivered_at IS NULL") == 1
    finally:
        await conn.close()


async def test_one_statement_of_many_changes_owes_each_work_order_its_updates_in_order(
    database_url: str,
) -> None:
    """Intake appends a whole batch's events in one statement: the outbox trigger (once per
    statement) must still owe each hotline work order every state change of its own and of
    the incident it was merged into, nothing for other changes, in ``seq`` order."""
    now = datetime.now(UTC)

    def incident(iid: str, source: Source, **more: Any) -> Incident:
        return stored_incident(iid, source, now, **more)

    a, b, c = (incident(i, Source.HOTLINE) for i in ("A", "B", "C"))
    camera = incident("E", Source.CAMERA)
    merged = replace(
        incident("D", Source.HOTLINE), state=State.MERGED, duplicate_of=IncidentId("E")
    )
    registered = replace(a, state=State.REGISTERED)
    reported, closed = State.REPORTED, State.CLOSED
    events = [
        event(EventType.INCIDENT_CREATED, a, now, None),  # owed to A
        event(EventType.INCIDENT_UPDATED, camera, now, reported),  # no state change: none
        event(EventType.INCIDENT_UPDATED, replace(camera, state=closed), now, reported),
        event(EventType.INCIDENT_UPDATED, registered, now, reported),  # owed to A
        event(EventType.DISPATCH_ASSIGNED, replace(b, state=State.DISPATCHED), now, reported),
        event(EventType.INCIDENT_UPDATED, replace(c, state=closed), now, reported),
    ]
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await store.insert_incidents(
                conn, [store.encode_doc(i, UTC) for i in (a, b, c, camera, merged)]
            )
            stored = await journal.append(conn, events, UTC)
        seqs = [e.seq for e in stored]
        rows = await conn.fetch("SELECT incident_id, seq FROM outbox ORDER BY id")
    finally:
        await conn.close()
    # the camera's closing is owed to D, merged into it; B's dispatch.assigned to nobody
    assert [(r["incident_id"], r["seq"]) for r in rows] == [
        ("A", seqs[0]),
        ("D", seqs[2]),
        ("A", seqs[3]),
        ("C", seqs[5]),
    ]


async def test_the_outbox_trigger_reads_only_the_work_orders_of_the_new_rows(
    database_url: str,
) -> None:
    """What the trigger reads of ``incidents`` for one new history row is a few index probes,
    however many hotline work orders are stored. The statistics are those of a young table
    (analyzed before any hotline report came): 0007's join then read every work order."""
    now = datetime.now(UTC)
    stored = [
        stored_incident(f"C{n:04d}", Source.CAMERA, now)
        if n < 5
        else stored_incident(f"H{n:04d}", Source.HOTLINE, now)
        for n in range(305)
    ]
    target = stored[7]
    closed = replace(target, state=State.CLOSED)
    closing = event(EventType.INCIDENT_UPDATED, closed, now, State.REPORTED, action="close")
    conn = await asyncpg.connect(database_url)
    try:
        docs = [store.encode_doc(i, UTC) for i in stored]
        await store.insert_incidents(conn, docs[:5])
        await conn.execute("ANALYZE incidents")
        await store.insert_incidents(conn, docs[5:])
        async with conn.transaction():
            [entry] = await journal.append(conn, [closing], UTC)
            read = await conn.fetchrow(
                "SELECT coalesce(seq_tup_read, 0) AS scanned, coalesce(idx_tup_fetch, 0) AS fetched"
                " FROM pg_stat_xact_user_tables WHERE relname = 'incidents'"
            )
        owed = await conn.fetch("SELECT incident_id, seq FROM outbox")
    finally:
        await conn.close()
    assert [(r["incident_id"], r["seq"]) for r in owed] == [(target.id, entry.seq)]
    assert read["scanned"] == 0
    assert read["fetched"] <= 2, f"the trigger fetched {read['fetched']} incidents"
