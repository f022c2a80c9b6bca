"""Frame time of the big screen with 5,000 open incidents and 1,000 units moving every 2 s.

Starts private PostgreSQL and Redis in a scratch folder, runs the server in this process, loads
the demo district (every zone, grid cells included), posts the incidents through the API (they
reach the wall's map by its snapshot and, while it runs, by /ws), then opens the wall in
headless Chromium (Debian's, software WebGL through SwiftShader) and records the deltas between
``requestAnimationFrame`` callbacks for the measuring window. During the window:

- every unit gets a new position every 2 s, 50 units each 100 ms, handed to the page the way
  a ``unit.moved`` message from /ws is (``__screen.onUnit``), so the cost measured is the
  page's: the GeoJSON source updated in batches at most every 250 ms;
- new incidents keep arriving through the API (``--rate`` a second) and the clock colours are
  recomputed every second, as on a real wall.

Prints p50/p95/p99/max frame time, the share of frames over 20 ms and 50 ms, and the
conditions. Run: ``.venv/bin/python -m bench.bench_bigscreen [--incidents 5000] [--units 1000]
[--seconds 20] [--width 1920 --height 1080]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from playwright.async_api import async_playwright

from dispatcher.app import create_app
from dispatcher.demo.city import DemoCity, build_demo_city
from dispatcher.demo.embedded import running_services, scratch_folder
from dispatcher.demo.run import load_city
from dispatcher.settings import Settings
from dispatcher.store import migrate

ADMIN = "bench-admin-" + os.urandom(6).hex()
CHROMIUM = os.environ.get("DISPATCH_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
#: categories the hotline reports in the bench (trusted: registered and dispatched at once)
CATEGORIES = ["200504", "200506", "200502", "200102", "200501", "200507", "200201", "200203"]

MOVE_UNITS_JS = """([units, start]) => {
  const ids = Array.from({length: units}, (_, i) => 'bench-u-' + i);
  const pos = start.map(([x, y]) => [x, y]);
  const statuses = ['available', 'en_route', 'on_scene', 'busy'];
  const move = (i) => window.__screen.onUnit({type: 'unit.moved',
    unit: {id: ids[i], lon: pos[i][0], lat: pos[i][1], status: statuses[i % 4]}});
  ids.forEach((_, i) => move(i));
  let next = 0;
  const perTick = Math.ceil(units / 20);  // every unit once per 2 s, in ticks of 100 ms
  window.__benchMoves = 0;
  window.__benchMover = setInterval(() => {
    for (let k = 0; k < perTick; k++) {
      const i = next; next = (next + 1) % units;
      pos[i][0] += (Math.random() - 0.5) * 0.0006; pos[i][1] += (Math.random() - 0.5) * 0.0006;
      move(i);
      window.__benchMoves++;
    }
  }, 100);
}"""

MEASURE_JS = """(seconds) => new Promise((resolve) => {
  const deltas = [];
  let last = null;
  const end = performance.now() + seconds * 1000;
  function frame(t) {
    if (last !== null) deltas.push(t - last);
    last = t;
    if (t < end) requestAnimationFrame(frame); else resolve(deltas);
  }
  requestAnimationFrame(frame);
})"""


def print_profile(profile: dict[str, Any], top: int = 25) -> None:
    """The page's functions by self time during the window (from a CDP CPU profile)."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    self_us: dict[str, float] = {}
    deltas = profile.get("timeDeltas", [])
    for sample, dt in zip(profile.get("samples", []), deltas, strict=False):
        frame = nodes[sample]["callFrame"]
        url = frame["url"].rsplit("/", 1)[-1]
        key = f"{frame['functionName'] or '(anonymous)'} {url}:{frame['lineNumber'] + 1}"
        self_us[key] = self_us.get(key, 0.0) + dt
    total = sum(self_us.values()) or 1.0
    for key, us in sorted(self_us.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{us / 1000:9.1f} ms {us / total:6.1%}  {key}")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def no_dedup(base: str) -> None:
    """Turn duplicate detection off, so that every report stays an open incident of its own."""
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(f"{base}/api/v1/categories") as resp:
            catalogue = (await resp.json())["categories"]
        for category in catalogue:
            category["dedup_radius_m"] = 0
        async with session.put(f"{base}/api/v1/categories", json=catalogue) as resp:
            assert resp.status == 200, await resp.text()


async def post_incidents(base: str, city: DemoCity, n: int, concurrency: int = 24) -> int:
    rng = random.Random(11)
    bodies = []
    for i in range(n):
        lon, lat, _ = city.random_point(rng)
        bodies.append(
            {
                "source": "hotline",
                "external_id": f"bench-{i}",
                "category": rng.choice(CATEGORIES),
                "lon": lon,
                "lat": lat,
                "description": "bench",
            }
        )
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    created = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal created
        while not queue.empty():
            body = queue.get_nowait()
            async with session.post(
                f"{base}/api/v1/incidents", json=body, headers={"Authorization": f"Bearer {ADMIN}"}
            ) as resp:
                await resp.read()
                if resp.status == 201:
                    created += 1

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return created


async def trickle(base: str, city: DemoCity, rate: float, stop: asyncio.Event) -> int:
    rng = random.Random(12)
    sent = 0
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            lon, lat, _ = city.random_point(rng)
            body = {"source": "hotline", "category": rng.choice(CATEGORIES), "lon": lon, "lat": lat}
            async with session.post(
                f"{base}/api/v1/incidents", json=body, headers={"Authorization": f"Bearer {ADMIN}"}
            ) as resp:
                await resp.read()
            sent += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / rate)
    return sent


