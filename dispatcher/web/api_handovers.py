"""HTTP handlers for hand-overs to other departments (移送, docs/API.md §16).

Routes::

    GET  /api/v1/departments                   the departments (DISPATCH_DEPARTMENTS)
    POST /api/v1/departments/{id}/tokens       admin: a device token speaking for department {id}
    POST /api/v1/incidents/{id}/handovers      admin, operator: hand an incident over
    GET  /api/v1/handovers?department=&state=&incident_id=&limit=
    GET  /api/v1/handovers/{id}
    POST /api/v1/handovers/{id}/actions        accept | refuse | report (the department, or the
                                               centre for it); close | take_back (the centre)
    GET  /api/v1/stats/handovers?from=&to=&squad_id=   the figures (readers as /api/v1/stats)

A department's token is a ``device`` token with the department's code (``tokens.department``):
it reads and answers only its department's hand-overs. Every step changes the incident through
the one change path and is an event of its history (action ``handover.<step>``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from dispatcher.core import departments as core
from dispatcher.core.auth import ACT_ALL, READ_ALL, Principal, Role, require_role
from dispatcher.core.duty import parse
from dispatcher.core.errors import InvalidTransition, NotFound, ValidationFailed
from dispatcher.core.handover import Handover, HandoverState
from dispatcher.core.periods import parse_period
from dispatcher.core.validation import Clean
from dispatcher.store import handovers as store
from dispatcher.web import api_stats, cases
from dispatcher.web import context as http

#: who reads hand-overs (a device only with a department: its own)
READERS: Final = frozenset({*READ_ALL, Role.DEVICE})
ANSWERERS: Final = frozenset({*ACT_ALL, Role.DEVICE})
MAX_LIST: Final = 500


class DepartmentTokenIn(BaseModel):
    """The body of ``POST /api/v1/departments/{id}/tokens``."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    name: Annotated[str, Field(min_length=1, max_length=200), Clean]
    expires_at: AwareDatetime | None = None


def departments(rt: http.Runtime) -> dict[str, core.Department]:
    return {code: core.Department(code, name) for code, name in rt.settings.departments}


async def _department(rt: http.Runtime, who: Principal) -> str | None:
    """The department the caller speaks for: a device token's (None for the others)."""
    if who.role is not Role.DEVICE:
        return None
    return await store.token_department(rt.pool, who.actor)


def _doc(rt: http.Runtime, h: Handover) -> dict[str, Any]:
    named = departments(rt).get(h.department)
    return h.to_doc(rt.settings.zone, named.name if named else None)


async def list_departments(request: web.Request) -> web.Response:
    require_role(http.principal(request), READERS, "read departments")
    rt = http.runtime(request)
    found = [{"code": d.code, "name": d.name} for d in departments(rt).values()]
    return http.json_response({"departments": found})


async def post_department_token(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, {Role.ADMIN}, "create tokens")
    rt = http.runtime(request)
    code = request.match_info["id"]
    if code not in departments(rt):
        raise NotFound(f"no department {code}")
    body = parse(DepartmentTokenIn, await request.read())
    described, secret = await rt.tokens.create(
        Role.DEVICE, body.name, None, body.expires_at, who.actor, rt.settings.zone
    )
    await store.set_token_department(rt.pool, described["id"], code)
    return http.json_response({**described, "department": code, "token": secret}, status=201)


async def post_handover(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, ACT_ALL, "hand incidents over to other departments")
    rt = http.runtime(request)
    incident_id = request.match_info["id"]
    body = parse(core.HandOverIn, await request.read())
    department = core.department_of(body.department, departments(rt))
    async with rt.changes.begin([incident_id]) as work:
        incident = work.incident(incident_id)
        if incident is None:
            raise NotFound(f"no incident {incident_id}")
        number = await store.next_id(work.conn, work.now, rt.settings.zone)
        decision = core.hand_over(
            incident, department, body.reason, number, who, work.now, work.rules
        )
        work.save(decision.incident)
        await store.save(work.conn, decision.handover)
        work.record([decision.event])
    answer = {
        "handover": _doc(rt, decision.handover),
        "incident": cases.present(rt, decision.incident),
    }
    return http.json_response(answer, status=201)


