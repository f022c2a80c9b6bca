"""Regulated places (监管对象): what a bureau inspects on a plan rather than on a report.

A place is a shop (门店), a street stall's fixed spot (摊点), a construction site (工地), a
construction-waste transport company (渣土运输企业) or one of its vehicles (车辆), or an
advertising board (广告牌). It has the bureau's own code (its id), a location matched to zones
like an incident's (so it has a squad), licence numbers, the departments that regulate it, a
credit-risk class and the code of its 亮码 sign (the QR code an officer scans on a visit).

Risk classes follow 信用风险分类监管 as market regulation practises it with 双随机一公开
(国务院 2019 年《关于在市场监管领域全面推行部门联合"双随机、一公开"监管的意见》, and the
SAMR's 2022 企业信用风险分类管理 guidance): A 信用风险低, B 一般, C 较高, D 高; a plan draws
from the classes it names, and a bureau raises the share it draws of C and D by plans of its own.

Bureaus keep their places in a sheet (监管对象台账): :func:`parse_sheet` takes a CSV or Excel
sheet with Chinese headers (:data:`COLUMNS`) and answers each row as a :class:`PlaceIn` or the
error of that row, so that the good rows go in and each bad one is reported by its number.

Pure: bytes in, values out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dispatcher.core.errors import DispatchError, ValidationFailed
from dispatcher.core.orders_sheet import rows_of
from dispatcher.core.times import format_time
from dispatcher.core.validation import Clean, validation_error


class Kind(StrEnum):
    SHOP = "shop"
    STALL_SPOT = "stall_spot"
    CONSTRUCTION_SITE = "construction_site"
    WASTE_TRANSPORT = "waste_transport"
    VEHICLE = "vehicle"
    BILLBOARD = "billboard"


KIND_LABELS: Final[Mapping[Kind, str]] = {
    Kind.SHOP: "门店",
    Kind.STALL_SPOT: "摊点",
    Kind.CONSTRUCTION_SITE: "工地",
    Kind.WASTE_TRANSPORT: "渣土运输企业",
    Kind.VEHICLE: "渣土运输车辆",
    Kind.BILLBOARD: "户外广告牌",
}


class Risk(StrEnum):
    """信用风险分类: A low, B ordinary, C higher, D high."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"


RISK_LABELS: Final[Mapping[Risk, str]] = {
    Risk.A: "A类(信用风险低)",
    Risk.B: "B类(信用风险一般)",
    Risk.C: "C类(信用风险较高)",
    Risk.D: "D类(信用风险高)",
}
#: what sheets write for a class besides its letter
_RISK_WORDS: Final[Mapping[str, Risk]] = {
    "低": Risk.A,
    "low": Risk.A,
    "一般": Risk.B,
    "medium": Risk.B,
    "较高": Risk.C,
    "high": Risk.C,
    "高": Risk.D,
    "very_high": Risk.D,
}

Short = Annotated[str, Field(min_length=1, max_length=200), Clean]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_.-]+$"), Clean]


class PlaceIn(BaseModel):
    """A place as ``PUT /api/v1/places/{id}`` or one row of a sheet gives it."""

    model_config = ConfigDict(allow_inf_nan=False, str_strip_whitespace=True, extra="forbid")

    id: Code
    name: Short
    kind: Kind
    address: Annotated[str, Field(max_length=500), Clean] = ""
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: Annotated[str, Field(max_length=20)] | None = None
    licences: Annotated[list[Short], Field(max_length=20)] = []
    departments: Annotated[list[Short], Field(max_length=20)] = []
    risk: Risk = Risk.B
    qr_code: Annotated[str, Field(min_length=4, max_length=200), Clean] | None = None
    owner: Annotated[str, Field(max_length=200), Clean] = ""


def default_qr_code(place_id: str) -> str:
    """The 亮码 code of a place whose sheet gives none: LM and 16 hex digits of its id's hash
    (the sign printed for it carries this code; it is stable, so a sign never needs reprinting)."""
    return "LM" + hashlib.sha256(place_id.encode()).hexdigest()[:16].upper()


@dataclass(frozen=True)
class Place:
    id: str
    name: str
    kind: Kind
    address: str
    lon: float
    lat: float
    zone_ids: tuple[str, ...]
    squad_id: str | None
    licences: tuple[str, ...]
    departments: tuple[str, ...]
    risk: Risk
    qr_code: str
    owner: str
    created_at: datetime
    updated_at: datetime

    def to_doc(self, tz: tzinfo) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind.value,
            "kind_label": KIND_LABELS[self.kind],
            "address": self.address,
            "lon": self.lon,
            "lat": self.lat,
            "zone_ids": list(self.zone_ids),
            "squad_id": self.squad_id,
            "licences": list(self.licences),
            "departments": list(self.departments),
            "risk": self.risk.value,
            "risk_label": RISK_LABELS[self.risk],
            "qr_code": self.qr_code,
            "owner": self.owner,
            "created_at": format_time(self.created_at, tz),
            "updated_at": format_time(self.updated_at, tz),
        }


