"""Enforcement cases (行政处罚案件): ``/api/v1/cases``, ``/api/v1/stats/cases`` (docs/API.md §14).

Open a case from its 案源 (the centre; a squad's holder for the incidents of its tier; a camera's
detection with its evidence, 非现场执法), the list (by state, colour and tier), one case with
its steps (from the hash-chained history) and its files, the next step with its day, note and
files, the files' upload and download (:mod:`dispatcher.web.case_documents`), and the figures.
The rules are the core's (:mod:`dispatcher.core.enforcement`); each step goes through the one
change path (:mod:`dispatcher.store.enforcement`). Answers name squads, procedures, states and
colours in zh-CN beside their codes.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from dispatcher.core import case_figures, tiers
from dispatcher.core import enforcement as core
from dispatcher.core.auth import ACT_ALL, Principal, Role, require_role
from dispatcher.core.case_clocks import Limits
from dispatcher.core.case_files import Document
from dispatcher.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from dispatcher.core.incidents import Source
from dispatcher.core.parties import make_party
from dispatcher.core.periods import parse_period
from dispatcher.core.supervision import parse
from dispatcher.core.times import format_time
from dispatcher.store import enforcement as cases
from dispatcher.store import records as store
from dispatcher.web import case_documents as files
from dispatcher.web import context as http
from dispatcher.web.api_media import MEDIA
from dispatcher.web.api_stats import figures_scope

PREFIX: Final = "/api/v1/cases"
WARNINGS: Final = web.AppKey("case_warnings", cases.WarningLoop)
_ID: Final = re.compile(r"AJ[0-9]{14}")
_READERS: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.AUDITOR, Role.SQUAD})
_ACTORS: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.SQUAD})


def is_case_id(text: str) -> bool:
    """Whether ``text`` is a case's id (``AJ`` and 14 digits), not an incident's."""
    return _ID.fullmatch(text) is not None


def limits(rt: http.Runtime) -> Limits:
    s = rt.settings
    return Limits(
        filing_days=s.case_filing_days,
        decision_days=s.case_decision_days,
        extension_days=s.case_extension_days,
        statement_days=s.case_statement_days,
    )


def _squad(rt: http.Runtime, squad_id: str | None) -> dict[str, Any] | None:
    if squad_id is None:
        return None
    found = rt.ref.squads.get(squad_id)
    return {
        "id": squad_id,
        "name": found.name if found else squad_id,
        "tier": tiers.tier_name(squad_id, rt.ref.squads) if found else None,
    }


def present(rt: http.Runtime, case: core.Case) -> dict[str, Any]:
    """A case as the API answers it: the core's document with its squad named."""
    doc = case.to_doc(rt.settings.zone)
    doc["squad"] = _squad(rt, case.squad_id)
    doc["opened_by"] = {"actor": case.opened_by, "name": case.opened_by_name}
    doc["due_at"] = format_time(case.due_at, rt.settings.zone)
    return doc


async def _readable(request: web.Request) -> core.Case:
    who = http.principal(request)
    require_role(who, _READERS, "read enforcement cases")
    raw = request.match_info["id"]
    case = await cases.get(http.runtime(request).pool, raw) if _ID.fullmatch(raw) else None
    if case is None:
        raise NotFound(f"no case {raw}")
    if not core.may_read(who, case):
        raise Forbidden("a squad sees the cases of its own tier and the tiers below it")
    return case


def _wake(request: web.Request) -> None:
    loop = request.app.get(WARNINGS)
    if loop is not None:
        loop.wake.set()


async def _source(
    rt: http.Runtime, who: Principal, cmd: core.CaseIn
) -> tuple[str | None, str | None, Any]:
    """(squad, incident id, incident) of the case's 案源, checked; 422/409 naming what is wrong."""
    squad_id = cmd.squad_id
    if squad_id is not None and squad_id not in rt.ref.squads:
        raise ValidationFailed(f"squad_id: no squad {squad_id}", field="squad_id")
    if cmd.source.kind is core.SourceKind.INSPECTION:
        if squad_id is None:
            raise ValidationFailed("squad_id: a finding names the squad", field="squad_id")
        if not core.may_act(who, squad_id):
            raise Forbidden("a squad opens cases only for its own tier")
        return squad_id, None, None
    incident = await store.get_incident(rt.pool, cmd.source.ref)
    if incident is None:
        raise ValidationFailed(f"source.ref: no incident {cmd.source.ref}", field="source.ref")
    if not (who.role in ACT_ALL or (who.role is Role.SQUAD and who.covers(incident.squad_ids))):
        raise Forbidden("a squad opens cases only for the incidents of its tier")
    if cmd.source.kind is core.SourceKind.CAMERA:
        threshold = rt.settings.case_camera_confidence
        if incident.source is not Source.CAMERA:
            raise Conflict(f"incident {incident.id} is not a camera's detection")
        if (incident.confidence or 0.0) < threshold:
            raise Conflict(
                f"incident {incident.id}: off-site enforcement needs a detection's confidence"
                f" of at least {threshold:g}"
            )
    return squad_id or incident.squad_id, incident.id, incident


