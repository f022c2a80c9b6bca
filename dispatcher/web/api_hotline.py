"""12345 接诉即办 (docs/API.md §5.3): contact, 退单 and 回访 of a work order, and its figures.

- ``POST /api/v1/incidents/{id}/hotline``: an action of :mod:`dispatcher.core.hotline`
  (``contact``, ``ask_sendback``, ``decide_sendback``, ``visit``), taken through the one change
  path: the row locked, the core decides, the row and its history entry written in one
  transaction. An approved 退单 changes the order's state, so the history's outbox trigger
  queues it for the platform (``dispatcher.web.outbox``), as every other state change.
- ``GET /api/v1/stats/hotline``: 办结回复率, 按时联系率, 满意率 and 不满意重办 of the hotline's
  orders received in a period (:func:`dispatcher.core.stats.hotline_figures`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from aiohttp import web

from dispatcher.core.auth import ACT_ALL, Role, require_read_incident, require_role
from dispatcher.core.errors import Forbidden, NotFound
from dispatcher.core.hotline import decide, parse_hotline
from dispatcher.core.periods import parse_period
from dispatcher.store import hotline_figures
from dispatcher.store import records as store
from dispatcher.web import cases
from dispatcher.web import context as http
from dispatcher.web.api_stats import figures_scope

#: who may take a hotline action at all (which, on what, is core.hotline.authorise's)
ACTORS: Final = ACT_ALL | {Role.SQUAD, Role.DEVICE}


async def post_hotline(request: web.Request) -> web.Response:
    """A 12345 work order's contact, 退单 or 回访 (docs/API.md §5.3)."""
    who = http.principal(request)
    rt = http.runtime(request)
    incident_id = request.match_info["id"]
    require_role(who, ACTORS, "act on work orders")
    if who.role in (Role.SQUAD, Role.DEVICE):
        # as for the life cycle's actions: refused before the body is read
        seen = await store.get_incident(rt.pool, incident_id)
        if seen is None:
            raise NotFound(f"no incident {incident_id}")
        if who.role is Role.SQUAD:
            require_read_incident(who, seen.squad_ids)
        elif seen.reported_by != who.actor:
            raise Forbidden("a device token acts only on the work orders it sent")
    cmd = parse_hotline(await request.read())
    async with rt.changes.begin([incident_id]) as work:
        incident = work.incident(incident_id)
        if incident is None:
            raise NotFound(f"no incident {incident_id}")
        decision = decide(incident, cmd, who, work.now, work.rules)
        work.save(decision.incident)
        work.record(decision.events)
    return http.json_response(cases.present(rt, decision.incident))


async def get_hotline_stats(request: web.Request) -> web.Response:
    """12345 figures: 办结回复率, 按时联系率, 满意率, 不满意重办 (docs/API.md §7)."""
    who = http.principal(request)
    rt = http.runtime(request)
    q = request.query
    squad_id = figures_scope(who, q.get("squad_id"))
    tz = rt.settings.zone
    period = parse_period(q.get("from"), q.get("to"), q.get("as_of"), tz, datetime.now(UTC))
    scope = None if squad_id is None else sorted(rt.ref.scope(squad_id))
    found = await hotline_figures.figures(rt.pool, period, rt.policy.rules.hotline, squad_ids=scope)
    body = {**period.to_json(tz), "squad_id": squad_id, **found.to_json()}
    return http.json_response(body)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/api/v1/incidents/{id}/hotline", post_hotline)
    router.add_get("/api/v1/stats/hotline", get_hotline_stats)
