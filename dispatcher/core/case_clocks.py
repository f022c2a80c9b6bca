"""The legal limits of an enforcement case as clocks (the "两超期": 立案超期, 结案超期).

Pure. A limit the law sets in days (日) runs on natural days: 《行政处罚法》 第85条 counts only
its 二日, 三日, 五日 and 七日 in working days. Each clock is green, yellow once ``warn_at`` of its
time has run, red at its deadline; a stopped clock keeps the colour it had and says whether it
stopped late (the figures' 按期率).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any, Final

from dispatcher.core.clocks import Colour
from dispatcher.core.times import format_time

CLOCK_LABELS: Final = {"filing": "立案超期", "decision": "结案超期"}


@dataclass(frozen=True)
class Limits:
    """The legal limits a deployment runs (``Settings.case_*``)."""

    filing_days: float = 15.0
    decision_days: float = 90.0
    extension_days: float = 30.0
    statement_days: float = 5.0  # working days


@dataclass(frozen=True)
class Clock:
    """One legal limit as it runs: its deadline, when it turns yellow, and its colour."""

    deadline: datetime
    yellow_at: datetime
    colour: Colour = Colour.GREEN
    stopped_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.stopped_at is None

    @property
    def late(self) -> bool:
        """Whether it was stopped after its deadline, or runs past it."""
        return self.colour is Colour.RED or (
            self.stopped_at is not None and self.stopped_at > self.deadline
        )

    @property
    def due_at(self) -> datetime | None:
        if not self.running or self.colour is Colour.RED:
            return None
        return self.yellow_at if self.colour is Colour.GREEN else self.deadline

    def colour_at(self, now: datetime) -> Colour:
        if now >= self.deadline:
            return Colour.RED
        return Colour.YELLOW if now >= self.yellow_at else Colour.GREEN

    def to_doc(self, tz: tzinfo) -> dict[str, Any]:
        return {
            "deadline": format_time(self.deadline, tz),
            "yellow_at": format_time(self.yellow_at, tz),
            "colour": self.colour.value,
            "stopped_at": format_time(self.stopped_at, tz),
            "late": self.late,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any], parse: Any) -> Clock:
        return cls(
            parse(doc["deadline"]),
            parse(doc["yellow_at"]),
            Colour(doc["colour"]),
            parse(doc["stopped_at"]) if doc.get("stopped_at") else None,
        )


def start_clock(start: datetime, days: float, now: datetime, warn_at: float) -> Clock:
    """A limit of ``days`` natural days from ``start`` (the law's 日), yellow at ``warn_at``."""
    deadline = start + timedelta(days=days)
    clock = Clock(deadline, start + (deadline - start) * warn_at)
    return replace(clock, colour=clock.colour_at(now))
