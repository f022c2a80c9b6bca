"""Duplicates and repeat complaints through the whole intake path, on real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from dispatcher.core import dedup
from dispatcher.core.categories import load_default_catalogue
from dispatcher.core.incidents import Incident, Source, State
from dispatcher.store import records as store
from dispatcher.store import vicinity
from geo.coords import CRS, from_wgs84
from tests.integration.support import EAST, WEST, Api, stored_incident, without_clock

T0 = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
MIGRATION_0014 = Path(__file__).resolve().parents[2] / "migrations" / "0014_merged_ids.sql"
OPEN = "reported,registered,dispatched,accepted,resolved,returned"


def offset(lon: float, lat: float, east_m: float, north_m: float = 0.0) -> tuple[float, float]:
    """A point some metres east and north of (lon, lat) (near enough for tens of metres)."""
    return lon + east_m / 95_300, lat + north_m / 110_900


async def with_catalogue(api: Api, **changes: dict[str, Any]) -> None:
    """Load the town and the default catalogue with some categories changed."""
    await api.load_town()
    catalogue = [c.to_json() for c in load_default_catalogue()]
    for entry in catalogue:
        entry.update(changes.get(entry["code"], {}))
    await api.call("PUT", "/api/v1/categories", body=catalogue, expect=200)


async def open_incidents(api: Api, category: str = "200504") -> list[dict[str, Any]]:
    _, listed = await api.call(
        "GET", f"/api/v1/incidents?state={OPEN}&category={category}", expect=200
    )
    return list(listed["incidents"])


async def test_a_camera_seeing_one_stall_for_ten_minutes_makes_one_incident(api: Api) -> None:
    # a 30 s window that slides: each detection is 10 s after the last, so all are one
    await with_catalogue(api, **{"200504": {"dedup_window_s": 30}})
    camera = await api.token("device")
    answers = []
    for n in range(60):
        lon, lat = offset(*WEST, east_m=(n % 3) * 2.0)  # the box wobbles by a few metres
        status, answer = await api.report(
            camera,
            source="camera",
            external_id=f"cam-0042-{n:04d}",
            device_id="cam-0042",
            confidence=0.95,
            lon=lon,
            lat=lat,
            occurred_at=(T0 + timedelta(seconds=10 * n)).isoformat(),
            media=[f"https://media.example/cam-0042/{n}.jpg"],
        )
        assert status == 201, answer
        answers.append(answer)
    first = answers[0]
    assert first["state"] == "dispatched"
    assert first["duplicate_of"] is None
    assert {a["duplicate_of"] for a in answers[1:]} == {first["id"]}
    assert {a["state"] for a in answers[1:]} == {"merged"}
    (incident,) = await open_incidents(api)
    assert incident["id"] == first["id"]
    assert incident["report_count"] == 60
    assert len(incident["media"]) == 60
    assert incident["first_report_at"].startswith("2026-11-23T09:00:00")
    assert incident["last_report_at"].startswith("2026-11-23T09:09:50")
    # every report is kept, each with its own external id; a replay answers the same record
    _, duplicates = await api.call("GET", f"/api/v1/incidents/{first['id']}/duplicates")
    assert sorted(d["external_id"] for d in duplicates["duplicates"]) == [
        f"cam-0042-{n:04d}" for n in range(1, 60)
    ]
    again = await api.report(
        camera, source="camera", external_id="cam-0042-0007", lon=WEST[0], lat=WEST[1]
    )
    assert without_clock(again) == (200, without_clock(answers[7]))
    # a minute's silence is more than the window: the stall seen again is a new incident
    status, later = await api.report(
        camera,
        source="camera",
        external_id="cam-0042-later",
        confidence=0.95,
        occurred_at=(T0 + timedelta(seconds=590 + 61)).isoformat(),
    )
    assert status == 201
    assert later["duplicate_of"] is None
    assert later["possible_duplicates"] == [
        {"id": first["id"], "category": "200504", "distance_m": 0.0, "reason": "outside_window"}
    ]


async def test_ten_calls_about_one_address_are_one_incident_marked_repeat(
    api: Api, database_url: str
) -> None:
    await api.load_town()
    hotline = await api.token("device")
    answers = [
        (
            await api.report(
                hotline,
                source="hotline",
                category="200601",
                external_id=f"12345-2026112300{n:02d}",
                address="幸福路 88 号 幸福小区 3 号楼",
                lon=offset(*EAST, east_m=n * 3.0)[0],
                description="夜间噪声扰民",
            )
        )[1]
        for n in range(10)
    ]
    first = answers[0]
    assert first["state"] == "dispatched"
    assert all(a["duplicate_of"] == first["id"] for a in answers[1:])
    (incident,) = await open_incidents(api, "200601")
    assert incident["report_count"] == 10
    assert "repeat_complaint" in incident["flags"]
    assert incident["repeat_count"] == 10
    _, supervisions = await api.call("GET", f"/api/v1/incidents/{first['id']}/supervisions")
    assert [s["kind"] for s in supervisions["supervisions"]] == ["repeat"]
    conn = await asyncpg.connect(database_url)
    try:
        marks = await conn.fetch(
            "SELECT action, detail FROM history WHERE incident_id = $1 AND action = $2",
            first["id"],
            "repeat_complaint",
        )
    finally:
        await conn.close()
    assert len(marks) == 1  # the centre is told once, on the third call


async def test_repeat_counts_closed_complaints_of_the_month(api: Api) -> None:
    await api.load_town()
    hotline, operator = await api.token("device"), await api.token("operator")
    ids = []
    for n in range(3):
        status, answer = await api.report(
            hotline, source="hotline", category="200102", external_id=f"12345-x{n}"
        )
        assert status == 201
        assert answer["duplicate_of"] is None, "the one before was closed"
        ids.append(answer["id"])
        if n < 2:  # dealt with, and the complaint comes back
            for action in ("accept", "resolve", "verify"):
                body: dict[str, Any] = {"action": action}
                body |= {"resolve": {"outcome": "cleared"}, "verify": {"passed": True}}.get(
                    action, {}
                )
                await api.call(
                    "POST",
                    f"/api/v1/incidents/{answer['id']}/actions",
                    operator,
                    body=body,
                    expect=200,
                )
    _, third = await api.call("GET", f"/api/v1/incidents/{ids[2]}", expect=200)
    assert "repeat_complaint" in third["flags"]
    _, first = await api.call("GET", f"/api/v1/incidents/{ids[0]}", expect=200)
    assert "repeat_complaint" not in first["flags"]


async def test_other_categories_and_far_reports_stay_apart_but_are_offered(api: Api) -> None:
    await api.load_town()
    device = await api.token("device")
    _, stall = await api.report(device, external_id="a")
    _, bikes = await api.report(device, external_id="b", category="200506")
    _, further = await api.report(device, external_id="c", lon=offset(*WEST, east_m=45)[0])
    _, far = await api.report(device, external_id="d", lon=offset(*WEST, east_m=400)[0])
    assert [x["duplicate_of"] for x in (stall, bikes, further, far)] == [None] * 4
    assert [p["reason"] for p in bikes["possible_duplicates"]] == ["other_category"]
    assert [(p["id"], p["reason"]) for p in further["possible_duplicates"]] == [
        (stall["id"], "outside_radius"),  # 45 m: beyond the 30 m of 店外经营
        (bikes["id"], "other_category"),  # within 50 m, another category
    ]
    assert 44 < further["possible_duplicates"][0]["distance_m"] < 46
    assert "possible_duplicates" not in far


async def test_chinese_map_coordinates_join_their_wgs84_original(api: Api) -> None:
    await api.load_town()
    device = await api.token("device")
    _, original = await api.report(device, external_id="wgs", lon=EAST[0], lat=EAST[1])
    for crs in (CRS.GCJ02, CRS.BD09):
        lon, lat = from_wgs84(EAST[0], EAST[1], crs)
        status, answer = await api.report(
            device, external_id=crs.value, lon=lon, lat=lat, crs=crs.value
        )
        assert status == 201
        assert answer["zone_ids"] == original["zone_ids"]
        assert answer["duplicate_of"] == original["id"]


async def test_two_processes_racing_on_one_place_open_one_incident(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    one, two = await api_factory(), await api_factory()
    await one.load_town()
    device = await one.token("device")
    answers = await asyncio.gather(
        *(
            (one if n % 2 else two).report(
                device, external_id=f"race-{n}", lon=offset(*WEST, east_m=n % 5)[0]
            )
            for n in range(40)
        )
    )
    assert sorted(s for s, _ in answers) == [201] * 40
    opened = [a for _, a in answers if a["duplicate_of"] is None]
    assert len(opened) == 1
    assert {a["duplicate_of"] for _, a in answers} == {None, opened[0]["id"]}
    (incident,) = await open_incidents(one)
    assert incident["report_count"] == 40


async def test_switched_off_every_report_opens_its_own(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await api_factory(dedup=False)
    await api.load_town()
    device = await api.token("device")
    for n in range(3):
        _, answer = await api.report(device, external_id=f"off-{n}")
        assert answer["duplicate_of"] is None
    assert len(await open_incidents(api)) == 3


async def test_what_is_near_is_read_by_place_however_many_complaints_are_stored(
    database_url: str,
) -> None:
    """Reading around a report probes the place indexes box by box: what it fetches does not
    grow with the complaints stored elsewhere. The statistics are those of a young table
    (analyzed before any complaint came), under which 0009's join read every complaint."""
    now = T0.astimezone(UTC)

    def incident(n: int, source: Source, lon: float, lat: float) -> Incident:
        return stored_incident(f"V{n:04d}", source, now, category="200102", place=(lon, lat))

    cameras = [incident(n, Source.CAMERA, *offset(*EAST, east_m=50.0 * n)) for n in range(5)]
    # complaints on a line 300 m north of WEST, 20 m apart; one report at WEST itself
    elsewhere = [
        incident(n, Source.HOTLINE, *offset(*WEST, east_m=20.0 * n, north_m=300.0))
        for n in range(5, 305)
    ]
    here = incident(305, Source.HOTLINE, *WEST)
    around = dedup.box(*WEST, 30.0)
    conn = await asyncpg.connect(database_url)
    try:
        await store.insert_incidents(conn, [store.encode_doc(i, UTC) for i in cameras])
        await conn.execute("ANALYZE incidents")
        await store.insert_incidents(conn, [store.encode_doc(i, UTC) for i in [*elsewhere, here]])
        async with conn.transaction():
            nearby, complaints = await vicinity.vicinity(
                conn, [], [around], [("200102", *around)], now - timedelta(days=30)
            )
            read = await conn.fetchrow(
                "SELECT coalesce(seq_tup_read, 0) AS scanned, coalesce(idx_tup_fetch, 0) AS fetched"
                " FROM pg_stat_xact_user_tables WHERE relname = 'incidents'"
            )
    finally:
        await conn.close()
    assert [i.id for i in nearby] == [here.id]
    assert [c.incident_id for c in complaints] == [here.id]
    assert read["scanned"] == 0
    assert read["fetched"] <= 4, f"reading around one report fetched {read['fetched']} rows"


