"""Tests of dispatcher.core.clocks: known dates of the Chinese calendar, and properties checked
against a slow minute-by-minute reference written here, independent of the module."""

from __future__ import annotations

import functools
from collections.abc import Container
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dispatcher.core.clocks import (
    DEFAULT_CALENDAR,
    DEFAULT_WINDOWS,
    ClockKind,
    Colour,
    WorkingCalendar,
    colour,
    is_chinese_workday,
    used_fraction,
)

SH = ZoneInfo("Asia/Shanghai")
CAL = DEFAULT_CALENDAR
HOURS = ClockKind.WORKING_HOURS
DAYS = ClockKind.WORKING_DAYS
CONTINUOUS = ClockKind.CONTINUOUS
MINUTE = timedelta(minutes=1)

# No example database: the suite must not write into the source tree.
PROPERTY = settings(max_examples=80, deadline=None, database=None)


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


# -- the facts of the calendar these tests rely on, as chinesecalendar 1.11 states them --------


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def test_calendar_facts_this_suite_relies_on() -> None:
    # National Day 2025: 1–8 October off (Mid-autumn falls on 6 October and is folded in);
    # make-up working days are SUNDAY 28 September and Saturday 11 October.
    assert all(chinese_calendar.is_holiday(d) for d in _days(date(2025, 10, 1), date(2025, 10, 8)))
    assert date(2025, 9, 28).weekday() == 6
    assert chinese_calendar.is_workday(date(2025, 9, 28))
    assert date(2025, 10, 11).weekday() == 5
    assert chinese_calendar.is_workday(date(2025, 10, 11))
    # Spring Festival 2026: 15–23 February off (nine days); make-up Saturdays 14 and 28 February.
    assert all(chinese_calendar.is_holiday(d) for d in _days(date(2026, 2, 15), date(2026, 2, 23)))
    assert chinese_calendar.is_workday(date(2026, 2, 14))
    assert chinese_calendar.is_workday(date(2026, 2, 28))
    assert chinese_calendar.is_workday(date(2026, 2, 13))
    assert chinese_calendar.is_workday(date(2026, 2, 24))
    # 2–6 March 2026 are ordinary workdays.
    assert all(chinese_calendar.is_workday(d) for d in _days(date(2026, 3, 2), date(2026, 3, 6)))
    # Mid-autumn 2026: 25–27 September off; National Day 2026: 1–7 October off; make-up
    # working days Sunday 20 September and Saturday 10 October.
    assert all(chinese_calendar.is_holiday(d) for d in _days(date(2026, 9, 25), date(2026, 9, 27)))
    assert all(chinese_calendar.is_holiday(d) for d in _days(date(2026, 10, 1), date(2026, 10, 7)))
    assert chinese_calendar.is_workday(date(2026, 9, 20))
    assert date(2026, 10, 10).weekday() == 5
    assert chinese_calendar.is_workday(date(2026, 10, 10))
    # 9–13 and 16 June 2025 are ordinary workdays (Dragon Boat was 31 May–2 June).
    assert all(chinese_calendar.is_workday(d) for d in _days(date(2025, 6, 9), date(2025, 6, 13)))
    assert chinese_calendar.is_workday(date(2025, 6, 16))


# -- known dates -----------------------------------------------------------------------------


def test_deadline_crosses_the_lunch_break() -> None:
    assert CAL.add(sh(2025, 6, 10, 11), hours(2), HOURS) == sh(2025, 6, 10, 15)


def test_deadline_at_the_end_of_a_window_stays_there() -> None:
    assert CAL.add(sh(2025, 6, 10, 10), hours(2), HOURS) == sh(2025, 6, 10, 12)
    assert CAL.add(sh(2025, 6, 10, 16), hours(2), HOURS) == sh(2025, 6, 10, 18)