async def post_action(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, ANSWERERS, "answer hand-overs")
    rt = http.runtime(request)
    handover_id = request.match_info["id"]
    seen = await store.get(rt.pool, handover_id)
    if seen is None:
        raise NotFound(f"no hand-over {handover_id}")
    department = await _department(rt, who)
    if who.role is Role.DEVICE and department != seen.department:
        raise NotFound(f"no hand-over {handover_id}")
    cmd = parse(core.HandoverActionIn, await request.read())
    async with rt.changes.begin([seen.incident_id]) as work:
        incident = work.incident(seen.incident_id)
        if incident is None:
            raise NotFound(f"no incident {seen.incident_id}")
        current = incident.progress.handover
        if current is None or current.id != handover_id:
            raise InvalidTransition(f"hand-over {handover_id} is no longer the incident's")
        decision = core.act(incident, current, cmd, who, department, work.now, work.rules)
        work.save(decision.incident)
        await store.save(work.conn, decision.handover)
        work.record([decision.event])
    answer = {
        "handover": _doc(rt, decision.handover),
        "incident": cases.present(rt, decision.incident),
    }
    return http.json_response(answer)


async def list_handovers(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, READERS, "read hand-overs")
    rt = http.runtime(request)
    query = request.query
    wanted = [query["department"]] if query.get("department") else None
    if who.role is Role.DEVICE:
        own = await _department(rt, who)
        if own is None or (wanted is not None and wanted != [own]):
            return http.json_response({"handovers": [], "count": 0})
        wanted = [own]
    states = None
    if query.get("state"):
        states = [s.strip() for s in query["state"].split(",") if s.strip()]
        allowed = {s.value for s in HandoverState}
        if not set(states) <= allowed:
            raise ValidationFailed(
                f"state: one or more of {'|'.join(sorted(allowed))}", field="state"
            )
    try:
        limit = int(query.get("limit", "100"))
    except ValueError:
        limit = -1
    if not 0 < limit <= MAX_LIST:
        raise ValidationFailed(f"limit: 1 to {MAX_LIST}", field="limit")
    found = await store.listed(rt.pool, wanted, states, query.get("incident_id"), limit)
    return http.json_response({"handovers": [_doc(rt, h) for h in found], "count": len(found)})


async def get_handover(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, READERS, "read hand-overs")
    rt = http.runtime(request)
    found = await store.get(rt.pool, request.match_info["id"])
    if (
        found is not None
        and who.role is Role.DEVICE
        and await _department(rt, who) != found.department
    ):
        found = None
    if found is None:
        raise NotFound(f"no hand-over {request.match_info['id']}")
    return http.json_response(_doc(rt, found))


async def get_stats(request: web.Request) -> web.Response:
    who = http.principal(request)
    rt = http.runtime(request)
    query = request.query
    squad_id = api_stats.figures_scope(who, query.get("squad_id"))
    tz = rt.settings.zone
    period = parse_period(
        query.get("from"), query.get("to"), query.get("as_of"), tz, datetime.now(UTC)
    )
    found = await store.of_period(rt.pool, period.start, period.received_before)
    if squad_id is not None:
        tier = rt.ref.scope(squad_id)
        found = [h for h in found if h.squad_id in tier]
    groups, total = core.handover_figures(found, departments(rt))
    return http.json_response(
        {
            **period.to_json(tz),
            "squad_id": squad_id,
            "clock": core.HELD_CLOCK.value,
            "groups": [g.to_json() for g in groups],
            "total": total.to_json(),
        }
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/departments", list_departments)
    router.add_post("/api/v1/departments/{id}/tokens", post_department_token)
    router.add_post("/api/v1/incidents/{id}/handovers", post_handover)
    router.add_get("/api/v1/handovers", list_handovers)
    router.add_get("/api/v1/handovers/{id}", get_handover)
    router.add_post("/api/v1/handovers/{id}/actions", post_action)
    router.add_get("/api/v1/stats/handovers", get_stats)
