"""How fast points are matched to zones, and what checking and indexing a zone set cost.

Run: ``.venv/bin/python -m bench.bench_zones [--points 20000] [--repeats 3]``

Two synthetic sets in real coordinates around 上海 (WGS84), drawn in metres on a local plane
and rounded to 1e-6° (about 0.1 m) like the demo city, nested district → street → community
→ grid cell (100 m × 100 m, 万米单元网格):

- ``300``: 1 district, 2 streets, 8 communities, 280 cells (291 zones);
- ``40,000``: 1 district of 20 km × 20 km, 20 streets, 400 communities, 40,000 cells
  (40,421 zones), plus 4 special zones (event venues) overlapping them.

For each: the whole validation of ``PUT /api/v1/zones`` (``check_zone_set``: every feature,
then :mod:`geo.topology`), the topology checks alone, building the index (``ZoneIndex``:
what every process does when the set changes), one match at a time (``ZoneIndex.match``: mean
wall time and CPU time of this process per call, and percentiles of the wall time) and in
batches (``ZoneIndex.match_many``, 100 and 10,000 points a call). On a shared machine the
wall times include waiting for a core; the CPU time is what a match costs. Points are uniform over
the district, so nearly every one is in a grid cell, a community, a street and the district.
Target: a single match under 50 µs at 40,000 zones.
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import statistics
import time
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import shapely

from bench.conditions import code_version, machine, print_conditions
from bench.figures import percentile, table
from geo.topology import check_topology
from geo.zones import ZoneIndex, check_zone_set

ORIGIN: Final = (121.47, 31.23)
#: degrees of longitude and latitude in 100 m there (the demo city rounds to 1e-6°, ~0.1 m)
DLON: Final = 100 / (111_320 * math.cos(math.radians(ORIGIN[1])))
DLAT: Final = 100 / 110_900


def _box(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    """A rectangle from metres east/north of ORIGIN, its corners rounded to 1e-6°; edges are
    straight in degrees (as GeoJSON's are), so that neighbours share them exactly."""
    lon0, lat0 = round(ORIGIN[0] + x0 / 100 * DLON, 6), round(ORIGIN[1] + y0 / 100 * DLAT, 6)
    lon1, lat1 = round(ORIGIN[0] + x1 / 100 * DLON, 6), round(ORIGIN[1] + y1 / 100 * DLAT, 6)
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return {"type": "Polygon", "coordinates": [ring]}


def _feature(zid: str, level: str, geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": zid,
        "properties": {"name": zid, "level": level, **props},
        "geometry": geometry,
    }


def city(
    streets: tuple[int, int],
    communities: tuple[int, int],
    cells: tuple[int, int],
    cell_m: float = 100.0,
    specials: int = 0,
) -> dict[str, Any]:
    """A nested set: ``streets`` (columns, rows) in the district, ``communities`` in each
    street, ``cells`` in each community, each cell ``cell_m`` metres square."""
    cw, ch = cells[0] * cell_m, cells[1] * cell_m
    sw, sh = communities[0] * cw, communities[1] * ch
    width, height = streets[0] * sw, streets[1] * sh
    x0, y0 = -width / 2, -height / 2
    features = [_feature("D", "district", _box(x0, y0, x0 + width, y0 + height), squad_id="c")]
    for si in range(streets[0]):
        for sj in range(streets[1]):
            sid = f"S{si}-{sj}"
            sx, sy = x0 + si * sw, y0 + sj * sh
            features.append(
                _feature(sid, "street", _box(sx, sy, sx + sw, sy + sh), parent_id="D", squad_id=sid)
            )
            for ci in range(communities[0]):
                for cj in range(communities[1]):
                    cid = f"{sid}-C{ci}-{cj}"
                    cx, cy = sx + ci * cw, sy + cj * ch
                    features.append(
                        _feature(cid, "community", _box(cx, cy, cx + cw, cy + ch), parent_id=sid)
                    )
                    for gi in range(cells[0]):
                        gx = cx + gi * cell_m
                        features.extend(
                            _feature(
                                f"{cid}-G{gi}-{gj}",
                                "grid",
                                _box(gx, cy + gj * cell_m, gx + cell_m, cy + (gj + 1) * cell_m),
                                parent_id=cid,
                            )
                            for gj in range(cells[1])
                        )
    rng = random.Random(5)
    for n in range(specials):
        x, y = rng.uniform(x0, x0 + width - 800), rng.uniform(y0, y0 + height - 800)
        venue = _box(x, y, x + 800, y + 500)
        features.append(_feature(f"X{n}", "special", venue, parent_id="D", priority="urgent"))
    return {"type": "FeatureCollection", "features": features}


def points(fc: dict[str, Any], count: int, seed: int = 9) -> tuple[list[float], list[float]]:
    district = shapely.geometry.shape(fc["features"][0]["geometry"])
    minx, miny, maxx, maxy = district.bounds
    rng = random.Random(seed)
    return (
        [rng.uniform(minx, maxx) for _ in range(count)],
        [rng.uniform(miny, maxy) for _ in range(count)],
    )


def timed(func: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The median wall time of ``repeats`` calls (seconds), and the last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def measure(name: str, fc: dict[str, Any], count: int, repeats: int) -> list[str]:
    validate_s, report = timed(lambda: check_zone_set(fc, None), repeats)
    assert report.ok, report.problems[:3]
    zones = report.zones
    topology_s, findings = timed(lambda: check_topology(zones, range(len(zones))), repeats)
    assert not findings.errors
    build_s, index = timed(lambda: ZoneIndex(zones), repeats)
    lons, lats = points(fc, count)
    for lon, lat in zip(lons[:200], lats[:200], strict=True):  # warm up (prepared geometry)
        index.match(lon, lat)
    started, cpu = time.perf_counter(), time.process_time()
    found = [index.match(lon, lat) for lon, lat in zip(lons, lats, strict=True)]
    one_s = (time.perf_counter() - started) / count
    one_cpu_s = (time.process_time() - cpu) / count
    per_call = []
    for lon, lat in zip(lons[: min(count, 5000)], lats[: min(count, 5000)], strict=True):
        t0 = time.perf_counter_ns()
        index.match(lon, lat)
        per_call.append((time.perf_counter_ns() - t0) / 1000)
    batch_rates = {}
    for size in (100, 10_000):
        chunks = [(lons[i : i + size], lats[i : i + size]) for i in range(0, count, size)]
        started = time.perf_counter()
        batched = [m for xs, ys in chunks for m in index.match_many(xs, ys)]
        batch_rates[size] = count / (time.perf_counter() - started)
    assert [m.zone_ids for m in batched] == [m.zone_ids for m in found]
    inside = sum(1 for m in found if m.zones) / count
    depth = float(np.mean([len(m.zones) for m in found]))
    return [
        name,
        f"{len(zones):,}",
        f"{validate_s:.2f}",
        f"{topology_s:.2f}",
        f"{build_s:.2f}",
        f"{one_s * 1e6:.1f} ({one_cpu_s * 1e6:.1f})",
        f"{percentile(per_call, 50):.1f} / {percentile(per_call, 99):.1f}",
        f"{1 / one_s:,.0f}",
        f"{batch_rates[100]:,.0f}",
        f"{batch_rates[10_000]:,.0f}",
        f"{inside:.0%}, {depth:.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("conditions:")
    print_conditions(
        {
            **machine(),
            "python / shapely / GEOS": (
                f"{platform.python_version()} / {shapely.__version__} / "
                f"{shapely.geos_version_string}"
            ),
            "code": code_version(),
            "points": f"{args.points:,} uniform over the district; medians of {args.repeats} runs",
        }
    )
    started = time.perf_counter()
    small = city((2, 1), (2, 2), (5, 7))
    large = city((4, 5), (5, 4), (10, 10), specials=4)
    print(f"  sets built in {time.perf_counter() - started:.1f} s\n")
    rows = [
        measure(n, fc, args.points, args.repeats) for n, fc in (("300", small), ("40,000", large))
    ]
    print(
        table(
            [
                "set",
                "zones",
                "validate s",
                "topology s",
                "index s",
                "match µs (CPU)",
                "p50/p99 µs",
                "match/s",
                "batch100/s",
                "batch10k/s",
                "in, depth",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
