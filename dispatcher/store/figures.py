"""The figures from the history (PostgreSQL): one set-based query per request.

:data:`SELECT_FIGURES` works out, for every incident received in a period, how it stood at
``as_of`` from its history rows of ``[from, as_of)`` (read through the covering index
``history_figures`` of migration 0005: an index-only scan, no event document is opened), and
lets PostgreSQL count them per group and per :class:`~dispatcher.core.stats.Standing` and measure
the stage times (average, ``percentile_cont(0.9)``). A month of a big city is a quarter of a
million incidents but only a few thousand result rows; :func:`figures` then tabulates them
with :mod:`dispatcher.core.stats`.

The stage times, measured here: report→dispatch from the report to the first dispatch;
dispatch→sign-for from the last dispatch at or before the first sign-for to that sign-for;
sign-for→resolution from the first sign-for to the first resolution, minus the time the case
clock was paused (挂账) in between. Merged duplicates have none.

What the national denominators (应处置数, 应结案数) need comes from the same rows: the deadline
as it stood at the last row before ``as_of`` (``past_deadline``: before ``as_of``; a case not
yet handled and not past it is still inside its limit), the suspension then, and whether the
last closing (a passed verification: ``state_after`` closed from another state) was at or
before the deadline on its own row (``closed_on_time``; no deadline: on time, as a
resolution's ``on_time``). Every column read is in the covering index.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

import asyncpg

from dispatcher.core import inspection_figures, reports
from dispatcher.core.periods import Period, day_keys, month_period
from dispatcher.core.stats import (
    TIMES,
    Counted,
    Figures,
    GroupBy,
    Standing,
    TimeFigure,
    summarise,
    tabulate,
    time_figure,
)
from dispatcher.core.workorder import DEFAULT_HOTLINE_RULES, HotlineRules
from dispatcher.store import hotline_figures, inspections, reference
from dispatcher.store import records as store

#: sorting a month's rows in memory beats spilling them to disk
WORK_MEM: Final = "SET LOCAL work_mem = '256MB'"
TOTAL: Final = "total"

# $1 from, $2 received before, $3 as_of. The WHERE clause repeats the predicate of the index
# history_figures word for word.
FACTS: Final = """
SELECT incident_id,
       min(at) FILTER (WHERE type = 'incident.created') AS received_at,
       min(fig_source) AS source,
       min(fig_category) AS category,
       min(fig_zone_ids) AS zone_ids,
       figures_last(array_agg(state_after ORDER BY seq)) AS state,
       figures_last(array_agg(fig_squad ORDER BY seq) FILTER (WHERE fig_squad IS NOT NULL))
           AS squad_id,
       figures_last(array_agg(fig_deadline ORDER BY seq)) AS deadline,
       figures_last(array_agg(fig_suspended ORDER BY seq)) AS suspended,
       figures_last(array_agg(fig_on_time ORDER BY seq)) AS on_time,
       figures_last(array_agg(coalesce(at <= fig_deadline, true) ORDER BY seq) FILTER (
           WHERE state_after = 'closed' AND state_before IS DISTINCT FROM 'closed'))
           AS closed_on_time,
       bool_or(state_after IN ('registered', 'dispatched', 'accepted', 'resolved', 'closed',
                               'returned')) AS registered,
       bool_or(action = 'return') AS returned,
       bool_or(action IN ('verify', 'review') AND state_after = 'dispatched') AS reworked,
       bool_or(fig_extended) AS extended,
       array_agg(at ORDER BY seq) FILTER (
           WHERE state_after = 'dispatched' AND state_before IS DISTINCT FROM 'dispatched')
           AS dispatch_times,
       min(at) FILTER (WHERE action = 'accept') AS accepted_at,
       min(at) FILTER (WHERE action = 'resolve') AS resolved_at,
       (array_agg(fig_paused_s ORDER BY seq) FILTER (WHERE action = 'accept'))[1]
           AS paused_at_accept,
       (array_agg(fig_paused_s ORDER BY seq) FILTER (WHERE action = 'resolve'))[1]
           AS paused_at_resolve
