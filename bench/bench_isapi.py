"""Camera alerts through the ISAPI alarm host beside the JSON intake, in the same run.

One ``dispatch serve`` process on durable PostgreSQL and Redis (``DISPATCH_CAMERA_NETWORKS``
naming the loopback network) has ``--cameras`` cameras registered by a 设备台账 sheet
(``POST /api/v1/devices:import``), each at its own place of the town, with a rule turning a
field detection of a vehicle into 非机动车乱停放 (200506, confidence 0.9). A closed-loop client
(its own process, ``--concurrency`` keep-alive connections) then posts, alternately, for
``--seconds`` each and ``--repeats`` times:

* ``isapi``: Hikvision ``EventNotificationAlert`` XML (fielddetection, vehicle) to
  ``POST /isapi/alarm``, camera n mod cameras, every alert a new ``dateTime`` (so each is a
  new alert: parsed, the camera found by its MAC, heard, its rule matched, replay checked,
  taken in through intake);
* ``isapi+jpeg``: the same as ``multipart/form-data`` with a 2 KiB JPEG part (stored as the
  incident's first photo), with ``--jpeg``;
* ``json``: camera and hotline reports to ``POST /api/v1/incidents`` (bench/load.py), as
  ``bench/bench_intake.py`` posts them.

Each run takes cameras of its own (a camera's second alert would join its open incident as a
duplicate, dedup's path rather than intake's, as ``bench/load.py`` keeps its reports apart);
the server's own counters of the alarm host's results are printed at the end::

    .venv/bin/python -m bench.bench_isapi [--concurrency 32] [--seconds 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `bench` and the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench import processes
from bench.conditions import conditions, print_conditions
from bench.cpu import CpuSampler
from bench.deployment import ADMIN_TOKEN, running_stack
from bench.figures import fmt, median, percentile, table
from bench.load import _AREAS, _GRID, _STRIDE, SLOTS_PER_RUN, LoadResult, LoadSpec, closed_loop
from tests import isapi_alerts as hik

CLIENT_START_S = 2.0
REQUEST_TIMEOUT_S = 30.0
REGISTER_ROWS = 5_000


@dataclass(frozen=True)
class AlarmSpec:
    url: str
    cameras: int
    concurrency: int
    warmup: float
    seconds: float
    #: alerts of this run start at this camera time (each run its own, so none repeats)
    base: str
    start_at: float
    jpeg: bool
    #: the first camera of this run: runs take disjoint cameras while there are enough
    first: int = 0


@dataclass
class Run:
    repeat: int
    path: str
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_detail: str
    server_cpu: float | None
    postgres_cpu: float | None
    client_cpu: float | None
    machine_cpu: float | None

    @property
    def cpu_us(self) -> float:
        """Server CPU time per 2xx answer, microseconds: less sensitive to other tenants."""
        if self.server_cpu is None or not self.rate:
            return float("nan")
        return self.server_cpu / 100 / self.rate * 1e6


def mac(n: int) -> str:
    return "ac:b9:2f:" + ":".join(f"{(n >> s) & 0xFF:02x}" for s in (16, 8, 0))


def place(n: int) -> tuple[float, float]:
    """Camera n's place: the grid of bench/load.py, cells further apart than any dedup radius."""
    lon0, lat0, size = _AREAS[n % len(_AREAS)]
    row, col = divmod((n // len(_AREAS)) * _STRIDE % (_GRID * _GRID), _GRID)
    return lon0 + (col + 0.5) * size / _GRID, lat0 + (row + 0.5) * size / _GRID


def sheet(first: int, last: int) -> bytes:
    lines = ["设备编码,设备名称,设备类型,经度,纬度,MAC地址,告警规则"]
    for n in range(first, last):
        lon, lat = place(n)
        lines.append(
            f"CAM-{n:05d},沿街{n}号,摄像机,{lon:.6f},{lat:.6f},{mac(n)},"
            "fielddetection//vehicle=200506@0.9"
        )
    return ("\n".join(lines) + "\n").encode()


def register(base: str, cameras: int) -> None:
    """The cameras by sheets of 5,000 rows (a body is at most 1 MiB)."""
    for first in range(0, cameras, REGISTER_ROWS):
        request = urllib.request.Request(
            base + "/api/v1/devices:import",
            data=sheet(first, min(cameras, first + REGISTER_ROWS)),
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "text/csv"},
        )
        with urllib.request.urlopen(request, timeout=600) as answer:
            report = json.loads(answer.read())
        if report["rejected"]:
            raise RuntimeError(f"registering the cameras failed: {report['errors'][:3]}")


def alarm_loop(spec: AlarmSpec) -> LoadResult:
    return asyncio.run(_alarm_loop(spec))


async def _alarm_loop(spec: AlarmSpec) -> LoadResult:
    template = hik.field_detection("vehicle", mac="@@MAC@@", when="@@WHEN@@")
    if spec.jpeg:
        template = hik.multipart(template, hik.JPEG)
        kind = f"multipart/form-data; boundary={hik.BOUNDARY}"
    else:
        kind = "application/xml"
    macs = [mac(n).encode() for n in range(spec.cameras)]
    base = datetime.fromisoformat(spec.base)
    numbers = itertools.count()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=spec.concurrency, limit_per_host=spec.concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    headers = {"Content-Type": kind}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.sleep(max(0.0, spec.start_at - time.time()))
        started = time.perf_counter()
        wall = time.time() - started
        measure_from = started + spec.warmup
        stop_at = measure_from + spec.seconds

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                n = next(numbers)
                camera, turn = (spec.first + n) % spec.cameras, n // spec.cameras
                when = (base + timedelta(seconds=turn)).isoformat().encode()
                body = template.replace(b"@@MAC@@", macs[camera]).replace(b"@@WHEN@@", when)
                began = time.perf_counter()
                try:
                    async with session.post(spec.url, data=body, headers=headers) as resp:
                        await resp.read()
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    errors[type(exc).__name__] += 1
                    await asyncio.sleep(0.01)
                    continue
                done = time.perf_counter()
                if not measure_from <= done < stop_at:
                    continue
                if status == 200:
                    latencies.append((done - began) * 1000)
                else:
                    statuses[status] += 1

        await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
    return LoadResult(
        ok=len(latencies),
        seconds=spec.seconds,
        latencies_ms=latencies,
        window=(wall + measure_from, wall + stop_at),
        statuses=dict(statuses),
        errors=dict(errors),
    )


def measure(
    args: argparse.Namespace, cpu: CpuSampler, repeat: int, path: str, base: str, token: str
) -> Run:
    start_at = time.time() + CLIENT_START_S
    if path == "json":
        spec = LoadSpec(
            base + "/api/v1/incidents",
            token,
            args.concurrency,
            args.warmup,
            args.seconds,
            f"isapi-bench{repeat}",
            start_at,
            (repeat - 1) * SLOTS_PER_RUN,
        )
        child = processes.Child(closed_loop, spec)
    else:
        # each run its own camera time: no alert of one run repeats another's
        camera_time = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=10 * repeat + len(path))
        alarm = AlarmSpec(
            base + "/isapi/alarm",
            args.cameras,
            args.concurrency,
            args.warmup,
            args.seconds,
            camera_time.isoformat(),
            start_at,
            path.endswith("jpeg"),
            ((repeat - 1) * 2 + path.endswith("jpeg")) * args.cameras // (2 * args.repeats),
        )
        child = processes.Child(alarm_loop, alarm)
    cpu.watch("client", child.pid)
    result: LoadResult = child.result(CLIENT_START_S + args.warmup + args.seconds + 90)
    start, end = result.window
    return Run(
        repeat=repeat,
        path=path,
        rate=result.rate,
        p50_ms=percentile(result.latencies_ms, 50),
        p99_ms=percentile(result.latencies_ms, 99),
        errors=result.error_count,
        error_detail=result.describe_errors() if result.error_count else "",
        server_cpu=cpu.percent("real", start, end),
        postgres_cpu=cpu.percent("postgres", start, end),
        client_cpu=cpu.percent("client", start, end),
        machine_cpu=cpu.machine(start, end).get("busy"),
    )


