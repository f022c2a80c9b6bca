"""Hikvision ISAPI ``EventNotificationAlert``: what a camera posts to its alarm host (报警主机).

A camera set to "HTTP listening" (报警主机 / HTTP 监听) posts each alarm by itself, as
``application/xml`` or as ``multipart/form-data`` with the XML part and JPEG picture parts.
:func:`parse_alert` reads the XML with defusedxml (no DTD, no entity, no external reference),
at most :data:`MAX_XML_BYTES` and :data:`MAX_DEPTH` elements deep, and answers an
:class:`Alert` or raises ``BadRequest``. The namespace (``http://www.hikvision.com/ver20/
XMLSchema``, or ver10, or none) is not insisted on: firmware differ.

:func:`disposition` says what an alert is before its device is looked up: a heartbeat
(``heartBeat``, or ``videoloss`` inactive, which cameras send as one), an inactive event (the
end of an alarm), or an active event. :meth:`Alert.key` is what makes a retransmission
recognisable (docs/API.md §17): device, channel, event type, detection targets and dateTime.

Pure: bytes in, values out.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

import defusedxml
import defusedxml.ElementTree as DET

from dispatcher.core.devices import normal_ip, normal_mac
from dispatcher.core.errors import BadRequest

NS: Final = "http://www.hikvision.com/ver20/XMLSchema"
ROOT: Final = "EventNotificationAlert"
#: an alert is a few KiB; its XML part is refused above this
MAX_XML_BYTES: Final = 256 * 1024
#: an alert nests five deep (DetectionRegionList/Entry/RegionCoordinatesList/...)
MAX_DEPTH: Final = 16
#: event types that are heartbeats, whatever their state
HEARTBEATS: Final = frozenset({"heartbeat"})


class Disposition(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    HEARTBEAT = "heartbeat"


@dataclass(frozen=True)
class Alert:
    event_type: str
    state: str
    mac: str | None
    ip: str | None
    channel: int | None
    at: datetime | None
    at_text: str
    targets: tuple[str, ...]
    description: str = ""
    channel_name: str = ""
    active_post_count: int | None = None

    @property
    def address(self) -> str | None:
        """What an unknown camera is named by: its MAC, else its IP."""
        return self.mac or self.ip

    def key(self, device_id: str) -> str:
        """The alert's identity for intake's replay (``external_id``, at most 200 characters)."""
        text = "/".join(
            (
                device_id,
                str(self.channel if self.channel is not None else ""),
                self.event_type.lower(),
                "+".join(sorted({t.lower() for t in self.targets})),
                self.at_text,
            )
        )
        if len(text) <= 200:
            return text
        return f"{device_id[:64]}/{hashlib.sha256(text.encode()).hexdigest()}"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _tree(body: bytes) -> ET.Element:
    if len(body) > MAX_XML_BYTES:
        raise BadRequest(f"an alert's XML is at most {MAX_XML_BYTES} bytes")
    try:
        root: ET.Element = DET.fromstring(body, forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:
        raise BadRequest(f"XML refused: {exc} (no DTD, entity or external reference)") from None
    except ET.ParseError as exc:
        raise BadRequest(f"the body is not well-formed XML: {exc}") from None
    except LookupError as exc:  # the XML declaration names an encoding Python does not know
        raise BadRequest(f"the body cannot be read as XML: {exc}") from None
    # the size bounds what the tree may hold; its depth is bounded here, without recursion
    level = [root]
    for _ in range(MAX_DEPTH):
        level = [child for element in level for child in element]
        if not level:
            return root
    raise BadRequest(f"the alert nests deeper than {MAX_DEPTH} elements")


def _child(root: ET.Element, name: str) -> str | None:
    for element in root:
        if _local(element.tag) == name:
            text = (element.text or "").strip()
            return text or None
    return None


def _number(root: ET.Element, *names: str) -> int | None:
    for name in names:
        text = _child(root, name)
        if text is not None:
            try:
                return int(text)
            except ValueError:
                raise BadRequest(f"{name}: {text!r} is not a number") from None
    return None


def _targets(root: ET.Element) -> tuple[str, ...]:
    """The detection targets named anywhere in the alert (``detectionTarget``, ``targetType``:
    firmware name them either way, in each ``DetectionRegionEntry`` or at the top)."""
    found: list[str] = []
    for element in root.iter():
        if _local(element.tag) in ("detectionTarget", "targetType"):
            text = (element.text or "").strip().lower()
            if text and text not in ("others", "other") and text not in found:
                found.append(text)
    return tuple(found[:16])


def parse_alert(body: bytes) -> Alert:
    """Read an ``EventNotificationAlert``; raise BadRequest when it is not a well-formed one."""
    if not body.strip():
        raise BadRequest("the body is empty; an ISAPI EventNotificationAlert is expected")
    root = _tree(body)
    if _local(root.tag) != ROOT:
        raise BadRequest(f"the root element is {_local(root.tag)}, not {ROOT}")
    event_type = _child(root, "eventType")
    if event_type is None or len(event_type) > 64:
        raise BadRequest("eventType: an alert names its event type (at most 64 characters)")
    mac = ip = None
    if (raw := _child(root, "macAddress")) is not None:
        try:
            mac = normal_mac(raw)
        except ValueError as exc:
            raise BadRequest(f"macAddress: {exc}") from None
    if (raw := _child(root, "ipAddress")) is not None:
        try:
            ip = normal_ip(raw)
        except ValueError:
            raise BadRequest(f"ipAddress: {raw!r} is not an IP address") from None
    at_text = _child(root, "dateTime") or ""
    at = None
    if at_text:
        try:
            at = datetime.fromisoformat(at_text)
        except ValueError:
            raise BadRequest(f"dateTime: {at_text!r} is not a time") from None
        if at.tzinfo is None:
            at = None  # a camera without its zone set: the time of receipt stands
    return Alert(
        event_type=event_type,
        state=(_child(root, "eventState") or "active").lower(),
        mac=mac,
        ip=ip,
        channel=_number(root, "channelID", "dynChannelID", "inputIOPortID"),
        at=at,
        at_text=at_text[:40],
        targets=_targets(root),
        description=(_child(root, "eventDescription") or "")[:200],
        channel_name=(_child(root, "channelName") or "")[:100],
        active_post_count=_number(root, "activePostCount"),
    )


def disposition(alert: Alert) -> Disposition:
    """Whether the alert is a heartbeat, the end of an alarm, or an alarm."""
    kind = alert.event_type.lower()
    if kind in HEARTBEATS or (kind == "videoloss" and alert.state == "inactive"):
        return Disposition.HEARTBEAT
    return Disposition.ACTIVE if alert.state == "active" else Disposition.INACTIVE


#: the incident's description: what the event is called in the bureau's words
EVENT_NAMES: Final = {
    "fielddetection": "区域入侵侦测",
    "linedetection": "越界侦测",
    "regionentrance": "进入区域侦测",
    "regionexiting": "离开区域侦测",
    "vmd": "移动侦测",
    "io": "报警输入",
    "parking": "违停检测",
    "loitering": "徘徊检测",
    "group": "人员聚集",
    "unattendedbaggage": "物品遗留",
    "attendedbaggage": "物品拿取",
    "shelteralarm": "遮挡报警",
}
TARGET_NAMES: Final = {"human": "人", "vehicle": "车辆", "nonmotorvehicle": "非机动车"}


def describe(alert: Alert, device_name: str) -> str:
    """``摄像机 <name> 通道 N: 区域入侵侦测 (车辆)`` — what the operator reads first."""
    name = EVENT_NAMES.get(alert.event_type.lower(), alert.event_type)
    if alert.targets:
        name += " (" + "、".join(TARGET_NAMES.get(t, t) for t in alert.targets) + ")"
    channel = f" 通道 {alert.channel}" if alert.channel is not None else ""
    return f"摄像机 {device_name}{channel}: {name}"
