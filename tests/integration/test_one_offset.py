"""Every time the API writes is in the deployment's zone (DISPATCH_TZ, +08:00 by default):
never +00:00 beside +08:00 in one answer. Walks the answers of the main resources, from an
incident's life cycle to supervision records and items, tokens, people and the figures."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from tests.integration.support import Api

#: an RFC 3339 time with an offset, as the API writes them
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:\d\d|Z)$")


def times(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(where, value) of every string in ``node`` that is an RFC 3339 time."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from times(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from times(value, f"{where}[{i}]")
    elif isinstance(node, str) and TIME.match(node):
        yield where, node


async def test_every_time_of_the_answers_is_in_the_deployments_offset(api: Api) -> None:
    await api.load_town()
    device = await api.token("device")
    squad = await api.token("squad", "sq-west")
    _, incident = await api.report(device, external_id="offset-1", request_type="complaint")
    iid = incident["id"]
    assert incident["state"] == "dispatched"  # registered and dispatched at intake
    for token, body in (
        (squad, {"action": "accept"}),
        (None, {"action": "supervise", "note": "请加快处置"}),
        (squad, {"action": "extend", "hours": 1, "reason": "需时间"}),
        (None, {"action": "approve_extension"}),
        (squad, {"action": "resolve", "outcome": "corrected_on_spot"}),
    ):
        path = f"/api/v1/incidents/{iid}/actions"
        if token is None:
            await api.call("POST", path, body=body, expect=200)
        else:
            await api.call("POST", path, token, body=body, expect=200)
    await api.call(
        "POST",
        f"/api/v1/incidents/{iid}/hotline",
        body={"action": "contact", "method": "phone"},
        expect=200,
    )
    _, item = await api.call(
        "POST",
        "/api/v1/supervision-items",
        body={
            "kind": "leader_instruction",
            "doc_text": "请核查",
            "tier_id": "sq-west",
            "incident_ids": [iid],
        },
        expect=201,
    )
    for n in (2, 3):  # two more complaints at the same place: a repeat place (重复诉件)
        await api.report(device, external_id=f"offset-{n}", request_type="complaint")
    await api.call(
        "POST",
        "/api/v1/people",
        body={
            "login": "offset.op",
            "name": "王值班",
            "role": "operator",
            "password": "Offset2026x",
        },
        expect=201,
    )
    answers = {
        "incident": (await api.call("GET", f"/api/v1/incidents/{iid}", expect=200))[1],
        "incidents": (await api.call("GET", "/api/v1/incidents", expect=200))[1],
        "supervisions": (
            await api.call("GET", f"/api/v1/incidents/{iid}/supervisions", expect=200)
        )[1],
        "item": (await api.call("GET", f"/api/v1/supervision-items/{item['id']}", expect=200))[1],
        "items": (await api.call("GET", "/api/v1/supervision-items", expect=200))[1],
        "tokens": (await api.call("GET", "/api/v1/tokens", expect=200))[1],
        "stats": (await api.call("GET", "/api/v1/stats", expect=200))[1],
        "calendar": (await api.call("GET", "/api/v1/calendar", expect=200))[1],
        "people": (await api.call("GET", "/api/v1/people", expect=200))[1],
        "units": (await api.call("GET", "/api/v1/units", expect=200))[1],
        "hotline": (await api.call("GET", "/api/v1/stats/hotline", expect=200))[1],
        "cases": (await api.call("GET", "/api/v1/cases", expect=200))[1],
        "handovers": (await api.call("GET", "/api/v1/handovers", expect=200))[1],
        "repeats": (await api.call("GET", "/api/v1/hotspots/repeats?min_count=2", expect=200))[1],
    }
    found = [
        (name + where, value) for name, answer in answers.items() for where, value in times(answer)
    ]
    assert len(found) > 40
    assert any(w.startswith("incident.history") for w, _ in found)
    assert any(w.startswith("supervisions.") for w, _ in found)
    assert any(w.startswith("people.") and w.endswith("created_at") for w, _ in found)
    assert any(w.startswith("repeats.") and w.endswith("first_at") for w, _ in found)
    other = [(w, v) for w, v in found if not v.endswith("+08:00")]
    assert not other, "\n".join(f"{w} {v}" for w, v in other)
