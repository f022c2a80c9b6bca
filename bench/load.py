"""The load: report bodies shaped like cameras' and the hotline's, and a closed-loop generator.

:class:`ReportMaker` makes camera and hotline reports, each with its own id and place;
:func:`closed_loop` posts them over keep-alive connections as fast as they are answered (run it
in a process of its own, ``bench.processes.Child``, so that the client's CPU is not counted in
the server's process; they still share the machine's cores).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp

#: how long one request may take before the load generator counts it as an error
REQUEST_TIMEOUT_S: Final = 30.0

#: (source, category, what is said) as cameras and the 12345 hotline report them; every
#: category here merges reports within at most 50 m (its dedup_radius_m)
_KINDS: Final = (
    ("camera", "200504", "AI识别：沿街商铺出店经营，货物摆上人行道"),
    ("camera", "200506", "AI识别：共享单车大量堆积，占用人行道"),
    ("camera", "200502", "AI识别：有人占道设摊经营"),
    ("hotline", "200102", "市民来电：路边有暴露垃圾，请尽快处理"),
    ("hotline", "200113", "市民来电：餐饮店油烟直排，影响居民，要求核实处理并回复"),
    ("hotline", "200507", "市民来电：人行道上乱堆物料，已多次反映，要求彻底解决"),
)
#: boxes inside the town's two streets (lon, lat, size in degrees), cut into a grid whose
#: cells are about 62 m x 72 m apart: more than any dedup radius above
_AREAS: Final = ((121.401, 31.201, 0.098), (121.501, 31.201, 0.098))
_GRID: Final = 150
_VARIANTS: Final = 8
#: how far apart on the grid consecutive reports fall (coprime to _GRID * _GRID = 22,500)
_STRIDE: Final = 7_919
#: distinct (place, kind) pairs before places repeat
SLOTS: Final = len(_KINDS) * len(_AREAS) * _GRID * _GRID
#: slots set aside for one run of the load generator (see ``ReportMaker(first=...)``)
SLOTS_PER_RUN: Final = 20_000
#: cameras the reports come from: each stays far below the server's per-device rate limit
_CAMERAS: Final = 1000
_EXTERNAL = "@@external_id@@"
_DEVICE = "@@device@@"
_LON = '"@@lon@@"'
_LAT = '"@@lat@@"'


class ReportMaker:
    """Request bodies shaped like camera and hotline reports, each with its own external_id.

    Report n of a maker takes slot ``first + n``: a kind and a place of its own, on a grid
    whose points are further apart than the server's dedup radius, so that reports are not
    merged as duplicates of each other (that is another path than intake's); consecutive
    reports are kilometres apart. Runs against
    one database should use disjoint slot ranges; ``tag`` keeps external ids unique.
    """

    def __init__(self, tag: str, first: int = 0, seed: int = 7) -> None:
        rng = random.Random(seed)
        self._tag = tag
        self._first = first
        self._templates: list[tuple[str, str]] = []
        occurred = time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(time.time() + 8 * 3600))
        for n in range(len(_KINDS) * _VARIANTS):
            source, category, said = _KINDS[n % len(_KINDS)]
            body: dict[str, Any] = {
                "source": source,
                "external_id": _EXTERNAL,
                "category": category,
                "lon": _LON.strip('"'),
                "lat": _LAT.strip('"'),
                "crs": "WGS84",
                "description": said,
                "occurred_at": occurred,
            }
            if source == "camera":
                body |= {
                    "media": [f"https://media.example.com/{_DEVICE}/snapshot.jpg"],
                    "confidence": round(0.70 + rng.random() * 0.28, 2),
                    "device_id": _DEVICE,
                    "address": f"沿街商铺 {n} 号门前",
                }
                prefix = f"{_DEVICE}-"
            else:
                body["address"] = f"某小区 {n} 号楼"
                prefix = "12345-"
            self._templates.append((json.dumps(body, ensure_ascii=False), prefix))

    def make(self, n: int) -> bytes:
        slot = (self._first + n) % SLOTS
        kind = slot % len(_KINDS)
        rest = slot // len(_KINDS)
        lon0, lat0, size = _AREAS[rest % len(_AREAS)]
        # consecutive reports land far apart (a stride coprime to the grid's size walks every
        # place once), as a city's reports do: neighbours would take turns on a place lock
        place = (rest // len(_AREAS)) * _STRIDE % (_GRID * _GRID)
        row, col = divmod(place, _GRID)
        variant = (rest // len(_AREAS)) % _VARIANTS
        text, prefix = self._templates[variant * len(_KINDS) + kind]
        return (
            text.replace(_EXTERNAL, f"{prefix}{self._tag}-{n:08d}")
            .replace(_DEVICE, f"cam-{rest % _CAMERAS:04d}")
            .replace(_LON, f"{lon0 + (col + 0.5) * size / _GRID:.6f}")
            .replace(_LAT, f"{lat0 + (row + 0.5) * size / _GRID:.6f}")
            .encode()
        )


@dataclass
class LoadResult:
    """What one run of the load generator saw inside its measurement window."""

    ok: int
    seconds: float
    latencies_ms: list[float]
    #: (wall-clock start, end) of the measurement window, time.time()
    window: tuple[float, float]
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    @property
    def error_count(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    def describe_errors(self) -> str:
        parts = [f"HTTP {s}: {n}" for s, n in sorted(self.statuses.items())]
        parts += [f"{kind}: {n}" for kind, n in sorted(self.errors.items())]
        return ", ".join(parts) or "none"


@dataclass(frozen=True)
class LoadSpec:
    """Where and how hard the closed-loop generator posts; ``tag`` keeps external ids unique."""

    url: str
    token: str
    concurrency: int
    warmup: float
    seconds: float
    tag: str
    #: wall-clock time to begin at, so that several generator processes run together
    start_at: float = 0.0
    #: the first report slot of this run (see ReportMaker)
    first: int = 0


def closed_loop(spec: LoadSpec) -> LoadResult:
    """Post reports over ``concurrency`` keep-alive connections as fast as they are answered.

    Runs ``warmup + seconds`` and stops by itself; only answers that arrive inside the last
    ``seconds`` are counted. Non-2xx answers and exceptions are counted as errors.
    """
    return asyncio.run(_closed_loop(spec))


async def _closed_loop(spec: LoadSpec) -> LoadResult:
    url, concurrency, warmup, seconds = spec.url, spec.concurrency, spec.warmup, spec.seconds
    maker = ReportMaker(spec.tag, spec.first)
    headers = {"Authorization": f"Bearer {spec.token}", "Content-Type": "application/json"}
    numbers = itertools.count()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.sleep(max(0.0, spec.start_at - time.time()))
        started = time.perf_counter()
        wall = time.time() - started
        measure_from = started + warmup
        stop_at = measure_from + seconds

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                body = maker.make(next(numbers))
                began = time.perf_counter()
                status = 0
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    errors[type(exc).__name__] += 1
                    await asyncio.sleep(0.01)  # do not spin on a refused connection
                    continue
                done = time.perf_counter()
                if not measure_from <= done < stop_at:
                    continue
                if 200 <= status < 300:
                    latencies.append((done - began) * 1000)
                else:
                    statuses[status] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(
        ok=len(latencies),
        seconds=seconds,
        latencies_ms=latencies,
        window=(wall + measure_from, wall + stop_at),
        statuses=dict(statuses),
        errors=dict(errors),
    )
