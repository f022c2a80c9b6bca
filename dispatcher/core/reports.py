"""The monthly report (执法数据统计信息表, docs/API.md §1 and §7) as an Excel workbook or CSV.

Both are written from the same :class:`~dispatcher.core.stats.Figures` as ``GET /api/v1/stats``
answers for the month, so every number in them equals the API's. The workbook has one sheet
per grouping (Chinese headers, a 合计 row computed from the totals, not by adding rates) and
a 说明 sheet stating the period, the formulas, the edge rules and the score's weights. The
CSV holds the same rows, one grouping after the other, with a 分组方式 column. A figure without
a value (a rate or score whose denominator is 0, a time never measured) is written "—" in
both, as the pages show it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from dispatcher.core import inspection_figures
from dispatcher.core.stats import (
    COUNTS,
    DEFINITIONS,
    HOTLINE_COUNTS,
    HOTLINE_DEFINITIONS,
    HOTLINE_LABELS,
    HOTLINE_RATES,
    LABELS,
    RATES,
    RULES,
    TIMES,
    Figures,
    GroupBy,
    GroupFigures,
    HotlineFigures,
)

TITLE: Final = "执法数据统计信息表"
#: the groupings of the monthly report, in the order of its sheets
GROUPINGS: Final = (GroupBy.SQUAD, GroupBy.ZONE, GroupBy.CATEGORY, GroupBy.SOURCE, GroupBy.DAY)
SHEETS: Final[Mapping[GroupBy, str]] = {
    GroupBy.SQUAD: "按中队",
    GroupBy.ZONE: "按区域",
    GroupBy.CATEGORY: "按类别",
    GroupBy.SOURCE: "按来源",
    GroupBy.DAY: "按日",
}
KEY_HEADERS: Final[Mapping[GroupBy, str]] = {
    GroupBy.SQUAD: "中队编号",
    GroupBy.ZONE: "区域编号",
    GroupBy.CATEGORY: "类别编码",
    GroupBy.SOURCE: "来源",
    GroupBy.DAY: "日期",
}
NOTES_SHEET: Final = "说明"
#: the sheet (and the CSV's 分组方式) of the 12345 figures, before the 说明
HOTLINE_SHEET: Final = "12345工单"
#: the row of the column headers in every grouping sheet (a title and the period above it)
HEADER_ROW: Final = 3
#: what a cell of a figure without a value holds (the API's null)
NO_VALUE: Final = "—"


class ReportFormat(StrEnum):
    XLSX = "xlsx"
    CSV = "csv"


MEDIA_TYPES: Final[Mapping[ReportFormat, str]] = {
    ReportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ReportFormat.CSV: "text/csv; charset=utf-8",
}


def columns() -> list[tuple[str, str]]:
    """(field, Chinese header) of every figure column, after the key and the name."""
    cols = [(name, LABELS[name]) for name in COUNTS]
    cols += [(name, LABELS[name]) for name in RATES]
    for name in TIMES:
        cols.append((f"{name}.avg_s", f"{LABELS[name]}平均（秒）"))
        cols.append((f"{name}.p90_s", f"{LABELS[name]}P90（秒）"))
    cols.append(("score", LABELS["score"]))
    return cols


def values(group: GroupFigures) -> list[Any]:
    """A group's figures in the order of :func:`columns` (None where there is no value)."""
    flat: dict[str, Any] = {**group.counts, **group.rates, "score": group.score}
    for name, figure in group.times.items():
        flat[f"{name}.avg_s"] = figure.avg_s
        flat[f"{name}.p90_s"] = figure.p90_s
    return [flat[name] for name, _ in columns()]


def _period_text(meta: Mapping[str, str]) -> str:
    return f"统计期间：{meta['from']} 至 {meta['to']}（不含）；统计时点：{meta['as_of']}"