def test_start_outside_a_window_counts_from_the_next_window() -> None:
    assert CAL.add(sh(2025, 6, 10, 6, 30), hours(1), HOURS) == sh(2025, 6, 10, 9)
    assert CAL.add(sh(2025, 6, 10, 12, 30), hours(1), HOURS) == sh(2025, 6, 10, 15)
    assert CAL.add(sh(2025, 6, 10, 20), hours(1), HOURS) == sh(2025, 6, 11, 9)


def test_zero_amount_is_the_start_itself() -> None:
    assert CAL.add(sh(2025, 6, 10, 20), timedelta(0), HOURS) == sh(2025, 6, 10, 20)


def test_friday_evening_runs_on_into_monday() -> None:
    assert CAL.add(sh(2025, 6, 13, 17), hours(2), HOURS) == sh(2025, 6, 16, 9)


def test_national_day_2025_is_skipped() -> None:
    # Tuesday 30 September 17:00: one hour that day, the next on Thursday 9 October.
    assert CAL.add(sh(2025, 9, 30, 17), hours(2), HOURS) == sh(2025, 10, 9, 9)
    assert CAL.elapsed(sh(2025, 9, 30, 8), sh(2025, 10, 9, 18), HOURS) == hours(16)


def test_start_on_a_holiday() -> None:
    assert CAL.add(sh(2025, 10, 3, 10), hours(1), HOURS) == sh(2025, 10, 9, 9)


def test_make_up_working_days_count() -> None:
    # Saturday 27 September 2025 is off, Sunday 28 September is a make-up working day.
    assert CAL.add(sh(2025, 9, 27, 10), hours(4), HOURS) == sh(2025, 9, 28, 12)
    # 4 工作时 from the make-up Saturdays 11 October 2025 and 10 October 2026.
    assert CAL.add(sh(2025, 10, 11, 8), hours(4), HOURS) == sh(2025, 10, 11, 12)
    assert CAL.add(sh(2026, 10, 10, 10), hours(4), HOURS) == sh(2026, 10, 10, 16)


def test_spring_festival_2026() -> None:
    # Friday 13 February 17:00 + 2 h runs into the make-up Saturday 14 February.
    assert CAL.add(sh(2026, 2, 13, 17), hours(2), HOURS) == sh(2026, 2, 14, 9)
    # From the make-up Saturday the next working hour is on Tuesday 24 February.
    assert CAL.add(sh(2026, 2, 14, 17), hours(2), HOURS) == sh(2026, 2, 24, 9)
    assert CAL.elapsed(sh(2026, 2, 14, 8), sh(2026, 2, 24, 18), HOURS) == hours(16)


def test_twenty_working_days_across_spring_festival_2026() -> None:
    # Workdays after Monday 2 February: 3–6 (4), 9–13 (9), Sat 14 (10), 24–27 (14),
    # Sat 28 (15), 2–6 March (20).
    start = sh(2026, 2, 2, 9)
    deadline = CAL.add(start, timedelta(days=20), DAYS)
    assert deadline == sh(2026, 3, 6, 9)
    assert CAL.elapsed(start, deadline, DAYS) == timedelta(days=20)
    assert CAL.elapsed(start, deadline, HOURS) == hours(160)
    mon_to_fri = WorkingCalendar(is_workday=lambda d: d.weekday() < 5)
    assert mon_to_fri.add(start, timedelta(days=20), DAYS) == sh(2026, 3, 2, 9)


def test_one_working_day_from_monday_is_tuesday_same_time() -> None:
    start = sh(2025, 6, 9, 10)
    assert CAL.add(start, timedelta(days=1), DAYS) == sh(2025, 6, 10, 10)
    assert CAL.elapsed(start, sh(2025, 6, 10, 10), DAYS) == timedelta(days=1)
    assert CAL.elapsed(start, sh(2025, 6, 9, 12), DAYS) == timedelta(hours=6)  # a quarter day


def test_continuous_clock_ignores_holidays_and_nights() -> None:
    assert CAL.add(sh(2025, 10, 1, 22), hours(2), CONTINUOUS) == sh(2025, 10, 2, 0)
    assert CAL.add(sh(2026, 2, 14, 17), hours(48), CONTINUOUS) == sh(2026, 2, 16, 17)
    assert CAL.elapsed(sh(2025, 10, 1), sh(2025, 10, 8), CONTINUOUS) == timedelta(days=7)