async def post_case(request: web.Request) -> web.Response:
    """Open a case (案源登记), pending 立案."""
    who = http.principal(request)
    require_role(who, _ACTORS, "open enforcement cases")
    rt = http.runtime(request)
    cmd = parse(core.CaseIn, await request.read())
    p = cmd.party
    party = make_party(
        p.kind,
        p.name,
        id_type=p.id_type,
        id_number=p.id_number,
        place_id=p.place_id,
        credit_code=p.credit_code,
    )
    squad_id, incident_id, incident = await _source(rt, who, cmd)
    officers = await cases.officers(rt.pool, cmd.officers)
    core.check_officers(officers)
    tz = rt.settings.zone
    async with rt.changes.begin() as work:
        new_id = await cases.next_id(work.conn, work.now, tz)
        year = work.now.astimezone(tz).year
        number = core.case_number(
            rt.settings.case_number_prefix, year, await cases.next_serial(work.conn, year)
        )
        evidence: list[Document] = []
        elsewhere: list[str] = []
        if cmd.source.kind is core.SourceKind.CAMERA:
            evidence, elsewhere = await files.take_evidence(request.app[MEDIA], new_id, incident)
            if not evidence and not elsewhere:
                raise Conflict(f"incident {incident.id}: off-site enforcement needs its images")
        decision = core.open_case(
            new_id,
            number,
            cmd,
            party,
            officers,
            squad_id,
            incident_id,
            evidence,
            who,
            work.now,
            limits(rt),
            work.rules.warn_at,
            evidence_urls=elsewhere,
        )
        await cases.insert(work.conn, decision.case, tz)
        for doc in evidence:
            await cases.add_document(work.conn, new_id, doc, work.now, who.actor)
        work.record([decision.step])
        stored = await work.write()
        await cases.attach(work.conn, new_id, [d.id for d in evidence], "open", stored[0].seq)
    _wake(request)
    location = f"{PREFIX}/{new_id}"
    return http.json_response(
        present(rt, decision.case), status=201, headers={"Location": location}
    )


def _listed(request: web.Request, name: str, allowed: set[str]) -> list[str] | None:
    raw = request.query.get(name)
    if not raw:
        return None
    values = [v.strip() for v in raw.split(",") if v.strip()]
    wrong = [v for v in values if v not in allowed]
    if wrong:
        raise ValidationFailed(f"{name}: unknown value {wrong[0]}", field=name)
    return values


async def list_cases(request: web.Request) -> web.Response:
    """The cases, the overdue first (filters: state, colour, tier, incident_id, limit)."""
    who = http.principal(request)
    require_role(who, _READERS, "read enforcement cases")
    rt = http.runtime(request)
    states = _listed(request, "state", {s.value for s in core.CaseState})
    colours = _listed(request, "colour", {"green", "yellow", "red"})
    tier = request.query.get("tier") or None
    squad_ids: list[str] | None = None
    if tier is not None:
        if tier not in rt.ref.squads:
            raise ValidationFailed(f"tier: no squad {tier}", field="tier")
        if who.role is Role.SQUAD and not who.covers([tier]):
            raise Forbidden("a squad sees the cases of its own tier and the tiers below it")
        squad_ids = sorted(tiers.subtree(tier, rt.ref.squads))
    elif who.role is Role.SQUAD:
        squad_ids = sorted(who.squads())
    try:
        limit = min(max(int(request.query.get("limit", "200")), 1), 1000)
    except ValueError:
        raise ValidationFailed("limit: a whole number", field="limit") from None
    incident_id = request.query.get("incident_id") or None
    if incident_id is not None and "\x00" in incident_id:
        raise ValidationFailed("incident_id: may not contain NUL", field="incident_id")
    found = await cases.queue(
        rt.pool,
        states=states,
        colours=colours,
        squads=squad_ids,
        incident_id=incident_id,
        limit=limit,
    )
    shown = [present(rt, c) for c in found]
    counts = {
        "red": sum(c["colour"] == "red" for c in shown),
        "yellow": sum(c["colour"] == "yellow" for c in shown),
    }
    return http.json_response({"cases": shown, "counts": counts})


