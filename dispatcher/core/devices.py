"""Devices (前端感知设备): cameras, drones and sensors as records.

A device has the bureau's own code (its id), a name, a kind, a place (any CRS intake takes,
kept in WGS84 and matched to the zones), the camera's MAC and/or IP address (by which the
alarm host, :mod:`dispatcher.core.isapi`, recognises its alerts), its number of channels, a
live-stream URL (HLS, HTTP-FLV or WebRTC) and rules that turn one of its events (event type,
channel, detection target) into a category with a confidence. A device that should report
names ``offline_after_minutes``: not heard from for that long, it is shown offline.

Bureaus keep their devices in a sheet (设备台账): :func:`parse_sheet` takes a CSV or Excel
sheet with Chinese headers (:data:`COLUMNS`) and answers each row as a :class:`DeviceIn` or the
error of that row. Rules in a sheet are written ``事件类型[/通道][/目标]=类别[@置信度]``,
separated by ``;`` (e.g. ``fielddetection/1/vehicle=200506@0.9; VMD=200102``).

Pure: values in, values out.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dispatcher.core.errors import DispatchError, ValidationFailed
from dispatcher.core.orders_sheet import rows_of
from dispatcher.core.times import format_time
from dispatcher.core.validation import Clean, validation_error


class Kind(StrEnum):
    CAMERA = "camera"
    DRONE = "drone"
    SENSOR = "sensor"


KIND_LABELS: Final[Mapping[Kind, str]] = {
    Kind.CAMERA: "摄像机",
    Kind.DRONE: "无人机",
    Kind.SENSOR: "传感器",
}


class Status(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    NEVER_HEARD = "never_heard"


STATUS_LABELS: Final[Mapping[Status, str]] = {
    Status.ONLINE: "在线",
    Status.OFFLINE: "离线",
    Status.NEVER_HEARD: "未上报",
}
#: schemes of a live stream: HLS and HTTP-FLV over http(s), WebRTC signalling (ws, webrtc)
STREAM_SCHEMES: Final = ("http", "https", "ws", "wss", "webrtc", "rtsp")
_MAC: Final = re.compile(r"^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_.-]+$"), Clean]
Short = Annotated[str, Field(min_length=1, max_length=200), Clean]
Word = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_.-]+$")]


def normal_mac(raw: str) -> str:
    """A MAC address as the alarm host compares them: lower case, colon-separated."""
    text = raw.strip().lower()
    if not _MAC.fullmatch(text):
        raise ValueError(f"{raw!r} is not a MAC address (six hex pairs)")
    digits = text.replace(":", "").replace("-", "")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def normal_ip(raw: str) -> str:
    """An IPv4 or IPv6 address in its canonical text (an IPv4-mapped IPv6 one as IPv4)."""
    address = ipaddress.ip_address(raw.strip())
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


class RuleIn(BaseModel):
    """One rule: an event of the device (type, channel?, target?) becomes a category."""

    model_config = ConfigDict(allow_inf_nan=False, str_strip_whitespace=True, extra="forbid")

    event_type: Word
    channel: int | None = Field(default=None, ge=0, le=4096)
    target: Word | None = None
    category: Short
    confidence: float | None = Field(default=None, ge=0, le=1)

    @field_validator("event_type", "target")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None

    def matches(self, event_type: str, channel: int | None, targets: Sequence[str]) -> bool:
        """Whether an event of this type, channel and detection targets is this rule's."""
        if self.event_type != event_type.lower():
            return False
        if self.channel is not None and self.channel != channel:
            return False
        return self.target is None or self.target in {t.lower() for t in targets}


class DeviceIn(BaseModel):
    """A device as ``PUT /api/v1/devices/{id}`` or one row of a sheet gives it."""

    model_config = ConfigDict(allow_inf_nan=False, str_strip_whitespace=True, extra="forbid")

    id: Code
    kind: Kind
    name: Short
    address: Annotated[str, Field(max_length=500), Clean] = ""
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: Annotated[str, Field(max_length=20)] | None = None
    mac: Annotated[str, Field(max_length=40)] | None = None
    ip: Annotated[str, Field(max_length=64)] | None = None
    channels: int = Field(default=1, ge=1, le=4096)
    stream_url: Annotated[str, Field(max_length=2000), Clean] | None = None
    rules: Annotated[list[RuleIn], Field(max_length=100)] = []
    offline_after_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        return normal_mac(value) if value else None

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        return normal_ip(value) if value else None

    @field_validator("stream_url")
    @classmethod
    def _stream(cls, value: str | None) -> str | None:
        if not value:
            return None
        if value.partition("://")[0].lower() not in STREAM_SCHEMES or "://" not in value:
            raise ValueError("a URL of " + ", ".join(STREAM_SCHEMES))
        return value