FROM history
WHERE type IN ('incident.created', 'incident.updated') AND at >= $1 AND at < $3
GROUP BY incident_id
HAVING min(at) FILTER (WHERE type = 'incident.created') < $2"""

#: the columns that tell how an incident stood (dispatcher.core.stats.Standing), in order
STANDING: Final = (
    "state",
    "registered",
    "dispatched",
    "returned",
    "reworked",
    "extended",
    "suspended",
    "on_time",
    "past_deadline",
    "closed_on_time",
)
#: the groupings' columns, in the order of GROUPING(): the bit of a column is 0 in its rows
DIMENSIONS: Final = ("squad", "zone", "category", "source", "day")
_S: Final = ", ".join(STANDING)
_D: Final = ", ".join(DIMENSIONS)
_SETS: Final = ", ".join(f"({d}, {_S})" for d in DIMENSIONS) + f", ({_S})"
_TIMES: Final = ", ".join(
    f"count({t}) AS {t}_n, avg({t})::float8 AS {t}_avg, "
    f"percentile_cont(0.9) WITHIN GROUP (ORDER BY {t}) AS {t}_p90"
    for t in TIMES
)
_NO_TIMES: Final = ", ".join(f"NULL AS {t}_n, NULL AS {t}_avg, NULL AS {t}_p90" for t in TIMES)
_NO_STANDING: Final = ", ".join(f"NULL AS {c}" for c in STANDING)

# $4 the deployment's time zone, $5 the squads (NULL: all), $6 the zone level, $7 whether
# zones are wanted. One statement: the number of incidents per grouping and standing
# (GROUPING SETS, the total among them), then the stage times per grouping.
SELECT_FIGURES: Final = f"""
WITH facts AS MATERIALIZED ({FACTS}
), zoned AS (
    SELECT f.incident_id, min(u.id) AS zone
    FROM facts f CROSS JOIN unnest(f.zone_ids) AS u(id)
    WHERE $7 AND u.id IN (SELECT id FROM zones WHERE level = $6)
    GROUP BY f.incident_id
), judged AS MATERIALIZED (
    SELECT f.squad_id AS squad, f.category, f.source,
           to_char(f.received_at AT TIME ZONE $4, 'YYYY-MM-DD') AS day, z.zone,
           f.state, coalesce(f.registered, false) AS registered,
           f.dispatch_times IS NOT NULL AS dispatched, coalesce(f.returned, false) AS returned,
           coalesce(f.reworked, false) AS reworked, coalesce(f.extended, false) AS extended,
           coalesce(f.suspended, false) AS suspended, coalesce(f.on_time, false) AS on_time,
           coalesce(f.deadline < $3, false) AS past_deadline,
           coalesce(f.closed_on_time, false) AS closed_on_time,
           CASE WHEN f.state <> 'merged' THEN
               extract(epoch FROM f.dispatch_times[1] - f.received_at) END AS report_to_dispatch,
           CASE WHEN f.state <> 'merged' THEN extract(epoch FROM f.accepted_at
               - (SELECT max(d) FROM unnest(f.dispatch_times) AS d WHERE d <= f.accepted_at))
           END AS dispatch_to_accept,
           CASE WHEN f.state <> 'merged' AND f.dispatch_times IS NOT NULL
                     AND f.resolved_at >= f.accepted_at THEN
               greatest(0, extract(epoch FROM f.resolved_at - f.accepted_at)
                           - greatest(0, coalesce(f.paused_at_resolve, 0)
                                         - coalesce(f.paused_at_accept, 0)))
           END AS accept_to_resolve
    FROM facts f LEFT JOIN zoned z USING (incident_id)
    WHERE $5::text[] IS NULL OR f.squad_id = ANY($5::text[])
)
SELECT 'count' AS kind, GROUPING({_D}) AS grouping, {_D}, {_S}, count(*) AS n, {_NO_TIMES}
FROM judged GROUP BY GROUPING SETS ({_SETS})
UNION ALL
SELECT 'time', GROUPING({_D}), {_D}, {_NO_STANDING}, NULL, {_TIMES}
FROM judged GROUP BY GROUPING SETS ({", ".join(f"({d})" for d in DIMENSIONS)}, ())"""


def dimension_of(grouping: int) -> str:
    """The grouping a row of SELECT_FIGURES belongs to, from its GROUPING() bits."""
    everything = (1 << len(DIMENSIONS)) - 1
    for position, name in enumerate(DIMENSIONS):
        if grouping == everything & ~(1 << (len(DIMENSIONS) - 1 - position)):
            return name
    return TOTAL


SOURCE_NAMES: Final[Mapping[str, str]] = {
    "camera": "视频智能识别",
    "drone": "无人机巡查",
    "sensor": "物联感知",
    "hotline": "12345热线",
    "grid": "网格巡查",
    "citizen": "市民上报",
    "leader": "领导交办",
    "media": "媒体曝光",
    "platform": "其他平台",
}
#: the name of the group of incidents that have no key of that kind
NO_KEY: Final[Mapping[GroupBy, str]] = {
    GroupBy.SQUAD: "未派遣",
    GroupBy.ZONE: "不在该级区域内",
    GroupBy.CATEGORY: "未分类",
    GroupBy.SOURCE: "未知来源",
    GroupBy.DAY: "—",
}


def namer(group_by: GroupBy, ref: reference.Reference) -> Callable[[str | None], str]:
    """The display name of a group's key (a squad's, zone's or category's name)."""
    names: Mapping[str, str]
    if group_by is GroupBy.SQUAD:
        names = {k: s.name for k, s in ref.squads.items()}
    elif group_by is GroupBy.ZONE:
        names = {z.id: z.name for z in ref.zones.zones}
    elif group_by is GroupBy.CATEGORY:
        names = {k: c.name for k, c in ref.categories.items()}
    elif group_by is GroupBy.SOURCE:
        names = SOURCE_NAMES
    else:
        names = {}
    return lambda key: NO_KEY[group_by] if key is None else names.get(key, key)


def _tables(
    rows: Iterable[Any],
) -> tuple[
    dict[str, dict[str | None, list[Counted]]], dict[str, dict[str | None, dict[str, TimeFigure]]]
]:
    """The query's rows as counted standings and stage times, per grouping and key."""
    counted: dict[str, dict[str | None, list[Counted]]] = {}
    timed: dict[str, dict[str | None, dict[str, TimeFigure]]] = {}
    for r in rows:
        dim = dimension_of(r["grouping"])
        key = None if dim == TOTAL else r[dim]
        if r["kind"] == "count":
            standing = Standing(**{name: r[name] for name in STANDING})
            counted.setdefault(dim, {}).setdefault(key, []).append((standing, r["n"]))
        else:
            timed.setdefault(dim, {})[key] = {
                t: time_figure(r[f"{t}_n"], r[f"{t}_avg"], r[f"{t}_p90"]) for t in TIMES
            }
    return counted, timed


