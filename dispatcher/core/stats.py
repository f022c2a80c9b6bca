"""Figures (评价, docs/API.md §7): counts, rates, times and the weighted score.

Pure. The store (:mod:`dispatcher.store.figures`) works out from the history how each
incident received in the period stood at the instant the figures are judged (``as_of``), and
lets PostgreSQL count the incidents per group and per :class:`Standing` (a handful of
distinct standings per group, however many incidents) and measure the stage times. Here
:func:`classify` says which counts a standing adds to, and :func:`tabulate` turns the counted
standings into the counts, the rates, the times and the 综合指标值 of each group.

The rates follow the national 数字化城市管理 evaluation practice (CJ/T 292, the GB/T 30428
series): each divides by the cases that should have been handled by ``as_of``, not by every
case. 应处置数 is the dispatched cases less those still inside their limit and not yet
resolved (按时待处置); 应结案数 the registered cases less those still inside their limit and
not yet closed (按时待结案). A case being handled on time therefore weighs on no rate until its
deadline passes.

What each figure means is :data:`DEFINITIONS`; the rules for the edges (an incident that
crosses the period's end, a suspended one, a merged duplicate, whose squad a row is) are
:data:`RULES`. Both are stated word for word in the API documentation and the report. The
weights of the 综合指标值 are the deployment's (``DISPATCH_SCORE_WEIGHTS``); none is national.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from dispatcher.core.errors import ValidationFailed


class GroupBy(StrEnum):
    SQUAD = "squad"
    ZONE = "zone"
    CATEGORY = "category"
    SOURCE = "source"
    DAY = "day"


@dataclass(frozen=True)
class Standing:
    """How an incident received in the period stood at ``as_of`` (from its history)."""

    state: str  # its state at as_of
    registered: bool = False  # registered (立案) before as_of
    dispatched: bool = False  # dispatched to a squad before as_of
    returned: bool = False  # returned by a squad at least once (回退)
    reworked: bool = False  # sent back by a failed verification or review (返工)
    extended: bool = False  # given an approved extension (延期)
    suspended: bool = False  # suspended (挂账) at as_of
    on_time: bool = False  # its last resolution was at or before its deadline
    past_deadline: bool = False  # its deadline, as it stood, was before as_of
    closed_on_time: bool = False  # its last closing was at or before its deadline then


#: the counts of a group, in the order of the report's columns
COUNTS: Final = (
    "received",
    "registered",
    "dispatched",
    "due_disposal",
    "resolved",
    "resolved_on_time",
    "overdue_open",
    "due_close",
    "closed",
    "closed_on_time",
    "reworked",
    "extended",
    "returned",
    "suspended",
    "rejected",
    "merged",
)
#: rate → (numerator, denominator)
RATES: Final[Mapping[str, tuple[str, str]]] = {
    "disposal_rate": ("resolved", "due_disposal"),
    "on_time_rate": ("resolved_on_time", "due_disposal"),
    "close_rate": ("closed", "due_close"),
    "on_time_close_rate": ("closed_on_time", "due_close"),
    "rework_rate": ("reworked", "due_close"),
    "extension_rate": ("extended", "due_disposal"),
    "overdue_open_rate": ("overdue_open", "due_disposal"),
}
#: rates where less is better: they enter the score as (1 − rate)
NEGATIVE: Final = frozenset({"rework_rate", "extension_rate", "overdue_open_rate"})
TIMES: Final = ("report_to_dispatch", "dispatch_to_accept", "accept_to_resolve")
RATE_DECIMALS: Final = 6
SCORE_DECIMALS: Final = 4

LABELS: Final[Mapping[str, str]] = {
    "received": "受理数",
    "registered": "立案数",
    "dispatched": "派遣数",
    "due_disposal": "应处置数",
    "resolved": "处置数",
    "resolved_on_time": "按期处置数",
    "overdue_open": "超期待处置数",
    "due_close": "应结案数",
    "closed": "结案数",
    "closed_on_time": "按期结案数",
    "reworked": "返工数",
    "extended": "延期数",
    "returned": "回退数",
    "suspended": "挂账数",
    "rejected": "不予立案数",
    "merged": "并案数",
    "disposal_rate": "处置率",
    "on_time_rate": "按期处置率",
    "close_rate": "结案率",
    "on_time_close_rate": "按期结案率",
    "rework_rate": "返工率",
    "extension_rate": "延期率",
    "overdue_open_rate": "超期未处置率",
    "report_to_dispatch": "上报→派遣",
    "dispatch_to_accept": "派遣→签收",
    "accept_to_resolve": "签收→处置",
    "score": "综合指标值",
}

#: where the rates' definitions come from, stated with them
SOURCE: Final = (
    "national 数字化城市管理 evaluation practice (CJ/T 292 城市市政综合监管信息系统 绩效评价, "
    "the GB/T 30428 数字化城市管理信息系统 series)"
)

#: what each count and rate means, as stated in the API documentation and the report
DEFINITIONS: Final[Mapping[str, str]] = {
    "received": "incidents received in the period, merged duplicates excluded",
    "registered": "of those, registered (立案) before as_of",
    "dispatched": "of those, dispatched to a squad before as_of",
    "due_disposal": "of those dispatched, all but the ones not yet resolved at as_of and still "
    "inside their limit (按时待处置: deadline not before as_of, or suspended); "
    "应处置数 = 派遣数 − 按时待处置数",
    "resolved": "of those dispatched, resolved or closed at as_of (not sent back for rework)",
    "resolved_on_time": "of those resolved, whose last resolution was at or before the "
    "deadline in force then (approved extensions added, time suspended not counted)",
    "overdue_open": "of those dispatched, not yet resolved at as_of, not suspended, and past "
    "their deadline",
    "due_close": "of those registered, all but the ones not yet closed at as_of and still "
    "inside their limit (按时待结案: deadline not before as_of, or suspended); "
    "应结案数 = 立案数 − 按时待结案数",
    "closed": "of those dispatched, closed (结案) at as_of",
    "closed_on_time": "of those closed, whose last closing (the passed verification) was at or "
    "before the deadline in force then",
    "reworked": "of those dispatched, sent back at least once by a failed verification or "
    "review (返工)",
    "extended": "of those dispatched, with at least one approved extension (延期)",
    "returned": "of those dispatched, returned by a squad at least once (回退)",
    "suspended": "of those dispatched, suspended (挂账) at as_of and not resolved",
    "rejected": "of those received, not registered (不予立案)",
    "merged": "incidents received in the period that are merged duplicates (并案) at as_of",
    "disposal_rate": "处置率 = 处置数 / 应处置数 (resolved / due_disposal)",
    "on_time_rate": "按期处置率 = 按期处置数 / 应处置数 (resolved_on_time / due_disposal)",
    "close_rate": "结案率 = 结案数 / 应结案数 (closed / due_close)",
    "on_time_close_rate": "按期结案率 = 按期结案数 / 应结案数 (closed_on_time / due_close)",
    "rework_rate": "返工率 = 返工数 / 应结案数 (reworked / due_close)",
    "extension_rate": "延期率 = 延期数 / 应处置数 (extended / due_disposal)",
    "overdue_open_rate": "超期未处置率 = 超期待处置数 / 应处置数 (overdue_open / due_disposal)",
    "report_to_dispatch": "seconds from the report to the first dispatch (0 when intake "
    "dispatched it itself); average and 90th percentile",
    "dispatch_to_accept": "seconds from the dispatch that was signed for to the first "
    "sign-for (签收)",
    "accept_to_resolve": "seconds from the first sign-for to the first resolution, time "
    "suspended excluded",
    "score": "综合指标值 = 100 × Σ weight × x / Σ weight, x the rate for 处置率, 按期处置率, "
    "结案率 and 按期结案率 and 1 − rate for 返工率, 超期未处置率, 延期率; none while a "
    "weighted rate has no denominator. The weights are the deployment's "
    "(DISPATCH_SCORE_WEIGHTS, or the request's weights); no national standard fixes them",
}

RULES: Final = (
    "The figures of a period [from, to) are about the incidents received in it, each as it "
    "stood at as_of (to, or now while the period runs): nothing at or after as_of counts, so "
    "a finished period's figures never change.",
    "The rates follow " + SOURCE + ": each divides by the cases that should have been "
    "handled by as_of. 应处置数 = 派遣数 − 按时待处置数 and 应结案数 = 立案数 − 按时待结案数, "
    "where a case is 按时待处置 (待结案) when at as_of it is not yet resolved (closed) and "
    "still inside its limit: its deadline, as it stood, is not before as_of. A case inside "
    "its limit is in no denominator; one past it is in the denominator and, until handled, "
    "counts against the rate.",
    "An incident that crosses the period's end counts in the period it was received in, "
    "with its state at as_of (e.g. dispatched, not resolved, overdue if its deadline passed).",
    "A merged duplicate (并案) counts only as merged, in no other count or rate; the incident "
    "it was merged into counts once.",
    "A suspended incident (挂账) is not overdue while suspended: its clock is stopped, so "
    "until it is resolved (closed) it is inside its limit, 按时待处置 (按时待结案), in no "
    "denominator; time suspended counts neither against its deadline nor in the "
    "sign-for→resolution time.",
    "Rows are attributed to the squad the incident was last dispatched to before as_of; "
    "support squads of a joint dispatch are not credited; never dispatched: no squad.",
    "A rate whose denominator is 0 is null (shown as —). Rates are rounded to 6 decimal "
    "places (0.428571 is 42.8571%), the score to 4, times to the millisecond. Percentiles "
    "interpolate linearly (PostgreSQL percentile_cont). Days are calendar days in DISPATCH_TZ.",
)

_RESOLVED: Final = frozenset({"resolved", "closed"})
_UNRESOLVED: Final = frozenset({"dispatched", "accepted", "returned"})


def inside_limit(s: Standing) -> bool:
    """Whether a case not yet handled is still inside its limit at as_of (RULES 2 and 5):
    its deadline not passed, or its clock stopped by a suspension."""
    return s.suspended or not s.past_deadline


def classify(s: Standing) -> tuple[str, ...]:
    """The counts an incident standing as ``s`` adds one to: the rules of :data:`RULES`."""
    if s.state == "merged":
        return ("merged",)
    marks = ["received"]
    if s.state == "rejected":
        marks.append("rejected")
    if s.registered:
        marks.append("registered")
        if s.state == "closed" or not inside_limit(s):
            marks.append("due_close")
    if not s.dispatched:
        return tuple(marks)
    marks.append("dispatched")
    resolved = s.state in _RESOLVED
    if resolved or not inside_limit(s):
        marks.append("due_disposal")
    if resolved:
        marks.append("resolved")
        if s.on_time:
            marks.append("resolved_on_time")
    if s.state == "closed":
        marks.append("closed")
        if s.closed_on_time:
            marks.append("closed_on_time")
    if s.suspended and not resolved:
        marks.append("suspended")
    elif s.state in _UNRESOLVED and s.past_deadline:
        marks.append("overdue_open")
    marks.extend(name for name in ("reworked", "extended", "returned") if getattr(s, name))
    return tuple(marks)


def rate(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator`` to 6 decimal places (a spreadsheet keeps it exactly)."""
    return None if denominator == 0 else round(numerator / denominator, RATE_DECIMALS)


