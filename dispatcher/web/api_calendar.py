"""HTTP handlers of the holiday calendar, and the watch that warns before it runs out.

``PUT /api/v1/calendar/{year}`` (admin) enters the State Council's notice of a year;
``GET /api/v1/calendar/{year}`` answers any year with its source (entered, package or
statutory); ``GET /api/v1/calendar`` answers how far ahead the calendar is covered. After a
PUT every process reloads its book at once (the ``calendar.changed`` control message), and the
running case clocks that reach into the year are counted again (``store.reclock``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, time, tzinfo
from typing import Any, Final

from aiohttp import web

from dispatcher.core.auth import READ_ALL, Role, require_role
from dispatcher.core.errors import ValidationFailed
from dispatcher.core.holidays import (
    LAST_YEAR,
    Coverage,
    YearCalendar,
    check_year,
    entered_year,
)
from dispatcher.core.times import format_time
from dispatcher.store import calendar, reclock
from dispatcher.web import context as http
from dispatcher.web.api_reference import read_json

log = logging.getLogger(__name__)

ADMIN_ONLY: Final = {Role.ADMIN}
#: every console and phone may see the calendar its clocks count on; devices only post
READERS: Final = {*READ_ALL, Role.SQUAD}
#: the control message that makes every process reload its book
CHANGED: Final = {"type": "calendar.changed"}
#: how often the watch looks at the calendar (it warns once a local day)
WATCH_EVERY_S: Final = 3600.0


def year_json(year: YearCalendar, tz: tzinfo) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "year": year.year,
        "source": year.source.value,
        "holidays": [d.isoformat() for d in sorted(year.holidays)],
        "workdays": [d.isoformat() for d in sorted(year.workdays)],
    }
    if year.entered_by is not None:
        doc["entered_by"] = year.entered_by
        doc["entered_at"] = format_time(year.entered_at, tz)
    return doc


def _year(request: web.Request) -> int:
    text = request.match_info["year"]
    if not (len(text) == 4 and text.isascii() and text.isdigit()):
        raise ValidationFailed(f"year: {text!r} is not a year (YYYY)", field="year")
    return check_year(int(text))


def today(rt: http.Runtime) -> date:
    """Today in the deployment's zone, by the runtime's clock."""
    return rt.clock().astimezone(rt.settings.zone).date()


def coverage(rt: http.Runtime) -> Coverage:
    """How far ahead this process's calendar reaches; also sets the metric."""
    found = rt.book.coverage(today(rt))
    rt.metrics.calendar_covered_days.set(found.covered_days)
    return found


async def put_year(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, ADMIN_ONLY, "enter the holidays of a year")
    rt = http.runtime(request)
    year = _year(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be an object {holidays, workdays}")
    entry = entered_year(year, body.get("holidays"), body.get("workdays", []), by=who.actor)
    stored, created = await calendar.save_year(rt.pool, entry)
    await rt.announce(CHANGED)
    log.info(
        "%s entered the holidays of %d: %d days off, %d make-up working days",
        who.actor,
        year,
        len(stored.holidays),
        len(stored.workdays),
    )
    # this process counts on the new year now: the running clocks that reach into it are
    # counted again, once for the deployment, through the one change path
    first = datetime.combine(date(year, 1, 1), time(0), rt.settings.zone)
    moved = await reclock.count_again(rt.changes, rt.pool, first, f"calendar {year}")
    answer = {**year_json(stored, rt.settings.zone), "deadlines_moved": moved}
    return http.json_response(answer, status=201 if created else 200)


async def get_year(request: web.Request) -> web.Response:
    require_role(http.principal(request), READERS, "read the holidays")
    rt = http.runtime(request)
    return http.json_response(year_json(rt.book.year(_year(request)), rt.settings.zone))


async def get_status(request: web.Request) -> web.Response:
    require_role(http.principal(request), READERS, "read the holidays")
    rt = http.runtime(request)
    found = coverage(rt)
    through = min(max(found.today.year + 1, found.missing_year), LAST_YEAR)
    years = [{"year": y, "source": s.value} for y, s in rt.book.sources(through)]
    return http.json_response({**found.to_json(), "years": years})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/calendar", get_status)
    router.add_put("/api/v1/calendar/{year}", put_year)
    router.add_get("/api/v1/calendar/{year}", get_year)


def check_coverage(rt: http.Runtime, warned_on: date | None) -> date | None:
    """Log a WARNING if the calendar runs out within the horizon, at most once a local day.

    Answers the day of the last warning; pass it back next time.
    """
    found = coverage(rt)
    if found.ok or warned_on == found.today:
        return warned_on
    warning = found.warning()
    assert warning is not None
    log.warning(
        "%s (%s): %d days are covered; deadlines past them count only the statutory holidays",
        warning["en"],
        warning["zh"],
        found.covered_days,
    )
    return found.today


async def watch(rt: http.Runtime, warned_on: date | None, every_s: float = WATCH_EVERY_S) -> None:
    """Every ``every_s``: reload the book (in case a ``calendar.changed`` message was lost),
    then warn if the calendar runs out soon, once a local day. The caller checks once at
    start-up (:func:`check_coverage`) and passes the day it warned, if it did."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await rt.reload_calendar()
            warned_on = check_coverage(rt, warned_on)
        except Exception as exc:
            log.warning("checking the holiday calendar failed: %s", exc)