def test_start_given_in_utc() -> None:
    # 03:00 UTC is 11:00 in Shanghai.
    deadline = CAL.add(datetime(2025, 6, 10, 3, tzinfo=UTC), hours(2), HOURS)
    assert deadline == sh(2025, 6, 10, 15)
    assert deadline.tzinfo == SH
    assert deadline.hour == 15
    # 23:30 UTC on Monday is already Tuesday 07:30 in Shanghai: the local date decides.
    assert CAL.add(datetime(2025, 6, 9, 23, 30, tzinfo=UTC), hours(1), HOURS) == sh(2025, 6, 10, 9)


def test_custom_windows() -> None:
    cal = WorkingCalendar(windows=((time(8, 30), time(12)), (time(13, 30), time(17, 30))))
    assert cal.add(sh(2025, 6, 10, 11), hours(2), HOURS) == sh(2025, 6, 10, 14, 30)
    assert cal.add(sh(2025, 6, 13, 17), hours(1), HOURS) == sh(2025, 6, 16, 9)
    assert cal.elapsed(sh(2025, 6, 10), sh(2025, 6, 11), HOURS) == hours(7.5)
    # A working day stays eight working hours: it spills half an hour into the next day.
    assert cal.add(sh(2025, 6, 9, 10), timedelta(days=1), DAYS) == sh(2025, 6, 10, 10, 30)


def test_early_windows_use_the_local_date_not_the_utc_date() -> None:
    # 01:00 in Shanghai is 17:00 UTC the day before.
    night = WorkingCalendar(windows=((time(0, 30), time(6)),))
    assert night.elapsed(sh(2025, 6, 10, 1), sh(2025, 6, 10, 2), HOURS) == hours(1)
    assert night.add(sh(2025, 6, 10, 0), hours(1), HOURS) == sh(2025, 6, 10, 1, 30)


def test_a_zone_with_daylight_saving_time() -> None:
    ny = ZoneInfo("America/New_York")
    cal = WorkingCalendar(
        tz=ny, windows=((time(9), time(17)),), is_workday=lambda d: d.weekday() < 5
    )
    # Clocks went forward on Sunday 9 March 2025; windows stay wall-clock windows.
    friday, monday = datetime(2025, 3, 7, 9, tzinfo=ny), datetime(2025, 3, 10, 17, tzinfo=ny)
    assert cal.elapsed(friday, monday, HOURS) == hours(16)
    assert cal.add(friday, hours(9), HOURS) == datetime(2025, 3, 10, 10, tzinfo=ny)
    # 24 real hours from Saturday noon EST is Sunday 13:00 EDT.
    saturday = datetime(2025, 3, 8, 12, tzinfo=ny)
    assert cal.add(saturday, hours(24), CONTINUOUS) == datetime(2025, 3, 9, 13, tzinfo=ny)
    assert cal.elapsed(saturday, datetime(2025, 3, 9, 12, tzinfo=ny), CONTINUOUS) == hours(23)


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        ((), "at least one"),
        (((time(12), time(8)),), "must end after"),
        (((time(8), time(8)),), "must end after"),
        (((time(8), time(12)), (time(11), time(14))), "must not overlap"),
        (((time(14), time(18)), (time(8), time(12))), "in order"),
        (((time(8, tzinfo=UTC), time(12)),), "naive"),
    ],
)
def test_bad_windows_are_refused(windows: tuple[tuple[time, time], ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkingCalendar(windows=windows)


def test_touching_windows_are_allowed() -> None:
    cal = WorkingCalendar(windows=((time(8), time(12)), (time(12), time(16))))
    assert cal.add(sh(2025, 6, 10, 11), hours(2), HOURS) == sh(2025, 6, 10, 13)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_hours_per_day_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="hours_per_day"):
        WorkingCalendar(hours_per_day=bad)


def test_naive_and_negative_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.add(datetime(2025, 6, 10, 9), hours(1), HOURS)
    with pytest.raises(ValueError, match="negative"):
        CAL.add(sh(2025, 6, 10, 9), -hours(1), HOURS)
    with pytest.raises(ValueError, match="end before"):
        CAL.elapsed_excluding(
            sh(2025, 6, 10), sh(2025, 6, 11), HOURS, [(sh(2025, 6, 10, 10), sh(2025, 6, 10, 9))]
        )


def test_elapsed_is_zero_backwards() -> None:
    assert CAL.elapsed(sh(2025, 6, 11, 10), sh(2025, 6, 10, 10), HOURS) == timedelta(0)


def test_a_calendar_without_workdays_fails_instead_of_looping() -> None:
    cal = WorkingCalendar(is_workday=lambda d: False)
    with pytest.raises(ValueError, match="no working time"):
        cal.add(sh(2025, 6, 10), hours(1), HOURS)
    assert cal.elapsed(sh(2025, 6, 10), sh(2026, 6, 10), HOURS) == timedelta(0)


def test_years_the_package_does_not_know_fall_back_to_monday_to_friday() -> None:
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2100, 1, 1))
    assert date(2100, 1, 1).weekday() == 4
    assert is_chinese_workday(date(2100, 1, 1))  # a Friday; its real status is unknown
    assert not is_chinese_workday(date(2100, 1, 2))
    start = datetime(2100, 1, 1, 17, tzinfo=SH)
    assert CAL.add(start, hours(2), HOURS) == datetime(2100, 1, 4, 9, tzinfo=SH)


