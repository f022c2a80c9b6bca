"""The holiday calendar through the API: entering a year, reading it, every process using it.

The years entered here are TEST DATA, made up for the tests: not the State Council's notice
of any year.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from dispatcher.app import create_app
from dispatcher.core.clocks import SHANGHAI
from dispatcher.core.holidays import HolidayBook, entered_year
from dispatcher.web import api_calendar
from dispatcher.web.context import RUNTIME
from tests.integration.support import ADMIN, WEST, Api, settings_for

#: TEST DATA for 2027, not the real notice: 元旦 and a week of 春节 off, one Saturday worked
TEST_2027: dict[str, Any] = {
    "holidays": ["2027-01-01", *(f"2027-02-{d:02d}" for d in range(5, 12))],
    "workdays": ["2027-02-13"],
}
#: 2026-12-03 10:00 in Shanghai: the package's data ends 28 days later
DEC_3: datetime = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


@pytest_asyncio.fixture
async def start_at(
    database_url: str, redis_url: str
) -> AsyncIterator[Callable[..., Awaitable[Api]]]:
    """Starts in-process servers that take ``now()`` as the time for the calendar's coverage
    (a fixed instant, or ``clock`` to move it); ``app`` gets the application."""
    servers: list[TestServer] = []
    async with aiohttp.ClientSession() as session:

        async def start(
            now: datetime,
            clock: Callable[[], datetime] | None = None,
            app: list[web.Application] | None = None,
        ) -> Api:
            made = create_app(settings_for(database_url, redis_url), clock=clock or (lambda: now))
            server = TestServer(made, host="127.0.0.1")
            await server.start_server()
            servers.append(server)
            if app is not None:
                app.append(made)
            return Api(str(server.make_url("")).rstrip("/"), session)

        yield start
        for server in servers:
            await server.close()


async def test_admin_enters_a_year_and_every_reader_sees_it(api: Api) -> None:
    await api.load_town()
    _, before = await api.call("GET", "/api/v1/calendar/2027", expect=200)
    assert before["source"] == "statutory"
    assert "2027-02-09" in before["holidays"]  # 补假 for 初一 on a Saturday
    status, entered = await api.call("PUT", "/api/v1/calendar/2027", body=TEST_2027)
    assert status == 201, entered
    assert entered["source"] == "entered"
    assert entered["holidays"] == TEST_2027["holidays"]
    assert entered["workdays"] == ["2027-02-13"]
    assert entered["entered_by"]
    assert entered["entered_at"]
    again = {**TEST_2027, "workdays": []}
    _, replaced = await api.call("PUT", "/api/v1/calendar/2027", body=again, expect=200)
    assert replaced["workdays"] == []
    for role in ("operator", "auditor", "squad"):
        token = await api.token(role, "sq-west" if role == "squad" else None)
        _, seen = await api.call("GET", "/api/v1/calendar/2027", token, expect=200)
        assert seen["source"] == "entered"
        await api.call("GET", "/api/v1/calendar", token, expect=200)
        status, refused = await api.call("PUT", "/api/v1/calendar/2027", token, body=TEST_2027)
        assert status == 403, refused
    device = await api.token("device")
    await api.call("GET", "/api/v1/calendar/2027", device, expect=403)
    _, package = await api.call("GET", "/api/v1/calendar/2026", expect=200)
    assert package["source"] == "package"
    assert "2026-10-01" in package["holidays"]


async def test_bad_entries_answer_422_naming_the_field(api: Api) -> None:
    cases = [
        ({"holidays": ["2027-02-30"]}, "holidays", "exists"),
        ({"holidays": ["2028-01-01"]}, "holidays", "not in 2027"),
        ({"holidays": ["1 January"]}, "holidays", "YYYY-MM-DD"),
        ({"holidays": "2027-01-01"}, "holidays", "list"),
        ({"holidays": []}, "holidays", "empty"),
        ({"workdays": ["2027-02-13"]}, "holidays", "list"),
        ({"holidays": ["2027-01-01"], "workdays": ["2027-01-01"]}, "workdays", "both"),
        ({"holidays": ["2027-01-01"], "workdays": ["2027-02-10"]}, "workdays", "Saturday"),
    ]
    for body, field, words in cases:
        status, answer = await api.call("PUT", "/api/v1/calendar/2027", body=body)
        assert status == 422, (body, answer)
        assert answer["error"]["code"] == "invalid"
        assert answer["error"]["field"] == field, answer
        assert words in answer["error"]["message"], answer
    status, answer = await api.call("PUT", "/api/v1/calendar/2027", data=b"{not json")
    assert status == 400, answer
    assert answer["error"]["code"] == "bad_request"
    for year in ("27", "abcd", "1800", "2100"):
        status, answer = await api.call("GET", f"/api/v1/calendar/{year}")
        assert (status, answer["error"]["field"]) == (422, "year"), answer
    _, kept = await api.call("GET", "/api/v1/calendar/2027", expect=200)
    assert kept["source"] == "statutory"


async def test_a_restarted_server_keeps_the_entered_year(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    first = await api_factory()
    await first.call("PUT", "/api/v1/calendar/2027", body=TEST_2027, expect=201)
    restarted = await api_factory()  # a new application on the same database
    _, seen = await restarted.call("GET", "/api/v1/calendar/2027", expect=200)
    assert seen["source"] == "entered"
    assert seen["holidays"] == TEST_2027["holidays"]


def days_off_from(today: date, days: int) -> dict[int, list[str]]:
    """TEST DATA: every date of the next ``days`` days as a holiday, by year."""
    years: dict[int, list[str]] = {}
    for n in range(days):
        day = today + timedelta(days=n)
        years.setdefault(day.year, []).append(day.isoformat())
    return years


async def test_a_deadline_computed_after_the_put_follows_it(api: Api) -> None:
    await api.load_town()
    # a grid report: on its category's clock (a hotline one would be on its request type's)
    _, before = await api.report(ADMIN, source="grid", external_id="c-1")
    today = datetime.now(SHANGHAI).date()
    # a 4 working-hour limit: at most the longest holiday of a notice away (9 days in 2026)
    assert datetime.fromisoformat(before["deadline"]).date() < today + timedelta(days=12)
    # TEST DATA: the next three weeks off, whatever the real date of the run
    for year, days in days_off_from(today - timedelta(days=1), 22).items():
        await api.call("PUT", f"/api/v1/calendar/{year}", body={"holidays": days}, expect=201)
    # far enough from the first not to join it as a duplicate
    _, after = await api.report(ADMIN, source="grid", external_id="c-2", lon=WEST[0] + 0.02)
    assert after["state"] == before["state"]
    assert datetime.fromisoformat(after["deadline"]).date() > today + timedelta(days=20)


async def test_another_process_uses_the_year_at_once(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    one, other = await api_factory(), await api_factory()
    await one.call("PUT", "/api/v1/calendar/2027", body=TEST_2027, expect=201)
    source = None
    for _ in range(200):  # the control message crosses Redis: wait for the state, not a time
        _, seen = await other.call("GET", "/api/v1/calendar/2027", expect=200)
        source = seen["source"]
        if source == "entered":
            break
        await asyncio.sleep(0.01)
    assert source == "entered"


async def test_coverage_warns_until_the_next_year_is_entered(
    start_at: Callable[..., Awaitable[Api]],
) -> None:
    api = await start_at(DEC_3)
    _, status = await api.call("GET", "/api/v1/calendar", expect=200)
    assert status["today"] == "2026-12-03"
    assert status["covered_until"] == "2026-12-31"
    assert status["covered_days"] == 28
    assert status["covered"] is False
    assert status["missing_year"] == 2027
    assert status["warning"]["zh"] == (
        "节假日安排仅录入至 2026-12-31：请录入国务院办公厅 2027 年节假日安排通知"
    )
    assert {"year": 2027, "source": "statutory"} in status["years"]
    ready_status, ready = await api.call("GET", "/readyz", None)
    assert ready_status == 200
    assert ready["calendar"] == {
        "covered_until": "2026-12-31",
        "covered_days": 28,
        "covered": False,
    }
    _, metrics = await api.call("GET", "/metrics", None, expect=200)
    assert "dispatch_calendar_covered_days 28.0" in metrics
    await api.call("PUT", "/api/v1/calendar/2027", body=TEST_2027, expect=201)
    _, status = await api.call("GET", "/api/v1/calendar", expect=200)
    assert status["covered"] is True
    assert status["covered_until"] == "2027-12-31"
    assert status["warning"] is None
    assert {"year": 2027, "source": "entered"} in status["years"]
    _, ready = await api.call("GET", "/readyz", None)
    assert ready["calendar"]["covered"] is True


async def test_the_log_warns_at_start_up_then_once_a_day(
    start_at: Callable[..., Awaitable[Api]], caplog: pytest.LogCaptureFixture
) -> None:
    now = [DEC_3]
    apps: list[web.Application] = []
    with caplog.at_level("WARNING", logger="dispatcher.web.api_calendar"):
        await start_at(DEC_3, clock=lambda: now[0], app=apps)
    warnings = [r.getMessage() for r in caplog.records if r.name == "dispatcher.web.api_calendar"]
    assert len(warnings) == 1
    assert "节假日安排仅录入至 2026-12-31" in warnings[0]
    assert "28 days are covered" in warnings[0]
    rt = apps[0][RUNTIME]
    caplog.clear()
    warned_on = api_calendar.check_coverage(rt, date(2026, 12, 3))
    assert warned_on == date(2026, 12, 3)
    assert not caplog.records  # not twice the same day
    now[0] = DEC_3 + timedelta(days=1)
    assert api_calendar.check_coverage(rt, warned_on) == date(2026, 12, 4)
    assert "27 days are covered" in caplog.records[-1].getMessage()
    caplog.clear()
    rt.use_calendar(HolidayBook.of([entered_year(2027, **TEST_2027, by="test")]))
    assert api_calendar.check_coverage(rt, None) is None
    assert not caplog.records
