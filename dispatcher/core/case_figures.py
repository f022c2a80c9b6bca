"""Figures of enforcement cases: opened, filed and closed in a period, on time (按期率).

Pure. Counted per procedure and per squad, a squad's row rolled up over its tier (the squad and
every squad below it, :mod:`dispatcher.core.tiers`), so that a 大队's row holds its 中队s'.

- ``opened``: cases registered (案源登记) in the period;
- ``filed`` / ``filed_on_time``: cases filed (立案) in the period / of them within the 立案 limit;
- ``closed`` / ``closed_on_time``: cases closed (结案) in the period / of them decided within the
  结案 limit (简易 cases always: they have none);
- ``overdue_open``: cases not closed whose running clock is red now (两超期 still open);
- ``filing_rate`` = filed_on_time / filed (立案按期率), ``closing_rate`` = closed_on_time /
  closed (结案按期率); None when nothing was counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from dispatcher.core.routing import Squad
from dispatcher.core.tiers import subtree, tier_name

COUNTS: Final = ("opened", "filed", "filed_on_time", "closed", "closed_on_time", "overdue_open")
RATES: Final = {
    "filing_rate": ("filed_on_time", "filed"),  # 立案按期率
    "closing_rate": ("closed_on_time", "closed"),  # 结案按期率
}


@dataclass(frozen=True)
class CaseRow:
    """What the figures read of a case."""

    procedure: str
    squad_id: str | None
    colour: str
    opened_at: datetime
    filed_at: datetime | None
    closed_at: datetime | None
    filing_late: bool
    decision_late: bool


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))

    def add(self, row: CaseRow, start: datetime, end: datetime) -> None:
        c = self.counts
        if start <= row.opened_at < end:
            c["opened"] += 1
        if row.filed_at is not None and start <= row.filed_at < end:
            c["filed"] += 1
            c["filed_on_time"] += not row.filing_late
        if row.closed_at is not None and start <= row.closed_at < end:
            c["closed"] += 1
            c["closed_on_time"] += not row.decision_late
        if row.closed_at is None and row.colour == "red":
            c["overdue_open"] += 1

    def to_json(self) -> dict[str, Any]:
        rates = {
            name: round(self.counts[top] / self.counts[bottom], 4) if self.counts[bottom] else None
            for name, (top, bottom) in RATES.items()
        }
        return {**self.counts, **rates}


def figures(
    rows: Iterable[CaseRow],
    start: datetime,
    end: datetime,
    squads: Mapping[str, Squad],
    scope: str | None,
) -> dict[str, Any]:
    """The period's figures: in total, per procedure and per squad (each over its tier);
    ``scope``: only the cases of that squad's tier (None: every case)."""
    allowed = subtree(scope, squads) if scope is not None else None
    kept = [r for r in rows if allowed is None or r.squad_id in allowed]
    total = Tally()
    by_procedure: dict[str, Tally] = {}
    own: dict[str | None, list[CaseRow]] = {}
    for row in kept:
        total.add(row, start, end)
        by_procedure.setdefault(row.procedure, Tally()).add(row, start, end)
        own.setdefault(row.squad_id, []).append(row)
    shown = sorted(allowed if allowed is not None else squads)
    by_squad = []
    for squad_id in shown:
        if squad_id not in squads:
            continue
        tally = Tally()
        for member in subtree(squad_id, squads):
            for row in own.get(member, ()):
                tally.add(row, start, end)
        by_squad.append(
            {
                "squad_id": squad_id,
                "name": squads[squad_id].name,
                "tier": tier_name(squad_id, squads),
                **tally.to_json(),
            }
        )
    return {
        "total": total.to_json(),
        "by_procedure": {k: v.to_json() for k, v in sorted(by_procedure.items())},
        "by_squad": by_squad,
    }