@dataclass(frozen=True)
class Device:
    id: str
    kind: Kind
    name: str
    address: str
    lon: float
    lat: float
    zone_ids: tuple[str, ...]
    squad_id: str | None
    mac: str | None
    ip: str | None
    channels: int
    stream_url: str | None
    rules: tuple[RuleIn, ...]
    offline_after_minutes: int | None
    created_at: datetime
    updated_at: datetime
    last_heard_at: datetime | None = None
    last_event_type: str | None = None
    offline_since: datetime | None = None

    @property
    def status(self) -> Status:
        if self.offline_since is not None:
            return Status.OFFLINE
        return Status.ONLINE if self.last_heard_at is not None else Status.NEVER_HEARD

    def rule_for(
        self, event_type: str, channel: int | None, targets: Sequence[str]
    ) -> RuleIn | None:
        """The first rule that matches the event, or None."""
        return next((r for r in self.rules if r.matches(event_type, channel, targets)), None)

    def to_doc(self, tz: tzinfo) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "kind_label": KIND_LABELS[self.kind],
            "name": self.name,
            "address": self.address,
            "lon": self.lon,
            "lat": self.lat,
            "zone_ids": list(self.zone_ids),
            "squad_id": self.squad_id,
            "mac": self.mac,
            "ip": self.ip,
            "channels": self.channels,
            "stream_url": self.stream_url,
            "rules": [r.model_dump() for r in self.rules],
            "offline_after_minutes": self.offline_after_minutes,
            "status": self.status.value,
            "status_label": STATUS_LABELS[self.status],
            "last_heard_at": _time(self.last_heard_at, tz),
            "last_event_type": self.last_event_type,
            "offline_since": _time(self.offline_since, tz),
            "created_at": format_time(self.created_at, tz),
            "updated_at": format_time(self.updated_at, tz),
        }


def _time(at: datetime | None, tz: tzinfo) -> str | None:
    return format_time(at, tz) if at is not None else None


def device_of(
    cmd: DeviceIn,
    lon: float,
    lat: float,
    zone_ids: Sequence[str],
    squad_id: str | None,
    now: datetime,
    before: Device | None = None,
) -> Device:
    """The device ``cmd`` describes at its WGS84 point; what was heard from it is kept."""
    return Device(
        id=cmd.id,
        kind=cmd.kind,
        name=cmd.name,
        address=cmd.address,
        lon=lon,
        lat=lat,
        zone_ids=tuple(zone_ids),
        squad_id=squad_id,
        mac=cmd.mac,
        ip=cmd.ip,
        channels=cmd.channels,
        stream_url=cmd.stream_url,
        rules=tuple(cmd.rules),
        offline_after_minutes=cmd.offline_after_minutes,
        created_at=before.created_at if before else now,
        updated_at=now,
        last_heard_at=before.last_heard_at if before else None,
        last_event_type=before.last_event_type if before else None,
        offline_since=before.offline_since if before else None,
    )


def check_categories(cmd: DeviceIn, known: Mapping[str, Any]) -> None:
    """Every rule's category must be in the catalogue (422 naming the rule otherwise)."""
    for n, rule in enumerate(cmd.rules):
        if rule.category not in known:
            raise ValidationFailed(
                f"rules.{n}.category: unknown category code {rule.category!r}",
                field=f"rules.{n}.category",
            )


# -- the sheet (设备台账) --------------------------------------------------------------------------

#: column name (Chinese, as bureaus keep them; or the field's own name) → the field
COLUMNS: Final[Mapping[str, str]] = {
    "设备编码": "id",
    "编码": "id",
    "设备名称": "name",
    "名称": "name",
    "设备类型": "kind",
    "类型": "kind",
    "安装地址": "address",
    "地址": "address",
    "经度": "lon",
    "纬度": "lat",
    "坐标系": "crs",
    "MAC地址": "mac",
    "MAC": "mac",
    "IP地址": "ip",
    "IP": "ip",
    "通道数": "channels",
    "视频流地址": "stream_url",
    "取流地址": "stream_url",
    "告警规则": "rules",
    "规则": "rules",
    "离线告警分钟": "offline_after_minutes",
}
FIELDS: Final = frozenset(COLUMNS.values())
_KINDS: Final = {zh: k.value for k, zh in KIND_LABELS.items()} | {
    "摄像头": Kind.CAMERA.value,
    "监控": Kind.CAMERA.value,
    "飞行器": Kind.DRONE.value,
}
_NAMES: Final = {f: next(c for c, to in COLUMNS.items() if to == f) for f in FIELDS}
_RULE: Final = re.compile(
    r"^(?P<type>[^/=@]+)(/(?P<channel>[^/=@]*))?(/(?P<target>[^/=@]*))?"
    r"=(?P<category>[^@]+)(@(?P<confidence>.+))?$"
)