def test_many_years_at_once() -> None:
    start, end = sh(2004, 1, 1), sh(2027, 1, 1)
    workdays = sum(
        chinese_calendar.is_workday(d) for d in _days(date(2004, 1, 1), date(2026, 12, 31))
    )
    assert CAL.elapsed(start, end, HOURS) == hours(8 * workdays)
    assert CAL.add(start, hours(8 * workdays), HOURS) == sh(2026, 12, 31, 18)


# -- pauses (挂账) ------------------------------------------------------------------------------


def test_a_pause_over_the_weekend_moves_a_working_deadline_not_at_all() -> None:
    start, now = sh(2025, 6, 13, 17), sh(2025, 6, 20)
    weekend = [(sh(2025, 6, 13, 18), sh(2025, 6, 16, 8))]
    assert CAL.deadline_with_pauses(start, hours(2), HOURS, weekend, now) == sh(2025, 6, 16, 9)
    # The continuous clock stops for the whole of it.
    assert CAL.deadline_with_pauses(start, hours(2), CONTINUOUS, weekend, now) == sh(2025, 6, 16, 9)


def test_closed_pauses_move_the_deadline_by_their_counted_length_once() -> None:
    start, now = sh(2025, 6, 10, 8), sh(2025, 6, 20)
    # Two overlapping pauses covering 09:00–11:00, and one sticking out before start.
    pauses = [
        (sh(2025, 6, 10, 9), sh(2025, 6, 10, 10, 30)),
        (sh(2025, 6, 10, 10), sh(2025, 6, 10, 11)),
        (sh(2025, 6, 9, 17), sh(2025, 6, 10, 8, 30)),
    ]
    # 08:30–09:00 and 11:00–12:00 and 14:00–15:30 make the 3 hours.
    assert CAL.deadline_with_pauses(start, hours(3), HOURS, pauses, now) == sh(2025, 6, 10, 15, 30)
    assert CAL.elapsed_excluding(start, sh(2025, 6, 10, 15, 30), HOURS, pauses) == hours(3)


def test_an_open_pause_holds_the_deadline_at_now() -> None:
    start = sh(2025, 6, 10, 8)
    pauses = [(sh(2025, 6, 10, 9), None)]
    now = sh(2025, 6, 12, 10)
    # One hour before the pause, three after now.
    assert CAL.deadline_with_pauses(start, hours(4), HOURS, pauses, now) == sh(2025, 6, 12, 15)
    assert CAL.elapsed_excluding(start, now, HOURS, pauses) == hours(1)
    # A deadline already passed before the pause began stays where it was.
    assert CAL.deadline_with_pauses(start, hours(1), HOURS, pauses, now) == sh(2025, 6, 10, 9)