async def figures(
    pool: store.Pool,
    ref: reference.Reference,
    tz: tzinfo,
    period: Period,
    group_bys: Iterable[GroupBy],
    *,
    zone_level: str = "street",
    weights: Mapping[str, float],
    squad_id: str | None = None,
) -> dict[GroupBy, Figures]:
    """The figures of ``period`` for each grouping; ``squad_id`` counts only the incidents of
    that squad's tier (the squad and every squad below it), grouped by each of its squads."""
    tier = None if squad_id is None else sorted(ref.scope(squad_id))
    wanted = list(dict.fromkeys(group_bys))
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute(WORK_MEM)
        rows = await conn.fetch(
            SELECT_FIGURES,
            period.start,
            period.received_before,
            period.as_of,
            str(tz),
            tier,
            zone_level,
            GroupBy.ZONE in wanted,
        )
    counted, timed = _tables(rows)
    total = summarise(
        None,
        "合计",
        counted.get(TOTAL, {}).get(None, ()),
        timed.get(TOTAL, {}).get(None, {}),
        weights,
    )
    answer: dict[GroupBy, Figures] = {}
    for group_by in wanted:
        keys: list[str] = []
        if group_by is GroupBy.DAY:
            keys = day_keys(period.start, period.received_before, tz)
        elif group_by is GroupBy.SQUAD:
            keys = tier if tier is not None else sorted(ref.squads)
        answer[group_by] = tabulate(
            group_by,
            counted.get(group_by.value, {}),
            timed.get(group_by.value, {}),
            total,
            weights,
            namer(group_by, ref),
            keys,
        )
    return answer


async def monthly_report(
    pool: store.Pool,
    ref: reference.Reference,
    tz: tzinfo,
    month: str | None,
    fmt: reports.ReportFormat,
    *,
    now: datetime,
    weights: Mapping[str, float],
    zone_level: str = "street",
    squad_id: str | None = None,
    hotline_rules: HotlineRules = DEFAULT_HOTLINE_RULES,
) -> tuple[str, bytes]:
    """The monthly report (执法数据统计信息表) of ``month`` (YYYY-MM): its file name and bytes,
    with the month's 12345 figures (``dispatcher.store.hotline_figures``) on a sheet of their
    own."""
    period = month_period(month, tz, now)
    assert month is not None
    found = await figures(
        pool,
        ref,
        tz,
        period,
        reports.GROUPINGS,
        zone_level=zone_level,
        weights=weights,
        squad_id=squad_id,
    )
    tier = None if squad_id is None else sorted(ref.scope(squad_id))
    hotline = await hotline_figures.figures(pool, period, hotline_rules, squad_ids=tier)
    # the planned inspections' sheet (双随机检查), when the month had any
    tasks = await inspections.facts(pool, period.start, period.end, tier)
    squads = {k: v for k, v in ref.squads.items() if tier is None or k in tier}
    planned = inspection_figures.by_squad(tasks, squads, period.as_of, rolled_up=False)
    meta = reports.meta_for(month, period.to_json(tz), now, tz)
    body = await asyncio.to_thread(
        reports.render, fmt, found, meta, weights, hotline, planned if tasks else None
    )
    return reports.filename(month, fmt), body


async def monthly_from_database(
    database_url: str,
    tz: tzinfo,
    month: str,
    fmt: reports.ReportFormat,
    weights: Mapping[str, float],
    *,
    now: datetime | None = None,
) -> bytes:
    """``dispatch report monthly``: the report of ``month``, read straight from the database,
    judged at ``now`` (default: the present) like ``GET /api/v1/reports/monthly``."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        ref = await reference.load(pool)
        _, body = await monthly_report(
            pool, ref, tz, month, fmt, now=now or datetime.now(UTC), weights=weights
        )
    finally:
        await pool.close()
    return body