HEADERS = (
    "run",
    "path",
    "2xx/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "server CPU%",
    "postgres CPU%",
    "client CPU%",
    "machine CPU%",
    "CPU us/2xx",
)


def row(run: Run) -> list[str]:
    return [
        str(run.repeat),
        run.path,
        fmt(run.rate, 0),
        fmt(run.p50_ms, 2),
        fmt(run.p99_ms, 2),
        str(run.errors),
        fmt(run.server_cpu, 0),
        fmt(run.postgres_cpu, 0),
        fmt(run.client_cpu, 0),
        fmt(run.machine_cpu, 0),
        fmt(run.cpu_us, 0),
    ]


def alarm_results(base: str) -> dict[str, float]:
    with urllib.request.urlopen(base + "/metrics", timeout=5) as answer:
        text = answer.read().decode()
    found = {}
    for line in text.splitlines():
        if line.startswith('dispatch_isapi_alerts_total{result="'):
            label, value = line.split('"')[1], line.split()[-1]
            found[label] = float(value)
    return found


def run_benchmark(args: argparse.Namespace) -> int:
    paths = ["json", "isapi"] + (["isapi+jpeg"] if args.jpeg else [])
    runs: list[Run] = []
    env = {"DISPATCH_CAMERA_NETWORKS": "127.0.0.0/8"}
    with running_stack(env=env) as stack, CpuSampler() as cpu:
        cpu.watch("real", stack.server.pid)
        cpu.watch("postgres", stack.postgres.pid, tree=True)
        started = time.monotonic()
        register(stack.base, args.cameras)
        print(f"registered {args.cameras} cameras by a sheet in {time.monotonic() - started:.1f} s")
        found = conditions(stack)
        found["server environment"] = "DISPATCH_CAMERA_NETWORKS=127.0.0.0/8"
        found["cameras"] = (
            f"{args.cameras}, one fielddetection/vehicle rule each, each at its own place; "
            "every run takes its own cameras from camera first + n (mod cameras), each alert "
            "with a new dateTime"
        )
        found["load"] = (
            f"{args.concurrency} keep-alive connections from 1 client process, "
            f"{args.warmup:g}s warm-up + {args.seconds:g}s measured, {args.repeats} repeats "
            f"alternating {'/'.join(paths)}"
        )
        print("Camera alerts: the ISAPI alarm host beside the JSON intake, one server")
        print_conditions(found)
        print()
        print(table(HEADERS, []))
        for repeat in range(1, args.repeats + 1):
            for path in paths:
                run = measure(args, cpu, repeat, path, stack.base, stack.device_token)
                runs.append(run)
                print(table(HEADERS, [row(run)]).splitlines()[-1], flush=True)
                if run.errors:
                    print(f"    errors: {run.error_detail}")
        results = alarm_results(stack.base)
    print()
    medians = [
        [
            path,
            fmt(median([r.rate for r in runs if r.path == path]), 0),
            fmt(median([r.p50_ms for r in runs if r.path == path]), 2),
            fmt(median([r.p99_ms for r in runs if r.path == path]), 2),
            fmt(median([r.server_cpu or float("nan") for r in runs if r.path == path]), 0),
            fmt(median([r.cpu_us for r in runs if r.path == path]), 0),
        ]
        for path in paths
    ]
    print(table(("median", "2xx/s", "p50 ms", "p99 ms", "server CPU%", "CPU us/2xx"), medians))
    json_rate = median([r.rate for r in runs if r.path == "json"])
    isapi_rate = median([r.rate for r in runs if r.path == "isapi"])
    json_us = median([r.cpu_us for r in runs if r.path == "json"])
    isapi_us = median([r.cpu_us for r in runs if r.path == "isapi"])
    print(
        f"\nisapi/json = {isapi_rate / json_rate:.2f} (medians); server CPU per answer: json "
        f"{json_us:.0f} us, isapi {isapi_us:.0f} us"
    )
    print("alarm host results (the server's counters): " + json.dumps(results))
    errors = sum(r.errors for r in runs)
    print(f"errors: {errors}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"conditions": found, "runs": [asdict(r) for r in runs], "results": results},
                indent=2,
                ensure_ascii=False,
            )
        )
    return 0 if errors == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cameras", type=int, default=20_000)
    parser.add_argument("--jpeg", action="store_true", help="also multipart alerts with a JPEG")
    parser.add_argument("--json", help="write the runs and conditions to this file")
    return run_benchmark(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