def test_zero_limit_is_due_at_start_even_if_a_pause_begins_there() -> None:
    start = sh(2025, 6, 10, 9)
    pauses = [(start, sh(2025, 6, 10, 10))]
    assert CAL.deadline_with_pauses(start, timedelta(0), HOURS, pauses, start) == start


# -- colours -------------------------------------------------------------------------------------


def test_colour_boundaries() -> None:
    allowed = hours(4)
    assert colour(hours(3), allowed) is Colour.GREEN
    assert colour(hours(3.2) - timedelta(microseconds=1), allowed) is Colour.GREEN
    assert colour(hours(3.2), allowed) is Colour.YELLOW
    assert colour(allowed - timedelta(microseconds=1), allowed) is Colour.YELLOW
    assert colour(allowed, allowed) is Colour.RED  # at the deadline: overdue
    assert colour(hours(5), allowed) is Colour.RED
    assert colour(hours(2), allowed, warn_at=0.5) is Colour.YELLOW
    with pytest.raises(ValueError, match="warn_at"):
        colour(hours(1), allowed, warn_at=1.5)


def test_used_fraction() -> None:
    assert used_fraction(hours(4), hours(1)) == 0.25
    assert used_fraction(hours(4), hours(6)) == 1.5
    with pytest.raises(ValueError, match="positive"):
        used_fraction(timedelta(0), hours(1))


def test_warning_instant() -> None:
    start, now = sh(2025, 6, 10, 8), sh(2025, 6, 10, 8)
    warn = CAL.warning_instant(start, hours(4), HOURS, [], now)
    assert warn == sh(2025, 6, 10, 11, 12)  # 80% of 4 h is 3 h 12 min
    assert colour(CAL.elapsed(start, warn, HOURS), hours(4)) is Colour.YELLOW
    before = warn - timedelta(seconds=1)
    assert colour(CAL.elapsed(start, before, HOURS), hours(4)) is Colour.GREEN
    # One working day from Monday 10:00 turns yellow at 80% of eight hours, 6 h 24 min later.
    monday = sh(2025, 6, 9, 10)
    warn = CAL.warning_instant(monday, timedelta(days=1), DAYS, [], monday)
    assert warn == sh(2025, 6, 10, 8, 24)
    assert colour(CAL.elapsed(monday, warn, DAYS), timedelta(days=1)) is Colour.YELLOW


# -- properties against a minute-by-minute reference -------------------------------------------
#
# The reference walks Shanghai wall-clock minutes (no DST there) and asks chinesecalendar about
# every date, with the default windows spelled out again here.

_EPOCH = datetime(2024, 12, 20)  # naive Shanghai wall clock
_SPAN_MINUTES = (datetime(2026, 12, 5) - _EPOCH) // MINUTE


@functools.cache
def _ref_workday(day: date) -> bool:
    return bool(chinese_calendar.is_workday(day))


def _ref_working_minute(local: datetime) -> bool:
    """Whether the minute beginning at naive Shanghai time ``local`` is working time."""
    hhmm = local.hour * 60 + local.minute
    in_window = 8 * 60 <= hhmm < 12 * 60 or 14 * 60 <= hhmm < 18 * 60
    return in_window and _ref_workday(local.date())


def _aware(minutes: int) -> datetime:
    return (_EPOCH + minutes * MINUTE).replace(tzinfo=SH)


def _ref_count(start: int, end: int, paused: Container[int] = frozenset()) -> int:
    return sum(
        1 for m in range(start, end) if m not in paused and _ref_working_minute(_EPOCH + m * MINUTE)
    )


def _ref_deadline(start: int, need: int, paused: Container[int] = frozenset()) -> int:
    m, counted = start, 0
    while counted < need:
        if m not in paused and _ref_working_minute(_EPOCH + m * MINUTE):
            counted += 1
        m += 1
    return m


