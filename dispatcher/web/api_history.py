"""The history as an export (docs/API.md §6): who did what, by name, with each entry's hash.

``GET /api/v1/history/export?from=&to=`` (admin, operator, auditor) streams every history entry
appended in the period, in ``seq`` order, as CSV (UTF-8 with a BOM, for Excel): its number,
time (the deployment's zone), subject (an incident, or a supervision item), type, action, the
actor's id **and name** (a person's or a token's; 系统 for the system's own steps), role,
states, detail and hash. An auditor can check an exported row against ``dispatch audit
verify``'s chain by its ``seq`` and hash.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from dispatcher.core import jsontext
from dispatcher.core.auth import READ_ALL, require_role
from dispatcher.core.periods import parse_period
from dispatcher.store.people import OWN_NAMES
from dispatcher.web import context as http

SELECT_EXPORT: Final = """
SELECT h.seq, h.at, h.incident_id, h.type, h.action, h.actor,
       coalesce(p.name, t.name, h.detail->>'actor_name') AS actor_name, h.actor_role,
       h.state_before, h.state_after, h.detail, encode(h.hash, 'hex') AS hash
FROM history h
LEFT JOIN people p ON p.id = h.actor
LEFT JOIN tokens t ON t.id = h.actor
WHERE h.at >= $1 AND h.at < $2
ORDER BY h.seq"""
HEADER: Final = (
    "序号 seq",
    "时间 at",
    "对象 subject",
    "类型 type",
    "动作 action",
    "操作人 actor",
    "操作人姓名 actor_name",
    "角色 actor_role",
    "原状态 state_before",
    "新状态 state_after",
    "说明 detail",
    "哈希 hash",
)
CHUNK_ROWS: Final = 500


def row_of(record: Any, zone: Any) -> list[str]:
    actor = record["actor"]
    name = record["actor_name"] or OWN_NAMES.get(actor, "")
    return [
        str(record["seq"]),
        record["at"].astimezone(zone).isoformat(timespec="milliseconds"),
        record["incident_id"],
        record["type"],
        record["action"] or "",
        actor,
        name,
        record["actor_role"] or "",
        record["state_before"] or "",
        record["state_after"] or "",
        jsontext.loose(jsontext.read(record["detail"])),
        record["hash"] or "",
    ]


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8")


async def export(request: web.Request) -> web.StreamResponse:
    """The period's history entries as CSV, streamed."""
    require_role(http.principal(request), READ_ALL, "export the history")
    rt = http.runtime(request)
    zone = rt.settings.zone
    q = request.query
    period = parse_period(q.get("from"), q.get("to"), None, zone, datetime.now(UTC))
    first = period.start.astimezone(zone).date().isoformat()
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="history-{first}.csv"',
        }
    )
    await response.prepare(request)
    await response.write(b"\xef\xbb\xbf" + _csv([list(HEADER)]))
    async with rt.pool.acquire() as conn, conn.transaction(readonly=True):
        batch: list[list[str]] = []
        async for record in conn.cursor(SELECT_EXPORT, period.start, period.received_before):
            batch.append(row_of(record, zone))
            if len(batch) >= CHUNK_ROWS:
                await response.write(_csv(batch))
                batch = []
        if batch:
            await response.write(_csv(batch))
    await response.write_eof()
    return response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/history/export", export)
