"""Hand-overs to other departments (移送) on real PostgreSQL and Redis: refused once and
accepted the second time, reported back and closed by the centre; every step in the incident's
history, the incident out of its squad's queue while held, a department's token answering only
its own, and the figures with the time each side held it."""

from __future__ import annotations

from typing import Any

from tests.integration.support import Api


async def department_token(api: Api, code: str) -> str:
    _, body = await api.call(
        "POST", f"/api/v1/departments/{code}/tokens", body={"name": f"{code} 联络员"}, expect=201
    )
    assert body["department"] == code
    return str(body["token"])


async def squad_queue(api: Api, token: str) -> list[str]:
    _, body = await api.call("GET", "/api/v1/incidents?squad_id=sq-west", token, expect=200)
    return [i["id"] for i in body["incidents"]]


async def act(api: Api, handover_id: str, token: str, **body: Any) -> tuple[int, Any]:
    return await api.call("POST", f"/api/v1/handovers/{handover_id}/actions", token, body=body)


async def test_refused_once_then_accepted_reported_and_closed(api: Api) -> None:
    await api.load_town()
    device = await api.token("device")
    west = await api.token("squad", "sq-west")
    market = await department_token(api, "scjg")
    ecology = await department_token(api, "sthj")
    _, incident = await api.report(device, external_id="ho-1", description="无照经营食品")
    iid = incident["id"]
    assert incident["squad_id"] == "sq-west"
    assert iid in await squad_queue(api, west)

    # handed over: out of the squad's queue, its clock paused
    status, first = await api.call(
        "POST",
        f"/api/v1/incidents/{iid}/handovers",
        body={"department": "scjg", "reason": "无照经营属市场监管职责"},
    )
    assert status == 201, first
    hid = first["handover"]["id"]
    assert hid.startswith("YS")
    assert (first["handover"]["state"], first["handover"]["department_name"]) == (
        "pending",
        "市场监管",
    )
    assert first["incident"]["squad_id"] is None
    assert first["incident"]["suspended"] is True
    assert iid not in await squad_queue(api, west)

    # the department sees it; another department neither sees nor answers it
    _, listed = await api.call("GET", "/api/v1/handovers?state=pending", market, expect=200)
    assert [h["id"] for h in listed["handovers"]] == [hid]
    _, other = await api.call("GET", "/api/v1/handovers", ecology, expect=200)
    assert other["handovers"] == []
    status, _ = await act(api, hid, ecology, action="accept", receipt_no="x")
    assert status == 404
    # a department does not close
    status, _ = await act(api, hid, market, action="close")
    assert status == 403

    # refused: back to the squad
    status, refused = await act(api, hid, market, action="refuse", reason="不属本局职责，请核实")
    assert status == 200, refused
    assert refused["handover"]["state"] == "refused"
    assert refused["handover"]["department_held_s"] is not None
    assert refused["incident"]["squad_id"] == "sq-west"
    assert iid in await squad_queue(api, west)

    # handed over again, accepted with a receipt, reported, closed by the centre
    _, second = await api.call(
        "POST",
        f"/api/v1/incidents/{iid}/handovers",
        body={"department": "scjg", "reason": "补充营业执照查询结果后再次移送"},
        expect=201,
    )
    hid2 = second["handover"]["id"]
    assert hid2 != hid
    status, _ = await act(api, hid, market, action="accept", receipt_no="late")
    assert status == 409  # the refused one is over
    status, accepted = await act(
        api, hid2, market, action="accept", receipt_no="市监回执〔2026〕18号"
    )
    assert (status, accepted["handover"]["state"]) == (200, "accepted")
    status, reported = await act(api, hid2, market, action="report", result="已立案查处，责令停业")
    assert (status, reported["handover"]["state"]) == (200, "reported")
    assert iid not in await squad_queue(api, west)
    operator = await api.token("operator")
    status, closed = await act(api, hid2, operator, action="close")
    assert status == 200, closed
    assert closed["handover"]["state"] == "closed"
    assert closed["handover"]["centre_held_s"] is not None
    assert closed["incident"]["state"] == "closed"
    assert closed["incident"]["outcome"] == "handed_to_department"
    assert closed["incident"]["squad_id"] == "sq-west"

    # every step in the incident's history, in order
    _, shown = await api.call("GET", f"/api/v1/incidents/{iid}", expect=200)
    steps = [
        (e["action"], e["detail"].get("handover_id"))
        for e in shown["history"]
        if (e.get("action") or "").startswith("handover.")
    ]
    assert steps == [
        ("handover.hand_over", hid),
        ("handover.refuse", hid),
        ("handover.hand_over", hid2),
        ("handover.accept", hid2),
        ("handover.report", hid2),
        ("handover.close", hid2),
    ]
    refusal = next(e for e in shown["history"] if e.get("action") == "handover.refuse")
    assert refusal["detail"]["refusal_reason"] == "不属本局职责，请核实"

    # the figures: two out, one refused, one accepted and closed, time held by each side
    _, figures = await api.call("GET", "/api/v1/stats/handovers", expect=200)
    total = figures["total"]
    assert (total["handed_over"], total["accepted"], total["refused"], total["closed"]) == (
        2,
        1,
        1,
        1,
    )
    assert total["open"] == 0
    assert total["department_held_hours"] >= 0
    assert [g["key"] for g in figures["groups"]] == ["scjg"]
    assert figures["clock"] == "working_hours"
    # a squad's holder reads its own tier's figures; a department's token none
    _, own = await api.call("GET", "/api/v1/stats/handovers", west, expect=200)
    assert own["total"]["handed_over"] == 2
    status, _ = await api.call("GET", "/api/v1/stats/handovers", market)
    assert status == 403


async def test_taken_back_and_refusals_of_the_request(api: Api) -> None:
    await api.load_town()
    device = await api.token("device")
    _, incident = await api.report(device, external_id="ho-2")
    iid = incident["id"]
    status, body = await api.call(
        "POST", f"/api/v1/incidents/{iid}/handovers", body={"department": "nope", "reason": "x"}
    )
    assert (status, body["error"]["field"]) == (422, "department")
    squad = await api.token("squad", "sq-west")
    status, _ = await api.call(
        "POST",
        f"/api/v1/incidents/{iid}/handovers",
        squad,
        body={"department": "police", "reason": "x"},
    )
    assert status == 403
    _, held = await api.call(
        "POST",
        f"/api/v1/incidents/{iid}/handovers",
        body={"department": "police", "reason": "涉嫌暴力抗法，移交公安"},
        expect=201,
    )
    status, _ = await api.call(
        "POST",
        f"/api/v1/incidents/{iid}/handovers",
        body={"department": "scjg", "reason": "again"},
    )
    assert status == 409  # one open hand-over at a time
    status, back = await act(
        api,
        held["handover"]["id"],
        await api.token("operator"),
        action="take_back",
        reason="收回自办",
    )
    assert status == 200, back
    assert back["handover"]["state"] == "taken_back"
    assert (back["incident"]["state"], back["incident"]["squad_id"]) == ("registered", "sq-west")
    _, figures = await api.call("GET", "/api/v1/stats/handovers", expect=200)
    assert figures["total"]["taken_back"] == 1
    assert [g["name"] for g in figures["groups"]] == ["公安"]
