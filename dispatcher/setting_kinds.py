"""The kinds of values the settings' variables take (:mod:`dispatcher.settings`).

Each kind parses a variable's text into a value, formats a value back into text (the default
shown in docs/DEPLOY.md) and says in words what it accepts. The plain kinds (numbers, switches,
text, a time zone, a folder) and the structured ones of the domain: working windows, the
figures' weights, the 12345 hotline's limits, supervision days by kind, stage limits and the
thresholds of the rates per tier. A value that is not accepted raises :class:`ConfigError`
naming what is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from typing import Final, Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

T = TypeVar("T")


class ConfigError(Exception):
    """A required variable is missing or a value cannot be used; the message names it."""


class Kind(Protocol[T]):
    """What a variable accepts: ``parse`` raises ``ValueError`` on anything else; ``format``
    writes a value as text that ``parse`` reads back (docs/DEPLOY.md shows defaults so)."""

    @property
    def accepted(self) -> str: ...

    def parse(self, raw: str) -> T: ...

    def format(self, value: T) -> str: ...


@dataclass(frozen=True)
class Number:
    """A finite number from ``low`` (excluded when ``above``, which needs no ``high``) to
    ``high``."""

    low: float
    high: float = math.inf
    above: bool = False

    @property
    def accepted(self) -> str:
        if self.high < math.inf:
            return f"a number from {self.low:g} to {self.high:g}"
        return f"a number above {self.low:g}" if self.above else f"a number, at least {self.low:g}"

    def parse(self, raw: str) -> float:
        value = float(raw)
        too_low = value <= self.low if self.above else value < self.low
        if not math.isfinite(value) or too_low or value > self.high:
            raise ValueError(raw)
        return value

    def format(self, value: float) -> str:
        return str(int(value)) if value.is_integer() else repr(value)


@dataclass(frozen=True)
class Whole:
    """A whole number from ``low`` to ``high`` (``1e3`` and ``3.0`` are whole, ``2.5`` is not)."""

    low: int
    high: int | None = None

    @property
    def accepted(self) -> str:
        if self.high is None:
            return f"a whole number, at least {self.low}"
        return f"a whole number from {self.low} to {self.high}"

    def parse(self, raw: str) -> int:
        value = float(raw)
        if not value.is_integer() or value < self.low:
            raise ValueError(raw)
        if self.high is not None and value > self.high:
            raise ValueError(raw)
        return int(value)

    def format(self, value: int) -> str:
        return str(value)


@dataclass(frozen=True)
class Switch:
    accepted: str = "on or off (also 1/0, true/false, yes/no)"

    def parse(self, raw: str) -> bool:
        word = raw.lower()
        if word in {"1", "on", "true", "yes"}:
            return True
        if word in {"0", "off", "false", "no"}:
            return False
        raise ValueError(raw)

    def format(self, value: bool) -> str:
        return "on" if value else "off"


@dataclass(frozen=True)
class Text:
    """Any text; with ``schemes``, a URL of one of them."""

    accepted: str = "any text"
    schemes: tuple[str, ...] = ()

    def parse(self, raw: str) -> str:
        if self.schemes and raw.partition("://")[0].lower() not in self.schemes:
            raise ValueError(raw)
        return raw

    def format(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class TimeZone:
    accepted: str = "a time zone of the IANA database, e.g. Asia/Shanghai"

    def parse(self, raw: str) -> str:
        try:
            ZoneInfo(raw)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(raw) from exc
        return raw

    def format(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class Folder:
    accepted: str = "a folder (made when first needed)"

    def parse(self, raw: str) -> Path:
        return Path(raw)

    def format(self, value: Path) -> str:
        return str(value)


@dataclass(frozen=True)
class Parser(Generic[T]):
    """Any function of the text that raises ``ValueError`` on what it does not accept, and
    its inverse ``show`` (for the default in docs/DEPLOY.md)."""

    function: Callable[[str], T]
    accepted: str
    show: Callable[[T], str] = str

    def parse(self, raw: str) -> T:
        return self.function(raw)

    def format(self, value: T) -> str:
        return self.show(value)


_HOUR_MINUTE: Final = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_MONTH_DAY: Final = re.compile(r"^([0-9]{2})-([0-9]{2})$")


@dataclass(frozen=True)
class WorkWindows:
    """A workday's working windows, wall-clock: ``08:00-12:00,14:00-18:00``.

    In order, not overlapping, each inside one day; ``str`` writes them as ``parse`` reads them.
    """

    windows: tuple[tuple[time, time], ...]

    @classmethod
    def parse(cls, raw: str) -> WorkWindows:
        windows: list[tuple[time, time]] = []
        for part in raw.split(","):
            begin, dash, end = part.strip().partition("-")
            if not (dash and _HOUR_MINUTE.match(begin) and _HOUR_MINUTE.match(end)):
                raise ValueError(raw)
            window = (time.fromisoformat(begin), time.fromisoformat(end))
            if window[0] >= window[1] or (windows and window[0] < windows[-1][1]):
                raise ValueError(raw)
            windows.append(window)
        return cls(tuple(windows))

    def __str__(self) -> str:
        return ",".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in self.windows)


@dataclass(frozen=True)
class SeasonalWindows:
    """Parts of every year with working windows of their own, such as summer hours (夏令作息):
    ``05-01..09-30=08:00-12:00,14:30-18:00``, several separated by ``;``.

    Each part runs from its first (month, day) to its last, both included, over the new year
    when the first comes after the last; no two parts share a day.
    """

    seasons: tuple[tuple[tuple[int, int], tuple[int, int], WorkWindows], ...]

    @classmethod
    def parse(cls, raw: str) -> SeasonalWindows:
        seasons = []
        for part in raw.split(";"):
            span, equals, windows = part.strip().partition("=")
            first, dots, last = span.strip().partition("..")
            if not (equals and dots):
                raise ValueError(raw)
            seasons.append((_month_day(first), _month_day(last), WorkWindows.parse(windows)))
        leap_year = [date(2000, 1, 1) + timedelta(days=n) for n in range(366)]
        for day in leap_year:
            if sum(_covers(first, last, day) for first, last, _ in seasons) > 1:
                raise ValueError(raw)
        return cls(tuple(seasons))

    def __str__(self) -> str:
        return ";".join(
            f"{a[0]:02d}-{a[1]:02d}..{b[0]:02d}-{b[1]:02d}={w}" for a, b, w in self.seasons
        )


def _month_day(text: str) -> tuple[int, int]:
    found = _MONTH_DAY.match(text.strip())
    if found is None:
        raise ValueError(text)
    month, day = int(found[1]), int(found[2])
    date(2000, month, day)  # raises ValueError for 02-30 or 13-01 (2000 has a 29 February)
    return month, day


def _covers(first: tuple[int, int], last: tuple[int, int], day: date) -> bool:
    # the rule of dispatcher.core.clocks.Season.covers, which counts the windows; settings
    # imports nothing of dispatcher, so it checks the overlap with its own copy
    month_day = (day.month, day.day)
    if first <= last:
        return first <= month_day <= last
    return month_day >= first or month_day <= last


#: the rates a 综合指标值 may weigh: the names of dispatcher.core.stats.RATES (a unit test
#: keeps the two equal; the settings import nothing of the package)
SCORED_RATES: Final = (
    "disposal_rate",
    "on_time_rate",
    "close_rate",
    "on_time_close_rate",
    "rework_rate",
    "extension_rate",
    "overdue_open_rate",
)


@dataclass(frozen=True)
class ScoreWeights:
    """The weights of the 综合指标值 (docs/API.md §7): ``disposal_rate:30,rework_rate:20``.

    Each name one of :data:`SCORED_RATES`, at most once; each weight a finite number ≥ 0, at
    least one above 0; rates left out weigh 0. ``str`` writes them as ``parse`` reads them.
    """

    pairs: tuple[tuple[str, float], ...]

    @classmethod
    def parse(cls, raw: str) -> ScoreWeights:
        pairs: dict[str, float] = {}
        for part in raw.split(","):
            name, colon, number = part.partition(":")
            name = name.strip()
            if not colon or name not in SCORED_RATES or name in pairs:
                raise ValueError(raw)
            weight = float(number)
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(raw)
            pairs[name] = weight
        if sum(pairs.values()) <= 0:
            raise ValueError(raw)
        return cls(tuple(pairs.items()))

    def as_dict(self) -> dict[str, float]:
        return dict(self.pairs)

    def __str__(self) -> str:
        return ",".join(f"{name}:{Number(0).format(weight)}" for name, weight in self.pairs)


#: the 12345 request types (诉求类型): the values of dispatcher.core.request_types.RequestType
#: (a unit test keeps the two equal; the settings import nothing of the package)
REQUEST_TYPES: Final = ("consult", "help", "complaint", "suggestion", "report")


def _named_days(raw: str, names: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """``name:days`` pairs in the order of ``names``: every name exactly once, each number
    above 0 and at most 366; ValueError otherwise."""
    days: dict[str, float] = {}
    for part in raw.split(","):
        name, colon, number = part.partition(":")
        name = name.strip()
        if not colon or name not in names or name in days:
            raise ValueError(raw)
        limit = float(number)
        if not (math.isfinite(limit) and 0 < limit <= 366):
            raise ValueError(raw)
        days[name] = limit
    if set(days) != set(names):
        raise ValueError(raw)
    return tuple((name, days[name]) for name in names)


@dataclass(frozen=True)
class _NamedDays:
    """A number of days for each of a fixed set of names; ``str`` writes them as the
    subclass's ``parse`` reads them."""

    pairs: tuple[tuple[str, float], ...]

    def as_dict(self) -> dict[str, float]:
        return dict(self.pairs)

    def __str__(self) -> str:
        return ",".join(f"{name}:{Number(0).format(days)}" for name, days in self.pairs)


