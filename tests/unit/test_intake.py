"""Intake: validation of reports and what a report becomes (pure, no database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from shapely.geometry import box

from dispatcher.core.auth import Principal, Role, may_read_incident, may_subscribe
from dispatcher.core.categories import Category, Priority
from dispatcher.core.clocks import WorkingCalendar
from dispatcher.core.deadlines import Rules
from dispatcher.core.errors import BadRequest, ValidationFailed
from dispatcher.core.events import EventType
from dispatcher.core.ids import IncidentId, SquadId, TokenId
from dispatcher.core.incidents import Flag, Incident, State, evolve
from dispatcher.core.intake import IntakePolicy, parse_report, plan_intake
from dispatcher.core.routing import Squad, recommend
from dispatcher.store import records as store
from geo.zones import Zone, ZoneIndex, ZoneLevel

DEVICE = Principal(TokenId("tok-dev"), Role.DEVICE, "cam gateway")
OPERATOR = Principal(TokenId("tok-op"), Role.OPERATOR, "值班员")
SHOP = Category("200504", "店外经营", Priority.NORMAL, "working_hours", 4, auto_confidence=0.9)
WASTE = Category(
    "200301",
    "渣土撒漏",
    Priority.URGENT,
    "continuous",
    2,
    specialty="construction_waste",
    joint=("environment",),
)
ZONES = ZoneIndex(
    [
        Zone(
            "d",
            "黄浦区",
            ZoneLevel.DISTRICT,
            None,
            "centre",
            box(121.0, 31.0, 122.0, 32.0),
            {"specialists": {"construction_waste": "cw", "environment": "env"}},
        ),
        Zone("s1", "外滩街道", ZoneLevel.STREET, "d", "sq1", box(121.0, 31.0, 121.5, 32.0), {}),
        Zone("s2", "豫园街道", ZoneLevel.STREET, "d", "sq2", box(121.5, 31.0, 122.0, 32.0), {}),
        Zone(
            "v",
            "外滩会场",
            ZoneLevel.SPECIAL,
            None,
            None,
            box(121.1, 31.1, 121.2, 31.2),
            {"priority": "urgent"},
        ),
    ]
)
SQUADS = {
    "centre": Squad("centre", "指挥中心", "centre"),
    "sq1": Squad("sq1", "外滩中队", "street", "centre"),
    "sq2": Squad("sq2", "豫园中队", "street", "centre"),
    "cw": Squad("cw", "建设工程支队", "specialist", "centre", ("construction_waste",)),
    "env": Squad("env", "环境支队", "specialist", "centre", ("environment",)),
}
POLICY = IntakePolicy(Rules(WorkingCalendar()), auto_confidence=0.85)
# Monday 2026-11-23 10:00 in Shanghai, a working day
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def report(**fields: Any) -> str:
    body = {
        "source": "camera",
        "external_id": "cam-1-0001",
        "category": "200504",
        "lon": 121.3,
        "lat": 31.5,
        "confidence": 0.95,
        **fields,
    }
    return json.dumps(body)


def plan(body: str, who: Principal = DEVICE, category: Category = SHOP) -> Any:
    r = parse_report(body)
    match = ZONES.match(r.lon, r.lat)
    rec = recommend(match, category, SQUADS, border_margin_m=30)
    return plan_intake(
        r,
        incident_id=IncidentId("I1"),
        lon=r.lon,
        lat=r.lat,
        now=NOW,
        actor=who,
        match=match,
        category=category,
        recommendation=rec,
        policy=POLICY,
    )


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ("{not json", 400, None),
        ("", 400, None),
        ("[1, 2]", 422, None),
        (report(source="pigeon"), 422, "source"),
        (report(lon=181), 422, "lon"),
        (report(lat=-91), 422, "lat"),
        (report(lon="east"), 422, "lon"),
        (report(confidence=1.5), 422, "confidence"),
        (report(occurred_at="2026-11-22T09:30:00"), 422, "occurred_at"),
        (report(media=["x"] * 51), 422, "media"),
        (report(category=""), 422, "category"),
        (report(description="占道\u0000经营"), 422, "description"),
        (json.dumps({"source": "camera", "lat": 31.0, "category": "200504"}), 422, "lon"),
        ('{"source":"camera","category":"200504","lon":NaN,"lat":31}', 422, "lon"),
    ],
)
def test_bad_reports_name_their_problem(body: str, status: int, field: str | None) -> None:
    with pytest.raises((BadRequest, ValidationFailed)) as caught:
        parse_report(body)
    assert caught.value.status == status
    assert caught.value.field == field


def test_a_good_report_parses_with_its_offset() -> None:
    r = parse_report(report(occurred_at="2026-11-22T09:30:00+08:00", crs="GCJ02"))
    assert r.occurred_at == datetime(2026, 11, 22, 1, 30, tzinfo=UTC)
    assert r.crs == "GCJ02"
    assert r.confidence == 0.95


def test_confident_camera_detection_is_registered_and_dispatched() -> None:
    p = plan(report())
    incident: Incident = p.incident
    assert incident.state is State.DISPATCHED
    assert incident.squad_id == "sq1"
    assert incident.zone_ids == ("d", "s1")
    # 4 working hours from Monday 10:00 Shanghai: 10-12 and 14-16
    assert incident.deadline == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert [e.type for e in p.events] == [EventType.INCIDENT_CREATED, EventType.DISPATCH_ASSIGNED]
    assert p.events[1].topics == ("squad:sq1",)
    assert {"squad:sq1", "all"} <= set(p.events[0].topics)
    assert p.events[0].detail["auto"] == ["register", "dispatch"]


def test_unsure_camera_detection_waits_for_an_operator() -> None:
    # the category's own threshold (0.9) wins over the deployment's (0.85)
    p = plan(report(confidence=0.88))
    assert p.incident.state is State.REPORTED
    assert p.incident.squad_id is None
    assert p.incident.extra["recommended_squad_id"] == "sq1"
    assert Flag.LOW_CONFIDENCE in p.incident.flags
    assert p.incident.deadline is None
    assert [e.type for e in p.events] == [EventType.INCIDENT_CREATED]
    assert not any(t.startswith("squad:") for t in p.events[0].topics)


def test_citizen_reports_wait_but_operator_reports_go_out() -> None:
    assert plan(report(source="citizen", confidence=None)).incident.state is State.REPORTED
    assert plan(report(source="citizen"), who=OPERATOR).incident.state is State.DISPATCHED


def test_hotline_in_no_zone_is_registered_but_flagged_not_guessed() -> None:
    p = plan(report(source="hotline", lon=100.0, lat=40.0))
    assert p.incident.state is State.REGISTERED
    assert p.incident.squad_id is None
    assert Flag.NO_ZONE in p.incident.flags


def test_near_border_point_is_flagged_and_held() -> None:
    # 121.4999 is about 9.5 m from the border between s1 and s2 at this latitude
    p = plan(report(source="grid", lon=121.4999, lat=31.5))
    assert Flag.NEAR_BORDER in p.incident.flags
    assert p.incident.state is State.REGISTERED


def test_specialty_goes_to_the_brigade_with_support_squads() -> None:
    p = plan(report(source="hotline", category="200301"), category=WASTE)
    assert p.incident.squad_id == "cw"
    assert p.incident.support_squad_ids == ("env",)
    assert p.incident.priority == "urgent"
    assert p.incident.deadline == NOW + timedelta(hours=2)  # continuous clock
    assert set(p.events[1].topics) == {"squad:cw", "squad:env"}


def test_special_zone_raises_priority() -> None:
    p = plan(report(source="hotline", lon=121.15, lat=31.15))
    assert p.incident.priority == "urgent"
    assert Flag.SPECIAL_ZONE in p.incident.flags
    assert "v" in p.incident.zone_ids


def test_incident_document_round_trips() -> None:
    incident = plan(report(occurred_at="2026-11-22T09:30:00+08:00")).incident
    doc = incident.to_doc(POLICY.calendar.tz)
    assert doc["deadline"] == "2026-11-23T16:00:00.000+08:00"
    assert Incident.from_doc(json.loads(json.dumps(doc))) == incident


def test_a_stored_text_is_decoded_once_and_a_changed_one_again() -> None:
    incident = plan(report()).incident
    text = store.encode_doc(incident, POLICY.calendar.tz)
    first = store.decode_doc(text)
    assert first == incident
    assert store.decode_doc("" + text[:1] + text[1:]) is first  # an equal text, another str
    changed = evolve(incident, version=incident.version + 1, report_count=3)
    again = store.decode_doc(store.encode_doc(changed, POLICY.calendar.tz))
    assert again == changed
    assert again is not first


def test_squad_tokens_belong_to_one_squad() -> None:
    squad = Principal(TokenId("t"), Role.SQUAD, "外滩中队", SquadId("sq1"))
    assert may_subscribe(squad, "squad:sq1")
    assert not may_subscribe(squad, "squad:sq2")
    assert not may_subscribe(squad, "all")
    assert not may_subscribe(squad, "incident:I1")
    assert may_read_incident(squad, ["sq2", "sq1"])
    assert not may_read_incident(squad, ["sq2", None])
    assert not may_subscribe(DEVICE, "all")
    assert may_subscribe(OPERATOR, "zone:d")
