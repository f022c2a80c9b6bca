"""Inspection plans, their tasks and campaigns in PostgreSQL, and the tasks' warnings.

Every step of a plan or a task goes through the one change path (``dispatcher.store.changes``)::

    async with changes.begin() as work:
        task = await lock_task(work.conn, task_id)     # FOR UPDATE
        task, step = core.record_result(task, ...)     # the pure core decides
        await save_task(work.conn, task)               # the row
        work.record([step])                            # the step, appended to the history last
    # committed, then published to all, the task's topic and its squad's (squad:<id>)

:class:`WarningLoop` turns open tasks yellow and red when due, like the supervision items'
loop: due rows taken with ``FOR UPDATE SKIP LOCKED``, so each fires once across processes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

from dispatcher.core import inspections as core
from dispatcher.core.clocks import Colour
from dispatcher.core.inspection_figures import TaskFacts
from dispatcher.core.places import Kind, Risk
from dispatcher.store import records as store
from dispatcher.store.changes import Changes
from dispatcher.store.due_loop import DueLoop

PLAN_COLUMNS: Final = """id, name, tier_id, checklist, population, sample_size, officers, days,
starts_at, ends_at, campaign_id, state, seed, draw, created_at, created_by, drawn_at, drawn_by,
version"""
INSERT_PLAN: Final = f"""
INSERT INTO inspection_plans ({PLAN_COLUMNS})
VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15,
        $16, $17, $18, $19)"""
UPDATE_PLAN: Final = """
UPDATE inspection_plans SET state = $2, seed = $3, draw = $4::jsonb, drawn_at = $5,
    drawn_by = $6, version = $7
WHERE id = $1"""
SELECT_PLAN: Final = f"SELECT {PLAN_COLUMNS} FROM inspection_plans WHERE id = $1"
LOCK_PLAN: Final = f"SELECT {PLAN_COLUMNS} FROM inspection_plans WHERE id = $1 FOR UPDATE"
SELECT_PLANS: Final = f"""
SELECT {PLAN_COLUMNS} FROM inspection_plans
WHERE ($1::text[] IS NULL OR tier_id = ANY($1)) ORDER BY created_at DESC, id LIMIT $2"""

TASK_COLUMNS: Final = """id, plan_id, place_id, squad_id, officer_ids, departments, items,
results, state, colour, assigned_at, deadline, yellow_at, qr_code, findings, incident_ids,
done_at, done_by, note, version"""
INSERT_TASK: Final = f"""
INSERT INTO inspection_tasks ({TASK_COLUMNS}, due_at)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, $12, $13, $14, $15, $16,
        $17, $18, $19, $20, $21)"""
UPDATE_TASK: Final = """
UPDATE inspection_tasks SET results = $2::jsonb, state = $3, colour = $4, qr_code = $5,
    findings = $6, incident_ids = $7, done_at = $8, done_by = $9, note = $10, version = $11,
    due_at = $12
WHERE id = $1"""
SELECT_TASK: Final = f"SELECT {TASK_COLUMNS} FROM inspection_tasks WHERE id = $1"
LOCK_TASK: Final = f"SELECT {TASK_COLUMNS} FROM inspection_tasks WHERE id = $1 FOR UPDATE"
#: $1 squads (NULL: all), $2 states (NULL: all), $3 plan, $4 place, $5 limit
SELECT_TASKS: Final = f"""
SELECT {TASK_COLUMNS} FROM inspection_tasks
WHERE ($1::text[] IS NULL OR squad_id = ANY($1))
  AND ($2::text[] IS NULL OR state = ANY($2))
  AND ($3::text IS NULL OR plan_id = $3)
  AND ($4::text IS NULL OR place_id = $4)
ORDER BY (state = 'done'), deadline, id
LIMIT $5"""
DUE_TASKS: Final = "SELECT id FROM inspection_tasks WHERE due_at <= $1 ORDER BY due_at LIMIT $2"
TAKE_DUE: Final = f"""
SELECT {TASK_COLUMNS} FROM inspection_tasks
WHERE id = ANY($1::text[]) AND due_at <= $2 ORDER BY id FOR UPDATE SKIP LOCKED"""
NEXT_DUE: Final = "SELECT min(due_at) FROM inspection_tasks WHERE due_at IS NOT NULL"
#: the officers a draw may choose: active people of these squads holding a 执法证号
ELIGIBLE_OFFICERS: Final = """
SELECT id, squad_id FROM people
WHERE badge_no IS NOT NULL AND disabled_at IS NULL AND role = 'squad'
  AND squad_id = ANY($1::text[])
