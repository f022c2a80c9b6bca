"""Categories (小类): what kind of problem an incident is, and how long it may take.

A category names its clock and limit (as CJ/T 315 sets them), the specialty whose brigade takes it
(专综结合) and the specialties that support a joint dispatch (联合执法), how close and how
recent two reports must be to be one problem (dedup), and, for camera kinds, the confidence
above which a detection is dispatched without an operator.

:func:`parse_catalogue` validates the body of ``PUT /api/v1/categories`` (docs/API.md §3) and
raises :class:`InvalidCatalogue` naming the index and field of every bad entry;
:func:`load_default_catalogue` reads the shipped default (``data/categories.json``), built on
the national codes (部件 leading digit 1, 事件 leading digit 2).

Pure: no I/O besides reading package data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from importlib import resources
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dispatcher.core.clocks import ClockKind
from dispatcher.core.stages import Stage, StageLimit

#: the clocks a category may run on; ``Category.clock`` keeps the plain string
CLOCKS: Final = frozenset(kind.value for kind in ClockKind)
#: used when an entry leaves the dedup radius or window out; 0 turns dedup off
DEFAULT_DEDUP_RADIUS_M: Final = 50.0
DEFAULT_DEDUP_WINDOW_S: Final = 3600
_DEFAULT_RESOURCE: Final = "categories.json"


class Priority(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class Kind(StrEnum):
    EVENT = "event"  # 事件, codes with leading digit 2
    COMPONENT = "component"  # 部件, codes with leading digit 1


class InvalidCatalogue(ValueError):
    """A catalogue with bad entries; ``problems`` lists ``(index, field, reason)`` of each."""

    def __init__(self, problems: list[tuple[int | None, str | None, str]]) -> None:
        self.problems = problems
        parts = []
        for index, field, reason in problems:
            where = "catalogue" if index is None else f"[{index}]"
            if field:
                where += f".{field}"
            parts.append(f"{where}: {reason}")
        super().__init__("invalid catalogue: " + "; ".join(parts))


@dataclass(frozen=True)
class Category:
    """One 小类 (with one 立案条件): its clock, limit, routing and dedup rules.

    ``limit`` is in hours for the ``continuous`` and ``working_hours`` clocks and in days for
    ``working_days``. ``dedup_radius_m`` of 0 means reports are never merged automatically.
    ``stage_limits`` are the category's own limits of stages (受理, 派遣, 签收, 核查), each on
    its clock kind; a stage it leaves out keeps the deployment's
    (``dispatcher.core.stages.StageLimits``).
    """

    code: str
    name: str
    priority: Priority
    clock: str
    limit: float
    kind: Kind = Kind.EVENT
    name_en: str = ""
    major: str = ""
    specialty: str | None = None
    dedup_radius_m: float = DEFAULT_DEDUP_RADIUS_M
    dedup_window_s: int = DEFAULT_DEDUP_WINDOW_S
    auto_confidence: float | None = None
    joint: tuple[str, ...] = ()
    source_refs: str = ""
    note: str = ""
    stage_limits: tuple[tuple[Stage, StageLimit], ...] = ()
    #: the category's own limit for 12345 hotline work orders, in working days; None: the
    #: request type's (``dispatcher.core.request_types.case_limit``)
    hotline_limit_days: float | None = None

    def __post_init__(self) -> None:
        if self.clock not in CLOCKS:
            raise ValueError(f"category {self.code}: unknown clock {self.clock!r}")
        if self.limit <= 0:
            raise ValueError(f"category {self.code}: limit must be positive")

    @property
    def limit_timedelta(self) -> timedelta:
        """The limit as an amount of the category's clock.

        Hours for ``continuous`` and ``working_hours``; ``timedelta(days=limit)`` for
        ``working_days``. For the working clocks this is working time, not wall time: the
        caller hands it with ``clock`` to the working calendar, which counts it.
        """
        if self.clock == "working_days":
            return timedelta(days=self.limit)
        return timedelta(hours=self.limit)

    @property
    def own_stage_limits(self) -> dict[Stage, StageLimit]:
        """The category's own stage limits, by stage (none: the deployment's)."""
        return dict(self.stage_limits)

    @property
    def dedup_enabled(self) -> bool:
        return self.dedup_radius_m > 0 and self.dedup_window_s > 0

    def to_json(self) -> dict[str, Any]:
        """The entry as ``PUT``/``GET /api/v1/categories`` and the catalogue file write it."""
        doc: dict[str, Any] = {
            "code": self.code,
            "name": self.name,
            "name_en": self.name_en,
            "kind": self.kind.value,
            "major": self.major,
            "specialty": self.specialty,
            "priority": self.priority.value,
            "clock": self.clock,
            "limit": self.limit,
            "dedup_radius_m": self.dedup_radius_m,
            "dedup_window_s": self.dedup_window_s,
            "auto_confidence": self.auto_confidence,
            "joint": list(self.joint),
            "source_refs": self.source_refs,
        }
        if self.note:
            doc["note"] = self.note
        if self.stage_limits:
            doc["stage_limits"] = {s.value: limit.to_json() for s, limit in self.stage_limits}
        if self.hotline_limit_days is not None:
            doc["hotline_limit_days"] = self.hotline_limit_days
        return doc


Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_.\-]+$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Specialty = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]


class StageLimitIn(BaseModel):
    """One stage's limit in a catalogue entry: ``{"clock": "working_days", "limit": 1}``."""

    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")

    clock: ClockKind
    limit: float = Field(gt=0, le=24 * 366)


