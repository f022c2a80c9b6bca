"""HTTP handlers of the channels in: batch import, duplicates, unmerge, visits (顺路处置).

CAP alerts (``api_cap``) and the Open311 server (``api_open311``) have modules of their own;
:func:`add_routes` adds all of them to the route table.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, Final

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dispatcher.core import batch, dedup, orders_sheet, visits
from dispatcher.core.auth import (
    ACT_ALL,
    INTAKE,
    READ_ALL,
    Role,
    require_read_incident,
    require_role,
)
from dispatcher.core.errors import (
    DispatchError,
    Forbidden,
    InvalidTransition,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from dispatcher.core.incidents import Incident
from dispatcher.core.lifecycle import Action, ActionIn, Context, decide
from dispatcher.core.validation import validation_error
from dispatcher.store import records as store
from dispatcher.web import api_cap, api_open311, cases
from dispatcher.web import context as http

SELECT_DUPLICATES: Final = """
SELECT doc FROM incidents WHERE duplicate_of = $1 ORDER BY received_at, id LIMIT $2"""
#: the open incidents a squad has or is about to get (its recommended ones, not yet sent)
SELECT_SQUAD_OPEN: Final = """
SELECT doc FROM incidents
WHERE state IN ('registered', 'returned', 'dispatched', 'accepted')
  AND (squad_id = $1 OR $1 = ANY(support_squad_ids)
       OR (squad_id IS NULL AND doc->>'recommended_squad_id' = $1))
