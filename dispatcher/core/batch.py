"""Bulk import for grid platforms (数字城管, 基层四平台): NDJSON, one report a line.

``POST /api/v1/incidents:batch`` takes up to :data:`MAX_LINES` reports, one JSON object a
line, each as ``POST /api/v1/incidents`` takes it and each with an ``external_id`` (so that a
platform re-sending a file after a failure creates nothing twice). It answers one result a
line: ``created``, ``replayed`` (the same source and external id was taken before) or
``error`` with the error of that line; a bad line never stops the others.

Pure: :func:`parse_lines` reads the lines, :func:`result` and :func:`summary` write the answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from dispatcher.core.errors import DispatchError, ValidationFailed
from dispatcher.core.intake import IncidentIn, parse_report

MAX_LINES: Final = 10_000
#: the largest body taken (10,000 reports of about a kilobyte and a half)
MAX_BYTES: Final = 16 * 1024 * 1024


@dataclass(frozen=True)
class Line:
    number: int  # 1-based, counting blank lines, as an editor shows it
    report: IncidentIn | None = None
    error: DispatchError | None = None


def parse_lines(raw: Iterable[bytes]) -> list[Line]:
    """Each non-blank line as a report, or the error that line has."""
    lines: list[Line] = []
    for number, text in enumerate(raw, start=1):
        if not text.strip():
            continue
        try:
            report = parse_report(text)
        except DispatchError as exc:
            lines.append(Line(number, error=exc))
            continue
        if not report.external_id:
            error = ValidationFailed(
                "external_id: each line of a batch needs one (a batch may be sent again)",
                field="external_id",
            )
            lines.append(Line(number, error=error))
            continue
        lines.append(Line(number, report=report))
    return lines


def error_json(error: DispatchError) -> dict[str, Any]:
    body: dict[str, Any] = error.body()["error"]
    body["status"] = error.status
    return body


def result(line: Line, doc: dict[str, Any] | None, created: bool) -> dict[str, Any]:
    """One line's result: its incident (id, state, duplicate_of) or its error."""
    if line.error is not None or doc is None:
        assert line.error is not None
        return {"line": line.number, "result": "error", "error": error_json(line.error)}
    return {
        "line": line.number,
        "result": "created" if created else "replayed",
        "external_id": doc["external_id"],
        "id": doc["id"],
        "state": doc["state"],
        "duplicate_of": doc["duplicate_of"],
    }


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {"created": 0, "replayed": 0, "error": 0}
    for r in results:
        counts[r["result"]] += 1
    return {
        "lines": len(results),
        "created": counts["created"],
        "replayed": counts["replayed"],
        "failed": counts["error"],
        "results": results,
    }
