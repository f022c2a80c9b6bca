"""CAP 1.2 alerts on the whole path: created, replayed, updated, cancelled, attacks refused."""

from __future__ import annotations

from tests.integration.support import Api, without_clock
from tests.unit.test_cap import BILLION_LAUGHS, EXTERNAL, alert, info

PATH = "/api/v1/alerts/cap"
#: the town's west street, as CAP writes it (lat,lon)
WEST_CIRCLE = "<circle>31.2050,121.4050 0.03</circle>"
EAST_POLYGON = (
    "<polygon>31.2990,121.5490 31.2990,121.5510 31.3010,121.5510 31.3010,121.5490 "
    "31.2990,121.5490</polygon>"
)
REF = "drone-07@huangpu.cgzf.gov.cn,{},2026-11-23T10:15:00+08:00"


async def post(api: Api, token: str, body: bytes) -> tuple[int, dict[str, object]]:
    status, answer = await api.call("POST", PATH, token, data=body)
    assert isinstance(answer, dict), answer
    return status, answer


async def test_an_alert_makes_its_incidents_and_a_replay_answers_the_same(api: Api) -> None:
    await api.load_town()
    drone = await api.token("device")
    body = alert(
        info(language="en-US", area=WEST_CIRCLE, headline="Spoil on the road"),
        info(area=WEST_CIRCLE),  # the same, in Chinese
        info(code="200102", area=EAST_POLYGON, headline="暴露垃圾"),
    )
    status, answer = await post(api, drone, body)
    assert status == 201, answer
    west, east = answer["incidents"]  # type: ignore[misc]
    assert (west["category"], west["source"], west["state"]) == ("200303", "drone", "reported")
    assert "west" in west["zone_ids"]  # certainty Likely (0.75): waits for an operator
    assert west["description"].startswith("无人机巡查")
    assert west["cap"]["severity"] == "Moderate"
    assert east["category"] == "200102"
    assert "east" in east["zone_ids"]
    assert abs(east["lon"] - 121.55) < 1e-6
    assert abs(east["lat"] - 31.30) < 1e-6
    again = await post(api, drone, body)
    assert without_clock(again) == (200, without_clock(answer))


async def test_update_changes_and_cancel_withdraws_the_incidents_referenced(api: Api) -> None:
    await api.load_town()
    drone = await api.token("device")
    low = "<parameter><valueName>confidence</valueName><value>0.3</value></parameter>"
    _, first = await post(api, drone, alert(info(area=WEST_CIRCLE, extra=low), identifier="A-1"))
    (incident,) = first["incidents"]  # type: ignore[misc]
    assert incident["state"] == "reported"  # 0.3: waits for an operator
    update = alert(
        info(area=WEST_CIRCLE, headline="遗撒范围扩大至 80 米", extra=low),
        msg_type="Update",
        identifier="A-2",
        references=REF.format("A-1"),
    )
    status, updated = await post(api, drone, update)
    assert status == 200, updated
    assert updated["applied"] == "updated"
    (changed,) = updated["incidents"]  # type: ignore[misc]
    assert changed["id"] == incident["id"]
    assert changed["description"].startswith("遗撒范围扩大")
    cancel = alert(msg_type="Cancel", identifier="A-3", references=REF.format("A-1"))
    status, cancelled = await post(api, drone, cancel)
    assert status == 200, cancelled
    assert [i["state"] for i in cancelled["incidents"]] == ["rejected"]  # type: ignore[attr-defined]
    _, stored = await api.call("GET", f"/api/v1/incidents/{incident['id']}", expect=200)
    assert [h["action"] for h in stored["history"]] == ["report", "cap_update", "cap_cancel"]
    unknown = alert(msg_type="Cancel", identifier="A-4", references=REF.format("never"))
    status, refused = await post(api, drone, unknown)
    assert (status, refused["error"]["field"]) == (422, "references")  # type: ignore[index]


async def test_test_messages_are_recorded_and_create_nothing(api: Api) -> None:
    await api.load_town()
    drone = await api.token("device")
    status, answer = await post(api, drone, alert(info(area=WEST_CIRCLE), status="Exercise"))
    assert (status, answer["incidents"], answer["applied"]) == (200, [], "ignored: Exercise Alert")
    _, listed = await api.call("GET", "/api/v1/incidents", expect=200)
    assert listed["count"] == 0


async def test_hostile_and_wrong_documents_are_refused_and_the_server_is_unharmed(
    api: Api,
) -> None:
    await api.load_town()
    drone = await api.token("device")
    cases = [
        (BILLION_LAUGHS, 400, None),
        (EXTERNAL, 400, None),
        (b"<alert><unclosed>", 400, None),
        (alert(info(area=WEST_CIRCLE), ns="urn:oasis:names:tc:emergency:cap:1.1"), 422, "alert"),
        (alert(info(area=WEST_CIRCLE)).replace(b"Immediate", b"Now"), 422, "alert/info/urgency"),
        (alert(info(code="999999", area=WEST_CIRCLE)), 422, "info[0].eventCode"),
        (b"<a>" * 50_000 + b"</a>" * 50_000, 422, "alert"),
    ]
    for body, code, field in cases:
        status, answer = await post(api, drone, body)
        assert status == code, (body[:80], answer)
        assert answer["error"].get("field") == field  # type: ignore[attr-defined]
    assert (await api.call("GET", "/healthz", None))[0] == 200
    assert (await post(api, drone, alert(info(area=WEST_CIRCLE))))[0] == 201
    auditor = await api.token("auditor")
    assert (await post(api, auditor, alert(info(area=WEST_CIRCLE), identifier="B")))[0] == 403
