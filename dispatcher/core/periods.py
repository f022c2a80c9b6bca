"""Periods of the figures: ``from``/``to``/``as_of`` as the API takes them, and months.

Pure. A period is ``[start, end)``, judged at ``as_of`` (at most ``end``, at most now); days
and months are calendar days and months in the deployment's zone (``DISPATCH_TZ``). Bad
input raises :class:`~dispatcher.core.errors.ValidationFailed` naming the parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final

from dispatcher.core.errors import ValidationFailed

#: the longest period one request may cover
MAX_PERIOD: Final = timedelta(days=400)


@dataclass(frozen=True)
class Period:
    """``[start, end)`` judged at ``as_of`` (at most ``end``, at most now)."""

    start: datetime
    end: datetime
    as_of: datetime

    @property
    def received_before(self) -> datetime:
        """Incidents received before this instant (and at or after ``start``) are counted."""
        return min(self.end, self.as_of)

    def to_json(self, tz: tzinfo) -> dict[str, str]:
        return {
            "from": self.start.astimezone(tz).isoformat(),
            "to": self.end.astimezone(tz).isoformat(),
            "as_of": self.as_of.astimezone(tz).isoformat(),
        }


_MONTH: Final = re.compile(r"(\d{4})-(\d{2})")
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


def month_period(text: str | None, tz: tzinfo, now: datetime) -> Period:
    """``YYYY-MM``: from the first local midnight of the month to the first of the next."""
    match = _MONTH.fullmatch(text or "")
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValidationFailed("month: expected YYYY-MM, e.g. 2026-10", field="month")
    year, month = int(match.group(1)), int(match.group(2))
    if not 2000 <= year <= 2100:
        raise ValidationFailed("month: a year from 2000 to 2100", field="month")
    start = datetime.combine(date(year, month, 1), time(), tz)
    following = date(year + month // 12, month % 12 + 1, 1)
    end = datetime.combine(following, time(), tz)
    return Period(start, end, min(end, now))


def _instant(name: str, text: str, tz: tzinfo, *, end_of_day: bool = False) -> datetime:
    if _DATE.fullmatch(text):
        day = date.fromisoformat(text)
        if end_of_day:
            day += timedelta(days=1)
        return datetime.combine(day, time(), tz)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            f"{name}: an RFC 3339 time or a date YYYY-MM-DD", field=name
        ) from None
    if moment.tzinfo is None:
        raise ValidationFailed(f"{name}: the time needs an offset", field=name)
    return moment


def parse_period(
    start: str | None, end: str | None, as_of: str | None, tz: tzinfo, now: datetime
) -> Period:
    """``from``/``to`` (RFC 3339, or dates: ``to`` a date includes that day); default today."""
    today = datetime.combine(now.astimezone(tz).date(), time(), tz)
    begin = _instant("from", start, tz) if start else today
    finish = _instant("to", end, tz, end_of_day=True) if end else today + timedelta(days=1)
    if finish <= begin:
        raise ValidationFailed("to: must be after from", field="to")
    if finish - begin > MAX_PERIOD:
        raise ValidationFailed(f"to: a period is at most {MAX_PERIOD.days} days", field="to")
    judged = min(finish, now)
    if as_of:
        judged = min(_instant("as_of", as_of, tz), now)
        if judged < begin:
            raise ValidationFailed("as_of: must not be before from", field="as_of")
    return Period(begin.astimezone(UTC), finish.astimezone(UTC), judged.astimezone(UTC))


def day_keys(start: datetime, end: datetime, tz: tzinfo) -> list[str]:
    """Every local calendar day that ``[start, end)`` touches, as ``YYYY-MM-DD``."""
    if end <= start:
        return []
    first: date = start.astimezone(tz).date()
    last: date = (end - timedelta(microseconds=1)).astimezone(tz).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
