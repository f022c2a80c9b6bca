"""The monthly report's workbook and CSV, read back (openpyxl, csv) and compared."""

from __future__ import annotations

import csv
import io

import openpyxl

from dispatcher.core.reports import (
    GROUPINGS,
    HEADER_ROW,
    NO_VALUE,
    NOTES_SHEET,
    SHEETS,
    columns,
    values,
    write_csv,
    write_xlsx,
)
from dispatcher.core.stats import (
    DEFINITIONS,
    RULES,
    Figures,
    GroupBy,
    Standing,
    summarise,
    tabulate,
    time_figure,
)
from dispatcher.settings import from_env

WEIGHTS = from_env({}, require=()).score_weights.as_dict()

META = {
    "month": "2026-10",
    "from": "2026-10-01T00:00:00+08:00",
    "to": "2026-11-01T00:00:00+08:00",
    "as_of": "2026-11-01T00:00:00+08:00",
    "generated_at": "2026-11-02T09:00:00+08:00",
}


def sample() -> dict[GroupBy, Figures]:
    sent = {"registered": True, "dispatched": True}
    counted = {
        "sq-west": [
            (Standing("closed", on_time=True, **sent), 1),
            (Standing("accepted", past_deadline=True, **sent), 1),
            (Standing("resolved", **sent), 1),
        ],
        None: [(Standing("reported"), 1), (Standing("merged"), 1)],
    }
    times = {"sq-west": {"dispatch_to_accept": time_figure(3, 600.0, 700.5)}}
    every = [c for v in counted.values() for c in v]
    total = summarise(None, "合计", every, times["sq-west"], WEIGHTS)
    return {
        g: tabulate(g, counted, times, total, WEIGHTS, lambda k: k or "未派遣") for g in GROUPINGS
    }


def test_the_workbook_has_a_sheet_per_grouping_with_totals_and_notes() -> None:
    figures = sample()
    book = openpyxl.load_workbook(io.BytesIO(write_xlsx(figures, META, WEIGHTS)))
    assert book.sheetnames == [*(SHEETS[g] for g in GROUPINGS), NOTES_SHEET]
    sheet = book[SHEETS[GroupBy.SQUAD]]
    assert "执法数据统计信息表" in sheet["A1"].value
    headers = [c.value for c in sheet[HEADER_ROW]]
    assert headers[:6] == ["中队编号", "名称", "受理数", "立案数", "派遣数", "应处置数"]
    assert {"处置率", "按期处置数", "应结案数", "按期结案数", "按期结案率"} <= set(headers)
    assert headers[-1] == "综合指标值"
    table = list(sheet.iter_rows(min_row=HEADER_ROW + 1, values_only=True))
    figs = figures[GroupBy.SQUAD]
    assert len(table) == len(figs.groups) + 1
    for line, group in zip(table, [*figs.groups, figs.total], strict=True):
        assert list(line[2:]) == [NO_VALUE if v is None else v for v in values(group)]
    assert table[-1][0] == "合计"
    # nothing of 未派遣 was due: its rates are "—", as on the pages
    nobody = table[-2]
    assert nobody[0] is None
    assert nobody[headers.index("处置率")] == "—"
    disposal = headers.index("处置率") + 1
    assert sheet.cell(row=HEADER_ROW + 1, column=disposal).number_format == "0.00%"
    notes = dict(book[NOTES_SHEET].iter_rows(min_row=2, values_only=True))
    assert notes["处置率（disposal_rate）"] == DEFINITIONS["disposal_rate"]
    assert notes["规则 1"] == RULES[0]
    assert "处置率 30" in notes["综合指标权重"]
    assert "非国家标准" in notes["综合指标权重"]


def test_the_csv_holds_the_same_rows() -> None:
    figures = sample()
    text = write_csv(figures).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][:3] == ["分组方式", "分组键", "名称"]
    assert len(lines[0]) == 3 + len(columns())
    squad_rows = [line for line in lines[1:] if line[0] == SHEETS[GroupBy.SQUAD]]
    figs = figures[GroupBy.SQUAD]
    assert [r[1] for r in squad_rows] == [*(g.key or "" for g in figs.groups), "合计"]
    for line, group in zip(squad_rows, [*figs.groups, figs.total], strict=True):
        expected = [
            "—" if v is None else repr(v) if isinstance(v, float) else str(v) for v in values(group)
        ]
        assert line[3:] == expected
    total = squad_rows[-1]
    disposal = lines[0].index("处置率")
    assert (
        float(total[disposal]) == figs.total.rates["disposal_rate"] == 0.666667
    )  # I0 and I2 of I0-I2