@dataclass(frozen=True)
class HotlineLimits(_NamedDays):
    """The 12345 hotline's handling limit of each request type, in working days:
    ``consult:3,help:5,complaint:13,suggestion:13,report:13``.

    Every name of :data:`REQUEST_TYPES` exactly once; each limit a number above 0 and at most
    366.
    """

    @classmethod
    def parse(cls, raw: str) -> HotlineLimits:
        return cls(_named_days(raw, REQUEST_TYPES))


#: the kinds of supervision items (督办单): the values of dispatcher.core.supervision.Kind
#: (a unit test keeps the two equal; the settings import nothing of the package)
SUPERVISION_KINDS: Final = (
    "leader_instruction",
    "media",
    "environmental_inspection",
    "petition",
    "deputies_proposal",
    "assigned_by_superior",
    "internal",
)


@dataclass(frozen=True)
class SupervisionDays(_NamedDays):
    """The working days a supervision item (督办单) of each kind allows when it is opened
    without a deadline of its own: ``leader_instruction:5,media:3,...``.

    Every name of :data:`SUPERVISION_KINDS` exactly once; each a number above 0 and at most
    366.
    """

    @classmethod
    def parse(cls, raw: str) -> SupervisionDays:
        return cls(_named_days(raw, SUPERVISION_KINDS))


