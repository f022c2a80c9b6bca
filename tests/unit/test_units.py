"""Units without a server: bodies, positions, assignment, messages, the throttle, the hub's
messages without seq, and the demo's moving units."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from shapely.geometry import Point

from dispatcher.core.errors import BadRequest, ValidationFailed
from dispatcher.core.units import (
    Position,
    Unit,
    UnitState,
    UnitStatus,
    check_assignment,
    moved_message,
    parse_position,
    parse_status,
    parse_unit,
    topics_of,
    unit_json,
)
from dispatcher.demo.city import build_demo_city
from dispatcher.demo.run import unit_step
from geo.coords import CRS, from_wgs84
from geo.distance import distance_m
from realtime.hub import Envelope, Hub, Subscriber, text_frame
from realtime.positions import Throttle

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")
UNIT = Unit("u1", "sq-west", "西中队 执法车01", ("advertising",), UnitStatus.AVAILABLE)


# -- bodies ---------------------------------------------------------------------------------


def test_a_position_in_any_coordinate_system_is_kept_in_wgs84() -> None:
    lon, lat = 121.4737, 31.2304
    for crs in CRS:
        given_lon, given_lat = from_wgs84(lon, lat, crs)
        body = json.dumps({"lon": given_lon, "lat": given_lat, "crs": crs.value})
        position = parse_position(body, NOW)
        assert distance_m(position.lon, position.lat, lon, lat) < 0.05
        assert position.at == NOW


def test_a_position_names_the_field_it_cannot_take() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"lon": 200, "lat": 31}, "lon"),
        ({"lon": 121, "lat": 95}, "lat"),
        ({"lon": 121, "lat": 31, "crs": "MARS"}, "crs"),
        ({"lat": 31}, "lon"),
        ({"lon": 121, "lat": 31, "at": "2026-11-23T10:00:00"}, "at"),  # no offset
        ({"lon": 121, "lat": 31, "at": (NOW + timedelta(minutes=5)).isoformat()}, "at"),
        ({"lon": "121", "lat": float("nan")}, "lat"),
    ]
    for body, field in cases:
        with pytest.raises(ValidationFailed) as refused:
            parse_position(body, NOW)
        assert refused.value.field == field, (body, refused.value.message)
    with pytest.raises(BadRequest):
        parse_position(b"{not json", NOW)


def test_a_phone_clock_slightly_ahead_is_taken_as_now_and_an_old_time_is_kept() -> None:
    ahead = parse_position({"lon": 121, "lat": 31, "at": (NOW + timedelta(seconds=30))}, NOW)
    assert ahead.at == NOW
    earlier = NOW - timedelta(minutes=10)
    assert parse_position({"lon": 121, "lat": 31, "at": earlier.isoformat()}, NOW).at == earlier


def test_unit_and_status_bodies() -> None:
    body = parse_unit(b'{"squad_id": "sq-west", "name": " car ", "skills": ["advertising"]}')
    assert (body.name, body.status) == ("car", UnitStatus.AVAILABLE)
    with pytest.raises(ValidationFailed) as refused:
        parse_unit(b'{"squad_id": "sq-west", "name": "car", "status": "asleep"}')
    assert refused.value.field == "status"
    assert parse_status({"type": "status", "status": "on_scene"}) is UnitStatus.ON_SCENE


def test_a_unit_is_given_only_to_its_own_squad_s_incident_and_never_off_duty() -> None:
    assert check_assignment(UNIT, "u1", ["sq-west"]) is UNIT
    assert check_assignment(UNIT, "u1", ["sq-east", "sq-west"]) is UNIT  # as support
    for unit, squads, words in [
        (None, ["sq-west"], "no unit u1"),
        (UNIT, ["sq-east"], "belongs to squad sq-west"),
        (Unit("u1", "sq-west", "x", (), UnitStatus.OFF_DUTY), ["sq-west"], "off duty"),
    ]:
        with pytest.raises(ValidationFailed) as refused:
            check_assignment(unit, "u1", squads)
        assert refused.value.field == "unit_id"
        assert words in refused.value.message
    busy = Unit("u1", "sq-west", "x", (), UnitStatus.BUSY)
    assert check_assignment(busy, "u1", ["sq-west"]) is busy  # the operator decides


def test_what_the_api_and_consoles_see() -> None:
    position = Position(121.47, 31.23, NOW - timedelta(seconds=400))
    doc = unit_json(UnitState(UNIT, position, 2), NOW, TZ, 300)
    assert doc["status"] == "available"
    assert doc["load"] == 2
    assert doc["position"] == {
        "lon": 121.47,
        "lat": 31.23,
        "crs": "WGS84",
        "at": "2026-11-23T09:53:20.000+08:00",
        "age_s": 400.0,
        "stale": True,
    }
    assert unit_json(UnitState(UNIT), NOW, TZ, 300)["position"] is None
    moved = moved_message(UNIT, position, TZ)
    assert moved["type"] == "unit.moved"
    assert "seq" not in moved
    assert moved["unit"]["position"]["lon"] == 121.47
    assert topics_of(UNIT) == ("all", "units", "squad:sq-west")


# -- the throttle -----------------------------------------------------------------------------


def test_the_throttle_sends_each_unit_at_most_once_per_interval_and_the_latest_wins() -> None:
    throttle: Throttle[str, str] = Throttle(interval_s=2.0, max_per_s=1000)
    throttle.offer("u1", "p1")
    assert throttle.take(0.0) == ["p1"]  # the first goes at once
    for n in range(2, 12):
        throttle.offer("u1", f"p{n}")
    assert throttle.take(0.5) == []
    assert throttle.take(1.9) == []
    assert throttle.take(2.0) == ["p11"]  # the last one, not the ten in between
    assert throttle.take(10.0) == []  # nothing new: nothing sent
    assert (throttle.offered, throttle.replaced) == (11, 9)


def test_the_throttle_caps_the_total_and_serves_the_oldest_first() -> None:
    throttle: Throttle[str, str] = Throttle(interval_s=2.0, max_per_s=100)
    for n in range(1000):
        throttle.offer(f"u{n}", f"u{n}")
    first = throttle.take(0.0)
    assert first == [f"u{n}" for n in range(100)]  # a second's worth of tokens
    assert throttle.take(0.5) == [f"u{n}" for n in range(100, 150)]
    sent = len(first) + 50
    for tick in range(1, 11):
        sent += len(throttle.take(0.5 + tick * 0.5))
    assert sent == 100 + 50 + 10 * 50  # never more than 100 a second after the first burst
    assert throttle.pending == 350


# -- the hub: messages without seq ------------------------------------------------------------


async def test_messages_without_seq_never_touch_the_seq_stream() -> None:
    hub = Hub(last_seq=41)
    live = Subscriber(8, lambda _: None)
    replaying = Subscriber(8, lambda _: None)
    hub.go_live(live, hub.subscribe(live, ["units"]))
    hub.subscribe(replaying, ["all"])  # still replaying history: not live yet
    assert hub.broadcast(["all", "units", "squad:x"], '{"type":"unit.moved"}') == 1
    assert hub.last_seq == 41
    assert live.queue.get_nowait() == text_frame('{"type":"unit.moved"}')
    assert replaying.queue.empty()
    hub.deliver(Envelope(42, ("all",), '{"seq":42}'))
    hub.go_live(replaying, 41)
    assert replaying.queue.get_nowait() == text_frame('{"seq":42}')  # the held event only
    assert replaying.queue.empty()


async def test_messages_without_seq_are_shed_before_a_subscriber_is_dropped() -> None:
    hub = Hub()
    dropped: list[Subscriber] = []
    sub = Subscriber(4, dropped.append)
    hub.go_live(sub, hub.subscribe(sub, ["all"]))
    taken = [hub.broadcast(["all"], f"m{n}") for n in range(10)]
    assert taken == [1, 1] + [0] * 8  # half the queue, then shed
    assert not dropped
    hub.deliver(Envelope(1, ("all",), "e1"))
    hub.deliver(Envelope(2, ("all",), "e2"))
    sent = [sub.queue.get_nowait() for _ in range(4)]
    assert sent == [text_frame(t) for t in ("m0", "m1", "e1", "e2")]
    await asyncio.sleep(0)


# -- the demo's units -------------------------------------------------------------------------


def test_demo_units_move_a_little_and_stay_in_their_street() -> None:
    city = build_demo_city()
    rng = random.Random(3)
    unit = dict(next(u for u in city.units if "-sq-" in u["squad_id"]))
    street = next(s for s in city.streets if s.squad_id == unit["squad_id"])
    for _ in range(50):
        lon, lat = unit_step(rng, city, unit, "available")
        assert distance_m(lon, lat, unit["lon"], unit["lat"]) <= 81
        assert street.geometry.covers(Point(lon, lat))
        unit["lon"], unit["lat"] = lon, lat
    assert unit_step(rng, city, unit, "off_duty") == (unit["lon"], unit["lat"])
