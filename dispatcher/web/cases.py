"""The incident use cases the channels share: take a report in, show an incident, name its squad.

Every channel in (the incidents route, the NDJSON batch, CAP alerts, Open311 requests) takes a
report in through :func:`intake`, which decides what it can before the incident has a number
(its category, its place in WGS84, the zones and squad that answer for it) and hands the rest
to the group commit (``dispatcher.store.journal.IntakeWriter``); every handler answers an
incident with :func:`present`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dispatcher.core.auth import Principal
from dispatcher.core.deadlines import live_view
from dispatcher.core.errors import NotFound, ValidationFailed
from dispatcher.core.ids import IncidentId
from dispatcher.core.incidents import Incident
from dispatcher.core.intake import IncidentIn, IntakePlan, plan_intake
from dispatcher.core.routing import Recommendation, recommend
from dispatcher.store.journal import Planner
from dispatcher.web import context as http
from geo.coords import parse_crs, to_wgs84
from geo.errors import InvalidCoordinates


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
