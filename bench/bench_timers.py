"""How fast the timer loop fires due timers, and how long the scan for due ones takes.

Run: ``.venv/bin/python -m bench.bench_timers [--due 20000] [--open 100000] [--repeats 3]``

It starts a private PostgreSQL (fsync on, as in production), migrates, and inserts open,
dispatched incidents with their timers armed the way the server arms them (``alarms.owed``).

(a) fired/s: ``--due`` incidents whose case deadline has passed; the real ``TimerLoop``
    fires them batch by batch (lock, decide, history append with the hash chain, commit).
    Baseline in the same run: a bare loop over the same rows that only marks them fired
    (same batch size, same locking), so the ratio shows what deciding and journaling cost.
(b) scan: with ``--open`` open incidents (1% due), the time of one due-timer scan query
    (what every process runs each cycle) and of counting overdue open incidents.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from dispatcher.core import alarms
from dispatcher.core.categories import Category, Priority
from dispatcher.core.clocks import WorkingCalendar
from dispatcher.core.deadlines import Rules
from dispatcher.core.ids import IncidentId
from dispatcher.core.incidents import Incident, Source, State
from dispatcher.core.lifecycle import dispatch, register
from dispatcher.core.routing import Squad
from dispatcher.demo.embedded import scratch_folder, start_postgres
from dispatcher.store import migrate, timers
from dispatcher.store import records as store
from dispatcher.store.changes import LOCK_INCIDENTS_SKIP_LOCKED, Changes
from dispatcher.store.timer_loop import TimerLoop

RULES = Rules(WorkingCalendar())
CATEGORY = Category("200504", "店外经营", Priority.NORMAL, "continuous", 1)
SQUADS = {
    "centre": Squad("centre", "中心", "centre"),
    "sq": Squad("sq", "中队", "street", "centre"),
}


def incident(n: int, registered: datetime) -> Incident:
    base = Incident(
        id=IncidentId(f"B{n:09d}"),
        source=Source.HOTLINE,
        external_id=f"bench-{n}",
        category=CATEGORY.code,
        state=State.REPORTED,
        priority="normal",
        lon=121.48 + (n % 100) * 1e-4,
        lat=31.23 + (n // 100 % 100) * 1e-4,
        received_at=registered,
        updated_at=registered,
        zone_ids=("d", "s"),
    )
    return dispatch(register(base, CATEGORY, RULES, registered), "sq", (), None, registered)


async def load(pool: asyncpg.Pool, count: int, due_share: float, now: datetime) -> None:
    """Insert ``count`` dispatched incidents; ``due_share`` of them past their deadline."""
    due = int(count * due_share)
    rows_inc, rows_tim = [], []
    for n in range(count):
        start = now - timedelta(hours=2) if n < due else now - timedelta(minutes=1)
        inc = incident(n, start)
        since = inc.progress.stage_since
        assert since is not None
        inc = replace(inc, progress=replace(inc.progress, stage_alerted=since.isoformat()))
        rows_inc.append(store.encode_doc(inc, RULES.calendar.tz))
        rows_tim.extend((inc.id, k, d) for k, d in alarms.owed(inc, RULES, start))
    async with pool.acquire() as conn:
        for i in range(0, len(rows_inc), 5000):
            await store.insert_incidents(conn, rows_inc[i : i + 5000])
        await conn.copy_records_to_table(
            "timers", records=rows_tim, columns=["incident_id", "kind", "due_at"]
        )
        await conn.execute("ANALYZE incidents; ANALYZE timers")


async def reset(pool: asyncpg.Pool) -> None:
    await pool.execute("TRUNCATE incidents, timers, supervisions")
    # history is append-only by trigger; a benchmark database may start afresh
    await pool.execute("ALTER TABLE history DISABLE TRIGGER history_no_truncate")
    await pool.execute("TRUNCATE history")
    await pool.execute("ALTER TABLE history ENABLE TRIGGER history_no_truncate")


async def fire_all(pool: asyncpg.Pool, now: datetime) -> tuple[int, float, int]:
    wake = asyncio.Event()
    changes = Changes(pool, lambda: RULES, lambda _: None, wake.set, clock=lambda: now)
    loop = TimerLoop(pool, changes, lambda: SQUADS, wake, clock=lambda: now)
    started = time.perf_counter()
    taken = 0
    while (n := await loop.run_once()) > 0:
        taken += n
    elapsed = time.perf_counter() - started
    events = await pool.fetchval("SELECT count(*) FROM history")
    return taken, elapsed, int(events)


async def bare_all(pool: asyncpg.Pool, now: datetime, batch: int = 200) -> tuple[int, float]:
    """The floor: take due rows and mark them fired, same batching and locks, no decisions."""
    started = time.perf_counter()
    taken = 0
    while True:
        ids = [r[0] for r in await pool.fetch(timers.DUE_INCIDENTS, now, batch)]
        if not ids:
            break
        async with pool.acquire() as conn, conn.transaction():
            found = await conn.fetch(LOCK_INCIDENTS_SKIP_LOCKED, ids)
            locked = [r["doc"] for r in found]
            rows = await conn.fetch(timers.TAKE_TIMERS, [json.loads(d)["id"] for d in locked], now)
            taken += len(rows)
    return taken, time.perf_counter() - started


async def scan(pool: asyncpg.Pool, now: datetime, repeats: int) -> tuple[float, float]:
    scans, counts = [], []
    for _ in range(repeats * 5):
        t = time.perf_counter()
        await pool.fetch(timers.DUE_INCIDENTS, now, 200)
        scans.append(time.perf_counter() - t)
        t = time.perf_counter()
        await pool.fetchval(
            "SELECT count(*) FROM incidents WHERE state = ANY($1::text[]) AND deadline < $2",
            ["registered", "returned", "dispatched", "accepted"],
            now,
        )
        counts.append(time.perf_counter() - t)
    return statistics.median(scans), statistics.median(counts)


async def main(args: argparse.Namespace, folder: Path) -> None:
    pg = start_postgres(folder / "pg", fsync=True)
    try:
        await migrate.apply(pg.url)
        pool = await asyncpg.create_pool(pg.url, min_size=2, max_size=4)
        assert pool is not None
        now = datetime.now(UTC)
        real, bare = [], []
        for r in range(args.repeats):
            await reset(pool)
            await load(pool, args.due, 1.0, now)
            taken, secs, events = await fire_all(pool, now)
            real.append(taken / secs)
            print(
                f"  run {r + 1}: loop fired {taken} timers ({events} events) "
                f"in {secs:.2f}s = {taken / secs:,.0f}/s"
            )
            await reset(pool)
            await load(pool, args.due, 1.0, now)
            taken_b, secs_b = await bare_all(pool, now)
            bare.append(taken_b / secs_b)
            print(
                f"  run {r + 1}: bare marking took {taken_b} in {secs_b:.2f}s "
                f"= {taken_b / secs_b:,.0f}/s"
            )
        await reset(pool)
        await load(pool, args.open, 0.01, now)
        scan_s, count_s = await scan(pool, now, args.repeats)
        await pool.close()
    finally:
        pg.stop()
    print()
    loop_rate, bare_rate = statistics.median(real), statistics.median(bare)
    print(
        f"(a) timer loop: median {loop_rate:,.0f} timers/s; bare marking "
        f"{bare_rate:,.0f}/s; ratio {loop_rate / bare_rate:.2f}"
    )
    print(
        f"(b) {args.open:,} open incidents, 1% due: due-timer scan {scan_s * 1000:.2f} ms "
        f"(median), overdue-open count {count_s * 1000:.1f} ms (median)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--due", type=int, default=20_000)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    with scratch_folder("bench-timers-") as folder:
        asyncio.run(main(parser.parse_args(), folder))
