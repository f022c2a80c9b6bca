"""The simulator: realistic report bodies (pure), and the poster against a stand-in server."""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import prcoords
import pytest
import shapely
from aiohttp import web
from aiohttp.test_utils import TestServer

from dispatcher.core.categories import load_default_catalogue
from dispatcher.core.incidents import Source
from dispatcher.core.request_types import RequestType
from dispatcher.demo.city import DemoCity, build_demo_city
from dispatcher.demo.simulator import (
    CAMERA_REACH_M,
    CATEGORY_WEIGHTS,
    CST,
    WHAT,
    make_report,
    next_batch,
    redetect,
    run_simulator,
)
from geo.distance import distance_m

FIELDS = {
    "source",
    "external_id",
    "category",
    "lon",
    "lat",
    "crs",
    "description",
    "occurred_at",
    "media",
    "confidence",
    "device_id",
    "address",
    "request_type",
}
MACHINES = {"camera", "drone", "sensor"}
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=CST)
NIGHT = datetime(2026, 11, 22, 23, 10, tzinfo=CST)


@pytest.fixture(scope="module")
def city() -> DemoCity:
    return build_demo_city()


@pytest.fixture(scope="module")
def reports(city: DemoCity) -> list[dict[str, Any]]:
    rng = random.Random(11)
    return [make_report(rng, city, NOW if i % 2 else NIGHT) for i in range(3000)]


def to_wgs84(report: dict[str, Any]) -> tuple[float, float]:
    point = (report["lat"], report["lon"])
    if report["crs"] == "GCJ02":
        point = prcoords.gcj_wgs_bored(point)
    elif report["crs"] == "BD09":
        point = prcoords.bd_wgs_bored(point)
    return float(point[1]), float(point[0])


def test_bodies_have_every_api_field(reports: list[dict[str, Any]]) -> None:
    codes = {c.code for c in load_default_catalogue()}
    for r in reports:
        assert set(r) == FIELDS
        assert r["source"] in {s.value for s in Source}
        assert r["category"] in codes
        assert r["crs"] in {"WGS84", "GCJ02", "BD09"}
        assert isinstance(r["lon"], float)
        assert isinstance(r["lat"], float)
        assert r["description"]
        assert r["address"].startswith("上海市黄浦区")
        assert isinstance(r["media"], list)
        assert all(m.startswith("https://") for m in r["media"])
        occurred = datetime.fromisoformat(r["occurred_at"])
        assert occurred.utcoffset() == timedelta(hours=8)
        assert r["occurred_at"].endswith("+08:00")
        assert timedelta(0) <= (NOW if occurred <= NOW else NIGHT) - occurred < timedelta(hours=13)
        if r["source"] in MACHINES:
            assert 0.5 <= r["confidence"] <= 1
            assert r["device_id"]
        else:
            assert r["confidence"] is None


def test_bodies_pass_the_intake_validation(reports: list[dict[str, Any]]) -> None:
    intake = pytest.importorskip("dispatcher.core.intake")
    for r in reports[:500]:
        parsed = intake.parse_report_object(r)
        assert parsed.category == r["category"]


def test_external_ids_are_unique(reports: list[dict[str, Any]]) -> None:
    ids = [(r["source"], r["external_id"]) for r in reports]
    assert len(ids) == len(set(ids))
    for r in reports:
        assert re.fullmatch(r"[0-9A-Za-z-]{10,80}", r["external_id"])


def test_points_fall_inside_the_district(city: DemoCity, reports: list[dict[str, Any]]) -> None:
    district = shapely.unary_union([s.geometry for s in city.streets]).buffer(1e-5)  # ~1 m
    for r in reports:
        lon, lat = to_wgs84(r)
        assert district.contains(shapely.Point(lon, lat)), r


def test_phone_apps_send_gcj02(reports: list[dict[str, Any]]) -> None:
    crs = Counter(r["crs"] for r in reports)
    assert crs["GCJ02"] > 0.05 * len(reports)
    assert crs["WGS84"] > 0.6 * len(reports)
    for r in reports:
        if r["source"] in MACHINES:
            assert r["crs"] == "WGS84"
    # GCJ-02 moves a Shanghai point a few hundred metres east and south: really converted
    sample = next(r for r in reports if r["crs"] == "GCJ02")
    lon, lat = to_wgs84(sample)
    assert 0.003 < sample["lon"] - lon < 0.006
    assert 0.001 < lat - sample["lat"] < 0.004


def test_the_mix_of_sources(reports: list[dict[str, Any]]) -> None:
    share = {k: v / len(reports) for k, v in Counter(r["source"] for r in reports).items()}
    assert 0.45 < share["camera"] < 0.55
    assert 0.20 < share["hotline"] < 0.30
    assert 0.16 < share["grid"] < 0.24
    assert share.get("citizen", 0) > 0


def test_cameras_report_what_cameras_see(reports: list[dict[str, Any]]) -> None:
    seen = Counter(r["category"] for r in reports if r["source"] == "camera")
    top = {code for code, _ in seen.most_common(4)}
    assert top <= {"200504", "200506", "200502", "200102", "200501"}
    confidences = [r["confidence"] for r in reports if r["source"] == "camera"]
    assert 0.8 < sum(confidences) / len(confidences) < 0.9


def test_cameras_see_within_their_reach(city: DemoCity, reports: list[dict[str, Any]]) -> None:
    poles = {c.device_id: c for c in city.cameras}
    for r in reports:
        if r["source"] == "camera":
            pole = poles[r["device_id"]]
            assert distance_m(pole.lon, pole.lat, r["lon"], r["lat"]) <= CAMERA_REACH_M + 0.5
            assert r["address"] == pole.address