def write_xlsx(
    figures: Mapping[GroupBy, Figures],
    meta: Mapping[str, str],
    weights: Mapping[str, float],
    hotline: HotlineFigures | None = None,
    inspections: Sequence[Mapping[str, Any]] | None = None,
) -> bytes:
    """The workbook, as bytes. ``meta`` holds ``month``, ``from``, ``to``, ``as_of``;
    ``hotline``, when given, adds the 12345 sheet before the 说明; ``inspections`` (rows of
    ``inspection_figures.by_squad``) the sheet of planned inspections."""
    book = Workbook()
    book.remove(book.active)
    bold = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    cols = columns()
    rate_fields = set(RATES)
    for group_by, figs in figures.items():
        sheet = book.create_sheet(SHEETS[group_by])
        sheet["A1"] = f"{TITLE}（{meta['month']}）— {SHEETS[group_by]}"
        sheet["A1"].font = Font(bold=True, size=14)
        sheet["A2"] = _period_text(meta)
        headers = [KEY_HEADERS[group_by], "名称", *(label for _, label in cols)]
        for c, text in enumerate(headers, start=1):
            cell = sheet.cell(row=HEADER_ROW, column=c, value=text)
            cell.font = bold
            cell.fill = header_fill
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        rows = [*figs.groups, figs.total]
        for r, group in enumerate(rows, start=HEADER_ROW + 1):
            sheet.cell(row=r, column=1, value=group.key if group is not figs.total else "合计")
            sheet.cell(row=r, column=2, value=group.name)
            for c, ((name, _), value) in enumerate(zip(cols, values(group), strict=True), 3):
                cell = sheet.cell(row=r, column=c, value=NO_VALUE if value is None else value)
                if value is None:
                    cell.alignment = Alignment(horizontal="center")
                elif name in rate_fields:
                    cell.number_format = "0.00%"
                elif name == "score":
                    cell.number_format = "0.00"
            if group is figs.total:
                for c in range(1, len(headers) + 1):
                    sheet.cell(row=r, column=c).font = bold
        sheet.freeze_panes = sheet.cell(row=HEADER_ROW + 1, column=3)
        sheet.column_dimensions["A"].width = 14
        sheet.column_dimensions["B"].width = 18
        for c in range(3, len(headers) + 1):
            sheet.column_dimensions[get_column_letter(c)].width = 11
    if hotline is not None:
        _hotline_sheet(book.create_sheet(HOTLINE_SHEET), meta, hotline)
    if inspections is not None:
        inspection_figures.fill_sheet(
            book.create_sheet(inspection_figures.SHEET),
            f"{TITLE}（{meta['month']}）— 双随机检查 · 综合查一次",
            _period_text(meta),
            inspections,
        )
    _notes(book.create_sheet(NOTES_SHEET), meta, weights, hotline)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def hotline_rows(hotline: HotlineFigures) -> list[tuple[str, str, Any]]:
    """The 12345 figures as (code, label, value) rows: the counts, then the rates."""
    rows: list[tuple[str, str, Any]] = [
        (name, HOTLINE_LABELS[name], hotline.counts[name]) for name in HOTLINE_COUNTS
    ]
    rows.extend((name, HOTLINE_LABELS[name], hotline.rates[name]) for name in HOTLINE_RATES)
    return rows


def _hotline_sheet(sheet: Any, meta: Mapping[str, str], hotline: HotlineFigures) -> None:
    sheet["A1"] = f"{TITLE}（{meta['month']}）— 12345 接诉即办"
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A2"] = _period_text(meta)
    for c, text in enumerate(("指标", "代码", "数值"), start=1):
        sheet.cell(row=HEADER_ROW, column=c, value=text).font = Font(bold=True)
    for r, (name, label, value) in enumerate(hotline_rows(hotline), start=HEADER_ROW + 1):
        sheet.cell(row=r, column=1, value=label)
        sheet.cell(row=r, column=2, value=name)
        cell = sheet.cell(row=r, column=3, value=NO_VALUE if value is None else value)
        if name in HOTLINE_RATES and value is not None:
            cell.number_format = "0.00%"
    sheet.column_dimensions["A"].width = 18
    sheet.column_dimensions["B"].width = 22


