"""Working windows: DISPATCH_WORK_WINDOWS and its seasonal variants, read by settings and counted
by the working calendar on each date's own windows."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from dispatcher.app import working_calendar
from dispatcher.core.clocks import SHANGHAI, ClockKind, Season, WorkingCalendar
from dispatcher.core.holidays import HolidayBook
from dispatcher.setting_kinds import ConfigError, SeasonalWindows, WorkWindows
from dispatcher.settings import from_env

URLS = {"DISPATCH_DATABASE_URL": "postgresql://u:p@db/x", "DISPATCH_REDIS_URL": "redis://r:6379/0"}
SUMMER = "05-01..09-30=08:00-12:00,14:30-18:00"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_the_defaults() -> None:
    settings = from_env(URLS)
    assert settings.work_windows.windows == ((time(8), time(12)), (time(14), time(18)))
    assert str(settings.work_windows) == "08:00-12:00,14:00-18:00"
    assert settings.work_windows_seasonal is None


def test_windows_and_seasons_are_read() -> None:
    settings = from_env(
        {
            **URLS,
            "DISPATCH_WORK_WINDOWS": " 08:30-12:00, 13:30-17:30 ",
            "DISPATCH_WORK_WINDOWS_SEASONAL": f"{SUMMER}; 12-01..02-29=09:00-12:00,13:00-17:00",
        }
    )
    assert settings.work_windows.windows == ((time(8, 30), time(12)), (time(13, 30), time(17, 30)))
    seasonal = settings.work_windows_seasonal
    assert seasonal is not None
    assert [(a, b) for a, b, _ in seasonal.seasons] == [((5, 1), (9, 30)), ((12, 1), (2, 29))]
    assert str(seasonal) == f"{SUMMER};12-01..02-29=09:00-12:00,13:00-17:00"
    assert SeasonalWindows.parse(str(seasonal)) == seasonal


@pytest.mark.parametrize(
    "value",
    [
        "8:00-12:00",
        "08:00-12:00,11:00-18:00",  # overlapping
        "14:00-18:00,08:00-12:00",  # not in order
        "12:00-12:00",
        "18:00-08:00",
        "08:00-24:00",
        "08:00",
        "08:00-12:00,",
    ],
)
def test_bad_windows_name_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^DISPATCH_WORK_WINDOWS="):
        from_env({**URLS, "DISPATCH_WORK_WINDOWS": value})


@pytest.mark.parametrize(
    "value",
    [
        "05-01..09-30",
        "05-01-09-30=08:00-12:00",
        "02-30..03-31=08:00-12:00",
        "13-01..12-31=08:00-12:00",
        "05-01..09-30=08:00-12:00;09-30..10-31=08:00-12:00",  # both have 30 September
        "11-01..02-28=08:00-12:00;01-01..01-31=08:00-12:00",  # January is in the first
        "05-01..09-30=14:00-12:00",
    ],
)
def test_bad_seasons_name_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^DISPATCH_WORK_WINDOWS_SEASONAL="):
        from_env({**URLS, "DISPATCH_WORK_WINDOWS_SEASONAL": value})


def test_each_date_counts_its_own_windows() -> None:
    settings = from_env({**URLS, "DISPATCH_WORK_WINDOWS_SEASONAL": SUMMER})
    calendar = working_calendar(settings, HolidayBook())
    hours = timedelta(hours=1)
    # Wednesday 29 April 2026: winter hours, the afternoon starts at 14:00
    assert calendar.add(at("2026-04-29 12:00"), hours, ClockKind.WORKING_HOURS) == at(
        "2026-04-29 15:00"
    )
    # Wednesday 6 May 2026: summer hours (夏令作息), the afternoon starts at 14:30
    assert calendar.add(at("2026-05-06 12:00"), hours, ClockKind.WORKING_HOURS) == at(
        "2026-05-06 15:30"
    )
    # the whole of Wednesday 30 September (summer) and Thursday 8 October (winter)
    day = ClockKind.WORKING_HOURS
    assert calendar.elapsed(at("2026-09-30 00:00"), at("2026-10-01 00:00"), day) == timedelta(
        hours=7.5
    )
    assert calendar.elapsed(at("2026-10-08 00:00"), at("2026-10-09 00:00"), day) == timedelta(
        hours=8
    )


def test_a_season_over_the_new_year() -> None:
    winter = Season((11, 1), (2, 29), ((time(9), time(12)), (time(13), time(17))))
    assert winter.covers(date(2026, 12, 31))
    assert winter.covers(date(2027, 1, 15))
    assert winter.covers(date(2028, 2, 29))
    assert not winter.covers(date(2027, 3, 1))
    calendar = WorkingCalendar(seasons=(winter,), is_workday=lambda _: True)
    assert calendar.windows_on(date(2027, 1, 4)) == winter.windows
    assert calendar.windows_on(date(2027, 6, 1)) == calendar.windows


def test_a_calendar_refuses_overlapping_seasons_and_bad_windows() -> None:
    summer = Season((5, 1), (9, 30), ((time(8), time(12)),))
    with pytest.raises(ValueError, match="overlap"):
        WorkingCalendar(seasons=(summer, Season((9, 1), (10, 31), ((time(8), time(9)),))))
    with pytest.raises(ValueError, match="must end after it begins"):
        WorkingCalendar(seasons=(Season((5, 1), (9, 30), ((time(12), time(8)),)),))
    with pytest.raises(ValueError, match="at least one"):
        WorkingCalendar(seasons=(Season((5, 1), (9, 30), ()),))


def test_work_windows_round_trip() -> None:
    windows = WorkWindows.parse("07:00-11:30,14:00-17:00,19:00-21:00")
    assert WorkWindows.parse(str(windows)) == windows