def score(rates: Mapping[str, float | None], weights: Mapping[str, float]) -> float | None:
    """综合指标值 out of 100; None when a weighted rate is None."""
    total = sum(weights.values())
    points = 0.0
    for name, weight in weights.items():
        if weight == 0:
            continue
        value = rates.get(name)
        if value is None:
            return None
        points += weight * ((1.0 - value) if name in NEGATIVE else value)
    return round(100.0 * points / total, SCORE_DECIMALS)


def parse_weights(text: str | None, default: Mapping[str, float]) -> dict[str, float]:
    """``disposal_rate:30,on_time_rate:20,...``; rates left out weigh 0. None or blank:
    ``default`` (the deployment's ``DISPATCH_SCORE_WEIGHTS``)."""
    if text is None or not text.strip():
        return dict(default)
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, sep, raw = part.partition(":")
        name = name.strip()
        if not sep or name not in RATES:
            raise ValidationFailed(
                f"weights: expected rate:weight pairs of {', '.join(RATES)}", field="weights"
            )
        try:
            value = float(raw)
        except ValueError:
            raise ValidationFailed(f"weights: {raw!r} is not a number", field="weights") from None
        if not math.isfinite(value) or value < 0:
            raise ValidationFailed("weights: a weight is a number ≥ 0", field="weights")
        weights[name] = value
    if sum(weights.values()) <= 0:
        raise ValidationFailed("weights: at least one weight must be positive", field="weights")
    return weights


