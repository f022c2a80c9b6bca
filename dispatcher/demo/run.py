"""``dispatch demo``: the whole thing on one machine with nothing prepared.

Starts private PostgreSQL and Redis processes under a data folder, migrates, runs the server,
loads the demo city through the API (as a real deployment would), creates the demo's people
with passwords made for this run, writes 30 days of synthetic history (dispatcher.demo.history),
starts the live simulator (reports on a daily curve) and the simulated people who work the
cases (dispatcher.demo.workday), and prints the pages' addresses
and the sign-in names and passwords (never a secret in a URL). Ctrl-C stops everything it
started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
import signal
import string
import webbrowser
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiohttp import web
from shapely.geometry import Point

from dispatcher.app import create_app
from dispatcher.demo import day, history
from dispatcher.demo.city import DemoCity, build_demo_city
from dispatcher.demo.embedded import running_services
from dispatcher.demo.simulator import run_simulator
from dispatcher.demo.workday import Crew, Workday
from dispatcher.settings import Settings
from dispatcher.store import migrate
from dispatcher.web.context import RUNTIME
from geo.coords import CRS, from_wgs84

log = logging.getLogger(__name__)


async def _call(
    session: aiohttp.ClientSession, method: str, url: str, token: str, body: Any
) -> dict[str, Any]:
    async with session.request(
        method, url, json=body, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        answer: dict[str, Any] = await resp.json()
        if resp.status >= 400:
            raise RuntimeError(f"{method} {url}: {resp.status} {answer}")
        return answer


async def load_city(base: str, admin: str, city: DemoCity) -> tuple[str, str]:
    """Put the city's squads, zones and units; answer (operator token, device token)."""
    async with aiohttp.ClientSession() as session:
        for squad in city.squads:
            body = {k: v for k, v in squad.items() if k != "id"}
            await _call(session, "PUT", f"{base}/api/v1/squads/{squad['id']}", admin, body)
        await _call(session, "PUT", f"{base}/api/v1/zones", admin, city.zones_geojson)
        for unit in city.units:
            body = {k: unit[k] for k in ("squad_id", "name", "skills", "status")}
            await _call(session, "PUT", f"{base}/api/v1/units/{unit['id']}", admin, body)
            where = {"lon": unit["lon"], "lat": unit["lat"]}
            await _call(session, "POST", f"{base}/api/v1/units/{unit['id']}/position", admin, where)
        tokens = []
        for role, name in (("operator", "演示值班员"), ("device", "演示设备网关")):
            answer = await _call(
                session, "POST", f"{base}/api/v1/tokens", admin, {"role": role, "name": name}
            )
            tokens.append(str(answer["token"]))
    return tokens[0], tokens[1]


async def make_crew(base: str, admin: str, city: DemoCity) -> tuple[Crew, history.Actors]:
    """Tokens for the simulated people: the centre's operator, the reports' gateway (also the
    12345 platform), and a phone for each squad; answer them and whom the history names."""
    async with aiohttp.ClientSession() as session:

        async def token(body: dict[str, Any]) -> tuple[str, str]:
            answer = await _call(session, "POST", f"{base}/api/v1/tokens", admin, body)
            return str(answer["token"]), str(answer["id"])

        operator = await token({"role": "operator", "name": "演示值班员（模拟）"})
        device = await token({"role": "device", "name": "演示设备网关（模拟）"})
        squads = {}
        for squad in city.squads:
            body = {"role": "squad", "name": f"{squad['name']}移动端（模拟）"}
            squads[str(squad["id"])] = await token({**body, "squad_id": squad["id"]})
    crew = Crew(operator[0], device[0], {s: t[0] for s, t in squads.items()})
    who = history.actors(device[1], operator[1], {s: t[1] for s, t in squads.items()})
    return crew, who


#: the demo's people (login, name, role, squad): an admin, the centre's 值班长, a 大队 leader, a
#: 中队 officer and the wall's account (an auditor: it reads everything and changes nothing)
DEMO_PEOPLE: Final = (
    ("admin", "演示管理员", "admin", None),
    ("zhiban", "值班长 王明", "operator", None),
    ("dadui", "东片大队长 张强", "squad", "hp-dd-east"),
    ("zhongdui", "外滩中队 李娜", "squad", "hp-sq-waitan"),
    ("dapin", "指挥大屏", "auditor", None),
)


