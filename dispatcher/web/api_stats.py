"""HTTP handlers for the figures (docs/API.md §7): ``/api/v1/stats`` and the monthly report.

Both read the period's facts from the history (:mod:`dispatcher.store.figures`) and compute
with :mod:`dispatcher.core.stats`, so the report's numbers are the API's. Auditors, operators and
admins read every squad's figures; a squad's holder only its own tier's (the incidents last
dispatched to its squad or a squad below it, rolled up); device tokens none (docs/API.md §2).
Asking for a squad's figures gives its tier's: the squad and every squad below it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any, Final, TypeVar
from urllib.parse import quote

from aiohttp import web
from multidict import MultiMapping

from dispatcher.core.auth import READ_ALL, Principal, Role
from dispatcher.core.errors import Forbidden, ValidationFailed
from dispatcher.core.periods import Period, parse_period
from dispatcher.core.reports import MEDIA_TYPES, ReportFormat
from dispatcher.core.stats import DEFINITIONS, RATES, RULES, Figures, GroupBy, parse_weights
from dispatcher.store import hotspots
from dispatcher.store.figures import figures, monthly_report
from dispatcher.web import context as http
from geo.zones import ZoneIndex, ZoneLevel

DEFAULT_ZONE_LEVEL: Final = ZoneLevel.STREET
HOTSPOT_DEFAULT: Final = timedelta(days=30)
HOTSPOT_MAX: Final = timedelta(days=92)

_E = TypeVar("_E", bound=StrEnum)


def choice(query: MultiMapping[str], name: str, kind: type[_E], default: _E) -> _E:
    """A query parameter that must be one of ``kind``'s values (422 naming it otherwise)."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        allowed = "|".join(member.value for member in kind)
        raise ValidationFailed(f"{name}: expected one of {allowed}", field=name) from None


def figures_scope(who: Principal, requested: str | None) -> str | None:
    """The squad whose figures the caller may read (None: every squad's)."""
    if who.role in READ_ALL:
        return requested or None
    if who.role is Role.SQUAD and who.squad_id is not None:
        if requested and not who.covers([requested]):
            raise Forbidden("a squad's holder reads only its own tier's figures")
        return requested or who.squad_id
    raise Forbidden(f"a {who.role} token may not read figures")


def stats_json(
    figures: Figures,
    period: Period,
    tz: tzinfo,
    weights: Mapping[str, float],
    zone_level: ZoneLevel,
    squad_id: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        **period.to_json(tz),
        "group_by": figures.group_by.value,
        "weights": dict(weights),
        "groups": [g.to_json() for g in figures.groups],
        "total": figures.total.to_json(),
        "formulas": {name: DEFINITIONS[name] for name in RATES},
        "rules": list(RULES),
    }
    if figures.group_by is GroupBy.ZONE:
        body["zone_level"] = zone_level.value
    if squad_id is not None:
        body["squad_id"] = squad_id
    return body


async def get_stats(request: web.Request) -> web.Response:
    rt = http.runtime(request)
    query = request.query
    squad_id = figures_scope(http.principal(request), query.get("squad_id"))
    group_by = choice(query, "group_by", GroupBy, GroupBy.SQUAD)
    zone_level = choice(query, "zone_level", ZoneLevel, DEFAULT_ZONE_LEVEL)
    weights = parse_weights(query.get("weights"), rt.settings.score_weights.as_dict())
    tz = rt.settings.zone
    period = parse_period(
        query.get("from"), query.get("to"), query.get("as_of"), tz, datetime.now(UTC)
    )
    found = await figures(
        rt.pool,
        rt.ref,
        tz,
        period,
        [group_by],
        zone_level=zone_level.value,
        weights=weights,
        squad_id=squad_id,
    )
    return http.json_response(
        stats_json(found[group_by], period, tz, weights, zone_level, squad_id)
    )


