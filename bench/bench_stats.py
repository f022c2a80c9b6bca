"""The figures over a year of history: a month's report and a day's live figures.

Run: ``.venv/bin/python -m bench.bench_stats [--incidents 3000000] [--data DIR] [--repeats 3]``

It starts a private PostgreSQL (fsync off: this measures reads), migrates, and writes a year
of history with set-based SQL (``INSERT ... SELECT generate_series``), one month per
statement: ``--incidents`` incidents received evenly over the 365 days up to now, each with
the history rows the life cycle writes (created, dispatch.assigned, register, dispatch,
return and re-dispatch, accept, extend and approve, resolve, verify, rework), the incident
snapshot in ``event`` cut down to the fields the figures read plus a description. Rows later
than now are left out, so the last hours hold open incidents in every state. Indexes are
built after the load, then VACUUM ANALYZE (as autovacuum would on an append-only table).
With ``--data`` the cluster is kept and a second run reuses it.

Then, with the product's own functions (``figures_store``, ``stats``, ``reports``):

(a) the monthly report of the last full month: reading the facts (one index-only scan),
    computing the five groupings, writing the workbook and the CSV, cold then warm;
(b) a day's live figures: today so far, grouped by squad, as ``GET /api/v1/stats`` computes
    them (facts, figures, JSON), many times;
(c) EXPLAIN (ANALYZE, BUFFERS) of the month's query, and the same query with index-only
    scans turned off, to show what the covering index buys.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import asyncpg
import shapely

from dispatcher.core import reports
from dispatcher.core.categories import Category, load_default_catalogue
from dispatcher.core.clocks import WorkingCalendar
from dispatcher.core.deadlines import Rules
from dispatcher.core.events import Event, EventType
from dispatcher.core.ids import IncidentId
from dispatcher.core.incidents import Incident, Source, State
from dispatcher.core.lifecycle import dispatch, register
from dispatcher.core.periods import month_period, parse_period
from dispatcher.core.routing import Squad
from dispatcher.core.stats import GroupBy
from dispatcher.demo.embedded import PostgresProcess, scratch_folder, start_postgres
from dispatcher.settings import from_env
from dispatcher.store import figures as figures_store
from dispatcher.store import migrate, reference
from geo.zones import Zone, ZoneIndex, ZoneLevel

#: the deployment's default 综合指标值 weights (DISPATCH_SCORE_WEIGHTS unset)
WEIGHTS = from_env({}, require=()).score_weights.as_dict()
TZ: Final = ZoneInfo("Asia/Shanghai")
RULES: Final = Rules(WorkingCalendar())
SQUADS: Final = 30
GRIDS_PER_STREET: Final = 40
SETTINGS: Final = {
    "shared_buffers": "2GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "1GB",
    "max_parallel_maintenance_workers": "2",
    "effective_cache_size": "12GB",
}

# One month of incidents n in [$1, $2); see the file.
GENERATE: Final = (Path(__file__).parent / "bench_stats_year.sql").read_text(encoding="utf-8")


def town() -> reference.Reference:
    """30 streets in a row, each with its squad and 40 grid cells: names and levels."""
    zones = [Zone("d", "区", ZoneLevel.DISTRICT, None, None, shapely.box(121.0, 31.0, 122.0, 31.2))]
    squads = {"centre": Squad("centre", "区指挥中心", "centre")}
    for s in range(1, SQUADS + 1):
        x = 121.0 + (s - 1) / SQUADS
        zones.append(
            Zone(
                f"st-{s}",
                f"街道{s}",
                ZoneLevel.STREET,
                "d",
                f"sq-{s}",
                shapely.box(x, 31.0, x + 1 / SQUADS, 31.2),
            )
        )
        squads[f"sq-{s}"] = Squad(f"sq-{s}", f"街道{s}中队", "street", "centre")
        for g in range(GRIDS_PER_STREET):
            gx = x + (g % 8) / SQUADS / 8
            gy = 31.0 + (g // 8) * 0.04
            zones.append(
                Zone(
                    f"g-{s}-{g}",
                    f"网格{s}-{g}",
                    ZoneLevel.GRID,
                    f"st-{s}",
                    None,
                    shapely.box(gx, gy, gx + 1 / SQUADS / 8, gy + 0.04),
                )
            )
    categories = {c.code: c for c in load_default_catalogue()}
    return reference.Reference(ZoneIndex(zones), squads, categories)


async def load(url: str, incidents: int, now: datetime, ref: reference.Reference) -> dict[str, Any]:
    """Write the year of history (when the database has none yet); answer what was done."""
    conn = await asyncpg.connect(url)
    try:
        if not await conn.fetchval("SELECT count(*) FROM zones"):
            zones = ref.zones.zones
            await conn.execute(
                reference.INSERT_ZONES,
                [z.id for z in zones],
                [z.name for z in zones],
                [z.level.value for z in zones],
                [z.parent_id for z in zones],
                [z.squad_id for z in zones],
                ["{}" for _ in zones],
                [json.dumps(shapely.geometry.mapping(z.geometry)) for z in zones],
            )
        existing = await conn.fetchval("SELECT count(*) FROM history")
        if existing:
            return {"history_rows": existing, "loaded_now": False}
        started = time.perf_counter()
        await conn.execute("SET session_replication_role = replica")  # no row triggers
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'history' "
            "AND indexname <> 'history_pkey'"
        )
        for row in indexes:
            await conn.execute(f"DROP INDEX {row['indexname']}")
        await conn.execute("SELECT setseed(0.42)")
        start = now - timedelta(days=365)
        months, seq = 12, 0
        per = incidents // months
        for m in range(months):
            lo, hi = 1 + m * per, 1 + (m + 1) * per if m < months - 1 else incidents + 1
            t = time.perf_counter()
            status = await conn.execute(GENERATE, lo, hi, start, now, seq, incidents)
            seq = int(await conn.fetchval("SELECT max(seq) FROM history"))
            print(f"  month {m + 1:2d}: {status} in {time.perf_counter() - t:.0f} s", flush=True)
        await conn.execute("SELECT setval('history_seq', $1)", seq)
        t = time.perf_counter()
        for row in indexes:
            await conn.execute(row["indexdef"])
        index_s = time.perf_counter() - t
        t = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE) history")
        vacuum_s = time.perf_counter() - t
        rows = await conn.fetchval("SELECT count(*) FROM history")
        return {
            "history_rows": rows,
            "loaded_now": True,
            "load_s": round(time.perf_counter() - started, 1),
            "index_s": round(index_s, 1),
            "vacuum_s": round(vacuum_s, 1),
        }
    finally:
        await conn.close()


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    answer = await call()
    return time.perf_counter() - started, answer


async def monthly(pool: asyncpg.Pool, ref: reference.Reference, month: str) -> dict[str, float]:
    """One monthly report, step by step (what GET /api/v1/reports/monthly does)."""
    now = datetime.now(UTC)
    period = month_period(month, TZ, now)
    figures_s, found = await timed(
        lambda: figures_store.figures(pool, ref, TZ, period, reports.GROUPINGS, weights=WEIGHTS)
    )
    meta = reports.meta_for(month, period.to_json(TZ), now, TZ)
    t = time.perf_counter()
    xlsx = reports.write_xlsx(found, meta, WEIGHTS)
    xlsx_s = time.perf_counter() - t
    t = time.perf_counter()
    reports.write_csv(found)
    csv_s = time.perf_counter() - t
    return {
        "incidents": found[GroupBy.DAY].total.counts["received"]
        + found[GroupBy.DAY].total.counts["merged"],
        "figures_s": figures_s,
        "xlsx_s": xlsx_s,
        "csv_s": csv_s,
        "total_s": figures_s + xlsx_s,
        "xlsx_bytes": len(xlsx),
    }


async def today(pool: asyncpg.Pool, ref: reference.Reference) -> dict[str, float]:
    """Today's figures by squad, as GET /api/v1/stats computes and encodes them."""
    now = datetime.now(UTC)
    period = parse_period(None, None, None, TZ, now)
    started = time.perf_counter()
    found = await figures_store.figures(pool, ref, TZ, period, [GroupBy.SQUAD], weights=WEIGHTS)
    json.dumps([g.to_json() for g in found[GroupBy.SQUAD].groups], ensure_ascii=False)
    total = found[GroupBy.SQUAD].total.counts
    return {
        "incidents": total["received"] + total["merged"],
        "total_s": time.perf_counter() - started,
    }


