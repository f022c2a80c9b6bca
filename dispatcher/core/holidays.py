"""Holidays and make-up working days (调休), year by year, and where each year's facts come from.

Each year's calendar has one source, and a :class:`HolidayBook` takes the first that knows it:

- ``entered``: an operator entered the State Council's notice for the year
  (国务院办公厅关于YYYY年部分节假日安排的通知, usually published between October and December);
- ``package``: ``chinesecalendar`` knows the year (1.11.0: 2004–2026);
- ``statutory``: nobody entered it and the package does not know it: the fixed holidays of
  《全国年节及纪念日放假办法》 as revised in 2024 (in force from 2025), with the 补假 of its
  article 6 and no make-up working days. This is a floor, not a forecast: the notice usually
  moves weekends to make longer breaks, which only an entered year knows.

A deployment must enter each year's notice before the covered range runs out;
:meth:`HolidayBook.coverage` says how far ahead it reaches, and the server warns 60 days
before the end. Everything here is pure: dates in, answers out; "today" is given by the caller.

Errors: a year that cannot be entered raises
:class:`dispatcher.core.errors.ValidationFailed` (422 on the wire), naming the field.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

import chinese_calendar
from lunardate import LunarDate

from dispatcher.core.errors import ValidationFailed

#: the years a book answers with holidays (the lunar dates are known from 1901 to 2099); a date
#: outside them is a workday from Monday to Friday, with no holidays
FIRST_YEAR: Final = 1901
LAST_YEAR: Final = 2099
#: the coverage warning starts this many days before the covered range ends
HORIZON_DAYS: Final = 60
#: a notice names at most this many dates of each kind (a year has 366 days at most)
_MAX_DATES: Final = 366
_ISO_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WEEKDAYS_ZH: Final = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
_WEEKDAYS_EN: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class Source(enum.StrEnum):
    """Where a year's holidays come from, in order of precedence."""

    ENTERED = "entered"  # an operator entered the State Council's notice
    PACKAGE = "package"  # chinesecalendar knows the year
    STATUTORY = "statutory"  # the fixed statutory holidays and their 补假 only


