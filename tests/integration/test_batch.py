"""Bulk import from grid platforms, and one trip for nearby cases (顺路处置), on real PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.support import EAST, WEST, Api

PATH = "/api/v1/incidents:batch"


def line(n: int, **fields: Any) -> str:
    body = {
        "source": "grid",
        "external_id": f"grid-{n:05d}",
        "category": "200507",
        "lon": WEST[0] + (n % 80) * 0.0005,  # 48 m apart, in rows
        "lat": WEST[1] + (n // 80) * 0.0005,
        "description": "网格员上报：乱堆物堆料",
        **fields,
    }
    return json.dumps(body, ensure_ascii=False)


async def test_a_grid_file_answers_line_by_line_and_can_be_sent_again(api: Api) -> None:
    await api.load_town()
    grid = await api.token("device")
    lines = [line(n) for n in range(400)]
    lines[10] = "{not json"
    lines[20] = line(20, category="999999")
    lines[30] = line(30, external_id=None)
    lines.insert(40, "")
    body = ("\n".join(lines) + "\n").encode()
    status, answer = await api.call("POST", PATH, grid, data=body)
    assert status == 200, answer
    assert (answer["lines"], answer["created"], answer["failed"]) == (400, 397, 3)
    failures = {r["line"]: r["error"] for r in answer["results"] if r["result"] == "error"}
    assert failures[11]["status"] == 400
    assert (failures[21]["status"], failures[21]["field"]) == (422, "category")
    assert failures[31]["field"] == "external_id"
    assert [r["line"] for r in answer["results"]][39:42] == [40, 42, 43]  # the blank line 41
    again = await api.call("POST", PATH, grid, data=body)
    assert again[1]["replayed"] == 397
    assert [r.get("id") for r in again[1]["results"]] == [r.get("id") for r in answer["results"]]
    _, listed = await api.call("GET", "/api/v1/incidents?limit=1000", expect=200)
    assert listed["count"] == 397


async def test_batches_are_bounded(api: Api) -> None:
    await api.load_town()
    grid = await api.token("device")
    too_many = ("\n".join(line(n) for n in range(10_001))).encode()
    status, answer = await api.call("POST", PATH, grid, data=too_many)
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")
    squad = await api.token("squad", "sq-west")
    assert (await api.call("POST", PATH, squad, data=line(1).encode()))[0] == 403


async def test_open_incidents_at_one_target_are_one_visit_dispatched_together(api: Api) -> None:
    await api.load_town()
    operator, grid = await api.token("operator"), await api.token("device")
    squad = await api.token("squad", "sq-east")
    shop = {"address": "东街道 幸福路 12 号 好又多超市", "lat": EAST[1]}
    reports = [  # one shop: goods outside, a sign, bins; and a place elsewhere
        {"source": "citizen", "category": "200504", "lon": EAST[0], **shop},
        {"source": "citizen", "category": "200202", "lon": EAST[0] + 0.0002, **shop},
        {"source": "citizen", "category": "100302", "lon": EAST[0] + 0.00015, "lat": EAST[1]},
        {"source": "citizen", "category": "200504", "lon": EAST[0] + 0.01, "lat": EAST[1]},
    ]
    ids = []
    for n, report in enumerate(reports):
        _, made = await api.call(
            "POST", "/api/v1/incidents", grid, body={**report, "external_id": f"v-{n}"}
        )
        await api.call(
            "POST",
            f"/api/v1/incidents/{made['id']}/actions",
            operator,
            body={"action": "register"},
            expect=200,
        )
        ids.append(made["id"])
    _, listed = await api.call("GET", "/api/v1/visits?squad_id=sq-east", squad, expect=200)
    (visit,) = listed["visits"]
    assert sorted(visit["incident_ids"]) == sorted(ids[:3])
    assert visit["reasons"] == ["nearby", "same_address"]
    assert visit["address"] == shop["address"]
    assert (await api.call("GET", "/api/v1/visits?squad_id=sq-west", squad))[0] == 403
    assert (
        await api.call("POST", f"/api/v1/visits/{visit['id']}/dispatch?squad_id=sq-east", squad)
    )[0] == 403
    status, sent = await api.call(
        "POST", f"/api/v1/visits/{visit['id']}/dispatch?squad_id=sq-east", operator
    )
    assert status == 200, sent
    assert sorted(sent["dispatched"]) == sorted(ids[:3])
    for incident_id in ids[:3]:
        _, incident = await api.call("GET", f"/api/v1/incidents/{incident_id}", expect=200)
        assert (incident["state"], incident["squad_id"], incident["visit_id"]) == (
            "dispatched",
            "sq-east",
            visit["id"],
        )
    _, alone = await api.call("GET", f"/api/v1/incidents/{ids[3]}", expect=200)
    assert alone["state"] == "registered"
    stale = await api.call(
        "POST", f"/api/v1/visits/{visit['id']}/dispatch?squad_id=sq-east", operator
    )
    assert stale[0] == 200  # nothing left to send: the visit is the same, all already out
    assert stale[1]["dispatched"] == []


async def test_an_operator_unmerges_a_report_that_was_not_a_duplicate(api: Api) -> None:
    await api.load_town()
    operator, device = await api.token("operator"), await api.token("device")
    _, first = await api.report(device, external_id="u-1", media=["https://m/1.jpg"])
    _, second = await api.report(device, external_id="u-2", media=["https://m/2.jpg"])
    assert second["duplicate_of"] == first["id"]
    path = f"/api/v1/incidents/{second['id']}/unmerge"
    assert (await api.call("POST", path, device))[0] == 403
    status, own = await api.call("POST", path, operator, body={"reason": "两家不同店铺"})
    assert status == 200, own
    assert (own["state"], own["duplicate_of"]) == ("reported", None)
    _, target = await api.call("GET", f"/api/v1/incidents/{first['id']}", expect=200)
    assert target["report_count"] == 1
    assert target["media"] == ["https://m/1.jpg"]
    assert target["history"][-1]["action"] == "unmerge"
    again = await api.call("POST", path, operator)
    assert (again[0], again[1]["error"]["code"]) == (409, "invalid_transition")
