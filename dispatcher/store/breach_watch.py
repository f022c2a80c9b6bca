"""Thresholds watched: a breach by a tier opens a supervision item and reaches the wall.

Every ``interval_s`` one process (whichever takes the advisory lock first) judges the month so
far against the thresholds (``dispatcher.core.thresholds``): each squad on its tier's cases,
once a rate's denominator reaches ``min_cases`` (a month's first few cases say nothing of a
squad). A breach not yet answered this month opens an internal supervision item (督办单) for
the squad that breached, as the centre would: its step goes to ``all`` and the tier's topics,
so the wall and the supervision queue show it at once. One item per squad, rate and month:
its 文号 names the three, and a breach whose item exists opens nothing more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Final

from dispatcher.core import supervision as core
from dispatcher.core.periods import month_period
from dispatcher.core.stats import LABELS, GroupBy
from dispatcher.core.thresholds import Breach, Thresholds, breaches
from dispatcher.store import figures, reference
from dispatcher.store import records as store
from dispatcher.store import supervision as items
from dispatcher.store.changes import Changes

log = logging.getLogger(__name__)

#: one judge at a time across processes (transaction-scoped, so a dead process frees it)
LOCK: Final = "SELECT pg_try_advisory_xact_lock(hashtext('dispatch:breach-watch'))"
SELECT_OPENED: Final = """
SELECT doc_no FROM supervision_items WHERE kind = 'internal' AND doc_no = ANY($1::text[])"""
#: what the 文号 of a breach's item starts with (考核预警: a warning of the evaluation)
DOC_PREFIX: Final = "考核预警"


def doc_no(breach: Breach, month: str) -> str:
    """The 文号 of the item a breach opens: the month, the squad and the rate."""
    return f"{DOC_PREFIX}〔{month}〕{breach.squad_id}/{breach.rate}"


def item_for(breach: Breach, month: str) -> core.ItemIn:
    """The internal supervision item of a breach: the squad answers for it."""
    text = breach.to_json()["text"]
    fraction = f"{breach.numerator}/{breach.denominator}"
    return core.ItemIn.model_construct(
        kind=core.Kind.INTERNAL,
        doc_no=doc_no(breach, month),
        doc_text=f"{month} 月度{text}（{fraction}），请分析原因并整改答复。",
        title=f"考核预警：{breach.squad_name}{LABELS[breach.rate]}未达标",
        incident_ids=[],
        tier_id=breach.squad_id,
        deadline=None,
        days=None,
    )


class BreachWatch:
    """Judges the month so far every ``interval_s`` and opens an item for each new breach."""

    def __init__(
        self,
        pool: store.Pool,
        changes: Changes,
        ref: Callable[[], reference.Reference],
        thresholds: Thresholds,
        days_by_kind: Mapping[str, float],
        tz: tzinfo,
        *,
        min_cases: int,
        interval_s: float,
        weights: Mapping[str, float],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._pool = pool
        self._changes = changes
        self._ref = ref
        self._thresholds = thresholds
        self._days = {core.Kind(kind): n for kind, n in days_by_kind.items()}
        self._tz = tz
        self._min_cases = min_cases
        self._interval_s = interval_s
        self._weights = weights
        self._clock = clock

    async def run(self) -> None:
        """Judge every ``interval_s`` (the first time one interval after start: a server
        restarting does not judge again what another judged a moment ago)."""
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.run_once()
            except Exception as exc:
                log.warning("judging the thresholds failed: %s", exc)

    async def run_once(self) -> list[str]:
        """Judge the month so far; open the items of new breaches; answer their ids."""
        now = self._clock()
        month = now.astimezone(self._tz).strftime("%Y-%m")
        ref = self._ref()
        found = await figures.figures(
            self._pool,
            ref,
            self._tz,
            month_period(month, self._tz, now),
            [GroupBy.SQUAD],
            weights=self._weights,
        )
        counts = {g.key: g.counts for g in found[GroupBy.SQUAD].groups if g.key is not None}
        judged = [
            b
            for b in breaches(counts, ref.squads, self._thresholds)
            if b.denominator >= self._min_cases
        ]
        if not judged:
            return []
        async with self._changes.begin(now=now) as work:
            if not await work.conn.fetchval(LOCK):
                return []  # another process is judging now
            wanted = {doc_no(b, month): b for b in judged}
            opened = {r["doc_no"] for r in await work.conn.fetch(SELECT_OPENED, list(wanted))}
            new = [b for no, b in wanted.items() if no not in opened]
            if not new:
                return []
            rules = work.rules
            ids = await items.next_ids(work.conn, len(new), now, rules.calendar.tz)
            decisions = [
                core.open_item(
                    new_id,
                    item_for(breach, month),
                    None,
                    now,
                    rules.calendar,
                    rules.warn_at,
                    self._days,
                )
                for new_id, breach in zip(ids, new, strict=True)
            ]
            await items.insert(work.conn, [d.item for d in decisions])
            work.record([d.step for d in decisions])
        log.info("thresholds: %d new breaches opened supervision items", len(decisions))
        return [d.item.id for d in decisions]
