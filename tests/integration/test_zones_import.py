"""`dispatch zones import` on real files into real PostgreSQL, every server rebuilding its index;
and the body limits of PUT /api/v1/zones (large) and intake (1 MiB)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from dispatcher.cli import main
from tests.data import boundaries
from tests.data.boundaries import IN_G1
from tests.integration.support import ADMIN, TOWN, WEST, Api

SQUADS = {
    "centre": {"name": "指挥中心", "kind": "centre"},
    "sq-1": {"name": "西中队", "kind": "street", "parent_id": "centre"},
    "sq-2": {"name": "东中队", "kind": "street", "parent_id": "centre"},
    "sq-west": {"name": "西街道中队", "kind": "street"},
    "sq-east": {"name": "东街道中队", "kind": "street"},
    "brigade-cw": {"name": "建设工程支队", "kind": "specialist", "skills": ["construction_waste"]},
}


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, redis_url: str) -> None:
    monkeypatch.setenv("DISPATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("DISPATCH_REDIS_URL", redis_url)


async def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``dispatch zones import ...`` in this process (in a thread: it runs its own loop)."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["zones", "import", *args])
    return code, capsys.readouterr().out


async def prepared(api_factory: Callable[..., Awaitable[Api]]) -> Api:
    api = await api_factory()
    for squad_id, body in SQUADS.items():
        await api.call("PUT", f"/api/v1/squads/{squad_id}", body=body, expect=201)
    await api.call("PUT", "/api/v1/zones", body=TOWN, expect=200)
    return api


async def matched(api: Api, lon: float, lat: float) -> dict[str, Any]:
    _, answer = await api.call("GET", f"/api/v1/zones/match?lon={lon}&lat={lat}", expect=200)
    return dict(answer)


async def eventually_matches(api: Api, squad_id: str | None, *, within_s: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while (await matched(api, *IN_G1))["squad_id"] != squad_id:
        assert asyncio.get_running_loop().time() < deadline, f"{api.base} kept its old zones"
        await asyncio.sleep(0.05)


@pytest.mark.usefixtures("cli_env")
async def test_an_import_replaces_the_zones_on_every_process(
    api_factory: Callable[..., Awaitable[Api]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = await prepared(api_factory)
    second = await api_factory()
    assert (await matched(second, *WEST))["squad_id"] == "sq-west"
    _, before = await first.call("GET", "/api/v1/zones", expect=200)  # its text is kept
    assert before["version"] == 1
    path = boundaries.write(tmp_path, "district.gpkg", crs=4549)
    code, out = await run_cli(capsys, str(path))
    assert code == 0, out
    assert "coordinate system: EPSG:4549 (CGCS2000 / 3-degree Gauss-Kruger CM 120E) → WGS84" in out
    assert "loaded 10 zone(s) as version 2" in out
    assert "warnings (1), accepted:" in out
    assert "feature 3 'C1': 67% of it" in out
    for api in (first, second):  # the control message: no waiting for the 5 s check
        await eventually_matches(api, "sq-1", within_s=2.0)
        assert (await matched(api, *IN_G1))["zones"][-1]["id"] == "G1"
    _, zones = await first.call("GET", "/api/v1/zones", expect=200)
    assert zones["version"] == 2
    assert len(zones["features"]) == 10


@pytest.mark.usefixtures("cli_env")
async def test_a_broken_file_changes_nothing_and_with_repair_a_repairable_one_loads(
    api_factory: Callable[..., Awaitable[Api]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = await prepared(api_factory)
    broken = boundaries.write(tmp_path, "broken.gpkg", boundaries.broken(), crs=4549)
    code, out = await run_cli(capsys, str(broken), "--repair")
    assert code == 1
    assert "repairs (2):" in out
    for line in (
        "feature 10 (no id): feature has no id",
        "feature 3 'C1': overlaps its sibling 'C2'",
        "feature 4 'C2': overlaps its sibling 'C1'",
        "feature 9 'G4': lies partly outside its parent 'C1'",
        "REFUSED: 4 problem(s); nothing was changed",
    ):
        assert line in out, out
    assert (await matched(api, *WEST))["squad_id"] == "sq-west"  # still the town

    repairable = boundaries.write(tmp_path, "repairable.shp", boundaries.repairable(), crs=32651)
    code, out = await run_cli(capsys, str(repairable))
    assert code == 1
    assert "feature 7 'G2': invalid geometry: self-intersection at (121." in out
    assert "--repair fixes what make_valid can" in out
    code, out = await run_cli(capsys, str(repairable), "--dry-run", "--repair")
    assert code == 0
    assert "dry run: 10 zone(s) are valid; nothing was changed" in out
    assert (await matched(api, *WEST))["squad_id"] == "sq-west"
    code, out = await run_cli(capsys, str(repairable), "--repair")
    assert code == 0, out
    assert "feature 7 'G2': invalid geometry: self-intersection" in out
    assert "repaired by make_valid" in out
    await eventually_matches(api, "sq-1")


@pytest.mark.usefixtures("cli_env")
async def test_squads_unknown_to_the_database_are_refused(
    api_factory: Callable[..., Awaitable[Api]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await api_factory()  # migrated, no squads
    path = boundaries.write(tmp_path, "district.geojson")
    code, out = await run_cli(capsys, str(path), "--dry-run")
    assert code == 1
    assert "feature 0 'D': squad_id 'centre' names no known squad" in out


def test_the_command_exits_non_zero_with_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = boundaries.write(tmp_path, "broken.zip", boundaries.broken())
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
    done = subprocess.run(  # the installed entry point, as an operator runs it
        [sys.executable, "-m", "dispatcher.cli", "zones", "import", str(path), "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "squad ids were not checked: DISPATCH_DATABASE_URL is not set" in done.stdout
    assert "feature 7 'G2': invalid geometry" in done.stdout
    monkeypatch.delenv("DISPATCH_DATABASE_URL", raising=False)
    assert main(["zones", "import", str(path)]) == 2  # loading needs the database
    assert "DISPATCH_DATABASE_URL is not set" in capsys.readouterr().err


async def test_a_zone_set_over_1_mib_is_taken_and_intake_still_stops_at_1_mib(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await api_factory(zones_max_body_bytes=3 * 1024 * 1024)
    for squad_id, body in SQUADS.items():
        await api.call("PUT", f"/api/v1/squads/{squad_id}", body=body)
    big = json.loads(json.dumps(TOWN))
    big["features"][0]["properties"]["boundary_note"] = "界" * 600_000  # 1.8 MB in UTF-8
    body = json.dumps(big, ensure_ascii=False).encode()
    assert 1024 * 1024 < len(body) < 3 * 1024 * 1024
    status, answer = await api.call("PUT", "/api/v1/zones", data=body)
    assert (status, answer["features"]) == (200, 6)

    too_big = json.dumps({**big, "padding": "x" * (3 * 1024 * 1024)}).encode()
    status, answer = await api.call("PUT", "/api/v1/zones", data=too_big)
    assert status == 413
    assert answer["error"]["code"] == "payload_too_large"

    device = await api.token("device")
    for oversized in (
        b"x" * (1024 * 1024 + 1),
        json.dumps({"description": "y" * 1_100_000}).encode(),
    ):
        status, answer = await api.call("POST", "/api/v1/incidents", device, data=oversized)
        assert status == 413
        assert answer["error"]["code"] == "payload_too_large"
    # other routes keep the 1 MiB limit too
    status, answer = await api.call(
        "PUT", "/api/v1/squads/sq-west", ADMIN, data=json.dumps({"name": "z" * 1_100_000}).encode()
    )
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")
