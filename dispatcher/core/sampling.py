"""Supervision sampling (抽查): a reproducible random sample of closed incidents to check.

Pure. The population of a draw is the incidents closed (结案) in a period and still closed;
each stratum takes ``ceil(rate × population)`` of the incidents it admits: by default 1% of
hotline complaints (回访) and 10% of filed cases (outcome ``case_filed``, 案卷评查). The draw is
``random.Random(f"{seed}:{stratum}").sample`` over the stratum's incident ids in sorted
order, so the same seed, parameters and population always give the same incidents; the seed,
the parameters and a digest of each stratum's population are recorded with the sample.

Supervisors record the outcome of each check: ``satisfied``; ``not_satisfied`` (the citizen or
the reviewer is not satisfied) and ``rework_ordered`` fail the check, and a failed check
reopens the incident as rework through the life cycle's ``review`` action
(:func:`review_command`), so that it lands in the history like every change.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from dispatcher.core.errors import ValidationFailed
from dispatcher.core.lifecycle import Action, ActionIn, Outcome
from dispatcher.core.validation import Clean, validation_error

MAX_SEED: Final = 2**63 - 1


class CheckResult(StrEnum):
    SATISFIED = "satisfied"  # 满意 / 评查合格
    NOT_SATISFIED = "not_satisfied"  # 不满意
    REWORK_ORDERED = "rework_ordered"  # 责令返工


FAILED: Final = frozenset({CheckResult.NOT_SATISFIED, CheckResult.REWORK_ORDERED})


@dataclass(frozen=True)
class Stratum:
    """Which closed incidents a stratum admits (by source and outcome) and how many it takes."""

    name: str
    rate: float
    sources: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()

    def admits(self, candidate: Candidate) -> bool:
        return (not self.sources or candidate.source in self.sources) and (
            not self.outcomes or candidate.outcome in self.outcomes
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rate": self.rate,
            "sources": list(self.sources),
            "outcomes": list(self.outcomes),
        }


#: 1% of hotline complaints (回访), 10% of filed cases (案卷评查)
DEFAULT_STRATA: Final = (
    Stratum("hotline", 0.01, sources=("hotline",)),
    Stratum("case_filed", 0.10, outcomes=(Outcome.PENALTY_CASE.value,)),
)


@dataclass(frozen=True)
class Candidate:
    """A closed incident that may be drawn."""

    incident_id: str
    source: str
    outcome: str | None


@dataclass(frozen=True)
class Drawn:
    stratum: Stratum
    population: int
    digest: str  # sha256 of the population's sorted ids, one per line
    chosen: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.stratum.to_json(),
            "population": self.population,
            "drawn": len(self.chosen),
            "digest": self.digest,
        }


def sample_size(rate: float, population: int) -> int:
    """``ceil(rate × population)``, rounded first so that 10% of 30 is 3, not 4."""
    return min(population, math.ceil(round(rate * population, 9)))


def draw(candidates: Iterable[Candidate], strata: Sequence[Stratum], seed: int) -> list[Drawn]:
    """Each stratum's sample: the same inputs always give the same incidents."""
    pool = list(candidates)
    drawn: list[Drawn] = []
    for stratum in strata:
        ids = sorted({c.incident_id for c in pool if stratum.admits(c)})
        digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
        rng = random.Random(f"{seed}:{stratum.name}")
        chosen = sorted(rng.sample(ids, sample_size(stratum.rate, len(ids))))
        drawn.append(Drawn(stratum, len(ids), digest, tuple(chosen)))
    return drawn


def items(drawn: Iterable[Drawn]) -> dict[str, list[str]]:
    """incident id → the strata that drew it (an incident drawn twice is checked once)."""
    found: dict[str, list[str]] = {}
    for d in drawn:
        for incident_id in d.chosen:
            found.setdefault(incident_id, []).append(d.stratum.name)
    return dict(sorted(found.items()))


Name = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
Code = Annotated[str, Field(min_length=1, max_length=40)]


class StratumIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    rate: float = Field(gt=0, le=1)
    sources: Annotated[list[Code], Field(max_length=20)] = []
    outcomes: Annotated[list[Code], Field(max_length=20)] = []


class SampleIn(BaseModel):
    """The body of ``POST /api/v1/samples``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    strata: Annotated[list[StratumIn], Field(min_length=1, max_length=10)] | None = None
    note: Annotated[str, Field(max_length=2000), Clean] = ""

    @model_validator(mode="after")
    def _ordered(self) -> SampleIn:
        if self.end <= self.start:
            raise ValueError("[to] to must be after from")
        if self.strata is not None and len({s.name for s in self.strata}) != len(self.strata):
            raise ValueError("[strata] stratum names must differ")
        return self

    def chosen_strata(self) -> tuple[Stratum, ...]:
        if self.strata is None:
            return DEFAULT_STRATA
        return tuple(
            Stratum(s.name, s.rate, tuple(s.sources), tuple(s.outcomes)) for s in self.strata
        )


class CheckIn(BaseModel):
    """The body of ``POST /api/v1/samples/{id}/items/{incident_id}/check``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    result: CheckResult
    note: Annotated[str, Field(max_length=4000), Clean] = ""


def _parse(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        error = validation_error(exc)
        if error.field is None and error.message.startswith("["):
            name, _, rest = error.message[1:].partition("] ")
            raise ValidationFailed(f"{name}: {rest}", field=name) from None
        raise error from None


def parse_sample(body: bytes) -> SampleIn:
    parsed: SampleIn = _parse(SampleIn, body)
    return parsed


def parse_check(body: bytes) -> CheckIn:
    parsed: CheckIn = _parse(CheckIn, body)
    return parsed


#: the life cycle's limit on a note (lifecycle.Note)
NOTE_LIMIT: Final = 4000


def review_command(check: CheckIn, sample_id: int) -> ActionIn:
    """The life cycle action that records ``check`` on its incident (a failed one: rework)."""
    prefix = f"抽查 #{sample_id}：{check.result.value}"
    # the check's own note may use the action's whole allowance: cut it to fit after the prefix
    room = NOTE_LIMIT - len(prefix) - 1
    note = prefix + (f"；{check.note[:room]}" if check.note else "")
    return ActionIn(action=Action.REVIEW, passed=check.result not in FAILED, note=note)