def notes(
    meta: Mapping[str, str],
    weights: Mapping[str, float],
    hotline: HotlineFigures | None = None,
) -> list[tuple[str, str]]:
    """The 说明: period, each figure's formula, the edge rules, the weights (and the 12345
    figures' formulas when they are in the report)."""
    lines: list[tuple[str, str]] = [
        ("报表", f"{TITLE}（{meta['month']}）"),
        ("统计期间", _period_text(meta)),
        ("生成时间", meta.get("generated_at", "")),
    ]
    for name in (*COUNTS, *RATES, *TIMES, "score"):
        lines.append((f"{LABELS[name]}（{name}）", DEFINITIONS[name]))
    lines.extend((f"规则 {n}", text) for n, text in enumerate(RULES, start=1))
    shown = "，".join(f"{LABELS[k]} {v:g}" for k, v in weights.items())
    lines.append(
        ("综合指标权重", f"{shown}（本部署或本次请求的设定；各地考评办法自定，非国家标准）")
    )
    if hotline is not None:
        for name in (*HOTLINE_COUNTS, *HOTLINE_RATES):
            if name in HOTLINE_DEFINITIONS:
                lines.append((f"{HOTLINE_LABELS[name]}（{name}）", HOTLINE_DEFINITIONS[name]))
        counted = "计入" if hotline.basically_counts else "不计入"
        lines.append(("满意率口径", f"基本满意{counted}满意率（本部署的设定）"))
    return lines


def _notes(
    sheet: Any,
    meta: Mapping[str, str],
    weights: Mapping[str, float],
    hotline: HotlineFigures | None = None,
) -> None:
    sheet["A1"] = "项目"
    sheet["B1"] = "说明"
    sheet["A1"].font = sheet["B1"].font = Font(bold=True)
    for r, (item, text) in enumerate(notes(meta, weights, hotline), start=2):
        sheet.cell(row=r, column=1, value=item)
        sheet.cell(row=r, column=2, value=text).alignment = Alignment(wrap_text=True)
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 110


def write_csv(
    figures: Mapping[GroupBy, Figures],
    hotline: HotlineFigures | None = None,
    inspections: Sequence[Mapping[str, Any]] | None = None,
) -> bytes:
    """Every grouping's rows and its 合计 row, in UTF-8 with a BOM (for Excel); then, when
    given, one row per 12345 figure (分组方式 12345工单, its code, its label, its value)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["分组方式", "分组键", "名称", *(label for _, label in columns())])
    for group_by, figs in figures.items():
        for group in (*figs.groups, figs.total):
            key = "合计" if group is figs.total else group.key
            row: Sequence[Any] = [SHEETS[group_by], key or "", group.name, *values(group)]
            writer.writerow([NO_VALUE if v is None else _csv_value(v) for v in row])
    for name, label, value in hotline_rows(hotline) if hotline is not None else ():
        shown = NO_VALUE if value is None else _csv_value(value)
        writer.writerow([HOTLINE_SHEET, name, label, shown])
    for row in inspection_figures.csv_rows(inspections or ()):
        writer.writerow([NO_VALUE if v is None else _csv_value(v) for v in row])
    return out.getvalue().encode("utf-8-sig")


def _csv_value(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def filename(month: str, fmt: ReportFormat) -> str:
    return f"{TITLE}-{month}.{fmt.value}"


def meta_for(
    month: str, period: Mapping[str, str], generated_at: datetime, tz: tzinfo
) -> dict[str, str]:
    return {
        "month": month,
        **period,
        "generated_at": generated_at.astimezone(tz).isoformat(timespec="seconds"),
    }


def render(
    fmt: ReportFormat,
    figures: Mapping[GroupBy, Figures],
    meta: Mapping[str, str],
    weights: Mapping[str, float],
    hotline: HotlineFigures | None = None,
    inspections: Sequence[Mapping[str, Any]] | None = None,
) -> bytes:
    """The report in ``fmt`` (with the 12345 figures when ``hotline`` is given, and the
    planned inspections' when ``inspections`` is)."""
    if fmt is ReportFormat.XLSX:
        return write_xlsx(figures, meta, weights, hotline, inspections)
    return write_csv(figures, hotline, inspections)
