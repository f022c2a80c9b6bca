"""HTTP handlers and SQL for supervision sampling (抽查, see :mod:`dispatcher.core.sampling`).

``POST /api/v1/samples`` draws a sample (operators, admins); ``GET /api/v1/samples`` and
``GET /api/v1/samples/{id}`` read them (auditors too); ``POST
/api/v1/samples/{id}/items/{incident_id}/check`` records a check. Recording a check locks the
sample item and the incident, applies the life cycle's ``review`` action (a failed check
reopens the incident as rework), stores the incident, its timers, the history entries and the
item's outcome in one transaction, and only then publishes the events.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from dispatcher.core.auth import ACT_ALL, READ_ALL, Principal, require_role
from dispatcher.core.enforcement import ReviewOutcome
from dispatcher.core.enforcement import review as review_case
from dispatcher.core.errors import Conflict, NotFound, ValidationFailed
from dispatcher.core.lifecycle import Context, Outcome, decide
from dispatcher.core.sampling import (
    FAILED,
    MAX_SEED,
    Candidate,
    CheckIn,
    draw,
    items,
    parse_check,
    parse_sample,
    review_command,
)
from dispatcher.store import enforcement
from dispatcher.web import api_enforcement, cases
from dispatcher.web import context as http

#: the source a closed enforcement case is drawn as (in the stratum of filed cases, 案卷评查)
CASE_SOURCE: Final = "enforcement_case"
# incidents closed in the period (the history says when) and closed still
SELECT_POPULATION: Final = """
SELECT i.id, i.source, i.doc->>'outcome' AS outcome
FROM incidents i
WHERE i.state = 'closed' AND i.id IN (
    SELECT incident_id FROM history
    WHERE type IN ('incident.created', 'incident.updated') AND at >= $1 AND at < $2
      AND state_after = 'closed' AND state_before IS DISTINCT FROM 'closed')"""
INSERT_SAMPLE: Final = """
INSERT INTO samples (drawn_at, drawn_by, period_from, period_to, seed, strata, note)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"""
INSERT_ITEMS: Final = """
INSERT INTO sample_items (sample_id, incident_id, strata)
SELECT $1, i, ARRAY(SELECT jsonb_array_elements_text(s))
FROM unnest($2::text[], $3::jsonb[]) AS t(i, s)"""
SAMPLE_COLUMNS: Final = "id, drawn_at, drawn_by, period_from, period_to, seed, strata, note"
SELECT_SAMPLE: Final = f"SELECT {SAMPLE_COLUMNS} FROM samples WHERE id = $1"
SELECT_SAMPLES: Final = f"""
SELECT {SAMPLE_COLUMNS},
       (SELECT count(*) FROM sample_items WHERE sample_id = s.id) AS items,
       (SELECT count(*) FROM sample_items WHERE sample_id = s.id AND result IS NOT NULL)
           AS checked