async def get_case(request: web.Request) -> web.Response:
    """One case with its steps (the history) and its files."""
    rt = http.runtime(request)
    case = await _readable(request)
    zone = rt.settings.zone
    doc = present(rt, case)
    doc["facts"] = case.facts
    steps = await store.history_of(rt.pool, case.id)
    for step in steps:
        step["at"] = format_time(step["at"], zone)
        step["actor_name"] = step["detail"].get("actor_name")
        step["label"] = step["detail"].get("label")
    doc["steps"] = steps
    listed = await cases.documents(rt.pool, case.id)
    for entry in listed:
        entry["stored_at"] = format_time(entry["stored_at"], zone)
        entry["url"] = f"{PREFIX}/{case.id}/documents/{entry['id']}"
    doc["documents"] = listed
    return http.json_response(doc)


async def post_step(request: web.Request) -> web.Response:
    """The case's next step (立案 … 结案, 补正, 延期) with its day, note and files."""
    who = http.principal(request)
    require_role(who, _ACTORS, "take the steps of enforcement cases")
    rt = http.runtime(request)
    seen = await _readable(request)
    if not core.may_act(who, seen.squad_id):
        raise Forbidden("only the centre or the squad handling the case may take its steps")
    cmd = parse(core.StepIn, await request.read())
    tz = rt.settings.zone
    async with rt.changes.begin() as work:
        case = await cases.lock(work.conn, seen.id)
        if case is None:
            raise NotFound(f"no case {seen.id}")
        docs = await cases.unattached(work.conn, case.id, cmd.documents)
        rules = work.rules
        decision = core.take_step(
            case, cmd, docs, who, work.now, rules.calendar, limits(rt), rules.warn_at
        )
        await cases.save(work.conn, decision.case, tz)
        work.record([decision.step])
        stored = await work.write()
        await cases.attach(work.conn, case.id, [d.id for d in docs], cmd.step.value, stored[0].seq)
    _wake(request)
    return http.json_response(present(rt, decision.case))


async def post_document(request: web.Request) -> web.Response:
    """Upload one file of a case (the raw body; ``?name=`` what the uploader calls it)."""
    who = http.principal(request)
    require_role(who, _ACTORS, "add files to enforcement cases")
    rt = http.runtime(request)
    case = await _readable(request)
    if not core.may_act(who, case.squad_id):
        raise Forbidden("only the centre or the squad handling the case may add its files")
    name = (request.query.get("name") or "")[:200].replace("\x00", "")
    doc = await files.receive(request, case.id, rt.settings.case_document_max_bytes, name)
    await cases.add_document(rt.pool, case.id, doc, datetime.now(UTC), who.actor)
    url = f"{PREFIX}/{case.id}/documents/{doc.id}"
    return http.json_response({**doc.to_doc(), "url": url}, status=201, headers={"Location": url})


async def get_document(request: web.Request) -> web.StreamResponse:
    """A file of a case, to whoever may read the case."""
    case = await _readable(request)
    doc_id = files.document_id(request.match_info["name"])
    doc = await cases.document(http.runtime(request).pool, case.id, doc_id)
    if doc is None:
        raise NotFound("no such document")
    return await asyncio.to_thread(files.respond, request.app[MEDIA], case.id, doc)


async def get_figures(request: web.Request) -> web.Response:
    """Cases opened, filed and closed in a period, on time, by procedure and squad (tier)."""
    rt = http.runtime(request)
    query = request.query
    scope = figures_scope(http.principal(request), query.get("squad_id"))
    if scope is not None and scope not in rt.ref.squads:
        raise ValidationFailed(f"squad_id: no squad {scope}", field="squad_id")
    tz = rt.settings.zone
    period = parse_period(query.get("from"), query.get("to"), None, tz, datetime.now(UTC))
    rows = await rt.pool.fetch(cases.SELECT_FIGURES, period.start, period.end)
    found = case_figures.figures(
        (
            case_figures.CaseRow(
                r["procedure"],
                r["squad_id"],
                r["colour"],
                r["opened_at"],
                r["filed_at"],
                r["closed_at"],
                r["filing_late"],
                r["decision_late"],
            )
            for r in rows
        ),
        period.start,
        period.end,
        rt.ref.squads,
        scope,
    )
    body = {**period.to_json(tz), **found}
    if scope is not None:
        body["squad_id"] = scope
    return http.json_response(body)


def add_routes(app: web.Application) -> None:
    """The routes, and the warning loop (started after the runtime, ``app.runtime_ctx``)."""
    app.cleanup_ctx.append(
        http.background(
            WARNINGS, lambda rt: cases.WarningLoop(rt.pool, rt.changes, lambda: rt.settings.zone)
        )
    )
    router = app.router
    router.add_post(PREFIX, post_case)
    router.add_get(PREFIX, list_cases)
    router.add_get(PREFIX + "/{id}", get_case)
    router.add_post(PREFIX + "/{id}/steps", post_step)
    router.add_post(PREFIX + "/{id}/documents", post_document)
    router.add_get(PREFIX + "/{id}/documents/{name}", get_document)
    router.add_get("/api/v1/stats/cases", get_figures)
