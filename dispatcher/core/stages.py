"""The stages of an incident and their limits (受理, 派遣, 签收, 核查), each on a clock kind.

Besides the case clock (处置时限, the 处置 stage: the category's ``clock`` and ``limit``), each
stage the centre or the squad must act in has a limit of its own (CJ/T 315 practice):
受理 (register) and 派遣 (dispatch) within 15 minutes, 签收 (accept) and 核查 (verify) within 30,
continuous (:data:`DEFAULT_STAGE_LIMITS`). A deployment may set other limits for a source
(``DISPATCH_STAGE_LIMITS_HOTLINE``: the 12345 hotline's work orders are signed for within 1
working day) and a category its own (``stage_limits`` in its catalogue entry);
:meth:`StageLimits.of` chooses. ``dispatcher.core.deadlines`` counts them.

Pure: values only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final

from dispatcher.core.clocks import ClockKind


class Stage(StrEnum):
    REGISTER = "register"  # 受理: reported, waiting to be registered or rejected
    DISPATCH = "dispatch"  # 派遣: registered or returned, waiting to be dispatched
    ACCEPT = "accept"  # 签收: dispatched, waiting for the squad to sign for it
    VERIFY = "verify"  # 核查: resolved, waiting for verification


#: what each stage is called in the centre (the notes of supervision records)
STAGE_NAMES: Final = {
    Stage.REGISTER: "受理",
    Stage.DISPATCH: "派遣",
    Stage.ACCEPT: "签收",
    Stage.VERIFY: "核查",
}


@dataclass(frozen=True)
class StageLimit:
    """A stage's limit: ``limit`` on the ``clock`` kind, in hours for ``continuous`` and
    ``working_hours`` and in days for ``working_days`` (as a category's own ``limit``)."""

    clock: ClockKind
    limit: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.limit) and self.limit > 0):
            raise ValueError(f"a stage limit must be a positive number, not {self.limit}")

    @property
    def amount(self) -> timedelta:
        """The limit as an amount of its clock (see ``dispatcher.core.clocks`` on units)."""
        if self.clock is ClockKind.WORKING_DAYS:
            return timedelta(days=self.limit)
        return timedelta(hours=self.limit)

    def to_json(self) -> dict[str, Any]:
        return {"clock": self.clock.value, "limit": self.limit}


def _continuous(minutes: int) -> StageLimit:
    return StageLimit(ClockKind.CONTINUOUS, minutes / 60)


#: CJ/T 315 practice: 受理 and 派遣 within 15 minutes, 签收 and 核查 within 30, continuous
DEFAULT_STAGE_LIMITS: Final[Mapping[Stage, StageLimit]] = {
    Stage.REGISTER: _continuous(15),
    Stage.DISPATCH: _continuous(15),
    Stage.ACCEPT: _continuous(30),
    Stage.VERIFY: _continuous(30),
}


@dataclass(frozen=True)
class StageLimits:
    """The stage limits of a deployment: the defaults, the sources' (e.g. the 12345
    hotline's, ``DISPATCH_STAGE_LIMITS_HOTLINE``) and the categories' own (their catalogue
    entries' ``stage_limits``, as this process's catalogue has them)."""

    defaults: Mapping[Stage, StageLimit] = field(default_factory=lambda: DEFAULT_STAGE_LIMITS)
    by_source: Mapping[str, Mapping[Stage, StageLimit]] = field(default_factory=dict)
    by_category: Mapping[str, Mapping[Stage, StageLimit]] = field(default_factory=dict)

    def of(self, stage: Stage, source: str, category: str) -> StageLimit:
        """The limit of ``stage`` for an incident of ``source`` and ``category``: the
        category's own, else the source's, else the default."""
        for chosen in (self.by_category.get(category), self.by_source.get(source)):
            if chosen is not None and stage in chosen:
                return chosen[stage]
        return self.defaults[stage]

    def with_categories(self, own: Mapping[str, Mapping[Stage, StageLimit]]) -> StageLimits:
        """The same limits with ``own`` as the categories' (a catalogue was loaded)."""
        return replace(self, by_category={code: dict(s) for code, s in own.items() if s})