async def explain(pool: asyncpg.Pool, month: str, index_only: bool) -> list[str]:
    """The plan of the monthly report's query, run (all five groupings)."""
    period = month_period(month, TZ, datetime.now(UTC))
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(figures_store.WORK_MEM)
        if not index_only:
            await conn.execute("SET LOCAL enable_indexonlyscan = off")
        rows = await conn.fetch(
            "EXPLAIN (ANALYZE, BUFFERS) " + figures_store.SELECT_FIGURES,
            period.start,
            period.received_before,
            period.as_of,
            str(TZ),
            None,
            "street",
            True,
        )
    return [r[0] for r in rows]


def event_body(n: int, category: Category) -> str:
    """The event the journal writes when a squad signs for an incident (about 1.5 kB)."""
    at = datetime(2026, 10, 12, 2, 0, tzinfo=UTC) + timedelta(seconds=n)
    reported = Incident(
        id=IncidentId(f"20261012{n:08d}"),
        source=Source.HOTLINE,
        external_id=f"12345-{n}",
        category="200504",
        state=State.REPORTED,
        priority="normal",
        lon=121.4801,
        lat=31.2304,
        received_at=at,
        updated_at=at,
        zone_ids=("d", "st-3", "g-3-17"),
        description="店外经营，占用人行道摆放商品，影响行人通行，请尽快处理。",
        address="某某路 88 号",
    )
    sent = dispatch(register(reported, category, RULES, at), "sq-3", (), None, at)
    signed = replace(sent, state=State.ACCEPTED, accepted_at=at, version=4)
    event = Event(EventType.INCIDENT_UPDATED, signed, at, "tok-1", "squad", "accept")
    return event.to_json(n, TZ)