@dataclass(frozen=True)
class TimeFigure:
    count: int
    avg_s: float | None
    p90_s: float | None

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "avg_s": self.avg_s, "p90_s": self.p90_s}


@dataclass(frozen=True)
class GroupFigures:
    key: str | None
    name: str
    counts: Mapping[str, int]
    rates: Mapping[str, float | None]
    times: Mapping[str, TimeFigure]
    score: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            **self.counts,
            **self.rates,
            "times": {k: v.to_json() for k, v in self.times.items()},
            "score": self.score,
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def time_figure(count: int, avg_s: float | None, p90_s: float | None) -> TimeFigure:
    """A stage's time as the database measured it, to the millisecond."""
    return TimeFigure(count, _round(avg_s, 3), _round(p90_s, 3))


NO_TIME: Final = TimeFigure(0, None, None)
#: how many incidents of one standing a group holds
Counted = tuple[Standing, int]


def summarise(
    key: str | None,
    name: str,
    counted: Iterable[Counted],
    times: Mapping[str, TimeFigure],
    weights: Mapping[str, float],
) -> GroupFigures:
    """The figures of one group: its counted standings and its stage times."""
    counts = dict.fromkeys(COUNTS, 0)
    for standing, n in counted:
        for mark in classify(standing):
            counts[mark] += n
    rates = {r: rate(counts[n], counts[d]) for r, (n, d) in RATES.items()}
    stage_times = {t: times.get(t, NO_TIME) for t in TIMES}
    return GroupFigures(key, name, counts, rates, stage_times, score(rates, weights))


