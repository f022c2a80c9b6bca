"""Reading ISAPI alerts (dispatcher.core.isapi) and devices' rules and sheets (core.devices)."""

from __future__ import annotations

import pytest

from dispatcher.core import devices, isapi
from dispatcher.core.errors import BadRequest
from tests import isapi_alerts as hik


def test_a_field_detection_is_read_with_its_camera_channel_time_and_target() -> None:
    alert = isapi.parse_alert(hik.field_detection("vehicle"))
    assert (alert.event_type, alert.state, alert.channel) == ("fielddetection", "active", 1)
    assert (alert.mac, alert.ip, alert.targets) == (hik.MAC, hik.IP, ("vehicle",))
    assert alert.at is not None
    assert alert.at.isoformat() == hik.WHEN
    assert alert.active_post_count == 1
    assert isapi.disposition(alert) is isapi.Disposition.ACTIVE
    assert isapi.describe(alert, "西街1号") == "摄像机 西街1号 通道 1: 区域入侵侦测 (车辆)"


def test_target_type_is_read_as_detection_target_is() -> None:
    assert isapi.parse_alert(hik.field_detection("human", "targetType")).targets == ("human",)


def test_an_io_alarm_has_its_port_as_channel() -> None:
    alert = isapi.parse_alert(hik.io_alarm(port=2))
    assert (alert.event_type, alert.channel, alert.targets) == ("IO", 2, ())


def test_heartbeats_and_inactive_events() -> None:
    assert isapi.disposition(isapi.parse_alert(hik.heartbeat())) is isapi.Disposition.HEARTBEAT
    beat = isapi.parse_alert(hik.alert("heartBeat", state="active"))
    assert isapi.disposition(beat) is isapi.Disposition.HEARTBEAT
    ended = isapi.parse_alert(hik.motion(state="inactive"))
    assert isapi.disposition(ended) is isapi.Disposition.INACTIVE


def test_the_key_names_device_channel_type_targets_and_time_only() -> None:
    first = isapi.parse_alert(hik.field_detection("vehicle", count=1))
    again = isapi.parse_alert(hik.field_detection("vehicle", count=1))
    other_time = isapi.parse_alert(hik.field_detection("vehicle", when="2026-12-03T10:15:40+08:00"))
    human = isapi.parse_alert(hik.field_detection("human"))
    assert first.key("CAM-1") == again.key("CAM-1") == f"CAM-1/1/fielddetection/vehicle/{hik.WHEN}"
    assert len({first.key("CAM-1"), other_time.key("CAM-1"), human.key("CAM-1")}) == 3


@pytest.mark.parametrize(
    "body", [hik.BILLION_LAUGHS, hik.EXTERNAL_ENTITY, hik.REMOTE_DTD], ids=["bomb", "xxe", "dtd"]
)
def test_entities_and_dtds_are_refused(body: bytes) -> None:
    with pytest.raises(BadRequest, match="refused"):
        isapi.parse_alert(body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"<EventNotificationAlert><eventType>VMD</eventType>", "well-formed"),
        (b"<alert><eventType>VMD</eventType></alert>", "root element"),
        (b"<EventNotificationAlert/>", "eventType"),
        (hik.alert(mac="not-a-mac"), "macAddress"),
        (hik.alert(when="yesterday"), "dateTime"),
        (
            b"<EventNotificationAlert>" + b"<a>" * 40 + b"</a>" * 40 + b"</EventNotificationAlert>",
            "deeper",
        ),
        (
            b"<EventNotificationAlert>" + b" " * isapi.MAX_XML_BYTES + b"</EventNotificationAlert>",
            "at most",
        ),
    ],
)
def test_what_is_not_an_alert_is_refused(body: bytes, reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        isapi.parse_alert(body)


def test_rules_match_type_case_insensitively_and_channel_and_target_when_named() -> None:
    rule = devices.RuleIn(event_type="FieldDetection", channel=1, target="Vehicle", category="x")
    assert rule.matches("fielddetection", 1, ["vehicle"])
    assert not rule.matches("fielddetection", 2, ["vehicle"])
    assert not rule.matches("fielddetection", 1, ["human"])
    assert devices.RuleIn(event_type="vmd", category="x").matches("VMD", 7, [])


def test_mac_and_ip_are_kept_in_one_form() -> None:
    assert devices.normal_mac("AC-B9-2F-49-44-75") == hik.MAC
    assert devices.normal_mac("acb92f494475") == hik.MAC
    assert devices.normal_ip("::ffff:10.20.3.15") == hik.IP
    with pytest.raises(ValueError, match="not a MAC"):
        devices.normal_mac("ac:b9:2f:49:44")


def test_rules_in_a_sheet_cell() -> None:
    assert devices.parse_rules("fielddetection/1/vehicle=200506@0.9； VMD=200102") == [
        {
            "event_type": "fielddetection",
            "channel": 1,
            "target": "vehicle",
            "category": "200506",
            "confidence": 0.9,
        },
        {"event_type": "VMD", "category": "200102"},
    ]
    assert devices.parse_rules("fielddetection//human=200502") == [
        {"event_type": "fielddetection", "target": "human", "category": "200502"}
    ]
    with pytest.raises(ValueError, match="a rule is"):
        devices.parse_rules("fielddetection")


def test_a_sheet_reports_each_bad_row_by_its_number() -> None:
    sheet = (
        "设备编码,设备名称,设备类型,经度,纬度,MAC地址,告警规则,离线告警分钟\n"
        "CAM-1,西街1号,摄像机,121.405,31.205,AC-B9-2F-49-44-75,fielddetection/1/vehicle=200506,10\n"
        "CAM-2,西街2号,雷达,121.405,31.205,,,\n"
        "CAM-3,西街3号,摄像机,121.405,31.205,ac:b9:2f:49:44:75,,\n"
        "CAM-4,西街4号,摄像机,121.405,31.205,zz,,\n"
        "CAM-5,西街5号,摄像机,121.405,31.205,,VMD,\n"
        "CAM-1,重复,摄像机,121.405,31.205,,,\n"
        "UAV-1,无人机1,无人机,121.405,31.205,,,\n"
    ).encode()
    rows = devices.parse_sheet(sheet, "text/csv")
    assert [r.number for r in rows] == [2, 3, 4, 5, 6, 7, 8]
    good = {r.number: r.device for r in rows if r.device is not None}
    bad = {r.number: (r.error.field, r.error.message) for r in rows if r.error is not None}
    assert set(good) == {2, 8}
    assert (good[2].mac, good[2].offline_after_minutes) == (hik.MAC, 10)  # type: ignore[union-attr]
    assert good[8].kind is devices.Kind.DRONE  # type: ignore[union-attr]
    assert {n: field for n, (field, _) in bad.items()} == {
        3: "kind",
        4: "mac",
        5: "mac",
        6: "rules",
        7: "id",
    }
    assert "twice" in bad[4][1]
    assert "twice" in bad[7][1]
    assert "MAC地址" in bad[5][1]