ORDER BY received_at LIMIT $2"""
MAX_DUPLICATES: Final = 5000
MAX_VISITABLE: Final = 5000


# -- batch ---------------------------------------------------------------------------------


async def _read_limited(request: web.Request, limit: int) -> bytes:
    """The body, refused with 413 beyond ``limit`` (the batch route's own limit)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"a batch is at most {limit // (1024 * 1024)} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


async def post_batch(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, INTAKE, "import incidents")
    rt = http.runtime(request)
    body = await _read_limited(request, batch.MAX_BYTES)
    sheet = orders_sheet.media_type_of(request.content_type)
    if sheet is not None:  # 12345 work orders as a bureau's CSV or Excel sheet
        lines = orders_sheet.parse_sheet(body, sheet, rt.settings.zone)
    else:
        lines = batch.parse_lines(body.split(b"\n"))
    if len(lines) > batch.MAX_LINES:
        raise PayloadTooLarge(f"a batch is at most {batch.MAX_LINES} lines, not {len(lines)}")

    async def one(line: batch.Line) -> dict[str, Any]:
        if line.report is None:
            return batch.result(line, None, False)
        try:
            incident, created = await cases.intake(rt, line.report, who)
        except DispatchError as exc:
            return batch.result(replace(line, error=exc), None, False)
        return batch.result(line, incident.to_doc(rt.settings.zone), created)

    results = await asyncio.gather(*(one(line) for line in lines))
    return http.json_response(batch.summary(list(results)))


# -- duplicates and unmerge ----------------------------------------------------------------


async def get_duplicates(request: web.Request) -> web.Response:
    """The reports merged into an incident, each with its source, external id and media."""
    rt = http.runtime(request)
    target = await store.get_incident(rt.pool, request.match_info["id"])
    if target is None:
        raise NotFound(f"no incident {request.match_info['id']}")
    require_read_incident(http.principal(request), target.squad_ids)
    rows = await rt.pool.fetch(SELECT_DUPLICATES, target.id, MAX_DUPLICATES)
    docs = [store.decode_doc(r["doc"]).to_doc(rt.settings.zone) for r in rows]
    return http.json_response({"id": target.id, "duplicates": docs, "count": len(docs)})


class UnmergeIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")
    reason: str | None = Field(default=None, max_length=2000)


async def post_unmerge(request: web.Request) -> web.Response:
    """Make a merged report an incident of its own again (``reported``, for the operator)."""
    who = http.principal(request)
    require_role(who, ACT_ALL, "unmerge incidents")
    rt = http.runtime(request)
    body = await request.read()
    try:
        cmd = UnmergeIn.model_validate_json(body or b"{}")
    except ValidationError as exc:
        raise validation_error(exc) from None
    record_id = request.match_info["id"]
    async with rt.changes.begin() as work:
        record = await store.get_incident(work.conn, record_id)
        if record is None:
            raise NotFound(f"no incident {record_id}")
        if record.duplicate_of is None:
            raise InvalidTransition(
                f"incident {record.id} is {record.state.value}, not merged into another",
                details={"state": record.state.value, "action": "unmerge"},
            )
        locked = await work.lock({record.id, record.duplicate_of})
        record, target = locked[record.id], locked.get(record.duplicate_of or "")
        if target is None:
            raise NotFound(f"no incident {record.duplicate_of}")
        detached = dedup.detach(record, target, work.now, who.actor, who.role.value, cmd.reason)
        work.save(detached.record)
        work.save(detached.target)
        work.record(detached.events)
    return http.json_response(cases.present(rt, detached.record))


# -- visits --------------------------------------------------------------------------------


def _squad_of(request: web.Request) -> str:
    who = http.principal(request)
    squad_id = request.query.get("squad_id") or request.match_info.get("squad_id")
    if who.role is Role.SQUAD:
        if squad_id is not None and not who.covers([squad_id]):
            raise Forbidden("a squad's holder sees only its own tier's visits")
        squad_id = squad_id or who.squad_id
    else:
        require_role(who, READ_ALL, "read visits")
    if not squad_id:
        raise ValidationFailed("squad_id: name the squad", field="squad_id")
    return squad_id


async def _visits(rt: http.Runtime, conn: Any, squad_id: str) -> list[visits.Visit]:
    rows = await conn.fetch(SELECT_SQUAD_OPEN, squad_id, MAX_VISITABLE)
    incidents = [store.decode_doc(r["doc"]) for r in rows]
    return visits.group(incidents, rt.settings.visit_radius_m)


async def get_visits(request: web.Request) -> web.Response:
    rt = http.runtime(request)
    squad_id = _squad_of(request)
    found = await _visits(rt, rt.pool, squad_id)
    return http.json_response(
        {"squad_id": squad_id, "visits": [v.to_json(squad_id) for v in found], "count": len(found)}
    )


async def post_visit_dispatch(request: web.Request) -> web.Response:
    """Dispatch every incident of a visit that waits for it, together, to the visit's squad."""
    who = http.principal(request)
    require_role(who, ACT_ALL, "dispatch visits")
    rt = http.runtime(request)
    squad_id = _squad_of(request)
    wanted = request.match_info["visit_id"]
    async with rt.changes.begin() as work:
        visit = next((v for v in await _visits(rt, work.conn, squad_id) if v.id == wanted), None)
        if visit is None:
            raise NotFound(f"no visit {wanted} for {squad_id} now; list the visits again")
        locked = await work.lock(i.id for i in visit.to_dispatch)
        sent: list[Incident] = []
        for incident in (locked[i] for i in sorted(locked)):
            cmd = ActionIn(action=Action.DISPATCH, squad_id=squad_id)
            ctx = Context(rt.ref.categories.get(incident.category), rt.ref.squads, visit_id=wanted)
            decision = decide(incident, cmd, who, work.now, ctx, work.rules)
            sent.append(work.save(decision.incident))
            work.record(decision.events)
    body = visit.to_json(squad_id)
    body["dispatched"] = [i.id for i in sent]
    return http.json_response(body)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/api/v1/incidents:batch", post_batch)
    router.add_get("/api/v1/incidents/{id}/duplicates", get_duplicates)
    router.add_post("/api/v1/incidents/{id}/unmerge", post_unmerge)
    router.add_get("/api/v1/visits", get_visits)
    router.add_post("/api/v1/visits/{visit_id}/dispatch", post_visit_dispatch)
    api_cap.add_routes(router)
    api_open311.add_routes(router)