WRITE: Final = """
INSERT INTO {table} (seq, incident_id, type, action, actor, actor_role, at, state_before,
                     state_after, detail, topics, event)
SELECT s, 'I' || s, 'incident.updated', 'accept', 'tok-1', 'squad', now(), 'dispatched',
       'accepted', '{{}}', ARRAY['all', 'incident:I' || s, 'squad:sq-3'], e
FROM unnest($1::bigint[], $2::jsonb[]) AS t(s, e)"""


async def write_cost(url: str, rows: int, batch: int = 256) -> dict[str, float]:
    """Seconds per 1,000 history rows appended, with and without migration 0005's columns
    and index, in group-commit sized statements (each table starts empty)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP TABLE IF EXISTS h_before, h_after")
        await conn.execute("CREATE TABLE h_after (LIKE history INCLUDING ALL)")
        await conn.execute("CREATE TABLE h_before (LIKE history INCLUDING ALL)")
        await conn.execute(
            "ALTER TABLE h_before "
            + ", ".join(
                f"DROP COLUMN {c}"
                for c in (
                    "fig_squad",
                    "fig_deadline",
                    "fig_on_time",
                    "fig_suspended",
                    "fig_paused_s",
                    "fig_extended",
                    "fig_source",
                    "fig_category",
                    "fig_zone_ids",
                )
            )
        )
        shop = next(c for c in load_default_catalogue() if c.code == "200504")
        bodies = [event_body(n, shop) for n in range(rows)]
        spent = {"before": 0.0, "after": 0.0}
        for start in range(0, rows, batch):
            seqs = list(range(start, min(rows, start + batch)))
            chunk = bodies[start : start + batch]
            for table in ("before", "after"):  # interleaved: the machine's load hits both
                t = time.perf_counter()
                await conn.execute(WRITE.format(table=f"h_{table}"), seqs, chunk)
                spent[table] += time.perf_counter() - t
        await conn.execute("DROP TABLE h_before, h_after")
    finally:
        await conn.close()
    return {f"{k}_s_per_1000_rows": round(v / rows * 1000, 4) for k, v in spent.items()}


async def configure(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for name, value in SETTINGS.items():
            await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    finally:
        await conn.close()


def restart_with_settings(server: PostgresProcess, data: Path) -> PostgresProcess:
    """The settings of a modest production server (shared_buffers needs a restart)."""
    asyncio.run(configure(server.url))
    server.stop()
    return start_postgres(data, fsync=False)


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    ref = town()
    loaded = await load(url, args.incidents, now, ref)
    pool = await asyncpg.create_pool(url, min_size=2, max_size=4)
    assert pool is not None
    try:
        local = now.astimezone(TZ)
        last = (local.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        report = [await monthly(pool, ref, last) for _ in range(args.repeats + 1)]
        days = [await today(pool, ref) for _ in range(args.day_repeats)]
        writes = await write_cost(url, args.write_rows) if args.write_rows else {}
        plan = await explain(pool, last, index_only=True)
        heap_plan = await explain(pool, last, index_only=False) if args.heap else []
        size = await pool.fetchrow(
            "SELECT pg_size_pretty(pg_relation_size('history')) AS heap, "
            "pg_size_pretty(pg_relation_size('history_figures')) AS figures_index, "
            "(SELECT count(DISTINCT incident_id) FROM history "
            " WHERE type = 'incident.created') AS incidents"
        )
    finally:
        await pool.close()
    warm = report[1:] or report
    day_times = sorted(d["total_s"] for d in days)
    return {
        "loaded": loaded,
        "sizes": dict(size) if size else {},
        "month": last,
        "month_cold": report[0],
        "month_warm_median": {k: statistics.median(r[k] for r in warm) for k in warm[0]},
        "today_incidents": days[0]["incidents"],
        "today_median_s": statistics.median(day_times),
        "today_p95_s": day_times[min(len(day_times) - 1, int(0.95 * len(day_times)))],
        "history_append": writes,
        "plan": plan,
        "plan_without_index_only": heap_plan,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=3_000_000)
    parser.add_argument("--data", type=Path, help="keep the cluster here (reused when it exists)")
    parser.add_argument("--repeats", type=int, default=3, help="warm monthly reports")
    parser.add_argument("--day-repeats", type=int, default=20)
    parser.add_argument("--heap", action="store_true", help="also plan without index-only scans")
    parser.add_argument(
        "--write-rows", type=int, default=50_000, help="history rows appended to measure"
    )
    args = parser.parse_args()
    with scratch_folder("bench-stats-") as scratch:
        data = args.data or scratch / "pg"
        data.parent.mkdir(parents=True, exist_ok=True)
        data.parent.chmod(0o755)
        server = start_postgres(data, fsync=False)
        server = restart_with_settings(server, data)
        try:
            asyncio.run(migrate.apply(server.url))
            result = asyncio.run(run(args, server.url))
        finally:
            server.stop()
    plan = result.pop("plan")
    heap_plan = result.pop("plan_without_index_only")
    print(json.dumps(result, indent=1, default=str))
    print("\n".join(plan))
    if heap_plan:
        print("-- without index-only scans --")
        print("\n".join(heap_plan))


if __name__ == "__main__":
    main()
