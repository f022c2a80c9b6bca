"""Thresholds of the figures (考核指标阈值) per indicator and command tier, and their breaches.

Pure. A bureau holds each tier to targets on the rates of :mod:`dispatcher.core.stats` (处置率
≥ 98%, 按期处置率 ≥ 95%, 返工率 ≤ 5%, ...): the deployment's ``DISPATCH_THRESHOLDS``, one
threshold per rate for every tier and, where a tier is held to another, that tier's own
(:class:`Thresholds`). :func:`breaches` judges a period's figures of a squad's tier: the squad
and each squad below it, each with its own subtree's counts rolled up (a 大队's 处置率 is its
中队s' cases and its own together), each against the thresholds of its tier (支队, 大队, 中队:
:func:`dispatcher.core.tiers.tier_name`). A rate without a denominator (no case due) is not
judged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from dispatcher.core.routing import Squad
from dispatcher.core.stats import COUNTS, LABELS, RATES, rate
from dispatcher.core.tiers import depth, subtree, tier_name

AT_LEAST: Final = ">="
AT_MOST: Final = "<="


@dataclass(frozen=True)
class Threshold:
    """``rate`` must be at least (``>=``) or at most (``<=``) ``value`` (a fraction, 0.98)."""

    rate: str
    op: str
    value: float

    def __post_init__(self) -> None:
        if self.rate not in RATES:
            raise ValueError(f"unknown rate {self.rate!r}")
        if self.op not in (AT_LEAST, AT_MOST) or not 0.0 <= self.value <= 1.0:
            raise ValueError(f"a threshold is >= or <= a fraction from 0 to 1: {self}")

    def met(self, value: float) -> bool:
        return value >= self.value if self.op == AT_LEAST else value <= self.value

    @property
    def text(self) -> str:
        """As a bureau writes it: 处置率 ≥ 98%."""
        sign = "≥" if self.op == AT_LEAST else "≤"
        return f"{LABELS[self.rate]} {sign} {_percent(self.value)}"

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "value": self.value, "text": self.text}


@dataclass(frozen=True)
class Thresholds:
    """The thresholds of every tier (``every``) and a tier's own, which override them."""

    every: Mapping[str, Threshold] = field(default_factory=dict)
    by_tier: Mapping[str, Mapping[str, Threshold]] = field(default_factory=dict)

    def of(self, tier: str) -> dict[str, Threshold]:
        """The thresholds a tier (支队, 大队, 中队) is held to, by rate."""
        return {**self.every, **self.by_tier.get(tier, {})}

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[str | None, str, str, float]]) -> Thresholds:
        """From ``(tier or None, rate, op, percent)`` rows (``DISPATCH_THRESHOLDS``)."""
        every: dict[str, Threshold] = {}
        by_tier: dict[str, dict[str, Threshold]] = {}
        for tier, name, op, percent in entries:
            threshold = Threshold(name, op, round(percent / 100.0, 6))
            (every if tier is None else by_tier.setdefault(tier, {}))[name] = threshold
        return cls(every, by_tier)


@dataclass(frozen=True)
class Breach:
    """One rate of one squad's tier that missed its threshold in the period."""

    squad_id: str
    squad_name: str
    tier: str
    rate: str
    value: float
    threshold: Threshold
    numerator: int
    denominator: int

    def to_json(self) -> dict[str, Any]:
        return {
            "indicator": self.rate,
            "label": LABELS[self.rate],
            "squad_id": self.squad_id,
            "squad_name": self.squad_name,
            "tier": self.tier,
            "value": self.value,
            "threshold": self.threshold.to_json(),
            "numerator": self.numerator,
            "denominator": self.denominator,
            "text": f"{self.squad_name}（{self.tier}）{LABELS[self.rate]} "
            f"{_percent(self.value)}，未达 {self.threshold.text}",
        }


def rolled_up(
    counts: Mapping[str, Mapping[str, int]], squad_id: str, squads: Mapping[str, Squad]
) -> dict[str, int]:
    """The counts of a squad's tier: its own and every squad's below it, summed."""
    total = dict.fromkeys(COUNTS, 0)
    for member in subtree(squad_id, squads):
        for name, n in counts.get(member, {}).items():
            if name in total:
                total[name] += n
    return total


def breaches(
    counts: Mapping[str, Mapping[str, int]],
    squads: Mapping[str, Squad],
    thresholds: Thresholds,
    squad_id: str | None = None,
) -> list[Breach]:
    """The breaches of the squads of ``squad_id``'s tier (every squad when None), each squad
    judged on its subtree's counts against its tier's thresholds; ``counts`` are the period's
    counts of each squad's own cases (``/api/v1/stats`` grouped by squad). Ordered from the
    top tier down, then by squad and by rate."""
    judged = sorted(subtree(squad_id, squads) if squad_id is not None else squads)
    judged.sort(key=lambda s: depth(s, squads))
    found: list[Breach] = []
    for member in judged:
        tier = tier_name(member, squads)
        totals = rolled_up(counts, member, squads)
        for name, threshold in sorted(thresholds.of(tier).items(), key=_in_rate_order):
            numerator, denominator = (totals[c] for c in RATES[name])
            value = rate(numerator, denominator)
            if value is None or threshold.met(value):
                continue
            squad = squads.get(member)
            found.append(
                Breach(
                    squad_id=member,
                    squad_name=squad.name if squad is not None else member,
                    tier=tier,
                    rate=name,
                    value=value,
                    threshold=threshold,
                    numerator=numerator,
                    denominator=denominator,
                )
            )
    return found


_RATE_ORDER: Final = {name: n for n, name in enumerate(RATES)}


def _in_rate_order(item: tuple[str, Threshold]) -> int:
    return _RATE_ORDER[item[0]]


def _percent(fraction: float) -> str:
    """0.98 → 98%, 0.428571 → 42.8571%."""
    return f"{round(fraction * 100, 4):g}%"
