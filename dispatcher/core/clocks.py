"""Clocks: when a limit runs out, how much of it is used, and its colour (三色预警).

Each category carries a limit on one of three clocks (as CJ/T 315 counts them):

- continuous (紧急工作时): wall-clock time, nights and holidays included;
- working hours (工作时): only time inside the working windows of workdays counts
  (08:00–12:00 and 14:00–18:00 by default, ``DISPATCH_WORK_WINDOWS``; a part of every year
  may have windows of its own, such as summer hours 夏令作息, ``DISPATCH_WORK_WINDOWS_SEASONAL``;
  weekends and public holidays off, make-up working days 调休 on, as the deployment's
  :class:`~dispatcher.core.holidays.HolidayBook` says);
- working days (工作日): working time again, measured in days of ``hours_per_day`` hours.

Units. A ``timedelta`` given to or returned by a clock is an amount of *counted* time on that
clock. On the working-days clock ``timedelta(days=1)`` means one working day, that is
``hours_per_day`` working hours (8 by default): ``add(start, timedelta(days=20),
ClockKind.WORKING_DAYS)`` is 160 working hours after ``start``, and ``elapsed(...,
ClockKind.WORKING_DAYS)`` answers in the same unit, so used and allowed amounts compare
directly (``colour(used, allowed)``). The conversion rounds to the microsecond in the
direction that never makes a deadline early.

Suspension (挂账) stops the clock: ``elapsed_excluding`` and ``deadline_with_pauses`` take
pauses ``(begin, end)``, with ``end`` None while a pause is still open.

Everything here is pure: instants in, instants and durations out, no I/O, no "now" read
from the system. Instants must be aware datetimes (any zone); results are in the calendar's
zone.
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, TypeAlias
from zoneinfo import ZoneInfo

from dispatcher.core.holidays import HolidayBook

SHANGHAI: Final = ZoneInfo("Asia/Shanghai")
DEFAULT_WINDOWS: Final[tuple[tuple[time, time], ...]] = (
    (time(8, 0), time(12, 0)),
    (time(14, 0), time(18, 0)),
)

# A pause (挂账) from begin to end; end is None while the pause is still open.
Pause: TypeAlias = tuple[datetime, datetime | None]

_ZERO: Final = timedelta(0)
_ONE_DAY: Final = timedelta(days=1)
_MICROSECOND: Final = timedelta(microseconds=1)
_DAY_US: Final = _ONE_DAY // _MICROSECOND
# A calendar with no working time for this many days in a row cannot be right (an
# is_workday that always says no): fail instead of searching for a deadline for ever.
_MAX_IDLE_DAYS: Final = 800
#: local dates whose windows a calendar keeps (about eleven years)
_DAYS_KEPT: Final = 4096


class ClockKind(enum.StrEnum):
    """The clock a limit runs on."""

    CONTINUOUS = "continuous"  # 紧急工作时
    WORKING_HOURS = "working_hours"  # 工作时
    WORKING_DAYS = "working_days"  # 工作日: timedelta(days=1) == hours_per_day working hours


class Colour(enum.StrEnum):
    """The three-colour warning (三色预警) of a running limit."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


#: the holidays nobody entered: chinesecalendar's years, then the statutory holidays
_PACKAGE_BOOK: Final = HolidayBook()


@functools.lru_cache(maxsize=4096)
def is_chinese_workday(day: date) -> bool:
    """Whether people work on ``day`` in mainland China, as far as no operator entered it.

    Weekends and public holidays are off; the make-up working days (调休, often a Saturday or
    Sunday next to a long holiday) are on. The facts come from ``chinesecalendar``, which
    knows only the years published when it was released (1.11: 2004–2026); past them, the
    statutory holidays of 《全国年节及纪念日放假办法》 with their 补假 and no make-up working
    days (:func:`dispatcher.core.holidays.statutory_year`). A server uses the deployment's
    :class:`~dispatcher.core.holidays.HolidayBook` instead, where operators enter each year's
    notice of the State Council; this is the calendar of code that has no book.
    """
    # cached: every deadline walks the days it spans, and the answer for a day never changes
    # within a process (the package's data is fixed once imported)
    return _PACKAGE_BOOK.is_workday(day)


