"""Supervision sampling on the real server: reproducible draws, checks through the life cycle."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dispatcher.core.sampling import Candidate, Stratum, draw, items
from tests.integration.support import ADMIN, Api
from tests.integration.test_stats import act, west


async def closed_incidents(api: Api) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Six closed hotline calls, three closed filed cases from citizens, one still open."""
    await api.load_town()
    op = await api.token("operator")
    w = await api.token("squad", "sq-west")
    device = await api.token("device")
    made: dict[str, list[str]] = {"hotline": [], "filed": [], "open": []}
    for n in range(10):
        lon, lat = west(n)
        source = "hotline" if n < 6 or n == 9 else "citizen"
        _, inc = await api.report(device, source=source, lon=lon, lat=lat)
        iid = inc["id"]
        if source == "citizen":
            await act(api, iid, op, action="register")
            await act(api, iid, op, action="dispatch", squad_id="sq-west")
        await act(api, iid, w, action="accept")
        if n == 9:
            made["open"].append(iid)
            continue
        outcome = "corrected_on_spot" if source == "hotline" else "case_filed"
        await act(api, iid, w, action="resolve", outcome=outcome)
        await act(api, iid, op, action="verify", passed=True)
        made["hotline" if source == "hotline" else "filed"].append(iid)
    return made, {"op": op, "w": w}


async def post_sample(api: Api, token: str = ADMIN, expect: int = 201, **body: Any) -> Any:
    _, answer = await api.call("POST", "/api/v1/samples", token, body=body, expect=expect)
    return answer


async def test_a_seeded_draw_is_recorded_and_reproducible(api: Api) -> None:
    start = datetime.now(UTC).isoformat()
    made, _ = await closed_incidents(api)
    end = datetime.now(UTC).isoformat()
    strata = [
        {"name": "hotline", "rate": 0.5, "sources": ["hotline"]},
        {"name": "case_filed", "rate": 1.0, "outcomes": ["case_filed"]},
    ]
    first = await post_sample(api, **{"from": start, "to": end, "seed": 42, "strata": strata})
    again = await post_sample(api, **{"from": start, "to": end, "seed": 42, "strata": strata})
    assert first["id"] != again["id"]
    assert [i["incident_id"] for i in first["items"]] == [i["incident_id"] for i in again["items"]]
    assert first["seed"] == 42
    assert [(s["name"], s["population"], s["drawn"]) for s in first["strata"]] == [
        ("hotline", 6, 3),  # ceil(0.5 × 6); the open one is not in the population
        ("case_filed", 3, 3),
    ]
    # the documented algorithm, run here on the same population, draws the same incidents
    population = [Candidate(i, "hotline", "corrected_on_spot") for i in made["hotline"]] + [
        Candidate(i, "citizen", "case_filed") for i in made["filed"]
    ]
    chosen = items(
        draw(
            population,
            [
                Stratum("hotline", 0.5, ("hotline",)),
                Stratum("case_filed", 1.0, (), ("case_filed",)),
            ],
            42,
        )
    )
    assert {i["incident_id"]: i["strata"] for i in first["items"]} == chosen

    default = await post_sample(api, **{"from": start, "to": end})
    assert [(s["name"], s["rate"], s["drawn"]) for s in default["strata"]] == [
        ("hotline", 0.01, 1),
        ("case_filed", 0.1, 1),
    ]
    assert isinstance(default["seed"], int)
    _, listed = await api.call("GET", "/api/v1/samples", await api.token("auditor"), expect=200)
    assert [s["id"] for s in listed["samples"]][:3] == [default["id"], again["id"], first["id"]]
    assert listed["samples"][0]["checked"] == 0


async def test_checks_land_in_the_history_and_a_failed_one_reopens_the_case(api: Api) -> None:
    start = datetime.now(UTC).isoformat()
    made, tokens = await closed_incidents(api)
    sample = await post_sample(
        api,
        **{"from": start, "to": datetime.now(UTC).isoformat(), "seed": 1},
        strata=[{"name": "case_filed", "rate": 1.0, "outcomes": ["case_filed"]}],
    )
    sid = sample["id"]
    ok_id, bad_id, third = (i["incident_id"] for i in sample["items"])
    path = f"/api/v1/samples/{sid}/items"

    _, passed = await api.call(
        "POST", f"{path}/{ok_id}/check", tokens["op"], body={"result": "satisfied"}, expect=200
    )
    assert passed["incident"]["state"] == "closed"
    assert passed["item"]["result"] == "satisfied"

    _, failed = await api.call(
        "POST",
        f"{path}/{bad_id}/check",
        tokens["op"],
        body={"result": "rework_ordered", "note": "现场复发"},
        expect=200,
    )
    reopened = failed["incident"]
    assert (reopened["state"], reopened["squad_id"], reopened["rework_count"]) == (
        "dispatched",
        "sq-west",
        1,
    )
    _, full = await api.call("GET", f"/api/v1/incidents/{bad_id}", expect=200)
    review = next(h for h in full["history"] if h["action"] == "review")
    assert (review["state_before"], review["state_after"]) == ("closed", "dispatched")
    assert review["detail"]["passed"] is False
    assert (review["detail"]["sample_id"], review["detail"]["result"]) == (sid, "rework_ordered")
    assert failed["item"]["seq"] == review["seq"]
    assert any(h["type"] == "dispatch.assigned" for h in full["history"][-2:])

    await api.call(
        "POST", f"{path}/{bad_id}/check", tokens["op"], body={"result": "satisfied"}, expect=409
    )
    await api.call(
        "POST", f"{path}/{made['open'][0]}/check", body={"result": "satisfied"}, expect=404
    )
    await api.call("POST", f"{path}/{third}/check", tokens["w"], body={"result": "x"}, expect=403)
    auditor = await api.token("auditor")
    await api.call(
        "POST", f"{path}/{third}/check", auditor, body={"result": "satisfied"}, expect=403
    )
    await api.call("POST", f"{path}/{third}/check", body={"result": "meh"}, expect=422)
    _, shown = await api.call("GET", f"/api/v1/samples/{sid}", auditor, expect=200)
    assert [i["result"] for i in shown["items"]] == ["satisfied", "rework_ordered", None]

    # the rework counts in the figures, as everything else from the history
    _, figures = await api.call(
        "GET", f"/api/v1/stats?from={start.replace('+', '%2B')}&group_by=category", expect=200
    )
    assert figures["total"]["reworked"] == 1
    assert figures["total"]["closed"] == 8


async def test_sampling_needs_an_operator(api: Api) -> None:
    await api.load_town()
    body = {"from": "2026-10-01T00:00:00+08:00", "to": "2026-11-01T00:00:00+08:00"}
    await post_sample(api, await api.token("auditor"), 403, **body)
    await post_sample(api, await api.token("squad", "sq-west"), 403, **body)
    refused = await post_sample(api, ADMIN, 422, **{**body, "to": "2026-09-01T00:00:00+08:00"})
    assert refused["error"]["field"] == "to"
    await api.call("GET", "/api/v1/samples/999", expect=404)
