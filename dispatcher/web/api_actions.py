"""``POST /api/v1/incidents/{id}/actions`` (docs/API.md §5) and supervision records.

The incident row (and, for a merge, the other one) is locked for the whole transaction, so
two actions racing on one incident, in one process or two, are decided one after the other
and the second sees the first's result: it never both succeeds.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from dispatcher.core.auth import READ_ALL, Role, require_read_incident, require_role
from dispatcher.core.errors import NotFound
from dispatcher.core.lifecycle import Action, Context, decide, parse_action
from dispatcher.store import records as store
from dispatcher.store import timers
from dispatcher.store import units as units_store
from dispatcher.web import api_duty, api_units, cases
from dispatcher.web import context as http

#: roles that may take actions at all (which actions, on what, is lifecycle.authorise's)
ACTORS: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.SQUAD})
SELECT_SUPERVISIONS: Final = """
SELECT id, kind, opened_at, opened_by, note, notified, closed_at
FROM supervisions WHERE incident_id = $1 ORDER BY id"""


async def post_action(request: web.Request) -> web.Response:
    who = http.principal(request)
    rt = http.runtime(request)
    incident_id = request.match_info["id"]
    # who may act at all, and a squad on this incident, before the body is read: a refusal
    # must not depend on (or reveal anything through) the body
    require_role(who, ACTORS, "act on incidents")
    if who.role is Role.SQUAD:
        seen = await store.get_incident(rt.pool, incident_id)
        if seen is None:
            raise NotFound(f"no incident {incident_id}")
        require_read_incident(who, seen.squad_ids)
    cmd = parse_action(await request.read())
    ids = [incident_id]
    if cmd.action is Action.MERGE and cmd.into and cmd.into != incident_id:
        ids.append(cmd.into)
    async with rt.changes.begin(ids) as work:
        incident = work.incident(incident_id)
        if incident is None:
            raise NotFound(f"no incident {incident_id}")
        require_read_incident(who, incident.squad_ids)
        recommendation = None
        if cmd.action is Action.DISPATCH and not cmd.squad_id:
            recommendation = await api_duty.with_duty(
                rt, incident, cases.recommendation_for(rt, incident)
            )
        ctx = Context(
            category=rt.ref.categories.get(incident.category),
            squads=rt.ref.squads,
            recommended_squad_id=recommendation.squad_id if recommendation else None,
            support_squad_ids=recommendation.support_squad_ids if recommendation else (),
            target=work.incident(cmd.into) if cmd.into else None,
        )
        decision = decide(incident, cmd, who, work.now, ctx, work.rules)
        unit = None
        if cmd.action is Action.DISPATCH and cmd.unit_id:
            # the named unit goes en route in the dispatch's own transaction (422 if it may not)
            squads = decision.incident.squad_ids
            unit = await units_store.assign(work.conn, cmd.unit_id, squads, who.actor, work.now)
        for changed in (decision.incident, decision.target):
            if changed is not None:
                work.save(changed)
        if decision.supervision is not None:
            kind, note = decision.supervision
            work.supervise(incident.id, kind, note, who.actor)
        work.record(decision.events)
    if unit is not None:
        await api_units.announce(rt, unit)
    return http.json_response(cases.present(rt, decision.incident))


async def list_supervisions(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, READ_ALL, "read supervision records")
    rt = http.runtime(request)
    rows = await rt.pool.fetch(SELECT_SUPERVISIONS, request.match_info["id"])
    found = [timers.supervision_json(r, rt.settings.zone) for r in rows]
    return http.json_response({"supervisions": found})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/api/v1/incidents/{id}/actions", post_action)
    router.add_get("/api/v1/incidents/{id}/supervisions", list_supervisions)