@dataclass(frozen=True)
class Season:
    """Working windows of part of every year, e.g. summer hours (夏令作息) 05-01..09-30.

    ``first`` and ``last`` are (month, day), both included; a season whose ``first`` comes
    after its ``last`` runs over the new year (11-01..02-28). 29 February belongs to a season
    that covers it in a leap year only.
    """

    first: tuple[int, int]
    last: tuple[int, int]
    windows: tuple[tuple[time, time], ...]

    def covers(self, day: date) -> bool:
        month_day = (day.month, day.day)
        if self.first <= self.last:
            return self.first <= month_day <= self.last
        return month_day >= self.first or month_day <= self.last


def _check_windows(windows: tuple[tuple[time, time], ...]) -> None:
    if not windows:
        raise ValueError("a working calendar needs at least one working window")
    previous_end: time | None = None
    for begin, end in windows:
        name = f"working window {begin.isoformat('minutes')}–{end.isoformat('minutes')}"
        if begin.tzinfo is not None or end.tzinfo is not None:
            raise ValueError(f"{name}: times must be naive, wall-clock in the calendar's tz")
        if begin >= end:
            raise ValueError(f"{name}: must end after it begins, on the same day")
        if previous_end is not None and begin < previous_end:
            raise ValueError(f"{name}: windows must be in order and must not overlap")
        previous_end = end


def _check_seasons(seasons: Sequence[Season]) -> None:
    """Fail if two seasons share a day (of a leap year, so that 29 February counts)."""
    day = date(2000, 1, 1)
    while day.year == 2000:
        covering = [s for s in seasons if s.covers(day)]
        if len(covering) > 1:
            a, b = covering[0], covering[1]
            raise ValueError(
                f"seasons {a.first}..{a.last} and {b.first}..{b.last} overlap on "
                f"{day.month:02d}-{day.day:02d}"
            )
        day += _ONE_DAY


