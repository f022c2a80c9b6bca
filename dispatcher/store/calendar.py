"""The years of holidays operators entered (table ``calendar_years``, migration 0013).

:func:`load_book` reads them into a :class:`~dispatcher.core.holidays.HolidayBook`;
:func:`save_year` stores one year, replacing what was entered for it. After a save the caller
announces ``calendar.changed`` so that every process reloads its book.
"""

from __future__ import annotations

from typing import Final

from dispatcher.core.holidays import HolidayBook, Source, YearCalendar
from dispatcher.store import records as store

SELECT_YEARS: Final = """
SELECT year, holidays, workdays, entered_by, entered_at FROM calendar_years ORDER BY year"""
UPSERT_YEAR: Final = """
INSERT INTO calendar_years (year, holidays, workdays, entered_by, entered_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (year) DO UPDATE
SET holidays = EXCLUDED.holidays, workdays = EXCLUDED.workdays,
    entered_by = EXCLUDED.entered_by, entered_at = EXCLUDED.entered_at
RETURNING entered_at, (xmax = 0) AS created"""


async def load_book(db: store.Pool | store.Connection) -> HolidayBook:
    """Every entered year, as the book the clocks of this process will use."""
    rows = await db.fetch(SELECT_YEARS)
    return HolidayBook.of(
        YearCalendar(
            year=row["year"],
            holidays=frozenset(row["holidays"]),
            workdays=frozenset(row["workdays"]),
            source=Source.ENTERED,
            entered_by=row["entered_by"],
            entered_at=row["entered_at"],
        )
        for row in rows
    )


async def save_year(
    db: store.Pool | store.Connection, year: YearCalendar
) -> tuple[YearCalendar, bool]:
    """Store an entered year (replacing the one before); answer it as stored and whether it is
    new. The caller announces the change."""
    if year.source is not Source.ENTERED or year.entered_by is None:
        raise ValueError("only an entered year, with who entered it, is stored")
    row = await db.fetchrow(
        UPSERT_YEAR, year.year, sorted(year.holidays), sorted(year.workdays), year.entered_by
    )
    assert row is not None
    stored = YearCalendar(
        year.year,
        year.holidays,
        year.workdays,
        Source.ENTERED,
        entered_by=year.entered_by,
        entered_at=row["entered_at"],
    )
    return stored, bool(row["created"])