async def run(args: argparse.Namespace, db_url: str, redis_url: str) -> None:
    settings = Settings(database_url=db_url, redis_url=redis_url, admin_token=ADMIN, port=0)
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    try:
        city = build_demo_city()
        operator, _ = await load_city(base, ADMIN, city)
        await no_dedup(base)
        t0 = time.monotonic()
        created = await post_incidents(base, city, args.incidents)
        print(f"posted {created} incidents in {time.monotonic() - t0:.1f} s")
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            version = browser.version
            page = await browser.new_page(viewport={"width": args.width, "height": args.height})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            t0 = time.monotonic()
            await page.goto(f"{base}/#token={operator}")
            await page.wait_for_function(
                "n => window.__screen && window.__screen.ready() && "
                "window.__screen.state.map.incidents.size >= n",
                arg=int(created * 0.98),
                timeout=120000,
            )
            loaded_s = time.monotonic() - t0
            await page.wait_for_timeout(3000)  # let the first draw and the charts settle
            rng = random.Random(13)
            start = [list(city.random_point(rng)[:2]) for _ in range(args.units)]
            if args.units:
                await page.evaluate(MOVE_UNITS_JS, [args.units, start])
            stop = asyncio.Event()
            feeder = asyncio.create_task(
                trickle(base, city, args.rate, stop) if args.rate > 0 else asyncio.sleep(0, 0)
            )
            cdp = None
            if args.profile:
                cdp = await page.context.new_cdp_session(page)
                await cdp.send("Profiler.enable")
                await cdp.send("Profiler.start")
            load_before = os.getloadavg()[0]
            deltas = await page.evaluate(MEASURE_JS, args.seconds)
            load_after = os.getloadavg()[0]
            if cdp is not None:
                profile = (await cdp.send("Profiler.stop"))["profile"]
                print_profile(profile)
            stop.set()
            trickled = await feeder
            on_map = await page.evaluate(
                "({i: window.__screen.state.map.incidents.size,"
                " u: window.__screen.state.map.units.size, moves: window.__benchMoves})"
            )
            if args.screenshot:
                await page.screenshot(path=args.screenshot)
            await browser.close()
    finally:
        await runner.cleanup()
    fps = len(deltas) / (sum(deltas) / 1000)
    result = {
        "viewport": f"{args.width}x{args.height}",
        "incidents_on_map": on_map["i"],
        "units_on_map": on_map["u"],
        "unit_moves": on_map["moves"] or 0,
        "incidents_during_window": trickled,
        "seconds": args.seconds,
        "frames": len(deltas),
        "fps": round(fps, 1),
        "p50_ms": round(statistics.median(deltas), 2),
        "p95_ms": round(pct(deltas, 95), 2),
        "p99_ms": round(pct(deltas, 99), 2),
        "max_ms": round(max(deltas), 2),
        "over_20ms": f"{sum(d > 20 for d in deltas) / len(deltas):.1%}",
        "over_50ms": f"{sum(d > 50 for d in deltas) / len(deltas):.1%}",
        "page_load_s": round(loaded_s, 2),
        "chromium": version,
        "rendering": "headless, --disable-gpu (WebGL on SwiftShader, the CPU)",
        "cpus": os.cpu_count(),
        "load_1m_before_after": [round(load_before, 2), round(load_after, 2)],
        "machine": platform.machine(),
        "page_errors": errors,
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidents", type=int, default=5000)
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=2.0, help="new incidents a second")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--screenshot", default=None, help="save the wall as PNG at the end")
    parser.add_argument("--profile", action="store_true", help="print the page's CPU profile")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with (
        scratch_folder("bench-bigscreen-") as folder,
        running_services(folder, fsync=False, persistent=False) as (pg, redis),
    ):
        db_url = pg.create_database("bench")
        asyncio.run(migrate.apply(db_url))
        asyncio.run(run(args, db_url, redis.url))


if __name__ == "__main__":
    main()
