"""Open311 GeoReport v2 for the 12345 hotline: services, requests, statuses, both formats.

Pure: this module turns the catalogue into GeoReport services and service definitions, a
form-encoded ``POST requests`` into a report, incidents into service requests, and any of
them into the JSON or XML the specification shows. Errors are raised as ``DispatchError``s
(400, 403, 404) and written by :func:`errors_body` in the specification's format,
``[{"code": 400, "description": "..."}]`` or ``<errors><error>...</error></errors>``.

Mapping: a ``service_code`` is a category code; ``agency_responsible`` is the name of the
squad the request went to; the status is ``open`` until the incident is closed or rejected
(a request merged into another as a repeat call follows that one), with ``status_notes``
saying where it stands in the life cycle. The request's type (诉求类型: 咨询, 求助, 投诉, 建议,
举报) is the attribute ``request_type`` of every service definition (a singlevaluelist),
answered back as ``request_type`` in ``requests``. The platform's deadlines of a work order,
``closure_deadline`` (办结时限) and ``contact_deadline`` (联系时限), are attributes too (a
``datetime`` with an offset), fields of the report like the type. Extensions the hotline may
send beyond the specification: ``external_id`` (its own work-order number: a repeated POST
answers the same request) and ``crs`` (``GCJ02``/``BD09`` for points from Chinese maps).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # builds output only; input XML is never parsed here
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any, Final

from dispatcher.core.categories import Category
from dispatcher.core.errors import BadRequest, DispatchError, NotFound
from dispatcher.core.incidents import Incident, State
from dispatcher.core.request_types import RequestType
from dispatcher.core.times import format_time
from dispatcher.core.workorder import SENDBACK_REASON_ZH

FORMATS: Final = ("json", "xml")
#: GET requests: the default window (the specification's 90 days) and most results
DEFAULT_WINDOW: Final = timedelta(days=90)
MAX_REQUESTS: Final = 1000
#: the attribute that carries the request's type (诉求类型); a field of the report, not extra
REQUEST_TYPE: Final = "request_type"
#: the attributes every service takes (``attribute[code]=...`` in a POST)
ATTRIBUTES: Final[tuple[dict[str, Any], ...]] = (
    {
        "variable": True,
        "code": "target_name",
        "datatype": "string",
        "required": False,
        "datatype_description": "商户、工地或单位名称 (name of the shop, site or unit)",
        "order": 1,
        "description": "被反映的对象 (who or what the complaint is about)",
    },
    {
        "variable": True,
        "code": "time_of_day",
        "datatype": "singlevaluelist",
        "required": False,
        "datatype_description": "",
        "order": 2,
        "description": "问题出现的时段 (when the problem happens)",
        "values": [
            {"key": "day", "name": "白天 (day)"},
            {"key": "night", "name": "夜间 (night)"},
            {"key": "all_day", "name": "全天 (all day)"},
        ],
    },
    {
        "variable": True,
        "code": REQUEST_TYPE,
        "datatype": "singlevaluelist",
        "required": False,
        "datatype_description": "未填写时按投诉办理 (without it, a complaint)",
        "order": 3,
        "description": "诉求类型 (the request's type, whatever it is about)",
        "values": [{"key": t.value, "name": f"{t.name_zh} ({t.value})"} for t in RequestType],
    },
    {
        "variable": True,
        "code": "closure_deadline",
        "datatype": "datetime",
        "required": False,
        "datatype_description": "ISO 8601 带时区, 如 2026-03-05T18:00:00+08:00 (with an offset)",
        "order": 4,
        "description": "办结时限 (the platform's closure deadline: the case deadline)",
    },
    {
        "variable": True,
        "code": "contact_deadline",
        "datatype": "datetime",
        "required": False,
        "datatype_description": "ISO 8601 带时区; 未填写时按本中心联系时限 (without it, ours)",
        "order": 5,
        "description": "联系时限 (by when the caller must be contacted)",
    },
)
#: the attributes that are fields of the report (the platform's deadlines), not extra
REPORT_ATTRIBUTES: Final = (REQUEST_TYPE, "closure_deadline", "contact_deadline")
_NOTES: Final = {
    State.REPORTED: "已接收，待受理",
    State.REGISTERED: "已立案，待派遣",
    State.DISPATCHED: "已派遣至{agency}",
    State.ACCEPTED: "{agency}已签收，正在处置",
    State.RESOLVED: "已处置，待核查",
    State.CLOSED: "已办结",
    State.RETURNED: "已回退，待改派",
    State.REJECTED: "不予立案",
    State.MERGED: "重复诉件，已并入 {target}",
}


def status(state: State) -> str:
    """GeoReport's status of a state: ``closed`` once closed or rejected, else ``open``."""
    return "closed" if state in (State.CLOSED, State.REJECTED) else "open"


