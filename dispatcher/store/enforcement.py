"""Enforcement cases (行政处罚案件) in PostgreSQL: their rows, numbers, files and warnings.

Every step of a case goes through the one change path (``dispatcher.store.changes``)::

    async with changes.begin() as work:            # BEGIN
        case = await lock(work.conn, case_id, tz)  # FOR UPDATE
        decision = core.take_step(case, ...)       # the pure core decides
        await save(work.conn, decision.case, tz)   # the row
        work.record([decision.step])               # the step, appended to the history last
        stored = await work.write()                # (when the files must name their entry)
        await attach(work.conn, case_id, ids, step, stored[0].seq)
    # committed, then published to the case's, its incident's and its squad's topics

A case changes no incident, so no incident is locked; the step is appended to the
hash-chained history with the case as its subject (``dispatcher.core.events.Entry``).

:class:`WarningLoop` fires the cases' yellow and red warnings (立案超期, 结案超期) when due, like
the timer loop: due rows taken with ``FOR UPDATE SKIP LOCKED``, so that each fires once across
processes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

from dispatcher.core import enforcement as core
from dispatcher.core.case_files import Claim, Document, claims
from dispatcher.core.errors import ValidationFailed
from dispatcher.core.times import parse_time
from dispatcher.store import records as store
from dispatcher.store.changes import Changes
from dispatcher.store.due_loop import DueLoop

NEXT_ID: Final = "SELECT nextval('enforcement_case_no')"
NEXT_NUMBER: Final = """
INSERT INTO enforcement_case_numbers (year, last) VALUES ($1, 1)
ON CONFLICT (year) DO UPDATE SET last = enforcement_case_numbers.last + 1
RETURNING last"""
INSERT_CASE: Final = """
INSERT INTO enforcement_cases (id, number, procedure, state, colour, source_kind, source_ref,
    incident_id, squad_id, opened_at, filed_at, decided_at, closed_at, filing_late,
    decision_late, due_at, doc, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::jsonb, $18)"""
UPDATE_CASE: Final = """
UPDATE enforcement_cases SET state = $2, colour = $3, filed_at = $4, decided_at = $5,
    closed_at = $6, filing_late = $7, decision_late = $8, due_at = $9, doc = $10::jsonb,
    version = $11
WHERE id = $1"""
SELECT_CASE: Final = "SELECT doc FROM enforcement_cases WHERE id = $1"
LOCK_CASE: Final = "SELECT doc FROM enforcement_cases WHERE id = $1 FOR UPDATE"
SELECT_CASE_OF_INCIDENT: Final = """
SELECT id FROM enforcement_cases WHERE incident_id = $1 ORDER BY opened_at LIMIT 1"""
#: the queue: $1 states (NULL: all), $2 colours, $3 squads (NULL: all), $4 limit, $5 incident
SELECT_QUEUE: Final = """
SELECT doc FROM enforcement_cases
WHERE ($1::text[] IS NULL OR state = ANY($1))
  AND ($2::text[] IS NULL OR colour = ANY($2))
  AND ($3::text[] IS NULL OR squad_id = ANY($3))
  AND ($5::text IS NULL OR incident_id = $5)
