"""``dispatch calendar import`` and ``dispatch calendar show`` against a real database.

The years written here are TEST DATA, not the State Council's notice of any year.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from dispatcher import cli
from dispatcher.core.categories import Category, Priority
from dispatcher.core.clocks import WorkingCalendar
from dispatcher.core.deadlines import Rules
from dispatcher.core.incidents import Source
from dispatcher.core.lifecycle import register
from dispatcher.store import records
from tests.integration.support import stored_incident

#: TEST DATA, not the real notice
TEST_2027 = {"year": 2027, "holidays": ["2027-01-01", "2027-02-08"], "workdays": ["2027-02-13"]}
TEST_2028 = {"year": 2028, "holidays": ["2028-01-01"]}


@pytest.fixture
def env(database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("DISPATCH_REDIS_URL", redis_url)


def write(tmp_path: Path, data: object) -> str:
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


@pytest.mark.usefixtures("env")
def test_import_then_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["calendar", "show", "2027"]) == 0
    assert capsys.readouterr().out.startswith("2027: statutory\n")
    assert cli.main(["calendar", "import", write(tmp_path, [TEST_2027, TEST_2028])]) == 0
    out = capsys.readouterr().out
    assert "2027: entered, 2 day(s) off, 1 make-up working day(s)" in out
    assert "2028: entered" in out
    assert "every server process was told" in out
    assert cli.main(["calendar", "show", "2027"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[0].startswith("2027: entered by cli:calendar-import at ")
    assert shown[1] == "holidays (2): 2027-01-01 Fri, 2027-02-08 Mon"
    assert shown[2] == "workdays (1): 2027-02-13 Sat"
    assert cli.main(["calendar", "import", write(tmp_path, TEST_2027)]) == 0
    assert "2027: replaced" in capsys.readouterr().out


@pytest.mark.usefixtures("env")
def test_a_bad_file_enters_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = {"year": 2028, "holidays": ["2028-02-30"]}
    assert cli.main(["calendar", "import", write(tmp_path, [TEST_2027, bad])]) == 1
    assert "2028: holidays[0]: 2028-02-30 is not a date that exists" in capsys.readouterr().err
    assert cli.main(["calendar", "import", write(tmp_path, {"holidays": []})]) == 1
    assert "a year" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    assert cli.main(["calendar", "import", str(tmp_path / "broken.json")]) == 1
    assert cli.main(["calendar", "show", "2027"]) == 0
    assert capsys.readouterr().out.startswith("2027: statutory\n")
    assert cli.main(["calendar", "show", "1800"]) == 2


def test_import_needs_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPATCH_DATABASE_URL", raising=False)
    assert cli.main(["calendar", "import", write(tmp_path, TEST_2027)]) == 2
    assert "DISPATCH_DATABASE_URL" in capsys.readouterr().err


@pytest.mark.usefixtures("env")
def test_import_counts_the_running_clocks_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    """A case of 30 working days registered now; TEST holidays entered just before its
    deadline move it, as the API's PUT does."""
    now = datetime.now(UTC)
    rules = Rules(WorkingCalendar())
    category = Category("299902", "测试：三十个工作日", Priority.NORMAL, "working_days", 30)
    case = register(stored_incident("CLI-1", Source.HOTLINE, now), category, rules, now)
    assert case.deadline is not None
    local = case.deadline.date()
    days_off = []
    cursor = local - timedelta(days=1)
    while len(days_off) < 2 and cursor.year == local.year:
        if rules.calendar.is_workday(cursor):
            days_off.append(cursor.isoformat())
        cursor -= timedelta(days=1)

    async def store_it() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await records.insert_incidents(conn, [records.encode_doc(case, UTC)])
        finally:
            await conn.close()

    async def deadline_now() -> datetime | None:
        conn = await asyncpg.connect(database_url)
        try:
            found = await records.get_incident(conn, "CLI-1")
        finally:
            await conn.close()
        assert found is not None
        return found.deadline

    asyncio.run(store_it())
    entry = {"year": local.year, "holidays": days_off}
    assert cli.main(["calendar", "import", write(tmp_path, entry)]) == 0
    assert "1 running deadline(s) counted again" in capsys.readouterr().out
    moved = asyncio.run(deadline_now())
    assert moved is not None
    assert moved > case.deadline