FROM samples s ORDER BY id DESC LIMIT 200"""
ITEM_COLUMNS: Final = "incident_id, strata, result, note, checked_at, checked_by, seq"
SELECT_ITEMS: Final = f"""
SELECT {ITEM_COLUMNS} FROM sample_items WHERE sample_id = $1 ORDER BY incident_id"""
LOCK_ITEM: Final = f"""
SELECT {ITEM_COLUMNS} FROM sample_items WHERE sample_id = $1 AND incident_id = $2 FOR UPDATE"""
RECORD_CHECK: Final = f"""
UPDATE sample_items SET result = $3, note = $4, checked_at = $5, checked_by = $6, seq = $7
WHERE sample_id = $1 AND incident_id = $2 RETURNING {ITEM_COLUMNS}"""


def _time(value: datetime | None, tz: Any) -> str | None:
    return None if value is None else value.astimezone(tz).isoformat(timespec="milliseconds")


def sample_json(row: Any, tz: Any, *, counts: bool = False) -> dict[str, Any]:
    body = {
        "id": row["id"],
        "drawn_at": _time(row["drawn_at"], tz),
        "drawn_by": row["drawn_by"],
        "from": _time(row["period_from"], tz),
        "to": _time(row["period_to"], tz),
        "seed": row["seed"],
        "strata": json.loads(row["strata"]),
        "note": row["note"],
    }
    if counts:
        body["items"] = row["items"]
        body["checked"] = row["checked"]
    return body


def item_json(row: Any, tz: Any) -> dict[str, Any]:
    return {
        "incident_id": row["incident_id"],
        "strata": list(row["strata"]),
        "result": row["result"],
        "note": row["note"],
        "checked_at": _time(row["checked_at"], tz),
        "checked_by": row["checked_by"],
        "seq": row["seq"],
    }


def _sample_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or int(raw) > MAX_SEED:
        raise NotFound(f"no sample {raw}")
    return int(raw)


async def post_sample(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, ACT_ALL, "draw samples")
    rt = http.runtime(request)
    tz = rt.settings.zone
    body = parse_sample(await request.read())
    seed = body.seed if body.seed is not None else secrets.randbelow(MAX_SEED)
    strata = body.chosen_strata()
    async with rt.pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(SELECT_POPULATION, body.start, body.end)
        candidates = [Candidate(r["id"], r["source"], r["outcome"]) for r in rows]
        # the files of enforcement cases closed in the period (案卷评查, §14)
        closed = await conn.fetch(enforcement.SELECT_CLOSED, body.start, body.end)
        candidates += [Candidate(r["id"], CASE_SOURCE, Outcome.PENALTY_CASE.value) for r in closed]
        drawn = draw(candidates, strata, seed)
        sample_id = await conn.fetchval(
            INSERT_SAMPLE,
            datetime.now(UTC),
            who.actor,
            body.start,
            body.end,
            seed,
            json.dumps([d.to_json() for d in drawn], ensure_ascii=False),
            body.note,
        )
        chosen = items(drawn)
        await conn.execute(
            INSERT_ITEMS,
            sample_id,
            list(chosen),
            [json.dumps(names) for names in chosen.values()],
        )
        sample = sample_json(await conn.fetchrow(SELECT_SAMPLE, sample_id), tz)
        listed = [item_json(r, tz) for r in await conn.fetch(SELECT_ITEMS, sample_id)]
    return http.json_response({**sample, "items": listed}, status=201)


async def list_samples(request: web.Request) -> web.Response:
    require_role(http.principal(request), READ_ALL, "read samples")
    rt = http.runtime(request)
    rows = await rt.pool.fetch(SELECT_SAMPLES)
    return http.json_response(
        {"samples": [sample_json(r, rt.settings.zone, counts=True) for r in rows]}
    )


async def get_sample(request: web.Request) -> web.Response:
    require_role(http.principal(request), READ_ALL, "read samples")
    rt = http.runtime(request)
    sample_id = _sample_id(request)
    row = await rt.pool.fetchrow(SELECT_SAMPLE, sample_id)
    if row is None:
        raise NotFound(f"no sample {sample_id}")
    listed = [item_json(r, rt.settings.zone) for r in await rt.pool.fetch(SELECT_ITEMS, sample_id)]
    return http.json_response({**sample_json(row, rt.settings.zone), "items": listed})


async def post_check(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, ACT_ALL, "record checks")
    rt = http.runtime(request)
    sample_id = _sample_id(request)
    incident_id = request.match_info["incident_id"]
    check = parse_check(await request.read())
    if api_enforcement.is_case_id(incident_id):
        return await _check_case(rt, who, sample_id, incident_id, check)
    cmd = review_command(check, sample_id)
    async with rt.changes.begin() as work:
        item = await work.conn.fetchrow(LOCK_ITEM, sample_id, incident_id)
        if item is None:
            raise NotFound(f"incident {incident_id} is not in sample {sample_id}")
        if item["result"] is not None:
            raise Conflict(f"incident {incident_id} was already checked: {item['result']}")
        incident = (await work.lock([incident_id])).get(incident_id)
        if incident is None:
            raise ValidationFailed(f"no incident {incident_id}")
        ctx = Context(category=rt.ref.categories.get(incident.category), squads=rt.ref.squads)
        decision = decide(incident, cmd, who, work.now, ctx, work.rules)
        work.save(decision.incident)
        work.record(
            replace(e, detail={**e.detail, "sample_id": sample_id, "result": check.result.value})
            for e in decision.events
        )
        stored = await work.write()  # the check names its history entry
        checked = await work.conn.fetchrow(
            RECORD_CHECK,
            sample_id,
            incident_id,
            check.result.value,
            check.note,
            work.now,
            who.actor,
            stored[0].seq,
        )
    tz = rt.settings.zone
    return http.json_response(
        {"item": item_json(checked, tz), "incident": cases.present(rt, decision.incident)}
    )


async def _check_case(
    rt: http.Runtime, who: Principal, sample_id: int, case_id: str, check: CheckIn
) -> web.Response:
    """A case-file review (案卷评查) of a closed case: passed is recorded on the case; failed
    asks the case's officers for a 补正 (a step of the case, not a rework of the incident)."""
    outcome = ReviewOutcome(passed=check.result not in FAILED, note=check.note, sample_id=sample_id)
    tz = rt.settings.zone
    async with rt.changes.begin() as work:
        item = await work.conn.fetchrow(LOCK_ITEM, sample_id, case_id)
        if item is None:
            raise NotFound(f"case {case_id} is not in sample {sample_id}")
        if item["result"] is not None:
            raise Conflict(f"case {case_id} was already checked: {item['result']}")
        case = await enforcement.lock(work.conn, case_id)
        if case is None:
            raise ValidationFailed(f"no case {case_id}")
        decision = review_case(case, outcome, who, work.now)
        await enforcement.save(work.conn, decision.case, tz)
        work.record([decision.step])
        stored = await work.write()
        checked = await work.conn.fetchrow(
            RECORD_CHECK,
            sample_id,
            case_id,
            check.result.value,
            check.note,
            work.now,
            who.actor,
            stored[0].seq,
        )
    return http.json_response(
        {"item": item_json(checked, tz), "case": api_enforcement.present(rt, decision.case)}
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/api/v1/samples", post_sample)
    router.add_get("/api/v1/samples", list_samples)
    router.add_get("/api/v1/samples/{id}", get_sample)
    router.add_post("/api/v1/samples/{id}/items/{incident_id}/check", post_check)
