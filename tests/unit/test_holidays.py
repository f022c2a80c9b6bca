"""The holiday book: statutory holidays, precedence of the sources, entries and coverage, and the
working clocks across 2026-12-31 into 2027.

``TEST_2027`` is TEST DATA made up for these tests, not the State Council's notice for 2027.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from dispatcher.core.clocks import SHANGHAI, ClockKind, WorkingCalendar, is_chinese_workday
from dispatcher.core.errors import ValidationFailed
from dispatcher.core.holidays import (
    HolidayBook,
    Source,
    YearCalendar,
    entered_year,
    package_year,
    statutory_year,
)

#: TEST DATA, not the real notice: 元旦 1–3 January, 春节 5–11 February, Saturday 13 February
#: worked (调休), 清明 3–5 April
TEST_2027: dict[str, Any] = {
    "holidays": [
        "2027-01-01",
        "2027-01-02",
        "2027-01-03",
        *(f"2027-02-{d:02d}" for d in range(5, 12)),
        "2027-04-03",
        "2027-04-04",
        "2027-04-05",
    ],
    "workdays": ["2027-02-13"],
}
WEEKDAY = {"Mon": 0, "Tue": 1, "Wed": 2, "Thu": 3, "Fri": 4, "Sat": 5, "Sun": 6}


def entered_book() -> HolidayBook:
    return HolidayBook.of([entered_year(2027, **TEST_2027, by="test")])


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- statutory -----------------------------------------------------------------------------


def test_statutory_2027_by_hand() -> None:
    # 2027: 元旦 Fri 1 Jan; 春节 (正月初一 Sat 6 Feb) 除夕 Fri 5 Feb to 初三 Mon 8 Feb, the
    # Saturday and Sunday made up on Tue 9 and Wed 10 Feb; 清明 Mon 5 Apr; 劳动节 Sat 1 and
    # Sun 2 May, made up on Mon 3 and Tue 4 May; 端午 Wed 9 Jun; 中秋 Wed 15 Sep; 国庆 Fri 1
    # to Sun 3 Oct, the weekend made up on Mon 4 and Tue 5 Oct
    year = statutory_year(2027)
    assert year.source is Source.STATUTORY
    expected = {
        "2027-01-01": "Fri",
        "2027-02-05": "Fri",
        "2027-02-06": "Sat",
        "2027-02-07": "Sun",
        "2027-02-08": "Mon",
        "2027-02-09": "Tue",
        "2027-02-10": "Wed",
        "2027-04-05": "Mon",
        "2027-05-01": "Sat",
        "2027-05-02": "Sun",
        "2027-05-03": "Mon",
        "2027-05-04": "Tue",
        "2027-06-09": "Wed",
        "2027-09-15": "Wed",
        "2027-10-01": "Fri",
        "2027-10-02": "Sat",
        "2027-10-03": "Sun",
        "2027-10-04": "Mon",
        "2027-10-05": "Tue",
    }
    assert sorted(x.isoformat() for x in year.holidays) == sorted(expected)
    for text, weekday in expected.items():
        assert d(text).weekday() == WEEKDAY[weekday], text
    assert year.workdays == frozenset()  # only a notice moves weekends
    assert not year.is_workday(d("2027-05-04"))
    assert year.is_workday(d("2027-05-06"))
    assert not year.is_workday(d("2027-05-08"))  # a plain Saturday


def test_statutory_holidays_agree_with_the_package_where_it_knows() -> None:
    # the 2024 revision is in force from 2025: every statutory day of 2025 and 2026 is a day
    # off in the package's data (which adds the bridges of the notices)
    for year in (2025, 2026):
        known = package_year(year)
        assert known is not None
        fixed = statutory_year(year).holidays
        assert fixed - known.holidays <= {x for x in fixed if not known.is_workday(x)}, year


def test_a_lunar_new_year_eve_on_the_29th() -> None:
    # 2025: 腊月 had 29 days; 除夕 is the day before 正月初一 (29 January), 28 January
    assert d("2025-01-28") in statutory_year(2025).holidays


# --- the book ------------------------------------------------------------------------------


def test_entered_beats_package_beats_statutory() -> None:
    empty = HolidayBook()
    assert empty.year(2026).source is Source.PACKAGE
    assert empty.year(2027).source is Source.STATUTORY
    book = entered_book()
    assert book.year(2027).source is Source.ENTERED
    assert not book.is_workday(d("2027-01-02"))
    assert book.is_workday(d("2027-02-13"))  # a make-up Saturday
    assert not book.is_workday(d("2027-02-09"))
    assert book.is_workday(d("2027-05-03"))  # the statutory 补假 is not in the entered year
    assert not empty.is_workday(d("2027-05-03"))
    over_package = book.with_year(entered_year(2026, ["2026-12-31"], [], by="test"))
    assert over_package.year(2026).source is Source.ENTERED
    assert not over_package.is_workday(d("2026-12-31"))
    assert empty.is_workday(d("2026-12-31"))
    assert over_package.with_year(entered_year(2026, ["2026-12-30"], [], by="t")).year(
        2026
    ).holidays == {d("2026-12-30")}


def test_outside_the_known_years_monday_to_friday() -> None:
    book = HolidayBook()
    assert book.is_workday(date(1900, 1, 1))  # a Monday
    assert not book.is_workday(date(2100, 1, 2))  # a Saturday


def test_is_chinese_workday_falls_back_on_the_statutory_holidays() -> None:
    assert not is_chinese_workday(d("2027-01-01"))  # was counted as worked before
    assert is_chinese_workday(d("2026-12-31"))
    assert not is_chinese_workday(d("2026-10-01"))


# --- entries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("holidays", "workdays", "field", "words"),
    [
        (["2027-02-30"], [], "holidays", "not a date that exists"),
        (["2027-13-01"], [], "holidays", "not a date that exists"),
        (["2028-01-01"], [], "holidays", "not in 2027"),
        (["2027-1-1"], [], "holidays", "YYYY-MM-DD"),
        ([20270101], [], "holidays", "YYYY-MM-DD"),
        ("2027-01-01", [], "holidays", "list"),
        (None, [], "holidays", "list"),
        ([], [], "holidays", "empty"),
        (["2027-01-01"], ["2026-12-26"], "workdays", "not in 2027"),
        (["2027-01-01"], ["2027-01-01"], "workdays", "both"),
        (["2027-01-01"], ["2027-02-10"], "workdays", "Wednesday (星期三)"),
        (["2027-01-01"], None, "workdays", "list"),
    ],
)
def test_entries_that_are_refused(holidays: Any, workdays: Any, field: str, words: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        entered_year(2027, holidays, workdays, by="test")
    assert refused.value.field == field
    assert words in refused.value.message


def test_an_entry_keeps_its_dates_and_who() -> None:
    at = datetime(2026, 12, 3, 9, tzinfo=SHANGHAI)
    year = entered_year(2027, ["2027-01-01", "2027-01-01"], ["2027-02-13"], by="tok-1", at=at)
    days_off, days_on = frozenset({d("2027-01-01")}), frozenset({d("2027-02-13")})
    assert year == YearCalendar(2027, days_off, days_on, Source.ENTERED, "tok-1", at)
    with pytest.raises(ValidationFailed, match="year"):
        entered_year(2100, ["2100-01-01"], [], by="test")


# --- coverage ------------------------------------------------------------------------------


def test_coverage_warns_60_days_before_the_end() -> None:
    book = HolidayBook()
    running_out = book.coverage(d("2026-12-03"))
    assert running_out.covered_until == d("2026-12-31")
    assert running_out.covered_days == 28
    assert not running_out.ok
    assert running_out.missing_year == 2027
    warning = running_out.warning()
    assert warning is not None
    assert warning["zh"] == (
        "节假日安排仅录入至 2026-12-31：请录入国务院办公厅 2027 年节假日安排通知"
    )
    assert "2027" in warning["en"]
    assert book.coverage(d("2026-11-01")).ok  # 60 days ahead: 31 December
    assert not book.coverage(d("2026-11-02")).ok
    assert entered_book().coverage(d("2026-12-03")).covered_until == d("2027-12-31")
    assert entered_book().coverage(d("2026-12-03")).warning() is None
    past = book.coverage(d("2027-03-01"))
    assert past.covered_until is None
    assert past.covered_days == 0
    assert past.missing_year == 2027
    assert past.warning() is not None
    assert "尚未录入" in past.warning()["zh"]  # type: ignore[index]


def test_an_entered_year_after_a_gap_does_not_cover_the_gap() -> None:
    book = HolidayBook.of([entered_year(2028, ["2028-01-01"], [], by="t")])
    assert book.coverage(d("2026-12-03")).covered_until == d("2026-12-31")
    sources = dict(book.sources(2027))
    assert sources[2026] is Source.PACKAGE
    assert sources[2027] is Source.STATUTORY
    assert sources[2028] is Source.ENTERED
    assert min(sources) == 2004


# --- the clocks across the new year --------------------------------------------------------


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_one_working_day_from_the_last_of_2026() -> None:
    one_day = timedelta(days=1)
    # with the TEST DATA entered: 元旦 1–3 January off, Monday 4 January is the next workday
    entered = WorkingCalendar(is_workday=entered_book().is_workday)
    assert entered.add(at("2026-12-31 09:00"), one_day, ClockKind.WORKING_DAYS) == at(
        "2027-01-04 09:00"
    )
    # without it: the statutory 元旦 (Friday) is skipped, no longer counted as a working day
    fallback = WorkingCalendar(is_workday=HolidayBook().is_workday)
    assert fallback.add(at("2026-12-31 09:00"), one_day, ClockKind.WORKING_DAYS) == at(
        "2027-01-04 09:00"
    )
    assert not HolidayBook().coverage(d("2026-12-03")).ok


def test_the_spring_festival_is_skipped_and_a_make_up_saturday_worked() -> None:
    entered = WorkingCalendar(is_workday=entered_book().is_workday)
    # Thursday 4 February 2027 14:00 + 8 working hours: 4 h that afternoon, then the TEST DATA
    # holidays of 5–11 February, then Saturday 13 February (worked): 08:00–12:00
    assert entered.add(at("2027-02-04 14:00"), timedelta(hours=8), ClockKind.WORKING_HOURS) == (
        at("2027-02-12 12:00")
    )
    assert entered.add(at("2027-02-12 14:00"), timedelta(hours=8), ClockKind.WORKING_HOURS) == (
        at("2027-02-13 12:00")
    )
    # the statutory fallback works 11 February and never a Saturday
    fallback = WorkingCalendar(is_workday=HolidayBook().is_workday)
    assert fallback.add(at("2027-02-04 14:00"), timedelta(hours=8), ClockKind.WORKING_HOURS) == (
        at("2027-02-11 12:00")
    )
    assert fallback.add(at("2027-02-12 14:00"), timedelta(hours=8), ClockKind.WORKING_HOURS) == (
        at("2027-02-15 12:00")
    )


def test_a_new_book_makes_a_new_calendar_with_fresh_windows() -> None:
    old = WorkingCalendar(is_workday=HolidayBook().is_workday)
    start = at("2027-02-12 14:00")
    before = old.add(start, timedelta(hours=8), ClockKind.WORKING_HOURS)
    new = old.with_workdays(entered_book().is_workday)
    assert new.add(start, timedelta(hours=8), ClockKind.WORKING_HOURS) == at("2027-02-13 12:00")
    assert old.add(start, timedelta(hours=8), ClockKind.WORKING_HOURS) == before
    assert new.windows == old.windows
    assert new.tz == old.tz