def test_hotline_reports_read_like_work_orders(reports: list[dict[str, Any]]) -> None:
    hotline = [r for r in reports if r["source"] == "hotline"]
    assert all(r["description"].startswith("市民来电反映") for r in hotline)
    assert all(r["external_id"].startswith("12345-") for r in hotline)
    types = Counter(r["request_type"] for r in hotline)
    assert set(types) == {t.value for t in RequestType}
    assert types.most_common(1)[0][0] == "complaint"
    assert all(r["request_type"] is None for r in reports if r["source"] != "hotline")


def test_noise_and_barbecue_come_at_night(city: DemoCity) -> None:
    def night_share(now: datetime) -> float:
        rng = random.Random(5)
        codes = [make_report(rng, city, now)["category"] for _ in range(2000)]
        return sum(c in {"200114", "200301", "200601"} for c in codes) / len(codes)

    assert night_share(NIGHT) > 2 * night_share(NOW)


def test_deterministic_with_a_seed(city: DemoCity) -> None:
    first = [make_report(random.Random(3), city, NOW) for _ in range(3)]
    rng_a, rng_b = random.Random(42), random.Random(42)
    assert [make_report(rng_a, city, NOW) for _ in range(50)] == [
        make_report(rng_b, city, NOW) for _ in range(50)
    ]
    assert first[0] == first[1] == first[2]


def test_every_weighted_category_exists_and_has_words() -> None:
    codes = {c.code for c in load_default_catalogue()}
    for weighted in CATEGORY_WEIGHTS.values():
        for code, weight in weighted:
            assert code in codes
            assert code in WHAT
            assert weight > 0


def test_a_naive_now_is_refused(city: DemoCity) -> None:
    with pytest.raises(ValueError, match="timezone"):
        make_report(random.Random(1), city, datetime(2026, 11, 22, 9, 30))


def test_other_offsets_are_written_in_shanghai_time(city: DemoCity) -> None:
    utc = NOW.astimezone(UTC)
    report = make_report(random.Random(2), city, utc)
    assert report["occurred_at"].endswith("+08:00")


def test_a_redetection_is_the_same_thing_at_the_same_spot(city: DemoCity) -> None:
    rng = random.Random(9)
    first = next(
        r for r in iter(lambda: make_report(rng, city, NOW), None) if r["source"] == "camera"
    )
    again = redetect(first, rng, NOW + timedelta(minutes=1))
    for key in ("source", "category", "lon", "lat", "crs", "device_id", "address"):
        assert again[key] == first[key]
    assert again["external_id"] != first["external_id"]
    assert again["external_id"].startswith(first["device_id"])
    assert again["occurred_at"] == "2026-11-22T09:31:00+08:00"
    assert 0.5 <= again["confidence"] <= 0.99


def test_cameras_come_in_small_bursts_and_re_detect(city: DemoCity) -> None:
    rng = random.Random(4)
    recent: list[dict[str, Any]] = []
    sizes: Counter[int] = Counter()
    repeats = 0
    for _ in range(1000):
        batch = next_batch(rng, city, NOW, recent)
        sizes[len(batch)] += 1
        assert len(batch) <= 4
        if len(batch) > 1:
            assert {r["source"] for r in batch} == {"camera"}
        spots = {(r["device_id"], r["lon"], r["lat"], r["category"]) for r in recent}
        for r in batch:
            spot = (r["device_id"], r["lon"], r["lat"], r["category"])
            repeats += spot in spots
            spots.add(spot)
        recent.extend(r for r in batch if r["source"] == "camera")
        del recent[:-40]
    assert sizes[1] > 0
    assert sum(n for size, n in sizes.items() if size > 1) > 100
    assert repeats > 100  # the same stall, seen again at the same spot


# --- the poster -----------------------------------------------------------------------------


async def test_run_simulator_posts_until_stopped(city: DemoCity) -> None:
    received: list[dict[str, Any]] = []
    stop = asyncio.Event()

    async def incidents(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Bearer device-secret"
        body = await request.json()
        received.append(body)
        if len(received) >= 12:
            stop.set()
        if len(received) % 4 == 0:  # the simulator logs failures and goes on
            return web.json_response({"error": {"code": "invalid", "message": "x"}}, status=422)
        if len(received) % 5 == 0:
            return web.json_response({"error": {"code": "internal"}}, status=500)
        return web.json_response({"id": f"i{len(received)}", "state": "reported"}, status=201)

    app = web.Application()
    app.router.add_post("/api/v1/incidents", incidents)
    async with TestServer(app) as server:
        base_url = str(server.make_url("/"))
        task = asyncio.create_task(
            run_simulator(base_url, "device-secret", city, rate_per_min=3000, stop=stop, seed=1)
        )
        await asyncio.wait_for(task, timeout=30)
    assert len(received) >= 12
    assert all(set(r) == FIELDS for r in received)


async def test_run_simulator_stops_promptly_and_survives_a_dead_server(city: DemoCity) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_simulator("http://127.0.0.1:9", "t", city, rate_per_min=600, stop=stop, seed=2)
    )
    await asyncio.sleep(0.3)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, timeout=2)


async def test_run_simulator_refuses_a_non_positive_rate(city: DemoCity) -> None:
    with pytest.raises(ValueError, match="rate"):
        await run_simulator("http://x", "t", city, rate_per_min=0, stop=asyncio.Event())