class CategoryIn(BaseModel):
    """One entry of ``PUT /api/v1/categories`` (docs/API.md §3); unknown fields are ignored."""

    model_config = ConfigDict(allow_inf_nan=False, str_strip_whitespace=True, extra="ignore")

    code: Code
    name: Name
    specialty: Specialty | None = None
    priority: Priority = Priority.NORMAL
    clock: ClockKind
    limit: float = Field(gt=0, le=24 * 366)
    dedup_radius_m: float | None = Field(default=None, ge=0, le=10_000)
    dedup_window_s: int | None = Field(default=None, ge=0, le=366 * 86400)
    name_en: Annotated[str, Field(max_length=200)] = ""
    kind: Kind | None = None
    major: Annotated[str, Field(max_length=100)] = ""
    auto_confidence: float | None = Field(default=None, ge=0, le=1)
    joint: Annotated[list[Specialty], Field(max_length=20)] = []
    source_refs: Annotated[str, Field(max_length=2000)] = ""
    note: Annotated[str, Field(max_length=2000)] = ""
    stage_limits: dict[Stage, StageLimitIn] = {}
    hotline_limit_days: float | None = Field(default=None, gt=0, le=366)

    def to_category(self) -> Category:
        """The validated entry as a :class:`Category`, defaults filled in.

        A missing ``kind`` follows the code's leading digit (1 部件, otherwise 事件).
        """
        kind = self.kind or (Kind.COMPONENT if self.code.startswith("1") else Kind.EVENT)
        return Category(
            code=self.code,
            name=self.name,
            name_en=self.name_en,
            kind=kind,
            major=self.major,
            specialty=self.specialty,
            priority=self.priority,
            clock=self.clock.value,
            limit=self.limit,
            dedup_radius_m=(
                DEFAULT_DEDUP_RADIUS_M if self.dedup_radius_m is None else self.dedup_radius_m
            ),
            dedup_window_s=(
                DEFAULT_DEDUP_WINDOW_S if self.dedup_window_s is None else self.dedup_window_s
            ),
            auto_confidence=self.auto_confidence,
            joint=tuple(dict.fromkeys(self.joint)),
            source_refs=self.source_refs,
            note=self.note,
            stage_limits=tuple(
                (stage, StageLimit(own.clock, own.limit))
                for stage in Stage
                if (own := self.stage_limits.get(stage)) is not None
            ),
            hotline_limit_days=self.hotline_limit_days,
        )


def parse_catalogue(items: object) -> list[Category]:
    """Validate a whole catalogue (a list of entries) and answer its categories in order.

    Raises :class:`InvalidCatalogue` listing every bad entry by index and field, and every
    code that appears more than once; nothing is answered unless every entry is good.
    """
    if not isinstance(items, list):
        raise InvalidCatalogue([(None, None, "expected a list of categories")])
    if not items:
        raise InvalidCatalogue([(None, None, "the catalogue is empty")])
    problems: list[tuple[int | None, str | None, str]] = []
    categories: list[Category] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            problems.append((index, None, "expected an object"))
            continue
        try:
            entry = CategoryIn.model_validate(item)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                field = ".".join(str(p) for p in error["loc"]) or None
                problems.append((index, field, str(error["msg"])))
            continue
        if entry.code in first_index:
            problems.append(
                (
                    index,
                    "code",
                    f"duplicate code {entry.code} (first at [{first_index[entry.code]}])",
                )
            )
            continue
        first_index[entry.code] = index
        categories.append(entry.to_category())
    if problems:
        raise InvalidCatalogue(problems)
    return categories


def load_default_catalogue() -> list[Category]:
    """The catalogue shipped with the package (``dispatcher/data/categories.json``)."""
    text = resources.files("dispatcher").joinpath("data", _DEFAULT_RESOURCE).read_text("utf-8")
    doc = json.loads(text)
    return parse_catalogue(doc["categories"] if isinstance(doc, dict) else doc)


def by_code(categories: list[Category]) -> dict[str, Category]:
    """The categories keyed by code, for look-ups at intake."""
    return {category.code: category for category in categories}