def service(category: Category) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.name_en or category.name,
        "metadata": True,
        "type": "realtime",
        "keywords": ",".join(k for k in (category.name, category.specialty or "") if k),
        "group": category.major,
    }


def services(categories: Iterable[Category]) -> list[dict[str, Any]]:
    return [service(c) for c in sorted(categories, key=lambda c: c.code)]


def definition(category: Category) -> dict[str, Any]:
    return {"service_code": category.code, "attributes": [dict(a) for a in ATTRIBUTES]}


def check_jurisdiction(given: str | None, ours: str | None) -> None:
    """A ``jurisdiction_id`` is accepted when we answer for any, or for that one."""
    if ours is not None and given is not None and given != ours:
        raise NotFound(f"jurisdiction_id {given!r} not found")


@dataclass(frozen=True)
class RequestIn:
    """A validated ``POST requests``: the report's fields and the attributes given."""

    report: dict[str, Any]
    attributes: dict[str, str] = field(default_factory=dict)


def _float(form: Mapping[str, str], name: str) -> float:
    try:
        return float(form[name])
    except ValueError:
        raise BadRequest(f"{name} must be a number", field=name) from None


def parse_request(form: Mapping[str, str], categories: Mapping[str, Category]) -> RequestIn:
    """Read a form-encoded ``POST requests``; raise BadRequest naming what is missing or wrong."""
    code = (form.get("service_code") or "").strip()
    if not code:
        raise BadRequest("service_code was not provided", field="service_code")
    if code not in categories:
        raise BadRequest(
            f"service_code {code!r} is not a service of this server", field="service_code"
        )
    if not form.get("lat") or not form.get("long"):
        raise BadRequest(
            "lat and long are required (this server has no geocoder for address_string)",
            field="lat" if not form.get("lat") else "long",
        )
    attributes: dict[str, str] = {}
    for spec in ATTRIBUTES:
        value = (form.get(f"attribute[{spec['code']}]") or "").strip()
        allowed = [v["key"] for v in spec.get("values", [])]
        if allowed and value and value not in allowed:
            raise BadRequest(
                f"attribute[{spec['code']}] must be one of {', '.join(allowed)}",
                field=f"attribute[{spec['code']}]",
            )
        if spec["required"] and not value:
            raise BadRequest(f"attribute[{spec['code']}] is required", field=spec["code"])
        if value:
            attributes[spec["code"]] = value
    report: dict[str, Any] = {
        "source": "hotline",
        "category": code,
        "lon": _float(form, "long"),
        "lat": _float(form, "lat"),
        "description": form.get("description") or "",
    }
    optional = {
        "external_id": "external_id",
        "crs": "crs",
        "address_string": "address",
        "device_id": "device_id",
    }
    for name, to in optional.items():
        if form.get(name):
            report[to] = form[name]
    if form.get("media_url"):
        report["media"] = [form["media_url"]]
    for name in REPORT_ATTRIBUTES:
        if name in attributes:
            report[name] = attributes.pop(name)
    return RequestIn(report, attributes)


