"""Devices and the ISAPI alarm host on the whole path: real-looking Hikvision alerts in,
incidents (or nothing, counted) out; the device list, its sheet and the offline watch."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from dispatcher.store.devices import OfflineWatch
from geo.coords import CRS, from_wgs84
from tests import isapi_alerts as hik
from tests.integration.support import ADMIN, WEST, Api

ALARM = "/isapi/alarm"
LOCAL = (ipaddress.ip_network("127.0.0.0/8"),)
CAMERA = {
    "kind": "camera",
    "name": "西街道口1号",
    "lon": WEST[0],
    "lat": WEST[1],
    "mac": hik.MAC.upper(),
    "ip": hik.IP,
    "channels": 2,
    "stream_url": "https://video.example/live/cam-1.m3u8",
    "offline_after_minutes": 10,
    "rules": [
        {
            "event_type": "fielddetection",
            "target": "vehicle",
            "category": "200506",
            "confidence": 0.9,
        },
        {
            "event_type": "fielddetection",
            "channel": 1,
            "target": "human",
            "category": "200502",
            "confidence": 0.6,
        },
        {"event_type": "VMD", "category": "200102", "confidence": 0.5},
        {"event_type": "io", "channel": 1, "category": "100101", "confidence": 0.95},
    ],
}


async def post(api: Api, body: bytes, *, multipart: bool = False) -> tuple[int, Any]:
    kind = f"multipart/form-data; boundary={hik.BOUNDARY}" if multipart else "application/xml"
    async with api.session.post(
        api.base + ALARM, data=body, headers={"Content-Type": kind}
    ) as resp:
        return resp.status, await resp.json(content_type=None)


async def alarm_host(api_factory: Callable[..., Awaitable[Api]]) -> Api:
    api = await api_factory(camera_networks=LOCAL)
    await api.load_town()
    await api.call("PUT", "/api/v1/devices/CAM-1", body=CAMERA, expect=201)
    return api


async def incident(api: Api, incident_id: str) -> dict[str, Any]:
    _, doc = await api.call("GET", f"/api/v1/incidents/{incident_id}", expect=200)
    assert isinstance(doc, dict)
    return doc


async def metric(api: Api, result: str) -> float:
    async with api.session.get(api.base + "/metrics") as resp:
        text = await resp.text()
    line = f'dispatch_isapi_alerts_total{{result="{result}"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


async def test_a_device_is_written_in_any_crs_and_listed_with_its_status(api: Api) -> None:
    await api.load_town()
    lon, lat = from_wgs84(WEST[0], WEST[1], CRS.GCJ02)
    body = {**CAMERA, "lon": lon, "lat": lat, "crs": "GCJ02"}
    _, doc = await api.call("PUT", "/api/v1/devices/CAM-1", body=body, expect=201)
    assert abs(doc["lon"] - WEST[0]) < 1e-5
    assert abs(doc["lat"] - WEST[1]) < 1e-5
    assert (doc["mac"], doc["squad_id"], doc["status"]) == (hik.MAC, "sq-west", "never_heard")
    assert doc["rules"][0]["event_type"] == "fielddetection"
    await api.call("PUT", "/api/v1/devices/CAM-1", body=body, expect=200)
    again = {**CAMERA, "name": "另一台"}
    status, refused = await api.call("PUT", "/api/v1/devices/CAM-2", body=again)
    assert status == 409, refused
    unknown = {**CAMERA, "mac": None, "rules": [{"event_type": "VMD", "category": "999999"}]}
    status, refused = await api.call("PUT", "/api/v1/devices/CAM-2", body=unknown)
    assert (status, refused["error"]["field"]) == (422, "rules.0.category")
    for field, value in (("mac", "zz"), ("ip", "10.0.0.300"), ("stream_url", "file:///x")):
        status, _ = await api.call("PUT", "/api/v1/devices/CAM-2", body={**CAMERA, field: value})
        assert status == 422, field
    _, listed = await api.call("GET", "/api/v1/devices", expect=200)
    assert [d["id"] for d in listed["devices"]] == ["CAM-1"]
    operator = await api.token("operator")
    await api.call("GET", "/api/v1/devices?status=never_heard", operator, expect=200)
    await api.call("PUT", "/api/v1/devices/CAM-3", operator, body=CAMERA, expect=403)


async def test_a_sheet_writes_the_good_rows_and_names_each_bad_one(api: Api) -> None:
    await api.load_town()
    sheet = (
        "设备编码,设备名称,设备类型,经度,纬度,坐标系,MAC地址,IP地址,视频流地址,告警规则\n"
        f"CAM-1,西街1号,摄像机,{WEST[0]},{WEST[1]},WGS84,{hik.MAC},{hik.IP},"
        "https://video.example/1.m3u8,fielddetection/1/vehicle=200506@0.9; VMD=200102\n"
        f"CAM-2,西街2号,摄像机,{WEST[0]},{WEST[1]},,,10.20.3.16,,VMD=999999\n"
        f"CAM-3,西街3号,摄像机,{WEST[0]},{WEST[1]},,,10.20.3.17,rtmp://x/y,\n"
        f"UAV-1,巡查无人机,无人机,{WEST[0]},{WEST[1]},,,,,\n"
    ).encode()
    async with api.session.post(
        api.base + "/api/v1/devices:import",
        data=sheet,
        headers={**api.headers(ADMIN), "Content-Type": "text/csv"},
    ) as resp:
        assert resp.status == 200, await resp.text()
        report = await resp.json()
    assert (report["rows"], report["imported"], report["rejected"]) == (4, 2, 2)
    assert [(e["row"], e["field"]) for e in report["errors"]] == [
        (3, "rules.0.category"),
        (4, "stream_url"),
    ]
    _, listed = await api.call("GET", "/api/v1/devices", expect=200)
    assert [d["id"] for d in listed["devices"]] == ["CAM-1", "UAV-1"]
    assert listed["devices"][0]["rules"][0]["target"] == "vehicle"


async def test_field_detections_become_incidents_by_their_target(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await alarm_host(api_factory)
    status, vehicle = await post(api, hik.field_detection("vehicle"))
    assert (status, vehicle["result"]) == (200, "created")
    doc = await incident(api, vehicle["incident_id"])
    assert (doc["source"], doc["category"], doc["device_id"]) == ("camera", "200506", "CAM-1")
    assert (doc["lon"], doc["lat"], doc["confidence"]) == (WEST[0], WEST[1], 0.9)
    assert doc["state"] == "dispatched"  # 0.9 is above the category's 0.8: sent at once
    assert doc["description"] == "摄像机 西街道口1号 通道 1: 区域入侵侦测 (车辆)"
    assert doc["occurred_at"].startswith("2026-12-03T10:15:32")
    status, human = await post(api, hik.field_detection("human", "targetType", ip="10.20.3.99"))
    assert (status, human["result"]) == (200, "created")  # by its MAC, whatever its address
    doc = await incident(api, human["incident_id"])
    assert (doc["category"], doc["state"]) == ("200502", "reported")  # 0.6: an operator looks
    assert "low_confidence" in doc["flags"]
    # the human rule names channel 1: the same target on channel 2 is no rule's
    status, other = await post(api, hik.field_detection("human", channel=2))
    assert (status, other["result"]) == (200, "no_rule")


async def test_motion_and_an_io_alarm_follow_their_rules(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await alarm_host(api_factory)
    _, motion = await post(api, hik.motion())
    assert motion["result"] == "created"
    assert (await incident(api, motion["incident_id"]))["category"] == "200102"
    _, io = await post(api, hik.io_alarm(port=1))
    assert io["result"] == "created"
    doc = await incident(api, io["incident_id"])
    assert (doc["category"], doc["confidence"]) == ("100101", 0.95)
    _, other_port = await post(api, hik.io_alarm(port=2, when="2026-12-03T10:16:00+08:00"))
    assert other_port["result"] == "no_rule"
    _, line = await post(api, hik.alert("linedetection"))
    assert line["result"] == "no_rule"


async def test_a_multipart_alert_keeps_its_picture_as_the_first_photo(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await alarm_host(api_factory)
    body = hik.multipart(hik.field_detection("vehicle"), hik.JPEG)
    status, answer = await post(api, body, multipart=True)
    assert (status, answer["result"]) == (200, "created"), answer
    doc = await incident(api, answer["incident_id"])
    (url,) = doc["media"]
    assert url.startswith("/api/v1/devices/CAM-1/pictures/")
    squad = await api.token("squad", "sq-west")
    async with api.session.get(api.base + url, headers=api.headers(squad)) as resp:
        assert resp.status == 200
        assert resp.content_type == "image/jpeg"
        assert await resp.read() == hik.JPEG
    device = await api.token("device")
    async with api.session.get(api.base + url, headers=api.headers(device)) as resp:
        assert resp.status == 403


async def test_a_retransmitted_alert_makes_nothing_new(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await alarm_host(api_factory)
    body = hik.multipart(hik.field_detection("vehicle"), hik.JPEG)
    _, first = await post(api, body, multipart=True)
    _, again = await post(api, body, multipart=True)
    _, plain = await post(api, hik.field_detection("vehicle"))  # the same alert without picture
    assert first["result"] == "created"
    assert (again["result"], again["incident_id"]) == ("retransmitted", first["incident_id"])
    assert (plain["result"], plain["incident_id"]) == ("retransmitted", first["incident_id"])
    _, later = await post(api, hik.field_detection("vehicle", when="2026-12-03T10:15:40+08:00"))
    assert later["result"] == "created"  # a new dateTime: a new alert
    _, listed = await api.call("GET", "/api/v1/incidents?source=camera", expect=200)
    items = listed["incidents"] if isinstance(listed, dict) else listed
    assert sum(1 for i in items if i.get("device_id") == "CAM-1") >= 1
    assert await metric(api, "retransmitted") == 2


async def test_heartbeats_and_inactive_events_are_counted_and_mark_the_device_heard(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await alarm_host(api_factory)
    status, beat = await post(api, hik.heartbeat())
    assert (status, beat["result"]) == (200, "heartbeat")
    _, ended = await post(api, hik.field_detection("vehicle", state="inactive"))
    assert ended["result"] == "inactive"
    _, device = await api.call("GET", "/api/v1/devices/CAM-1", expect=200)
    assert (device["status"], device["last_event_type"]) == ("online", "fielddetection")
    assert device["last_heard_at"] is not None
    assert await metric(api, "heartbeat") == 1
    assert await metric(api, "inactive") == 1
    assert await metric(api, "created") == 0


async def test_an_unregistered_camera_is_answered_200_and_shown_to_the_admin(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await alarm_host(api_factory)
    stranger = hik.field_detection("vehicle", mac="44:19:b6:00:00:01", ip="10.20.9.9")
    for _ in range(2):
        status, answer = await post(api, stranger)
        assert (status, answer["result"]) == (200, "unregistered")
    _, listed = await api.call("GET", "/api/v1/devices", expect=200)
    (seen,) = listed["unregistered"]
    assert (seen["mac"], seen["ip"], seen["alerts"]) == ("44:19:b6:00:00:01", "10.20.9.9", 2)
    assert "unregistered device seen" in seen["note"]
    # an alert without a MAC is the device of its IP
    _, by_ip = await post(api, hik.motion(mac=None))
    assert by_ip["result"] == "created"


@pytest.mark.parametrize("networks", [None, (ipaddress.ip_network("10.20.0.0/16"),)])
async def test_alerts_from_outside_the_camera_networks_are_refused(
    api_factory: Callable[..., Awaitable[Api]], networks: Any
) -> None:
    api = await api_factory(camera_networks=networks)
    status, answer = await post(api, hik.field_detection("vehicle"))
    assert status == 403, answer
    assert await metric(api, "refused") == 1


@pytest.mark.parametrize(
    "body",
    [hik.BILLION_LAUGHS, hik.EXTERNAL_ENTITY, hik.REMOTE_DTD, b"<EventNotificationAlert>"],
    ids=["bomb", "xxe", "dtd", "broken"],
)
async def test_an_xml_bomb_or_dtd_is_a_400_and_makes_nothing(
    api_factory: Callable[..., Awaitable[Api]], body: bytes
) -> None:
    api = await alarm_host(api_factory)
    status, answer = await post(api, body)
    assert status == 400, answer
    status, answer = await post(api, hik.multipart(body, hik.JPEG), multipart=True)
    assert status == 400, answer
    assert await metric(api, "malformed") == 2


async def test_a_too_large_alert_is_refused(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await alarm_host(api_factory)
    huge = hik.alert(extra="<padding>" + "x" * 300_000 + "</padding>\n")
    status, _ = await post(api, huge)
    assert status == 413
    status, _ = await post(api, hik.multipart(huge), multipart=True)
    assert status == 413


async def test_a_silent_device_is_marked_offline_until_it_is_heard_again(
    api_factory: Callable[..., Awaitable[Api]], database_url: str
) -> None:
    api = await alarm_host(api_factory)
    await post(api, hik.heartbeat())
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        soon = OfflineWatch(pool, clock=lambda: datetime.now(UTC) + timedelta(minutes=5))
        assert await soon.run_once() == 0
        later = OfflineWatch(pool, clock=lambda: datetime.now(UTC) + timedelta(minutes=11))
        assert await later.run_once() == 1
        assert await later.run_once() == 0  # marked once
    finally:
        await pool.close()
    _, offline = await api.call("GET", "/api/v1/devices?status=offline", expect=200)
    assert [(d["id"], d["status_label"]) for d in offline["devices"]] == [("CAM-1", "离线")]
    assert offline["devices"][0]["offline_since"] is not None
    await post(api, hik.heartbeat())
    _, device = await api.call("GET", "/api/v1/devices/CAM-1", expect=200)
    assert (device["status"], device["offline_since"]) == ("online", None)