@dataclass(frozen=True)
class Figures:
    group_by: GroupBy
    groups: tuple[GroupFigures, ...]
    total: GroupFigures


def tabulate(
    group_by: GroupBy,
    counted: Mapping[str | None, Sequence[Counted]],
    timed: Mapping[str | None, Mapping[str, TimeFigure]],
    total: GroupFigures,
    weights: Mapping[str, float],
    name_of: Callable[[str | None], str],
    keys: Sequence[str] = (),
) -> Figures:
    """Every group's figures, ordered by key (None last); ``keys`` are shown even when empty
    (every day of the period, every squad)."""
    found = set(keys) | set(counted)
    ordered = sorted(found, key=lambda k: (k is None, k or ""))
    groups = tuple(
        summarise(k, name_of(k), counted.get(k, ()), timed.get(k, {}), weights) for k in ordered
    )
    return Figures(group_by, groups, total)


# -- 12345 接诉即办 ---------------------------------------------------------------------------

#: the counts of the hotline's figures, in the order of the report's rows
HOTLINE_COUNTS: Final = (
    "orders",
    "sent_back",
    "due_close",
    "closed",
    "due_contact",
    "contacted_on_time",
    "contacted_late",
    "visited",
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
    "rehandled",
)
#: rate → (numerator, denominator); 满意率's numerator is worked out (HOTLINE_DEFINITIONS)
HOTLINE_RATES: Final[Mapping[str, tuple[str, str]]] = {
    "close_reply_rate": ("closed", "due_close"),
    "contact_rate": ("contacted_on_time", "due_contact"),
    "satisfaction_rate": ("satisfied", "visited"),
    "rehandle_rate": ("rehandled", "visited"),
}
HOTLINE_LABELS: Final[Mapping[str, str]] = {
    "orders": "受理工单数",
    "sent_back": "退单数",
    "due_close": "应办结数",
    "closed": "办结数",
    "due_contact": "应联系数",
    "contacted_on_time": "按时联系数",
    "contacted_late": "超时联系数",
    "visited": "回访数",
    "satisfied": "满意数",
    "basically_satisfied": "基本满意数",
    "dissatisfied": "不满意数",
    "rehandled": "不满意重办数",
    "close_reply_rate": "办结回复率",
    "contact_rate": "按时联系率",
    "satisfaction_rate": "满意率",
    "rehandle_rate": "不满意重办率",
}
HOTLINE_DEFINITIONS: Final[Mapping[str, str]] = {
    "orders": "受理工单数: the 12345 work orders received in the period (repeat calls merged"
    " into another order included)",
    "sent_back": "退单数: orders sent back to the platform with the centre's approval by as_of",
    "due_close": "应办结数: orders less those merged, those sent back, and those still open"
    " inside their deadline at as_of (as 应结案数)",
    "closed": "办结数: orders closed (办结, the closure replied to the platform) at as_of",
    "due_contact": "应联系数: orders, not merged or sent back, contacted by as_of or whose"
    " contact deadline (联系时限) had passed",
    "contacted_on_time": "按时联系数: orders whose caller was contacted at or before the contact"
    " deadline",
    "visited": "回访数: orders with a 回访 by as_of; each counts by its latest answer",
    "rehandled": "不满意重办数: orders a 回访 answered 不满意 at least once (sent back to be"
    " handled again)",
    "close_reply_rate": "办结回复率 = 办结数 ÷ 应办结数",
    "contact_rate": "按时联系率 (响应率) = 按时联系数 ÷ 应联系数",
    "satisfaction_rate": "满意率 = (满意数 + 基本满意数) ÷ 回访数, or 满意数 ÷ 回访数 where the"
    " deployment counts 满意 only (DISPATCH_HOTLINE_BASICALLY_SATISFIED)",
    "rehandle_rate": "不满意重办率 = 不满意重办数 ÷ 回访数",
}