async def get_monthly_report(request: web.Request) -> web.Response:
    rt = http.runtime(request)
    query = request.query
    squad_id = figures_scope(http.principal(request), query.get("squad_id"))
    fmt = choice(query, "format", ReportFormat, ReportFormat.XLSX)
    zone_level = choice(query, "zone_level", ZoneLevel, DEFAULT_ZONE_LEVEL)
    weights = parse_weights(query.get("weights"), rt.settings.score_weights.as_dict())
    month = query.get("month")
    name, body = await monthly_report(
        rt.pool,
        rt.ref,
        rt.settings.zone,
        month,
        fmt,
        now=datetime.now(UTC),
        weights=weights,
        zone_level=zone_level.value,
        squad_id=squad_id,
        hotline_rules=rt.policy.rules.hotline,
    )
    ascii_name = f"report-{month}.{fmt.value}"
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return web.Response(
        body=body,
        headers={"Content-Type": MEDIA_TYPES[fmt], "Content-Disposition": disposition},
    )


class HeatLevel(StrEnum):
    GRID = "grid"
    COMMUNITY = "community"
    STREET = "street"
    CELLS = "cells"  # squares of cell_m metres, for a deployment without grid zones


def number(query: MultiMapping[str], name: str, default: float, low: float, high: float) -> float:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValidationFailed(f"{name}: a number", field=name) from None
    if not low <= value <= high:
        raise ValidationFailed(f"{name}: from {low:g} to {high:g}", field=name)
    return value


def hotspot_query(request: web.Request) -> hotspots.Query:
    """Period (default: the last 30 days), category and the caller's squad scope."""
    rt = http.runtime(request)
    query = request.query
    squad_id = figures_scope(http.principal(request), query.get("squad_id"))
    now = datetime.now(UTC)
    start = query.get("from") or (now - HOTSPOT_DEFAULT).isoformat()
    end = query.get("to") or now.isoformat()
    period = parse_period(start, end, None, rt.settings.zone, now)
    if period.end - period.start > HOTSPOT_MAX:
        raise ValidationFailed(f"to: hot spots cover at most {HOTSPOT_MAX.days} days", field="to")
    category = query.get("category") or None
    if category is not None and category not in rt.ref.categories:
        raise ValidationFailed(f"category: unknown category code {category!r}", field="category")
    tier = None if squad_id is None else sorted(http.runtime(request).ref.scope(squad_id))
    return hotspots.Query(period.start, period.end, category, tier)


async def get_hotspots(request: web.Request) -> web.Response:
    rt = http.runtime(request)
    level = choice(request.query, "level", HeatLevel, HeatLevel.GRID)
    cell_m = number(request.query, "cell_m", 200.0, 10.0, 5000.0)
    q = hotspot_query(request)
    points = await hotspots.read_points(rt.pool, q, complaints=False)
    zones = rt.ref.zones
    if level is HeatLevel.CELLS:
        origin = _origin(zones, points)
        body = await asyncio.to_thread(hotspots.cell_heat, points, cell_m, origin)
    else:
        body = await asyncio.to_thread(hotspots.zone_heat, points, zones.zones, level.value)
    return http.json_response({**body, **_period(q, rt.settings.zone)})


async def get_repeats(request: web.Request) -> web.Response:
    rt = http.runtime(request)
    radius_m = number(request.query, "radius_m", 50.0, 1.0, 2000.0)
    min_count = int(number(request.query, "min_count", 3, 2, 1000))
    top = int(number(request.query, "top", 20, 1, 500))
    q = hotspot_query(request)
    points = await hotspots.read_points(rt.pool, q, complaints=True)
    body = await asyncio.to_thread(
        hotspots.repeat_places, points, radius_m, min_count, top, rt.settings.zone
    )
    return http.json_response({**body, **_period(q, rt.settings.zone)})


def _origin(zones: ZoneIndex, points: Any) -> tuple[float, float]:
    """The zone set's centre, or the points' rounded to 0.1°: cells stay put between queries."""
    if zones.zones:
        return (zones.frame.lon0, zones.frame.lat0)
    if points.empty:
        return (0.0, 0.0)
    return (round(float(points.geometry.x.mean()), 1), round(float(points.geometry.y.mean()), 1))


def _period(q: hotspots.Query, tz: tzinfo) -> dict[str, Any]:
    return {
        "from": q.start.astimezone(tz).isoformat(),
        "to": q.end.astimezone(tz).isoformat(),
        "category": q.category,
    }


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/stats", get_stats)
    router.add_get("/api/v1/reports/monthly", get_monthly_report)
    router.add_get("/api/v1/hotspots", get_hotspots)
    router.add_get("/api/v1/hotspots/repeats", get_repeats)
