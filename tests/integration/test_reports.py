"""The monthly report (docs/API.md §1, §7): its cells equal the API's figures for the month."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from dispatcher.core.reports import (
    GROUPINGS,
    HEADER_ROW,
    HOTLINE_SHEET,
    KEY_HEADERS,
    NO_VALUE,
    NOTES_SHEET,
    SHEETS,
    columns,
)
from tests.integration.support import ADMIN, Api
from tests.integration.test_stats import build

SHANGHAI = ZoneInfo("Asia/Shanghai")


def month_now() -> str:
    return datetime.now(UTC).astimezone(SHANGHAI).strftime("%Y-%m")


def flat(group: dict[str, Any]) -> list[Any]:
    """A group of the API in the order of the report's figure columns, null written "—"."""
    values = []
    for name, _ in columns():
        if "." in name:
            stage, figure = name.split(".")
            values.append(group["times"][stage][figure])
        else:
            values.append(group[name])
    return [NO_VALUE if v is None else v for v in values]


async def api_figures(api: Api, month: str, as_of: str, group_by: str) -> dict[str, Any]:
    start = datetime.fromisoformat(f"{month}-01T00:00:00+08:00")
    end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    query = urlencode(
        {"from": start.isoformat(), "to": end.isoformat(), "as_of": as_of, "group_by": group_by}
    )
    _, body = await api.call("GET", f"/api/v1/stats?{query}", expect=200)
    return dict(body)


def as_of_of(book: openpyxl.Workbook) -> str:
    """The instant the report judged the incidents at, from its 说明 sheet."""
    period = dict(book[NOTES_SHEET].iter_rows(min_row=2, values_only=True))["统计期间"]
    return str(period).rsplit("统计时点：", 1)[1]


async def test_the_workbook_equals_the_api_figures_cell_by_cell(api: Api) -> None:
    await build(api)
    month = month_now()
    async with api.session.get(
        f"{api.base}/api/v1/reports/monthly?month={month}&format=xlsx",
        headers=api.headers(ADMIN),
    ) as resp:
        assert resp.status == 200
        assert resp.content_type.endswith("spreadsheetml.sheet")
        assert f"report-{month}.xlsx" in resp.headers["Content-Disposition"]
        book = openpyxl.load_workbook(io.BytesIO(await resp.read()))
    assert book.sheetnames == [*(SHEETS[g] for g in GROUPINGS), HOTLINE_SHEET, NOTES_SHEET]
    as_of = as_of_of(book)
    # the 12345 sheet: the figures of GET /api/v1/stats/hotline for the month, code by code
    start = datetime.fromisoformat(f"{month}-01T00:00:00+08:00")
    end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    query = urlencode({"from": start.isoformat(), "to": end.isoformat(), "as_of": as_of})
    _, hotline = await api.call("GET", f"/api/v1/stats/hotline?{query}", expect=200)
    shown = {
        r[1]: r[2] for r in book[HOTLINE_SHEET].iter_rows(min_row=HEADER_ROW + 1, values_only=True)
    }
    assert shown == {
        **hotline["counts"],
        **{k: "—" if v is None else v for k, v in hotline["rates"].items()},
    }
    assert shown["orders"] > 0
    for group_by in GROUPINGS:
        sheet = book[SHEETS[group_by]]
        headers = [c.value for c in sheet[HEADER_ROW]]
        assert headers[0] == KEY_HEADERS[group_by]
        assert headers[2:] == [label for _, label in columns()]
        body = await api_figures(api, month, as_of, group_by.value)
        rows = list(sheet.iter_rows(min_row=HEADER_ROW + 1, values_only=True))
        expected = [*body["groups"], body["total"]]
        assert len(rows) == len(expected), group_by
        for line, group in zip(rows, expected, strict=True):
            key = "合计" if group is body["total"] else group["key"]
            assert (line[0], line[1]) == (key, group["name"])
            assert list(line[2:]) == flat(group), (group_by, key)
    squads = {r[0]: r for r in book[SHEETS[GROUPINGS[0]]].iter_rows(values_only=True)}
    assert squads["合计"][2] == 11  # the build's nine, and the two received around its period
    # nothing never dispatched is due: its 处置率 and 结案率 are "—" here, null in the API
    labels = [c.value for c in book[SHEETS[GROUPINGS[0]]][HEADER_ROW]]
    assert squads[None][labels.index("应结案数")] == 0
    assert squads[None][labels.index("结案率")] == squads[None][labels.index("处置率")] == "—"


def cli_report(
    database_url: str, month: str, out: Path, fmt: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DISPATCH_DATABASE_URL": database_url}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "dispatcher.cli",
            "report",
            "monthly",
            "--month",
            month,
            "--format",
            fmt,
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_cli_writes_the_same_figures_as_csv(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    await build(api)
    month = month_now()
    out = tmp_path / "report.csv"
    done = await asyncio.to_thread(cli_report, database_url, month, out, "csv")
    assert done.returncode == 0, done.stderr
    lines = list(csv.reader(io.StringIO(out.read_text("utf-8-sig"))))
    header, rows = lines[0], lines[1:]
    assert header[:3] == ["分组方式", "分组键", "名称"]
    # the build's period has ended: the month's figures no longer move
    body = await api_figures(api, month, datetime.now(UTC).isoformat(), "squad")
    mine = [r for r in rows if r[0] == SHEETS[GROUPINGS[0]]]
    expected = [*body["groups"], body["total"]]
    assert [r[1] for r in mine] == [*(g["key"] or "" for g in body["groups"]), "合计"]
    for line, group in zip(mine, expected, strict=True):
        want = [repr(v) if isinstance(v, float) else str(v) for v in flat(group)]
        assert line[3:] == want
    xlsx = tmp_path / "report.xlsx"
    done = await asyncio.to_thread(cli_report, database_url, month, xlsx, "xlsx")
    assert done.returncode == 0, done.stderr
    assert openpyxl.load_workbook(xlsx).sheetnames[-1] == NOTES_SHEET
    bad = await asyncio.to_thread(cli_report, database_url, "2026-13", tmp_path / "x", "csv")
    assert bad.returncode == 2
    assert "month" in bad.stderr


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("month=2026-13", 422, "month"),
        ("month=2026-1", 422, "month"),
        ("", 422, "month"),
        ("month=2026-10&format=pdf", 422, "format"),
    ],
)
async def test_bad_report_requests_name_the_field(
    api: Api, query: str, status: int, field: str
) -> None:
    _, body = await api.call("GET", f"/api/v1/reports/monthly?{query}", expect=status)
    assert body["error"]["field"] == field


async def test_a_squad_gets_its_own_report_and_a_device_none(api: Api) -> None:
    await api.load_town()
    west = await api.token("squad", "sq-west")
    status, _ = await api.call("GET", "/api/v1/reports/monthly?month=2026-10&format=csv", west)
    assert status == 200
    device = await api.token("device")
    await api.call("GET", "/api/v1/reports/monthly?month=2026-10", device, expect=403)
    await api.call(
        "GET", "/api/v1/reports/monthly?month=2026-10&squad_id=sq-east", west, expect=403
    )