@dataclass(frozen=True)
class HotlineFigures:
    """The 12345 figures of a set of orders: counts, rates, and the rule 满意率 used."""

    counts: Mapping[str, int]
    rates: Mapping[str, float | None]
    basically_counts: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "rates": dict(self.rates),
            "basically_satisfied_counts": self.basically_counts,
            "labels": dict(HOTLINE_LABELS),
            "formulas": {name: HOTLINE_DEFINITIONS[name] for name in HOTLINE_RATES},
        }


@dataclass(frozen=True)
class OrderStanding:
    """How one order stood at as_of, as :func:`hotline_figures` counts it (the store reads
    each from the order's ``progress.hotline`` and state)."""

    merged: bool = False
    sent_back: bool = False
    closed: bool = False
    open_inside_limit: bool = False
    contacted: bool = False
    contacted_late: bool = False
    contact_overdue: bool = False  # not contacted and the contact deadline passed
    satisfaction: str | None = None  # the latest 回访's answer by as_of
    rehandled: bool = False


def hotline_figures(standings: Iterable[OrderStanding], basically_counts: bool) -> HotlineFigures:
    """The counts and rates of :data:`HOTLINE_DEFINITIONS` over these orders."""
    counts = dict.fromkeys(HOTLINE_COUNTS, 0)
    for s in standings:
        counts["orders"] += 1
        if s.merged:
            continue
        if s.sent_back:
            counts["sent_back"] += 1
            continue
        if not s.open_inside_limit:
            counts["due_close"] += 1
        counts["closed"] += s.closed
        if s.contacted or s.contact_overdue:
            counts["due_contact"] += 1
        counts["contacted_on_time"] += s.contacted and not s.contacted_late
        counts["contacted_late"] += s.contacted and s.contacted_late
        if s.satisfaction is not None:
            counts["visited"] += 1
            counts[s.satisfaction] += 1
        counts["rehandled"] += s.rehandled
    rates = {r: rate(counts[n], counts[d]) for r, (n, d) in HOTLINE_RATES.items()}
    pleased = counts["satisfied"] + (counts["basically_satisfied"] if basically_counts else 0)
    rates["satisfaction_rate"] = rate(pleased, counts["visited"])
    return HotlineFigures(counts, rates, basically_counts)