_instants = st.integers(0, _SPAN_MINUTES)
_spans = st.integers(0, 4 * 24 * 60)
_amounts = st.integers(0, 12 * 60)
# (offset from start, length or None for an open pause), both in minutes.
_pauses = st.lists(
    st.tuples(st.integers(-600, 3 * 24 * 60), st.none() | st.integers(0, 24 * 60)), max_size=3
)

# Minute offsets of a few moments worth checking every run.
_SPRING_2026 = (datetime(2026, 2, 13, 17) - _EPOCH) // MINUTE
_NATIONAL_2025 = (datetime(2025, 9, 30, 11, 30) - _EPOCH) // MINUTE


@PROPERTY
@given(start=_instants, span=_spans)
@example(start=_SPRING_2026, span=4 * 24 * 60)
@example(start=_NATIONAL_2025, span=3 * 24 * 60)
def test_elapsed_agrees_with_the_minute_walk(start: int, span: int) -> None:
    got = CAL.elapsed(_aware(start), _aware(start + span), HOURS)
    assert got == _ref_count(start, start + span) * MINUTE


@PROPERTY
@given(start=_instants, amount=_amounts)
@example(start=_SPRING_2026, amount=3 * 60)
@example(start=_NATIONAL_2025, amount=5 * 60)
def test_add_agrees_with_the_minute_walk_and_elapsed_inverts_it(start: int, amount: int) -> None:
    deadline = CAL.add(_aware(start), amount * MINUTE, HOURS)
    expected = start if amount == 0 else _ref_deadline(start, amount)
    assert deadline == _aware(expected)
    assert CAL.elapsed(_aware(start), deadline, HOURS) == amount * MINUTE


@PROPERTY
@given(start=_instants, later=_spans, a=_amounts, b=_amounts)
def test_add_is_monotone(start: int, later: int, a: int, b: int) -> None:
    small, big = sorted((a, b))
    assert CAL.add(_aware(start), small * MINUTE, HOURS) <= CAL.add(
        _aware(start), big * MINUTE, HOURS
    )
    early, late = _aware(start), _aware(start + later)
    assert CAL.add(early, small * MINUTE, HOURS) <= CAL.add(late, small * MINUTE, HOURS)


@PROPERTY
@given(start=_instants, first=_spans, second=_spans)
def test_elapsed_is_additive(start: int, first: int, second: int) -> None:
    a, b, c = _aware(start), _aware(start + first), _aware(start + first + second)
    for kind in ClockKind:
        assert CAL.elapsed(a, b, kind) + CAL.elapsed(b, c, kind) == CAL.elapsed(a, c, kind)


def _pause_minutes(start: int, pauses: list[tuple[int, int | None]], open_until: int) -> set[int]:
    paused: set[int] = set()
    for offset, length in pauses:
        begin = start + offset
        stop = open_until if length is None else begin + length
        paused.update(range(begin, stop))
    return paused


def _as_pauses(
    start: int, pauses: list[tuple[int, int | None]]
) -> list[tuple[datetime, datetime | None]]:
    return [
        (_aware(start + offset), None if length is None else _aware(start + offset + length))
        for offset, length in pauses
    ]


@PROPERTY
@given(start=_instants, span=_spans, pauses=_pauses)
@example(start=_SPRING_2026, span=4 * 24 * 60, pauses=[(60, 600), (300, None), (-60, 120)])
def test_pauses_reduce_elapsed_by_their_counted_time(
    start: int, span: int, pauses: list[tuple[int, int | None]]
) -> None:
    end = start + span
    got = CAL.elapsed_excluding(_aware(start), _aware(end), HOURS, _as_pauses(start, pauses))
    paused = _pause_minutes(start, pauses, open_until=end)
    assert got == _ref_count(start, end, paused) * MINUTE
    plain = CAL.elapsed(_aware(start), _aware(end), HOURS)
    in_pauses = _ref_count(start, end) - _ref_count(start, end, paused)
    assert got == plain - in_pauses * MINUTE
    # On the working-days clock the same, in days of eight working hours.
    days = CAL.elapsed_excluding(_aware(start), _aware(end), DAYS, _as_pauses(start, pauses))
    assert days == got * 3


