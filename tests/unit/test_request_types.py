"""12345 request types (诉求类型): the enum, intake, the case limit they set, Open311 (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from shapely.geometry import box

from dispatcher.core import batch, open311
from dispatcher.core.auth import Principal, Role
from dispatcher.core.categories import Category, by_code, load_default_catalogue
from dispatcher.core.clocks import ClockKind, WorkingCalendar
from dispatcher.core.deadlines import Rules
from dispatcher.core.errors import BadRequest, ValidationFailed
from dispatcher.core.ids import IncidentId, TokenId
from dispatcher.core.incidents import Flag, Incident, Source, State
from dispatcher.core.intake import IntakePolicy, parse_report, parse_report_object, plan_intake
from dispatcher.core.lifecycle import Context, decide, parse_action, register
from dispatcher.core.request_types import (
    DEFAULT_HOTLINE_LIMITS,
    FORMER_TYPE_CODES,
    HotlineLimits,
    RequestType,
    case_limit,
)
from dispatcher.core.routing import Squad, recommend
from geo.zones import Zone, ZoneIndex, ZoneLevel

TZ = ZoneInfo("Asia/Shanghai")
# Monday 2026-11-23 10:00 in Shanghai, a working day
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
RULES = Rules(WorkingCalendar())
CATALOGUE = by_code(load_default_catalogue())
SHOP = CATALOGUE["200504"]  # 店外经营: 4 working hours
NOISE = CATALOGUE["200601"]  # 噪声扰民投诉: 2 working days, for the hotline too
MANHOLE = CATALOGUE["100101"]  # 井盖缺失: urgent, 2 continuous hours
DEVICE = Principal(TokenId("tok-hotline"), Role.DEVICE, "12345 gateway")
OPERATOR = Principal(TokenId("tok-op"), Role.OPERATOR, "值班员")
ZONES = ZoneIndex(
    [Zone("s1", "外滩街道", ZoneLevel.STREET, None, "sq1", box(121.0, 31.0, 122.0, 32.0), {})]
)
SQUADS = {"sq1": Squad("sq1", "外滩中队", "street")}


def report(**fields: Any) -> str:
    body = {"source": "hotline", "category": "200504", "lon": 121.3, "lat": 31.5, **fields}
    return json.dumps(body)


def plan(body: str, category: Category = SHOP, rules: Rules = RULES) -> Incident:
    r = parse_report(body)
    match = ZONES.match(r.lon, r.lat)
    return plan_intake(
        r,
        incident_id=IncidentId("I1"),
        lon=r.lon,
        lat=r.lat,
        now=NOW,
        actor=DEVICE,
        match=match,
        category=category,
        recommendation=recommend(match, category, SQUADS, border_margin_m=30),
        policy=IntakePolicy(rules),
    ).incident


def working_days(n: float) -> datetime:
    return RULES.calendar.add(NOW, timedelta(days=n), ClockKind.WORKING_DAYS)


# --- the enum and the limits ---------------------------------------------------------------


def test_the_five_types_and_their_chinese_names() -> None:
    assert [(t.value, t.name_zh) for t in RequestType] == [
        ("consult", "咨询"),
        ("help", "求助"),
        ("complaint", "投诉"),
        ("suggestion", "建议"),
        ("report", "举报"),
    ]
    assert RequestType("complaint") is RequestType.COMPLAINT


def test_the_default_limits_are_12345_practice_in_working_days() -> None:
    assert {t.value: DEFAULT_HOTLINE_LIMITS.of(t).days for t in RequestType} == {
        "consult": 3,
        "help": 5,
        "complaint": 13,
        "suggestion": 13,
        "report": 13,
    }
    assert HotlineLimits(consult=0.5).of(RequestType.CONSULT) == timedelta(hours=12)
    for bad in (0, -1, 400):
        with pytest.raises(ValueError, match="consult"):
            HotlineLimits(consult=bad)


def test_the_former_type_codes_are_gone_from_the_shipped_catalogue() -> None:
    assert set(FORMER_TYPE_CODES) == {"200602", "200603", "200604", "200605"}
    assert not set(FORMER_TYPE_CODES) & set(CATALOGUE)
    assert {c.name for c in CATALOGUE.values()}.isdisjoint({"咨询", "求助", "投诉", "建议", "举报"})


# --- which limit the case clock starts on ----------------------------------------------------


@pytest.mark.parametrize(
    ("category", "request_type", "from_hotline", "expected"),
    [
        # a hotline work order about a field kind: the type's limit, in working days
        (SHOP, RequestType.COMPLAINT, True, (ClockKind.WORKING_DAYS, timedelta(days=13))),
        (SHOP, RequestType.CONSULT, True, (ClockKind.WORKING_DAYS, timedelta(days=3))),
        (SHOP, RequestType.HELP, True, (ClockKind.WORKING_DAYS, timedelta(days=5))),
        (SHOP, RequestType.REPORT, True, (ClockKind.WORKING_DAYS, timedelta(days=13))),
        # the category's own hotline limit wins over the type's
        (NOISE, RequestType.COMPLAINT, True, (ClockKind.WORKING_DAYS, timedelta(days=2))),
        # an urgent or continuous kind stays immediate whoever reports it
        (MANHOLE, RequestType.COMPLAINT, True, (ClockKind.CONTINUOUS, timedelta(hours=2))),
        # other sources: the category's clock and limit, whatever the type
        (SHOP, RequestType.COMPLAINT, False, (ClockKind.WORKING_HOURS, timedelta(hours=4))),
        (SHOP, None, False, (ClockKind.WORKING_HOURS, timedelta(hours=4))),
        # a hotline report without a type (not through intake, which assumes one)
        (SHOP, None, True, (ClockKind.WORKING_HOURS, timedelta(hours=4))),
        # a record whose category left the catalogue: its type's limit
        (None, RequestType.HELP, False, (ClockKind.WORKING_DAYS, timedelta(days=5))),
        (None, RequestType.HELP, True, (ClockKind.WORKING_DAYS, timedelta(days=5))),
    ],
)
def test_case_limit(
    category: Category | None,
    request_type: RequestType | None,
    from_hotline: bool,
    expected: tuple[ClockKind, timedelta],
) -> None:
    got = case_limit(
        category, request_type, from_hotline=from_hotline, limits=DEFAULT_HOTLINE_LIMITS
    )
    assert got == expected


def test_case_limit_follows_the_deployment_s_limits() -> None:
    mine = HotlineLimits(complaint=7)
    assert case_limit(SHOP, RequestType.COMPLAINT, from_hotline=True, limits=mine) == (
        ClockKind.WORKING_DAYS,
        timedelta(days=7),
    )


def test_case_limit_needs_a_category_or_a_type() -> None:
    with pytest.raises(ValueError, match="no category"):
        case_limit(None, None, from_hotline=True, limits=DEFAULT_HOTLINE_LIMITS)


# --- intake ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [t.value for t in RequestType])
def test_intake_accepts_every_type(value: str) -> None:
    assert parse_report(report(request_type=value)).request_type is RequestType(value)


@pytest.mark.parametrize("value", ["投诉", "Complaint", "", 3, ["complaint"]])
def test_a_bad_type_is_422_naming_the_field(value: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_report(report(request_type=value))
    assert (caught.value.status, caught.value.field) == (422, "request_type")
    with pytest.raises(ValidationFailed) as again:
        parse_report_object(json.loads(report(request_type=value)))
    assert again.value.field == "request_type"


def test_a_batch_line_with_a_bad_type_fails_alone() -> None:
    lines = batch.parse_lines(
        [
            b'{"source":"hotline","external_id":"h-1","category":"200504","lon":121.4,'
            b'"lat":31.2,"request_type":"help"}',
            b'{"source":"hotline","external_id":"h-2","category":"200504","lon":121.4,'
            b'"lat":31.2,"request_type":"praise"}',
        ]
    )
    assert [line.error and line.error.field for line in lines] == [None, "request_type"]


def test_a_hotline_complaint_gets_its_category_its_type_and_the_complaint_limit() -> None:
    incident = plan(report(request_type="complaint"))
    assert (incident.category, incident.request_type) == ("200504", RequestType.COMPLAINT)
    assert Flag.REQUEST_TYPE_ASSUMED not in incident.flags
    assert incident.state is State.DISPATCHED
    assert incident.progress.clock is not None
    assert incident.progress.clock.kind is ClockKind.WORKING_DAYS
    assert incident.deadline == working_days(13)


def test_a_hotline_enquiry_gets_the_enquiry_limit() -> None:
    assert plan(report(request_type="consult")).deadline == working_days(3)
    shorter = Rules(WorkingCalendar(), hotline_limits=HotlineLimits(consult=2))
    assert plan(report(request_type="consult"), rules=shorter).deadline == working_days(2)


def test_a_hotline_report_without_a_type_is_a_complaint_flagged_for_the_operator() -> None:
    incident = plan(report())
    assert incident.request_type is RequestType.COMPLAINT
    assert Flag.REQUEST_TYPE_ASSUMED in incident.flags
    assert incident.deadline == working_days(13)


def test_other_sources_keep_the_category_limit_and_their_type_if_any() -> None:
    grid = plan(report(source="grid"))
    assert (grid.request_type, grid.flags) == (None, ())
    assert grid.deadline == RULES.calendar.add(NOW, timedelta(hours=4), ClockKind.WORKING_HOURS)
    citizen = plan(report(source="citizen", request_type="suggestion"))
    assert citizen.request_type is RequestType.SUGGESTION
    assert Flag.REQUEST_TYPE_ASSUMED not in citizen.flags


# --- the stored document ---------------------------------------------------------------------


def test_the_type_is_in_the_document_and_read_back() -> None:
    incident = plan(report(request_type="help"))
    doc = incident.to_doc(TZ)
    assert doc["request_type"] == "help"
    back = Incident.from_doc(json.loads(json.dumps(doc)))
    assert back.request_type is RequestType.HELP
    assert "request_type" not in back.extra
    grid = plan(report(source="grid")).to_doc(TZ)
    assert grid["request_type"] is None
    assert Incident.from_doc(grid).request_type is None


def test_a_document_stored_before_types_reads_as_none() -> None:
    doc = plan(report(source="grid")).to_doc(TZ)
    del doc["request_type"]
    assert Incident.from_doc(doc).request_type is None


# --- registering a record whose category left the catalogue ---------------------------------


def waiting(request_type: RequestType | None) -> Incident:
    return Incident(
        id=IncidentId("2026112300000001"),
        source=Source.CITIZEN,
        external_id=None,
        category="200603",
        state=State.REPORTED,
        priority="normal",
        lon=121.3,
        lat=31.5,
        received_at=NOW,
        updated_at=NOW,
        request_type=request_type,
    )


def test_a_former_type_code_record_is_registered_on_its_type_s_limit() -> None:
    registered = register(waiting(RequestType.HELP), None, RULES, NOW)
    assert registered.deadline == working_days(5)
    decided = decide(
        waiting(RequestType.HELP),
        parse_action(b'{"action": "register"}'),
        OPERATOR,
        NOW,
        Context(category=None, squads=SQUADS),
        RULES,
    )
    assert decided.incident.state is State.REGISTERED


def test_a_record_without_category_or_type_cannot_be_registered() -> None:
    with pytest.raises(ValidationFailed, match="no longer in the catalogue"):
        decide(
            waiting(None),
            parse_action(b'{"action": "register"}'),
            OPERATOR,
            NOW,
            Context(category=None, squads=SQUADS),
            RULES,
        )


# --- Open311 ---------------------------------------------------------------------------------

FORM = {"service_code": "200504", "lat": "31.2302", "long": "121.4737", "api_key": "k"}


def test_every_service_definition_describes_the_type_attribute() -> None:
    for category in (SHOP, NOISE):
        attributes = {a["code"]: a for a in open311.definition(category)["attributes"]}
        spec = attributes["request_type"]
        assert spec["datatype"] == "singlevaluelist"
        assert spec["required"] is False
        assert spec["variable"] is True
        assert [v["key"] for v in spec["values"]] == [
            "consult",
            "help",
            "complaint",
            "suggestion",
            "report",
        ]
        assert spec["values"][2]["name"] == "投诉 (complaint)"
    xml = open311.to_xml("service_definition", open311.definition(SHOP))
    assert b"<key>suggestion</key>" in xml


def test_the_type_attribute_becomes_the_report_s_type() -> None:
    wanted = open311.parse_request(
        {**FORM, "attribute[request_type]": " help ", "attribute[target_name]": "便民店"},
        CATALOGUE,
    )
    assert wanted.report["request_type"] == "help"
    assert wanted.attributes == {"target_name": "便民店"}
    assert parse_report_object(wanted.report).request_type is RequestType.HELP
    assert "request_type" not in open311.parse_request(FORM, CATALOGUE).report


def test_a_bad_type_attribute_is_400_naming_it() -> None:
    with pytest.raises(BadRequest) as caught:
        open311.parse_request({**FORM, "attribute[request_type]": "投诉"}, CATALOGUE)
    assert caught.value.field == "attribute[request_type]"
    assert "complaint" in caught.value.message


def test_requests_show_the_type_back() -> None:
    incident = plan(report(request_type="suggestion"))
    shown = open311.request_json(incident, TZ, service_name="店外经营", agency="外滩中队")
    assert shown["request_type"] == "suggestion"
    untyped = plan(report(source="grid"))
    assert open311.request_json(untyped, TZ, service_name=None, agency=None)["request_type"] is None