@dataclass(frozen=True)
class Row:
    """One row of a sheet: the device it gives, or its error."""

    number: int
    device: DeviceIn | None = None
    error: DispatchError | None = None


def parse_rules(text: str) -> list[dict[str, Any]]:
    """``事件类型[/通道][/目标]=类别[@置信度]; ...`` as rule objects; raise ValueError."""
    rules: list[dict[str, Any]] = []
    for raw in text.replace("；", ";").split(";"):
        part = raw.strip().replace("＝", "=")
        if not part:
            continue
        found = _RULE.fullmatch(part)
        if found is None:
            raise ValueError(f"{part!r}: a rule is 事件类型[/通道][/目标]=类别[@置信度]")
        rule: dict[str, Any] = {
            "event_type": found["type"].strip(),
            "category": found["category"].strip(),
        }
        channel = (found["channel"] or "").strip()
        if channel:
            if not channel.isdigit():
                raise ValueError(f"{part!r}: the channel {channel!r} is not a number")
            rule["channel"] = int(channel)
        if (found["target"] or "").strip():
            rule["target"] = found["target"].strip()
        if found["confidence"]:
            try:
                rule["confidence"] = float(found["confidence"])
            except ValueError:
                raise ValueError(f"{part!r}: the confidence is not a number") from None
        rules.append(rule)
    return rules


def parse_sheet(body: bytes, media_type: str) -> list[Row]:
    """Each row as a device, or the error of that row (the header is row 1). A second row with
    a code or a MAC address seen before is an error of its own (the first one counts)."""
    rows = [(n, r) for n, r in rows_of(body, media_type) if any(_filled(v) for v in r)]
    if not rows:
        raise ValidationFailed("the sheet has no header row", field="header")
    number, header = rows[0]
    fields = [COLUMNS.get(str(h).strip(), str(h).strip()) if h is not None else "" for h in header]
    missing = [_NAMES[f] for f in ("id", "name", "kind", "lon", "lat") if f not in fields]
    if missing:
        raise ValidationFailed(
            f"row {number}: the header needs the columns {', '.join(missing)}", field="header"
        )
    seen: dict[str, str] = {}
    answers = []
    for n, row in rows[1:]:
        parsed = _row(n, fields, row)
        device = parsed.device
        if device is not None:
            for key, label in ((device.id, "设备编码 (id)"), (device.mac, "MAC地址 (mac)")):
                if key is not None and key in seen:
                    parsed = Row(
                        n,
                        error=ValidationFailed(
                            f"{label}: {key} is given twice in the sheet", field=seen[key]
                        ),
                    )
                    break
            else:
                seen[device.id] = "id"
                if device.mac:
                    seen[device.mac] = "mac"
        answers.append(parsed)
    return answers


def _filled(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def _row(number: int, fields: Sequence[str], row: Sequence[Any]) -> Row:
    data: dict[str, Any] = {}
    try:
        for name, value in zip(fields, row, strict=False):
            if name in FIELDS and _filled(value):
                data[name] = _value(name, value)
    except ValueError as exc:
        return Row(number, error=ValidationFailed(f"告警规则 (rules): {exc}", field="rules"))
    try:
        return Row(number, device=DeviceIn.model_validate(data))
    except ValidationError as exc:
        error = validation_error(exc)
        head = (error.field or "").split(".")[0]
        if head in _NAMES:
            error.message = f"{_NAMES[head]} ({error.field}): " + error.message.removeprefix(
                f"{error.field}: "
            )
        return Row(number, error=error)


def _value(name: str, value: Any) -> Any:
    if name in ("lon", "lat"):
        return value if isinstance(value, int | float) else str(value).strip()
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a code a spreadsheet took for a number
    text = str(value).strip()
    if name == "kind":
        return _KINDS.get(text, text.lower())
    if name == "rules":
        return parse_rules(text)
    return text
