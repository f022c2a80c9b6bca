"""Duplicates, repeat complaints and the collation of a batch (pure, no database)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box as rect

from dispatcher.core import collation, dedup, repeats
from dispatcher.core.auth import Principal, Role
from dispatcher.core.categories import Category, Priority
from dispatcher.core.clocks import WorkingCalendar
from dispatcher.core.deadlines import Rules
from dispatcher.core.errors import InvalidTransition
from dispatcher.core.ids import IncidentId, TokenId
from dispatcher.core.incidents import State
from dispatcher.core.intake import IntakePlan, IntakePolicy, parse_report_object, plan_intake
from dispatcher.core.routing import Squad, recommend
from geo.distance import distance_m
from geo.zones import Zone, ZoneIndex, ZoneLevel

DEVICE = Principal(TokenId("tok-cam"), Role.DEVICE, "camera gateway")
STALL = Category(
    "200504",
    "店外经营",
    Priority.NORMAL,
    "working_hours",
    4,
    dedup_radius_m=30,
    dedup_window_s=60,
    auto_confidence=0.9,
)
NOISE = Category("200601", "噪声扰民", Priority.NORMAL, "working_hours", 4, dedup_radius_m=100)
ZONES = ZoneIndex(
    [
        Zone("d", "黄浦区", ZoneLevel.DISTRICT, None, "centre", rect(121.0, 31.0, 122.0, 32.0), {}),
        Zone("s", "外滩街道", ZoneLevel.STREET, "d", "sq", rect(121.0, 31.0, 122.0, 32.0), {}),
    ]
)
SQUADS = {"centre": Squad("centre", "中心", "centre"), "sq": Squad("sq", "外滩中队", "street")}
POLICY = IntakePolicy(Rules(WorkingCalendar()))
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
LON, LAT = 121.49, 31.24
_ids = itertools.count(1)


def east(metres: float) -> float:
    return LON + metres / 95_300


def plan(
    category: Category = STALL, at: datetime = NOW, now: datetime = NOW, **fields: Any
) -> IntakePlan:
    body = {
        "source": "camera",
        "category": category.code,
        "lon": LON,
        "lat": LAT,
        "confidence": 0.95,
        "occurred_at": at.isoformat(),
        **fields,
    }
    report = parse_report_object(body)
    match = ZONES.match(report.lon, report.lat)
    return plan_intake(
        report,
        incident_id=IncidentId(f"2026112300{next(_ids):06d}"),
        lon=report.lon,
        lat=report.lat,
        now=now,
        actor=DEVICE,
        match=match,
        category=category,
        recommendation=recommend(match, category, SQUADS, 30),
        policy=POLICY,
    )


def test_a_report_within_radius_and_window_joins_the_nearest_open_incident() -> None:
    near, nearer = plan(lon=east(20)).incident, plan(lon=east(5)).incident
    report = plan().base
    assert report is not None
    found = dedup.find(report, dedup.Rule.of(STALL), [near, nearer])
    assert found.target is nearer
    assert found.distance_m == pytest.approx(5, abs=0.1)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"lon": east(45)}, "outside_radius"),
        ({"at": NOW - timedelta(seconds=61)}, "outside_window"),
        ({"category": NOISE}, "other_category"),
    ],
)
def test_near_misses_are_offered_not_joined(changes: dict[str, Any], reason: str) -> None:
    other = plan(**changes).incident
    report = plan().base
    assert report is not None
    found = dedup.find(report, dedup.Rule.of(STALL), [other])
    assert found.target is None
    assert [(n.incident_id, n.reason) for n in found.near] == [(other.id, reason)]


def test_closed_incidents_and_far_ones_are_ignored() -> None:
    closed = replace(plan().incident, state=State.CLOSED)
    far = plan(lon=east(500)).incident
    report = plan().base
    assert report is not None
    assert dedup.find(report, dedup.Rule.of(STALL), [closed, far]) == dedup.Finding(None)


def test_dedup_off_for_a_category_joins_nothing() -> None:
    off = Category("200602", "咨询", Priority.NORMAL, "working_days", 2, dedup_radius_m=0)
    first, report = plan(off).incident, plan(off).base
    assert report is not None
    assert dedup.find(report, dedup.Rule.of(off), [first]).target is None


def test_attach_keeps_the_report_as_a_merged_record_and_grows_the_incident() -> None:
    target = plan(media=["a.jpg"]).incident
    report = plan(source="hotline", at=NOW + timedelta(seconds=30), media=["a.jpg", "b.jpg"]).base
    assert report is not None
    joined = dedup.attach(report, target, 3.2, NOW, "tok", "device")
    assert joined.record.state is State.MERGED
    assert joined.record.duplicate_of == target.id
    assert joined.record.media == ("a.jpg", "b.jpg")
    grown = joined.target
    assert (grown.report_count, grown.version) == (2, target.version + 1)
    assert grown.media == ("a.jpg", "b.jpg")
    assert grown.progress.sources == ("camera", "hotline")
    assert dedup.report_span(grown) == (NOW, NOW + timedelta(seconds=30))
    assert [e.type.value for e in joined.events] == ["incident.created", "incident.updated"]
    assert joined.events[1].detail["report_count"] == 2
    back = dedup.detach(joined.record, grown, NOW, "op", "operator", "不是同一处")
    assert back.record.state is State.REPORTED
    assert back.record.duplicate_of is None
    assert back.target.report_count == 1
    assert back.target.media == ()  # the report's media leave with it
    with pytest.raises(InvalidTransition):
        dedup.detach(back.record, back.target, NOW, "op", "operator", None)


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(-70, 70),
    lon=st.floats(-179, 179),
    radius=st.floats(1, 5000),
    bearing=st.floats(0, 360),
    fraction=st.floats(0, 1),
)
def test_the_box_and_the_locks_cover_the_radius(
    lat: float, lon: float, radius: float, bearing: float, fraction: float
) -> None:
    from pyproj import Geod  # noqa: PLC0415

    lon2, lat2, _ = Geod(ellps="WGS84").fwd(lon, lat, bearing, radius * fraction)
    assert distance_m(lon, lat, lon2, lat2) <= radius + 1e-6
    x0, y0, x1, y1 = dedup.box(lon, lat, radius)
    assert x0 <= lon2 <= x1
    assert y0 <= lat2 <= y1
    # two reports within one radius of each other always share a place lock
    mine = set(dedup.lock_keys("200504", lon, lat, radius))
    theirs = set(dedup.lock_keys("200504", lon2, lat2, radius))
    assert mine & theirs
    assert not mine & set(dedup.lock_keys("200505", lon, lat, radius))


def test_a_camera_every_ten_seconds_for_ten_minutes_collates_into_one_incident() -> None:
    plans = [plan(at=NOW + timedelta(seconds=10 * n), now=NOW) for n in range(60)]
    out = collation.collate(plans, [], [], repeats.RepeatRule(), NOW)
    opened = [p for p in out.plans if p.incident.duplicate_of is None]
    assert len(opened) == 1
    assert opened[0].incident.report_count == 60
    assert opened[0].incident.state is State.DISPATCHED
    assert {p.incident.state for p in out.plans[1:]} == {State.MERGED}
    assert out.changed == {}


def test_a_trusted_call_sends_out_the_camera_incident_it_joins() -> None:
    waiting = plan(confidence=0.5).incident  # below the threshold: waits for an operator
    assert waiting.state is State.REPORTED
    call = plan(source="hotline", confidence=None)
    out = collation.collate([call], [waiting], [], repeats.RepeatRule(), NOW)
    sent = out.changed[waiting.id]
    assert sent.state is State.DISPATCHED
    assert sent.report_count == 2
    actions = [e.action for e in out.plans[0].events]
    assert actions == ["report", "duplicate", "register", "dispatch"]


def test_the_third_complaint_in_thirty_days_marks_a_repeat_once() -> None:
    old = [
        repeats.Complaint(f"old-{n}", NOISE.code, east(10 * n), LAT, NOW - timedelta(days=n + 3))
        for n in range(2)
    ]
    stale = repeats.Complaint("stale", NOISE.code, LON, LAT, NOW - timedelta(days=31))
    calls = [plan(NOISE, source="hotline", confidence=None) for _ in range(3)]
    out = collation.collate(calls, [], [*old, stale], repeats.RepeatRule(), NOW)
    (opened,) = [p.incident for p in out.plans if p.incident.duplicate_of is None]
    assert "repeat_complaint" in opened.flags
    assert opened.progress.repeat_count == 5
    assert out.supervisions == [(opened.id, "重复诉件：30 天内同一地点同类诉件 3 件")]
    marks = [e for p in out.plans for e in p.events if e.action == "repeat_complaint"]
    assert len(marks) == 1


def test_camera_detections_are_not_complaints() -> None:
    shots = [plan(NOISE) for _ in range(5)]
    out = collation.collate(shots, [], [], repeats.RepeatRule(), NOW)
    assert out.supervisions == []