def service_notice(incident: Incident, agency: str | None) -> str:
    if incident.duplicate_of:
        return f"该诉件与工单 {incident.duplicate_of} 反映同一问题，已合并办理"
    if incident.state is State.DISPATCHED and agency:
        return f"已受理，派往{agency}"
    return "已受理"


def request_json(
    incident: Incident,
    tz: tzinfo,
    *,
    service_name: str | None,
    agency: str | None,
    target: Incident | None = None,
) -> dict[str, Any]:
    """A service request as GET requests answers it; ``target`` is the incident it joined."""
    follows = target if incident.state is State.MERGED and target is not None else incident
    notes = _NOTES[follows.state].format(agency=agency or "责任中队", target=incident.duplicate_of)
    order = follows.progress.hotline
    sent_back = order.sent_back if order is not None else None
    if sent_back is not None:  # 退单: back to the platform, with the reason
        notes = f"已退单（{SENDBACK_REASON_ZH[sent_back.reason_code]}）：{sent_back.reason}"
    if follows is not incident:
        notes = _NOTES[State.MERGED].format(target=incident.duplicate_of) + "；" + notes
    return {
        "service_request_id": incident.id,
        "status": status(follows.state),
        "status_notes": notes,
        "service_name": service_name,
        "service_code": incident.category,
        "request_type": incident.request_type.value if incident.request_type else None,
        "description": incident.description,
        "agency_responsible": agency,
        "service_notice": service_notice(incident, agency),
        "requested_datetime": format_time(incident.received_at, tz),
        "updated_datetime": format_time(max(incident.updated_at, follows.updated_at), tz),
        "expected_datetime": format_time(follows.deadline, tz),
        "address": incident.address,
        "address_id": None,
        "zipcode": None,
        "lat": incident.lat,
        "long": incident.lon,
        "media_url": incident.media[0] if incident.media else None,
    }


@dataclass(frozen=True)
class RequestQuery:
    ids: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[str, ...] = ()


def _time(query: Mapping[str, str], name: str) -> datetime | None:
    if not query.get(name):
        return None
    try:
        moment = datetime.fromisoformat(query[name].replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be a w3c date-time", field=name) from None
    if moment.tzinfo is None:
        raise BadRequest(f"{name} needs a time zone (Z or an offset)", field=name)
    return moment


def _list(query: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in (query.get(name) or "").split(",") if v.strip())


def parse_query(query: Mapping[str, str], now: datetime) -> RequestQuery:
    """The filters of GET requests; ``service_request_id`` overrides every other one."""
    ids = _list(query, "service_request_id")
    if ids:
        return RequestQuery(ids=ids)
    statuses = _list(query, "status")
    for s in statuses:
        if s not in ("open", "closed"):
            raise BadRequest("status must be open, closed or both", field="status")
    start, end = _time(query, "start_date"), _time(query, "end_date")
    if start is None and end is None:
        start = now - DEFAULT_WINDOW
    return RequestQuery((), _list(query, "service_code"), start, end, statuses)


# -- writing ------------------------------------------------------------------------------

#: the XML element of one item of each answer
_ITEMS: Final = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "errors": "error",
}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _fill(parent: ET.Element, name: str, value: Any) -> None:
    element = ET.SubElement(parent, name)
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _fill(element, key, inner)
    elif isinstance(value, list):
        item = _ITEMS.get(name, "value")
        for inner in value:
            _fill(element, item, inner)
    else:
        element.text = _text(value)


def to_xml(root: str, value: Sequence[Any] | Mapping[str, Any]) -> bytes:
    """The specification's XML: ``<services><service>..``, ``<service_requests><request>..``."""
    element = ET.Element(root)
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _fill(element, key, inner)
    else:
        for inner in value:
            _fill(element, _ITEMS.get(root, "item"), inner)
    text: bytes = ET.tostring(element, encoding="utf-8", xml_declaration=True)
    return text


def errors_body(error: DispatchError) -> list[dict[str, Any]]:
    """An error as the specification writes it: a list of ``{code, description}``."""
    return [{"code": error.status, "description": error.message}]
