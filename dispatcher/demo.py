"""``dispatch demo``: the whole thing on one machine with nothing prepared.

Starts private PostgreSQL and Redis processes under a data folder, migrates, runs the server,
loads the demo city through the API (as a real deployment would), starts the live simulator,
and prints the console's address and an operator token. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import webbrowser
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from dispatcher import migrate
from dispatcher.app import create_app
from dispatcher.democity import DemoCity, build_demo_city
from dispatcher.embedded import running_services
from dispatcher.settings import Settings
from dispatcher.simulator import run_simulator

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
        tokens = []
        for role, name in (("operator", "演示值班员"), ("device", "演示设备网关")):
            answer = await _call(
                session, "POST", f"{base}/api/v1/tokens", admin, {"role": role, "name": name}
            )
            tokens.append(str(answer["token"]))
    return tokens[0], tokens[1]


async def _serve(settings: Settings, rate_per_min: float, open_browser: bool) -> None:
    runner = web.AppRunner(create_app(settings), access_log=None, shutdown_timeout=5)
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
        url = f"{base}/#token={operator}"
        print(
            f"\n  {city.district_name} demo is running.\n"
            f"  Console:        {url}\n"
            f"  Operator token: {operator}\n"
            f"  Admin token:    {settings.admin_token}\n"
            "  Ctrl-C stops the server, the simulator, PostgreSQL and Redis.\n",
            flush=True,
        )
        if open_browser:
            webbrowser.open(url)
        simulator = loop.create_task(
            run_simulator(base, device, city, rate_per_min=rate_per_min, stop=stop)
        )
        await stop.wait()
        simulator.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await simulator
    finally:
        await runner.cleanup()


def run_demo(
    data: Path, *, port: int = 8080, rate_per_min: float = 30.0, open_browser: bool = False
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
        asyncio.run(_serve(settings, rate_per_min, open_browser))
    return 0