def place_of(
    cmd: PlaceIn,
    lon: float,
    lat: float,
    zone_ids: Sequence[str],
    squad_id: str | None,
    now: datetime,
    created_at: datetime | None = None,
) -> Place:
    """The place ``cmd`` describes, at its WGS84 point and the zones matched there."""
    return Place(
        id=cmd.id,
        name=cmd.name,
        kind=cmd.kind,
        address=cmd.address,
        lon=lon,
        lat=lat,
        zone_ids=tuple(zone_ids),
        squad_id=squad_id,
        licences=tuple(dict.fromkeys(cmd.licences)),
        departments=tuple(dict.fromkeys(cmd.departments)),
        risk=cmd.risk,
        qr_code=cmd.qr_code or default_qr_code(cmd.id),
        owner=cmd.owner,
        created_at=created_at or now,
        updated_at=now,
    )


def check_qr(place: Place, given: str) -> None:
    """亮码检查: the code scanned or typed must be the place's own; 422 otherwise."""
    if given.strip().upper() != place.qr_code.upper():
        raise ValidationFailed(
            f"qr_code: {given.strip()!r} is not the code of place {place.id} (亮码不符)",
            field="qr_code",
        )


# -- the sheet (监管对象台账) ----------------------------------------------------------------------

#: column name (Chinese, as bureaus keep them; or the field's own name) → the field
COLUMNS: Final[Mapping[str, str]] = {
    "监管对象编码": "id",
    "对象编码": "id",
    "编码": "id",
    "名称": "name",
    "监管对象名称": "name",
    "对象类型": "kind",
    "类型": "kind",
    "地址": "address",
    "经营地址": "address",
    "经度": "lon",
    "纬度": "lat",
    "坐标系": "crs",
    "证照编号": "licences",
    "许可证号": "licences",
    "监管部门": "departments",
    "风险等级": "risk",
    "信用风险等级": "risk",
    "二维码": "qr_code",
    "亮码编号": "qr_code",
    "经营者": "owner",
    "责任单位": "owner",
}
FIELDS: Final = frozenset(COLUMNS.values())
LISTS: Final = frozenset({"licences", "departments"})
_KINDS: Final = {zh: k.value for k, zh in KIND_LABELS.items()} | {
    "车辆": Kind.VEHICLE.value,
    "广告牌": Kind.BILLBOARD.value,
    "渣土企业": Kind.WASTE_TRANSPORT.value,
}
#: the column a field is named by in errors (the first Chinese name of each)
_NAMES: Final = {f: next(c for c, to in COLUMNS.items() if to == f) for f in FIELDS}


@dataclass(frozen=True)
class Row:
    """One row of a sheet: the place it gives, or its error."""

    number: int
    place: PlaceIn | None = None
    error: DispatchError | None = None


def parse_sheet(body: bytes, media_type: str) -> list[Row]:
    """Each row as a place, or the error of that row (the header is row 1, as a spreadsheet
    numbers it). A row with nothing in it is skipped; a second row with a code seen before
    is an error of its own (the first one counts)."""
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
    seen: set[str] = set()
    answers = []
    for n, row in rows[1:]:
        parsed = _row(n, fields, row)
        place = parsed.place
        if place is not None and place.id in seen:
            parsed = Row(
                n,
                error=ValidationFailed(
                    f"监管对象编码 (id): {place.id} is given twice in the sheet", field="id"
                ),
            )
        elif place is not None:
            seen.add(place.id)
        answers.append(parsed)
    return answers


def _filled(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def _row(number: int, fields: Sequence[str], row: Sequence[Any]) -> Row:
    data: dict[str, Any] = {}
    for name, value in zip(fields, row, strict=False):
        if name in FIELDS and _filled(value):
            data[name] = _value(name, value)
    try:
        return Row(number, place=PlaceIn.model_validate(data))
    except ValidationError as exc:
        error = validation_error(exc)
        if error.field in _NAMES:
            error.message = f"{_NAMES[error.field]} ({error.field}): " + error.message.removeprefix(
                f"{error.field}: "
            )
        return Row(number, error=error)


def _value(name: str, value: Any) -> Any:
    if name in ("lon", "lat"):
        return value if isinstance(value, int | float) else str(value).strip()
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a code a spreadsheet took for a number
    text = str(value).strip()
    if name in LISTS:
        parts = text.replace("；", ";").replace("，", ";").replace(",", ";").replace("、", ";")
        return [p.strip() for p in parts.split(";") if p.strip()]
    if name == "kind":
        return _KINDS.get(text, text)
    if name == "risk":
        letter = text.upper().removesuffix("类")
        return letter if letter in Risk.__members__ else _RISK_WORDS.get(text, text)
    return text