@dataclass(frozen=True)
class YearCalendar:
    """One year's days off and make-up working days, and where they come from.

    A date in ``workdays`` is worked (调休), one in ``holidays`` is not; any other date is
    worked from Monday to Friday. ``entered_by`` and ``entered_at`` are set for entered years.
    """

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: Source
    entered_by: str | None = None
    entered_at: datetime | None = None

    def is_workday(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5


def check_year(year: int) -> int:
    """``year`` if a book can hold it, else ValidationFailed naming ``year``."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValidationFailed(f"year: {year} is outside {FIRST_YEAR}–{LAST_YEAR}", field="year")
    return year


def entered_year(
    year: int, holidays: object, workdays: object, *, by: str, at: datetime | None = None
) -> YearCalendar:
    """An operator's entry of the notice for ``year``, validated; raise ValidationFailed.

    ``holidays`` and ``workdays`` are lists of ``YYYY-MM-DD`` strings (as they come from JSON):
    every date must exist and be inside ``year``; no date may be both; a make-up working day
    must be a Saturday or Sunday (any other day is worked anyway, so such an entry is a
    mistake). The caller stores the answer and rebuilds its calendar from it.
    """
    check_year(year)
    days_off = _dates(year, holidays, "holidays")
    days_on = _dates(year, workdays, "workdays")
    if not days_off:
        raise ValidationFailed(
            "holidays: empty; enter every day off of the notice (元旦 at least)", field="holidays"
        )
    both = sorted(days_off & days_on)
    if both:
        raise ValidationFailed(
            f"{both[0].isoformat()} is both a holiday and a make-up working day", field="workdays"
        )
    for day in sorted(days_on):
        if day.weekday() < 5:
            raise ValidationFailed(
                f"workdays: {day.isoformat()} is a {_WEEKDAYS_EN[day.weekday()]} "
                f"({_WEEKDAYS_ZH[day.weekday()]}), a working day anyway: a make-up working day "
                "(调休上班) is a Saturday or Sunday",
                field="workdays",
            )
    return YearCalendar(year, days_off, days_on, Source.ENTERED, entered_by=by, entered_at=at)


def _dates(year: int, values: object, name: str) -> frozenset[date]:
    if not isinstance(values, list):
        raise ValidationFailed(f"{name}: a list of dates (YYYY-MM-DD) is needed", field=name)
    if len(values) > _MAX_DATES:
        raise ValidationFailed(f"{name}: at most {_MAX_DATES} dates", field=name)
    found: set[date] = set()
    for i, value in enumerate(values):
        where = f"{name}[{i}]"
        if not isinstance(value, str) or not _ISO_DATE.match(value):
            raise ValidationFailed(f"{where}: {value!r} is not a date (YYYY-MM-DD)", field=name)
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValidationFailed(
                f"{where}: {value} is not a date that exists", field=name
            ) from None
        if day.year != year:
            raise ValidationFailed(f"{where}: {value} is not in {year}", field=name)
        found.add(day)
    return frozenset(found)


@functools.cache
def statutory_year(year: int) -> YearCalendar:
    """The statutory holidays of ``year`` under the 2024 revision, with article 6's 补假.

    元旦 1 January; 春节 农历除夕 to 正月初三 (4 days); 清明节 the day of the 清明 solar term;
    劳动节 1–2 May; 端午节 农历五月初五; 中秋节 农历八月十五; 国庆节 1–3 October. A holiday
    on a Saturday or Sunday is made up on the next working day after it that is neither a
    weekend nor another holiday (补假). Two holidays on one date (中秋 on a 国庆 day) count once:
    the law says nothing of them, and the State Council's notice for such a year decides. No
    make-up working days: only a notice moves weekends.
    """
    check_year(year)
    spring = LunarDate(year, 1, 1).to_solar_date()
    fixed = {
        date(year, 1, 1),
        spring - timedelta(days=1),  # 除夕: the last day of the lunar year, 29th or 30th
        spring,
        spring + timedelta(days=1),
        spring + timedelta(days=2),
        _qingming(year),
        date(year, 5, 1),
        date(year, 5, 2),
        LunarDate(year, 5, 5).to_solar_date(),
        LunarDate(year, 8, 15).to_solar_date(),
        date(year, 10, 1),
        date(year, 10, 2),
        date(year, 10, 3),
    }
    days_off = set(fixed)
    for day in sorted(fixed):
        if day.weekday() >= 5:
            lieu = day + timedelta(days=1)
            while lieu.weekday() >= 5 or lieu in days_off:
                lieu += timedelta(days=1)
            days_off.add(lieu)
    return YearCalendar(year, frozenset(days_off), frozenset(), Source.STATUTORY)


def _qingming(year: int) -> date:
    terms: list[tuple[date, str]] = chinese_calendar.get_solar_terms(
        date(year, 4, 1), date(year, 4, 30)
    )
    return next(day for day, name in terms if name == "清明")


@functools.cache
def _package_data() -> tuple[frozenset[int], dict[int, set[date]], dict[int, set[date]]]:
    """The years chinesecalendar knows, and its holidays and make-up days by year."""
    holidays: dict[int, set[date]] = {}
    workdays: dict[int, set[date]] = {}
    for day in chinese_calendar.holidays:
        holidays.setdefault(day.year, set()).add(day)
    for day in chinese_calendar.workdays:
        workdays.setdefault(day.year, set()).add(day)
    return frozenset(holidays), holidays, workdays


def package_years() -> frozenset[int]:
    """The years the installed chinesecalendar knows."""
    return _package_data()[0]


@functools.cache
def package_year(year: int) -> YearCalendar | None:
    """chinesecalendar's holidays and make-up working days of ``year``; None if it does not know."""
    known, holidays, workdays = _package_data()
    if year not in known:
        return None
    return YearCalendar(
        year, frozenset(holidays[year]), frozenset(workdays.get(year, ())), Source.PACKAGE
    )


@dataclass(frozen=True)
class Coverage:
    """How far ahead the entered and package years reach from ``today``.

    ``covered_until`` is the last day of the unbroken run of entered or package years that
    starts with today's year (None when today's year itself is only statutory). The calendar
    is ``ok`` while it reaches ``horizon_days`` past today; otherwise the deployment must enter
    the notice of ``missing_year``.
    """

    today: date
    covered_until: date | None
    horizon_days: int = HORIZON_DAYS

    @property
    def covered_days(self) -> int:
        """Days after today that the calendar covers (0 when it does not cover today's year)."""
        if self.covered_until is None:
            return 0
        return max(0, (self.covered_until - self.today).days)

    @property
    def ok(self) -> bool:
        return self.covered_days >= self.horizon_days

    @property
    def missing_year(self) -> int:
        """The first year nobody entered and the package does not know."""
        return self.today.year if self.covered_until is None else self.covered_until.year + 1

    def warning(self) -> dict[str, str] | None:
        """What to tell the operators (Chinese first), or None while the calendar is ok."""
        if self.ok:
            return None
        year = self.missing_year
        until = self.covered_until.isoformat() if self.covered_until else None
        if until is None:
            zh = f"{year} 年节假日安排尚未录入：请录入国务院办公厅 {year} 年节假日安排通知"
            en = f"No holidays are entered for {year}: enter the State Council's {year} notice"
        else:
            zh = f"节假日安排仅录入至 {until}：请录入国务院办公厅 {year} 年节假日安排通知"
            en = (
                f"Holidays are entered only up to {until}: "
                f"enter the State Council's {year} holiday notice"
            )
        return {"zh": zh, "en": en}

    def to_json(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "covered_until": self.covered_until.isoformat() if self.covered_until else None,
            "covered_days": self.covered_days,
            "horizon_days": self.horizon_days,
            "covered": self.ok,
            "missing_year": self.missing_year,
            "warning": self.warning(),
        }


@dataclass(frozen=True)
class HolidayBook:
    """The years entered by operators, over the package's years, over the statutory holidays.

    Immutable: when an operator enters a year, build a new book (:meth:`with_year`) and a new
    working calendar from it (``WorkingCalendar.with_workdays(book.is_workday)``), since a
    calendar keeps each date's answer.
    """

    entered: tuple[YearCalendar, ...] = ()
    _by_year: Mapping[int, YearCalendar] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        by_year = {y.year: y for y in self.entered}
        if len(by_year) != len(self.entered):
            raise ValueError("a year is entered at most once in a book")
        object.__setattr__(self, "_by_year", by_year)

    @classmethod
    def of(cls, years: Iterable[YearCalendar]) -> HolidayBook:
        return cls(tuple(sorted(years, key=lambda y: y.year)))

    def with_year(self, year: YearCalendar) -> HolidayBook:
        """A book with ``year`` entered (replacing what was entered for that year)."""
        return HolidayBook.of([*(y for y in self.entered if y.year != year.year), year])

    def year(self, year: int) -> YearCalendar:
        """The calendar of ``year`` from the first source that knows it."""
        found = self._by_year.get(year) or package_year(year)
        return found if found is not None else statutory_year(year)

    def is_workday(self, day: date) -> bool:
        """Whether people work on ``day``; outside 1901–2099, Monday to Friday."""
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            return day.weekday() < 5
        return self.year(day.year).is_workday(day)

    def is_covered(self, year: int) -> bool:
        """Whether ``year`` is entered or known to the package (not only statutory)."""
        return year in self._by_year or year in package_years()

    def coverage(self, today: date, horizon_days: int = HORIZON_DAYS) -> Coverage:
        """How far ahead of ``today`` the entered and package years reach."""
        year = today.year
        while year <= LAST_YEAR and self.is_covered(year):
            year += 1
        until = date(year - 1, 12, 31) if year > today.year else None
        return Coverage(today, until, horizon_days)

    def sources(self, through: int) -> list[tuple[int, Source]]:
        """Each year from the package's first to ``through`` (or the last entered), its source."""
        known = package_years()
        first = min([*known, *self._by_year, through])
        last = max([*self._by_year, through])
        return [(y, self.year(y).source) for y in range(first, last + 1)]