#: the stages with a limit of their own and the clocks they run on: the values of
#: dispatcher.core.stages.Stage and dispatcher.core.clocks.ClockKind (a unit test keeps them
#: equal; the settings import nothing of the package)
STAGES: Final = ("register", "dispatch", "accept", "verify")
CLOCK_KINDS: Final = ("continuous", "working_hours", "working_days")


@dataclass(frozen=True)
class StageLimitsSetting:
    """Stage limits, each on its clock: ``accept=working_days:1,register=continuous:0.25``.

    Each stage one of :data:`STAGES`, at most once; each clock one of :data:`CLOCK_KINDS`;
    each limit above 0 and at most 8784, in hours on ``continuous`` and ``working_hours`` and
    in days on ``working_days`` (as a category's ``limit``). ``str`` writes them as ``parse``
    reads them.
    """

    limits: tuple[tuple[str, str, float], ...]

    @classmethod
    def parse(cls, raw: str) -> StageLimitsSetting:
        limits: dict[str, tuple[str, float]] = {}
        for part in raw.split(","):
            stage, equals, rest = part.partition("=")
            clock, colon, number = rest.partition(":")
            stage, clock = stage.strip(), clock.strip()
            if not (equals and colon) or stage not in STAGES or stage in limits:
                raise ValueError(raw)
            limit = float(number)
            if clock not in CLOCK_KINDS or not (math.isfinite(limit) and 0 < limit <= 8784):
                raise ValueError(raw)
            limits[stage] = (clock, limit)
        return cls(tuple((stage, *limits[stage]) for stage in STAGES if stage in limits))

    def __str__(self) -> str:
        return ",".join(f"{s}={c}:{Number(0).format(n)}" for s, c, n in self.limits)


#: the command tiers by depth: dispatcher.core.tiers.TIER_NAMES (a unit test keeps them equal)
TIERS: Final = ("支队", "大队", "中队")
_THRESHOLD: Final = re.compile(r"^(?:([^:]+):)?([a-z_]+)(>=|<=)([0-9]+(?:\.[0-9]+)?)%$")


@dataclass(frozen=True)
class Thresholds:
    """The thresholds (考核指标阈值) of the rates, for every tier and per tier:
    ``disposal_rate>=98%,rework_rate<=5%,中队:on_time_rate>=90%``.

    Each entry ``[tier:]rate>=N%`` or ``<=N%``: a rate of :data:`SCORED_RATES`, a tier of
    :data:`TIERS` (none: every tier), N from 0 to 100; a rate at most once per tier (a tier's
    entry overrides the every-tier one). ``str`` writes them as ``parse`` reads them.
    """

    entries: tuple[tuple[str | None, str, str, float], ...]

    @classmethod
    def parse(cls, raw: str) -> Thresholds:
        entries: dict[tuple[str | None, str], tuple[str, float]] = {}
        for part in raw.split(","):
            found = _THRESHOLD.match(part.strip())
            if found is None:
                raise ValueError(raw)
            tier, rate, op, number = found.groups()
            tier = tier.strip() if tier else None
            percent = float(number)
            if (tier is not None and tier not in TIERS) or rate not in SCORED_RATES:
                raise ValueError(raw)
            if percent > 100 or (tier, rate) in entries:
                raise ValueError(raw)
            entries[(tier, rate)] = (op, percent)
        return cls(tuple((tier, rate, *entries[tier, rate]) for tier, rate in entries))

    def __str__(self) -> str:
        return ",".join(
            f"{tier + ':' if tier else ''}{rate}{op}{Number(0).format(percent)}%"
            for tier, rate, op, percent in self.entries
        )