@dataclass(frozen=True)
class WorkingCalendar:
    """Working windows, workdays and a zone: what the working clocks count.

    ``windows`` are wall-clock times in ``tz``, in order, not overlapping, each inside one day;
    a date inside one of ``seasons`` (which must not overlap) has that season's windows instead.
    ``hours_per_day`` is the length of one working day on the working-days clock; it need
    not equal the windows' total (a city whose windows make 7.5 hours may still define a
    工作日 as eight working hours), but when it does not, a working day no longer ends at
    the same time of day it began. City specifics belong in data: build one calendar per
    city from its configuration and pass it where needed. ``is_workday`` must give the same
    answer for a date every time it is asked: a calendar keeps each date's windows. When the
    holidays change (an operator entered a year), build a new calendar with
    :meth:`with_workdays` and use it from then on; this one keeps its old answers.
    """

    tz: ZoneInfo = SHANGHAI
    windows: tuple[tuple[time, time], ...] = DEFAULT_WINDOWS
    hours_per_day: float = 8.0
    is_workday: Callable[[date], bool] = is_chinese_workday
    seasons: tuple[Season, ...] = ()
    #: each local date's windows as UTC pairs, as :meth:`_windows_between` walks them (a
    #: date's never change); not part of the value
    _days: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        _check_windows(self.windows)
        for season in self.seasons:
            _check_windows(season.windows)
        if len(self.seasons) > 1:
            _check_seasons(self.seasons)
        if not (math.isfinite(self.hours_per_day) and self.hours_per_day > 0):
            raise ValueError(f"hours_per_day must be a positive number, not {self.hours_per_day}")

    def with_workdays(self, is_workday: Callable[[date], bool]) -> WorkingCalendar:
        """The same calendar with other workdays (a new holiday book), keeping nothing of this
        one's per-date windows."""
        return replace(self, is_workday=is_workday)

    def windows_on(self, day: date) -> tuple[tuple[time, time], ...]:
        """The wall-clock working windows of local date ``day`` if it is a workday."""
        for season in self.seasons:
            if season.covers(day):
                return season.windows
        return self.windows

    # -- public API -------------------------------------------------------------------------

    def add(self, start: datetime, amount: timedelta, kind: ClockKind) -> datetime:
        """The deadline: the earliest instant at which ``amount`` of counted time has run.

        On the working clocks counting starts at the next window if ``start`` is outside
        one, and a deadline that falls exactly at the end of a window stays there (it is not
        moved to the next window's start). A zero amount gives ``start`` itself. The answer
        is in the calendar's zone; store it as the timer's due time.
        """
        begin = _as_utc(start, "start")
        if amount < _ZERO:
            raise ValueError(f"amount must not be negative, not {amount}")
        return self._advance(begin, self._to_counted(amount, kind), kind).astimezone(self.tz)

    def elapsed(self, start: datetime, end: datetime, kind: ClockKind) -> timedelta:
        """Counted time from ``start`` to ``end`` on the ``kind`` clock (zero if end <= start).

        Compare it with the limit through ``colour`` or ``used_fraction``; subtract
        suspensions with ``elapsed_excluding`` instead.
        """
        return self.elapsed_excluding(start, end, kind, ())

    def elapsed_excluding(
        self, start: datetime, end: datetime, kind: ClockKind, pauses: Sequence[Pause]
    ) -> timedelta:
        """Counted time from ``start`` to ``end``, less the counted time inside ``pauses``.

        A pause still open (end None) runs to ``end``; pauses may overlap each other and
        stick out of ``[start, end]``, each counted instant is subtracted once. Pass ``end =
        now`` to get the time used so far.
        """
        lo, hi = _as_utc(start, "start"), _as_utc(end, "end")
        if hi <= lo:
            return _ZERO
        counted = self._count(lo, hi, kind)
        for pause_lo, pause_hi in _merge(pauses, lo, hi, open_until=hi):
            counted -= self._count(pause_lo, pause_hi, kind)
        return self._from_counted(counted, kind)

    def deadline_with_pauses(
        self,
        start: datetime,
        limit: timedelta,
        kind: ClockKind,
        pauses: Sequence[Pause],
        now: datetime,
    ) -> datetime:
        """The instant at which counted time, less ``pauses``, reaches ``limit``.

        A closed pause moves the deadline later by exactly its counted length (a pause over
        a weekend moves a working-hours deadline not at all). While a pause is open the
        deadline is not reached; the answer is computed as if the pause ended at ``now``, so
        it moves on as time passes. The caller must therefore not arm a timer while a pause
        is open: cancel it when the pause opens and re-arm it with this function when the
        pause closes. A deadline before a pause began is not moved by that pause.
        """
        lo, current = _as_utc(start, "start"), _as_utc(now, "now")
        if limit < _ZERO:
            raise ValueError(f"limit must not be negative, not {limit}")
        remaining = self._to_counted(limit, kind)
        cursor = lo
        for pause_lo, pause_hi in _merge(pauses, lo, None, open_until=current):
            # Merged pauses are disjoint and in order, so cursor <= pause_lo here.
            available = self._count(cursor, pause_lo, kind)
            if remaining <= available:
                break
            remaining -= available
            cursor = pause_hi
        return self._advance(cursor, remaining, kind).astimezone(self.tz)

    def warning_instant(
        self,
        start: datetime,
        limit: timedelta,
        kind: ClockKind,
        pauses: Sequence[Pause],
        now: datetime,
        *,
        warn_at: float = 0.8,
    ) -> datetime:
        """When the clock turns yellow: counted time, less pauses, reaches ``warn_at * limit``.

        Consistent with ``colour``: at this instant ``colour(used, limit, warn_at)`` is
        yellow (or red if ``warn_at`` is 1). Same rules about open pauses as
        ``deadline_with_pauses``: arm the warning timer only while no pause is open.
        """
        _check_warn_at(warn_at)
        return self.deadline_with_pauses(start, limit * warn_at, kind, pauses, now)

    # -- counting ---------------------------------------------------------------------------

    def _to_counted(self, amount: timedelta, kind: ClockKind) -> timedelta:
        """An amount on the ``kind`` clock as raw counted time (wall or working time)."""
        if kind is not ClockKind.WORKING_DAYS:
            return amount
        # Round up, so that a deadline is never early.
        numerator = (amount // _MICROSECOND) * self._day_us
        return timedelta(microseconds=-(-numerator // _DAY_US))

    def _from_counted(self, counted: timedelta, kind: ClockKind) -> timedelta:
        """Raw counted time as an amount on the ``kind`` clock (inverse of ``_to_counted``)."""
        if kind is not ClockKind.WORKING_DAYS:
            return counted
        # Round down: together with rounding up above, elapsed(add(d)) >= d always.
        return timedelta(microseconds=(counted // _MICROSECOND) * _DAY_US // self._day_us)

    @property
    def _day_us(self) -> int:
        return round(self.hours_per_day * 3_600_000_000)

    def _count(self, lo: datetime, hi: datetime, kind: ClockKind) -> timedelta:
        """Raw counted time in ``[lo, hi)``, both UTC."""
        if hi <= lo:
            return _ZERO
        if kind is ClockKind.CONTINUOUS:
            return hi - lo
        total = _ZERO
        for begin, end in self._windows_between(self._local_date(lo), self._local_date(hi)):
            overlap = min(end, hi) - max(begin, lo)
            if overlap > _ZERO:
                total += overlap
        return total

    def _advance(self, lo: datetime, counted: timedelta, kind: ClockKind) -> datetime:
        """The earliest UTC instant at which ``counted`` raw time has run since ``lo``."""
        if kind is ClockKind.CONTINUOUS or counted == _ZERO:
            return lo + counted
        remaining = counted
        for begin, end in self._windows_between(self._local_date(lo), None):
            available = end - max(begin, lo)
            if available <= _ZERO:
                continue
            if remaining <= available:
                return max(begin, lo) + remaining
            remaining -= available
        raise AssertionError("unreachable: the windows without a last day never run out")

    def _windows_between(
        self, first: date, last: date | None
    ) -> Iterator[tuple[datetime, datetime]]:
        """The working windows of workdays, local dates ``first`` to ``last``, as UTC pairs.

        Walks day by day, never minute by minute. Without ``last`` it runs until the caller
        stops, failing if a long run of days brings no working time at all.
        """
        day, idle = first, 0
        while last is None or day <= last:
            windows = self._day_windows(day)
            if windows:
                idle = 0
                yield from windows
            idle += 1
            if last is None and idle > _MAX_IDLE_DAYS:
                raise ValueError(f"no working time in {_MAX_IDLE_DAYS} days from {first}")
            day += _ONE_DAY

    def _day_windows(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working windows of local date ``day`` as UTC pairs; () on a day off."""
        found = self._days.get(day)
        if found is None:
            pairs = []
            if self.is_workday(day):
                for begin, end in self.windows_on(day):
                    # Combine in the calendar's zone, then compare in UTC: arithmetic on
                    # datetimes sharing a tzinfo would be wall-clock arithmetic.
                    lo = datetime.combine(day, begin, self.tz).astimezone(UTC)
                    hi = datetime.combine(day, end, self.tz).astimezone(UTC)
                    if lo < hi:  # a window swallowed by a DST change counts nothing
                        pairs.append((lo, hi))
            if len(self._days) >= _DAYS_KEPT:
                self._days.clear()
            found = self._days[day] = tuple(pairs)
        return found

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.tz).date()


DEFAULT_CALENDAR: Final = WorkingCalendar()


def used_fraction(allowed: timedelta, used: timedelta) -> float:
    """The share of the allowed time used: 0.5 at half time, 1.0 at the deadline, above after.

    ``allowed`` must be positive; both amounts must be on the same clock (see the module's
    note on units).
    """
    if allowed <= _ZERO:
        raise ValueError(f"allowed must be positive, not {allowed}")
    return used / allowed


def colour(used: timedelta, allowed: timedelta, warn_at: float = 0.8) -> Colour:
    """The colour of a limit given the counted time used so far.

    Red once the deadline has come: ``used >= allowed`` (at the deadline instant itself the
    case is already red, i.e. overdue); yellow once ``used >= warn_at * allowed``; green
    before. The caller raises supervision (督办) and escalation on red.
    """
    _check_warn_at(warn_at)
    if used >= allowed:
        return Colour.RED
    if used >= allowed * warn_at:
        return Colour.YELLOW
    return Colour.GREEN


def _check_warn_at(warn_at: float) -> None:
    if not 0 < warn_at <= 1:
        raise ValueError(f"warn_at must be in (0, 1], not {warn_at}")


def _as_utc(instant: datetime, name: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {instant!r}")
    return instant.astimezone(UTC)


def _merge(
    pauses: Sequence[Pause], lo: datetime, hi: datetime | None, *, open_until: datetime
) -> list[tuple[datetime, datetime]]:
    """Pauses as disjoint UTC intervals in order, clipped to ``[lo, hi]``.

    An open pause ends at ``open_until`` (and vanishes if it began after it).
    """
    clipped: list[tuple[datetime, datetime]] = []
    for begin, end in pauses:
        pause_lo = _as_utc(begin, "pause begin")
        pause_hi = open_until if end is None else _as_utc(end, "pause end")
        if end is not None and pause_hi < pause_lo:
            raise ValueError(f"a pause must not end before it begins: {begin} to {end}")
        pause_lo = max(pause_lo, lo)
        if hi is not None:
            pause_hi = min(pause_hi, hi)
        if pause_lo < pause_hi:
            clipped.append((pause_lo, pause_hi))
    clipped.sort()
    merged: list[tuple[datetime, datetime]] = []
    for pause_lo, pause_hi in clipped:
        if merged and pause_lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], pause_hi))
        else:
            merged.append((pause_lo, pause_hi))
    return merged
