"""12345 request types (诉求类型) on the real server and PostgreSQL: intake, Open311, 0015."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from dispatcher.core.categories import load_default_catalogue
from dispatcher.core.incidents import Incident, Source, State
from dispatcher.store import records as store
from tests.integration.support import EAST, WEST, Api, stored_incident

MIGRATION_0015 = Path(__file__).resolve().parents[2] / "migrations" / "0015_request_types.sql"
DAY_S = 86400.0
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


async def test_a_hotline_complaint_keeps_its_category_and_runs_on_the_complaint_limit(
    api: Api,
) -> None:
    await api.load_town()
    device = await api.token("device")
    _, complaint = await api.report(
        device, source="hotline", category="200504", request_type="complaint", external_id="h-1"
    )
    assert (complaint["category"], complaint["request_type"]) == ("200504", "complaint")
    assert complaint["state"] == "dispatched"
    assert complaint["clock"]["kind"] == "working_days"
    assert complaint["allowed_s"] == 13 * DAY_S
    assert "request_type_assumed" not in complaint["flags"]

    # an enquiry elsewhere: the enquiry's limit; a grid report: the category's 4 working hours
    _, enquiry = await api.report(
        device, request_type="consult", external_id="h-2", lon=EAST[0], lat=EAST[1]
    )
    assert (enquiry["request_type"], enquiry["allowed_s"]) == ("consult", 3 * DAY_S)
    _, grid = await api.report(
        device, source="grid", external_id="g-1", lon=WEST[0] + 0.02, lat=WEST[1]
    )
    assert (grid["request_type"], grid["clock"]["kind"]) == (None, "working_hours")
    assert grid["allowed_s"] == 4 * 3600

    # stored and read back
    _, again = await api.call("GET", f"/api/v1/incidents/{complaint['id']}", expect=200)
    assert again["request_type"] == "complaint"


async def test_a_hotline_report_without_a_type_is_an_assumed_complaint(api: Api) -> None:
    await api.load_town()
    _, made = await api.report(await api.token("device"), external_id="h-untyped")
    assert made["request_type"] == "complaint"
    assert "request_type_assumed" in made["flags"]
    assert made["allowed_s"] == 13 * DAY_S


async def test_a_bad_type_is_422_naming_the_field_and_a_type_code_is_no_category(
    api: Api,
) -> None:
    await api.load_town()
    device = await api.token("device")
    status, answer = await api.report(device, request_type="投诉", external_id="h-bad")
    assert status == 422
    assert (answer["error"]["code"], answer["error"]["field"]) == ("invalid", "request_type")
    status, answer = await api.report(device, category="200604", external_id="h-old")
    assert (status, answer["error"]["field"]) == (422, "category")
    lines = [
        {"source": "hotline", "external_id": "b-1", "category": "200504", "lon": WEST[0],
         "lat": WEST[1], "request_type": "report"},
        {"source": "hotline", "external_id": "b-2", "category": "200504", "lon": EAST[0],
         "lat": EAST[1], "request_type": "praise"},
    ]  # fmt: skip
    body = "\n".join(json.dumps(line) for line in lines).encode()
    _, result = await api.call("POST", "/api/v1/incidents:batch", device, data=body, expect=200)
    assert [r["result"] for r in result["results"]] == ["created", "error"]
    assert result["results"][1]["error"]["field"] == "request_type"


async def test_open311_takes_the_type_as_an_attribute_and_shows_it_back(api: Api) -> None:
    await api.load_town()
    key = await api.token("device")
    base = f"{api.base}/open311/v2"
    async with api.session.get(f"{base}/services/200504.json") as resp:
        definition = await resp.json()
    (spec,) = [a for a in definition["attributes"] if a["code"] == "request_type"]
    assert spec["datatype"] == "singlevaluelist"
    assert [v["key"] for v in spec["values"]] == [
        "consult",
        "help",
        "complaint",
        "suggestion",
        "report",
    ]
    form = {
        "api_key": key,
        "service_code": "200504",
        "lat": str(WEST[1]),
        "long": str(WEST[0]),
        "description": "水果店出店摆卖，求助处理",
        "attribute[request_type]": "help",
        "external_id": "12345-20261123-0101",
    }
    async with api.session.post(f"{base}/requests.json", data=form) as resp:
        assert resp.status == 201, await resp.text()
        (filed,) = await resp.json()
    rid = filed["service_request_id"]
    async with api.session.get(f"{base}/requests/{rid}.json?api_key={key}") as resp:
        (shown,) = await resp.json()
    assert (shown["service_code"], shown["request_type"]) == ("200504", "help")
    _, incident = await api.call("GET", f"/api/v1/incidents/{rid}", expect=200)
    assert (incident["request_type"], incident["allowed_s"]) == ("help", 5 * DAY_S)
    assert "request_type" not in incident["open311"]
    assert "request_type_assumed" not in incident["flags"]

    bad = {**form, "attribute[request_type]": "praise", "external_id": "12345-20261123-0102"}
    async with api.session.post(f"{base}/requests.json", data=bad) as resp:
        assert resp.status == 400
        assert "attribute[request_type]" in (await resp.json())[0]["description"]


# --- migration 0015 --------------------------------------------------------------------------

SHIPPED_BEFORE = {"200602": "咨询", "200603": "求助", "200604": "投诉"}
CITY_OWN = ("200605", "城市家具破损")  # a city catalogue numbering its own 小类 200605


def old_doc(incident: Incident) -> str:
    """The incident as the code before request types stored it: no ``request_type`` key."""
    doc = json.loads(store.encode_doc(incident, UTC))
    del doc["request_type"]
    return json.dumps(doc, ensure_ascii=False)


async def test_migration_0015_moves_type_codes_forward(database_url: str) -> None:
    """Incidents filed under a type as a category keep it as their category of record and get
    the type; the catalogue loses the shipped type entries and only those."""
    before = {c.code: c.to_json() for c in load_default_catalogue()}
    noise = {k: v for k, v in before["200601"].items() if k != "hotline_limit_days"}
    rows: list[tuple[str, str, dict[str, Any]]] = [
        ("200601", noise["name"], noise),
        ("200504", before["200504"]["name"], before["200504"]),
        *[
            (code, name, {**before["200504"], "code": code, "name": name, "clock": "working_days"})
            for code, name in (*SHIPPED_BEFORE.items(), CITY_OWN)
        ],
    ]
    help_open = stored_incident("T-help", Source.HOTLINE, T0, category="200603")
    help_closed = stored_incident(
        "T-help-closed", Source.CITIZEN, T0, category="200603", state=State.CLOSED
    )
    consult = stored_incident("T-consult", Source.HOTLINE, T0, category="200602")
    city = stored_incident("T-city", Source.HOTLINE, T0, category=CITY_OWN[0])
    shop = stored_incident("T-shop", Source.HOTLINE, T0, category="200504")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DELETE FROM categories")
        await conn.executemany(
            "INSERT INTO categories (code, name, spec) VALUES ($1, $2, $3::jsonb)",
            [(code, name, json.dumps(spec, ensure_ascii=False)) for code, name, spec in rows],
        )
        docs = [old_doc(i) for i in (help_open, help_closed, consult, city, shop)]
        assert all('"request_type"' not in d for d in docs)  # as the old code stored them
        await store.insert_incidents(conn, docs)
        await conn.execute(MIGRATION_0015.read_text(encoding="utf-8"))
        stored = await conn.fetch(
            "SELECT id, category, doc, version FROM incidents WHERE id LIKE 'T-%' ORDER BY id"
        )
        catalogue = {
            r["code"]: json.loads(r["spec"])
            for r in await conn.fetch("SELECT code, spec FROM categories")
        }
        # once more: nothing left to do
        await conn.execute(MIGRATION_0015.read_text(encoding="utf-8"))
        again = await conn.fetch("SELECT doc FROM incidents WHERE id LIKE 'T-%' ORDER BY id")
    finally:
        await conn.close()
    moved = {r["id"]: store.decode_doc(r["doc"]) for r in stored}
    types = {iid: (i.category, i.request_type and i.request_type.value) for iid, i in moved.items()}
    assert types == {
        "T-help": ("200603", "help"),
        "T-help-closed": ("200603", "help"),
        "T-consult": ("200602", "consult"),
        "T-city": ("200605", None),  # the city's own 200605 is not a type
        "T-shop": ("200504", None),
    }
    assert {r["category"] for r in stored} == {"200603", "200602", "200605", "200504"}
    assert {r["version"] for r in stored} == {1}
    assert moved["T-help-closed"].state is State.CLOSED
    assert set(catalogue) == {"200601", "200504", CITY_OWN[0]}
    assert catalogue["200601"]["hotline_limit_days"] == 2
    assert "hotline_limit_days" not in catalogue["200504"]
    assert [r["doc"] for r in again] == [r["doc"] for r in stored]
