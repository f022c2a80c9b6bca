"""Running clocks follow a change of the calendar: entered holidays move the deadlines they reach.

The holidays entered here are TEST DATA, chosen relative to the incidents' own deadlines: not
the State Council's notice of any year.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from dispatcher.core.categories import load_default_catalogue
from dispatcher.core.holidays import HolidayBook
from tests.integration.support import WEST, Api

#: a test category on the working-days clock: 30 working days (a long engineering case)
LONG = {
    "code": "299902",
    "name": "测试：三十个工作日",
    "priority": "normal",
    "clock": "working_days",
    "limit": 30,
    "dedup_radius_m": 0,
}


def weekdays_before(day: date, count: int, book: HolidayBook) -> list[str]:
    """The ``count`` working days just before ``day``, in its year (test holidays)."""
    found: list[str] = []
    cursor = day - timedelta(days=1)
    while len(found) < count and cursor.year == day.year:
        if book.is_workday(cursor):
            found.append(cursor.isoformat())
        cursor -= timedelta(days=1)
    return found


async def incident(api: Api, key: str, **body: Any) -> dict[str, Any]:
    # a grid report runs on its category's clock (a hotline one on its request type's)
    _, made = await api.report(await api.token("device"), source="grid", external_id=key, **body)
    assert made["deadline"] is not None, made
    return dict(made)


async def test_entered_holidays_move_the_running_deadlines_they_reach(api: Api) -> None:
    await api.load_town()
    catalogue = [c.to_json() for c in load_default_catalogue()] + [LONG]
    await api.call("PUT", "/api/v1/categories", body=catalogue, expect=200)
    long_case = await incident(api, "rc-long", category="299902")
    short_case = await incident(api, "rc-short", lon=WEST[0] + 0.02)  # 4 working hours
    deadline = datetime.fromisoformat(long_case["deadline"])
    local = deadline.date()
    days_off = weekdays_before(local, 3, HolidayBook())
    assert days_off, "the long case's deadline falls on the first days of a year"
    short_deadline = datetime.fromisoformat(short_case["deadline"]).date()
    assert short_deadline < min(date.fromisoformat(d) for d in days_off)

    _, entered = await api.call(
        "PUT", f"/api/v1/calendar/{local.year}", body={"holidays": days_off}, expect=201
    )
    assert entered["deadlines_moved"] >= 1

    _, moved = await api.call("GET", f"/api/v1/incidents/{long_case['id']}", expect=200)
    assert datetime.fromisoformat(moved["deadline"]) > deadline
    assert moved["version"] == long_case["version"] + 1
    why = moved["history"][-1]
    assert (why["action"], why["actor"]) == ("recalendar", "system")
    assert why["detail"]["deadline_before"] == deadline.isoformat()
    assert why["detail"]["reason"] == f"calendar {local.year}"

    _, kept = await api.call("GET", f"/api/v1/incidents/{short_case['id']}", expect=200)
    assert kept["deadline"] == short_case["deadline"]
    assert kept["version"] == short_case["version"]
    assert all(h["action"] != "recalendar" for h in kept["history"])