ORDER BY id"""
#: who inspected each place last time (its latest done task), for the draw's 回避
LAST_INSPECTORS: Final = """
SELECT DISTINCT ON (place_id) place_id, officer_ids FROM inspection_tasks
WHERE place_id = ANY($1::text[]) AND state = 'done'
ORDER BY place_id, done_at DESC, id DESC"""
#: the tasks assigned in a period, of these squads (NULL: all), optionally of a campaign's scope
FACTS: Final = """
SELECT t.squad_id, t.place_id, t.state, t.deadline, t.done_at,
       cardinality(t.departments) AS departments, t.findings
FROM inspection_tasks t JOIN places p ON p.id = t.place_id
LEFT JOIN inspection_plans pl ON pl.id = t.plan_id
WHERE t.assigned_at >= $1 AND t.assigned_at < $2
  AND ($3::text[] IS NULL OR t.squad_id = ANY($3))
  AND ($4::text IS NULL OR pl.campaign_id = $4
       OR ($7::boolean AND ($5::text[] IS NULL OR p.kind = ANY($5))
           AND ($6::text[] IS NULL OR p.zone_ids && $6)))"""
PEOPLE_NAMES: Final = "SELECT id, name, badge_no FROM people WHERE id = ANY($1::text[])"

CAMPAIGN_COLUMNS: Final = """id, name, starts_at, ends_at, zone_ids, categories, place_kinds,
targets, created_at, created_by"""
INSERT_CAMPAIGN: Final = f"""
INSERT INTO campaigns ({CAMPAIGN_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10)"""
SELECT_CAMPAIGN: Final = f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1"
SELECT_CAMPAIGNS: Final = f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY starts_at DESC, id"
#: the incidents inside a campaign, per squad: received in its period, of its categories and
#: zones (an empty list: any), not merged duplicates
CAMPAIGN_INCIDENTS: Final = """
SELECT squad_id, count(*) AS incidents,
       count(*) FILTER (WHERE state = 'closed') AS closed
FROM incidents
WHERE received_at >= $1 AND received_at < $2
  AND (cardinality($3::text[]) = 0 OR category = ANY($3))
  AND (cardinality($4::text[]) = 0 OR zone_ids && $4)
  AND state NOT IN ('merged', 'rejected')
GROUP BY squad_id"""


def plan_id(number: int, now: datetime, tz: tzinfo) -> str:
    """检查计划编号: JH, the local date and a deployment-wide number."""
    return f"JH{now.astimezone(tz):%Y%m%d}{number:05d}"


def task_id(number: int, now: datetime, tz: tzinfo) -> str:
    """检查任务编号: XC, the local date and a deployment-wide number."""
    return f"XC{now.astimezone(tz):%Y%m%d}{number:06d}"


def campaign_id(number: int, now: datetime, tz: tzinfo) -> str:
    """专项整治编号: ZX, the local date and a number."""
    return f"ZX{now.astimezone(tz):%Y%m%d}{number:04d}"


async def next_number(conn: store.Connection, sequence: str) -> int:
    assert sequence in ("inspection_plan_no", "inspection_task_no", "campaign_no")
    return int(await conn.fetchval(f"SELECT nextval('{sequence}')"))


async def next_task_numbers(conn: store.Connection, count: int) -> list[int]:
    rows = await conn.fetch(
        "SELECT nextval('inspection_task_no') FROM generate_series(1, $1)", count
    )
    return [int(r[0]) for r in rows]


# -- plans --------------------------------------------------------------------------------------


def _plan(row: Any) -> core.Plan:
    population = json.loads(row["population"])
    return core.Plan(
        id=row["id"],
        name=row["name"],
        tier_id=row["tier_id"],
        checklist=tuple(core.ChecklistItem.of(i) for i in json.loads(row["checklist"])),
        population=core.Population(
            tuple(Kind(k) for k in population["kinds"]),
            tuple(population["zone_ids"]),
            tuple(Risk(r) for r in population["risks"]),
        ),
        sample_size=row["sample_size"],
        officers=row["officers"],
        days=row["days"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        campaign_id=row["campaign_id"],
        state=core.PlanState(row["state"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
        seed=row["seed"],
        draw=json.loads(row["draw"]) if row["draw"] is not None else None,
        drawn_at=row["drawn_at"],
        drawn_by=row["drawn_by"],
        version=row["version"],
    )


async def insert_plan(conn: store.Connection, plan: core.Plan) -> None:
    await conn.execute(
        INSERT_PLAN,
        plan.id,
        plan.name,
        plan.tier_id,
        json.dumps([i.to_doc() for i in plan.checklist], ensure_ascii=False),
        json.dumps(plan.population.to_doc()),
        plan.sample_size,
        plan.officers,
        plan.days,
        plan.starts_at,
        plan.ends_at,
        plan.campaign_id,
        plan.state.value,
        plan.seed,
        json.dumps(plan.draw) if plan.draw is not None else None,
        plan.created_at,
        plan.created_by,
        plan.drawn_at,
        plan.drawn_by,
        plan.version,
    )


async def save_plan(conn: store.Connection, plan: core.Plan) -> None:
    await conn.execute(
        UPDATE_PLAN,
        plan.id,
        plan.state.value,
        plan.seed,
        json.dumps(plan.draw, ensure_ascii=False) if plan.draw is not None else None,
        plan.drawn_at,
        plan.drawn_by,
        plan.version,
    )


async def get_plan(conn: store.Connection | store.Pool, pid: str) -> core.Plan | None:
    row = await conn.fetchrow(SELECT_PLAN, pid)
    return _plan(row) if row is not None else None


async def lock_plan(conn: store.Connection, pid: str) -> core.Plan | None:
    row = await conn.fetchrow(LOCK_PLAN, pid)
    return _plan(row) if row is not None else None


async def list_plans(
    conn: store.Connection | store.Pool, tiers: Collection[str] | None, limit: int
) -> list[core.Plan]:
    rows = await conn.fetch(SELECT_PLANS, sorted(tiers) if tiers is not None else None, limit)
    return [_plan(r) for r in rows]


async def eligible_officers(
    conn: store.Connection | store.Pool, squads: Collection[str]
) -> dict[str, list[str]]:
    """The officers a draw may choose, per squad."""
    found: dict[str, list[str]] = {}
    for row in await conn.fetch(ELIGIBLE_OFFICERS, sorted(squads)):
        found.setdefault(row["squad_id"], []).append(row["id"])
    return found


async def last_inspectors(
    conn: store.Connection | store.Pool, place_ids: Collection[str]
) -> dict[str, list[str]]:
    rows = await conn.fetch(LAST_INSPECTORS, sorted(place_ids))
    return {r["place_id"]: list(r["officer_ids"]) for r in rows}


async def people_named(
    conn: store.Connection | store.Pool, ids: Collection[str]
) -> dict[str, dict[str, Any]]:
    """Names and 执法证号 of these people (never their phones: what the draw publishes)."""
    rows = await conn.fetch(PEOPLE_NAMES, sorted(ids))
    return {r["id"]: {"name": r["name"], "badge_no": r["badge_no"]} for r in rows}


# -- tasks --------------------------------------------------------------------------------------


def _task(row: Any) -> core.Task:
    results = json.loads(row["results"]) if row["results"] is not None else []
    return core.Task(
        id=row["id"],
        plan_id=row["plan_id"],
        place_id=row["place_id"],
        squad_id=row["squad_id"],
        officer_ids=tuple(row["officer_ids"]),
        departments=tuple(row["departments"]),
        items=tuple(core.ChecklistItem.of(i) for i in json.loads(row["items"])),
        state=core.TaskState(row["state"]),
        colour=Colour(row["colour"]),
        assigned_at=row["assigned_at"],
        deadline=row["deadline"],
        yellow_at=row["yellow_at"],
        results=tuple(
            core.ItemResult(
                r["item_id"], r["passed"], r["note"], tuple(r["photos"]), r["incident_id"]
            )
            for r in results
        ),
        qr_code=row["qr_code"],
        findings=row["findings"],
        incident_ids=tuple(row["incident_ids"]),
        done_at=row["done_at"],
        done_by=row["done_by"],
        note=row["note"],
        version=row["version"],
    )


def _results(task: core.Task) -> str | None:
    if not task.results:
        return None
    return json.dumps([r.to_doc() for r in task.results], ensure_ascii=False)


async def insert_tasks(conn: store.Connection, tasks: Sequence[core.Task]) -> None:
    await conn.executemany(
        INSERT_TASK,
        [
            (
                t.id,
                t.plan_id,
                t.place_id,
                t.squad_id,
                list(t.officer_ids),
                list(t.departments),
                json.dumps([i.to_doc() for i in t.items], ensure_ascii=False),
                _results(t),
                t.state.value,
                t.colour.value,
                t.assigned_at,
                t.deadline,
                t.yellow_at,
                t.qr_code,
                t.findings,
                list(t.incident_ids),
                t.done_at,
                t.done_by,
                t.note,
                t.version,
                t.due_at,
            )
            for t in tasks
        ],
    )


async def save_task(conn: store.Connection, task: core.Task) -> None:
    await conn.execute(
        UPDATE_TASK,
        task.id,
        _results(task),
        task.state.value,
        task.colour.value,
        task.qr_code,
        task.findings,
        list(task.incident_ids),
        task.done_at,
        task.done_by,
        task.note,
        task.version,
        task.due_at,
    )


async def get_task(conn: store.Connection | store.Pool, tid: str) -> core.Task | None:
    row = await conn.fetchrow(SELECT_TASK, tid)
    return _task(row) if row is not None else None


async def lock_task(conn: store.Connection, tid: str) -> core.Task | None:
    row = await conn.fetchrow(LOCK_TASK, tid)
    return _task(row) if row is not None else None


async def list_tasks(
    conn: store.Connection | store.Pool,
    *,
    squads: Collection[str] | None,
    states: Sequence[str] | None,
    plan_id: str | None,
    place_id: str | None,
    limit: int,
) -> list[core.Task]:
    rows = await conn.fetch(
        SELECT_TASKS,
        sorted(squads) if squads is not None else None,
        list(states) if states is not None else None,
        plan_id,
        place_id,
        limit,
    )
    return [_task(r) for r in rows]


async def facts(
    conn: store.Connection | store.Pool,
    start: datetime,
    end: datetime,
    squads: Collection[str] | None,
    campaign: dict[str, Any] | None = None,
) -> list[TaskFacts]:
    """The facts of the tasks assigned in [start, end): of a campaign's plans, or of places in
    its scope (its kinds and zones) when it names a scope, when ``campaign`` is given."""
    kinds = list(campaign["place_kinds"]) if campaign else []
    zones = list(campaign["zone_ids"]) if campaign else []
    rows = await conn.fetch(
        FACTS,
        start,
        end,
        sorted(squads) if squads is not None else None,
        campaign["id"] if campaign else None,
        kinds or None,
        zones or None,
        bool(kinds or zones),
    )
    return [
        TaskFacts(
            r["squad_id"],
            r["place_id"],
            r["state"] == "done",
            r["deadline"],
            r["done_at"],
            r["departments"],
            r["findings"],
        )
        for r in rows
    ]


# -- campaigns ----------------------------------------------------------------------------------


def _campaign(row: Any) -> dict[str, Any]:
    return {
        **dict(row),
        "zone_ids": list(row["zone_ids"]),
        "categories": list(row["categories"]),
        "place_kinds": list(row["place_kinds"]),
        "targets": json.loads(row["targets"]),
    }


async def insert_campaign(conn: store.Connection, campaign: dict[str, Any]) -> None:
    await conn.execute(
        INSERT_CAMPAIGN,
        campaign["id"],
        campaign["name"],
        campaign["starts_at"],
        campaign["ends_at"],
        campaign["zone_ids"],
        campaign["categories"],
        campaign["place_kinds"],
        json.dumps(campaign["targets"]),
        campaign["created_at"],
        campaign["created_by"],
    )


async def get_campaign(conn: store.Connection | store.Pool, cid: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(SELECT_CAMPAIGN, cid)
    return _campaign(row) if row is not None else None


async def list_campaigns(conn: store.Connection | store.Pool) -> list[dict[str, Any]]:
    return [_campaign(r) for r in await conn.fetch(SELECT_CAMPAIGNS)]


async def campaign_incidents(
    conn: store.Connection | store.Pool, campaign: dict[str, Any]
) -> dict[str | None, tuple[int, int]]:
    """The incidents inside the campaign per squad: (received, closed)."""
    rows = await conn.fetch(
        CAMPAIGN_INCIDENTS,
        campaign["starts_at"],
        campaign["ends_at"],
        campaign["categories"],
        campaign["zone_ids"],
    )
    return {r["squad_id"]: (r["incidents"], r["closed"]) for r in rows}


# -- warnings -----------------------------------------------------------------------------------


class WarningLoop(DueLoop):
    """Turns open tasks yellow, then red, when due; one per process, sharing the work."""

    name = "inspection warning loop"
    next_due_query = NEXT_DUE

    def __init__(
        self,
        pool: store.Pool,
        changes: Changes,
        tz: Callable[[], tzinfo],
        *,
        batch: int = 100,
        idle_s: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(pool, batch=batch, idle_s=idle_s, clock=clock)
        self._changes = changes
        self._tz = tz

    async def run_once(self) -> int:
        """Fire what is due now; answer how many tasks gave a warning."""
        now = self._clock()
        ids = [r["id"] for r in await self._pool.fetch(DUE_TASKS, now, self._batch)]
        if not ids:
            return 0
        fired = 0
        async with self._changes.begin(now=now) as work:
            for row in await work.conn.fetch(TAKE_DUE, ids, now):
                task = _task(row)
                decision = core.fire(task, now, self._tz())
                if decision is None:
                    await save_task(work.conn, task)  # re-arm at what it is now
                    continue
                after, step = decision
                await save_task(work.conn, after)
                work.record([step])
                fired += 1
        return fired
