"""``POST /api/v1/alerts/cap`` (docs/API.md §4): OASIS CAP 1.2 alerts from devices.

An ``Alert`` (or an ``Update`` whose references are unknown here) makes its reports through
the common intake path, so dedup, routing and group commit apply as to any report; it answers
201 with the incidents made (200 when all of them were replays). An ``Update`` or ``Cancel``
of alerts taken before changes their incidents in one transaction (200). Messages whose
``status`` is not ``Actual`` (tests, exercises, drafts) and ``Ack``/``Error`` messages are
recorded and answered 200 with nothing done. Every message is recorded by (sender,
identifier): the same message again answers exactly what it answered the first time.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final

from aiohttp import web

from dispatcher.core import alerts, cap
from dispatcher.core.auth import INTAKE, Principal, require_role
from dispatcher.core.errors import ValidationFailed
from dispatcher.core.events import Event
from dispatcher.core.incidents import Incident
from dispatcher.core.intake import parse_report_object
from dispatcher.web import cases
from dispatcher.web import context as http
from dispatcher.web.ratelimit import device_key

SELECT_ALERT: Final = "SELECT answer FROM cap_alerts WHERE sender = $1 AND identifier = $2"
SELECT_REFERENCED: Final = """
SELECT i.doc FROM cap_alerts a JOIN incidents i ON i.id = ANY(a.incident_ids)
WHERE (a.sender, a.identifier) IN (SELECT * FROM unnest($1::text[], $2::text[]))
ORDER BY i.id FOR UPDATE OF i"""
INSERT_ALERT: Final = """
INSERT INTO cap_alerts (sender, identifier, sent, msg_type, status, received_by, incident_ids,
                        answer)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (sender, identifier) DO NOTHING"""


def _answer(alert: cap.Alert, applied: str, docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "sender": alert.sender,
        "identifier": alert.identifier,
        "msg_type": alert.msg_type,
        "status": alert.status,
        "applied": applied,
        "incidents": docs,
    }


async def _record(
    rt: http.Runtime, conn: Any, alert: cap.Alert, who: Principal, answer: dict[str, Any]
) -> None:
    await conn.execute(
        INSERT_ALERT,
        alert.sender,
        alert.identifier,
        alert.sent,
        alert.msg_type,
        alert.status,
        who.actor,
        [d["id"] for d in answer["incidents"]],
        json.dumps(answer, ensure_ascii=False, default=str),
    )


async def _create(
    rt: http.Runtime, alert: cap.Alert, who: Principal
) -> tuple[list[dict[str, Any]], bool]:
    planned = cap.drafts(alert, rt.ref.categories)
    reports = [parse_report_object(d.report) for d in planned]
    made = await asyncio.gather(
        *(cases.intake(rt, r, who, d.extra) for r, d in zip(reports, planned, strict=True))
    )
    docs = [cases.present(rt, incident) for incident, _ in made]
    return docs, any(created for _, created in made)


async def _change(
    rt: http.Runtime, alert: cap.Alert, who: Principal
) -> tuple[str, list[dict[str, Any]]] | None:
    """Apply an Update or Cancel; None when none of its references is known here."""
    senders = [r[0] for r in alert.references]
    identifiers = [r[1] for r in alert.references]
    async with rt.changes.begin() as work:
        incidents = await work.lock_where(SELECT_REFERENCED, senders, identifiers)
        if not incidents:
            return None
        changes: list[tuple[Incident, Event]]
        if alert.msg_type == "Cancel":
            changes, applied = alerts.cancel(incidents, alert, who, work.now), "cancelled"
        else:
            drafts = cap.drafts(alert, rt.ref.categories)
            changes = alerts.update(incidents, alert, drafts, who, work.now)
            applied = "updated"
        for incident, event in changes:
            work.save(incident)
            work.record([event])
        docs = [cases.present(rt, work.incident(i.id) or i) for i in incidents]
        answer = _answer(alert, applied, docs)
        await _record(rt, work.conn, alert, who, answer)
    return applied, docs


async def post_cap(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, INTAKE, "post alerts")
    rt = http.runtime(request)
    alert = cap.parse_alert(await request.read())
    await rt.limiter.take(device_key(who, alert.sender))
    stored = await rt.pool.fetchval(SELECT_ALERT, alert.sender, alert.identifier)
    if stored is not None:
        return http.json_response(json.loads(stored))
    if alert.status != "Actual" or alert.msg_type in ("Ack", "Error"):
        answer = _answer(alert, f"ignored: {alert.status} {alert.msg_type}", [])
        await _record(rt, rt.pool, alert, who, answer)
        return http.json_response(answer)
    if alert.msg_type in ("Update", "Cancel"):
        if not alert.references:
            raise ValidationFailed(
                f"references: a {alert.msg_type} names the alerts it refers to", field="references"
            )
        changed = await _change(rt, alert, who)
        if changed is not None:
            return http.json_response(_answer(alert, *changed))
        if alert.msg_type == "Cancel":
            raise ValidationFailed(
                "references: none of the alerts referenced was taken here", field="references"
            )
    docs, created = await _create(rt, alert, who)
    answer = _answer(alert, "created", docs)
    await _record(rt, rt.pool, alert, who, answer)
    return http.json_response(answer, status=201 if created else 200)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/api/v1/alerts/cap", post_cap)