@PROPERTY
@given(start=_instants, amount=_amounts, pauses=_pauses, now=_spans)
@example(start=_SPRING_2026, amount=120, pauses=[(0, 60), (30, 600)], now=0)
def test_deadline_with_pauses_agrees_with_the_minute_walk(
    start: int, amount: int, pauses: list[tuple[int, int | None]], now: int
) -> None:
    now_minute = start + now
    deadline = CAL.deadline_with_pauses(
        _aware(start), amount * MINUTE, HOURS, _as_pauses(start, pauses), _aware(now_minute)
    )
    paused = _pause_minutes(start, pauses, open_until=now_minute)
    expected = start if amount == 0 else _ref_deadline(start, amount, paused)
    assert deadline == _aware(expected)
    # With open pauses closed at now, the time used at the deadline is exactly the limit.
    closed = [
        (b, e if e is not None else max(b, _aware(now_minute)))
        for b, e in _as_pauses(start, pauses)
    ]
    assert CAL.elapsed_excluding(_aware(start), deadline, HOURS, closed) == amount * MINUTE


@PROPERTY
@given(start=_instants, amount=st.integers(1, 12 * 60), kind=st.sampled_from(ClockKind))
def test_the_warning_comes_before_the_deadline_and_both_colour_right(
    start: int, amount: int, kind: ClockKind
) -> None:
    begin, limit = _aware(start), amount * MINUTE
    warn = CAL.warning_instant(begin, limit, kind, [], begin)
    deadline = CAL.deadline_with_pauses(begin, limit, kind, [], begin)
    assert begin <= warn <= deadline
    assert colour(CAL.elapsed(begin, warn, kind), limit) is Colour.YELLOW
    assert colour(CAL.elapsed(begin, deadline, kind), limit) is Colour.RED
    assert (
        colour(CAL.elapsed(begin, deadline - timedelta(microseconds=1), kind), limit)
        is not Colour.RED
    )


@PROPERTY
@given(
    start=_instants,
    micros=st.integers(1, 3 * 86_400_000_000),
    hours_per_day=st.sampled_from([8.0, 7.5, 7.0, 10.0 / 3]),
)
def test_working_day_deadlines_are_never_early(
    start: int, micros: int, hours_per_day: float
) -> None:
    # Amounts on the working-days clock are rounded to the microsecond when converted to
    # working time; the deadline must be the first instant at which the limit is used up.
    cal = WorkingCalendar(hours_per_day=hours_per_day)
    begin, limit = _aware(start), timedelta(microseconds=micros)
    deadline = cal.add(begin, limit, DAYS)
    assert cal.elapsed(begin, deadline, DAYS) >= limit
    assert cal.elapsed(begin, deadline - timedelta(microseconds=1), DAYS) < limit


def test_default_windows_are_the_documented_ones() -> None:
    windows = DEFAULT_WINDOWS
    assert windows == ((time(8), time(12)), (time(14), time(18)))
    assert DEFAULT_CALENDAR.tz == SH
    assert DEFAULT_CALENDAR.hours_per_day == 8.0


def test_a_calendar_that_has_counted_equals_a_fresh_one_and_answers_alike() -> None:
    used, fresh = WorkingCalendar(), WorkingCalendar()
    start = datetime(2026, 9, 30, 16, 0, tzinfo=SH)  # before 国庆
    first = used.add(start, timedelta(days=3), ClockKind.WORKING_DAYS)
    assert used == fresh  # the kept windows are not part of the value
    assert hash(used) == hash(fresh)
    assert used.add(start, timedelta(days=3), ClockKind.WORKING_DAYS) == first
    assert fresh.add(start, timedelta(days=3), ClockKind.WORKING_DAYS) == first
    assert first.date() > date(2026, 10, 8)  # the holiday and its make-up days were walked
