"""The outbox: status updates of hotline work orders, delivered to the hotline platform.

Every state change of a hotline work order (or of the incident it was merged into) is put in
the ``outbox`` table by a trigger, in the very transaction that appends it to the history
(``0003_channels.sql``): nothing that changed can be forgotten, whichever code changed it.
:class:`Outbox` runs in every server process. It leases the oldest undelivered update of each
work order (``FOR UPDATE SKIP LOCKED``, so processes share the work and never deliver one
update twice at the same time), POSTs it as JSON to ``DISPATCH_HOTLINE_CALLBACK_URL``, and
marks it delivered on a 2xx. Anything else (refused, 5xx, a time-out, no connection) puts it
back with an exponential back-off; the later updates of that work order wait behind it, so
the platform always sees a work order's states in the order they happened. Each update
carries ``Idempotency-Key: <work order>:<seq>``: a process that dies between the platform's
answer and its own mark makes the update come again, and the key lets the platform see that.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Final

import aiohttp

from dispatcher.core import open311
from dispatcher.core.incidents import Incident
from dispatcher.core.times import format_time
from dispatcher.store import records as store

log = logging.getLogger(__name__)

LEASE: Final = timedelta(seconds=30)
TIMEOUT_S: Final = 10.0
BATCH: Final = 32
#: the oldest undelivered update of each work order that is due and not leased, leased now
CLAIM: Final = """
UPDATE outbox o SET lease_until = $1::timestamptz + $3::interval, attempts = o.attempts + 1
FROM (
    SELECT p.id FROM outbox p
    WHERE p.delivered_at IS NULL AND p.next_attempt_at <= $1
      AND (p.lease_until IS NULL OR p.lease_until < $1)
      AND NOT EXISTS (SELECT 1 FROM outbox q WHERE q.incident_id = p.incident_id
                      AND q.delivered_at IS NULL AND q.id < p.id)
    ORDER BY p.id LIMIT $2 FOR UPDATE SKIP LOCKED
) AS due
WHERE o.id = due.id
RETURNING o.id, o.incident_id, o.seq, o.attempts"""
UPDATES: Final = """
SELECT u.id, i.doc AS work_order, h.event
FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS u(id, incident_id, seq)
JOIN incidents i ON i.id = u.incident_id
JOIN history h ON h.seq = u.seq"""
DELIVERED: Final = "UPDATE outbox SET delivered_at = $2, lease_until = NULL WHERE id = $1"
RETRY: Final = """
UPDATE outbox SET lease_until = NULL, next_attempt_at = $2, last_error = $3 WHERE id = $1"""
PENDING: Final = "SELECT count(*) FROM outbox WHERE delivered_at IS NULL"


def backoff(attempts: int, base_s: float, max_s: float) -> float:
    """Seconds before attempt ``attempts + 1``: doubling from ``base_s``, at most ``max_s``."""
    return float(min(max_s, base_s * 2 ** max(0, min(attempts - 1, 30))))


def update_body(
    work_order: Incident, changed: Incident, seq: int, tz: tzinfo, agency: str | None
) -> dict[str, Any]:
    """What the platform is told: the work order as GET requests shows it, and the change.

    ``changed`` is the incident as the history entry ``seq`` left it: the work order itself,
    or the incident it was merged into.
    """
    target = changed if changed.id != work_order.id else None
    body = open311.request_json(
        changed if target is None else work_order,
        tz,
        service_name=None,
        agency=agency,
        target=target,
    )
    body.update(
        seq=seq,
        external_id=work_order.external_id,
        state=changed.state.value,
        duplicate_of=work_order.duplicate_of,
    )
    order = changed.progress.hotline
    sent_back = order.sent_back if order is not None else None
    if sent_back is not None:  # 退单 (docs/API.md §5.3): the platform takes the order back
        body["sendback"] = {
            "reason_code": sent_back.reason_code.value,
            "reason": sent_back.reason,
            "approved_at": format_time(sent_back.decided_at, tz),
        }
    return body


@dataclass(frozen=True)
class _Update:
    id: int
    key: str
    body: dict[str, Any]


class Outbox:
    """Delivers pending updates until cancelled. Start :meth:`run` as a background task."""

    def __init__(
        self,
        pool: store.Pool,
        url: str,
        tz: tzinfo,
        squad_names: Callable[[], Mapping[str, str]],
        *,
        token: str | None = None,
        poll_s: float = 1.0,
        retry_base_s: float = 1.0,
        retry_max_s: float = 300.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._pool = pool
        self._url = url
        self._tz = tz
        self._squad_names = squad_names
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._poll_s = poll_s
        self._retry = (retry_base_s, retry_max_s)
        self._clock = clock
        self.delivered = 0
        self.failed = 0

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout, headers=self._headers) as session:
            while True:
                try:
                    busy = await self.deliver_due(session)
                except Exception as exc:  # the database is away: try again later
                    log.warning("outbox: %s", exc)
                    busy = False
                if not busy:
                    await asyncio.sleep(self._poll_s)

    async def deliver_due(self, session: aiohttp.ClientSession) -> bool:
        """Deliver one round of due updates; answer whether there may be more right away."""
        now = self._clock()
        async with self._pool.acquire() as conn:
            claimed = await conn.fetch(CLAIM, now, BATCH, LEASE)
            if not claimed:
                return False
            rows = await conn.fetch(
                UPDATES,
                [r["id"] for r in claimed],
                [r["incident_id"] for r in claimed],
                [r["seq"] for r in claimed],
            )
        attempts = {r["id"]: r["attempts"] for r in claimed}
        updates = [self._update(r) for r in rows]
        results = await asyncio.gather(*(self._post(session, u) for u in updates))
        async with self._pool.acquire() as conn:
            for update, error in zip(updates, results, strict=True):
                if error is None:
                    await conn.execute(DELIVERED, update.id, self._clock())
                    self.delivered += 1
                    continue
                self.failed += 1
                delay = backoff(attempts[update.id], *self._retry)
                log.info("outbox: %s not taken (%s); again in %.1f s", update.key, error, delay)
                due = self._clock() + timedelta(seconds=delay)
                await conn.execute(RETRY, update.id, due, error[:500])
        return len(claimed) == BATCH

    def _update(self, row: Any) -> _Update:
        work_order = store.decode_doc(row["work_order"])
        event = json.loads(row["event"])
        changed = Incident.from_doc(event["incident"])
        agency = self._squad_names().get(changed.squad_id or "")
        body = update_body(work_order, changed, int(event["seq"]), self._tz, agency)
        return _Update(row["id"], f"{work_order.id}:{event['seq']}", body)

    async def _post(self, session: aiohttp.ClientSession, update: _Update) -> str | None:
        """POST one update; answer None when the platform took it, else why not."""
        try:
            async with session.post(
                self._url, json=update.body, headers={"Idempotency-Key": update.key}
            ) as answer:
                await answer.read()
                if 200 <= answer.status < 300:
                    return None
                return f"HTTP {answer.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
