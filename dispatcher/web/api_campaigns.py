"""Campaigns (专项整治) and the figures of planned enforcement: ``/api/v1/campaigns``,
``GET /api/v1/stats/inspections`` (docs/API.md §13).

A campaign's incidents and inspection tasks are computed when read (:mod:`dispatcher.core.
campaigns`); its progress is shown per squad. The inspection figures are counted per squad, or
per squad over its whole tier (``rolled_up``), with their definitions beside them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from dispatcher.core import campaigns as core
from dispatcher.core import inspection_figures as figures
from dispatcher.core import tiers
from dispatcher.core.auth import ACT_ALL, READ_ALL, Role, require_role
from dispatcher.core.errors import NotFound, ValidationFailed
from dispatcher.core.periods import parse_period
from dispatcher.core.supervision import parse
from dispatcher.store import inspections as store
from dispatcher.web import context as http
from dispatcher.web.api_stats import figures_scope

PREFIX: Final = "/api/v1/campaigns"
STATS: Final = "/api/v1/stats/inspections"
READERS: Final = frozenset({*READ_ALL, Role.SQUAD})
_ID: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")


async def post_campaign(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, ACT_ALL, "open campaigns")
    rt = http.runtime(request)
    cmd = parse(core.CampaignIn, await request.read())
    for n, category in enumerate(cmd.categories):
        if category not in rt.ref.categories:
            raise ValidationFailed(
                f"categories.{n}: unknown category {category}", field=f"categories.{n}"
            )
    now = datetime.now(UTC)
    async with rt.pool.acquire() as conn:
        number = await store.next_number(conn, "campaign_no")
        campaign = {
            "id": store.campaign_id(number, now, rt.settings.zone),
            "name": cmd.name,
            "starts_at": cmd.starts_at,
            "ends_at": cmd.ends_at,
            "zone_ids": list(dict.fromkeys(cmd.zone_ids)),
            "categories": list(dict.fromkeys(cmd.categories)),
            "place_kinds": [k.value for k in dict.fromkeys(cmd.place_kinds)],
            "targets": dict(cmd.targets),
            "created_at": now,
            "created_by": who.actor,
        }
        await store.insert_campaign(conn, campaign)
    return http.json_response(
        core.to_doc(campaign, rt.settings.zone),
        status=201,
        headers={"Location": f"{PREFIX}/{campaign['id']}"},
    )


async def list_campaigns(request: web.Request) -> web.Response:
    require_role(http.principal(request), READERS, "read campaigns")
    rt = http.runtime(request)
    found = await store.list_campaigns(rt.pool)
    return http.json_response({"campaigns": [core.to_doc(c, rt.settings.zone) for c in found]})


async def get_progress(request: web.Request) -> web.Response:
    """A campaign's progress per squad (a squad's holder: the squads of its tier)."""
    who = http.principal(request)
    require_role(who, READERS, "read campaigns")
    rt = http.runtime(request)
    campaign_id = request.match_info["id"]
    campaign = (
        await store.get_campaign(rt.pool, campaign_id) if _ID.fullmatch(campaign_id) else None
    )
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}")
    squads = who.squads() if who.role is Role.SQUAD else None
    tasks = await store.facts(rt.pool, campaign["starts_at"], campaign["ends_at"], squads, campaign)
    incidents = await store.campaign_incidents(rt.pool, campaign)
    if squads is not None:
        incidents = {k: v for k, v in incidents.items() if k in squads}
    body: dict[str, Any] = {
        "campaign": core.to_doc(campaign, rt.settings.zone),
        **core.progress(campaign, tasks, incidents, rt.ref.squads, datetime.now(UTC)),
        "definitions": dict(figures.DEFINITIONS),
    }
    return http.json_response(body)


async def get_stats(request: web.Request) -> web.Response:
    """Inspections planned, done, on time, places inspected, 综合查一次 share, visits saved and
    findings per 100 inspections, per squad (``rolled_up``: over each squad's tier)."""
    who = http.principal(request)
    require_role(who, READERS, "read inspection figures")
    rt = http.runtime(request)
    query = request.query
    tier = figures_scope(who, query.get("squad_id"))
    if tier is not None and tier not in rt.ref.squads:
        raise ValidationFailed(f"squad_id: no squad {tier}", field="squad_id")
    rolled = query.get("rolled_up", "false")
    if rolled not in ("true", "false"):
        raise ValidationFailed("rolled_up: true or false", field="rolled_up")
    tz = rt.settings.zone
    now = datetime.now(UTC)
    period = parse_period(query.get("from"), query.get("to"), None, tz, now)
    covered = tiers.subtree(tier, rt.ref.squads) if tier is not None else None
    facts = await store.facts(rt.pool, period.start, period.end, covered)
    squads = rt.ref.squads
    if covered is not None:
        squads = {k: v for k, v in squads.items() if k in covered}
    rows = figures.by_squad(facts, squads, now, rolled_up=rolled == "true")
    return http.json_response(
        {
            **period.to_json(tz),
            "squad_id": tier,
            "rolled_up": rolled == "true",
            "groups": rows[:-1],
            "total": rows[-1],
            "labels": dict(figures.LABELS),
            "definitions": dict(figures.DEFINITIONS),
        }
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post(PREFIX, post_campaign)
    router.add_get(PREFIX, list_campaigns)
    router.add_get(PREFIX + "/{id}/progress", get_progress)
    router.add_get(STATS, get_stats)
