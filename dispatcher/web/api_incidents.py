"""HTTP handlers for incidents: intake (docs/API.md §4), reading, recommendations."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from aiohttp import web

from dispatcher.core.auth import INTAKE, Principal, Role, require_read_incident, require_role
from dispatcher.core.errors import Forbidden, NotFound, ValidationFailed
from dispatcher.core.incidents import Incident, State
from dispatcher.core.intake import parse_report
from dispatcher.core.routing import Recommendation
from dispatcher.core.supervision import KIND_LABELS, STATE_LABELS, Kind
from dispatcher.core.supervision import State as SupervisionState
from dispatcher.store import records as store
from dispatcher.web import api_duty, api_units, cases
from dispatcher.web import context as http
from dispatcher.web.ratelimit import device_key

MAX_LIST: Final = 1000
SELECT_COVERING: Final = """
SELECT id, kind, state, colour, deadline FROM supervision_items
WHERE incident_ids @> ARRAY[$1::text] ORDER BY opened_at, id"""


async def post_incident(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, INTAKE, "post incidents")
    rt = http.runtime(request)
    report = parse_report(await request.read())
    await rt.limiter.take(device_key(who, report.device_id))
    incident, created = await cases.intake(rt, report, who)
    return http.json_response(cases.present(rt, incident), status=201 if created else 200)


async def _readable(request: web.Request) -> Incident:
    rt = http.runtime(request)
    incident = await store.get_incident(rt.pool, request.match_info["id"])
    if incident is None:
        raise NotFound(f"no incident {request.match_info['id']}")
    require_read_incident(http.principal(request), incident.squad_ids)
    return incident


async def get_incident(request: web.Request) -> web.Response:
    rt = http.runtime(request)
    incident = await _readable(request)
    doc = cases.present(rt, incident)
    history = await store.history_of(rt.pool, incident.id)
    # who acted, by name: a person's, a token's, or 系统 for the system's own steps
    names = await rt.people.names(entry["actor"] for entry in history)
    for entry in history:
        entry["at"] = entry["at"].astimezone(rt.settings.zone).isoformat(timespec="milliseconds")
        entry["actor_name"] = names.get(entry["actor"])
    doc["history"] = history
    # the supervision items (督办单) covering it: their steps are in their own history
    covering = await rt.pool.fetch(SELECT_COVERING, incident.id)
    doc["supervision_items"] = [
        {
            "id": r["id"],
            "kind": r["kind"],
            "kind_label": KIND_LABELS[Kind(r["kind"])],
            "state": r["state"],
            "state_label": STATE_LABELS[SupervisionState(r["state"])],
            "colour": r["colour"],
            "deadline": r["deadline"].astimezone(rt.settings.zone).isoformat(),
        }
        for r in covering
    ]
    return http.json_response(doc)


def _filter(request: web.Request, who: Principal) -> store.IncidentFilter:
    q = request.query
    states: list[str] = []
    for raw in q.getall("state", []):
        states.extend(s for s in raw.split(",") if s)
    for s in states:
        if s not in State.__members__.values():
            raise ValidationFailed(f"state: unknown state {s!r}", field="state")
    since = None
    if "since" in q:
        try:
            since = datetime.fromisoformat(q["since"])
        except ValueError:
            raise ValidationFailed("since: an RFC 3339 time", field="since") from None
        if since.tzinfo is None:
            raise ValidationFailed("since: the time needs an offset", field="since")
    try:
        limit = int(q.get("limit", "200"))
    except ValueError:
        raise ValidationFailed("limit: an integer", field="limit") from None
    if not 1 <= limit <= MAX_LIST:
        raise ValidationFailed(f"limit: 1 to {MAX_LIST}", field="limit")
    # a squad's incidents are those of its tier: the squad and every squad below it
    squad_id = q.get("squad_id")
    squad_ids = None if squad_id is None else http.runtime(request).ref.scope(squad_id)
    if who.role is Role.SQUAD:
        if squad_id is not None and not who.covers([squad_id]):
            raise Forbidden("a squad's holder lists only its own tier's incidents")
        squad_ids = squad_ids or who.squads()
    elif who.role is Role.DEVICE:
        raise Forbidden("a device token may not list incidents")
    return store.IncidentFilter(
        states=tuple(states),
        squad_ids=squad_ids,
        zone_id=q.get("zone_id"),
        since=since,
        category=q.get("category"),
        limit=limit,
        before_id=q.get("before"),
    )


async def list_incidents(request: web.Request) -> web.Response:
    rt = http.runtime(request)
    docs = await store.list_incidents(rt.pool, _filter(request, http.principal(request)))
    incidents = [cases.present(rt, store.decode_doc(d)) for d in docs]
    return http.json_response({"incidents": incidents, "count": len(incidents)})


def recommendation_json(rec: Recommendation) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "squad_id": c.squad_id,
                "unit_id": c.unit_id,
                "distance_m": c.distance_m,
                "reasons": list(c.reasons),
            }
            for c in rec.candidates
        ],
        "support_squad_ids": list(rec.support_squad_ids),
        "flags": [f.value for f in rec.flags],
    }


async def get_recommendations(request: web.Request) -> web.Response:
    """The squads for the incident (who is on duty first), each expanded into its best units
    by live position."""
    rt = http.runtime(request)
    incident = await _readable(request)
    # who is on duty and where first (posts, rosters), then each squad's best units
    base = await api_duty.with_duty(rt, incident, cases.recommendation_for(rt, incident))
    recommendation = await api_units.with_live_units(rt, incident, base)
    return http.json_response(recommendation_json(recommendation))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/api/v1/incidents", post_incident)
    router.add_get("/api/v1/incidents", list_incidents)
    router.add_get("/api/v1/incidents/{id}", get_incident)
    router.add_get("/api/v1/incidents/{id}/recommendations", get_recommendations)
