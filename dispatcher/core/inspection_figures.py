"""The figures of planned enforcement: inspections planned, done and on time, places inspected,
the share of combined visits (综合查一次), visits saved and findings per 100 inspections.

Definitions (:data:`DEFINITIONS`) are the figures' contract: the endpoint
(``GET /api/v1/stats/inspections``) and the monthly report show them beside the numbers.
Huzhou's 综合查一次 work sets a share of at least 40% of inspections as combined visits; the
share here is the same ratio over the visits done in the period.

Pure: the tasks' facts in, rows out; rolled up over command tiers (:mod:`dispatcher.core.tiers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from openpyxl.styles import Font

from dispatcher.core.routing import Squad
from dispatcher.core.tiers import subtree, tier_name

COUNTS: Final = (
    "planned",
    "done",
    "on_time",
    "overdue_open",
    "places_inspected",
    "combined",
    "visits_saved",
    "findings",
)
RATES: Final = ("done_rate", "on_time_rate", "combined_share", "findings_per_100")
LABELS: Final[Mapping[str, str]] = {
    "planned": "计划检查数",
    "done": "已检查数",
    "on_time": "按时检查数",
    "overdue_open": "超期未检查数",
    "places_inspected": "检查对象数",
    "combined": "综合查一次数",
    "visits_saved": "减少检查次数",
    "findings": "发现问题数",
    "done_rate": "检查完成率",
    "on_time_rate": "按时检查率",
    "combined_share": "综合查一次占比",
    "findings_per_100": "百次检查问题发现数",
}
DEFINITIONS: Final[Mapping[str, str]] = {
    "planned": "inspection tasks assigned in the period",
    "done": "of those, tasks whose result is recorded",
    "on_time": "of the done, those recorded by their deadline",
    "overdue_open": "tasks not done whose deadline has passed",
    "places_inspected": "distinct places with a done task",
    "combined": "done tasks (visits) covering the items of two departments or more",
    "visits_saved": "over the tasks planned: the visits one per department would have made, "
    "less the one combined visit each (Σ (departments − 1))",
    "findings": "failed checklist items of the done tasks",
    "done_rate": "done ÷ planned",
    "on_time_rate": "on_time ÷ done",
    "combined_share": "combined ÷ done (综合查一次 share of visits)",
    "findings_per_100": "findings × 100 ÷ done",
}


@dataclass(frozen=True)
class TaskFacts:
    squad_id: str | None
    place_id: str
    done: bool
    deadline: datetime
    done_at: datetime | None
    departments: int
    findings: int


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def figures(facts: Iterable[TaskFacts], now: datetime) -> dict[str, Any]:
    """The counts and rates of these tasks."""
    tasks = list(facts)
    done = [t for t in tasks if t.done]
    on_time = sum(1 for t in done if t.done_at is not None and t.done_at <= t.deadline)
    combined = sum(1 for t in done if t.departments >= 2)
    findings = sum(t.findings for t in done)
    row: dict[str, Any] = {
        "planned": len(tasks),
        "done": len(done),
        "on_time": on_time,
        "overdue_open": sum(1 for t in tasks if not t.done and t.deadline <= now),
        "places_inspected": len({t.place_id for t in done}),
        "combined": combined,
        "visits_saved": sum(max(t.departments - 1, 0) for t in tasks),
        "findings": findings,
        "done_rate": _ratio(len(done), len(tasks)),
        "on_time_rate": _ratio(on_time, len(done)),
        "combined_share": _ratio(combined, len(done)),
        "findings_per_100": round(findings * 100 / len(done), 2) if done else None,
    }
    return row


def by_squad(
    facts: Sequence[TaskFacts], squads: Mapping[str, Squad], now: datetime, *, rolled_up: bool
) -> list[dict[str, Any]]:
    """One row per squad with tasks (``rolled_up``: per squad over its whole tier, every squad
    of the snapshot that has a task in its subtree), then the total (key None, 合计)."""
    rows = []
    keys = sorted({t.squad_id for t in facts if t.squad_id})
    if rolled_up:
        keys = sorted(s for s in squads if any(t.squad_id in subtree(s, squads) for t in facts))
    for key in keys:
        covered = subtree(key, squads) if rolled_up else frozenset({key})
        mine = [t for t in facts if t.squad_id in covered]
        squad = squads.get(key)
        rows.append(
            {
                "key": key,
                "name": squad.name if squad else key,
                "tier": tier_name(key, squads) if squad else None,
                **figures(mine, now),
            }
        )
    rows.append({"key": None, "name": "合计", "tier": None, **figures(facts, now)})
    return rows


# -- the monthly report's sheet -----------------------------------------------------------------

#: the monthly report's sheet (and the CSV's 分组方式) of the inspection figures
SHEET: Final = "双随机检查"
HEADERS: Final = ("中队编号", "名称", *(LABELS[n] for n in (*COUNTS, *RATES)))


def report_rows(rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """The rows of :func:`by_squad` as the report shows them: key (合计 for the total), name,
    then every count and rate (None where a rate has no denominator)."""
    return [
        [row["key"] if row["key"] is not None else "合计", row["name"]]
        + [row[n] for n in (*COUNTS, *RATES)]
        for row in rows
    ]


def fill_sheet(sheet: Any, title: str, period: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write the figures onto an openpyxl worksheet: a title, the period, the table, then each
    figure's definition."""
    sheet["A1"] = title
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A2"] = period
    for c, text in enumerate(HEADERS, start=1):
        sheet.cell(row=3, column=c, value=text).font = Font(bold=True)
    shares = {n for n in RATES if n != "findings_per_100"}
    names = ("key", "name", *COUNTS, *RATES)
    for r, values in enumerate(report_rows(rows), start=4):
        for c, (name, value) in enumerate(zip(names, values, strict=True), start=1):
            cell = sheet.cell(row=r, column=c, value="—" if value is None else value)
            if name in shares and value is not None:
                cell.number_format = "0.00%"
    below = 4 + len(rows) + 1
    for r, name in enumerate((*COUNTS, *RATES), start=below):
        sheet.cell(row=r, column=1, value=f"{LABELS[name]}（{name}）")
        sheet.cell(row=r, column=3, value=DEFINITIONS[name])
    sheet.column_dimensions["A"].width = 16
    sheet.column_dimensions["B"].width = 18


def csv_rows(rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """The CSV's rows: 分组方式 (:data:`SHEET`), key, name, then the counts and rates."""
    return [[SHEET, *row] for row in report_rows(rows)]
