"""12345 work orders as a bureau exports them: a CSV or Excel sheet, one order a row.

The batch import (``POST /api/v1/incidents:batch``, docs/API.md §4) takes, besides NDJSON, the
sheet a 12345 platform or a bureau keeps its work orders in (工单台账): a header row of
Chinese column names, then one order a row. :func:`parse_sheet` turns each row into the
report ``POST /api/v1/incidents`` takes (source ``hotline``) or the error of that row, as
:func:`dispatcher.core.batch.parse_lines` does for NDJSON; a bad row never stops the others.

Columns (:data:`COLUMNS`; English names are accepted too): 工单编号 (the platform's number,
required: a sheet may be sent again), 问题类别 (a category code), 诉求类型 (咨询, 求助, 投诉,
建议, 举报, or their codes), 经度, 纬度, 坐标系, 诉求地址, 诉求内容, 来电时间, 办结时限,
联系时限. A time without an offset (as spreadsheets keep them) is the deployment's local time.
Unknown columns are ignored. Pure: bytes in, lines out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, tzinfo
from typing import Any, Final

from openpyxl import load_workbook

from dispatcher.core.batch import Line
from dispatcher.core.errors import BadRequest, DispatchError, ValidationFailed
from dispatcher.core.intake import parse_report_object
from dispatcher.core.request_types import NAMES_ZH

CSV: Final = "text/csv"
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: column name (Chinese, as exported; or the field's own name) → the report's field
COLUMNS: Final[Mapping[str, str]] = {
    "工单编号": "external_id",
    "问题类别": "category",
    "类别编码": "category",
    "诉求类型": "request_type",
    "经度": "lon",
    "纬度": "lat",
    "坐标系": "crs",
    "诉求地址": "address",
    "地址": "address",
    "诉求内容": "description",
    "问题描述": "description",
    "来电时间": "occurred_at",
    "办结时限": "closure_deadline",
    "联系时限": "contact_deadline",
}
FIELDS: Final = frozenset(COLUMNS.values())
TIMES: Final = frozenset({"occurred_at", "closure_deadline", "contact_deadline"})
NUMBERS: Final = frozenset({"lon", "lat"})
_TYPES: Final = {zh: t.value for t, zh in NAMES_ZH.items()}
#: the column a field is named by in errors (the first Chinese name of each)
_NAMES: Final = {f: next(c for c, to in COLUMNS.items() if to == f) for f in FIELDS}


def rows_of(body: bytes, media_type: str) -> list[tuple[int, list[Any]]]:
    """The sheet's rows with their numbers (1-based, as a spreadsheet shows them)."""
    if media_type == XLSX:
        try:
            book = load_workbook(io.BytesIO(body), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a file that is no workbook
            raise BadRequest(f"the body is not an Excel workbook (.xlsx): {exc}") from None
        sheet = book.worksheets[0]
        found = [(n, list(row)) for n, row in enumerate(sheet.iter_rows(values_only=True), 1)]
        book.close()
        return found
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("a CSV batch must be UTF-8 (with or without a BOM)") from None
    return [(n, list(row)) for n, row in enumerate(csv.reader(io.StringIO(text)), 1)]


def parse_sheet(body: bytes, media_type: str, tz: tzinfo) -> list[Line]:
    """Each order row as a report, or the error of that row (the header is row 1)."""
    rows = [(n, row) for n, row in rows_of(body, media_type) if any(_filled(v) for v in row)]
    if not rows:
        raise ValidationFailed("the sheet has no header row", field="header")
    number, header = rows[0]
    fields = [COLUMNS.get(str(h).strip(), str(h).strip()) if h is not None else "" for h in header]
    if "external_id" not in fields:
        raise ValidationFailed(
            f"row {number}: the header needs a 工单编号 (external_id) column", field="工单编号"
        )
    return [_line(n, fields, row, tz) for n, row in rows[1:]]


def _filled(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def _line(number: int, fields: Sequence[str], row: Sequence[Any], tz: tzinfo) -> Line:
    try:
        data = {"source": "hotline", **_cells(fields, row, tz)}
        if not data.get("external_id"):
            raise ValidationFailed(
                "工单编号: each row needs the order's number (a sheet may be sent again)",
                field="external_id",
            )
        return Line(number, report=parse_report_object(data))
    except DispatchError as exc:
        if exc.field in _NAMES:
            exc.message = f"{_NAMES[exc.field]} ({exc.field}): " + exc.message.removeprefix(
                f"{exc.field}: "
            )
        return Line(number, error=exc)


def _cells(fields: Sequence[str], row: Sequence[Any], tz: tzinfo) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, value in zip(fields, row, strict=False):
        if name not in FIELDS or not _filled(value):
            continue
        data[name] = _value(name, value, tz)
    return data


def _value(name: str, value: Any, tz: tzinfo) -> Any:
    if name in TIMES:
        return _time(name, value, tz)
    if name in NUMBERS:
        return value if isinstance(value, int | float) else str(value).strip()
    text = str(value).strip()
    if name == "request_type":
        return _TYPES.get(text, text)
    if name in ("external_id", "category") and isinstance(value, float) and value.is_integer():
        return str(int(value))  # a code a spreadsheet took for a number
    return text


def _time(name: str, value: Any, tz: tzinfo) -> str:
    """A sheet's time as RFC 3339: a naive one (a spreadsheet's) in the deployment's zone."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(0))
    else:
        text = str(value).strip().replace("/", "-")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationFailed(
                f"{name}: {text!r} is not a time (2026-11-25 18:00 or 2026-11-25T18:00:00+08:00)",
                field=name,
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.isoformat()


def media_type_of(content_type: str) -> str | None:
    """The sheet format of a request's ``Content-Type`` (None: NDJSON, the default)."""
    base = content_type.split(";", 1)[0].strip().lower()
    return base if base in (CSV, XLSX) else None
