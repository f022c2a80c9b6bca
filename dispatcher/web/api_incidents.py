"""HTTP handlers for incidents: intake (docs/API.md §4), reading, recommendations."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from dispatcher.core.auth import INTAKE, Principal, Role, require_read_incident, require_role
from dispatcher.core.deadlines import live_view
from dispatcher.core.errors import Forbidden, NotFound, ValidationFailed
from dispatcher.core.ids import IncidentId
from dispatcher.core.incidents import Incident, State
from dispatcher.core.intake import IncidentIn, IntakePlan, parse_report, plan_intake
from dispatcher.core.routing import Recommendation, recommend
from dispatcher.store import records as store
from dispatcher.store.journal import Planner
from dispatcher.web import api_units
from dispatcher.web import context as http
from dispatcher.web import intake_services as channels
from dispatcher.web.ratelimit import device_key
from geo.coords import parse_crs, to_wgs84
from geo.errors import InvalidCoordinates

MAX_LIST: Final = 1000


def _prepare(
    rt: http.Runtime,
    report: IncidentIn,
    who: Principal,
    extra: Mapping[str, Any] | None = None,
) -> Planner:
    """Everything intake decides before the incident has an id: category, place, squad."""
    ref = rt.ref
    category = ref.categories.get(report.category)
    if category is None:
        raise ValidationFailed(
            f"category: unknown category code {report.category!r}", field="category"
        )
    try:
        lon, lat = to_wgs84(report.lon, report.lat, parse_crs(report.crs))
    except InvalidCoordinates as exc:
        raise ValidationFailed(str(exc), field=exc.field) from None
    match = ref.zones.match(lon, lat)
    recommendation = recommend(match, category, ref.squads, rt.settings.border_margin_m)

    def planner(incident_id: IncidentId, now: datetime) -> IntakePlan:
        return plan_intake(
            report,
            incident_id=incident_id,
            lon=lon,
            lat=lat,
            now=now,
            actor=who,
            match=match,
            category=category,
            recommendation=recommendation,
            policy=rt.policy,
            extra=extra,
        )

    return planner


async def intake(
    rt: http.Runtime,
    report: IncidentIn,
    who: Principal,
    extra: Mapping[str, Any] | None = None,
) -> tuple[Incident, bool]:
    """Take one validated report in; answer (incident, created) once it is durable.

    ``extra`` adds fields a channel knows beyond the common report (see ``plan_intake``).
    A report that joins an open incident is created as its ``merged`` duplicate record.
    """
    planner = _prepare(rt, report, who, extra)
    key = (report.source.value, report.external_id) if report.external_id else None
    incident, created = await rt.writer.submit(key, planner)
    rt.metrics.intake.labels(report.source.value, "created" if created else "replayed").inc()
    return incident, created


def present(rt: http.Runtime, incident: Incident) -> dict[str, Any]:
    """The incident as the API answers it: stored fields plus remaining time, colour, stage."""
    rules = rt.policy.rules
    doc = incident.to_doc(rules.calendar.tz)
    doc.update(live_view(incident, rules, datetime.now(UTC)))
    return doc


def recommendation_for(rt: http.Runtime, incident: Incident) -> Recommendation:
    """Who should take ``incident``, by the current zones, squads and catalogue."""
    category = rt.ref.categories.get(incident.category)
    if category is None:
        raise NotFound(f"category {incident.category} is no longer in the catalogue")
    match = rt.ref.zones.match(incident.lon, incident.lat)
    return recommend(match, category, rt.ref.squads, rt.settings.border_margin_m)


async def post_incident(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, INTAKE, "post incidents")
    rt = http.runtime(request)
    report = parse_report(await request.read())
    await channels.of(request).limiter.take(device_key(who, report.device_id))
    incident, created = await intake(rt, report, who)
    return http.json_response(present(rt, incident), status=201 if created else 200)


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
    doc = present(rt, incident)
    history = await store.history_of(rt.pool, incident.id)
    for entry in history:
        entry["at"] = entry["at"].astimezone(rt.settings.zone).isoformat(timespec="milliseconds")
    doc["history"] = history
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
    squad_id = q.get("squad_id")
    if who.role is Role.SQUAD:
        if squad_id is not None and squad_id != who.squad_id:
            raise Forbidden("a squad token lists only its own squad's incidents")
        squad_id = who.squad_id
    elif who.role is Role.DEVICE:
        raise Forbidden("a device token may not list incidents")
    return store.IncidentFilter(
        states=tuple(states),
        squad_id=squad_id,
        zone_id=q.get("zone_id"),
        since=since,
        category=q.get("category"),
        limit=limit,
        before_id=q.get("before"),
    )


async def list_incidents(request: web.Request) -> web.Response:
    rt = http.runtime(request)
    docs = await store.list_incidents(rt.pool, _filter(request, http.principal(request)))
    incidents = [present(rt, store.decode_doc(d)) for d in docs]
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
    """The squads for the incident, each expanded into its best units by live position."""
    rt = http.runtime(request)
    incident = await _readable(request)
    recommendation = await api_units.with_live_units(rt, incident, recommendation_for(rt, incident))
    return http.json_response(recommendation_json(recommendation))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/api/v1/incidents", post_incident)
    router.add_get("/api/v1/incidents", list_incidents)
    router.add_get("/api/v1/incidents/{id}", get_incident)
    router.add_get("/api/v1/incidents/{id}/recommendations", get_recommendations)