def new_password(length: int = 12) -> str:
    """A password for this run: letters and digits (the server asks for both), no look-alikes."""
    letters = "".join(c for c in string.ascii_letters if c not in "IlO")
    digits = "23456789"
    while True:
        password = "".join(secrets.choice(letters + digits) for _ in range(length))
        if any(c in digits for c in password) and any(c in letters for c in password):
            return password


async def create_people(base: str, admin: str) -> list[tuple[str, str, str]]:
    """Create the demo's people, or give those of an earlier run (the data folder is kept) a
    new password; answer (login, name, password) of each."""
    made = []
    async with aiohttp.ClientSession() as session:
        listed = await _call(session, "GET", f"{base}/api/v1/people", admin, None)
        known = {p["login"]: p["id"] for p in listed.get("people", [])}
        for login, name, role, squad_id in DEMO_PEOPLE:
            password = new_password()
            body: dict[str, Any] = {"name": name, "role": role, "squad_id": squad_id or ""}
            body["password"] = password
            if login in known:
                body["disabled"] = False
                await _call(session, "PATCH", f"{base}/api/v1/people/{known[login]}", admin, body)
            else:
                body["login"] = login
                if not squad_id:
                    del body["squad_id"]
                await _call(session, "POST", f"{base}/api/v1/people", admin, body)
            made.append((login, name, password))
    return made


#: how a unit's status changes now and then on the demo's big screen (mostly back on patrol)
_NEXT_STATUS: Final = {
    "available": (("available", 0.80), ("en_route", 0.10), ("busy", 0.07), ("off_duty", 0.03)),
    "en_route": (("on_scene", 0.60), ("en_route", 0.40)),
    "on_scene": (("available", 0.40), ("on_scene", 0.60)),
    "busy": (("available", 0.30), ("busy", 0.70)),
    "off_duty": (("available", 0.20), ("off_duty", 0.80)),
}


def unit_step(
    rng: random.Random, city: DemoCity, unit: dict[str, Any], status: str
) -> tuple[float, float]:
    """Where a demo unit is a few seconds later: 10–80 m in a random direction (in metres on
    the city's plane), staying in its street (a brigade's unit: in the district); it stays
    put when off duty or on scene."""
    lon, lat = float(unit["lon"]), float(unit["lat"])
    if status in ("off_duty", "on_scene") or city.frame is None:
        return lon, lat
    areas = [s.geometry for s in city.streets if s.squad_id == unit["squad_id"]]
    areas = areas or [s.geometry for s in city.streets]
    x, y = city.frame.xy(lon, lat)
    for _ in range(8):
        heading, metres = rng.uniform(0, 2 * math.pi), rng.uniform(10, 80)
        point = city.frame.to_wgs84(
            Point(x + metres * math.cos(heading), y + metres * math.sin(heading))
        )
        if any(area.covers(point) for area in areas):
            return round(float(point.x), 6), round(float(point.y), 6)
    return lon, lat