ORDER BY (state = 'closed'), (colour = 'red') DESC, (colour = 'yellow') DESC, opened_at, id
LIMIT $4"""
INSERT_DOCUMENT: Final = """
INSERT INTO enforcement_documents (case_id, id, file, type, bytes, sha256, name, source_url,
    stored_at, stored_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"""
DOCUMENT_COLUMNS: Final = "id, file, type, bytes, sha256, name, source_url"
SELECT_UNATTACHED: Final = f"""
SELECT {DOCUMENT_COLUMNS} FROM enforcement_documents
WHERE case_id = $1 AND id = ANY($2::text[]) AND seq IS NULL FOR UPDATE"""
ATTACH: Final = """
UPDATE enforcement_documents SET step = $3, seq = $4 WHERE case_id = $1 AND id = ANY($2::text[])"""
SELECT_DOCUMENTS: Final = f"""
SELECT {DOCUMENT_COLUMNS}, stored_at, stored_by, step, seq FROM enforcement_documents
WHERE case_id = $1 ORDER BY stored_at, id"""
SELECT_DOCUMENT: Final = f"""
SELECT {DOCUMENT_COLUMNS} FROM enforcement_documents WHERE case_id = $1 AND id = $2"""
DUE_CASES: Final = "SELECT id FROM enforcement_cases WHERE due_at <= $1 ORDER BY due_at LIMIT $2"
TAKE_DUE: Final = """
SELECT doc FROM enforcement_cases
WHERE id = ANY($1::text[]) AND due_at <= $2 ORDER BY id FOR UPDATE SKIP LOCKED"""
NEXT_DUE: Final = "SELECT min(due_at) FROM enforcement_cases WHERE due_at IS NOT NULL"
#: the files every step of every case names in the history (for ``dispatch audit verify``)
SELECT_CLAIMS: Final = """
SELECT seq, incident_id, detail FROM history
WHERE type LIKE 'case.%' AND jsonb_array_length(COALESCE(detail->'documents', '[]')) > 0
ORDER BY seq"""
#: the cases of a period's figures: opened, filed, decided or closed within [$1, $2)
SELECT_FIGURES: Final = """
SELECT id, procedure, squad_id, state, colour, opened_at, filed_at, decided_at, closed_at,
       filing_late, decision_late
FROM enforcement_cases
WHERE (opened_at >= $1 AND opened_at < $2) OR (filed_at >= $1 AND filed_at < $2)
   OR (closed_at >= $1 AND closed_at < $2) OR (closed_at IS NULL AND colour <> 'green')"""
#: the closed cases of a review's population (案卷评查): closed within [$1, $2) and closed still
SELECT_CLOSED: Final = """
SELECT id, procedure FROM enforcement_cases
WHERE state = 'closed' AND closed_at >= $1 AND closed_at < $2"""


SELECT_OFFICERS: Final = """
SELECT id, name, COALESCE(badge_no, '') AS badge_no, disabled_at FROM people
WHERE id = ANY($1::text[])"""


async def officers(conn: store.Connection | store.Pool, ids: Sequence[str]) -> list[core.Officer]:
    """The people named as a case's officers, in their order; 422 for one unknown or disabled
    (whether each holds a 执法证号 is the core's to judge)."""
    rows = {r["id"]: r for r in await conn.fetch(SELECT_OFFICERS, list(ids))}
    found: list[core.Officer] = []
    for n, person_id in enumerate(dict.fromkeys(ids)):
        row = rows.get(person_id)
        if row is None or row["disabled_at"] is not None:
            raise ValidationFailed(
                f"officers.{n}: no person {person_id} who may act", field=f"officers.{n}"
            )
        found.append(core.Officer(person_id, row["name"], row["badge_no"]))
    return found


async def document_claims(conn: store.Connection) -> list[Claim]:
    """The files every step of every case names in the history, with their hashes."""
    rows = await conn.fetch(SELECT_CLAIMS)
    return claims(
        {"incident_id": r["incident_id"], "seq": r["seq"], "detail": json.loads(r["detail"])}
        for r in rows
    )


def _time(text: Any) -> datetime:
    found = parse_time(text)
    if found is None:
        raise ValueError(f"not a time: {text!r}")
    return found


def decode(doc: str) -> core.Case:
    return core.from_record(json.loads(doc), _time)


def case_id(number: int, now: datetime, tz: tzinfo) -> str:
    """案件 id: AJ, the local date and a deployment-wide number (never an incident's id)."""
    return f"AJ{now.astimezone(tz):%Y%m%d}{number:06d}"


async def next_id(conn: store.Connection, now: datetime, tz: tzinfo) -> str:
    return case_id(await conn.fetchval(NEXT_ID), now, tz)


async def next_serial(conn: store.Connection, year: int) -> int:
    """The next serial of ``year``'s case numbers (from 1; the row lock keeps them gapless)."""
    serial: int = await conn.fetchval(NEXT_NUMBER, year)
    return serial


def _columns(case: core.Case, tz: tzinfo) -> tuple[Any, ...]:
    return (
        case.state.value,
        case.colour.value,
        case.dates.get(core.CaseAction.FILE.value),
        case.dates.get(core.CaseAction.DECIDE.value),
        case.dates.get(core.CaseAction.CLOSE.value),
        case.filing.late,
        case.decision.late if case.decision else False,
        case.due_at,
        json.dumps(core.to_record(case, tz), ensure_ascii=False),
        case.version,
    )


async def insert(conn: store.Connection, case: core.Case, tz: tzinfo) -> None:
    state, colour, filed, decided, closed, f_late, d_late, due, doc, version = _columns(case, tz)
    await conn.execute(
        INSERT_CASE,
        case.id,
        case.number,
        case.procedure.value,
        state,
        colour,
        case.source_kind.value,
        case.source_ref,
        case.incident_id,
        case.squad_id,
        case.opened_at,
        filed,
        decided,
        closed,
        f_late,
        d_late,
        due,
        doc,
        version,
    )


async def save(conn: store.Connection, case: core.Case, tz: tzinfo) -> None:
    """Write a changed case's row (its state, clocks, days and next due)."""
    await conn.execute(UPDATE_CASE, case.id, *_columns(case, tz))


async def get(conn: store.Connection | store.Pool, case_id: str) -> core.Case | None:
    doc = await conn.fetchval(SELECT_CASE, case_id)
    return decode(doc) if doc is not None else None


async def lock(conn: store.Connection, case_id: str) -> core.Case | None:
    """The case, locked for the rest of the transaction; None if there is none."""
    doc = await conn.fetchval(LOCK_CASE, case_id)
    return decode(doc) if doc is not None else None


async def queue(
    conn: store.Connection | store.Pool,
    *,
    states: Sequence[str] | None,
    colours: Sequence[str] | None,
    squads: Sequence[str] | None,
    incident_id: str | None,
    limit: int,
) -> list[core.Case]:
    rows = await conn.fetch(
        SELECT_QUEUE,
        list(states) if states is not None else None,
        list(colours) if colours is not None else None,
        list(squads) if squads is not None else None,
        limit,
        incident_id,
    )
    return [decode(r["doc"]) for r in rows]


async def add_document(
    conn: store.Connection | store.Pool,
    case_id: str,
    doc: Document,
    stored_at: datetime,
    stored_by: str,
) -> None:
    await conn.execute(
        INSERT_DOCUMENT,
        case_id,
        doc.id,
        doc.file,
        doc.type,
        doc.bytes,
        doc.sha256,
        doc.name,
        doc.source_url,
        stored_at,
        stored_by,
    )


def _document(row: Any) -> Document:
    return Document(
        row["id"],
        row["file"],
        row["type"],
        row["bytes"],
        row["sha256"],
        row["name"],
        row["source_url"],
    )


async def unattached(conn: store.Connection, case_id: str, ids: Sequence[str]) -> list[Document]:
    """The uploaded files a step names, in its order, locked; 422 for one not uploaded to the
    case or already named by a step."""
    rows = {r["id"]: _document(r) for r in await conn.fetch(SELECT_UNATTACHED, case_id, ids)}
    for n, wanted in enumerate(ids):
        if wanted not in rows:
            raise ValidationFailed(
                f"documents.{n}: {wanted} is not a file uploaded to this case and not yet"
                " named by a step",
                field=f"documents.{n}",
            )
    return [rows[i] for i in dict.fromkeys(ids)]


async def attach(
    conn: store.Connection, case_id: str, ids: Sequence[str], step: str, seq: int
) -> None:
    """Mark files as named by the step stored as history entry ``seq``."""
    if ids:
        await conn.execute(ATTACH, case_id, list(ids), step, seq)


async def documents(conn: store.Connection | store.Pool, case_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(SELECT_DOCUMENTS, case_id)]


async def document(
    conn: store.Connection | store.Pool, case_id: str, document_id: str
) -> Document | None:
    row = await conn.fetchrow(SELECT_DOCUMENT, case_id, document_id)
    return _document(row) if row is not None else None


class WarningLoop(DueLoop):
    """Fires the cases' due warnings until cancelled; one per process, sharing the work."""

    name = "case warning loop"
    next_due_query = NEXT_DUE

    def __init__(
        self,
        pool: store.Pool,
        changes: Changes,
        tz: Callable[[], tzinfo],
        *,
        batch: int = 100,
        idle_s: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(pool, batch=batch, idle_s=idle_s, clock=clock)
        self._changes = changes
        self._tz = tz

    async def run_once(self) -> int:
        """Fire what is due now; answer how many cases gave a warning."""
        now = self._clock()
        ids = [r["id"] for r in await self._pool.fetch(DUE_CASES, now, self._batch)]
        if not ids:
            return 0
        tz = self._tz()
        fired = 0
        async with self._changes.begin(now=now) as work:
            for row in await work.conn.fetch(TAKE_DUE, ids, now):
                case = decode(row["doc"])
                decision = core.fire(case, now)
                if decision is None:
                    await save(work.conn, case, tz)  # not owed now: armed at what it is
                    continue
                await save(work.conn, decision.case, tz)
                work.record([decision.step])
                fired += 1
        return fired