async def test_an_automatic_merge_lists_the_report_as_an_operators_does(api: Api) -> None:
    await with_catalogue(api, **{"200504": {"dedup_window_s": 600}})
    camera, operator = await api.token("device"), await api.token("operator")
    made = []
    for n in range(3):
        _, answer = await api.report(
            camera, source="camera", external_id=f"cam-7-{n}", confidence=0.95
        )
        made.append(answer)
    first, second, third = made
    _, target = await api.call("GET", f"/api/v1/incidents/{first['id']}", expect=200)
    assert target["merged_ids"] == [second["id"], third["id"]]
    await api.call("POST", f"/api/v1/incidents/{second['id']}/unmerge", operator, expect=200)
    _, target = await api.call("GET", f"/api/v1/incidents/{first['id']}", expect=200)
    assert (target["merged_ids"], target["report_count"]) == ([third["id"]], 2)


async def test_migration_0014_lists_the_reports_merged_before_it(
    database_url: str,
) -> None:
    """Targets stored by the old dedup, which did not list what it merged, are listed."""
    tz = UTC
    target = stored_incident("M-target", Source.CAMERA, T0, category="200504")
    records = [
        stored_incident(
            f"M-{n}",
            Source.CAMERA,
            T0 + timedelta(minutes=n),
            category="200504",
            state=State.MERGED,
            duplicate_of=target.id,
        )
        for n in (2, 1)
    ]
    lonely = stored_incident("M-alone", Source.HOTLINE, T0, category="200504")
    conn = await asyncpg.connect(database_url)
    try:
        docs = [store.encode_doc(i, tz) for i in (target, *records, lonely)]
        assert all('"merged_ids"' not in d for d in docs)  # as the old code stored them
        await store.insert_incidents(conn, docs)
        await conn.execute(MIGRATION_0014.read_text(encoding="utf-8"))
        rows = await conn.fetch(
            "SELECT id, doc, version FROM incidents WHERE id LIKE 'M-%' ORDER BY id"
        )
    finally:
        await conn.close()
    listed = {r["id"]: store.decode_doc(r["doc"]) for r in rows}
    assert listed["M-target"].progress.merged_ids == ("M-1", "M-2")
    assert listed["M-alone"].progress.merged_ids == ()
    assert {r["version"] for r in rows} == {1}