async def move_units(
    base: str, token: str, city: DemoCity, stop: asyncio.Event, every_s: float = 3.0, seed: int = 11
) -> None:
    """Move a third of the demo's units every ``every_s`` seconds, as their phones would report
    (some in GCJ-02, as Chinese phone maps give), and change a status now and then."""
    rng = random.Random(seed)
    units = [dict(u) for u in city.units]
    statuses = {u["id"]: str(u["status"]) for u in units}
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            for unit in rng.sample(units, max(1, len(units) // 3)):
                unit["lon"], unit["lat"] = unit_step(rng, city, unit, statuses[unit["id"]])
                body: dict[str, Any] = {"lon": unit["lon"], "lat": unit["lat"]}
                if rng.random() < 0.3:
                    body["lon"], body["lat"] = from_wgs84(unit["lon"], unit["lat"], CRS.GCJ02)
                    body["crs"] = "GCJ02"
                url = f"{base}/api/v1/units/{unit['id']}"
                try:
                    await _call(session, "POST", f"{url}/position", token, body)
                    choices = _NEXT_STATUS[statuses[unit["id"]]]
                    status = rng.choices([c for c, _ in choices], [w for _, w in choices])[0]
                    if status != statuses[unit["id"]]:
                        await _call(session, "POST", f"{url}/status", token, {"status": status})
                        statuses[unit["id"]] = status
                except (aiohttp.ClientError, RuntimeError) as exc:
                    log.warning("moving demo unit %s failed: %s", unit["id"], exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)


#: the last hours of the history written at the live rate: the open cases the demo starts with
#: (half a day: at night, when the working-time clocks stand still, yesterday's open cases are
#: the ones that show yellow and red)
RECENT_HOURS: Final = 12.0


@dataclass(frozen=True)
class Pace:
    """How fast the demo's day runs: ``per_day`` reports a simulated day on the daily curve,
    ``speed`` simulated seconds a real one; ``rate_per_min`` (when set) a flat rate instead;
    ``history_days`` of synthetic history written at the start, ``history_per_day`` reports a
    day (thinner than the live day by default: written through the core's decisions, a month
    of a full day's rate would take minutes, this takes seconds)."""

    per_day: float = day.PER_DAY
    speed: float = 1.0
    rate_per_min: float | None = None
    history_days: int = 30
    history_per_day: float = 100.0


async def _serve(settings: Settings, pace: Pace, open_browser: bool) -> None:
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    base = f"http://{settings.host}:{settings.port}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        city = build_demo_city()
        assert settings.admin_token is not None
        operator, device = await load_city(base, settings.admin_token, city)
        people = await create_people(base, settings.admin_token)
        crew, who = await make_crew(base, settings.admin_token, city)
        if pace.history_days > 0:
            print(f"  Writing {pace.history_days} days of synthetic history...", flush=True)
            written = await history.backfill(
                app[RUNTIME],
                city,
                who,
                days=pace.history_days,
                per_day=pace.history_per_day,
                recent_hours=RECENT_HOURS,
                recent_per_day=pace.per_day,
            )
            print(f"  {written} synthetic past cases written (0: kept from a run before).")
        url = f"{base}/"
        accounts = "".join(
            f"    {login:<10} {password}   {name}\n" for login, name, password in people
        )
        print(
            f"\n  {city.district_name} demo is running. Sign in on each page (登录名, 密码):\n"
            f"  Wall (大屏):       {url}\n"
            f"  Desk (调度台):     {base}/static/desk.html\n"
            f"  Squad (移动端):    {base}/static/squad.html\n"
            f"  Leader (领导页):   {base}/static/leader.html\n"
            f"  People, passwords made for this run:\n{accounts}"
            f"  API admin token (for scripts, not the pages): {settings.admin_token}\n"
            f"  API reference: {base}/api/docs\n"
            f"  Simulated: about {pace.per_day:.0f} reports a day on a daily curve, "
            f"time x{pace.speed:g}; every case, person's action and the history are synthetic.\n"
            "  Ctrl-C stops the server, the simulator, PostgreSQL and Redis.\n",
            flush=True,
        )
        if open_browser:
            webbrowser.open(url)
        simulator = loop.create_task(
            run_simulator(
                base,
                device,
                city,
                rate_per_min=pace.rate_per_min,
                per_day=pace.per_day,
                speed=pace.speed,
                stop=stop,
            )
        )
        mover = loop.create_task(move_units(base, operator, city, stop))
        workday = loop.create_task(Workday(base, crew, speed=pace.speed).run(stop))
        await stop.wait()
        for task in (simulator, mover, workday):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        await runner.cleanup()


def run_demo(
    data: Path, *, port: int = 8080, pace: Pace | None = None, open_browser: bool = False
) -> int:
    """Run the demo until Ctrl-C; answer the exit code."""
    data.mkdir(parents=True, exist_ok=True)
    with running_services(data.resolve()) as (postgres, redis):
        asyncio.run(migrate.apply(postgres.url))
        settings = Settings(
            database_url=postgres.url,
            redis_url=redis.url,
            port=port,
            admin_token="demo-admin-" + secrets.token_hex(8),
        )
        asyncio.run(_serve(settings, pace or Pace(), open_browser))
    return 0
